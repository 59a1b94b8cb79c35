//! flood attacks: output, connections and datagrams as fast as the host
//! takes them (or faster, ignoring what it permits).
//!
//! * `stdout-flood SECONDS [BYTES [LINE]]`: `output-stream.write` on stdout
//!   in a loop for SECONDS, never calling `check-write`; each write is
//!   BYTES bytes (default 65 536) of numbered lines of LINE bytes (default
//!   16: `flood 00000000\n`), many lines for the host to process per write. Ends with `stdout-flood end writes=N` unless the
//!   host traps it first.
//! * `log-flood BYTES [LINE]`: BYTES of numbered lines of LINE bytes
//!   (default 1000) through std's stdout, which waits for `check-write`;
//!   then `log-flood done lines=N`.
//! * `tcp-sink PORT`: accepts one connection on PORT and never reads it
//!   (`tcp-sink accepted`), then sleeps until stopped.
//! * `tcp-flood PORT SECONDS`: connects to 127.0.0.1:PORT (retrying while
//!   refused) and writes 4 KiB chunks for SECONDS without `check-write`.
//!   Ends with `tcp-flood end writes=N` unless the host traps it first.
//! * `udp-sink PORT DIR`: binds PORT, creates `DIR/ready`, waits for
//!   `DIR/done` without reading, then takes what its mailbox holds and
//!   prints `udp-sink received=N`.
//! * `udp-empty PORT COUNT DIR`: waits for `DIR/ready`, sends COUNT empty
//!   datagrams to 127.0.0.1:PORT, creates `DIR/done` and prints
//!   `udp-empty sent=N`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a side waits for its peer's file before giving up.
#[cfg_attr(not(target_os = "wasi"), allow(dead_code))]
const PEER_WAIT: Duration = Duration::from_secs(120);

/// Runs `attack` if it is one of this module's; `None` otherwise.
pub fn run(attack: &str, args: &[String]) -> Option<i32> {
    let code = match attack {
        "log-flood" => log_flood(args),
        "stdout-flood" | "tcp-flood" | "tcp-sink" | "udp-sink" | "udp-empty" => {
            raw::run(attack, args)
        }
        _ => return None,
    };
    Some(code)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> Result<T, String> {
    args.get(i)
        .ok_or_else(|| format!("missing {what}"))?
        .parse()
        .map_err(|_| format!("bad {what}: {:?}", args[i]))
}

fn usage(e: String) -> i32 {
    eprintln!("hostile: {e}");
    2
}

fn log_flood(args: &[String]) -> i32 {
    let bytes: u64 = match arg(args, 0, "BYTES") {
        Ok(b) => b,
        Err(e) => return usage(e),
    };
    let line_len: usize = if args.len() > 1 {
        match arg(args, 1, "LINE") {
            Ok(n) => n,
            Err(e) => return usage(e),
        }
    } else {
        1000
    };
    let mut out = std::io::stdout().lock();
    let (mut written, mut lines) = (0u64, 0u64);
    while written < bytes {
        let line = numbered_line("log-flood line", lines, line_len);
        if out.write_all(line.as_bytes()).is_err() {
            return 1;
        }
        written += line.len() as u64;
        lines += 1;
    }
    let _ = writeln!(out, "log-flood done lines={lines}");
    let _ = out.flush();
    0
}

/// `<prefix> <n, 8 digits> xxx…\n`, `len` bytes in all (at least the prefix).
fn numbered_line(prefix: &str, n: u64, len: usize) -> String {
    let mut line = format!("{prefix} {n:08} ");
    let fill = len.saturating_sub(line.len() + 1);
    line.extend(std::iter::repeat_n('x', fill));
    line.push('\n');
    line
}

/// Waits for `path` to exist (the peer's signal); `false` after [`PEER_WAIT`].
#[cfg_attr(not(target_os = "wasi"), allow(dead_code))]
fn wait_for(path: &Path) -> bool {
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() > PEER_WAIT {
            eprintln!("hostile: gave up waiting for {}", path.display());
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[cfg(not(target_os = "wasi"))]
mod raw {
    pub fn run(attack: &str, _args: &[String]) -> i32 {
        eprintln!("hostile: {attack} needs WASI");
        2
    }
}

#[cfg(target_os = "wasi")]
mod raw {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use wasip2::io::streams::{InputStream, OutputStream, StreamError};
    use wasip2::sockets::instance_network::instance_network;
    use wasip2::sockets::network::{
        ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress,
    };
    use wasip2::sockets::tcp::TcpSocket;
    use wasip2::sockets::tcp_create_socket::create_tcp_socket;
    use wasip2::sockets::udp::{OutgoingDatagram, UdpSocket};
    use wasip2::sockets::udp_create_socket::create_udp_socket;

    use super::{PEER_WAIT, arg, numbered_line, usage, wait_for};

    pub fn run(attack: &str, args: &[String]) -> i32 {
        let result = match attack {
            "stdout-flood" => stdout_flood(args),
            "tcp-flood" => tcp_flood(args),
            "tcp-sink" => tcp_sink(args),
            "udp-sink" => udp_sink(args),
            "udp-empty" => udp_empty(args),
            _ => unreachable!("dispatched by flood::run"),
        };
        result.unwrap_or_else(usage)
    }

    fn err(e: impl std::fmt::Debug) -> String {
        format!("{e:?}")
    }

    fn addr(ip: (u8, u8, u8, u8), port: u16) -> IpSocketAddress {
        IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address: ip })
    }

    /// Writes `chunk` with raw `write` calls for `seconds`, never asking
    /// `check-write`. Returns the number of writes (the host may trap first).
    fn blind_writes(out: &OutputStream, seconds: u64, chunk: &[u8]) -> Result<u64, String> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut writes = 0u64;
        while Instant::now() < deadline {
            for _ in 0..64 {
                match out.write(chunk) {
                    Ok(()) => writes += 1,
                    Err(StreamError::Closed) => return Err(format!("closed after {writes}")),
                    Err(StreamError::LastOperationFailed(e)) => {
                        return Err(format!("failed after {writes}: {}", e.to_debug_string()));
                    }
                }
            }
        }
        Ok(writes)
    }

    fn stdout_flood(args: &[String]) -> Result<i32, String> {
        let seconds: u64 = arg(args, 0, "SECONDS")?;
        let bytes: usize = if args.len() > 1 {
            arg(args, 1, "BYTES")?
        } else {
            65_536
        };
        let line: usize = if args.len() > 2 {
            arg(args, 2, "LINE")?
        } else {
            16
        };
        println!("stdout-flood start");
        let stdout = wasip2::cli::stdout::get_stdout();
        let mut chunk = String::new();
        for n in 0.. {
            let next = numbered_line("flood", n, line);
            if chunk.len() + next.len() > bytes {
                break;
            }
            chunk.push_str(&next);
        }
        let writes = blind_writes(&stdout, seconds, chunk.as_bytes())?;
        drop(stdout);
        println!("stdout-flood end writes={writes}");
        Ok(0)
    }

    fn tcp_flood(args: &[String]) -> Result<i32, String> {
        let port: u16 = arg(args, 0, "PORT")?;
        let seconds: u64 = arg(args, 1, "SECONDS")?;
        let (_socket, _input, output) = connect(port)?;
        println!("tcp-flood connected");
        let writes = blind_writes(&output, seconds, &[b'z'; 4096])?;
        println!("tcp-flood end writes={writes}");
        Ok(0)
    }

    /// Connects to 127.0.0.1:`port`, retrying while refused (the peer may
    /// not listen yet).
    fn connect(port: u16) -> Result<(TcpSocket, InputStream, OutputStream), String> {
        let net = instance_network();
        let start = Instant::now();
        loop {
            let socket = create_tcp_socket(IpAddressFamily::Ipv4).map_err(err)?;
            socket
                .start_connect(&net, addr((127, 0, 0, 1), port))
                .map_err(err)?;
            let ready = socket.subscribe();
            let result = loop {
                match socket.finish_connect() {
                    Err(ErrorCode::WouldBlock) => ready.block(),
                    other => break other,
                }
            };
            drop(ready);
            match result {
                Ok((input, output)) => return Ok((socket, input, output)),
                Err(ErrorCode::ConnectionRefused) if start.elapsed() < PEER_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(format!("connect to {port}: {e:?}")),
            }
        }
    }

    fn tcp_sink(args: &[String]) -> Result<i32, String> {
        let port: u16 = arg(args, 0, "PORT")?;
        let net = instance_network();
        let socket = create_tcp_socket(IpAddressFamily::Ipv4).map_err(err)?;
        let ready = socket.subscribe();
        let finish = |f: &dyn Fn() -> Result<(), ErrorCode>| loop {
            match f() {
                Err(ErrorCode::WouldBlock) => ready.block(),
                other => break other.map_err(err),
            }
        };
        socket
            .start_bind(&net, addr((0, 0, 0, 0), port))
            .map_err(err)?;
        finish(&|| socket.finish_bind())?;
        socket.start_listen().map_err(err)?;
        finish(&|| socket.finish_listen())?;
        println!("tcp-sink listening");
        let _connection = loop {
            match socket.accept() {
                Err(ErrorCode::WouldBlock) => ready.block(),
                other => break other.map_err(err)?,
            }
        };
        println!("tcp-sink accepted");
        // Never read: the writer finds the connection full.
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }

    /// A UDP socket bound to the pod's loopback on `port` (0: any).
    fn bind_udp(port: u16) -> Result<UdpSocket, String> {
        let net = instance_network();
        let socket = create_udp_socket(IpAddressFamily::Ipv4).map_err(err)?;
        socket
            .start_bind(&net, addr((127, 0, 0, 1), port))
            .map_err(err)?;
        let ready = socket.subscribe();
        loop {
            match socket.finish_bind() {
                Err(ErrorCode::WouldBlock) => ready.block(),
                other => break other.map_err(err)?,
            }
        }
        Ok(socket)
    }

    fn udp_sink(args: &[String]) -> Result<i32, String> {
        let port: u16 = arg(args, 0, "PORT")?;
        let dir: String = arg(args, 1, "DIR")?;
        let socket = bind_udp(port)?;
        let (incoming, _outgoing) = socket.stream(None).map_err(err)?;
        let dir = Path::new(&dir);
        std::fs::write(dir.join("ready"), b"").map_err(err)?;
        println!("udp-sink ready");
        if !wait_for(&dir.join("done")) {
            return Ok(1);
        }
        let mut received = 0u64;
        loop {
            let got = incoming.receive(64).map_err(err)?;
            if got.is_empty() {
                break;
            }
            received += got.len() as u64;
        }
        println!("udp-sink received={received}");
        Ok(0)
    }

    fn udp_empty(args: &[String]) -> Result<i32, String> {
        let port: u16 = arg(args, 0, "PORT")?;
        let count: u64 = arg(args, 1, "COUNT")?;
        let dir: String = arg(args, 2, "DIR")?;
        let dir = Path::new(&dir);
        if !wait_for(&dir.join("ready")) {
            return Ok(1);
        }
        let socket = bind_udp(0)?;
        let (_incoming, outgoing) = socket
            .stream(Some(addr((127, 0, 0, 1), port)))
            .map_err(err)?;
        let mut sent = 0u64;
        while sent < count {
            let permitted = outgoing.check_send().map_err(err)?;
            if permitted == 0 {
                outgoing.subscribe().block();
                continue;
            }
            let n = permitted.min(count - sent) as usize;
            let batch: Vec<OutgoingDatagram> = (0..n)
                .map(|_| OutgoingDatagram {
                    data: Vec::new(),
                    remote_address: None,
                })
                .collect();
            sent += outgoing.send(&batch).map_err(err)?;
        }
        std::fs::write(dir.join("done"), b"").map_err(err)?;
        println!("udp-empty sent={sent}");
        Ok(0)
    }
}
