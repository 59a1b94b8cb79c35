//! fs attacks: symlinks planted for the host to follow, and writes that try
//! to fill a volume past its `sizeLimit`.
//!
//! * `symlink PATH TARGET`: removes PATH (a file, link or empty directory)
//!   if present and makes it a symlink to TARGET; prints `symlink=ok` or
//!   `symlink=error:...`.
//! * `write-file PATH BYTES`: writes BYTES bytes to PATH; prints `written=N`.
//! * `fill PATH TOTAL CHUNK PAUSE_MS`: appends CHUNK-byte writes to PATH,
//!   pausing PAUSE_MS between them, until TOTAL bytes or an error; prints
//!   `filled=N` (and `fill-error=...`), then stays running so that the host
//!   decides its fate.
//! * `deep-dirs PATH LEVELS`: makes LEVELS directories, each inside the
//!   last, beneath the directory PATH (one level at a time through an open
//!   descriptor, so the depth costs nothing per call); prints `levels=N`
//!   (and `deep-error=...`).

use std::io::Write;
use std::time::Duration;

/// Runs `attack` if it is one of this module's; `None` otherwise.
pub fn run(attack: &str, args: &[String]) -> Option<i32> {
    let code = match (attack, args) {
        ("symlink", [path, target]) => symlink(path, target),
        ("write-file", [path, bytes]) => match bytes.parse() {
            Ok(n) => write_file(path, n),
            Err(_) => usage(attack),
        },
        ("fill", [path, total, chunk, pause]) => {
            match (total.parse(), chunk.parse(), pause.parse()) {
                (Ok(t), Ok(c), Ok(p)) => fill(path, t, c, p),
                _ => usage(attack),
            }
        }
        ("deep-dirs", [path, levels]) => match levels.parse() {
            Ok(n) => deep_dirs(path, n),
            Err(_) => usage(attack),
        },
        ("symlink" | "write-file" | "fill" | "deep-dirs", _) => usage(attack),
        _ => return None,
    };
    Some(code)
}

fn usage(attack: &str) -> i32 {
    eprintln!("hostile {attack}: bad arguments (see guests/hostile/src/fs.rs)");
    2
}

fn symlink(path: &str, target: &str) -> i32 {
    match plant(path, target) {
        Ok(()) => {
            println!("symlink=ok");
            0
        }
        Err(e) => {
            println!("symlink=error:{e}");
            1
        }
    }
}

/// `symlinkat` through the preopen that holds `path` (std has no stable
/// symlink call on WASI).
#[cfg(target_os = "wasi")]
fn plant(path: &str, target: &str) -> Result<(), String> {
    let (dir, rel) = preopen_holding(path)?;
    let _ = dir.unlink_file_at(&rel);
    let _ = dir.remove_directory_at(&rel);
    dir.symlink_at(target, &rel).map_err(|e| format!("{e:?}"))
}

/// The preopen whose guest path is the longest prefix of `path`, and the rest of `path`.
#[cfg(target_os = "wasi")]
fn preopen_holding(path: &str) -> Result<(wasip2::filesystem::types::Descriptor, String), String> {
    use wasip2::filesystem::preopens;
    preopens::get_directories()
        .into_iter()
        .filter_map(|(d, guest)| {
            let rest = path.strip_prefix(guest.trim_end_matches('/'))?;
            let rest = rest.strip_prefix('/').or((guest == "/").then_some(rest))?;
            Some((d, guest.len(), rest.to_string()))
        })
        .max_by_key(|(_, len, _)| *len)
        .map(|(d, _, rest)| (d, rest))
        .ok_or_else(|| format!("no preopen holds {path}"))
}

#[cfg(not(target_os = "wasi"))]
fn plant(path: &str, target: &str) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_dir(path);
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, path).map_err(|e| e.to_string());
    #[cfg(not(unix))]
    return Err(format!("no symlinks here ({target})"));
}

fn deep_dirs(path: &str, levels: u64) -> i32 {
    let mut made = 0;
    let result = nest(path, levels, &mut made);
    println!("levels={made}");
    match result {
        Ok(()) => 0,
        Err(e) => {
            println!("deep-error={e}");
            1
        }
    }
}

#[cfg(target_os = "wasi")]
fn nest(path: &str, levels: u64, made: &mut u64) -> Result<(), String> {
    use wasip2::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
    let (preopen, rel) = preopen_holding(path)?;
    let open = |dir: &wasip2::filesystem::types::Descriptor, rel: &str| {
        dir.open_at(
            PathFlags::empty(),
            rel,
            OpenFlags::DIRECTORY,
            DescriptorFlags::READ | DescriptorFlags::MUTATE_DIRECTORY,
        )
        .map_err(|e| format!("{e:?}"))
    };
    let mut dir = if rel.is_empty() {
        preopen
    } else {
        open(&preopen, &rel)?
    };
    while *made < levels {
        dir.create_directory_at("d").map_err(|e| format!("{e:?}"))?;
        dir = open(&dir, "d")?;
        *made += 1;
    }
    Ok(())
}

#[cfg(not(target_os = "wasi"))]
fn nest(path: &str, levels: u64, made: &mut u64) -> Result<(), String> {
    let mut at = std::path::PathBuf::from(path);
    while *made < levels {
        at.push("d");
        std::fs::create_dir(&at).map_err(|e| e.to_string())?;
        *made += 1;
    }
    Ok(())
}

fn write_file(path: &str, bytes: usize) -> i32 {
    let written = std::fs::write(path, vec![b'x'; bytes]).map(|()| bytes);
    match written {
        Ok(n) => {
            println!("written={n}");
            0
        }
        Err(e) => {
            println!("written=0");
            println!("write-error={e}");
            1
        }
    }
}

fn fill(path: &str, total: u64, chunk: usize, pause_ms: u64) -> i32 {
    let buf = vec![b'x'; chunk.max(1)];
    let mut filled: u64 = 0;
    let result = std::fs::File::create(path).and_then(|mut f| {
        while filled < total {
            f.write_all(&buf)?;
            filled += buf.len() as u64;
            if pause_ms > 0 {
                std::thread::sleep(Duration::from_millis(pause_ms));
            }
        }
        Ok(())
    });
    println!("filled={filled}");
    if let Err(e) = result {
        println!("fill-error={e}");
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
