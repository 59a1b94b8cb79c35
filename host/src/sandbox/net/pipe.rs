//! One direction of an in-memory TCP connection: a bounded byte pipe.
//!
//! A connection is two pipes, one per direction. Each pipe has exactly one
//! reading end ([`PipeReader`]) and one writing end ([`PipeWriter`]); the
//! ends are what a guest gets as its `input-stream` / `output-stream`, and
//! what [`PodStream`](super::PodStream) wraps on the host side.
//!
//! * **Flow control**: the pipe holds at most [`PIPE_CAPACITY`] bytes. A
//!   full pipe makes `check-write` return 0 and the writer's pollable wait
//!   until the reader has taken something, so a slow reader slows its writer
//!   down instead of growing a buffer. A guest `write` that does not fit
//!   (one `check-write` did not permit, into a full pipe) traps that guest,
//!   as WASI specifies and as wasmtime-wasi's own TCP stream does ("not
//!   permitted to write"); nothing is ever buffered beyond the capacity. A
//!   write without a permit that fits is taken.
//! * **Close**: dropping (or shutting down) the writing end is a FIN: the
//!   reader gets what is buffered, then end-of-stream. Dropping the reading
//!   end discards what is buffered; the writer's next write fails with
//!   `closed` (EPIPE), as writing to a socket whose peer has gone does.
//! * **Reset**: a connection refused after the fact (a listener closed with
//!   it still in its backlog) is reset: the reader gets `connection-reset`.
//!
//! Readiness is poll-based: each side keeps the wakers of the tasks waiting
//! on it and wakes them all when the pipe's state changes, so a guest's
//! pollable, a guest blocked in `blocking-read` and a host task polling a
//! [`PodStream`](super::PodStream) all work the same way.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError, StreamResult};

/// How many bytes one direction of a connection buffers (the sum of a
/// socket's send and the peer's receive buffer, in kernel terms).
pub const PIPE_CAPACITY: usize = 64 * 1024;

/// The tasks waiting for one side of a pipe (or a listener, or a mailbox).
#[derive(Default)]
pub(crate) struct Wakers(Vec<Waker>);

impl Wakers {
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }

    pub(crate) fn wake(&mut self) {
        for w in self.0.drain(..) {
            w.wake();
        }
    }
}

/// Locks `m`, ignoring poisoning (the state stays consistent: every update
/// is a few assignments that cannot panic half-way).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Default)]
struct State {
    buf: BytesMut,
    capacity: usize,
    /// The writer is done: the reader gets end-of-stream after `buf`.
    write_closed: bool,
    /// The reader is gone: writes fail, nothing is buffered any more.
    read_closed: bool,
    /// The connection was reset: reads fail with `connection-reset`.
    reset: bool,
    readers: Wakers,
    writers: Wakers,
}

/// What a non-blocking read found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Some bytes (never empty).
    Data(Bytes),
    /// Nothing yet; the writer is still there.
    WouldBlock,
    /// The writer closed and everything was read (or this side was shut down).
    Eof,
    /// The connection was reset.
    Reset,
}

/// The writing end can no longer write (the reader is gone, the connection
/// was reset, or this end was shut down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteClosed;

/// A bounded single-producer, single-consumer byte pipe.
pub struct Pipe(Mutex<State>);

impl Pipe {
    /// A pipe holding at most `capacity` bytes, with its two ends.
    pub fn pair_with_capacity(capacity: usize) -> (PipeReader, PipeWriter) {
        let pipe = Arc::new(Pipe(Mutex::new(State {
            capacity,
            ..State::default()
        })));
        (PipeReader(pipe.clone()), PipeWriter(pipe))
    }

    /// A pipe of [`PIPE_CAPACITY`] bytes.
    pub fn pair() -> (PipeReader, PipeWriter) {
        Self::pair_with_capacity(PIPE_CAPACITY)
    }

    /// Takes up to `max` buffered bytes.
    pub fn try_read(&self, max: usize) -> ReadOutcome {
        let mut s = lock(&self.0);
        if s.reset {
            return ReadOutcome::Reset;
        }
        if !s.buf.is_empty() {
            if max == 0 {
                // Nothing asked for; there is more to read.
                return ReadOutcome::WouldBlock;
            }
            let n = max.min(s.buf.len());
            let data = s.buf.split_to(n).freeze();
            s.writers.wake();
            return ReadOutcome::Data(data);
        }
        if s.write_closed || s.read_closed {
            ReadOutcome::Eof
        } else {
            ReadOutcome::WouldBlock
        }
    }

    /// Ready when a read would not return [`ReadOutcome::WouldBlock`].
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.0);
        if !s.buf.is_empty() || s.write_closed || s.read_closed || s.reset {
            Poll::Ready(())
        } else {
            s.readers.register(cx.waker());
            Poll::Pending
        }
    }

    /// How many bytes a write may add now.
    pub fn free(&self) -> Result<usize, WriteClosed> {
        let s = lock(&self.0);
        if s.write_closed || s.read_closed || s.reset {
            return Err(WriteClosed);
        }
        Ok(s.capacity - s.buf.len())
    }

    /// Appends as much of `data` as fits; returns how much that was.
    pub fn write(&self, data: &[u8]) -> Result<usize, WriteClosed> {
        let mut s = lock(&self.0);
        if s.write_closed || s.read_closed || s.reset {
            return Err(WriteClosed);
        }
        let n = data.len().min(s.capacity - s.buf.len());
        if n > 0 {
            s.buf.extend_from_slice(&data[..n]);
            s.readers.wake();
        }
        Ok(n)
    }

    /// Ready when [`free`](Self::free) is not `Ok(0)`.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.0);
        if s.write_closed || s.read_closed || s.reset || s.buf.len() < s.capacity {
            Poll::Ready(())
        } else {
            s.writers.register(cx.waker());
            Poll::Pending
        }
    }

    /// The writer is done (FIN): the reader gets EOF after the buffered bytes.
    pub fn close_write(&self) {
        let mut s = lock(&self.0);
        s.write_closed = true;
        s.readers.wake();
        s.writers.wake();
    }

    /// The reader is gone: buffered bytes are discarded, writes fail.
    pub fn close_read(&self) {
        let mut s = lock(&self.0);
        s.read_closed = true;
        s.buf = BytesMut::new();
        s.readers.wake();
        s.writers.wake();
    }

    /// Resets the connection: the reader gets `connection-reset`.
    pub fn reset(&self) {
        let mut s = lock(&self.0);
        s.reset = true;
        s.buf = BytesMut::new();
        s.readers.wake();
        s.writers.wake();
    }

    /// Bytes buffered now.
    pub fn buffered(&self) -> usize {
        lock(&self.0).buf.len()
    }
}

/// The reading end of a [`Pipe`]; dropping it closes the pipe for reading.
/// It is the guest's `input-stream` of a connection.
pub struct PipeReader(Arc<Pipe>);

impl PipeReader {
    /// The shared pipe (for `shutdown`).
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.0
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.0.close_read();
    }
}

/// The writing end of a [`Pipe`]; dropping it closes the pipe for writing
/// (the reader sees EOF). It is the guest's `output-stream` of a connection.
pub struct PipeWriter(Arc<Pipe>);

impl PipeWriter {
    /// The shared pipe (for `shutdown`).
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.0
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.0.close_write();
    }
}

fn reset_error() -> StreamError {
    StreamError::LastOperationFailed(io::Error::from(io::ErrorKind::ConnectionReset).into())
}

impl InputStream for PipeReader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        match self.0.try_read(size.min(PIPE_CAPACITY)) {
            ReadOutcome::Data(d) => Ok(d),
            ReadOutcome::WouldBlock => Ok(Bytes::new()),
            ReadOutcome::Eof => Err(StreamError::Closed),
            ReadOutcome::Reset => Err(reset_error()),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for PipeReader {
    async fn ready(&mut self) {
        std::future::poll_fn(|cx| self.0.poll_read_ready(cx)).await;
    }
}

impl OutputStream for PipeWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let free = self.0.free().map_err(|WriteClosed| StreamError::Closed)?;
        if bytes.len() > free {
            return Err(StreamError::Trap(wasmtime::format_err!(
                "write of {} bytes to a connection with room for {free}: \
                 not permitted by check-write",
                bytes.len()
            )));
        }
        self.0
            .write(&bytes)
            .map_err(|WriteClosed| StreamError::Closed)?;
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Bytes are visible to the reader as soon as they are written.
        self.0
            .free()
            .map(drop)
            .map_err(|WriteClosed| StreamError::Closed)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.0.free().map_err(|WriteClosed| StreamError::Closed)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for PipeWriter {
    async fn ready(&mut self) {
        std::future::poll_fn(|cx| self.0.poll_write_ready(cx)).await;
    }
}
