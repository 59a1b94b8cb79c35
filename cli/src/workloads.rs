//! `wasmpod run` with workloads: creating the file's Deployments, StatefulSets, Jobs…
//! beside its Pods, printing their pods' output and their events, ending once every
//! finite workload has ended, and the `--status-file` List of every object.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use wasmpod::spec::ValidWorkload;
use wasmpod::{
    Outcome, PodHandle, RunOptions, Runtime, StopReason, WorkloadHandle, WorkloadOptions,
    WorkloadOutcome,
};

use super::args::RunArgs;
use super::engine::shutdown_signal;
use super::exit::Failure;
use super::output::note;
use super::output::{Output, spawn_printer};

/// The Job backoff's first delay on a cluster: `--backoff-initial` scales the Job
/// backoff by its ratio to this (as it scales the crash-loop backoff's 10 s).
const JOB_BACKOFF: Duration = Duration::from_secs(10);

/// What the pods of workloads run with (from `wasmpod run`'s flags).
#[derive(Default)]
pub struct Settings {
    /// Options for each pod (its run directory and base directory are set per workload).
    run: RunOptions,
    /// Where each workload's pods run: `run_root/<workload name>/<pod name>`; `None`: in
    /// temporary directories, removed with each pod.
    run_root: Option<PathBuf>,
    /// The Job backoff factor; `None`: 1.
    job_backoff_factor: Option<f64>,
}

impl Settings {
    /// The settings `wasmpod run`'s flags give.
    pub fn of(args: &RunArgs, run_root: Option<&Path>) -> Self {
        let mut run = RunOptions::default()
            .with_backoff(wasmpod::BackoffPolicy::new(
                args.backoff_initial,
                args.backoff_max,
            ))
            .with_log_rotation(wasmpod::LogRotation::new(
                args.container_log_max_size,
                args.container_log_max_files as usize,
            ))
            .with_fail_on_pull_error(true);
        run.allow_outbound = args.allow_outbound.clone();
        Self {
            run,
            run_root: run_root.map(Path::to_path_buf),
            job_backoff_factor: Some(
                args.backoff_initial.as_secs_f64() / JOB_BACKOFF.as_secs_f64(),
            ),
        }
    }
}

/// Creates (without starting) the controller of every workload.
pub async fn create(
    rt: &Runtime,
    workloads: Vec<ValidWorkload>,
    bases: &[PathBuf],
    settings: &Settings,
) -> Result<Vec<WorkloadHandle>, Failure> {
    let mut handles = Vec::new();
    for w in workloads {
        let name = format!("{}/{}", w.workload.kind().to_lowercase(), w.workload.name());
        for warning in &w.warnings {
            note(&format!("warning: {name}: {warning}"));
        }
        let mut run = settings.run.clone();
        run.run_dir = settings
            .run_root
            .as_ref()
            .map(|r| r.join(w.workload.name()));
        run.base_dir = bases.get(w.input).cloned();
        let options = WorkloadOptions::default()
            .with_run(run)
            .with_job_backoff_factor(settings.job_backoff_factor.unwrap_or(1.0));
        let created = crate::progress::while_compiling(rt, rt.create_workload(w, options)).await;
        match created {
            Ok(h) => handles.push(h),
            Err(e) => {
                handles.iter().for_each(WorkloadHandle::stop);
                return Err(Failure {
                    code: super::exit::EXIT_INVALID,
                    error: anyhow::Error::new(e).context(name),
                });
            }
        }
    }
    Ok(handles)
}

/// Prints each workload's events (`job/pi Normal SuccessfulCreate …`) and the output and
/// events of each pod it creates; call before starting the workloads.
pub fn spawn_printers(
    workloads: &[WorkloadHandle],
    output: &Output,
    quiet: bool,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for w in workloads {
        let mut pods = w.subscribe_pods();
        let mut events = w.events();
        let object = w.object_name();
        let output = output.clone();
        tasks.push(tokio::spawn(async move {
            let mut printers = Vec::new();
            let (mut pods_open, mut events_open) = (true, true);
            while pods_open || events_open {
                tokio::select! {
                    pod = pods.recv(), if pods_open => match pod {
                        Ok(pod) => printers.push(spawn_printer(&pod, output.clone(), true, quiet)),
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => pods_open = false,
                    },
                    event = events.recv(), if events_open => match event {
                        Ok(e) => if !quiet {
                            let time = e.time.strftime("%H:%M:%S");
                            let type_ = e.type_.to_string();
                            note(&format!("{time} {object} {type_:<7} {}  {}", e.reason, e.message));
                        },
                        Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => events_open = false,
                    },
                }
            }
            for p in printers {
                let _ = p.await;
            }
        }));
    }
    tasks
}

/// What the pods of `workload` would read from ConfigMaps and Secrets that the runtime's
/// cluster does not hold (see [`Runtime::missing_references`]).
pub fn missing_references(
    rt: &Runtime,
    workload: &wasmpod::spec::Workload,
) -> Result<Vec<String>, Failure> {
    let template = workload.template();
    let mut pod = k8s_openapi::api::core::v1::Pod {
        metadata: template.metadata.unwrap_or_default(),
        spec: template.spec,
        status: None,
    };
    pod.metadata.name = Some(workload.name().to_owned());
    pod.metadata.namespace = Some(workload.namespace().to_owned());
    let pod = wasmpod::ValidPod::from_pod(pod)?;
    Ok(rt.missing_references(&pod)?)
}

/// How a run with workloads ended.
pub struct Ended {
    /// Every standalone pod's outcome, in order.
    pub pods: Vec<Outcome>,
    /// Every workload's outcome, in order.
    pub workloads: Vec<WorkloadOutcome>,
    /// Stopped by `--timeout`.
    pub timed_out: bool,
}

impl Ended {
    /// 0 when every finite workload and pod succeeded, 1 when one did not, 124 on timeout.
    pub fn exit_code(&self, pods: &[PodHandle]) -> u8 {
        if self.timed_out {
            return super::exit::EXIT_TIMEOUT;
        }
        let pods_ok = pods
            .iter()
            .zip(&self.pods)
            .filter(|(h, _)| finite_pod(h))
            .all(|(_, o)| o.phase == wasmpod::Phase::Succeeded);
        let jobs_ok = self.workloads.iter().all(|o| o.succeeded);
        if pods_ok && jobs_ok {
            super::exit::EXIT_SUCCEEDED
        } else {
            super::exit::EXIT_FAILED
        }
    }
}

/// A pod that ends on its own: `restartPolicy` `Never` or `OnFailure`.
fn finite_pod(h: &PodHandle) -> bool {
    h.pod()
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .is_some_and(|p| p != "Always")
}

/// Waits for every finite pod and workload (Jobs) to end — or the timeout, or a signal
/// (Ctrl-C, SIGTERM) — then stops the rest as deletions: Deployments first, then the
/// other workloads, then the pods.
pub async fn wait(
    pods: &[PodHandle],
    workloads: &[WorkloadHandle],
    timeout: Option<Duration>,
) -> Ended {
    let any_finite = pods.iter().any(finite_pod) || workloads.iter().any(|w| w.is_finite());
    let finite = async {
        for p in pods.iter().filter(|p| finite_pod(p)) {
            p.wait().await;
        }
        for w in workloads.iter().filter(|w| w.is_finite()) {
            w.wait().await;
        }
    };
    let deadline = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let mut timed_out = false;
    tokio::select! {
        () = finite, if any_finite => {}
        () = deadline => {
            note("timeout reached: stopping");
            timed_out = true;
            crate::engine::exit_on_next_signal();
        }
        () = shutdown_signal() => {
            note("stopping (signal received; another one exits at once)");
            crate::engine::exit_on_next_signal();
        }
    }
    let (deployments, others): (Vec<&WorkloadHandle>, Vec<&WorkloadHandle>) =
        workloads.iter().partition(|w| w.kind() == "Deployment");
    for group in [deployments, others] {
        group.iter().for_each(|w| w.stop());
        for w in group {
            w.wait().await;
        }
    }
    for p in pods {
        if timed_out {
            p.stop_with(StopReason::Timeout);
        } else {
            p.stop();
        }
    }
    let mut pod_outcomes = Vec::with_capacity(pods.len());
    for p in pods {
        pod_outcomes.push(p.wait().await);
    }
    let mut workload_outcomes = Vec::with_capacity(workloads.len());
    for w in workloads {
        workload_outcomes.push(w.wait().await);
    }
    Ended {
        pods: pod_outcomes,
        workloads: workload_outcomes,
        timed_out,
    }
}

/// Writes a `v1` `List` of every object with its status: the standalone pods, then each
/// workload, what it owns (a Deployment's ReplicaSet) and its pods, then the Services.
pub fn write_status(
    path: &Path,
    ended: &Ended,
    workloads: &[WorkloadHandle],
    rt: &wasmpod::Runtime,
) -> Result<(), Failure> {
    let mut items = Vec::new();
    for o in &ended.pods {
        items.push(crate::status::pod_json(&o.pod)?);
    }
    for (o, h) in ended.workloads.iter().zip(workloads) {
        items.push(o.workload.to_json());
        items.extend(h.owned().iter().map(wasmpod::spec::Workload::to_json));
        for p in h.pods() {
            items.push(crate::status::pod_json(&p.pod())?);
        }
    }
    items.extend(crate::status::cluster_items(rt)?);
    crate::status::write(path, items, true)
}

/// A started run with workloads.
pub struct Running<'a> {
    pub pods: &'a [PodHandle],
    pub workloads: &'a [WorkloadHandle],
    pub printers: Vec<tokio::task::JoinHandle<()>>,
    pub tails: Option<std::sync::Arc<crate::junit::Tails>>,
    pub started: std::time::Instant,
}

/// Starts the workloads, waits for the run to end ([`wait`]), writes the reports and
/// says how everything ended; the exit status.
pub async fn finish(
    run: Running<'_>,
    args: &RunArgs,
    rt: &wasmpod::Runtime,
) -> Result<ExitCode, Failure> {
    run.workloads.iter().for_each(WorkloadHandle::start);
    let ended = wait(run.pods, run.workloads, args.timeout).await;
    for p in run.printers {
        let _ = p.await;
    }
    if let (Some(path), Some(tails)) = (&args.junit, &run.tails) {
        let jobs = job_cases(run.workloads, &ended);
        crate::junit::write(path, &ended.pods, &jobs, tails, run.started.elapsed())?;
    }
    if let Some(path) = &args.status_file {
        write_status(path, &ended, run.workloads, rt)?;
    }
    for o in &ended.pods {
        note(&format!(
            "pod {} {}",
            o.pod.metadata.name.as_deref().unwrap_or("?"),
            o.phase.as_str()
        ));
    }
    end_notes(run.workloads, &ended);
    Ok(ExitCode::from(ended.exit_code(run.pods)))
}

/// The Jobs of the run as JUnit test cases.
fn job_cases(workloads: &[WorkloadHandle], ended: &Ended) -> Vec<crate::junit::JobCase> {
    let mut cases = Vec::new();
    for (w, o) in workloads.iter().zip(&ended.workloads) {
        if w.object_name().split('/').next() != Some("job") {
            continue;
        }
        let status = o.workload.to_json()["status"].clone();
        let failed = status["conditions"].as_array().and_then(|c| {
            c.iter()
                .find(|c| c["type"] == "Failed" && c["status"] == "True")
        });
        let message = match failed {
            Some(c) => format!(
                "{}: {}",
                c["reason"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default()
            ),
            None if o.stopped => "stopped before it completed".into(),
            None => String::new(),
        };
        let time = |field: &str| {
            status[field]
                .as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
        };
        let end = time("completionTime")
            .or_else(|| failed.and_then(|c| c["lastTransitionTime"].as_str()?.parse().ok()));
        cases.push(crate::junit::JobCase {
            name: w.object_name(),
            namespace: o.workload.namespace().to_owned(),
            succeeded: o.succeeded,
            message,
            pods: w.pods().iter().map(|p| p.name().to_owned()).collect(),
            time: time("startTime")
                .zip(end)
                .and_then(|(s, e)| std::time::Duration::try_from(e.duration_since(s)).ok()),
        });
    }
    cases
}

/// How each workload ended: `job/pi Complete`, `deployment/web stopped`.
fn end_notes(workloads: &[WorkloadHandle], ended: &Ended) {
    for (w, o) in workloads.iter().zip(&ended.workloads) {
        let how = if w.is_finite() {
            if o.succeeded { "Complete" } else { "Failed" }
        } else {
            "stopped"
        };
        note(&format!("{} {how}", w.object_name()));
    }
}
