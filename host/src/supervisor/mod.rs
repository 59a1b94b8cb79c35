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

pub use backoff::{BackoffEntry, BackoffPolicy, RESET_AFTER, go_duration};
pub use decide::{Action, Decision, decide};
#[cfg(test)]
use observed::termination;
pub use observed::{Observed, Record, Slot, State, Termination, is_ready, is_started};
pub use probing::thresholds::{ProbeResult, ProbeState};
pub use status::Phase;

#[cfg(test)]
mod tests;
