//! Line filters: `sort`, `uniq`, `cut`, `tr`.

use std::io::{Read, Write};

use super::parse;
use super::text::for_each_input;
use crate::io::Io;

/// Reads all lines (without newlines) of the operands, or stdin.
fn read_lines(applet: &str, operands: &[String], io: &mut Io) -> (Vec<String>, i32) {
    let mut lines = Vec::new();
    let status = for_each_input(applet, operands, io, |_, input, _| {
        let mut data = Vec::new();
        let _ = input.read_to_end(&mut data);
        lines.extend(String::from_utf8_lossy(&data).lines().map(str::to_string));
    });
    (lines, status)
}

fn write_lines(lines: impl IntoIterator<Item = String>, io: &mut Io) -> i32 {
    let mut out = String::new();
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    i32::from(io.stdout.write_all(out.as_bytes()).is_err())
}

/// Leading number of a line for `sort -n` (non-numbers sort as 0).
fn numeric_key(line: &str) -> f64 {
    let t = line.trim_start();
    let end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && c == '-')))
        .map_or(t.len(), |(i, _)| i);
    t[..end].parse().unwrap_or(0.0)
}

/// `sort [-n] [-r] [-u] [FILE...]`: whole-line keys, byte order or numeric.
pub fn sort(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "nruf", io) else {
        return 2;
    };
    let (mut lines, status) = read_lines("sort", &opts.operands, io);
    if opts.has('n') {
        lines.sort_by(|a, b| {
            numeric_key(a)
                .total_cmp(&numeric_key(b))
                .then_with(|| a.cmp(b))
        });
    } else if opts.has('f') {
        lines.sort_by_key(|l| l.to_lowercase());
    } else {
        lines.sort();
    }
    if opts.has('r') {
        lines.reverse();
    }
    if opts.has('u') {
        lines.dedup();
    }
    write_lines(lines, io).max(status)
}

/// `uniq [-c] [-d] [-u] [FILE]`: collapses adjacent duplicate lines.
pub fn uniq(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "cdu", io) else {
        return 1;
    };
    let (lines, status) = read_lines("uniq", &opts.operands, io);
    let mut groups: Vec<(usize, String)> = Vec::new();
    for l in lines {
        match groups.last_mut() {
            Some((n, last)) if *last == l => *n += 1,
            _ => groups.push((1, l)),
        }
    }
    let out = groups
        .into_iter()
        .filter(|(n, _)| (!opts.has('d') || *n > 1) && (!opts.has('u') || *n == 1))
        .map(|(n, l)| {
            if opts.has('c') {
                format!("{n:>7} {l}")
            } else {
                l
            }
        });
    write_lines(out, io).max(status)
}

/// Parses a `cut` list such as `1,3-4,6-` into inclusive 1-based ranges.
fn ranges(list: &str) -> Option<Vec<(usize, usize)>> {
    list.split(',')
        .map(|r| {
            let (a, b) = r.split_once('-').unwrap_or((r, r));
            let lo = if a.is_empty() { 1 } else { a.parse().ok()? };
            let hi = if b.is_empty() {
                usize::MAX
            } else {
                b.parse().ok()?
            };
            (lo >= 1 && lo <= hi).then_some((lo, hi))
        })
        .collect()
}

/// `cut -f LIST [-d DELIM] [-s] | -c LIST [FILE...]`.
pub fn cut(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "f:d:c:b:s", io) else {
        return 1;
    };
    let (list, chars) = match (opts.value('f'), opts.value('c').or(opts.value('b'))) {
        (Some(f), None) => (f, false),
        (None, Some(c)) => (c, true),
        _ => {
            io.error("cut: specify exactly one of -f, -c or -b");
            return 1;
        }
    };
    let Some(ranges) = ranges(list) else {
        io.error(format!("cut: invalid list '{list}'"));
        return 1;
    };
    let selected = |i: usize| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&(i + 1)));
    let delim = opts
        .value('d')
        .and_then(|d| d.chars().next())
        .unwrap_or('\t');
    let (lines, status) = read_lines("cut", &opts.operands, io);
    let out = lines.into_iter().filter_map(|line| {
        if chars {
            return Some(
                line.chars()
                    .enumerate()
                    .filter(|(i, _)| selected(*i))
                    .map(|(_, c)| c)
                    .collect(),
            );
        }
        if !line.contains(delim) {
            return (!opts.has('s')).then_some(line);
        }
        let fields: Vec<&str> = line
            .split(delim)
            .enumerate()
            .filter(|(i, _)| selected(*i))
            .map(|(_, f)| f)
            .collect();
        Some(fields.join(&delim.to_string()))
    });
    write_lines(out, io).max(status)
}

/// Expands a `tr` set: ranges `a-z`, escapes `\n \t \\`, classes
/// `[:upper:]`, `[:lower:]`, `[:digit:]`, `[:space:]`, `[:alpha:]`, `[:alnum:]`.
fn expand_set(set: &str) -> Vec<char> {
    let mut out = Vec::new();
    let mut rest = set;
    let classes: [(&str, &dyn Fn(char) -> bool); 6] = [
        ("[:upper:]", &|c| c.is_ascii_uppercase()),
        ("[:lower:]", &|c| c.is_ascii_lowercase()),
        ("[:digit:]", &|c| c.is_ascii_digit()),
        ("[:space:]", &|c| c.is_ascii_whitespace()),
        ("[:alpha:]", &|c| c.is_ascii_alphabetic()),
        ("[:alnum:]", &|c| c.is_ascii_alphanumeric()),
    ];
    'outer: while !rest.is_empty() {
        for (name, pred) in &classes {
            if let Some(r) = rest.strip_prefix(name) {
                out.extend((0u8..128).map(char::from).filter(|&c| pred(c)));
                rest = r;
                continue 'outer;
            }
        }
        let mut chars = rest.chars();
        let mut c = chars.next().expect("non-empty");
        if c == '\\' {
            c = match chars.next() {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('r') => '\r',
                Some(other) => other,
                None => '\\',
            };
        }
        let after = chars.as_str();
        if let Some(hi) = after.strip_prefix('-').and_then(|r| r.chars().next()) {
            out.extend(c..=hi);
            rest = &after[1 + hi.len_utf8()..];
        } else {
            out.push(c);
            rest = after;
        }
    }
    out
}

/// `tr [-d] [-s] SET1 [SET2]`: translates, deletes (`-d`) or squeezes
/// (`-s`) characters from stdin.
pub fn tr(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "dsc", io) else {
        return 1;
    };
    let (from, to) = match opts.operands.as_slice() {
        [a] => (expand_set(a), Vec::new()),
        [a, b] => (expand_set(a), expand_set(b)),
        _ => {
            io.error("tr: usage: tr [-d] [-s] SET1 [SET2]");
            return 1;
        }
    };
    let mut data = Vec::new();
    let _ = io.stdin.read_to_end(&mut data);
    let delete = opts.has('d');
    let squeeze_set = if delete || to.is_empty() { &from } else { &to };
    let mut out = String::new();
    for c in String::from_utf8_lossy(&data).chars() {
        let mapped = match from.iter().position(|&f| f == c) {
            Some(_) if delete => continue,
            Some(i) if !to.is_empty() => to[i.min(to.len() - 1)],
            _ => c,
        };
        if opts.has('s') && squeeze_set.contains(&mapped) && out.ends_with(mapped) {
            continue;
        }
        out.push(mapped);
    }
    i32::from(io.stdout.write_all(out.as_bytes()).is_err())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: fn(&[String], &mut Io) -> i32, args: &[&str], input: &str) -> String {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut io, out, _) = Io::capture(input);
        assert_eq!(f(&args, &mut io), 0);
        String::from_utf8(out.borrow().clone()).unwrap()
    }

    #[test]
    fn filters() {
        assert_eq!(run(sort, &["sort"], "b\na\nc\n"), "a\nb\nc\n");
        assert_eq!(run(sort, &["sort", "-nr"], "10\n9\n100\n"), "100\n10\n9\n");
        assert_eq!(run(sort, &["sort", "-u"], "b\na\nb\n"), "a\nb\n");
        assert_eq!(
            run(uniq, &["uniq", "-c"], "a\na\nb\n"),
            "      2 a\n      1 b\n"
        );
        assert_eq!(run(cut, &["cut", "-d:", "-f1,3"], "a:b:c\nx\n"), "a:c\nx\n");
        assert_eq!(run(cut, &["cut", "-c", "2-3"], "hello\n"), "el\n");
        assert_eq!(run(tr, &["tr", "a-z", "A-Z"], "Hello\n"), "HELLO\n");
        assert_eq!(run(tr, &["tr", "-d", "[:digit:]"], "a1b22\n"), "ab\n");
        assert_eq!(run(tr, &["tr", "-s", " "], "a   b\n"), "a b\n");
        assert_eq!(run(tr, &["tr", ":", "\\n"], "a:b"), "a\nb");
    }
}
