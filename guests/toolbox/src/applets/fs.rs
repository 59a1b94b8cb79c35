//! File applets: `ls`, `mkdir`, `rm`, `rmdir`, `cp`, `mv`, `touch`, `pwd`.
//!
//! WASI filesystems have no owners or permission bits: `ls -l` shows owner
//! and group as 0 and derives the mode from the file type and the read-only
//! flag; `mkdir -m` is accepted and ignored.

use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::parse;
use super::time::format;
use crate::io::{Io, errstr};

/// `pwd`: the current directory.
pub fn pwd(_args: &[String], io: &mut Io) -> i32 {
    match std::env::current_dir() {
        Ok(dir) => i32::from(writeln!(io.stdout, "{}", dir.display()).is_err()),
        Err(e) => {
            io.error(format!("pwd: {}", errstr(&e)));
            1
        }
    }
}

fn mode_string(meta: &Metadata) -> String {
    let ft = meta.file_type();
    if ft.is_symlink() {
        "lrwxrwxrwx".into()
    } else if ft.is_dir() {
        "drwxr-xr-x".into()
    } else if meta.permissions().readonly() {
        "-r--r--r--".into()
    } else {
        "-rw-r--r--".into()
    }
}

fn mtime(meta: &Metadata) -> String {
    let secs = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    };
    let t = meta.modified().map(secs).unwrap_or(0);
    let now = secs(SystemTime::now());
    // Like ls: the year instead of the time for files older than ~6 months.
    if (now - t).abs() > 182 * 86_400 {
        format("%b %e  %Y", t, 0)
    } else {
        format("%b %e %H:%M", t, 0)
    }
}

/// `ls [-1laAd] [PATH...]`: one name per line (output is never a terminal).
pub fn ls(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "1laAdCF", io) else {
        return 2;
    };
    let long = opts.has('l');
    let all = opts.has('a');
    let almost = opts.has('A');
    let paths = if opts.operands.is_empty() {
        vec![".".to_string()]
    } else {
        opts.operands.clone()
    };
    let mut status = 0;
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for p in &paths {
        match fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() && !opts.has('d') => dirs.push(p.clone()),
            Ok(_) => files.push(p.clone()),
            Err(e) => {
                io.error(format!("ls: {p}: {}", errstr(&e)));
                status = 2;
            }
        }
    }
    let show = |io: &mut Io, path: &Path, name: &str| {
        if !long {
            let _ = writeln!(io.stdout, "{name}");
            return;
        }
        let Ok(meta) = fs::symlink_metadata(path) else {
            let _ = writeln!(io.stdout, "{name}");
            return;
        };
        let link = if meta.file_type().is_symlink() {
            fs::read_link(path)
                .map(|t| format!(" -> {}", t.display()))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let _ = writeln!(
            io.stdout,
            "{} {:>4} {:<8} {:<8} {:>9} {} {name}{link}",
            mode_string(&meta),
            1,
            0,
            0,
            meta.len(),
            mtime(&meta)
        );
    };
    for f in &files {
        show(io, Path::new(f), f);
    }
    let headers = paths.len() > 1;
    for (i, d) in dirs.iter().enumerate() {
        if headers {
            let sep = if i > 0 || !files.is_empty() { "\n" } else { "" };
            let _ = writeln!(io.stdout, "{sep}{d}:");
        }
        let entries = match fs::read_dir(d) {
            Ok(e) => e,
            Err(e) => {
                io.error(format!("ls: {d}: {}", errstr(&e)));
                status = 2;
                continue;
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| all || almost || !n.starts_with('.'))
            .collect();
        if all {
            names.extend([".".to_string(), "..".to_string()]);
        }
        names.sort();
        if long {
            let _ = writeln!(io.stdout, "total {}", names.len());
        }
        for name in names {
            show(io, &Path::new(d).join(&name), &name);
        }
    }
    status
}

/// `mkdir [-p] [-m MODE] DIR...`.
pub fn mkdir(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "pm:v", io) else {
        return 1;
    };
    let mut status = 0;
    for dir in &opts.operands {
        let r = if opts.has('p') {
            fs::create_dir_all(dir)
        } else {
            fs::create_dir(dir)
        };
        if let Err(e) = r {
            io.error(format!(
                "mkdir: can't create directory '{dir}': {}",
                errstr(&e)
            ));
            status = 1;
        }
    }
    status
}

/// `rmdir DIR...`.
pub fn rmdir(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "p", io) else {
        return 1;
    };
    let mut status = 0;
    for dir in &opts.operands {
        if let Err(e) = fs::remove_dir(dir) {
            io.error(format!("rmdir: '{dir}': {}", errstr(&e)));
            status = 1;
        }
    }
    status
}

/// `rm [-rRf] PATH...`.
pub fn rm(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "rRfiv", io) else {
        return 1;
    };
    let recursive = opts.has('r') || opts.has('R');
    let force = opts.has('f');
    let mut status = 0;
    for path in &opts.operands {
        if Path::new(path).components().count() == 1 && path.trim_end_matches('/').is_empty() {
            io.error("rm: refusing to remove '/'");
            status = 1;
            continue;
        }
        let r = match fs::symlink_metadata(path) {
            Err(e) => Err(e),
            Ok(m) if m.is_dir() && !recursive => Err(io::Error::other("Is a directory")),
            Ok(m) if m.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
        };
        match r {
            Err(e) if force && e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                io.error(format!("rm: can't remove '{path}': {}", errstr(&e)));
                status = 1;
            }
            Ok(()) => {}
        }
    }
    status
}

fn copy_recursive(src: &Path, dst: &Path) -> io::Result<()> {
    if fs::metadata(src)?.is_dir() {
        fs::create_dir_all(dst)?;
        for entry in fs::read_dir(src)? {
            let entry = entry?;
            copy_recursive(&entry.path(), &dst.join(entry.file_name()))?;
        }
        Ok(())
    } else {
        fs::copy(src, dst).map(drop)
    }
}

/// Splits operands into sources and a destination; a destination that is a
/// directory receives the sources under their own names.
fn targets(applet: &str, operands: &[String], io: &mut Io) -> Option<Vec<(PathBuf, PathBuf)>> {
    let Some((dst, srcs)) = operands.split_last().filter(|(_, s)| !s.is_empty()) else {
        io.error(format!("{applet}: missing file operand"));
        return None;
    };
    let dst = Path::new(dst);
    let into_dir = dst.is_dir();
    if srcs.len() > 1 && !into_dir {
        io.error(format!("{applet}: '{}' is not a directory", dst.display()));
        return None;
    }
    Some(
        srcs.iter()
            .map(|s| {
                let src = PathBuf::from(s);
                let to = match (into_dir, src.file_name()) {
                    (true, Some(name)) => dst.join(name),
                    _ => dst.to_path_buf(),
                };
                (src, to)
            })
            .collect(),
    )
}

/// `cp [-rRap] SRC... DST`.
pub fn cp(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "rRapfv", io) else {
        return 1;
    };
    let recursive = opts.has('r') || opts.has('R') || opts.has('a');
    let Some(pairs) = targets("cp", &opts.operands, io) else {
        return 1;
    };
    let mut status = 0;
    for (src, dst) in pairs {
        let r = match fs::metadata(&src) {
            Ok(m) if m.is_dir() && !recursive => {
                io.error(format!("cp: omitting directory '{}'", src.display()));
                status = 1;
                continue;
            }
            Ok(_) => copy_recursive(&src, &dst),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            io.error(format!(
                "cp: can't copy '{}': {}",
                src.display(),
                errstr(&e)
            ));
            status = 1;
        }
    }
    status
}

/// `mv SRC... DST` (copies and deletes when renaming is impossible).
pub fn mv(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "fiv", io) else {
        return 1;
    };
    let Some(pairs) = targets("mv", &opts.operands, io) else {
        return 1;
    };
    let mut status = 0;
    for (src, dst) in pairs {
        let r = fs::rename(&src, &dst).or_else(|e| {
            if !src.exists() {
                return Err(e);
            }
            copy_recursive(&src, &dst)?;
            if src.is_dir() {
                fs::remove_dir_all(&src)
            } else {
                fs::remove_file(&src)
            }
        });
        if let Err(e) = r {
            io.error(format!(
                "mv: can't rename '{}': {}",
                src.display(),
                errstr(&e)
            ));
            status = 1;
        }
    }
    status
}

/// `touch [-c] FILE...`: creates files or sets their modification time to now.
pub fn touch(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "cam", io) else {
        return 1;
    };
    let mut status = 0;
    for path in &opts.operands {
        if opts.has('c') && !Path::new(path).exists() {
            continue;
        }
        let file = if Path::new(path).is_dir() {
            fs::File::open(path)
        } else {
            fs::OpenOptions::new().create(true).append(true).open(path)
        };
        let r = file.and_then(|f| f.set_modified(SystemTime::now()));
        if let Err(e) = r {
            io.error(format!("touch: {path}: {}", errstr(&e)));
            status = 1;
        }
    }
    status
}
