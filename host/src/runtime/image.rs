//! Loading images: read the bytes, tell a component from a core module,
//! compile (through wasmtime's on-disk cache), and pre-link against the host.
//!
//! Linking happens here, before any container starts, so that an image that
//! imports an interface the host does not offer is an error at load time.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::container::{P1State, P2State};
use crate::plan::{BuiltinImage, ImageSource};

/// A compiled, pre-linked image, ready to instantiate many times.
#[derive(Clone)]
pub enum Image {
    /// A wasip2 component exporting `wasi:cli/run`.
    Component(CommandPre<P2State>),
    /// A wasip1 core module exporting `_start`.
    Module(wasmtime::InstancePre<P1State>),
}

impl Image {
    /// `wasip2` or `wasip1`.
    pub fn abi(&self) -> &'static str {
        match self {
            Image::Component(_) => "wasip2",
            Image::Module(_) => "wasip1",
        }
    }
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Image").field(&self.abi()).finish()
    }
}

/// Why an image could not be loaded. Fatal for the pod: it does not start.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file does not exist.
    #[error("image file {path:?} not found")]
    NotFound {
        /// The resolved path.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("failed to read image {path:?}: {cause}")]
    Read {
        /// The resolved path.
        path: PathBuf,
        /// The I/O error (part of the message, so not also a `source()`).
        cause: std::io::Error,
    },
    /// The bytes are neither a component nor a core module.
    #[error("{source_name} is not a WebAssembly component or module")]
    NotWasm {
        /// The image source.
        source_name: String,
    },
    /// Compilation failed (invalid Wasm or an unsupported feature).
    #[error("failed to compile {source_name}: {message}")]
    Compile {
        /// The image source.
        source_name: String,
        /// wasmtime's message.
        message: String,
    },
    /// The image needs something the host does not offer.
    #[error("{source_name} cannot run on wasmpod: {message}")]
    Link {
        /// The image source.
        source_name: String,
        /// wasmtime's message, e.g. the missing import.
        message: String,
    },
}

impl ImageError {
    /// The Kubernetes waiting reason a container shows for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            ImageError::NotFound { .. } | ImageError::Read { .. } => "ErrImagePull",
            ImageError::NotWasm { .. } => "InvalidImageName",
            ImageError::Compile { .. } | ImageError::Link { .. } => "CreateContainerError",
        }
    }
}

/// An image's bytes and their SHA-256 digest (the compile-once key).
pub(crate) type Content = (Arc<[u8]>, [u8; 32]);

/// Reads an image and digests it. A builtin image is the same for the whole
/// process, so it is copied and digested once.
pub(crate) fn read(source: &ImageSource) -> Result<Content, ImageError> {
    static TOOLBOX: OnceLock<Content> = OnceLock::new();
    static HTTPD: OnceLock<Content> = OnceLock::new();
    static AGNHOST: OnceLock<Content> = OnceLock::new();
    let digest = |bytes: Arc<[u8]>| {
        let d: [u8; 32] = Sha256::digest(&bytes).into();
        (bytes, d)
    };
    match source {
        ImageSource::Builtin(b) => {
            let cell = match b {
                BuiltinImage::Toolbox => &TOOLBOX,
                BuiltinImage::Httpd => &HTTPD,
                BuiltinImage::Agnhost => &AGNHOST,
            };
            Ok(cell.get_or_init(|| digest(Arc::from(b.bytes()))).clone())
        }
        ImageSource::File(path) => match std::fs::read(path) {
            Ok(bytes) => Ok(digest(Arc::from(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ImageError::NotFound { path: path.clone() })
            }
            Err(cause) => Err(ImageError::Read {
                path: path.clone(),
                cause,
            }),
        },
    }
}

/// Compiles and links `bytes`. CPU-heavy: call from a blocking thread.
pub(crate) fn compile(
    engine: &Engine,
    linkers: &super::Linkers,
    source_name: &str,
    bytes: &[u8],
) -> Result<Image, ImageError> {
    let compile_err = |e: wasmtime::Error| ImageError::Compile {
        source_name: source_name.to_string(),
        message: error_text(&e),
    };
    let link_err = |e: wasmtime::Error| ImageError::Link {
        source_name: source_name.to_string(),
        message: error_text(&e),
    };
    if wasmparser::Parser::is_component(bytes) {
        let component = Component::new(engine, bytes).map_err(compile_err)?;
        let pre = linkers.p2.instantiate_pre(&component).map_err(link_err)?;
        Ok(Image::Component(CommandPre::new(pre).map_err(link_err)?))
    } else if wasmparser::Parser::is_core_wasm(bytes) {
        let module = Module::new(engine, bytes).map_err(compile_err)?;
        if module.get_export("_start").is_none() {
            return Err(ImageError::Link {
                source_name: source_name.to_string(),
                message: "the module exports no `_start` function (is it a WASI command?)".into(),
            });
        }
        let pre = linkers.p1.instantiate_pre(&module).map_err(link_err)?;
        Ok(Image::Module(pre))
    } else {
        Err(ImageError::NotWasm {
            source_name: source_name.to_string(),
        })
    }
}

/// A wasmtime error with its causes, on one line.
pub(crate) fn error_text(e: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}
