//! Builtins: the commands that need the shell's own state.
//!
//! Everything else (`echo`, `test`, `printf`, `pwd`, `true`, ...) is an
//! applet, called in-process just the same.

use std::io::Write;
use std::path::Path;

use super::exec::{Flow, Shell, Status, TermTrap};
use super::parse_or_report;
use crate::applets;
use crate::io::{Io, errstr};
use crate::term;

const BUILTINS: &[&str] = &[
    ".", ":", "break", "cd", "command", "continue", "eval", "exec", "exit", "export", "read",
    "return", "set", "shift", "source", "trap", "unset", "wait",
];

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

pub fn run(sh: &mut Shell, args: &[String], io: &mut Io) -> Status {
    let rest = &args[1..];
    let number = |i: usize, default: i32| -> Result<i32, String> {
        match rest.get(i) {
            None => Ok(default),
            Some(s) => s
                .parse()
                .map_err(|_| format!("{}: {s}: bad number", args[0])),
        }
    };
    let status = match args[0].as_str() {
        ":" => 0,
        "cd" => cd(sh, rest, io),
        "exit" => match number(0, sh.last) {
            Ok(n) => return Err(Flow::Exit(n & 0xff)),
            Err(e) => {
                io.error(format!("sh: {e}"));
                return Err(Flow::Exit(2));
            }
        },
        "return" => match number(0, sh.last) {
            Ok(n) => return Err(Flow::Return(n & 0xff)),
            Err(e) => fail(io, e, 2),
        },
        kw @ ("break" | "continue") => match number(0, 1) {
            Ok(n) if n >= 1 => {
                if sh.loop_depth == 0 {
                    return Ok(0);
                }
                let n = (n as u32).min(sh.loop_depth);
                return Err(if kw == "break" {
                    Flow::Break(n)
                } else {
                    Flow::Continue(n)
                });
            }
            Ok(_) => fail(io, format!("{kw}: bad number"), 1),
            Err(e) => fail(io, e, 1),
        },
        "shift" => match number(0, 1) {
            Ok(n) if n >= 0 && n as usize <= sh.positional.len() => {
                sh.positional.drain(..n as usize);
                0
            }
            Ok(_) => fail(io, "shift: can't shift that many".into(), 1),
            Err(e) => fail(io, e, 1),
        },
        "export" => export(sh, rest, io),
        "unset" => {
            let functions = rest.first().is_some_and(|a| a == "-f");
            for name in rest.iter().filter(|a| !a.starts_with('-')) {
                if functions {
                    sh.funcs.remove(name);
                } else {
                    sh.unset(name);
                }
            }
            0
        }
        "set" => set(sh, rest, io),
        "trap" => trap(sh, rest, io),
        "read" => read(sh, rest, io),
        "eval" => {
            let src = rest.join(" ");
            match parse_or_report(&src, io) {
                Some(list) => return sh.run_list(&list, io),
                None => 2,
            }
        }
        "." | "source" => {
            let Some(path) = rest.first() else {
                return Ok(fail(
                    io,
                    format!("{}: filename argument required", args[0]),
                    2,
                ));
            };
            let src = match std::fs::read_to_string(path) {
                Ok(s) => s,
                Err(e) => {
                    return Ok(fail(
                        io,
                        format!("{}: can't open '{path}': {}", args[0], errstr(&e)),
                        1,
                    ));
                }
            };
            let Some(list) = parse_or_report(&src, io) else {
                return Ok(2);
            };
            let saved =
                (rest.len() > 1).then(|| std::mem::replace(&mut sh.positional, rest[1..].to_vec()));
            let r = sh.run_list(&list, io);
            if let Some(p) = saved {
                sh.positional = p;
            }
            return match r {
                Err(Flow::Return(s)) => Ok(s),
                r => r,
            };
        }
        "exec" => {
            // Replaces the shell: run the command, then exit with its status.
            sh.exit_trap = None;
            let status = sh.run_external(rest, &[], io)?;
            return Err(Flow::Exit(status));
        }
        "wait" => {
            if rest.is_empty() {
                0 // `&` is not supported, so there is never a job to wait for.
            } else {
                fail(
                    io,
                    format!("wait: pid {} is not a child of this shell", rest[0]),
                    127,
                )
            }
        }
        "command" => return command(sh, rest, io),
        other => unreachable!("not a builtin: {other}"),
    };
    Ok(status)
}

fn fail(io: &mut Io, msg: String, status: i32) -> i32 {
    io.error(format!("sh: {msg}"));
    status
}

fn cd(sh: &mut Shell, rest: &[String], io: &mut Io) -> i32 {
    let target = match rest.first().map(String::as_str) {
        None => sh.get_var("HOME").unwrap_or("/").to_string(),
        Some("-") => match sh.get_var("OLDPWD") {
            Some(d) => d.to_string(),
            None => return fail(io, "cd: OLDPWD not set".into(), 1),
        },
        Some(d) => d.to_string(),
    };
    let current = sh
        .get_var("PWD")
        .filter(|p| p.starts_with('/'))
        .map(str::to_string)
        .or_else(|| {
            std::env::current_dir()
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "/".into());
    let new = if target.starts_with('/') {
        normalize(&target)
    } else {
        normalize(&format!("{current}/{target}"))
    };
    let checked = std::fs::metadata(&new).and_then(|m| {
        if m.is_dir() {
            std::env::set_current_dir(&new)
        } else {
            Err(std::io::Error::other("Not a directory"))
        }
    });
    if let Err(e) = checked {
        return fail(io, format!("cd: can't cd to {target}: {}", errstr(&e)), 1);
    }
    if rest.first().is_some_and(|a| a == "-") {
        let _ = writeln!(io.stdout, "{new}");
    }
    sh.export("OLDPWD", Some(current));
    sh.export("PWD", Some(new));
    0
}

/// Resolves `.` and `..` in an absolute path lexically.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Quotes a value for re-input to the shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn export(sh: &mut Shell, rest: &[String], io: &mut Io) -> i32 {
    let names: Vec<&String> = rest.iter().filter(|a| *a != "-p").collect();
    if names.is_empty() {
        for (k, v) in sh.vars.iter().filter(|(_, v)| v.exported) {
            let _ = writeln!(io.stdout, "export {k}={}", quote(&v.value));
        }
        return 0;
    }
    let mut status = 0;
    for arg in names {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        if is_name(name) {
            sh.export(name, value);
        } else {
            status = fail(io, format!("export: {name}: bad variable name"), 1);
        }
    }
    status
}

fn set(sh: &mut Shell, rest: &[String], io: &mut Io) -> i32 {
    if rest.is_empty() {
        for (k, v) in &sh.vars {
            let _ = writeln!(io.stdout, "{k}={}", quote(&v.value));
        }
        return 0;
    }
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        if arg == "--" {
            sh.positional = rest[i + 1..].to_vec();
            return 0;
        }
        let on = arg.starts_with('-');
        if !(on || arg.starts_with('+')) || arg.len() < 2 {
            sh.positional = rest[i..].to_vec();
            return 0;
        }
        for c in arg[1..].chars() {
            let name = if c == 'o' {
                i += 1;
                match rest.get(i) {
                    Some(n) => n.as_str(),
                    None => return fail(io, "set: -o: option name required".into(), 2),
                }
            } else {
                match c {
                    'e' => "errexit",
                    'x' => "xtrace",
                    'u' => "nounset",
                    _ => return fail(io, format!("set: -{c}: invalid option"), 2),
                }
            };
            match name {
                "errexit" => sh.errexit = on,
                "xtrace" => sh.xtrace = on,
                "nounset" => sh.nounset = on,
                "pipefail" => sh.pipefail = on,
                _ => return fail(io, format!("set: {name}: invalid option"), 2),
            }
        }
        i += 1;
    }
    0
}

/// Normalises a signal name; `None` if unknown.
fn signal(spec: &str) -> Option<&'static str> {
    let upper = spec.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    Some(match name {
        "EXIT" | "0" => "EXIT",
        "HUP" | "1" => "HUP",
        "INT" | "2" => "INT",
        "QUIT" | "3" => "QUIT",
        "USR1" | "10" => "USR1",
        "USR2" | "12" => "USR2",
        "PIPE" | "13" => "PIPE",
        "ALRM" | "14" => "ALRM",
        "TERM" | "15" => "TERM",
        "CHLD" | "17" => "CHLD",
        _ => return None,
    })
}

/// `trap [ACTION] SIGNAL...`. TERM is the only signal wasmpod delivers (as
/// a termination request); setting a TERM trap subscribes to it. EXIT runs
/// when the shell exits. Traps for other signals are accepted and listed but
/// never run, since nothing sends those signals to a container.
fn trap(sh: &mut Shell, rest: &[String], io: &mut Io) -> i32 {
    let rest = match rest.first() {
        Some(a) if a == "--" => &rest[1..],
        _ => rest,
    };
    if rest.is_empty() {
        let mut lines = Vec::new();
        if let Some(s) = &sh.exit_trap {
            lines.push(format!("trap -- {} EXIT", quote(s)));
        }
        match &sh.term_trap {
            TermTrap::Run(s) => lines.push(format!("trap -- {} TERM", quote(s))),
            TermTrap::Ignore => lines.push("trap -- '' TERM".into()),
            TermTrap::Default => {}
        }
        for (sig, s) in &sh.other_traps {
            lines.push(format!("trap -- {} {sig}", quote(s)));
        }
        for l in lines {
            let _ = writeln!(io.stdout, "{l}");
        }
        return 0;
    }
    // One operand, a leading number or `-` means "reset these signals".
    let reset = rest.len() == 1 || rest[0] == "-" || rest[0].parse::<u32>().is_ok();
    let (action, signals) = if reset {
        (None, if rest[0] == "-" { &rest[1..] } else { rest })
    } else {
        (Some(rest[0].clone()), &rest[1..])
    };
    let mut status = 0;
    for spec in signals {
        match (signal(spec), &action) {
            (None, _) => {
                status = fail(io, format!("trap: {spec}: invalid signal specification"), 1)
            }
            (Some("TERM"), None) => sh.term_trap = TermTrap::Default,
            (Some("TERM"), Some(a)) => {
                sh.term_trap = if a.is_empty() {
                    TermTrap::Ignore
                } else {
                    TermTrap::Run(a.clone())
                };
                term::subscribe();
            }
            (Some("EXIT"), a) => sh.exit_trap = a.clone().filter(|a| !a.is_empty()),
            (Some(sig), a) => {
                sh.other_traps.retain(|(s, _)| s != sig);
                if let Some(a) = a {
                    sh.other_traps.push((sig.to_string(), a.clone()));
                }
            }
        }
    }
    status
}

/// `read [-r] [-p PROMPT] [NAME...]`: reads a line from stdin and splits it
/// into the variables by `IFS`; the last variable gets the rest of the line.
/// Returns 1 at end of input.
fn read(sh: &mut Shell, rest: &[String], io: &mut Io) -> i32 {
    let mut argv = vec!["read".to_string()];
    argv.extend_from_slice(rest);
    let Some(opts) = applets::parse(&argv, "rp:", io) else {
        return 2;
    };
    if let Some(prompt) = opts.value('p') {
        let _ = write!(io.stderr, "{prompt}");
    }
    let raw = opts.has('r');
    let mut line = String::new();
    let eof;
    loop {
        let chunk = match io.stdin.read_line() {
            Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => {
                eof = true;
                break;
            }
        };
        let had_newline = chunk.ends_with('\n');
        let chunk = chunk.strip_suffix('\n').unwrap_or(&chunk).to_string();
        if raw {
            line.push_str(&chunk);
            eof = !had_newline;
            break;
        }
        let mut chars = chunk.chars().peekable();
        let mut continued = false;
        while let Some(c) = chars.next() {
            if c != '\\' {
                line.push(c);
            } else if let Some(n) = chars.next() {
                line.push(n);
            } else {
                continued = had_newline;
            }
        }
        if !continued {
            eof = !had_newline;
            break;
        }
    }
    let names: Vec<String> = if opts.operands.is_empty() {
        vec!["REPLY".into()]
    } else {
        opts.operands
    };
    let ifs = sh.get_var("IFS").unwrap_or(" \t\n").to_string();
    let is_ifs = |c: char| ifs.contains(c);
    let mut remaining = line.trim_start_matches(is_ifs);
    for (i, name) in names.iter().enumerate() {
        let value = if i + 1 == names.len() || ifs.is_empty() {
            std::mem::take(&mut remaining).trim_end_matches(is_ifs)
        } else {
            let end = remaining.find(is_ifs).unwrap_or(remaining.len());
            let (field, tail) = remaining.split_at(end);
            remaining = tail.trim_start_matches(is_ifs);
            field
        };
        sh.set_var(name, value.to_string());
    }
    i32::from(eof)
}

fn command(sh: &mut Shell, rest: &[String], io: &mut Io) -> Status {
    let Some(first) = rest.first() else {
        return Ok(0);
    };
    if first == "-v" || first == "-V" {
        let mut status = 0;
        for name in &rest[1..] {
            let known = is_builtin(name)
                || sh.funcs.contains_key(name)
                || applets::find(name).is_some()
                || name.contains('/') && Path::new(name).is_file();
            if known {
                let _ = writeln!(io.stdout, "{name}");
            } else {
                status = 1;
            }
        }
        return Ok(status);
    }
    if is_builtin(first) {
        return run(sh, rest, io);
    }
    sh.run_external(rest, &[], io)
}
