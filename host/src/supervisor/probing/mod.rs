//! Probes: the [`worker`] that runs one probe of an instance every period,
//! the handlers it runs ([`http`], [`grpc`]; `exec` and `tcpSocket` in the
//! worker), and the [`thresholds`] that turn outcomes into a result. The
//! driver's reaction to results is in `driver/probe_results.rs`; what the
//! plan says about a probe is in `plan/probe.rs`.

pub(crate) mod grpc;
pub(crate) mod http;
pub(crate) mod thresholds;
pub(crate) mod worker;

use crate::plan::ProbeKind;
use crate::supervisor::observed::Slot;

/// One probe outcome, as a worker reports it to the driver.
pub(crate) struct ProbeNote {
    pub(crate) slot: Slot,
    pub(crate) id: u64,
    pub(crate) kind: ProbeKind,
    pub(crate) verdict: Verdict,
}

/// What one probe run found, as the kubelet's probers report it
/// (`probe.Result`, with the output events show).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Success,
    /// A success the kubelet warns about (a redirect it did not follow):
    /// a `ProbeWarning` event.
    Warning(String),
    Failure(String),
}

impl Verdict {
    /// Success or warning.
    pub(crate) fn passed(&self) -> bool {
        !matches!(self, Verdict::Failure(_))
    }
}
