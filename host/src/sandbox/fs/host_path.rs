//! `hostPath` volumes: the kubelet's check of the path against the volume's `type`
//! (a directory, made if missing for `DirectoryOrCreate`); WASI mounts only directories.

use std::path::Path;

use super::{SandboxError, io_err};

/// Checks `path` against `kind` (`""`, `Directory`, `DirectoryOrCreate`), as the kubelet
/// does before it mounts a `hostPath` volume.
pub(super) fn check_host_path(volume: &str, path: &Path, kind: &str) -> Result<(), SandboxError> {
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
