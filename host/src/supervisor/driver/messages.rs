//! Termination messages: the file at `terminationMessagePath`, read after
//! the instance ended (at most [`MAX_MESSAGE`] bytes, like the kubelet).
//!
//! The file lives in a guest-writable tree, so it is read beneath the
//! opened directory of its preopen: a symlink planted in its place (or on
//! the way to it) is not followed out, and anything but a regular file
//! (a FIFO, a device) is ignored without blocking.

use std::path::{Path, PathBuf};

use crate::sandbox::{Kept, read_regular_file};

/// The most bytes of a termination message file that are read (the kubelet's limit).
pub(super) const MAX_MESSAGE: u64 = 4096;

/// Where a guest path is: the preopen of the longest matching guest path
/// (opened when read, for the root) and the path relative to it.
pub(super) struct MessageFile {
    at: Kept,
    rel: PathBuf,
}

/// The preopen behind a guest path, through the longest matching preopen.
pub(super) fn message_file(preopens: &[Kept], guest: &str) -> Option<MessageFile> {
    let path = Path::new(guest);
    preopens
        .iter()
        .filter_map(|p| path.strip_prefix(p.guest()).ok().map(|rest| (p, rest)))
        .max_by_key(|(p, _)| p.guest().len())
        .map(|(p, rest)| MessageFile {
            at: p.clone(),
            rel: rest.to_path_buf(),
        })
}

/// Reads a termination message file (at most [`MAX_MESSAGE`] bytes); `None`
/// when it is missing, empty, or not a regular file beneath its preopen.
///
/// Read in place, not on the blocking pool: the file was created when the
/// instance started and written by it since, so its few KiB are in the page
/// cache (the run directory is usually a tmpfs), and a hop to the blocking
/// pool and back cost more than the read on a pod's exit path.
pub(super) fn read_message(file: Option<MessageFile>) -> Option<String> {
    let file = file?;
    // Most messages are never written: in the root, a file still empty is
    // seen in one call, without opening the root again.
    if let Kept::Root { host, .. } = &file.at
        && still_empty(&host.join(&file.rel))
    {
        return None;
    }
    let dir = file.at.dir().ok()?;
    let buf = read_regular_file(&dir, &file.rel, MAX_MESSAGE)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    (!text.is_empty()).then_some(text)
}

/// Whether `path` is an empty regular file. Its last component is not followed; a
/// link a guest planted on the way is, but the answer is only ever "no message",
/// which the read beneath the root gives for anything such a link leads to too.
fn still_empty(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0)
}
