//! `toolbox`: a busybox-like multi-call binary for wasmpod containers.
//!
//! Pods written for `busybox` or `alpine` images run this WebAssembly
//! component (wasm32-wasip2). It contains a POSIX-subset shell (`sh`, see
//! [`sh`]) and the usual small utilities.
//!
//! # Choosing the applet
//!
//! * If the basename of `argv[0]` is an applet (`sh`, `/bin/sleep`, ...),
//!   that applet runs with the whole argv: `["sh", "-c", "echo hi"]`.
//! * Else, if it is `toolbox` or `busybox`, `argv[1]` names the applet:
//!   `["toolbox", "date", "+%s"]`.
//! * Otherwise `toolbox: applet not found: NAME` is printed and the exit code
//!   is 127.
//!
//! The program always ends through `wasi:cli/exit.exit-with-code` (see
//! `wasmpod_guest::exit`), so the exact exit status reaches the host.
//!
//! # Applets
//!
//! Shell: `sh`. Files: `ls`, `mkdir`, `rm`, `rmdir`, `cp`, `mv`, `touch`,
//! `pwd`. Text: `echo`, `printf`, `cat`, `head`, `tail`, `wc`, `grep`, `seq`,
//! `sort`, `uniq`, `cut`, `tr`.
//! Network: `nc`, `wget`. Time: `date`, `sleep`. Misc: `true`, `false`,
//! `test`, `[`, `env`, `printenv`, `hostname`, `basename`, `dirname`.
//!
//! Test-only helpers (for exercising the runtime, not for real pods):
//! * `spin` — an infinite busy loop making no host calls, to prove that the
//!   host interrupts guests by epoch.
//! * `trapnow` — executes a WebAssembly `unreachable` instruction (a trap).
//! * `fill-mem SIZE` — allocates and touches SIZE bytes (`K`/`M`/`G`
//!   suffixes), to exercise memory limits; exits 1 if the allocation fails.
//!
//! # Working directory
//!
//! WASI components have no chdir system call at the host; wasi-libc (used by
//! Rust's std on wasm32-wasip2) emulates a current directory inside the
//! guest and resolves relative paths against it and the preopened
//! directories. At start, if `PWD` is set to an absolute path, toolbox makes
//! it the current directory (`std::env::set_current_dir`); the shell's `cd`
//! changes it the same way. So the host should preopen `/` (or the relevant
//! directories) and pass the container's `workingDir` as `PWD`.
//!
//! # Processes
//!
//! There are none in WASI: the shell calls applets as functions. Pipelines
//! run their commands one after the other, buffering each command's output
//! as the next one's input, so `tail -f log | grep x` never produces output.
//! Background jobs (`&`) are rejected.

mod applets;
mod io;
mod sh;
mod term;

use std::path::Path;

/// Names under which the applet is given as the first argument.
const MULTICALL_NAMES: &[&str] = &["toolbox", "busybox"];

fn main() {
    init_cwd();
    let args: Vec<String> = std::env::args().collect();
    let mut io = io::Io::process();
    let status = dispatch(&args, &mut io);
    io.flush();
    wasmpod_guest::exit(status as u8);
}

/// Makes `PWD` the current directory if it is an absolute path.
fn init_cwd() {
    if let Ok(pwd) = std::env::var("PWD")
        && pwd.starts_with('/')
        && let Err(e) = std::env::set_current_dir(&pwd)
    {
        eprintln!("toolbox: can't cd to {pwd}: {}", io::errstr(&e));
    }
}

/// Runs the applet `args` selects and returns its exit status.
fn dispatch(args: &[String], io: &mut io::Io) -> i32 {
    let argv0 = args.first().map(String::as_str).unwrap_or("toolbox");
    let name = applet_name(argv0);
    if let Some(applet) = applets::find(name) {
        return applet(args, io);
    }
    if !MULTICALL_NAMES.contains(&name) {
        io.error(format!("toolbox: applet not found: {name}"));
        return 127;
    }
    match args.get(1).map(String::as_str) {
        None => {
            io.error("usage: toolbox APPLET [ARG]...");
            1
        }
        Some("--list" | "--help") => {
            let mut names: Vec<_> = applets::APPLETS.iter().map(|(n, _)| *n).collect();
            names.sort_unstable();
            let _ = std::io::Write::write_all(&mut io.stdout, (names.join("\n") + "\n").as_bytes());
            0
        }
        Some(applet) => match applets::find(applet_name(applet)) {
            Some(f) => f(&args[1..], io),
            None => {
                io.error(format!("toolbox: applet not found: {applet}"));
                127
            }
        },
    }
}

/// The basename of `argv0` without a `.wasm` extension.
fn applet_name(argv0: &str) -> &str {
    let base = Path::new(argv0)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or(argv0);
    base.strip_suffix(".wasm").unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut io, out, err) = io::Io::capture("");
        let status = dispatch(&args, &mut io);
        let out = String::from_utf8(out.borrow().clone()).unwrap();
        let err = String::from_utf8(err.borrow().clone()).unwrap();
        (status, out, err)
    }

    #[test]
    fn selects_applet_by_argv0_or_argv1() {
        assert_eq!(run(&["/bin/echo", "hi"]).1, "hi\n");
        assert_eq!(run(&["toolbox", "echo", "hi"]).1, "hi\n");
        assert_eq!(run(&["busybox", "true"]).0, 0);
        assert_eq!(run(&["sh", "-c", "exit 7"]).0, 7);
    }

    #[test]
    fn unknown_applet_is_127() {
        let (status, _, err) = run(&["nosuch", "x"]);
        assert_eq!(status, 127);
        assert_eq!(err, "toolbox: applet not found: nosuch\n");
        let (status, _, err) = run(&["toolbox", "nosuch"]);
        assert_eq!(status, 127);
        assert_eq!(err, "toolbox: applet not found: nosuch\n");
    }
}
