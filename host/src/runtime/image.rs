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
    // Refuse what cannot run before compiling it: a large image takes
    // seconds to compile, a missing entry point is found in microseconds.
    if let Some(message) = entry_point_problem(bytes) {
        return Err(ImageError::Link {
            source_name: source_name.to_string(),
            message,
        });
    }
    if wasmparser::Parser::is_component(bytes) {
        let component = Component::new(engine, bytes).map_err(compile_err)?;
        let pre = linkers.p2.instantiate_pre(&component).map_err(link_err)?;
        Ok(Image::Component(CommandPre::new(pre).map_err(link_err)?))
    } else if wasmparser::Parser::is_core_wasm(bytes) {
        let module = Module::new(engine, bytes).map_err(compile_err)?;
        let pre = linkers.p1.instantiate_pre(&module).map_err(link_err)?;
        Ok(Image::Module(pre))
    } else {
        Err(ImageError::NotWasm {
            source_name: source_name.to_string(),
        })
    }
}

/// Why an image has no entry point wasmpod can run, read from its top-level
/// exports without compiling it; `None` when it has one (or cannot be
/// parsed, which compilation then reports).
fn entry_point_problem(bytes: &[u8]) -> Option<String> {
    use wasmparser::{Parser, Payload};
    let component = Parser::is_component(bytes);
    let mut exports = Vec::new();
    let mut foreign_imports = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.ok()? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ExportSection(section) if depth == 0 && !component => {
                for export in section {
                    exports.push(export.ok()?.name.to_string());
                }
            }
            Payload::ComponentImportSection(section) if depth == 0 && component => {
                for import in section {
                    let name = import.ok()?.name.name.to_string();
                    if !name.starts_with("wasi:") && !name.starts_with("wasmpod:") {
                        foreign_imports.push(name);
                    }
                }
            }
            Payload::ComponentExportSection(section) if depth == 0 && component => {
                for export in section {
                    exports.push(export.ok()?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    if !component {
        return (!exports.iter().any(|e| e == "_start")).then(|| {
            "the module exports no `_start` function (is it a WASI command?)".to_string()
        });
    }
    let exports_interface = |interface: &str| {
        exports
            .iter()
            .any(|e| e.split('@').next() == Some(interface))
    };
    if exports_interface("wasi:cli/run") {
        return None;
    }
    let world = if exports_interface("wasi:http/incoming-handler") {
        "the wasi:http/proxy world (it exports wasi:http/incoming-handler)".to_string()
    } else if exports.is_empty() {
        "no world with an entry point (it exports nothing)".to_string()
    } else {
        format!("a world that exports {}", exports.join(", "))
    };
    let imports = if foreign_imports.is_empty() {
        String::new()
    } else {
        format!(
            "; it also imports {}, which wasmpod does not offer",
            foreign_imports.join(", ")
        )
    };
    Some(format!(
        "the component targets {world}; wasmpod runs wasi:cli/command components \
         (exporting wasi:cli/run@0.2) and wasip1 commands (exporting _start){imports}"
    ))
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

#[cfg(test)]
mod tests {
    use super::entry_point_problem;

    #[test]
    fn entry_points_are_checked_before_compiling() {
        let command = wat::parse_str(r#"(module (func (export "_start")))"#).unwrap();
        assert_eq!(entry_point_problem(&command), None);
        let library = wat::parse_str(r#"(module (func (export "run")))"#).unwrap();
        let why = entry_point_problem(&library).unwrap();
        assert!(why.contains("no `_start`"), "{why}");
        let proxy = wat::parse_str(
            r#"(component (instance $h) (export "wasi:http/incoming-handler@0.2.6" (instance $h)))"#,
        )
        .unwrap();
        let why = entry_point_problem(&proxy).unwrap();
        assert!(why.contains("wasi:http/proxy world"), "{why}");
        assert!(why.contains("wasi:cli/run"), "{why}");
        let cli = wat::parse_str(
            r#"(component (instance $r) (export "wasi:cli/run@0.2.0" (instance $r)))"#,
        )
        .unwrap();
        assert_eq!(entry_point_problem(&cli), None);
        let empty = wat::parse_str("(component)").unwrap();
        assert!(
            entry_point_problem(&empty)
                .unwrap()
                .contains("exports nothing")
        );
    }
}
