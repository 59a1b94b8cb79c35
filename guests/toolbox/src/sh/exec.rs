//! Executes the syntax tree.
//!
//! Commands run in-process: builtins and applets are function calls with a
//! redirected [`Io`]. Subshells (`( )`, `$( )`, all but the last command of a
//! pipeline) run on a clone of the shell state, so their variable changes do
//! not leak; the current directory is restored after them.
//!
//! Termination (see [`crate::term`]) is checked before and after every
//! simple command. The shell owning a `trap ... TERM` runs the trap (then
//! continues, per POSIX, unless it exits); a shell without one, and every
//! subshell, stops with status 143 so control unwinds to the shell that owns
//! the trap.

use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use super::parser::{AndOr, Command, Compound, List, Pipeline, Simple};
use super::{builtins, parse_or_report};
use crate::applets;
use crate::io::{Input, Io, Output};
use crate::term;

/// Non-local control flow out of a command.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flow {
    Exit(i32),
    Break(u32),
    Continue(u32),
    Return(i32),
}

/// A command's exit status, or control flow unwinding past it.
pub type Status = Result<i32, Flow>;

#[derive(Debug, Clone)]
pub struct Var {
    pub value: String,
    pub exported: bool,
}

/// What to do when termination is requested.
#[derive(Debug, Clone, PartialEq)]
pub enum TermTrap {
    /// Stop with status 143 (no trap installed, or `trap - TERM`).
    Default,
    /// `trap '' TERM`: carry on.
    Ignore,
    /// `trap 'commands' TERM`.
    Run(String),
}

/// The shell's state.
#[derive(Clone)]
pub struct Shell {
    /// Variables in definition order (so `env` lists them as given).
    pub(super) vars: Vec<(String, Var)>,
    pub(super) arg0: String,
    pub(super) positional: Vec<String>,
    /// `$?`
    pub(super) last: i32,
    pub(super) funcs: HashMap<String, Rc<Command>>,
    pub(super) term_trap: TermTrap,
    pub(super) exit_trap: Option<String>,
    /// Traps for signals the host never sends (INT, HUP, ...): kept only so
    /// `trap` can list them.
    pub(super) other_traps: Vec<(String, String)>,
    pub(super) errexit: bool,
    pub(super) xtrace: bool,
    pub(super) nounset: bool,
    pub(super) pipefail: bool,
    /// Inside an `if`/`while` condition or the left of `&&`/`||`.
    pub(super) cond_depth: u32,
    pub(super) loop_depth: u32,
    pub(super) subshell: bool,
    /// Status of the last command substitution of the current command.
    pub(super) subst_status: Option<i32>,
}

impl Shell {
    pub fn new(arg0: String, positional: Vec<String>, env: &[(String, String)]) -> Shell {
        let vars = env
            .iter()
            .map(|(k, v)| {
                let var = Var {
                    value: v.clone(),
                    exported: true,
                };
                (k.clone(), var)
            })
            .collect();
        Shell {
            vars,
            arg0,
            positional,
            last: 0,
            funcs: HashMap::new(),
            term_trap: TermTrap::Default,
            exit_trap: None,
            other_traps: Vec::new(),
            errexit: false,
            xtrace: false,
            nounset: false,
            pipefail: false,
            cond_depth: 0,
            loop_depth: 0,
            subshell: false,
            subst_status: None,
        }
    }

    /// Runs a whole script, then the EXIT trap; returns the exit status.
    pub fn run_script(&mut self, list: &List, io: &mut Io) -> i32 {
        let status = match self.run_list(list, io) {
            Ok(s) | Err(Flow::Exit(s) | Flow::Return(s)) => s,
            Err(Flow::Break(_) | Flow::Continue(_)) => self.last,
        };
        self.run_exit_trap(status, io)
    }

    fn run_exit_trap(&mut self, status: i32, io: &mut Io) -> i32 {
        let Some(src) = self.exit_trap.take() else {
            return status;
        };
        self.last = status;
        let Some(list) = parse_or_report(&src, io) else {
            return status;
        };
        match self.run_list(&list, io) {
            Err(Flow::Exit(s)) => s,
            _ => status,
        }
    }

    /// Runs `f` on a copy of the shell (a subshell) and returns its status.
    pub fn in_subshell(&mut self, f: impl FnOnce(&mut Shell) -> Status, io: &mut Io) -> i32 {
        let mut sub = self.clone();
        sub.subshell = true;
        sub.exit_trap = None;
        sub.loop_depth = 0;
        let cwd = std::env::current_dir().ok();
        let status = match f(&mut sub) {
            Ok(s) | Err(Flow::Exit(s) | Flow::Return(s)) => s,
            Err(Flow::Break(_) | Flow::Continue(_)) => sub.last,
        };
        let status = sub.run_exit_trap(status, io);
        if let Some(dir) = cwd
            && std::env::current_dir().ok().as_ref() != Some(&dir)
        {
            let _ = std::env::set_current_dir(dir);
        }
        status
    }

    /// Acts on a pending termination request (see the module docs).
    pub fn check_termination(&mut self, io: &mut Io) -> Result<(), Flow> {
        if !term::pending() {
            return Ok(());
        }
        if self.subshell || self.term_trap == TermTrap::Default {
            return Err(Flow::Exit(term::STATUS));
        }
        term::mark_delivered();
        if let TermTrap::Run(src) = self.term_trap.clone()
            && let Some(list) = parse_or_report(&src, io)
        {
            let saved = self.last;
            if let Err(Flow::Exit(s)) = self.run_list(&list, io) {
                return Err(Flow::Exit(s));
            }
            self.last = saved;
        }
        Ok(())
    }

    pub fn run_list(&mut self, list: &List, io: &mut Io) -> Status {
        let mut status = 0;
        for and_or in list {
            status = self.run_and_or(and_or, io)?;
        }
        Ok(status)
    }

    /// Runs `list` as a condition: `set -e` does not apply inside it.
    pub fn run_condition(&mut self, list: &List, io: &mut Io) -> Status {
        self.cond_depth += 1;
        let r = self.run_list(list, io);
        self.cond_depth -= 1;
        r
    }

    fn run_and_or(&mut self, ao: &AndOr, io: &mut Io) -> Status {
        let n = ao.rest.len();
        self.cond_depth += u32::from(n > 0);
        let r = self.run_pipeline(&ao.first, io);
        self.cond_depth -= u32::from(n > 0);
        let mut status = r?;
        let mut final_ran = (n == 0).then_some(&ao.first);
        for (i, (and, pipeline)) in ao.rest.iter().enumerate() {
            if (status == 0) != *and {
                continue;
            }
            let last = i + 1 == n;
            self.cond_depth += u32::from(!last);
            let r = self.run_pipeline(pipeline, io);
            self.cond_depth -= u32::from(!last);
            status = r?;
            final_ran = last.then_some(pipeline);
        }
        if let Some(p) = final_ran
            && status != 0
            && !p.negate
            && self.errexit
            && self.cond_depth == 0
        {
            return Err(Flow::Exit(status));
        }
        Ok(status)
    }

    fn run_pipeline(&mut self, p: &Pipeline, io: &mut Io) -> Status {
        let mut status;
        if let [only] = p.commands.as_slice() {
            status = self.run_command(only, io)?;
        } else {
            let mut input = io.stdin.clone();
            let mut failed = 0;
            status = 0;
            for (i, cmd) in p.commands.iter().enumerate() {
                let mut stage = io.clone();
                stage.stdin = input.clone();
                if i + 1 < p.commands.len() {
                    let (out, buf) = Output::buffer();
                    stage.stdout = out;
                    status = self.in_subshell(|sh| sh.run_command(cmd, &mut stage), io);
                    input = Input::bytes(buf.take());
                } else {
                    status = self.run_command(cmd, &mut stage)?;
                }
                if status != 0 {
                    failed = status;
                }
            }
            if self.pipefail {
                status = failed;
            }
        }
        if p.negate {
            status = i32::from(status == 0);
        }
        self.last = status;
        Ok(status)
    }

    pub fn run_command(&mut self, cmd: &Command, io: &mut Io) -> Status {
        match cmd {
            Command::Simple(s) => self.run_simple(s, io),
            Command::Function(name, body) => {
                self.funcs.insert(name.clone(), body.clone());
                Ok(0)
            }
            Command::Compound(c, redirects) => {
                let Some(mut cio) = self.redirected(redirects, io)? else {
                    return Ok(1);
                };
                let r = self.run_compound(c, &mut cio);
                cio.flush();
                r
            }
        }
    }

    fn run_compound(&mut self, c: &Compound, io: &mut Io) -> Status {
        match c {
            Compound::Group(list) => self.run_list(list, io),
            Compound::Subshell(list) => {
                let mut sio = io.clone();
                Ok(self.in_subshell(|sh| sh.run_list(list, &mut sio), io))
            }
            Compound::If {
                branches,
                otherwise,
            } => {
                for (cond, body) in branches {
                    if self.run_condition(cond, io)? == 0 {
                        return self.run_list(body, io);
                    }
                }
                match otherwise {
                    Some(body) => self.run_list(body, io),
                    None => Ok(0),
                }
            }
            Compound::Loop { until, cond, body } => {
                self.loop_depth += 1;
                let r = self.run_loop(*until, cond, body, io);
                self.loop_depth -= 1;
                r
            }
            Compound::For { var, items, body } => {
                let items = match items {
                    Some(words) => self.expand_fields(words, io)?,
                    None => self.positional.clone(),
                };
                self.loop_depth += 1;
                let mut r = Ok(0);
                for item in items {
                    self.set_var(var, item);
                    match self.run_list(body, io) {
                        Ok(s) => r = Ok(s),
                        Err(Flow::Break(n)) => {
                            r = if n > 1 {
                                Err(Flow::Break(n - 1))
                            } else {
                                Ok(0)
                            };
                            break;
                        }
                        Err(Flow::Continue(n)) if n > 1 => {
                            r = Err(Flow::Continue(n - 1));
                            break;
                        }
                        Err(Flow::Continue(_)) => r = Ok(0),
                        Err(e) => {
                            r = Err(e);
                            break;
                        }
                    }
                }
                self.loop_depth -= 1;
                r
            }
            Compound::Case { word, arms } => {
                let value = self.expand_string(word, io)?;
                for (patterns, body) in arms {
                    for pattern in patterns {
                        let pattern = self.expand_pattern(pattern, io)?;
                        if super::pattern::matches(&pattern, &value) {
                            return self.run_list(body, io);
                        }
                    }
                }
                Ok(0)
            }
        }
    }

    fn run_loop(&mut self, until: bool, cond: &List, body: &List, io: &mut Io) -> Status {
        let mut status = 0;
        loop {
            let c = match self.run_condition(cond, io) {
                Ok(c) => c,
                Err(Flow::Break(n)) if n > 1 => return Err(Flow::Break(n - 1)),
                Err(Flow::Break(_)) => return Ok(0),
                Err(Flow::Continue(n)) if n > 1 => return Err(Flow::Continue(n - 1)),
                Err(Flow::Continue(_)) => continue,
                Err(e) => return Err(e),
            };
            if (c == 0) == until {
                return Ok(status);
            }
            match self.run_list(body, io) {
                Ok(s) => status = s,
                Err(Flow::Break(n)) if n > 1 => return Err(Flow::Break(n - 1)),
                Err(Flow::Break(_)) => return Ok(0),
                Err(Flow::Continue(n)) if n > 1 => return Err(Flow::Continue(n - 1)),
                Err(Flow::Continue(_)) => status = 0,
                Err(e) => return Err(e),
            }
        }
    }

    fn run_simple(&mut self, cmd: &Simple, io: &mut Io) -> Status {
        self.check_termination(io)?;
        self.subst_status = None;
        let words = self.expand_command_words(&cmd.words, io)?;
        let mut assigns = Vec::new();
        for (name, word) in &cmd.assigns {
            assigns.push((name.clone(), self.expand_string(word, io)?));
        }
        self.check_termination(io)?;
        let Some(mut cio) = self.redirected(&cmd.redirects, io)? else {
            self.last = 1;
            return Ok(1);
        };
        if self.xtrace {
            let mut line: Vec<String> = assigns.iter().map(|(k, v)| format!("{k}={v}")).collect();
            line.extend(words.iter().cloned());
            cio.error(format!("+ {}", line.join(" ")));
        }
        let status = if words.is_empty() {
            for (name, value) in assigns {
                self.set_var(&name, value);
            }
            self.subst_status.unwrap_or(0)
        } else if words.len() == 1 && words[0] == "exec" {
            // `exec` with only redirections: they stay in effect.
            *io = cio.clone();
            0
        } else {
            let r = self.invoke(&words, &assigns, &mut cio);
            cio.flush();
            r?
        };
        self.last = status;
        self.check_termination(io)?;
        Ok(status)
    }

    /// Runs a command by name: function, builtin, applet, or script file.
    pub fn invoke(
        &mut self,
        words: &[String],
        assigns: &[(String, String)],
        io: &mut Io,
    ) -> Status {
        let name = words[0].as_str();
        if let Some(body) = self.funcs.get(name).cloned() {
            return self.with_temp_vars(assigns, |sh| {
                let saved = std::mem::replace(&mut sh.positional, words[1..].to_vec());
                let r = sh.run_command(&body, io);
                sh.positional = saved;
                match r {
                    Err(Flow::Return(s)) => Ok(s),
                    r => r,
                }
            });
        }
        if builtins::is_builtin(name) {
            return self.with_temp_vars(assigns, |sh| builtins::run(sh, words, io));
        }
        self.run_external(words, assigns, io)
    }

    /// Runs an applet or a script file (skipping functions and builtins).
    pub fn run_external(
        &mut self,
        words: &[String],
        assigns: &[(String, String)],
        io: &mut Io,
    ) -> Status {
        let name = words[0].as_str();
        let applet = applets::find(name).or_else(|| {
            // A script file is run by a new shell, as `sh FILE ARGS`.
            (name.contains('/') && Path::new(name).is_file())
                .then_some(super::main as applets::Applet)
        });
        let Some(applet) = applet else {
            io.error(format!("sh: {name}: not found"));
            return Ok(127);
        };
        let mut args = words.to_vec();
        if name.contains('/') && applets::find(name).is_none() {
            args.insert(0, "sh".to_string());
        }
        io.env = Rc::new(self.env_pairs(assigns));
        let status = applet(&args, io);
        io.flush();
        Ok(status)
    }
}
