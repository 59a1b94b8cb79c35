//! What a private root holds as it was made, without an image's files: a `tmp/`, and an
//! empty termination-message file with the directories on its way. Made by
//! [`super::rootfs::make`], checked by [`super::spare::as_made`] before a root is reused,
//! and taken apart by [`super::remove::remove_made_root`].

use std::ffi::OsStr;
use std::path::{Component, Path};

/// The directory every private root has (a container image has a `/tmp`).
pub(super) const TMP: &str = "tmp";

/// A termination-message path in a made root: the directories on its way, from the root
/// down, and the file's name.
#[derive(Debug, PartialEq)]
pub(super) struct Message<'a> {
    pub(super) parents: Vec<&'a OsStr>,
    pub(super) file: &'a OsStr,
}

/// `message` (relative to the root) split into its directories and file; `Ok(None)` for
/// an empty path (no file is made); `Err(())` when a component is not a plain name or the
/// path goes under [`TMP`], where no made root can be told apart from one a guest filled.
pub(super) fn message(message: &Path) -> Result<Option<Message<'_>>, ()> {
    let mut names = Vec::new();
    for c in message.components() {
        match c {
            Component::Normal(name) => names.push(name),
            _ => return Err(()),
        }
    }
    if names.first() == Some(&OsStr::new(TMP)) {
        return Err(());
    }
    Ok(names.split_last().map(|(file, parents)| Message {
        parents: parents.to_vec(),
        file,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_path_splits_into_its_directories_and_file() {
        let split = message(Path::new("dev/termination-log")).unwrap().unwrap();
        assert_eq!(split.parents, [OsStr::new("dev")]);
        assert_eq!(split.file, "termination-log");
        let top = message(Path::new("log")).unwrap().unwrap();
        assert!(top.parents.is_empty());
        assert_eq!(message(Path::new("")), Ok(None));
        for refused in ["/dev/log", "../log", "a/../log", "tmp/log", "tmp"] {
            assert_eq!(message(Path::new(refused)), Err(()), "{refused}");
        }
    }
}
