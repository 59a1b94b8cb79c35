//! The address rules of a pod network, as wasmtime on Linux applies them: protocols and
//! address families, which addresses a socket may bind (loopback or unspecified; the
//! pod's own IP is added by [`PodNetwork`](super::PodNetwork)) and which it may reach.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

/// Address family of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    /// The family of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The pod's loopback address in this family.
    pub fn loopback(self) -> IpAddr {
        match self {
            Family::V4 => Ipv4Addr::LOCALHOST.into(),
            Family::V6 => Ipv6Addr::LOCALHOST.into(),
        }
    }
}

/// Checks an address a socket of `family` binds to: loopback or unspecified.
///
/// # Errors
/// `invalid-argument` for the wrong family, an IPv4-mapped (or deprecated
/// IPv4-compatible) IPv6 address or a multicast/broadcast address;
/// `address-not-bindable` for any other address (the pod does not have it).
pub fn check_local(family: Family, addr: SocketAddr) -> Result<(), ErrorCode> {
    check_family(family, addr.ip())?;
    let ip = addr.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        Ok(())
    } else {
        Err(ErrorCode::AddressNotBindable)
    }
}

/// Checks an address a socket of `family` connects or sends to.
///
/// # Errors
/// `invalid-argument` as [`check_local`] and for the unspecified address or
/// port 0; `access-denied` for a non-loopback address.
pub fn check_remote(family: Family, addr: SocketAddr) -> Result<(), ErrorCode> {
    check_family(family, addr.ip())?;
    if addr.ip().is_unspecified() || addr.port() == 0 {
        return Err(ErrorCode::InvalidArgument);
    }
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(ErrorCode::AccessDenied)
    }
}

/// `invalid-argument` unless `ip` is a unicast address of `family`. As in
/// wasmtime, an IPv6 socket takes no IPv4-mapped (`::ffff:a.b.c.d`) and no
/// deprecated IPv4-compatible (`::a.b.c.d`) address: WASI sockets are
/// IPv6-only.
fn check_family(family: Family, ip: IpAddr) -> Result<(), ErrorCode> {
    let unicast = match ip {
        IpAddr::V4(v4) => !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => {
            let ipv4_compatible = matches!(v6.segments(), [0, 0, 0, 0, 0, 0, _, _])
                && !v6.is_unspecified()
                && !v6.is_loopback();
            !v6.is_multicast() && v6.to_ipv4_mapped().is_none() && !ipv4_compatible
        }
    };
    if Family::of(ip) != family || !unicast {
        return Err(ErrorCode::InvalidArgument);
    }
    Ok(())
}
