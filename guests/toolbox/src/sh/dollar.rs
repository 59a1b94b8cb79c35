//! Lexing of `$` expansions (`$NAME`, `${...}`, `$(...)`, `$((...))`) and
//! backquotes. Command substitutions are parsed right away, so their syntax
//! errors surface before anything runs.

use std::rc::Rc;

use super::lexer::{Lexer, Mode, Result, err};
use super::parser;
use super::word::{ParamOp, Part, is_name_char, is_name_start};

impl Lexer {
    /// After `$`: an expansion, or `None` for a literal dollar sign.
    pub(super) fn dollar(&mut self, quoted: bool) -> Result<Option<Part>> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                self.braced_param(quoted).map(Some)
            }
            Some('(') if self.peek_at(1) == Some('(') => {
                let start = self.pos + 2;
                let inner = self.matching_paren(start, 2)?;
                let expr = Lexer::new(&inner).word(Mode::Text)?;
                Ok(Some(Part::Arith { expr, quoted }))
            }
            Some('(') => {
                let inner = self.matching_paren(self.pos + 1, 1)?;
                let body = Rc::new(parser::parse(&inner)?);
                Ok(Some(Part::Subst { body, quoted }))
            }
            Some(c) if is_name_start(c) => {
                let mut name = String::new();
                while let Some(c) = self.peek().filter(|&c| is_name_char(c)) {
                    name.push(c);
                    self.pos += 1;
                }
                Ok(Some(param(name, ParamOp::Plain, quoted)))
            }
            Some(c @ ('0'..='9' | '?' | '#' | '@' | '*')) => {
                self.pos += 1;
                Ok(Some(param(c.to_string(), ParamOp::Plain, quoted)))
            }
            _ => Ok(None),
        }
    }

    /// After `${`.
    fn braced_param(&mut self, quoted: bool) -> Result<Part> {
        let length = self.peek() == Some('#') && self.peek_at(1).is_some_and(|c| c != '}');
        if length {
            self.pos += 1;
        }
        let mut name = String::new();
        match self.peek() {
            Some(c) if is_name_start(c) => {
                while let Some(c) = self.peek().filter(|&c| is_name_char(c)) {
                    name.push(c);
                    self.pos += 1;
                }
            }
            Some(c) if c.is_ascii_digit() => {
                while let Some(c) = self.peek().filter(|c| c.is_ascii_digit()) {
                    name.push(c);
                    self.pos += 1;
                }
            }
            Some(c @ ('?' | '#' | '@' | '*')) => {
                name.push(c);
                self.pos += 1;
            }
            _ => return err("bad substitution"),
        }
        if length {
            return if self.eat('}') {
                Ok(param(name, ParamOp::Length, quoted))
            } else {
                err("bad substitution")
            };
        }
        if self.eat('}') {
            return Ok(param(name, ParamOp::Plain, quoted));
        }
        let colon = self.eat(':');
        let op_char = self.bump();
        let double = matches!(op_char, Some('#' | '%')) && !colon && self.eat(op_char.unwrap());
        let word = self.word(Mode::Brace { quoted })?;
        if !self.eat('}') {
            return err("missing '}'");
        }
        let op = match (op_char, colon) {
            (Some('-'), _) => ParamOp::Default { colon, word },
            (Some('='), _) => ParamOp::Assign { colon, word },
            (Some('+'), _) => ParamOp::Alternative { colon, word },
            (Some('?'), _) => ParamOp::Error { colon, word },
            (Some('#'), false) => ParamOp::RemovePrefix {
                longest: double,
                pattern: word,
            },
            (Some('%'), false) => ParamOp::RemoveSuffix {
                longest: double,
                pattern: word,
            },
            _ => return err("bad substitution"),
        };
        Ok(param(name, op, quoted))
    }

    /// Returns the text between `start` and the `depth` closing parentheses
    /// that balance it, and moves past them. Quotes are respected.
    fn matching_paren(&mut self, start: usize, depth: usize) -> Result<String> {
        let mut level = 0usize;
        let mut i = start;
        let mut quote: Option<char> = None;
        while let Some(&c) = self.chars.get(i) {
            match (quote, c) {
                (Some('\''), '\'') | (Some('"'), '"') => quote = None,
                (Some('"') | None, '\\') => i += 1,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '(') => level += 1,
                (None, ')') if level > 0 => level -= 1,
                (None, ')') => {
                    let closes = (0..depth).all(|k| self.chars.get(i + k) == Some(&')'));
                    if !closes {
                        return err("missing '))'");
                    }
                    let inner: String = self.chars[start..i].iter().collect();
                    self.pos = i + depth;
                    return Ok(inner);
                }
                _ => {}
            }
            i += 1;
        }
        err("missing ')'")
    }

    /// After `` ` ``: the old-style command substitution.
    pub(super) fn backquote(&mut self, quoted: bool) -> Result<Part> {
        let mut src = String::new();
        loop {
            match self.bump() {
                None => return err("missing '`'"),
                Some('`') => break,
                Some('\\') => match self.bump() {
                    Some(c @ ('$' | '`' | '\\')) => src.push(c),
                    Some(c) => {
                        src.push('\\');
                        src.push(c);
                    }
                    None => src.push('\\'),
                },
                Some(c) => src.push(c),
            }
        }
        let body = Rc::new(parser::parse(&src)?);
        Ok(Part::Subst { body, quoted })
    }
}

fn param(name: String, op: ParamOp, quoted: bool) -> Part {
    Part::Param { name, op, quoted }
}
