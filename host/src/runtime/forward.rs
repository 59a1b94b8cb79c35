//! Host ports forwarded into the cluster network: what `type: NodePort` and
//! `LoadBalancer` Services open (as k3s's service load balancer does on a
//! node) and `wasmpod run -p HOST_PORT:svc/NAME:PORT` asks for. These are the
//! only host sockets a cluster has.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use tokio::net::TcpListener;

use super::cluster::Cluster;
use crate::plan::service as svc_plan;
use crate::sandbox::{ClusterNetwork, PodStream};

/// A host listener forwarding each connection to an address of the cluster network
/// (a Service's cluster IP and port, or a pod IP and port). Dropping it closes the
/// listener; connections already forwarded go on.
#[derive(Debug)]
pub struct Forward {
    local: SocketAddr,
    target: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Forward {
    /// The host address listened on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The cluster address connections go to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The host ports a Service opens: each port's `nodePort` for `NodePort`, its `port`
/// for `LoadBalancer` (on `127.0.0.1`), with the cluster address it forwards to.
fn service_host_ports(svc: &Service) -> Vec<(SocketAddr, SocketAddr)> {
    let Some(ip) = svc_plan::cluster_ip(svc) else {
        return Vec::new();
    };
    let Some(spec) = &svc.spec else {
        return Vec::new();
    };
    let lb = match spec.type_.as_deref() {
        Some("LoadBalancer") => true,
        Some("NodePort") => false,
        _ => return Vec::new(),
    };
    spec.ports
        .iter()
        .flatten()
        .filter(|p| svc_plan::protocol(p) == "TCP")
        .filter_map(|p| {
            let host = if lb { p.port } else { p.node_port? };
            let host = u16::try_from(host).ok()?;
            let port = u16::try_from(p.port).ok()?;
            Some((
                SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), host),
                SocketAddr::new(ip.into(), port),
            ))
        })
        .collect()
}

impl Cluster {
    /// Listens on the host address `host` and forwards every connection to `target` in
    /// the cluster network (a Service's cluster IP and port, or a pod IP and port) while
    /// the returned [`Forward`] lives. A connection nothing answers is closed at once.
    ///
    /// ```no_run
    /// # async fn demo(runtime: &wasmpod::Runtime) -> std::io::Result<()> {
    /// let forward = runtime
    ///     .cluster()
    ///     .forward("127.0.0.1:8080".parse().unwrap(), "10.96.0.10:80".parse().unwrap())
    ///     .await?;
    /// println!("http://{}/", forward.local_addr());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the host address cannot be bound.
    pub async fn forward(&self, host: SocketAddr, target: SocketAddr) -> io::Result<Forward> {
        let listener = TcpListener::bind(host).await?;
        let local = listener.local_addr()?;
        let network: Arc<ClusterNetwork> = self.network.clone();
        let task = tokio::spawn(async move {
            loop {
                let (mut outside, _) = match listener.accept().await {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::debug!("forward {local}: accept failed: {e}");
                        continue;
                    }
                };
                if let Ok(conn) = network.connect(target) {
                    tokio::spawn(async move {
                        let mut inside = PodStream::accepted(conn);
                        let _ = tokio::io::copy_bidirectional(&mut outside, &mut inside).await;
                    });
                }
            }
        });
        Ok(Forward {
            local,
            target,
            task,
        })
    }

    /// Opens the host ports of every `NodePort` and `LoadBalancer` Service (see
    /// [`forward`](Self::forward)); each with its outcome (a host port may be taken).
    pub async fn open_service_ports(&self) -> Vec<(String, io::Result<Forward>)> {
        let mut out = Vec::new();
        for svc in self.services() {
            let name = format!(
                "service/{}",
                svc.metadata.name.as_deref().unwrap_or_default()
            );
            for (host, target) in service_host_ports(&svc) {
                out.push((
                    format!("{name}: {host} -> {target}"),
                    self.forward(host, target).await,
                ));
            }
        }
        out
    }
}
