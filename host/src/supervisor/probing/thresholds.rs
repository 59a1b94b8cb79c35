//! Probe thresholds: a probe's result from its outcomes, as the kubelet's
//! prober workers keep it (pkg/kubelet/prober/worker.go): a result only
//! changes after `failureThreshold` or `successThreshold` consecutive
//! identical outcomes.
//! Each new container instance starts with readiness Failure, liveness
//! Success and startup Unknown.

use crate::plan::{ProbeKind, ProbePlan};

/// A probe's current result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    /// Not decided yet.
    Unknown,
    /// Passing.
    Success,
    /// Failing.
    Failure,
}

/// The state of one probe of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeState {
    /// The current result.
    pub result: ProbeResult,
    last: Option<bool>,
    streak: u32,
}

impl ProbeState {
    /// The initial state for a new instance.
    pub fn new(kind: ProbeKind) -> Self {
        let result = match kind {
            ProbeKind::Startup => ProbeResult::Unknown,
            ProbeKind::Liveness => ProbeResult::Success,
            ProbeKind::Readiness => ProbeResult::Failure,
        };
        Self {
            result,
            last: None,
            streak: 0,
        }
    }

    /// Records one outcome; returns the new result if it changed.
    pub fn observe(&mut self, ok: bool, plan: &ProbePlan) -> Option<ProbeResult> {
        self.streak = if self.last == Some(ok) {
            self.streak + 1
        } else {
            1
        };
        self.last = Some(ok);
        let threshold = if ok {
            plan.success_threshold
        } else {
            plan.failure_threshold
        };
        let candidate = if ok {
            ProbeResult::Success
        } else {
            ProbeResult::Failure
        };
        if self.streak >= threshold && self.result != candidate {
            self.result = candidate;
            return Some(candidate);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ProbeHandler;
    use std::time::Duration;

    fn plan(success: u32, failure: u32) -> ProbePlan {
        ProbePlan {
            handler: ProbeHandler::TcpSocket(80),
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
            grace_period: None,
        }
    }

    #[test]
    fn thresholds_need_consecutive_outcomes() {
        let p = plan(2, 3);
        let mut s = ProbeState::new(ProbeKind::Readiness);
        assert_eq!(s.result, ProbeResult::Failure);
        assert_eq!(s.observe(true, &p), None);
        assert_eq!(s.observe(false, &p), None, "the streak restarts");
        assert_eq!(s.observe(true, &p), None);
        assert_eq!(s.observe(true, &p), Some(ProbeResult::Success));
        assert_eq!(s.observe(false, &p), None);
        assert_eq!(s.observe(false, &p), None);
        assert_eq!(s.observe(false, &p), Some(ProbeResult::Failure));
        assert_eq!(s.observe(false, &p), None, "no change, no report");
    }

    #[test]
    fn initial_results() {
        assert_eq!(
            ProbeState::new(ProbeKind::Liveness).result,
            ProbeResult::Success
        );
        assert_eq!(
            ProbeState::new(ProbeKind::Startup).result,
            ProbeResult::Unknown
        );
        let mut s = ProbeState::new(ProbeKind::Liveness);
        assert_eq!(s.observe(true, &plan(1, 1)), None);
        assert_eq!(s.observe(false, &plan(1, 1)), Some(ProbeResult::Failure));
    }
}
