//! Images from OCI registries: pulls (one at a time per image, shared by every pod that
//! wants it), the pull policy, credentials, and the local image store.
//!
//! Wasm artifacts are run from their layer; "compat" images (ordinary OCI images whose tar
//! layers hold the `.wasm` their entrypoint names) are unpacked once into the store
//! (`unpack`) and run from the file their entrypoint names (`compat`), each container's
//! private root starting as a copy of their files (`sandbox::fs`).

mod auth;
mod compat;
mod progress;
mod pull;
mod push;
mod store;
mod unpack;

pub use auth::{Credential, PullSecret, SecretError};
pub use progress::LayerProgress;
pub use store::ImageRecord;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::Runtime;
use crate::container::ImageError;
use crate::plan::{ImageRef, ImageSource, PullPolicy};
use crate::sync::lock;
use store::Store;

/// How a container's image got to the machine, for its `Pulling`/`Pulled` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PullReport {
    /// Pulled now: how long the pull took, and how long including waiting for another pod's
    /// pull of the same image; the image's size.
    Pulled {
        took: Duration,
        including_waiting: Duration,
        size: u64,
    },
    /// In the store already (`IfNotPresent`, `Never`).
    Present,
}

impl PullReport {
    /// The kubelet's `Pulled` message for `image` (as the spec writes it).
    pub(crate) fn message(&self, image: &str) -> String {
        match self {
            PullReport::Pulled {
                took,
                including_waiting,
                size,
            } => format!(
                "Successfully pulled image {image:?} in {} ({} including waiting). \
                 Image size: {size} bytes.",
                seconds(*took),
                seconds(*including_waiting)
            ),
            PullReport::Present => format!(
                "Container image {image:?} already present on machine and can be accessed by the pod"
            ),
        }
    }
}

/// A duration as the kubelet prints one (Go's `time.Duration`, rounded to milliseconds).
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        let s = format!("{:.3}", d.as_secs_f64());
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// The result of one pull, shared by everyone who waited for it.
type Shared = Result<(ImageRecord, Duration), String>;

/// The runtime's registry client state and image store.
pub(crate) struct Registry {
    store: Store,
    /// Holds the store when the runtime has no cache directory.
    _temp: Option<tempfile::TempDir>,
    insecure: Vec<String>,
    max_layer_bytes: u64,
    progress: progress::Board,
    inflight: Mutex<HashMap<String, Arc<OnceCell<Shared>>>>,
}

impl Registry {
    /// The store under `cache_dir` (a temporary directory when there is none).
    pub(crate) fn new(
        cache_dir: Option<&Path>,
        insecure: Vec<String>,
        max_layer_bytes: u64,
    ) -> Registry {
        // TLS through rustls with the ring provider (unless the process installed another).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let temp = match cache_dir {
            Some(_) => None,
            None => tempfile::Builder::new()
                .prefix("wasmpod-images-")
                .tempdir()
                .ok(),
        };
        let dir = cache_dir
            .map(Path::to_path_buf)
            .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
            .unwrap_or_else(std::env::temp_dir);
        Registry {
            store: Store::new(&dir),
            _temp: temp,
            insecure,
            max_layer_bytes,
            progress: progress::Board::default(),
            inflight: Mutex::default(),
        }
    }

    /// Whether `registry` (`host[:port]`) is reached over plain HTTP: loopback (Docker's
    /// rule: `localhost`, `127.0.0.0/8`, `::1`) or named as insecure.
    fn insecure(&self, registry: &str) -> bool {
        let host = match registry.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => registry.split(':').next().unwrap_or(registry),
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
            || self.insecure.iter().any(|i| i == registry || i == host)
    }

    /// Makes the image of `reference` present as `policy` says, pulling it if need be.
    pub(crate) async fn ensure(
        &self,
        image: &str,
        reference: &ImageRef,
        policy: PullPolicy,
        secrets: &[PullSecret],
    ) -> Result<(ImageRecord, PullReport), ImageError> {
        let stored = match policy {
            PullPolicy::Always => None,
            PullPolicy::IfNotPresent | PullPolicy::Never => {
                self.store.record(&reference.to_string())
            }
        };
        match (policy, stored) {
            (_, Some(record)) => Ok((record, PullReport::Present)),
            (PullPolicy::Never, None) => Err(ImageError::NeverPull {
                image: image.to_string(),
            }),
            _ => {
                let since = Instant::now();
                let (record, took) =
                    self.pull(reference, secrets)
                        .await
                        .map_err(|message| ImageError::Pull {
                            image: image.to_string(),
                            message,
                        })?;
                let size = record.size;
                Ok((
                    record,
                    PullReport::Pulled {
                        took,
                        including_waiting: since.elapsed(),
                        size,
                    },
                ))
            }
        }
    }

    /// Pulls `reference`, or waits for the pull of it under way and shares its result.
    async fn pull(&self, reference: &ImageRef, secrets: &[PullSecret]) -> Shared {
        let key = reference.to_string();
        let cell = {
            let mut inflight = lock(&self.inflight);
            inflight.entry(key.clone()).or_default().clone()
        };
        let result = cell
            .get_or_init(|| async {
                let started = Instant::now();
                let docker_config = PullSecret::from_default_docker_config();
                let credential =
                    auth::credential_for(secrets, docker_config.as_ref(), &reference.registry);
                let request = pull::Request {
                    reference,
                    credential,
                    insecure: self.insecure(&reference.registry),
                    max_layer_bytes: self.max_layer_bytes,
                    progress: &self.progress,
                };
                let pulled = pull::pull(&self.store, request).await;
                if pulled.is_err() {
                    self.progress.forget_unfinished(&key);
                }
                pulled.map(|record| (record, started.elapsed()))
            })
            .await
            .clone();
        // Finished: the next pull of this image (policy Always) goes to the registry again.
        let mut inflight = lock(&self.inflight);
        if inflight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(&key);
        }
        result
    }

    /// The file of a stored image's Wasm layer.
    pub(crate) fn layer_path(&self, reference: &ImageRef) -> Option<std::path::PathBuf> {
        let record = self.store.record(&reference.to_string())?;
        Some(self.store.blob_path(&record.layer_digest))
    }

    /// Whether the stored image of `reference` is a compat image.
    pub(crate) fn is_compat(&self, reference: &ImageRef) -> bool {
        self.store
            .record(&reference.to_string())
            .is_some_and(|r| r.config.is_some())
    }

    /// The unpacked root filesystem of the compat image `record`.
    pub(crate) fn rootfs(&self, record: &ImageRecord) -> std::path::PathBuf {
        self.store.rootfs_path(&record.manifest_digest)
    }

    /// Notes that `record`'s code is compiled.
    pub(crate) fn mark_compiled_record(&self, record: &ImageRecord) {
        self.store.mark_compiled(&record.layer_digest);
    }

    /// Notes that `reference`'s layer is compiled.
    pub(crate) fn mark_compiled(&self, reference: &ImageRef) {
        if let Some(record) = self.store.record(&reference.to_string()) {
            self.store.mark_compiled(&record.layer_digest);
        }
    }
}

/// A stored image, as `wasmpod images` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredImage {
    /// The image's record.
    pub record: ImageRecord,
    /// Whether its code has been compiled on this machine (a start needs no compile).
    pub compiled: bool,
}

impl Runtime {
    /// Pulls `image` (an OCI reference) into the local image store, whatever is there, with
    /// the credentials of `secrets` and of the Docker config file.
    ///
    /// # Errors
    /// [`ImageError::InvalidName`] for a name that is not a reference (a file, a built-in, a
    /// malformed name), [`ImageError::Pull`] with the registry's reason, or for a compat image
    /// whose default entrypoint is not a Wasm file (it stays in the store).
    pub async fn pull_image(
        &self,
        image: &str,
        secrets: &[PullSecret],
    ) -> Result<ImageRecord, ImageError> {
        let reference = registry_reference(image)?;
        let (record, _) = self
            .inner
            .registry
            .ensure(image, &reference, PullPolicy::Always, secrets)
            .await?;
        // A compat image: its default entrypoint must be Wasm (a pod may name another file).
        if let Some(config) = &record.config {
            let rootfs = self.inner.registry.rootfs(&record);
            compat::check_default(&rootfs, config).map_err(|message| ImageError::Pull {
                image: image.to_string(),
                message,
            })?;
        }
        Ok(record)
    }

    /// Makes a container's image present as its pull policy says (a registry image; other
    /// sources need nothing). `None` when the image is not a registry image.
    pub(crate) async fn ensure_image(
        &self,
        image: &str,
        source: &ImageSource,
        policy: PullPolicy,
        secrets: &[PullSecret],
    ) -> Result<Option<(ImageRecord, PullReport)>, ImageError> {
        match source {
            ImageSource::Registry(r) => self
                .inner
                .registry
                .ensure(image, r, policy, secrets)
                .await
                .map(Some),
            _ => Ok(None),
        }
    }

    /// The unpacked root filesystem of the compat image `record` in the image store.
    pub(crate) fn image_rootfs(&self, record: &ImageRecord) -> std::path::PathBuf {
        self.inner.registry.rootfs(record)
    }

    /// Pushes the `.wasm` file `file` (a wasip2 component or wasip1 module) to `image` as a
    /// CNCF TAG-Runtime Wasm artifact, with the credentials of `secrets` and of the Docker
    /// config file; the manifest digest.
    ///
    /// # Errors
    /// [`ImageError::InvalidName`] for a name that is not a reference, the file's read
    /// errors, [`ImageError::Push`] with the registry's reason.
    pub async fn push_image(
        &self,
        file: &Path,
        image: &str,
        secrets: &[PullSecret],
    ) -> Result<String, ImageError> {
        let reference = registry_reference(image)?;
        let path = file.to_path_buf();
        let wasm = tokio::task::spawn_blocking(move || crate::container::image::read_file(&path))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let docker_config = PullSecret::from_default_docker_config();
        let credential = auth::credential_for(secrets, docker_config.as_ref(), &reference.registry);
        let insecure = self.inner.registry.insecure(&reference.registry);
        push::push(wasm, &reference, credential, insecure)
            .await
            .map_err(|message| ImageError::Push {
                image: image.to_string(),
                message,
            })
    }

    /// The images in the local store.
    pub fn images(&self) -> Vec<StoredImage> {
        let store = &self.inner.registry.store;
        store
            .records()
            .into_iter()
            .map(|record| StoredImage {
                compiled: store.is_compiled(&record.layer_digest),
                record,
            })
            .collect()
    }

    /// Removes `image` from the local store (and the blobs no other image holds); `false`
    /// when it was not there.
    ///
    /// # Errors
    /// [`ImageError::InvalidName`] for a name that is not a reference; [`ImageError::Read`]
    /// when the store cannot be changed.
    pub fn remove_image(&self, image: &str) -> Result<bool, ImageError> {
        let reference = registry_reference(image)?;
        self.inner
            .registry
            .store
            .remove(&reference.to_string())
            .map_err(|cause| ImageError::Read {
                path: self.inner.registry.store.blob_path(""),
                cause,
            })
    }

    /// The layers being downloaded and the last finished ones, for a progress display.
    pub fn pulls(&self) -> tokio::sync::watch::Receiver<Vec<LayerProgress>> {
        self.inner.registry.progress.subscribe()
    }
}

/// `image` as a registry reference, or why it is not one.
fn registry_reference(image: &str) -> Result<ImageRef, ImageError> {
    match crate::plan::resolve_image(image, Path::new(".")) {
        ImageSource::Registry(r) => Ok(r),
        ImageSource::Invalid { message } => Err(ImageError::InvalidName { message }),
        other => Err(ImageError::InvalidName {
            message: format!("{image:?} is not a registry reference (it names {other})"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_named_hosts() {
        let r = Registry::new(None, vec!["reg.lan:5000".into(), "plain.io".into()], 1);
        for yes in [
            "localhost:5000",
            "localhost",
            "127.0.0.1:5000",
            "127.8.9.1",
            "[::1]:5000",
            "reg.lan:5000",
            "plain.io:443",
        ] {
            assert!(r.insecure(yes), "{yes}");
        }
        for no in [
            "docker.io",
            "ghcr.io",
            "10.0.0.1:5000",
            "reg.lan:5001",
            "localhost.evil.io",
        ] {
            assert!(!r.insecure(no), "{no}");
        }
    }

    #[test]
    fn pulled_messages_are_the_kubelets() {
        let report = PullReport::Pulled {
            took: Duration::from_millis(1200),
            including_waiting: Duration::from_millis(1500),
            size: 42,
        };
        assert_eq!(
            report.message("app:1"),
            "Successfully pulled image \"app:1\" in 1.2s (1.5s including waiting). Image size: 42 bytes."
        );
        assert_eq!(seconds(Duration::from_millis(340)), "340ms");
        assert_eq!(seconds(Duration::from_secs(2)), "2s");
        assert!(
            PullReport::Present
                .message("x")
                .contains("already present on machine")
        );
    }

    #[test]
    fn only_references_are_pulled_or_removed() {
        let err = registry_reference("./app.wasm").unwrap_err();
        assert_eq!(err.reason(), "InvalidImageName");
        assert!(
            err.to_string().contains("not a registry reference"),
            "{err}"
        );
        assert!(registry_reference("localhost:5000/app:1").is_ok());
    }
}
