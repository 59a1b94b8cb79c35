//! One pull with `oci-client`: the manifest (an index resolves to its `wasi/wasm` entry),
//! the format check, and the blobs streamed into the store.
//!
//! Formats read: the CNCF TAG-Runtime Wasm artifact (config
//! `application/vnd.wasm.config.v0+json`, one `application/wasm` layer) and runwasi's older
//! layer type `application/vnd.bytecodealliance.wasm.component.layer.v0+wasm`; and "compat"
//! images: an OCI or Docker image config with `tar`, `tar+gzip` or `tar+zstd` layers (OCI or
//! Docker media types), unpacked into a root filesystem in the store (see `compat` and
//! `unpack`). Anything else is an error naming what the manifest holds.

use std::time::Instant;

use futures_util::StreamExt as _;
use oci_client::RegistryOperation;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::auth::Credential;
use super::compat::{DOCKER_CONFIG, OCI_CONFIG};
use super::progress::{Board, LayerProgress};
use super::store::{ImageRecord, Store, hex};
use super::unpack::{Compression, Limits, UnpackError};
use crate::plan::ImageRef;

/// The TAG-Runtime Wasm config.
pub(crate) const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The TAG-Runtime Wasm layer.
pub(crate) const WASM_LAYER: &str = "application/wasm";
/// runwasi's older component layer.
pub(crate) const RUNWASI_LAYER: &str =
    "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const ACCEPT: &[&str] = &[OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// The largest manifest or config read into memory.
const MAX_SMALL_BLOB: u64 = 4 * 1024 * 1024;

/// The most files (tar entries, across layers) a compat image may hold.
pub(crate) const MAX_IMAGE_FILES: u64 = 200_000;

/// What one pull needs.
pub(crate) struct Request<'a> {
    pub reference: &'a ImageRef,
    pub credential: Option<Credential>,
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    pub max_layer_bytes: u64,
    pub progress: &'a Board,
}

/// Pulls `req.reference` into `store` and records it.
///
/// # Errors
/// The registry's reason, without any credential.
pub(crate) async fn pull(store: &Store, req: Request<'_>) -> Result<ImageRecord, String> {
    let secret = req.credential.as_ref().map(|c| c.password().to_string());
    pull_inner(store, &req)
        .await
        .map_err(|message| match &secret {
            // oci-client's messages hold URLs, not credentials; make sure of it.
            Some(s) if !s.is_empty() => message.replace(s.as_str(), "<redacted>"),
            _ => message,
        })
}

async fn pull_inner(store: &Store, req: &Request<'_>) -> Result<ImageRecord, String> {
    let r = req.reference;
    let client = Client::new(ClientConfig {
        protocol: if req.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        platform_resolver: None,
        connect_timeout: Some(std::time::Duration::from_secs(30)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        user_agent: concat!("wasmpod/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    });
    let auth = match &req.credential {
        Some(c) => RegistryAuth::Basic(c.username.clone(), c.password().to_string()),
        None => RegistryAuth::Anonymous,
    };
    let oref = match (&r.digest, &r.tag) {
        (Some(d), _) => Reference::with_digest(r.registry.clone(), r.repository.clone(), d.clone()),
        (None, _) => Reference::with_tag(
            r.registry.clone(),
            r.repository.clone(),
            r.tag_or_latest().to_string(),
        ),
    };
    if req.credential.is_some() {
        super::auth::sign_in(&client, &oref, &auth, RegistryOperation::Pull).await?;
    }
    let (mut bytes, mut digest) = manifest(&client, &oref, &auth, r.digest.as_deref()).await?;
    let mut blobs = Vec::new();
    let mut value: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    if value.get("manifests").is_some() {
        store
            .put_blob(&digest, &bytes)
            .await
            .map_err(|e| e.to_string())?;
        blobs.push(digest.clone());
        let entry = wasm_entry(&value)?;
        let by_digest = oref.clone_with_digest(entry.clone());
        (bytes, digest) = manifest(&client, &by_digest, &auth, Some(&entry)).await?;
        value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("the manifest {entry} is not JSON: {e}"))?;
    }
    let found = Found::read(&value)?;
    if found.is_compat() {
        return pull_compat(store, req, &client, &oref, &found, (&bytes, digest), blobs).await;
    }
    let layer = found.wasm_layer()?;
    let layer_size = layer.size;
    if layer_size > req.max_layer_bytes {
        return Err(format!(
            "layer {} is {layer_size} bytes, over the limit of {} bytes \
             (RuntimeConfig::max_layer_bytes)",
            layer.digest, req.max_layer_bytes
        ));
    }
    store
        .put_blob(&digest, &bytes)
        .await
        .map_err(|e| e.to_string())?;
    blobs.push(digest.clone());
    let config_size = found.config.size;
    if !store.has_blob(&found.config.digest) {
        if config_size > MAX_SMALL_BLOB {
            return Err(format!("the config is {config_size} bytes, too large"));
        }
        download(&client, &oref, store, req, &found.config, false).await?;
    }
    blobs.push(found.config.digest.clone());
    if !store.has_blob(&layer.digest) {
        download(&client, &oref, store, req, layer, true).await?;
    }
    blobs.push(layer.digest.clone());
    let kind = wasm_kind(&store.blob_path(&layer.digest))?;
    let record = ImageRecord {
        reference: r.to_string(),
        image_id: format!("{}@{digest}", r.name()),
        manifest_digest: digest,
        layer_digest: layer.digest.clone(),
        size: bytes.len() as u64 + config_size + layer_size,
        kind: kind.into(),
        blobs,
        config: None,
    };
    store
        .put_record(&record)
        .map_err(|e| format!("image store: {e}"))?;
    Ok(record)
}

/// Pulls a compat image: its config, its tar layers (each streamed to disk and verified),
/// then its root filesystem unpacked in the store once.
async fn pull_compat(
    store: &Store,
    req: &Request<'_>,
    client: &Client,
    oref: &Reference,
    found: &Found,
    (manifest, digest): (&[u8], String),
    mut blobs: Vec<String>,
) -> Result<ImageRecord, String> {
    let r = req.reference;
    if let Some(big) = found.layers.iter().find(|l| l.size > req.max_layer_bytes) {
        return Err(format!(
            "layer {} is {} bytes, over the limit of {} bytes (RuntimeConfig::max_layer_bytes)",
            big.digest, big.size, req.max_layer_bytes
        ));
    }
    store
        .put_blob(&digest, manifest)
        .await
        .map_err(|e| e.to_string())?;
    blobs.push(digest.clone());
    if found.config.size > MAX_SMALL_BLOB {
        return Err(format!(
            "the config is {} bytes, too large",
            found.config.size
        ));
    }
    if !store.has_blob(&found.config.digest) {
        download(client, oref, store, req, &found.config, false).await?;
    }
    blobs.push(found.config.digest.clone());
    let config = std::fs::read(store.blob_path(&found.config.digest))
        .map_err(|e| format!("image store: {e}"))?;
    let config = super::compat::read_config(&config)?;
    let mut layers = Vec::new();
    for layer in &found.layers {
        if !store.has_blob(&layer.digest) {
            download(client, oref, store, req, layer, true).await?;
        }
        blobs.push(layer.digest.clone());
        let compression = Compression::of(&layer.media_type).expect("checked by is_compat");
        layers.push((layer.digest.clone(), compression));
    }
    let limits = Limits {
        bytes: req.max_layer_bytes,
        entries: MAX_IMAGE_FILES,
    };
    let (unpacking, manifest_digest) = (store.clone(), digest.clone());
    tokio::task::spawn_blocking(move || unpacking.unpack_rootfs(&manifest_digest, &layers, limits))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
        .map_err(|e| match e {
            UnpackError::Unreadable(why) => format!("{}: {why}", found.not_wasm()),
            UnpackError::Refused(why) => why,
        })?;
    let size = manifest.len() as u64
        + found.config.size
        + found.layers.iter().map(|l| l.size).sum::<u64>();
    let record = ImageRecord {
        reference: r.to_string(),
        image_id: format!("{}@{digest}", r.name()),
        layer_digest: found
            .layers
            .last()
            .map_or(found.config.digest.clone(), |l| l.digest.clone()),
        manifest_digest: digest,
        size,
        kind: "compat".into(),
        blobs,
        config: Some(config),
    };
    store
        .put_record(&record)
        .map_err(|e| format!("image store: {e}"))?;
    Ok(record)
}

/// Fetches a manifest and checks its digest (against `expected` when the reference has one).
async fn manifest(
    client: &Client,
    oref: &Reference,
    auth: &RegistryAuth,
    expected: Option<&str>,
) -> Result<(bytes::Bytes, String), String> {
    let (bytes, digest) = client
        .pull_manifest_raw(oref, auth, ACCEPT)
        .await
        .map_err(|e| crate::report::chain(&e))?;
    if bytes.len() as u64 > MAX_SMALL_BLOB {
        return Err(format!("the manifest is {} bytes, too large", bytes.len()));
    }
    let actual = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
    let want = expected.unwrap_or(&digest);
    if actual != want {
        return Err(format!(
            "the manifest does not match its digest {want} (got {actual})"
        ));
    }
    Ok((bytes, actual))
}

/// The digest of an index's `wasi/wasm` entry (os `wasip1`, `wasip2` or `wasi`).
fn wasm_entry(index: &Value) -> Result<String, String> {
    let entries = index["manifests"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let platform = |e: &Value| {
        let p = &e["platform"];
        (
            p["os"].as_str().unwrap_or("?").to_string(),
            p["architecture"].as_str().unwrap_or("?").to_string(),
        )
    };
    if let Some(entry) = entries.iter().find(|e| {
        let (os, arch) = platform(e);
        arch == "wasm" && matches!(os.as_str(), "wasi" | "wasip1" | "wasip2")
    }) {
        return entry["digest"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "the index's wasi/wasm entry has no digest".into());
    }
    let found: Vec<String> = entries
        .iter()
        .map(|e| {
            let (os, arch) = platform(e);
            format!("{os}/{arch}")
        })
        .collect();
    Err(format!(
        "the image index has no wasi/wasm platform (it has {})",
        if found.is_empty() {
            "no entries".to_string()
        } else {
            found.join(", ")
        }
    ))
}

/// A descriptor: media type, digest, size.
#[derive(Debug)]
struct Descriptor {
    media_type: String,
    digest: String,
    size: u64,
}

impl Descriptor {
    fn read(v: &Value) -> Result<Descriptor, String> {
        let digest = v["digest"].as_str().ok_or("a descriptor has no digest")?;
        if !digest.starts_with("sha256:") || digest.len() != 71 {
            return Err(format!(
                "unsupported digest {digest:?} (wasmpod verifies sha256)"
            ));
        }
        Ok(Descriptor {
            media_type: v["mediaType"].as_str().unwrap_or_default().to_string(),
            digest: digest.to_string(),
            size: v["size"].as_u64().ok_or("a descriptor has no size")?,
        })
    }
}

/// An image manifest's config and layers.
struct Found {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

impl Found {
    fn read(manifest: &Value) -> Result<Found, String> {
        Ok(Found {
            config: Descriptor::read(&manifest["config"])?,
            layers: manifest["layers"]
                .as_array()
                .ok_or("the manifest has no layers")?
                .iter()
                .map(Descriptor::read)
                .collect::<Result<_, _>>()?,
        })
    }

    /// `not a Wasm image: config <type>, layers [<types>]`.
    pub(super) fn not_wasm(&self) -> String {
        let layers: Vec<&str> = self.layers.iter().map(|l| l.media_type.as_str()).collect();
        format!(
            "not a Wasm image: config {}, layers [{}]",
            self.config.media_type,
            layers.join(", ")
        )
    }

    /// Whether this is a compat image: an OCI or Docker image config and tar layers only.
    fn is_compat(&self) -> bool {
        matches!(self.config.media_type.as_str(), OCI_CONFIG | DOCKER_CONFIG)
            && self
                .layers
                .iter()
                .all(|l| Compression::of(&l.media_type).is_some())
    }

    /// The one Wasm layer, or what was found instead.
    fn wasm_layer(&self) -> Result<&Descriptor, String> {
        let wasm: Vec<&Descriptor> = self
            .layers
            .iter()
            .filter(|l| l.media_type == WASM_LAYER || l.media_type == RUNWASI_LAYER)
            .collect();
        match wasm.as_slice() {
            [one] => Ok(one),
            [] => Err(format!(
                "{}; wasmpod runs Wasm artifacts (config {WASM_CONFIG} with a layer \
                 {WASM_LAYER}, or a layer {RUNWASI_LAYER}) and OCI images whose tar layers \
                 hold the .wasm their entrypoint names",
                self.not_wasm()
            )),
            many => Err(format!(
                "the image has {} Wasm layers; wasmpod runs images with one",
                many.len()
            )),
        }
    }
}

/// Streams a blob into the store, never more than its declared size, verifying its digest;
/// a layer's progress is reported.
async fn download(
    client: &Client,
    oref: &Reference,
    store: &Store,
    req: &Request<'_>,
    blob: &Descriptor,
    report: bool,
) -> Result<(), String> {
    let (digest, size) = (blob.digest.as_str(), blob.size);
    let mut stream = client
        .pull_blob_stream(oref, digest)
        .await
        .map_err(|e| format!("layer {digest}: {}", crate::report::chain(&e)))?;
    let mut writer = store
        .blob_writer(digest, size.min(req.max_layer_bytes))
        .map_err(|e| e.to_string())?;
    let since = Instant::now();
    let mut entry = LayerProgress {
        reference: req.reference.to_string(),
        digest: digest.to_string(),
        bytes: 0,
        total: size,
        since,
        done: false,
    };
    let update = |entry: &LayerProgress| {
        if report {
            req.progress.update(entry);
        }
    };
    update(&entry);
    let mut reported = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("layer {digest}: {}", crate::report::chain(&e)))?;
        writer.write(&chunk).await.map_err(|e| e.to_string())?;
        if writer.written() - reported >= 256 * 1024 {
            reported = writer.written();
            entry.bytes = reported;
            update(&entry);
        }
    }
    entry.bytes = writer.written();
    writer.finish().await.map_err(|e| e.to_string())?;
    entry.done = true;
    update(&entry);
    Ok(())
}

/// `wasip2` for a component, `wasip1` for a core module, read from the layer's header.
fn wasm_kind(path: &std::path::Path) -> Result<&'static str, String> {
    use std::io::Read as _;
    let mut header = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .map_err(|_| "the Wasm layer is not a WebAssembly binary".to_string())?;
    if wasmparser::Parser::is_component(&header) {
        Ok("wasip2")
    } else if wasmparser::Parser::is_core_wasm(&header) {
        Ok("wasip1")
    } else {
        Err("the Wasm layer is not a WebAssembly binary".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    #[test]
    fn the_wasi_entry_of_an_index_is_chosen() {
        let index = serde_json::json!({"manifests": [
            {"digest": d(1), "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": d(2), "platform": {"os": "wasip2", "architecture": "wasm"}},
        ]});
        assert_eq!(wasm_entry(&index).unwrap(), d(2));
        let index = serde_json::json!({"manifests": [
            {"digest": d(1), "platform": {"os": "linux", "architecture": "amd64"}},
            {"digest": d(3), "platform": {"os": "linux", "architecture": "arm64"}},
        ]});
        assert_eq!(
            wasm_entry(&index).unwrap_err(),
            "the image index has no wasi/wasm platform (it has linux/amd64, linux/arm64)"
        );
    }

    #[test]
    fn the_wasm_layer_is_found_or_what_is_there_is_named() {
        let m = |layer: &str| {
            serde_json::json!({
                "config": {"mediaType": WASM_CONFIG, "digest": d(1), "size": 2},
                "layers": [{"mediaType": layer, "digest": d(2), "size": 3}],
            })
        };
        for ok in [WASM_LAYER, RUNWASI_LAYER] {
            assert_eq!(
                Found::read(&m(ok)).unwrap().wasm_layer().unwrap().digest,
                d(2)
            );
        }
        let elf = serde_json::json!({
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": d(1), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d(2), "size": 3}],
        });
        let err = Found::read(&elf).unwrap().wasm_layer().unwrap_err();
        assert!(err.starts_with("not a Wasm image: config application/vnd.oci.image.config.v1+json, layers [application/vnd.oci.image.layer.v1.tar+gzip]"), "{err}");
        assert!(Found::read(&elf).unwrap().is_compat());
        let docker = serde_json::json!({
            "config": {"mediaType": DOCKER_CONFIG, "digest": d(1), "size": 2},
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": d(2), "size": 3},
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": d(3), "size": 3},
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d(4), "size": 3},
            ],
        });
        assert!(Found::read(&docker).unwrap().is_compat());
        // A layer of another kind, or a Wasm config: not a compat image.
        let foreign = serde_json::json!({
            "config": {"mediaType": OCI_CONFIG, "digest": d(1), "size": 2},
            "layers": [{"mediaType": "application/vnd.example.data", "digest": d(2), "size": 3}],
        });
        assert!(!Found::read(&foreign).unwrap().is_compat());
        assert!(!Found::read(&m(WASM_LAYER)).unwrap().is_compat());
        let bad = serde_json::json!({"config": {"digest": "md5:x", "size": 1}, "layers": []});
        assert!(Found::read(&bad).is_err());
    }
}
