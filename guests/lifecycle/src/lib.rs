//! Guest side of the `wasmpod:lifecycle` WIT package (`wit/lifecycle.wit`).
//!
//! WASI 0.2 has no signals, so a WebAssembly container cannot install a
//! SIGTERM handler. wasmpod offers the `termination` interface instead, and
//! this crate wraps it for Rust guests:
//!
//! * A guest that never calls [`subscribe`] behaves like a POSIX process
//!   without a SIGTERM handler: when its pod is stopped the host ends it at
//!   once and reports exit code 143.
//! * A guest that called [`subscribe`] (the equivalent of installing a SIGTERM
//!   handler) is told that termination was requested ([`requested`], or the
//!   returned [`Pollable`] becomes ready) and gets the pod's
//!   `terminationGracePeriodSeconds` to exit on its own; [`remaining_grace`]
//!   says how much of it is left. A guest still running at the deadline is
//!   killed and reports 137.
//!
//! It also provides [`exit`], which reports an exact exit code to the host:
//! Rust's `std::process::exit` on `wasm32-wasip2` can only report success or
//! failure (0 or 1), because it goes through `wasi:cli/exit.exit(result)`.
//!
//! # Host requirements
//!
//! A component using this crate imports `wasmpod:lifecycle/termination@0.1.0`
//! and (through [`exit`]) `wasi:cli/exit@0.2.12`'s `exit-with-code`, which is
//! an unstable WASI feature the host has to link (`cli-exit-with-code`).
//!
//! # Native builds
//!
//! On targets other than WASI the crate compiles to fallbacks so dependents
//! can be unit-tested on the build machine: termination is never requested,
//! [`Pollable`] is a stand-in that never becomes ready, sleeping is
//! `std::thread::sleep` and [`exit`] is `std::process::exit`.
//!
//! # Example
//!
//! A worker loop that stops cleanly when the pod is deleted:
//!
//! ```no_run
//! use std::time::Duration;
//!
//! // Like installing a SIGTERM handler: from now on the host waits for us.
//! let _termination = wasmpod_guest::subscribe();
//! loop {
//!     // ... do a unit of work ...
//!     if wasmpod_guest::sleep_or_terminated(Duration::from_secs(1)) {
//!         break;
//!     }
//! }
//! println!("shutting down, {:?} of grace left", wasmpod_guest::remaining_grace());
//! wasmpod_guest::exit(0);
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Whether this guest has subscribed (installed its "SIGTERM handler").
///
/// Only then may [`sleep_or_terminated`] poll the termination pollable:
/// calling the host's `subscribe` itself would change how the guest is
/// stopped.
static SUBSCRIBED: AtomicBool = AtomicBool::new(false);

#[cfg(target_os = "wasi")]
mod bindings {
    //! Bindings generated from `wit/lifecycle.wit`. `wasi:io/poll` is mapped
    //! onto the `wasip2` crate so that termination pollables can be polled
    //! together with clock, socket and stream pollables from `wasip2`.
    wit_bindgen::generate!({
        path: "../../wit",
        world: "wasmpod:lifecycle/container",
        with: {
            "wasi:io/poll@0.2.12": wasip2::io::poll,
        },
    });

    pub use self::wasmpod::lifecycle::termination;
}

/// A `wasi:io/poll` pollable, usable with [`wasip2::io::poll::poll`]
/// together with any other WASI pollable.
#[cfg(target_os = "wasi")]
pub use wasip2::io::poll::Pollable;

/// Native stand-in for `wasi:io/poll.pollable`: termination is never
/// requested outside WASI, so it never becomes ready.
#[cfg(not(target_os = "wasi"))]
#[derive(Debug)]
pub struct Pollable {
    _private: (),
}

#[cfg(not(target_os = "wasi"))]
impl Pollable {
    /// Always `false`: termination is never requested on native targets.
    pub fn ready(&self) -> bool {
        false
    }

    /// Blocks forever, since the pollable never becomes ready.
    pub fn block(&self) {
        loop {
            std::thread::park();
        }
    }
}

/// Declares that this guest handles termination itself, like installing a
/// SIGTERM handler, and returns a pollable that becomes ready once
/// termination has been requested.
///
/// After the first call the host no longer stops the guest at once when its
/// pod is stopped: it sets [`requested`] and waits for the guest to exit, up
/// to the grace period. May be called more than once; every call returns a
/// new pollable.
///
/// ```no_run
/// let termination = wasmpod_guest::subscribe();
/// termination.block(); // returns once the pod is being stopped
/// assert!(wasmpod_guest::requested());
/// ```
pub fn subscribe() -> Pollable {
    SUBSCRIBED.store(true, Ordering::Relaxed);
    #[cfg(target_os = "wasi")]
    {
        bindings::termination::subscribe()
    }
    #[cfg(not(target_os = "wasi"))]
    {
        Pollable { _private: () }
    }
}

/// Whether [`subscribe`] has been called by this guest.
///
/// ```
/// let _ = wasmpod_guest::subscribe();
/// assert!(wasmpod_guest::is_subscribed());
/// ```
pub fn is_subscribed() -> bool {
    SUBSCRIBED.load(Ordering::Relaxed)
}

/// Whether termination has been requested. Never blocks.
///
/// Without a prior [`subscribe`] this can only be observed briefly, since the
/// host then ends the guest at once.
///
/// ```
/// // Nothing asked this (native) test process to stop.
/// assert!(!wasmpod_guest::requested());
/// ```
pub fn requested() -> bool {
    #[cfg(target_os = "wasi")]
    {
        bindings::termination::requested()
    }
    #[cfg(not(target_os = "wasi"))]
    {
        false
    }
}

/// Blocks until termination is requested, subscribing first.
///
/// ```no_run
/// println!("serving until stopped");
/// wasmpod_guest::wait();
/// println!("stopping");
/// ```
pub fn wait() {
    SUBSCRIBED.store(true, Ordering::Relaxed);
    #[cfg(target_os = "wasi")]
    {
        bindings::termination::wait();
    }
    #[cfg(not(target_os = "wasi"))]
    {
        Pollable { _private: () }.block();
    }
}

/// Time left before the host kills the guest, once termination has been
/// requested; `None` before that.
///
/// ```
/// assert_eq!(wasmpod_guest::remaining_grace(), None);
/// ```
pub fn remaining_grace() -> Option<Duration> {
    #[cfg(target_os = "wasi")]
    {
        bindings::termination::remaining_grace_ms().map(Duration::from_millis)
    }
    #[cfg(not(target_os = "wasi"))]
    {
        None
    }
}

/// Sleeps for `duration`, waking early if termination is requested.
///
/// Returns `true` if termination has been requested (before or while
/// sleeping). If the guest has not [subscribed](subscribe), this is a plain
/// sleep: polling termination would itself subscribe, and an unsubscribed
/// guest is stopped by the host at once anyway.
///
/// ```
/// use std::time::Duration;
/// let terminated = wasmpod_guest::sleep_or_terminated(Duration::from_millis(5));
/// assert!(!terminated);
/// ```
pub fn sleep_or_terminated(duration: Duration) -> bool {
    #[cfg(target_os = "wasi")]
    {
        if !is_subscribed() {
            std::thread::sleep(duration);
            return requested();
        }
        if requested() {
            return true;
        }
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let timer = wasip2::clocks::monotonic_clock::subscribe_duration(nanos);
        let termination = bindings::termination::subscribe();
        wasip2::io::poll::poll(&[&timer, &termination]);
        requested()
    }
    #[cfg(not(target_os = "wasi"))]
    {
        std::thread::sleep(duration);
        false
    }
}

/// Flushes stdout and stderr, then ends the guest reporting exactly `code`.
///
/// On WASI this calls `wasi:cli/exit.exit-with-code`; elsewhere
/// `std::process::exit`.
///
/// ```no_run
/// wasmpod_guest::exit(3); // the container's exit code is 3
/// ```
pub fn exit(code: u8) -> ! {
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    #[cfg(target_os = "wasi")]
    wasip2::cli::exit::exit_with_code(code);
    // `exit-with-code` does not return; should a host ever let it, fall back
    // to the status std can report.
    std::process::exit(i32::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_fallbacks() {
        assert!(!requested());
        assert_eq!(remaining_grace(), None);
        let p = subscribe();
        assert!(is_subscribed());
        assert!(!p.ready());
        assert!(!sleep_or_terminated(Duration::from_millis(1)));
    }
}
