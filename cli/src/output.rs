//! What the CLI prints: container output prefixed with the container name
//! (docker compose style, coloured on a terminal) on stdout, runtime events
//! and notes on stderr.

use std::io::{IsTerminal, Write};

use wasmpod::{Event, EventType, LogLine};

const COLOURS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

/// Prints lines for a set of containers.
pub struct Printer {
    colour: bool,
    width: usize,
    names: Vec<String>,
}

impl Printer {
    /// A printer for these prefixes (`container`, or `pod/container` when
    /// several pods run).
    pub fn new(names: Vec<String>, colour_mode: &str) -> Self {
        let colour = match colour_mode {
            "always" => true,
            "never" => false,
            _ => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        };
        let width = names.iter().map(String::len).max().unwrap_or(0);
        Self {
            colour,
            width,
            names,
        }
    }

    /// `name  | text`
    pub fn log(&self, prefix: &str, line: &LogLine) {
        let padded = format!("{prefix:<width$}", width = self.width);
        let mut out = std::io::stdout().lock();
        let written = if self.colour {
            let idx = self.names.iter().position(|n| n == prefix).unwrap_or(0);
            writeln!(
                out,
                "\x1b[{}m{padded} |\x1b[0m {}",
                COLOURS[idx % COLOURS.len()],
                line.line
            )
        } else {
            writeln!(out, "{padded} | {}", line.line)
        };
        if written.is_err() {
            // A closed stdout (e.g. `| head`) is not an error of the pod.
        }
    }

    /// `wasmpod: 06:09:00 Normal  Started   spec.containers{app}  Container started`
    pub fn event(&self, pod: Option<&str>, e: &Event) {
        let time = e.time.strftime("%H:%M:%S");
        let text = match pod {
            Some(p) => format!("{time} pod/{p} {e}"),
            None => format!("{time} {e}"),
        };
        if self.colour && e.type_ == EventType::Warning {
            note(&format!("\x1b[33m{text}\x1b[0m"));
        } else {
            note(&text);
        }
    }
}

/// A line on stderr, prefixed `wasmpod: `.
pub fn note(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "wasmpod: {text}");
}
