//! The driver's reaction to probe results (pkg/kubelet/prober): startup
//! success starts the liveness and readiness workers; a liveness or startup
//! failure kills the container (its restart then follows the policy);
//! readiness sets `ready`.

use tokio::time::Instant;

use super::Run;
use crate::plan::ProbeKind;
use crate::supervisor::observed::Slot;
use crate::supervisor::output::Event;
use crate::supervisor::probing::thresholds::{ProbeResult, ProbeState};
use crate::supervisor::probing::{ProbeNote, Verdict, worker};

impl Run {
    /// Starts probe workers of `kinds` for the running instance of `slot`.
    pub(super) fn start_probes(&mut self, slot: Slot, kinds: &[ProbeKind]) {
        let plan = self.d.plan.clone();
        let c = slot.plan(&plan);
        let Some(inst) = self.running.get_mut(&slot) else {
            return;
        };
        for &kind in kinds {
            if let Some(p) = c.probes.get(kind) {
                let worker = worker::spawn(
                    kind,
                    p.clone(),
                    inst.launcher.clone(),
                    (slot, inst.id),
                    self.probe_tx.clone(),
                );
                inst.probes.push((kind, ProbeState::new(kind), worker));
            }
        }
    }

    /// Applies one probe outcome: thresholds, then the kubelet's reaction.
    pub(super) async fn on_probe(&mut self, note: ProbeNote) {
        self.apply_probe(note);
        self.run_deferred_kills().await;
    }

    /// Kills containers whose liveness or startup probe failed.
    pub(super) async fn run_deferred_kills(&mut self) {
        while let Some((slot, deadline, message)) = self.deferred_kills.pop() {
            self.kill(&[slot], deadline, Some(message)).await;
        }
    }

    /// Records one probe outcome. Readiness takes effect at once; a
    /// liveness or startup failure queues a kill (carried out by
    /// [`run_deferred_kills`](Self::run_deferred_kills), so that outcomes
    /// arriving while another container is being stopped are not lost).
    pub(super) fn apply_probe(&mut self, note: ProbeNote) {
        let plan = self.d.plan.clone();
        let c = note.slot.plan(&plan);
        let Some(probe) = c.probes.get(note.kind) else {
            return;
        };
        let Some(inst) = self.running.get_mut(&note.slot).filter(|i| {
            i.id == note.id && (i.kill_code.is_none() || note.kind == ProbeKind::Readiness)
        }) else {
            return;
        };
        let label = note.kind.label();
        match &note.verdict {
            Verdict::Success => {}
            Verdict::Warning(output) => self.d.shared.event(Event::warning(
                "ProbeWarning",
                Some(&c.name),
                format!("{label} probe warning: {output}"),
            )),
            Verdict::Failure(output) => self.d.shared.event(Event::warning(
                "Unhealthy",
                Some(&c.name),
                format!("{label} probe failed: {output}"),
            )),
        }
        let Some(entry) = inst.probes.iter_mut().find(|(k, _, _)| *k == note.kind) else {
            return;
        };
        let Some(result) = entry.1.observe(note.verdict.passed(), probe) else {
            return;
        };
        match (note.kind, result) {
            (ProbeKind::Startup, ProbeResult::Success) => {
                // Only the startup probe runs until it succeeds; then the others start.
                entry.2.abort();
                self.d.obs.record_mut(note.slot).startup_passed = true;
                self.start_probes(note.slot, &[ProbeKind::Liveness, ProbeKind::Readiness]);
            }
            (ProbeKind::Startup | ProbeKind::Liveness, ProbeResult::Failure) => {
                let message = format!(
                    "Container {} failed {} probe, will be restarted",
                    c.name,
                    note.kind.label().to_lowercase()
                );
                let grace = worker::kill_grace(probe, plan.grace_period);
                self.deferred_kills
                    .push((note.slot, Instant::now() + grace, message));
            }
            (ProbeKind::Readiness, r) => {
                self.d.obs.record_mut(note.slot).readiness_passed = r == ProbeResult::Success;
            }
            _ => {}
        }
    }
}
