//! [`PodNetwork`]: one pod's network namespace, in memory.
//!
//! A pod has a loopback interface and nothing else. Every address a guest
//! can bind (`127.0.0.0/8`, `::1`, `0.0.0.0`, `::`) means that loopback, so
//! the port tables are keyed by protocol, address family and port only:
//! binding `0.0.0.0:8080` and then `127.0.0.1:8080` is `address-in-use`, as
//! is a second listener on 8080 in another container of the pod. IPv4 and
//! IPv6 have separate tables (WASI sockets are IPv6-only, there is no
//! dual-stack), so `127.0.0.1:8080` and `[::1]:8080` are different sockets.
//! Binding any other address is `address-not-bindable` (the pod does not
//! have it, EADDRNOTAVAIL); connecting or sending to one is
//! `access-denied`: nothing outside the pod is reachable.
//!
//! * A **bound port** is a [`PortLease`]; dropping the lease (the socket
//!   was dropped, or the container's store was) frees the port at once, so
//!   a restarted container can bind it again (there is no TIME_WAIT).
//! * A **listener** owns a backlog queue. A dial builds the connection
//!   (both pipes) as soon as the backlog has room (backlog + 1 entries, as
//!   Linux), queues the server's end and hands the client its end, so the
//!   client can write before the server accepts; while the backlog is full
//!   it waits (see [`Dial`]). A port nobody listens on is
//!   `connection-refused`. A listener closed with connections still queued
//!   resets them.
//! * **UDP**: a bound UDP port has a [`Mailbox`]; a datagram sent to it is
//!   queued whole (boundaries are kept). As in the kernel, a datagram to a
//!   port nobody has bound, or to a full mailbox, is silently dropped.
//! * **Ephemeral ports** (port 0 and the implicit bind of `connect`) come
//!   from 32768–60999, Linux's default range, round-robin.
//!
//! * **In a cluster** ([`PodNetwork::join`]) the pod also has an IP from
//!   the cluster network's pod CIDR: it can bind it, and other pods reach
//!   its ports bound to the unspecified address or to that IP (an IPv4
//!   connection also reaches a `::` listener, as a dual-stack socket would);
//!   a port bound to loopback stays private. Addresses of other pods and
//!   Services are routed through the cluster network.
//!
//! Nothing here opens a host socket: a pod's ports never appear on the host.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

pub use super::address::{Family, Proto, check_local, check_remote};
pub use super::conn::Conn;
pub use super::dial::{Dial, Progress};
use super::lookup::{PodNames, Resolver};
pub use super::queue::{Datagram, Listener, Mailbox};
use crate::sync::lock;

/// The first and last ephemeral port (Linux's `ip_local_port_range`).
pub const EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);
/// The backlog of a listener whose guest did not choose one.
pub const DEFAULT_BACKLOG: usize = 128;

type Key = (Proto, Family, u16);

enum Kind {
    Bound,
    Listening(Arc<Listener>),
    Udp(Arc<Mailbox>),
}

struct Entry {
    id: u64,
    kind: Kind,
    /// The address bound: who may reach the port (see [`reaches`]).
    ip: IpAddr,
}

/// Whether traffic to `dst` reaches a port bound to `bound`: an unspecified
/// bind takes everything, a loopback bind only loopback traffic, a bind to
/// the pod IP traffic to it.
fn reaches(bound: IpAddr, dst: IpAddr) -> bool {
    bound.is_unspecified() || (bound.is_loopback() && dst.is_loopback()) || bound == dst
}

#[derive(Default)]
struct Tables {
    ports: HashMap<Key, Entry>,
    next_id: u64,
    cursors: HashMap<(Proto, Family), u16>,
}

impl Tables {
    /// Claims `port` (0: an ephemeral one) for `kind`.
    fn claim(
        &mut self,
        proto: Proto,
        family: Family,
        port: u16,
        kind: Kind,
        ip: IpAddr,
    ) -> Result<Key, ErrorCode> {
        let port = if port == 0 {
            self.ephemeral(proto, family)?
        } else if self.ports.contains_key(&(proto, family, port)) {
            return Err(ErrorCode::AddressInUse);
        } else {
            port
        };
        let key = (proto, family, port);
        self.next_id += 1;
        self.ports.insert(
            key,
            Entry {
                id: self.next_id,
                kind,
                ip,
            },
        );
        Ok(key)
    }

    fn ephemeral(&mut self, proto: Proto, family: Family) -> Result<u16, ErrorCode> {
        let (first, last) = EPHEMERAL_PORTS;
        let cursor = self.cursors.entry((proto, family)).or_insert(first);
        for _ in first..=last {
            let port = *cursor;
            *cursor = if port >= last { first } else { port + 1 };
            if !self.ports.contains_key(&(proto, family, port)) {
                return Ok(port);
            }
        }
        Err(ErrorCode::AddressInUse)
    }
}

/// One pod's network namespace. Shared (`Arc`) by every container of the
/// pod and by [`PodHandle::connect`](crate::PodHandle::connect).
pub struct PodNetwork {
    names: PodNames,
    tables: Mutex<Tables>,
    /// The pod's place in a cluster network, if it joined one.
    cluster: Option<Member>,
}

/// What a pod network needs from the cluster network it joined (which is
/// [`ClusterNetwork`](super::cluster::ClusterNetwork)): where traffic to an
/// address outside the pod goes, names, and its IP back when it ends.
pub trait Fabric: Send + Sync {
    /// Whether a pod may send to `ip` (an address of the cluster's ranges).
    fn routes(&self, ip: IpAddr) -> bool;
    /// The pod network and address that traffic from `client` to `dst` reaches.
    ///
    /// # Errors
    /// `connection-refused` (a Service without a ready endpoint),
    /// `remote-unreachable`, `access-denied`.
    fn route(
        &self,
        proto: Proto,
        client: SocketAddr,
        dst: SocketAddr,
    ) -> Result<(Arc<PodNetwork>, SocketAddr), ErrorCode>;
    /// The source a UDP datagram from `from` to `to` shows (a Service's
    /// address for a reply to a client of it).
    fn reply_source(&self, from: SocketAddr, to: SocketAddr) -> SocketAddr;
    /// What `name` resolves to for a pod whose resolver is `resolver`.
    fn resolve(&self, resolver: &Resolver, name: &str) -> Option<Vec<IpAddr>>;
    /// Frees the pod IP `ip` (its pod network was dropped).
    fn release(&self, ip: Ipv4Addr);
}

/// A pod's address in a cluster network.
struct Member {
    ip: Ipv4Addr,
    namespace: String,
    network: Arc<dyn Fabric>,
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        if let Some(m) = &self.cluster {
            m.network.release(m.ip);
        }
    }
}

impl std::fmt::Debug for PodNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodNetwork")
            .field("hostname", &self.names.hostname())
            .field("ports", &lock(&self.tables).ports.len())
            .finish()
    }
}

impl PodNetwork {
    /// A new, empty namespace for the pod whose hostname is `hostname`.
    pub fn new(hostname: impl Into<String>) -> Arc<Self> {
        Self::with_names(PodNames::new(hostname))
    }

    /// A new, empty namespace for the pod whose own names are `names`.
    pub fn with_names(names: PodNames) -> Arc<Self> {
        Arc::new(Self {
            names,
            tables: Mutex::default(),
            cluster: None,
        })
    }

    /// A new namespace for a pod of `namespace` with the address `ip` in a
    /// cluster network (made by
    /// [`Reservation::join`](super::cluster::Reservation::join)).
    pub(super) fn in_cluster(
        network: Arc<dyn Fabric>,
        ip: Ipv4Addr,
        names: PodNames,
        namespace: String,
    ) -> Arc<Self> {
        Arc::new(Self {
            names,
            tables: Mutex::default(),
            cluster: Some(Member {
                ip,
                namespace,
                network,
            }),
        })
    }

    /// The pod's IP in its cluster network, if it joined one.
    pub fn ip(&self) -> Option<Ipv4Addr> {
        self.cluster.as_ref().map(|m| m.ip)
    }

    /// The cluster network the pod joined.
    pub fn cluster(&self) -> Option<&Arc<dyn Fabric>> {
        self.cluster.as_ref().map(|m| &m.network)
    }

    /// The pod's namespace in its cluster (`default` outside one).
    pub fn namespace(&self) -> &str {
        self.cluster.as_ref().map_or("default", |m| &m.namespace)
    }

    /// Whether `ip` is the pod's own: loopback or its pod IP.
    fn is_own(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || (self.ip().is_some_and(|own| ip == IpAddr::V4(own)))
    }

    /// Checks an address a socket binds to: loopback, unspecified or the
    /// pod IP (see the free [`check_local`]).
    ///
    /// # Errors
    /// As [`check_local`].
    pub fn check_local(&self, family: Family, addr: SocketAddr) -> Result<(), ErrorCode> {
        match check_local(family, addr) {
            Err(ErrorCode::AddressNotBindable) if self.is_own(addr.ip()) => Ok(()),
            r => r,
        }
    }

    /// Checks an address a socket connects or sends to: loopback, or in a
    /// cluster, an address of the cluster network's ranges.
    ///
    /// # Errors
    /// As [`check_remote`].
    pub fn check_remote(&self, family: Family, addr: SocketAddr) -> Result<(), ErrorCode> {
        match check_remote(family, addr) {
            Err(ErrorCode::AccessDenied)
                if self.is_own(addr.ip())
                    || self.cluster().is_some_and(|c| c.routes(addr.ip())) =>
            {
                Ok(())
            }
            r => r,
        }
    }

    /// The address traffic to `remote` leaves from when the socket is bound
    /// to the unspecified address: loopback for loopback, else the pod IP.
    pub fn source_for(&self, family: Family, remote: IpAddr) -> IpAddr {
        match self.ip() {
            Some(ip) if !remote.is_loopback() && family == Family::V4 => ip.into(),
            _ => family.loopback(),
        }
    }

    /// The pod's hostname (it resolves to loopback).
    pub fn hostname(&self) -> &str {
        self.names.hostname()
    }

    /// What the cluster's DNS answers for `name`, through the pod's resolver
    /// (`spec.dnsPolicy`, `spec.dnsConfig`); `None` outside a cluster.
    pub fn cluster_lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        let cluster = self.cluster()?;
        match self.names.resolver() {
            Some(resolver) => cluster.resolve(resolver, name),
            None => cluster.resolve(&Resolver::cluster_first(self.namespace()), name),
        }
    }

    /// The addresses `spec.hostAliases` gives `name`, in their order (none: the
    /// name is not an alias).
    pub fn host_alias(&self, name: &str) -> Vec<IpAddr> {
        self.names.alias(name)
    }

    /// Binds `addr` for `proto` (port 0: an ephemeral port).
    ///
    /// # Errors
    /// See [`check_local`]; `address-in-use` when the port is taken or no
    /// ephemeral port is left.
    pub fn bind(self: &Arc<Self>, proto: Proto, addr: SocketAddr) -> Result<PortLease, ErrorCode> {
        let family = Family::of(addr.ip());
        self.check_local(family, addr)?;
        let kind = match proto {
            Proto::Tcp => Kind::Bound,
            Proto::Udp => Kind::Udp(Arc::new(Mailbox::default())),
        };
        self.claim(proto, addr, kind)
    }

    fn claim(
        self: &Arc<Self>,
        proto: Proto,
        addr: SocketAddr,
        kind: Kind,
    ) -> Result<PortLease, ErrorCode> {
        let family = Family::of(addr.ip());
        let mut t = lock(&self.tables);
        let key = t.claim(proto, family, addr.port(), kind, addr.ip())?;
        let id = t.ports[&key].id;
        Ok(PortLease {
            net: self.clone(),
            key,
            id,
            addr: SocketAddr::new(addr.ip(), key.2),
        })
    }

    /// Turns a bound TCP port into a listener with room for `backlog`
    /// unaccepted connections.
    pub fn listen(&self, lease: &PortLease, backlog: usize) -> Arc<Listener> {
        let listener = Arc::new(Listener::new(backlog));
        let mut t = lock(&self.tables);
        if let Some(e) = t.ports.get_mut(&lease.key).filter(|e| e.id == lease.id) {
            e.kind = Kind::Listening(listener.clone());
        }
        listener
    }

    /// What `pick` takes from the entry that traffic to `dst` reaches. An
    /// IPv4 packet to the pod IP also reaches a `::` socket (dual stack).
    /// The table lock is released before the caller does anything else.
    fn find<T>(
        &self,
        proto: Proto,
        dst: SocketAddr,
        pick: impl Fn(&Kind) -> Option<T>,
    ) -> Option<T> {
        let t = lock(&self.tables);
        let family = Family::of(dst.ip());
        let direct = t
            .ports
            .get(&(proto, family, dst.port()))
            .filter(|e| reaches(e.ip, dst.ip()));
        let dual = || {
            let from_v4 = family == Family::V4 && !dst.ip().is_loopback();
            t.ports
                .get(&(proto, Family::V6, dst.port()))
                .filter(|e| from_v4 && e.ip.is_unspecified())
        };
        direct.or_else(dual).and_then(|e| pick(&e.kind))
    }

    /// The listener traffic to `dst` reaches.
    pub(super) fn listener_at(&self, dst: SocketAddr) -> Option<Arc<Listener>> {
        self.find(Proto::Tcp, dst, |kind| match kind {
            Kind::Listening(l) => Some(l.clone()),
            _ => None,
        })
    }

    /// The mailbox traffic to `dst` reaches.
    fn mailbox_at(&self, dst: SocketAddr) -> Option<Arc<Mailbox>> {
        self.find(Proto::Udp, dst, |kind| match kind {
            Kind::Udp(m) => Some(m.clone()),
            _ => None,
        })
    }

    /// The mailbox of a bound UDP port.
    pub fn mailbox(&self, lease: &PortLease) -> Option<Arc<Mailbox>> {
        let t = lock(&self.tables);
        match t.ports.get(&lease.key) {
            Some(Entry {
                id,
                kind: Kind::Udp(m),
                ..
            }) if *id == lease.id => Some(m.clone()),
            _ => None,
        }
    }

    /// Starts connecting to `remote` from `local` (a bound port), or from
    /// an ephemeral port when `local` is `None`.
    ///
    /// # Errors
    /// See [`check_remote`]; `connection-refused` when nobody listens on
    /// `remote`; `address-in-use` when no ephemeral port is left.
    pub fn dial(
        self: &Arc<Self>,
        local: Option<PortLease>,
        remote: SocketAddr,
    ) -> Result<Dial, ErrorCode> {
        let family = Family::of(remote.ip());
        self.check_remote(family, remote)?;
        let source = self.source_for(family, remote.ip());
        let lease = match local {
            Some(l) => l,
            None => self.bind(Proto::Tcp, SocketAddr::new(source, 0))?,
        };
        // The route leaves from the address the client bound to, else from
        // loopback (to loopback) or the pod IP (to anything else).
        let client_ip = match lease.addr.ip() {
            ip if ip.is_unspecified() => source,
            ip => ip,
        };
        let local = SocketAddr::new(client_ip, lease.addr.port());
        let (listener, server) = if self.is_own(remote.ip()) {
            (self.listener_at(remote), remote)
        } else {
            let cluster = self.cluster().ok_or(ErrorCode::AccessDenied)?;
            let (net, target) = cluster.route(Proto::Tcp, local, remote)?;
            (net.listener_at(target), target)
        };
        let Some(listener) = listener else {
            return Err(ErrorCode::ConnectionRefused);
        };
        Ok(Dial {
            lease,
            local,
            remote,
            server,
            listener,
        })
    }

    /// Connects to `remote` at once (see [`dial`](Self::dial)). Returns the
    /// client's end of the connection and the lease of its port.
    ///
    /// # Errors
    /// As [`dial`](Self::dial); `connection-refused` also when the
    /// listener's backlog is full (a host-side caller cannot wait).
    pub fn connect(
        self: &Arc<Self>,
        local: Option<PortLease>,
        remote: SocketAddr,
    ) -> Result<(Conn, PortLease), ErrorCode> {
        match self.dial(local, remote)?.attempt() {
            Progress::Done(r) => r,
            Progress::Waiting(_) => Err(ErrorCode::ConnectionRefused),
        }
    }

    /// Sends one datagram from `from` (the sender's bound address) to `to`.
    /// A datagram nobody can receive is dropped, as on a real network;
    /// returns whether a socket was bound at `to` (if not, the kernel would
    /// answer with ICMP port unreachable).
    ///
    /// # Errors
    /// See [`check_remote`].
    pub fn send_datagram(
        &self,
        from: SocketAddr,
        to: SocketAddr,
        data: Vec<u8>,
    ) -> Result<bool, ErrorCode> {
        let family = Family::of(to.ip());
        self.check_remote(family, to)?;
        // Sent from the address the sender bound to, else its route's source.
        let from_ip = match from.ip() {
            ip if ip.is_unspecified() => self.source_for(family, to.ip()),
            ip => ip,
        };
        let from = SocketAddr::new(from_ip, from.port());
        let (mailbox, from) = if self.is_own(to.ip()) {
            (self.mailbox_at(to), from)
        } else {
            let Some(cluster) = self.cluster() else {
                return Err(ErrorCode::AccessDenied);
            };
            match cluster.route(Proto::Udp, from, to) {
                Ok((net, target)) => (net.mailbox_at(target), cluster.reply_source(from, to)),
                // Nobody has the address, or a Service has no endpoint: lost.
                Err(ErrorCode::AccessDenied) => return Err(ErrorCode::AccessDenied),
                Err(_) => return Ok(false),
            }
        };
        let Some(mailbox) = mailbox else {
            return Ok(false);
        };
        mailbox.deliver(Datagram { data, from });
        Ok(true)
    }

    /// Ports currently bound for `proto` in `family` (for tests and tools).
    pub fn bound_ports(&self, proto: Proto, family: Family) -> Vec<u16> {
        let t = lock(&self.tables);
        let mut ports: Vec<u16> = t
            .ports
            .keys()
            .filter(|(p, f, _)| *p == proto && *f == family)
            .map(|k| k.2)
            .collect();
        ports.sort_unstable();
        ports
    }

    fn release(&self, key: Key, id: u64) {
        let removed = {
            let mut t = lock(&self.tables);
            match t.ports.get(&key) {
                Some(e) if e.id == id => t.ports.remove(&key),
                _ => None,
            }
        };
        match removed.map(|e| e.kind) {
            Some(Kind::Listening(l)) => l.close(),
            Some(Kind::Udp(m)) => m.close(),
            _ => {}
        }
    }
}

/// A claimed port. Dropping it frees the port (closing its listener or
/// mailbox).
pub struct PortLease {
    net: Arc<PodNetwork>,
    key: Key,
    id: u64,
    addr: SocketAddr,
}

impl PortLease {
    /// The address as bound (`0.0.0.0:8080` stays `0.0.0.0:8080`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.net.release(self.key, self.id);
    }
}

impl std::fmt::Debug for PortLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PortLease({:?} {})", self.key.0, self.addr)
    }
}
