//! Unpacks the tar layers of a "compat" image into a root filesystem, treating every tar as
//! hostile.
//!
//! Every write goes through a [`cap_std::fs::Dir`] opened on the new root, which resolves
//! paths beneath it and refuses any that lead out (by `..` or a symlink). On top of that,
//! per entry:
//!
//! | entry                                   | what happens                                  |
//! |-----------------------------------------|-----------------------------------------------|
//! | absolute path, or a `..` component      | error naming the entry                        |
//! | a path through a symlink that leads out | error (cap-std refuses it)                    |
//! | hard link to an absolute or `..` path   | error naming the entry                        |
//! | hard link to a path not in the root     | error naming the entry                        |
//! | symlink                                 | kept as written (it is only ever read through a `Dir`) |
//! | device node, fifo                       | dropped                                       |
//! | setuid, setgid, sticky bits             | dropped (files keep `rwx` bits, owner-writable) |
//! | `.wh.NAME`                              | removes `NAME` of the layers below            |
//! | `.wh..wh..opq`                          | empties the directory of the layers below     |
//! | past [`Limits`]                         | error naming the bound                        |
//!
//! Ownership, timestamps and extended attributes are not restored.

use std::collections::HashSet;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use cap_std::fs::{Dir, DirBuilder, DirBuilderExt as _, OpenOptions, OpenOptionsExt as _};

/// The whiteout prefix of the OCI layer format.
const WHITEOUT: &str = ".wh.";
/// The opaque-directory marker.
const OPAQUE: &str = ".wh..wh..opq";

/// Bounds on what an image may unpack to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Total bytes of file contents across every layer.
    pub bytes: u64,
    /// Total entries across every layer.
    pub entries: u64,
}

/// What unpacking has used so far, across layers.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    bytes: u64,
    entries: u64,
}

/// The compression of a layer, from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression of a tar layer's media type; `None` for a type that is not a tar layer.
    pub(crate) fn of(media_type: &str) -> Option<Compression> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip" => Some(Compression::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// `reader`, decompressed.
    pub(crate) fn reader<'a>(self, reader: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            Compression::None => Box::new(reader),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
            Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(reader)?),
        })
    }
}

/// Why a layer could not be unpacked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UnpackError {
    /// The layer is not a (compressed) tar stream as its media type says.
    #[error("not a tar stream: {0}")]
    Unreadable(String),
    /// An entry broke a rule, or a bound was passed.
    #[error("{0}")]
    Refused(String),
}

/// Unpacks one layer (an uncompressed tar stream) on top of `root`.
///
/// # Errors
/// The entry and the rule it broke, or the bound it went past; or why the stream is not tar.
pub(crate) fn unpack_layer(
    root: &Dir,
    tar: impl Read,
    limits: Limits,
    budget: &mut Budget,
) -> Result<(), UnpackError> {
    use UnpackError::{Refused, Unreadable};
    let mut archive = tar::Archive::new(tar);
    // Paths this layer created (and their parents): whiteouts only hide lower layers.
    let mut mine: HashSet<PathBuf> = HashSet::new();
    let entries = archive.entries().map_err(|e| Unreadable(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Unreadable(e.to_string()))?;
        budget.entries += 1;
        if budget.entries > limits.entries {
            return Err(Refused(format!(
                "the image holds more than {} files, the limit",
                limits.entries
            )));
        }
        let raw = entry.path_bytes().into_owned();
        // A path may be long (a tar long-name entry): messages show its start.
        let mut shown = String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
        if raw.len() > 200 {
            shown.push_str("...");
        }
        let refused = |why: String| Refused(format!("tar entry {shown:?}: {why}"));
        let Some(path) = clean(&raw).map_err(|why| refused(why.into()))? else {
            continue; // `.` or `./`: the root itself.
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if name == OPAQUE {
            opaque(root, &parent, &mine).map_err(refused)?;
            continue;
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT) {
            let target = parent.join(hidden);
            if !mine.contains(&target) {
                remove(root, &target).map_err(refused)?;
            }
            continue;
        }
        let kind = entry.header().entry_type();
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
        let written = (|| -> Result<bool, String> {
            if !parent.as_os_str().is_empty() {
                make_parents(root, &parent)?;
            }
            match kind {
                tar::EntryType::Directory => {
                    if !root.symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                        remove(root, &path)?;
                        root.create_dir_with(&path, DirBuilder::new().mode(mode | 0o700))
                            .map_err(|e| e.to_string())?;
                    }
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let size = entry.size();
                    budget.bytes += size;
                    if budget.bytes > limits.bytes {
                        return Err(format!(
                            "the image's files total more than {} bytes, the limit \
                             (RuntimeConfig::max_layer_bytes)",
                            limits.bytes
                        ));
                    }
                    remove(root, &path)?;
                    let mut file = root
                        .open_with(
                            &path,
                            OpenOptions::new()
                                .write(true)
                                .create_new(true)
                                .mode(mode | 0o600),
                        )
                        .map_err(|e| e.to_string())?;
                    let copied = io::copy(&mut (&mut entry).take(size), &mut file)
                        .map_err(|e| e.to_string())?;
                    if copied != size {
                        return Err("the layer ends inside this file".into());
                    }
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name()
                        .map_err(|e| e.to_string())?
                        .ok_or("a symlink without a target")?;
                    remove(root, &path)?;
                    root.symlink_contents(&*target, &path)
                        .map_err(|e| e.to_string())?;
                }
                tar::EntryType::Link => {
                    let raw_target = entry
                        .link_name_bytes()
                        .ok_or("a hard link without a target")?
                        .into_owned();
                    let target = clean(&raw_target)
                        .map_err(|why| format!("hard link target: {why}"))?
                        .ok_or("a hard link to the root")?;
                    if !root.symlink_metadata(&target).is_ok_and(|m| m.is_file()) {
                        return Err(format!(
                            "hard link to {:?}, which is not a file of the image",
                            String::from_utf8_lossy(&raw_target)
                        ));
                    }
                    remove(root, &path)?;
                    root.hard_link(&target, root, &path)
                        .map_err(|e| e.to_string())?;
                }
                // Device nodes, fifos, and anything else: dropped.
                _ => return Ok(false),
            }
            Ok(true)
        })()
        .map_err(refused)?;
        if written {
            let mut p = path.as_path();
            while mine.insert(p.to_path_buf()) {
                match p.parent() {
                    Some(up) if !up.as_os_str().is_empty() => p = up,
                    _ => break,
                }
            }
        }
    }
    Ok(())
}

/// The most components a path in an image may have. Every walk of an image's
/// tree (unpacking the next layer, copying a compat image into a container's
/// root, removing it from the store) then has a bounded depth; Linux resolves
/// at most 4,096 bytes of a path, and real images stay far below this.
pub(crate) const MAX_PATH_DEPTH: usize = 256;
/// The error of a path past [`MAX_PATH_DEPTH`] (a `&'static str`, as [`clean`]'s others).
const TOO_DEEP: &str = "a path of more than 256 components (the limit)";

/// A tar entry's path, relative and without `.` components; `None` for the root itself.
///
/// # Errors
/// An absolute path, one with a `..` component or one deeper than [`MAX_PATH_DEPTH`].
fn clean(raw: &[u8]) -> Result<Option<PathBuf>, &'static str> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = Path::new(std::ffi::OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for (depth, c) in path.components().enumerate() {
        if depth >= MAX_PATH_DEPTH {
            return Err(TOO_DEEP);
        }
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("a \"..\" component leaves the image root"),
            Component::RootDir | Component::Prefix(_) => {
                return Err("an absolute path (image layers hold relative paths)");
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Creates the directories of `dir` that are missing, replacing a file of a lower layer
/// that stands where one must be (a symlink is left to the `Dir` to resolve beneath the root).
fn make_parents(root: &Dir, dir: &Path) -> Result<(), String> {
    let mut at = PathBuf::new();
    for c in dir.components() {
        at.push(c);
        match root.symlink_metadata(&at) {
            Ok(m) if m.is_dir() || m.is_symlink() => continue,
            Ok(_) => remove(root, &at)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.to_string()),
        }
        root.create_dir_with(&at, DirBuilder::new().mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Removes `path` (a directory with its contents) if it exists; never follows a symlink.
fn remove(root: &Dir, path: &Path) -> Result<(), String> {
    match root.symlink_metadata(path) {
        Ok(m) if m.is_dir() => root.remove_dir_all(path),
        Ok(_) => root.remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
    .map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

/// Empties `dir` of everything the layers below put there.
fn opaque(root: &Dir, dir: &Path, mine: &HashSet<PathBuf>) -> Result<(), String> {
    let entries = if dir.as_os_str().is_empty() {
        root.entries()
    } else {
        match root.symlink_metadata(dir) {
            Ok(m) if m.is_dir() => root.read_dir(dir),
            _ => return Ok(()),
        }
    };
    for e in entries.map_err(|e| e.to_string())? {
        let child = dir.join(e.map_err(|e| e.to_string())?.file_name());
        if !mine.contains(&child) {
            remove(root, &child)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;

    const BIG: Limits = Limits {
        bytes: 1 << 20,
        entries: 1000,
    };

    /// A tar built entry by entry, with any path (tar's builder refuses `..`).
    #[derive(Default)]
    struct Tar(Vec<u8>);

    impl Tar {
        fn entry(mut self, kind: tar::EntryType, path: &str, link: &str, body: &[u8]) -> Tar {
            let mut h = tar::Header::new_old();
            h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(kind);
            h.set_size(body.len() as u64);
            h.set_mode(if kind == tar::EntryType::Directory {
                0o755
            } else {
                0o4755
            });
            h.set_cksum();
            self.0.extend_from_slice(h.as_bytes());
            self.0.extend_from_slice(body);
            self.0.resize(self.0.len().div_ceil(512) * 512, 0);
            self
        }
        fn file(self, path: &str, body: &str) -> Tar {
            self.entry(tar::EntryType::Regular, path, "", body.as_bytes())
        }
        fn bytes(mut self) -> Vec<u8> {
            self.0.extend_from_slice(&[0; 1024]);
            self.0
        }
    }

    fn unpack(layers: &[Vec<u8>]) -> (tempfile::TempDir, Result<(), String>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        let root = Dir::open_ambient_dir(dir.path().join("root"), ambient_authority()).unwrap();
        let mut budget = Budget::default();
        let result = layers
            .iter()
            .try_for_each(|l| unpack_layer(&root, l.as_slice(), BIG, &mut budget))
            .map_err(|e| e.to_string());
        (dir, result)
    }

    fn read(dir: &tempfile::TempDir, path: &str) -> Option<String> {
        std::fs::read_to_string(dir.path().join("root").join(path)).ok()
    }

    /// Everything under the temporary directory but the root: what must stay empty.
    fn outside(dir: &tempfile::TempDir) -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "root")
            .collect()
    }

    #[test]
    fn files_directories_and_symlinks_are_unpacked() {
        let layer = Tar::default()
            .entry(tar::EntryType::Directory, "./etc/", "", b"")
            .file("./etc/app.conf", "x=1")
            .file("bin/app.wasm", "wasm")
            .entry(tar::EntryType::Symlink, "bin/app", "app.wasm", b"")
            .entry(tar::EntryType::Symlink, "bin/abs", "/etc/app.conf", b"")
            .bytes();
        let (dir, result) = unpack(&[layer]);
        result.unwrap();
        assert_eq!(read(&dir, "etc/app.conf").as_deref(), Some("x=1"));
        assert_eq!(read(&dir, "bin/app").as_deref(), Some("wasm"));
        let abs = std::fs::read_link(dir.path().join("root/bin/abs")).unwrap();
        assert_eq!(abs, Path::new("/etc/app.conf"), "kept as written");
    }

    #[test]
    fn setuid_and_setgid_bits_are_dropped() {
        use std::os::unix::fs::PermissionsExt as _;
        let (dir, result) = unpack(&[Tar::default().file("suid", "x").bytes()]);
        result.unwrap();
        let mode = std::fs::metadata(dir.path().join("root/suid"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755, "{mode:o}");
    }

    #[test]
    fn dot_dot_and_absolute_paths_are_errors_and_write_nothing() {
        for bad in ["../x", "a/../../x", "/x"] {
            let (dir, result) = unpack(&[Tar::default().file(bad, "evil").bytes()]);
            let err = result.unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
            assert!(outside(&dir).is_empty(), "{bad}");
            assert!(read(&dir, "x").is_none());
        }
    }

    #[test]
    fn paths_deeper_than_the_bound_are_errors() {
        let at = |depth: usize| vec!["d"; depth].join("/");
        let ok = clean(at(MAX_PATH_DEPTH).as_bytes()).unwrap().unwrap();
        assert_eq!(ok.components().count(), MAX_PATH_DEPTH);
        let err = clean(at(MAX_PATH_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(
            err.contains(&format!("more than {MAX_PATH_DEPTH} components")),
            "{err}"
        );
        // Through a whole layer (a long-name entry), with the message's path cut short.
        let mut layer = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        let deep = format!("{}/f", at(5_000));
        layer.append_data(&mut h, &deep, &b"x"[..]).unwrap();
        let layer = layer.into_inner().unwrap();
        let (dir, result) = unpack(&[layer]);
        let err = result.unwrap_err();
        assert!(err.contains("more than 256 components"), "{err}");
        assert!(err.len() < 400, "{err}");
        assert!(outside(&dir).is_empty());
        assert!(
            !dir.path().join("root/d").exists(),
            "nothing of it was made"
        );
    }

    #[test]
    fn a_file_through_a_symlink_out_of_the_root_is_an_error() {
        let layer = Tar::default()
            .entry(tar::EntryType::Symlink, "up", "..", b"")
            .entry(tar::EntryType::Symlink, "slash", "/", b"")
            .file("up/escaped", "evil")
            .bytes();
        let (dir, result) = unpack(&[layer]);
        assert!(result.unwrap_err().contains("\"up/escaped\""));
        assert!(outside(&dir).is_empty());
        let layer = Tar::default()
            .entry(tar::EntryType::Symlink, "slash", "/", b"")
            .file("slash/tmp/escaped-wasmpod-test", "evil")
            .bytes();
        let (_dir, result) = unpack(&[layer]);
        assert!(result.unwrap_err().contains("slash/tmp"));
        assert!(!Path::new("/tmp/escaped-wasmpod-test").exists());
    }

    #[test]
    fn hard_links_reach_only_files_of_the_image() {
        let ok = Tar::default()
            .file("a", "shared")
            .entry(tar::EntryType::Link, "b", "a", b"")
            .bytes();
        let (dir, result) = unpack(&[ok]);
        result.unwrap();
        assert_eq!(read(&dir, "b").as_deref(), Some("shared"));
        for target in ["/etc/passwd", "../etc/passwd", "etc/passwd"] {
            let bad = Tar::default()
                .entry(tar::EntryType::Link, "p", target, b"")
                .bytes();
            let (dir, result) = unpack(&[bad]);
            assert!(result.unwrap_err().contains("\"p\""), "{target}");
            assert!(read(&dir, "p").is_none());
        }
    }

    #[test]
    fn devices_and_fifos_are_dropped() {
        let layer = Tar::default()
            .entry(tar::EntryType::Char, "dev/null", "", b"")
            .entry(tar::EntryType::Fifo, "fifo", "", b"")
            .file("kept", "k")
            .bytes();
        let (dir, result) = unpack(&[layer]);
        result.unwrap();
        assert!(!dir.path().join("root/dev/null").exists());
        assert!(!dir.path().join("root/fifo").exists());
        assert_eq!(read(&dir, "kept").as_deref(), Some("k"));
    }

    #[test]
    fn whiteouts_hide_lower_layers_only() {
        let lower = Tar::default()
            .file("etc/gone", "1")
            .file("etc/kept", "1")
            .file("opq/old", "1")
            .file("tree/deep/file", "1")
            .bytes();
        let upper = Tar::default()
            .file("etc/.wh.gone", "")
            .file("tree/.wh.deep", "")
            .file("opq/new", "2")
            .file("opq/.wh..wh..opq", "")
            .file("etc/again", "2")
            .file("etc/.wh.again", "")
            .bytes();
        let (dir, result) = unpack(&[lower, upper]);
        result.unwrap();
        assert!(read(&dir, "etc/gone").is_none());
        assert_eq!(read(&dir, "etc/kept").as_deref(), Some("1"));
        assert!(!dir.path().join("root/tree/deep").exists());
        assert!(read(&dir, "opq/old").is_none());
        assert_eq!(
            read(&dir, "opq/new").as_deref(),
            Some("2"),
            "this layer's own"
        );
        assert_eq!(
            read(&dir, "etc/again").as_deref(),
            Some("2"),
            "this layer's own"
        );
        assert!(!dir.path().join("root/etc/.wh.gone").exists());
    }

    #[test]
    fn a_later_layer_replaces_a_file_with_a_directory_and_back() {
        let lower = Tar::default().file("x", "file").file("y/in", "1").bytes();
        let upper = Tar::default().file("x/in", "2").file("y", "file").bytes();
        let (dir, result) = unpack(&[lower, upper]);
        result.unwrap();
        assert_eq!(read(&dir, "x/in").as_deref(), Some("2"));
        assert_eq!(read(&dir, "y").as_deref(), Some("file"));
    }

    #[test]
    fn the_bounds_are_errors_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let root = Dir::open_ambient_dir(dir.path(), ambient_authority()).unwrap();
        let layer = Tar::default().file("a", "12345").file("b", "12345").bytes();
        let small = Limits {
            bytes: 8,
            entries: 100,
        };
        let err = unpack_layer(&root, layer.as_slice(), small, &mut Budget::default());
        assert!(err.unwrap_err().to_string().contains("more than 8 bytes"));
        let few = Limits {
            bytes: 100,
            entries: 1,
        };
        let err = unpack_layer(&root, layer.as_slice(), few, &mut Budget::default());
        assert!(err.unwrap_err().to_string().contains("more than 1 files"));
        let not_tar = Compression::Gzip.reader(&b"not really a tar"[..]).unwrap();
        let err = unpack_layer(&root, not_tar, BIG, &mut Budget::default()).unwrap_err();
        assert!(matches!(err, UnpackError::Unreadable(_)), "{err}");
    }

    #[test]
    fn gzip_and_zstd_layers_are_read() {
        use std::io::Write as _;
        let layer = Tar::default().file("f", "z").bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::stream::encode_all(layer.as_slice(), 1).unwrap();
        for (media, bytes) in [
            ("application/vnd.oci.image.layer.v1.tar+gzip", gz),
            ("application/vnd.docker.image.rootfs.diff.tar.gzip", vec![]),
            ("application/vnd.oci.image.layer.v1.tar+zstd", zst),
        ] {
            let c = Compression::of(media).unwrap();
            if bytes.is_empty() {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let root = Dir::open_ambient_dir(dir.path(), ambient_authority()).unwrap();
            let reader = c.reader(bytes.as_slice()).unwrap();
            unpack_layer(&root, reader, BIG, &mut Budget::default()).unwrap();
            assert_eq!(std::fs::read_to_string(dir.path().join("f")).unwrap(), "z");
        }
        assert_eq!(Compression::of("application/wasm"), None);
    }
}
