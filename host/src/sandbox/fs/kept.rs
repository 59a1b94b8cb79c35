//! A container's preopens kept between its instances without a descriptor
//! for its private root.
//!
//! A running instance's WASI context opens each preopen again (wasmtime is
//! handed `/proc/self/fd/N`), so once it is built the sandbox's own handle of
//! the root is one more descriptor per idle container — the one that, with a
//! 20,000-descriptor limit, stopped a process near 10,000 idle containers.
//! What later instances need (exec probes, hooks, `PodHandle::exec`) and the
//! termination message read after an exit are [`Kept`] instead: the root by
//! its path, reopened when needed, and everything else (volumes, `subPath`
//! mounts, the working directory's preopens inside the guest-writable root)
//! by its opened directory, as before.
//!
//! Reopening the root by path is safe where reopening a mount would not be:
//! the root is `RUN_DIR/containers/NAME`, every component of which is
//! the runtime's own; a guest can write inside its root, never replace it.

use std::path::PathBuf;
use std::sync::Arc;

use cap_std::fs::Dir;

use super::{Preopen, SandboxError, open_ambient};

/// One preopen as kept between instances.
#[derive(Debug, Clone)]
pub enum Kept {
    /// The container's private root, by its host path.
    Root {
        /// `RUN_DIR/containers/NAME`.
        host: PathBuf,
        /// `/`.
        guest: String,
    },
    /// Anything else, by its opened directory.
    Open(Preopen),
}

impl Kept {
    /// The path the guest sees.
    pub fn guest(&self) -> &str {
        match self {
            Kept::Root { guest, .. } => guest,
            Kept::Open(p) => &p.guest,
        }
    }

    /// The directory, opened now for the root.
    ///
    /// # Errors
    /// [`SandboxError`] when the root cannot be opened (the pod's directories
    /// were removed).
    pub fn dir(&self) -> Result<Arc<Dir>, SandboxError> {
        match self {
            Kept::Root { host, .. } => Ok(Arc::new(open_ambient("rootfs", host)?)),
            Kept::Open(p) => Ok(p.dir.clone()),
        }
    }
}

/// What of `preopens` (from [`super::PodDirs::preopens_reusing`], the root
/// first) is kept: the root by its path, the rest as they are.
pub fn keep(preopens: &[Preopen]) -> Vec<Kept> {
    preopens
        .iter()
        .enumerate()
        .map(|(i, p)| match p {
            // preopens_reusing puts the private root first, writable, at `/`.
            p if i == 0 && p.guest == "/" && !p.read_only && p.cwd.is_none() => Kept::Root {
                host: p.host.clone(),
                guest: p.guest.clone(),
            },
            p => Kept::Open(p.clone()),
        })
        .collect()
}

/// The preopens of a new instance: the root opened again.
///
/// # Errors
/// [`SandboxError`] when the root cannot be opened.
pub fn reopen(kept: &[Kept]) -> Result<Vec<Preopen>, SandboxError> {
    kept.iter()
        .map(|k| match k {
            Kept::Root { host, guest } => Ok(Preopen {
                host: host.clone(),
                dir: k.dir()?,
                guest: guest.clone(),
                read_only: false,
                cwd: None,
            }),
            Kept::Open(p) => Ok(p.clone()),
        })
        .collect()
}
