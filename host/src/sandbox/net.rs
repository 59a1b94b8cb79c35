//! The network a guest may use: its pod's loopback, nothing else.
//!
//! wasmtime-wasi checks every address a guest binds, listens on, connects,
//! accepts, sends to or receives from. Every peer must be a loopback address,
//! so a guest gets `access-denied` for any other destination and never sees
//! traffic from outside. A TCP socket may be *bound* to the unspecified
//! address (`0.0.0.0`, `::`) because wasmtime-wasi checks the implicit bind of
//! a `connect` that way, but may only *listen* on loopback, so a guest never
//! listens on the host's external interfaces. A UDP socket may bind the
//! unspecified address only with port 0 (the implicit bind of a `send`).
//! The in-memory pod network will replace these host sockets.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use wasmtime_wasi::sockets::SocketAddrUse;

/// Decides whether a guest may use `addr` for `usage` (see the module docs).
///
/// ```
/// use wasmpod::sandbox::is_allowed;
/// use wasmtime_wasi::sockets::SocketAddrUse;
/// assert!(is_allowed(&"127.0.0.1:5432".parse().unwrap(), SocketAddrUse::TcpConnect));
/// assert!(!is_allowed(&"10.0.0.1:5432".parse().unwrap(), SocketAddrUse::TcpConnect));
/// assert!(is_allowed(&"0.0.0.0:0".parse().unwrap(), SocketAddrUse::TcpBind));
/// assert!(!is_allowed(&"0.0.0.0:80".parse().unwrap(), SocketAddrUse::TcpListen));
/// assert!(is_allowed(&"127.0.0.1:80".parse().unwrap(), SocketAddrUse::TcpListen));
/// ```
pub fn is_allowed(addr: &SocketAddr, usage: SocketAddrUse) -> bool {
    let ip = addr.ip();
    match usage {
        SocketAddrUse::TcpBind => ip.is_loopback() || ip.is_unspecified(),
        SocketAddrUse::UdpBind => ip.is_loopback() || (ip.is_unspecified() && addr.port() == 0),
        SocketAddrUse::TcpListen
        | SocketAddrUse::TcpAccept
        | SocketAddrUse::TcpConnect
        | SocketAddrUse::UdpSend
        | SocketAddrUse::UdpReceive => ip.is_loopback(),
    }
}

/// [`is_allowed`] in the shape `WasiCtxBuilder::socket_addr_check` takes.
pub fn network_policy(
    addr: SocketAddr,
    usage: SocketAddrUse,
) -> Pin<Box<dyn Future<Output = bool> + Send + Sync>> {
    let allowed = is_allowed(&addr, usage);
    if !allowed {
        tracing::debug!(%addr, ?usage, "guest network access denied");
    }
    Box::pin(std::future::ready(allowed))
}
