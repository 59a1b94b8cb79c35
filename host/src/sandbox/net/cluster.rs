//! [`ClusterNetwork`]: the network between a runtime's pods, in memory.
//!
//! Every pod that joins gets an IPv4 address from the pod CIDR (default
//! `10.244.0.0/16`; `.1` is the node, the source of connections the host
//! program opens). A pod reaches another on that address, on ports the
//! other bound to `0.0.0.0`, `::` (a dual-stack socket on Linux) or the pod
//! IP; a port bound to `127.0.0.1` stays private to its pod, as in
//! Kubernetes. Services have virtual IPs from the service CIDR (default
//! `10.96.0.0/12`): a connection or datagram to one goes to one of its
//! endpoints (kube-proxy's DNAT), round-robin or, with `ClientIP` affinity,
//! to the endpoint the client had; replies to a UDP client come from the
//! Service's address (conntrack). Which Services and endpoints exist, and
//! what names resolve to, the runtime answers through [`Directory`]. An
//! address outside both CIDRs is still `access-denied`: nothing leaves the
//! cluster, and no host socket is involved.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

use super::conn::Conn;
use super::lookup::{PodNames, Resolver};
use super::netns::{Fabric, PodNetwork, Proto};
use super::queue::Refusal;
use crate::sync::lock;

/// An IPv4 range in CIDR notation (`10.244.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    /// The range `base/prefix`; the base is masked to the prefix.
    ///
    /// # Errors
    /// A prefix over 30 (no room for pods) or under 8.
    pub fn new(base: Ipv4Addr, prefix: u8) -> Result<Self, String> {
        if !(8..=30).contains(&prefix) {
            return Err(format!(
                "{base}/{prefix}: the prefix length must be between 8 and 30"
            ));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Cidr {
            base: u32::from(base) & mask,
            prefix,
        })
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(ip) & mask == self.base
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(Ipv4Addr::from(other.base)) || other.contains(Ipv4Addr::from(self.base))
    }

    /// The number of addresses in the range.
    pub fn size(&self) -> u32 {
        1u32 << (32 - self.prefix)
    }

    /// The address `offset` into the range.
    pub fn nth(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(offset))
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s}: not in CIDR notation (ADDRESS/PREFIX)"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{s}: {ip} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("{s}: {prefix} is not a prefix length"))?;
        Cidr::new(ip, prefix)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// Where a Service sends one of its ports' traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backends {
    /// The ready endpoints' pod IP and target port (shared: the directory may keep
    /// them for the next connection).
    pub endpoints: Arc<[SocketAddr]>,
    /// `sessionAffinity: ClientIP` and its timeout.
    pub client_ip_affinity: Option<Duration>,
}

/// What the runtime knows of its Services and names: the cluster network
/// asks it at every connection, datagram and lookup, so that endpoints and
/// names are always current.
pub trait Directory: Send + Sync {
    /// The backends of the Service whose cluster IP is `ip`, for `proto`
    /// and `port`; `None` when no Service has that IP and port.
    fn backends(&self, ip: Ipv4Addr, proto: Proto, port: u16) -> Option<Backends>;
    /// The addresses of a fully qualified name (no trailing dot, lower
    /// case), `None` when the cluster has no such name.
    fn lookup(&self, fqdn: &str) -> Option<Vec<IpAddr>>;
}

/// The most UDP translations (and `ClientIP` affinity entries) kept; the
/// oldest go first.
const UDP_NAT_ENTRIES: usize = 65_536;

#[derive(Default)]
struct State {
    pods: HashMap<Ipv4Addr, Weak<PodNetwork>>,
    /// The offset the next pod IP is tried at.
    next_pod: u32,
    /// Service IPs in use.
    services: HashMap<Ipv4Addr, ()>,
    next_service: u32,
    /// The last source port of a connection from the node.
    node_ports: u32,
    /// Round-robin cursors, by Service IP and port.
    cursors: HashMap<(Ipv4Addr, u16), usize>,
    /// `ClientIP` affinity: (Service IP, port, client) → endpoint, last use.
    affinity: HashMap<(Ipv4Addr, u16, IpAddr), (SocketAddr, Instant)>,
    /// UDP translations: (client, endpoint) → the Service address the
    /// client sent to; replies from the endpoint come from it.
    udp_nat: HashMap<(SocketAddr, SocketAddr), SocketAddr>,
    udp_nat_order: VecDeque<(SocketAddr, SocketAddr)>,
}

/// The network of one runtime's pods (see the module documentation).
pub struct ClusterNetwork {
    pod_cidr: Cidr,
    service_cidr: Cidr,
    state: Mutex<State>,
    directory: RwLock<Option<Weak<dyn Directory>>>,
}

impl std::fmt::Debug for ClusterNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNetwork")
            .field("pod_cidr", &self.pod_cidr)
            .field("service_cidr", &self.service_cidr)
            .finish()
    }
}

/// The default pod CIDR, as kubeadm's flannel and kind use.
pub const DEFAULT_POD_CIDR: &str = "10.244.0.0/16";
/// The default service CIDR, as kubeadm uses.
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";

impl ClusterNetwork {
    /// A cluster network with these ranges.
    ///
    /// # Errors
    /// When the ranges overlap.
    pub fn new(pod_cidr: Cidr, service_cidr: Cidr) -> Result<Arc<Self>, String> {
        if pod_cidr.overlaps(&service_cidr) {
            return Err(format!(
                "the pod CIDR {pod_cidr} and the service CIDR {service_cidr} overlap"
            ));
        }
        Ok(Arc::new(ClusterNetwork {
            pod_cidr,
            service_cidr,
            state: Mutex::default(),
            directory: RwLock::new(None),
        }))
    }

    /// The pod CIDR.
    pub fn pod_cidr(&self) -> Cidr {
        self.pod_cidr
    }

    /// The service CIDR.
    pub fn service_cidr(&self) -> Cidr {
        self.service_cidr
    }

    /// The node's address: the source of connections from the host program.
    pub fn node_ip(&self) -> Ipv4Addr {
        self.pod_cidr.nth(1)
    }

    /// Sets who answers for Services and names.
    pub fn set_directory(&self, directory: Weak<dyn Directory>) {
        *self.directory.write().unwrap_or_else(|e| e.into_inner()) = Some(directory);
    }

    fn directory(&self) -> Option<Arc<dyn Directory>> {
        self.directory
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(Weak::upgrade)
    }

    /// Takes a free pod IP; it is the pod's once its network
    /// (`Reservation::join`) is made, and free again when that is dropped
    /// (or the reservation is, unused). `None` when the pod CIDR is exhausted.
    pub fn reserve(self: &Arc<Self>) -> Option<Reservation> {
        let mut s = lock(&self.state);
        // Network, node (.1) and broadcast addresses are never a pod's.
        let usable = self.pod_cidr.size() - 3;
        for _ in 0..usable {
            let offset = 2 + s.next_pod % usable;
            s.next_pod = s.next_pod.wrapping_add(1);
            let ip = self.pod_cidr.nth(offset);
            if s.pods.contains_key(&ip) {
                continue;
            }
            // Taken (by a placeholder) until the pod's network replaces it.
            s.pods.insert(ip, Weak::new());
            return Some(Reservation {
                ip,
                network: self.clone(),
                used: false,
            });
        }
        None
    }

    /// Frees a pod IP (its network or its unused reservation was dropped).
    fn detach(&self, ip: Ipv4Addr) {
        lock(&self.state).pods.remove(&ip);
    }

    /// The pod network at `ip`, if a pod has it.
    pub fn pod(&self, ip: Ipv4Addr) -> Option<Arc<PodNetwork>> {
        lock(&self.state).pods.get(&ip).and_then(Weak::upgrade)
    }

    /// Takes a Service IP: `requested` if given (it must be in the service
    /// CIDR and free), else the next free one.
    ///
    /// # Errors
    /// The message for `spec.clusterIP`.
    pub fn allocate_service_ip(&self, requested: Option<Ipv4Addr>) -> Result<Ipv4Addr, String> {
        let mut s = lock(&self.state);
        if let Some(ip) = requested {
            if !self.service_cidr.contains(ip) {
                return Err(format!(
                    "Invalid value: \"{ip}\": provided IP is not in the valid range. The range of valid IPs is {}",
                    self.service_cidr
                ));
            }
            if s.services.contains_key(&ip) {
                return Err(format!(
                    "Invalid value: \"{ip}\": provided IP is already allocated"
                ));
            }
            s.services.insert(ip, ());
            return Ok(ip);
        }
        // .0 is the network; .1 is `kubernetes.default`'s in a real cluster.
        let usable = self.service_cidr.size() - 3;
        for _ in 0..usable {
            let ip = self.service_cidr.nth(2 + s.next_service % usable);
            s.next_service = s.next_service.wrapping_add(1);
            if let std::collections::hash_map::Entry::Vacant(e) = s.services.entry(ip) {
                e.insert(());
                return Ok(ip);
            }
        }
        Err(format!(
            "Internal error: failed to allocate a serviceIP: range is full ({})",
            self.service_cidr
        ))
    }

    /// Frees a Service IP.
    pub fn release_service_ip(&self, ip: Ipv4Addr) {
        let mut s = lock(&self.state);
        s.services.remove(&ip);
        s.cursors.retain(|(svc, _), _| *svc != ip);
        s.affinity.retain(|(svc, _, _), _| *svc != ip);
    }

    /// Whether a pod may send to `ip`: an address in one of the ranges.
    pub fn routes(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.pod_cidr.contains(v4) || self.service_cidr.contains(v4),
            IpAddr::V6(_) => false,
        }
    }

    /// Opens a TCP connection from the node (the host program) to `dst`: a
    /// pod IP or a Service's address. Nothing waits for a listener.
    ///
    /// # Errors
    /// As [`route`](Self::route); `connection-refused` when nothing listens
    /// there or its backlog is full.
    pub fn connect(&self, dst: SocketAddr) -> Result<Conn, ErrorCode> {
        let port = {
            let mut s = lock(&self.state);
            s.node_ports = s.node_ports.wrapping_add(1);
            u16::try_from(32768 + s.node_ports % 28232).unwrap_or(32768)
        };
        let client = SocketAddr::new(self.node_ip().into(), port);
        let (net, target) = self.route(Proto::Tcp, client, dst)?;
        let listener = net
            .listener_at(target)
            .ok_or(ErrorCode::ConnectionRefused)?;
        let mut ours = None;
        let queued = listener.enqueue(|| {
            let (c, s) = Conn::pair_translated(client, dst, target);
            ours = Some(c);
            s
        });
        match (queued, ours) {
            (Ok(()), Some(c)) => Ok(c),
            (Err(Refusal::Full | Refusal::Closed), _) | (Ok(()), None) => {
                Err(ErrorCode::ConnectionRefused)
            }
        }
    }

    /// Where a connection or datagram from `client` to `dst` goes: the pod
    /// network and the address in it (a Service's address translated to
    /// one of its endpoints).
    ///
    /// # Errors
    /// `connection-refused` for a Service with no ready endpoint (kube-proxy
    /// rejects those), `remote-unreachable` for an address nobody has,
    /// `access-denied` outside the cluster's ranges.
    pub fn route(
        &self,
        proto: Proto,
        client: SocketAddr,
        dst: SocketAddr,
    ) -> Result<(Arc<PodNetwork>, SocketAddr), ErrorCode> {
        let IpAddr::V4(ip) = dst.ip() else {
            return Err(ErrorCode::AccessDenied);
        };
        let target = if self.service_cidr.contains(ip) {
            let backends = self
                .directory()
                .and_then(|d| d.backends(ip, proto, dst.port()))
                .ok_or(ErrorCode::RemoteUnreachable)?;
            let target = self
                .pick(ip, dst.port(), client.ip(), &backends)
                .ok_or(ErrorCode::ConnectionRefused)?;
            if proto == Proto::Udp {
                self.remember_udp(client, target, dst);
            }
            target
        } else if self.pod_cidr.contains(ip) {
            dst
        } else {
            return Err(ErrorCode::AccessDenied);
        };
        let IpAddr::V4(pod_ip) = target.ip() else {
            return Err(ErrorCode::RemoteUnreachable);
        };
        let net = self.pod(pod_ip).ok_or(ErrorCode::RemoteUnreachable)?;
        Ok((net, target))
    }

    /// The source a UDP reply from `from` to `to` shows: the Service's
    /// address when `to` sent to the Service and reached `from`.
    pub fn reply_source(&self, from: SocketAddr, to: SocketAddr) -> SocketAddr {
        lock(&self.state)
            .udp_nat
            .get(&(to, from))
            .copied()
            .unwrap_or(from)
    }

    fn remember_udp(&self, client: SocketAddr, endpoint: SocketAddr, service: SocketAddr) {
        let mut s = lock(&self.state);
        if s.udp_nat.insert((client, endpoint), service).is_none() {
            s.udp_nat_order.push_back((client, endpoint));
            while s.udp_nat_order.len() > UDP_NAT_ENTRIES {
                if let Some(old) = s.udp_nat_order.pop_front() {
                    s.udp_nat.remove(&old);
                }
            }
        }
    }

    /// One endpoint of a Service for `client`.
    fn pick(
        &self,
        svc: Ipv4Addr,
        port: u16,
        client: IpAddr,
        backends: &Backends,
    ) -> Option<SocketAddr> {
        if backends.endpoints.is_empty() {
            return None;
        }
        let mut s = lock(&self.state);
        let now = Instant::now();
        if let Some(timeout) = backends.client_ip_affinity
            && let Some((ep, used)) = s.affinity.get_mut(&(svc, port, client))
            && now.duration_since(*used) < timeout
            && backends.endpoints.contains(ep)
        {
            *used = now;
            return Some(*ep);
        }
        let cursor = s.cursors.entry((svc, port)).or_default();
        let ep = backends.endpoints[*cursor % backends.endpoints.len()];
        *cursor = cursor.wrapping_add(1);
        if backends.client_ip_affinity.is_some() {
            if s.affinity.len() >= UDP_NAT_ENTRIES {
                s.affinity.clear();
            }
            s.affinity.insert((svc, port, client), (ep, now));
        }
        Some(ep)
    }

    /// The addresses `name` has for a `ClusterFirst` pod in `namespace`
    /// ([`Resolver::cluster_first`]).
    pub fn lookup(&self, namespace: &str, name: &str) -> Option<Vec<IpAddr>> {
        self.resolve(&Resolver::cluster_first(namespace), name)
    }

    /// The addresses `name` has for a pod whose resolver is `resolver`: the
    /// first of its candidates the cluster's DNS knows.
    pub fn resolve(&self, resolver: &Resolver, name: &str) -> Option<Vec<IpAddr>> {
        if !resolver.asks_cluster() {
            return None;
        }
        let directory = self.directory()?;
        resolver
            .candidates(name)
            .into_iter()
            .find_map(|fqdn| directory.lookup(&fqdn))
    }
}

impl Fabric for ClusterNetwork {
    fn routes(&self, ip: IpAddr) -> bool {
        ClusterNetwork::routes(self, ip)
    }

    fn route(
        &self,
        proto: Proto,
        client: SocketAddr,
        dst: SocketAddr,
    ) -> Result<(Arc<PodNetwork>, SocketAddr), ErrorCode> {
        ClusterNetwork::route(self, proto, client, dst)
    }

    fn reply_source(&self, from: SocketAddr, to: SocketAddr) -> SocketAddr {
        ClusterNetwork::reply_source(self, from, to)
    }

    fn resolve(&self, resolver: &Resolver, name: &str) -> Option<Vec<IpAddr>> {
        ClusterNetwork::resolve(self, resolver, name)
    }

    fn release(&self, ip: Ipv4Addr) {
        self.detach(ip);
    }
}

/// A pod IP taken for a pod being created (see [`ClusterNetwork::reserve`]).
#[derive(Debug)]
pub struct Reservation {
    ip: Ipv4Addr,
    network: Arc<ClusterNetwork>,
    used: bool,
}

impl Reservation {
    /// The reserved IP.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The pod's network namespace, with the reserved IP, for a pod of
    /// `namespace` whose names are `names`; the IP is free again when it is
    /// dropped.
    pub fn join(mut self, names: PodNames, namespace: impl Into<String>) -> Arc<PodNetwork> {
        self.used = true;
        let fabric: Arc<dyn Fabric> = self.network.clone();
        let net = PodNetwork::in_cluster(fabric, self.ip, names, namespace.into());
        lock(&self.network.state)
            .pods
            .insert(self.ip, Arc::downgrade(&net));
        net
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.used {
            self.network.detach(self.ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_contain_and_overlap() {
        let pods: Cidr = "10.244.0.0/16".parse().unwrap();
        let svcs: Cidr = "10.96.0.0/12".parse().unwrap();
        assert!(pods.contains(Ipv4Addr::new(10, 244, 3, 4)));
        assert!(!pods.contains(Ipv4Addr::new(10, 245, 0, 1)));
        assert!(!pods.overlaps(&svcs));
        assert!("10.0.0.0/8".parse::<Cidr>().unwrap().overlaps(&svcs));
        assert!("10.0.0.0".parse::<Cidr>().unwrap_err().contains("CIDR"));
        assert!("10.0.0.0/31".parse::<Cidr>().is_err());
        assert!(ClusterNetwork::new(pods, "10.244.128.0/17".parse().unwrap()).is_err());
    }

    #[test]
    fn service_ips_come_from_the_range_and_are_not_given_twice() {
        let c = ClusterNetwork::new(
            DEFAULT_POD_CIDR.parse().unwrap(),
            "10.96.0.0/28".parse().unwrap(),
        )
        .unwrap();
        let a = c.allocate_service_ip(None).unwrap();
        assert_eq!(a, Ipv4Addr::new(10, 96, 0, 2));
        let err = c.allocate_service_ip(Some(a)).unwrap_err();
        assert!(err.contains("already allocated"), "{err}");
        let err = c
            .allocate_service_ip(Some(Ipv4Addr::new(10, 97, 0, 1)))
            .unwrap_err();
        assert!(err.contains("not in the valid range"), "{err}");
        let got: Vec<_> = (0..12).map(|_| c.allocate_service_ip(None)).collect();
        assert!(got.iter().all(Result::is_ok), "{got:?}");
        assert!(
            c.allocate_service_ip(None)
                .unwrap_err()
                .contains("range is full")
        );
        c.release_service_ip(a);
        assert_eq!(c.allocate_service_ip(None).unwrap(), a);
    }
}
