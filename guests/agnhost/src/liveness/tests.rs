//! Routing and bodies as pure functions of the elapsed time, then the
//! real server over native loopback sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::*;

const fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn get(target: &str, elapsed: Duration) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = url::unescape(path.as_bytes(), false).unwrap();
    let request = Request {
        method: "GET",
        path: &path,
        query,
    };
    route(&request, elapsed)
}

fn text(r: &Response) -> (u16, &str) {
    (r.status, std::str::from_utf8(&r.body).unwrap())
}

fn location(r: &Response) -> &str {
    let found = r.headers.iter().find(|(name, _)| *name == "Location");
    found.map(|(_, v)| v.as_str()).expect("Location")
}

#[test]
fn routes() {
    let r = get("/started", ms(1_234));
    assert_eq!(text(&r), (200, "1.234s"));
    assert_eq!(
        r.headers,
        [("Content-Type", "text/plain; charset=utf-8".into())]
    );
    assert_eq!(
        text(&get("/started", Duration::from_nanos(1_234_567_000))),
        (200, "1.234567s")
    );
    assert_eq!(text(&get("/started", ms(61_500))), (200, "1m1.5s"));
    assert_eq!(text(&get("/started?x=1", ms(2))), (200, "2ms"));
    assert_eq!(text(&get("/healthz", ms(0))), (200, "ok"));
    assert_eq!(get("/redirect?loc=%2Fhealthz", ms(0)).status, 302);
    for other in [
        "/",
        "/healthz/",
        "/started/x",
        "/Healthz",
        "/redirect/",
        "/make-serving",
    ] {
        let r = get(other, ms(0));
        assert_eq!(text(&r), (404, "404 page not found\n"), "{other}");
    }
    // Paths are routed decoded, as Go's ServeMux does.
    assert_eq!(text(&get("/health%7a", ms(0))), (200, "ok"));
}

#[test]
fn healthz_turns_at_ten_seconds() {
    let ns = Duration::from_nanos;
    for (elapsed, want) in [
        (ms(0), (200, "ok")),
        (ms(9_999), (200, "ok")),
        (ms(10_000), (200, "ok")),
        (ns(10_000_000_001), (500, "error: 10.000000001")),
        (ns(10_523_456_789), (500, "error: 10.523456789")),
        (ms(10_523), (500, "error: 10.523")),
        (ms(11_000), (500, "error: 11")),
        (ms(3_600_250), (500, "error: 3600.25")),
        (Duration::from_secs(2_000_000), (500, "error: 2e+06")),
    ] {
        let r = healthz(elapsed);
        assert_eq!(text(&r), want, "{elapsed:?}");
        assert_eq!(
            r.headers,
            [("Content-Type", "text/plain; charset=utf-8".into())]
        );
    }
}

#[test]
fn redirect_locations() {
    for (loc, want) in [
        // What the e2e tests send: url.QueryEscape of a path or a URL.
        ("%2Fhealthz", "/healthz"),
        ("http%3A%2F%2F0.0.0.0%2F", "http://0.0.0.0/"),
        // Unescaped ones work too; a relative path is resolved.
        ("/healthz", "/healthz"),
        ("healthz", "/healthz"),
        ("http://0.0.0.0/", "http://0.0.0.0/"),
        ("%2Fa%2F..%2Fstarted%3Fx%3D1", "/started?x=1"),
        ("a+b", "/a b"),
        // Decoded twice: by Query(), then by QueryUnescape.
        ("%252Fhealthz", "/healthz"),
        ("%25C3%25A9", "/%c3%a9"),
        ("", "/"),
    ] {
        let r = get(&format!("/redirect?loc={loc}"), ms(0));
        assert_eq!(r.status, 302, "{loc}");
        assert_eq!(location(&r), want, "{loc}");
    }
    assert_eq!(location(&get("/redirect", ms(0))), "/");
    assert_eq!(location(&get("/redirect?loc=%2Fa&loc=%2Fb", ms(0))), "/a");
    // A pair that does not decode is skipped by Query(): no loc at all.
    assert_eq!(location(&get("/redirect?loc=100%", ms(0))), "/");
    let r = get("/redirect?loc=%2Fhealthz", ms(0));
    assert_eq!(r.body, b"<a href=\"/healthz\">Found</a>.\n\n");
}

#[test]
fn invalid_redirects() {
    for (loc, body) in [
        ("%25zz", "invalid redirect: \"%zz\"\n"),
        ("%25", "invalid redirect: \"%\"\n"),
        ("a%25%22b", "invalid redirect: \"a%\\\"b\"\n"),
        ("%25%0A%FF", "invalid redirect: \"%\\n\\xff\"\n"),
    ] {
        let r = get(&format!("/redirect?loc={loc}"), ms(0));
        assert_eq!(text(&r), (400, body), "{loc}");
        assert_eq!(
            r.headers,
            [
                ("Content-Type", "text/plain; charset=utf-8".into()),
                ("X-Content-Type-Options", "nosniff".into())
            ]
        );
    }
}

/// A liveness server running on a thread until dropped.
struct Running {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Running {
    fn start(started: Instant) -> Running {
        let socket = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let mut server = server(socket, started).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            server.run(|| flag.load(Ordering::Relaxed), std::thread::sleep);
        });
        Running {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    /// A `Connection: close` request, read to EOF.
    fn get(&self, target: &str) -> String {
        let mut s = self.connect();
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
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

/// Reads one response by its Content-Length, as a keep-alive client does:
/// (head, body).
fn read_response(reader: &mut impl BufRead) -> (String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        head.push_str(&line);
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .parse()
        .unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

#[test]
fn serves_probes_over_loopback() {
    let server = Running::start(Instant::now());
    // A client that connects and says nothing holds nobody up.
    let _silent = server.connect();

    let r = server.get("/healthz");
    assert_eq!(
        r,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\nok"
    );
    let r = server.get("/started");
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with('s'),
        "{r}"
    );
    let r = server.get("/redirect?loc=%2Fhealthz");
    assert_eq!(
        r,
        "HTTP/1.1 302 Found\r\nLocation: /healthz\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: 31\r\nConnection: close\r\n\r\n<a href=\"/healthz\">Found</a>.\n\n"
    );
    let r = server.get("/nope");
    assert!(
        r.starts_with("HTTP/1.1 404 Not Found\r\n") && r.ends_with("\r\n\r\n404 page not found\n")
    );

    // A keep-alive client reads its response by Content-Length, is told
    // the connection closes, and gets EOF after it.
    let s = server.connect();
    let mut reader = BufReader::new(s.try_clone().unwrap());
    (&s).write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (head, body) = read_response(&mut reader);
    assert!(head.contains("Connection: close\r\n"), "{head}");
    assert_eq!(body, "ok");
    assert_eq!(reader.read(&mut [0; 16]).unwrap(), 0, "closed");

    // Many probes at once (more than fit in one turn's accept batch).
    let clients: Vec<TcpStream> = (0..40)
        .map(|i| {
            let mut s = server.connect();
            let path = if i % 2 == 0 { "/healthz" } else { "/started" };
            write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
            s
        })
        .collect();
    for mut s in clients {
        let mut response = String::new();
        s.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    }
}

#[test]
fn unhealthy_after_ten_seconds() {
    let server = Running::start(Instant::now() - Duration::from_secs(11));
    let r = server.get("/healthz");
    assert!(
        r.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
        "{r}"
    );
    let (_, body) = r.split_once("\r\n\r\n").unwrap();
    let seconds: f64 = body
        .strip_prefix("error: ")
        .expect("error: ...")
        .parse()
        .unwrap();
    assert!((11.0..60.0).contains(&seconds), "{body}");
    // /started keeps answering 200.
    assert!(server.get("/started").starts_with("HTTP/1.1 200 OK\r\n"));
}
