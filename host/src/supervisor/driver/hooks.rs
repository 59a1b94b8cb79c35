//! Lifecycle hooks (kuberuntime_container.go): `postStart` runs right after
//! a container starts, and the container does not count as started (so the
//! next container waits) until it returns; a failure is a
//! `FailedPostStartHook` and kills the container. `preStop` runs before the
//! container is told to stop, bounded by its grace period; a failure is only
//! a `FailedPreStopHook` event.

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Run;
use crate::pod::Event;
use crate::supervisor::observed::Slot;
use crate::supervisor::prober::{self, ProbeTarget};

/// A postStart hook's outcome.
pub(super) struct HookNote {
    pub(super) slot: Slot,
    pub(super) id: u64,
    pub(super) ok: bool,
    pub(super) output: String,
}

/// Running preStop hooks, to be awaited before their containers are stopped.
pub(super) type PreStops = JoinSet<(String, bool, String)>;

impl Run {
    /// Starts the postStart hook of the just-started instance of `slot`.
    pub(super) fn start_post_start(&mut self, slot: Slot) {
        let plan = self.d.plan.clone();
        let Some(handler) = slot.plan(&plan).hooks.post_start.clone() else {
            return;
        };
        let Some(inst) = self.running.get(&slot) else {
            return;
        };
        self.d.obs.record_mut(slot).post_start_pending = true;
        let (target, id, tx) = (inst.target.clone(), inst.id, self.hook_tx.clone());
        tokio::spawn(async move {
            let (ok, output) = prober::run_handler(&handler, &target).await;
            let _ = tx.send(HookNote {
                slot,
                id,
                ok,
                output,
            });
        });
    }

    /// Applies a postStart outcome.
    pub(super) async fn on_post_start(&mut self, note: HookNote) {
        if !self
            .running
            .get(&note.slot)
            .is_some_and(|i| i.id == note.id && i.kill_code.is_none())
        {
            return;
        }
        self.d.obs.record_mut(note.slot).post_start_pending = false;
        if !note.ok {
            let name = note.slot.plan(&self.d.plan).name.clone();
            self.d.shared.event(Event::warning(
                "FailedPostStartHook",
                Some(&name),
                format!("PostStartHook failed: {}", note.output),
            ));
            let deadline = Instant::now() + self.d.plan.grace_period;
            self.kill(
                &[note.slot],
                deadline,
                Some(format!("FailedPostStartHook: stopping container {name}")),
            )
            .await;
        }
    }

    /// Starts the preStop hooks of the running instances of `slots` (each
    /// once per instance) and returns them, running.
    pub(super) fn start_pre_stops(&mut self, slots: &[Slot]) -> PreStops {
        let plan = self.d.plan.clone();
        let mut set = JoinSet::new();
        for &slot in slots {
            let c = slot.plan(&plan);
            let Some(handler) = c.hooks.pre_stop.clone() else {
                continue;
            };
            let Some(inst) = self.running.get_mut(&slot).filter(|i| !i.pre_stop_ran) else {
                continue;
            };
            inst.pre_stop_ran = true;
            let target: Arc<ProbeTarget> = inst.target.clone();
            let name = c.name.clone();
            set.spawn(async move {
                let (ok, output) = prober::run_handler(&handler, &target).await;
                (name, ok, output)
            });
        }
        set
    }

    /// Waits for preStop hooks until `deadline`; hooks still running then
    /// are abandoned (the containers are stopped anyway).
    pub(super) async fn finish_pre_stops(&mut self, mut set: PreStops, deadline: Instant) {
        let shared = self.d.shared.clone();
        let wait_all = async {
            while let Some(done) = set.join_next().await {
                if let Ok((name, false, output)) = done {
                    shared.event(Event::warning(
                        "FailedPreStopHook",
                        Some(&name),
                        format!("PreStopHook failed: {output}"),
                    ));
                }
            }
        };
        let _ = tokio::time::timeout_at(deadline, wait_all).await;
    }
}
