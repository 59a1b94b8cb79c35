//! How much a volume holds, measured as the kubelet's housekeeping does
//! (`du`: allocated blocks, so a sparse file counts what it uses), without
//! following symlinks and with bounds: at most [`MAX_WALK_ENTRIES`] entries
//! per walk and a constant number of open descriptors whatever the depth (the
//! walk climbs back with `..` and checks it lands where it came from).

use std::ffi::CString;
use std::io;

use cap_std::fs::Dir;

/// The most entries one measurement visits; beyond it the walk stops and
/// reports what it counted (`complete: false`).
pub const MAX_WALK_ENTRIES: usize = 100_000;

/// The result of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskUsage {
    /// Allocated bytes (blocks × 512) of everything walked.
    pub bytes: u64,
    /// Entries visited.
    pub entries: usize,
    /// False when a bound was hit or the tree moved under the walk.
    pub complete: bool,
}

/// Measures the tree beneath `root` (the root itself included), visiting at
/// most `max_entries` entries.
///
/// # Errors
/// When `root` itself cannot be read.
#[cfg(unix)]
pub fn disk_usage(root: &Dir, max_entries: usize) -> io::Result<DiskUsage> {
    use rustix::fs::{Mode, OFlags, fstat, openat};

    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut usage = DiskUsage {
        complete: true,
        ..DiskUsage::default()
    };
    let mut cur = openat(root, c".", flags, Mode::empty())?;
    let st = fstat(&cur)?;
    usage.bytes += blocks(&st);
    // Per level: the directory's identity and its sub-directories still to visit.
    let mut stack = vec![(id(&st), list(&cur, &mut usage, max_entries))];
    // Past the root, an error (a directory removed or moved under the walk)
    // ends the walk with what it counted so far: a guest racing the walk
    // gets a partial count, never no count.
    while let Some((_, pending)) = stack.last_mut() {
        if usage.entries >= max_entries {
            usage.complete = false;
            break;
        }
        if let Some(name) = pending.pop() {
            // A directory swapped for a symlink since it was listed is not
            // followed (NOFOLLOW); one that vanished is skipped.
            let Ok(child) = openat(&cur, name.as_c_str(), flags, Mode::empty()) else {
                continue;
            };
            let Ok(st) = fstat(&child) else {
                continue;
            };
            cur = child;
            let children = list(&cur, &mut usage, max_entries);
            stack.push((id(&st), children));
            continue;
        }
        stack.pop();
        let Some((parent, _)) = stack.last() else {
            break;
        };
        let up =
            openat(&cur, c"..", flags, Mode::empty()).and_then(|up| Ok((id(&fstat(&up)?), up)));
        match up {
            Ok((found, up)) if found == *parent => cur = up,
            // Moved or removed during the walk: stop here rather than
            // wander; the next measurement starts afresh.
            _ => {
                usage.complete = false;
                break;
            }
        }
    }
    Ok(usage)
}

/// Without the `*at` calls there is no safe walk: nothing is measured.
#[cfg(not(unix))]
pub fn disk_usage(_root: &Dir, _max_entries: usize) -> io::Result<DiskUsage> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "volume usage is measured on Unix only",
    ))
}

/// Counts the entries of one directory and returns its sub-directories
/// (none if it cannot be read).
#[cfg(unix)]
fn list(dir: &rustix::fd::OwnedFd, usage: &mut DiskUsage, max_entries: usize) -> Vec<CString> {
    use rustix::fs::{AtFlags, FileType, statat};

    let mut subdirs = Vec::new();
    let Ok(entries) = rustix::fs::Dir::read_from(dir) else {
        usage.complete = false;
        return subdirs;
    };
    for entry in entries {
        let Ok(entry) = entry else {
            usage.complete = false;
            break;
        };
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        if usage.entries >= max_entries {
            usage.complete = false;
            break;
        }
        usage.entries += 1;
        // lstat: a symlink counts as itself, never its target.
        let Ok(st) = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        usage.bytes = usage.bytes.saturating_add(blocks(&st));
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            subdirs.push(name.to_owned());
        }
    }
    subdirs
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast)]
fn blocks(st: &rustix::fs::Stat) -> u64 {
    (st.st_blocks as u64).saturating_mul(512)
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast)]
fn id(st: &rustix::fs::Stat) -> (u64, u64) {
    (st.st_dev as u64, st.st_ino as u64)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use cap_std::ambient_authority;

    #[test]
    fn counts_files_in_nested_directories_and_not_symlink_targets() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("big"), vec![1u8; 4 << 20]).unwrap();
        let deep = tmp.path().join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("f"), vec![1u8; 1 << 20]).unwrap();
        std::fs::write(tmp.path().join("a/g"), vec![1u8; 1 << 20]).unwrap();
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("big"), tmp.path().join("a/big")).unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), ambient_authority()).unwrap();
        let u = disk_usage(&dir, MAX_WALK_ENTRIES).unwrap();
        assert!(u.complete, "{u:?}");
        // a, a/b, a/b/c, a/b/c/f, a/g, out, a/big
        assert_eq!(u.entries, 7, "{u:?}");
        assert!(u.bytes >= 2 << 20, "{u:?}");
        assert!(
            u.bytes < 3 << 20,
            "the symlinked 4 MiB must not count: {u:?}"
        );
    }

    #[test]
    fn stops_at_the_entry_bound_and_handles_depth() {
        let tmp = tempfile::tempdir().unwrap();
        let mut p = tmp.path().to_path_buf();
        for _ in 0..200 {
            p.push("d");
        }
        std::fs::create_dir_all(&p).unwrap();
        for i in 0..50 {
            std::fs::write(tmp.path().join(format!("f{i}")), b"x").unwrap();
        }
        let dir = Dir::open_ambient_dir(tmp.path(), ambient_authority()).unwrap();
        let all = disk_usage(&dir, MAX_WALK_ENTRIES).unwrap();
        assert!(all.complete, "{all:?}");
        assert_eq!(all.entries, 250);
        let some = disk_usage(&dir, 10).unwrap();
        assert!(!some.complete);
        assert_eq!(some.entries, 10);
    }
}
