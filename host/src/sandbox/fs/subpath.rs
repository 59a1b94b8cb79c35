//! `subPath`: a directory inside a volume, created if missing and opened
//! beneath the volume's opened directory, so that a symlink planted by a
//! guest (`a -> ../../..`) can neither make the host create anything outside
//! the volume nor have it mounted. Symlinks that stay inside the volume are
//! followed, as the kubelet allows them.

use std::io::ErrorKind;
use std::path::{Component, Path};

use cap_std::fs::Dir;

use super::SandboxError;

/// Opens (creating it if missing) the sub-directory `sub` of a volume.
///
/// # Errors
/// [`SandboxError::Invalid`] if `sub` is absolute, has `..`, leads outside
/// the volume or is not a directory; [`SandboxError::Io`] if it cannot be
/// created.
pub(super) fn open(volume: &str, base: &Dir, sub: &str) -> Result<Dir, SandboxError> {
    open_beneath(volume, "subPath", base, sub, true)
}

/// Opens the directory `sub` beneath `base` (creating it if missing and
/// `create`), never leaving `base`; errors name `field` (`subPath`,
/// `workingDir`).
pub(super) fn open_beneath(
    volume: &str,
    field: &str,
    base: &Dir,
    sub: &str,
    create: bool,
) -> Result<Dir, SandboxError> {
    let invalid = |message: String| SandboxError::Invalid {
        volume: volume.to_string(),
        message,
    };
    let rel = Path::new(sub);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)))
    {
        return Err(invalid(format!(
            "{field} {sub:?} must be a relative path without '..'"
        )));
    }
    let refused = |e: std::io::Error| match e.kind() {
        // cap-std's answer to a path that leads out of its directory.
        ErrorKind::PermissionDenied => {
            invalid(format!("{field} {sub:?} resolves outside the volume"))
        }
        ErrorKind::NotADirectory => invalid(format!(
            "{field} {sub:?} is not a directory (WASI mounts are directories)"
        )),
        _ => invalid(format!("{field} {sub:?}: {e}")),
    };
    match base.open_dir(rel) {
        Ok(dir) => return Ok(dir),
        Err(e) if e.kind() == ErrorKind::NotFound && create => {}
        Err(e) => return Err(refused(e)),
    }
    // Missing: create it (as the kubelet does), beneath the volume only.
    base.create_dir_all(rel).map_err(refused)?;
    base.open_dir(rel).map_err(refused)
}
