//! Termination messages: the file at `terminationMessagePath`, read after
//! the instance ended (at most [`MAX_MESSAGE`] bytes, like the kubelet).

use std::path::{Path, PathBuf};

use crate::sandbox::Preopen;

/// The most bytes of a termination message file that are read (the kubelet's limit).
pub(super) const MAX_MESSAGE: u64 = 4096;

/// The host path behind a guest path, through the longest matching preopen.
pub(super) fn host_path_of(preopens: &[Preopen], guest: &str) -> Option<PathBuf> {
    let path = Path::new(guest);
    preopens
        .iter()
        .filter_map(|p| path.strip_prefix(&p.guest).ok().map(|rest| (p, rest)))
        .max_by_key(|(p, _)| p.guest.len())
        .map(|(p, rest)| p.host.join(rest))
}

/// Reads a termination message file (at most [`MAX_MESSAGE`] bytes); `None`
/// when it is missing or empty.
pub(super) async fn read_message(path: Option<PathBuf>) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path?).await.ok()?;
    let mut buf = Vec::new();
    file.take(MAX_MESSAGE).read_to_end(&mut buf).await.ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    (!text.is_empty()).then_some(text)
}
