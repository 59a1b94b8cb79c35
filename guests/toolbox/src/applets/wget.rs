//! `wget`: a plain-HTTP client on the socket helpers of [`super::net`].

use std::io::{self, Read, Write};
use std::time::Instant;

use super::net::{Wait, connect, describe, seconds, send_all, wait_for};
use super::parse;
use crate::io::{Io, errstr, open_output};
use crate::term;

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, PartialEq)]
struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Url, String> {
    let rest = match url.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => return Err(format!("{scheme} is not supported (plain http only)")),
        None => url,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && !p.contains(']') => {
            (h, p.parse().map_err(|_| format!("bad port in '{url}'"))?)
        }
        _ => (authority, 80),
    };
    if host.is_empty() {
        return Err(format!("bad address '{url}'"));
    }
    Ok(Url {
        host: host.to_string(),
        port,
        path: path.to_string(),
    })
}

/// A received HTTP response.
struct Response {
    /// The status line, e.g. `HTTP/1.1 200 OK`.
    status: String,
    /// Headers with lower-case names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Splits an HTTP response into status line, headers and body, decoding a
/// chunked body.
fn parse_response(data: &[u8]) -> Result<Response, String> {
    let end = data
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed response")?;
    let head = String::from_utf8_lossy(&data[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = data[end + 4..].to_vec();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        let mut decoded = Vec::new();
        let mut rest = &body[..];
        while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
            let size_line = String::from_utf8_lossy(&rest[..i]);
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| "bad chunk size")?;
            rest = &rest[i + 2..];
            if size == 0 || rest.len() < size {
                break;
            }
            decoded.extend_from_slice(&rest[..size]);
            rest = rest.get(size + 2..).unwrap_or_default();
        }
        body = decoded;
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.truncate(len);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `wget [-q] [-O FILE|-] [-T SECS] [--spider] URL`: HTTP/1.0 GET (plain
/// http only), following up to 5 redirects. Non-2xx responses fail with
/// `wget: server returned error: STATUS LINE`.
pub fn wget(args: &[String], io: &mut Io) -> i32 {
    let mut spider = false;
    let mut normalized = vec![args[0].clone()];
    for a in &args[1..] {
        match a.split_once('=').unwrap_or((a, "")) {
            ("--spider", _) => spider = true,
            ("--quiet", _) => normalized.push("-q".into()),
            ("--output-document", v) => normalized.extend(["-O".into(), v.into()]),
            ("--timeout", v) => normalized.extend(["-T".into(), v.into()]),
            ("--tries", _) | ("--no-check-certificate", _) => {}
            _ => normalized.push(a.clone()),
        }
    }
    let Some(opts) = parse(&normalized, "qO:T:t:S", io) else {
        return 1;
    };
    let quiet = opts.has('q');
    let [url] = opts.operands.as_slice() else {
        io.error("wget: usage: wget [-q] [-O FILE] [-T SECS] URL");
        return 1;
    };
    let timeout = match seconds(opts.value('T')) {
        Ok(t) => t,
        Err(e) => {
            io.error(format!("wget: {e}"));
            return 1;
        }
    };
    let mut url = url.clone();
    for _ in 0..=5 {
        let u = match parse_url(&url) {
            Ok(u) => u,
            Err(e) => {
                io.error(format!("wget: {e}"));
                return 1;
            }
        };
        let mut stream = match connect(&u.host, u.port, timeout) {
            Ok(s) => s,
            Err(e) => {
                io.error(format!(
                    "wget: can't connect to remote host {}:{}: {}",
                    u.host,
                    u.port,
                    describe(&e)
                ));
                return 1;
            }
        };
        if !quiet {
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            io.error(format!("Connecting to {}:{} ({peer})", u.host, u.port));
        }
        let request = format!(
            "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: Wget (wasmpod toolbox)\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            u.path, u.host
        );
        let mut data = Vec::new();
        let received = stream.set_nonblocking(true).and_then(|()| {
            if !send_all(&mut stream, request.as_bytes())? {
                return Ok(None);
            }
            let mut buf = vec![0; 16 * 1024];
            loop {
                match wait_for(timeout.map(|t| Instant::now() + t), || {
                    stream.read(&mut buf)
                })? {
                    Wait::Ready(0) => return Ok(Some(())),
                    Wait::Ready(n) => data.extend_from_slice(&buf[..n]),
                    Wait::TimedOut => {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "download timed out",
                        ));
                    }
                    Wait::Terminated => return Ok(None),
                }
            }
        });
        match received {
            Ok(Some(())) => {}
            Ok(None) => return term::STATUS,
            Err(e) => {
                io.error(format!("wget: {}", describe(&e)));
                return 1;
            }
        }
        let Response {
            status,
            headers,
            body,
        } = match parse_response(&data) {
            Ok(r) => r,
            Err(e) => {
                io.error(format!("wget: {e}"));
                return 1;
            }
        };
        let code: u16 = status
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let location = headers
            .iter()
            .find(|(k, _)| k == "location")
            .map(|(_, v)| v.clone());
        if matches!(code, 301 | 302 | 303 | 307 | 308)
            && let Some(loc) = location
        {
            url = if loc.starts_with('/') {
                format!("http://{}:{}{loc}", u.host, u.port)
            } else {
                loc
            };
            continue;
        }
        if !(200..300).contains(&code) {
            io.error(format!("wget: server returned error: {status}"));
            return 1;
        }
        if spider {
            return 0;
        }
        let target = opts.value('O').map(str::to_string).unwrap_or_else(|| {
            let path = u.path.split(['?', '#']).next().unwrap_or("");
            match path.rsplit('/').next() {
                Some(name) if !name.is_empty() => name.to_string(),
                _ => "index.html".into(),
            }
        });
        if target == "-" {
            return i32::from(io.stdout.write_all(&body).is_err());
        }
        if !quiet {
            io.error(format!("saving to '{target}'"));
        }
        let written = open_output(&target, false, io).and_then(|mut f| {
            f.write_all(&body)?;
            f.flush()
        });
        if let Err(e) = written {
            io.error(format!("wget: can't open '{target}': {}", errstr(&e)));
            return 1;
        }
        if !quiet {
            io.error(format!("'{target}' saved"));
        }
        return 0;
    }
    io.error("wget: too many redirects");
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://web:8080/a/b?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("web", 8080, "/a/b?x=1")
        );
        let u = parse_url("localhost").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("localhost", 80, "/")
        );
        let u = parse_url("http://[::1]:81/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 81));
        assert!(parse_url("https://x/").is_err());
    }

    #[test]
    fn responses() {
        let r = parse_response(b"HTTP/1.0 404 Not Found\r\nContent-Length: 2\r\n\r\nno!").unwrap();
        assert_eq!(r.status, "HTTP/1.0 404 Not Found");
        assert_eq!(r.body, b"no");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap().body, b"abcde");
    }
}
