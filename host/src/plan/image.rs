//! Image references: what an `image:` line names.
//!
//! An image is a `.wasm` file (a wasip2 component or a wasip1 core module),
//! named by a path relative to the pod YAML's directory (starting with `./` or
//! `../`, or ending in `.wasm`), an absolute path, or a `file://` URL; or an
//! OCI reference pulled from a registry (see [`ImageRef`]). A few well-known image
//! names map to guests built into the binary so that pods written for them
//! run unchanged: `busybox` and `alpine` (any tag or digest) are the toolbox,
//! `nginx` is the HTTP server, and Kubernetes' e2e test image `agnhost`
//! (`registry.k8s.io/e2e-test-images/agnhost:2.x`) is a guest with its
//! `grpc-health-checking` and `liveness` subcommands, unless written with a
//! registry host of one's own (`localhost:5000/busybox` is pulled).

use std::fmt;
use std::path::{Path, PathBuf};

use super::reference::ImageRef;

/// A guest that ships inside the wasmpod binary.
///
/// Its bytes are compiled into the library only with the `builtin-images`
/// cargo feature (on by default); without it, loading one is
/// [`ImageError::BuiltinNotCompiledIn`](crate::container::ImageError::BuiltinNotCompiledIn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinImage {
    /// The busybox-like toolbox (`sh`, `echo`, `sleep`, `nc`, `tail`, …).
    Toolbox,
    /// The small HTTP server standing in for nginx.
    Httpd,
    /// Kubernetes' e2e test image: `grpc-health-checking`, `liveness`.
    Agnhost,
}

impl BuiltinImage {
    /// argv when the container sets neither `command` nor `args`, like the
    /// image's ENTRYPOINT/CMD (busybox's CMD is `sh`; nginx's is the server;
    /// agnhost's ENTRYPOINT is `/agnhost`, so `args` name its subcommand).
    pub fn default_argv(self) -> Vec<String> {
        match self {
            BuiltinImage::Toolbox => vec!["sh".into()],
            BuiltinImage::Httpd => vec!["nginx".into()],
            BuiltinImage::Agnhost => vec!["/agnhost".into()],
        }
    }

    fn label(self) -> &'static str {
        match self {
            BuiltinImage::Toolbox => "builtin:toolbox",
            BuiltinImage::Httpd => "builtin:httpd",
            BuiltinImage::Agnhost => "builtin:agnhost",
        }
    }

    /// The image names that resolve to this guest, for messages.
    pub(crate) fn names(self) -> &'static str {
        match self {
            BuiltinImage::Toolbox => "busybox, alpine",
            BuiltinImage::Httpd => "nginx",
            BuiltinImage::Agnhost => "agnhost",
        }
    }
}

/// Where an image's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageSource {
    /// Built into the binary.
    Builtin(BuiltinImage),
    /// A `.wasm` file on disk (absolute path).
    File(PathBuf),
    /// An image in an OCI registry.
    Registry(ImageRef),
    /// A malformed reference: the container waits with `InvalidImageName`.
    Invalid {
        /// The kubelet's message.
        message: String,
    },
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageSource::Builtin(b) => f.write_str(b.label()),
            ImageSource::File(p) => write!(f, "{}", p.display()),
            ImageSource::Registry(r) => write!(f, "{r}"),
            ImageSource::Invalid { .. } => f.write_str("invalid image name"),
        }
    }
}

/// A registry image as pulled for a container: what its status and events report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledImage {
    /// `repo@sha256:<manifest digest>`, the container status's `imageID`.
    pub image_id: String,
    /// Whether it was pulled for this pod (a `Pulling` event), not found in the store.
    pub pulled_now: bool,
    /// The `Pulled` event's message.
    pub message: String,
}

/// Resolves an `image:` value. `base_dir` is the directory relative paths are
/// taken from (the pod YAML's directory): `busybox:1.36` and
/// `docker.io/library/nginx:latest` are builtins, `app.wasm` is `/pods/app.wasm` under
/// `/pods`, `file:///opt/x.wasm` is `/opt/x.wasm`, `ghcr.io/acme/api:1.4` is pulled.
pub fn resolve_image(image: &str, base_dir: &Path) -> ImageSource {
    if let Some(path) = image.strip_prefix("file://") {
        return ImageSource::File(base_dir.join(path));
    }
    if is_file_path(image) {
        return ImageSource::File(base_dir.join(image));
    }
    if let Some(builtin) = builtin_for(image) {
        return ImageSource::Builtin(builtin);
    }
    match ImageRef::parse(image) {
        Ok(r) => ImageSource::Registry(r),
        Err(message) => ImageSource::Invalid { message },
    }
}

/// Whether an `image:` value is a file path rather than a reference: absolute, starting
/// with `./` or `../` (or being `.`/`..`), or ending in `.wasm`.
fn is_file_path(image: &str) -> bool {
    image.starts_with('/')
        || image.starts_with("./")
        || image.starts_with("../")
        || image == "."
        || image == ".."
        || image.ends_with(".wasm")
}

/// The builtin a registry-style reference names, if any: the repository's
/// last path component without tag or digest, for Docker Hub's library names.
fn builtin_for(image: &str) -> Option<BuiltinImage> {
    if image.ends_with(".wasm") || image.starts_with('/') || image.starts_with('.') {
        return None;
    }
    let without_digest = image.split('@').next().unwrap_or(image);
    let (repo, _tag) = match without_digest.rsplit_once(':') {
        // A ':' after the last '/' is a tag; one before it is a registry port.
        Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag)),
        _ => (without_digest, None),
    };
    let repo = repo
        .strip_prefix("docker.io/")
        .or_else(|| repo.strip_prefix("index.docker.io/"))
        .unwrap_or(repo);
    let repo = repo.strip_prefix("library/").unwrap_or(repo);
    match repo {
        "busybox" | "alpine" => Some(BuiltinImage::Toolbox),
        "nginx" => Some(BuiltinImage::Httpd),
        "agnhost" => Some(BuiltinImage::Agnhost),
        r if r.ends_with("/e2e-test-images/agnhost") => Some(BuiltinImage::Agnhost),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_values_resolve_to_builtins_or_files() {
        let base = Path::new("/pods");
        assert_eq!(
            resolve_image("busybox:1.36", base),
            ImageSource::Builtin(BuiltinImage::Toolbox)
        );
        assert_eq!(
            resolve_image("docker.io/library/nginx:latest", base),
            ImageSource::Builtin(BuiltinImage::Httpd)
        );
        assert_eq!(
            resolve_image("app.wasm", base),
            ImageSource::File("/pods/app.wasm".into())
        );
        assert_eq!(
            resolve_image("file:///opt/x.wasm", base),
            ImageSource::File("/opt/x.wasm".into())
        );
    }

    use super::*;

    #[test]
    fn registry_names_map_to_builtins() {
        let base = Path::new("/b");
        for name in [
            "busybox",
            "busybox:1.36",
            "alpine:3.20",
            "library/alpine",
            "busybox@sha256:abc",
        ] {
            assert_eq!(
                resolve_image(name, base),
                ImageSource::Builtin(BuiltinImage::Toolbox),
                "{name}"
            );
        }
        for name in [
            "agnhost",
            "registry.k8s.io/e2e-test-images/agnhost:2.53",
            "k8s.gcr.io/e2e-test-images/agnhost@sha256:abc",
        ] {
            assert_eq!(
                resolve_image(name, base),
                ImageSource::Builtin(BuiltinImage::Agnhost),
                "{name}"
            );
        }
        for name in ["nginx", "nginx:latest", "docker.io/library/nginx:1.27"] {
            assert_eq!(
                resolve_image(name, base),
                ImageSource::Builtin(BuiltinImage::Httpd),
                "{name}"
            );
        }
    }

    #[test]
    fn paths_are_files_and_other_names_are_references() {
        let base = Path::new("/b");
        assert_eq!(
            resolve_image("python:3.8", base),
            ImageSource::Registry(ImageRef::parse("docker.io/library/python:3.8").unwrap())
        );
        assert_eq!(
            resolve_image("../x/app", base),
            ImageSource::File("/b/../x/app".into())
        );
        assert_eq!(
            resolve_image("sub/app.wasm", base),
            ImageSource::File("/b/sub/app.wasm".into())
        );
        assert!(matches!(
            resolve_image("Bad Name", base),
            ImageSource::Invalid { message } if message.contains("invalid reference format")
        ));
        assert_eq!(
            resolve_image("./busybox", base),
            ImageSource::File("/b/./busybox".into())
        );
        assert_eq!(
            resolve_image("/abs/nginx.wasm", base),
            ImageSource::File("/abs/nginx.wasm".into())
        );
        // A built-in name with a registry host of one's own is pulled.
        assert_eq!(
            resolve_image("myregistry:5000/busybox", base),
            ImageSource::Registry(ImageRef::parse("myregistry:5000/busybox").unwrap())
        );
    }
}
