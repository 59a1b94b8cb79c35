//! CPU limits and weights, as the kernel's CFS applies a container's cgroup
//! settings:
//!
//! * `resources.limits.cpu` is a quota per [`PERIOD`] (100 ms, the kubelet's
//!   `cpu.cfs_period_us`): `500m` may run 50 ms of every 100 ms. A container
//!   over its quota is parked until the next period starts.
//! * `resources.requests.cpu` is a weight (`cpu.shares`): when the guest
//!   threads are contended, a container runs a longer slice before it yields
//!   to its siblings — one epoch tick per 250m, from 1 to
//!   [`MAX_SLICE_TICKS`] ticks — so heavier requests get proportionally more
//!   of the cores. Uncontended, a slice ends in an immediate reschedule and
//!   costs nothing.
//!
//! Time is measured where it is spent: a [`Metered`] instance future adds
//! the time each of its polls takes (guest code and the host calls it makes)
//! to the container's [`CpuAccount`], and the epoch callback, which runs
//! inside a poll at every tick, charges the poll so far and decides whether
//! the guest may go on. One account is shared by the container's instance
//! and its exec probes and hooks, as they share a cgroup on a node.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::sync::lock;
use tokio::time::Instant;
use wasmtime::UpdateDeadline;

/// The CFS period the quota applies to (`cpu.cfs_period_us`, 100 ms).
pub const PERIOD: Duration = Duration::from_millis(100);
/// The longest slice, in epoch ticks, a heavily-requesting guest runs before
/// it yields.
pub const MAX_SLICE_TICKS: u64 = 4;
/// Millicores of request per tick of slice.
const MILLIS_PER_TICK: u64 = 250;

/// One container's CPU use and limits.
#[derive(Debug)]
pub struct CpuAccount {
    /// Run time allowed per [`PERIOD`]; `None`: unlimited.
    quota: Option<Duration>,
    /// Epoch ticks a guest runs before it yields.
    slice_ticks: u64,
    period: Mutex<Period>,
    /// Everything used so far, in nanoseconds.
    total_nanos: AtomicU64,
}

#[derive(Debug)]
struct Period {
    start: Instant,
    used: Duration,
}

impl CpuAccount {
    /// An account for `limit_millis` (quota) and `request_millis` (weight);
    /// `None` when neither is set (the guest yields at every tick, unmetered).
    pub fn new(limit_millis: Option<u64>, request_millis: Option<u64>) -> Option<Arc<Self>> {
        if limit_millis.is_none() && request_millis.is_none() {
            return None;
        }
        let quota =
            limit_millis.map(|m| PERIOD * u32::try_from(m.min(1 << 20)).unwrap_or(1) / 1000);
        let slice_ticks = request_millis
            .map_or(1, |m| m.div_ceil(MILLIS_PER_TICK))
            .clamp(1, MAX_SLICE_TICKS);
        Some(Arc::new(Self {
            quota,
            slice_ticks,
            period: Mutex::new(Period {
                start: Instant::now(),
                used: Duration::ZERO,
            }),
            total_nanos: AtomicU64::new(0),
        }))
    }

    /// CPU time used so far by every instance of the container.
    #[cfg(test)]
    pub fn used(&self) -> Duration {
        Duration::from_nanos(self.total_nanos.load(Ordering::Relaxed))
    }

    /// The ticks a guest runs before it yields.
    #[cfg(test)]
    pub fn slice_ticks(&self) -> u64 {
        self.slice_ticks
    }

    fn charge(&self, spent: Duration, now: Instant) {
        self.total_nanos.fetch_add(
            u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        if self.quota.is_none() {
            return;
        }
        let mut p = lock(&self.period);
        p.roll(now);
        p.used += spent;
    }

    /// When the container may run again, if it has used its quota.
    fn throttled_until(&self, now: Instant) -> Option<Instant> {
        let quota = self.quota?;
        let mut p = lock(&self.period);
        p.roll(now);
        (p.used >= quota).then_some(p.start + PERIOD)
    }
}

impl Period {
    /// Starts a new period once the current one is over (unused quota does
    /// not carry over, as without CFS burst).
    fn roll(&mut self, now: Instant) {
        if now >= self.start + PERIOD {
            let periods = (now - self.start).as_nanos() / PERIOD.as_nanos();
            self.start += PERIOD * u32::try_from(periods).unwrap_or(u32::MAX);
            self.used = Duration::ZERO;
        }
    }
}

/// One instance's meter on its container's account.
#[derive(Debug)]
pub struct Meter {
    account: Arc<CpuAccount>,
    /// When the current poll (or the part of it not yet charged) began.
    since: Mutex<Option<Instant>>,
}

impl Meter {
    /// A meter charging `account`.
    pub fn new(account: Arc<CpuAccount>) -> Arc<Self> {
        Arc::new(Self {
            account,
            since: Mutex::new(None),
        })
    }

    fn begin(&self, now: Instant) {
        *lock(&self.since) = Some(now);
    }

    /// Charges the time since the poll began (or the last checkpoint).
    fn checkpoint(&self, now: Instant, still_running: bool) {
        let mut since = lock(&self.since);
        if let Some(start) = since.take() {
            self.account
                .charge(now.saturating_duration_since(start), now);
        }
        if still_running {
            *since = Some(now);
        }
    }

    /// The epoch callback: charge the poll so far, then yield for one slice,
    /// or until the next period when the quota is used up.
    pub fn on_tick(&self) -> UpdateDeadline {
        let now = Instant::now();
        self.checkpoint(now, true);
        let slice = self.account.slice_ticks;
        match self.account.throttled_until(now) {
            Some(until) => {
                UpdateDeadline::YieldCustom(slice, Box::pin(tokio::time::sleep_until(until)))
            }
            None => UpdateDeadline::Yield(slice),
        }
    }
}

/// An instance future whose polls are charged to a [`Meter`].
pub struct Metered<F> {
    inner: Pin<Box<F>>,
    meter: Option<Arc<Meter>>,
}

impl<F> Metered<F> {
    /// Meters `inner` with `meter` (`None`: not metered).
    pub fn new(inner: F, meter: Option<Arc<Meter>>) -> Self {
        Self {
            inner: Box::pin(inner),
            meter,
        }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let Some(meter) = &this.meter else {
            return this.inner.as_mut().poll(cx);
        };
        meter.begin(Instant::now());
        let result = this.inner.as_mut().poll(cx);
        meter.checkpoint(Instant::now(), false);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_quotas() {
        assert!(CpuAccount::new(None, None).is_none());
        let a = CpuAccount::new(Some(500), Some(500)).unwrap();
        assert_eq!(a.quota, Some(Duration::from_millis(50)));
        assert_eq!(a.slice_ticks(), 2);
        assert_eq!(CpuAccount::new(None, Some(100)).unwrap().slice_ticks(), 1);
        assert_eq!(
            CpuAccount::new(None, Some(64_000)).unwrap().slice_ticks(),
            MAX_SLICE_TICKS
        );
        assert_eq!(
            CpuAccount::new(Some(1), None).unwrap().quota,
            Some(Duration::from_micros(100))
        );
    }

    #[test]
    fn over_quota_parks_until_the_next_period() {
        let a = CpuAccount::new(Some(250), None).unwrap();
        let start = a.period.lock().unwrap().start;
        a.charge(Duration::from_millis(20), start);
        assert_eq!(a.throttled_until(start), None, "under the 25 ms quota");
        a.charge(Duration::from_millis(5), start);
        assert_eq!(
            a.throttled_until(start),
            Some(start + PERIOD),
            "quota used up"
        );
        let next = start + PERIOD + Duration::from_millis(1);
        assert_eq!(a.throttled_until(next), None, "a new period");
        assert_eq!(a.period.lock().unwrap().start, start + PERIOD);
        assert_eq!(a.used(), Duration::from_millis(25));
    }

    #[test]
    fn polls_are_charged() {
        let a = CpuAccount::new(Some(1000), None).unwrap();
        let meter = Meter::new(a.clone());
        // Busy for 30 ms inside one poll.
        let work = async { std::thread::sleep(Duration::from_millis(30)) };
        futures::executor::block_on(Metered::new(work, Some(meter)));
        assert!(a.used() >= Duration::from_millis(30), "{:?}", a.used());
        let unmetered = CpuAccount::new(None, Some(100)).unwrap();
        futures::executor::block_on(Metered::new(async {}, None));
        assert_eq!(unmetered.used(), Duration::ZERO);
    }
}
