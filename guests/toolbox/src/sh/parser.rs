//! Recursive-descent parser producing the shell's syntax tree.
//!
//! Grammar (a POSIX subset):
//!
//! ```text
//! list     := and_or ((';' | NEWLINE) and_or)*
//! and_or   := pipeline (('&&' | '||') NEWLINE* pipeline)*
//! pipeline := ['!'] command ('|' NEWLINE* command)*
//! command  := simple | compound redirect* | NAME '(' ')' compound
//! compound := '{' list '}' | '(' list ')' | if | while | until | for | case
//! ```
//!
//! Reserved words are only recognised in command position. The whole
//! script is parsed before it runs, so a syntax error anywhere means nothing
//! runs (exit status 2). `&` (background jobs) is rejected: WASI has no
//! processes or threads to run them.

use std::rc::Rc;

use super::lexer::{HereDocBody, Lexer, Op, RedirOp, Result, SyntaxError, Tok};
use super::word::{Word, is_bare, is_name_char, is_name_start, literal};

/// Commands separated by `;` or newlines.
pub type List = Vec<AndOr>;

#[derive(Debug, Clone, PartialEq)]
pub struct AndOr {
    pub first: Pipeline,
    /// `(true for &&, false for ||, pipeline)`.
    pub rest: Vec<(bool, Pipeline)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub negate: bool,
    pub commands: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Simple(Simple),
    Compound(Compound, Vec<Redirect>),
    Function(String, Rc<Command>),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Simple {
    pub assigns: Vec<(String, Word)>,
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Compound {
    Group(List),
    Subshell(List),
    If {
        branches: Vec<(List, List)>,
        otherwise: Option<List>,
    },
    Loop {
        until: bool,
        cond: List,
        body: List,
    },
    For {
        var: String,
        items: Option<Vec<Word>>,
        body: List,
    },
    Case {
        word: Word,
        arms: Vec<(Vec<Word>, List)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    pub fd: Option<u32>,
    pub op: RedirOp,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Word(Word),
    HereDoc(HereDocBody),
}

/// Words that end a list when they appear in command position.
const CLOSERS: &[&str] = &["then", "elif", "else", "fi", "do", "done", "esac", "}"];

/// Parses a whole script.
pub fn parse(src: &str) -> Result<List> {
    let mut p = Parser {
        lexer: Lexer::new(src),
        peeked: None,
    };
    let list = p.list()?;
    match p.next()? {
        Tok::Eof => Ok(list),
        tok => Err(unexpected(&tok)),
    }
}

struct Parser {
    lexer: Lexer,
    peeked: Option<Tok>,
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) => match literal(w) {
            Some((s, _)) => format!("'{s}'"),
            None => "word".into(),
        },
        Tok::Op(op) => format!(
            "'{}'",
            match op {
                Op::Semi => ";",
                Op::DSemi => ";;",
                Op::Amp => "&",
                Op::AndIf => "&&",
                Op::OrIf => "||",
                Op::Pipe => "|",
                Op::LParen => "(",
                Op::RParen => ")",
            }
        ),
        Tok::Redir { .. } => "redirection".into(),
        Tok::Newline => "newline".into(),
        Tok::Eof => "end of file".into(),
    }
}

fn unexpected(tok: &Tok) -> SyntaxError {
    SyntaxError(format!("unexpected {}", describe(tok)))
}

impl Parser {
    fn peek(&mut self) -> Result<&Tok> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn next(&mut self) -> Result<Tok> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn peek_is_word(&mut self, s: &str) -> Result<bool> {
        Ok(matches!(self.peek()?, Tok::Word(w) if is_bare(w, s)))
    }

    fn skip_newlines(&mut self) -> Result<()> {
        while *self.peek()? == Tok::Newline {
            self.next()?;
        }
        Ok(())
    }

    /// Consumes the reserved word `s` or fails.
    fn expect_word(&mut self, s: &str) -> Result<()> {
        self.skip_newlines()?;
        let tok = self.next()?;
        match &tok {
            Tok::Word(w) if is_bare(w, s) => Ok(()),
            Tok::Eof => Err(SyntaxError(format!(
                "unexpected end of file (expecting '{s}')"
            ))),
            _ => Err(SyntaxError(format!(
                "{} (expecting '{s}')",
                unexpected(&tok).0
            ))),
        }
    }

    fn at_list_end(&mut self) -> Result<bool> {
        Ok(match self.peek()? {
            Tok::Eof | Tok::Op(Op::RParen | Op::DSemi) => true,
            Tok::Word(w) => CLOSERS.iter().any(|c| is_bare(w, c)),
            _ => false,
        })
    }

    fn list(&mut self) -> Result<List> {
        let mut items = Vec::new();
        loop {
            self.skip_newlines()?;
            if self.at_list_end()? {
                return Ok(items);
            }
            items.push(self.and_or()?);
            match self.peek()? {
                Tok::Op(Op::Semi) | Tok::Newline => {
                    self.next()?;
                }
                Tok::Op(Op::Amp) => {
                    return Err(SyntaxError(
                        "background jobs ('&') are not supported".into(),
                    ));
                }
                _ => return Ok(items),
            }
        }
    }

    /// A list that must contain at least one command, followed by the word
    /// `closer` (named in the error at end of input).
    fn body(&mut self, closer: &str) -> Result<List> {
        let list = self.list()?;
        if list.is_empty() {
            let tok = self.next()?;
            if tok == Tok::Eof {
                return Err(SyntaxError(format!(
                    "unexpected end of file (expecting '{closer}')"
                )));
            }
            return Err(unexpected(&tok));
        }
        Ok(list)
    }

    fn and_or(&mut self) -> Result<AndOr> {
        let first = self.pipeline()?;
        let mut rest = Vec::new();
        loop {
            let and = match self.peek()? {
                Tok::Op(Op::AndIf) => true,
                Tok::Op(Op::OrIf) => false,
                _ => return Ok(AndOr { first, rest }),
            };
            self.next()?;
            self.skip_newlines()?;
            rest.push((and, self.pipeline()?));
        }
    }

    fn pipeline(&mut self) -> Result<Pipeline> {
        let negate = self.peek_is_word("!")?;
        if negate {
            self.next()?;
        }
        let mut commands = vec![self.command()?];
        while *self.peek()? == Tok::Op(Op::Pipe) {
            self.next()?;
            self.skip_newlines()?;
            commands.push(self.command()?);
        }
        Ok(Pipeline { negate, commands })
    }

    fn command(&mut self) -> Result<Command> {
        let compound = match self.peek()? {
            Tok::Op(Op::LParen) => {
                self.next()?;
                let list = self.body(")")?;
                match self.next()? {
                    Tok::Op(Op::RParen) => Compound::Subshell(list),
                    tok => return Err(unexpected(&tok)),
                }
            }
            Tok::Word(w) => {
                let keyword = literal(w).filter(|(_, q)| !q).map(|(s, _)| s);
                match keyword.as_deref() {
                    Some("{") => {
                        self.next()?;
                        let list = self.body("}")?;
                        self.expect_word("}")?;
                        Compound::Group(list)
                    }
                    Some("if") => self.if_clause()?,
                    Some(kw @ ("while" | "until")) => {
                        let until = kw == "until";
                        self.next()?;
                        let cond = self.body("do")?;
                        self.expect_word("do")?;
                        let body = self.body("done")?;
                        self.expect_word("done")?;
                        Compound::Loop { until, cond, body }
                    }
                    Some("for") => self.for_clause()?,
                    Some("case") => self.case_clause()?,
                    _ => return self.simple(),
                }
            }
            _ => return self.simple(),
        };
        let mut redirects = Vec::new();
        while let Tok::Redir { .. } = self.peek()? {
            redirects.push(self.redirect()?);
        }
        Ok(Command::Compound(compound, redirects))
    }

    fn if_clause(&mut self) -> Result<Compound> {
        self.next()?; // if
        let mut branches = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.body("then")?;
            self.expect_word("then")?;
            let body = self.body("fi")?;
            branches.push((cond, body));
            if self.peek_is_word("elif")? {
                self.next()?;
                continue;
            }
            if self.peek_is_word("else")? {
                self.next()?;
                otherwise = Some(self.body("fi")?);
            }
            self.expect_word("fi")?;
            return Ok(Compound::If {
                branches,
                otherwise,
            });
        }
    }

    fn for_clause(&mut self) -> Result<Compound> {
        self.next()?; // for
        let var = match self.next()? {
            Tok::Word(w) => match literal(&w) {
                Some((name, false)) if is_name(&name) => name,
                _ => return Err(SyntaxError("bad for loop variable".into())),
            },
            tok => return Err(unexpected(&tok)),
        };
        self.skip_newlines()?;
        let mut items = None;
        if self.peek_is_word("in")? {
            self.next()?;
            let mut words = Vec::new();
            while let Tok::Word(_) = self.peek()? {
                if let Tok::Word(w) = self.next()? {
                    words.push(w);
                }
            }
            items = Some(words);
        }
        if matches!(self.peek()?, Tok::Op(Op::Semi) | Tok::Newline) {
            self.next()?;
        }
        self.expect_word("do")?;
        let body = self.body("done")?;
        self.expect_word("done")?;
        Ok(Compound::For { var, items, body })
    }

    fn case_clause(&mut self) -> Result<Compound> {
        self.next()?; // case
        let word = match self.next()? {
            Tok::Word(w) => w,
            tok => return Err(unexpected(&tok)),
        };
        self.expect_word("in")?;
        let mut arms = Vec::new();
        loop {
            self.skip_newlines()?;
            if self.peek_is_word("esac")? {
                self.next()?;
                return Ok(Compound::Case { word, arms });
            }
            if *self.peek()? == Tok::Op(Op::LParen) {
                self.next()?;
            }
            let mut patterns = Vec::new();
            loop {
                match self.next()? {
                    Tok::Word(w) => patterns.push(w),
                    tok => return Err(unexpected(&tok)),
                }
                match self.next()? {
                    Tok::Op(Op::Pipe) => continue,
                    Tok::Op(Op::RParen) => break,
                    tok => return Err(unexpected(&tok)),
                }
            }
            let body = self.list()?;
            arms.push((patterns, body));
            if *self.peek()? == Tok::Op(Op::DSemi) {
                self.next()?;
            } else if !self.peek_is_word("esac")? {
                self.skip_newlines()?;
                if !self.peek_is_word("esac")? {
                    let tok = self.next()?;
                    return Err(unexpected(&tok));
                }
            }
        }
    }

    fn redirect(&mut self) -> Result<Redirect> {
        let Tok::Redir { fd, op } = self.next()? else {
            unreachable!("caller peeked a redirection");
        };
        let word = match self.next()? {
            Tok::Word(w) => w,
            tok => return Err(unexpected(&tok)),
        };
        let target = match op {
            RedirOp::HereDoc { strip } => {
                let Some((delim, quoted)) = literal(&word) else {
                    return Err(SyntaxError("bad here-document delimiter".into()));
                };
                Target::HereDoc(self.lexer.push_heredoc(delim, strip, quoted))
            }
            _ => Target::Word(word),
        };
        Ok(Redirect { fd, op, target })
    }

    fn simple(&mut self) -> Result<Command> {
        let mut cmd = Simple::default();
        loop {
            match self.peek()? {
                Tok::Redir { .. } => {
                    let r = self.redirect()?;
                    cmd.redirects.push(r);
                }
                Tok::Word(_) => {
                    let Tok::Word(w) = self.next()? else {
                        unreachable!()
                    };
                    if cmd.words.is_empty()
                        && let Some(assign) = split_assignment(&w)
                    {
                        cmd.assigns.push(assign);
                        continue;
                    }
                    if cmd.words.is_empty()
                        && cmd.assigns.is_empty()
                        && *self.peek()? == Tok::Op(Op::LParen)
                    {
                        return self.function(w);
                    }
                    cmd.words.push(w);
                }
                _ => break,
            }
        }
        if cmd.words.is_empty() && cmd.assigns.is_empty() && cmd.redirects.is_empty() {
            let tok = self.next()?;
            return Err(unexpected(&tok));
        }
        Ok(Command::Simple(cmd))
    }

    /// `NAME ( ) compound-command`, after NAME.
    fn function(&mut self, name: Word) -> Result<Command> {
        let name = match literal(&name) {
            Some((n, false)) if is_name(&n) => n,
            _ => return Err(SyntaxError("bad function name".into())),
        };
        self.next()?; // (
        match self.next()? {
            Tok::Op(Op::RParen) => {}
            tok => return Err(unexpected(&tok)),
        }
        self.skip_newlines()?;
        let body = self.command()?;
        if !matches!(body, Command::Compound(..)) {
            return Err(SyntaxError(
                "function body must be a compound command".into(),
            ));
        }
        Ok(Command::Function(name, Rc::new(body)))
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// Splits `NAME=value` (NAME unquoted) into the name and the value word.
fn split_assignment(word: &Word) -> Option<(String, Word)> {
    use super::word::Part;
    let Some(Part::Lit {
        text,
        quoted: false,
    }) = word.first()
    else {
        return None;
    };
    let eq = text.find('=')?;
    let name = &text[..eq];
    if !is_name(name) {
        return None;
    }
    let mut value = Vec::new();
    if eq + 1 < text.len() {
        value.push(Part::Lit {
            text: text[eq + 1..].to_string(),
            quoted: false,
        });
    }
    value.extend(word[1..].iter().cloned());
    Some((name.to_string(), value))
}
