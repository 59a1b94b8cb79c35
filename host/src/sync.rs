//! A lock that outlives a panicked holder, for the crate's few mutexes.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, even if a holder panicked: every update under the crate's mutexes is
/// a few assignments that cannot stop half-way, so the data stays consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
