//! Word expansion: parameters, command substitution, arithmetic, field
//! splitting and pathname expansion, in POSIX order.
//!
//! Expanding a word first yields [`Piece`]s that remember how each piece of
//! text was quoted; the three consumers then build argument fields (split on
//! `IFS`, globbed), a single string (assignments, redirection targets) or a
//! pattern (quoted characters escaped).
//!
//! Simplification: the word of `${NAME:-word}` and friends is expanded to a
//! single string that is then treated like the parameter's value.

use std::io::Write;

use super::arith;
use super::exec::{Flow, Shell};
use super::pattern;
use super::word::{ParamOp, Part, Word, is_bare, literal};
use crate::io::{Io, Output};

enum Piece {
    /// Quoted text: no splitting, no globbing.
    Quoted(String),
    /// Unquoted literal text: globbed but not split.
    Literal(String),
    /// Unquoted expansion result: split and globbed.
    Split(String),
    /// Field boundary between the elements of `"$@"`.
    Break,
}

/// Accumulates fields during splitting.
#[derive(Default)]
struct Fields {
    done: Vec<(String, Option<String>)>,
    text: String,
    pattern: String,
    glob: bool,
    started: bool,
}

impl Fields {
    fn push(&mut self, text: &str, quoted: bool) {
        self.started = true;
        self.text.push_str(text);
        if quoted {
            self.pattern.push_str(&pattern::escape(text));
        } else {
            self.pattern.push_str(text);
            self.glob |= pattern::has_meta(text);
        }
    }

    fn finish(&mut self) {
        if self.started {
            let pattern = std::mem::take(&mut self.pattern);
            let text = std::mem::take(&mut self.text);
            self.done.push((text, self.glob.then_some(pattern)));
        }
        self.glob = false;
        self.started = false;
    }

    fn split(&mut self, s: &str, ifs: &str) {
        let mut word = String::new();
        for c in s.chars() {
            if !ifs.contains(c) {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                self.push(&std::mem::take(&mut word), false);
            }
            if c.is_whitespace() {
                self.finish();
            } else {
                self.started = true;
                self.finish();
            }
        }
        if !word.is_empty() {
            self.push(&word, false);
        }
    }
}

impl Shell {
    /// Expands command words. Arguments of `export` that look like
    /// assignments are not split (like `NAME=$(cmd)` prefixes).
    pub(super) fn expand_command_words(
        &mut self,
        words: &[Word],
        io: &Io,
    ) -> Result<Vec<String>, Flow> {
        let declaration = words.first().is_some_and(|w| is_bare(w, "export"));
        if !declaration {
            return self.expand_fields(words, io);
        }
        let mut out = vec!["export".to_string()];
        for w in &words[1..] {
            let is_assignment = matches!(w.first(), Some(Part::Lit { text, quoted: false })
                if text.find('=').is_some_and(|i| i > 0));
            if is_assignment {
                out.push(self.expand_string(w, io)?);
            } else {
                out.extend(self.expand_fields(std::slice::from_ref(w), io)?);
            }
        }
        Ok(out)
    }

    /// Expands words into argument fields.
    pub(super) fn expand_fields(&mut self, words: &[Word], io: &Io) -> Result<Vec<String>, Flow> {
        let ifs = self.get_var("IFS").unwrap_or(" \t\n").to_string();
        let mut result = Vec::new();
        for word in words {
            let plain = word.iter().all(
                |p| matches!(p, Part::Lit { text, quoted } if *quoted || !pattern::has_meta(text)),
            );
            if plain && let Some((text, _)) = literal(word) {
                result.push(text);
                continue;
            }
            let mut fields = Fields::default();
            for piece in self.pieces(word, io)? {
                match piece {
                    Piece::Quoted(s) => fields.push(&s, true),
                    Piece::Literal(s) => fields.push(&s, false),
                    Piece::Split(s) => fields.split(&s, &ifs),
                    Piece::Break => {
                        fields.started = true;
                        fields.finish();
                    }
                }
            }
            fields.finish();
            for (text, pat) in fields.done {
                match pat.map(|p| pattern::glob(&p)).filter(|m| !m.is_empty()) {
                    Some(matches) => result.extend(matches),
                    None => result.push(text),
                }
            }
        }
        Ok(result)
    }

    /// Expands a word to one string, without splitting or globbing.
    pub(super) fn expand_string(&mut self, word: &Word, io: &Io) -> Result<String, Flow> {
        let mut out = String::new();
        for piece in self.pieces(word, io)? {
            match piece {
                Piece::Quoted(s) | Piece::Literal(s) | Piece::Split(s) => out.push_str(&s),
                Piece::Break => out.push(' '),
            }
        }
        Ok(out)
    }

    /// Expands a word to a pattern in which quoted characters are literal.
    pub(super) fn expand_pattern(&mut self, word: &Word, io: &Io) -> Result<String, Flow> {
        let mut out = String::new();
        for piece in self.pieces(word, io)? {
            match piece {
                Piece::Quoted(s) => out.push_str(&pattern::escape(&s)),
                Piece::Literal(s) | Piece::Split(s) => out.push_str(&s),
                Piece::Break => out.push(' '),
            }
        }
        Ok(out)
    }

    fn pieces(&mut self, word: &Word, io: &Io) -> Result<Vec<Piece>, Flow> {
        let mut out = Vec::new();
        for part in word {
            match part {
                Part::Lit { text, quoted: true } => out.push(Piece::Quoted(text.clone())),
                Part::Lit {
                    text,
                    quoted: false,
                } => out.push(Piece::Literal(text.clone())),
                Part::Param { name, op, quoted } => self.param(name, op, *quoted, io, &mut out)?,
                Part::Subst { body, quoted } => {
                    let (output, buf) = Output::buffer();
                    let mut sub_io = io.clone();
                    sub_io.stdout = output;
                    let mut status_io = io.clone();
                    let status =
                        self.in_subshell(|sh| sh.run_list(body, &mut sub_io), &mut status_io);
                    self.subst_status = Some(status);
                    self.last = status;
                    let mut text = String::from_utf8_lossy(&buf.borrow()).into_owned();
                    text.truncate(text.trim_end_matches('\n').len());
                    out.push(if *quoted {
                        Piece::Quoted(text)
                    } else {
                        Piece::Split(text)
                    });
                }
                Part::Arith { expr, quoted } => {
                    let src = self.expand_string(expr, io)?;
                    let value = arith::eval(&src, &|name| self.get_var(name).map(str::to_string));
                    let text = match value {
                        Ok(v) => v.to_string(),
                        Err(e) => return Err(self.fail(io, format!("arithmetic: {e}"), 2)),
                    };
                    out.push(if *quoted {
                        Piece::Quoted(text)
                    } else {
                        Piece::Split(text)
                    });
                }
            }
        }
        Ok(out)
    }

    /// Reports an expansion error; a non-interactive shell then exits.
    fn fail(&mut self, io: &Io, msg: String, status: i32) -> Flow {
        let _ = writeln!(io.stderr.clone(), "sh: {msg}");
        Flow::Exit(status)
    }

    /// The value of a parameter; `None` if unset.
    fn param_value(&self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.last.to_string()),
            "#" => Some(self.positional.len().to_string()),
            "0" => Some(self.arg0.clone()),
            "@" | "*" => Some(self.positional.join(" ")),
            n if n.starts_with(|c: char| c.is_ascii_digit()) => {
                let i: usize = n.parse().ok()?;
                self.positional.get(i - 1).cloned()
            }
            n => self.get_var(n).map(str::to_string),
        }
    }

    fn param(
        &mut self,
        name: &str,
        op: &ParamOp,
        quoted: bool,
        io: &Io,
        out: &mut Vec<Piece>,
    ) -> Result<(), Flow> {
        let value = self.param_value(name);
        let text = match op {
            ParamOp::Plain if name == "@" || (name == "*" && !quoted) => {
                for (i, p) in self.positional.iter().enumerate() {
                    if i > 0 {
                        out.push(Piece::Break);
                    }
                    out.push(if quoted {
                        Piece::Quoted(p.clone())
                    } else {
                        Piece::Split(p.clone())
                    });
                }
                return Ok(());
            }
            ParamOp::Plain => match value {
                Some(v) => v,
                None if self.nounset => {
                    return Err(self.fail(io, format!("{name}: parameter not set"), 1));
                }
                None => String::new(),
            },
            ParamOp::Length => value.unwrap_or_default().chars().count().to_string(),
            ParamOp::Default { colon, word } | ParamOp::Assign { colon, word } => {
                match value.filter(|v| !(*colon && v.is_empty())) {
                    Some(v) => v,
                    None => {
                        let v = self.expand_string(word, io)?;
                        if matches!(op, ParamOp::Assign { .. }) {
                            self.set_var(name, v.clone());
                        }
                        v
                    }
                }
            }
            ParamOp::Alternative { colon, word } => {
                match value.filter(|v| !(*colon && v.is_empty())) {
                    Some(_) => self.expand_string(word, io)?,
                    None => String::new(),
                }
            }
            ParamOp::Error { colon, word } => match value.filter(|v| !(*colon && v.is_empty())) {
                Some(v) => v,
                None => {
                    let mut msg = self.expand_string(word, io)?;
                    if msg.is_empty() {
                        msg = "parameter null or not set".into();
                    }
                    return Err(self.fail(io, format!("{name}: {msg}"), 1));
                }
            },
            ParamOp::RemovePrefix {
                longest,
                pattern: p,
            } => {
                let v = value.unwrap_or_default();
                let pat = self.expand_pattern(p, io)?;
                let mut cuts: Vec<usize> =
                    v.char_indices().map(|(i, _)| i).chain([v.len()]).collect();
                if *longest {
                    cuts.reverse();
                }
                match cuts.into_iter().find(|&i| pattern::matches(&pat, &v[..i])) {
                    Some(i) => v[i..].to_string(),
                    None => v,
                }
            }
            ParamOp::RemoveSuffix {
                longest,
                pattern: p,
            } => {
                let v = value.unwrap_or_default();
                let pat = self.expand_pattern(p, io)?;
                let mut cuts: Vec<usize> =
                    v.char_indices().map(|(i, _)| i).chain([v.len()]).collect();
                if !*longest {
                    cuts.reverse();
                }
                match cuts.into_iter().find(|&i| pattern::matches(&pat, &v[i..])) {
                    Some(i) => v[..i].to_string(),
                    None => v,
                }
            }
        };
        out.push(if quoted {
            Piece::Quoted(text)
        } else {
            Piece::Split(text)
        });
        Ok(())
    }
}
