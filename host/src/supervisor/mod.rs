//! The pod supervisor: the kubelet's state machine for one pod.
//!
//! Decisions are pure functions of the plan and the observed state:
//! [`decide`] (what to start, what backs off, whether the pod is done) and
//! [`status::phase`]/[`status::generate`] (the API status). [`driver`] is the
//! thin async loop that carries them out.

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
