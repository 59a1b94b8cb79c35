//! # wasmpod
//!
//! A Kubernetes-compatible pod runtime where every container is a
//! WebAssembly component. It reads a `v1` Pod, runs its init containers to
//! completion in order, then its native sidecars and app containers
//! together, with shared directory volumes, a loopback-only network and the
//! kubelet's restart, backoff and status rules.
//!
//! The data flows through one module per stage:
//! [`spec`] (parse, validate) → [`plan`] (resolved pod) → [`supervisor`]
//! (the kubelet state machine) → [`container`] (one Wasm instance) →
//! [`sandbox`] (directories, network, stdio). [`Runtime`] owns the wasmtime
//! engine and runs pods; [`PodHandle`] watches and stops one.
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
//! # Features
//!
//! - `builtin-images` (default): the guests behind the image names
//!   `busybox`, `alpine`, `nginx` and `agnhost`, built for `wasm32-wasip2` by
//!   a build script. Without it the library builds without that target, and
//!   a pod naming one of them fails to load the image
//!   ([`ImageError::BuiltinNotCompiledIn`](container::ImageError::BuiltinNotCompiledIn),
//!   the container waiting with `ErrImagePull`).

#[cfg(test)]
mod architecture;
pub mod container;
mod error;
pub mod plan;
pub mod pod;
mod report;
pub mod runtime;
pub mod sandbox;
pub mod spec;
pub mod supervisor;

pub use error::Error;
pub use pod::{Event, EventType, LogLine, Outcome, PodHandle, RunOptions, StopReason};
pub use runtime::{Cluster, Compiling, Runtime, RuntimeConfig};
pub use spec::ValidPod;
pub use supervisor::{BackoffPolicy, Phase};
