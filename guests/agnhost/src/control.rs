//! The HTTP/1.1 control server on `--http-port`, as in agnhost:
//!
//! * `/make-not-serving` makes the endpoint report NOT_SERVING;
//! * `/make-serving` undoes that (see [`crate::health`] for how it combines
//!   with `--delay-unhealthy-sec`);
//!
//! both answering `200` with the time since start in Go's duration format
//! (`12.345678901s`). Any other path is `404 page not found`. Like Go's
//! `http.HandleFunc` routes, the method does not matter (HEAD gets no body)
//! and a query string is ignored; requests are read and answered as
//! [`crate::http1`] describes.

use std::time::Instant;

use crate::gofmt::go_duration;
use crate::health::Health;
use crate::http1::{Request, Response};

/// Answers one control request, updating `health`.
pub fn handle(request: &Request<'_>, health: &mut Health, now: Instant) -> Response {
    let unhealthy = match request.path {
        b"/make-not-serving" => true,
        b"/make-serving" => false,
        _ => return Response::not_found(),
    };
    let mark = if unhealthy { "unhealthy" } else { "healthy" };
    crate::say(format_args!("grpc-health-checking: Mark as {mark}"));
    health.force_unhealthy(unhealthy);
    Response::text(200, go_duration(health.uptime(now)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::health::ServingStatus;
    use crate::http1;

    fn respond(received: &[u8], health: &mut Health, now: Instant) -> String {
        let bytes = http1::answer(received, |r| handle(r, health, now)).expect("a response");
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn make_not_serving_and_back() {
        let start = Instant::now();
        let mut health = Health::new(start, String::new(), -1);
        let later = start + Duration::from_millis(1500);
        let r = respond(
            b"GET /make-not-serving HTTP/1.1\r\nHost: x\r\n\r\n",
            &mut health,
            later,
        );
        assert_eq!(
            r,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 4\r\nConnection: close\r\n\r\n1.5s"
        );
        assert_eq!(health.status(later), ServingStatus::NotServing);
        let r = respond(b"GET /make-serving?x=1 HTTP/1.0\n\n", &mut health, later);
        assert!(
            r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with("\r\n\r\n1.5s"),
            "{r}"
        );
        assert_eq!(health.status(later), ServingStatus::Serving);
        // Any method, and absolute-form or escaped targets, are routed alike.
        for request in [
            &b"POST http://h:8080/make-not-serving HTTP/1.1\r\n\r\n"[..],
            b"GET /make-not-%73erving HTTP/1.1\r\n\r\n",
        ] {
            health.force_unhealthy(false);
            let r = respond(request, &mut health, later);
            assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
            assert_eq!(health.status(later), ServingStatus::NotServing);
        }
    }

    #[test]
    fn other_requests() {
        let start = Instant::now();
        let mut health = Health::new(start, String::new(), -1);
        let r = respond(b"GET / HTTP/1.1\r\n\r\n", &mut health, start);
        assert!(
            r.starts_with("HTTP/1.1 404 Not Found\r\n")
                && r.ends_with("\r\n\r\n404 page not found\n")
        );
        assert!(r.contains("Content-Length: 19\r\n") && r.contains("Connection: close\r\n"));
        let r = respond(b"HEAD /make-serving/ HTTP/1.1\r\n\r\n", &mut health, start);
        assert!(r.starts_with("HTTP/1.1 404 ") && r.ends_with("\r\n\r\n"));
        // Not clean: redirected, and nothing is marked.
        let r = respond(
            b"GET //make-not-serving HTTP/1.1\r\n\r\n",
            &mut health,
            start,
        );
        assert!(r.starts_with("HTTP/1.1 301 Moved Permanently\r\nLocation: /make-not-serving\r\n"));
        let r = respond(b"GARBAGE\r\n\r\n", &mut health, start);
        assert!(r.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        let r = respond(b"GET / SPDY/3\r\n\r\n", &mut health, start);
        assert!(r.starts_with("HTTP/1.1 505 "));
        assert_eq!(health.status(start), ServingStatus::Serving);
        let incomplete = b"GET /make-not-serving HTTP/1.1\r\n";
        assert_eq!(
            http1::answer(incomplete, |r| handle(r, &mut health, start)),
            None
        );
        assert_eq!(health.status(start), ServingStatus::Serving);
    }
}
