//! What to do next: a pure function of the plan and the observed state, in
//! the manner of the kubelet's `computePodActions`
//! (pkg/kubelet/kuberuntime/kuberuntime_manager.go).
//!
//! The rules (see `shared/reference/kubernetes-pod-lifecycle.md`):
//! * Init containers run one at a time, in order; a sidecar
//!   (`restartPolicy: Always`) counts as done once it is started, a regular
//!   init container once it exited 0. A failed init container is restarted
//!   (with backoff) unless its effective policy is `Never`, which fails the pod.
//!   Progress is read from the last init container that has run, as the
//!   kubelet walks the list backwards: a sidecar before it that exits is
//!   restarted without holding back the containers after it.
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

/// Walks the init containers as `computeInitContainerActions` does; returns
/// whether the pod is initialized.
///
/// The walk goes backwards from the last init container that has run: that
/// one says how far initialization got. Every container before it counts as
/// initialized already ("previously initialized"), so an earlier sidecar that
/// exited is restarted but does not hold back the containers after it, and
/// an earlier regular init container is never re-run. Once any regular
/// container has run, every init container counts as previously initialized.
fn walk_init(
    plan: &PodPlan,
    obs: &Observed,
    backoff: &BackoffPolicy,
    now: Instant,
    d: &mut Decision,
) -> bool {
    let n = plan.init_containers.len();
    if n == 0 {
        return true;
    }
    let regular_started = obs.any_regular_started();
    let mut initialized = regular_started;
    let mut previously = regular_started;
    // Collected from the last container to the first.
    let mut starts = Vec::new();
    for i in (0..n).rev() {
        let c = &plan.init_containers[i];
        let slot = Slot::Init(i);
        let rec = &obs.init[i];
        let sidecar = c.kind == ContainerKind::Sidecar;
        if !rec.has_run() {
            // Never created (or its record is gone): only a sidecar before
            // the progress point is (re)started.
            if previously && sidecar {
                starts.push(Action::Start(slot));
            }
            continue;
        }
        if previously && !sidecar {
            // Regular init containers never re-run once passed.
            continue;
        }
        match &rec.state {
            State::Running { .. } => {
                // A running regular init container is waited for; a sidecar
                // counts once started (startup probe passed, postStart done).
                if sidecar && is_started(c, rec) {
                    if i == n - 1 {
                        initialized = true;
                    } else if !previously {
                        starts.push(Action::Start(Slot::Init(i + 1)));
                    }
                }
            }
            _ if sidecar => starts.push(start_or_backoff(slot, rec, backoff, now)),
            _ => {
                let code = rec.newest_termination().map_or(1, |t| t.exit_code);
                if code == 0 {
                    if i == n - 1 {
                        initialized = true;
                    } else {
                        starts.push(Action::Start(Slot::Init(i + 1)));
                    }
                } else if plan.should_restart(c, code) {
                    starts.push(start_or_backoff(slot, rec, backoff, now));
                } else {
                    d.init_failed = true;
                    return false;
                }
            }
        }
        previously = true;
    }
    if !previously {
        // Nothing has run yet: start the first one.
        starts.push(Action::Start(Slot::Init(0)));
    }
    d.actions.extend(starts.into_iter().rev());
    initialized
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
