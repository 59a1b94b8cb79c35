//! Removing a pod's directories off the hot path. On a disk file system
//! (ext4 with `discard`, say) removing a tree waits on the device; a pod's
//! end and a container's restart should not. [`discard`] renames the tree
//! to a hidden sibling — its path is free at once — and a background thread
//! removes it; [`drain_discarded`] waits until every discarded tree is gone (the
//! runtime calls it when it is dropped, so a process that ends normally
//! leaves nothing behind). On a memory file system (tmpfs), where removal
//! is cheap, the tree is removed at once: handing it to the thread saved no
//! time in the churn benchmark and cost some with 32 pods in flight. At most
//! [`MAX_PENDING`] trees wait: past that a tree is removed at once, by its
//! discarder, so a crash loop cannot pile up trees faster than they go.

use crate::sync::lock;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, OnceLock};

struct Remover {
    queue: Mutex<mpsc::Sender<PathBuf>>,
    /// Trees queued and not yet removed.
    pending: Mutex<usize>,
    done: Condvar,
}

/// The remover, started by the first tree queued.
static REMOVER: OnceLock<Remover> = OnceLock::new();

fn remover() -> &'static Remover {
    REMOVER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<PathBuf>();
        let spawned = std::thread::Builder::new()
            .name("wasmpod-trash".into())
            .spawn(move || {
                for path in rx {
                    remove_now(&path);
                    let r = remover();
                    *lock(&r.pending) -= 1;
                    r.done.notify_all();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the directory remover thread: {e}");
        }
        Remover {
            queue: Mutex::new(tx),
            pending: Mutex::new(0),
            done: Condvar::new(),
        }
    })
}

fn remove_now(path: &Path) {
    // Neither follows the symlinks a guest left. `remove_dir_all` is only
    // where `remove_tree` is not (off Linux): it recurses once per level and a
    // guest's deep enough tree overflows its stack (see `remove.rs`).
    let removed = match super::remove::remove_tree(path) {
        Err(e) if e.kind() == std::io::ErrorKind::Unsupported => std::fs::remove_dir_all(path),
        removed => removed,
    };
    if let Err(e) = removed
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("failed to remove {}: {e}", path.display());
    }
}

/// Whether `path` is on a memory file system.
pub(super) fn on_tmpfs(path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        const TMPFS_MAGIC: i64 = 0x0102_1994;
        #[allow(
            clippy::unnecessary_cast,
            reason = "f_type's type varies by architecture"
        )]
        rustix::fs::statfs(path).is_ok_and(|s| s.f_type as i64 == TMPFS_MAGIC)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        false
    }
}

/// The most discarded trees waiting for the remover thread.
pub const MAX_PENDING: usize = 64;

/// Removes the tree at `path` (nothing if it does not exist): its path is
/// free when this returns, the removal itself may still be under way.
pub fn discard(path: &Path) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    // An empty directory (a pod's `containers/` once its roots are gone, its
    // run directory then): one call, which follows no link, on any file system.
    #[cfg(target_os = "linux")]
    match rustix::fs::unlinkat(rustix::fs::CWD, path, rustix::fs::AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => return,
        Err(_) => {}
    }
    if on_tmpfs(path) || *lock(&remover().pending) >= MAX_PENDING {
        return remove_now(path);
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let hidden = path.with_file_name(format!(
        ".{name}.wasmpod-removing-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    match std::fs::rename(path, &hidden) {
        Ok(()) => {
            let r = remover();
            *lock(&r.pending) += 1;
            if lock(&r.queue).send(hidden.clone()).is_err() {
                // No remover thread: remove it here.
                *lock(&r.pending) -= 1;
                remove_now(&hidden);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) => remove_now(path),
    }
}

/// [`discard`]s the container root `root`; `made`: the termination message's
/// path in it when the sandbox made it empty, for [`remove_made_root`] to try
/// first (its caller gives it for roots in memory: on a disk, moving the root
/// away for the remover thread keeps the removal off the pod's path).
///
/// [`remove_made_root`]: super::remove::remove_made_root
pub(super) fn discard_root(root: &Path, made: Option<&Path>) {
    if let Some(message) = made {
        match super::remove::remove_made_root(root, message) {
            Ok(true) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            _ => {}
        }
    }
    discard(root);
}

/// Moves the root `root` to a sibling name of its own (`<name>.old-<N>`: no container's
/// name has a dot), to be removed later; `None` (nothing moved) if it cannot be.
/// A rename follows no link, and the root's path is the runtime's own.
pub(super) fn set_aside(root: &Path) -> Option<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = root.file_name()?.to_string_lossy();
    let aside = root.with_file_name(format!(
        "{name}.old-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::rename(root, &aside).ok().map(|()| aside)
}

/// Waits until every tree [`discard`]ed so far is removed: at once, starting no
/// thread, if none was ever queued.
pub fn drain_discarded() {
    let Some(r) = REMOVER.get() else {
        return;
    };
    let mut pending = lock(&r.pending);
    while *pending > 0 {
        pending = r.done.wait(pending).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discarded_tree_is_gone_at_once_and_removed_by_drain() {
        for base in [std::env::temp_dir(), PathBuf::from("/dev/shm")] {
            let Ok(dir) = tempfile::tempdir_in(&base) else {
                continue;
            };
            let tree = dir.path().join("containers");
            std::fs::create_dir_all(tree.join("c/rootfs/tmp")).unwrap();
            std::fs::write(tree.join("c/rootfs/tmp/f"), "x").unwrap();
            discard(&tree);
            assert!(!tree.exists(), "the path is free at once");
            drain_discarded();
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
            assert!(left.is_empty(), "{left:?}");
            discard(&tree);
        }
    }

    /// With [`MAX_PENDING`] trees waiting, the next one is removed by its discarder
    /// before `discard` returns: nothing is renamed aside for the thread.
    #[test]
    fn past_max_pending_a_tree_is_removed_by_its_discarder() {
        let Ok(dir) = tempfile::tempdir() else { return };
        if on_tmpfs(dir.path()) {
            return; // Removed at once there anyway: nothing to show.
        }
        let tree = dir.path().join("containers");
        for i in 0..200 {
            std::fs::create_dir_all(tree.join(format!("c/rootfs/{i}"))).unwrap();
            std::fs::write(tree.join(format!("c/rootfs/{i}/f")), "x").unwrap();
        }
        // As if the thread were MAX_PENDING trees behind (added to the real count,
        // which its removals go on lowering meanwhile).
        *lock(&remover().pending) += MAX_PENDING;
        discard(&tree);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        *lock(&remover().pending) -= MAX_PENDING;
        remover().done.notify_all();
        assert!(left.is_empty(), "{left:?}");
    }
}
