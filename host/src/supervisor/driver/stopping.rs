//! Stopping containers (kuberuntime_container.go `killContainer`,
//! kuberuntime_termination_order.go): each kill runs the preStop hook
//! within the grace period, then TERM, then a kill at the deadline floored
//! at the kubelet's 2 s; a pod stop takes regular containers first, in
//! parallel, then the sidecars in reverse order.

use tokio::time::Instant;

use super::{MIN_GRACE, Run, slot_kind};
use crate::container::{KILLED_EXIT_CODE, TERMINATED_EXIT_CODE};
use crate::plan::{ContainerKind, ProbeKind};
use crate::supervisor::observed::Slot;
use crate::supervisor::output::Event;

impl Run {
    /// Stops every container: regular ones (and a running init container)
    /// first, in parallel, then the sidecars in reverse order.
    pub(super) async fn terminate_all(&mut self) {
        self.d.obs.deleting = true;
        // Containers waiting to restart will not: they keep their last state.
        self.d.obs.freeze_waiting();
        self.publish(false);
        let deadline = Instant::now() + self.d.plan.grace_period;
        let (first, sidecars): (Vec<Slot>, Vec<Slot>) = self
            .running
            .keys()
            .copied()
            .partition(|s| slot_kind(&self.d.plan, *s) != ContainerKind::Sidecar);
        // Sidecars' preStop hooks start at once, before their wait
        // (kuberuntime_termination_order.go).
        let sidecar_pre_stops = self.start_pre_stops(&sidecars);
        self.kill(&first, deadline, None).await;
        self.finish_pre_stops(sidecar_pre_stops, deadline).await;
        self.stop_sidecars(deadline).await;
    }

    /// Stops running sidecars one at a time in reverse declaration order.
    pub(super) async fn stop_sidecars(&mut self, deadline: Instant) {
        let sidecars: Vec<Slot> = (0..self.d.plan.init_containers.len())
            .rev()
            .map(Slot::Init)
            .filter(|s| self.running.contains_key(s))
            .collect();
        // Every sidecar's preStop starts at once, before its turn comes
        // (kuberuntime_termination_order.go).
        let pre_stops = self.start_pre_stops(&sidecars);
        self.finish_pre_stops(pre_stops, deadline).await;
        for (i, &slot) in sidecars.iter().enumerate() {
            if Instant::now() >= deadline {
                // The grace is used up: the rest get TERM together, with the
                // 2 s minimum.
                self.kill(&sidecars[i..], deadline, None).await;
                break;
            }
            self.kill(&[slot], deadline, None).await;
        }
    }

    /// Stops `slots` in parallel: a guest subscribed to termination gets
    /// until `deadline` (at least [`MIN_GRACE`]) and is then killed (137);
    /// one that is not is stopped at once (143).
    pub(super) async fn kill(
        &mut self,
        slots: &[Slot],
        deadline: Instant,
        message: Option<String>,
    ) {
        // Liveness and startup probes stop for a container being killed;
        // readiness keeps running until it is gone (prober_manager.go).
        for slot in slots {
            if let Some(inst) = self.running.get_mut(slot) {
                inst.probes.retain(|(kind, _, worker)| {
                    let keep = *kind == ProbeKind::Readiness;
                    if !keep {
                        worker.abort();
                    }
                    keep
                });
            }
        }
        // preStop runs first, within the grace period; whatever it leaves
        // of the grace is floored at the kubelet's 2 s.
        let pre_stops = self.start_pre_stops(slots);
        self.finish_pre_stops(pre_stops, deadline).await;
        let deadline = deadline.max(Instant::now() + MIN_GRACE);
        let wall_deadline =
            std::time::Instant::now() + deadline.saturating_duration_since(Instant::now());
        let mut waiting = Vec::new();
        for &slot in slots {
            let name = slot.plan(&self.d.plan).name.clone();
            let Some(inst) = self.running.get_mut(&slot) else {
                continue;
            };
            self.d.shared.event(Event::normal(
                "Killing",
                Some(&name),
                message
                    .clone()
                    .unwrap_or_else(|| format!("Stopping container {name}")),
            ));
            if inst.term.handles() {
                inst.kill_code = Some(KILLED_EXIT_CODE);
                inst.term.send(wall_deadline);
                waiting.push(slot);
            } else {
                inst.kill_code = Some(TERMINATED_EXIT_CODE);
                inst.abort.abort();
                waiting.push(slot);
            }
        }
        self.publish(false);
        let timer = tokio::time::sleep_until(deadline);
        tokio::pin!(timer);
        while waiting.iter().any(|s| self.running.contains_key(s)) {
            tokio::select! {
                Some(note) = self.exits_rx.recv() => self.on_exit(note),
                // Readiness keeps being probed while containers terminate.
                Some(note) = self.probe_rx.recv() => {
                    self.apply_probe(note);
                    self.publish(false);
                }
                _ = &mut timer => break,
            }
        }
        // Past the deadline: kill what is left and collect its exit.
        for slot in &waiting {
            if let Some(inst) = self.running.get(slot) {
                inst.abort.abort();
            }
        }
        while waiting.iter().any(|s| self.running.contains_key(s)) {
            match self.exits_rx.recv().await {
                Some(note) => self.on_exit(note),
                None => break,
            }
        }
        self.publish(false);
    }

    /// [`PodHandle::kill`](crate::PodHandle::kill): every instance is aborted at once and
    /// ends with 137 — no TERM, no preStop hook, no grace period.
    pub(super) async fn kill_now(&mut self) {
        self.d.obs.deleting = true;
        self.d.obs.freeze_waiting();
        for inst in self.running.values_mut() {
            inst.kill_code = Some(KILLED_EXIT_CODE);
            inst.abort.abort();
        }
        while !self.running.is_empty() {
            match self.exits_rx.recv().await {
                Some(note) => self.on_exit(note),
                None => break,
            }
        }
        self.publish(false);
    }
}
