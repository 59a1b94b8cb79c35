//! `workingDir` for WASI guests.
//!
//! A WASI program has no host-side current directory: `wasi:cli/environment`
//! `initial-cwd` reports one (set by the container code), and wasi-libc (C,
//! Rust std: wasip1 modules and wasip2 components alike) keeps its own cwd,
//! `/` at start, and resolves every path, relative or absolute, against the
//! preopen whose name is the longest prefix of it, names normalised by
//! stripping leading `/` and `./`. So `/` and `.` both become the empty
//! prefix, which matches everything; between equal prefixes the preopen
//! listed last wins. That is what `wasmtime run --dir HOST::.` relies on.
//!
//! When `workingDir` is not `/`, the container therefore gets, after its
//! root and mounts:
//! * one preopen per top-level directory of its private root that is not a
//!   mount (`/tmp`, `/dev`, the parents of mount points), so that absolute
//!   paths into them keep their meaning;
//! * the working directory itself, named `.`, listed last: relative paths
//!   resolve in it (and so do absolute paths under no other preopen, such as
//!   `/` itself: the limitation the README states).
//!
//! The working directory is opened beneath the mount holding it, or beneath
//! the private root where it is created if missing (as a container runtime
//! does), never following a link out.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Preopen, SandboxError, beneath, io_err, subpath};

/// At most this many top-level entries of a fresh private root are looked
/// at (it holds only what `preopens_reusing` created: a few per mount).
const MAX_ROOT_ENTRIES: usize = 4096;

/// The preopens that make `working_dir` the guest's working directory,
/// given the root (`mounted[0]`) and mounts (`mounted[1..]`) already set up.
///
/// # Errors
/// [`SandboxError`] if the directory escapes its root, is not a directory,
/// or is missing inside a read-only mount.
pub(super) fn preopens(
    working_dir: Option<&str>,
    mounted: &[Preopen],
) -> Result<Vec<Preopen>, SandboxError> {
    let Some(working_dir) = working_dir.filter(|d| !d.is_empty()) else {
        return Ok(Vec::new());
    };
    let rel = beneath("rootfs", "workingDir", working_dir)?;
    let Some(root) = mounted.first() else {
        return Ok(Vec::new());
    };
    if rel.as_os_str().is_empty() {
        return Ok(Vec::new());
    }
    let cwd = format!("/{}", rel.to_string_lossy());
    // The mount holding it: the longest mount path it lies under; the last
    // of equal ones, as the guest resolves them.
    let mut holder: Option<(usize, &Preopen, PathBuf)> = None;
    for m in &mounted[1..] {
        let Ok(mount_point) = beneath("rootfs", "mountPath", &m.guest) else {
            continue;
        };
        if let Ok(rest) = rel.strip_prefix(&mount_point) {
            let depth = mount_point.components().count();
            if holder.as_ref().is_none_or(|(d, ..)| depth >= *d) {
                holder = Some((depth, m, rest.to_path_buf()));
            }
        }
    }
    let (base, rest, read_only) = match &holder {
        Some((_, m, rest)) => (*m, rest.clone(), m.read_only),
        None => (root, rel.clone(), root.read_only),
    };
    let dir = if rest.as_os_str().is_empty() {
        base.dir.clone()
    } else {
        let volume = if holder.is_some() {
            base.guest.as_str()
        } else {
            "rootfs"
        };
        Arc::new(subpath::open_beneath(
            volume,
            "workingDir",
            &base.dir,
            &rest.to_string_lossy(),
            !read_only,
        )?)
    };
    let mut out = shadowed_root_entries(root, mounted)?;
    out.push(Preopen {
        host: base.host.join(&rest),
        dir,
        guest: ".".into(),
        read_only,
        cwd: Some(cwd),
    });
    Ok(out)
}

/// A preopen for each top-level directory of the private root that no
/// mount names, so the `.` preopen does not capture absolute paths into it.
fn shadowed_root_entries(root: &Preopen, mounts: &[Preopen]) -> Result<Vec<Preopen>, SandboxError> {
    let failed = |source| io_err("rootfs", "failed to list", &root.host, source);
    let mounted: Vec<PathBuf> = mounts[1..]
        .iter()
        .filter_map(|m| beneath("rootfs", "mountPath", &m.guest).ok())
        .collect();
    let mut out = Vec::new();
    for entry in root.dir.entries().map_err(failed)?.take(MAX_ROOT_ENTRIES) {
        let entry = entry.map_err(failed)?;
        // `file_type` does not follow a symlink: only real directories.
        if !entry.file_type().map_err(failed)?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        if mounted.iter().any(|m| m.as_path() == Path::new(&name)) {
            continue;
        }
        let dir = root
            .dir
            .open_dir(&name)
            .map_err(|source| io_err("rootfs", "failed to open", &root.host.join(&name), source))?;
        out.push(Preopen {
            host: root.host.join(&name),
            dir: Arc::new(dir),
            guest: format!("/{}", name.to_string_lossy()),
            read_only: false,
            cwd: None,
        });
    }
    // Deterministic order (the directory's is not).
    out.sort_by(|a, b| a.guest.cmp(&b.guest));
    Ok(out)
}
