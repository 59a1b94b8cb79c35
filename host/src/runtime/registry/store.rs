//! The local image store: content-addressed blobs under the cache directory, verified while
//! they stream to disk, and one record per pulled reference.
//!
//! ```text
//! <cache>/images/blobs/sha256/<hex>   manifests, configs and layers, by digest
//! <cache>/images/refs/<hex>.json      a pulled reference (hex: sha256 of its name)
//! <cache>/images/compiled/<hex>       marker: the layer <hex> has been compiled
//! <cache>/images/rootfs/<hex>/        a compat image's unpacked layers (<hex>: its manifest
//!                                     digest), read-only to guests: each instance copies it
//! <cache>/images/tmp/                 blobs being downloaded and roots being unpacked
//!                                     (removed when they fail; renamed into place when done)
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::unpack::UnpackError;

/// A pulled image, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageRecord {
    /// The normalised reference it was pulled as (`docker.io/library/app:1.0`).
    pub reference: String,
    /// `repo@sha256:<manifest digest>`, the `imageID` the kubelet reports.
    pub image_id: String,
    /// The digest of the image manifest.
    pub manifest_digest: String,
    /// The digest of the Wasm layer.
    pub layer_digest: String,
    /// The bytes of the manifest, config and layer.
    pub size: u64,
    /// `wasip1` (a core module), `wasip2` (a component), or `compat` (an OCI image whose
    /// entrypoint names a `.wasm` in its files).
    pub kind: String,
    /// Every blob the image holds (manifest, config, layer).
    pub blobs: Vec<String>,
    /// A compat image's config (`kind` is `compat`): its entrypoint names the `.wasm` in
    /// its root filesystem.
    #[serde(default)]
    pub config: Option<crate::plan::ImageConfig>,
}

/// The store's directory and operations.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
}

/// Why a blob could not be stored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BlobError {
    #[error("blob {digest} does not match its digest (got {actual}); it was discarded")]
    Mismatch { digest: String, actual: String },
    #[error("blob {digest} is larger than {limit} bytes")]
    TooLarge { digest: String, limit: u64 },
    #[error("image store: {0}")]
    Io(#[from] std::io::Error),
}

impl Store {
    /// The store under `cache_dir`.
    pub(crate) fn new(cache_dir: &Path) -> Store {
        Store {
            root: cache_dir.join("images"),
        }
    }

    /// The file of blob `digest` (`sha256:<hex>`); it may not exist.
    pub(crate) fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.root.join("blobs/sha256").join(hex)
    }

    /// Whether blob `digest` is stored.
    pub(crate) fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Starts writing blob `digest`, of at most `limit` bytes.
    pub(crate) fn blob_writer(&self, digest: &str, limit: u64) -> Result<BlobWriter, BlobError> {
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(self.root.join("blobs/sha256"))?;
        let (file, path) = tempfile::NamedTempFile::new_in(&tmp)?.into_parts();
        Ok(BlobWriter {
            file: tokio::fs::File::from_std(file),
            path,
            hasher: Sha256::new(),
            written: 0,
            limit,
            digest: digest.to_string(),
            dest: self.blob_path(digest),
        })
    }

    /// Stores a small blob held in memory (a manifest or config), verified.
    pub(crate) async fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<(), BlobError> {
        if self.has_blob(digest) {
            return Ok(());
        }
        let mut w = self.blob_writer(digest, bytes.len() as u64)?;
        w.write(bytes).await?;
        w.finish().await
    }

    fn ref_path(&self, reference: &str) -> PathBuf {
        let hex = hex(&Sha256::digest(reference.as_bytes()));
        self.root.join("refs").join(format!("{hex}.json"))
    }

    /// The record of `reference` (normalised), if it was pulled and its layer is stored.
    pub(crate) fn record(&self, reference: &str) -> Option<ImageRecord> {
        let bytes = std::fs::read(self.ref_path(reference)).ok()?;
        let record: ImageRecord = serde_json::from_slice(&bytes).ok()?;
        let unpacked = record.config.is_none() || self.has_rootfs(&record.manifest_digest);
        (record.reference == reference && self.has_blob(&record.layer_digest) && unpacked)
            .then_some(record)
    }

    /// The unpacked root filesystem of the compat image with manifest `digest`; it may not
    /// exist.
    pub(crate) fn rootfs_path(&self, manifest_digest: &str) -> PathBuf {
        let hex = manifest_digest
            .strip_prefix("sha256:")
            .unwrap_or(manifest_digest);
        self.root.join("rootfs").join(hex)
    }

    /// Whether the root filesystem of manifest `digest` is unpacked.
    pub(crate) fn has_rootfs(&self, manifest_digest: &str) -> bool {
        self.rootfs_path(manifest_digest).is_dir()
    }

    /// Unpacks `layers` (stored blobs, bottom first, with their compression) as the root
    /// filesystem of manifest `digest`, once: into a temporary directory renamed into place
    /// when complete, so that an interrupted unpack is never used. Blocking.
    ///
    /// # Errors
    /// The first layer's error (see `unpack`), or the store's.
    pub(crate) fn unpack_rootfs(
        &self,
        manifest_digest: &str,
        layers: &[(String, super::unpack::Compression)],
        limits: super::unpack::Limits,
    ) -> Result<PathBuf, UnpackError> {
        let dest = self.rootfs_path(manifest_digest);
        if dest.is_dir() {
            return Ok(dest);
        }
        let store_err = |e: std::io::Error| UnpackError::Refused(format!("image store: {e}"));
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(store_err)?;
        std::fs::create_dir_all(self.root.join("rootfs")).map_err(store_err)?;
        remove_stale(&tmp);
        let work = tempfile::Builder::new()
            .prefix("rootfs-")
            .tempdir_in(&tmp)
            .map_err(store_err)?;
        let dir = cap_std::fs::Dir::open_ambient_dir(work.path(), cap_std::ambient_authority())
            .map_err(store_err)?;
        let mut budget = super::unpack::Budget::default();
        for (digest, compression) in layers {
            let file = std::fs::File::open(self.blob_path(digest)).map_err(store_err)?;
            let reader = compression
                .reader(std::io::BufReader::new(file))
                .map_err(|e| UnpackError::Unreadable(format!("layer {digest}: {e}")))?;
            super::unpack::unpack_layer(&dir, reader, limits, &mut budget).map_err(
                |e| match e {
                    UnpackError::Unreadable(m) => {
                        UnpackError::Unreadable(format!("layer {digest}: {m}"))
                    }
                    UnpackError::Refused(m) => UnpackError::Refused(format!("layer {digest}: {m}")),
                },
            )?;
        }
        let path = work.keep();
        if let Err(e) = std::fs::rename(&path, &dest) {
            let _ = std::fs::remove_dir_all(&path);
            // Another process unpacked the same image meanwhile: use that one.
            if !dest.is_dir() {
                return Err(store_err(e));
            }
        }
        Ok(dest)
    }

    /// Records a pulled image (replacing an older pull of the same reference).
    pub(crate) fn put_record(&self, record: &ImageRecord) -> std::io::Result<()> {
        let path = self.ref_path(&record.reference);
        std::fs::create_dir_all(path.parent().expect("refs/"))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&tmp, &path)
    }

    /// Every pulled image, sorted by reference.
    pub(crate) fn records(&self) -> Vec<ImageRecord> {
        let Ok(dir) = std::fs::read_dir(self.root.join("refs")) else {
            return Vec::new();
        };
        let mut out: Vec<ImageRecord> = dir
            .flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect();
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        out
    }

    /// Removes `reference`'s record and the blobs no other record holds; `false` when it was
    /// not stored.
    pub(crate) fn remove(&self, reference: &str) -> std::io::Result<bool> {
        let Some(record) = self.record(reference).or_else(|| {
            let bytes = std::fs::read(self.ref_path(reference)).ok()?;
            serde_json::from_slice(&bytes).ok()
        }) else {
            return Ok(false);
        };
        std::fs::remove_file(self.ref_path(reference))?;
        let kept: std::collections::HashSet<String> =
            self.records().into_iter().flat_map(|r| r.blobs).collect();
        for blob in record.blobs.iter().filter(|b| !kept.contains(*b)) {
            let _ = std::fs::remove_file(self.blob_path(blob));
            let _ = std::fs::remove_file(self.compiled_marker(blob));
        }
        let rootfs = self.rootfs_path(&record.manifest_digest);
        if !kept.contains(&record.manifest_digest) && rootfs.is_dir() {
            // Out of its place at once (never seen half removed), then removed.
            let gone = self
                .root
                .join("tmp")
                .join(format!("removed-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(self.root.join("tmp"))?;
            std::fs::rename(&rootfs, &gone)?;
            std::fs::remove_dir_all(&gone)?;
        }
        Ok(true)
    }

    fn compiled_marker(&self, layer_digest: &str) -> PathBuf {
        let hex = layer_digest.strip_prefix("sha256:").unwrap_or(layer_digest);
        self.root.join("compiled").join(hex)
    }

    /// Notes that layer `digest` has been compiled (its code is in the compiled-code cache).
    pub(crate) fn mark_compiled(&self, layer_digest: &str) {
        let path = self.compiled_marker(layer_digest);
        if !path.exists() {
            let _ = std::fs::create_dir_all(self.root.join("compiled"));
            let _ = std::fs::write(path, b"");
        }
    }

    /// Whether layer `digest` has been compiled on this machine.
    pub(crate) fn is_compiled(&self, layer_digest: &str) -> bool {
        self.compiled_marker(layer_digest).exists()
    }
}

/// Removes what a process that died while unpacking or removing a root left in `tmp`: the
/// directories a day old (another process may be unpacking into a younger one).
fn remove_stale(tmp: &Path) {
    const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > DAY));
        if old && (name.starts_with("rootfs-") || name.starts_with("removed-")) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A blob being written: hashed and counted as it goes, moved into the store only when its
/// digest matches, deleted otherwise (dropping it deletes it too).
pub(crate) struct BlobWriter {
    file: tokio::fs::File,
    path: tempfile::TempPath,
    hasher: Sha256,
    written: u64,
    limit: u64,
    digest: String,
    dest: PathBuf,
}

impl BlobWriter {
    /// Appends `chunk`.
    pub(crate) async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.written += chunk.len() as u64;
        if self.written > self.limit {
            return Err(BlobError::TooLarge {
                digest: self.digest.clone(),
                limit: self.limit,
            });
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await?;
        Ok(())
    }

    /// The bytes written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Verifies the digest and moves the blob into the store.
    pub(crate) async fn finish(mut self) -> Result<(), BlobError> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        let actual = format!("sha256:{}", hex(&self.hasher.finalize()));
        if actual != self.digest {
            return Err(BlobError::Mismatch {
                digest: self.digest,
                actual,
            });
        }
        self.path.persist(&self.dest).map_err(|e| e.error)?;
        Ok(())
    }
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(bytes: &[u8]) -> String {
        format!("sha256:{}", hex(&Sha256::digest(bytes)))
    }

    #[tokio::test]
    async fn a_blob_is_stored_only_when_its_digest_matches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let good = digest_of(b"hello");
        let mut w = store.blob_writer(&good, 100).unwrap();
        w.write(b"hel").await.unwrap();
        w.write(b"lo").await.unwrap();
        assert_eq!(w.written(), 5);
        w.finish().await.unwrap();
        assert_eq!(std::fs::read(store.blob_path(&good)).unwrap(), b"hello");

        let other = digest_of(b"other");
        let mut w = store.blob_writer(&other, 100).unwrap();
        w.write(b"tampered").await.unwrap();
        let err = w.finish().await.unwrap_err();
        assert!(matches!(err, BlobError::Mismatch { .. }), "{err}");
        assert!(!store.has_blob(&other));
        // Nothing is left behind in tmp/.
        assert_eq!(
            std::fs::read_dir(dir.path().join("images/tmp"))
                .unwrap()
                .count(),
            0
        );

        let mut w = store.blob_writer(&other, 4).unwrap();
        let err = w.write(b"other").await.unwrap_err();
        assert!(matches!(err, BlobError::TooLarge { limit: 4, .. }), "{err}");
        drop(w);
        assert_eq!(
            std::fs::read_dir(dir.path().join("images/tmp"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn a_rootfs_is_unpacked_whole_or_not_at_all_and_removed_with_its_image() {
        use super::super::unpack::{Compression, Limits};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let tar = |name: &str| {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(2);
            h.set_mode(0o644);
            b.append_data(&mut h, name, &b"hi"[..]).unwrap();
            b.into_inner().unwrap()
        };
        let (good, broken) = (tar("etc/msg"), b"not a tar at all".repeat(64));
        let (good_d, broken_d) = (digest_of(&good), digest_of(&broken));
        store.put_blob(&good_d, &good).await.unwrap();
        store.put_blob(&broken_d, &broken).await.unwrap();
        let limits = Limits {
            bytes: 1 << 20,
            entries: 100,
        };
        let manifest = digest_of(b"manifest");
        // The second layer is not a tar: nothing is left, neither the root nor its temp dir.
        let layers = [
            (good_d.clone(), Compression::None),
            (broken_d.clone(), Compression::Gzip),
        ];
        let err = store.unpack_rootfs(&manifest, &layers, limits).unwrap_err();
        assert!(matches!(err, UnpackError::Unreadable(_)), "{err}");
        assert!(!store.has_rootfs(&manifest));
        assert_eq!(
            std::fs::read_dir(dir.path().join("images/tmp"))
                .unwrap()
                .count(),
            0
        );

        // What a dead process left a day ago goes; a younger unpack is left alone.
        let tmp = dir.path().join("images/tmp");
        for name in ["rootfs-dead", "rootfs-young", "removed-dead"] {
            std::fs::create_dir_all(tmp.join(name).join("etc")).unwrap();
        }
        let two_days = std::time::SystemTime::now() - std::time::Duration::from_secs(48 * 3600);
        for name in ["rootfs-dead", "removed-dead"] {
            std::fs::File::open(tmp.join(name))
                .unwrap()
                .set_modified(two_days)
                .unwrap();
        }
        let path = store
            .unpack_rootfs(&manifest, &layers[..1], limits)
            .unwrap();
        let left: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, ["rootfs-young"]);
        std::fs::remove_dir_all(tmp.join("rootfs-young")).unwrap();
        assert_eq!(std::fs::read_to_string(path.join("etc/msg")).unwrap(), "hi");
        let record = ImageRecord {
            reference: "r/compat:1".into(),
            image_id: format!("r/compat@{manifest}"),
            manifest_digest: manifest.clone(),
            layer_digest: good_d.clone(),
            size: 1,
            kind: "compat".into(),
            blobs: vec![manifest.clone(), good_d.clone()],
            config: Some(crate::plan::ImageConfig::default()),
        };
        store.put_record(&record).unwrap();
        assert!(store.record("r/compat:1").is_some());
        assert!(store.remove("r/compat:1").unwrap());
        assert!(!store.has_rootfs(&manifest));
        assert_eq!(
            std::fs::read_dir(dir.path().join("images/tmp"))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn records_list_and_remove_with_their_unshared_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let (shared, only_a) = (digest_of(b"layer"), digest_of(b"manifest-a"));
        store.put_blob(&shared, b"layer").await.unwrap();
        store.put_blob(&only_a, b"manifest-a").await.unwrap();
        let record = |name: &str, blobs: Vec<String>| ImageRecord {
            reference: name.into(),
            image_id: format!("{name}@{}", blobs[0]),
            manifest_digest: blobs[0].clone(),
            layer_digest: shared.clone(),
            size: 13,
            kind: "wasip2".into(),
            blobs,
            config: None,
        };
        store
            .put_record(&record("r/a:1", vec![only_a.clone(), shared.clone()]))
            .unwrap();
        store
            .put_record(&record("r/b:1", vec![shared.clone()]))
            .unwrap();
        assert_eq!(store.record("r/a:1").unwrap().kind, "wasip2");
        assert_eq!(store.records().len(), 2);
        store.mark_compiled(&shared);
        assert!(store.is_compiled(&shared));

        assert!(store.remove("r/a:1").unwrap());
        assert!(!store.has_blob(&only_a));
        assert!(store.has_blob(&shared), "still held by r/b:1");
        assert!(store.record("r/a:1").is_none());
        assert!(!store.remove("r/a:1").unwrap());
        assert!(store.remove("r/b:1").unwrap());
        assert!(!store.has_blob(&shared));
        assert!(!store.is_compiled(&shared));
    }
}
