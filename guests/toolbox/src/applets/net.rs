//! `nc`, and the socket helpers `wget` shares, on `std::net`
//! (wasi:sockets).
//!
//! Sockets are used in non-blocking mode and polled with a short back-off
//! (see [`crate::term::Backoff`]) so that timeouts work without socket
//! options and a pending termination request interrupts waiting (status 143).
//! `localhost` always means 127.0.0.1, whatever name lookup the host offers.

use std::io::{self, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
    UdpSocket,
};
use std::time::{Duration, Instant};

use super::parse;
use crate::io::{Io, errstr};
use crate::term::{self, Backoff};

/// Outcome of waiting on a non-blocking operation.
pub(super) enum Wait<T> {
    Ready(T),
    TimedOut,
    Terminated,
}

/// Retries `op` while it would block, until `deadline` or termination.
pub(super) fn wait_for<T>(
    deadline: Option<Instant>,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<Wait<T>> {
    let mut backoff = Backoff::new();
    loop {
        match op() {
            Ok(v) => return Ok(Wait::Ready(v)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(Wait::TimedOut);
        }
        if backoff.wait() {
            return Ok(Wait::Terminated);
        }
    }
}

/// Writes all of `data` to a non-blocking stream.
pub(super) fn send_all(stream: &mut TcpStream, mut data: &[u8]) -> io::Result<bool> {
    while !data.is_empty() {
        match wait_for(None, || stream.write(data))? {
            Wait::Ready(0) => return Err(io::ErrorKind::WriteZero.into()),
            Wait::Ready(n) => data = &data[n..],
            Wait::TimedOut => unreachable!("no deadline"),
            Wait::Terminated => return Ok(false),
        }
    }
    Ok(true)
}

/// Resolves `host` (`localhost`, an IP address or a name) with `port`.
pub(super) fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare == "localhost" {
        return Ok(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port))]);
    }
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = (bare, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no address found"));
    }
    Ok(addrs)
}

/// Describes an error by its kind ("connection refused", "permission
/// denied", ...), adding the system's message when it says more.
pub(super) fn describe(e: &io::Error) -> String {
    let kind = e.kind().to_string();
    let msg = errstr(e);
    if e.kind() == io::ErrorKind::Other || kind.contains("uncategorized") {
        msg
    } else if msg.eq_ignore_ascii_case(&kind) {
        kind
    } else {
        format!("{kind} ({msg})")
    }
}

pub(super) fn connect(host: &str, port: u16, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let mut last = None;
    for addr in resolve(host, port)? {
        // Not `connect_timeout`: on wasm32-wasip2 its non-blocking connect
        // reports a refused port as connected. Peers are on the pod's
        // loopback, where a connect never hangs; `-w` bounds reads instead.
        let _ = timeout;
        let r = TcpStream::connect(addr);
        match r {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::ErrorKind::NotFound.into()))
}

pub(super) fn seconds(v: Option<&str>) -> Result<Option<Duration>, String> {
    v.map(|s| match s.parse::<f64>() {
        Ok(x) if x >= 0.0 && x.is_finite() => Ok(Duration::from_secs_f64(x)),
        _ => Err(format!("invalid timeout '{s}'")),
    })
    .transpose()
}

/// `nc` — TCP/UDP client and server:
///
/// * `nc -z [-v] [-w SECS] HOST PORT`: can a TCP connection be made? (0/1)
/// * `nc [-w SECS] HOST PORT`: connect, send stdin, then print what the peer
///   sends until it closes (or is idle for SECS).
/// * `nc -l [-k] [-e] [-s ADDR] [-p] PORT`: listen on every address of the
///   pod (`0.0.0.0`, as busybox does: other pods reach it on the pod IP, and
///   Services send to it) or on ADDR, print what one client
///   (`-k`: each client) sends until it closes; `-e` echoes it back.
/// * `nc -u [-w SECS] HOST PORT`: send stdin as one datagram, then wait up
///   to SECS (no `-w`: don't wait) for a reply and print it.
/// * `nc -u -l [-k] [-e] [-p] PORT`: print one datagram (`-k`: every one);
///   `-e` sends it back to the sender.
///
/// Note `-e` means "echo" here (there are no programs to execute).
pub fn nc(args: &[String], io: &mut Io) -> i32 {
    let Some(opts) = parse(args, "lkuzvnep:w:q:s:", io) else {
        return 1;
    };
    let timeout = match seconds(opts.value('w')) {
        Ok(t) => t,
        Err(e) => {
            io.error(format!("nc: {e}"));
            return 1;
        }
    };
    let listen = opts.has('l');
    // `-s ADDR` listens on that address only (127.0.0.1: private to the pod).
    let any = opts.value('s').unwrap_or("0.0.0.0").to_string();
    let (host, port) = match (listen, opts.value('p'), opts.operands.as_slice()) {
        (true, Some(p), []) => (any, p.to_string()),
        (true, None, [p]) => (any, p.clone()),
        (_, _, [h, p]) => (h.clone(), p.clone()),
        _ => {
            io.error(
                "nc: usage: nc [-u] [-z] [-w SECS] HOST PORT | nc -l [-u] [-k] [-e] [-s ADDR] [-p] PORT",
            );
            return 1;
        }
    };
    let Ok(port) = port.parse::<u16>() else {
        io.error(format!("nc: invalid port '{port}'"));
        return 1;
    };
    let fail = |io: &mut Io, e: &io::Error| {
        io.error(format!("nc: {host}:{port}: {}", describe(e)));
        1
    };
    let result = match (listen, opts.has('u')) {
        (false, false) if opts.has('z') => match connect(&host, port, timeout) {
            Ok(s) => {
                if opts.has('v') {
                    let peer = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    io.error(format!("{host} ({peer}) open"));
                }
                return 0;
            }
            Err(e) => return fail(io, &e),
        },
        (false, false) => tcp_client(&host, port, timeout, io),
        (true, false) => tcp_listen(&host, port, opts.has('k'), opts.has('e'), io),
        (false, true) => udp_client(&host, port, timeout, io),
        (true, true) => udp_listen(&host, port, opts.has('k'), opts.has('e'), io),
    };
    io.flush();
    match result {
        Ok(Some(())) => 0,
        Ok(None) => term::STATUS,
        Err(e) => fail(io, &e),
    }
}

/// Copies everything `stream` sends to stdout (echoing it back if asked)
/// until EOF, `idle` without data, or termination (`None`).
fn drain(
    stream: &mut TcpStream,
    idle: Option<Duration>,
    echo: bool,
    io: &mut Io,
) -> io::Result<Option<()>> {
    stream.set_nonblocking(true)?;
    let mut buf = vec![0; 16 * 1024];
    loop {
        let deadline = idle.map(|d| Instant::now() + d);
        match wait_for(deadline, || stream.read(&mut buf))? {
            Wait::Ready(0) | Wait::TimedOut => return Ok(Some(())),
            Wait::Ready(n) => {
                io.stdout.write_all(&buf[..n])?;
                io.stdout.flush()?;
                if echo && !send_all(stream, &buf[..n])? {
                    return Ok(None);
                }
            }
            Wait::Terminated => return Ok(None),
        }
    }
}

fn tcp_client(
    host: &str,
    port: u16,
    timeout: Option<Duration>,
    io: &mut Io,
) -> io::Result<Option<()>> {
    let mut stream = connect(host, port, timeout)?;
    let mut data = Vec::new();
    io.stdin.read_to_end(&mut data)?;
    stream.set_nonblocking(true)?;
    if !send_all(&mut stream, &data)? {
        return Ok(None);
    }
    // Tell the peer we are done sending, as `nc -N` does.
    let _ = stream.shutdown(Shutdown::Write);
    drain(&mut stream, timeout, false, io)
}

fn tcp_listen(
    host: &str,
    port: u16,
    keep: bool,
    echo: bool,
    io: &mut Io,
) -> io::Result<Option<()>> {
    let listener = TcpListener::bind((host, port))?;
    listener.set_nonblocking(true)?;
    loop {
        let mut stream = match wait_for(None, || listener.accept())? {
            Wait::Ready((s, _)) => s,
            _ => return Ok(None),
        };
        if drain(&mut stream, None, echo, io)?.is_none() {
            return Ok(None);
        }
        if !keep {
            return Ok(Some(()));
        }
    }
}

fn unspecified(like: &SocketAddr) -> SocketAddr {
    match like {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    }
}

fn udp_client(
    host: &str,
    port: u16,
    wait: Option<Duration>,
    io: &mut Io,
) -> io::Result<Option<()>> {
    let addr = resolve(host, port)?[0];
    let socket = UdpSocket::bind(unspecified(&addr))?;
    let mut data = Vec::new();
    io.stdin.read_to_end(&mut data)?;
    socket.send_to(&data, addr)?;
    let Some(wait) = wait else {
        return Ok(Some(()));
    };
    socket.set_nonblocking(true)?;
    let mut buf = vec![0; 64 * 1024];
    match wait_for(Some(Instant::now() + wait), || socket.recv_from(&mut buf))? {
        Wait::Ready((n, _)) => {
            io.stdout.write_all(&buf[..n])?;
            Ok(Some(()))
        }
        Wait::TimedOut => Ok(Some(())),
        Wait::Terminated => Ok(None),
    }
}

fn udp_listen(
    host: &str,
    port: u16,
    keep: bool,
    echo: bool,
    io: &mut Io,
) -> io::Result<Option<()>> {
    let socket = UdpSocket::bind((host, port))?;
    socket.set_nonblocking(true)?;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let (n, peer) = match wait_for(None, || socket.recv_from(&mut buf))? {
            Wait::Ready(r) => r,
            _ => return Ok(None),
        };
        io.stdout.write_all(&buf[..n])?;
        io.stdout.flush()?;
        if echo {
            socket.send_to(&buf[..n], peer)?;
        }
        if !keep {
            return Ok(Some(()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_round_trip_and_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            s.read_to_end(&mut req).unwrap();
            s.write_all(b"got:").unwrap();
            s.write_all(&req).unwrap();
        });
        let (mut io, out, _) = Io::capture("ping");
        let args: Vec<String> = ["nc", "localhost", &port.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(nc(&args, &mut io), 0);
        server.join().unwrap();
        assert_eq!(&*out.borrow(), b"got:ping");

        // Nothing listens on the port any more.
        let (mut io, _, err) = Io::capture("");
        let args: Vec<String> = ["nc", "-z", "127.0.0.1", &port.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(nc(&args, &mut io), 1);
        let err = String::from_utf8(err.borrow().clone()).unwrap();
        assert!(
            err.starts_with(&format!("nc: 127.0.0.1:{port}: connection refused")),
            "{err}"
        );
    }
}
