//! Spare roots: container roots a runtime keeps, as they were made, for its next
//! containers.
//!
//! A one-container pod given neither volumes nor a run directory spends most of its
//! time in the file system making its container's root (the root, `tmp/` and the
//! termination-message file in its directory) and removing it: four `mkdir`/`rmdir`
//! pairs on a tmpfs, about 35 µs on a 2-core VM. A root its guest left exactly as it was
//! made is as good as a new one. When a pod ends with no instance left that could use
//! its roots (its instance budget closed with no permit held: every instance, exec
//! probes' and hooks' too, holds one until none of its guest code can run again),
//! [`Spares::offer`] checks each root and keeps it, up to [`MAX_SPARES`], for the next
//! container of any pod of the runtime with the same termination-message path
//! ([`Spares::take`]). The spares go with the runtime (the last [`Spares`] dropped).
//!
//! "Exactly as made" is checked with one `statx` per entry made, none following a
//! link: on a tmpfs a directory's size counts its entries (the same for every entry,
//! whatever its name or kind, and two for `.` and `..`) and its link count its
//! subdirectories, so with the made names found as made there is room for nothing else.
//! That accounting is probed once, in [`Spares::new`]; where it does not hold, no root
//! is kept. The message file must be empty with one link (not linked into a volume).
//! Access and modification times are set back to one fixed time (the process's first
//! check) when a guest changed them, so that a container cannot learn from its root
//! when an earlier one used it.
//!
//! The same check lets a restarted container's new instance start in its previous
//! root, where it is, when no instance of the pod holds a permit at the restart
//! ([`super::PodDirs::preopens_reusing`]): the root a crash loop leaves as made is
//! neither moved aside nor made again.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use cap_std::fs::Dir;

use crate::sync::lock;

/// The most spare container roots a runtime keeps for its next containers (empty
/// directories in memory, each with a `tmp/` and a termination-message file).
pub const MAX_SPARES: usize = 64;

/// A runtime's spare roots in one directory.
#[derive(Debug)]
pub struct Spares {
    /// The directory they are in.
    base: PathBuf,
    /// A directory's size per entry in `base` (tmpfs' `BOGO_DIRENT_SIZE`); `None`
    /// where sizes do not count entries: no root is kept.
    entry_size: Option<u64>,
    free: Mutex<Vec<Spare>>,
}

#[derive(Debug)]
struct Spare {
    path: PathBuf,
    /// The termination message's path in it.
    message: PathBuf,
    dir: Dir,
}

impl Spares {
    /// Spare roots in `base` (roots elsewhere are never kept).
    pub fn new(base: PathBuf) -> Self {
        let entry_size = super::trash::on_tmpfs(&base)
            .then(|| entry_size_in_memory(&base))
            .flatten();
        Spares {
            base,
            entry_size,
            free: Mutex::new(Vec::new()),
        }
    }

    /// A kept root with the termination message at `message`, and its opened directory.
    pub(super) fn take(&self, message: &Path) -> Option<(PathBuf, Dir)> {
        let mut free = lock(&self.free);
        let i = free.iter().rposition(|s| s.message == message)?;
        let spare = free.swap_remove(i);
        Some((spare.path, spare.dir))
    }

    /// Keeps the root `root` if it is exactly as made, with the termination message at
    /// `message`, and there is room; `false`: the caller removes it. Only when no
    /// instance can use it any more.
    pub(super) fn offer(&self, root: &Path, message: &Path) -> bool {
        let Some(entry_size) = self.entry_size else {
            return false;
        };
        if root.parent() != Some(self.base.as_path()) || lock(&self.free).len() >= MAX_SPARES {
            return false;
        }
        let Some(dir) = as_made(root, message, entry_size) else {
            return false;
        };
        let mut free = lock(&self.free);
        if free.len() >= MAX_SPARES {
            return false;
        }
        free.push(Spare {
            path: root.to_path_buf(),
            message: message.to_path_buf(),
            dir,
        });
        true
    }

    /// How many roots are kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        lock(&self.free).len()
    }

    /// Whether roots are kept at all (sizes count entries in `base`).
    #[cfg(test)]
    pub(super) fn enabled(&self) -> bool {
        self.entry_size.is_some()
    }
}

impl Drop for Spares {
    fn drop(&mut self) {
        let free = std::mem::take(&mut *lock(&self.free));
        for spare in free {
            drop(spare.dir);
            super::trash::discard_root(&spare.path, Some(&spare.message));
        }
    }
}

/// The root `root` opened, if it holds exactly what was made (a `tmp/` and an empty
/// termination-message file at `message` in its directories) on a file system whose
/// directories' sizes count `entry_size` per entry; its times set back to [`stamp`].
/// Only when no instance can use it.
#[cfg(target_os = "linux")]
pub(super) fn as_made(root: &Path, message: &Path, entry_size: u64) -> Option<Dir> {
    use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, StatxFlags};
    let made = super::made::message(message).ok()?;
    let parents = made.as_ref().map_or(&[][..], |m| &m.parents[..]);
    // (path in the root, entries, subdirectories) of each directory made, then the file.
    let mut dirs = vec![
        (
            PathBuf::new(),
            1 + u64::from(made.is_some()),
            1 + u64::from(!parents.is_empty()),
        ),
        (PathBuf::from(super::made::TMP), 0, 0),
    ];
    let mut at = PathBuf::new();
    for (i, name) in parents.iter().enumerate() {
        at.push(name);
        dirs.push((at.clone(), 1, u64::from(i + 1 < parents.len())));
    }
    let fd = rustix::fs::openat(
        CWD,
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let stat = |path: &Path| {
        let flags = match path.as_os_str().is_empty() {
            true => AtFlags::EMPTY_PATH,
            false => AtFlags::SYMLINK_NOFOLLOW,
        };
        rustix::fs::statx(&fd, path, flags, StatxFlags::BASIC_STATS).ok()
    };
    let mut stale = Vec::new();
    let stamped = |s: &rustix::fs::Statx| {
        let t = &stamp().last_modification;
        [s.stx_atime, s.stx_mtime]
            .iter()
            .all(|x| x.tv_sec == t.tv_sec && x.tv_nsec == 0)
    };
    // Each directory before what is in it: a path below one goes through no link.
    for (path, entries, subdirs) in &dirs {
        let s = stat(path)?;
        let as_made = FileType::from_raw_mode(s.stx_mode.into()) == FileType::Directory
            && u64::from(s.stx_nlink) == 2 + subdirs
            && s.stx_size == entry_size * (2 + entries);
        if !as_made {
            return None;
        }
        if !stamped(&s) {
            stale.push(path.clone());
        }
    }
    if made.is_some() {
        let s = stat(message)?;
        let as_made = FileType::from_raw_mode(s.stx_mode.into()) == FileType::RegularFile
            && s.stx_nlink == 1
            && s.stx_size == 0;
        if !as_made {
            return None;
        }
        if !stamped(&s) {
            stale.push(message.to_path_buf());
        }
    }
    for path in stale {
        let path = match path.as_os_str().is_empty() {
            true => Path::new("."),
            false => &path,
        };
        rustix::fs::utimensat(&fd, path, stamp(), AtFlags::SYMLINK_NOFOLLOW).ok()?;
    }
    Some(Dir::from_std_file(std::fs::File::from(fd)))
}

/// Elsewhere no root is reused.
#[cfg(not(target_os = "linux"))]
pub(super) fn as_made(_root: &Path, _message: &Path, _entry_size: u64) -> Option<Dir> {
    None
}

/// The access and modification time of every reused root's entries: the first use's,
/// whole seconds.
#[cfg(target_os = "linux")]
fn stamp() -> &'static rustix::fs::Timestamps {
    static STAMP: std::sync::OnceLock<rustix::fs::Timestamps> = std::sync::OnceLock::new();
    STAMP.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let at = rustix::fs::Timespec {
            tv_sec: i64::try_from(now).unwrap_or(0),
            tv_nsec: 0,
        };
        rustix::fs::Timestamps {
            last_access: at,
            last_modification: at,
        }
    })
}

/// A directory's size per entry in `base`, a memory file system, if sizes count
/// entries there as on a tmpfs (probed once per process, in the first one asked about:
/// they all count alike).
pub(super) fn entry_size_in_memory(base: &Path) -> Option<u64> {
    static SIZE: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *SIZE.get_or_init(|| probe_entry_size(base))
}

/// A directory's size per entry in `base`, if sizes count entries there as on a tmpfs
/// (two for an empty directory's `.` and `..`, one more for each entry).
fn probe_entry_size(base: &Path) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt as _;
        let probe = base.join(format!(
            "{}spare-probe-{}",
            super::owned_prefix(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&probe).ok()?;
        let sizes = (|| {
            let empty = std::fs::symlink_metadata(&probe)?.size();
            std::fs::create_dir(probe.join("d"))?;
            std::fs::write(probe.join("a-longer-name"), "")?;
            let two = std::fs::symlink_metadata(&probe)?.size();
            std::fs::remove_file(probe.join("a-longer-name"))?;
            std::fs::remove_dir(probe.join("d"))?;
            let again = std::fs::symlink_metadata(&probe)?.size();
            std::io::Result::Ok((empty, two, again))
        })();
        let _ = std::fs::remove_dir_all(&probe);
        let (empty, two, again) = sizes.ok()?;
        let per = empty / 2;
        (per > 0 && empty == 2 * per && two == 4 * per && again == empty).then_some(per)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = base;
        None
    }
}
