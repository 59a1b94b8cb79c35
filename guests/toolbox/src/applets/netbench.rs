//! Bench-only: `netbench` measures TCP throughput, round-trip latency and
//! connection set-up between two containers of a pod or two pods (used by
//! `cli/benches/network.rs` and `cli/benches/cluster.rs`). Servers listen on
//! `0.0.0.0`, so other pods and Services reach them.
//!
//! * `netbench sink PORT`: accept one connection, read to EOF, print
//!   `netbench sink bytes=N secs=S`.
//! * `netbench send HOST PORT MIB`: connect (retrying until the sink
//!   listens), write MIB MiB in 64 KiB writes, close, print
//!   `netbench send bytes=N secs=S`.
//! * `netbench echo PORT`: accept one connection and echo fixed 64-byte
//!   messages until EOF.
//! * `netbench ping HOST PORT COUNT`: send COUNT 64-byte messages one at a
//!   time, each after the previous echo, print `netbench ping count=N secs=S`.
//! * `netbench accepts PORT COUNT`: accept COUNT connections (plus the
//!   client's first, which waits for the server) and close each.
//! * `netbench connects HOST PORT COUNT`: connect once (retrying until the
//!   server listens), then time COUNT sequential connect-and-close, print
//!   `netbench connects count=N secs=S`.
//! * `netbench http HOST PORT COUNT`: COUNT `GET /` requests, one at a
//!   time on one HTTP/1.1 keep-alive connection (a response is read by its
//!   `Content-Length` or chunked framing), print `netbench http count=N secs=S p50_us=.. p99_us=..`.
//! * `netbench crash PORT`: accept one connection, send `hello`, then trap
//!   (a crash with the connection open, for tests).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::io::Io;

const MESSAGE: usize = 64;

/// The `netbench` applet.
pub fn netbench(args: &[String], io: &mut Io) -> i32 {
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let result = match (arg(1), args.len()) {
        ("sink", 3) => sink(arg(2)),
        ("send", 5) => send(arg(2), arg(3), arg(4)),
        ("echo", 3) => echo(arg(2)),
        ("ping", 5) => ping(arg(2), arg(3), arg(4)),
        ("crash", 3) => crash(arg(2), io),
        ("accepts", 4) => accepts(arg(2), arg(3)),
        ("connects", 5) => connects(arg(2), arg(3), arg(4)),
        ("http", 5) => http(arg(2), arg(3), arg(4)),
        _ => Err("usage: netbench sink PORT | send HOST PORT MIB | echo PORT | ping HOST PORT COUNT | accepts PORT COUNT | connects HOST PORT COUNT | http HOST PORT COUNT | crash PORT".into()),
    };
    match result {
        Ok(line) => {
            let _ = writeln!(io.stdout, "{line}");
            io.flush();
            0
        }
        Err(e) => {
            io.error(format!("netbench: {e}"));
            1
        }
    }
}

fn listen(port: &str) -> Result<TcpListener, String> {
    TcpListener::bind(("0.0.0.0", port.parse::<u16>().map_err(|e| e.to_string())?))
        .map_err(|e| e.to_string())
}

fn accept(port: &str) -> Result<TcpStream, String> {
    let listener = listen(port)?;
    listener.accept().map(|(s, _)| s).map_err(|e| e.to_string())
}

fn count(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())
}

fn accepts(port: &str, n: &str) -> Result<String, String> {
    let n = count(n)?;
    let listener = listen(port)?;
    for _ in 0..=n {
        drop(listener.accept().map_err(|e| e.to_string())?);
    }
    Ok(format!("netbench accepts count={n}"))
}

fn connects(host: &str, port: &str, n: &str) -> Result<String, String> {
    let n = count(n)?;
    drop(dial(host, port)?);
    let port: u16 = port
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    let start = Instant::now();
    for _ in 0..n {
        drop(TcpStream::connect((host, port)).map_err(|e| e.to_string())?);
    }
    Ok(format!(
        "netbench connects count={n} secs={:.6}",
        start.elapsed().as_secs_f64()
    ))
}

fn dial(host: &str, port: &str) -> Result<TcpStream, String> {
    let port: u16 = port
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        match TcpStream::connect((host, port)) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() > give_up => return Err(e.to_string()),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn sink(port: &str) -> Result<String, String> {
    let mut s = accept(port)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let start = Instant::now();
    loop {
        match s.read(&mut buf).map_err(|e| e.to_string())? {
            0 => break,
            n => total += n as u64,
        }
    }
    Ok(format!(
        "netbench sink bytes={total} secs={:.6}",
        start.elapsed().as_secs_f64()
    ))
}

fn send(host: &str, port: &str, mib: &str) -> Result<String, String> {
    let mib: u64 = mib
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    let mut s = dial(host, port)?;
    let chunk = vec![0x5au8; 64 * 1024];
    let start = Instant::now();
    for _ in 0..mib * 16 {
        s.write_all(&chunk).map_err(|e| e.to_string())?;
    }
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "netbench send bytes={} secs={:.6}",
        mib * 1024 * 1024,
        start.elapsed().as_secs_f64()
    ))
}

fn echo(port: &str) -> Result<String, String> {
    let mut s = accept(port)?;
    let mut buf = [0u8; MESSAGE];
    let mut count = 0u64;
    loop {
        match s.read_exact(&mut buf) {
            Ok(()) => s.write_all(&buf).map_err(|e| e.to_string())?,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e.to_string()),
        }
        count += 1;
    }
    Ok(format!("netbench echo count={count}"))
}

fn ping(host: &str, port: &str, count: &str) -> Result<String, String> {
    let count: u64 = count
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    let mut s = dial(host, port)?;
    let _ = s.set_nodelay(true);
    let msg = [0x42u8; MESSAGE];
    let mut buf = [0u8; MESSAGE];
    let start = Instant::now();
    for _ in 0..count {
        s.write_all(&msg).map_err(|e| e.to_string())?;
        s.read_exact(&mut buf).map_err(|e| e.to_string())?;
    }
    Ok(format!(
        "netbench ping count={count} secs={:.6}",
        start.elapsed().as_secs_f64()
    ))
}

/// Reads one HTTP/1.1 response from `s`, its body framed by `Content-Length` or chunked
/// (`buf` keeps what was read past it); its status.
fn response(s: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16, String> {
    let mut chunk = [0u8; 4096];
    let mut more = |buf: &mut Vec<u8>| -> Result<(), String> {
        let n = s.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed in a response".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        Ok(())
    };
    let find = |buf: &[u8], from: usize, what: &[u8]| {
        buf.get(from..)
            .and_then(|b| b.windows(what.len()).position(|w| w == what))
            .map(|i| from + i)
    };
    let end = loop {
        match find(buf, 0, b"\r\n\r\n") {
            Some(end) => break end,
            None => more(buf)?,
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let body = end + 4;
    let total = if let Some(length) = header("content-length:") {
        let length: usize = length.parse().map_err(|_| "bad content-length")?;
        while buf.len() < body + length {
            more(buf)?;
        }
        body + length
    } else if header("transfer-encoding:").as_deref() == Some("chunked") {
        // Chunk by chunk: a size line, the data, CRLF; size 0 ends it (no trailers).
        let mut at = body;
        loop {
            let line_end = loop {
                match find(buf, at, b"\r\n") {
                    Some(i) => break i,
                    None => more(buf)?,
                }
            };
            let size_text = String::from_utf8_lossy(&buf[at..line_end]).to_string();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            let next = line_end + 2 + size + 2;
            while buf.len() < next {
                more(buf)?;
            }
            at = next;
            if size == 0 {
                break at;
            }
        }
    } else {
        return Err("a response without content-length or chunked framing".into());
    };
    buf.drain(..total);
    Ok(status)
}

fn http(host: &str, port: &str, n: &str) -> Result<String, String> {
    let n = count(n)?;
    let mut s = dial(host, port)?;
    let _ = s.set_nodelay(true);
    let request = format!("GET / HTTP/1.1\r\nhost: {host}\r\n\r\n");
    let mut buf = Vec::new();
    let mut latencies = Vec::with_capacity(n as usize);
    let start = Instant::now();
    for _ in 0..n {
        let sent = Instant::now();
        s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
        let status = response(&mut s, &mut buf)?;
        if status != 200 {
            return Err(format!("status {status}"));
        }
        latencies.push(sent.elapsed().as_secs_f64() * 1e6);
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    Ok(format!(
        "netbench http count={n} secs={secs:.6} p50_us={:.1} p99_us={:.1}",
        at(0.5),
        at(0.99)
    ))
}

fn crash(port: &str, io: &mut Io) -> Result<String, String> {
    let mut s = accept(port)?;
    s.write_all(b"hello").map_err(|e| e.to_string())?;
    super::misc::trapnow(&[], io);
    unreachable!("trapnow does not return")
}
