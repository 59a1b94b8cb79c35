//! The host side of `wasmpod:lifecycle/termination` (see `wit/lifecycle.wit`).
//!
//! WASI has no signals, so termination is a capability the guest opts into:
//! [`TerminationSignal`] is shared between the supervisor (which requests
//! termination) and the guest's store (where the guest subscribes and waits).
//! A guest that never subscribed is treated like a process without a SIGTERM
//! handler and stopped at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::watch;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "wasmpod:lifecycle/container",
    with: { "wasi:io": wasmtime_wasi::p2::bindings::io },
    imports: { default: async | trappable },
    require_store_data_send: true,
});

pub use self::wasmpod::lifecycle::termination;

/// Termination state of one container instance.
#[derive(Debug)]
pub struct TerminationSignal {
    subscribed: AtomicBool,
    /// `Some(deadline)` once termination was requested.
    requested: watch::Sender<Option<Instant>>,
}

impl Default for TerminationSignal {
    fn default() -> Self {
        Self {
            subscribed: AtomicBool::new(false),
            requested: watch::channel(None).0,
        }
    }
}

impl TerminationSignal {
    /// Whether the guest declared that it handles termination.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::SeqCst)
    }

    /// Requests termination; the guest is killed at `deadline`.
    pub fn request(&self, deadline: Instant) {
        self.requested.send_replace(Some(deadline));
    }

    fn subscribe(&self) {
        self.subscribed.store(true, Ordering::SeqCst);
    }

    /// Declares that the host handles termination for the instance (a
    /// served `wasi:http` component drains its requests on TERM).
    pub(crate) fn handled_by_host(&self) {
        self.subscribe();
    }

    /// Waits until termination is requested.
    pub(crate) async fn requested_wait(&self) {
        let mut rx = self.requested.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }

    fn deadline(&self) -> Option<Instant> {
        *self.requested.borrow()
    }
}

/// A pollable that becomes ready once termination is requested.
struct TerminationPollable(watch::Receiver<Option<Instant>>);

#[wasmtime_wasi::async_trait]
impl Pollable for TerminationPollable {
    async fn ready(&mut self) {
        // An error means the signal is gone, which only happens when the
        // container is torn down; being ready then is harmless.
        let _ = self.0.wait_for(Option::is_some).await;
    }
}

/// What `wasmpod:lifecycle/termination` works on in one instance's store data:
/// its termination signal and the table its pollables go in.
pub struct TerminationCtxView<'a> {
    /// The instance's signal.
    pub signal: &'a SharedSignal,
    /// The instance's resource table.
    pub table: &'a mut ResourceTable,
}

/// Links `wasmpod:lifecycle/termination` for store data `T`, whose
/// [`TerminationCtxView`] `view` gives.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> TerminationCtxView<'_>,
) -> wasmtime::Result<()> {
    termination::add_to_linker::<T, HasTermination>(linker, view)
}

struct HasTermination;

impl wasmtime::component::HasData for HasTermination {
    type Data<'a> = TerminationCtxView<'a>;
}

impl termination::Host for TerminationCtxView<'_> {
    async fn subscribe(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        self.signal.subscribe();
        let pollable = TerminationPollable(self.signal.requested.subscribe());
        let resource = self.table.push(pollable)?;
        subscribe(self.table, resource)
    }

    async fn requested(&mut self) -> wasmtime::Result<bool> {
        Ok(self.signal.deadline().is_some())
    }

    async fn wait(&mut self) -> wasmtime::Result<()> {
        self.signal.subscribe();
        let mut rx = self.signal.requested.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
        Ok(())
    }

    async fn remaining_grace_ms(&mut self) -> wasmtime::Result<Option<u64>> {
        Ok(self
            .signal
            .deadline()
            .map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64))
    }
}

/// Shared handle type used by the supervisor.
pub type SharedSignal = Arc<TerminationSignal>;
