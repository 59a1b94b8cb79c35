//! Local ephemeral storage limits, enforced as the kubelet's eviction
//! manager does (pkg/kubelet/eviction/eviction_manager.go
//! `localStorageEviction`): usage is measured every [`HOUSEKEEPING`] and, in
//! the kubelet's order, a pod is evicted at once (grace 0, so no preStop
//! hook) when
//! 1. an emptyDir holds more than its limit (`emptyDirLimitEviction`);
//! 2. its containers' private roots and disk-backed emptyDirs together hold
//!    more than its containers' `limits.ephemeral-storage` added up
//!    (`podEphemeralStorageLimitEviction`);
//! 3. a container's private root holds more than its own limit
//!    (`containerEphemeralStorageLimitEviction`).
//!
//! The pod fails with reason `Evicted` and the kubelet's message, with an
//! `Evicted` warning event; its containers end with 137. A container's root
//! is measured as its current instance's (the kubelet measures the writable
//! layer; logs, which it counts too, live outside the pod's sandbox here).

use std::sync::Arc;
use std::time::Duration;

use cap_std::fs::Dir;
use tokio::sync::mpsc;

use super::Run;
use crate::container::KILLED_EXIT_CODE;
use crate::plan::{PodPlan, SizeLimit, VolumeSource};
use crate::sandbox::{MAX_WALK_ENTRIES, PodDirs, disk_usage};
use crate::supervisor::observed::Slot;
use crate::supervisor::output::Event;
use crate::supervisor::status::{
    EVICTED_REASON, container_ephemeral_storage_message, empty_dir_eviction_message,
    pod_ephemeral_storage_message,
};
use crate::supervisor::task::AbortOnDrop;

/// How often usage is measured (the kubelet's housekeeping period is 10 s;
/// a local runner checks more often, so a fast writer gets less past its
/// limit).
pub(super) const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// One volume a housekeeping pass measures.
struct Measured {
    name: String,
    dir: Arc<Dir>,
    /// Its own limit (`sizeLimit`, or the pod's memory limit for `medium: Memory`).
    limit: Option<SizeLimit>,
    /// A disk-backed emptyDir: it counts toward the pod's total.
    on_disk: bool,
}

/// What one housekeeping pass measures.
struct Limits {
    /// Volumes with a limit of their own or counted toward the pod's total.
    volumes: Vec<Measured>,
    /// Every container's name and `limits.ephemeral-storage`.
    containers: Vec<(String, Option<SizeLimit>)>,
    /// The containers' limits added up, when any has one.
    pod: Option<SizeLimit>,
}

/// Starts measuring the pod's limited storage; the eviction message is sent
/// once, when a limit is passed. `None` when nothing is limited (the sender
/// is then dropped, which closes the channel).
pub(super) fn spawn_monitor(
    plan: &PodPlan,
    dirs: &Arc<PodDirs>,
    tx: mpsc::UnboundedSender<String>,
) -> Option<AbortOnDrop> {
    let containers: Vec<(String, Option<SizeLimit>)> = plan
        .init_containers
        .iter()
        .chain(&plan.containers)
        .map(|c| (c.name.clone(), c.ephemeral_storage_limit.clone()))
        .collect();
    let total: Option<u64> = containers
        .iter()
        .filter_map(|(_, l)| l.as_ref().map(|l| l.bytes))
        .reduce(u64::saturating_add);
    let volumes: Vec<Measured> = plan
        .volumes
        .iter()
        .filter_map(|v| {
            let limit = plan.volume_limit(v);
            let on_disk =
                total.is_some() && matches!(v.source, VolumeSource::EmptyDir { memory: false, .. });
            (limit.is_some() || on_disk).then_some(())?;
            Some(Measured {
                name: v.name.clone(),
                dir: dirs.volume_dir(&v.name)?,
                limit,
                on_disk,
            })
        })
        .collect();
    if volumes.is_empty() && total.is_none() {
        return None;
    }
    let limits = Arc::new(Limits {
        volumes,
        containers,
        pod: total.map(SizeLimit::from_bytes),
    });
    let dirs = dirs.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(HOUSEKEEPING);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (limits, dirs) = (limits.clone(), dirs.clone());
            match tokio::task::spawn_blocking(move || housekeeping(&limits, &dirs)).await {
                Ok(Some(message)) => {
                    let _ = tx.send(message);
                    return;
                }
                Ok(None) => {}
                Err(_) => return,
            }
        }
    });
    Some(AbortOnDrop(task.abort_handle()))
}

/// One pass: the eviction message of the first limit passed, in the kubelet's order.
fn housekeeping(limits: &Limits, dirs: &PodDirs) -> Option<String> {
    let measure = |what: &str, dir: &Dir| match disk_usage(dir, MAX_WALK_ENTRIES) {
        Ok(usage) => {
            if !usage.complete {
                tracing::debug!("{what}: partial measurement {usage:?}");
            }
            Some(usage.bytes)
        }
        Err(e) => {
            tracing::debug!("{what}: cannot measure: {e}");
            None
        }
    };
    // Each volume measured once, for its own limit and the pod's total.
    let mut on_disk = 0u64;
    for v in &limits.volumes {
        let used = measure(&format!("volume {}", v.name), &v.dir).unwrap_or(0);
        if let Some(limit) = v.limit.as_ref().filter(|l| used > l.bytes) {
            return Some(empty_dir_eviction_message(&v.name, &limit.text));
        }
        if v.on_disk {
            on_disk = on_disk.saturating_add(used);
        }
    }
    let pod = limits.pod.as_ref()?;
    // Each container's root, measured once for both checks.
    let roots: Vec<(&str, Option<&SizeLimit>, u64)> = limits
        .containers
        .iter()
        .map(|(name, limit)| {
            let used = dirs
                .root_dir(name)
                .and_then(|root| measure(&format!("container {name}"), &root))
                .unwrap_or(0);
            (name.as_str(), limit.as_ref(), used)
        })
        .collect();
    let used = roots
        .iter()
        .map(|(_, _, used)| *used)
        .fold(on_disk, u64::saturating_add);
    if used > pod.bytes {
        return Some(pod_ephemeral_storage_message(&pod.text));
    }
    roots.iter().find_map(|(name, limit, used)| {
        let limit = limit.filter(|l| *used > l.bytes)?;
        Some(container_ephemeral_storage_message(name, &limit.text))
    })
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
