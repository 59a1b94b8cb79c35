//! Pods as test fixtures, for `cargo test`: create one from YAML, wait for it, talk to it,
//! and let it go — the logs and events of a failing test's pods are printed with it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), wasmpod::testing::FixtureError> {
//! use wasmpod::testing::Fixture;
//!
//! let web = Fixture::start("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - {name: nginx, image: nginx, args: ['-p', '80']}\n").await?;
//! web.port(80).await?;
//! let page = web.get(80, "/").await?;
//! assert_eq!(page.status, 200);
//! # Ok(()) }
//! ```
//!
//! * Every fixture runs on one [`Runtime`] per test process ([`runtime`]): images are
//!   compiled once, whatever the number of tests. Each fixture has a namespace of its own
//!   (unless its manifest names one) and, as every pod, its own network: parallel tests
//!   never meet.
//! * Waits ([`Fixture::ready`], [`started`](Fixture::started), [`log`](Fixture::log),
//!   [`port`](Fixture::port), [`exited`](Fixture::exited), [`ended`](Fixture::ended)) give
//!   up after the fixture's timeout (60 s, [`Fixture::with_timeout`]) or as soon as the pod
//!   ended without what they wait for, with a [`WaitError`] that says what was awaited and
//!   shows the pod's status and last output and events.
//! * Talking to the pod needs no host port: [`Fixture::connect`] (a stream into the pod's
//!   network), [`Fixture::http`] (an HTTP/1.1 request over it, by hyper) and
//!   [`Fixture::exec`] (a command in a fresh instance of a container's image).
//! * Dropping a fixture kills its pod at once ([`PodHandle::kill`]); during a panic it
//!   first prints the pod's output and events, so a red CI run shows why. Its run
//!   directory is removed when the pod has stopped.

mod http;
mod job;
mod journal;
mod wait;

pub use http::{Request, Response};
pub use job::JobFixture;
pub use wait::WaitError;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use crate::spec::ConfigObject;
use crate::{
    Error, ExecOutput, PodHandle, PodStream, RunOptions, Runtime, RuntimeConfig, ValidPod,
};
use journal::Journal;

/// The runtime every fixture of this process runs on (made on first use).
///
/// # Panics
/// If the runtime cannot be set up (no engine on this machine).
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("a wasmpod runtime"))
}

/// Why a fixture failed: it could not be created, a wait gave up, or talking to it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// The manifest is invalid or the pod could not be created.
    #[error(transparent)]
    Create(#[from] Error),
    /// The manifest holds no Pod, or an object could not be applied.
    #[error("{0}")]
    Manifest(String),
    /// A wait gave up.
    #[error(transparent)]
    Wait(#[from] Box<WaitError>),
    /// A connection or an HTTP exchange with the pod failed.
    #[error("{what}: {message}")]
    Talk {
        /// What was tried (`GET / on port 80`).
        what: String,
        /// Why it failed.
        message: String,
    },
}

/// A pod created for a test, running until the fixture is dropped.
pub struct Fixture {
    handle: PodHandle,
    journal: Arc<Journal>,
    timeout: Duration,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("pod", &self.handle.name())
            .finish_non_exhaustive()
    }
}

impl Fixture {
    /// Creates and starts the Pod of `yaml`, after applying the ConfigMaps and Secrets it
    /// holds. Without a namespace, the pod and those objects get one of the fixture's own.
    ///
    /// # Errors
    /// [`FixtureError::Create`] for an invalid manifest or a pod that cannot be created
    /// (an image that does not load), [`FixtureError::Manifest`] for a file without exactly
    /// one Pod.
    pub async fn start(yaml: &str) -> Result<Fixture, FixtureError> {
        let file = crate::spec::load(yaml).map_err(Error::from)?;
        let [pod] = <[ValidPod; 1]>::try_from(file.pods).map_err(|pods| {
            FixtureError::Manifest(format!(
                "a fixture's manifest holds one Pod (this one holds {})",
                pods.len()
            ))
        })?;
        Self::create(pod.document.pod, file.objects).await
    }

    /// Creates and starts a typed Pod.
    ///
    /// # Errors
    /// As [`Fixture::start`].
    pub async fn start_pod(pod: Pod) -> Result<Fixture, FixtureError> {
        Self::create(pod, Vec::new()).await
    }

    async fn create(mut pod: Pod, objects: Vec<ConfigObject>) -> Result<Fixture, FixtureError> {
        let namespace = match &pod.metadata.namespace {
            Some(ns) => ns.clone(),
            None => {
                let ns = fresh_namespace();
                pod.metadata.namespace = Some(ns.clone());
                ns
            }
        };
        for object in objects {
            let object = in_namespace(object, &namespace);
            runtime()
                .cluster()
                .apply(object)
                .map_err(|e| FixtureError::Manifest(e.to_string()))?;
        }
        let pod = ValidPod::from_pod(pod).map_err(Error::from)?;
        let handle = runtime().create(pod, RunOptions::default()).await?;
        let journal = Journal::follow(&handle);
        handle.start();
        Ok(Fixture {
            handle,
            journal,
            timeout: Duration::from_secs(60),
        })
    }

    /// How long a wait may take before it gives up (default 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The pod's handle, for everything else.
    pub fn handle(&self) -> &PodHandle {
        &self.handle
    }

    /// The pod with its current status (a shared snapshot, as [`PodHandle::pod`]).
    pub fn pod(&self) -> Arc<Pod> {
        self.handle.pod()
    }

    /// A TCP stream to `port` in the pod's network.
    ///
    /// # Errors
    /// [`FixtureError::Talk`] when nothing listens there.
    pub async fn connect(&self, port: u16) -> Result<PodStream, FixtureError> {
        self.handle
            .connect(port)
            .await
            .map_err(|e| FixtureError::Talk {
                what: format!("connect to port {port}"),
                message: e.to_string(),
            })
    }

    /// Runs `argv` in a fresh instance of `container`'s image (see [`PodHandle::exec`]).
    ///
    /// # Errors
    /// [`FixtureError::Create`] with [`Error::Exec`] when the container is not running.
    pub async fn exec<S: Into<String>>(
        &self,
        container: &str,
        argv: impl IntoIterator<Item = S>,
    ) -> Result<ExecOutput, FixtureError> {
        Ok(self.handle.exec(container, argv).await?)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.journal.report(&self.handle.pod()));
        }
        self.handle.kill();
    }
}

/// A namespace no other fixture of this process has.
fn fresh_namespace() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "fixture-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `object`, moved to `namespace` unless it names one.
fn in_namespace(object: ConfigObject, namespace: &str) -> ConfigObject {
    match object {
        ConfigObject::ConfigMap(mut c) => {
            c.metadata
                .namespace
                .get_or_insert_with(|| namespace.to_owned());
            ConfigObject::ConfigMap(c)
        }
        ConfigObject::Secret(mut s) => {
            s.metadata
                .namespace
                .get_or_insert_with(|| namespace.to_owned());
            ConfigObject::Secret(s)
        }
        ConfigObject::Service(mut s) => {
            s.metadata
                .namespace
                .get_or_insert_with(|| namespace.to_owned());
            ConfigObject::Service(s)
        }
    }
}
