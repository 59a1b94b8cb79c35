//! A pod's share of the runtime's instances. Every instance a pod runs —
//! its containers, and the fresh instances of exec probes and hooks — holds
//! a permit of its pod's budget, so one pod with many containers or busy
//! probes cannot take every instance slot of an embedding program
//! ([`crate::RuntimeConfig::max_instances_per_pod`]). Exec probes and hooks
//! together may hold at most a quarter of it, so they can never keep the
//! pod's own containers from starting.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A pod's instance permits.
#[derive(Debug)]
pub(crate) struct InstanceBudget {
    limit: usize,
    pod: Arc<Semaphore>,
    execs: Arc<Semaphore>,
}

/// What an instance is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// A container's own instance.
    Container,
    /// An exec probe's or hook's instance.
    Exec,
}

/// Held while an instance lives.
#[derive(Debug)]
pub(crate) struct Permit {
    _pod: OwnedSemaphorePermit,
    _exec: Option<OwnedSemaphorePermit>,
}

impl InstanceBudget {
    /// A budget of `limit` concurrent instances (at least 1).
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        let limit = limit.max(1);
        Arc::new(Self {
            limit,
            pod: Arc::new(Semaphore::new(limit)),
            execs: Arc::new(Semaphore::new((limit / 4).max(1))),
        })
    }

    /// Refuses every later permit; `true` if none is held (no instance of the pod
    /// can run guest code any more: a permit is released only once its instance's
    /// guest code has returned, or been dropped).
    pub(crate) fn close(&self) -> bool {
        self.pod.close();
        self.execs.close();
        self.idle()
    }

    /// Whether no instance holds a permit.
    pub(crate) fn idle(&self) -> bool {
        self.pod.available_permits() == self.limit
    }

    /// A permit for one instance, or why there is none.
    pub(crate) fn try_acquire(&self, what: Use) -> Result<Permit, String> {
        if self.pod.is_closed() {
            return Err("the pod has ended".into());
        }
        let exec = match what {
            Use::Container => None,
            Use::Exec => Some(self.execs.clone().try_acquire_owned().map_err(|_| {
                format!(
                    "the pod already runs {} exec probe and hook instances, its most \
                     (a quarter of RuntimeConfig::max_instances_per_pod = {})",
                    (self.limit / 4).max(1),
                    self.limit
                )
            })?),
        };
        let pod = self.pod.clone().try_acquire_owned().map_err(|_| {
            format!(
                "the pod already runs {} instances, its most \
                 (RuntimeConfig::max_instances_per_pod)",
                self.limit
            )
        })?;
        Ok(Permit {
            _pod: pod,
            _exec: exec,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execs_take_at_most_a_quarter_and_containers_the_rest() {
        let b = InstanceBudget::new(8);
        let execs: Vec<_> = (0..2).map(|_| b.try_acquire(Use::Exec).unwrap()).collect();
        let err = b.try_acquire(Use::Exec).unwrap_err();
        assert!(err.contains("exec probe and hook instances"), "{err}");
        let containers: Vec<_> = (0..6)
            .map(|_| b.try_acquire(Use::Container).unwrap())
            .collect();
        let err = b.try_acquire(Use::Container).unwrap_err();
        assert!(err.contains("max_instances_per_pod"), "{err}");
        drop(execs);
        b.try_acquire(Use::Container)
            .expect("an exec's permit came back");
        drop(containers);
    }

    /// Closing answers whether any instance holds a permit, and no instance gets one
    /// after it: what lets a pod's roots go to other pods (`sandbox::Spares`).
    #[test]
    fn a_closed_budget_gives_no_permit_and_says_whether_one_is_held() {
        let b = InstanceBudget::new(4);
        let exec = b.try_acquire(Use::Exec).unwrap();
        assert!(!b.close(), "an exec instance holds a permit");
        for what in [Use::Container, Use::Exec] {
            assert_eq!(b.try_acquire(what).unwrap_err(), "the pod has ended");
        }
        drop(exec);
        assert!(b.close());
        assert!(InstanceBudget::new(4).close());
    }
}
