//! Probe workers: one task per probe of a running instance, reporting each
//! outcome to the driver, which applies the thresholds ([`super::ProbeState`])
//! and acts (pkg/kubelet/prober/worker.go).
//!
//! * `exec` runs the probe command in a fresh instance of the container's own
//!   image, with the container's environment and directories (its private
//!   root and mounts), and is killed at `timeoutSeconds`.
//! * `tcpSocket`, `httpGet` and `grpc` connect through the pod's own network
//!   namespace, never through a host socket (`httpGet`: a status in
//!   200..400 is success; `grpc`: see [`super::grpc`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::budget::{InstanceBudget, Use};
use super::observed::Slot;
use crate::container::Image;
use crate::container::cpu::CpuAccount;
use crate::container::{self, Launch, SharedSignal};
use crate::plan::{ProbeHandler, ProbeKind, ProbePlan};
use crate::runtime::Runtime;
use crate::sandbox::{Chunk, OutputSink, PodNetwork, PodStream, Preopen, Stream};

/// The most probe output kept for an `Unhealthy` event.
const MAX_OUTPUT: usize = 1024;

/// One probe outcome.
pub(crate) struct ProbeNote {
    pub(crate) slot: Slot,
    pub(crate) id: u64,
    pub(crate) kind: ProbeKind,
    pub(crate) verdict: Verdict,
}

/// What one probe run found, as the kubelet's probers report it
/// (`probe.Result`, with the output events show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    /// A success the kubelet warns about (a redirect it did not follow):
    /// a `ProbeWarning` event.
    Warning(String),
    Failure(String),
}

impl Verdict {
    /// Success or warning.
    pub(crate) fn passed(&self) -> bool {
        !matches!(self, Verdict::Failure(_))
    }
}

/// What an instance of a container needs: the container's own instance,
/// and exec probes and hooks, which run fresh instances like it.
pub(crate) struct ProbeTarget {
    pub(crate) runtime: Runtime,
    pub(crate) image: Image,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) preopens: Vec<Preopen>,
    pub(crate) network: Arc<PodNetwork>,
    /// `resources.limits.memory`, for each instance.
    pub(crate) memory_limit: Option<u64>,
    /// The container's CPU account, shared by all its instances.
    pub(crate) cpu: Option<Arc<CpuAccount>>,
    /// The pod's instance budget.
    pub(crate) budget: Arc<InstanceBudget>,
}

impl ProbeTarget {
    /// An instance running `argv`, its output to `output`.
    pub(crate) fn launch(
        &self,
        argv: Vec<String>,
        output: mpsc::Sender<Chunk>,
        termination: SharedSignal,
    ) -> Launch {
        Launch {
            image: self.image.clone(),
            argv,
            env: self.env.clone(),
            preopens: self.preopens.clone(),
            stdout: OutputSink::new(output.clone(), Stream::Stdout),
            stderr: OutputSink::new(output, Stream::Stderr),
            termination,
            network: self.network.clone(),
            memory_limit: self.memory_limit,
            cpu: self.cpu.clone(),
        }
    }

    /// Starts an instance on the guest executor, holding a permit of the
    /// pod's budget while it lives; without one it ends at once with a
    /// `StartError` saying which limit was reached.
    pub(crate) fn spawn(
        &self,
        launch: Launch,
        what: Use,
    ) -> tokio::task::JoinHandle<container::Exit> {
        let guests = self.runtime.guest_handle();
        match self.budget.try_acquire(what) {
            Ok(permit) => {
                let run = container::run(self.runtime.engine().clone(), launch);
                guests.spawn(async move {
                    let exit = run.await;
                    drop(permit);
                    exit
                })
            }
            Err(why) => guests.spawn(async move { container::Exit::StartError(why) }),
        }
    }
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
            let verdict = probe_once(&plan, &target).await;
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
async fn probe_once(plan: &ProbePlan, target: &ProbeTarget) -> Verdict {
    if matches!(plan.handler, ProbeHandler::Grpc { .. }) {
        // The gRPC prober keeps the deadline itself, to say which step ran
        // out of time as the kubelet does.
        return run_handler(plan, target).await;
    }
    match tokio::time::timeout(plan.timeout, run_handler(plan, target)).await {
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
async fn run_handler(plan: &ProbePlan, target: &ProbeTarget) -> Verdict {
    match &plan.handler {
        ProbeHandler::Exec(argv) => exec(argv, target).await,
        ProbeHandler::TcpSocket(port) => match PodStream::connect(&target.network, *port) {
            Ok(_) => Verdict::Success,
            Err(e) => Verdict::Failure(format!("dial tcp 127.0.0.1:{port}: {e}")),
        },
        ProbeHandler::HttpGet {
            port,
            path,
            headers,
        } => http_get(&target.network, *port, path, headers).await,
        ProbeHandler::Grpc { port, service } => {
            super::grpc::check(&target.network, *port, service, plan.timeout).await
        }
        // Only hooks sleep.
        ProbeHandler::Sleep(d) => {
            tokio::time::sleep(*d).await;
            Verdict::Success
        }
    }
}

/// What an exec handler's instance did.
pub(crate) struct ExecOutcome {
    /// The exit code; `None` if the instance was cancelled.
    pub(crate) code: Option<i32>,
    /// stdout and stderr as they interleaved (at most [`MAX_OUTPUT`] bytes).
    pub(crate) output: String,
    /// stderr alone (at most [`MAX_OUTPUT`] bytes).
    pub(crate) stderr: String,
}

/// Runs `argv` in a fresh instance of the target's image and collects its
/// output. Dropping the future (at a timeout) kills the instance.
pub(crate) async fn exec_capture(argv: &[String], target: &ProbeTarget) -> ExecOutcome {
    let (tx, mut rx) = mpsc::channel(crate::sandbox::CHANNEL_CHUNKS);
    let instance = target.spawn(
        target.launch(argv.to_vec(), tx, SharedSignal::default()),
        Use::Exec,
    );
    // Abort the instance if this future is dropped at the timeout.
    let guard = AbortOnDrop(instance.abort_handle());
    let (mut output, mut stderr) = (Vec::new(), Vec::new());
    while let Some(chunk) = rx.recv().await {
        if output.len() < MAX_OUTPUT {
            output.extend_from_slice(&chunk.bytes);
        }
        if chunk.stream == Stream::Stderr && stderr.len() < MAX_OUTPUT {
            stderr.extend_from_slice(&chunk.bytes);
        }
    }
    let exit = instance.await;
    drop(guard);
    let text = |mut bytes: Vec<u8>| {
        bytes.truncate(MAX_OUTPUT);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    ExecOutcome {
        code: exit.ok().map(|e| e.code()),
        output: text(output),
        stderr: text(stderr),
    }
}

/// An exec probe: success is exit code 0; a failure's text is the output.
async fn exec(argv: &[String], target: &ProbeTarget) -> Verdict {
    let outcome = exec_capture(argv, target).await;
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

/// Aborts a task when dropped: ties a task's life to its owner's.
pub(crate) struct AbortOnDrop(pub(crate) AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An HTTP GET probe through the pod network (pkg/probe/http). Same-host
/// redirects are followed (up to 10, like Go's client); a redirect to
/// another host is not, and counts as success with a warning
/// ("Probe terminated redirects"), as the kubelet's prober treats it.
async fn http_get(
    network: &Arc<PodNetwork>,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Verdict {
    let (mut port, mut path) = (port, path.to_string());
    for _ in 0..10 {
        let url = format!("http://127.0.0.1:{port}{path}");
        let response = match get_once(network, port, &path, headers, PROBE_AGENT).await {
            Ok(r) => r,
            Err(e) => return Verdict::Failure(format!("Get \"{url}\": {e}")),
        };
        let text = String::from_utf8_lossy(&response);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let code = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok());
        let location = lines.take_while(|l| !l.is_empty()).find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.trim().to_string())
        });
        let next = location.and_then(|l| same_host_target(&l, port));
        match (code, next) {
            (Some(300..400), Some(next)) => (port, path) = next,
            (Some(300..400), None) => {
                return Verdict::Warning(format!(
                    "Probe terminated redirects, Response body: {body}"
                ));
            }
            (Some(200..300), _) => return Verdict::Success,
            (Some(code), _) => {
                return Verdict::Failure(format!("HTTP probe failed with statuscode: {code}"));
            }
            (None, _) => {
                return Verdict::Failure(format!(
                    "Get \"{url}\": malformed HTTP response {status_line:?}"
                ));
            }
        }
    }
    Verdict::Failure(format!(
        "Get \"http://127.0.0.1:{port}{path}\": stopped after 10 redirects"
    ))
}

/// The port and path of a redirect target on the probed host, or `None` for
/// another host.
///
/// As the kubelet's redirect checker, only the host name is compared: the
/// probed host is the pod's address (127.0.0.1 here, as the pod IP is on a
/// node), so a redirect to it on another port is followed, and one to any
/// other name (`localhost` included, as it is not the pod IP) is not.
fn same_host_target(location: &str, port: u16) -> Option<(u16, String)> {
    if location.starts_with('/') {
        return Some((port, location.to_string()));
    }
    let rest = location.strip_prefix("http://")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, 80),
    };
    (host == "127.0.0.1").then_some((port, path))
}

/// The `User-Agent` of probes (`kube-probe/<major>.<minor>`).
const PROBE_AGENT: &str = "kube-probe/1.35";
/// The `User-Agent` of lifecycle hooks.
pub(crate) const HOOK_AGENT: &str = "kube-lifecycle/1.35";

/// One GET; returns the whole (bounded) response. Reading it all, as Go's
/// client does, keeps the server from seeing the connection reset under it.
pub(crate) async fn get_once(
    network: &Arc<PodNetwork>,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    agent: &str,
) -> std::io::Result<Vec<u8>> {
    let mut stream = PodStream::connect(network, port)?;
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {agent}\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while response.len() < 64 * 1024 {
        match stream.read(&mut buf).await? {
            0 => break,
            n => response.extend_from_slice(&buf[..n]),
        }
    }
    Ok(response)
}

/// How long a kill for a failed probe may take: the probe's own grace
/// period if set, else the pod's.
pub(crate) fn kill_grace(plan: &ProbePlan, pod_grace: Duration) -> Duration {
    plan.grace_period.unwrap_or(pod_grace)
}

#[cfg(test)]
mod tests {
    use super::same_host_target;

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

    #[test]
    fn redirect_targets() {
        let target = |loc| same_host_target(loc, 8080);
        assert_eq!(target("/dir/"), Some((8080, "/dir/".into())));
        assert_eq!(target("http://127.0.0.1:8080/x"), Some((8080, "/x".into())));
        assert_eq!(target("http://127.0.0.1:9090"), Some((9090, "/".into())));
        assert_eq!(target("http://127.0.0.1/x"), Some((80, "/x".into())));
        assert_eq!(target("http://localhost:8080/x"), None, "not the pod IP");
        assert_eq!(target("http://0.0.0.0/"), None);
        assert_eq!(target("https://127.0.0.1/"), None);
    }
}
