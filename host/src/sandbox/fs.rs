//! A pod's directories: its volumes and each container's private root.
//!
//! * `emptyDir`: a fresh directory per pod under the run directory (or, for
//!   `medium: Memory`, under `/dev/shm` where that is a tmpfs), removed when
//!   the pod ends. It survives container restarts, as in Kubernetes.
//! * `hostPath`: the host directory itself, checked against `type`.
//! * Each container instance also gets a private, empty writable root (`/`),
//!   standing in for a container's writable layer: guests can use `/tmp`
//!   without a volume. It is recreated for every instance, like a restarted
//!   container's layer. The volume mounts are preopened on top of it; WASI
//!   resolves a path through the longest matching preopen. The root holds an
//!   empty `terminationMessagePath` file (`/dev/termination-log`).
//!
//! `subPath` mounts a sub-directory of the volume (created if missing, as the
//! kubelet does); a `subPath` that resolves outside the volume (through a
//! symlink) is refused.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use crate::plan::{ContainerPlan, PodPlan, VolumeSource};

/// A directory preopened for a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The host directory.
    pub host: PathBuf,
    /// The path the guest sees.
    pub guest: String,
    /// Read-only for the guest.
    pub read_only: bool,
}

/// Why a pod's directories could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A directory could not be created or opened.
    #[error("volume {volume:?}: {message}: {path:?}: {cause}")]
    Io {
        /// The volume (or `rootfs`).
        volume: String,
        /// What was being done.
        message: &'static str,
        /// The host path.
        path: PathBuf,
        /// The cause (part of the message, so not also a `source()`).
        cause: std::io::Error,
    },
    /// A hostPath does not match its `type`, or a subPath escapes its volume.
    #[error("volume {volume:?}: {message}")]
    Invalid {
        /// The volume.
        volume: String,
        /// What is wrong.
        message: String,
    },
}

impl SandboxError {
    /// The Kubernetes waiting reason for a container this error keeps from starting.
    pub fn reason(&self) -> &'static str {
        "CreateContainerConfigError"
    }
}

/// The directories of one pod.
#[derive(Debug)]
pub struct PodDirs {
    run_dir: PathBuf,
    volumes: HashMap<String, PathBuf>,
    /// Directories to remove when the pod ends.
    owned: Vec<PathBuf>,
}

impl PodDirs {
    /// Creates the pod's emptyDirs and checks its hostPaths.
    ///
    /// # Errors
    /// [`SandboxError`] when a directory cannot be created or a hostPath does
    /// not match its type.
    pub fn create(plan: &PodPlan, run_dir: &Path) -> Result<Self, SandboxError> {
        let mut dirs = PodDirs {
            run_dir: run_dir.to_path_buf(),
            volumes: HashMap::new(),
            owned: Vec::new(),
        };
        for v in &plan.volumes {
            let path = match &v.source {
                VolumeSource::EmptyDir { memory } => {
                    let base = if *memory {
                        memory_base().unwrap_or_else(|| run_dir.to_path_buf())
                    } else {
                        run_dir.to_path_buf()
                    };
                    let path = if *memory {
                        base.join(format!("wasmpod-{}-{}", plan.uid, v.name))
                    } else {
                        base.join("volumes").join(&v.name)
                    };
                    create_dir(&v.name, &path)?;
                    dirs.owned.push(path.clone());
                    path
                }
                VolumeSource::HostPath { path, kind } => {
                    check_host_path(&v.name, path, kind)?;
                    path.clone()
                }
            };
            dirs.volumes.insert(v.name.clone(), path);
        }
        Ok(dirs)
    }

    /// The host directory behind a volume.
    pub fn volume_path(&self, name: &str) -> Option<&Path> {
        self.volumes.get(name).map(PathBuf::as_path)
    }

    /// Prepares the preopens of one container instance: a fresh private root
    /// and its volume mounts.
    ///
    /// # Errors
    /// [`SandboxError`] if a directory cannot be created or a subPath escapes.
    pub fn preopens_for(&self, c: &ContainerPlan) -> Result<Vec<Preopen>, SandboxError> {
        let root = self.run_dir.join("containers").join(&c.name).join("rootfs");
        if root.exists() {
            std::fs::remove_dir_all(&root)
                .map_err(|source| io_err("rootfs", "failed to reset", &root, source))?;
        }
        create_dir("rootfs", &root)?;
        // A container image has a /tmp; so does the private root.
        create_dir("rootfs", &root.join("tmp"))?;
        // Like the kubelet's bind-mounted /dev/termination-log: an empty file
        // the guest may write its termination message to.
        let message = root.join(c.termination_message_path.trim_start_matches('/'));
        if let Some(dir) = message.parent() {
            create_dir("rootfs", dir)?;
            std::fs::write(&message, b"")
                .map_err(|source| io_err("rootfs", "failed to create", &message, source))?;
        }
        let mut preopens = vec![Preopen {
            host: root.clone(),
            guest: "/".into(),
            read_only: false,
        }];
        for m in &c.mounts {
            let base = self
                .volumes
                .get(&m.volume)
                .ok_or_else(|| SandboxError::Invalid {
                    volume: m.volume.clone(),
                    message: "no such volume".into(),
                })?;
            let host = match &m.sub_path {
                Some(sub) => sub_path(&m.volume, base, sub)?,
                None => base.clone(),
            };
            // Make the mount point visible when the guest lists its parent.
            let mount_point = root.join(m.mount_path.trim_start_matches('/'));
            let _ = std::fs::create_dir_all(&mount_point);
            preopens.push(Preopen {
                host,
                guest: m.mount_path.clone(),
                read_only: m.read_only,
            });
        }
        Ok(preopens)
    }

    /// Removes the pod's emptyDirs and container roots. Errors are logged:
    /// cleanup must not hide the pod's outcome.
    pub fn remove(&self) {
        for dir in self
            .owned
            .iter()
            .chain(std::iter::once(&self.run_dir.join("containers")))
        {
            if let Err(e) = std::fs::remove_dir_all(dir)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!("failed to remove {}: {e}", dir.display());
            }
        }
        let _ = std::fs::remove_dir(self.run_dir.join("volumes"));
    }
}

/// `/dev/shm` if it is a directory we can write to (a tmpfs on Linux).
fn memory_base() -> Option<PathBuf> {
    let shm = PathBuf::from("/dev/shm");
    let probe = shm.join(format!(".wasmpod-probe-{}", std::process::id()));
    std::fs::create_dir(&probe).ok()?;
    let _ = std::fs::remove_dir(&probe);
    Some(shm)
}

fn create_dir(volume: &str, path: &Path) -> Result<(), SandboxError> {
    std::fs::create_dir_all(path)
        .map_err(|source| io_err(volume, "failed to create directory", path, source))
}

fn io_err(
    volume: &str,
    message: &'static str,
    path: &Path,
    source: std::io::Error,
) -> SandboxError {
    SandboxError::Io {
        volume: volume.to_string(),
        message,
        path: path.to_path_buf(),
        cause: source,
    }
}

fn check_host_path(volume: &str, path: &Path, kind: &str) -> Result<(), SandboxError> {
    let invalid = |message: String| SandboxError::Invalid {
        volume: volume.to_string(),
        message,
    };
    match kind {
        "DirectoryOrCreate" => {
            if !path.is_dir() {
                std::fs::create_dir_all(path)
                    .map_err(|source| io_err(volume, "failed to create hostPath", path, source))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
                }
            }
            Ok(())
        }
        "" | "Directory" => {
            if path.is_dir() {
                Ok(())
            } else if kind.is_empty() && !path.exists() {
                Err(invalid(format!(
                    "hostPath {} does not exist (use type DirectoryOrCreate to create it)",
                    path.display()
                )))
            } else {
                Err(invalid(format!(
                    "hostPath type check failed: {} is not a directory",
                    path.display()
                )))
            }
        }
        other => Err(invalid(format!(
            "hostPath type {other} is not supported: WASI mounts are directories"
        ))),
    }
}

fn sub_path(volume: &str, base: &Path, sub: &str) -> Result<PathBuf, SandboxError> {
    let invalid = |message: String| SandboxError::Invalid {
        volume: volume.to_string(),
        message,
    };
    let rel = Path::new(sub);
    if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(invalid(format!(
            "subPath {sub:?} must be a relative path without '..'"
        )));
    }
    let path = base.join(rel);
    create_dir(volume, &path)?;
    let canonical_base = base
        .canonicalize()
        .map_err(|source| io_err(volume, "failed to resolve", base, source))?;
    let canonical = path
        .canonicalize()
        .map_err(|source| io_err(volume, "failed to resolve", &path, source))?;
    if !canonical.starts_with(&canonical_base) {
        return Err(invalid(format!(
            "subPath {sub:?} resolves outside the volume"
        )));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_path_is_created_and_kept_inside() {
        let dir = tempfile::tempdir().unwrap();
        let p = sub_path("v", dir.path(), "a/b").unwrap();
        assert!(p.is_dir());
        assert!(sub_path("v", dir.path(), "../x").is_err());
        assert!(sub_path("v", dir.path(), "/etc").is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/", dir.path().join("escape")).unwrap();
            let err = sub_path("v", dir.path(), "escape").unwrap_err();
            assert!(err.to_string().contains("outside the volume"), "{err}");
        }
    }

    #[test]
    fn host_path_types_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("new");
        assert!(check_host_path("v", &missing, "Directory").is_err());
        assert!(check_host_path("v", &missing, "").is_err());
        check_host_path("v", &missing, "DirectoryOrCreate").unwrap();
        assert!(missing.is_dir());
        check_host_path("v", &missing, "Directory").unwrap();
        let err = check_host_path("v", &missing, "File").unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
    }
}
