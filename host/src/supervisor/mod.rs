//! The pod supervisor: the kubelet's state machine for one pod.
//!
//! Decisions are pure functions of the plan and the observed state:
//! [`decide()`] (what to start, what backs off, whether the pod is done),
//! `transitions` (what a container's record becomes when an instance starts
//! or ends: backoff, exit reason, `PostStartHookError`) and
//! [`status::phase`]/[`status::generate`] (the API status). `driver` is the
//! thin async loop that carries them out: it starts instances through
//! `launcher` (the seam to Wasm, faked in tests), runs probes (`probing`)
//! and publishes the status, events and logs (`output`), which the pod's
//! handle subscribes to.

mod backoff;
mod budget;
mod decide;
pub(crate) mod driver;
pub(crate) mod launcher;
mod observed;
pub(crate) mod output;
mod probing;
pub mod status;
mod task;
mod transitions;

pub use backoff::BackoffPolicy;
pub use observed::{Observed, Slot, State};
pub use status::Phase;

// What the table tests (`tests/`) reach through `super::*`.
#[cfg(test)]
use {
    backoff::RESET_AFTER,
    decide::{Action, Decision, decide},
    observed::{Termination, termination},
};

#[cfg(test)]
mod tests;
