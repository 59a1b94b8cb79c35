//! Lifecycle hooks: running postStart and preStop handlers and the driver's
//! reaction to them (kuberuntime_container.go, pkg/kubelet/lifecycle/handlers.go).
//!
//! * `postStart` runs right after a container starts, and the container
//!   does not count as started (so the next container waits) until it
//!   returns. A failure is a `FailedPostStartHook` event, the container is
//!   killed (`Killing` with message `FailedPostStartHook`), and while it
//!   waits to restart its state is `waiting{reason: PostStartHookError}`
//!   with the handler's message.
//! * `preStop` runs before the container is told to stop, bounded by its
//!   grace period; a failure is only a `FailedPreStopHook` event. A hook
//!   still running when the grace is used up is not stopped: it lives until
//!   its container is killed (grace + the 2 s minimum), as a hook running
//!   inside a container does.
//! * As the kubelet does, the events say only `PostStartHook failed` and
//!   `PreStopHook failed` (a hook's output may hold secrets); the details go
//!   to the log and, for postStart, to the waiting message.
//! * `exec` fails on a non-zero exit; `httpGet` fails only when no response
//!   comes (the kubelet does not look at a hook's status code); `sleep`
//!   never fails.

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Run;
use crate::plan::{PodPlan, ProbeHandler};
use crate::supervisor::launcher::{Launcher, Running};
use crate::supervisor::observed::Slot;
use crate::supervisor::output::Event;
use crate::supervisor::probing::http::{HOOK_AGENT, get_once};
use crate::supervisor::task::AbortOnDrop;

/// A postStart hook's outcome: `Err` holds the kubelet's message.
pub(super) struct HookNote {
    pub(super) slot: Slot,
    pub(super) id: u64,
    pub(super) result: Result<(), String>,
}

/// Running preStop hooks, to be awaited before their containers are stopped.
pub(super) type PreStops = JoinSet<(String, Result<(), String>)>;

/// Who a hook runs for, as the kubelet's messages name it.
struct Subject {
    container: String,
    /// `name_namespace(uid)` (`format.Pod`).
    pod: String,
}

impl Subject {
    fn new(plan: &PodPlan, slot: Slot) -> Self {
        Subject {
            container: slot.plan(plan).name.clone(),
            pod: format!("{}_{}({})", plan.name, plan.namespace, plan.uid),
        }
    }
}

/// Runs a hook handler once (`handlerRunner.Run`).
async fn run_hook(
    handler: &ProbeHandler,
    launcher: &Launcher,
    who: &Subject,
) -> Result<(), String> {
    let Subject { container, pod } = who;
    match handler {
        ProbeHandler::Sleep(d) => {
            tokio::time::sleep(*d).await;
            Ok(())
        }
        ProbeHandler::Exec(argv) => {
            let outcome = launcher.exec_capture(argv).await;
            let command = argv.join(" ");
            let error = match outcome.code {
                Some(0) => return Ok(()),
                Some(code) => format!("command '{command}' exited with {code}: {}", outcome.stderr),
                None => "the hook's instance was cancelled".into(),
            };
            Err(format!(
                "Exec lifecycle hook ([{command}]) for Container {container:?} in Pod {pod:?} failed - error: {error}, message: {:?}",
                outcome.output
            ))
        }
        ProbeHandler::HttpGet {
            port,
            path,
            headers,
        } => get_once(&launcher.network, *port, path, headers, HOOK_AGENT)
            .await
            .map(drop)
            .map_err(|e| {
                format!(
                    "HTTP lifecycle hook ({path}) for Container {container:?} in Pod {pod:?} failed - error: Get \"http://127.0.0.1:{port}{path}\": {e}"
                )
            }),
        other => Err(format!(
            "Cannot run handler: invalid handler: {other:?}"
        )),
    }
}

impl Run {
    /// Runs `slot`'s postStart hook, if it has one, once its instance runs
    /// (`running`), as the kubelet runs it once the runtime has started the
    /// container's process; an instance that never ran gets no hook.
    pub(super) fn start_post_start(&mut self, slot: Slot, running: Running) {
        let plan = self.d.plan.clone();
        let Some(handler) = slot.plan(&plan).hooks.post_start.clone() else {
            return;
        };
        let Some(inst) = self.running.get(&slot) else {
            return;
        };
        self.d.obs.record_mut(slot).post_start_pending = true;
        let (launcher, id, tx) = (inst.launcher.clone(), inst.id, self.hook_tx.clone());
        let who = Subject::new(&plan, slot);
        tokio::spawn(async move {
            // Never ran: no hook, and nothing left pending on it.
            let result = match running.await {
                Ok(()) => run_hook(&handler, &launcher, &who).await,
                Err(_) => Ok(()),
            };
            let _ = tx.send(HookNote { slot, id, result });
        });
    }

    /// Applies a postStart outcome.
    pub(super) async fn on_post_start(&mut self, note: HookNote) {
        let Some(inst) = self
            .running
            .get_mut(&note.slot)
            .filter(|i| i.id == note.id && i.kill_code.is_none())
        else {
            return;
        };
        self.d.obs.record_mut(note.slot).post_start_pending = false;
        if let Err(message) = note.result {
            let name = note.slot.plan(&self.d.plan).name.clone();
            tracing::warn!(container = %name, "{message}");
            inst.start_error = Some(message);
            self.d.shared.event(Event::warning(
                "FailedPostStartHook",
                Some(&name),
                "PostStartHook failed".into(),
            ));
            let deadline = Instant::now() + self.d.plan.grace_period;
            self.kill(&[note.slot], deadline, Some("FailedPostStartHook".into()))
                .await;
        }
    }

    /// Starts the preStop hooks of the running instances of `slots` (each
    /// once per instance) and returns them, running. Each hook's task is
    /// also tied to its instance: it ends when the instance is gone.
    pub(super) fn start_pre_stops(&mut self, slots: &[Slot]) -> PreStops {
        let plan = self.d.plan.clone();
        let mut set = JoinSet::new();
        for &slot in slots {
            let c = slot.plan(&plan);
            let Some(handler) = c.hooks.pre_stop.clone() else {
                continue;
            };
            let Some(inst) = self.running.get_mut(&slot).filter(|i| i.pre_stop.is_none()) else {
                continue;
            };
            let launcher: Arc<Launcher> = inst.launcher.clone();
            let who = Subject::new(&plan, slot);
            let task = set.spawn(async move {
                let result = run_hook(&handler, &launcher, &who).await;
                (who.container, result)
            });
            inst.pre_stop = Some(AbortOnDrop(task));
        }
        set
    }

    /// Waits for preStop hooks until `deadline`. Hooks still running then
    /// go on until their containers are killed.
    pub(super) async fn finish_pre_stops(&mut self, mut set: PreStops, deadline: Instant) {
        let shared = self.d.shared.clone();
        let wait_all = async {
            while let Some(done) = set.join_next().await {
                if let Ok((name, Err(message))) = done {
                    tracing::warn!(container = %name, "{message}");
                    shared.event(Event::warning(
                        "FailedPreStopHook",
                        Some(&name),
                        "PreStopHook failed".into(),
                    ));
                }
            }
        };
        let _ = tokio::time::timeout_at(deadline, wait_all).await;
        set.detach_all();
    }
}
