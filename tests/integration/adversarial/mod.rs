//! Adversarial tests: hostile guests (`guests/hostile`) and hostile manifests
//! try to reach the host's files, exhaust its memory, descriptors, disk or
//! CPU, or starve their siblings. Each test asserts no escape, no panic, no
//! hang, and host memory within a stated bound while siblings keep running.

mod floods;
mod fs;
mod manifests;
mod resources;

use std::path::Path;

/// The hostile guest's image path (built with the other guests, never a builtin).
pub fn hostile() -> &'static str {
    wasmpod_guests::HOSTILE_PATH
}

/// The process's resident set size in bytes (Linux; 0 elsewhere).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The number of open descriptors of this process (Linux; 0 elsewhere).
pub fn open_fds() -> usize {
    std::fs::read_dir(Path::new("/proc/self/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}
