//! Probes of what a real program sees (not attacks): its working directory
//! and relative paths, done the way C and Rust std programs do them.
//!
//! * `cwd`: prints `cwd=<getcwd()>` (Rust std's `current_dir`, which is
//!   wasi-libc's `getcwd`) and `initial-cwd=<wasi:cli/environment.initial-cwd>`
//!   (`none` when the host reports none);
//! * `read-rel FILE`: opens `FILE` as given (relative, through wasi-libc)
//!   and prints `content=<its text>`; exits 1 with `error=...` if it fails;
//! * `write-rel FILE TEXT [READBACK]`: creates `FILE` as given, writes
//!   `TEXT`, then reads `READBACK` (another name for it, e.g. its absolute
//!   path) and prints `readback=<its text>`.

/// Runs `probe` if it is one of this module's; `None` otherwise.
pub fn run(probe: &str, args: &[String]) -> Option<i32> {
    match (probe, args) {
        ("cwd", []) => Some(cwd()),
        ("read-rel", [file]) => Some(read_rel(file)),
        ("write-rel", [file, text]) => Some(write_rel(file, text, None)),
        ("write-rel", [file, text, back]) => Some(write_rel(file, text, Some(back))),
        _ => None,
    }
}

fn cwd() -> i32 {
    match std::env::current_dir() {
        Ok(dir) => println!("cwd={}", dir.display()),
        Err(e) => println!("cwd-error={e}"),
    }
    println!("initial-cwd={}", initial_cwd().as_deref().unwrap_or("none"));
    0
}

#[cfg(target_os = "wasi")]
fn initial_cwd() -> Option<String> {
    wasip2::cli::environment::initial_cwd()
}

#[cfg(not(target_os = "wasi"))]
fn initial_cwd() -> Option<String> {
    None
}

fn read_rel(file: &str) -> i32 {
    match std::fs::read_to_string(file) {
        Ok(text) => {
            println!("content={}", text.trim_end());
            0
        }
        Err(e) => {
            println!("error={e}");
            1
        }
    }
}

fn write_rel(file: &str, text: &str, back: Option<&String>) -> i32 {
    if let Err(e) = std::fs::write(file, text) {
        println!("error={e}");
        return 1;
    }
    println!("wrote={file}");
    match back.map(std::fs::read_to_string) {
        None => 0,
        Some(Ok(text)) => {
            println!("readback={text}");
            0
        }
        Some(Err(e)) => {
            println!("readback-error={e}");
            1
        }
    }
}
