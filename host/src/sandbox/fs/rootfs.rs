//! A container's private root at each start: its previous one left as made, a spare, or
//! one made empty or with a compat image's files.
//!
//! A compat image's files as a container's private root: each instance's writable root
//! starts as a copy of the image's unpacked root filesystem in the image store, so the guest
//! sees the image's files at their paths and its writes land only in its own copy (the
//! semantics of an overlay's upper layer, copied when the instance starts rather than on
//! first write). A restarted container gets a fresh copy.
//!
//! The copy goes through [`cap_std::fs::Dir`]s on both sides: symlinks are copied as
//! symlinks and never followed, hard links become separate files, and anything but
//! directories, files and symlinks is skipped. It is bounded by [`MAX_COPY_ENTRIES`]; the
//! bytes were bounded when the image was unpacked.
//!
//! An absolute symlink target (`/bin/app -> /app/app.wasm`) means the image's root, as in a
//! container; WASI refuses to follow absolute symlinks, so the copy writes it relative to
//! the link's directory (`../app/app.wasm`), which resolves to the same file.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cap_std::fs::{Dir, DirBuilder, DirBuilderExt as _, OpenOptions, OpenOptionsExt as _};
use cap_std::fs::{MetadataExt as _, PermissionsExt as _};

use super::{PodDirs, Preopen, SandboxError, beneath, io_err, lock, spare, trash};
use crate::plan::ContainerPlan;

/// The most entries copied from an image into a container's root.
pub const MAX_COPY_ENTRIES: u64 = 200_000;

/// A container's private root.
#[derive(Debug)]
pub(super) struct Root {
    pub(super) path: PathBuf,
    /// The termination message's path in it when the root was made empty (not
    /// copied from an image) in memory: what [`super::remove::remove_made_root`] removes.
    pub(super) as_made: Option<PathBuf>,
}

impl PodDirs {
    /// A root for a new instance of `c`, and its opened directory: its previous one if
    /// `reuse` (no instance of the pod can use it) and it is as made, else a spare root,
    /// else a new one. A previous root goes aside first (removed once the new instance
    /// is under way, [`PodDirs::remove_stale`]).
    pub(super) fn root_for(
        &self,
        c: &ContainerPlan,
        reuse: bool,
    ) -> Result<(PathBuf, Dir), SandboxError> {
        // A compat image's files: the root starts as a copy of them.
        let image = c.pulled.as_ref().and_then(|p| p.rootfs.as_deref());
        let message = super::beneath(
            "rootfs",
            "terminationMessagePath",
            &c.termination_message_path,
        )?;
        let as_made = (image.is_none() && self.roots_in_memory).then(|| message.clone());
        if reuse && let Some(again) = as_made.as_ref().and_then(|m| self.as_left(&c.name, m)) {
            return Ok(again);
        }
        let spare = (as_made.as_ref())
            .and(self.spares.as_ref())
            .and_then(|spares| spares.take(&message));
        let root = match &spare {
            Some((path, _)) => path.clone(),
            None => self.root_path(&c.name),
        };
        let now = Root {
            path: root.clone(),
            as_made,
        };
        if let Some(previous) = lock(&self.roots).insert(c.name.clone(), now) {
            // A restart: the previous instance's root goes first. In memory it is
            // moved aside in one call and removed after the new instance's start (on
            // a disk `discard` moves it away for the remover thread).
            match self
                .roots_in_memory
                .then(|| trash::set_aside(&previous.path))
                .flatten()
            {
                Some(aside) => lock(&self.stale).push(Root {
                    path: aside,
                    as_made: previous.as_made,
                }),
                None => trash::discard_root(&previous.path, previous.as_made.as_deref()),
            }
        }
        let dir = match spare {
            Some((_, dir)) => dir,
            None => make(&root, image, &message)?,
        };
        Ok((root, dir))
    }

    /// Container `name`'s previous root and its opened directory, if it was made empty
    /// with its message at `message` and is still as made.
    fn as_left(&self, name: &str, message: &Path) -> Option<(PathBuf, Dir)> {
        let path = lock(&self.roots)
            .get(name)
            .filter(|r| r.as_made.as_deref() == Some(message))?
            .path
            .clone();
        let entry_size = spare::entry_size_in_memory(path.parent()?)?;
        let dir = spare::as_made(&path, message, entry_size)?;
        Some((path, dir))
    }
}

/// Makes the private root `root`: empty, or a copy of the compat image's files
/// `image`, with a `tmp/` and an empty termination-message file at `message`.
pub(super) fn make(root: &Path, image: Option<&Path>, message: &Path) -> Result<Dir, SandboxError> {
    let made = match std::fs::create_dir(root) {
        // Left by a process killed while using the same run directory.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            super::trash::discard(root);
            std::fs::create_dir(root)
        }
        made => made,
    };
    made.map_err(|source| io_err("rootfs", "failed to create directory", root, source))?;
    let dir = super::open_ambient("rootfs", root)?;
    if let Some(image) = image {
        copy_image(image, &dir, root)?;
    }
    // A container image has a /tmp; so does the private root.
    let tmp = super::made::TMP;
    match dir.create_dir(tmp) {
        Err(e) if image.is_some() && e.kind() == std::io::ErrorKind::AlreadyExists => {}
        made => {
            made.map_err(|source| io_err("rootfs", "failed to create", &root.join(tmp), source))?
        }
    }
    // Like the kubelet's bind-mounted /dev/termination-log: an empty file
    // the guest may write its termination message to.
    if let Some(parent) = message.parent().filter(|p| !p.as_os_str().is_empty()) {
        dir.create_dir_all(parent)
            .map_err(|source| io_err("rootfs", "failed to create", &root.join(parent), source))?;
    }
    if !message.as_os_str().is_empty() {
        dir.write(message, b"")
            .map_err(|source| io_err("rootfs", "failed to create", &root.join(message), source))?;
    }
    Ok(dir)
}

/// Copies the image root `image` into the (empty) container root `root` (`root_path` for
/// messages).
pub(super) fn copy_image(image: &Path, root: &Dir, root_path: &Path) -> Result<(), SandboxError> {
    let fail = |source| {
        io_err(
            "rootfs",
            "failed to copy the image's files into",
            root_path,
            source,
        )
    };
    let src = Dir::open_ambient_dir(image, cap_std::ambient_authority()).map_err(fail)?;
    copy_at_most(&src, root, MAX_COPY_ENTRIES).map_err(fail)
}

/// Copies `src` into `dest`, failing at entry `max + 1`.
fn copy_at_most(src: &Dir, dest: &Dir, max: u64) -> io::Result<()> {
    let mut left = max;
    copy_dir(src, dest, Path::new(""), &mut left, max)
}

/// `target` of a symlink in the directory `dir` (relative to the root), relative to `dir`
/// if it was absolute, with as few `..` as possible (a guest with a `workingDir` resolves
/// paths under each top-level directory separately: see `workdir`).
fn relative_target(target: PathBuf, dir: &Path) -> PathBuf {
    let Ok(rest) = target.strip_prefix("/") else {
        return target;
    };
    let wanted: Vec<_> = rest
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    let here: Vec<_> = dir.components().collect();
    let common = here.iter().zip(&wanted).take_while(|(a, b)| a == b).count();
    let mut out: PathBuf = std::iter::repeat_n("..", here.len() - common).collect();
    out.extend(&wanted[common..]);
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `left`: how many more entries may be copied, of `max`.
fn copy_dir(src: &Dir, dest: &Dir, here: &Path, left: &mut u64, max: u64) -> io::Result<()> {
    for entry in src.entries()? {
        let entry = entry?;
        let Some(fewer) = left.checked_sub(1) else {
            return Err(io::Error::other(format!(
                "the image has more than {max} files"
            )));
        };
        *left = fewer;
        let name = entry.file_name();
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            let target = relative_target(src.read_link_contents(&name)?, here);
            dest.symlink_contents(target, &name)?;
        } else if kind.is_dir() {
            let mode = entry.metadata()?.mode() & 0o777;
            dest.create_dir_with(&name, DirBuilder::new().mode(mode | 0o700))?;
            let (from, to) = (src.open_dir(&name)?, dest.open_dir(&name)?);
            copy_dir(&from, &to, &here.join(&name), left, max)?;
        } else if kind.is_file() {
            let mode = entry.metadata()?.permissions().mode() & 0o777;
            let from = src.open(&name)?;
            let to = dest.open_with(
                &name,
                OpenOptions::new().write(true).create_new(true).mode(mode),
            )?;
            // std's copy between two files: copy_file_range (a reflink where the disk can).
            io::copy(&mut from.into_std(), &mut to.into_std())?;
        }
    }
    Ok(())
}

/// With a read-only root, the directory of `c`'s termination message (`/dev` by
/// default), writable, as the kubelet mounts the message file writable into a
/// read-only root filesystem (WASI opens directories, not files); `None` for a
/// message at the root's top.
pub(super) fn message_dir(
    c: &ContainerPlan,
    root: &Path,
    dir: &Dir,
) -> Result<Option<Preopen>, SandboxError> {
    let message = beneath(
        "rootfs",
        "terminationMessagePath",
        &c.termination_message_path,
    )?;
    let Some(parent) = message.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(None);
    };
    let opened = dir
        .open_dir(parent)
        .map_err(|source| io_err("rootfs", "failed to open", &root.join(parent), source))?;
    Ok(Some(Preopen {
        host: root.join(parent),
        dir: Arc::new(opened),
        guest: format!("/{}", parent.display()),
        read_only: false,
        cwd: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_with_more_entries_than_the_bound_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let image = tmp.path().join("image");
        // 10 entries: 3 directories (one nested), 5 files, 2 links.
        std::fs::create_dir_all(image.join("a/b")).unwrap();
        std::fs::create_dir(image.join("c")).unwrap();
        for f in ["f1", "a/f2", "a/b/f3", "a/b/f4", "c/f5"] {
            std::fs::write(image.join(f), "x").unwrap();
        }
        std::os::unix::fs::symlink("f1", image.join("l1")).unwrap();
        std::os::unix::fs::symlink("/a", image.join("c/l2")).unwrap();
        let src = Dir::open_ambient_dir(&image, cap_std::ambient_authority()).unwrap();
        for (max, fits) in [(10, true), (9, false), (0, false)] {
            let root = tmp.path().join(format!("root-{max}"));
            std::fs::create_dir(&root).unwrap();
            let dest = Dir::open_ambient_dir(&root, cap_std::ambient_authority()).unwrap();
            match copy_at_most(&src, &dest, max) {
                Ok(()) if fits => assert!(root.join("a/b/f4").is_file()),
                Err(e) if !fits => {
                    assert_eq!(
                        e.to_string(),
                        format!("the image has more than {max} files")
                    )
                }
                copied => panic!("bound {max}: {copied:?}"),
            }
        }
    }

    #[test]
    fn the_image_is_copied_with_symlinks_as_symlinks_and_its_modes() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let (image, root) = (tmp.path().join("image"), tmp.path().join("root"));
        std::fs::create_dir_all(image.join("etc/deep")).unwrap();
        std::fs::create_dir(&root).unwrap();
        std::fs::write(image.join("etc/msg"), "hi").unwrap();
        std::fs::write(image.join("etc/deep/run"), "x").unwrap();
        std::fs::set_permissions(
            image.join("etc/deep/run"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/shadow", image.join("abs")).unwrap();
        std::os::unix::fs::symlink("/etc/msg", image.join("etc/deep/msg")).unwrap();
        std::os::unix::fs::symlink("/", image.join("etc/top")).unwrap();
        std::os::unix::fs::symlink("../../../../", image.join("up")).unwrap();
        let dir = Dir::open_ambient_dir(&root, cap_std::ambient_authority()).unwrap();

        copy_image(&image, &dir, &root).unwrap();
        assert_eq!(std::fs::read_to_string(root.join("etc/msg")).unwrap(), "hi");
        let mode = std::fs::metadata(root.join("etc/deep/run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        // Copied, never followed (the host's /etc/shadow is not read); an absolute target is
        // the image's root, written relative.
        assert_eq!(
            std::fs::read_link(root.join("abs")).unwrap(),
            Path::new("etc/shadow")
        );
        assert_eq!(
            std::fs::read_link(root.join("etc/deep/msg")).unwrap(),
            Path::new("../msg")
        );
        assert_eq!(
            std::fs::read_to_string(root.join("etc/deep/msg")).unwrap(),
            "hi"
        );
        assert_eq!(
            std::fs::read_link(root.join("etc/top")).unwrap(),
            Path::new("..")
        );
        assert_eq!(
            std::fs::read_link(root.join("up")).unwrap(),
            Path::new("../../../../")
        );
        // A write to the copy leaves the image alone.
        std::fs::write(root.join("etc/msg"), "changed").unwrap();
        assert_eq!(
            std::fs::read_to_string(image.join("etc/msg")).unwrap(),
            "hi"
        );
    }

    /// With a read-only root, the termination message's directory is opened through the
    /// root: a `dev` planted as a symlink out of the root (a compat image's files, say)
    /// is an error, and nothing outside is opened or created.
    #[cfg(unix)]
    #[test]
    fn a_read_only_roots_message_directory_through_a_planted_symlink_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("out");
        std::fs::create_dir(&outside).unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink("../out", root.join("dev")).unwrap();
        let mut c = super::super::tests::plan("", "").containers[0].clone();
        c.read_only_root = true;
        let err = message_dir(
            &c,
            &root,
            &Dir::open_ambient_dir(&root, cap_std::ambient_authority()).unwrap(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("failed to open"), "{err}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        // Inside the root it is the directory the guest writes.
        std::fs::remove_file(root.join("dev")).unwrap();
        std::fs::create_dir(root.join("dev")).unwrap();
        let dev = message_dir(
            &c,
            &root,
            &Dir::open_ambient_dir(&root, cap_std::ambient_authority()).unwrap(),
        )
        .unwrap()
        .unwrap();
        assert_eq!((dev.guest.as_str(), dev.read_only), ("/dev", false));
    }
}
