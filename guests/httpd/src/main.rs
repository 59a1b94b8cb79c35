//! `httpd`: the small static web server that stands in for `nginx` in
//! wasmpod examples (a wasm32-wasip2 component on `std::net`).
//!
//! * Port: `-p PORT`/`--port PORT`, else env `PORT`, else 80; it listens on
//!   every address of the pod (`0.0.0.0`, as nginx's `listen 80`: other pods and
//!   Services reach it), and prints `httpd: listening on 0.0.0.0:PORT`.
//! * Document root: `-r DIR`/`--root DIR`, else env `DOCROOT`, else
//!   `/usr/share/nginx/html`. `GET` and `HEAD` are served from it, `/` and
//!   other directories via `index.html`; without a docroot or index, `/`
//!   gets a built-in welcome page. `/healthz` answers `200 ok`. Paths that
//!   try to leave the docroot (`..`) get 400, missing files 404, other
//!   methods 405. Every response carries `Content-Length`, `Content-Type`
//!   (by extension) and `Connection: close`.
//! * One access-log line per request on stdout, like nginx's:
//!   `127.0.0.1 - - [21/Nov/2026:06:09:00 +0000] "GET / HTTP/1.1" 200 612`.
//! * Graceful stop: httpd subscribes to wasmpod termination at start. It
//!   serves one connection at a time and checks for termination between
//!   connections; when asked to stop it finishes the current request, prints
//!   `httpd: shutting down` and exits 0.
//!
//! Unknown arguments (for instance nginx's `-g 'daemon off;'`) are reported
//! and ignored.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DEFAULT_ROOT: &str = "/usr/share/nginx/html";
/// How long a client may take to send its request headers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_REQUEST: usize = 16 * 1024;

const WELCOME: &str = "<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx on wasmpod!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto; font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx on wasmpod!</h1>
<p>If you see this page, the web server is running as a WebAssembly
component in a wasmpod pod. No document root was found, so this built-in
page is served instead.</p>
<p><em>Thank you for using wasmpod.</em></p>
</body>
</html>
";

struct Config {
    port: u16,
    root: PathBuf,
}

fn config(args: &[String]) -> Result<Config, String> {
    let mut port = std::env::var("PORT").ok();
    let mut root = std::env::var("DOCROOT").ok();
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{name} requires a value"))
        };
        match name {
            "-p" | "--port" => port = Some(value()?),
            "-r" | "--root" => root = Some(value()?),
            _ => eprintln!("httpd: ignoring argument '{arg}'"),
        }
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("invalid port '{p}'"))?,
        None => 80,
    };
    let root = PathBuf::from(root.unwrap_or_else(|| DEFAULT_ROOT.into()));
    Ok(Config { port, root })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("httpd: {e}");
            wasmpod_guest::exit(2);
        }
    };
    // Every address of the pod, as nginx's `listen 80`: other pods and Services reach it.
    let listener = match TcpListener::bind(("0.0.0.0", config.port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("httpd: can't listen on 0.0.0.0:{}: {e}", config.port);
            wasmpod_guest::exit(1);
        }
    };
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("httpd: can't make the listener non-blocking: {e}");
        wasmpod_guest::exit(1);
    }
    // Like installing a SIGTERM handler: we stop on our own when asked.
    let _termination = wasmpod_guest::subscribe();
    println!("httpd: listening on 0.0.0.0:{}", config.port);
    while !wasmpod_guest::requested() {
        match listener.accept() {
            Ok((stream, peer)) => serve(stream, peer, &config),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wasmpod_guest::sleep_or_terminated(Duration::from_millis(10));
            }
            Err(e) => {
                eprintln!("httpd: accept failed: {e}");
                wasmpod_guest::sleep_or_terminated(Duration::from_millis(10));
            }
        }
    }
    println!("httpd: shutting down");
    wasmpod_guest::exit(0);
}

/// A response about to be sent.
struct Response {
    status: u16,
    content_type: &'static str,
    body: Body,
    extra: Vec<(&'static str, String)>,
}

enum Body {
    Bytes(Vec<u8>),
    File(File, u64),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, n) => *n,
        }
    }
}

fn text(status: u16, body: &str) -> Response {
    Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: Body::Bytes(body.as_bytes().to_vec()),
        extra: Vec::new(),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// Handles one connection: one request, then close.
fn serve(mut stream: TcpStream, peer: SocketAddr, config: &Config) {
    let request = match read_request(&mut stream) {
        Ok(Some(r)) => r,
        Ok(None) => return, // closed without a request
        Err(e) => {
            let status = if e.kind() == io::ErrorKind::TimedOut {
                408
            } else {
                400
            };
            let _ = send(&mut stream, text(status, reason(status)), "HTTP/1.1", false);
            log(peer, "-", status, 0);
            return;
        }
    };
    let request_line = request.lines().next().unwrap_or_default().to_string();
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    // Answer HTTP/1.0 clients in kind; everyone else gets HTTP/1.1.
    let version = match parts.next() {
        Some("HTTP/1.0") => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let head = method == "HEAD";
    let response = if method != "GET" && !head {
        let mut r = text(405, "method not allowed\n");
        r.extra.push(("Allow", "GET, HEAD".into()));
        r
    } else {
        respond(target, &config.root)
    };
    let status = response.status;
    let sent = if head { 0 } else { response.body.len() };
    if let Err(e) = send(&mut stream, response, version, head) {
        eprintln!("httpd: {peer}: {e}");
    }
    log(peer, &request_line, status, sent);
}

/// Reads the request head (up to the blank line).
fn read_request(stream: &mut TcpStream) -> io::Result<Option<String>> {
    stream.set_nonblocking(true)?;
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let mut data = Vec::new();
    let mut buf = [0; 4096];
    while !data.windows(4).any(|w| w == b"\r\n\r\n") && !data.windows(2).any(|w| w == b"\n\n") {
        match stream.read(&mut buf) {
            Ok(0) if data.is_empty() => return Ok(None),
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        if data.len() > MAX_REQUEST {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
    Ok(Some(String::from_utf8_lossy(&data).into_owned()))
}

/// Decodes `%XX` escapes; `None` if malformed.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "log" | "md" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Maps a request target to a response.
fn respond(target: &str, root: &Path) -> Response {
    let raw_path = target.split(['?', '#']).next().unwrap_or("");
    let Some(path) = percent_decode(raw_path).filter(|p| p.starts_with('/')) else {
        return text(400, "bad request\n");
    };
    if path.split('/').any(|seg| seg == ".." || seg.contains('\\')) {
        return text(400, "bad request\n");
    }
    if path == "/healthz" {
        return text(200, "ok");
    }
    let mut file = root.join(path.trim_start_matches('/'));
    if file.is_dir() {
        if !path.ends_with('/') {
            let mut r = text(301, "moved\n");
            r.extra.push(("Location", format!("{path}/")));
            return r;
        }
        file.push("index.html");
    }
    match File::open(&file).and_then(|f| Ok((f.metadata()?, f))) {
        Ok((meta, f)) if meta.is_file() => Response {
            status: 200,
            content_type: content_type(&file),
            body: Body::File(f, meta.len()),
            extra: Vec::new(),
        },
        _ if path == "/" => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: Body::Bytes(WELCOME.as_bytes().to_vec()),
            extra: Vec::new(),
        },
        _ => text(404, "not found\n"),
    }
}

fn send(stream: &mut TcpStream, response: Response, version: &str, head: bool) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    let mut header = format!(
        "{version} {} {}\r\nServer: wasmpod-httpd\r\nDate: {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        http_date(now_secs()),
        response.content_type,
        response.body.len(),
    );
    for (k, v) in &response.extra {
        header.push_str(&format!("{k}: {v}\r\n"));
    }
    header.push_str("\r\n");
    stream.write_all(header.as_bytes())?;
    if !head {
        match response.body {
            Body::Bytes(b) => stream.write_all(&b)?,
            Body::File(mut f, _) => {
                io::copy(&mut f, stream)?;
            }
        }
    }
    stream.flush()
}

fn log(peer: SocketAddr, request_line: &str, status: u16, bytes: u64) {
    println!(
        "{} - - [{}] \"{}\" {status} {bytes}",
        peer.ip(),
        log_date(now_secs()),
        request_line.escape_default()
    );
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// (year, month 1-12, day, hour, minute, second, weekday 0=Sunday) in UTC.
fn civil(secs: i64) -> (i64, usize, i64, i64, i64, i64, usize) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = (days + 4).rem_euclid(7) as usize;
    (
        year,
        month as usize,
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        weekday,
    )
}

/// `21/Nov/2026:06:09:00 +0000`
fn log_date(secs: i64) -> String {
    let (y, mo, d, h, mi, s, _) = civil(secs);
    format!("{d:02}/{}/{y}:{h:02}:{mi:02}:{s:02} +0000", MONTHS[mo - 1])
}

/// `Sat, 21 Nov 2026 06:09:00 GMT`
fn http_date(secs: i64) -> String {
    let (y, mo, d, h, mi, s, wd) = civil(secs);
    format!(
        "{}, {d:02} {} {y} {h:02}:{mi:02}:{s:02} GMT",
        DAYS[wd],
        MONTHS[mo - 1]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(log_date(1_795_241_340), "21/Nov/2026:06:09:00 +0000");
        assert_eq!(http_date(1_795_241_340), "Sat, 21 Nov 2026 06:09:00 GMT");
    }

    #[test]
    fn routing() {
        let root = std::env::temp_dir().join(format!("httpd-test-{}", std::process::id()));
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/index.html"), "<p>sub</p>").unwrap();
        std::fs::write(root.join("a b.css"), "x{}").unwrap();
        assert_eq!(respond("/", &root).status, 200); // built-in welcome page
        assert_eq!(respond("/sub/", &root).status, 200);
        let r = respond("/sub", &root);
        assert_eq!((r.status, r.extra[0].1.as_str()), (301, "/sub/"));
        let css = respond("/a%20b.css?v=1", &root);
        assert_eq!(
            (css.status, css.content_type, css.body.len()),
            (200, "text/css; charset=utf-8", 3)
        );
        assert_eq!(respond("/missing", &root).status, 404);
        assert_eq!(respond("/../etc/passwd", &root).status, 400);
        assert_eq!(respond("/sub/%2e%2e/x", &root).status, 400);
        assert_eq!(respond("/healthz", &root).status, 200);
        let missing_root = root.join("nope");
        assert_eq!(respond("/", &missing_root).body.len(), WELCOME.len() as u64);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn arguments() {
        let args: Vec<String> = ["httpd", "--port=8080", "-r", "/srv", "-g", "daemon off;"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = config(&args).unwrap();
        assert_eq!((c.port, c.root.as_path()), (8080, Path::new("/srv")));
    }
}
