//! `grep`, on the small regular-expression engine in [`super::regex`].

use std::io::Write;

use super::regex::Regex;
use super::text::for_each_input;
use super::{Opts, parse};
use crate::io::Io;

/// `grep [-qvicnlhHsxwoEF] [-e PATTERN]... PATTERN [FILE...]`: basic
/// regular expressions by default, `-E` extended, `-F` fixed strings.
/// Exit status 0 if a line was selected, 1 if none, 2 on error.
pub fn grep(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "qvicnlhHsxwoEFe:", io) else {
        return 2;
    };
    let mut operands = opts.operands.clone();
    let mut patterns: Vec<String> = opts
        .flags
        .iter()
        .filter(|(c, _)| *c == 'e')
        .filter_map(|(_, v)| v.clone())
        .collect();
    if patterns.is_empty() {
        if operands.is_empty() {
            io.error("grep: usage: grep [OPTION]... PATTERN [FILE]...");
            return 2;
        }
        patterns.push(operands.remove(0));
    }
    let matcher = match Matcher::new(&patterns, &opts) {
        Ok(m) => m,
        Err(e) => {
            io.error(format!("grep: {e}"));
            return 2;
        }
    };
    let show_names = opts.has('H') || operands.len() > 1 && !opts.has('h');
    let mut selected = false;
    let status = for_each_input("grep", &operands, io, |name, input, io| {
        let label = if name == "-" {
            "(standard input)"
        } else {
            name
        };
        let mut count = 0;
        let mut number = 0;
        while let Ok(Some(raw)) = input.read_line() {
            number += 1;
            let text = String::from_utf8_lossy(&raw);
            let line = text.strip_suffix('\n').unwrap_or(&text);
            let chars: Vec<char> = line.chars().collect();
            let hits = matcher.matches(&chars);
            if hits.is_empty() != opts.has('v') {
                continue;
            }
            count += 1;
            selected = true;
            if opts.has('q') {
                return;
            }
            if opts.has('l') {
                let _ = writeln!(io.stdout, "{label}");
                return;
            }
            if opts.has('c') {
                continue;
            }
            let prefix = match (show_names, opts.has('n')) {
                (true, true) => format!("{label}:{number}:"),
                (true, false) => format!("{label}:"),
                (false, true) => format!("{number}:"),
                (false, false) => String::new(),
            };
            if opts.has('o') && !opts.has('v') {
                for (s, e) in hits {
                    let _ = writeln!(
                        io.stdout,
                        "{prefix}{}",
                        chars[s..e].iter().collect::<String>()
                    );
                }
            } else {
                let _ = writeln!(io.stdout, "{prefix}{line}");
            }
        }
        if opts.has('c') {
            let _ = if show_names {
                writeln!(io.stdout, "{label}:{count}")
            } else {
                writeln!(io.stdout, "{count}")
            };
        }
    });
    if selected {
        0
    } else if status != 0 {
        2
    } else {
        1
    }
}

/// Line matching for `grep`.
struct Matcher {
    regexes: Vec<Regex>,
    whole_line: bool,
    whole_word: bool,
}

impl Matcher {
    fn new(patterns: &[String], opts: &Opts) -> Result<Matcher, String> {
        let icase = opts.has('i');
        let regexes = patterns
            .iter()
            .flat_map(|p| p.split('\n'))
            .map(|p| {
                let (pattern, extended) = if opts.has('F') {
                    let escaped: String = p
                        .chars()
                        .flat_map(|c| {
                            let special = "\\.[]*^$+?(){}|".contains(c);
                            special.then_some('\\').into_iter().chain([c])
                        })
                        .collect();
                    (escaped, true)
                } else {
                    (p.to_string(), opts.has('E'))
                };
                let pattern = match (opts.has('x'), extended) {
                    (false, _) => pattern,
                    (true, true) => format!("^({pattern})$"),
                    (true, false) => format!("^\\({pattern}\\)$"),
                };
                Regex::new(&pattern, extended, icase)
            })
            .collect::<Result<_, _>>()?;
        Ok(Matcher {
            regexes,
            whole_line: opts.has('x'),
            whole_word: opts.has('w'),
        })
    }

    /// Match ranges of the first pattern that matches `line` (acceptable
    /// under `-x`/`-w`); empty if none.
    fn matches(&self, line: &[char]) -> Vec<(usize, usize)> {
        let is_word = |c: Option<&char>| c.is_some_and(|c| c.is_alphanumeric() || *c == '_');
        for re in &self.regexes {
            let mut hits = Vec::new();
            let mut from = 0;
            while let Some((s, e)) = re.find_at(line, from) {
                let ok = if self.whole_word {
                    !is_word(s.checked_sub(1).and_then(|i| line.get(i))) && !is_word(line.get(e))
                } else {
                    true
                };
                if ok {
                    hits.push((s, e));
                }
                from = if e > s { e } else { s + 1 };
                if from > line.len() || self.whole_line {
                    break;
                }
            }
            if !hits.is_empty() {
                return hits;
            }
        }
        Vec::new()
    }
}
