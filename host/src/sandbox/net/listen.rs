//! [`PodListener`]: a TCP listener the host owns inside a pod's network.
//!
//! It takes a port in the pod's tables exactly as a guest's listening socket
//! does (so a guest binding the same port gets `address-in-use`, and a
//! sibling's `connect`, a probe or a forward reaches it), only its accepted
//! connections are [`PodStream`]s polled by host tasks. No host socket is
//! involved. Dropping it frees the port and resets connections still queued.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use super::netns::{Listener, PodNetwork, PortLease, Proto};
use super::stream::{PodStream, io_error};

/// A host-owned listener bound in a pod's network.
pub struct PodListener {
    listener: Arc<Listener>,
    lease: PortLease,
}

impl std::fmt::Debug for PodListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodListener")
            .field("addr", &self.lease.addr())
            .finish()
    }
}

impl PodListener {
    /// Binds `addr` in `net` (a loopback or unspecified address) and listens
    /// with room for `backlog` unaccepted connections.
    ///
    /// # Errors
    /// `AddrInUse` when the port is taken in the pod; `AddrNotAvailable` for
    /// an address the pod does not have; `InvalidInput` for a multicast or
    /// broadcast address.
    pub fn bind(net: &Arc<PodNetwork>, addr: SocketAddr, backlog: usize) -> io::Result<Self> {
        let lease = net.bind(Proto::Tcp, addr).map_err(io_error)?;
        let listener = net.listen(&lease, backlog);
        Ok(Self { listener, lease })
    }

    /// The address as bound (`0.0.0.0:8080` stays `0.0.0.0:8080`).
    pub fn local_addr(&self) -> SocketAddr {
        self.lease.addr()
    }

    /// The next connection, waiting for one. Cancel-safe: a connection is
    /// only taken from the backlog when it is returned. (The listener closes
    /// only when its port is released, which this value owns, so there is
    /// no error to report.)
    pub async fn accept(&self) -> PodStream {
        loop {
            if let Some(conn) = self.listener.try_accept() {
                return PodStream::accepted(conn);
            }
            std::future::poll_fn(|cx| self.listener.poll_ready(cx)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn a_host_listener_takes_the_port_and_accepts_pod_streams() {
        let net = PodNetwork::new("pod");
        let listener = PodListener::bind(&net, "0.0.0.0:8080".parse().unwrap(), 4).unwrap();
        assert_eq!(listener.local_addr(), "0.0.0.0:8080".parse().unwrap());
        // The port is the pod's: a second bind of it is refused.
        let again = PodListener::bind(&net, "127.0.0.1:8080".parse().unwrap(), 4).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AddrInUse);
        let mut client = PodStream::connect(&net, 8080).unwrap();
        client.write_all(b"ping").await.unwrap();
        let mut server = listener.accept().await;
        let mut buf = [0; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        // Dropping the listener frees the port: connecting is refused.
        drop(listener);
        let refused = PodStream::connect(&net, 8080).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
    }
}
