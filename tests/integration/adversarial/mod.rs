//! Adversarial tests: hostile guests (`guests/hostile`) and hostile manifests
//! try to reach the host's files, exhaust its memory, descriptors, disk or
//! CPU, or starve their siblings. Each test asserts no escape, no panic, no
//! hang, and host memory within a stated bound while siblings keep running.

mod floods;
mod fs;
mod manifests;
mod resources;
mod reuse;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::{Ran, Running};

/// What a child `wasmpod` process used, sampled under `/proc` while it ran.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    /// Peak resident set (`VmHWM`), in bytes.
    pub peak_rss: u64,
    /// User + system CPU time at the last sample.
    pub cpu: Duration,
    /// Wall time from the first to the last sample.
    pub wall: Duration,
}

/// Waits for `running` to end (failing after `limit`), sampling its peak
/// RSS and CPU time every 10 ms (the first sample before looking for its
/// end, so even a short run is measured once).
pub fn watch(mut running: Running, limit: Duration) -> (Ran, Usage) {
    let pid = running.pid();
    let first = Instant::now();
    let mut usage = Usage::default();
    loop {
        if let Some((rss, cpu)) = sample(pid) {
            usage.peak_rss = usage.peak_rss.max(rss);
            usage.cpu = cpu;
            usage.wall = first.elapsed();
        }
        if running.has_exited() || first.elapsed() >= limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (running.finish(limit), usage)
}

/// (`VmHWM` in bytes, utime + stime) of a live process.
fn sample(pid: u32) -> Option<(u64, Duration)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command (which may hold spaces) end with ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some((hwm_kib * 1024, Duration::from_millis(ticks * 10)))
}

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
