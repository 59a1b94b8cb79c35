//! `tail [-n N|+N] [-c N] [-f|-F] [-s SECS] [FILE...]`.
//!
//! Following polls every 100 ms (WASI offers no file-change notification).
//! `-f` follows the open file; `-F` follows the name: it waits for a missing
//! file to appear, notices when the file is replaced (different file id) or
//! deleted, and starts over from the beginning of the new file. Both notice
//! truncation. Following stops (status 143) when termination is requested
//! and the guest subscribed (a shell `trap ... TERM`).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use super::parse;
use super::text::numeric_count;
use crate::io::{Io, errstr, open_input};
use crate::term;

/// How much to print before following.
#[derive(Clone, Copy)]
enum Start {
    LastLines(usize),
    FromLine(usize),
    LastBytes(usize),
}

struct Followed {
    name: String,
    file: Option<File>,
    pos: u64,
    id: Option<u64>,
}

/// An identifier of the file a path currently names, to notice that the
/// name now refers to a different file.
#[cfg(unix)]
fn file_id(path: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// On WASI, std's inode accessor is unstable; ask the filesystem for the
/// file's metadata hash (WASI's stand-in for inode numbers), relative to the
/// preopened directory containing the path.
#[cfg(target_os = "wasi")]
fn file_id(path: &str) -> Option<u64> {
    use std::path::{Component, PathBuf};
    use wasip2::filesystem::{preopens, types::PathFlags};
    let mut abs = PathBuf::from("/");
    let joined = std::env::current_dir().ok()?.join(path);
    for comp in joined.components() {
        match comp {
            Component::ParentDir => {
                abs.pop();
            }
            Component::Normal(c) => abs.push(c),
            _ => {}
        }
    }
    let (dir, rel) = preopens::get_directories()
        .into_iter()
        .filter_map(|(dir, root)| {
            let rel = abs.strip_prefix(&root).ok()?.to_str()?.to_string();
            Some((dir, rel, root.len()))
        })
        .max_by_key(|(_, _, len)| *len)
        .map(|(dir, rel, _)| (dir, rel))?;
    let rel = if rel.is_empty() { "." } else { rel.as_str() };
    let hash = dir.metadata_hash_at(PathFlags::SYMLINK_FOLLOW, rel).ok()?;
    Some(hash.lower ^ hash.upper.rotate_left(17))
}

#[cfg(not(any(unix, target_os = "wasi")))]
fn file_id(_path: &str) -> Option<u64> {
    None
}

/// The suffix of `data` that `start` selects.
fn select(data: &[u8], start: Start) -> &[u8] {
    match start {
        Start::LastBytes(n) => &data[data.len().saturating_sub(n)..],
        Start::FromLine(n) => {
            let skip = data
                .split_inclusive(|&b| b == b'\n')
                .take(n.saturating_sub(1))
                .map(<[u8]>::len)
                .sum::<usize>();
            &data[skip..]
        }
        Start::LastLines(n) => {
            let body = data.strip_suffix(b"\n").unwrap_or(data);
            let mut count = 0;
            let mut at = 0;
            for (i, &b) in body.iter().enumerate().rev() {
                if b == b'\n' {
                    count += 1;
                    if count == n {
                        at = i + 1;
                        break;
                    }
                }
            }
            if n == 0 {
                &data[data.len()..]
            } else {
                &data[at..]
            }
        }
    }
}

fn parse_start(opts: &super::Opts) -> Result<Start, String> {
    if let Some(c) = opts.value('c') {
        return c
            .parse()
            .map(Start::LastBytes)
            .map_err(|_| format!("invalid number '{c}'"));
    }
    let n = opts.value('n').unwrap_or("10");
    let bad = || format!("invalid number '{n}'");
    match n.strip_prefix('+') {
        Some(from) => from.parse().map(Start::FromLine).map_err(|_| bad()),
        None => n
            .trim_start_matches('-')
            .parse()
            .map(Start::LastLines)
            .map_err(|_| bad()),
    }
}

pub fn tail(args: &[String], io: &mut Io) -> i32 {
    let args = numeric_count(args);
    let Some(opts) = parse(&args, "n:c:fFqvs:", io) else {
        return 1;
    };
    let start = match parse_start(&opts) {
        Ok(s) => s,
        Err(e) => {
            io.error(format!("tail: {e}"));
            return 1;
        }
    };
    let by_name = opts.has('F');
    let follow = by_name || opts.has('f');
    let interval = match opts.value('s').map(str::parse::<f64>) {
        None => Duration::from_millis(100),
        Some(Ok(s)) if s >= 0.0 && s.is_finite() => Duration::from_secs_f64(s),
        Some(_) => {
            io.error("tail: invalid interval");
            return 1;
        }
    };
    let names = if opts.operands.is_empty() {
        vec!["-".to_string()]
    } else {
        opts.operands.clone()
    };
    let headers = names.len() > 1 && !opts.has('q') || opts.has('v');
    let mut status = 0;
    let mut followed = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if headers {
            let _ = writeln!(
                io.stdout,
                "{}==> {name} <==",
                if i == 0 { "" } else { "\n" }
            );
        }
        if name == "-" || name == "/dev/null" || name == "/dev/stdin" {
            let mut data = Vec::new();
            let _ = open_input(name, io).and_then(|mut input| input.read_to_end(&mut data));
            let _ = io.stdout.write_all(select(&data, start));
            continue;
        }
        let mut f = Followed {
            name: name.clone(),
            file: None,
            pos: 0,
            id: None,
        };
        match f.open() {
            Ok(mut file) => {
                let mut data = Vec::new();
                if let Err(e) = file.read_to_end(&mut data) {
                    io.error(format!("tail: {name}: {}", errstr(&e)));
                    status = 1;
                }
                let _ = io.stdout.write_all(select(&data, start));
                f.pos = data.len() as u64;
                f.file = Some(file);
            }
            Err(e) => {
                io.error(format!("tail: can't open '{name}': {}", errstr(&e)));
                status = 1;
                if !by_name {
                    continue;
                }
            }
        }
        followed.push(f);
    }
    io.flush();
    if !follow {
        return status;
    }
    if followed.is_empty() && names.iter().any(|n| n != "/dev/null") && status != 0 {
        return status;
    }
    loop {
        if term::sleep(interval) {
            return term::STATUS;
        }
        for f in &mut followed {
            if by_name {
                f.check_name(io);
            }
            f.read_new(io);
        }
        io.flush();
    }
}

impl Followed {
    fn open(&mut self) -> std::io::Result<File> {
        let file = File::open(&self.name)?;
        self.id = file_id(&self.name);
        Ok(file)
    }

    /// `-F`: reopens the name if the file appeared, vanished or was replaced.
    fn check_name(&mut self, io: &mut Io) {
        match std::fs::metadata(&self.name) {
            Err(_) => {
                if self.file.take().is_some() {
                    io.error(format!(
                        "tail: '{}' has become inaccessible: No such file or directory",
                        self.name
                    ));
                }
            }
            Ok(_) => {
                let replaced = self.file.is_some() && file_id(&self.name) != self.id;
                if self.file.is_some() && !replaced {
                    return;
                }
                let existed = self.file.is_some();
                if let Ok(file) = self.open() {
                    let what = if existed {
                        "has been replaced"
                    } else {
                        "has appeared"
                    };
                    io.error(format!("tail: '{}' {what}; following new file", self.name));
                    self.file = Some(file);
                    self.pos = 0;
                }
            }
        }
    }

    /// Prints whatever was appended since the last read.
    fn read_new(&mut self, io: &mut Io) {
        let Some(file) = &mut self.file else { return };
        let Ok(len) = file.metadata().map(|m| m.len()) else {
            return;
        };
        if len < self.pos {
            io.error(format!("tail: {}: file truncated", self.name));
            self.pos = 0;
        }
        if len == self.pos || file.seek(SeekFrom::Start(self.pos)).is_err() {
            return;
        }
        let mut data = Vec::new();
        if let Ok(n) = file.read_to_end(&mut data) {
            self.pos += n as u64;
            let _ = io.stdout.write_all(&data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_lines_and_bytes() {
        let data = b"a\nb\nc\nd\n";
        assert_eq!(select(data, Start::LastLines(2)), b"c\nd\n");
        assert_eq!(select(data, Start::LastLines(10)), data);
        assert_eq!(select(data, Start::LastLines(0)), b"");
        assert_eq!(select(b"a\nb", Start::LastLines(1)), b"b");
        assert_eq!(select(data, Start::FromLine(3)), b"c\nd\n");
        assert_eq!(select(data, Start::LastBytes(3)), b"\nd\n");
    }
}
