//! Guest stdout/stderr: bytes flow through a bounded channel to the pod's
//! log pipeline, which splits them into lines.
//!
//! The channel is bounded so a guest that floods its output is slowed down
//! (its `check-write` returns 0 and its pollable waits for room) instead of
//! growing the host's memory without limit.

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
#[derive(Clone)]
pub struct OutputSink {
    tx: mpsc::Sender<Chunk>,
    stream: Stream,
}

impl OutputSink {
    /// A sink sending `stream`'s bytes to `tx`.
    pub fn new(tx: mpsc::Sender<Chunk>, stream: Stream) -> Self {
        Self { tx, stream }
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
        // Wait for room; the permit is released at once, it is only a signal.
        let _ = self.tx.reserve().await;
    }
}

impl OutputStream for OutputSink {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let chunk = Chunk {
            stream: self.stream,
            bytes,
        };
        match self.tx.try_send(chunk) {
            Ok(()) => Ok(()),
            // Another handle to the same stream took the room `check_write`
            // saw; keep the bytes rather than lose them.
            Err(TrySendError::Full(chunk)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move { tx.send(chunk).await });
                Ok(())
            }
            Err(TrySendError::Closed(_)) => Err(StreamError::Closed),
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        if self.tx.is_closed() {
            return Err(StreamError::Closed);
        }
        Ok(if self.tx.capacity() > 0 { MAX_WRITE } else { 0 })
    }
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
