//! Leftovers of processes that died without cleaning up.
//!
//! A pod's temporary run directory and its memory-backed volumes live in a
//! shared directory (`/dev/shm`, `$XDG_RUNTIME_DIR`, the temp dir) and are
//! removed when the pod ends. A process killed with SIGKILL (an OOM kill, a
//! CI timeout) leaves them behind, and in a memory file system they hold RAM
//! until the machine restarts. Every such directory is named
//! `wasmpod-p<PID>n<NS>-…` ([`owned_prefix`]), `NS` naming the PID namespace
//! the PID belongs to (the inode of `/proc/self/ns/pid`); a new runtime
//! removes, once per process, those of its own PID namespace whose process is
//! gone and that belong to this user ([`sweep_stale`]). A live process of that
//! PID (even a reused one) keeps them, a directory of another PID namespace
//! (containers sharing a `/tmp`) is never judged, and anything that is not a
//! directory, or not ours, is left alone.

use std::path::{Path, PathBuf};

/// The name prefix of this process's directories in shared places.
pub fn owned_prefix() -> String {
    format!("wasmpod-p{}n{}-", std::process::id(), pid_namespace())
}

/// The inode of this process's PID namespace; 0 where it cannot be read
/// (then nothing is swept).
fn pid_namespace() -> u64 {
    static NS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NS.get_or_init(|| {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::MetadataExt as _;
            std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
        }
        #[cfg(not(target_os = "linux"))]
        {
            0
        }
    })
}

/// The PID and PID namespace in a `wasmpod-p<PID>n<NS>-…` name.
fn pid_of(name: &str) -> Option<(u32, u64)> {
    let rest = name.strip_prefix("wasmpod-p")?;
    let (ids, _) = rest.split_once('-')?;
    let (pid, ns) = ids.split_once('n')?;
    Some((pid.parse().ok()?, ns.parse().ok()?))
}

/// Whether a process with this PID exists (as far as this process can tell).
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Some(pid) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return false;
        };
        // EPERM: it exists, under another user.
        !matches!(
            rustix::process::test_kill_process(pid),
            Err(rustix::io::Errno::SRCH)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Whether `path` is a directory (not a link to one) owned by this user.
fn ours(path: &Path) -> bool {
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        md.file_type().is_dir() && md.uid() == rustix::process::geteuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        md.file_type().is_dir()
    }
}

/// The most entries of one base directory looked at.
const MAX_ENTRIES: usize = 100_000;

/// Removes the directories in `bases` left by dead processes; returns how
/// many. Runs once per process (later calls return 0).
pub fn sweep_stale(bases: &[PathBuf]) -> usize {
    static DONE: std::sync::Once = std::sync::Once::new();
    let mut removed = 0;
    DONE.call_once(|| removed = sweep(bases));
    removed
}

fn sweep(bases: &[PathBuf]) -> usize {
    let (me, ns) = (std::process::id(), pid_namespace());
    let mut removed = 0;
    if ns == 0 {
        return 0;
    }
    for base in bases {
        let Ok(entries) = std::fs::read_dir(base) else {
            continue;
        };
        for entry in entries.flatten().take(MAX_ENTRIES) {
            let name = entry.file_name();
            let Some((pid, its_ns)) = pid_of(&name.to_string_lossy()) else {
                continue;
            };
            let path = entry.path();
            if its_ns == ns && pid != me && !alive(pid) && ours(&path) {
                tracing::debug!("removing {} (its process {pid} is gone)", path.display());
                super::discard(&path);
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_only_with_our_prefix() {
        assert_eq!(pid_of("wasmpod-p123n456-app-XyZ"), Some((123, 456)));
        assert_eq!(pid_of("wasmpod-p123-app"), None);
        assert_eq!(pid_of("wasmpod-p123n456"), None);
        assert_eq!(pid_of("wasmpod-app-123"), None);
        assert_eq!(pid_of("wasmpod-pabcn1-x"), None);
        assert_eq!(
            owned_prefix(),
            format!("wasmpod-p{}n{}-", std::process::id(), pid_namespace())
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_dead_process_s_directories_go_and_everything_else_stays() {
        let base = tempfile::tempdir().unwrap();
        // A process that has ended: its PID is free (until reused, when it is kept).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let ns = pid_namespace();
        assert_ne!(ns, 0, "/proc/self/ns/pid is readable on Linux");
        let stale = base.path().join(format!("wasmpod-p{dead}n{ns}-pod-abc"));
        // The same PID in another PID namespace is not judged from here.
        let foreign = base
            .path()
            .join(format!("wasmpod-p{dead}n{}-pod-xyz", ns + 1));
        std::fs::create_dir(&foreign).unwrap();
        std::fs::create_dir_all(stale.join("containers/c/tmp")).unwrap();
        std::fs::write(stale.join("containers/c/tmp/f"), "x").unwrap();
        let mine = base.path().join(format!("{}pod-def", owned_prefix()));
        std::fs::create_dir(&mine).unwrap();
        let live = base.path().join(format!("wasmpod-p1n{ns}-pod-ghi")); // PID 1 is alive
        std::fs::create_dir(&live).unwrap();
        let other = base.path().join("unrelated");
        std::fs::create_dir(&other).unwrap();
        // A link named like a stale directory is not followed, nor removed.
        let target = base.path().join("target");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), "x").unwrap();
        let link = base.path().join(format!("wasmpod-p{dead}n{ns}-link"));
        std::os::unix::fs::symlink(&target, &link).unwrap();

        let removed = sweep(&[base.path().to_path_buf()]);
        super::super::drain_discarded();
        if alive(dead) {
            // The PID was reused at once: nothing of it may go.
            assert!(stale.exists());
            return;
        }
        assert_eq!(removed, 1);
        assert!(!stale.exists());
        assert!(mine.exists() && live.exists() && other.exists() && foreign.exists());
        assert!(std::fs::symlink_metadata(&link).is_ok());
        assert!(target.join("keep").exists());
    }
}
