//! emptyDir `sizeLimit` enforcement, as the kubelet's eviction manager does
//! it (pkg/kubelet/eviction/eviction_manager.go `emptyDirLimitEviction`):
//! usage is measured every [`HOUSEKEEPING`] and a volume past its limit
//! evicts the pod at once (grace 0, so no preStop hook): the pod fails with
//! reason `Evicted` and the kubelet's message, with an `Evicted` warning
//! event; its containers end with 137.

use std::sync::Arc;
use std::time::Duration;

use cap_std::fs::Dir;
use tokio::sync::mpsc;

use super::Run;
use crate::container::KILLED_EXIT_CODE;
use crate::plan::{PodPlan, SizeLimit};
use crate::sandbox::{MAX_WALK_ENTRIES, PodDirs, disk_usage};
use crate::supervisor::observed::Slot;
use crate::supervisor::output::Event;
use crate::supervisor::status::{EVICTED_REASON, empty_dir_eviction_message};
use crate::supervisor::task::AbortOnDrop;

/// How often volume usage is measured (the kubelet's housekeeping period
/// is 10 s; a local runner checks more often, so a fast writer gets less
/// past its limit).
pub(super) const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// Starts measuring the pod's size-limited volumes; the eviction message is
/// sent once, when one goes past its limit. `None` when no volume has a
/// limit (the sender is then dropped, which closes the channel).
pub(super) fn spawn_monitor(
    plan: &PodPlan,
    dirs: &PodDirs,
    tx: mpsc::UnboundedSender<String>,
) -> Option<AbortOnDrop> {
    let limited: Vec<(String, Arc<Dir>, SizeLimit)> = plan
        .volumes
        .iter()
        .filter_map(|v| {
            Some((
                v.name.clone(),
                dirs.volume_dir(&v.name)?,
                plan.volume_limit(v)?,
            ))
        })
        .collect();
    if limited.is_empty() {
        return None;
    }
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(HOUSEKEEPING);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (name, dir, limit) in &limited {
                let dir = dir.clone();
                let measured =
                    tokio::task::spawn_blocking(move || disk_usage(&dir, MAX_WALK_ENTRIES)).await;
                match measured {
                    Ok(Ok(usage)) => {
                        if !usage.complete {
                            tracing::debug!("volume {name}: partial measurement {usage:?}");
                        }
                        if usage.bytes > limit.bytes {
                            let _ = tx.send(empty_dir_eviction_message(name, &limit.text));
                            return;
                        }
                    }
                    Ok(Err(e)) => tracing::debug!("volume {name}: cannot measure: {e}"),
                    Err(_) => return,
                }
            }
        }
    });
    Some(AbortOnDrop(task.abort_handle()))
}

impl Run {
    /// Evicts the pod: every container is killed at once (137), none
    /// restarts, and the pod fails with reason `Evicted`.
    pub(super) async fn evict(&mut self, message: String) {
        self.d.obs.evicted = Some(message.clone());
        self.d.obs.deleting = true;
        self.d
            .shared
            .event(Event::warning(EVICTED_REASON, None, message));
        // Containers waiting to restart will not: they keep their last state.
        self.d.obs.freeze_waiting();
        let slots: Vec<Slot> = self.running.keys().copied().collect();
        for slot in &slots {
            let name = slot.plan(&self.d.plan).name.clone();
            if let Some(inst) = self.running.get_mut(slot) {
                self.d.shared.event(Event::normal(
                    "Killing",
                    Some(&name),
                    format!("Stopping container {name}"),
                ));
                inst.kill_code = Some(KILLED_EXIT_CODE);
                inst.abort.abort();
            }
        }
        self.publish(false);
        while slots.iter().any(|s| self.running.contains_key(s)) {
            match self.exits_rx.recv().await {
                Some(note) => self.on_exit(note),
                None => break,
            }
        }
    }
}
