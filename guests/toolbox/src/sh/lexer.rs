//! Tokenizer for the shell language.
//!
//! Produces words (already split into literal, quoted and expansion parts, so
//! quoting survives until expansion), operators, redirections and newlines.
//! Command substitutions are parsed recursively when they are lexed, so
//! syntax errors anywhere in a script are reported before it runs.
//! Here-document bodies are read when the newline ending their command line
//! is reached, and delivered to the parser through a shared slot.

use std::cell::RefCell;
use std::rc::Rc;

use super::word::{Part, Word};

/// A syntax error, reported as `sh: syntax error: MESSAGE`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError(pub String);

pub type Result<T> = std::result::Result<T, SyntaxError>;

pub(super) fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(SyntaxError(msg.into()))
}

/// Operators.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Semi,
    DSemi,
    Amp,
    AndIf,
    OrIf,
    Pipe,
    LParen,
    RParen,
}

/// Redirection operators.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RedirOp {
    /// `<`
    In,
    /// `>` and `>|`
    Out,
    /// `>>`
    Append,
    /// `>&`
    DupOut,
    /// `<&`
    DupIn,
    /// `<<` (`strip`: `<<-`, leading tabs removed)
    HereDoc { strip: bool },
}

/// Slot a here-document body is stored into once it has been read.
pub type HereDocBody = Rc<RefCell<Option<Word>>>;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Word(Word),
    Op(Op),
    Redir { fd: Option<u32>, op: RedirOp },
    Newline,
    Eof,
}

struct PendingHereDoc {
    delim: String,
    strip: bool,
    quoted: bool,
    slot: HereDocBody,
}

pub struct Lexer {
    pub(super) chars: Vec<char>,
    pub(super) pos: usize,
    heredocs: Vec<PendingHereDoc>,
}

/// Characters that end an unquoted word.
fn is_meta(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')'
    )
}

/// How `\`, `"` and `}` are treated while lexing a word.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Mode {
    /// Ordinary unquoted word, ended by a metacharacter.
    Plain,
    /// Inside `"..."`.
    DoubleQuoted,
    /// The word of `${NAME op word}` (unquoted context), ended by `}`.
    Brace { quoted: bool },
    /// Here-document body or arithmetic: `$`, `` ` `` and `\` are special,
    /// `"` is not.
    Text,
}

impl Lexer {
    pub fn new(src: &str) -> Lexer {
        Lexer {
            chars: src.chars().collect(),
            pos: 0,
            heredocs: Vec::new(),
        }
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub(super) fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    pub(super) fn eat(&mut self, c: char) -> bool {
        let yes = self.peek() == Some(c);
        self.pos += usize::from(yes);
        yes
    }

    /// Registers a here-document whose body follows the next newline.
    pub fn push_heredoc(&mut self, delim: String, strip: bool, quoted: bool) -> HereDocBody {
        let slot = Rc::new(RefCell::new(None));
        self.heredocs.push(PendingHereDoc {
            delim,
            strip,
            quoted,
            slot: slot.clone(),
        });
        slot
    }

    pub fn next_token(&mut self) -> Result<Tok> {
        loop {
            match self.peek() {
                Some(' ' | '\t') => self.pos += 1,
                Some('\\') if self.peek_at(1) == Some('\n') => self.pos += 2,
                Some('#') => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
        let Some(c) = self.peek() else {
            self.read_heredocs()?;
            return Ok(Tok::Eof);
        };
        let op = |o| Ok(Tok::Op(o));
        match c {
            '\n' => {
                self.pos += 1;
                self.read_heredocs()?;
                Ok(Tok::Newline)
            }
            ';' => {
                self.pos += 1;
                if self.eat(';') {
                    op(Op::DSemi)
                } else {
                    op(Op::Semi)
                }
            }
            '&' => {
                self.pos += 1;
                if self.eat('&') {
                    op(Op::AndIf)
                } else {
                    op(Op::Amp)
                }
            }
            '|' => {
                self.pos += 1;
                if self.eat('|') {
                    op(Op::OrIf)
                } else {
                    op(Op::Pipe)
                }
            }
            '(' => {
                self.pos += 1;
                op(Op::LParen)
            }
            ')' => {
                self.pos += 1;
                op(Op::RParen)
            }
            '<' | '>' => self.redirection(None),
            c if c.is_ascii_digit() => {
                let mut end = self.pos;
                while self.chars.get(end).is_some_and(|c| c.is_ascii_digit()) {
                    end += 1;
                }
                if matches!(self.chars.get(end), Some('<' | '>')) {
                    let digits: String = self.chars[self.pos..end].iter().collect();
                    self.pos = end;
                    let fd = digits
                        .parse()
                        .map_err(|_| SyntaxError("bad fd number".into()))?;
                    return self.redirection(Some(fd));
                }
                Ok(Tok::Word(self.word(Mode::Plain)?))
            }
            _ => Ok(Tok::Word(self.word(Mode::Plain)?)),
        }
    }

    fn redirection(&mut self, fd: Option<u32>) -> Result<Tok> {
        let op = match self.bump() {
            Some('>') => {
                if self.eat('>') {
                    RedirOp::Append
                } else if self.eat('&') {
                    RedirOp::DupOut
                } else {
                    self.eat('|');
                    RedirOp::Out
                }
            }
            _ => {
                if self.eat('<') {
                    RedirOp::HereDoc {
                        strip: self.eat('-'),
                    }
                } else if self.eat('&') {
                    RedirOp::DupIn
                } else {
                    RedirOp::In
                }
            }
        };
        Ok(Tok::Redir { fd, op })
    }

    /// Lexes one word in `mode`.
    pub(super) fn word(&mut self, mode: Mode) -> Result<Word> {
        let quoted = matches!(
            mode,
            Mode::DoubleQuoted | Mode::Brace { quoted: true } | Mode::Text
        );
        let mut parts = Vec::new();
        let mut lit = String::new();
        let flush = |lit: &mut String, parts: &mut Word| {
            if !lit.is_empty() {
                parts.push(Part::Lit {
                    text: std::mem::take(lit),
                    quoted,
                });
            }
        };
        loop {
            let Some(c) = self.peek() else {
                match mode {
                    Mode::Plain | Mode::Text => break,
                    Mode::DoubleQuoted => return err("unterminated quoted string"),
                    Mode::Brace { .. } => return err("missing '}'"),
                }
            };
            match (c, mode) {
                (c, Mode::Plain) if is_meta(c) => break,
                ('"', Mode::DoubleQuoted) => {
                    self.pos += 1;
                    break;
                }
                ('}', Mode::Brace { .. }) => break,
                ('\\', _) => {
                    self.pos += 1;
                    let Some(next) = self.bump() else {
                        lit.push('\\');
                        continue;
                    };
                    let special = match mode {
                        Mode::Plain | Mode::Brace { quoted: false } => true,
                        Mode::DoubleQuoted | Mode::Brace { quoted: true } => {
                            matches!(next, '$' | '`' | '"' | '\\' | '\n' | '}')
                        }
                        Mode::Text => matches!(next, '$' | '`' | '\\' | '\n'),
                    };
                    if next == '\n' && special {
                        continue;
                    }
                    if !special {
                        lit.push('\\');
                        lit.push(next);
                    } else if quoted {
                        lit.push(next);
                    } else {
                        flush(&mut lit, &mut parts);
                        parts.push(Part::Lit {
                            text: next.to_string(),
                            quoted: true,
                        });
                    }
                }
                ('\'', Mode::Plain | Mode::Brace { quoted: false }) => {
                    self.pos += 1;
                    flush(&mut lit, &mut parts);
                    let mut text = String::new();
                    loop {
                        match self.bump() {
                            None => return err("unterminated quoted string"),
                            Some('\'') => break,
                            Some(c) => text.push(c),
                        }
                    }
                    parts.push(Part::Lit { text, quoted: true });
                }
                ('"', Mode::Plain | Mode::Brace { quoted: false }) => {
                    self.pos += 1;
                    flush(&mut lit, &mut parts);
                    let inner = self.word(Mode::DoubleQuoted)?;
                    if inner.is_empty() {
                        parts.push(Part::Lit {
                            text: String::new(),
                            quoted: true,
                        });
                    }
                    parts.extend(inner);
                }
                ('$', _) => {
                    self.pos += 1;
                    match self.dollar(quoted)? {
                        Some(part) => {
                            flush(&mut lit, &mut parts);
                            parts.push(part);
                        }
                        None => lit.push('$'),
                    }
                }
                ('`', _) => {
                    self.pos += 1;
                    flush(&mut lit, &mut parts);
                    parts.push(self.backquote(quoted)?);
                }
                (c, _) => {
                    self.pos += 1;
                    lit.push(c);
                }
            }
        }
        flush(&mut lit, &mut parts);
        Ok(parts)
    }

    /// Reads the bodies of pending here-documents, which start here.
    fn read_heredocs(&mut self) -> Result<()> {
        for doc in std::mem::take(&mut self.heredocs) {
            let mut body = String::new();
            while self.pos < self.chars.len() {
                let end = self.chars[self.pos..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(self.chars.len(), |n| self.pos + n);
                let mut line: String = self.chars[self.pos..end].iter().collect();
                self.pos = (end + 1).min(self.chars.len());
                if doc.strip {
                    line = line.trim_start_matches('\t').to_string();
                }
                if line == doc.delim {
                    break;
                }
                body.push_str(&line);
                body.push('\n');
            }
            let word = if doc.quoted {
                vec![Part::Lit {
                    text: body,
                    quoted: true,
                }]
            } else {
                Lexer::new(&body).word(Mode::Text)?
            };
            *doc.slot.borrow_mut() = Some(word);
        }
        Ok(())
    }
}
