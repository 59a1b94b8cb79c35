//! A running pod and its handle: status, events, logs, stop, wait.
//!
//! [`Runtime::create`](crate::Runtime::create) validates and prepares a pod
//! (images compiled, volumes created) without starting it, so that a caller
//! can subscribe to [`PodHandle::events`] and [`PodHandle::logs`] before the
//! first line is written; [`PodHandle::start`] starts it.
//! [`Runtime::run`](crate::Runtime::run) does both.

mod connect;
mod create;
mod kubectl;
mod pull_backoff;

use crate::supervisor::output::{Event, LogLine, LogRotation, StopReason, Subscription};
pub use connect::Protocol;
pub use kubectl::{PodRow, kubectl_row};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::sync::{oneshot, watch};

use crate::supervisor::driver::ExecOutput;
use crate::supervisor::output::Shared;
use crate::supervisor::{BackoffPolicy, Phase};
use crate::sync::lock;

/// Options for one pod run.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunOptions {
    /// Where relative image paths start (the YAML file's directory).
    /// Default: the current directory.
    pub base_dir: Option<PathBuf>,
    /// The run directory: logs (`logs/<container>/<n>.log`), emptyDir
    /// volumes and container roots (the roots in `/dev/shm` instead when this
    /// directory is on a disk, see `sandbox::roots_base`; they are removed
    /// with the pod either way). Default: a temporary directory removed
    /// when the pod ends (logs are then only available through
    /// [`PodHandle::logs`]), under `$TMPDIR` if set, else on a memory file
    /// system (`$XDG_RUNTIME_DIR`, `/dev/shm`) with 1 GiB free, else in the
    /// system's temporary directory. On a memory file system a pod without
    /// volumes gets none: each container's root is a directory of its own
    /// there, and [`PodHandle::run_dir`] names a path that is never made; at the
    /// pod's end a root left exactly as it was made is kept (up to 64 per runtime,
    /// until the runtime is dropped) for the runtime's next such container.
    pub run_dir: Option<PathBuf>,
    /// Crash-loop backoff (default: Kubernetes' 10 s doubling to 300 s).
    pub backoff: BackoffPolicy,
    /// Log file size cap and rotation (default: the kubelet's
    /// `containerLogMaxSize` 10Mi and `containerLogMaxFiles` 5).
    pub log_rotation: LogRotation,
    /// The credentials of the pod's `imagePullSecrets`, read from wherever the Secrets are
    /// ([`PullSecret::from_secret`](crate::PullSecret::from_secret)); tried before the Docker
    /// config file. Default none: then the Secrets the pod names are read from the
    /// runtime's [`Cluster`](crate::Cluster), as the kubelet reads them from the API server.
    pub pull_secrets: Vec<crate::PullSecret>,
    /// Fail [`Runtime::create`](crate::Runtime::create) when a registry pull fails, as
    /// `wasmpod run` does, instead of keeping the pod Pending and retrying the pull with
    /// the image backoff as the kubelet does (the default, `false`).
    pub fail_on_pull_error: bool,
    /// Hosts outside the pod that outgoing `wasi:http` requests may reach
    /// (`--allow-outbound`); every other destination but the pod's own
    /// loopback is denied. Default: none.
    pub allow_outbound: Vec<crate::container::http::AllowedHost>,
}

impl RunOptions {
    /// [`base_dir`](Self::base_dir): where relative image paths start.
    ///
    /// ```
    /// use std::time::Duration;
    /// use wasmpod::{BackoffPolicy, RunOptions};
    /// let options = RunOptions::default()
    ///     .with_base_dir("pods".into())
    ///     .with_backoff(BackoffPolicy::new(Duration::from_millis(100), Duration::from_secs(1)));
    /// assert_eq!(options.backoff.initial, Duration::from_millis(100));
    /// ```
    pub fn with_base_dir(mut self, dir: PathBuf) -> Self {
        self.base_dir = Some(dir);
        self
    }

    /// [`run_dir`](Self::run_dir): where logs and volumes go.
    pub fn with_run_dir(mut self, dir: PathBuf) -> Self {
        self.run_dir = Some(dir);
        self
    }

    /// [`backoff`](Self::backoff): the crash-loop backoff.
    pub fn with_backoff(mut self, backoff: BackoffPolicy) -> Self {
        self.backoff = backoff;
        self
    }

    /// [`log_rotation`](Self::log_rotation): the log file cap and rotation.
    pub fn with_log_rotation(mut self, rotation: LogRotation) -> Self {
        self.log_rotation = rotation;
        self
    }

    /// [`fail_on_pull_error`](Self::fail_on_pull_error): a failed pull fails the create.
    pub fn with_fail_on_pull_error(mut self, fail: bool) -> Self {
        self.fail_on_pull_error = fail;
        self
    }

    /// [`pull_secrets`](Self::pull_secrets): the pod's registry credentials.
    pub fn with_pull_secrets(mut self, secrets: Vec<crate::PullSecret>) -> Self {
        self.pull_secrets = secrets;
        self
    }

    /// [`allow_outbound`](Self::allow_outbound): one more host outgoing
    /// `wasi:http` requests may reach.
    ///
    /// ```
    /// let options = wasmpod::RunOptions::default()
    ///     .with_allow_outbound("api.example.com:443".parse().unwrap());
    /// assert_eq!(options.allow_outbound[0].to_string(), "api.example.com:443");
    /// ```
    pub fn with_allow_outbound(mut self, host: crate::AllowedHost) -> Self {
        self.allow_outbound.push(host);
        self
    }
}

/// How a pod ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Outcome {
    /// The final phase: `Succeeded` or `Failed`.
    pub phase: Phase,
    /// The final Pod object, status included (shared with the handle's
    /// [`PodHandle::pod`]; `Arc::unwrap_or_clone` gives an owned copy).
    pub pod: Arc<Pod>,
    /// Set if the pod was stopped from outside.
    pub stopped: Option<StopReason>,
}

/// A handle to a pod. Dropping it does not stop the pod; call
/// [`PodHandle::stop`] and [`PodHandle::wait`].
///
/// ```no_run
/// # async fn demo(runtime: wasmpod::Runtime, pod: k8s_openapi::api::core::v1::Pod) -> Result<(), wasmpod::Error> {
/// let handle = runtime.create(wasmpod::ValidPod::from_pod(pod)?, wasmpod::RunOptions::default()).await?;
/// let mut logs = handle.logs();
/// handle.start();
/// while let Ok(line) = logs.recv().await {
///     println!("{} | {}", line.container, line.line);
/// }
/// let outcome = handle.wait().await;
/// println!("pod ended {}", outcome.phase.as_str());
/// # Ok(()) }
/// ```
pub struct PodHandle {
    pub(crate) name: String,
    pub(crate) shared: Arc<Shared>,
    pub(crate) stop: watch::Sender<Option<StopReason>>,
    pub(crate) start: Mutex<Option<oneshot::Sender<()>>>,
    /// The phase it ended in and whether it was stopped, once it ended (its
    /// final object is its status then).
    pub(crate) done: watch::Receiver<Option<(Phase, Option<StopReason>)>>,
    pub(crate) run_dir: PathBuf,
    pub(crate) network: Arc<crate::sandbox::PodNetwork>,
    /// Exec requests to the pod's supervisor.
    pub(crate) execs: tokio::sync::mpsc::UnboundedSender<crate::supervisor::driver::ExecRequest>,
    /// Lists the pod in its runtime's cluster while this handle lives.
    pub(crate) _registration: Arc<crate::runtime::Registration>,
}

impl PodHandle {
    /// The pod's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The run directory (logs, volumes); for a pod given none, its temporary
    /// one, gone when the pod ends (or never made, see [`RunOptions::run_dir`]).
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Starts the pod (once; later calls do nothing).
    pub fn start(&self) {
        if let Some(tx) = lock(&self.start).take() {
            let _ = tx.send(());
        }
    }

    /// The Pod object with its current status: a shared snapshot, which later
    /// changes do not alter (`Arc::unwrap_or_clone` gives an owned copy).
    pub fn pod(&self) -> Arc<Pod> {
        self.shared.status.borrow().clone()
    }

    /// The current phase.
    pub fn phase(&self) -> Option<String> {
        self.shared
            .status
            .borrow()
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
    }

    /// A receiver that sees every status change.
    pub fn watch(&self) -> watch::Receiver<Arc<Pod>> {
        self.shared.status.subscribe()
    }

    /// Events from now on.
    pub fn events(&self) -> Subscription<Event> {
        self.shared.subscribe_events()
    }

    /// Container output lines from now on. The stream ends when the pod has
    /// ended and every line was delivered.
    pub fn logs(&self) -> Subscription<LogLine> {
        self.shared.subscribe_logs()
    }

    /// Sets a pod condition the kubelet does not own, as a controller would
    /// through the API server: typically one that a `spec.readinessGates`
    /// entry names, which must be True for the pod to be Ready. Its
    /// `lastTransitionTime` changes when its status does.
    ///
    /// ```no_run
    /// # fn demo(handle: &wasmpod::PodHandle) -> Result<(), wasmpod::Error> {
    /// // spec.readinessGates: [{conditionType: example.com/registered}]
    /// handle.set_condition("example.com/registered", true, Some("Registered"), None)?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::KubeletCondition`](crate::Error::KubeletCondition) for a
    /// condition the kubelet sets itself (`Ready`, `Initialized`, …).
    pub fn set_condition(
        &self,
        type_: &str,
        status: bool,
        reason: Option<&str>,
        message: Option<&str>,
    ) -> Result<(), crate::error::Error> {
        if crate::supervisor::status::KUBELET_CONDITIONS.contains(&type_) {
            return Err(crate::error::Error::KubeletCondition {
                type_: type_.into(),
            });
        }
        let status = if status { "True" } else { "False" };
        self.shared.conditions.send_modify(|conditions| {
            let previous = conditions.iter().position(|c| c.type_ == type_);
            let transition = match previous.map(|i| conditions.remove(i)) {
                Some(old) if old.status == status => old.last_transition_time,
                _ => Some(Time(k8s_openapi::jiff::Timestamp::now())),
            };
            conditions.push(PodCondition {
                type_: type_.into(),
                status: status.into(),
                reason: reason.map(Into::into),
                message: message.map(Into::into),
                last_transition_time: transition,
                ..Default::default()
            });
        });
        Ok(())
    }

    /// Stops the pod like a deletion: regular containers first, then
    /// sidecars in reverse order, each with the grace period.
    pub fn stop(&self) {
        self.stop_with(StopReason::Requested);
    }

    /// Stops the pod at once, as a forced deletion: every container is killed (137)
    /// without a grace period. What a test fixture's clean-up wants.
    pub fn kill(&self) {
        self.stop_with(StopReason::Killed);
    }

    /// [`stop`](Self::stop) with a reason recorded in the [`Outcome`].
    pub fn stop_with(&self, reason: StopReason) {
        self.start();
        self.stop.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
    }

    /// Runs `argv` in a fresh instance of the running container `container`'s image, with
    /// its environment, mounts and network, as its exec probes run (and as `kubectl exec`
    /// would, except that a Wasm instance shares no memory with the container's), and
    /// returns its exit code and output.
    ///
    /// ```no_run
    /// # async fn demo(handle: &wasmpod::PodHandle) -> Result<(), wasmpod::Error> {
    /// let ran = handle.exec("app", ["cat", "/etc/config/mode"]).await?;
    /// assert_eq!((ran.exit_code, ran.output.as_str()), (0, "fast"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Exec`](crate::Error::Exec) when the container is not running (or the pod
    /// has ended).
    pub async fn exec<S: Into<String>>(
        &self,
        container: &str,
        argv: impl IntoIterator<Item = S>,
    ) -> Result<ExecOutput, crate::error::Error> {
        let (reply, answer) = oneshot::channel();
        let request = crate::supervisor::driver::ExecRequest {
            container: container.to_owned(),
            argv: argv.into_iter().map(Into::into).collect(),
            reply,
        };
        let failed = |message: String| crate::error::Error::Exec {
            container: container.to_owned(),
            message,
        };
        self.execs
            .send(request)
            .map_err(|_| failed("the pod has ended".into()))?;
        answer
            .await
            .map_err(|_| failed("the pod has ended".into()))?
            .map_err(failed)
    }

    /// Waits for the pod to end (starting it if needed).
    pub async fn wait(&self) -> Outcome {
        self.start();
        let mut done = self.done.clone();
        let (phase, stopped) = match done.wait_for(Option::is_some).await {
            Ok(ended) => ended.expect("checked by wait_for"),
            // The supervisor task panicked: report what we know.
            Err(_) => (Phase::Failed, *self.stop.borrow()),
        };
        let outcome = Outcome {
            phase,
            pod: self.pod(),
            stopped,
        };
        step!("waited");
        outcome
    }
}
