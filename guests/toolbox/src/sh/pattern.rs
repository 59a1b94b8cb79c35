//! Shell pattern matching (`*`, `?`, `[...]`) for `case`, `${VAR#pattern}`
//! and pathname expansion.
//!
//! Patterns arrive with quoted characters escaped by a backslash (see
//! `expand`), so `"*"` matches only a literal star.

use std::path::Path;

/// Whether `pattern` contains an unescaped `*`, `?` or `[`.
pub fn has_meta(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

/// Escapes pattern metacharacters in literal text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether the whole of `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    match_from(&p, &t)
}

fn match_from(p: &[char], t: &[char]) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // Backtracking point for the most recent `*`: (pattern index, text index).
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('[') => match class(&p[pi..], t[ti]) {
                Some((ok, len)) => ok.then_some(len),
                None => (t[ti] == '[').then_some(1),
            },
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(2),
            Some(&c) => (c == t[ti]).then_some(1),
            None => None,
        };
        match step {
            Some(len) => {
                pi += len;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the bracket expression at the start of `p`; returns
/// (matched, length of the expression), or `None` if it is unterminated
/// (then `[` is literal).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            break;
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&hi| hi != ']') {
            matched |= (lo..=p[i + 2]).contains(&c);
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
    Some((matched != negate, i + 1))
}

/// Removes backslash escapes from a pattern.
pub fn unescape(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Pathname expansion: the sorted paths matching `pattern`, empty if none.
/// Names starting with `.` only match a pattern component starting with `.`.
pub fn glob(pattern: &str) -> Vec<String> {
    let absolute = pattern.starts_with('/');
    let mut paths = vec![if absolute {
        "/".to_string()
    } else {
        String::new()
    }];
    let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    for (i, comp) in components.iter().enumerate() {
        let last = i + 1 == components.len();
        let mut next = Vec::new();
        for base in &paths {
            let dir = if base.is_empty() { "." } else { base.as_str() };
            if !has_meta(comp) {
                let path = format!("{base}{}", unescape(comp));
                if Path::new(&path).exists() {
                    next.push(if last { path } else { path + "/" });
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| (!n.starts_with('.') || comp.starts_with('.')) && matches(comp, n))
                .collect();
            names.sort();
            for name in names {
                let path = format!("{base}{name}");
                if last {
                    next.push(path);
                } else if Path::new(&path).is_dir() {
                    next.push(path + "/");
                }
            }
        }
        paths = next;
    }
    if components.is_empty() {
        return Vec::new();
    }
    paths.sort();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", ""));
        assert!(matches("a*c", "abbbc"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*.txt", "notes.txt"));
        assert!(!matches("*.txt", "notes.txt.bak"));
        assert!(matches("[a-c]x", "bx"));
        assert!(!matches("[!a-c]x", "bx"));
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "a"));
        assert!(matches("*/*", "dir/file"));
        assert!(has_meta("a*") && !has_meta("a\\*"));
        assert_eq!(unescape(&escape("a*b")), "a*b");
    }
}
