//! The runtime's instance limit ([`crate::RuntimeConfig::max_instances`]):
//! every live instance holds a [`Slot`], so that past the limit a container
//! gets a `StartError` naming it, instead of wasmtime's pool refusing or the
//! process running out of memory mappings (`vm.max_map_count`), where the
//! next allocation anywhere aborts the process. The limit starts from an
//! estimate per instance ([`MAPS_PER_INSTANCE`]); past [`CHECK_FROM`] live
//! instances, every [`CHECK_EVERY`]th start also counts the process's real
//! mappings (`/proc/self/maps`), since an image with more memories maps more,
//! and is refused while they are near the kernel's limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::ticker::Ticker;

/// Memory mappings one idle instance holds at most, measured with the
/// density benchmark (`cli/benches/density.rs`): its fiber stack and guard
/// page, its linear memory's accessible part, copy-on-write image and
/// reservation.
pub(crate) const MAPS_PER_INSTANCE: usize = 6;
/// Mappings left for everything else in the process (threads, the heap,
/// libraries, the executor, pooled memories).
pub(crate) const RESERVED_MAPS: usize = 4096;

/// Why instances are limited where they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// `RuntimeConfig::max_instances`.
    Configured,
    /// The kernel's `vm.max_map_count` allows no more.
    MapCount(usize),
}

/// Counts live instances against a limit.
#[derive(Debug)]
pub(crate) struct Slots {
    live: Arc<AtomicUsize>,
    max: usize,
    bound: Bound,
    /// `vm.max_map_count`, where known: checked against the process's real
    /// mapping count as instances pile up (see [`Slots::take`]).
    map_limit: Option<usize>,
    /// Woken when the count leaves zero (it parks while no instance lives).
    ticker: Option<Ticker>,
}

/// Past this many live instances, every [`CHECK_EVERY`]th start counts the
/// process's mappings.
const CHECK_FROM: usize = 1024;
/// How often the mappings are counted past [`CHECK_FROM`].
const CHECK_EVERY: usize = 64;

/// One live instance's place in the count; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Slots {
    /// At most `configured` instances, fewer if `max_map_count` (the
    /// kernel's limit, `None` where unknown) cannot hold that many.
    pub(crate) fn new(configured: usize, max_map_count: Option<usize>) -> Self {
        let configured = configured.max(1);
        let by_maps =
            max_map_count.map(|m| (m.saturating_sub(RESERVED_MAPS) / MAPS_PER_INSTANCE).max(1));
        let (max, bound) = match by_maps {
            Some(n) if n < configured => (n, Bound::MapCount(max_map_count.unwrap_or(0))),
            _ => (configured, Bound::Configured),
        };
        if let Bound::MapCount(m) = bound {
            tracing::warn!(
                "RuntimeConfig::max_instances = {configured}, but vm.max_map_count = {m} \
                 holds only {max} instances: limiting them to {max}"
            );
        }
        Self {
            live: Arc::default(),
            max,
            bound,
            map_limit: max_map_count,
            ticker: None,
        }
    }

    /// The count of live instances (what `ticker` watches).
    pub(crate) fn live_count(&self) -> Arc<AtomicUsize> {
        self.live.clone()
    }

    /// Wakes `ticker` whenever an instance starts while none lived.
    pub(crate) fn wake_on_start(&mut self, ticker: Ticker) {
        self.ticker = Some(ticker);
    }

    /// The most instances at once.
    #[cfg(test)]
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Instances holding a place now.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// A place for one more instance, or why there is none.
    pub(crate) fn take(&self) -> Result<Slot, String> {
        let taken = self
            .live
            // Sequentially consistent, against the ticker's park (see `ticker`).
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            });
        match (taken, self.bound) {
            (Ok(n), _) => {
                let slot = Slot(self.live.clone());
                if n == 0
                    && let Some(ticker) = &self.ticker
                {
                    ticker.wake();
                }
                // The per-instance estimate depends on the images (a second
                // memory is two mappings more): measure while there is room
                // for the next CHECK_EVERY instances at twice the estimate.
                if let Some(limit) = self.map_limit
                    && n + 1 >= CHECK_FROM
                    && (n + 1) % CHECK_EVERY == 0
                {
                    let room = RESERVED_MAPS / 2 + CHECK_EVERY * MAPS_PER_INSTANCE * 2;
                    let mapped = mappings();
                    if mapped + room > limit {
                        return Err(format!(
                            "the runtime already runs {n} instances and the process holds \
                             {mapped} memory mappings, near the kernel's \
                             vm.max_map_count = {limit} (raise it with \
                             `sysctl vm.max_map_count=...`; \
                             RuntimeConfig::max_instances asks for more)"
                        ));
                    }
                }
                Ok(slot)
            }
            (Err(_), Bound::Configured) => Err(format!(
                "the runtime already runs {} instances, its most \
                 (RuntimeConfig::max_instances)",
                self.max
            )),
            (Err(_), Bound::MapCount(m)) => Err(format!(
                "the runtime already runs {} instances, the most the kernel's \
                 vm.max_map_count = {m} allows (raise it with \
                 `sysctl vm.max_map_count=...`; RuntimeConfig::max_instances \
                 asks for more)",
                self.max
            )),
        }
    }
}

/// The process's memory mappings now (lines of `/proc/self/maps`; 0 where
/// there is none).
fn mappings() -> usize {
    std::fs::read("/proc/self/maps").map_or(0, |m| m.iter().filter(|&&b| b == b'\n').count())
}

/// The kernel's limit on memory mappings per process, where there is one.
pub(crate) fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_limit_a_slot_is_refused_with_the_setting_named() {
        let slots = Slots::new(2, None);
        let a = slots.take().unwrap();
        let _b = slots.take().unwrap();
        let err = slots.take().unwrap_err();
        assert!(err.contains("RuntimeConfig::max_instances"), "{err}");
        assert!(err.contains("runs 2 instances"), "{err}");
        drop(a);
        assert!(slots.take().is_ok(), "a freed slot is taken again");
    }

    #[test]
    fn the_map_count_bounds_the_limit_and_is_named() {
        let slots = Slots::new(1_000_000, Some(RESERVED_MAPS + 3 * MAPS_PER_INSTANCE));
        assert_eq!(slots.max(), 3);
        let _held: Vec<Slot> = (0..3).map(|_| slots.take().unwrap()).collect();
        let err = slots.take().unwrap_err();
        assert!(err.contains("vm.max_map_count"), "{err}");
        let roomy = Slots::new(10, Some(65530));
        assert_eq!(roomy.max(), 10);
    }

    #[test]
    fn the_real_mapping_count_is_checked_as_instances_pile_up() {
        // A limit the process is already near: the check refuses the first
        // start it makes, and keeps refusing it.
        let near = mappings() + RESERVED_MAPS / 2;
        let mut slots = Slots::new(CHECK_FROM + CHECK_EVERY, None);
        slots.map_limit = Some(near);
        let held: Vec<Slot> = (0..CHECK_FROM - 1).map(|_| slots.take().unwrap()).collect();
        for _ in 0..2 {
            let err = slots.take().unwrap_err();
            assert!(
                err.contains("vm.max_map_count") && err.contains("memory mappings"),
                "{err}"
            );
            assert!(!err.contains("  "), "one space between words: {err:?}");
        }
        slots.map_limit = Some(usize::MAX / 2);
        assert!(slots.take().is_ok(), "with room, the start goes ahead");
        drop(held);
    }
}
