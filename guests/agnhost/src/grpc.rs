//! gRPC over HTTP/2 (gRPC's `PROTOCOL-HTTP2.md`) for one service,
//! `grpc.health.v1.Health`, answering `Check` the way agnhost does.
//!
//! * `POST /grpc.health.v1.Health/Check` with a `HealthCheckRequest` whose
//!   `service` equals `--service` (by default both are "") answers
//!   `HealthCheckResponse { status }` with the current [`ServingStatus`].
//!   Any other `service` fails with `NOT_FOUND` (5), "unknown service".
//!   Like agnhost, and unlike grpc-go's stock health server, "" is *not*
//!   also accepted when `--service` names a service.
//! * `Watch` and every other method fail with `UNIMPLEMENTED` (12), with a
//!   message naming the method, in grpc-go's words.
//! * Requests that are not gRPC get grpc-go's early answers: 405 for a
//!   method other than POST, 415 for a content type other than
//!   `application/grpc[+proto|;...]`, both with `INTERNAL` (13).
//! * Malformed request messages fail with `INTERNAL`, compressed ones with
//!   `UNIMPLEMENTED` (no compressor is supported), and bodies over
//!   [`MAX_BODY`] with `RESOURCE_EXHAUSTED` (8).
//!
//! Success is HEADERS (`:status 200`, `content-type: application/grpc`),
//! DATA (the length-prefixed message) and trailers (`grpc-status: 0`);
//! failures are trailers-only (one HEADERS frame with `grpc-status` and a
//! percent-encoded `grpc-message`).

use std::io;
use std::net::TcpListener;
use std::time::Instant;

use crate::frame::ErrorCode;
use crate::h2::{Connection, MAX_BODY, Request, Response, Service};
use crate::health::{Health, ServingStatus};
use crate::http1::Http1;
use crate::server::{Protocol, Server};
use crate::{control, proto};

/// The one implemented method.
pub const CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// gRPC status codes used here.
pub const OK: u32 = 0;
pub const NOT_FOUND: u32 = 5;
pub const RESOURCE_EXHAUSTED: u32 = 8;
pub const UNIMPLEMENTED: u32 = 12;
pub const INTERNAL: u32 = 13;

/// The gRPC health service over a [`Health`] state, as of `now`.
pub struct HealthService<'a> {
    pub health: &'a Health,
    pub now: Instant,
}

impl Service for HealthService<'_> {
    fn call(&mut self, request: &Request<'_>) -> Response {
        if request.method != "POST" {
            let message = format!(
                "http2Server.operateHeaders parsed a :method field: {} which should be POST",
                request.method
            );
            return failure(405, INTERNAL, &message);
        }
        if !is_grpc(request.content_type) {
            let message = format!(
                "transport: received unexpected content-type {:?}",
                request.content_type
            );
            return failure(415, INTERNAL, &message);
        }
        if request.path != CHECK_PATH {
            return failure(200, UNIMPLEMENTED, &unimplemented(request.path));
        }
        let Some(body) = request.body else {
            let message = format!("grpc: received message larger than max ({MAX_BODY} bytes)");
            return failure(200, RESOURCE_EXHAUSTED, &message);
        };
        self.check(body)
    }
}

impl HealthService<'_> {
    /// `Check`, given the request body.
    fn check(&self, body: &[u8]) -> Response {
        let message = match unframe(body) {
            Ok(m) => m,
            Err((code, message)) => return failure(200, code, message),
        };
        let service = match proto::decode_health_check_request(message) {
            Ok(s) => s,
            Err(e) => {
                let message = format!("grpc: error unmarshalling request: {e}");
                return failure(200, INTERNAL, &message);
            }
        };
        if service != self.health.service() {
            return failure(200, NOT_FOUND, "unknown service");
        }
        let status: ServingStatus = self.health.status(self.now);
        let reply = proto::encode_health_check_response(status as u64);
        Response {
            status: 200,
            headers: vec![("content-type", "application/grpc".into())],
            body: frame_message(&reply),
            trailers: vec![("grpc-status", OK.to_string())],
        }
    }
}

/// The servers of `grpc-health-checking`: gRPC health on `grpc`, the
/// control endpoints on `control`, over one [`Health`].
pub fn server(
    grpc: TcpListener,
    control: TcpListener,
    health: Health,
) -> io::Result<Server<Health>> {
    let mut server = Server::new("grpc-health-checking", health);
    server.listen(grpc, || Box::new(Connection::new()))?;
    server.listen(control, || Box::new(Http1::new(control::handle)))?;
    Ok(server)
}

/// An HTTP/2 connection serving [`HealthService`].
impl Protocol<Health> for Connection {
    fn start(&mut self) -> Vec<u8> {
        // The server's SETTINGS go out first.
        self.take_output()
    }

    fn receive(&mut self, data: &[u8], health: &mut Health, now: Instant) -> Vec<u8> {
        let mut service = HealthService { health, now };
        Connection::receive(self, data, &mut service);
        self.take_output()
    }

    fn eof(&mut self) {
        Connection::eof(self);
    }

    fn go_away(&mut self) -> Vec<u8> {
        Connection::go_away(self, ErrorCode::NoError);
        self.take_output()
    }

    fn is_closed(&self) -> bool {
        Connection::is_closed(self)
    }

    fn is_idle(&self) -> bool {
        Connection::is_idle(self)
    }
}

/// Whether `content_type` is gRPC's (`application/grpc`, optionally with
/// a `+subtype` or parameters).
fn is_grpc(content_type: &str) -> bool {
    content_type
        .strip_prefix("application/grpc")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['+', ';']))
}

/// grpc-go's message for a method it does not serve.
fn unimplemented(path: &str) -> String {
    let Some((service, method)) = path
        .strip_prefix('/')
        .and_then(|p| p.rsplit_once('/'))
        .filter(|(s, m)| !s.is_empty() && !m.is_empty())
    else {
        return format!("malformed method name: {path:?}");
    };
    match (service, method) {
        (HEALTH_SERVICE, "Watch") => "method Watch not implemented".into(),
        (HEALTH_SERVICE, _) => format!("unknown method {method} for service {service}"),
        _ => format!("unknown service {service}"),
    }
}

/// The single message of a unary request body: a 5-byte prefix
/// (compressed flag, big-endian length) and exactly that many bytes.
fn unframe(body: &[u8]) -> Result<&[u8], (u32, &'static str)> {
    let Some((prefix, message)) = body.split_first_chunk::<5>() else {
        return Err((INTERNAL, "grpc: request message missing or truncated"));
    };
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    match prefix[0] {
        0 => {}
        1 => return Err((UNIMPLEMENTED, "grpc: compressed messages are not supported")),
        _ => return Err((INTERNAL, "grpc: invalid compressed-flag in message prefix")),
    }
    match message.len().cmp(&len) {
        std::cmp::Ordering::Less => Err((INTERNAL, "grpc: request message truncated")),
        std::cmp::Ordering::Greater => Err((
            INTERNAL,
            "grpc: more than one request message for a unary RPC",
        )),
        std::cmp::Ordering::Equal => Ok(message),
    }
}

/// Prefixes an uncompressed message with its 5-byte gRPC header.
pub fn frame_message(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// A trailers-only failure with gRPC status `code`.
fn failure(http_status: u16, code: u32, message: &str) -> Response {
    Response {
        status: http_status,
        headers: vec![
            ("content-type", "application/grpc".into()),
            ("grpc-status", code.to_string()),
            ("grpc-message", percent_encode(message)),
        ],
        body: Vec::new(),
        trailers: Vec::new(),
    }
}

/// Percent-encodes a `grpc-message` value: bytes outside printable ASCII,
/// and `%` itself, become `%XX`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::frame::{self, END_HEADERS, END_STREAM};
    use crate::h2::Connection;
    use crate::h2::testing::{Client, OwnedFrame, Reply, parse_frames, preface};

    /// Runs one Check (or other call) over a fresh in-memory connection,
    /// returning the raw frames and the decoded reply.
    fn call(health: &Health, after: Duration, path: &str, body: &[u8]) -> (Vec<OwnedFrame>, Reply) {
        let mut conn = Connection::new();
        let mut service = HealthService {
            health,
            now: Instant::now() + after,
        };
        let mut client = Client::new();
        let mut bytes = preface();
        bytes.extend(client.call(1, path, body));
        conn.receive(&bytes, &mut service);
        let mut frames = parse_frames(&conn.take_output());
        let reply = client.replies(&frames).remove(&1).unwrap();
        frames.retain(|f| f.stream == 1);
        (frames, reply)
    }

    fn check(health: &Health, after: Duration, service: &str) -> Reply {
        let message = proto::encode_health_check_request(service);
        call(health, after, CHECK_PATH, &frame_message(&message)).1
    }

    fn status_of(reply: &Reply) -> u64 {
        assert_eq!(reply.field("grpc-status"), Some("0"), "{reply:?}");
        let (prefix, message) = reply.data.split_at(5);
        assert_eq!(prefix, [0, 0, 0, 0, message.len() as u8]);
        proto::decode_health_check_response(message).unwrap()
    }

    fn assert_failure(reply: &Reply, code: u32, message: &str) {
        assert_eq!(reply.field(":status"), Some("200"));
        assert_eq!(reply.field("content-type"), Some("application/grpc"));
        assert_eq!(reply.field("grpc-status"), Some(code.to_string().as_str()));
        assert_eq!(reply.field("grpc-message"), Some(message));
        assert!(reply.data.is_empty() && reply.trailers.is_none() && reply.ended);
    }

    #[test]
    fn check_exchange_on_the_wire() {
        let health = Health::new(Instant::now(), String::new(), -1);
        let message = frame_message(&proto::encode_health_check_request(""));
        assert_eq!(message, [0, 0, 0, 0, 0]);
        let (frames, reply) = call(&health, Duration::ZERO, CHECK_PATH, &message);
        let shape: Vec<_> = frames.iter().map(|f| (f.kind, f.flags)).collect();
        assert_eq!(
            shape,
            [
                (frame::HEADERS, END_HEADERS),
                (frame::DATA, 0),
                (frame::HEADERS, END_HEADERS | END_STREAM)
            ]
        );
        assert_eq!(frames[1].payload, [0, 0, 0, 0, 2, 0x08, 0x01]);
        assert_eq!(
            reply.headers,
            [
                (":status".into(), "200".into()),
                ("content-type".into(), "application/grpc".into())
            ]
        );
        assert_eq!(
            reply.trailers,
            Some(vec![("grpc-status".into(), "0".into())])
        );
    }

    #[test]
    fn check_follows_the_health_state() {
        let start = Instant::now();
        let mut health = Health::new(start, String::new(), 5);
        let secs = Duration::from_secs;
        assert_eq!(
            status_of(&check(&health, secs(0), "")),
            ServingStatus::Serving as u64
        );
        assert_eq!(
            status_of(&check(&health, secs(6), "")),
            ServingStatus::NotServing as u64
        );
        health.force_unhealthy(true);
        assert_eq!(status_of(&check(&health, secs(0), "")), 2);
        health.force_unhealthy(false);
        assert_eq!(status_of(&check(&health, secs(0), "")), 1);
    }

    #[test]
    fn unknown_services_are_not_found() {
        let health = Health::new(Instant::now(), "app".into(), -1);
        assert_eq!(status_of(&check(&health, Duration::ZERO, "app")), 1);
        for service in ["", "other", "App"] {
            let reply = check(&health, Duration::ZERO, service);
            assert_failure(&reply, NOT_FOUND, "unknown service");
        }
        let health = Health::new(Instant::now(), String::new(), -1);
        assert_failure(
            &check(&health, Duration::ZERO, "app"),
            NOT_FOUND,
            "unknown service",
        );
    }

    #[test]
    fn other_methods_are_unimplemented() {
        let health = Health::new(Instant::now(), String::new(), -1);
        let empty = frame_message(&[]);
        let cases = [
            (
                "/grpc.health.v1.Health/Watch",
                "method Watch not implemented",
            ),
            (
                "/grpc.health.v1.Health/List",
                "unknown method List for service grpc.health.v1.Health",
            ),
            (
                "/helloworld.Greeter/SayHello",
                "unknown service helloworld.Greeter",
            ),
            ("/nonsense", "malformed method name: \"/nonsense\""),
        ];
        for (path, message) in cases {
            let (frames, reply) = call(&health, Duration::ZERO, path, &empty);
            assert_eq!(frames.len(), 1, "trailers-only");
            assert_failure(&reply, UNIMPLEMENTED, message);
        }
    }

    #[test]
    fn malformed_requests() {
        let health = Health::new(Instant::now(), String::new(), -1);
        let cases: [(&[u8], u32, &str); 6] = [
            (b"", INTERNAL, "grpc: request message missing or truncated"),
            (
                b"\0\0\0",
                INTERNAL,
                "grpc: request message missing or truncated",
            ),
            (
                b"\0\0\0\0\x03\x0a",
                INTERNAL,
                "grpc: request message truncated",
            ),
            (
                b"\0\0\0\0\0\0\0\0\0\0",
                INTERNAL,
                "grpc: more than one request message for a unary RPC",
            ),
            (
                b"\x01\0\0\0\0",
                UNIMPLEMENTED,
                "grpc: compressed messages are not supported",
            ),
            (
                b"\0\0\0\0\x01\x0e",
                INTERNAL,
                "grpc: error unmarshalling request: invalid field tag",
            ),
        ];
        for (body, code, message) in cases {
            let reply = call(&health, Duration::ZERO, CHECK_PATH, body).1;
            assert_failure(&reply, code, message);
        }
    }

    #[test]
    fn non_grpc_requests_get_early_answers() {
        let health = Health::new(Instant::now(), String::new(), -1);
        let mut service = HealthService {
            health: &health,
            now: Instant::now(),
        };
        let request = |method, content_type, body| Request {
            method,
            path: CHECK_PATH,
            content_type,
            body,
        };
        let r = service.call(&request("GET", "application/grpc", Some(&[])));
        assert_eq!((r.status, &r.headers[1].1[..]), (405, "13"));
        let r = service.call(&request("POST", "application/json", Some(&[])));
        assert_eq!((r.status, &r.headers[1].1[..]), (415, "13"));
        assert_eq!(
            r.headers[2].1,
            "transport: received unexpected content-type \"application/json\""
        );
        let r = service.call(&request("POST", "application/grpc+proto", None));
        assert_eq!((r.status, &r.headers[1].1[..]), (200, "8"));
        let ok = frame_message(&[]);
        let r = service.call(&request(
            "POST",
            "application/grpc; charset=utf-8",
            Some(&ok),
        ));
        assert_eq!(r.trailers, [("grpc-status", "0".to_string())]);
        assert!(!is_grpc("application/grpcx") && !is_grpc(""));
    }

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(percent_encode("unknown service"), "unknown service");
        assert_eq!(percent_encode("100% ünï\n"), "100%25 %C3%BCn%C3%AF%0A");
    }
}
