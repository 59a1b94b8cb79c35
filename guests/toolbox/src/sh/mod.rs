//! `sh`: a POSIX-subset shell that runs commands in-process.
//!
//! Usage: `sh -c 'SCRIPT' [NAME [ARG...]]`, `sh FILE [ARG...]`, or `sh`
//! reading the script from stdin. Options `-e`, `-x`, `-u` as for `set`.
//!
//! Supported: quoting (`'...'`, `"..."`, `\`), parameters (`$VAR`, `${VAR}`,
//! `${VAR:-w}`, `:=`, `:+`, `:?`, `#`, `##`, `%`, `%%`, `${#VAR}`, `$?`,
//! `$#`, `$0`-`$9`, `$@`, `$*`), `$(...)` and backquotes, `$((...))`,
//! field splitting on `IFS`, pathname expansion (`*`, `?`, `[...]`),
//! assignments (also as command prefixes), `;`, newlines, `&&`, `||`, `!`,
//! pipelines, redirections (`<`, `>`, `>>`, `>|`, `N>`, `N>&M`, `<&`, `<<`,
//! `<<-`; `/dev/null`, `/dev/stdout`, `/dev/stderr` are understood),
//! `if`/`elif`/`else`, `while`, `until`, `for`, `case`, `{ }`, `( )`,
//! functions, comments, and the builtins in [`builtins`] (`cd`, `exit`,
//! `export`, `unset`, `set` (`-e -x -u -o pipefail`), `shift`, `trap`,
//! `read`, `eval`, `.`, `exec`, `wait`, `command`, `break`, `continue`,
//! `return`, `:`). Every applet is available as a command.
//!
//! Differences from a POSIX shell, all forced by WASI having no processes:
//! * commands are applets called as functions, not programs found on `PATH`;
//!   a command name containing `/` that names a file runs it as a script;
//! * pipelines run one command after the other, buffering output in memory
//!   (so a never-ending producer such as `tail -f` blocks the pipeline);
//! * `&` is a syntax error and `wait` has nothing to wait for;
//! * the whole script is parsed before it runs: a syntax error anywhere
//!   prints `sh: syntax error: ...` and exits 2 without running anything.
//!
//! Termination: `trap 'commands' TERM` (or `SIGTERM`, `15`) subscribes to
//! wasmpod's termination requests. The shell checks for a request before and
//! after every command; `sleep`, `tail -f` and `nc` wake early when one
//! arrives. The trap then runs and the script continues unless it exits.
//! Without a TERM trap the shell never subscribes and the host stops it at
//! once (exit 143).

mod arith;
mod builtins;
mod dollar;
mod exec;
mod expand;
mod lexer;
mod parser;
mod pattern;
mod redirect;
mod vars;
mod word;

use crate::io::{Io, errstr};
use exec::Shell;
use parser::List;

/// Parses `src`, printing `sh: syntax error: ...` on failure.
fn parse_or_report(src: &str, io: &mut Io) -> Option<List> {
    match parser::parse(src) {
        Ok(list) => Some(list),
        Err(e) => {
            io.error(format!("sh: syntax error: {}", e.0));
            None
        }
    }
}

/// The `sh` applet.
pub fn main(args: &[String], io: &mut Io) -> i32 {
    #[cfg(test)]
    let _turn = tests::one_shell_at_a_time();
    let mut command = None;
    let mut flags = Vec::new();
    let mut i = 1;
    while let Some(arg) = args.get(i) {
        if arg == "--" {
            i += 1;
            break;
        }
        let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) else {
            break;
        };
        i += 1;
        for c in letters.chars() {
            match c {
                'c' => {
                    let Some(script) = args.get(i) else {
                        io.error("sh: -c requires an argument");
                        return 2;
                    };
                    command = Some(script.clone());
                    i += 1;
                }
                'e' | 'x' | 'u' => flags.push(c),
                's' => {}
                _ => {
                    io.error(format!("sh: -{c}: invalid option"));
                    return 2;
                }
            }
        }
    }
    let rest = &args[i.min(args.len())..];
    let (src, arg0, positional) = match command {
        Some(src) => {
            let arg0 = rest.first().cloned().unwrap_or_else(|| "sh".into());
            (src, arg0, rest.iter().skip(1).cloned().collect())
        }
        None => match rest.first() {
            Some(file) => match std::fs::read_to_string(file) {
                Ok(src) => (src, file.clone(), rest[1..].to_vec()),
                Err(e) => {
                    io.error(format!("sh: can't open '{file}': {}", errstr(&e)));
                    return 127;
                }
            },
            None => {
                let mut src = Vec::new();
                if let Err(e) = std::io::Read::read_to_end(&mut io.stdin, &mut src) {
                    io.error(format!("sh: can't read stdin: {}", errstr(&e)));
                    return 2;
                }
                let src = String::from_utf8_lossy(&src).into_owned();
                (src, "sh".into(), Vec::new())
            }
        },
    };
    let Some(list) = parse_or_report(&src, io) else {
        return 2;
    };
    let mut shell = Shell::new(arg0, positional, &io.env);
    shell.errexit = flags.contains(&'e');
    shell.xtrace = flags.contains(&'x');
    shell.nounset = flags.contains(&'u');
    let cwd = std::env::current_dir().ok();
    let status = shell.run_script(&list, io);
    // A nested shell's `cd` must not leak into its caller.
    if let Some(dir) = cwd {
        let _ = std::env::set_current_dir(dir);
    }
    io.flush();
    status
}

#[cfg(test)]
mod tests;
