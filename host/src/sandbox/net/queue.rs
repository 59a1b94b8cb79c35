//! The queues of a pod network: a listener's backlog of connections not
//! yet accepted, and a bound UDP port's mailbox of datagrams not yet read.
//! Both are bounded: a full backlog makes connects wait (the kernel drops
//! their SYNs and the clients retry), a full mailbox drops datagrams (as
//! the kernel does).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::task::{Context, Poll};

use super::conn::Conn;
use super::pipe::Wakers;
use crate::sync::lock;

/// Bytes a UDP mailbox holds before further datagrams are dropped. Every
/// datagram is charged its payload plus [`DATAGRAM_OVERHEAD`], as the kernel
/// charges a socket's receive buffer an skb's true size, so empty datagrams
/// fill a mailbox too.
pub const MAILBOX_BYTES: usize = 256 * 1024;

/// What a queued datagram costs beyond its payload (its queue entry, the
/// sender's address and the payload's allocation). With it a mailbox holds
/// at most `MAILBOX_BYTES / DATAGRAM_OVERHEAD` (1024) datagrams.
pub const DATAGRAM_OVERHEAD: usize = 256;

/// The charge of `d` against its mailbox: payload (as allocated) + overhead.
fn charge(d: &Datagram) -> usize {
    d.data.capacity() + DATAGRAM_OVERHEAD
}

/// What both queues share: the items, whether the queue is closed, and
/// the tasks waiting for either.
struct Queue<T> {
    items: VecDeque<T>,
    closed: bool,
    waiters: Wakers,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self {
            items: VecDeque::new(),
            closed: false,
            waiters: Wakers::default(),
        }
    }
}

impl<T> Queue<T> {
    /// Ready when an item is waiting or the queue is closed.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.items.is_empty() || self.closed {
            Poll::Ready(())
        } else {
            self.waiters.register(cx.waker());
            Poll::Pending
        }
    }

    fn push(&mut self, item: T) {
        self.items.push_back(item);
        self.waiters.wake();
    }

    /// Closes the queue, wakes its waiters and returns what was queued.
    fn close(&mut self) -> VecDeque<T> {
        self.closed = true;
        self.waiters.wake();
        std::mem::take(&mut self.items)
    }
}

#[derive(Default)]
struct ListenerState {
    q: Queue<Conn>,
    backlog: usize,
    /// Connects waiting for room in a full backlog.
    dialers: Wakers,
}

/// Why a connection was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener is gone: `connection-refused`.
    Closed,
    /// The backlog is full: Linux drops the SYN and the client retries.
    Full,
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

    /// Queues the connection `make` builds, if there is room. As in Linux
    /// (`sk_acceptq_is_full`), a backlog of n holds n + 1 connections.
    pub(super) fn enqueue(&self, make: impl FnOnce() -> Conn) -> Result<(), Refusal> {
        let mut s = lock(&self.0);
        if s.q.closed {
            return Err(Refusal::Closed);
        }
        if s.q.items.len() > s.backlog {
            return Err(Refusal::Full);
        }
        s.q.push(make());
        Ok(())
    }

    /// Ready when a connection could be queued now, or the listener is gone.
    pub(super) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.0);
        if s.q.closed || s.q.items.len() <= s.backlog {
            Poll::Ready(())
        } else {
            s.dialers.register(cx.waker());
            Poll::Pending
        }
    }

    /// The oldest connection waiting, if any.
    pub fn try_accept(&self) -> Option<Conn> {
        let mut s = lock(&self.0);
        let conn = s.q.items.pop_front();
        if conn.is_some() {
            s.dialers.wake();
        }
        conn
    }

    /// Ready when a connection is waiting (or the listener was closed).
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        lock(&self.0).q.poll_ready(cx)
    }

    /// Changes the backlog (connections already queued stay).
    pub fn set_backlog(&self, backlog: usize) {
        let mut s = lock(&self.0);
        s.backlog = backlog.max(1);
        s.dialers.wake();
    }

    /// Connections waiting to be accepted.
    pub fn pending(&self) -> usize {
        lock(&self.0).q.items.len()
    }

    /// Stops accepting and resets every connection still queued.
    pub(super) fn close(&self) {
        let queued = {
            let mut s = lock(&self.0);
            s.dialers.wake();
            s.q.close()
        };
        for conn in queued {
            conn.reset();
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
    q: Queue<Datagram>,
    bytes: usize,
}

/// The receive queue of a bound UDP port.
#[derive(Default)]
pub struct Mailbox(Mutex<MailboxState>);

impl Mailbox {
    pub(super) fn deliver(&self, d: Datagram) {
        let mut s = lock(&self.0);
        let cost = charge(&d);
        if s.q.closed || s.bytes + cost > MAILBOX_BYTES {
            tracing::trace!(from = %d.from, len = d.data.len(), "datagram dropped");
            return;
        }
        s.bytes += cost;
        s.q.push(d);
    }

    /// The oldest datagram, if any.
    pub fn try_recv(&self) -> Option<Datagram> {
        let mut s = lock(&self.0);
        let d = s.q.items.pop_front()?;
        s.bytes -= charge(&d);
        Some(d)
    }

    /// Datagrams waiting.
    pub fn queued(&self) -> usize {
        lock(&self.0).q.items.len()
    }

    /// What the waiting datagrams are charged, at most [`MAILBOX_BYTES`].
    pub fn charged(&self) -> usize {
        lock(&self.0).bytes
    }

    /// Ready when a datagram is waiting (or the port was closed).
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        lock(&self.0).q.poll_ready(cx)
    }

    pub(super) fn close(&self) {
        let mut s = lock(&self.0);
        s.q.close();
        s.bytes = 0;
    }
}
