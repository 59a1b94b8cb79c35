//! Workloads through the library: Jobs, Deployments, ReplicaSets, StatefulSets and
//! DaemonSets creating their pods as the Kubernetes controllers do; ported from
//! Kubernetes' `test/e2e/apps` where they apply. Through the `wasmpod` binary: `cli.rs`.

mod apps;
mod cli;
mod job;

use std::time::Duration;

use wasmpod::spec::Workload;
use wasmpod::{WorkloadHandle, WorkloadOptions};

use crate::support::*;

/// Generous: the box may be loaded; nothing asserts how long anything took.
pub const LIMIT: Duration = Duration::from_secs(120);

/// Options for tests: the fast crash-loop backoff, the Job backoff at a hundredth.
pub fn workload_options() -> WorkloadOptions {
    WorkloadOptions::default()
        .with_run(options())
        .with_job_backoff_factor(0.01)
}

/// Loads the one workload of `yaml` and starts it.
pub async fn apply(yaml: &str) -> WorkloadHandle {
    let mut file = wasmpod::spec::load(yaml).unwrap_or_else(|e| panic!("invalid workload: {e}"));
    runtime()
        .apply_workload(file.workloads.remove(0), workload_options())
        .await
        .unwrap_or_else(|e| panic!("apply failed: {e}"))
}

/// Waits until `cond` holds for the object, or panics after [`LIMIT`].
pub async fn wait_for(handle: &WorkloadHandle, what: &str, cond: impl Fn(&Workload) -> bool) {
    let mut rx = handle.watch();
    let ok = tokio::time::timeout(LIMIT, rx.wait_for(|w| cond(w))).await;
    if !matches!(ok, Ok(Ok(_))) {
        let pods: Vec<_> = handle
            .pods()
            .iter()
            .map(|p| serde_json::to_string(&p.pod().status).unwrap_or_default())
            .collect();
        panic!(
            "{} never {what}: {}\npods: {pods:#?}",
            handle.object_name(),
            serde_json::to_string_pretty(&handle.object().to_json()).unwrap_or_default()
        );
    }
}

/// Stops the workload and waits for it, bounded.
pub async fn stop(handle: &WorkloadHandle) -> wasmpod::WorkloadOutcome {
    handle.stop();
    tokio::time::timeout(LIMIT, handle.wait())
        .await
        .unwrap_or_else(|_| panic!("{} did not stop", handle.object_name()))
}
