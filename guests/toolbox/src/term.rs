//! Termination glue between the shell and blocking applets.
//!
//! WASI has no signals; wasmpod's stand-in is the `termination` interface
//! (see the `wasmpod-guest` crate). The shell subscribes when a script
//! installs a `trap ... TERM`. Blocking applets (`sleep`, `tail -f`, `nc`)
//! then wake early once termination is requested so the shell can run the
//! trap promptly, the way a signal interrupts a foreground wait.
//!
//! A request is "delivered" once a shell has acted on it (ran its trap or
//! ignored it), exactly like a signal that is delivered once: later sleeps
//! sleep normally instead of returning at once forever (which would make
//! `trap 'echo bye' TERM; while :; do sleep 1; done` spin).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static DELIVERED: AtomicBool = AtomicBool::new(false);

/// Exit status of a command stopped by termination (128 + SIGTERM).
pub const STATUS: i32 = 143;

/// Whether termination was requested and no shell has acted on it yet.
/// Always false unless this guest subscribed.
pub fn pending() -> bool {
    wasmpod_guest::is_subscribed()
        && !DELIVERED.load(Ordering::Relaxed)
        && wasmpod_guest::requested()
}

thread_local! {
    /// The pollable returned by subscribing, kept for the guest's lifetime.
    static SUBSCRIPTION: std::cell::RefCell<Option<wasmpod_guest::Pollable>> =
        const { std::cell::RefCell::new(None) };
}

/// Declares that this guest handles termination (like installing a SIGTERM
/// handler). Idempotent.
pub fn subscribe() {
    SUBSCRIPTION.with(|s| {
        s.borrow_mut().get_or_insert_with(wasmpod_guest::subscribe);
    });
}

/// Records that a shell acted on the termination request.
pub fn mark_delivered() {
    DELIVERED.store(true, Ordering::Relaxed);
}

/// Sleeps for `d`; returns `true` (early) if termination is pending.
pub fn sleep(d: Duration) -> bool {
    if DELIVERED.load(Ordering::Relaxed) {
        std::thread::sleep(d);
        return false;
    }
    wasmpod_guest::sleep_or_terminated(d)
}

/// Polling helper for non-blocking I/O: sleeps with a back-off that starts
/// at 1 ms and grows to 50 ms, so short waits stay fast and long idle waits
/// cost little. Returns `true` if termination became pending.
pub struct Backoff(Duration);

impl Backoff {
    pub fn new() -> Backoff {
        Backoff(Duration::from_millis(1))
    }

    pub fn wait(&mut self) -> bool {
        let d = self.0;
        self.0 = (self.0 * 2).min(Duration::from_millis(50));
        sleep(d)
    }
}
