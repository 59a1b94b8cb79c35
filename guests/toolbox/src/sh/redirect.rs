//! Redirections: `<`, `>`, `>>`, `N>&M`, `<&`, here-documents.
//!
//! Only descriptors 0, 1 and 2 exist (there are no others to duplicate in a
//! component); `/dev/null`, `/dev/stdout` and `/dev/stderr` are understood.

use super::exec::{Flow, Shell};
use super::lexer::RedirOp;
use super::parser::{Redirect, Target};
use super::word::Word;
use crate::io::{Input, Io, Output, errstr, open_input, open_output};

impl Shell {
    /// `io` with `redirects` applied; `None` (after reporting) on failure.
    pub(super) fn redirected(
        &mut self,
        redirects: &[Redirect],
        io: &Io,
    ) -> Result<Option<Io>, Flow> {
        let mut out = io.clone();
        for r in redirects {
            let fd = r.fd.unwrap_or(match r.op {
                RedirOp::In | RedirOp::DupIn | RedirOp::HereDoc { .. } => 0,
                _ => 1,
            });
            let target = match &r.target {
                Target::Word(w) => self.expand_string(w, io)?,
                Target::HereDoc(body) => {
                    let word: Word = body.borrow().clone().unwrap_or_default();
                    let text = self.expand_string(&word, io)?;
                    out.stdin = Input::bytes(text.into_bytes());
                    continue;
                }
            };
            let result = match (r.op, fd) {
                (RedirOp::In, 0) => open_input(&target, &out).map(|i| out.stdin = i),
                (RedirOp::Out | RedirOp::Append, 1 | 2) => {
                    open_output(&target, r.op == RedirOp::Append, &out).map(|o| {
                        if fd == 1 {
                            out.stdout = o
                        } else {
                            out.stderr = o
                        }
                    })
                }
                (RedirOp::DupOut, 1 | 2) => {
                    let o = match target.as_str() {
                        "1" => out.stdout.clone(),
                        "2" => out.stderr.clone(),
                        "-" => Output::Null,
                        _ => {
                            return self
                                .redirect_error(io, format!("{target}: bad file descriptor"));
                        }
                    };
                    if fd == 1 {
                        out.stdout = o
                    } else {
                        out.stderr = o
                    }
                    Ok(())
                }
                (RedirOp::DupIn, 0) => match target.as_str() {
                    "0" => Ok(()),
                    "-" => {
                        out.stdin = Input::bytes(Vec::new());
                        Ok(())
                    }
                    _ => return self.redirect_error(io, format!("{target}: bad file descriptor")),
                },
                _ => return self.redirect_error(io, format!("{fd}: unsupported file descriptor")),
            };
            if let Err(e) = result {
                let verb = if r.op == RedirOp::In {
                    "can't open"
                } else {
                    "can't create"
                };
                return self.redirect_error(io, format!("{verb} {target}: {}", errstr(&e)));
            }
        }
        Ok(Some(out))
    }

    fn redirect_error(&mut self, io: &Io, msg: String) -> Result<Option<Io>, Flow> {
        io.clone().error(format!("sh: {msg}"));
        self.last = 1;
        Ok(None)
    }
}
