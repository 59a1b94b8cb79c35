//! "Compat" images: ordinary OCI or Docker images (tar layers) holding a `.wasm` file that
//! their entrypoint names, as runwasi's `containerd-shim-wasmtime` runs them.
//!
//! * The config's `Entrypoint`, `Cmd`, `Env` and `WorkingDir` are read
//!   ([`ImageConfig`]); the container's `command`/`args`/`env`/`workingDir` apply on top as
//!   the kubelet applies them.
//! * argv[0] names the Wasm file inside the image's root filesystem, as runwasi reads it:
//!   `path#func` names an exported function to call instead of `_start` (wasip1 modules
//!   only); a path with a `/` is absolute or relative to the working directory; a bare
//!   name is looked up in the image's `PATH`, then in the working directory. Symlinks are
//!   followed inside the image (an absolute target is taken from the image's root).
//! * Anything else at argv[0] (an ELF executable, a script, a directory, nothing) is an
//!   error naming what was found.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::ImageRecord;
use crate::container::{Image, ImageError};
use crate::plan::ImageConfig;
use crate::runtime::Compiled;
use crate::runtime::Runtime;

/// The OCI image config media type.
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Docker's image config media type.
pub(crate) const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// The most symlinks followed while resolving an entrypoint (Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// Reads an image config (`config.Entrypoint`, `Cmd`, `Env`, `WorkingDir`, `os`,
/// `architecture`).
pub(crate) fn read_config(bytes: &[u8]) -> Result<ImageConfig, String> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the image config is not JSON: {e}"))?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let c = &v["config"];
    Ok(ImageConfig {
        entrypoint: strings(&c["Entrypoint"]),
        cmd: strings(&c["Cmd"]),
        env: strings(&c["Env"]),
        working_dir: c["WorkingDir"]
            .as_str()
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        platform: format!(
            "{}/{}",
            v["os"].as_str().unwrap_or("?"),
            v["architecture"].as_str().unwrap_or("?")
        ),
    })
}

/// The Wasm file argv[0] names: its path relative to the image root, with every symlink
/// resolved, and the function `#func` names (`None`: `_start`).
pub(crate) struct Entry {
    /// Relative to the root filesystem, free of symlinks.
    pub path: PathBuf,
    /// The exported function to call instead of `_start`.
    pub func: Option<String>,
}

/// Finds the Wasm file `argv0` names in the image root `root`.
///
/// # Errors
/// What was found instead: nothing, a directory, an ELF executable, a script, a path out of
/// the image.
pub(crate) fn entry(
    root: &Path,
    argv0: &str,
    working_dir: Option<&str>,
    path_env: Option<&str>,
) -> Result<Entry, String> {
    let (file, func) = match argv0.split_once('#') {
        Some((f, func)) => (f, Some(func.to_string()).filter(|f| f != "_start")),
        None => (argv0, None),
    };
    if file.is_empty() {
        return Err(
            "the image has no entrypoint (set `command` to the .wasm file in the image)".into(),
        );
    }
    let cwd = working_dir.unwrap_or("/");
    let candidates: Vec<String> = if file.contains('/') {
        vec![if file.starts_with('/') {
            file.to_string()
        } else {
            format!("{cwd}/{file}")
        }]
    } else {
        path_env
            .unwrap_or_default()
            .split(':')
            .filter(|d| !d.is_empty())
            .chain([cwd])
            .map(|dir| format!("{dir}/{file}"))
            .collect()
    };
    let mut found = None;
    for c in &candidates {
        match resolve(root, c) {
            Ok(rel) if root.join(&rel).is_file() => {
                found = Some(rel);
                break;
            }
            Ok(rel) if found.is_none() && root.join(&rel).exists() => found = Some(rel),
            _ => {}
        }
    }
    let Some(path) = found else {
        return Err(format!("entrypoint {file} is not in the image"));
    };
    match what_is(&root.join(&path)) {
        None => Ok(Entry { path, func }),
        Some(what) => Err(format!("entrypoint {file} is {what}, not Wasm")),
    }
}

impl Runtime {
    /// Loads, compiles and links the Wasm file a container of the compat image `record`
    /// runs: the one `argv0` names in the image's root filesystem. The function `#func`
    /// names, if any, with it.
    ///
    /// # Errors
    /// [`ImageError::Link`] naming what argv[0] is when it is not a Wasm file in the image;
    /// the file's read and compile errors.
    pub(crate) async fn load_compat(
        &self,
        record: &ImageRecord,
        argv0: &str,
        working_dir: Option<&str>,
    ) -> Result<(Compiled, Option<String>), ImageError> {
        let config = record.config.clone().unwrap_or_default();
        let not_runnable = |message: String| ImageError::Link {
            source_name: format!("image {}", record.reference),
            message: format!("{message} (the image is {})", config.platform),
        };
        let rootfs = self.inner.registry.rootfs(record);
        let found = entry(&rootfs, argv0, working_dir, config.path_env()).map_err(not_runnable)?;
        let path = rootfs.join(&found.path);
        let (bytes, digest) =
            tokio::task::spawn_blocking(move || crate::container::image::read_layer(&path))
                .await
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
        let name = format!("{}:/{}", record.reference, found.path.display());
        let image = self.compile_content(name, bytes, digest).await?;
        if found.func.is_some() && !matches!(image.image, Image::Module(_)) {
            return Err(not_runnable(format!(
                "entrypoint {argv0} names a function, which wasmpod calls only in wasip1 \
                 modules (a component runs wasi:cli/run)"
            )));
        }
        self.inner.registry.mark_compiled_record(record);
        Ok((image, found.func))
    }
}

/// Checks that the default entrypoint (`Entrypoint` + `Cmd`) of a compat image names a Wasm
/// file in `root`; an image with neither is accepted (its containers set `command`).
///
/// # Errors
/// What the entrypoint is instead, and the image's platform.
pub(crate) fn check_default(root: &Path, config: &ImageConfig) -> Result<(), String> {
    let Some(argv0) = config.entrypoint.iter().chain(&config.cmd).next() else {
        return Ok(());
    };
    entry(
        root,
        argv0,
        config.working_dir.as_deref(),
        config.path_env(),
    )
    .map(|_| ())
    .map_err(|why| format!("not a Wasm image: {why} (the image is {})", config.platform))
}

impl Runtime {
    /// Loads the Wasm file the default entrypoint (`Entrypoint` + `Cmd`) of the compat image
    /// `record` names, for [`Runtime::prepare_image`].
    pub(crate) async fn prepare_compat(&self, record: &ImageRecord) -> Result<(), ImageError> {
        let config = record.config.clone().unwrap_or_default();
        let argv0 = config.entrypoint.iter().chain(&config.cmd).next();
        let argv0 = argv0.map_or("", String::as_str);
        self.load_compat(record, argv0, config.working_dir.as_deref())
            .await
            .map(|_| ())
    }
}

/// `None` for a Wasm file, else what the file is.
fn what_is(path: &Path) -> Option<String> {
    use std::io::Read as _;
    if path.is_dir() {
        return Some("a directory".into());
    }
    let mut header = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut header))
        .unwrap_or(0);
    let header = &header[..n];
    if header.starts_with(b"\0asm") {
        None
    } else if header.starts_with(b"\x7fELF") {
        Some("an ELF executable".into())
    } else if header.starts_with(b"#!") {
        Some("a script".into())
    } else if header.starts_with(b"MZ") {
        Some("a Windows executable".into())
    } else if n == 0 {
        Some("an empty file".into())
    } else {
        Some("not a WebAssembly binary".into())
    }
}

/// `guest_path` (absolute) inside `root`, every symlink resolved as the guest would see it:
/// an absolute target from `root`, `..` never above `root`.
fn resolve(root: &Path, guest_path: &str) -> Result<PathBuf, String> {
    let mut todo: Vec<String> = components(guest_path);
    todo.reverse();
    let mut out = PathBuf::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            out.pop();
            continue;
        }
        let next = out.join(&c);
        match std::fs::symlink_metadata(root.join(&next)) {
            Ok(m) if m.is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(format!("too many symlinks in {guest_path}"));
                }
                let target = std::fs::read_link(root.join(&next)).map_err(|e| e.to_string())?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    out = PathBuf::new();
                }
                let mut more = components(&target);
                more.reverse();
                todo.extend(more);
            }
            _ => out = next,
        }
    }
    Ok(out)
}

/// The normal and `..` components of a path.
fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_read() {
        let config = read_config(
            br#"{"os":"linux","architecture":"amd64","config":{
                "Entrypoint":["/app.wasm"],"Cmd":["-v"],"Env":["A=1"],"WorkingDir":"/srv"}}"#,
        )
        .unwrap();
        assert_eq!(config.entrypoint, ["/app.wasm"]);
        assert_eq!(config.cmd, ["-v"]);
        assert_eq!(config.env, ["A=1"]);
        assert_eq!(config.working_dir.as_deref(), Some("/srv"));
        assert_eq!(config.platform, "linux/amd64");
        let bare = read_config(br#"{"config":{"Cmd":null}}"#).unwrap();
        assert!(bare.entrypoint.is_empty() && bare.cmd.is_empty());
        assert!(read_config(b"nope").is_err());
    }

    #[test]
    fn argv0_finds_the_wasm_file_as_runwasi_does() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("app/bin")).unwrap();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("app/bin/tool.wasm"), b"\0asm\x01\0\0\0").unwrap();
        std::fs::write(root.join("bin/sh"), b"\x7fELF\x02\x01").unwrap();
        std::fs::write(root.join("run.sh"), b"#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/app/bin/tool.wasm", root.join("bin/tool")).unwrap();
        std::os::unix::fs::symlink("../../../../../etc/passwd", root.join("bin/up")).unwrap();

        let e = entry(root, "/app/bin/tool.wasm#serve", None, None).unwrap();
        assert_eq!(e.path, Path::new("app/bin/tool.wasm"));
        assert_eq!(e.func.as_deref(), Some("serve"));
        let e = entry(root, "bin/tool.wasm", Some("/app"), None).unwrap();
        assert_eq!((e.path, e.func), (PathBuf::from("app/bin/tool.wasm"), None));
        // A bare name: the image's PATH, then the working directory; symlinks followed
        // inside the image.
        let e = entry(root, "tool", None, Some("/usr/bin:/bin")).unwrap();
        assert_eq!(e.path, Path::new("app/bin/tool.wasm"));
        let e = entry(root, "tool.wasm#_start", Some("/app/bin"), Some("/bin")).unwrap();
        assert_eq!((e.path, e.func), (PathBuf::from("app/bin/tool.wasm"), None));

        let err = |argv0: &str| entry(root, argv0, None, Some("/bin")).err().unwrap();
        assert_eq!(
            err("/bin/sh"),
            "entrypoint /bin/sh is an ELF executable, not Wasm"
        );
        assert_eq!(err("sh"), "entrypoint sh is an ELF executable, not Wasm");
        assert_eq!(err("/run.sh"), "entrypoint /run.sh is a script, not Wasm");
        assert_eq!(err("/app"), "entrypoint /app is a directory, not Wasm");
        assert_eq!(
            err("/nope.wasm"),
            "entrypoint /nope.wasm is not in the image"
        );
        // `..` and symlinks never leave the image: /etc/passwd of the image, absent.
        assert_eq!(err("/bin/up"), "entrypoint /bin/up is not in the image");
        assert_eq!(
            err("/../../etc/passwd"),
            "entrypoint /../../etc/passwd is not in the image"
        );
        assert!(err("").contains("no entrypoint"));
    }
}
