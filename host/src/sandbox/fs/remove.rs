//! Removing a directory tree in few system calls, without following links.
//!
//! A pod's trees are small and mostly empty: a container's root holds an
//! empty `tmp/` and `dev/termination-log`, and the pod's directory holds
//! little more than the roots. `std::fs::remove_dir_all` opens every
//! directory (with an `fstat` and two `fcntl`s) and reads it to its end
//! before removing it: about 45 calls for a one-container pod, a tenth of
//! the CPU of the churn benchmark's pod. [`remove_tree`] first tries to
//! remove each directory as an empty one (one call, which fails on a
//! non-empty directory and on anything that is not a directory) and reads
//! only the directories that are not empty.
//!
//! Every call is relative to a directory descriptor opened with
//! `O_NOFOLLOW`: a symlink a guest left is removed as a link, never
//! followed.
//!
//! A guest can nest directories as deep as it likes (one level at a time
//! through an open descriptor), and `std::fs::remove_dir_all` recurses once
//! per level with a descriptor open at each: 20,000 levels overflowed its
//! thread's stack and aborted the process. [`remove_tree`] descends at most
//! [`MAX_DEPTH`] levels (so at most that many descriptors and frames); a
//! non-empty directory it finds below that is renamed up into the tree's top
//! directory, and the top is read again until it is empty. Each entry is
//! still visited a bounded number of times, whatever the depth.

use std::path::Path;

/// Levels of directories [`remove_tree`] descends; deeper ones are moved up.
const MAX_DEPTH: usize = 16;

/// Removes the tree at `path`; `Err` leaves the rest in place (and says
/// nothing of what was removed). The top itself is opened at once: its one
/// caller, `trash::discard`, has already tried to remove it as an empty
/// directory.
///
/// # Errors
/// The first failing call's error; `NotFound` when `path` does not exist.
#[cfg(target_os = "linux")]
pub(super) fn remove_tree(path: &Path) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, CWD, Mode};
    let mut hoists = 0;
    // Each pass empties what lies within MAX_DEPTH levels and moves what
    // lies deeper up into the top, for the next pass (which opens the top
    // again: a fresh stream lists what was moved in). A pod's tree takes one.
    loop {
        let top = rustix::fs::openat(CWD, path, dir_flags(), Mode::empty())?;
        if !empty(None, top, 0, &mut hoists)? {
            break;
        }
    }
    rustix::fs::unlinkat(CWD, path, AtFlags::REMOVEDIR)?;
    Ok(())
}

#[cfg(target_os = "linux")]
fn dir_flags() -> rustix::fs::OFlags {
    use rustix::fs::OFlags;
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Removes everything in the directory `dir`, `depth` levels below `top`
/// (`None`: `dir` is the top), except the directories deeper than
/// [`MAX_DEPTH`], which it moves into `top`. Returns whether it moved any.
#[cfg(target_os = "linux")]
fn empty(
    top: Option<rustix::fd::BorrowedFd<'_>>,
    dir: rustix::fd::OwnedFd,
    depth: usize,
    hoists: &mut u64,
) -> std::io::Result<bool> {
    use rustix::fs::{AtFlags, FileType, Mode};
    use rustix::io::Errno;
    let mut hoisted = false;
    let mut entries = rustix::fs::Dir::new(dir)?;
    while let Some(entry) = entries.read() {
        let entry = entry?;
        // Unlinking what was read leaves the rest of the stream as it was.
        let fd = entries.fd()?;
        let top = top.unwrap_or(fd);
        let name = entry.file_name();
        if name == c"." || name == c".." {
            continue;
        }
        let is_dir = match entry.file_type() {
            FileType::Directory => true,
            FileType::Unknown => match rustix::fs::unlinkat(fd, name, AtFlags::empty()) {
                Ok(()) => continue,
                Err(Errno::ISDIR | Errno::PERM) => true,
                Err(e) => return Err(e.into()),
            },
            _ => false,
        };
        if !is_dir {
            rustix::fs::unlinkat(fd, name, AtFlags::empty())?;
            continue;
        }
        match rustix::fs::unlinkat(fd, name, AtFlags::REMOVEDIR) {
            Ok(()) => continue,
            Err(Errno::NOTEMPTY | Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        if depth + 1 >= MAX_DEPTH {
            hoist(fd, name, top, hoists)?;
            hoisted = true;
            continue;
        }
        let child = rustix::fs::openat(fd, name, dir_flags(), Mode::empty())?;
        hoisted |= empty(Some(top), child, depth + 1, hoists)?;
        rustix::fs::unlinkat(fd, name, AtFlags::REMOVEDIR)?;
    }
    Ok(hoisted)
}

/// Moves the (non-empty) directory `name` of `from` into `top` under a name
/// not taken there. A plain rename, which `RENAME_NOREPLACE` is not on every
/// file system: it fails onto a file or a non-empty directory (the next name
/// is tried) and replaces an empty one, which was to be removed anyway.
#[cfg(target_os = "linux")]
fn hoist(
    from: rustix::fd::BorrowedFd<'_>,
    name: &std::ffi::CStr,
    top: rustix::fd::BorrowedFd<'_>,
    hoists: &mut u64,
) -> std::io::Result<()> {
    use rustix::io::Errno;
    loop {
        let to = format!(".wasmpod-hoisted-{hoists}");
        *hoists += 1;
        match rustix::fs::renameat(from, name, top, to.as_str()) {
            Ok(()) => return Ok(()),
            Err(Errno::NOTEMPTY | Errno::EXIST | Errno::NOTDIR | Errno::ISDIR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Removes a container's root made by the sandbox and left as it was made:
/// an empty `tmp/` and the empty termination message file `message`
/// (relative, in directories of its own). That is 8 calls for the usual
/// `dev/termination-log`, where reading each directory takes about twice as
/// many. Returns `Ok(false)`, having removed only some of it, when the root
/// holds anything else, or a link or file where a directory was; the caller
/// then removes the rest with [`remove_tree`]. As there, nothing is followed:
/// each directory is opened with `O_NOFOLLOW` and each name removed relative
/// to it.
///
/// # Errors
/// The first failing call's error other than those; `NotFound` when `root`
/// does not exist.
#[cfg(target_os = "linux")]
pub(super) fn remove_made_root(root: &Path, message: &Path) -> std::io::Result<bool> {
    use rustix::fs::{AtFlags, CWD, Mode};
    use rustix::io::Errno;
    // What a guest may have put in place of what was made: a link, a file, a
    // non-empty directory, nothing.
    let unmade = |e: Errno| {
        matches!(
            e,
            Errno::NOTEMPTY
                | Errno::EXIST
                | Errno::NOTDIR
                | Errno::ISDIR
                | Errno::LOOP
                | Errno::NOENT
        )
    };
    // A message path no made root can have: the caller removes it all.
    let Ok(made) = super::made::message(message) else {
        return Ok(false);
    };
    let top = rustix::fs::openat(CWD, root, dir_flags(), Mode::empty())?;
    match rustix::fs::unlinkat(&top, super::made::TMP, AtFlags::REMOVEDIR) {
        Err(e) if unmade(e) => return Ok(false),
        removed => removed?,
    }
    if let Some(super::made::Message { parents, file }) = made {
        // `dirs[i]` is the directory holding `parents[i]` (then the file).
        let mut dirs = vec![top];
        for name in &parents {
            match rustix::fs::openat(&dirs[dirs.len() - 1], *name, dir_flags(), Mode::empty()) {
                Ok(dir) => dirs.push(dir),
                Err(e) if unmade(e) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        match rustix::fs::unlinkat(&dirs[dirs.len() - 1], file, AtFlags::empty()) {
            Err(e) if unmade(e) => return Ok(false),
            removed => removed?,
        }
        for name in parents.iter().rev() {
            dirs.pop();
            match rustix::fs::unlinkat(&dirs[dirs.len() - 1], *name, AtFlags::REMOVEDIR) {
                Err(e) if unmade(e) => return Ok(false),
                removed => removed?,
            }
        }
    }
    match rustix::fs::unlinkat(CWD, root, AtFlags::REMOVEDIR) {
        Err(e) if unmade(e) => Ok(false),
        removed => removed.map(|()| true).map_err(Into::into),
    }
}

/// Elsewhere [`remove_tree`]'s fallback does all of it.
#[cfg(not(target_os = "linux"))]
pub(super) fn remove_made_root(_root: &Path, _message: &Path) -> std::io::Result<bool> {
    Ok(false)
}

/// Elsewhere the caller's fallback does all of it.
#[cfg(not(target_os = "linux"))]
pub(super) fn remove_tree(_path: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn removes_a_tree_with_files_empty_and_full_directories_and_links() {
        let base = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        let tree = base.path().join("tree");
        std::fs::create_dir_all(tree.join("c/tmp")).unwrap();
        std::fs::create_dir_all(tree.join("c/dev/a/b/c")).unwrap();
        std::fs::write(tree.join("c/dev/termination-log"), "").unwrap();
        std::fs::write(tree.join("c/dev/a/b/c/f"), "data").unwrap();
        // Links to a directory and a file outside: removed as links, their targets kept.
        std::os::unix::fs::symlink(outside.path(), tree.join("c/dev/out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("keep"), tree.join("c/keep")).unwrap();
        remove_tree(&tree).unwrap();
        assert!(!tree.exists());
        assert_eq!(std::fs::read(outside.path().join("keep")).unwrap(), b"x");
        let missing = remove_tree(&tree).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_link_in_place_of_the_tree_is_not_followed() {
        let base = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(outside.path().join("d")).unwrap();
        let link = base.path().join("tree");
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        assert!(remove_tree(&link).is_err());
        assert!(
            outside.path().join("d").is_dir(),
            "the target's contents stay"
        );
    }

    /// A root as the sandbox makes it: `tmp/` and the message file in its directories.
    fn made_root(root: &Path, message: &str) {
        std::fs::create_dir_all(root.join("tmp")).unwrap();
        let message = root.join(message);
        std::fs::create_dir_all(message.parent().unwrap()).unwrap();
        std::fs::write(message, "").unwrap();
    }

    #[test]
    fn a_root_as_it_was_made_is_removed_in_a_few_calls() {
        let base = tempfile::tempdir().unwrap();
        for message in ["dev/termination-log", "termination-log", "a/b/c/message"] {
            let root = base.path().join("root");
            made_root(&root, message);
            assert!(
                remove_made_root(&root, Path::new(message)).unwrap(),
                "{message}"
            );
            assert!(!root.exists(), "{message}: the root is left");
        }
        let missing = remove_made_root(&base.path().join("root"), Path::new("m")).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn a_root_a_guest_changed_is_left_to_remove_tree_and_no_link_is_followed() {
        let base = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let keep = outside.path().join("termination-log");
        std::fs::write(&keep, "x").unwrap();
        std::fs::create_dir(outside.path().join("tmp")).unwrap();
        let message = Path::new("dev/termination-log");
        // What a guest can do to its root, each alone.
        type Change = fn(&Path, &Path);
        let changes: [(&str, Change); 6] = [
            ("a file in /tmp", |root, _| {
                std::fs::write(root.join("tmp/f"), "").unwrap()
            }),
            ("a file beside /tmp", |root, _| {
                std::fs::write(root.join("f"), "").unwrap()
            }),
            ("/dev a link out", |root, outside| {
                std::fs::remove_dir_all(root.join("dev")).unwrap();
                std::os::unix::fs::symlink(outside, root.join("dev")).unwrap();
            }),
            ("/tmp a link out", |root, outside| {
                std::fs::remove_dir(root.join("tmp")).unwrap();
                std::os::unix::fs::symlink(outside.join("tmp"), root.join("tmp")).unwrap();
            }),
            ("the message a directory", |root, _| {
                std::fs::remove_file(root.join("dev/termination-log")).unwrap();
                std::fs::create_dir_all(root.join("dev/termination-log/d")).unwrap();
            }),
            ("the message removed", |root, _| {
                std::fs::remove_file(root.join("dev/termination-log")).unwrap();
            }),
        ];
        for (what, change) in changes {
            let root = base.path().join("root");
            made_root(&root, "dev/termination-log");
            change(&root, outside.path());
            assert!(
                !remove_made_root(&root, message).unwrap(),
                "{what}: not as made"
            );
            remove_tree(&root).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(!root.exists(), "{what}: the root is left");
            assert_eq!(std::fs::read(&keep).unwrap(), b"x", "{what}");
            assert!(outside.path().join("tmp").is_dir(), "{what}");
        }
    }

    /// A chain of `levels` directories under `top` (one `mkdirat` and one
    /// `openat` a level, as a guest makes it), a file and a link at the bottom.
    fn nest(top: &Path, levels: usize, outside: &Path) {
        use rustix::fs::{CWD, Mode};
        std::fs::create_dir(top).unwrap();
        let mut dir = rustix::fs::openat(CWD, top, dir_flags(), Mode::empty()).unwrap();
        for _ in 0..levels {
            rustix::fs::mkdirat(&dir, c"d", Mode::RWXU).unwrap();
            dir = rustix::fs::openat(&dir, c"d", dir_flags(), Mode::empty()).unwrap();
        }
        let file = rustix::fs::openat(
            &dir,
            c"f",
            rustix::fs::OFlags::CREATE | rustix::fs::OFlags::WRONLY,
            Mode::RUSR,
        );
        drop(file.unwrap());
        rustix::fs::symlinkat(outside, &dir, c"out").unwrap();
    }

    #[test]
    fn trees_of_any_depth_are_removed_in_a_small_stack() {
        // In memory where there is a tmpfs: thousands of directories are slow on a disk.
        let base = super::super::tests::memory_tempdir();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "x").unwrap();
        for levels in [
            MAX_DEPTH - 1,
            MAX_DEPTH,
            MAX_DEPTH + 1,
            3 * MAX_DEPTH,
            5_000,
        ] {
            let tree = base.path().join(format!("tree-{levels}"));
            nest(&tree, levels, outside.path());
            // A guest's name clash with the moved directories' names is no matter.
            std::fs::create_dir(tree.join(".wasmpod-hoisted-0")).unwrap();
            std::fs::write(tree.join(".wasmpod-hoisted-1"), "guest").unwrap();
            // 64 KiB of stack: a frame per level would need more.
            let removing = tree.clone();
            let removed = std::thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || remove_tree(&removing))
                .unwrap()
                .join()
                .unwrap();
            removed.unwrap_or_else(|e| panic!("{levels} levels: {e}"));
            assert!(!tree.exists(), "{levels} levels: the tree is left");
        }
        assert_eq!(std::fs::read(outside.path().join("keep")).unwrap(), b"x");
        assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0);
    }
}
