//! Shared fixtures: one runtime per test binary, running a pod to its end
//! while collecting its logs and events, and reading the timestamped
//! journal that guests append to.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use tokio::sync::broadcast::error::RecvError;
use wasmpod::{
    BackoffPolicy, Event, LogLine, Outcome, PodHandle, RunOptions, Runtime, RuntimeConfig,
};

/// The runtime shared by every test of the binary (one Engine, as in production).
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpod-cache");
        Runtime::new(RuntimeConfig::default().with_cache_dir(Some(cache))).expect("runtime")
    })
}

/// A fast backoff for tests that are not about backoff constants.
pub fn fast_backoff() -> BackoffPolicy {
    BackoffPolicy::new(Duration::from_millis(100), Duration::from_millis(400))
}

/// Everything a finished pod left behind.
pub struct PodRun {
    pub outcome: Outcome,
    pub logs: Vec<LogLine>,
    pub events: Vec<Event>,
}

impl PodRun {
    pub fn phase(&self) -> &'static str {
        self.outcome.phase.as_str()
    }

    /// The lines a container printed, in order.
    pub fn lines(&self, container: &str) -> Vec<String> {
        self.logs
            .iter()
            .filter(|l| l.container == container)
            .map(|l| l.line.clone())
            .collect()
    }

    /// A container's final status (init or regular).
    pub fn status(&self, container: &str) -> ContainerStatus {
        status_of(&self.outcome.pod, container)
    }

    /// The exit code of a container's final state.
    pub fn exit_code(&self, container: &str) -> i32 {
        terminated_code(&self.status(container)).unwrap_or_else(|| {
            panic!(
                "{container} did not terminate: {:?}",
                self.status(container)
            )
        })
    }

    /// Reasons of the events about `container`, in order.
    pub fn event_reasons(&self, container: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.container.as_deref() == Some(container))
            .map(|e| e.reason.clone())
            .collect()
    }

    /// Messages of the events about `container` with `reason`, in order.
    pub fn event_messages(&self, container: &str, reason: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.container.as_deref() == Some(container) && e.reason == reason)
            .map(|e| e.message.clone())
            .collect()
    }

    /// Whether a container was ever started.
    pub fn started(&self, container: &str) -> bool {
        self.event_reasons(container).iter().any(|r| r == "Started")
    }

    /// A condition's (status, reason, message).
    pub fn condition(&self, type_: &str) -> (String, Option<String>, Option<String>) {
        let c = self
            .outcome
            .pod
            .status
            .as_ref()
            .unwrap()
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_} condition"))
            .clone();
        (c.status, c.reason, c.message)
    }

    /// Everything that happened, for assertion messages.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for e in &self.events {
            s.push_str(&format!("  event: {e}\n"));
        }
        for l in &self.logs {
            s.push_str(&format!("  {} | {}\n", l.container, l.line));
        }
        s
    }
}

pub fn status_of(pod: &Pod, container: &str) -> ContainerStatus {
    let status = pod.status.as_ref().expect("status");
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find(|c| c.name == container)
        .unwrap_or_else(|| panic!("no status for {container}"))
        .clone()
}

pub fn terminated_code(s: &ContainerStatus) -> Option<i32> {
    s.state.as_ref()?.terminated.as_ref().map(|t| t.exit_code)
}

/// Runs a pod from YAML to its end (stopping it after `limit` at the latest).
pub async fn run_pod(yaml: &str) -> PodRun {
    run_pod_with(yaml, options(), Duration::from_secs(90)).await
}

pub fn options() -> RunOptions {
    RunOptions::default().with_backoff(fast_backoff())
}

pub async fn run_pod_with(yaml: &str, options: RunOptions, limit: Duration) -> PodRun {
    start(yaml, options).await.finish(limit).await
}

/// Creates a pod from YAML, subscribes to its logs and events, and starts it.
pub async fn start(yaml: &str, options: RunOptions) -> Started {
    start_after(yaml, options, |_| {}).await
}

/// Like [`start`], running `before` on the created pod before it starts.
pub async fn start_after(
    yaml: &str,
    options: RunOptions,
    before: impl FnOnce(&PodHandle),
) -> Started {
    let handle = create(yaml, options).await;
    before(&handle);
    let started = subscribe(handle);
    started.handle.start();
    started
}

/// Creates (without starting) a pod from YAML.
pub async fn create(yaml: &str, options: RunOptions) -> PodHandle {
    let mut file = wasmpod::spec::load(yaml).unwrap_or_else(|e| panic!("invalid test pod: {e}"));
    let valid = file.pods.remove(0);
    runtime()
        .create(valid, options)
        .await
        .unwrap_or_else(|e| panic!("create failed: {e}"))
}

/// Subscribes to a created pod's logs and events.
fn subscribe(handle: PodHandle) -> Started {
    let logs = collect(handle.logs());
    let events = collect(handle.events());
    Started {
        handle,
        logs,
        events,
    }
}

/// A started pod whose logs and events are being collected.
pub struct Started {
    pub handle: PodHandle,
    logs: tokio::task::JoinHandle<Vec<LogLine>>,
    events: tokio::task::JoinHandle<Vec<Event>>,
}

impl Started {
    /// Waits until `cond` holds for the pod, or panics after `limit`.
    pub async fn wait_for(&self, limit: Duration, what: &str, cond: impl Fn(&Pod) -> bool) {
        let mut rx = self.handle.watch();
        let ok = tokio::time::timeout(limit, rx.wait_for(|p| cond(p))).await;
        assert!(
            matches!(ok, Ok(Ok(_))),
            "timed out waiting for {what}; pod: {:#?}",
            self.handle.pod().status
        );
    }

    /// The pod as it is now.
    pub fn pod(&self) -> Pod {
        std::sync::Arc::unwrap_or_clone(self.handle.pod())
    }

    /// Waits for the pod to end by itself; stops it (like a deletion) after `limit`.
    pub async fn finish(self, limit: Duration) -> PodRun {
        let outcome = match tokio::time::timeout(limit, self.handle.wait()).await {
            Ok(o) => o,
            Err(_) => {
                self.handle.stop();
                self.handle.wait().await
            }
        };
        PodRun {
            outcome,
            logs: self.logs.await.unwrap(),
            events: self.events.await.unwrap(),
        }
    }

    /// Stops the pod now and waits for its end.
    pub async fn stop(self) -> PodRun {
        self.handle.stop();
        self.finish(Duration::from_secs(120)).await
    }
}

fn collect<T: Clone + Send + 'static>(
    mut rx: wasmpod::Subscription<T>,
) -> tokio::task::JoinHandle<Vec<T>> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        loop {
            match rx.recv().await {
                Ok(x) => out.push(x),
                Err(RecvError::Lagged(n)) => panic!("test subscriber lagged by {n}"),
                Err(RecvError::Closed) => return out,
            }
        }
    })
}

/// A journal directory for guests to append `<nanos> <name> <event>` lines
/// to (through a hostPath volume), readable after the pod is gone.
pub struct Journal {
    pub dir: tempfile::TempDir,
}

impl Journal {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The hostPath to mount.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A shell fragment appending `<nanos> <name> <what>` to the journal
    /// (mounted at /journal).
    pub fn note(name: &str, what: &str) -> String {
        format!("echo \"$(date +%s%N) {name} {what}\" >> /journal/log")
    }

    /// The entries, sorted by time: (nanos, name, event).
    pub fn entries(&self) -> Vec<(u128, String, String)> {
        let text = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        let mut out: Vec<(u128, String, String)> = text
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ' ');
                Some((
                    parts.next()?.parse().ok()?,
                    parts.next()?.to_string(),
                    parts.next()?.to_string(),
                ))
            })
            .collect();
        out.sort();
        out
    }

    /// The time of the first `event` of `name`.
    pub fn first(&self, name: &str, event: &str) -> u128 {
        self.entries()
            .into_iter()
            .find(|(_, n, e)| n == name && e == event)
            .map(|(t, _, _)| t)
            .unwrap_or_else(|| panic!("no '{name} {event}' in journal: {:?}", self.entries()))
    }

    pub fn count(&self, name: &str, event: &str) -> usize {
        self.entries()
            .iter()
            .filter(|(_, n, e)| n == name && e == event)
            .count()
    }

    /// The volume YAML (under `volumes:`) for the journal.
    pub fn volume_yaml(&self) -> String {
        format!(
            "  - name: journal\n    hostPath: {{path: {}, type: Directory}}\n",
            self.path().display()
        )
    }
}

/// The volumeMount YAML (under a container's `volumeMounts:`) for the journal.
pub const JOURNAL_MOUNT: &str = "    volumeMounts: [{name: journal, mountPath: /journal}]\n";

/// Path of the compiled CLI.
pub fn wasmpod_bin() -> &'static str {
    env!("CARGO_BIN_EXE_wasmpod")
}

/// The repository root (for examples/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Writes a WAT module as a binary `.wasm` into `dir`.
pub fn wat_file(dir: &Path, name: &str, wat: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, wat::parse_str(wat).expect("valid WAT")).unwrap();
    path
}

/// A log subscription taken before a pod starts, to wait for lines while
/// the pod runs (the [`Started`] collectors only answer at the end).
pub struct LogWatch {
    rx: wasmpod::Subscription<LogLine>,
    /// Every line received so far.
    seen: Vec<LogLine>,
}

impl LogWatch {
    /// Waits until `container` has printed `n` lines containing `text`
    /// (counted from the pod's start); panics after `limit`.
    pub async fn wait_lines(&mut self, container: &str, text: &str, n: usize, limit: Duration) {
        let matches = |l: &LogLine| l.container == container && l.line.contains(text);
        let found = tokio::time::timeout(limit, async {
            while self.seen.iter().filter(|l| matches(l)).count() < n {
                match self.rx.recv().await {
                    Ok(l) => self.seen.push(l),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return false,
                }
            }
            true
        })
        .await;
        let count = self.seen.iter().filter(|l| matches(l)).count();
        assert!(
            matches!(found, Ok(true)),
            "{container} printed {count} of {n} lines containing {text:?} (pod ended or timed out)"
        );
    }

    /// Waits for one line of `container` containing `text`.
    pub async fn wait_line(&mut self, container: &str, text: &str, limit: Duration) {
        self.wait_lines(container, text, 1, limit).await;
    }
}

/// Like [`start`], with a [`LogWatch`] subscribed before the pod starts.
pub async fn start_watched(yaml: &str, options: RunOptions) -> (Started, LogWatch) {
    let started = subscribe(create(yaml, options).await);
    let watch = LogWatch {
        rx: started.handle.logs(),
        seen: Vec::new(),
    };
    started.handle.start();
    (started, watch)
}

/// Creates a pod that must fail to be created, and returns why.
pub async fn create_error(yaml: &str, options: RunOptions) -> wasmpod::Error {
    let mut file = wasmpod::spec::load(yaml).unwrap_or_else(|e| panic!("invalid test pod: {e}"));
    let valid = file.pods.remove(0);
    match runtime().create(valid, options).await {
        Ok(handle) => panic!("creating pod {} should have failed", handle.name()),
        Err(e) => e,
    }
}

/// A container's final `state.terminated` (panics if it did not terminate).
pub fn terminated_state(
    run: &PodRun,
    container: &str,
) -> k8s_openapi::api::core::v1::ContainerStateTerminated {
    run.status(container)
        .state
        .and_then(|s| s.terminated)
        .unwrap_or_else(|| panic!("{container} did not terminate:\n{}", run.dump()))
}

/// A container's `state.waiting.reason` in `pod`, if it is waiting.
pub fn waiting_reason(pod: &Pod, container: &str) -> Option<String> {
    status_of(pod, container).state?.waiting?.reason
}

/// Whether `container` is running in `pod`.
pub fn is_running(pod: &Pod, container: &str) -> bool {
    status_of(pod, container)
        .state
        .is_some_and(|s| s.running.is_some())
}

/// The lines an embedding program's `fmt` subscriber wrote.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// A subscriber that writes this thread's events up to DEBUG here.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        let captured = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || captured.clone())
            .finish()
    }

    /// What was written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
