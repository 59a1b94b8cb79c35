//! The applet table and helpers shared by applets.
//!
//! Every applet is a function `fn(args, io) -> status` where `args[0]` is the
//! applet's name, so the shell can call applets in-process with redirected
//! streams (see [`crate::io`]).

mod filter;
mod fs;
mod grep;
mod misc;
mod net;
mod netbench;
mod regex;
mod tail;
mod text;
mod time;
mod wget;

use crate::io::Io;

/// An applet: arguments (name first) and streams in, exit status out.
pub type Applet = fn(&[String], &mut Io) -> i32;

/// All applets by name.
pub const APPLETS: &[(&str, Applet)] = &[
    ("[", misc::test),
    ("basename", misc::basename),
    ("cat", text::cat),
    ("cp", fs::cp),
    ("cut", filter::cut),
    ("date", time::date),
    ("dirname", misc::dirname),
    ("echo", text::echo),
    ("env", misc::env),
    ("false", misc::false_),
    ("fill-mem", misc::fill_mem),
    ("grep", grep::grep),
    ("head", text::head),
    ("hostname", misc::hostname),
    ("ls", fs::ls),
    ("mkdir", fs::mkdir),
    ("mv", fs::mv),
    ("nc", net::nc),
    ("netbench", netbench::netbench),
    ("printenv", misc::printenv),
    ("printf", text::printf),
    ("pwd", fs::pwd),
    ("rm", fs::rm),
    ("rmdir", fs::rmdir),
    ("seq", misc::seq),
    ("sh", crate::sh::main),
    ("sleep", time::sleep),
    ("sort", filter::sort),
    ("spin", misc::spin),
    ("tail", tail::tail),
    ("test", misc::test),
    ("touch", fs::touch),
    ("tr", filter::tr),
    ("trapnow", misc::trapnow),
    ("true", misc::true_),
    ("uniq", filter::uniq),
    ("wc", text::wc),
    ("wget", wget::wget),
];

/// Looks an applet up by name.
pub fn find(name: &str) -> Option<Applet> {
    APPLETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// Parsed command-line options.
#[derive(Debug, Default)]
pub struct Opts {
    /// Options in order, with their values.
    pub flags: Vec<(char, Option<String>)>,
    /// Non-option arguments.
    pub operands: Vec<String>,
}

impl Opts {
    /// Whether option `c` was given.
    pub fn has(&self, c: char) -> bool {
        self.flags.iter().any(|(f, _)| *f == c)
    }

    /// The value of the last `c` option.
    pub fn value(&self, c: char) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(f, _)| *f == c)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// getopt-style parsing of `args` (without the applet name).
///
/// `spec` lists the option letters; a letter followed by `:` takes a value
/// (`-n5` or `-n 5`). Flags may be grouped (`-rf`). Options may follow
/// operands (GNU style) until `--`; a lone `-` is an operand. Errors name the
/// offending option.
pub fn getopt(args: &[String], spec: &str) -> Result<Opts, String> {
    let mut opts = Opts::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            opts.operands.extend(it.by_ref().cloned());
            break;
        }
        let Some(letters) = arg.strip_prefix('-').filter(|l| !l.is_empty()) else {
            opts.operands.push(arg.clone());
            continue;
        };
        for (i, c) in letters.char_indices() {
            let Some(pos) = spec.find(c).filter(|_| c != ':') else {
                return Err(format!("invalid option -- '{c}'"));
            };
            if spec[pos + 1..].starts_with(':') {
                let rest = &letters[i + c.len_utf8()..];
                let value = if !rest.is_empty() {
                    rest.to_string()
                } else {
                    it.next()
                        .cloned()
                        .ok_or_else(|| format!("option requires an argument -- '{c}'"))?
                };
                opts.flags.push((c, Some(value)));
                break;
            }
            opts.flags.push((c, None));
        }
    }
    Ok(opts)
}

/// Parses options for applet `args[0]`, printing `NAME: error` on failure.
pub fn parse(args: &[String], spec: &str, io: &mut Io) -> Option<Opts> {
    match getopt(args.get(1..).unwrap_or_default(), spec) {
        Ok(o) => Some(o),
        Err(e) => {
            io.error(format!("{}: {e}", args.first().map_or("toolbox", |s| s)));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn getopt_groups_values_and_permutes() {
        let o = getopt(
            &strings(&["-rf", "a", "-n5", "-O", "-", "--", "-x"]),
            "rfn:O:",
        )
        .unwrap();
        assert!(o.has('r') && o.has('f'));
        assert_eq!(o.value('n'), Some("5"));
        assert_eq!(o.value('O'), Some("-"));
        assert_eq!(o.operands, strings(&["a", "-x"]));
        assert!(getopt(&strings(&["-z"]), "a").is_err());
        assert!(getopt(&strings(&["-n"]), "n:").is_err());
    }

    #[test]
    fn table_is_sorted_and_unique() {
        let names: Vec<_> = APPLETS.iter().map(|(n, _)| *n).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
