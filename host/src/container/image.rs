//! Loading images: with their bytes read ([`super::content`]), tell a component from a
//! core module, compile (through wasmtime's on-disk cache), and pre-link against the host.
//!
//! Linking happens here, before any container starts, so that an image that
//! imports an interface the host does not offer is an error at load time.

use std::path::PathBuf;

use wasmtime::component::Component;
use wasmtime::{Engine, Module};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

pub use super::content::MAX_IMAGE_BYTES;
pub(crate) use super::content::{read, read_file, read_layer};
use super::{P1State, P2State};
use crate::plan::{BuiltinImage, ImageSource};

/// A compiled, pre-linked image, ready to instantiate many times.
#[derive(Clone)]
pub enum Image {
    /// A wasip2 component exporting `wasi:cli/run`.
    Component(CommandPre<P2State>),
    /// A wasip1 core module exporting `_start`.
    Module(wasmtime::InstancePre<P1State>),
    /// A wasip2 component exporting `wasi:http/incoming-handler`: served
    /// (see [`super::http`]), one instance per request.
    Http(ProxyPre<P2State>),
}

impl Image {
    /// `wasip2` or `wasip1`.
    pub fn abi(&self) -> &'static str {
        match self {
            Image::Component(_) | Image::Http(_) => "wasip2",
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
#[non_exhaustive]
pub enum ImageError {
    /// The file does not exist.
    #[error("image file {path:?} not found")]
    NotFound {
        /// The resolved path.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("failed to read image {path:?}")]
    Read {
        /// The resolved path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        cause: std::io::Error,
    },
    /// The path names something that is not a regular file (a FIFO, a device, a directory,
    /// a socket): reading it could block forever or never end.
    #[error("image {path:?} is {kind}, not a regular file")]
    NotRegularFile {
        /// The resolved path.
        path: PathBuf,
        /// What it is instead, e.g. `a FIFO`, `a character device`, `a directory`.
        kind: &'static str,
    },
    /// The file is larger than [`MAX_IMAGE_BYTES`].
    #[error(
        "image {path:?} is {size} bytes; the most wasmpod reads is {max} bytes (512 MiB)",
        max = MAX_IMAGE_BYTES
    )]
    TooLarge {
        /// The resolved path.
        path: PathBuf,
        /// Its size as found (at least `MAX_IMAGE_BYTES + 1` when it grew while being read).
        size: u64,
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
    /// The image names a built-in guest (`busybox`, `alpine`, `nginx`,
    /// `agnhost`), but this build of the library leaves them out: it was
    /// built without its `builtin-images` cargo feature.
    #[error(
        "image {image} ({names}) is not compiled in: this build of the wasmpod library \
         leaves out the built-in images; enable its `builtin-images` cargo feature, \
         or name a .wasm file",
        image = ImageSource::Builtin(*.image),
        names = .image.names()
    )]
    BuiltinNotCompiledIn {
        /// The built-in guest the image name resolved to.
        image: BuiltinImage,
    },
    /// The `image:` is neither a file nor a well-formed OCI reference.
    #[error("{message}")]
    InvalidName {
        /// The kubelet's message (`Failed to apply default image tag …`).
        message: String,
    },
    /// `imagePullPolicy: Never` and the image is not in the local store.
    #[error("Container image {image:?} is not present with pull policy of Never")]
    NeverPull {
        /// The `image:` as written.
        image: String,
    },
    /// The image could not be pulled from its registry (unreachable, 401/403, 404, a
    /// digest mismatch, not a Wasm image, too large). Never holds a credential.
    #[error("Failed to pull image {image:?}: {message}")]
    Pull {
        /// The `image:` as written.
        image: String,
        /// The registry's reason.
        message: String,
    },
    /// A `.wasm` file could not be pushed to a registry (`wasmpod push`). Never holds a
    /// credential.
    #[error("Failed to push image {image:?}: {message}")]
    Push {
        /// The reference pushed to.
        image: String,
        /// The reason.
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
            ImageError::NotFound { .. }
            | ImageError::Read { .. }
            | ImageError::NotRegularFile { .. }
            | ImageError::TooLarge { .. }
            | ImageError::BuiltinNotCompiledIn { .. }
            | ImageError::Pull { .. } => "ErrImagePull",
            // Not a container's reason: pushing is no part of running a pod.
            ImageError::Push { .. } => "PushError",
            ImageError::NeverPull { .. } => "ErrImageNeverPull",
            ImageError::NotWasm { .. } | ImageError::InvalidName { .. } => "InvalidImageName",
            ImageError::Compile { .. } | ImageError::Link { .. } => "CreateContainerError",
        }
    }
}

/// Compiles and links `bytes`. CPU-heavy: call from a blocking thread.
pub(crate) fn compile(
    engine: &Engine,
    linkers: &super::link::Linkers,
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
        let pre = linkers.p2().and_then(|l| l.instantiate_pre(&component));
        let pre = pre.map_err(link_err)?;
        // As runwasi: an HTTP handler is served, even if it also has `run`.
        if serves_http(engine, &component) {
            return Ok(Image::Http(ProxyPre::new(pre).map_err(link_err)?));
        }
        Ok(Image::Component(CommandPre::new(pre).map_err(link_err)?))
    } else if wasmparser::Parser::is_core_wasm(bytes) {
        let module = Module::new(engine, bytes).map_err(compile_err)?;
        let pre = linkers.p1().and_then(|l| l.instantiate_pre(&module));
        let pre = pre.map_err(link_err)?;
        Ok(Image::Module(pre))
    } else {
        Err(ImageError::NotWasm {
            source_name: source_name.to_string(),
        })
    }
}

/// Whether a component exports `wasi:http/incoming-handler` (any version),
/// as runwasi tells an HTTP component from a command.
pub(crate) fn serves_http(engine: &Engine, component: &Component) -> bool {
    component
        .component_type()
        .exports(engine)
        .any(|(name, _)| name.starts_with("wasi:http/incoming-handler"))
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
    if exports_interface("wasi:cli/run") || exports_interface("wasi:http/incoming-handler") {
        return None;
    }
    let world = if exports.is_empty() {
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
         (exporting wasi:cli/run@0.2), wasi:http/proxy components (exporting \
         wasi:http/incoming-handler@0.2) and wasip1 commands (exporting _start){imports}"
    ))
}

/// A wasmtime error with its causes, on one line.
pub(crate) fn error_text(e: &wasmtime::Error) -> String {
    crate::report::chain(e.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(entry_point_problem(&proxy), None, "served (issue 12)");
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
