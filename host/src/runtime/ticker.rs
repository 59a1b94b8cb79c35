//! The thread that advances the engines' epochs, which is what interrupts a
//! guest that computes without calling the host (each store yields, or is
//! metered, at every tick; see `container::set_yield`).
//!
//! It ticks only while instances live: once none has lived for
//! [`IDLE_AFTER`], it parks, and the next instance's start wakes it. An idle
//! runtime (an embedding program between pods, the CLI before its first
//! container) then costs no wake-ups at all, where a tick every 5 ms on every
//! engine was 200 wake-ups a second per engine.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use wasmtime::EngineWeak;

use crate::sync::lock;

/// How long no instance must have lived before the ticker parks. Long
/// enough that a steady stream of short pods (live most of the time, but
/// not at every tick) keeps it ticking without a wake per pod.
pub(super) const IDLE_AFTER: Duration = Duration::from_millis(100);

/// The epoch ticker of one runtime: its engines (the runtime's own, and its
/// instance pool's once that is set up). Cheap to clone.
#[derive(Clone)]
pub(crate) struct Ticker(Arc<State>);

struct State {
    /// Live instances, counted by the runtime's `instances::Slots`.
    live: Arc<AtomicUsize>,
    engines: Mutex<Vec<EngineWeak>>,
    /// Set while the thread is parked (or about to be): a start that finds it
    /// set unparks the thread.
    parked: AtomicBool,
    stop: AtomicBool,
    thread: OnceLock<Thread>,
    /// Ticks given so far (what the tests watch).
    ticks: AtomicU64,
}

impl Ticker {
    /// Starts the thread, ticking `engine` every `tick` while `live` (the
    /// count of live instances) is not zero, until [`Ticker::stop`] or the
    /// engine's drop.
    ///
    /// # Panics
    /// If the thread cannot be spawned.
    pub(super) fn spawn(engine: EngineWeak, tick: Duration, live: Arc<AtomicUsize>) -> Ticker {
        let ticker = Ticker(Arc::new(State {
            live,
            engines: Mutex::new(vec![engine]),
            parked: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            thread: OnceLock::new(),
            ticks: AtomicU64::new(0),
        }));
        let state = ticker.0.clone();
        let handle = std::thread::Builder::new()
            .name("wasmpod-epoch".into())
            .spawn(move || run(&state, tick))
            .expect("failed to spawn the epoch ticker thread");
        let _ = ticker.0.thread.set(handle.thread().clone());
        ticker
    }

    /// Ticks `engine` too (the instance pool's, once it is set up).
    pub(super) fn add_engine(&self, engine: EngineWeak) {
        lock(&self.0.engines).push(engine);
    }

    /// Wakes the thread if it is parked: called when the count of live
    /// instances leaves zero, after it was raised.
    pub(super) fn wake(&self) {
        if self.0.parked.load(Ordering::SeqCst)
            && let Some(thread) = self.0.thread.get()
        {
            thread.unpark();
        }
    }

    /// Ends the thread (the runtime is being dropped).
    pub(super) fn stop(&self) {
        self.0.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.0.thread.get() {
            thread.unpark();
        }
    }

    /// Ticks given so far.
    #[cfg(test)]
    pub(super) fn ticks(&self) -> u64 {
        self.0.ticks.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for Ticker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticker")
            .field("parked", &self.0.parked.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn run(state: &State, tick: Duration) {
    // Known before this thread can park, whether or not `spawn` has set it yet.
    let _ = state.thread.set(std::thread::current());
    let mut idle_since: Option<Instant> = None;
    while !state.stop.load(Ordering::SeqCst) {
        if state.live.load(Ordering::SeqCst) == 0 {
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= IDLE_AFTER {
                // A start raises `live` and then reads `parked`; this sets
                // `parked` and then reads `live` (all sequentially
                // consistent): either the start sees `parked` and unparks
                // (the unpark is kept if it comes before the park), or this
                // sees the instance and does not park.
                state.parked.store(true, Ordering::SeqCst);
                if state.live.load(Ordering::SeqCst) == 0 && !state.stop.load(Ordering::SeqCst) {
                    std::thread::park();
                }
                state.parked.store(false, Ordering::SeqCst);
                idle_since = None;
                continue;
            }
        } else {
            idle_since = None;
        }
        std::thread::sleep(tick);
        let mut engines = lock(&state.engines);
        // The runtime's own engine is first: once it is gone, so is the runtime.
        if engines.first().and_then(EngineWeak::upgrade).is_none() {
            return;
        }
        engines.retain(|weak| match weak.upgrade() {
            Some(engine) => {
                engine.increment_epoch();
                true
            }
            None => false,
        });
        state.ticks.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn it_ticks_while_instances_live_and_parks_when_none_has_for_a_while() {
        let engine = wasmtime::Engine::default();
        let live = Arc::new(AtomicUsize::new(0));
        let ticker = Ticker::spawn(engine.weak(), Duration::from_millis(1), live.clone());
        // Idle from the start: it parks once IDLE_AFTER has passed.
        wait_for("the idle ticker to park", || {
            ticker.0.parked.load(Ordering::SeqCst)
        });
        let parked_at = ticker.ticks();
        std::thread::sleep(IDLE_AFTER * 2);
        assert_eq!(ticker.ticks(), parked_at, "no ticks while parked");
        // An instance starts: the count rises, then the ticker is woken.
        live.fetch_add(1, Ordering::SeqCst);
        ticker.wake();
        wait_for("ticks again", || ticker.ticks() > parked_at + 10);
        // Still ticking after IDLE_AFTER, because an instance lives.
        std::thread::sleep(IDLE_AFTER * 2);
        assert!(!ticker.0.parked.load(Ordering::SeqCst));
        let before = ticker.ticks();
        wait_for("ticks while live", || ticker.ticks() > before + 10);
        // It ends, and the ticker parks again.
        live.fetch_sub(1, Ordering::SeqCst);
        wait_for("the ticker to park again", || {
            ticker.0.parked.load(Ordering::SeqCst)
        });
        ticker.stop();
        wait_for("the thread to end", || Arc::strong_count(&ticker.0) == 1);
    }

    #[test]
    fn it_ends_with_its_engine() {
        let engine = wasmtime::Engine::default();
        let live = Arc::new(AtomicUsize::new(1));
        let ticker = Ticker::spawn(engine.weak(), Duration::from_millis(1), live);
        drop(engine);
        wait_for("the thread to end", || Arc::strong_count(&ticker.0) == 1);
    }
}
