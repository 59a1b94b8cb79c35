//! Miscellaneous applets: `true`, `false`, `test`/`[`, `env`, `printenv`,
//! `hostname`, `basename`, `dirname`, `seq`, and the test-only helpers
//! `spin`, `trapnow` and `fill-mem`.

use std::io::Write;
use std::rc::Rc;

use super::find;
use crate::io::Io;

pub fn true_(_args: &[String], _io: &mut Io) -> i32 {
    0
}

pub fn false_(_args: &[String], _io: &mut Io) -> i32 {
    1
}

/// `env [-i] [-u NAME] [NAME=VALUE...] [APPLET [ARG...]]`: prints the
/// environment in order, or runs an applet with a modified one.
pub fn env(args: &[String], io: &mut Io) -> i32 {
    let mut vars: Vec<(String, String)> = io.env.to_vec();
    let mut i = 1;
    while let Some(arg) = args.get(i) {
        match arg.as_str() {
            "-i" | "-" => vars.clear(),
            "-u" => {
                i += 1;
                let name = args.get(i).cloned().unwrap_or_default();
                vars.retain(|(k, _)| *k != name);
            }
            a => match a.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    vars.retain(|(ek, _)| ek != k);
                    vars.push((k.to_string(), v.to_string()));
                }
                _ => break,
            },
        }
        i += 1;
    }
    let Some(name) = args.get(i) else {
        for (k, v) in &vars {
            let _ = writeln!(io.stdout, "{k}={v}");
        }
        return 0;
    };
    let Some(applet) = find(name) else {
        io.error(format!(
            "env: can't execute '{name}': No such file or directory"
        ));
        return 127;
    };
    let mut cio = io.clone();
    cio.env = Rc::new(vars);
    applet(&args[i..], &mut cio)
}

/// `printenv [NAME...]`.
pub fn printenv(args: &[String], io: &mut Io) -> i32 {
    if args.len() < 2 {
        let vars = io.env.clone();
        for (k, v) in vars.iter() {
            let _ = writeln!(io.stdout, "{k}={v}");
        }
        return 0;
    }
    let mut status = 0;
    for name in &args[1..] {
        match io.getenv(name).map(str::to_string) {
            Some(v) => {
                let _ = writeln!(io.stdout, "{v}");
            }
            None => status = 1,
        }
    }
    status
}

/// `hostname`: WASI has no hostname call; the host passes the pod's
/// hostname in `HOSTNAME`, as Kubernetes does for containers.
pub fn hostname(_args: &[String], io: &mut Io) -> i32 {
    match io.getenv("HOSTNAME").map(str::to_string) {
        Some(h) => i32::from(writeln!(io.stdout, "{h}").is_err()),
        None => {
            io.error("hostname: HOSTNAME is not set");
            1
        }
    }
}

/// `basename NAME [SUFFIX]`.
pub fn basename(args: &[String], io: &mut Io) -> i32 {
    let Some(name) = args.get(1) else {
        io.error("basename: missing operand");
        return 1;
    };
    let trimmed = name.trim_end_matches('/');
    let mut base = if trimmed.is_empty() && !name.is_empty() {
        "/"
    } else {
        trimmed.rsplit('/').next().unwrap_or("")
    };
    if let Some(suffix) = args.get(2)
        && base != suffix.as_str()
    {
        base = base.strip_suffix(suffix.as_str()).unwrap_or(base);
    }
    i32::from(writeln!(io.stdout, "{base}").is_err())
}

/// `dirname NAME`.
pub fn dirname(args: &[String], io: &mut Io) -> i32 {
    let Some(name) = args.get(1) else {
        io.error("dirname: missing operand");
        return 1;
    };
    let trimmed = name.trim_end_matches('/');
    let dir = match trimmed.rfind('/') {
        None if trimmed.is_empty() && name.starts_with('/') => "/",
        None => ".",
        Some(i) => match trimmed[..i].trim_end_matches('/') {
            "" => "/",
            d => d,
        },
    };
    i32::from(writeln!(io.stdout, "{dir}").is_err())
}

/// `seq [-s SEP] [-w] [FIRST [INCREMENT]] LAST` (integers).
pub fn seq(args: &[String], io: &mut Io) -> i32 {
    let mut sep = "\n".to_string();
    let mut width = false;
    let mut nums = Vec::new();
    let mut i = 1;
    while let Some(a) = args.get(i) {
        match a.as_str() {
            "-s" => {
                i += 1;
                sep = args.get(i).cloned().unwrap_or_default();
            }
            "-w" => width = true,
            a => match a.parse::<i64>() {
                Ok(n) => nums.push(n),
                Err(_) => {
                    io.error(format!("seq: invalid number '{a}'"));
                    return 1;
                }
            },
        }
        i += 1;
    }
    let (first, step, last) = match nums[..] {
        [l] => (1, 1, l),
        [f, l] => (f, 1, l),
        [f, s, l] if s != 0 => (f, s, l),
        _ => {
            io.error("seq: usage: seq [-s SEP] [-w] [FIRST [INCREMENT]] LAST");
            return 1;
        }
    };
    let pad = if width {
        first.to_string().len().max(last.to_string().len())
    } else {
        0
    };
    let mut out = Vec::new();
    let mut n = first;
    while (step > 0 && n <= last) || (step < 0 && n >= last) {
        if !out.is_empty() {
            out.push(sep.clone());
        }
        out.push(format!("{n:0pad$}"));
        n += step;
    }
    if out.is_empty() {
        return 0;
    }
    i32::from(writeln!(io.stdout, "{}", out.concat()).is_err())
}

/// `test EXPR` / `[ EXPR ]`: file tests `-e -f -d -s -r -w -x -L -h`,
/// strings `-z -n = == != < >`, integers `-eq -ne -lt -le -gt -ge`, `!`,
/// `-a`, `-o` and parentheses. Exit 0 true, 1 false, 2 error. Without
/// permission bits on WASI, `-r` means "exists", `-w` "exists and not
/// read-only", `-x` "is a directory".
pub fn test(args: &[String], io: &mut Io) -> i32 {
    let mut operands: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    if args[0] == "[" {
        if operands.last() != Some(&"]") {
            io.error("[: missing ]");
            return 2;
        }
        operands.pop();
    }
    let mut t = Test {
        args: &operands,
        pos: 0,
    };
    let result = if operands.is_empty() {
        Ok(false)
    } else {
        t.or()
    };
    match result {
        Ok(_) if t.pos < operands.len() => {
            io.error(format!(
                "{}: {}: unexpected operator",
                args[0], operands[t.pos]
            ));
            2
        }
        Ok(v) => i32::from(!v),
        Err(e) => {
            io.error(format!("{}: {e}", args[0]));
            2
        }
    }
}

struct Test<'a> {
    args: &'a [&'a str],
    pos: usize,
}

const BINARY: &[&str] = &[
    "=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot",
];
const UNARY: &[&str] = &[
    "-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h", "-z", "-n", "-p", "-S", "-b", "-c", "-t",
];

impl<'a> Test<'a> {
    fn peek(&self, n: usize) -> Option<&'a str> {
        self.args.get(self.pos + n).copied()
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.peek(0) == Some("-o") {
            self.pos += 1;
            v |= self.and()?;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.not()?;
        while self.peek(0) == Some("-a") {
            self.pos += 1;
            v &= self.not()?;
        }
        Ok(v)
    }

    fn not(&mut self) -> Result<bool, String> {
        if self.peek(0) == Some("!") && self.peek(1).is_some() {
            self.pos += 1;
            return Ok(!self.not()?);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<bool, String> {
        let Some(a) = self.peek(0) else {
            return Err("argument expected".into());
        };
        if let Some(op) = self.peek(1).filter(|op| BINARY.contains(op))
            && let Some(b) = self.peek(2)
        {
            self.pos += 3;
            return binary(a, op, b);
        }
        if a == "(" && self.peek(1).is_some() {
            self.pos += 1;
            let v = self.or()?;
            if self.peek(0) != Some(")") {
                return Err("missing )".into());
            }
            self.pos += 1;
            return Ok(v);
        }
        if UNARY.contains(&a)
            && let Some(b) = self.peek(1)
        {
            self.pos += 2;
            return Ok(unary(a, b));
        }
        self.pos += 1;
        Ok(!a.is_empty())
    }
}

fn unary(op: &str, arg: &str) -> bool {
    let meta = || std::fs::metadata(arg);
    match op {
        "-z" => arg.is_empty(),
        "-n" => !arg.is_empty(),
        "-e" | "-r" => meta().is_ok(),
        "-f" => meta().is_ok_and(|m| m.is_file()),
        "-d" | "-x" => meta().is_ok_and(|m| m.is_dir()),
        "-s" => meta().is_ok_and(|m| m.len() > 0),
        "-w" => meta().is_ok_and(|m| !m.permissions().readonly()),
        "-L" | "-h" => std::fs::symlink_metadata(arg).is_ok_and(|m| m.file_type().is_symlink()),
        // No FIFOs, sockets, devices or terminals are visible to a component.
        _ => false,
    }
}

fn binary(a: &str, op: &str, b: &str) -> Result<bool, String> {
    let int = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("{s}: bad number"))
    };
    let mtime = |p: &str| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    Ok(match op {
        "=" | "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        ">" => a > b,
        "-eq" => int(a)? == int(b)?,
        "-ne" => int(a)? != int(b)?,
        "-lt" => int(a)? < int(b)?,
        "-le" => int(a)? <= int(b)?,
        "-gt" => int(a)? > int(b)?,
        "-ge" => int(a)? >= int(b)?,
        "-nt" => mtime(a) > mtime(b),
        "-ot" => mtime(a) < mtime(b),
        _ => unreachable!("binary operator table"),
    })
}

/// Test-only: spins forever without calling the host, so only epoch-based
/// interruption can stop it.
pub fn spin(_args: &[String], io: &mut Io) -> i32 {
    io.flush();
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Test-only: executes a WebAssembly `unreachable` instruction (a trap).
pub fn trapnow(_args: &[String], io: &mut Io) -> i32 {
    io.flush();
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    std::process::abort();
}

/// Test-only: `fill-mem SIZE[K|M|G]` allocates SIZE bytes and touches every
/// page, then reports it. If the memory cannot be had it prints an error and
/// exits 1 (unless the host traps on the failed `memory.grow` first).
pub fn fill_mem(args: &[String], io: &mut Io) -> i32 {
    let Some(spec) = args.get(1) else {
        io.error("fill-mem: usage: fill-mem SIZE[K|M|G]");
        return 1;
    };
    let (num, mult) = match spec.char_indices().last() {
        Some((i, 'K' | 'k')) => (&spec[..i], 1 << 10),
        Some((i, 'M' | 'm')) => (&spec[..i], 1 << 20),
        Some((i, 'G' | 'g')) => (&spec[..i], 1 << 30),
        _ => (spec.as_str(), 1),
    };
    let Some(size) = num.parse::<usize>().ok().and_then(|n| n.checked_mul(mult)) else {
        io.error(format!("fill-mem: invalid size '{spec}'"));
        return 1;
    };
    let mut buf: Vec<u8> = Vec::new();
    if let Err(e) = buf.try_reserve_exact(size) {
        io.error(format!("fill-mem: can't allocate {size} bytes: {e}"));
        return 1;
    }
    buf.resize(size, 0);
    for i in (0..size).step_by(4096) {
        buf[i] = 1;
    }
    std::hint::black_box(&buf);
    let _ = writeln!(io.stdout, "fill-mem: allocated {size} bytes");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: super::super::Applet, args: &[&str]) -> (i32, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut io, out, _) = Io::capture("");
        io.env = Rc::new(vec![("HOSTNAME".into(), "pod-1".into())]);
        let status = f(&args, &mut io);
        (status, String::from_utf8(out.borrow().clone()).unwrap())
    }

    #[test]
    fn test_expressions() {
        let t = |args: &[&str]| run(test, args).0;
        assert_eq!(t(&["test", "a", "=", "a"]), 0);
        assert_eq!(t(&["[", "1", "-lt", "2", "]"]), 0);
        assert_eq!(t(&["[", "3", "-le", "2", "]"]), 1);
        assert_eq!(t(&["test", "!", "-z", "x"]), 0);
        assert_eq!(t(&["test", "-n", ""]), 1);
        assert_eq!(t(&["test", "-d", "/", "-a", "(", "x", "!=", "y", ")"]), 0);
        assert_eq!(t(&["test", "-f", "/nonexistent", "-o", "1", "-eq", "1"]), 0);
        assert_eq!(t(&["test"]), 1);
        assert_eq!(t(&["test", "x"]), 0);
        assert_eq!(t(&["[", "x"]), 2);
        assert_eq!(t(&["test", "a", "-eq", "1"]), 2);
    }

    #[test]
    fn small_utilities() {
        assert_eq!(run(basename, &["basename", "/a/b.txt", ".txt"]).1, "b\n");
        assert_eq!(run(basename, &["basename", "/"]).1, "/\n");
        assert_eq!(run(dirname, &["dirname", "/a/b/"]).1, "/a\n");
        assert_eq!(run(dirname, &["dirname", "file"]).1, ".\n");
        assert_eq!(run(dirname, &["dirname", "/file"]).1, "/\n");
        assert_eq!(run(seq, &["seq", "3"]).1, "1\n2\n3\n");
        assert_eq!(run(seq, &["seq", "-s", ",", "5", "-2", "1"]).1, "5,3,1\n");
        assert_eq!(run(seq, &["seq", "-w", "8", "10"]).1, "08\n09\n10\n");
        assert_eq!(run(hostname, &["hostname"]).1, "pod-1\n");
        assert_eq!(run(env, &["env", "-i", "A=1", "printenv", "A"]).1, "1\n");
        assert_eq!(
            run(fill_mem, &["fill-mem", "1M"]).1,
            "fill-mem: allocated 1048576 bytes\n"
        );
    }
}
