//! Probe workers: one task per probe of a running instance, reporting each
//! outcome to the driver, which applies the thresholds ([`super::ProbeState`])
//! and acts (pkg/kubelet/prober/worker.go).
//!
//! * `exec` runs the probe command in a fresh instance of the container's own
//!   image, with the container's environment and directories (its private
//!   root and mounts), and is killed at `timeoutSeconds`.
//! * `tcpSocket` and `httpGet` connect through the pod's own network
//!   namespace, never through a host socket (`httpGet`: a status in
//!   200..400 is success).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::observed::Slot;
use crate::container::{self, Launch, SharedSignal};
use crate::plan::{ProbeHandler, ProbeKind, ProbePlan};
use crate::runtime::{Image, Runtime};
use crate::sandbox::{OutputSink, PodNetwork, PodStream, Preopen, Stream};

/// The most probe output kept for an `Unhealthy` event.
const MAX_OUTPUT: usize = 1024;

/// One probe outcome.
pub(crate) struct ProbeNote {
    pub(crate) slot: Slot,
    pub(crate) id: u64,
    pub(crate) kind: ProbeKind,
    pub(crate) ok: bool,
    pub(crate) output: String,
}

/// What an exec probe needs to start an instance like the container's.
pub(crate) struct ProbeTarget {
    pub(crate) runtime: Runtime,
    pub(crate) image: Image,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) preopens: Vec<Preopen>,
    pub(crate) network: Arc<PodNetwork>,
}

/// Starts the worker for one probe; abort the handle to stop it.
pub(crate) fn spawn(
    kind: ProbeKind,
    plan: ProbePlan,
    target: Arc<ProbeTarget>,
    (slot, id): (Slot, u64),
    tx: mpsc::UnboundedSender<ProbeNote>,
) -> AbortHandle {
    tokio::spawn(async move {
        tokio::time::sleep(plan.initial_delay).await;
        loop {
            let started = tokio::time::Instant::now();
            let (ok, output) =
                match tokio::time::timeout(plan.timeout, run_handler(&plan.handler, &target)).await
                {
                    Ok(result) => result,
                    Err(_) => (
                        false,
                        format!(
                            "timeout: probe did not complete within {}s",
                            plan.timeout.as_secs()
                        ),
                    ),
                };
            if tx
                .send(ProbeNote {
                    slot,
                    id,
                    kind,
                    ok,
                    output,
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

/// Runs a probe or hook handler once: (success, output for events).
pub(crate) async fn run_handler(handler: &ProbeHandler, target: &ProbeTarget) -> (bool, String) {
    match handler {
        ProbeHandler::Sleep(d) => {
            tokio::time::sleep(*d).await;
            (true, String::new())
        }
        ProbeHandler::Exec(argv) => exec(argv, target).await,
        ProbeHandler::TcpSocket(port) => match PodStream::connect(&target.network, *port) {
            Ok(_) => (true, String::new()),
            Err(e) => (false, format!("dial tcp 127.0.0.1:{port}: {e}")),
        },
        ProbeHandler::HttpGet {
            port,
            path,
            headers,
        } => http_get(&target.network, *port, path, headers).await,
    }
}

/// Runs `argv` in a fresh instance; success is exit code 0. Dropping the
/// future (at the timeout) kills the instance.
async fn exec(argv: &[String], target: &ProbeTarget) -> (bool, String) {
    let (tx, mut rx) = mpsc::channel(crate::sandbox::CHANNEL_CHUNKS);
    let launch = Launch {
        image: target.image.clone(),
        argv: argv.to_vec(),
        env: target.env.clone(),
        preopens: target.preopens.clone(),
        stdout: OutputSink::new(tx.clone(), Stream::Stdout),
        stderr: OutputSink::new(tx, Stream::Stderr),
        termination: SharedSignal::default(),
        network: target.network.clone(),
    };
    let instance = target
        .runtime
        .guest_handle()
        .spawn(container::run(target.runtime.engine().clone(), launch));
    // Abort the instance if this future is dropped at the timeout.
    let guard = AbortOnDrop(instance.abort_handle());
    let mut output = Vec::new();
    while let Some(chunk) = rx.recv().await {
        if output.len() < MAX_OUTPUT {
            output.extend_from_slice(&chunk.bytes);
        }
    }
    let exit = instance.await;
    drop(guard);
    output.truncate(MAX_OUTPUT);
    let text = String::from_utf8_lossy(&output).trim_end().to_string();
    match exit {
        Ok(exit) if exit.code() == 0 => (true, text),
        Ok(exit) => (
            false,
            if text.is_empty() {
                format!("command exited with code {}", exit.code())
            } else {
                text
            },
        ),
        Err(_) => (false, "probe instance was cancelled".into()),
    }
}

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn http_get(
    network: &Arc<PodNetwork>,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> (bool, String) {
    let url = format!("http://127.0.0.1:{port}{path}");
    let mut stream = match PodStream::connect(network, port) {
        Ok(s) => s,
        Err(e) => {
            return (
                false,
                format!("Get \"{url}\": dial tcp 127.0.0.1:{port}: {e}"),
            );
        }
    };
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: kube-probe/1.35\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return (false, format!("Get \"{url}\": {e}"));
    }
    // Read the whole (bounded) response, as Go's client does, so the server
    // does not see the connection reset under it.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while head.len() < 64 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return (false, format!("Get \"{url}\": {e}")),
        }
    }
    let status_line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    match status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
    {
        Some(code) if (200..400).contains(&code) => (true, String::new()),
        Some(code) => (false, format!("HTTP probe failed with statuscode: {code}")),
        None => (
            false,
            format!("Get \"{url}\": malformed HTTP response {status_line:?}"),
        ),
    }
}

/// How long a kill for a failed probe may take: the probe's own grace
/// period if set, else the pod's.
pub(crate) fn kill_grace(plan: &ProbePlan, pod_grace: Duration) -> Duration {
    plan.grace_period.unwrap_or(pod_grace)
}
