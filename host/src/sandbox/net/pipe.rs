//! One direction of an in-memory TCP connection: a bounded byte pipe.
//!
//! A connection is two pipes, one per direction; each endpoint
//! ([`Conn`](super::conn::Conn)) reads one and writes the other. The guest's `input-stream` and
//! `output-stream` are views of them ([`PipeReader`], [`PipeWriter`]) that
//! change nothing when dropped: as on wasmtime, where the socket keeps its
//! streams' state, only `shutdown` and dropping the socket itself close a
//! connection (see [`Conn`](super::conn::Conn) for what closing does).
//!
//! * **Flow control**: the pipe holds at most [`PIPE_CAPACITY`] bytes. A
//!   full pipe makes `check-write` return 0 and the writer's pollable wait
//!   until the reader has taken something, so a slow reader slows its writer
//!   down instead of growing a buffer. A guest `write` that does not fit
//!   (one `check-write` did not permit, into a full pipe) traps that guest,
//!   as WASI specifies and as wasmtime-wasi's own TCP stream does ("not
//!   permitted to write"); nothing is ever buffered beyond the capacity. A
//!   write without a permit that fits is taken.
//! * **FIN** ([`Pipe::close_write`]): the reader gets what is buffered, then
//!   end-of-stream; the writer's writes fail with `closed`.
//! * **Shut down for reading** ([`Pipe::shut_read`]): the reader reads
//!   end-of-stream at once (what was buffered is discarded); the peer may
//!   still write, as on Linux, until the buffer is full.
//! * **Orphaned** ([`Pipe::orphan`]): the reading endpoint was closed with
//!   nothing unread. As over a real loopback, the peer's next write is
//!   accepted (and answered with a reset, so it is discarded), and every
//!   write after it fails with `closed` (EPIPE).
//! * **Reset** ([`Pipe::reset`]): the reader gets what is buffered, then
//!   end-of-stream; writes fail with `closed`. The reset itself is reported
//!   once per endpoint, as Linux reports a socket's pending error (SO_ERROR)
//!   once: to whichever of its read or write comes first, as
//!   `connection-reset` (see [`ResetNotice`]).
//!
//! As with a kernel socket, a failure is found by a write: `check-write`
//! and `flush` report it only once a write has.
//!
//! Readiness is poll-based: each side keeps the wakers of the tasks waiting
//! on it and wakes them all when the pipe's state changes, so a guest's
//! pollable, a guest blocked in `blocking-read` and a host task polling a
//! [`PodStream`](super::PodStream) all work the same way.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::sync::lock;
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

/// What the peer did to the reading end, found by the writer's next write.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// Still there.
    #[default]
    Open,
    /// Closed with nothing unread: one more write is taken (and lost).
    Orphaned,
    /// Closed, and the write after [`Peer::Orphaned`] was taken.
    Gone,
}

#[derive(Default)]
struct State {
    buf: BytesMut,
    capacity: usize,
    /// The writer sent FIN: the reader gets end-of-stream after `buf`.
    write_closed: bool,
    /// The reader shut down reading: it reads end-of-stream.
    read_shut: bool,
    /// The reading endpoint is gone (see [`Peer`]).
    peer: Peer,
    /// The connection was reset: the notice its endpoint has not yet taken.
    reset: Option<ResetNotice>,
    /// What every write, `check-write` and `flush` reports once a write
    /// found the connection gone.
    failed: Option<WriteError>,
    readers: Wakers,
    writers: Wakers,
}

/// The pending `connection-reset` of one endpoint (Linux's `sk_err`):
/// shared by the pipe it reads and the pipe it writes, taken by the first
/// read or write that finds the reset.
#[derive(Debug, Clone, Default)]
pub struct ResetNotice(Arc<AtomicBool>);

impl ResetNotice {
    /// A notice not yet taken.
    pub fn new() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }

    /// Whether this caller is the first to take it.
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
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
    /// The connection was reset (reported once; end-of-stream after that).
    Reset,
}

/// Why the writing end can no longer write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// This end was shut down, or the peer is gone (EPIPE): `closed`.
    Closed,
    /// The peer reset the connection: `connection-reset`.
    Reset,
}

/// A bounded single-producer, single-consumer byte pipe.
pub struct Pipe(Mutex<State>);

impl Pipe {
    /// A pipe holding at most `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Arc<Pipe> {
        Arc::new(Pipe(Mutex::new(State {
            capacity,
            ..State::default()
        })))
    }

    /// A pipe of [`PIPE_CAPACITY`] bytes.
    pub fn new() -> Arc<Pipe> {
        Self::with_capacity(PIPE_CAPACITY)
    }

    /// Takes up to `max` buffered bytes.
    pub fn try_read(&self, max: usize) -> ReadOutcome {
        let mut s = lock(&self.0);
        if s.read_shut {
            return ReadOutcome::Eof;
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
        if let Some(notice) = &s.reset {
            return if notice.take() {
                ReadOutcome::Reset
            } else {
                ReadOutcome::Eof
            };
        }
        if s.write_closed {
            ReadOutcome::Eof
        } else {
            ReadOutcome::WouldBlock
        }
    }

    /// Ready when a read would not return [`ReadOutcome::WouldBlock`].
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.0);
        if !s.buf.is_empty() || s.write_closed || s.read_shut || s.reset.is_some() {
            Poll::Ready(())
        } else {
            s.readers.register(cx.waker());
            Poll::Pending
        }
    }

    /// How many bytes a write may add now. A failure not yet found by a
    /// write is not reported: the writer sees room, as over a socket.
    pub fn free(&self) -> Result<usize, WriteError> {
        let s = lock(&self.0);
        s.check()?;
        if s.reset.is_some() || s.peer != Peer::Open {
            return Ok(s.capacity);
        }
        Ok(s.capacity - s.buf.len())
    }

    /// Appends as much of `data` as fits; returns how much that was.
    pub fn write(&self, data: &[u8]) -> Result<usize, WriteError> {
        let mut s = lock(&self.0);
        s.check()?;
        if let Some(notice) = &s.reset {
            // WASI `stream-error`: after `last-operation-failed`, `closed`.
            let reported = notice.take();
            s.failed = Some(WriteError::Closed);
            return Err(if reported {
                WriteError::Reset
            } else {
                WriteError::Closed
            });
        }
        match s.peer {
            Peer::Open => {}
            Peer::Orphaned => {
                // Taken by the kernel, answered with a reset by the peer.
                s.peer = Peer::Gone;
                return Ok(data.len().min(s.capacity));
            }
            Peer::Gone => {
                s.failed = Some(WriteError::Closed);
                return Err(WriteError::Closed);
            }
        }
        let n = data.len().min(s.capacity - s.buf.len());
        if n > 0 {
            s.buf.extend_from_slice(&data[..n]);
            s.readers.wake();
        }
        Ok(n)
    }

    /// The sticky failure of the writing end, if any.
    pub fn write_error(&self) -> Result<(), WriteError> {
        lock(&self.0).check()
    }

    /// Ready when [`free`](Self::free) is not `Ok(0)`.
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.0);
        if s.check().is_err()
            || s.reset.is_some()
            || s.peer != Peer::Open
            || s.buf.len() < s.capacity
        {
            Poll::Ready(())
        } else {
            s.writers.register(cx.waker());
            Poll::Pending
        }
    }

    /// The writer is done (FIN): the reader gets EOF after the buffered
    /// bytes; the writer's writes fail with `closed`.
    pub fn close_write(&self) {
        let mut s = lock(&self.0);
        s.write_closed = true;
        s.wake_all();
    }

    /// The reader shut down reading: it reads EOF from now on and what is
    /// buffered is discarded. The writer may go on writing until full.
    pub fn shut_read(&self) {
        let mut s = lock(&self.0);
        s.read_shut = true;
        s.buf = BytesMut::new();
        s.wake_all();
    }

    /// The reading endpoint was closed with nothing unread: the next write
    /// is taken (and lost), later ones fail with `closed`.
    pub fn orphan(&self) {
        let mut s = lock(&self.0);
        s.read_shut = true;
        s.buf = BytesMut::new();
        if s.peer == Peer::Open {
            s.peer = Peer::Orphaned;
        }
        s.wake_all();
    }

    /// Resets the connection: the reader reads what is buffered, then
    /// end-of-stream, the writer fails; the first of them to find the reset
    /// takes `notice` and reports `connection-reset` instead.
    pub fn reset(&self, notice: &ResetNotice) {
        let mut s = lock(&self.0);
        if s.reset.is_none() {
            s.reset = Some(notice.clone());
        }
        s.wake_all();
    }

    /// Whether the connection was reset.
    pub fn is_reset(&self) -> bool {
        lock(&self.0).reset.is_some()
    }

    /// Bytes buffered now.
    pub fn buffered(&self) -> usize {
        lock(&self.0).buf.len()
    }
}

impl State {
    /// The failure already reported to the writer, or its own FIN.
    fn check(&self) -> Result<(), WriteError> {
        match self.failed {
            Some(e) => Err(e),
            None if self.write_closed => Err(WriteError::Closed),
            None => Ok(()),
        }
    }

    fn wake_all(&mut self) {
        self.readers.wake();
        self.writers.wake();
    }
}

/// A view of a [`Pipe`] for reading: the guest's `input-stream` of a
/// connection. Dropping it changes nothing (the socket owns the connection).
pub struct PipeReader(Arc<Pipe>);

impl PipeReader {
    /// A reading view of `pipe`.
    pub fn new(pipe: Arc<Pipe>) -> Self {
        Self(pipe)
    }

    /// The shared pipe.
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.0
    }
}

/// A view of a [`Pipe`] for writing: the guest's `output-stream` of a
/// connection. Dropping it changes nothing (the socket owns the connection).
pub struct PipeWriter(Arc<Pipe>);

impl PipeWriter {
    /// A writing view of `pipe`.
    pub fn new(pipe: Arc<Pipe>) -> Self {
        Self(pipe)
    }

    /// The shared pipe.
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.0
    }
}

fn stream_error(e: WriteError) -> StreamError {
    match e {
        WriteError::Closed => StreamError::Closed,
        WriteError::Reset => reset_error(),
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
        let free = self.0.free().map_err(stream_error)?;
        if bytes.len() > free {
            return Err(StreamError::Trap(wasmtime::format_err!(
                "write of {} bytes to a connection with room for {free}: \
                 not permitted by check-write",
                bytes.len()
            )));
        }
        if bytes.is_empty() {
            return Ok(());
        }
        self.0.write(&bytes).map_err(stream_error)?;
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Bytes are visible to the reader as soon as they are written.
        self.0.write_error().map_err(stream_error)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.0.free().map_err(stream_error)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for PipeWriter {
    async fn ready(&mut self) {
        std::future::poll_fn(|cx| self.0.poll_write_ready(cx)).await;
    }
}
