//! Log files with a size cap, rotated as the kubelet's container log manager
//! rotates them (`containerLogMaxSize`, `containerLogMaxFiles`).
//!
//! When the next record would take the current file `<n>.log` past
//! [`LogRotation::max_size`], the file is renamed to
//! `<n>.log.<YYYYmmdd-HHMMSS.nnnnnnnnn>` (the kubelet's
//! `<name>.<timestamp>`, with nanoseconds so that names stay unique and sort
//! by time) and a new `<n>.log` is started; the oldest rotated files are
//! removed so that at most [`LogRotation::max_files`] files, the current one
//! included, are kept per container instance. Unlike the kubelet, rotated
//! files are not compressed: they stay plain CRI logs. The kubelet checks
//! sizes every 10 s, so its files overshoot; here the check is made before
//! every record, so a file never exceeds the cap unless its first record
//! alone does (a record is at most [`MAX_LINE`](super::MAX_LINE) bytes of
//! text plus its prefix).

use std::io;
use std::path::{Path, PathBuf};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncWriteExt, BufWriter};

/// How container log files are capped and rotated: the kubelet's
/// `containerLogMaxSize` and `containerLogMaxFiles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogRotation {
    /// A log file is rotated before it grows past this many bytes
    /// (default 10 MiB, the kubelet's `10Mi`; at least 1).
    pub max_size: u64,
    /// The most log files kept per container instance, the current one
    /// included (default 5, as the kubelet; at least 2, as the kubelet
    /// requires).
    pub max_files: usize,
}

impl LogRotation {
    /// Files rotated before they pass `max_size` bytes, at most `max_files` kept per instance.
    pub fn new(max_size: u64, max_files: usize) -> Self {
        Self {
            max_size,
            max_files,
        }
    }
}

impl Default for LogRotation {
    fn default() -> Self {
        Self {
            max_size: 10 * 1024 * 1024,
            max_files: 5,
        }
    }
}

impl LogRotation {
    /// The settings as applied: `max_size` at least 1, `max_files` at least 2.
    pub fn effective(self) -> Self {
        Self {
            max_size: self.max_size.max(1),
            max_files: self.max_files.max(2),
        }
    }
}

/// Where a pod's container logs go: `<dir>/<container>/<restart count>.log`.
#[derive(Debug, Clone)]
pub(crate) struct LogDir {
    pub(crate) dir: PathBuf,
    pub(crate) rotation: LogRotation,
}

impl LogDir {
    /// The log file of one container instance.
    pub(crate) fn file(&self, container: &str, restart_count: u32) -> LogTarget {
        LogTarget {
            path: self
                .dir
                .join(container)
                .join(format!("{restart_count}.log")),
            rotation: self.rotation.effective(),
        }
    }
}

/// One container instance's log file and how it is rotated.
#[derive(Debug, Clone)]
pub(crate) struct LogTarget {
    pub(crate) path: PathBuf,
    pub(crate) rotation: LogRotation,
}

/// An open, size-capped log file.
pub(crate) struct RotatingFile {
    target: LogTarget,
    file: BufWriter<File>,
    /// Bytes in the current file.
    size: u64,
    /// The last rotated name used (names must keep increasing).
    last_rotated: Option<String>,
}

impl RotatingFile {
    /// Opens (creating its directory) `target` for appending.
    pub(crate) async fn open(target: LogTarget) -> io::Result<Self> {
        if let Some(dir) = target.path.parent() {
            tokio::fs::create_dir_all(dir).await?;
            remove_older_instances(dir, &target.path).await;
        }
        let file = append(&target.path).await?;
        let size = file.metadata().await?.len();
        Ok(Self {
            target,
            file: BufWriter::new(file),
            size,
            last_rotated: None,
        })
    }

    /// Appends one record, rotating first if it would not fit.
    pub(crate) async fn write_record(&mut self, record: &[u8]) -> io::Result<()> {
        let len = record.len() as u64;
        if self.size > 0 && self.size + len > self.target.rotation.max_size {
            self.rotate().await?;
        }
        self.file.write_all(record).await?;
        self.size += len;
        Ok(())
    }

    pub(crate) async fn flush(&mut self) -> io::Result<()> {
        self.file.flush().await
    }

    async fn rotate(&mut self) -> io::Result<()> {
        self.file.flush().await?;
        let path = &self.target.path;
        let name = file_name(path)?;
        let mut now = Timestamp::now();
        let rotated = loop {
            let candidate = format!("{name}.{}", now.strftime("%Y%m%d-%H%M%S%.9f"));
            let newer = self.last_rotated.as_ref().is_none_or(|l| candidate > *l);
            if newer
                && tokio::fs::symlink_metadata(path.with_file_name(&candidate))
                    .await
                    .is_err()
            {
                break candidate;
            }
            now = now
                .saturating_add(SignedDuration::from_nanos(1))
                .unwrap_or(now);
        };
        tokio::fs::rename(path, path.with_file_name(&rotated)).await?;
        self.last_rotated = Some(rotated);
        self.file = BufWriter::new(append(path).await?);
        self.size = 0;
        self.remove_excess(&name).await
    }

    /// Removes the oldest rotated files beyond `max_files - 1`.
    async fn remove_excess(&self, name: &str) -> io::Result<()> {
        let dir = self.target.path.parent().unwrap_or(Path::new("."));
        let prefix = format!("{name}.");
        let mut rotated = Vec::new();
        let mut entries = tokio::fs::read_dir(dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            if let Some(n) = entry.file_name().to_str()
                && n.starts_with(&prefix)
            {
                rotated.push(n.to_string());
            }
        }
        rotated.sort_unstable();
        let keep = self.target.rotation.max_files - 1;
        let excess = rotated.len().saturating_sub(keep);
        for old in &rotated[..excess] {
            tokio::fs::remove_file(dir.join(old)).await?;
        }
        Ok(())
    }
}

async fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

fn file_name(path: &Path) -> io::Result<String> {
    path.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| io::Error::other(format!("bad log file name {}", path.display())))
}

/// The kubelet keeps the logs of a container's current instance and of its
/// last terminated one (dead containers are garbage-collected with their
/// logs): opening `<n>.log` removes `<n-2>.log` and its rotated files, so a
/// crash loop cannot fill the disk one instance at a time.
async fn remove_older_instances(dir: &std::path::Path, current: &std::path::Path) {
    let Some(n) = current
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_suffix(".log"))
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return;
    };
    let Some(old) = n.checked_sub(2) else { return };
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    let (exact, rotated) = (format!("{old}.log"), format!("{old}.log."));
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // Instances before the previous one were removed when it started.
        if name == exact || name.starts_with(&rotated) {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn only_the_previous_instance_logs_are_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let logs = LogDir {
            dir: tmp.path().to_path_buf(),
            rotation: LogRotation::default(),
        };
        let app = tmp.path().join("app");
        for n in 0..3 {
            drop(RotatingFile::open(logs.file("app", n)).await.unwrap());
            std::fs::write(app.join(format!("{n}.log.20260101-000000.1")), "x").unwrap();
        }
        assert_eq!(
            names(&app),
            [
                "1.log",
                "1.log.20260101-000000.1",
                "2.log",
                "2.log.20260101-000000.1"
            ]
        );
    }

    #[tokio::test]
    async fn files_are_capped_rotated_and_the_oldest_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let logs = LogDir {
            dir: tmp.path().to_path_buf(),
            rotation: LogRotation {
                max_size: 100,
                max_files: 3,
            },
        };
        let mut f = RotatingFile::open(logs.file("app", 2)).await.unwrap();
        for i in 0..100 {
            f.write_record(format!("record {i:03} 123456789\n").as_bytes())
                .await
                .unwrap();
        }
        f.flush().await.unwrap();
        let dir = tmp.path().join("app");
        let files = names(&dir);
        assert_eq!(files.len(), 3, "{files:?}");
        assert_eq!(files[0], "2.log");
        assert!(
            files[1].starts_with("2.log.2") && files[1] < files[2],
            "{files:?}"
        );
        for f in &files {
            let len = std::fs::metadata(dir.join(f)).unwrap().len();
            assert!(len <= 100, "{f}: {len} bytes");
        }
        let current = std::fs::read_to_string(dir.join("2.log")).unwrap();
        assert!(current.ends_with("record 099 123456789\n"), "{current}");
        let newest_rotated = std::fs::read_to_string(dir.join(&files[2])).unwrap();
        let oldest_rotated = std::fs::read_to_string(dir.join(&files[1])).unwrap();
        assert!(oldest_rotated < newest_rotated && newest_rotated < current);
    }

    #[tokio::test]
    async fn other_instances_files_are_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let logs = LogDir {
            dir: tmp.path().to_path_buf(),
            rotation: LogRotation {
                max_size: 10,
                max_files: 0,
            },
        };
        let dir = tmp.path().join("app");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("1.log"), "previous\n").unwrap();
        std::fs::write(dir.join("11.log.20260101-000000.000000000"), "x\n").unwrap();
        let mut f = RotatingFile::open(logs.file("app", 1)).await.unwrap();
        // An overlong record still goes in whole, into a file of its own.
        f.write_record(b"a record longer than ten\n").await.unwrap();
        f.write_record(b"b\n").await.unwrap();
        f.flush().await.unwrap();
        let files = names(&dir);
        // max_files 0 means 2: the current file and one rotated.
        assert_eq!(files.len(), 3, "{files:?}");
        assert!(files.contains(&"11.log.20260101-000000.000000000".to_string()));
        assert_eq!(std::fs::read_to_string(dir.join("1.log")).unwrap(), "b\n");
    }
}
