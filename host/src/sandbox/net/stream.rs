//! [`PodStream`]: a connection into a pod's network from the host side,
//! made by [`PodHandle::connect`](crate::PodHandle::connect). It is an
//! ordinary client of the pod's loopback (it takes an ephemeral port, like
//! a container's `connect`), only its ends are polled by a tokio task
//! instead of a guest; no host socket is involved.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

use super::netns::{Conn, PodNetwork, PortLease};
use super::pipe::{ReadOutcome, WriteError};

/// A TCP connection from the host into a pod: [`AsyncRead`] +
/// [`AsyncWrite`]. `shutdown` sends EOF; dropping it closes the connection
/// as closing a socket does.
pub struct PodStream {
    conn: Conn,
    /// The client's ephemeral port; `None` for an accepted connection,
    /// whose port is its listener's.
    _lease: Option<PortLease>,
}

impl std::fmt::Debug for PodStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodStream")
            .field("local", &self.conn.local)
            .field("remote", &self.conn.remote)
            .finish()
    }
}

impl PodStream {
    /// Connects to `port` on the pod's loopback: `127.0.0.1`, else `::1`.
    ///
    /// # Errors
    /// `ConnectionRefused` when nothing in the pod listens on `port` (or
    /// its backlog is full); `InvalidInput` for port 0.
    pub fn connect(net: &Arc<PodNetwork>, port: u16) -> io::Result<PodStream> {
        let mut last = ErrorCode::ConnectionRefused;
        for ip in [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()] {
            match net.connect(None, SocketAddr::new(ip, port)) {
                Ok((conn, lease)) => return Ok(Self::new(conn, lease)),
                Err(e) => last = e,
            }
        }
        Err(io_error(last))
    }

    /// Connects from the pod to `addr`: its loopback, or in a cluster another
    /// pod's IP or a Service's address, as a guest's `connect` would.
    ///
    /// # Errors
    /// As a guest's `connect`: `ConnectionRefused`, or `PermissionDenied` for an
    /// address outside the cluster.
    pub fn connect_addr(net: &Arc<PodNetwork>, addr: SocketAddr) -> io::Result<PodStream> {
        let (conn, lease) = net.connect(None, addr).map_err(io_error)?;
        Ok(Self::new(conn, lease))
    }

    fn new(conn: Conn, lease: PortLease) -> Self {
        Self {
            conn,
            _lease: Some(lease),
        }
    }

    /// The server's end of a connection a host-side listener accepted, or the
    /// client's end of one the node opened into the cluster.
    pub(crate) fn accepted(conn: Conn) -> Self {
        Self { conn, _lease: None }
    }

    /// This end's address in the pod (`127.0.0.1:<ephemeral>`).
    pub fn local_addr(&self) -> SocketAddr {
        self.conn.local
    }

    /// The address connected to (`127.0.0.1:<port>`).
    pub fn peer_addr(&self) -> SocketAddr {
        self.conn.remote
    }
}

/// The `io::Error` for a socket error code.
pub fn io_error(code: ErrorCode) -> io::Error {
    let kind = match code {
        ErrorCode::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        ErrorCode::ConnectionReset => io::ErrorKind::ConnectionReset,
        ErrorCode::InvalidArgument => io::ErrorKind::InvalidInput,
        ErrorCode::AddressInUse => io::ErrorKind::AddrInUse,
        ErrorCode::AccessDenied => io::ErrorKind::PermissionDenied,
        ErrorCode::AddressNotBindable => io::ErrorKind::AddrNotAvailable,
        _ => return io::Error::other(format!("{code:?}")),
    };
    io::Error::from(kind)
}

impl AsyncRead for PodStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let pipe = self.conn.rx();
        loop {
            match pipe.try_read(buf.remaining()) {
                ReadOutcome::Data(d) => {
                    buf.put_slice(&d);
                    return Poll::Ready(Ok(()));
                }
                ReadOutcome::Eof => return Poll::Ready(Ok(())),
                ReadOutcome::Reset => {
                    return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
                }
                ReadOutcome::WouldBlock => ready!(pipe.poll_read_ready(cx)),
            }
        }
    }
}

impl AsyncWrite for PodStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let pipe = self.conn.tx();
        loop {
            match pipe.write(data) {
                Ok(0) if !data.is_empty() => ready!(pipe.poll_write_ready(cx)),
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(WriteError::Closed) => {
                    return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
                }
                Err(WriteError::Reset) => {
                    return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.shutdown(false, true);
        Poll::Ready(Ok(()))
    }
}
