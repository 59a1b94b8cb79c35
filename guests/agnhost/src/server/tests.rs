//! End-to-end tests over native loopback sockets: the real event loop on a
//! thread, real TCP clients.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::*;
use crate::grpc::{self, CHECK_PATH, frame_message};
use crate::h2::testing::{Client, Reply, parse_frames, preface};
use crate::health::Health;
use crate::{frame, proto};

/// A server running on a thread until dropped.
struct Running {
    grpc: SocketAddr,
    control: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn start(delay_unhealthy_sec: i64) -> Running {
        let grpc = TcpListener::bind("127.0.0.1:0").unwrap();
        let control = TcpListener::bind("127.0.0.1:0").unwrap();
        let (grpc_addr, control_addr) = (grpc.local_addr().unwrap(), control.local_addr().unwrap());
        let health = Health::new(Instant::now(), String::new(), delay_unhealthy_sec);
        let mut server = grpc::server(grpc, control, health).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            server.run(|| flag.load(Ordering::Relaxed), std::thread::sleep);
        });
        Running {
            grpc: grpc_addr,
            control: control_addr,
            stop,
            thread: Some(thread),
        }
    }

    fn control(&self, path: &str) -> String {
        let mut s = TcpStream::connect(self.control).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        response
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// An HTTP/2 client connection.
struct H2 {
    stream: TcpStream,
    client: Client,
    received: Vec<u8>,
}

impl H2 {
    fn connect(addr: SocketAddr) -> H2 {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(&preface()).unwrap();
        H2 {
            stream,
            client: Client::new(),
            received: Vec::new(),
        }
    }

    /// Sends a Check on `id` and reads until its reply has ended.
    fn check(&mut self, id: u32) -> Reply {
        let body = frame_message(&proto::encode_health_check_request(""));
        let request = self.client.call(id, CHECK_PATH, &body);
        self.stream.write_all(&request).unwrap();
        loop {
            if let Some(frames) = complete_frames(&self.received) {
                let mut client = Client::new();
                if let Some(reply) = client.replies(&frames).remove(&id).filter(|r| r.ended) {
                    return reply;
                }
            }
            let mut buf = [0; 4096];
            let n = self.stream.read(&mut buf).expect("reply in time");
            assert!(n > 0, "server closed the connection");
            self.received.extend_from_slice(&buf[..n]);
        }
    }
}

/// The frames in `bytes` if it ends on a frame boundary.
fn complete_frames(bytes: &[u8]) -> Option<Vec<crate::h2::testing::OwnedFrame>> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let (_, used) = frame::parse(rest, frame::DEFAULT_MAX_FRAME_SIZE).ok()??;
        rest = &rest[used..];
    }
    Some(parse_frames(bytes))
}

fn serving_status(reply: &Reply) -> u64 {
    assert_eq!(reply.field("grpc-status"), Some("0"), "{reply:?}");
    proto::decode_health_check_response(&reply.data[5..]).unwrap()
}

#[test]
fn probes_and_control_over_loopback() {
    let server = Running::start(-1);
    // A client that connects and says nothing does not hold anyone up.
    let _silent = TcpStream::connect(server.grpc).unwrap();
    let _silent_control = TcpStream::connect(server.control).unwrap();

    let mut liveness = H2::connect(server.grpc);
    let mut readiness = H2::connect(server.grpc);
    assert_eq!(serving_status(&liveness.check(1)), 1);
    assert_eq!(serving_status(&readiness.check(1)), 1);

    let response = server.control("/make-not-serving");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with('s'), "uptime in Go's format: {response}");
    assert_eq!(serving_status(&liveness.check(3)), 2);
    assert_eq!(serving_status(&readiness.check(3)), 2);

    assert!(
        server
            .control("/make-serving")
            .starts_with("HTTP/1.1 200 OK\r\n")
    );
    assert_eq!(serving_status(&liveness.check(5)), 1);

    let response = server.control("/nope");
    assert!(
        response.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{response}"
    );
    assert!(response.ends_with("404 page not found\n"));
}

#[test]
fn zero_delay_starts_not_serving() {
    let server = Running::start(0);
    assert_eq!(serving_status(&H2::connect(server.grpc).check(1)), 2);
}

#[test]
fn the_server_closes_after_a_protocol_error() {
    let server = Running::start(-1);
    let mut s = TcpStream::connect(server.grpc).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut received = Vec::new();
    s.read_to_end(&mut received).unwrap();
    let frames = parse_frames(&received);
    let kinds: Vec<_> = frames.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, [frame::SETTINGS, frame::GOAWAY]);
}

#[test]
fn idle_timeouts() {
    // Driven by hand with a fake clock, one turn at a time.
    let grpc = TcpListener::bind("127.0.0.1:0").unwrap();
    let control = TcpListener::bind("127.0.0.1:0").unwrap();
    let (grpc_addr, control_addr) = (grpc.local_addr().unwrap(), control.local_addr().unwrap());
    let start = Instant::now();
    let mut server = grpc::server(grpc, control, Health::new(start, String::new(), -1)).unwrap();
    let mut silent = TcpStream::connect(control_addr).unwrap();
    let mut h2 = H2::connect(grpc_addr);
    let turns = |server: &mut Server<Health>, at: Instant| {
        for _ in 0..50 {
            server.turn(at);
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    turns(&mut server, start);
    assert_eq!(server.conns.len(), 2);
    // The silent control client is dropped after REQUEST_TIMEOUT; the
    // HTTP/2 connection, between requests, stays.
    let later = start + REQUEST_TIMEOUT;
    turns(&mut server, later);
    turns(&mut server, later + LINGER);
    assert_eq!(server.conns.len(), 1);
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(silent.read(&mut [0; 16]).unwrap(), 0, "closed");
    // After IDLE_TIMEOUT it gets a GOAWAY(NO_ERROR) and is closed.
    turns(&mut server, start + IDLE_TIMEOUT);
    let mut received = Vec::new();
    h2.stream.read_to_end(&mut received).unwrap();
    let frames = parse_frames(&received);
    let goaway = frames
        .iter()
        .find(|f| f.kind == frame::GOAWAY)
        .expect("GOAWAY");
    assert_eq!(frame::be_u32(&goaway.payload[4..]), 0);
}

#[test]
fn a_full_house_queues_new_connections() {
    let grpc = TcpListener::bind("127.0.0.1:0").unwrap();
    let control = TcpListener::bind("127.0.0.1:0").unwrap();
    let grpc_addr = grpc.local_addr().unwrap();
    let start = Instant::now();
    let mut server = grpc::server(grpc, control, Health::new(start, String::new(), -1)).unwrap();
    let turns = |server: &mut Server<Health>| {
        for _ in 0..50 {
            server.turn(start);
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    // Connections that have not sent their preface yet are busy ones.
    let busy: Vec<_> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(grpc_addr).unwrap())
        .collect();
    turns(&mut server);
    assert_eq!(server.conns.len(), MAX_CONNECTIONS);
    // The next client waits in the backlog...
    let mut waiting = H2::connect(grpc_addr);
    turns(&mut server);
    assert_eq!(server.conns.len(), MAX_CONNECTIONS);
    // ...and is served as soon as a slot frees up.
    drop(busy);
    turns(&mut server);
    let body = frame_message(&proto::encode_health_check_request(""));
    waiting
        .stream
        .write_all(&waiting.client.call(1, CHECK_PATH, &body))
        .unwrap();
    turns(&mut server);
    let mut buf = [0; 4096];
    let n = waiting.stream.read(&mut buf).unwrap();
    let frames = complete_frames(&buf[..n]).expect("whole frames");
    let reply = Client::new().replies(&frames).remove(&1).expect("a reply");
    assert_eq!(serving_status(&reply), 1);
    // Between requests, it may be replaced by a newcomer when full.
    let _more: Vec<_> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(grpc_addr).unwrap())
        .collect();
    turns(&mut server);
    assert_eq!(server.conns.len(), MAX_CONNECTIONS);
    let mut rest = Vec::new();
    waiting.stream.read_to_end(&mut rest).unwrap();
    let goaway = parse_frames(&rest);
    assert_eq!(
        goaway.last().map(|f| f.kind),
        Some(frame::GOAWAY),
        "evicted"
    );
}
