//! The `tcp-socket` resource: WASI 0.2's TCP state machine over a
//! [`PodNetwork`].
//!
//! States follow `wasi:sockets/tcp`: a socket is created unbound, is bound
//! (explicitly, or implicitly by `connect`), then either connects or
//! listens. Every operation completes at once in memory, so `start-*`
//! does the work and `finish-*` only reports it; `finish-connect` returns
//! `would-block` only while the listener's backlog is full. Socket options the in-memory network has no use
//! for (keep-alive, hop limit, buffer sizes) are validated, clamped and
//! rounded as wasmtime on Linux does, and remembered, so guests that set
//! them work unchanged; an accepted socket inherits its listener's.
//!
//! The connection belongs to the socket: the guest's streams are views, so
//! dropping them closes nothing (as on wasmtime); `shutdown` and dropping
//! the socket do (see [`Conn`]).

use std::net::SocketAddr;
use std::sync::Arc;

use wasmtime_wasi::p2::Pollable;
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

use super::netns::{
    Conn, DEFAULT_BACKLOG, Dial, Family, Listener, PodNetwork, PortLease, Progress, Proto,
};
use super::options::TcpOptions as Options;
use super::pipe::{PipeReader, PipeWriter};

/// An operation started and not yet finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Bind,
    Connect,
    Listen,
}

pub(crate) enum State {
    Unbound,
    Bound(PortLease),
    /// `start-connect` ran; `finish-connect` reports this.
    Connecting(Result<(Conn, PortLease), ErrorCode>),
    /// `start-connect` ran and the listener's backlog is full.
    Dialing(Dial),
    Connected(Connected),
    Listening {
        lease: PortLease,
        listener: Arc<Listener>,
    },
    /// A connection attempt failed: only `drop` is left.
    Closed,
}

/// A connected socket: it owns its end of the connection (the guest's
/// streams are views of it).
pub(crate) struct Connected {
    /// The connection, closed when the socket is dropped.
    conn: Conn,
    /// The client's port (`None` for an accepted socket, which shares its
    /// listener's port). Declared after `conn`: the port is freed after the
    /// connection is closed.
    _lease: Option<PortLease>,
}

/// A guest's TCP socket.
pub struct TcpSocket {
    net: Arc<PodNetwork>,
    family: Family,
    pub(crate) state: State,
    pub(crate) in_progress: Option<Op>,
    backlog: usize,
    pub(crate) options: Options,
}

impl TcpSocket {
    /// A new unbound socket.
    pub fn new(net: Arc<PodNetwork>, family: Family) -> Self {
        Self {
            net,
            family,
            state: State::Unbound,
            in_progress: None,
            backlog: DEFAULT_BACKLOG,
            options: Options::default(),
        }
    }

    /// An accepted connection (already connected; the caller hands its
    /// streams to the guest). It inherits `options` from its listener.
    fn accepted(net: Arc<PodNetwork>, family: Family, conn: Conn, options: Options) -> Self {
        let mut s = Self::new(net, family);
        s.state = State::Connected(Connected { conn, _lease: None });
        s.options = options;
        s
    }

    pub(crate) fn family(&self) -> Family {
        self.family
    }

    fn begin(&self) -> Result<(), ErrorCode> {
        match self.in_progress {
            Some(_) => Err(ErrorCode::ConcurrencyConflict),
            None => Ok(()),
        }
    }

    fn finish(&mut self, op: Op) -> Result<(), ErrorCode> {
        if self.in_progress != Some(op) {
            return Err(ErrorCode::NotInProgress);
        }
        self.in_progress = None;
        Ok(())
    }

    /// `start-bind`.
    pub fn start_bind(&mut self, addr: SocketAddr) -> Result<(), ErrorCode> {
        self.begin()?;
        if !matches!(self.state, State::Unbound) {
            return Err(ErrorCode::InvalidState);
        }
        if Family::of(addr.ip()) != self.family {
            return Err(ErrorCode::InvalidArgument);
        }
        self.state = State::Bound(self.net.bind(Proto::Tcp, addr)?);
        self.in_progress = Some(Op::Bind);
        Ok(())
    }

    /// `finish-bind`.
    pub fn finish_bind(&mut self) -> Result<(), ErrorCode> {
        self.finish(Op::Bind)
    }

    /// `start-connect`: connects at once (or, while the listener's backlog
    /// is full, as soon as it has room); the outcome waits for
    /// `finish-connect`. Invalid or forbidden addresses fail here.
    pub fn start_connect(&mut self, remote: SocketAddr) -> Result<(), ErrorCode> {
        self.begin()?;
        if !matches!(self.state, State::Unbound | State::Bound(_)) {
            return Err(ErrorCode::InvalidState);
        }
        self.net.check_remote(self.family, remote)?;
        let local = match std::mem::replace(&mut self.state, State::Closed) {
            State::Bound(lease) => Some(lease),
            _ => None,
        };
        self.state = match self.net.dial(local, remote) {
            Ok(dial) => Self::dialed(dial.attempt()),
            Err(e) => State::Connecting(Err(e)),
        };
        self.in_progress = Some(Op::Connect);
        Ok(())
    }

    fn dialed(progress: Progress) -> State {
        match progress {
            Progress::Done(result) => State::Connecting(result),
            Progress::Waiting(dial) => State::Dialing(dial),
        }
    }

    /// `finish-connect`: the guest's ends of the connection; `would-block`
    /// while the listener's backlog is full.
    pub fn finish_connect(&mut self) -> Result<(PipeReader, PipeWriter), ErrorCode> {
        if self.in_progress == Some(Op::Connect)
            && let State::Dialing(_) = self.state
        {
            let State::Dialing(dial) = std::mem::replace(&mut self.state, State::Closed) else {
                unreachable!("checked above");
            };
            self.state = Self::dialed(dial.attempt());
            if let State::Dialing(_) = self.state {
                return Err(ErrorCode::WouldBlock);
            }
        }
        self.finish(Op::Connect)?;
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Connecting(Ok((conn, lease))) => {
                let streams = (conn.reader(), conn.writer());
                self.state = State::Connected(Connected {
                    conn,
                    _lease: Some(lease),
                });
                Ok(streams)
            }
            State::Connecting(Err(e)) => Err(e),
            _ => Err(ErrorCode::InvalidState),
        }
    }

    /// `start-listen` (WASI 0.2: the socket must be bound first).
    pub fn start_listen(&mut self) -> Result<(), ErrorCode> {
        self.begin()?;
        let State::Bound(_) = &self.state else {
            return Err(ErrorCode::InvalidState);
        };
        let State::Bound(lease) = std::mem::replace(&mut self.state, State::Closed) else {
            unreachable!("checked above");
        };
        let listener = self.net.listen(&lease, self.backlog);
        self.state = State::Listening { lease, listener };
        self.in_progress = Some(Op::Listen);
        Ok(())
    }

    /// `finish-listen`.
    pub fn finish_listen(&mut self) -> Result<(), ErrorCode> {
        self.finish(Op::Listen)
    }

    /// `accept`: the next queued connection as a new socket and its
    /// streams. The socket inherits this one's options (WIT `accept`).
    pub fn accept(&mut self) -> Result<(TcpSocket, PipeReader, PipeWriter), ErrorCode> {
        let State::Listening { listener, .. } = &self.state else {
            return Err(ErrorCode::InvalidState);
        };
        let conn = listener.try_accept().ok_or(ErrorCode::WouldBlock)?;
        let (reader, writer) = (conn.reader(), conn.writer());
        let options = self.options.clone();
        let socket = TcpSocket::accepted(self.net.clone(), self.family, conn, options);
        Ok((socket, reader, writer))
    }

    /// `local-address`.
    pub fn local_address(&self) -> Result<SocketAddr, ErrorCode> {
        match &self.state {
            State::Bound(lease) | State::Listening { lease, .. } => Ok(lease.addr()),
            State::Connecting(Ok((conn, _))) => Ok(conn.local),
            State::Dialing(dial) => Ok(dial.local()),
            State::Connected(c) => Ok(c.conn.local),
            _ => Err(ErrorCode::InvalidState),
        }
    }

    /// `remote-address`.
    pub fn remote_address(&self) -> Result<SocketAddr, ErrorCode> {
        match &self.state {
            State::Connected(c) => Ok(c.conn.remote),
            _ => Err(ErrorCode::InvalidState),
        }
    }

    /// `is-listening`.
    pub fn is_listening(&self) -> bool {
        matches!(self.state, State::Listening { .. })
    }

    /// `set-listen-backlog-size`.
    pub fn set_listen_backlog_size(&mut self, value: u64) -> Result<(), ErrorCode> {
        if value == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        // Linux clamps to net.core.somaxconn (4096 by default).
        let value = usize::try_from(value).unwrap_or(usize::MAX).min(4096);
        match &self.state {
            State::Unbound | State::Bound(_) => {}
            State::Listening { listener, .. } => listener.set_backlog(value),
            _ => return Err(ErrorCode::InvalidState),
        }
        self.backlog = value;
        Ok(())
    }

    /// `shutdown`: `receive` discards what is unread and ends reading;
    /// `send` is a FIN (the peer reads EOF after what was sent).
    pub fn shutdown(&mut self, receive: bool, send: bool) -> Result<(), ErrorCode> {
        let State::Connected(c) = &self.state else {
            return Err(ErrorCode::InvalidState);
        };
        c.conn.shutdown(receive, send);
        Ok(())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TcpSocket {
    async fn ready(&mut self) {
        // Bind and listen complete at once; `accept` waits for a
        // connection, `connect` for room in a full backlog.
        match (self.in_progress, &self.state) {
            (None, State::Listening { listener, .. }) => {
                std::future::poll_fn(|cx| listener.poll_ready(cx)).await;
            }
            (Some(Op::Connect), State::Dialing(dial)) => {
                std::future::poll_fn(|cx| dial.poll_ready(cx)).await;
            }
            _ => {}
        }
    }
}
