//! A small backtracking regular-expression engine for `grep`.
//!
//! Supports POSIX basic (BRE) and extended (ERE) syntax: literals, `.`,
//! bracket expressions (ranges, negation, `[:alpha:]`-style classes),
//! anchors `^` `$`, repetition `*` (and `+ ? {m,n}` in ERE, `\+ \? \{m,n\}`
//! in BRE), groups `( )` / `\( \)` and alternation `|` / `\|`, plus the
//! GNU shorthands `\w \W \s \S \d`. No back-references. Matching is
//! leftmost, preferring longer repetitions (not POSIX leftmost-longest).

#[derive(Debug, Clone)]
enum Atom {
    Char(char),
    Any,
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
    Start,
    End,
    Group(Vec<Vec<Node>>),
}

#[derive(Debug, Clone)]
struct Node {
    atom: Atom,
    min: u32,
    max: u32,
}

#[derive(Debug)]
pub struct Regex {
    alternatives: Vec<Vec<Node>>,
    icase: bool,
}

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
    extended: bool,
}

const WORD: &[(char, char)] = &[('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')];
const SPACE: &[(char, char)] = &[(' ', ' '), ('\t', '\r')];
const DIGIT: &[(char, char)] = &[('0', '9')];

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    /// Whether the input continues with the (possibly escaped) operator.
    fn at(&self, op: char) -> bool {
        let escaped = self.peek() == Some('\\') && self.chars.get(self.pos + 1) == Some(&op);
        if self.extended {
            self.peek() == Some(op)
        } else {
            escaped
        }
    }

    fn skip(&mut self) {
        self.pos += if self.extended { 1 } else { 2 };
    }

    fn alternatives(&mut self, depth: u32) -> Result<Vec<Vec<Node>>, String> {
        let mut alts = vec![self.sequence(depth)?];
        while self.at('|') {
            self.skip();
            alts.push(self.sequence(depth)?);
        }
        Ok(alts)
    }

    fn sequence(&mut self, depth: u32) -> Result<Vec<Node>, String> {
        let mut nodes: Vec<Node> = Vec::new();
        while let Some(c) = self.peek() {
            if self.at('|') || (depth > 0 && self.at(')')) {
                break;
            }
            let atom = if c == '^' && (self.extended || nodes.is_empty()) {
                self.pos += 1;
                Atom::Start
            } else if c == '$'
                && (self.extended || self.pos + 1 == self.chars.len() || self.at_group_end())
            {
                self.pos += 1;
                Atom::End
            } else if c == '*' && !nodes.is_empty() || self.repetition_ahead() && !nodes.is_empty()
            {
                let (min, max) = self.repetition()?;
                let last = nodes.last_mut().expect("checked non-empty");
                last.min = min;
                last.max = max;
                continue;
            } else if self.at('(') {
                self.skip();
                let alts = self.alternatives(depth + 1)?;
                if !self.at(')') {
                    return Err("unmatched ( or \\(".into());
                }
                self.skip();
                Atom::Group(alts)
            } else if c == '.' {
                self.pos += 1;
                Atom::Any
            } else if c == '[' {
                self.bracket()?
            } else if c == '\\' {
                let Some(&e) = self.chars.get(self.pos + 1) else {
                    return Err("trailing backslash".into());
                };
                self.pos += 2;
                let class = |r: &[(char, char)], negated| Atom::Class {
                    ranges: r.to_vec(),
                    negated,
                };
                match e {
                    'w' | 'W' => class(WORD, e == 'W'),
                    's' | 'S' => class(SPACE, e == 'S'),
                    'd' => class(DIGIT, false),
                    'n' => Atom::Char('\n'),
                    't' => Atom::Char('\t'),
                    e => Atom::Char(e),
                }
            } else {
                self.pos += 1;
                Atom::Char(c)
            };
            nodes.push(Node {
                atom,
                min: 1,
                max: 1,
            });
        }
        Ok(nodes)
    }

    fn at_group_end(&self) -> bool {
        let rest = &self.chars[self.pos + 1..];
        rest.starts_with(&['\\', ')']) || rest.starts_with(&['\\', '|'])
    }

    fn repetition_ahead(&self) -> bool {
        self.at('+') || self.at('?') || self.at('{')
    }

    fn repetition(&mut self) -> Result<(u32, u32), String> {
        if self.peek() == Some('*') {
            self.pos += 1;
            return Ok((0, u32::MAX));
        }
        if self.at('+') {
            self.skip();
            return Ok((1, u32::MAX));
        }
        if self.at('?') {
            self.skip();
            return Ok((0, 1));
        }
        self.skip(); // {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == ',') {
            self.pos += 1;
        }
        let spec: String = self.chars[start..self.pos].iter().collect();
        if !self.at('}') {
            return Err("unmatched { or \\{".into());
        }
        self.skip();
        let num = |s: &str, default| {
            if s.is_empty() {
                Ok(default)
            } else {
                s.parse().map_err(|_| "invalid interval".to_string())
            }
        };
        match spec.split_once(',') {
            Some((a, b)) => Ok((num(a, 0)?, num(b, u32::MAX)?)),
            None => {
                let n = num(&spec, 0)?;
                Ok((n, n))
            }
        }
    }

    fn bracket(&mut self) -> Result<Atom, String> {
        self.pos += 1; // [
        let negated = matches!(self.peek(), Some('^' | '!'));
        if negated {
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                return Err("unmatched [".into());
            };
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            if c == '[' && self.chars.get(self.pos + 1) == Some(&':') {
                let rest: String = self.chars[self.pos..].iter().collect();
                let Some(end) = rest.find(":]") else {
                    return Err("unmatched [:".into());
                };
                let name = &rest[2..end];
                ranges.extend_from_slice(match name {
                    "alpha" => &[('a', 'z'), ('A', 'Z')][..],
                    "digit" => DIGIT,
                    "alnum" => &WORD[..3],
                    "space" => SPACE,
                    "upper" => &[('A', 'Z')],
                    "lower" => &[('a', 'z')],
                    "xdigit" => &[('0', '9'), ('a', 'f'), ('A', 'F')],
                    "punct" => &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
                    _ => return Err(format!("invalid character class '{name}'")),
                });
                self.pos += rest[..end + 2].chars().count();
                continue;
            }
            self.pos += 1;
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&h| h != ']') {
                let hi = self.chars[self.pos + 1];
                self.pos += 2;
                ranges.push((c, hi));
            } else {
                ranges.push((c, c));
            }
        }
        Ok(Atom::Class { ranges, negated })
    }
}

impl Regex {
    /// Compiles `pattern` (ERE if `extended`); `icase` ignores ASCII case.
    pub fn new(pattern: &str, extended: bool, icase: bool) -> Result<Regex, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut p = Parser {
            chars: &chars,
            pos: 0,
            extended,
        };
        let alternatives = p.alternatives(0)?;
        if p.pos != chars.len() {
            return Err("unmatched ) or \\)".into());
        }
        Ok(Regex {
            alternatives,
            icase,
        })
    }

    /// The first (leftmost) match in `text` starting at or after `from`, as
    /// a char range.
    pub fn find_at(&self, text: &[char], from: usize) -> Option<(usize, usize)> {
        (from..=text.len()).find_map(|start| {
            let mut end = None;
            let mut record = |e| {
                end = Some(e);
                true
            };
            self.alternatives
                .iter()
                .any(|alt| self.seq(alt, text, start, &mut record));
            end.map(|e| (start, e))
        })
    }

    #[cfg(test)]
    pub fn is_match(&self, text: &[char]) -> bool {
        self.find_at(text, 0).is_some()
    }

    fn eq(&self, a: char, b: char) -> bool {
        a == b || self.icase && a.eq_ignore_ascii_case(&b)
    }

    fn seq(
        &self,
        nodes: &[Node],
        text: &[char],
        pos: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        match nodes.split_first() {
            None => k(pos),
            Some((node, rest)) => self.rep(node, 0, rest, text, pos, k),
        }
    }

    fn rep(
        &self,
        node: &Node,
        count: u32,
        rest: &[Node],
        text: &[char],
        pos: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        if count < node.max
            && self.atom(&node.atom, text, pos, &mut |p| {
                (p != pos || count < node.min) && self.rep(node, count + 1, rest, text, p, k)
            })
        {
            return true;
        }
        count >= node.min && self.seq(rest, text, pos, k)
    }

    fn atom(
        &self,
        atom: &Atom,
        text: &[char],
        pos: usize,
        k: &mut dyn FnMut(usize) -> bool,
    ) -> bool {
        let next = text.get(pos).copied();
        match atom {
            Atom::Char(c) => next.is_some_and(|t| self.eq(*c, t)) && k(pos + 1),
            Atom::Any => next.is_some_and(|t| t != '\n') && k(pos + 1),
            Atom::Class { ranges, negated } => {
                let Some(t) = next else { return false };
                let hit = ranges.iter().any(|&(lo, hi)| {
                    (lo..=hi).contains(&t)
                        || self.icase
                            && ((lo..=hi).contains(&t.to_ascii_lowercase())
                                || (lo..=hi).contains(&t.to_ascii_uppercase()))
                });
                hit != *negated && k(pos + 1)
            }
            Atom::Start => pos == 0 && k(pos),
            Atom::End => pos == text.len() && k(pos),
            Atom::Group(alts) => alts.iter().any(|alt| self.seq(alt, text, pos, k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, ere: bool, t: &str) -> bool {
        let chars: Vec<char> = t.chars().collect();
        Regex::new(p, ere, false).unwrap().is_match(&chars)
    }

    #[test]
    fn basic_and_extended() {
        assert!(m("ready", false, "server ready now"));
        assert!(m("^ser.*now$", false, "server ready now"));
        assert!(!m("^ready", false, "server ready"));
        assert!(m("a+b", false, "a+b"));
        assert!(m("a\\+b", false, "aaab"));
        assert!(m("a+b", true, "aaab"));
        assert!(m("(foo|bar)baz", true, "xbarbaz"));
        assert!(m("foo\\|bar", false, "bar"));
        assert!(m("[0-9]\\{3\\}", false, "ab123"));
        assert!(m("x[[:digit:]]+y", true, "x42y"));
        assert!(!m("[^a-z]", false, "abc"));
        assert!(m("colou?r", true, "color"));
        assert!(m("\\.", false, "a.b") && !m("\\.", false, "ab"));
        assert!(Regex::new("(a", true, false).is_err());
        let re = Regex::new("HELLO", false, true).unwrap();
        assert!(re.is_match(&"say hello".chars().collect::<Vec<_>>()));
    }

    #[test]
    fn match_positions() {
        let re = Regex::new("o+", true, false).unwrap();
        let text: Vec<char> = "foo boo".chars().collect();
        assert_eq!(re.find_at(&text, 0), Some((1, 3)));
        assert_eq!(re.find_at(&text, 3), Some((5, 7)));
    }
}
