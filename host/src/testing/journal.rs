//! What a fixture's pod printed and the events it had, kept (the last ones) for waits and
//! for the report of a failing test.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::{broadcast::error::RecvError, watch};

use crate::{Event, LogLine, PodHandle};

/// The most lines and events kept.
const KEEP: usize = 1000;
/// The most lines and events a report shows.
const SHOW: usize = 40;

/// The pod's output and events so far.
pub(super) struct Journal {
    inner: Mutex<Inner>,
    /// Counts what came in, to wake waits.
    version: watch::Sender<u64>,
}

#[derive(Default)]
struct Inner {
    lines: VecDeque<LogLine>,
    /// Lines that no longer fit (the oldest).
    dropped: u64,
    events: VecDeque<Event>,
    /// The pod's output has ended (every line is in).
    output_ended: bool,
}

impl Journal {
    /// Follows `handle`'s output and events from now (call it before the pod starts).
    pub(super) fn follow(handle: &PodHandle) -> Arc<Journal> {
        let journal = Arc::new(Journal {
            inner: Mutex::default(),
            version: watch::channel(0).0,
        });
        let (mut logs, mut events) = (handle.logs(), handle.events());
        let j = journal.clone();
        tokio::spawn(async move {
            loop {
                match logs.recv().await {
                    Ok(line) => j.push(|i| {
                        if i.lines.len() == KEEP {
                            i.lines.pop_front();
                            i.dropped += 1;
                        }
                        i.lines.push_back(line);
                    }),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
            j.push(|i| i.output_ended = true);
        });
        let j = journal.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => j.push(|i| {
                        if i.events.len() == KEEP {
                            i.events.pop_front();
                        }
                        i.events.push_back(event);
                    }),
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => break,
                }
            }
        });
        journal
    }

    fn push(&self, f: impl FnOnce(&mut Inner)) {
        f(&mut self.lock());
        self.version.send_modify(|v| *v += 1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::sync::lock(&self.inner)
    }

    /// A receiver that changes whenever a line or an event comes in.
    pub(super) fn changes(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Whether the pod's output has ended.
    pub(super) fn output_ended(&self) -> bool {
        self.lock().output_ended
    }

    /// The first kept line for which `matches` holds.
    pub(super) fn find_line(&self, matches: impl Fn(&LogLine) -> bool) -> Option<LogLine> {
        self.lock().lines.iter().find(|l| matches(l)).cloned()
    }

    /// The pod's status, last output and events, for an error or a failed test.
    pub(super) fn report(&self, pod: &Pod) -> String {
        let inner = self.lock();
        let name = pod.metadata.name.as_deref().unwrap_or_default();
        let mut out = format!("pod {name}: {}", status_line(pod));
        let skip = inner.lines.len().saturating_sub(SHOW);
        let _ = write!(out, "\nits last output:");
        if inner.lines.is_empty() {
            out.push_str(" (none)");
        }
        for l in inner.lines.iter().skip(skip) {
            let _ = write!(out, "\n  {} | {}", l.container, l.line);
        }
        let skip = inner.events.len().saturating_sub(SHOW);
        let _ = write!(out, "\nits events:");
        for e in inner.events.iter().skip(skip) {
            let about = e.container.as_deref().unwrap_or("pod");
            let _ = write!(out, "\n  {:?} {} {about}: {}", e.type_, e.reason, e.message);
        }
        out
    }
}

/// The phase and each container's state in one line: `Running; app: running,
/// side: waiting CrashLoopBackOff (back-off 10s …)`.
pub(super) fn status_line(pod: &Pod) -> String {
    let status = pod.status.clone().unwrap_or_default();
    let mut parts = vec![status.phase.unwrap_or_else(|| "Pending".into())];
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for c in containers {
        let state = c.state.clone().unwrap_or_default();
        let text = if let Some(w) = state.waiting {
            let message = w.message.map(|m| format!(" ({m})")).unwrap_or_default();
            format!("waiting {}{message}", w.reason.unwrap_or_default())
        } else if let Some(t) = state.terminated {
            format!(
                "terminated {} (exit {})",
                t.reason.unwrap_or_default(),
                t.exit_code
            )
        } else {
            "running".into()
        };
        let ready = if c.ready { ", ready" } else { "" };
        parts.push(format!("{}: {text}{ready}", c.name));
    }
    parts.join("; ")
}
