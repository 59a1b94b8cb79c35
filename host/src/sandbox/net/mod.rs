//! The network a guest may use: its pod's own loopback and, in a cluster,
//! the other pods and Services — all in memory.
//!
//! In Kubernetes every pod has its own network namespace: its containers
//! share `localhost`, and two pods can both listen on 8080. wasmpod gives
//! the same guarantee without touching the host's ports: the host
//! implements `wasi:sockets` itself, one [`PodNetwork`] per pod, and no
//! guest socket is ever a host socket.
//!
//! * [`netns`]: the namespace — port tables, ephemeral ports, listeners
//!   with backlogs, UDP mailboxes; every bindable address (`127.0.0.1`,
//!   `::1`, `0.0.0.0`, `::`) is the pod's loopback, binding any other is
//!   `address-not-bindable` and reaching one `access-denied`.
//! * [`pipe`], [`conn`]: a connection is two bounded byte pipes (64 KiB
//!   each): a slow reader holds its writer back; closing a socket is a FIN
//!   (or a reset, with data unread) for the peer, as over Linux loopback.
//!   Listener backlogs and UDP mailboxes (`queue`) are bounded too.
//! * [`dial`]: a connect waits while the listener's backlog is full.
//! * [`tcp`], [`udp`], [`lookup`]: the WASI resources and their state
//!   machines; `localhost` and the pod's hostname resolve to loopback,
//!   other names are `name-unresolvable`. [`options`]: socket options as
//!   wasmtime on Linux reports them.
//! * `bindings` and `host_*`: the generated `wasi:sockets` traits,
//!   implemented on [`PodNetView`] (the store's resource table plus its
//!   pod's network), linked over wasmtime-wasi's socket interfaces by
//!   [`add_to_linker`].
//! * `address`: protocols, families and the bind/connect address rules.
//! * [`cluster`]: the network between pods — pod IPs, Services' virtual
//!   IPs and their endpoints, cluster DNS names.
//! * [`PodStream`]: a connection into a pod from the host side.
//! * [`PodListener`]: a listener the host owns inside a pod (it serves a
//!   `wasi:http` container's port), accepting [`PodStream`]s.
//!
//! A guest's sockets live in its store's resource table, so when a
//! container exits, crashes or is killed, dropping its store closes its
//! connections (peers read EOF; see [`conn`]) and frees its ports at once.

mod address;
mod bindings;
pub mod cluster;
pub mod conn;
pub mod dial;
mod host_lookup;
mod host_tcp;
mod host_udp;
mod listen;
pub mod lookup;
pub mod netns;
pub mod options;
pub mod pipe;
mod queue;
mod stream;
pub mod tcp;
#[cfg(test)]
mod tests;
pub mod udp;

pub use cluster::{Backends, ClusterNetwork, Directory};
pub use listen::PodListener;
pub use netns::PodNetwork;
pub use stream::{PodStream, io_error as stream_io_error};

use std::sync::Arc;

use wasmtime::component::{HasData, Linker, ResourceTable};

/// What the `wasi:sockets` host functions work on: a store's resource
/// table and the network of the pod the instance belongs to.
pub struct PodNetView<'a> {
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
    /// The pod's network.
    pub net: &'a Arc<PodNetwork>,
}

impl PodNetView<'_> {
    /// Fails with `new-socket-limit` (what EMFILE maps to in wasi:sockets)
    /// when the instance already holds [`MAX_SOCKETS`] sockets.
    fn check_socket_budget(&mut self) -> wasmtime_wasi::p2::SocketResult<()> {
        let held = self
            .table
            .iter_mut()
            .filter(|e| e.is::<tcp::TcpSocket>() || e.is::<udp::UdpSocket>())
            .count();
        if held >= MAX_SOCKETS {
            return Err(
                wasmtime_wasi::p2::bindings::sockets::network::ErrorCode::NewSocketLimit.into(),
            );
        }
        Ok(())
    }
}

/// The most sockets (TCP and UDP) one instance may hold at once.
pub const MAX_SOCKETS: usize = 1024;

/// Store data that gives its instance a pod network.
pub trait PodNetHost: Send {
    /// The view the socket functions use.
    fn pod_net(&mut self) -> PodNetView<'_>;
}

struct HasPodNet;

impl HasData for HasPodNet {
    type Data<'a> = PodNetView<'a>;
}

/// Links our `wasi:sockets` interfaces (`tcp`, `tcp-create-socket`, `udp`,
/// `udp-create-socket`, `ip-name-lookup`) into `linker`, over the ones
/// `wasmtime_wasi::p2::add_to_linker_async` added (shadowing is turned on
/// for the duration). wasmtime-wasi's `network` and `instance-network` stay:
/// the `network` resource is a stateless capability token.
///
/// # Errors
/// When wasmtime rejects a definition.
pub fn add_to_linker<T: PodNetHost + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = (|| {
        bindings::tcp::add_to_linker::<T, HasPodNet>(linker, T::pod_net)?;
        bindings::tcp_create_socket::add_to_linker::<T, HasPodNet>(linker, T::pod_net)?;
        bindings::udp::add_to_linker::<T, HasPodNet>(linker, T::pod_net)?;
        bindings::udp_create_socket::add_to_linker::<T, HasPodNet>(linker, T::pod_net)?;
        bindings::ip_name_lookup::add_to_linker::<T, HasPodNet>(linker, T::pod_net)
    })();
    linker.allow_shadowing(false);
    result
}
