//! What to do next: a pure function of the plan and the observed state, in
//! the manner of the kubelet's `computePodActions`
//! (pkg/kubelet/kuberuntime/kuberuntime_manager.go).
//!
//! The rules (see `shared/reference/kubernetes-pod-lifecycle.md`):
//! * Init containers run one at a time, in order; a sidecar
//!   (`restartPolicy: Always`) counts as done once it is started, a regular
//!   init container once it exited 0. A failed init container is restarted
//!   (with backoff) unless its effective policy is `Never`, which fails the pod.
//! * Once initialized (or once any regular container has run), regular init
//!   containers never run again; sidecars are restarted whenever they exit;
//!   regular containers start together and are restarted per policy.
//! * When every regular container has exited and none will restart, the pod
//!   is done: its sidecars are stopped ([`Decision::complete`]).

use std::time::Duration;

use tokio::time::Instant;

use super::backoff::BackoffPolicy;
use super::observed::{Observed, Record, Slot, State, is_started};
use crate::plan::{ContainerKind, PodPlan};

/// One thing to do for a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Action {
    /// Start (or restart) the container now.
    Start(Slot),
    /// The container must restart but is backing off for `remaining`.
    BackOff {
        /// The container.
        slot: Slot,
        /// Time left before it may restart.
        remaining: Duration,
        /// The current backoff period (for the message).
        period: Duration,
    },
}

/// What the pod should do now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
pub struct Decision {
    /// Containers to start or to keep waiting.
    pub actions: Vec<Action>,
    /// The pod is done: stop what still runs (sidecars) and finish.
    pub complete: bool,
    /// An init container failed and will not be retried: the pod fails.
    pub init_failed: bool,
}

/// Computes the next actions. `now` is the supervisor's monotonic time.
pub fn decide(plan: &PodPlan, obs: &Observed, backoff: &BackoffPolicy, now: Instant) -> Decision {
    let mut d = Decision::default();
    if obs.deleting || obs.terminal {
        return d;
    }
    let initialized = walk_init(plan, obs, backoff, now, &mut d);
    if d.init_failed {
        d.actions.clear();
        d.complete = true;
        return d;
    }
    if !initialized {
        return d;
    }
    let mut any_active = false;
    // Containers start in spec order, each after the previous one's
    // postStart hook returned (SyncPod starts them sequentially).
    let mut post_start_pending = false;
    for (i, c) in plan.containers.iter().enumerate() {
        let slot = Slot::Regular(i);
        let rec = &obs.regular[i];
        match &rec.state {
            State::Running { .. } => {
                any_active = true;
                post_start_pending |= rec.post_start_pending;
            }
            State::Waiting { .. } if rec.last.is_none() => {
                any_active = true;
                if !post_start_pending {
                    d.actions.push(Action::Start(slot));
                    post_start_pending |= c.hooks.post_start.is_some();
                }
            }
            _ => {
                let code = rec.newest_termination().map_or(0, |t| t.exit_code);
                if plan.should_restart(c, code) {
                    any_active = true;
                    d.actions.push(start_or_backoff(slot, rec, backoff, now));
                }
            }
        }
    }
    if !any_active {
        // Job-like completion: no regular container runs or will restart.
        d.actions.retain(|a| {
            !matches!(
                a,
                Action::Start(Slot::Init(_))
                    | Action::BackOff {
                        slot: Slot::Init(_),
                        ..
                    }
            )
        });
        d.complete = true;
    }
    d
}

/// Walks the init containers; returns whether the pod is initialized.
fn walk_init(
    plan: &PodPlan,
    obs: &Observed,
    backoff: &BackoffPolicy,
    now: Instant,
    d: &mut Decision,
) -> bool {
    let regular_started = obs.any_regular_started();
    let mut initialized = true;
    for (i, c) in plan.init_containers.iter().enumerate() {
        let slot = Slot::Init(i);
        let rec = &obs.init[i];
        match c.kind {
            ContainerKind::Sidecar => {
                if !rec.is_running() {
                    d.actions.push(start_or_backoff(slot, rec, backoff, now));
                }
                if !is_started(c, rec) && initialized && !regular_started {
                    // The next container waits until this sidecar has started.
                    initialized = false;
                }
            }
            _ => {
                if regular_started || !initialized {
                    continue;
                }
                initialized = false;
                match &rec.state {
                    State::Terminated(t) if t.exit_code == 0 => initialized = true,
                    State::Running { .. } => {}
                    State::Waiting { .. } if rec.last.is_none() => {
                        d.actions.push(Action::Start(slot))
                    }
                    _ => {
                        let code = rec.newest_termination().map_or(1, |t| t.exit_code);
                        if plan.should_restart(c, code) {
                            d.actions.push(start_or_backoff(slot, rec, backoff, now));
                        } else {
                            d.init_failed = true;
                        }
                    }
                }
            }
        }
        if !initialized && !regular_started {
            // Containers after the first unfinished one wait.
            break;
        }
    }
    initialized || regular_started
}

fn start_or_backoff(slot: Slot, rec: &Record, backoff: &BackoffPolicy, now: Instant) -> Action {
    match rec.newest_termination() {
        Some(t) => match backoff.remaining(rec.backoff.as_ref(), t.finished, now) {
            Some(remaining) => Action::BackOff {
                slot,
                remaining,
                period: rec.backoff.map_or(remaining, |b| b.delay),
            },
            None => Action::Start(slot),
        },
        None => Action::Start(slot),
    }
}
