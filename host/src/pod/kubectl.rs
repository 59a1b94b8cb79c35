//! The `kubectl get pods` columns READY, STATUS and RESTARTS, computed as
//! kubectl's `printPod` does (pkg/printers/internalversion/printers.go).

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// One `kubectl get pods` row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PodRow {
    /// `ready/total` containers (regular containers and sidecars).
    pub ready: String,
    /// The STATUS column: `Init:1/3`, `PodInitializing`, `Running`,
    /// `CrashLoopBackOff`, `Completed`, `Error`, `Terminating`, …
    pub status: String,
    /// Restarts of regular containers and sidecars.
    pub restarts: i32,
}

/// Computes the row for `pod`.
///
/// ```
/// use k8s_openapi::api::core::v1::{Pod, PodStatus};
/// let pod = Pod { status: Some(PodStatus { phase: Some("Pending".into()), ..Default::default() }), ..Default::default() };
/// assert_eq!(wasmpod::kubectl_row(&pod).status, "Pending");
/// ```
pub fn kubectl_row(pod: &Pod) -> PodRow {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let init_specs = spec.init_containers.unwrap_or_default();
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
    };
    let total = spec.containers.len()
        + init_specs
            .iter()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"))
            .count();
    let mut ready = 0;
    let mut restarts = 0;
    let mut sidecar_restarts = 0;
    let mut reason = status
        .reason
        .clone()
        .or(status.phase.clone())
        .unwrap_or_default();

    let mut initializing = false;
    let init_statuses = status.init_container_statuses.clone().unwrap_or_default();
    for (i, c) in init_statuses.iter().enumerate() {
        restarts += c.restart_count;
        let sidecar = is_sidecar(&c.name);
        if sidecar {
            sidecar_restarts += c.restart_count;
            if c.started == Some(true) && c.ready {
                ready += 1;
            }
        }
        let state = c.state.clone().unwrap_or_default();
        if let Some(t) = &state.terminated
            && t.exit_code == 0
        {
            continue;
        }
        if sidecar && c.started == Some(true) {
            continue;
        }
        initializing = true;
        if let Some(t) = &state.terminated {
            reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                Some(r) => format!("Init:{r}"),
                None if t.signal.unwrap_or(0) != 0 => {
                    format!("Init:Signal:{}", t.signal.unwrap_or(0))
                }
                None => format!("Init:ExitCode:{}", t.exit_code),
            };
        } else if let Some(r) = state
            .waiting
            .as_ref()
            .and_then(|w| w.reason.clone())
            .filter(|r| !r.is_empty() && r != "PodInitializing")
        {
            reason = format!("Init:{r}");
        } else {
            reason = format!("Init:{i}/{}", init_specs.len());
        }
        break;
    }

    let initialized = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Initialized" && c.status == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        let mut has_running = false;
        for c in status.container_statuses.iter().flatten().rev() {
            restarts += c.restart_count;
            if let Some(r) = waiting_reason(c) {
                reason = r;
            } else if let Some(t) = c.state.as_ref().and_then(|s| s.terminated.as_ref()) {
                reason = match t.reason.as_deref().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None if t.signal.unwrap_or(0) != 0 => {
                        format!("Signal:{}", t.signal.unwrap_or(0))
                    }
                    None => format!("ExitCode:{}", t.exit_code),
                };
            } else if c.ready && c.state.as_ref().is_some_and(|s| s.running.is_some()) {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = status
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if pod_ready {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    let terminal = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
    if pod.metadata.deletion_timestamp.is_some() && !terminal {
        reason = "Terminating".into();
    }
    PodRow {
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts,
    }
}

fn waiting_reason(c: &ContainerStatus) -> Option<String> {
    c.state
        .as_ref()?
        .waiting
        .as_ref()?
        .reason
        .clone()
        .filter(|r| !r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
        ContainerStateWaiting, PodCondition, PodSpec, PodStatus,
    };

    fn c(name: &str, sidecar: bool) -> Container {
        Container {
            name: name.into(),
            restart_policy: sidecar.then(|| "Always".into()),
            ..Default::default()
        }
    }

    fn waiting(name: &str, reason: &str) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.into()),
                    message: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn running(name: &str, ready: bool) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            ready,
            started: Some(true),
            state: Some(ContainerState {
                running: Some(ContainerStateRunning::default()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn exited(name: &str, code: i32, reason: &str) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            ready: code == 0,
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    reason: Some(reason.into()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(
        phase: &str,
        init: Vec<Container>,
        apps: &[&str],
        init_s: Vec<ContainerStatus>,
        app_s: Vec<ContainerStatus>,
        initialized: bool,
    ) -> Pod {
        Pod {
            spec: Some(PodSpec {
                init_containers: Some(init),
                containers: apps.iter().map(|a| c(a, false)).collect(),
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.into()),
                init_container_statuses: Some(init_s),
                container_statuses: Some(app_s),
                conditions: Some(vec![PodCondition {
                    type_: "Initialized".into(),
                    status: if initialized { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn init_progress_and_failures() {
        let inits = vec![c("i1", false), c("i2", false), c("i3", false)];
        let p = pod(
            "Pending",
            inits.clone(),
            &["a"],
            vec![
                exited("i1", 0, "Completed"),
                running("i2", false),
                waiting("i3", "PodInitializing"),
            ],
            vec![waiting("a", "PodInitializing")],
            false,
        );
        assert_eq!(kubectl_row(&p).status, "Init:1/3");
        let p = pod(
            "Pending",
            inits.clone(),
            &["a"],
            vec![exited("i1", 1, "Error")],
            vec![waiting("a", "PodInitializing")],
            false,
        );
        assert_eq!(kubectl_row(&p).status, "Init:Error");
        let p = pod(
            "Pending",
            inits,
            &["a"],
            vec![waiting("i1", "CrashLoopBackOff")],
            vec![waiting("a", "PodInitializing")],
            false,
        );
        assert_eq!(kubectl_row(&p).status, "Init:CrashLoopBackOff");
    }

    #[test]
    fn started_sidecar_counts_as_done_and_ready() {
        let p = pod(
            "Running",
            vec![c("side", true)],
            &["a"],
            vec![running("side", true)],
            vec![running("a", true)],
            true,
        );
        assert_eq!(
            kubectl_row(&p),
            PodRow {
                ready: "2/2".into(),
                status: "Running".into(),
                restarts: 0
            }
        );
    }

    #[test]
    fn regular_container_states() {
        let p = pod(
            "Running",
            vec![],
            &["a"],
            vec![],
            vec![waiting("a", "CrashLoopBackOff")],
            true,
        );
        assert_eq!(kubectl_row(&p).status, "CrashLoopBackOff");
        let p = pod(
            "Succeeded",
            vec![],
            &["a"],
            vec![],
            vec![exited("a", 0, "Completed")],
            true,
        );
        assert_eq!(kubectl_row(&p).status, "Completed");
        let p = pod(
            "Failed",
            vec![],
            &["a"],
            vec![],
            vec![exited("a", 1, "Error")],
            true,
        );
        assert_eq!(kubectl_row(&p).status, "Error");
        let p = pod(
            "Pending",
            vec![c("i", false)],
            &["a"],
            vec![exited("i", 0, "Completed")],
            vec![waiting("a", "PodInitializing")],
            true,
        );
        assert_eq!(kubectl_row(&p).status, "PodInitializing");
        let mut p = pod(
            "Running",
            vec![],
            &["a"],
            vec![],
            vec![running("a", true)],
            true,
        );
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        ));
        assert_eq!(kubectl_row(&p).status, "Terminating");
    }
}
