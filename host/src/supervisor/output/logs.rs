//! Container output: split into lines, written to CRI-format log files, and
//! published to subscribers.
//!
//! The file format is the CRI one the kubelet reads
//! (`<RFC 3339 time with 9 fraction digits, as containerd writes it> <stream> <P|F> <content>`); files sit at
//! `<run dir>/logs/<container>/<restart count>.log`, like
//! `/var/log/pods/<pod>/<container>/<n>.log`. A line longer than
//! [`MAX_LINE`] is split into partial (`P`) records, as containerd does.
//! Files are capped and rotated as the kubelet does ([`LogRotation`]).

mod rotation;

use tokio::sync::mpsc;

use k8s_openapi::jiff::Timestamp;
pub use rotation::LogRotation;
use rotation::RotatingFile;
pub(crate) use rotation::{LogDir, LogTarget};

use super::channel::Sender;
use crate::sandbox::{Chunk, Stream};

/// The longest log record; longer lines become several partial records.
pub const MAX_LINE: usize = 16 * 1024;

/// One line (or partial line) of container output.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogLine {
    /// The container's name.
    pub container: String,
    /// stdout or stderr.
    pub stream: Stream,
    /// When the line was complete.
    pub time: Timestamp,
    /// The text, without its newline (invalid UTF-8 replaced).
    pub line: String,
    /// `true` for a partial record of an overlong line.
    pub partial: bool,
}

impl LogLine {
    /// The CRI log record for this line (with its newline).
    pub fn cri_record(&self) -> String {
        let tag = if self.partial { "P" } else { "F" };
        format!(
            "{} {} {tag} {}\n",
            self.time.strftime("%Y-%m-%dT%H:%M:%S%.9fZ"),
            self.stream.as_str(),
            self.line
        )
    }
}

/// The most log lines kept for a termination message
/// (`FallbackToLogsOnError`: the kubelet's 80 lines / 2048 bytes).
const TAIL_LINES: usize = 80;
const TAIL_BYTES: usize = 2048;

/// The pipeline for one container instance: it ends when every sender of
/// `rx` is gone, or `ended` is told that the guest writes no more, and all
/// output is written; it returns
/// the tail of the output, for termination messages. The caller runs it in
/// the task that then reports the instance's exit (one task per instance,
/// not two).
pub(crate) async fn collect(
    container: String,
    file: Option<LogTarget>,
    mut rx: mpsc::Receiver<Chunk>,
    out: Option<Sender<LogLine>>,
    ended: tokio::sync::oneshot::Receiver<()>,
) -> String {
    let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    let mut writer = match file {
        Some(target) => open(target).await,
        None => None,
    };
    let mut pending: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    // Told when the guest can write no more (it returned), which may be before its
    // handles to the channel are dropped: what it wrote is then taken to the end.
    let mut ended = std::pin::pin!(ended);
    let mut open = true;
    loop {
        let chunk = tokio::select! {
            biased;
            chunk = rx.recv() => chunk,
            _ = &mut ended, if open => {
                rx.close();
                open = false;
                continue;
            }
        };
        let Some(chunk) = chunk else { break };
        let idx = chunk.stream as usize;
        pending[idx].extend_from_slice(&chunk.bytes);
        for line in split_lines(&mut pending[idx], false) {
            keep_tail(&mut tail, &line.0);
            emit(&container, chunk.stream, line, &mut writer, &out).await;
        }
        // Buffer bursts, but let `tail -f` on the file see lines as they come.
        if rx.is_empty()
            && let Some(w) = writer.as_mut()
        {
            let _ = w.flush().await;
        }
    }
    for (idx, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
        for line in split_lines(&mut pending[idx], true) {
            keep_tail(&mut tail, &line.0);
            emit(&container, stream, line, &mut writer, &out).await;
        }
    }
    if let Some(w) = writer.as_mut()
        && let Err(e) = w.flush().await
    {
        tracing::warn!("failed to write the log of {container}: {e}");
    }
    tail_text(&tail)
}

fn keep_tail(tail: &mut std::collections::VecDeque<String>, line: &str) {
    tail.push_back(line.to_string());
    if tail.len() > TAIL_LINES {
        tail.pop_front();
    }
}

/// The last lines, at most [`TAIL_BYTES`] (cut at the front, on a char boundary).
fn tail_text(tail: &std::collections::VecDeque<String>) -> String {
    let text = tail
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("\n");
    if text.len() <= TAIL_BYTES {
        return text;
    }
    let mut start = text.len() - TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

async fn open(target: LogTarget) -> Option<RotatingFile> {
    let path = target.path.clone();
    match RotatingFile::open(target).await {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::warn!("cannot write log file {}: {e}", path.display());
            None
        }
    }
}

async fn emit(
    container: &str,
    stream: Stream,
    (text, partial): (String, bool),
    writer: &mut Option<RotatingFile>,
    out: &Option<Sender<LogLine>>,
) {
    let line = LogLine {
        container: container.to_string(),
        stream,
        time: Timestamp::now(),
        line: text,
        partial,
    };
    if let Some(w) = writer.as_mut()
        && let Err(e) = w.write_record(line.cri_record().as_bytes()).await
    {
        tracing::warn!("failed to write the log of {container}: {e}");
        *writer = None;
    }
    // No subscriber is fine: the file keeps the output.
    if let Some(out) = out {
        out.send(for_subscribers(line, out.len()));
    }
}

/// Lines the slowest subscriber may leave unread before long lines are cut
/// for subscribers (the file keeps them whole).
pub const SUBSCRIBER_BACKLOG: usize = 2048;
/// What a line is cut to while subscribers are that far behind.
pub const BEHIND_LINE: usize = 1024;
/// Appended to a cut line.
pub const CUT_MARK: &str = " [cut: the reader is behind; the log file has the whole line]";

/// `line` as sent to subscribers when `queued` lines already wait for the
/// slowest one. The channel keeps up to its capacity (16384) of
/// lines for a subscriber that does not read (a terminal that is not
/// drained, an embedding that subscribed and forgot): with lines of up to
/// [`MAX_LINE`] bytes that would be 256 MiB, so beyond
/// [`SUBSCRIBER_BACKLOG`] waiting lines, lines are cut to [`BEHIND_LINE`]
/// bytes, bounding what waits to about 50 MiB per pod.
fn for_subscribers(mut line: LogLine, queued: usize) -> LogLine {
    if queued >= SUBSCRIBER_BACKLOG && line.line.len() > BEHIND_LINE {
        let mut cut = BEHIND_LINE;
        while !line.line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.line.truncate(cut);
        line.line.push_str(CUT_MARK);
        line.line.shrink_to_fit();
    }
    line
}

/// Takes complete lines (and overlong partial records) out of `buf`; with
/// `eof`, also the unterminated rest.
fn split_lines(buf: &mut Vec<u8>, eof: bool) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let rest = &buf[start..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(n) if n <= MAX_LINE => {
                let mut line = &rest[..n];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                out.push((String::from_utf8_lossy(line).into_owned(), false));
                start += n + 1;
            }
            _ if rest.len() > MAX_LINE => {
                out.push((
                    String::from_utf8_lossy(&rest[..MAX_LINE]).into_owned(),
                    true,
                ));
                start += MAX_LINE;
            }
            _ => break,
        }
    }
    if eof && start < buf.len() {
        out.push((String::from_utf8_lossy(&buf[start..]).into_owned(), false));
        start = buf.len();
    }
    buf.drain(..start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_complete_lines_and_keeps_the_rest() {
        let mut buf = b"one\ntwo\r\nthr".to_vec();
        assert_eq!(
            split_lines(&mut buf, false),
            vec![("one".into(), false), ("two".into(), false)]
        );
        assert_eq!(buf, b"thr");
        assert_eq!(split_lines(&mut buf, true), vec![("thr".into(), false)]);
        assert!(buf.is_empty());
    }

    #[test]
    fn overlong_lines_become_partial_records() {
        let mut buf = vec![b'x'; MAX_LINE + 10];
        buf.push(b'\n');
        let lines = split_lines(&mut buf, false);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].1 && lines[0].0.len() == MAX_LINE);
        assert_eq!(lines[1], ("x".repeat(10), false));
    }

    #[test]
    fn tail_keeps_the_last_lines_and_bytes() {
        let mut tail = std::collections::VecDeque::new();
        for i in 0..100 {
            keep_tail(&mut tail, &format!("line {i}"));
        }
        let text = tail_text(&tail);
        assert!(
            text.starts_with("line 20\n") && text.ends_with("line 99"),
            "{text}"
        );
        let mut long = std::collections::VecDeque::new();
        keep_tail(&mut long, &"é".repeat(2000));
        assert!(tail_text(&long).len() <= TAIL_BYTES);
    }

    #[tokio::test]
    async fn a_subscriber_far_behind_gets_long_lines_cut() {
        let tx = super::super::channel::channel(16384);
        let mut rx = tx.subscribe();
        let out = Some(tx);
        let mut writer = None;
        let long = "é".repeat(MAX_LINE / 2);
        for _ in 0..SUBSCRIBER_BACKLOG + 10 {
            emit(
                "c",
                Stream::Stdout,
                (long.clone(), false),
                &mut writer,
                &out,
            )
            .await;
        }
        emit(
            "c",
            Stream::Stdout,
            ("short".into(), false),
            &mut writer,
            &out,
        )
        .await;
        for _ in 0..SUBSCRIBER_BACKLOG {
            assert_eq!(rx.try_recv().unwrap().line, long);
        }
        for _ in 0..10 {
            let cut = rx.try_recv().unwrap().line;
            assert!(cut.len() <= BEHIND_LINE + CUT_MARK.len(), "{}", cut.len());
            assert!(cut.starts_with("éé") && cut.ends_with(CUT_MARK));
        }
        assert_eq!(rx.try_recv().unwrap().line, "short");
    }

    #[test]
    fn cri_record_format() {
        let line = LogLine {
            container: "c".into(),
            stream: Stream::Stderr,
            time: "2026-11-21T06:09:00.123456789Z".parse().unwrap(),
            line: "hello".into(),
            partial: false,
        };
        assert_eq!(
            line.cri_record(),
            "2026-11-21T06:09:00.123456789Z stderr F hello\n"
        );
        // Nine fractional digits always (moved from the CLI tests).
        let line = LogLine {
            container: "app".into(),
            stream: Stream::Stdout,
            time: "2024-01-02T03:04:05.12Z".parse().unwrap(),
            line: "x".into(),
            partial: false,
        };
        assert_eq!(
            line.cri_record(),
            "2024-01-02T03:04:05.120000000Z stdout F x\n"
        );
    }
}
