//! The instance pool: a second engine on wasmtime's pooling allocator, for
//! the first [`RuntimeConfig::pooled_instances`] instances at once. Past it,
//! and for an image that does not fit a pool slot, instances are allocated
//! on demand by the runtime's own engine, which every image is loaded into.
//!
//! A pooled instance's start and end take less CPU: its memory, tables and
//! stack are a slot of a reservation made once, and a freed slot's memory is
//! reset in place for the next instance (no `mmap`, no `munmap` with its TLB
//! shootdown on every core, fewer page faults; see BENCHMARKS.md). Setting
//! the pool up costs about half a millisecond, a second linker and, for each
//! image, a second load of its compiled code (0.4 ms from the disk cache):
//! more than a short run saves. So the pool is set up, on a thread of its own,
//! only when the runtime starts its [`POOL_AFTER`]th instance, and each
//! image's pooled version is loaded the first time an instance of it could
//! use the pool, by the pool's one loader thread, one image at a time (a
//! manifest of many images starts one thread, not one per image). Until then
//! instances are allocated on demand; nothing waits.
//!
//! Pooled and on-demand instances behave alike: a pool slot holds a memory
//! of [`MAX_MEMORY_BYTES`] and a table of [`MAX_TABLE_ELEMENTS`], the limits
//! every instance has. The pool is sized so that an admitted instance never
//! finds it full halfway through its instantiation (a start function would
//! then have run twice): the runtime counts its instances in the pool
//! ([`Place`]) against [`RuntimeConfig::pooled_instances`], and the pool
//! holds that many instances at the per-component maxima an image is
//! checked against when it is loaded, and one more per guest thread (an
//! instance's place is freed when its exit is known, its memory a moment
//! later on the same thread).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak, mpsc};

use wasmtime::{Engine, PoolingAllocationConfig};

use super::engine::{build_engine, guest_threads};
use super::ticker::Ticker;
use super::{Runtime, RuntimeConfig, artifacts};
use crate::container::image::Image;
use crate::container::limits::{MAX_MEMORY_BYTES, MAX_TABLE_ELEMENTS};
use crate::container::link::Linkers;

/// The runtime sets its pool up when it starts this many instances: a
/// pooled instance saves about 60 µs, and the pool costs a few milliseconds
/// of CPU to set up (its reservation, a second linker, each image's code
/// loaded again), more than a run of a few pods would save (see
/// BENCHMARKS.md, session 9).
pub(crate) const POOL_AFTER: usize = 32;

/// Linear memories one pooled instance may have; an image with more runs
/// on demand.
const MEMORIES_PER_INSTANCE: u32 = 2;
/// Tables one pooled instance may have.
const TABLES_PER_INSTANCE: u32 = 16;
/// Core instances one pooled component may have.
const CORE_INSTANCES_PER_INSTANCE: u32 = 32;
/// How much of a pooled memory is kept resident for its slot's next instance.
const MEMORY_KEEP_RESIDENT: usize = 1 << 20;
/// How much of a pooled table is kept resident for its slot's next instance.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// An image compiled for the runtime: its code for the on-demand engine, and
/// (once the pool exists and an instance could use it) for the pool's.
#[derive(Clone)]
pub(crate) struct Compiled {
    /// For the runtime's engine.
    pub(crate) image: Image,
    /// For the pool's engine: `Some(None)` when it does not fit a slot.
    pooled: Arc<OnceLock<Option<Image>>>,
    /// Whether its loading has begun.
    loading: Arc<AtomicBool>,
    /// Its compiled code on disk, if cached there.
    artifact: Option<PathBuf>,
}

impl Compiled {
    /// `image`, whose compiled code is in `artifact` if cached on disk.
    pub(crate) fn new(image: Image, artifact: Option<PathBuf>) -> Self {
        Self {
            image,
            pooled: Arc::default(),
            loading: Arc::default(),
            artifact,
        }
    }
}

/// What a runtime runs ([`Runtime::instances`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct InstanceCounts {
    /// Instances running now: containers, and the instances of exec probes,
    /// hooks, `PodHandle::exec` and `wasi:http` servers (at most
    /// [`RuntimeConfig::max_instances`]).
    pub running: usize,
    /// Of those, in the instance pool (at most
    /// [`RuntimeConfig::pooled_instances`]).
    pub pooled: usize,
    /// Instances started since the runtime was made.
    pub started: u64,
    /// Of those, in the instance pool.
    pub started_pooled: u64,
    /// Of those started, the instances that went on on the guest executor after
    /// their first slice (they waited on a host call, or ran to an epoch tick); the
    /// others ended on the thread that started them (see
    /// [`RuntimeConfig::epoch_tick`]).
    pub continued: u64,
}

impl Runtime {
    /// The code and engine for one more instance of `compiled`, and its place
    /// in the instance pool if it takes one: the pool's version when the pool
    /// is set up, has a place and holds the image; else the runtime's own,
    /// allocated on demand. A `wasi:http` component is always served on
    /// demand (its requests' instances come and go by the server's own
    /// bound). Sets the pool up at the [`POOL_AFTER`]th instance.
    pub(crate) fn instance_code(&self, compiled: &Compiled) -> (Image, Engine, Option<Place>) {
        let inner = &self.inner;
        let started = inner.started.fetch_add(1, Ordering::AcqRel) + 1;
        let on_demand = || (compiled.image.clone(), inner.engine.clone(), None);
        if inner.config.pooled_instances == 0 {
            return on_demand();
        }
        let Some(pool) = inner.pool.get() else {
            if started == POOL_AFTER as u64 {
                set_up(
                    inner.pool.clone(),
                    inner.config.clone(),
                    inner.ticker.clone(),
                );
            }
            return on_demand();
        };
        let Some(pool) = pool
            .as_ref()
            .filter(|_| !matches!(compiled.image, Image::Http(_)))
        else {
            return on_demand();
        };
        // A place is taken only for an image the pool holds.
        let pooled = pool
            .image(compiled)
            .and_then(|image| Some((image, pool.place()?)));
        match pooled {
            Some((image, place)) => {
                inner.started_pooled.fetch_add(1, Ordering::AcqRel);
                (image, pool.engine().clone(), Some(place))
            }
            None => on_demand(),
        }
    }

    /// What the runtime runs now, and how many instances it has started.
    ///
    /// ```
    /// let runtime = wasmpod::Runtime::new(wasmpod::RuntimeConfig::default())?;
    /// assert_eq!(runtime.instances().running, 0);
    /// # Ok::<(), wasmpod::RuntimeError>(())
    /// ```
    pub fn instances(&self) -> InstanceCounts {
        let inner = &self.inner;
        InstanceCounts {
            running: inner.slots.live(),
            pooled: inner
                .pool
                .get()
                .and_then(Option::as_ref)
                .map_or(0, |p| p.live()),
            started: inner.started.load(Ordering::Acquire),
            started_pooled: inner.started_pooled.load(Ordering::Acquire),
            continued: inner.continued.load(Ordering::Acquire),
        }
    }

    /// Counts an instance that goes on on the guest executor after its first slice.
    pub(crate) fn count_continued(&self) {
        self.inner.continued.fetch_add(1, Ordering::AcqRel);
    }
}

/// The pool, once set up: `None` inside when there is none (none asked for,
/// or wasmtime could not reserve it).
pub(crate) type Slot = Arc<OnceLock<Option<Arc<Pool>>>>;

/// The pooling engine and its count of instances.
pub(crate) struct Pool {
    engine: Engine,
    linkers: Linkers,
    live: Arc<AtomicUsize>,
    max: usize,
    /// Images to load, to the loader thread (started at the first; it ends
    /// when the pool is dropped): `None` if it could not be started.
    loader: OnceLock<Option<mpsc::Sender<Compiled>>>,
    /// Loader threads started.
    #[cfg(test)]
    loaders: AtomicUsize,
}

/// One instance's place in the pool; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sets the pool up into `slot` on a thread of its own, its engine's epoch
/// advanced by the runtime's `ticker`.
pub(super) fn set_up(slot: Slot, config: RuntimeConfig, ticker: Ticker) {
    let spawned = std::thread::Builder::new()
        .name("wasmpod-pool".into())
        .spawn(move || {
            let pool = Pool::new(&config).map(|pool| {
                ticker.add_engine(pool.engine.weak());
                Arc::new(pool)
            });
            let _ = slot.set(pool);
        });
    if spawned.is_err() {
        tracing::debug!("no thread to set the instance pool up; instances run on demand");
    }
}

impl Pool {
    fn new(config: &RuntimeConfig) -> Option<Pool> {
        let max = config.pooled_instances.min(config.max_instances);
        if max == 0 {
            return None;
        }
        match build_engine(config, Some(pool_config(config, max))) {
            Ok(engine) => Some(Pool {
                linkers: Linkers::new(&engine),
                engine,
                live: Arc::default(),
                max,
                loader: OnceLock::new(),
                #[cfg(test)]
                loaders: AtomicUsize::new(0),
            }),
            Err(e) => {
                tracing::warn!(
                    "the instance pool ({max} instances, RuntimeConfig::pooled_instances) \
                     could not be set up: {e}; instances run on demand"
                );
                None
            }
        }
    }

    /// The pooling engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A place for one more instance, if the pool has one.
    pub(crate) fn place(&self) -> Option<Place> {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| Place(self.live.clone()))
    }

    /// Instances in the pool now.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// `compiled`'s version for the pool, if loaded; the first call queues it
    /// for the loader thread and answers `None`.
    pub(crate) fn image(self: &Arc<Self>, compiled: &Compiled) -> Option<Image> {
        if let Some(image) = compiled.pooled.get() {
            return image.clone();
        }
        if compiled.loading.swap(true, Ordering::AcqRel) {
            return None;
        }
        let queued = self
            .loader()
            .is_some_and(|loader| loader.send(compiled.clone()).is_ok());
        if !queued {
            // Its instances run on demand.
            let _ = compiled.pooled.set(None);
        }
        None
    }

    /// The loader thread's queue, the thread started at the first call.
    fn loader(self: &Arc<Self>) -> Option<&mpsc::Sender<Compiled>> {
        self.loader
            .get_or_init(|| {
                let (queue, images) = mpsc::channel();
                let pool = Arc::downgrade(self);
                let spawned = std::thread::Builder::new()
                    .name("wasmpod-pool".into())
                    .spawn(move || load_each(&pool, &images));
                match spawned {
                    Ok(_) => {
                        #[cfg(test)]
                        self.loaders.fetch_add(1, Ordering::AcqRel);
                        Some(queue)
                    }
                    Err(e) => {
                        tracing::debug!(
                            "no thread to load images into the pool ({e}); instances run on demand"
                        );
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The same compiled code for the pool's engine: from the disk cache, else
    /// serialized from the runtime's. `None` (logged) when it does not fit a
    /// slot: its instances run on demand.
    fn load(&self, compiled: &Compiled) -> Option<Image> {
        let loaded = artifacts::for_engine(
            &compiled.image,
            compiled.artifact.as_deref(),
            &self.engine,
            &self.linkers,
        );
        match loaded {
            Ok(image) => Some(image),
            Err(e) => {
                tracing::debug!("an image runs on demand only: {e}");
                None
            }
        }
    }
}

/// The loader thread: loads each image queued into `pool` until the pool is
/// dropped (its queue's sender with it).
fn load_each(pool: &Weak<Pool>, images: &mpsc::Receiver<Compiled>) {
    while let Ok(compiled) = images.recv() {
        let Some(loaded) = pool.upgrade().map(|pool| pool.load(&compiled)) else {
            return;
        };
        // Told once the pool is let go of here.
        let _ = compiled.pooled.set(loaded);
    }
}

/// A pool of `max` instances, each of up to the per-instance maxima above,
/// and one instance more per guest thread (see the module's documentation).
fn pool_config(config: &RuntimeConfig, max: usize) -> PoolingAllocationConfig {
    let n = max.saturating_add(guest_threads(config));
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_INSTANCE))
        .total_memories(n.saturating_mul(MEMORIES_PER_INSTANCE))
        .total_tables(n.saturating_mul(TABLES_PER_INSTANCE))
        .total_stacks(n)
        .max_core_instances_per_component(CORE_INSTANCES_PER_INSTANCE)
        .max_memories_per_component(MEMORIES_PER_INSTANCE)
        .max_memories_per_module(MEMORIES_PER_INSTANCE)
        .max_tables_per_component(TABLES_PER_INSTANCE)
        .max_tables_per_module(TABLES_PER_INSTANCE)
        .max_memory_size(MAX_MEMORY_BYTES)
        .table_elements(MAX_TABLE_ELEMENTS)
        // A freed slot is made ready for its next instance by writing back the pages
        // its last one touched (found with the kernel's PAGEMAP_SCAN where it has it,
        // Linux 6.7 and later), up to this much, rather than by dropping them: the
        // next instance takes no page faults there, and no other thread of the process
        // has its TLB flushed. Those pages stay resident while the slot is free.
        .linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
        .table_keep_resident(TABLE_KEEP_RESIDENT)
        .pagemap_scan(wasmtime::Enabled::Auto);
    pool
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::container::image;

    /// A wasip1 command with `memories` memories.
    fn command(memories: usize) -> Vec<u8> {
        let memories = "(memory 1)".repeat(memories);
        wat::parse_str(format!("(module {memories} (func (export \"_start\")))")).unwrap()
    }

    /// An image of `memories` memories compiled for the runtime's engine.
    fn compiled(memories: usize) -> Compiled {
        let config = RuntimeConfig::default();
        let engine = build_engine(&config, None).unwrap();
        let linkers = Linkers::new(&engine);
        let image = image::compile(&engine, &linkers, "test", &command(memories)).unwrap();
        Compiled::new(image, None)
    }

    fn pool(n: usize) -> Arc<Pool> {
        let config = RuntimeConfig::default()
            .with_pooled_instances(n)
            .with_guest_threads(1);
        Arc::new(Pool::new(&config).expect("a pool"))
    }

    #[test]
    fn past_its_size_the_pool_has_no_place() {
        let pool = pool(2);
        let (a, b) = (pool.place().unwrap(), pool.place().unwrap());
        assert!(pool.place().is_none(), "a third place in a pool of two");
        assert_eq!(pool.live(), 2);
        drop(a);
        let c = pool.place().expect("a freed place is taken again");
        drop((b, c));
        assert_eq!(pool.live(), 0);
        let none = RuntimeConfig::default().with_pooled_instances(0);
        assert!(Pool::new(&none).is_none(), "a pool of none is no pool");
    }

    #[test]
    fn an_image_is_loaded_into_the_pool_in_the_background() {
        let pool = pool(2);
        let image = compiled(1);
        assert!(pool.image(&image).is_none(), "loaded at once");
        let deadline = Instant::now() + Duration::from_secs(60);
        let loaded = loop {
            if let Some(loaded) = pool.image(&image) {
                break loaded;
            }
            assert!(Instant::now() < deadline, "never loaded");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(matches!(loaded, Image::Module(_)));
        // Loaded for the pool's engine: instantiated there, in a place of the pool.
        let Image::Module(pre) = loaded else {
            unreachable!()
        };
        assert!(Engine::same(pre.module().engine(), pool.engine()));
        let mut store = wasmtime::Store::new(
            pool.engine(),
            crate::container::P1State {
                ctx: wasmtime_wasi::WasiCtxBuilder::new().build_p1(),
                limiter: crate::container::limits::MemoryLimiter::new(None),
            },
        );
        store.set_epoch_deadline(u64::MAX / 2);
        let _place = pool.place().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime
            .block_on(pre.instantiate_async(&mut store))
            .expect("instantiated in the pool");
    }

    #[test]
    fn images_are_loaded_by_one_thread_one_at_a_time() {
        let pool = pool(2);
        let images: Vec<Compiled> = (0..=MEMORIES_PER_INSTANCE as usize + 1)
            .map(compiled)
            .collect();
        for image in &images {
            assert!(pool.image(image).is_none(), "loaded at once");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while images.iter().any(|i| i.pooled.get().is_none()) {
            assert!(Instant::now() < deadline, "not all loaded");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Each image is loaded, or found not to fit, once; all by one thread.
        let fits: Vec<bool> = images.iter().map(|i| pool.image(i).is_some()).collect();
        let mut expected = vec![true; MEMORIES_PER_INSTANCE as usize + 1];
        expected.push(false);
        assert_eq!(fits, expected);
        assert_eq!(pool.loaders.load(Ordering::Acquire), 1);
        // The thread ends with the pool: nothing holds the pool but this test.
        let weak = Arc::downgrade(&pool);
        drop(pool);
        assert!(
            weak.upgrade().is_none(),
            "the loader thread keeps the pool alive"
        );
    }

    #[test]
    fn an_image_that_does_not_fit_a_slot_stays_on_demand() {
        let pool = pool(2);
        let too_many = compiled(MEMORIES_PER_INSTANCE as usize + 1);
        let err = match artifacts::for_engine(&too_many.image, None, &pool.engine, &pool.linkers) {
            Ok(_) => panic!("an image of 3 memories loaded into the pool"),
            Err(e) => e,
        };
        assert!(err.contains("memories"), "{err}");
        // What the launcher asks: never a pooled version.
        let deadline = Instant::now() + Duration::from_secs(60);
        while too_many.pooled.get().is_none() {
            assert!(pool.image(&too_many).is_none());
            assert!(Instant::now() < deadline, "never tried");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(pool.image(&too_many).is_none());
        assert!(matches!(too_many.pooled.get(), Some(None)));
    }
}
