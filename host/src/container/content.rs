//! An image's content: the bytes of a file, a pulled layer or a built-in, with their
//! SHA-256 digest (the compile-once key). A file is read with bounds: a regular file,
//! opened without blocking, of at most [`MAX_IMAGE_BYTES`].

use std::io::Read as _;
use std::path::Path;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::image::ImageError;
use crate::plan::{BuiltinImage, ImageSource};

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
}
