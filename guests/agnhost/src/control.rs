//! The HTTP/1.1 control server on `--http-port`, as in agnhost:
//!
//! * `/make-not-serving` makes the endpoint report NOT_SERVING;
//! * `/make-serving` undoes that (see [`crate::health`] for how it combines
//!   with `--delay-unhealthy-sec`);
//!
//! both answering `200` with the time since start in Go's duration format
//! (`12.345678901s`). Any other path is `404 page not found`. Like Go's
//! `http.HandleFunc` routes, the method does not matter (HEAD gets no body)
//! and a query string is ignored. Every response carries `Content-Length`
//! and `Connection: close`; one request is served per connection.

use std::time::Instant;

use crate::health::{Health, go_duration};

/// Longest request head accepted; longer ones get `431`.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Answers the request in `received` (everything read from the connection
/// so far) once its head is complete, updating `health`; `None` while more
/// is needed.
pub fn respond(received: &[u8], health: &mut Health, now: Instant) -> Option<Vec<u8>> {
    let Some(end) = head_end(received) else {
        return (received.len() > MAX_REQUEST_HEAD).then(|| {
            response(
                431,
                "Request Header Fields Too Large",
                "431 Request Header Fields Too Large",
                false,
            )
        });
    };
    let head = String::from_utf8_lossy(&received[..end]);
    let mut parts = head.lines().next().unwrap_or_default().split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Some(response(400, "Bad Request", "400 Bad Request", false));
    };
    if !version.starts_with("HTTP/1.") {
        return Some(response(
            505,
            "HTTP Version Not Supported",
            "505 HTTP Version Not Supported",
            false,
        ));
    }
    let with_body = method != "HEAD";
    let unhealthy = match path(target) {
        "/make-not-serving" => true,
        "/make-serving" => false,
        _ => {
            return Some(response(
                404,
                "Not Found",
                "404 page not found\n",
                with_body,
            ));
        }
    };
    let mark = if unhealthy { "unhealthy" } else { "healthy" };
    crate::say(format_args!("grpc-health-checking: Mark as {mark}"));
    health.force_unhealthy(unhealthy);
    let uptime = go_duration(health.uptime(now));
    Some(response(200, "OK", &uptime, with_body))
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

/// The path of a request target: origin form (`/p?q`) or absolute form
/// (`http://host/p?q`).
fn path(target: &str) -> &str {
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    target.split(['?', '#']).next().unwrap_or_default()
}

/// A complete `Connection: close` response.
fn response(status: u16, reason: &str, body: &str, with_body: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if with_body {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::health::ServingStatus;

    fn text(bytes: Option<Vec<u8>>) -> String {
        String::from_utf8(bytes.expect("a response")).unwrap()
    }

    #[test]
    fn make_not_serving_and_back() {
        let start = Instant::now();
        let mut health = Health::new(start, String::new(), -1);
        let later = start + Duration::from_millis(1500);
        let r = text(respond(
            b"GET /make-not-serving HTTP/1.1\r\nHost: x\r\n\r\n",
            &mut health,
            later,
        ));
        assert_eq!(
            r,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 4\r\nConnection: close\r\n\r\n1.5s"
        );
        assert_eq!(health.status(later), ServingStatus::NotServing);
        let r = text(respond(
            b"GET /make-serving?x=1 HTTP/1.0\n\n",
            &mut health,
            later,
        ));
        assert!(
            r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\n1.5s"),
            "{r}"
        );
        assert_eq!(health.status(later), ServingStatus::Serving);
        // Any method, and absolute-form targets, are routed alike.
        let r = text(respond(
            b"POST http://h:8080/make-not-serving HTTP/1.1\r\n\r\n",
            &mut health,
            later,
        ));
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(health.status(later), ServingStatus::NotServing);
    }

    #[test]
    fn other_requests() {
        let start = Instant::now();
        let mut health = Health::new(start, String::new(), -1);
        let r = text(respond(b"GET / HTTP/1.1\r\n\r\n", &mut health, start));
        assert!(
            r.starts_with("HTTP/1.1 404 Not Found\r\n")
                && r.ends_with("\r\n\r\n404 page not found\n")
        );
        assert!(r.contains("Content-Length: 19\r\n") && r.contains("Connection: close\r\n"));
        let r = text(respond(
            b"HEAD /make-serving/ HTTP/1.1\r\n\r\n",
            &mut health,
            start,
        ));
        assert!(r.starts_with("HTTP/1.1 404 ") && r.ends_with("\r\n\r\n"));
        let r = text(respond(b"GARBAGE\r\n\r\n", &mut health, start));
        assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        let r = text(respond(b"GET / SPDY/3\r\n\r\n", &mut health, start));
        assert!(r.starts_with("HTTP/1.1 505 "));
        assert_eq!(health.status(start), ServingStatus::Serving);
    }

    #[test]
    fn incomplete_and_oversized_heads() {
        let start = Instant::now();
        let mut health = Health::new(start, String::new(), -1);
        assert_eq!(
            respond(b"GET /make-not-serving HTTP/1.1\r\n", &mut health, start),
            None
        );
        assert_eq!(health.status(start), ServingStatus::Serving);
        let big = vec![b'a'; MAX_REQUEST_HEAD + 1];
        assert!(text(respond(&big, &mut health, start)).starts_with("HTTP/1.1 431 "));
    }

    #[test]
    fn paths() {
        assert_eq!(path("/make-serving?a=b"), "/make-serving");
        assert_eq!(path("http://localhost:8080/x#f"), "/x");
        assert_eq!(path("http://localhost:8080"), "/");
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
    }
}
