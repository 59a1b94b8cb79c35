//! Writing a projected volume's files the way the kubelet's `AtomicWriter` does, so a guest
//! reading them never sees half an update:
//!
//! ```text
//! ..2026_12_02_01_10_00.123456789/   the files of one version
//! ..data -> ..2026_12_02_01_10_00.123456789
//! key    -> ..data/key               one link per top-level name
//! ```
//!
//! A new version is written beside the old one; `..data` is swapped to it with one
//! `rename`; the user-visible links, which go through `..data`, never change target. Every
//! operation goes through the volume's opened directory.

use std::collections::BTreeSet;
use std::io::{self, ErrorKind};
use std::path::{Component, Path};

use cap_std::fs::Dir;

use crate::plan::Payload;

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// Writes `payload` into `dir` as a new version unless it already holds exactly that.
/// Returns whether anything changed.
///
/// # Errors
/// An I/O error, or `InvalidInput` for a path that is absolute, has `..` or starts with
/// `..` (validation refuses those first).
pub(super) fn write(dir: &Dir, payload: &Payload) -> io::Result<bool> {
    for path in payload.keys() {
        check_path(path)?;
    }
    let old = current_version(dir)?;
    if let Some(old) = &old
        && holds(dir, old, payload)?
    {
        return Ok(false);
    }
    let version = new_version_name();
    dir.create_dir(&version)?;
    for (path, bytes) in payload {
        let file = Path::new(&version).join(path);
        if let Some(parent) = file.parent() {
            dir.create_dir_all(parent)?;
        }
        dir.write(&file, bytes)?;
    }
    let _ = dir.remove_file(DATA_TMP);
    symlink(dir, &version, DATA_TMP)?;
    dir.rename(DATA_TMP, dir, DATA)?;

    let top: BTreeSet<&str> = payload.keys().map(|p| first_component(p)).collect();
    for name in &top {
        match dir.symlink_metadata(name) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                symlink(dir, &format!("{DATA}/{name}"), name)?;
            }
            Err(e) => return Err(e),
        }
    }
    // Links to names the new version no longer has, then the old version.
    for entry in dir.entries()? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("..") && !top.contains(name) {
            dir.remove_file(name)?;
        }
    }
    if let Some(old) = old {
        dir.remove_dir_all(old)?;
    }
    Ok(true)
}

/// The directory `..data` points to, if any.
fn current_version(dir: &Dir) -> io::Result<Option<String>> {
    match dir.read_link(DATA) {
        Ok(target) => Ok(target.to_str().map(str::to_owned)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether `version` holds exactly `payload` (the same paths and contents).
fn holds(dir: &Dir, version: &str, payload: &Payload) -> io::Result<bool> {
    let mut found = BTreeSet::new();
    collect_files(&dir.open_dir(version)?, Path::new(""), &mut found)?;
    if found.len() != payload.len() || !payload.keys().all(|k| found.contains(k)) {
        return Ok(false);
    }
    for (path, bytes) in payload {
        if dir.read(Path::new(version).join(path))? != *bytes {
            return Ok(false);
        }
    }
    Ok(true)
}

fn collect_files(dir: &Dir, prefix: &Path, out: &mut BTreeSet<String>) -> io::Result<()> {
    for entry in dir.entries()? {
        let entry = entry?;
        let path = prefix.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            collect_files(&entry.open_dir()?, &path, out)?;
        } else {
            out.insert(path.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

fn first_component(path: &str) -> &str {
    path.split('/').find(|p| !p.is_empty()).unwrap_or(path)
}

fn check_path(path: &str) -> io::Result<()> {
    let p = Path::new(path);
    let bad = path.is_empty()
        || path.starts_with("..")
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if bad {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("invalid path {path:?}: must be relative, without '..'"),
        ));
    }
    Ok(())
}

/// `..YYYY_MM_DD_HH_MM_SS.NNNNNNNNN`, as the kubelet names versions (UTC).
fn new_version_name() -> String {
    let now = jiff::Timestamp::now();
    format!(
        "..{}.{:09}",
        now.strftime("%Y_%m_%d_%H_%M_%S"),
        now.subsec_nanosecond()
    )
}

#[cfg(unix)]
fn symlink(dir: &Dir, target: &str, link: &str) -> io::Result<()> {
    dir.symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_: &Dir, _: &str, _: &str) -> io::Result<()> {
    Err(io::Error::new(
        ErrorKind::Unsupported,
        "projected volumes need symbolic links",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;

    fn payload(pairs: &[(&str, &str)]) -> Payload {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn versions_swap_through_data_and_stale_names_go() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), ambient_authority()).unwrap();
        assert!(write(&dir, &payload(&[("a", "1"), ("d/b", "2")])).unwrap());
        assert_eq!(std::fs::read_to_string(tmp.path().join("a")).unwrap(), "1");
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("d/b")).unwrap(),
            "2"
        );
        assert_eq!(
            std::fs::read_link(tmp.path().join("a")).unwrap(),
            Path::new("..data/a")
        );
        let first = std::fs::read_link(tmp.path().join(DATA)).unwrap();

        // The same payload again changes nothing.
        assert!(!write(&dir, &payload(&[("a", "1"), ("d/b", "2")])).unwrap());
        assert_eq!(std::fs::read_link(tmp.path().join(DATA)).unwrap(), first);

        assert!(write(&dir, &payload(&[("a", "3"), ("c", "4")])).unwrap());
        assert_eq!(std::fs::read_to_string(tmp.path().join("a")).unwrap(), "3");
        assert_eq!(std::fs::read_to_string(tmp.path().join("c")).unwrap(), "4");
        assert!(
            !tmp.path().join("d").exists(),
            "a name no longer projected is removed"
        );
        assert!(
            !tmp.path().join(&first).exists(),
            "the old version is removed"
        );
        let mut names: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("..2"))
            .collect();
        names.sort();
        assert_eq!(names, ["..data", "a", "c"]);
    }

    #[test]
    fn paths_out_of_the_volume_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Dir::open_ambient_dir(tmp.path(), ambient_authority()).unwrap();
        for bad in ["../x", "/etc/x", "a/../../x", "..x"] {
            let e = write(&dir, &payload(&[(bad, "1")])).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
        }
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }
}
