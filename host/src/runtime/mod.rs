//! The [`Runtime`]: one wasmtime [`Engine`] shared by every pod, the host
//! interfaces linked once, compiled images cached in memory and on disk, and
//! the executor guests run on.
//!
//! Guests run on a tokio runtime of their own, separate from the one driving
//! pods (the caller's), so a guest spinning on every core cannot delay the
//! supervisor's timers (backoff, grace periods). Epoch interruption makes a
//! spinning guest yield every tick, so it never starves its siblings and can
//! always be stopped.
//!
//! What many pods share (their registry today) is the runtime's [`Cluster`].

mod artifacts;
mod cluster;
mod engine;
mod forward;
mod instances;
mod listed;
mod pool;
mod progress;
pub(crate) mod registry;
mod services;
mod stacks;
mod ticker;

pub(crate) use cluster::Registration;
pub use cluster::{ApplyError, Cluster};
pub use forward::Forward;
pub(crate) use pool::Compiled;
pub use pool::InstanceCounts;
pub use progress::Compiling;
pub use registry::{Credential, ImageRecord, LayerProgress, PullSecret, SecretError, StoredImage};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use wasmtime::Engine;

use engine::{build_engine, guest_threads};

use crate::container::image::{self, ImageError};
use crate::container::link::Linkers;
use crate::plan::ImageSource;
pub use crate::sandbox::net::cluster::{Cidr, DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR};

/// How a [`Runtime`] is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// Where compiled code (`compiled/`) and pulled images (`images/`) are kept between
    /// runs; `None` disables the disk cache (pulled images then last the process). Default: `$WASMPOD_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmpod`,
    /// else `~/.cache/wasmpod`.
    pub cache_dir: Option<PathBuf>,
    /// How many instances at once run in the instance pool (wasmtime's pooling
    /// allocator); past it, and for an image that does not fit a slot (more
    /// than 2 memories or 16 tables), instances are allocated on demand. A
    /// pooled instance's start and end take less CPU: its memory is a slot of
    /// a reservation made once, reset in place for the next instance (see
    /// BENCHMARKS.md). The pool is set up when the runtime starts its 32nd
    /// instance, so that a short run does not pay for it. Each slot reserves
    /// address space for 2 memories (a memory's
    /// [`memory_reservation`](Self::memory_reservation), 4 GiB by default)
    /// and keeps up to 1 MiB of each resident for its next instance once
    /// used. Default 64; `0`: every instance is allocated on demand.
    /// Falls back to on-demand allocation (with a warning) if the pool
    /// cannot be set up.
    pub pooled_instances: usize,
    /// The most instances (containers, and the fresh instances of exec probes
    /// and hooks) the runtime runs at once. Default 10,000. Past it, a
    /// container gets a `StartError` naming this setting. It is lowered (with
    /// a warning, and the `StartError` then names `vm.max_map_count`) to what
    /// the kernel's limit on memory mappings per process allows (about 6
    /// mappings per instance, 4,096 kept for the rest of the process): past
    /// that limit any allocation of the process would fail and abort it.
    pub max_instances: usize,
    /// Virtual address space reserved for each linear memory (wasmtime's
    /// `memory_reservation`); `None`: wasmtime's default (4 GiB on 64-bit
    /// hosts, so that bounds checks are done by guard pages). A smaller
    /// reservation lets more memories fit in the address space; memories may
    /// still grow past it (they are then moved), to 1 GiB. Each memory slot of
    /// the instance pool ([`pooled_instances`](Self::pooled_instances)) is
    /// this big, or 1 GiB if that is more.
    pub memory_reservation: Option<u64>,
    /// How often guests are interrupted to yield (epoch tick). The ticker
    /// runs only while instances live: an idle runtime wakes no thread.
    ///
    /// It also bounds an instance's first slice: its instantiation and its run
    /// until it first waits on a host call or reaches the next tick. That slice
    /// runs on the thread that starts the instance (its pod's supervisor, on the
    /// tokio runtime that created the pod), the rest on the guest executor
    /// ([`guest_threads`](Self::guest_threads)), so that a short-lived instance
    /// (an init container, an exec probe, a test's pod) ends without a hop between
    /// threads. At most one tick of guest code per instance start runs there.
    pub epoch_tick: Duration,
    /// Worker threads for guests past their first slice (see
    /// [`epoch_tick`](Self::epoch_tick)); default: the number of CPUs.
    pub guest_threads: Option<usize>,
    /// The most instances one pod may run at once — its containers plus the
    /// fresh instances of its exec probes and hooks, which together may take
    /// at most a quarter of it — so that no pod starves the others of an
    /// embedding program. Default 64. Past it, a container gets a
    /// `StartError` naming this setting (an exec probe fails with it).
    pub max_instances_per_pod: usize,
    /// Compile an image's functions on every core (wasmtime's `parallel_compilation`).
    /// Default `true`; a first-use compile of a large image then takes a fraction of the
    /// time (see BENCHMARKS.md).
    pub parallel_compilation: bool,
    /// Registries reached over plain HTTP besides loopback ones (`host[:port]`, as
    /// `--insecure-registry` names them). Default none.
    pub insecure_registries: Vec<String>,
    /// The largest image layer pulled, in bytes (default 512 MiB); a larger one is an
    /// `ErrImagePull` before any byte of it is downloaded. It also bounds the total bytes of
    /// a compat image's unpacked files.
    pub max_layer_bytes: u64,
    /// The pods' addresses (default `10.244.0.0/16`).
    pub pod_cidr: Cidr,
    /// The Services' virtual addresses (default `10.96.0.0/12`); it must not overlap
    /// [`pod_cidr`](Self::pod_cidr).
    pub service_cidr: Cidr,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: default_cache_dir(),
            pooled_instances: 64,
            max_instances: 10_000,
            memory_reservation: None,
            epoch_tick: Duration::from_millis(5),
            guest_threads: None,
            max_instances_per_pod: 64,
            parallel_compilation: true,
            insecure_registries: Vec::new(),
            max_layer_bytes: image::MAX_IMAGE_BYTES,
            pod_cidr: DEFAULT_POD_CIDR.parse().expect("a valid CIDR"),
            service_cidr: DEFAULT_SERVICE_CIDR.parse().expect("a valid CIDR"),
        }
    }
}

impl RuntimeConfig {
    /// [`cache_dir`](Self::cache_dir); `None` disables the disk cache.
    ///
    /// ```
    /// let config = wasmpod::RuntimeConfig::default().with_cache_dir(None).with_guest_threads(2);
    /// assert_eq!(config.guest_threads, Some(2));
    /// ```
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// [`pooled_instances`](Self::pooled_instances): `0` allocates every
    /// instance on demand.
    ///
    /// ```
    /// let config = wasmpod::RuntimeConfig::default().with_pooled_instances(0);
    /// assert_eq!(config.pooled_instances, 0);
    /// ```
    pub fn with_pooled_instances(mut self, n: usize) -> Self {
        self.pooled_instances = n;
        self
    }

    /// [`max_instances`](Self::max_instances): the most instances at once.
    ///
    /// ```
    /// let config = wasmpod::RuntimeConfig::default().with_max_instances(20_000);
    /// assert_eq!(config.max_instances, 20_000);
    /// ```
    pub fn with_max_instances(mut self, max: usize) -> Self {
        self.max_instances = max;
        self
    }

    /// [`memory_reservation`](Self::memory_reservation): virtual address
    /// space reserved per linear memory.
    pub fn with_memory_reservation(mut self, bytes: u64) -> Self {
        self.memory_reservation = Some(bytes);
        self
    }

    /// [`epoch_tick`](Self::epoch_tick).
    pub fn with_epoch_tick(mut self, tick: Duration) -> Self {
        self.epoch_tick = tick;
        self
    }

    /// [`guest_threads`](Self::guest_threads).
    pub fn with_guest_threads(mut self, threads: usize) -> Self {
        self.guest_threads = Some(threads);
        self
    }

    /// [`max_instances_per_pod`](Self::max_instances_per_pod).
    pub fn with_max_instances_per_pod(mut self, max: usize) -> Self {
        self.max_instances_per_pod = max;
        self
    }

    /// [`parallel_compilation`](Self::parallel_compilation).
    pub fn with_parallel_compilation(mut self, parallel: bool) -> Self {
        self.parallel_compilation = parallel;
        self
    }

    /// [`insecure_registries`](Self::insecure_registries).
    pub fn with_insecure_registries(mut self, registries: Vec<String>) -> Self {
        self.insecure_registries = registries;
        self
    }

    /// [`max_layer_bytes`](Self::max_layer_bytes).
    pub fn with_max_layer_bytes(mut self, max: u64) -> Self {
        self.max_layer_bytes = max;
        self
    }

    /// [`pod_cidr`](Self::pod_cidr) and [`service_cidr`](Self::service_cidr).
    ///
    /// ```
    /// let config = wasmpod::RuntimeConfig::default()
    ///     .with_cidrs("10.1.0.0/16".parse()?, "10.2.0.0/16".parse()?);
    /// assert!(wasmpod::Runtime::new(config).is_ok());
    /// # Ok::<(), String>(())
    /// ```
    pub fn with_cidrs(mut self, pods: Cidr, services: Cidr) -> Self {
        self.pod_cidr = pods;
        self.service_cidr = services;
        self
    }
}

/// The default compiled-code cache directory.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("WASMPOD_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("wasmpod"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/wasmpod"))
}

/// Errors setting up a [`Runtime`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// wasmtime rejected the configuration.
    #[error("failed to configure wasmtime")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The guest executor could not be started.
    #[error("failed to start the guest executor: {0}")]
    Executor(#[source] std::io::Error),
    /// The cluster network's ranges overlap.
    #[error("invalid cluster network: {0}")]
    Network(String),
}

struct Inner {
    engine: Engine,
    linkers: Arc<Linkers>,
    /// The instance pool, once set up ([`RuntimeConfig::pooled_instances`]).
    pool: pool::Slot,
    /// Instances started so far, and of them in the pool.
    started: AtomicU64,
    started_pooled: AtomicU64,
    /// Instances that went on on the guest executor after their first slice.
    continued: AtomicU64,
    /// The runtime's configuration (what the pool is set up from).
    config: RuntimeConfig,
    /// Compiled code on disk ([`RuntimeConfig::cache_dir`]).
    artifacts: Option<artifacts::Artifacts>,
    /// Compiled images by content digest; each is compiled once per process.
    images: Mutex<HashMap<[u8; 32], Arc<OnceCell<Compiled>>>>,
    guests: Option<tokio::runtime::Runtime>,
    /// Advances the engines' epochs while instances live.
    ticker: ticker::Ticker,
    /// Live instances against [`RuntimeConfig::max_instances`].
    slots: instances::Slots,
    cluster: Arc<Cluster>,
    /// Images being compiled.
    compiling: progress::Board,
    /// Registry pulls and the local image store.
    registry: registry::Registry,
    /// Roots kept for the next containers of pods with neither volumes nor a run
    /// directory (made with the first).
    spares: std::sync::OnceLock<Arc<crate::sandbox::Spares>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.ticker.stop();
        if let Some(rt) = self.guests.take() {
            rt.shutdown_background();
        }
        // Pods' directories being removed in the background: leave none.
        crate::sandbox::drain_discarded();
    }
}

/// Runs pods. Cheap to clone; one per process is the intended use.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use wasmpod::{Runtime, RuntimeConfig, RunOptions, ValidPod};
/// let runtime = Runtime::new(RuntimeConfig::default())?;
/// let yaml = r#"
/// apiVersion: v1
/// kind: Pod
/// metadata: { name: hello }
/// spec:
///   restartPolicy: Never
///   containers:
///   - name: hello
///     image: busybox
///     command: ["echo", "hello from wasm"]
/// "#;
/// let pod = runtime.run(ValidPod::from_yaml(yaml)?, RunOptions::default()).await?;
/// let outcome = pod.wait().await;
/// assert_eq!(outcome.phase.as_str(), "Succeeded");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Runtime {
    /// Creates the engine, links the host interfaces and starts the guest
    /// executor and the epoch ticker.
    ///
    /// # Errors
    /// [`RuntimeError`] if wasmtime rejects the configuration or the executor
    /// cannot start.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        // Checked first: an error after the guest executor exists would drop it here, and
        // dropping a tokio runtime inside the caller's async context panics.
        let network = crate::sandbox::ClusterNetwork::new(config.pod_cidr, config.service_cidr)
            .map_err(RuntimeError::Network)?;
        // Guests' files are host descriptors: allow as many as the host does.
        crate::sandbox::handles::raise_fd_limit();
        // Pods' directories a killed process left in /dev/shm and the temp dir (once).
        crate::sandbox::sweep_stale();
        let engine = build_engine(&config, None)?;
        let linkers = Arc::new(Linkers::new(&engine));
        linkers.prepare_in_background();
        let threads = guest_threads(&config);
        let guests = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("wasmpod-guest")
            // Guests yield at every epoch tick; check timers and I/O as often
            // so that a guest's sleep is not delayed by spinning siblings.
            .event_interval(1)
            .enable_all()
            .build()
            .map_err(RuntimeError::Executor)?;
        let mut slots = instances::Slots::new(config.max_instances, instances::max_map_count());
        let ticker = ticker::Ticker::spawn(engine.weak(), config.epoch_tick, slots.live_count());
        slots.wake_on_start(ticker.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                artifacts: config
                    .cache_dir
                    .as_deref()
                    .map(|dir| artifacts::Artifacts::new(dir, &engine)),
                engine,
                linkers,
                pool: pool::Slot::default(),
                started: AtomicU64::new(0),
                started_pooled: AtomicU64::new(0),
                continued: AtomicU64::new(0),
                config: config.clone(),
                images: Mutex::default(),
                guests: Some(guests),
                ticker,
                slots,
                cluster: Cluster::new(network),
                compiling: progress::Board::default(),
                registry: registry::Registry::new(
                    config.cache_dir.as_deref(),
                    config.insecure_registries.clone(),
                    config.max_layer_bytes,
                ),
                spares: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Loads, compiles and links an image as a container naming it would (`busybox`, or a
    /// `.wasm` path, relative to `base_dir`), so that a pod created later starts without
    /// compiling. Each distinct image (by content) is compiled once per process; with a cache
    /// directory, once per machine.
    ///
    /// ```no_run
    /// # async fn demo(runtime: wasmpod::Runtime) -> Result<(), wasmpod::ImageError> {
    /// runtime.prepare_image("busybox", std::path::Path::new(".")).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ImageError`] when the image is missing, not Wasm, fails to compile
    /// or needs an interface the host does not offer.
    pub async fn prepare_image(&self, image: &str, base_dir: &Path) -> Result<(), ImageError> {
        let source = crate::plan::resolve_image(image, base_dir);
        if let ImageSource::Registry(r) = &source {
            let policy = crate::plan::PullPolicy::resolve(None, r);
            let pulled = self.ensure_image(image, &source, policy, &[]).await?;
            // A compat image: the Wasm file its default entrypoint names.
            if let Some((record, _)) = pulled.filter(|(r, _)| r.config.is_some()) {
                return self.prepare_compat(&record).await;
            }
        }
        self.load_image(&source).await.map(|_| ())
    }

    /// Loads, compiles and links an image (see [`prepare_image`](Self::prepare_image)).
    pub(crate) async fn load_image(&self, source: &ImageSource) -> Result<Compiled, ImageError> {
        let src = source.clone();
        let (bytes, digest) = match source {
            // Builtins are in memory, read and digested once per process.
            ImageSource::Builtin(_) => image::read(&src)?,
            ImageSource::File(path) => {
                tracing::debug!(path = %path.display(), "reading an image file");
                tokio::task::spawn_blocking(move || image::read(&src))
                    .await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?
            }
            // Pulled before (`ensure_image`): its layer in the image store.
            ImageSource::Registry(r) if self.inner.registry.is_compat(r) => {
                return Err(ImageError::Link {
                    source_name: r.to_string(),
                    message: "a compat image runs the .wasm its container's entrypoint names \
                              (Runtime::load_compat), not a layer"
                        .into(),
                });
            }
            ImageSource::Registry(r) => {
                let path =
                    self.inner
                        .registry
                        .layer_path(r)
                        .ok_or_else(|| ImageError::NeverPull {
                            image: r.to_string(),
                        })?;
                tokio::task::spawn_blocking(move || image::read_layer(&path))
                    .await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?
            }
            ImageSource::Invalid { .. } => image::read(&src)?,
        };
        let image = self
            .compile_content(source.to_string(), bytes, digest)
            .await?;
        if let ImageSource::Registry(r) = source {
            self.inner.registry.mark_compiled(r);
        }
        Ok(image)
    }

    /// Compiles and links `bytes` (digest `digest`, named `name` in messages), once per
    /// process by content, through the compiled-code cache.
    pub(crate) async fn compile_content(
        &self,
        name: String,
        bytes: bytes::Bytes,
        digest: [u8; 32],
    ) -> Result<Compiled, ImageError> {
        let cell = {
            let mut images = crate::sync::lock(&self.inner.images);
            images.entry(digest).or_default().clone()
        };
        let image = cell
            .get_or_try_init(|| async move {
                let inner = self.inner.clone();
                let (n, b) = (name.clone(), bytes.clone());
                let cached = tokio::task::spawn_blocking(move || {
                    let a = inner.artifacts.as_ref()?;
                    let component = wasmparser::Parser::is_component(&b);
                    let image = a.load(&inner.engine, &inner.linkers, &n, &digest, component)?;
                    Some(image.map(|image| Compiled::new(image, Some(a.path(&digest)))))
                })
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
                if let Some(image) = cached {
                    return image;
                }
                let _listed = self.inner.compiling.begin(name.clone(), bytes.len() as u64);
                let inner = self.inner.clone();
                tokio::task::spawn_blocking(move || {
                    let image = image::compile(&inner.engine, &inner.linkers, &name, &bytes)?;
                    let artifact = inner.artifacts.as_ref().map(|a| {
                        a.store(&digest, &image);
                        a.path(&digest)
                    });
                    Ok(Compiled::new(image, artifact))
                })
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
            })
            .await?;
        Ok(image.clone())
    }

    /// The images being compiled now, for a progress display: a large image takes tens of
    /// seconds on first use (later uses come from the cache).
    ///
    /// ```no_run
    /// # async fn demo(runtime: wasmpod::Runtime) {
    /// let mut compiling = runtime.compiling();
    /// while compiling.changed().await.is_ok() {
    ///     for c in compiling.borrow().iter() {
    ///         eprintln!("compiling {} ({} bytes) for {:?}", c.image, c.bytes, c.since.elapsed());
    ///     }
    /// }
    /// # }
    /// ```
    pub fn compiling(&self) -> tokio::sync::watch::Receiver<Vec<Compiling>> {
        self.inner.compiling.subscribe()
    }

    /// What this runtime's pods share: the registry of its pods.
    pub fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    /// Lists a pod in the [`cluster`](Self::cluster) while the registration lives.
    pub(crate) fn register(
        &self,
        uid: &str,
        status: tokio::sync::watch::Receiver<Arc<k8s_openapi::api::core::v1::Pod>>,
    ) -> Registration {
        self.inner.cluster.register(uid, status)
    }

    /// The spare roots of pods with neither volumes nor a run directory.
    pub(crate) fn spares(&self) -> &std::sync::OnceLock<Arc<crate::sandbox::Spares>> {
        &self.inner.spares
    }

    /// [`RuntimeConfig::max_instances_per_pod`].
    pub(crate) fn max_instances_per_pod(&self) -> usize {
        self.inner.config.max_instances_per_pod
    }

    /// A place for one more instance in [`RuntimeConfig::max_instances`],
    /// held while the instance lives; `Err` says which limit was reached.
    pub(crate) fn instance_slot(&self) -> Result<impl Send + 'static, String> {
        self.inner.slots.take()
    }

    /// The executor guests run on.
    pub(crate) fn guest_handle(&self) -> tokio::runtime::Handle {
        self.inner
            .guests
            .as_ref()
            .expect("guest executor exists until drop")
            .handle()
            .clone()
    }
}
