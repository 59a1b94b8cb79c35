//! What a pod reads from ConfigMaps and Secrets, as the kubelet handles it:
//!
//! * Volumes are set up before any container starts. A projected volume whose object or
//!   key is missing keeps the pod waiting (`ContainerCreating` / `PodInitializing`) with a
//!   `FailedMount` warning; once every volume is written, containers start. While the pod
//!   runs, a change of its objects rewrites the volumes (atomically, `..data`).
//! * A container's env is read at each start. A missing object or key keeps that
//!   container waiting with `CreateContainerConfigError` and a `Failed` warning
//!   (`Error: configmap "x" not found`) until the objects change.
//!
//! Nothing here retries on a timer: only a change of the objects can change the answer.

use super::Run;
use crate::plan::{StartEnv, VolumeSource};
use crate::supervisor::observed::Slot;
use crate::supervisor::output::Event;

/// The driver's view of the objects: which version it has seen, and what waits on them.
#[derive(Debug, Default)]
pub(super) struct ConfigGate {
    /// Counts the changes of the objects seen so far.
    generation: u64,
    /// Every volume is written.
    mounted: bool,
    /// The generation at which mounting last failed (one event per attempt).
    mount_failed_at: Option<u64>,
    /// Containers whose env could not be built, with the generation it was tried at.
    blocked: Vec<(Slot, u64)>,
    /// The last warning of each container and of the volumes: a retry that fails the same
    /// way (another object changed) is not announced again.
    announced: Vec<(Option<Slot>, String)>,
}

impl ConfigGate {
    /// Whether `message` is new for `about` (and remembers it).
    fn first_time(&mut self, about: Option<Slot>, message: &str) -> bool {
        match self.announced.iter_mut().find(|(a, _)| *a == about) {
            Some((_, last)) if last == message => false,
            Some((_, last)) => {
                *last = message.to_owned();
                true
            }
            None => {
                self.announced.push((about, message.to_owned()));
                true
            }
        }
    }
}

impl Run {
    /// Whether containers may start: the volumes are written (trying now if they are not).
    pub(super) fn volumes_ready(&mut self) -> bool {
        if self.gate.mounted {
            return true;
        }
        if self.gate.mount_failed_at == Some(self.gate.generation) {
            return false;
        }
        let objects = self.objects.borrow().clone();
        let mut ok = true;
        let mut failures = Vec::new();
        for v in &self.d.plan.volumes {
            if !matches!(v.source, VolumeSource::Projected { .. }) {
                continue;
            }
            let failure = match self.d.plan.volume_payload(v, &objects) {
                Ok(payload) => match self.d.dirs.project(&v.name, &payload) {
                    Ok(_) => None,
                    Err(e) => Some(crate::report::chain(&e)),
                },
                Err(problems) => Some(problems.join(", ")),
            };
            if let Some(message) = failure {
                ok = false;
                failures.push(format!(
                    "MountVolume.SetUp failed for volume {:?} : {message}",
                    v.name
                ));
            }
        }
        if !self.gate.first_time(None, &failures.join("\n")) {
            failures.clear();
        }
        for message in failures {
            self.d
                .shared
                .event(Event::warning("FailedMount", None, message));
        }
        if ok {
            self.gate.mounted = true;
        } else {
            self.gate.mount_failed_at = Some(self.gate.generation);
        }
        ok
    }

    /// Whether a start of `slot` already failed for want of objects that have not changed.
    pub(super) fn config_blocked(&self, slot: Slot) -> bool {
        self.gate
            .blocked
            .iter()
            .any(|&(s, g)| s == slot && g == self.gate.generation)
    }

    /// The env and argv for a start of `slot`, or `None` after marking the container
    /// `CreateContainerConfigError` with the kubelet's message and event.
    pub(super) fn start_env(&mut self, slot: Slot) -> Option<StartEnv> {
        let plan = self.d.plan.clone();
        let c = slot.plan(&plan);
        let objects = self.objects.borrow().clone();
        match plan.start_env(c, &objects) {
            Ok(env) => {
                self.gate.blocked.retain(|&(s, _)| s != slot);
                self.gate.announced.retain(|(s, _)| *s != Some(slot));
                Some(env)
            }
            Err(message) => {
                self.config_error(slot, message);
                None
            }
        }
    }

    /// Marks `slot` waiting with `CreateContainerConfigError` and `message` (announced
    /// once with the kubelet's `Failed` event), until the objects change.
    pub(super) fn config_error(&mut self, slot: Slot, message: String) {
        let plan = self.d.plan.clone();
        let c = slot.plan(&plan);
        if self.gate.first_time(Some(slot), &message) {
            self.d.shared.event(Event::warning(
                "Failed",
                Some(&c.name),
                format!("Error: {message}"),
            ));
        }
        self.d
            .obs
            .record_mut(slot)
            .wait_with("CreateContainerConfigError", message);
        self.gate.blocked.retain(|&(s, _)| s != slot);
        self.gate.blocked.push((slot, self.gate.generation));
    }

    /// The objects changed: what waited on them is tried again, and mounted volumes are
    /// rewritten where their files differ (a missing object keeps the old files).
    pub(super) fn objects_changed(&mut self) {
        self.gate.generation += 1;
        if !self.gate.mounted {
            return;
        }
        let objects = self.objects.borrow_and_update().clone();
        for v in &self.d.plan.volumes {
            if !matches!(v.source, VolumeSource::Projected { .. }) {
                continue;
            }
            if let Ok(payload) = self.d.plan.volume_payload(v, &objects)
                && let Err(e) = self.d.dirs.project(&v.name, &payload)
            {
                tracing::warn!("volume {}: {}", v.name, crate::report::chain(&e));
            }
        }
    }
}
