//! The API status: a pure function of the plan and the observed state, in
//! the manner of the kubelet's `generateAPIPodStatus`, `getPhase`
//! (pkg/kubelet/kubelet_pods.go) and `status/generate.go`.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::observed::{Observed, Record, Slot, State, Termination, is_ready, is_started};
use crate::plan::{ContainerKind, ContainerPlan, PodPlan};

/// The pod status message when `activeDeadlineSeconds` ran out.
pub const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

/// The pod status reason of an evicted pod (pkg/kubelet/eviction/helpers.go `Reason`).
pub const EVICTED_REASON: &str = "Evicted";

/// The eviction message for an emptyDir past its limit
/// (pkg/kubelet/eviction/helpers.go `emptyDirMessageFmt`, trailing space included).
pub fn empty_dir_eviction_message(volume: &str, limit: &str) -> String {
    format!("Usage of EmptyDir volume {volume:?} exceeds the limit {limit:?}. ")
}

/// The kubelet's message for a pod whose containers' private roots and disk-backed
/// emptyDirs together hold more than its containers' `limits.ephemeral-storage` added
/// up (`podEphemeralStorageMessageFmt`).
pub fn pod_ephemeral_storage_message(total: &str) -> String {
    format!("Pod ephemeral local storage usage exceeds the total limit of containers {total}. ")
}

/// The kubelet's message for a container whose private root holds more than its
/// `limits.ephemeral-storage` (`containerEphemeralStorageMessageFmt`).
pub fn container_ephemeral_storage_message(container: &str, limit: &str) -> String {
    format!("Container {container} exceeded its local ephemeral storage limit {limit:?}. ")
}

/// The pod phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not all containers have started.
    Pending,
    /// Running.
    Running,
    /// Every regular container exited 0 and none will restart.
    Succeeded,
    /// The pod failed.
    Failed,
}

impl Phase {
    /// The Kubernetes string.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Succeeded => "Succeeded",
            Phase::Failed => "Failed",
        }
    }

    /// Succeeded or Failed.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// A port of `getPhase`. `terminal` is the kubelet's `podIsTerminal`: the
/// pod is being deleted or has finished.
pub fn phase(plan: &PodPlan, obs: &Observed, terminal: bool) -> Phase {
    if obs.deadline_exceeded || obs.evicted.is_some() {
        return Phase::Failed;
    }
    let (mut pending_init, mut failed_init, mut pending_sidecars) = (0, 0, 0);
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for (c, rec) in plan.init_containers.iter().zip(&obs.init) {
        let last_failed = rec.last.as_ref().map(|t| t.exit_code != 0);
        match (c.kind, &rec.state) {
            (ContainerKind::Sidecar, State::Running { .. }) => {
                running += 1;
                if !is_started(c, rec) {
                    pending_sidecars += 1;
                }
            }
            (ContainerKind::Sidecar, State::Waiting { .. }) if rec.last.is_none() => {
                pending_sidecars += 1;
                waiting += 1;
            }
            // Terminated sidecars are neither regular nor init containers.
            (ContainerKind::Sidecar, _) => {}
            (_, State::Running { .. }) => pending_init += 1,
            (_, State::Terminated(t)) if t.exit_code != 0 => failed_init += 1,
            (_, State::Terminated(_)) => {}
            (_, State::Waiting { .. }) => match last_failed {
                Some(true) => failed_init += 1,
                Some(false) => {}
                None => pending_init += 1,
            },
        }
    }
    for rec in &obs.regular {
        match &rec.state {
            State::Running { .. } => running += 1,
            State::Terminated(t) => {
                stopped += 1;
                if t.exit_code == 0 {
                    succeeded += 1;
                }
            }
            State::Waiting { .. } if rec.last.is_some() => stopped += 1,
            State::Waiting { .. } => waiting += 1,
        }
    }

    if failed_init > 0 && init_failure_is_final(plan, obs) {
        return Phase::Failed;
    }
    let regular_started = obs.regular.iter().any(Record::has_run);
    if pending_init > 0 || (pending_sidecars > 0 && !regular_started) || waiting > 0 {
        return Phase::Pending;
    }
    if running > 0 {
        return Phase::Running;
    }
    if stopped > 0 {
        if terminal {
            return if stopped == succeeded {
                Phase::Succeeded
            } else {
                Phase::Failed
            };
        }
        // With per-container restart policies (KEP-5307) the kubelet asks
        // whether any stopped container will restart; with the pod policy
        // alone this is the classic Always/OnFailure/Never table.
        let will_restart = plan.containers.iter().zip(&obs.regular).any(|(c, rec)| {
            !rec.is_running()
                && rec
                    .newest_termination()
                    .is_some_and(|t| plan.should_restart(c, t.exit_code))
        });
        return if will_restart {
            Phase::Running
        } else if stopped == succeeded {
            Phase::Succeeded
        } else {
            Phase::Failed
        };
    }
    Phase::Pending
}

/// Whether a failed regular init container will not be retried.
fn init_failure_is_final(plan: &PodPlan, obs: &Observed) -> bool {
    plan.init_containers.iter().zip(&obs.init).any(|(c, rec)| {
        c.kind == ContainerKind::Init
            && !matches!(rec.state, State::Running { .. })
            && rec
                .newest_termination()
                .is_some_and(|t| t.exit_code != 0 && !plan.should_restart(c, t.exit_code))
    })
}

/// The Pod object as the pod stands in `obs` before anything ended: its spec with the
/// status [`generate`] gives for a pod not yet stopped.
pub(crate) fn snapshot(plan: &PodPlan, obs: &Observed) -> Pod {
    let mut pod = plan.pod.clone();
    // What the API server fills in on creation.
    pod.metadata.name = Some(plan.name.clone());
    pod.metadata.namespace = Some(plan.namespace.clone());
    pod.metadata.uid = Some(plan.uid.clone());
    pod.status = Some(generate(
        plan,
        obs,
        phase(plan, obs, false),
        None,
        obs.start_time,
    ));
    pod
}

/// Generates the pod status. `previous` keeps condition transition times.
pub fn generate(
    plan: &PodPlan,
    obs: &Observed,
    phase: Phase,
    previous: Option<&PodStatus>,
    now: Timestamp,
) -> PodStatus {
    let init_statuses: Vec<ContainerStatus> = plan
        .init_containers
        .iter()
        .enumerate()
        .map(|(i, c)| container_status(plan, c, obs.record(Slot::Init(i))))
        .collect();
    let mut statuses: Vec<ContainerStatus> = plan
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| container_status(plan, c, obs.record(Slot::Regular(i))))
        .collect();
    statuses.sort_by(|a, b| a.name.cmp(&b.name));

    let conditions = conditions(plan, obs, phase, &init_statuses, &statuses, previous, now);
    let pod_ip = plan
        .address
        .ip
        .map_or_else(|| "127.0.0.1".to_string(), |ip| ip.to_string());
    PodStatus {
        phase: Some(phase.as_str().into()),
        conditions: Some(conditions),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        host_ip: Some("127.0.0.1".into()),
        host_ips: Some(vec![HostIP {
            ip: "127.0.0.1".into(),
        }]),
        pod_ip: Some(pod_ip.clone()),
        pod_ips: Some(vec![PodIP { ip: pod_ip }]),
        qos_class: Some("BestEffort".into()),
        reason: if obs.evicted.is_some() {
            Some(EVICTED_REASON.into())
        } else {
            obs.deadline_exceeded.then(|| "DeadlineExceeded".into())
        },
        message: obs
            .evicted
            .clone()
            .or_else(|| obs.deadline_exceeded.then(|| DEADLINE_MESSAGE.into())),
        start_time: Some(Time(obs.start_time)),
        ..Default::default()
    }
}

fn container_status(plan: &PodPlan, c: &ContainerPlan, rec: &Record) -> ContainerStatus {
    let running = rec.is_running();
    let ready = match c.kind {
        // A regular init container is ready iff it exited 0 (prober_manager.go).
        ContainerKind::Init => matches!(&rec.state, State::Terminated(t) if t.exit_code == 0),
        _ => is_ready(c, rec),
    };
    let started = match c.kind {
        ContainerKind::Init => Some(running),
        _ => Some(is_started(c, rec)),
    };
    let attempt = rec.restart_count;
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        image_id: c
            .pulled
            .as_ref()
            .map_or_else(|| format!("wasm://{}", c.source), |p| p.image_id.clone()),
        container_id: rec
            .has_run()
            .then(|| format!("wasmpod://{}/{}/{}", plan.uid, c.name, attempt)),
        state: Some(api_state(&rec.state)),
        last_state: Some(rec.last.as_ref().map(terminated).unwrap_or_default()),
        restart_count: rec.restart_count as i32,
        started,
        ready,
        ..Default::default()
    }
}

fn api_state(state: &State) -> ContainerState {
    match state {
        State::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.clone()),
                message: message.clone(),
            }),
            ..Default::default()
        },
        State::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(Time(*started_at)),
            }),
            ..Default::default()
        },
        State::Terminated(t) => terminated(t),
    }
}

fn terminated(t: &Termination) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            reason: Some(t.reason.clone()),
            message: t.message.clone(),
            started_at: Some(Time(t.started_at)),
            finished_at: Some(Time(t.finished_at)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Conditions in the kubelet's order: PodReadyToStartContainers,
/// Initialized, Ready, ContainersReady, PodScheduled.
fn conditions(
    plan: &PodPlan,
    obs: &Observed,
    phase: Phase,
    init: &[ContainerStatus],
    regular: &[ContainerStatus],
    previous: Option<&PodStatus>,
    now: Timestamp,
) -> Vec<PodCondition> {
    let sandbox_ready = !(obs.terminal && phase.is_terminal());
    let ready_to_start = cond("PodReadyToStartContainers", sandbox_ready, None, None);

    let initialized = {
        let incomplete: Vec<&str> = plan
            .init_containers
            .iter()
            .zip(init)
            .filter(|(c, s)| match c.kind {
                ContainerKind::Sidecar => s.started != Some(true),
                _ => !s.ready,
            })
            .map(|(c, _)| c.name.as_str())
            .collect();
        if plan.init_containers.is_empty() {
            cond("Initialized", true, None, None)
        } else if phase == Phase::Succeeded {
            cond("Initialized", true, Some("PodCompleted"), None)
        } else if obs.any_regular_started() || incomplete.is_empty() {
            cond("Initialized", true, None, None)
        } else {
            cond(
                "Initialized",
                false,
                Some("ContainersNotInitialized"),
                Some(format!(
                    "containers with incomplete status: [{}]",
                    incomplete.join(" ")
                )),
            )
        }
    };

    let containers_ready = {
        let unready: Vec<&str> = plan
            .init_containers
            .iter()
            .zip(init)
            .filter(|(c, s)| c.kind == ContainerKind::Sidecar && !s.ready)
            .map(|(c, _)| c.name.as_str())
            .chain(regular.iter().filter(|s| !s.ready).map(|s| s.name.as_str()))
            .collect();
        match phase {
            Phase::Succeeded => cond("ContainersReady", false, Some("PodCompleted"), None),
            Phase::Failed => cond("ContainersReady", false, Some("PodFailed"), None),
            _ if !unready.is_empty() => cond(
                "ContainersReady",
                false,
                Some("ContainersNotReady"),
                Some(format!(
                    "containers with unready status: [{}]",
                    unready.join(" ")
                )),
            ),
            _ => cond("ContainersReady", true, None, None),
        }
    };
    let ready = ready_condition(&containers_ready, &plan.readiness_gates, &obs.conditions);
    let scheduled = cond("PodScheduled", true, None, None);

    let mut out = vec![
        ready_to_start,
        initialized,
        ready,
        containers_ready,
        scheduled,
    ];
    for c in &mut out {
        let prev = previous
            .and_then(|p| p.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|p| p.type_ == c.type_))
            .filter(|p| p.status == c.status);
        c.last_transition_time = Some(
            prev.and_then(|p| p.last_transition_time.clone())
                .unwrap_or(Time(now)),
        );
    }
    // Conditions owned by others are kept as they were set.
    out.extend(obs.conditions.iter().cloned());
    out
}

/// The conditions the kubelet owns; any other type may be set from outside.
pub const KUBELET_CONDITIONS: [&str; 5] = [
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
];

/// `Ready` (GeneratePodReadyCondition): ContainersReady if that is not
/// True; else False while a readiness gate's condition is missing or not
/// True.
fn ready_condition(
    containers_ready: &PodCondition,
    gates: &[String],
    external: &[PodCondition],
) -> PodCondition {
    let mut ready = PodCondition {
        type_: "Ready".into(),
        ..containers_ready.clone()
    };
    if containers_ready.status != "True" {
        return ready;
    }
    let unready: Vec<String> = gates
        .iter()
        .filter_map(|gate| match external.iter().find(|c| &c.type_ == gate) {
            None => Some(format!(
                "corresponding condition of pod readiness gate {gate:?} does not exist."
            )),
            Some(c) if c.status != "True" => Some(format!(
                "the status of pod readiness gate {gate:?} is not \"True\", but {}",
                c.status
            )),
            Some(_) => None,
        })
        .collect();
    if !unready.is_empty() {
        ready = cond(
            "Ready",
            false,
            Some("ReadinessGatesNotReady"),
            Some(unready.join(", ")),
        );
    }
    ready
}

fn cond(type_: &str, status: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.map(Into::into),
        message,
        ..Default::default()
    }
}
