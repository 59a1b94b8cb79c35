//! The probe worker: one task per probe of a running instance, running its
//! handler every `periodSeconds` and reporting each outcome to the driver,
//! which applies the thresholds ([`super::thresholds::ProbeState`]) and acts
//! (pkg/kubelet/prober/worker.go).
//!
//! * `exec` runs the probe command in a fresh instance of the container's own
//!   image, with the container's environment and directories (its private
//!   root and mounts), and is killed at `timeoutSeconds`.
//! * `tcpSocket`, `httpGet` and `grpc` connect through the pod's own network
//!   namespace, never through a host socket (`httpGet`: a status in
//!   200..400 is success; `grpc`: see [`super::grpc`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::{ProbeNote, Verdict, grpc, http};
use crate::plan::{ProbeHandler, ProbeKind, ProbePlan};
use crate::sandbox::PodStream;
use crate::supervisor::launcher::Launcher;
use crate::supervisor::observed::Slot;

/// Starts the worker for one probe; abort the handle to stop it.
pub(crate) fn spawn(
    kind: ProbeKind,
    plan: ProbePlan,
    launcher: Arc<Launcher>,
    (slot, id): (Slot, u64),
    tx: mpsc::UnboundedSender<ProbeNote>,
) -> AbortHandle {
    tokio::spawn(async move {
        tokio::time::sleep(plan.initial_delay).await;
        loop {
            let started = tokio::time::Instant::now();
            let verdict = probe_once(&plan, &launcher).await;
            if tx
                .send(ProbeNote {
                    slot,
                    id,
                    kind,
                    verdict,
                })
                .is_err()
            {
                return;
            }
            tokio::time::sleep_until(started + plan.period).await;
        }
    })
    .abort_handle()
}

/// Runs a probe once, bounded by its `timeoutSeconds`.
async fn probe_once(plan: &ProbePlan, launcher: &Launcher) -> Verdict {
    if matches!(plan.handler, ProbeHandler::Grpc { .. }) {
        // The gRPC prober keeps the deadline itself, to say which step ran
        // out of time as the kubelet does.
        return run_handler(plan, launcher).await;
    }
    match tokio::time::timeout(plan.timeout, run_handler(plan, launcher)).await {
        Ok(verdict) => verdict,
        Err(_) => Verdict::Failure(timeout_text(&plan.handler)),
    }
}

/// What the kubelet reports for a probe that ran out of time: the CRI's
/// exec timeout, Go's HTTP client and dialer timeouts.
fn timeout_text(handler: &ProbeHandler) -> String {
    match handler {
        ProbeHandler::Exec(argv) => format!("command {:?} timed out", argv.join(" ")),
        ProbeHandler::HttpGet { port, path, .. } => format!(
            "Get \"http://127.0.0.1:{port}{path}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ),
        ProbeHandler::TcpSocket(port) => format!("dial tcp 127.0.0.1:{port}: i/o timeout"),
        ProbeHandler::Grpc { .. } | ProbeHandler::Sleep(_) => "timeout".into(),
    }
}

/// Runs a probe's handler once.
async fn run_handler(plan: &ProbePlan, launcher: &Launcher) -> Verdict {
    match &plan.handler {
        ProbeHandler::Exec(argv) => exec(argv, launcher).await,
        ProbeHandler::TcpSocket(port) => match PodStream::connect(&launcher.network, *port) {
            Ok(_) => Verdict::Success,
            Err(e) => Verdict::Failure(format!("dial tcp 127.0.0.1:{port}: {e}")),
        },
        ProbeHandler::HttpGet {
            port,
            path,
            headers,
        } => http::get(&launcher.network, *port, path, headers).await,
        ProbeHandler::Grpc { port, service } => {
            grpc::check(&launcher.network, *port, service, plan.timeout).await
        }
        // Only hooks sleep.
        ProbeHandler::Sleep(d) => {
            tokio::time::sleep(*d).await;
            Verdict::Success
        }
    }
}

/// An exec probe: success is exit code 0; a failure's text is the output.
async fn exec(argv: &[String], launcher: &Launcher) -> Verdict {
    let outcome = launcher.exec_capture(argv).await;
    let text = outcome.output.trim_end().to_string();
    match outcome.code {
        Some(0) => Verdict::Success,
        Some(code) if text.is_empty() => {
            Verdict::Failure(format!("command exited with code {code}"))
        }
        Some(_) => Verdict::Failure(text),
        None => Verdict::Failure("probe instance was cancelled".into()),
    }
}

/// How long a kill for a failed probe may take: the probe's own grace
/// period if set, else the pod's.
pub(crate) fn kill_grace(plan: &ProbePlan, pod_grace: Duration) -> Duration {
    plan.grace_period.unwrap_or(pod_grace)
}

#[cfg(test)]
mod tests {
    #[test]
    fn timeouts_read_as_the_kubelet_reports_them() {
        use crate::plan::ProbeHandler;
        assert_eq!(
            super::timeout_text(&ProbeHandler::Exec(vec!["sleep".into(), "10".into()])),
            "command \"sleep 10\" timed out"
        );
        assert_eq!(
            super::timeout_text(&ProbeHandler::TcpSocket(81)),
            "dial tcp 127.0.0.1:81: i/o timeout"
        );
    }
}
