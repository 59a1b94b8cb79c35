//! Helpers over the raw bindings: addresses, outcomes as text, and the
//! start/finish/wait dance of WASI 0.2's asynchronous socket operations.

use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress, Network,
};
use wasip2::sockets::tcp::TcpSocket;
use wasip2::sockets::tcp_create_socket::create_tcp_socket;
use wasip2::sockets::udp::UdpSocket;
use wasip2::sockets::udp_create_socket::create_udp_socket;

pub fn net() -> Network {
    instance_network()
}

/// An IPv4 socket address.
pub fn v4(ip: [u8; 4], port: u16) -> IpSocketAddress {
    IpSocketAddress::Ipv4(Ipv4SocketAddress {
        port,
        address: (ip[0], ip[1], ip[2], ip[3]),
    })
}

/// An IPv6 socket address.
pub fn v6(ip: [u16; 8], port: u16) -> IpSocketAddress {
    IpSocketAddress::Ipv6(Ipv6SocketAddress {
        port,
        flow_info: 0,
        address: (ip[0], ip[1], ip[2], ip[3], ip[4], ip[5], ip[6], ip[7]),
        scope_id: 0,
    })
}

pub const LOOP4: [u8; 4] = [127, 0, 0, 1];
pub const ANY4: [u8; 4] = [0, 0, 0, 0];
pub const LOOP6: [u16; 8] = [0, 0, 0, 0, 0, 0, 0, 1];
pub const ANY6: [u16; 8] = [0; 8];
/// `::ffff:127.0.0.1`, an IPv4-mapped IPv6 address.
pub const MAPPED6: [u16; 8] = [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1];

/// The IP part of an address as text (`127.0.0.1`, `::1`).
pub fn ip(a: &IpSocketAddress) -> String {
    match a {
        IpSocketAddress::Ipv4(a) => {
            let (x, y, z, w) = a.address;
            std::net::Ipv4Addr::new(x, y, z, w).to_string()
        }
        IpSocketAddress::Ipv6(a) => {
            let (p, q, r, s, t, u, v, w) = a.address;
            std::net::Ipv6Addr::new(p, q, r, s, t, u, v, w).to_string()
        }
    }
}

/// The port of an address.
pub fn port(a: &IpSocketAddress) -> u16 {
    match a {
        IpSocketAddress::Ipv4(a) => a.port,
        IpSocketAddress::Ipv6(a) => a.port,
    }
}

/// `ip:port` (`[ip]:port` for IPv6).
pub fn show(a: &IpSocketAddress) -> String {
    match a {
        IpSocketAddress::Ipv4(_) => format!("{}:{}", ip(a), port(a)),
        IpSocketAddress::Ipv6(_) => format!("[{}]:{}", ip(a), port(a)),
    }
}

/// `ok`, or the WIT name of the error code.
pub fn outcome<T>(r: Result<T, ErrorCode>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.name().into(),
    }
}

/// A stream outcome: `ok`, `closed`, or `failed:` and the error's text.
pub fn stream_outcome<T>(r: Result<T, StreamError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(StreamError::Closed) => "closed".into(),
        Err(StreamError::LastOperationFailed(e)) => {
            format!("failed:{}", e.to_debug_string().to_lowercase())
        }
    }
}

/// Prints `key=value`.
pub fn say(key: &str, value: impl std::fmt::Display) {
    println!("{key}={value}");
}

pub fn tcp(family: IpAddressFamily) -> TcpSocket {
    create_tcp_socket(family).expect("create-tcp-socket")
}

pub fn udp(family: IpAddressFamily) -> UdpSocket {
    create_udp_socket(family).expect("create-udp-socket")
}

/// `start-bind` + `finish-bind` (waiting while it would block).
pub fn bind(s: &TcpSocket, addr: IpSocketAddress) -> Result<(), ErrorCode> {
    s.start_bind(&net(), addr)?;
    loop {
        match s.finish_bind() {
            Err(ErrorCode::WouldBlock) => s.subscribe().block(),
            r => return r,
        }
    }
}

/// `start-listen` + `finish-listen`.
pub fn listen(s: &TcpSocket) -> Result<(), ErrorCode> {
    s.start_listen()?;
    loop {
        match s.finish_listen() {
            Err(ErrorCode::WouldBlock) => s.subscribe().block(),
            r => return r,
        }
    }
}

/// A socket of `family` bound to `addr` and listening.
pub fn listener(family: IpAddressFamily, addr: IpSocketAddress) -> TcpSocket {
    let s = tcp(family);
    bind(&s, addr).expect("bind");
    listen(&s).expect("listen");
    s
}

/// `start-connect` + `finish-connect`.
pub fn connect(
    s: &TcpSocket,
    addr: IpSocketAddress,
) -> Result<(InputStream, OutputStream), ErrorCode> {
    s.start_connect(&net(), addr)?;
    loop {
        match s.finish_connect() {
            Err(ErrorCode::WouldBlock) => s.subscribe().block(),
            r => return r,
        }
    }
}

/// A connected socket and its streams, dropped streams first (a socket
/// must outlive its streams: they are its children).
pub struct Conn {
    pub rx: InputStream,
    pub tx: OutputStream,
    pub sock: TcpSocket,
}

/// `accept`, waiting for a connection.
pub fn accept(s: &TcpSocket) -> Conn {
    loop {
        match s.accept() {
            Err(ErrorCode::WouldBlock) => s.subscribe().block(),
            r => {
                let (sock, rx, tx) = r.expect("accept");
                return Conn { rx, tx, sock };
            }
        }
    }
}

/// A new client of `family` connected to `addr`.
pub fn client(family: IpAddressFamily, addr: IpSocketAddress) -> Conn {
    let sock = tcp(family);
    let (rx, tx) = connect(&sock, addr).expect("connect");
    Conn { rx, tx, sock }
}

/// Connects a new client of `family` to `listener` at `addr` and accepts:
/// (client, server).
pub fn pair(family: IpAddressFamily, listener: &TcpSocket, addr: IpSocketAddress) -> (Conn, Conn) {
    let c = client(family, addr);
    (c, accept(listener))
}

/// `blocking-write-and-flush` of `data`: `ok`, `closed` or `failed:...`.
pub fn write(tx: &OutputStream, data: &str) -> String {
    stream_outcome(tx.blocking_write_and_flush(data.as_bytes()))
}

/// Reads until `n` bytes came or the stream ended or failed; the text and
/// how reading ended (`ok` when `n` bytes came).
pub fn read_n(rx: &InputStream, n: usize) -> (String, String) {
    let mut got = Vec::new();
    while got.len() < n {
        match rx.blocking_read((n - got.len()) as u64) {
            Ok(b) => got.extend(b),
            Err(e) => {
                return (
                    String::from_utf8_lossy(&got).into(),
                    stream_outcome::<()>(Err(e)),
                );
            }
        }
    }
    (String::from_utf8_lossy(&got).into(), "ok".into())
}

/// One non-blocking read: `empty` (nothing yet), `data:<text>`, or how the
/// stream ended.
pub fn peek(rx: &InputStream) -> String {
    match rx.read(100) {
        Ok(b) if b.is_empty() => "empty".into(),
        Ok(b) => format!("data:{}", String::from_utf8_lossy(&b)),
        Err(e) => stream_outcome::<()>(Err(e)),
    }
}
