//! [`Conn`]: one endpoint of an in-memory TCP connection, and what closing
//! it does to the peer.
//!
//! An endpoint reads one [`Pipe`] and writes the other. It is owned by the
//! guest's socket (or by a [`PodStream`](super::PodStream), or by a
//! listener's backlog until accepted); the guest's streams are only views.
//! Closing an endpoint (dropping it) does what closing a socket does over
//! Linux loopback, which is what a guest sees on wasmtime:
//!
//! * with nothing unread: a FIN. The peer reads what was sent, then
//!   end-of-stream; the peer's next write is taken (the closed socket
//!   answers it with a reset), every later one fails with `closed`.
//! * with bytes still unread (received and never read): a reset. The peer
//!   reads what was already sent, then end-of-stream, and its writes fail
//!   with `closed`; whichever of its read or write comes first reports
//!   `connection-reset` instead (once, as Linux reports ECONNRESET).

use std::net::SocketAddr;
use std::sync::Arc;

use super::pipe::{Pipe, PipeReader, PipeWriter, ResetNotice};

/// One end of an established connection.
pub struct Conn {
    /// What the peer sends.
    rx: Arc<Pipe>,
    /// What this end sends.
    tx: Arc<Pipe>,
    /// This end's address.
    pub local: SocketAddr,
    /// The peer's address.
    pub remote: SocketAddr,
}

impl Conn {
    /// A new connection between `a` and `b`: (`a`'s end, `b`'s end).
    pub fn pair(a: SocketAddr, b: SocketAddr) -> (Conn, Conn) {
        Self::pair_translated(a, b, b)
    }

    /// A connection from `a` to `b_seen` (what `a` dialed, a Service's
    /// address) that reached `b` (the endpoint): `a`'s end has `b_seen` as
    /// its remote address, `b`'s end `b` as its local one.
    pub fn pair_translated(a: SocketAddr, b_seen: SocketAddr, b: SocketAddr) -> (Conn, Conn) {
        let (a_to_b, b_to_a) = (Pipe::new(), Pipe::new());
        let a_end = Conn {
            rx: b_to_a.clone(),
            tx: a_to_b.clone(),
            local: a,
            remote: b_seen,
        };
        let b_end = Conn {
            rx: a_to_b,
            tx: b_to_a,
            local: b,
            remote: a,
        };
        (a_end, b_end)
    }

    /// A view for reading what the peer sends (the guest's input stream).
    pub fn reader(&self) -> PipeReader {
        PipeReader::new(self.rx.clone())
    }

    /// A view for writing to the peer (the guest's output stream).
    pub fn writer(&self) -> PipeWriter {
        PipeWriter::new(self.tx.clone())
    }

    /// The pipe this end reads.
    pub fn rx(&self) -> &Arc<Pipe> {
        &self.rx
    }

    /// The pipe this end writes.
    pub fn tx(&self) -> &Arc<Pipe> {
        &self.tx
    }

    /// `shutdown`: `receive` ends reading (what is unread is discarded);
    /// `send` is a FIN. Shutting a direction down again changes nothing.
    pub fn shutdown(&self, receive: bool, send: bool) {
        if receive {
            self.rx.shut_read();
        }
        if send {
            self.tx.close_write();
        }
    }

    /// Resets the connection (a listener closed with it in its backlog):
    /// the peer is told, once, by its next read or write.
    pub fn reset(&self) {
        let peer = ResetNotice::new();
        self.rx.reset(&peer);
        self.rx.shut_read();
        self.tx.reset(&peer);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.rx.is_reset() {
            return;
        }
        if self.rx.buffered() > 0 {
            // Data the application never read: Linux answers close with RST.
            self.reset();
        } else {
            self.tx.close_write();
            self.rx.orphan();
        }
    }
}
