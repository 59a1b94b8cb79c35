//! Loading images: read the bytes, tell a component from a core module,
//! compile (through wasmtime's on-disk cache), and pre-link against the host.
//!
//! Linking happens here, before any container starts, so that an image that
//! imports an interface the host does not offer is an error at load time.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

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

/// The largest image file read: 512 MiB, far above any real program (the toolbox is a few
/// MiB, large language runtimes a few tens), and small enough that reading and compiling one
/// cannot exhaust the host.
pub const MAX_IMAGE_BYTES: u64 = 512 * 1024 * 1024;

/// An image's bytes and their SHA-256 digest (the compile-once key). A built-in image's
/// bytes are the binary's own, not a copy.
pub(crate) type Content = (Bytes, [u8; 32]);

/// Reads an image and digests it: a built-in or a file. A registry image is read from the
/// file its pull left in the store ([`read_file`]); a malformed name is its error.
pub(crate) fn read(source: &ImageSource) -> Result<Content, ImageError> {
    match source {
        ImageSource::Builtin(b) => read_builtin(*b, builtin_bytes(*b)),
        ImageSource::File(path) => Ok(digest(read_file(path)?)),
        ImageSource::Registry(r) => Err(ImageError::Pull {
            image: r.to_string(),
            message: "a registry image is read from the image store once pulled".into(),
        }),
        ImageSource::Invalid { message } => Err(ImageError::InvalidName {
            message: message.clone(),
        }),
    }
}

/// A pulled image's content: the layer file in the store, digested again as it is read (its
/// digest is the layer digest, so compiled code is cached by it).
pub(crate) fn read_layer(path: &Path) -> Result<Content, ImageError> {
    Ok(digest(read_file(path)?))
}

/// An image's bytes with their digest.
fn digest(bytes: Vec<u8>) -> Content {
    let d: [u8; 32] = Sha256::digest(&bytes).into();
    (Bytes::from(bytes), d)
}

/// A built-in image's bytes and their digest (computed when the guests were built), or
/// `None` when the library is built without its `builtin-images` feature.
fn builtin_bytes(image: BuiltinImage) -> Option<(&'static [u8], [u8; 32])> {
    #[cfg(feature = "builtin-images")]
    {
        use wasmpod_guests as g;
        Some(match image {
            BuiltinImage::Toolbox => (g::TOOLBOX, g::TOOLBOX_SHA256),
            BuiltinImage::Httpd => (g::HTTPD, g::HTTPD_SHA256),
            BuiltinImage::Agnhost => (g::AGNHOST, g::AGNHOST_SHA256),
        })
    }
    #[cfg(not(feature = "builtin-images"))]
    {
        let _ = image;
        None
    }
}

/// A built-in image's content from what [`builtin_bytes`] gives (`None`: not compiled in,
/// an error): neither copied nor digested in the process.
fn read_builtin(
    image: BuiltinImage,
    builtin: Option<(&'static [u8], [u8; 32])>,
) -> Result<Content, ImageError> {
    let (bytes, digest) = builtin.ok_or(ImageError::BuiltinNotCompiledIn { image })?;
    Ok((Bytes::from_static(bytes), digest))
}

/// Reads an image file: a regular file of at most [`MAX_IMAGE_BYTES`].
///
/// It is opened with `O_NONBLOCK`, so that opening a FIFO with no writer returns at once
/// instead of waiting for one, and the *opened* file is then checked with `fstat` (no race
/// with a rename between a check and the open). Anything but a regular file is refused,
/// and the size is checked twice: from the metadata, and while reading, in case the file grows.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ImageError> {
    let read_err = |cause: std::io::Error| ImageError::Read {
        path: path.to_path_buf(),
        cause,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ImageError::NotFound {
                path: path.to_path_buf(),
            });
        }
        Err(cause) => return Err(read_err(cause)),
    };
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(ImageError::NotRegularFile {
            path: path.to_path_buf(),
            kind: file_kind(&meta.file_type()),
        });
    }
    let too_large = |size: u64| ImageError::TooLarge {
        path: path.to_path_buf(),
        size,
    };
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_IMAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// What a file that is not a regular file is, for messages.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "of an unknown type"
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

    fn refused(path: &Path) -> ImageError {
        read_file(path).expect_err("refused")
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("image.wasm");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo");
        assert!(made.success());
        // Without O_NONBLOCK the open would wait for a writer forever.
        let err = refused(&fifo);
        assert!(
            matches!(err, ImageError::NotRegularFile { kind: "a FIFO", .. }),
            "{err}"
        );
        assert!(
            err.to_string().ends_with("is a FIFO, not a regular file"),
            "{err}"
        );
        assert_eq!(err.reason(), "ErrImagePull");
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let err = refused(Path::new("/dev/zero"));
        assert!(
            matches!(
                err,
                ImageError::NotRegularFile {
                    kind: "a character device",
                    ..
                }
            ),
            "{err}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let err = refused(dir.path());
        assert!(
            matches!(
                err,
                ImageError::NotRegularFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            refused(&dir.path().join("missing.wasm")),
            ImageError::NotFound { .. }
        ));
    }

    #[test]
    fn files_over_the_cap_are_refused_before_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sparse.wasm");
        let file = std::fs::File::create(&path).expect("create");
        file.set_len(MAX_IMAGE_BYTES + 1).expect("set_len"); // sparse
        let err = refused(&path);
        assert!(
            matches!(err, ImageError::TooLarge { size, .. } if size == MAX_IMAGE_BYTES + 1),
            "{err}"
        );
        // At the cap exactly is still an image file (of zeros, so not Wasm: not compiled here).
        file.set_len(4).expect("set_len");
        assert_eq!(read_file(&path).expect("read"), [0, 0, 0, 0]);
    }

    #[test]
    fn a_builtin_that_is_not_compiled_in_is_an_image_pull_error() {
        for image in [
            BuiltinImage::Toolbox,
            BuiltinImage::Httpd,
            BuiltinImage::Agnhost,
        ] {
            let err = read_builtin(image, None).expect_err("not compiled in");
            assert!(
                matches!(err, ImageError::BuiltinNotCompiledIn { image: i } if i == image),
                "{err}"
            );
            assert_eq!(err.reason(), "ErrImagePull");
            let text = err.to_string();
            assert!(text.contains("`builtin-images` cargo feature"), "{text}");
            assert!(text.contains(image.names()), "{text}");
        }
        let text = read_builtin(BuiltinImage::Toolbox, None)
            .expect_err("not compiled in")
            .to_string();
        assert!(
            text.starts_with("image builtin:toolbox (busybox, alpine) is not compiled in"),
            "{text}"
        );
    }

    /// What `read` does with the feature on (the default build) or off
    /// (`.ci/run` runs this with `--no-default-features`).
    #[test]
    fn builtins_are_read_exactly_when_the_feature_is_on() {
        let read = read(&ImageSource::Builtin(BuiltinImage::Toolbox));
        if cfg!(feature = "builtin-images") {
            let (bytes, _) = read.expect("the toolbox is compiled in");
            assert!(wasmparser::Parser::is_component(&bytes));
            // The digests computed when the guests were built are the bytes' digests.
            for image in [
                BuiltinImage::Toolbox,
                BuiltinImage::Httpd,
                BuiltinImage::Agnhost,
            ] {
                let (bytes, digest) =
                    super::read(&ImageSource::Builtin(image)).expect("compiled in");
                assert_eq!(
                    digest,
                    <[u8; 32]>::from(Sha256::digest(&bytes)),
                    "{image:?}"
                );
            }
        } else {
            let err = read.expect_err("the toolbox is not compiled in");
            assert!(
                matches!(
                    err,
                    ImageError::BuiltinNotCompiledIn {
                        image: BuiltinImage::Toolbox
                    }
                ),
                "{err}"
            );
        }
    }

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
