//! What a supervisor publishes about its pod: the status watch, the event
//! and log streams ([`Shared`]), and why the pod was stopped
//! ([`StopReason`]). The pod's handle subscribes to them.

pub(crate) mod channel;
pub(crate) mod events;
pub(crate) mod logs;

pub use channel::Subscription;
pub use events::{Event, EventType};
pub use logs::{LogLine, LogRotation};

use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Pod, PodCondition};
use tokio::sync::watch;

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
    pub(crate) status: watch::Sender<Pod>,
    /// Conditions set from outside
    /// ([`PodHandle::set_condition`](crate::PodHandle::set_condition)).
    pub(crate) conditions: watch::Sender<Vec<PodCondition>>,
    events: Mutex<Option<Sender<Event>>>,
    logs: Mutex<Option<Sender<LogLine>>>,
}

impl Shared {
    pub(crate) fn new(pod: Pod) -> Self {
        Self {
            status: watch::channel(pod).0,
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn subscribe<T: Clone>(tx: &Mutex<Option<Sender<T>>>) -> Subscription<T> {
    match lock(tx).as_ref() {
        Some(tx) => tx.subscribe(),
        // The pod has ended: a receiver that reports the end at once.
        None => Subscription::ended(),
    }
}
