//! What a supervisor publishes about its pod: the status watch, the event
//! and log streams ([`Shared`]), and why the pod was stopped
//! ([`StopReason`]). The pod's handle subscribes to them.

pub(crate) mod channel;
pub(crate) mod events;
pub(crate) mod logs;

pub use channel::Subscription;
pub use events::{Event, EventType};
pub use logs::{LogLine, LogRotation};

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use tokio::sync::watch;

use crate::sync::lock;
use channel::Sender;

/// Why a pod was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// [`PodHandle::stop`](crate::PodHandle::stop) (Ctrl-C, SIGTERM, an
    /// embedding program).
    Requested,
    /// A time limit ran out (`wasmpod run --timeout`).
    Timeout,
    /// [`PodHandle::kill`](crate::PodHandle::kill): every container killed at once, with
    /// no grace period (a test fixture's clean-up).
    Killed,
}

/// The most events a subscriber may leave unread before it lags.
const EVENT_CAPACITY: usize = 4096;
/// The most log lines a subscriber may leave unread before it lags.
const LOG_CAPACITY: usize = 16384;

/// State shared by a pod's handle and its supervisor. The event and log
/// senders are dropped when the pod ends, which ends every subscription.
pub(crate) struct Shared {
    /// The pod as it is now; changed through [`Shared::update_status`]. Shared, so that
    /// a reader's copy (a handle's [`pod`](crate::PodHandle::pod), a pod's
    /// [`Outcome`](crate::Outcome)) costs a reference count, not the whole object.
    pub(crate) status: watch::Sender<Arc<Pod>>,
    /// Told of every change of the status (its runtime's cluster: `watch_pods`).
    on_change: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// Conditions set from outside
    /// ([`PodHandle::set_condition`](crate::PodHandle::set_condition)).
    pub(crate) conditions: watch::Sender<Vec<PodCondition>>,
    events: Mutex<Option<Sender<Event>>>,
    logs: Mutex<Option<Sender<LogLine>>>,
}

impl Shared {
    pub(crate) fn new(pod: Pod) -> Self {
        Self {
            status: watch::channel(Arc::new(pod)).0,
            on_change: std::sync::OnceLock::new(),
            conditions: watch::channel(Vec::new()).0,
            events: Mutex::new(Some(channel::channel(EVENT_CAPACITY))),
            logs: Mutex::new(Some(channel::channel(LOG_CAPACITY))),
        }
    }

    pub(crate) fn event(&self, mut e: Event) {
        if let Some(name) = &e.container {
            let pod = self.status.borrow();
            let spec = pod.spec.as_ref();
            let init = spec
                .and_then(|s| s.init_containers.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| &c.name == name));
            let list = if init { "initContainers" } else { "containers" };
            e.field_path = Some(format!("spec.{list}{{{name}}}"));
        }
        tracing::debug!(reason = %e.reason, container = ?e.container, "{}", e.message);
        if let Some(tx) = lock(&self.events).as_ref() {
            tx.send(e);
        }
    }

    /// Changes the status with `modify` (which says whether it changed anything), telling
    /// the status's watchers and [`Shared::on_status_change`]'s hook if so.
    /// The object is copied first only while a reader still holds the current one.
    pub(crate) fn update_status(&self, modify: impl FnOnce(&mut Pod) -> bool) -> bool {
        let changed = self
            .status
            .send_if_modified(|pod| modify(Arc::make_mut(pod)));
        if changed && let Some(hook) = self.on_change.get() {
            hook();
        }
        changed
    }

    /// Calls `hook` after each change of the status from now on (set once).
    pub(crate) fn on_status_change(&self, hook: Box<dyn Fn() + Send + Sync>) {
        let _ = self.on_change.set(hook);
    }

    pub(crate) fn log_sender(&self) -> Option<Sender<LogLine>> {
        lock(&self.logs).clone()
    }

    /// Events from now on (a receiver that ends at once after the pod ended).
    pub(crate) fn subscribe_events(&self) -> Subscription<Event> {
        subscribe(&self.events)
    }

    /// Log lines from now on (a receiver that ends at once after the pod ended).
    pub(crate) fn subscribe_logs(&self) -> Subscription<LogLine> {
        subscribe(&self.logs)
    }

    /// Ends the event and log streams.
    pub(crate) fn close(&self) {
        lock(&self.events).take();
        lock(&self.logs).take();
    }
}

fn subscribe<T: Clone>(tx: &Mutex<Option<Sender<T>>>) -> Subscription<T> {
    match lock(tx).as_ref() {
        Some(tx) => tx.subscribe(),
        // The pod has ended: a receiver that reports the end at once.
        None => Subscription::ended(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status's hook is called after each change, and not when nothing changed.
    #[test]
    fn the_status_hook_is_called_at_each_change_only() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let shared = Shared::new(Pod::default());
        let calls = std::sync::Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        shared.on_status_change(Box::new(move || {
            counted.fetch_add(1, Ordering::Relaxed);
        }));
        assert!(!shared.update_status(|_| false));
        assert_eq!(calls.load(Ordering::Relaxed), 0);
        assert!(shared.update_status(|p| {
            p.metadata.name = Some("a".into());
            true
        }));
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!(shared.status.borrow().metadata.name.as_deref(), Some("a"));
    }

    /// A reader's copy of the pod (a handle's `pod()`, an outcome's) is a snapshot: a
    /// later change copies the object instead of altering it, and an unshared one is
    /// changed in place.
    #[test]
    fn a_status_snapshot_held_by_a_reader_does_not_change() {
        let shared = Shared::new(Pod::default());
        let held = shared.status.borrow().clone();
        shared.update_status(|p| {
            p.metadata.name = Some("b".into());
            true
        });
        assert_eq!(held.metadata.name, None);
        let now = shared.status.borrow().clone();
        assert_eq!(now.metadata.name.as_deref(), Some("b"));
        assert!(!Arc::ptr_eq(&held, &now));
        drop(held);
        drop(now);
        let before = Arc::as_ptr(&shared.status.borrow());
        shared.update_status(|p| {
            p.metadata.name = Some("c".into());
            true
        });
        assert_eq!(Arc::as_ptr(&shared.status.borrow()), before);
        assert_eq!(shared.status.borrow().metadata.name.as_deref(), Some("c"));
    }
}
