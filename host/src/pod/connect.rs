//! Reaching a pod's ports from the embedding program. A pod's ports are in
//! its own in-memory network (see [`crate::sandbox::net`]), not on the
//! host: [`PodHandle::connect`] opens a connection into it, and
//! [`PodHandle::publish`] forwards a host port to a pod port, as
//! `kubectl port-forward` does. That is the only way a host socket exists
//! for a pod: the `wasmpod` CLI publishes `ports[].hostPort` and its
//! `-p [HOST_IP:]HOST_PORT:CONTAINER_PORT` flags with it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;

use super::PodHandle;
use crate::sandbox::PodStream;
use crate::sandbox::net::netns::{Family, Proto};

/// A transport protocol of the pod's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl PodHandle {
    /// Opens a TCP connection to `port` on the pod's loopback, as a client
    /// inside the pod would (`127.0.0.1`, else `::1`). No host socket is
    /// involved. Nothing waits for a listener: retry while the server starts.
    ///
    /// ```no_run
    /// # async fn demo(pod: &wasmpod::PodHandle) -> std::io::Result<()> {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// let mut stream = pod.connect(8080).await?;
    /// stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
    /// let mut response = Vec::new();
    /// stream.read_to_end(&mut response).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// `ConnectionRefused` when nothing in the pod listens on `port` (or
    /// its listener's backlog is full); `InvalidInput` for port 0.
    pub async fn connect(&self, port: u16) -> io::Result<PodStream> {
        PodStream::connect(&self.network, port)
    }

    /// The ports something in the pod has bound for `protocol`, on IPv4 or IPv6, sorted:
    /// what `ss -lntu` would show inside the pod (and nothing of the host's).
    pub fn bound_ports(&self, protocol: Protocol) -> Vec<u16> {
        let proto = match protocol {
            Protocol::Tcp => Proto::Tcp,
            Protocol::Udp => Proto::Udp,
        };
        let mut ports = self.network.bound_ports(proto, Family::V4);
        ports.extend(self.network.bound_ports(proto, Family::V6));
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// Listens on the host address `host` and forwards every connection to
    /// `port` in the pod, until the pod ends. A connection made while
    /// nothing in the pod listens is closed at once. Returns the address
    /// listened on (useful with port 0).
    ///
    /// # Errors
    /// When the host address cannot be bound.
    pub async fn publish(&self, host: SocketAddr, port: u16) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(host).await?;
        let local = listener.local_addr()?;
        let net = self.network.clone();
        let mut done = self.done.clone();
        tokio::spawn(async move {
            loop {
                let (mut outside, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::debug!("publish {local}: accept failed: {e}");
                            continue;
                        }
                    },
                    _ = done.wait_for(Option::is_some) => return,
                };
                let net = net.clone();
                tokio::spawn(async move {
                    if let Ok(mut inside) = PodStream::connect(&net, port) {
                        let _ = tokio::io::copy_bidirectional(&mut outside, &mut inside).await;
                    }
                });
            }
        });
        Ok(local)
    }

    /// [`publish`](Self::publish)es every `ports[].hostPort` the pod's
    /// containers declare, on `hostIP` (default `127.0.0.1`), to their
    /// `containerPort`. The `wasmpod` CLI calls this; an embedding program
    /// decides for itself (tests usually use [`connect`](Self::connect)).
    /// Returns each forward with its outcome (a host port may be taken).
    pub async fn publish_host_ports(&self) -> Vec<(String, io::Result<SocketAddr>)> {
        let pod = self.pod();
        let mut forwards: Vec<(SocketAddr, u16)> = Vec::new();
        for p in pod
            .spec
            .iter()
            .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
            .flat_map(|c| c.ports.iter().flatten())
            .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        {
            let (Some(host_port), Ok(port)) = (p.host_port, u16::try_from(p.container_port)) else {
                continue;
            };
            let Ok(host_port) = u16::try_from(host_port) else {
                continue;
            };
            let ip = p
                .host_ip
                .as_deref()
                .and_then(|ip| ip.parse().ok())
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            let host = SocketAddr::new(ip, host_port);
            if !forwards.contains(&(host, port)) {
                forwards.push((host, port));
            }
        }
        let mut out = Vec::new();
        for (host, port) in forwards {
            out.push((format!("{host} -> {port}"), self.publish(host, port).await));
        }
        out
    }
}
