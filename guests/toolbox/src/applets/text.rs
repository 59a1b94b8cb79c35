//! Text applets: `echo`, `printf`, `cat`, `head`, `wc` (and the input
//! helpers `grep` and `tail` share).

use std::io::{Read, Write};

use super::parse;
use crate::io::{Input, Io, errstr, open_input};

/// Opens each operand (stdin if none) and calls `f` with its name and
/// stream; reports open errors as `APPLET: NAME: error`. Returns 1 if any
/// file could not be opened.
pub(super) fn for_each_input(
    applet: &str,
    operands: &[String],
    io: &mut Io,
    mut f: impl FnMut(&str, &mut Input, &mut Io),
) -> i32 {
    let names: Vec<String> = if operands.is_empty() {
        vec!["-".into()]
    } else {
        operands.to_vec()
    };
    let mut status = 0;
    for name in &names {
        match open_input(name, io) {
            Ok(mut input) => f(name, &mut input, io),
            Err(e) => {
                io.error(format!("{applet}: {name}: {}", errstr(&e)));
                status = 1;
            }
        }
    }
    status
}

/// Interprets backslash escapes (`\n`, `\t`, `\\`, `\0NNN`/`\NNN` octal,
/// `\xHH`, ...). Returns the bytes and whether `\c` (stop output) was seen.
pub fn unescape(s: &str) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some(e) = chars.next() else {
            out.push(b'\\');
            break;
        };
        let mut number = |radix: u32, max: usize, first: Option<char>| {
            let mut v = first.and_then(|d| d.to_digit(radix)).unwrap_or(0);
            for _ in 0..max {
                match chars.peek().and_then(|d| d.to_digit(radix)) {
                    Some(d) => {
                        v = v * radix + d;
                        chars.next();
                    }
                    None => break,
                }
            }
            v as u8
        };
        match e {
            'n' => out.push(b'\n'),
            't' => out.push(b'\t'),
            'r' => out.push(b'\r'),
            'a' => out.push(7),
            'b' => out.push(8),
            'e' => out.push(27),
            'f' => out.push(12),
            'v' => out.push(11),
            '\\' => out.push(b'\\'),
            'c' => return (out, true),
            '0' => out.push(number(8, 3, None)),
            '1'..='7' => out.push(number(8, 2, Some(e))),
            'x' => out.push(number(16, 2, None)),
            e => {
                out.push(b'\\');
                let mut buf = [0; 4];
                out.extend_from_slice(e.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    (out, false)
}

/// `echo [-neE] [ARG...]` (escapes only with `-e`, as in busybox).
pub fn echo(args: &[String], io: &mut Io) -> i32 {
    let (mut newline, mut escapes) = (true, false);
    let mut i = 1;
    while let Some(flags) = args.get(i).and_then(|a| a.strip_prefix('-')) {
        if flags.is_empty() || !flags.chars().all(|c| "neE".contains(c)) {
            break;
        }
        for c in flags.chars() {
            match c {
                'n' => newline = false,
                'e' => escapes = true,
                _ => escapes = false,
            }
        }
        i += 1;
    }
    let text = args[i.min(args.len())..].join(" ");
    let mut out = if escapes {
        let (bytes, stop) = unescape(&text);
        newline &= !stop;
        bytes
    } else {
        text.into_bytes()
    };
    if newline {
        out.push(b'\n');
    }
    i32::from(io.stdout.write_all(&out).is_err())
}

/// `printf FORMAT [ARG...]`: `%s %b %c %d %i %u %x %X %o %f %%` with flags
/// `-+ 0`, width and precision (`*` too). The format is reused while
/// arguments remain.
pub fn printf(args: &[String], io: &mut Io) -> i32 {
    let Some(format) = args.get(1) else {
        io.error("printf: usage: printf FORMAT [ARG]...");
        return 1;
    };
    let mut rest = args[2..].iter();
    let mut out = Vec::new();
    let mut status = 0;
    loop {
        let before = rest.len();
        let (stop, conversions) = format_once(format, &mut rest, &mut out, &mut status, io);
        if stop || conversions == 0 || rest.len() == 0 || rest.len() == before {
            break;
        }
    }
    if io.stdout.write_all(&out).is_err() {
        return 1;
    }
    status
}

/// Parses a printf numeric argument (`'c` gives the character's code).
fn int_arg(s: &str, io: &mut Io, status: &mut i32) -> i64 {
    if let Some(c) = s.strip_prefix(['\'', '"']) {
        return c.chars().next().map_or(0, |c| c as i64);
    }
    let t = s.trim();
    let parsed = match t.strip_prefix("0x") {
        Some(h) => i64::from_str_radix(h, 16),
        None => t.parse(),
    };
    parsed.unwrap_or_else(|_| {
        if !s.is_empty() {
            io.error(format!("printf: invalid number '{s}'"));
            *status = 1;
        }
        0
    })
}

/// One pass over the format; returns (stop requested by `\c`, conversions).
fn format_once(
    format: &str,
    args: &mut std::slice::Iter<String>,
    out: &mut Vec<u8>,
    status: &mut i32,
    io: &mut Io,
) -> (bool, usize) {
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    let mut conversions = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            let end = (i + 2).min(chars.len());
            let mut j = end;
            if chars.get(i + 1).is_some_and(|c| c.is_digit(8) || *c == 'x') {
                while j < chars.len() && j < i + 5 && chars[j].is_ascii_hexdigit() {
                    j += 1;
                }
            }
            let esc: String = chars[i..j].iter().collect();
            let (bytes, stop) = unescape(&esc);
            out.extend_from_slice(&bytes);
            if stop {
                return (true, conversions);
            }
            i = j;
            continue;
        }
        if c != '%' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            i += 1;
            continue;
        }
        i += 1;
        let mut flags = String::new();
        while let Some(&f @ ('-' | '+' | ' ' | '0' | '#')) = chars.get(i) {
            flags.push(f);
            i += 1;
        }
        let mut read_num = |i: &mut usize, io: &mut Io| -> Option<usize> {
            if chars.get(*i) == Some(&'*') {
                *i += 1;
                return Some(int_arg(args.next().map_or("", |s| s), io, status).max(0) as usize);
            }
            let start = *i;
            while chars.get(*i).is_some_and(|c| c.is_ascii_digit()) {
                *i += 1;
            }
            let s: String = chars[start..*i].iter().collect();
            s.parse().ok()
        };
        let width = read_num(&mut i, io).unwrap_or(0);
        let precision = if chars.get(i) == Some(&'.') {
            i += 1;
            Some(read_num(&mut i, io).unwrap_or(0))
        } else {
            None
        };
        let Some(&conv) = chars.get(i) else {
            out.push(b'%');
            break;
        };
        i += 1;
        if conv == '%' {
            out.push(b'%');
            continue;
        }
        conversions += 1;
        let arg = args.next().map_or("", |s| s.as_str());
        let left = flags.contains('-');
        let body = match conv {
            's' => {
                let s: String = match precision {
                    Some(p) => arg.chars().take(p).collect(),
                    None => arg.to_string(),
                };
                s
            }
            'b' => {
                let (bytes, stop) = unescape(arg);
                let s = String::from_utf8_lossy(&bytes).into_owned();
                if stop {
                    out.extend_from_slice(s.as_bytes());
                    return (true, conversions);
                }
                s
            }
            'c' => arg.chars().next().map(String::from).unwrap_or_default(),
            'd' | 'i' | 'u' | 'x' | 'X' | 'o' => {
                let n = int_arg(arg, io, status);
                let digits = match conv {
                    'x' => format!("{:x}", n),
                    'X' => format!("{:X}", n),
                    'o' => format!("{:o}", n),
                    _ => n.unsigned_abs().to_string(),
                };
                let sign = if !matches!(conv, 'd' | 'i') {
                    ""
                } else if n < 0 {
                    "-"
                } else if flags.contains('+') {
                    "+"
                } else if flags.contains(' ') {
                    " "
                } else {
                    ""
                };
                let digits = match precision {
                    Some(p) if digits.len() < p => {
                        format!("{}{digits}", "0".repeat(p - digits.len()))
                    }
                    _ => digits,
                };
                if flags.contains('0')
                    && !left
                    && precision.is_none()
                    && sign.len() + digits.len() < width
                {
                    format!(
                        "{sign}{}{digits}",
                        "0".repeat(width - sign.len() - digits.len())
                    )
                } else {
                    format!("{sign}{digits}")
                }
            }
            'f' | 'F' | 'e' | 'g' => {
                let v: f64 = arg.trim().parse().unwrap_or_else(|_| {
                    if !arg.is_empty() {
                        io.error(format!("printf: invalid number '{arg}'"));
                        *status = 1;
                    }
                    0.0
                });
                match conv {
                    'e' => format!("{:.*e}", precision.unwrap_or(6), v),
                    'g' => format!("{v}"),
                    _ => format!("{:.*}", precision.unwrap_or(6), v),
                }
            }
            other => {
                io.error(format!("printf: %{other}: invalid format"));
                *status = 1;
                return (true, conversions);
            }
        };
        let pad = width.saturating_sub(body.chars().count());
        if left {
            out.extend_from_slice(body.as_bytes());
            out.extend(std::iter::repeat_n(b' ', pad));
        } else {
            out.extend(std::iter::repeat_n(b' ', pad));
            out.extend_from_slice(body.as_bytes());
        }
    }
    (false, conversions)
}

/// `cat [FILE...]` (`-` or no file: stdin).
pub fn cat(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "u", io) else {
        return 1;
    };
    for_each_input("cat", &opts.operands, io, |name, input, io| {
        if let Err(e) = std::io::copy(input, &mut io.stdout) {
            io.error(format!("cat: {name}: {}", errstr(&e)));
        }
    })
}

/// Turns the historic `-N` form into `-n N`.
pub(super) fn numeric_count(args: &[String]) -> Vec<String> {
    args.iter()
        .enumerate()
        .flat_map(|(i, a)| match a.strip_prefix('-') {
            Some(n) if i > 0 && !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
                vec!["-n".to_string(), n.to_string()]
            }
            _ => vec![a.clone()],
        })
        .collect()
}

/// `head [-n N | -N] [-c N] [FILE...]`.
pub fn head(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(&numeric_count(args), "n:c:qv", io) else {
        return 1;
    };
    let lines = opts.value('n').map(str::parse::<usize>);
    let bytes = opts.value('c').map(str::parse::<u64>);
    let (lines, bytes) = match (lines.transpose(), bytes.transpose()) {
        (Ok(l), Ok(b)) => (l.unwrap_or(10), b),
        _ => {
            io.error("head: invalid number");
            return 1;
        }
    };
    let headers = opts.operands.len() > 1;
    let mut first = true;
    for_each_input("head", &opts.operands, io, |name, input, io| {
        if headers {
            let _ = writeln!(io.stdout, "{}==> {name} <==", if first { "" } else { "\n" });
            first = false;
        }
        if let Some(n) = bytes {
            let _ = std::io::copy(&mut input.take(n), &mut io.stdout);
            return;
        }
        for _ in 0..lines {
            match input.read_line() {
                Ok(Some(line)) => {
                    let _ = io.stdout.write_all(&line);
                }
                _ => break,
            }
        }
    })
}

/// `wc [-lwc] [FILE...]`.
pub fn wc(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "lwcm", io) else {
        return 1;
    };
    let mut which: Vec<usize> = [('l', 0), ('w', 1), ('c', 2), ('m', 2)]
        .iter()
        .filter(|(c, _)| opts.has(*c))
        .map(|&(_, i)| i)
        .collect();
    which.dedup();
    if which.is_empty() {
        which = vec![0, 1, 2];
    }
    let mut total = [0usize; 3];
    let mut rows = Vec::new();
    let status = for_each_input("wc", &opts.operands, io, |name, input, io| {
        let mut data = Vec::new();
        if let Err(e) = input.read_to_end(&mut data) {
            io.error(format!("wc: {name}: {}", errstr(&e)));
            return;
        }
        let counts = [
            data.iter().filter(|&&b| b == b'\n').count(),
            String::from_utf8_lossy(&data).split_whitespace().count(),
            data.len(),
        ];
        for (t, c) in total.iter_mut().zip(counts) {
            *t += c;
        }
        rows.push((
            counts,
            if name == "-" {
                String::new()
            } else {
                name.to_string()
            },
        ));
    });
    if rows.len() > 1 {
        rows.push((total, "total".into()));
    }
    for (counts, name) in rows {
        let nums: Vec<String> = which
            .iter()
            .map(|&i| {
                if which.len() == 1 {
                    counts[i].to_string()
                } else {
                    format!("{:>7}", counts[i])
                }
            })
            .collect();
        let line = nums.join(" ");
        let _ = if name.is_empty() {
            writeln!(io.stdout, "{line}")
        } else {
            writeln!(io.stdout, "{line} {name}")
        };
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: super::super::Applet, args: &[&str], input: &str) -> (i32, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut io, out, _) = Io::capture(input);
        let status = f(&args, &mut io);
        (status, String::from_utf8(out.borrow().clone()).unwrap())
    }

    #[test]
    fn echo_and_printf() {
        assert_eq!(run(echo, &["echo", "-n", "a", "b"], "").1, "a b");
        assert_eq!(run(echo, &["echo", "-e", "x\\ty\\c", "z"], "").1, "x\ty");
        assert_eq!(run(echo, &["echo", "a\\nb"], "").1, "a\\nb\n");
        assert_eq!(run(echo, &["echo", "-x"], "").1, "-x\n");
        let p = |args: &[&str]| run(printf, args, "").1;
        assert_eq!(p(&["printf", "%s=%d\\n", "a", "1", "b", "2"]), "a=1\nb=2\n");
        assert_eq!(
            p(&["printf", "[%5s|%-3s|%03d|%x]", "ab", "c", "7", "255"]),
            "[   ab|c  |007|ff]"
        );
        assert_eq!(p(&["printf", "%.2f %c %%", "3.14159", "xyz"]), "3.14 x %");
    }

    #[test]
    fn head_cat_wc() {
        let input = "1\n2\n3\n4\n";
        assert_eq!(run(head, &["head", "-n", "2"], input).1, "1\n2\n");
        assert_eq!(run(head, &["head", "-3"], input).1, "1\n2\n3\n");
        assert_eq!(run(head, &["head", "-c", "3"], input).1, "1\n2");
        assert_eq!(run(cat, &["cat"], input).1, input);
        assert_eq!(run(cat, &["cat", "-", "/dev/null"], "x").1, "x");
        assert_eq!(run(wc, &["wc", "-l"], input).1, "4\n");
        assert_eq!(run(wc, &["wc"], "a b\nc\n").1, "      2       3       6\n");
        let (status, _) = run(cat, &["cat", "/nonexistent/file"], "");
        assert_eq!(status, 1);
    }

    #[test]
    fn grep_modes() {
        let g = |args: &[&str]| run(super::super::grep::grep, args, "alpha\nBeta\ngamma 42\n");
        assert_eq!(g(&["grep", "a"]).1, "alpha\nBeta\ngamma 42\n");
        assert_eq!(g(&["grep", "-v", "a$"]).1, "gamma 42\n");
        assert_eq!(g(&["grep", "-i", "beta"]).1, "Beta\n");
        assert_eq!(g(&["grep", "-c", "m"]).1, "1\n");
        assert_eq!(g(&["grep", "-n", "-E", "[0-9]+"]).1, "3:gamma 42\n");
        assert_eq!(g(&["grep", "-o", "[0-9][0-9]*"]).1, "42\n");
        assert_eq!(g(&["grep", "-x", "alph"]).0, 1);
        assert_eq!(g(&["grep", "-w", "gamma"]).0, 0);
        assert_eq!(g(&["grep", "-q", "zzz"]).0, 1);
        assert_eq!(g(&["grep", "-F", "a.p"]).0, 1);
        assert_eq!(g(&["grep", "(", "-E"]).0, 2);
    }
}
