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
    /// For a "compat" image (an ordinary OCI image holding a `.wasm`): its unpacked root
    /// filesystem in the image store, which each instance's private root starts as a copy of.
    pub rootfs: Option<PathBuf>,
    /// A compat image's config, applied to the container's argv, env and `workingDir`.
    pub config: Option<ImageConfig>,
    /// The exported function argv[0]'s `#func` names (a compat image's wasip1 module),
    /// called instead of `_start`.
    pub entry_func: Option<String>,
}

/// What the container itself writes of what a compat image's config also says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Overrides {
    /// `command` is set (non-empty).
    pub command: bool,
    /// `args` is set (non-empty).
    pub args: bool,
    /// `workingDir`, if set.
    pub working_dir: Option<String>,
}

/// What the container named `name` of `pod` writes itself.
pub(crate) fn overrides(pod: &k8s_openapi::api::core::v1::Pod, name: &str) -> Overrides {
    let set = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    pod.spec
        .iter()
        .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
        .find(|c| c.name == name)
        .map_or_else(Overrides::default, |c| Overrides {
            command: set(&c.command),
            args: set(&c.args),
            working_dir: c.working_dir.clone().filter(|d| !d.is_empty()),
        })
}

impl super::ContainerPlan {
    /// The argv, env and `workingDir` of a container with `config`, its compat image's (see
    /// [`ImageConfig`]), applied to `start` (built from the container alone); `written` as
    /// [`overrides`] says. The image's `WorkingDir` is also the guest's `PWD`, as a written
    /// `workingDir` is.
    pub(crate) fn with_image(
        config: &ImageConfig,
        written: &Overrides,
        start: super::StartEnv,
    ) -> (super::StartEnv, Option<String>) {
        let (command_set, args_set) = (written.command, written.args);
        let mut env = config.env(&start.env);
        let written_dir = written.working_dir.as_deref();
        let dir = config.working_dir(written_dir);
        // As for a written workingDir (spec/expand.rs): PWD names it.
        if let (None, Some(d)) = (written_dir, &dir)
            && !env.iter().any(|(k, _)| k == "PWD")
        {
            env.push(("PWD".into(), d.clone()));
        }
        let argv = config.argv(&start.argv, command_set, args_set);
        (super::StartEnv { argv, env }, dir)
    }
}

/// What a "compat" image's config says about running it: the `config` object of an OCI
/// (or Docker) image config.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, as `NAME=value`.
    pub env: Vec<String>,
    /// `WorkingDir`, if set.
    pub working_dir: Option<String>,
    /// The image's `os/architecture` (`linux/amd64`, `wasip1/wasm`), for messages.
    pub platform: String,
}

impl ImageConfig {
    /// The guest's argv from the image and the container, as Kubernetes builds it:
    /// `command` replaces `Entrypoint` and drops `Cmd`, `args` replaces `Cmd`. `written` is
    /// the argv planned from the container alone (`command` + `args` when `command` is set,
    /// else a placeholder argv[0] followed by `args`).
    pub fn argv(&self, written: &[String], command_set: bool, args_set: bool) -> Vec<String> {
        match (command_set, args_set) {
            (true, _) => written.to_vec(),
            (false, true) => {
                let args = written.iter().skip(1).cloned();
                self.entrypoint.iter().cloned().chain(args).collect()
            }
            (false, false) => self.entrypoint.iter().chain(&self.cmd).cloned().collect(),
        }
    }

    /// The guest's environment: the image's `Env` first, then the container's, which wins
    /// over an image variable of the same name.
    pub fn env(&self, container: &[(String, String)]) -> Vec<(String, String)> {
        let image = self.env.iter().filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            let shadowed = container.iter().any(|(name, _)| name == k);
            (!shadowed && !k.is_empty()).then(|| (k.to_string(), v.to_string()))
        });
        image.chain(container.iter().cloned()).collect()
    }

    /// The working directory: the container's `workingDir`, else the image's `WorkingDir`.
    pub fn working_dir(&self, container: Option<&str>) -> Option<String> {
        container
            .filter(|d| !d.is_empty())
            .or(self.working_dir.as_deref().filter(|d| !d.is_empty()))
            .map(str::to_string)
    }

    /// `PATH` of the image's `Env`, if set.
    pub fn path_env(&self) -> Option<&str> {
        self.env.iter().find_map(|kv| kv.strip_prefix("PATH="))
    }
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
    fn compat_images_build_argv_env_and_working_dir_as_kubernetes() {
        let config = ImageConfig {
            entrypoint: vec!["/app.wasm".into(), "--serve".into()],
            cmd: vec!["--port".into(), "80".into()],
            env: vec!["PATH=/bin".into(), "MODE=image".into(), "ODD".into()],
            working_dir: Some("/srv".into()),
            platform: "wasip1/wasm".into(),
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            config.argv(&s(&["app"]), false, false),
            s(&["/app.wasm", "--serve", "--port", "80"])
        );
        assert_eq!(
            config.argv(&s(&["app", "-v"]), false, true),
            s(&["/app.wasm", "--serve", "-v"])
        );
        assert_eq!(
            config.argv(&s(&["/x.wasm", "a"]), true, true),
            s(&["/x.wasm", "a"])
        );
        assert_eq!(config.argv(&s(&["/x.wasm"]), true, false), s(&["/x.wasm"]));
        let env = config.env(&[("MODE".into(), "pod".into())]);
        assert_eq!(
            env,
            vec![
                ("PATH".to_string(), "/bin".to_string()),
                ("ODD".into(), "".into()),
                ("MODE".into(), "pod".into())
            ]
        );
        assert_eq!(config.working_dir(None).as_deref(), Some("/srv"));
        assert_eq!(config.working_dir(Some("/w")).as_deref(), Some("/w"));
        assert_eq!(config.path_env(), Some("/bin"));
    }

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
