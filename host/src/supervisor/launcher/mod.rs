//! Starting instances. [`Instances`] is the driver's seam to whatever runs
//! them (Wasm in a pod, [`WasmInstances`]; a scripted fake in the
//! supervisor's tests); a [`Launcher`] starts one container's instances
//! through it — the container's own, and the fresh ones its exec probes and
//! hooks run — each holding a permit of the pod's budget.

mod wasm;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinHandle};

pub(crate) use wasm::WasmInstances;

use super::budget::{InstanceBudget, Permit, Use};
use super::observed::Slot;
use crate::container::Exit;
use crate::container::cpu::CpuAccount;
use crate::sandbox::{CHANNEL_CHUNKS, Chunk, Kept, PodNetwork, Preopen, Stream};

/// The most exec output kept (for an `Unhealthy` event or a hook's message).
pub(crate) const MAX_OUTPUT: usize = 1024;

/// What runs a pod's instances: the seam between the driver and Wasm.
pub(crate) trait Instances: Send + Sync {
    /// Starts one instance. It holds `start.permit` and `start.output`
    /// until it ends (dropping the output sender ends its log stream);
    /// [`End::kill`] on [`Started::exit`] kills it. It may have ended by the time it returns.
    fn start(&self, start: Start) -> Started;

    /// Pulls `slot`'s image again before the container restarts, as the kubelet's
    /// `EnsureImageExists` does at every start of a container whose pull policy is `Always`;
    /// `None` when the image needs no registry (`IfNotPresent`, `Never`, not a registry
    /// image). Once the pull succeeds, the next start of `slot` runs the image pulled.
    fn repull(&self, slot: Slot) -> Option<Repull> {
        let _ = slot;
        None
    }
}

/// A pull before a restart ([`Instances::repull`]).
pub(crate) type Repull =
    std::pin::Pin<Box<dyn Future<Output = Result<Repulled, crate::ImageError>> + Send>>;

/// An image pulled again before a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Repulled {
    /// Its `imageID` (`repo@sha256:<manifest digest>`): another digest when the tag moved.
    pub(crate) image_id: String,
    /// The kubelet's `Pulled` message.
    pub(crate) message: String,
}

/// One instance to start.
pub(crate) struct Start {
    /// The container it is an instance of.
    pub(crate) slot: Slot,
    /// argv (`argv[0]` included).
    pub(crate) argv: Vec<String>,
    /// Environment, in order.
    pub(crate) env: Vec<(String, String)>,
    /// Directories the instance sees.
    pub(crate) preopens: Vec<Preopen>,
    /// The pod's network namespace.
    pub(crate) network: Arc<PodNetwork>,
    /// `resources.limits.memory` in bytes.
    pub(crate) memory_limit: Option<u64>,
    /// The container's CPU account, shared by all its instances.
    pub(crate) cpu: Option<Arc<CpuAccount>>,
    /// stdout and stderr, as chunks.
    pub(crate) output: mpsc::Sender<Chunk>,
    /// The instance's share of the pod's budget.
    pub(crate) permit: Permit,
    /// The container's own instance, or an exec probe's or hook's.
    pub(crate) what: Use,
}

/// A started instance.
pub(crate) struct Started {
    /// Its end: [`End::exit`] gives the exit; [`End::kill`] kills the instance.
    pub(crate) exit: End,
    /// The exit as soon as it is known, before the instance is freed; fails when
    /// only [`Started::exit`] can tell (the instance was killed, or did not start).
    pub(crate) exited: tokio::sync::oneshot::Receiver<Exit>,
    /// How it is asked to stop.
    pub(crate) term: Arc<dyn Term>,
    /// When it runs.
    pub(crate) running: Running,
}

/// An instance's end.
pub(crate) enum End {
    /// It runs as a task (on the guest executor): aborting the task kills it.
    Task(JoinHandle<Exit>),
    /// It ended before [`Instances::start`] returned (it could not start, or ran to
    /// its exit in its first slice); `None`: its host code panicked.
    Ended(Option<Exit>),
}

impl End {
    /// What kills the instance.
    pub(crate) fn kill(&self) -> Kill {
        Kill(match self {
            End::Task(task) => Some(task.abort_handle()),
            End::Ended(_) => None,
        })
    }

    /// How it ended; `None` when it was killed (or its host code panicked).
    pub(crate) async fn exit(self) -> Option<Exit> {
        match self {
            End::Task(task) => task.await.ok(),
            End::Ended(exit) => exit,
        }
    }
}

/// Kills an instance ([`End::kill`]); nothing once it has ended.
pub(crate) struct Kill(Option<AbortHandle>);

impl Kill {
    /// Kills the instance at its next yield (an epoch tick or a host call).
    pub(crate) fn abort(&self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// Kills an instance when dropped.
struct KillOnDrop(Kill);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Resolves once the instance runs (instantiated, its entry point called);
/// fails if it ended or never started instead.
pub(crate) type Running = tokio::sync::oneshot::Receiver<()>;

/// How a running instance is asked to stop. WASI has no signals: an
/// instance that subscribed to termination handles TERM; one that did not
/// is stopped at once, like a process without a SIGTERM handler.
pub(crate) trait Term: Send + Sync {
    /// Whether the instance handles TERM.
    fn handles(&self) -> bool;
    /// Sends TERM; the instance will be killed at `deadline`.
    fn send(&self, deadline: std::time::Instant);
}

/// The TERM line of an instance that never started.
struct NoTerm;

impl Term for NoTerm {
    fn handles(&self) -> bool {
        false
    }
    fn send(&self, _: std::time::Instant) {}
}

/// An instance that could not start: it ends at once with a `StartError`.
fn not_started(why: String) -> Started {
    Started {
        exit: End::Ended(Some(Exit::StartError(why))),
        exited: tokio::sync::oneshot::channel().1,
        term: Arc::new(NoTerm),
        running: tokio::sync::oneshot::channel().1,
    }
}

/// Starts the instances of one container: its own, and the exec probes and
/// hooks, which run fresh instances like it (same image, environment,
/// directories, limits and CPU account).
pub(crate) struct Launcher {
    /// What runs them.
    pub(crate) instances: Arc<dyn Instances>,
    /// The container.
    pub(crate) slot: Slot,
    pub(crate) env: Vec<(String, String)>,
    /// The container's directories, its root by path ([`crate::sandbox::keep`]):
    /// an idle container holds no descriptor of its own for its root.
    pub(crate) preopens: Vec<Kept>,
    /// The pod's network (exec instances, and tcp/http/grpc probes).
    pub(crate) network: Arc<PodNetwork>,
    /// `resources.limits.memory`, for each instance.
    pub(crate) memory_limit: Option<u64>,
    /// The container's CPU account, shared by all its instances.
    pub(crate) cpu: Option<Arc<CpuAccount>>,
    /// The pod's instance budget.
    pub(crate) budget: Arc<InstanceBudget>,
}

impl Launcher {
    /// Starts an instance running `argv`, its output to `output`, holding a
    /// permit of the pod's budget while it lives; without one it ends at
    /// once with a `StartError` saying which limit was reached.
    pub(crate) fn start(
        &self,
        argv: Vec<String>,
        output: mpsc::Sender<Chunk>,
        what: Use,
    ) -> Started {
        match crate::sandbox::reopen(&self.preopens) {
            Ok(preopens) => self.start_in(preopens, argv, output, what),
            Err(e) => not_started(crate::report::chain(&e)),
        }
    }

    /// [`Launcher::start`] in `preopens` (the container's own first
    /// instance, whose directories were just made).
    pub(crate) fn start_in(
        &self,
        preopens: Vec<Preopen>,
        argv: Vec<String>,
        output: mpsc::Sender<Chunk>,
        what: Use,
    ) -> Started {
        match self.budget.try_acquire(what) {
            Ok(permit) => self.instances.start(Start {
                slot: self.slot,
                argv,
                env: self.env.clone(),
                preopens,
                network: self.network.clone(),
                memory_limit: self.memory_limit,
                cpu: self.cpu.clone(),
                output,
                permit,
                what,
            }),
            Err(why) => not_started(why),
        }
    }

    /// Runs `argv` in a fresh instance and collects its output. Dropping the
    /// future (at a timeout) kills the instance.
    pub(crate) async fn exec_capture(&self, argv: &[String]) -> ExecOutcome {
        let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
        let instance = self.start(argv.to_vec(), tx, Use::Exec).exit;
        // Kill the instance if this future is dropped at the timeout.
        let guard = KillOnDrop(instance.kill());
        let (mut output, mut stderr) = (Vec::new(), Vec::new());
        while let Some(chunk) = rx.recv().await {
            if output.len() < MAX_OUTPUT {
                output.extend_from_slice(&chunk.bytes);
            }
            if chunk.stream == Stream::Stderr && stderr.len() < MAX_OUTPUT {
                stderr.extend_from_slice(&chunk.bytes);
            }
        }
        let exit = instance.exit().await;
        drop(guard);
        let text = |mut bytes: Vec<u8>| {
            bytes.truncate(MAX_OUTPUT);
            String::from_utf8_lossy(&bytes).into_owned()
        };
        ExecOutcome {
            code: exit.map(|e| e.code()),
            output: text(output),
            stderr: text(stderr),
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
