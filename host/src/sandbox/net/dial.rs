//! [`Dial`]: a TCP connection attempt that waits while the listener's
//! backlog is full.
//!
//! Linux drops the SYN of a connection its listener has no room for, and
//! the client retries, so on wasmtime `finish-connect` returns
//! `would-block` until the server accepts one (the socket's pollable
//! becomes ready then), not `connection-refused`. A dial does the same:
//! it is queued as soon as there is room, and refused if the listener
//! goes away. (Linux would give up after about two minutes of retries with
//! `timeout`; a dial waits as long as the guest does.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

use super::conn::Conn;
use super::netns::PortLease;
use super::queue::{Listener, Refusal};

/// A connection attempt to a listener.
pub struct Dial {
    pub(super) lease: PortLease,
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    /// The server's own address: `remote`, or the endpoint a Service's
    /// address was translated to.
    pub(super) server: SocketAddr,
    pub(super) listener: Arc<Listener>,
}

/// Where a [`Dial`] stands after an attempt.
pub enum Progress {
    /// Connected (the client's end and port), or refused.
    Done(Result<(Conn, PortLease), ErrorCode>),
    /// The backlog is full: try again when [`Dial::poll_ready`] is.
    Waiting(Dial),
}

impl Dial {
    /// Tries to get into the listener's backlog.
    pub fn attempt(self) -> Progress {
        let mut client = None;
        let queued = self.listener.enqueue(|| {
            let (c, s) = Conn::pair_translated(self.local, self.remote, self.server);
            client = Some(c);
            s
        });
        match (queued, client) {
            (Ok(()), Some(c)) => Progress::Done(Ok((c, self.lease))),
            (Err(Refusal::Full), _) => Progress::Waiting(self),
            _ => Progress::Done(Err(ErrorCode::ConnectionRefused)),
        }
    }

    /// The client's address.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Ready when an attempt would not wait.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.listener.poll_room(cx)
    }
}
