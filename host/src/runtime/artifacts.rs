//! The compiled-code cache on disk: one file per image and engine,
//! `<cache dir>/artifacts/<engine fingerprint>/<image sha256>.cwasm`, holding
//! wasmtime's serialized artifact uncompressed, so that a hit is a memory
//! map (`Component::deserialize_file`), not a read and a decompression, and
//! writes nothing. A miss compiles and writes the file through a temporary
//! file renamed into place, so a reader never sees half a file. The engine
//! fingerprint is wasmtime's compatibility hash (its version, target and
//! every setting that changes compiled code): an engine never loads another
//! engine's code.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::container::image::{Image, ImageError, error_text};
use crate::container::link::Linkers;

/// The artifact directory of one engine.
#[derive(Debug, Clone)]
pub(crate) struct Artifacts {
    dir: PathBuf,
}

impl Artifacts {
    /// The directory for `engine`'s artifacts under `cache_dir`.
    pub(crate) fn new(cache_dir: &Path, engine: &Engine) -> Self {
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let dir = std::path::absolute(cache_dir)
            .unwrap_or_else(|_| cache_dir.to_path_buf())
            .join("artifacts")
            .join(format!("{:016x}", h.finish()));
        Self { dir }
    }

    /// Where the artifact of the image with `digest` is (or would be) kept.
    pub(crate) fn path(&self, digest: &[u8; 32]) -> PathBuf {
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.cwasm"))
    }

    /// The image from its artifact, if there is a usable one.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        linkers: &Linkers,
        name: &str,
        digest: &[u8; 32],
        component: bool,
    ) -> Option<Result<Image, ImageError>> {
        let path = self.path(digest);
        if !path.is_file() {
            return None;
        }
        match Loaded::from_file(engine, &path, component) {
            Ok(l) => Some(l.link(linkers, name)),
            Err(e) => {
                // Unreadable or from another build: compile again.
                tracing::debug!("ignoring {}: {}", path.display(), error_text(&e));
                None
            }
        }
    }

    /// Writes `image`'s compiled code, best effort (a failure is logged:
    /// the next run compiles again).
    pub(crate) fn store(&self, digest: &[u8; 32], image: &Image) {
        let bytes = serialize(image);
        let path = self.path(digest);
        let written = bytes
            .map_err(|e| std::io::Error::other(error_text(&e)))
            .and_then(|bytes| write_atomically(&self.dir, &path, &bytes));
        if let Err(e) = written {
            tracing::warn!("compiled-code cache: cannot write {}: {e}", path.display());
        }
    }
}

fn serialize(image: &Image) -> wasmtime::Result<Vec<u8>> {
    match image {
        Image::Component(pre) => pre.instance_pre().component().serialize(),
        Image::Http(pre) => pre.instance_pre().component().serialize(),
        Image::Module(pre) => pre.module().serialize(),
    }
}

/// `image`'s compiled code loaded into `engine`, another engine of the same
/// configuration (the instance pool's, which shares the cache's
/// fingerprint), and linked with `linkers`: from `file` (its artifact) if
/// it is there, else serialized from `image`. `Err` with wasmtime's message,
/// as when the code does not fit the engine's pool.
pub(crate) fn for_engine(
    image: &Image,
    file: Option<&Path>,
    engine: &Engine,
    linkers: &Linkers,
) -> Result<Image, String> {
    let component = !matches!(image, Image::Module(_));
    let loaded = match file.filter(|f| f.is_file()) {
        Some(f) => Loaded::from_file(engine, f, component),
        None => serialize(image).and_then(|bytes| {
            // SAFETY: serialized just now by wasmtime, for this configuration.
            if component {
                unsafe { Component::deserialize(engine, &bytes) }.map(Loaded::Component)
            } else {
                unsafe { Module::deserialize(engine, &bytes) }.map(Loaded::Module)
            }
        }),
    };
    let loaded = loaded.map_err(|e| error_text(&e))?;
    loaded.link(linkers, "").map_err(|e| e.to_string())
}

enum Loaded {
    Component(Component),
    Module(Module),
}

impl Loaded {
    /// An artifact of the cache, memory-mapped.
    fn from_file(engine: &Engine, path: &Path, component: bool) -> wasmtime::Result<Self> {
        // SAFETY: the file was written by `Artifacts::store` for this engine's
        // fingerprint, atomically; the cache directory is trusted as
        // wasmtime's own cache directory is.
        if component {
            unsafe { Component::deserialize_file(engine, path) }.map(Loaded::Component)
        } else {
            unsafe { Module::deserialize_file(engine, path) }.map(Loaded::Module)
        }
    }

    fn link(self, linkers: &Linkers, name: &str) -> Result<Image, ImageError> {
        let link_err = |e: wasmtime::Error| ImageError::Link {
            source_name: name.to_string(),
            message: error_text(&e),
        };
        Ok(match self {
            Loaded::Component(c) => {
                let pre = linkers.p2().and_then(|l| l.instantiate_pre(&c));
                let pre = pre.map_err(link_err)?;
                // As when it was compiled: an HTTP handler is served.
                if crate::container::image::serves_http(c.engine(), &c) {
                    Image::Http(
                        wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre).map_err(link_err)?,
                    )
                } else {
                    Image::Component(CommandPre::new(pre).map_err(link_err)?)
                }
            }
            Loaded::Module(m) => {
                let pre = linkers.p1().and_then(|l| l.instantiate_pre(&m));
                Image::Module(pre.map_err(link_err)?)
            }
        })
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
