//! What the CLI prints: container output prefixed with the container name
//! (docker compose style, coloured on a terminal) on stdout, runtime events
//! and notes on stderr.
//!
//! Each stream is written by a thread of its own from a bounded queue, so a
//! terminal or pipe that is not read blocks that thread, never the runtime's
//! workers (which drive the pods: their probes, restarts, `--timeout` and
//! Ctrl-C). A printer waits for room in the stdout queue without holding a
//! worker; the pod's own log channel then cuts or skips lines for it. A note
//! finding the stderr queue full is written directly, as before. [`flush`]
//! waits until both queues are written, before the process exits.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use wasmpod::{Event, EventType, LogLine, PodHandle};

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

    /// `name  | text`, queued for stdout (waiting while the queue is full).
    pub async fn log(&self, prefix: &str, line: &LogLine) {
        let padded = format!("{prefix:<width$}", width = self.width);
        let text = if self.colour {
            let idx = self.names.iter().position(|n| n == prefix).unwrap_or(0);
            format!(
                "\x1b[{}m{padded} |\x1b[0m {}\n",
                COLOURS[idx % COLOURS.len()],
                line.line
            )
        } else {
            format!("{padded} | {}\n", line.line)
        };
        match stream(Stream::Out) {
            Some(queue) => {
                if let Err(mpsc::error::SendError(Item::Text(text))) =
                    queue.send(Item::Text(text)).await
                {
                    write_to(Stream::Out, &text);
                }
            }
            None => write_to(Stream::Out, &text),
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

/// A line on stderr, prefixed `wasmpod: ` (queued; written here if the queue is full).
pub fn note(text: &str) {
    let text = format!("wasmpod: {text}\n");
    let Some(queue) = stream(Stream::Err) else {
        return write_to(Stream::Err, &text);
    };
    if let Err(
        mpsc::error::TrySendError::Full(Item::Text(text))
        | mpsc::error::TrySendError::Closed(Item::Text(text)),
    ) = queue.try_send(Item::Text(text))
    {
        write_to(Stream::Err, &text);
    }
}

/// Waits until every queued line is written (before the process exits).
pub fn flush() {
    for s in [Stream::Out, Stream::Err] {
        // A stream nothing was queued on has no thread to start now.
        let Some(queue) = queue_of(s).get().and_then(Option::as_ref) else {
            continue;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        if queue.blocking_send(Item::Flush(tx)).is_ok() {
            let _ = rx.recv();
        }
    }
}

/// Lines waiting per stream (a line is at most 16 KiB: 4 MiB).
const QUEUED_LINES: usize = 256;

#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

enum Item {
    Text(String),
    Flush(std::sync::mpsc::Sender<()>),
}

/// The queue of a stream's writer thread (started on first use); `None` if it
/// cannot start (lines are then written directly).
fn stream(s: Stream) -> Option<&'static mpsc::Sender<Item>> {
    let name = match s {
        Stream::Out => "wasmpod-stdout",
        Stream::Err => "wasmpod-stderr",
    };
    queue_of(s)
        .get_or_init(|| {
            let (tx, mut rx) = mpsc::channel::<Item>(QUEUED_LINES);
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    while let Some(item) = rx.blocking_recv() {
                        match item {
                            Item::Text(text) => write_to(s, &text),
                            Item::Flush(done) => {
                                let _ = done.send(());
                            }
                        }
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// The cell holding a stream's queue.
fn queue_of(s: Stream) -> &'static OnceLock<Option<mpsc::Sender<Item>>> {
    static OUT: OnceLock<Option<mpsc::Sender<Item>>> = OnceLock::new();
    static ERR: OnceLock<Option<mpsc::Sender<Item>>> = OnceLock::new();
    match s {
        Stream::Out => &OUT,
        Stream::Err => &ERR,
    }
}

/// Writes `text` to the stream now. A closed stream (`| head`) is not an
/// error of the pod.
fn write_to(s: Stream, text: &str) {
    let _ = match s {
        Stream::Out => std::io::stdout().lock().write_all(text.as_bytes()),
        Stream::Err => std::io::stderr().lock().write_all(text.as_bytes()),
    };
}

/// On a terminal, prints the kubectl READY/STATUS/RESTARTS columns whenever
/// they change (`wasmpod: pod/web  READY 0/1  STATUS Init:0/1  RESTARTS 0`).
fn spawn_status_line(h: &PodHandle) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let mut rx = h.watch();
    let name = h.name().to_string();
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let row = wasmpod::kubectl_row(&rx.borrow_and_update());
            if last.as_ref() != Some(&row) {
                note(&format!(
                    "pod/{name}  READY {}  STATUS {}  RESTARTS {}",
                    row.ready, row.status, row.restarts
                ));
                last = Some(row);
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    });
}

/// Where a pod's output goes: the terminal, and with `--junit` the report's tails.
#[derive(Clone)]
pub(crate) struct Output {
    pub(crate) printer: std::sync::Arc<Printer>,
    pub(crate) tails: Option<std::sync::Arc<crate::junit::Tails>>,
}

/// Prints a pod's output lines and events until it ended.
pub(crate) fn spawn_printer(
    h: &PodHandle,
    output: Output,
    several: bool,
    quiet: bool,
) -> tokio::task::JoinHandle<()> {
    let Output { printer, tails } = output;
    if !quiet {
        spawn_status_line(h);
    }
    let mut logs = h.logs();
    let mut events = h.events();
    let pod = h.name().to_string();
    tokio::spawn(async move {
        let (mut logs_open, mut events_open) = (true, true);
        while logs_open || events_open {
            tokio::select! {
                line = logs.recv(), if logs_open => match line {
                    Ok(line) => {
                        let prefix = if several { format!("{pod}/{}", line.container) } else { line.container.clone() };
                        printer.log(&prefix, &line).await;
                        if let Some(tails) = &tails {
                            tails.record(&pod, &line.container, &line.line);
                        }
                    }
                    Err(RecvError::Lagged(n)) => note(&format!("{n} log lines skipped (see the log files)")),
                    Err(RecvError::Closed) => logs_open = false,
                },
                event = events.recv(), if events_open => match event {
                    Ok(e) => if !quiet { printer.event(several.then_some(pod.as_str()), &e) },
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => events_open = false,
                },
            }
        }
    })
}
