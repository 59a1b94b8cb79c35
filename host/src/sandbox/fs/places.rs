//! Where pods' directories go: a temporary run directory (in memory when
//! memory is roomy), the containers' private roots of a run directory on a
//! disk, memory-backed volumes; and the sweep of what dead processes left
//! in those places.

use std::path::{Path, PathBuf};

use std::sync::{Arc, OnceLock};

use super::{Spares, owned_prefix, single_component, sweep, trash};

/// Where a pod without a run directory gets its temporary one: `$TMPDIR`
/// when it is set (the user's choice); else `$XDG_RUNTIME_DIR` or
/// `/dev/shm`, memory file systems where creating and removing a pod's
/// directories never waits on a disk, if one is writable and has at least
/// [`MIN_TMPFS_FREE`] free (a container's `/dev/shm` is often 64 MiB); else
/// the system's temporary directory.
pub fn temp_run_base() -> PathBuf {
    static MEMORY: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    if std::env::var_os("TMPDIR").is_some() {
        return std::env::temp_dir();
    }
    MEMORY
        .get_or_init(|| {
            let xdg = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
            xdg.into_iter()
                .chain(std::iter::once(PathBuf::from("/dev/shm")))
                .find(|d| roomy_and_writable(d))
        })
        .clone()
        .unwrap_or_else(std::env::temp_dir)
}

/// Where a pod given no run directory that has no volumes keeps its containers'
/// roots: beside the temporary run directories of [`temp_run_base`], when that is a
/// memory file system, as `<owned_prefix>r<key>-<N>.<container>` — one directory per
/// container, where a temporary run directory would take three (itself, its
/// `containers/` and the root) — and `<owned_prefix>r<key>-<N>`, a path that is never made,
/// for the pod's [`PodHandle::run_dir`](crate::PodHandle::run_dir). `None`: the pod gets
/// its temporary run directory.
///
/// The roots are taken from, and those left as they were made given back to, the
/// runtime's `spares` (made in `base` on the first call).
pub fn lone_roots(spares: &OnceLock<Arc<Spares>>) -> Option<(PathBuf, RootsAt)> {
    static IN_MEMORY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let base = temp_run_base();
    // `$TMPDIR` (read at each call, as `temp_run_base` does) is the user's choice of
    // a place for run directories: pods get theirs there. Otherwise the base is the
    // process's own choice, fixed: whether it is in memory is asked once.
    if std::env::var_os("TMPDIR").is_some()
        || !*IN_MEMORY.get_or_init(|| trash::on_tmpfs(&temp_run_base()))
    {
        return None;
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stem = format!("{}r{:016x}-{n}", owned_prefix(), process_key());
    Some((
        base.join(&stem),
        RootsAt::Beside {
            spares: Some(
                spares
                    .get_or_init(|| Arc::new(Spares::new(base.clone())))
                    .clone(),
            ),
            base,
            prefix: format!("{stem}."),
        },
    ))
}

/// A random key of the process's own, in the names of its directories in shared
/// places after [`owned_prefix`]: another user of the machine cannot guess one and
/// take it first (in a shared `/dev/shm`) to keep a pod from starting, even when the
/// manifest sets the pod's uid.
pub(super) fn process_key() -> u64 {
    static KEY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0)
}

/// The start of the names of a pod's directories in a shared memory file system:
/// [`owned_prefix`], the [`process_key`] and the pod's uid.
pub(super) fn shared_stem(uid: &str) -> String {
    format!("{}k{:016x}-{uid}", owned_prefix(), process_key())
}

/// Where a pod's containers' private roots go.
#[derive(Debug, Clone)]
pub enum RootsAt {
    /// In its run directory's `containers/`.
    RunDir,
    /// In this directory of the runtime's own, made with the pod and removed with it
    /// ([`roots_base`]).
    Dir(PathBuf),
    /// Each its own directory `<base>/<prefix><container>` ([`lone_roots`]), or a
    /// spare one of the runtime's.
    Beside {
        /// The directory holding them (a shared one: the pod owns only its roots).
        base: PathBuf,
        /// Their names' start, unique to the pod.
        prefix: String,
        /// The runtime's spare roots in `base`.
        spares: Option<Arc<Spares>>,
    },
}

/// Removes, once per process and on a thread of its own, what dead
/// processes left in the shared places pods' directories go to
/// ([`temp_run_base`], `/dev/shm`, the temp dir): see `sweep.rs`. Reading a
/// large shared temp dir takes a millisecond or more, which a short
/// `wasmpod run` should not wait for; a process that exits before the sweep
/// ends leaves the rest to the next one.
pub fn sweep_stale() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let sweep = || {
            let mut bases = vec![temp_run_base(), std::env::temp_dir()];
            bases.extend(memory_base());
            bases.sort();
            bases.dedup();
            sweep::sweep_stale(&bases);
        };
        if std::thread::Builder::new()
            .name("wasmpod-sweep".into())
            .spawn(sweep)
            .is_err()
        {
            tracing::debug!("no thread for the sweep of stale directories; skipped");
        }
    });
}

/// Where the private roots of a pod whose run directory is `run_dir` go, when not in
/// `run_dir/containers`: a new `<owned_prefix><uid>.containers` in `/dev/shm` (a memory
/// file system with at least [`MIN_TMPFS_FREE`] free, checked once per process) when
/// `run_dir` is on a disk and no container starts from a copy of an image's files.
///
/// A root is the stand-in for a container's writable layer, made at every start and
/// removed at every restart and at the pod's end; on a disk (ext4 with `discard`) that is
/// ~0.5 ms per container, in memory ~0.05 ms. Logs and disk-backed volumes stay in the
/// run directory. A guest's writes to its root then use memory, as they do where `/tmp`
/// is a tmpfs (Debian 13, Fedora, Arch) and as a library pod's whole run directory does
/// by default ([`temp_run_base`]).
pub fn roots_base(run_dir: &Path, uid: &str, copies_image_files: bool) -> Option<PathBuf> {
    static ROOMY: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    if copies_image_files || trash::on_tmpfs(run_dir) {
        return None;
    }
    let base = ROOMY
        .get_or_init(|| memory_base().filter(|b| roomy_and_writable(b)))
        .as_ref()?;
    // `.`: no volume's name (a DNS label) makes a memory volume's `<stem>-<name>` this.
    let leaf = format!("{}.containers", shared_stem(uid));
    single_component("rootfs", &leaf).ok()?;
    Some(base.join(leaf))
}

/// The least free space a memory file system needs to hold run directories.
pub const MIN_TMPFS_FREE: u64 = 1 << 30;

pub(super) fn roomy_and_writable(dir: &Path) -> bool {
    #[cfg(unix)]
    {
        let free = rustix::fs::statvfs(dir).map_or(0, |s| s.f_bavail.saturating_mul(s.f_frsize));
        free >= MIN_TMPFS_FREE
            && rustix::fs::access(
                dir,
                rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
            )
            .is_ok()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        false
    }
}

/// `/dev/shm` if this process can make directories there (probed once).
pub(super) fn memory_base() -> Option<PathBuf> {
    static BASE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let probe = shm.join(format!(".wasmpod-probe-{}", std::process::id()));
        std::fs::create_dir(&probe).ok()?;
        let _ = std::fs::remove_dir(&probe);
        Some(shm)
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::super::PodDirs;
    use super::super::tests::plan;
    use super::*;

    /// The names a pod's directories take in a shared memory file system carry the
    /// process's random key after its prefix: another user of the machine cannot take one
    /// first, even knowing the pod's uid (a manifest may set it).
    #[test]
    fn shared_names_carry_the_process_key() {
        let key = format!("k{:016x}-", process_key());
        assert_eq!(shared_stem("u1"), format!("{}{key}u1", owned_prefix()));
        let p = plan(
            "  - name: m\n    emptyDir: {medium: Memory}\n",
            "    - {name: m, mountPath: /m}\n",
        );
        let run = tempfile::tempdir().unwrap();
        let dirs = PodDirs::create(&p, run.path()).unwrap();
        let name = dirs
            .volume_path("m")
            .unwrap()
            .file_name()
            .unwrap()
            .to_owned();
        assert_eq!(
            name.to_string_lossy(),
            format!("{}{key}{}-m", owned_prefix(), p.uid)
        );
        dirs.remove();
    }
}
