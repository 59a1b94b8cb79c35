//! The queues of a pod network: a listener's backlog of connections not
//! yet accepted, and a bound UDP port's mailbox of datagrams not yet read.
//! Both are bounded: a full backlog refuses connections, a full mailbox
//! drops datagrams (as the kernel does).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::task::{Context, Poll};

use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

use super::netns::Conn;
use super::pipe::{Wakers, lock};

/// Bytes a UDP mailbox holds before further datagrams are dropped.
pub const MAILBOX_BYTES: usize = 256 * 1024;

#[derive(Default)]
struct ListenerState {
    queue: VecDeque<Conn>,
    backlog: usize,
    closed: bool,
    waiters: Wakers,
}

/// A listening socket's backlog of connections waiting for `accept`.
pub struct Listener(Mutex<ListenerState>);

impl Listener {
    pub(super) fn new(backlog: usize) -> Self {
        Self(Mutex::new(ListenerState {
            backlog: backlog.max(1),
            ..ListenerState::default()
        }))
    }

    pub(super) fn enqueue(&self, conn: Conn) -> Result<(), ErrorCode> {
        let mut s = lock(&self.0);
        if s.closed || s.queue.len() >= s.backlog {
            return Err(ErrorCode::ConnectionRefused);
        }
        s.queue.push_back(conn);
        s.waiters.wake();
        Ok(())
    }

    /// The oldest connection waiting, if any.
    pub fn try_accept(&self) -> Option<Conn> {
        lock(&self.0).queue.pop_front()
    }

    /// Ready when a connection is waiting (or the listener was closed).
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.0);
        if !s.queue.is_empty() || s.closed {
            Poll::Ready(())
        } else {
            s.waiters.register(cx.waker());
            Poll::Pending
        }
    }

    /// Changes the backlog (connections already queued stay).
    pub fn set_backlog(&self, backlog: usize) {
        lock(&self.0).backlog = backlog.max(1);
    }

    /// Connections waiting to be accepted.
    pub fn pending(&self) -> usize {
        lock(&self.0).queue.len()
    }

    /// Stops accepting and resets every connection still queued.
    pub(super) fn close(&self) {
        let queued = {
            let mut s = lock(&self.0);
            s.closed = true;
            s.waiters.wake();
            std::mem::take(&mut s.queue)
        };
        for conn in queued {
            conn.reader.pipe().reset();
            conn.writer.pipe().reset();
        }
    }
}

/// One UDP datagram as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// The payload, whole.
    pub data: Vec<u8>,
    /// The sender's address.
    pub from: SocketAddr,
}

#[derive(Default)]
struct MailboxState {
    queue: VecDeque<Datagram>,
    bytes: usize,
    closed: bool,
    waiters: Wakers,
}

/// The receive queue of a bound UDP port.
#[derive(Default)]
pub struct Mailbox(Mutex<MailboxState>);

impl Mailbox {
    pub(super) fn deliver(&self, d: Datagram) {
        let mut s = lock(&self.0);
        if s.closed || s.bytes + d.data.len() > MAILBOX_BYTES {
            tracing::trace!(from = %d.from, len = d.data.len(), "datagram dropped");
            return;
        }
        s.bytes += d.data.len();
        s.queue.push_back(d);
        s.waiters.wake();
    }

    /// The oldest datagram, if any.
    pub fn try_recv(&self) -> Option<Datagram> {
        let mut s = lock(&self.0);
        let d = s.queue.pop_front()?;
        s.bytes -= d.data.len();
        Some(d)
    }

    /// Ready when a datagram is waiting.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.0);
        if !s.queue.is_empty() || s.closed {
            Poll::Ready(())
        } else {
            s.waiters.register(cx.waker());
            Poll::Pending
        }
    }

    pub(super) fn close(&self) {
        let mut s = lock(&self.0);
        s.closed = true;
        s.queue.clear();
        s.bytes = 0;
        s.waiters.wake();
    }
}
