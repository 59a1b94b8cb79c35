//! Reading a small file a guest wrote (its termination message) without
//! following it out of its root.

use std::io::Read;
use std::path::Path;

use cap_std::fs::{Dir, OpenOptions};

/// Reads at most `max` bytes of the regular file at `rel` beneath `dir`.
/// `None` if it is missing, leads outside `dir`, is a symlink (the final
/// component is not followed at all) or is not a regular file: a FIFO or a
/// device is opened non-blocking and then refused, so it can neither hang
/// nor flood the reader.
pub fn read_regular_file(dir: &Dir, rel: &Path, max: u64) -> Option<Vec<u8>> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use cap_std::fs::OpenOptionsExt;
        use rustix::fs::OFlags;
        options.custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32);
    }
    let file = dir.open_with(rel, &options).ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() {
        return None;
    }
    // Most messages are never written: no read to find the file empty.
    if metadata.len() == 0 {
        return Some(Vec::new());
    }
    let mut buf = Vec::new();
    file.take(max).read_to_end(&mut buf).ok()?;
    Some(buf)
}
