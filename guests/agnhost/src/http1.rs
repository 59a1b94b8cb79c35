//! HTTP/1.1 for agnhost's plain HTTP servers (`grpc-health-checking`'s
//! control server, `liveness`), answering the way a Go `net/http` server
//! with a `ServeMux` does for what kubelet's HTTP probes and `curl` send.
//!
//! One request is served per connection: [`Http1`] waits for the request
//! head (a body, if any, is ignored), answers, and closes. Every response
//! carries `Content-Length` and `Connection: close`, so clients that keep
//! connections alive simply open a new one. HEAD gets the headers only.
//!
//! Before the handler runs, as Go does:
//!
//! * a malformed request line gets `400 Bad Request`, a version other than
//!   `HTTP/1.x` `505 HTTP Version Not Supported`, a head over
//!   [`MAX_REQUEST_HEAD`] bytes `431 Request Header Fields Too Large`;
//! * the target (origin form `/p?q` or absolute form `http://h/p?q`) is
//!   split into path and raw query at the first `?`; another form, or a
//!   path with a bad `%` escape, is a `400`, otherwise handlers see the
//!   path decoded (`OPTIONS *` gets an empty `200`);
//! * a path that is not clean (`//x`, `/a/../x`, `/./x`, or empty) is
//!   redirected, `301 Moved Permanently`, to its [`url::clean`] form with
//!   the same query, as `ServeMux` does.
//!
//! Handlers route on the path only: any method, any host.

use std::time::Instant;

use crate::server::Protocol;
use crate::url;

/// Longest request head accepted; longer ones get `431`.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// A request, as handlers see it.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path, percent-decoded (Go's `r.URL.Path`).
    pub path: &'a [u8],
    /// The query as sent, without the `?` (Go's `r.URL.RawQuery`).
    pub query: &'a str,
}

/// A response; [`Response::encode`] adds `Content-Length` and
/// `Connection: close`.
#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

const TEXT: &str = "text/plain; charset=utf-8";

impl Response {
    /// A text response, typed the way Go sniffs a text body.
    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", TEXT.into())],
            body: body.into(),
        }
    }

    /// What Go's `http.Error(w, message, status)` sends: the message and a
    /// newline, as text, with `X-Content-Type-Options: nosniff`.
    pub fn error(status: u16, message: &str) -> Response {
        Response {
            status,
            headers: vec![
                ("Content-Type", TEXT.into()),
                ("X-Content-Type-Options", "nosniff".into()),
            ],
            body: format!("{message}\n").into_bytes(),
        }
    }

    /// Go's `http.NotFound`: `404 page not found`.
    pub fn not_found() -> Response {
        Response::error(404, "404 page not found")
    }

    /// Go's `http.Redirect(w, r, location, status)` for a request with
    /// `method` and (decoded) `path`: a local `location` (see
    /// [`url::is_local`]) is made absolute against the request path's
    /// directory and cleaned, keeping a trailing slash and the query; any
    /// other is sent as it is. `Location` has non-ASCII bytes
    /// hex-escaped; GET and HEAD get `text/html`, and GET a small HTML
    /// body linking to the location.
    pub fn redirect(status: u16, method: &str, path: &[u8], location: &[u8]) -> Response {
        let mut location = location.to_vec();
        if url::is_local(&location) {
            if location.first() != Some(&b'/') {
                let dir = url::dir(if path.is_empty() { b"/" } else { path });
                location.splice(0..0, dir.iter().copied());
            }
            let query = match location.iter().position(|&b| b == b'?') {
                Some(i) => location.split_off(i),
                None => Vec::new(),
            };
            let trailing = location.ends_with(b"/");
            location = url::clean(&location);
            if trailing && !location.ends_with(b"/") {
                location.push(b'/');
            }
            location.extend(query);
        }
        let mut escaped = String::with_capacity(location.len());
        for &b in &location {
            if b.is_ascii() {
                escaped.push(char::from(b));
            } else {
                escaped.push_str(&format!("%{b:x}"));
            }
        }
        let mut headers = vec![("Location", escaped)];
        let mut body = Vec::new();
        if matches!(method, "GET" | "HEAD") {
            headers.push(("Content-Type", "text/html; charset=utf-8".into()));
        }
        if method == "GET" {
            body.extend_from_slice(b"<a href=\"");
            for &b in &location {
                match b {
                    b'&' => body.extend_from_slice(b"&amp;"),
                    b'<' => body.extend_from_slice(b"&lt;"),
                    b'>' => body.extend_from_slice(b"&gt;"),
                    b'"' => body.extend_from_slice(b"&#34;"),
                    b'\'' => body.extend_from_slice(b"&#39;"),
                    _ => body.push(b),
                }
            }
            // Go writes the line with Fprintln: hence the second newline.
            body.extend_from_slice(format!("\">{}</a>.\n\n", reason(status)).as_bytes());
        }
        Response {
            status,
            headers,
            body,
        }
    }

    /// The response on the wire; HEAD responses (`with_body` false) leave
    /// the body out but keep its `Content-Length`. Header values have line
    /// breaks turned into spaces and are trimmed, as Go writes them.
    pub fn encode(&self, with_body: bool) -> Vec<u8> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        for (name, value) in &self.headers {
            let value = value.replace(['\r', '\n'], " ");
            head.push_str(&format!("{name}: {}\r\n", value.trim_matches([' ', '\t'])));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut out = head.into_bytes();
        if with_body {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// Go's `http.StatusText` for the statuses used here.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// A response of the server itself, before any handler: `400 Bad
/// Request` and the like.
fn refusal(status: u16) -> Vec<u8> {
    Response::text(status, format!("{status} {}", reason(status))).encode(true)
}

/// Answers the request in `received` (everything read from the
/// connection so far) once its head is complete, calling `handle` unless
/// the server answers itself (see the [module docs](self)); `None` while
/// more is needed.
pub fn answer(received: &[u8], handle: impl FnOnce(&Request<'_>) -> Response) -> Option<Vec<u8>> {
    let Some(end) = head_end(received) else {
        return (received.len() > MAX_REQUEST_HEAD).then(|| refusal(431));
    };
    let head = String::from_utf8_lossy(&received[..end]);
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Some(refusal(400));
    };
    if !version.starts_with("HTTP/1.") {
        return Some(refusal(505));
    }
    let with_body = method != "HEAD";
    if target == "*" {
        // `OPTIONS *` asks about the server: nothing to say.
        let status = if method == "OPTIONS" { 200 } else { 400 };
        let response = Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        };
        return Some(response.encode(with_body));
    }
    let Some((raw_path, query)) = split_target(target) else {
        return Some(refusal(400));
    };
    let Some(path) = url::unescape(raw_path.as_bytes(), false) else {
        return Some(refusal(400));
    };
    let mut clean = url::clean(format!("/{raw_path}").as_bytes());
    if raw_path.ends_with('/') && clean != b"/" {
        clean.push(b'/');
    }
    if clean != raw_path.as_bytes() && method != "CONNECT" {
        if !query.is_empty() {
            clean.push(b'?');
            clean.extend_from_slice(query.as_bytes());
        }
        let redirect = Response::redirect(301, method, &path, &clean);
        return Some(redirect.encode(with_body));
    }
    let request = Request {
        method,
        path: &path,
        query,
    };
    Some(handle(&request).encode(with_body))
}

/// Length of the request head, through the blank line ending it.
fn head_end(received: &[u8]) -> Option<usize> {
    let crlf = received
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = received
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The raw path and query of a request target: origin form (`/p?q`) or
/// absolute form (`http://host/p?q`, whose path may be empty); `None` for
/// anything else.
fn split_target(target: &str) -> Option<(&str, &str)> {
    let target = if target.starts_with('/') {
        target
    } else {
        let (_, rest) = target.split_once("://")?;
        rest.find(['/', '?']).map_or("", |i| &rest[i..])
    };
    Some(target.split_once('?').unwrap_or((target, "")))
}

/// Handles one request of a connection, given the state all connections
/// share and the time.
pub type Handler<S> = fn(&Request<'_>, &mut S, Instant) -> Response;

/// An HTTP/1.1 connection: one request, one response, then closed.
pub struct Http1<S> {
    received: Vec<u8>,
    done: bool,
    handler: Handler<S>,
}

impl<S> Http1<S> {
    pub fn new(handler: Handler<S>) -> Http1<S> {
        Http1 {
            received: Vec::new(),
            done: false,
            handler,
        }
    }
}

impl<S> Protocol<S> for Http1<S> {
    fn receive(&mut self, data: &[u8], state: &mut S, now: Instant) -> Vec<u8> {
        if self.done {
            return Vec::new();
        }
        self.received.extend_from_slice(data);
        let handler = self.handler;
        match answer(&self.received, |request| handler(request, state, now)) {
            Some(response) => {
                self.done = true;
                response
            }
            None => Vec::new(),
        }
    }

    fn eof(&mut self) {
        self.done = true;
    }

    fn go_away(&mut self) -> Vec<u8> {
        self.done = true;
        Vec::new()
    }

    fn is_closed(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests;
