//! Words: what the lexer produces and expansion consumes. A word keeps its
//! quoting, part by part, until it is expanded.

use std::rc::Rc;

use super::parser::List;

/// A shell word: a sequence of parts expanded and joined at run time.
pub type Word = Vec<Part>;

/// One piece of a word.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text; `quoted` text is exempt from field splitting and
    /// pathname expansion.
    Lit { text: String, quoted: bool },
    /// `$NAME`, `${NAME}`, `${NAME:-word}`, ...
    Param {
        name: String,
        op: ParamOp,
        quoted: bool,
    },
    /// `$(list)` or `` `list` ``.
    Subst { body: Rc<List>, quoted: bool },
    /// `$((expression))`; the expression is expanded, then evaluated.
    Arith { expr: Word, quoted: bool },
}

/// Parameter expansion operators.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamOp {
    Plain,
    /// `${#NAME}`
    Length,
    /// `${NAME:-w}` (`colon`: also when empty) / `${NAME-w}`
    Default {
        colon: bool,
        word: Word,
    },
    /// `${NAME:=w}` / `${NAME=w}`
    Assign {
        colon: bool,
        word: Word,
    },
    /// `${NAME:+w}` / `${NAME+w}`
    Alternative {
        colon: bool,
        word: Word,
    },
    /// `${NAME:?w}` / `${NAME?w}`
    Error {
        colon: bool,
        word: Word,
    },
    /// `${NAME#p}` / `${NAME##p}` (`longest`)
    RemovePrefix {
        longest: bool,
        pattern: Word,
    },
    /// `${NAME%p}` / `${NAME%%p}` (`longest`)
    RemoveSuffix {
        longest: bool,
        pattern: Word,
    },
}

pub fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The text of a word made only of literal parts, with whether any part was
/// quoted; `None` if it contains expansions.
pub fn literal(word: &Word) -> Option<(String, bool)> {
    let mut text = String::new();
    let mut any_quoted = false;
    for part in word {
        match part {
            Part::Lit { text: t, quoted } => {
                text.push_str(t);
                any_quoted |= quoted;
            }
            _ => return None,
        }
    }
    Some((text, any_quoted))
}

/// Whether `word` is exactly the unquoted text `s` (reserved words).
pub fn is_bare(word: &Word, s: &str) -> bool {
    matches!(word.as_slice(), [Part::Lit { text, quoted: false }] if text == s)
}
