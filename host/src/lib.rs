//! # wasmpod
//!
//! A Kubernetes-compatible pod runtime where every container is a
//! WebAssembly component. It reads a `v1` Pod, runs its init containers to
//! completion in order, then its native sidecars and app containers
//! together, with shared directory volumes, a loopback-only network and the
//! kubelet's restart, backoff and status rules.
//!
//! Inside, the data flows through one module per stage: [`spec`] (parse,
//! validate; public) → `plan` (the resolved pod) → `supervisor` (the kubelet's
//! decisions and the driver that carries them out) → `container` (one Wasm
//! instance) → `sandbox` (directories, network, stdio). [`Runtime`] owns the
//! wasmtime engine and what pods share ([`Cluster`]); [`PodHandle`] watches
//! and stops one pod.
//!
//! The public surface is what an embedder uses: [`Runtime`] and
//! [`RuntimeConfig`]; [`ValidPod`] (a validated manifest, with its warnings);
//! [`PodHandle`], [`RunOptions`] and [`Outcome`]; [`Phase`], [`Event`],
//! [`LogLine`]; the errors ([`Error`] and the causes it carries); and
//! [`limits`], the bounds kept on guests and manifests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use wasmpod::{RunOptions, Runtime, RuntimeConfig, ValidPod};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let yaml = std::fs::read_to_string("examples/hello.yaml")?;
//! let pod = runtime.run(ValidPod::from_yaml(&yaml)?, RunOptions::default()).await?;
//! let mut logs = pod.logs();
//! while let Ok(line) = logs.recv().await {
//!     println!("{} | {}", line.container, line.line);
//! }
//! println!("{}", pod.wait().await.phase.as_str());
//! # Ok(()) }
//! ```
//!
//! The `wasmpod` command is a separate package (`wasmpod-cli`), a thin
//! client of this library.
//!
//! # Tracing
//!
//! The library logs through [`tracing`]. Each step of a container's path emits a
//! `TRACE` event on the target `wasmpod::step`, its `step` field naming it:
//! `create` and `created` (around [`Runtime::create`]), `supervisor` (the pod is
//! started), `launch` and `launched` (a container's instance is started: its first slice
//! runs in between, see [`RuntimeConfig::epoch_tick`]), `guest`, `wasi`, `instantiated`
//! and `exited` (in the instance),
//! `exit-seen`, `terminal`, `dirs-removed` and `ended` (the supervisor), and `waited`
//! ([`PodHandle::wait`] returns). The density bench times them (`DENSITY_STEPS=1`,
//! see BENCHMARKS.md). With no subscriber enabled for that level, tracing skips them
//! after checking its level filter.
//!
//! # Features
//!
//! - `builtin-images` (default): the guests behind the image names
//!   `busybox`, `alpine`, `nginx` and `agnhost`, built for `wasm32-wasip2` by
//!   a build script. Without it the library builds without that target, and
//!   a pod naming one of them fails to load the image
//!   ([`ImageError::BuiltinNotCompiledIn`],
//!   the container waiting with `ErrImagePull`).
//! - `testing` (default): [`testing`], pods as test fixtures (regex and hyper's
//!   HTTP client come with it).

/// A step of a pod's path: a `TRACE` event on the target `wasmpod::step` (see
/// "Tracing" above). Declared before the modules, which use it.
macro_rules! step {
    ($name:literal) => {
        tracing::trace!(target: "wasmpod::step", step = $name)
    };
}

#[cfg(test)]
mod architecture;
mod container;
mod error;
mod plan;
mod pod;
mod report;
mod runtime;
mod sandbox;
pub mod spec;
mod supervisor;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
mod workloads;

pub use container::ImageError;
pub use container::http::AllowedHost;
pub use error::Error;
pub use plan::service::{Endpoint, warnings as service_warnings};
pub use plan::{ConfigObjects, ObjectData, ObjectKind, PlanError};
pub use pod::{Outcome, PodHandle, PodRow, Protocol, RunOptions, kubectl_row};
pub use runtime::{
    ApplyError, Cidr, Cluster, Compiling, Credential, DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR,
    Forward, ImageRecord, InstanceCounts, LayerProgress, PullSecret, Runtime, RuntimeConfig,
    RuntimeError, SecretError, StoredImage,
};
pub use sandbox::{ClusterNetwork, PodStream, SandboxError, Stream};
pub use spec::ValidPod;
pub use supervisor::driver::ExecOutput;
pub use supervisor::output::{Event, EventType, LogLine, LogRotation, StopReason, Subscription};
pub use supervisor::{BackoffPolicy, Phase};
pub use workloads::{WorkloadHandle, WorkloadOptions, WorkloadOutcome};

/// The bounds wasmpod keeps on what a guest or a manifest controls, and the exit codes it
/// reports. Every resource a hostile guest or manifest could grow has one of these limits.
pub mod limits {
    pub use crate::container::image::MAX_IMAGE_BYTES;
    pub use crate::container::limits::MAX_TABLE_ELEMENTS;
    pub use crate::container::{KILLED_EXIT_CODE, TERMINATED_EXIT_CODE, TRAP_EXIT_CODE};
    pub use crate::sandbox::MAX_SPARES;
    pub use crate::sandbox::handles::{MAX_OPEN_FILES, MAX_TABLE_ENTRIES};
    pub use crate::sandbox::net::MAX_SOCKETS;
    pub use crate::sandbox::net::udp::{MAX_DATAGRAMS, MAX_PAYLOAD_V4, MAX_PAYLOAD_V6};
    pub use crate::spec::expand::{ARG_MAX, MAX_ARG_STRLEN};
    pub use crate::spec::{
        MAX_ALIAS_NODES, MAX_ANNOTATIONS_BYTES, MAX_DOCUMENT_BYTES, MAX_NESTING, MAX_NODES,
        MAX_OBJECT_DATA_BYTES, MAX_WORKLOAD_PODS,
    };
    pub use crate::supervisor::output::logs::MAX_LINE;
}
