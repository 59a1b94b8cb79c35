//! Guest stdout/stderr: bytes flow through a bounded channel to the pod's
//! log pipeline, which splits them into lines.
//!
//! The channel is bounded so a guest that floods its output is slowed down
//! (its `check-write` returns 0 and its pollable waits for room) instead of
//! growing the host's memory without limit. `check-write` (and the stream's
//! pollable) reserve a slot in the channel, which the next `write` uses, so a
//! write that `check-write` permitted always succeeds without buffering
//! anything outside the channel. A write that was not permitted is taken if
//! the channel has room; otherwise it traps the guest, as WASI specifies for
//! a write exceeding the permit (and as wasmtime-wasi's own streams do): the
//! host never holds a guest's bytes beyond the channel's bound.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// Which stream of the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// `stdout` or `stderr`, as in the CRI log format.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// A chunk of guest output.
#[derive(Debug)]
pub struct Chunk {
    /// The stream it was written to.
    pub stream: Stream,
    /// The bytes.
    pub bytes: Bytes,
}

/// How many chunks may wait in the channel before writers are held back.
pub const CHANNEL_CHUNKS: usize = 256;
/// The most a guest may write per `write` call.
const MAX_WRITE: usize = 64 * 1024;

/// A guest's stdout or stderr, feeding a channel.
pub struct OutputSink {
    tx: mpsc::Sender<Chunk>,
    stream: Stream,
    /// A slot in the channel reserved by `check-write` (or the pollable)
    /// for the next `write`.
    permit: Option<mpsc::OwnedPermit<Chunk>>,
}

impl Clone for OutputSink {
    /// A new handle to the same stream; a reserved slot is not shared.
    fn clone(&self) -> Self {
        Self::new(self.tx.clone(), self.stream)
    }
}

impl OutputSink {
    /// A sink sending `stream`'s bytes to `tx`.
    pub fn new(tx: mpsc::Sender<Chunk>, stream: Stream) -> Self {
        Self {
            tx,
            stream,
            permit: None,
        }
    }
}

impl IsTerminal for OutputSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputSink {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(ChannelWriter {
            sink: self.clone(),
            reserving: Mutex::new(None),
        })
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutputSink {
    async fn ready(&mut self) {
        // Wait for room and keep it for the next write. A closed channel is
        // ready too: `check-write` then reports the stream closed.
        if self.permit.is_none()
            && let Ok(permit) = self.tx.clone().reserve_owned().await
        {
            self.permit = Some(permit);
        }
    }
}

impl OutputStream for OutputSink {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.tx.is_closed() {
            self.permit = None;
            return Err(StreamError::Closed);
        }
        if bytes.len() > MAX_WRITE {
            return Err(not_permitted(bytes.len()));
        }
        let chunk = Chunk {
            stream: self.stream,
            bytes,
        };
        if let Some(permit) = self.permit.take() {
            // `check-write` reserved the room: this cannot fail or wait.
            permit.send(chunk);
            return Ok(());
        }
        // Written without a permit: accepted while there is room.
        match self.tx.try_send(chunk) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(chunk)) => Err(not_permitted(chunk.bytes.len())),
            Err(TrySendError::Closed(_)) => Err(StreamError::Closed),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        if self.tx.is_closed() {
            self.permit = None;
            return Err(StreamError::Closed);
        }
        if self.permit.is_some() {
            return Ok(MAX_WRITE);
        }
        match self.tx.clone().try_reserve_owned() {
            Ok(permit) => {
                self.permit = Some(permit);
                Ok(MAX_WRITE)
            }
            Err(TrySendError::Full(_)) => Ok(0),
            Err(TrySendError::Closed(_)) => Err(StreamError::Closed),
        }
    }
}

/// The trap for a write that `check-write` did not permit and that would
/// have to be buffered beyond the channel.
fn not_permitted(len: usize) -> StreamError {
    StreamError::Trap(wasmtime::format_err!(
        "write of {len} bytes to a full output stream without a check-write permit"
    ))
}

type Reserve = Pin<
    Box<dyn Future<Output = Result<mpsc::OwnedPermit<Chunk>, mpsc::error::SendError<()>>> + Send>,
>;

/// The `AsyncWrite` face of a sink (used by WASIp3 paths).
struct ChannelWriter {
    sink: OutputSink,
    reserving: Mutex<Option<Reserve>>,
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let reserving = this.reserving.get_mut().unwrap_or_else(|e| e.into_inner());
        let fut = reserving.get_or_insert_with(|| Box::pin(this.sink.tx.clone().reserve_owned()));
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                *reserving = None;
                match result {
                    Ok(permit) => {
                        let n = buf.len().min(MAX_WRITE);
                        permit.send(Chunk {
                            stream: this.sink.stream,
                            bytes: Bytes::copy_from_slice(&buf[..n]),
                        });
                        Poll::Ready(Ok(n))
                    }
                    Err(_) => Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into())),
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(capacity: usize) -> (OutputSink, mpsc::Receiver<Chunk>) {
        let (tx, rx) = mpsc::channel(capacity);
        (OutputSink::new(tx, Stream::Stdout), rx)
    }

    #[test]
    fn a_permitted_write_always_succeeds() {
        let (mut a, mut rx) = sink(2);
        let mut b = a.clone();
        // Both handles are permitted: each holds a slot of its own.
        assert_eq!(a.check_write().unwrap(), MAX_WRITE);
        assert_eq!(b.check_write().unwrap(), MAX_WRITE);
        let mut c = a.clone();
        assert_eq!(c.check_write().unwrap(), 0, "both slots are reserved");
        b.write(Bytes::from_static(b"b")).unwrap();
        a.write(Bytes::from_static(b"a")).unwrap();
        assert_eq!(rx.try_recv().unwrap().bytes, "b");
        assert_eq!(rx.try_recv().unwrap().bytes, "a");
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn an_unpermitted_write_to_a_full_channel_traps_and_buffers_nothing() {
        let (mut a, mut rx) = sink(4);
        // Written without check-write: taken while there is room.
        for _ in 0..4 {
            a.write(Bytes::from_static(b"x")).unwrap();
        }
        assert_eq!(a.check_write().unwrap(), 0);
        for _ in 0..10_000 {
            match a.write(Bytes::from(vec![0; MAX_WRITE])) {
                Err(StreamError::Trap(e)) => assert!(e.to_string().contains("check-write")),
                other => panic!("expected a trap, got {other:?}"),
            }
        }
        // Nothing beyond the channel was kept.
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 4);
        // More than check-write ever permits: a trap even with room.
        assert!(matches!(
            a.write(Bytes::from(vec![0; MAX_WRITE + 1])),
            Err(StreamError::Trap(_))
        ));
        drop(rx);
        assert!(matches!(a.check_write(), Err(StreamError::Closed)));
        assert!(matches!(
            a.write(Bytes::from_static(b"x")),
            Err(StreamError::Closed)
        ));
    }

    #[tokio::test]
    async fn the_pollable_waits_for_room_and_keeps_it() {
        let (mut a, mut rx) = sink(1);
        a.write(Bytes::from_static(b"1")).unwrap();
        assert_eq!(a.check_write().unwrap(), 0);
        let reader = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let first = rx.recv().await.unwrap();
            (first, rx)
        });
        a.ready().await;
        assert_eq!(a.check_write().unwrap(), MAX_WRITE);
        a.write(Bytes::from_static(b"2")).unwrap();
        let (first, mut rx) = reader.await.unwrap();
        assert_eq!(first.bytes, "1");
        assert_eq!(rx.recv().await.unwrap().bytes, "2");
    }
}
