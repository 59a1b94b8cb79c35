//! `wasi:http` components as containers (issue 12): served with HTTP/1.1
//! inside the pod's network by the host, a fresh instance per request. The
//! component is the `http-hello` test guest (`guests/http-hello`, built with
//! the `wasip2` crate's `wasi:http` bindings).

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmpod::PodHandle;

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// A pod whose container `web` is the HTTP component, with `extra` lines
/// under it and `more` containers after it.
fn pod(name: &str, spec: &str, extra: &str, more: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{spec}  containers:\n  - name: web\n    image: {:?}\n{extra}{more}",
        wasmpod_guests::HTTP_HELLO_PATH
    )
}

/// Connects into the pod, retrying while the port is not bound yet.
async fn connect(pod: &PodHandle, port: u16) -> wasmpod::PodStream {
    let deadline = Instant::now() + LIMIT;
    loop {
        match pod.connect(port).await {
            Ok(s) => return s,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("connecting to {}:{port}: {e}", pod.name()),
        }
    }
}

/// Sends one raw HTTP/1.1 request (`Connection: close`) on a new connection
/// and returns (status, body).
async fn request(pod: &PodHandle, port: u16, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = connect(pod, port).await;
    exchange(&mut stream, head, body).await
}

async fn exchange(stream: &mut wasmpod::PodStream, head: &str, body: &[u8]) -> (u16, String) {
    let mut bytes = format!("{head}\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(LIMIT, stream.read_to_end(&mut reply))
        .await
        .expect("a reply in time")
        .unwrap();
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {reply:?}"));
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    )
}

/// The data of a chunked body (`SIZE\r\nDATA\r\n`… `0\r\n\r\n`).
fn dechunk(mut body: &str) -> String {
    let mut data = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size in {body:?}"));
        if size == 0 {
            break;
        }
        data.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    data
}

#[tokio::test]
async fn a_sibling_wgets_it_and_probes_reach_it() {
    let extra = "    ports: [{name: http, containerPort: 8080}]\n    readinessProbe:\n      httpGet: {path: /, port: http}\n      periodSeconds: 1\n    livenessProbe:\n      tcpSocket: {port: 8080}\n      periodSeconds: 1\n";
    let client = "  - name: client\n    image: busybox\n    command: ['sh', '-c', 'until wget -q -O - http://localhost:8080/; do sleep 0.2; done; sleep 60']\n";
    let yaml = pod("http-wget", "", extra, client);
    let (started, mut watch) = start_watched(&yaml, options()).await;
    watch
        .wait_line("client", "hello from wasi:http", LIMIT)
        .await;
    started
        .wait_for(LIMIT, "web ready through its httpGet probe", |p| {
            status_of(p, "web").ready
        })
        .await;
    let run = started.stop().await;
    let web = run.status("web");
    assert_eq!(web.restart_count, 0, "the tcpSocket liveness probe passed");
    assert_eq!(
        run.exit_code("web"),
        0,
        "TERM drains and exits 0\n{}",
        run.dump()
    );
    // Each request's stdout is the container's log: the client's and the probe's.
    assert!(
        run.lines("web")
            .iter()
            .filter(|l| *l == "http-hello: /")
            .count()
            >= 2,
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn connect_serves_it_on_the_env_address_which_the_guest_does_not_see() {
    let extra = "    env:\n    - {name: WASMTIME_HTTP_PROXY_SOCKET_ADDR, value: '0.0.0.0:9090'}\n    - {name: GREETING, value: hi}\n";
    let yaml = pod("http-env", "", extra, "");
    let started = start(&yaml, options()).await;
    let handle = &started.handle;
    assert_eq!(
        request(handle, 9090, "GET / HTTP/1.1", b"").await,
        (200, "hello from wasi:http\n".into())
    );
    assert_eq!(
        request(handle, 9090, "GET /env?GREETING HTTP/1.1", b"").await,
        (200, "hi\n".into())
    );
    let (status, _) = request(
        handle,
        9090,
        "GET /env?WASMTIME_HTTP_PROXY_SOCKET_ADDR HTTP/1.1",
        b"",
    )
    .await;
    assert_eq!(
        status, 404,
        "the host's setting is removed from the guest's env"
    );
    let refused = handle.connect(8080).await.unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::ConnectionRefused,
        "not on the default port"
    );
    started.stop().await;
}

#[tokio::test]
async fn a_trap_or_the_memory_limit_answers_500_and_the_next_request_succeeds() {
    let extra = "    resources: {limits: {memory: 64Mi}}\n";
    let yaml = pod("http-trap", "", extra, "");
    let started = start(&yaml, options()).await;
    let handle = &started.handle;
    assert_eq!(
        request(handle, 8080, "GET /trap HTTP/1.1", b"").await.0,
        500
    );
    assert_eq!(request(handle, 8080, "GET / HTTP/1.1", b"").await.0, 200);
    assert_eq!(
        request(handle, 8080, "GET /alloc?mb=16 HTTP/1.1", b"").await,
        (200, "allocated 16 MiB\n".into())
    );
    assert_eq!(
        request(handle, 8080, "GET /alloc?mb=128 HTTP/1.1", b"")
            .await
            .0,
        500,
        "past the container's memory limit, per request instance"
    );
    assert_eq!(request(handle, 8080, "GET / HTTP/1.1", b"").await.0, 200);
    let run = started.stop().await;
    assert_eq!(run.status("web").restart_count, 0);
    let warnings = run.event_messages("web", "RequestFailed");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("request GET /trap trapped:"),
        "{warnings:?}"
    );
    assert!(warnings[0].contains("unreachable"), "{warnings:?}");
    assert!(
        warnings[1].starts_with("request GET /alloc was OOM-killed: memory limit"),
        "{warnings:?}"
    );
    let warning = run
        .events
        .iter()
        .find(|e| e.reason == "RequestFailed")
        .expect("an event");
    assert_eq!(warning.type_, wasmpod::EventType::Warning);
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_and_a_huge_head_with_431() {
    let yaml = pod("http-body", "", "", "");
    let started = start(&yaml, options()).await;
    let handle = &started.handle;
    assert_eq!(
        request(
            handle,
            8080,
            "POST /echo HTTP/1.1\r\nContent-Length: 5",
            b"hello"
        )
        .await,
        (200, "read 5 bytes\n".into())
    );
    let (status, _) = request(
        handle,
        8080,
        "POST /echo HTTP/1.1\r\nContent-Length: 17000000",
        b"",
    )
    .await;
    assert_eq!(status, 413);
    // hyper's head limit is its read buffer (64 KiB plus at most one read),
    // so the head is made far larger; the server answers before reading it
    // all, so the writer's errors are expected.
    let mut stream = connect(handle, 8080).await;
    let (mut rx, mut tx) = tokio::io::split(&mut stream);
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}", "a".repeat(1 << 20));
    let (_, reply) = tokio::join!(tx.write_all(huge.as_bytes()), async {
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(LIMIT, rx.read_to_end(&mut reply)).await;
        reply
    });
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("HTTP/1.1 431"),
        "a head far over 64 KiB: {reply:?}"
    );
    let run = started.stop().await;
    assert_eq!(
        run.lines("web"),
        ["http-hello: /echo"],
        "the oversized request started no instance\n{}",
        run.dump()
    );
}

#[tokio::test]
async fn a_request_in_flight_finishes_on_stop() {
    let yaml = pod(
        "http-drain",
        "  terminationGracePeriodSeconds: 30\n",
        "",
        "",
    );
    let (started, mut watch) = start_watched(&yaml, options()).await;
    let mut stream = connect(&started.handle, 8080).await;
    let reply =
        tokio::spawn(async move { exchange(&mut stream, "GET /slow?ms=5000 HTTP/1.1", b"").await });
    watch.wait_line("web", "http-hello: /slow", LIMIT).await;
    started.handle.stop();
    assert_eq!(reply.await.unwrap(), (200, "slow done\n".into()));
    let run = started.finish(LIMIT).await;
    assert_eq!(run.exit_code("web"), 0, "{}", run.dump());
}

#[tokio::test]
async fn a_request_past_the_grace_period_is_killed_with_its_container() {
    let yaml = pod("http-kill", "  terminationGracePeriodSeconds: 1\n", "", "");
    let (started, mut watch) = start_watched(&yaml, options()).await;
    let mut stream = connect(&started.handle, 8080).await;
    stream
        .write_all(b"GET /slow?ms=600000 HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    watch.wait_line("web", "http-hello: /slow", LIMIT).await;
    let run = started.stop().await;
    assert_eq!(run.exit_code("web"), 137, "{}", run.dump());
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    assert!(
        rest.is_empty(),
        "no response: {:?}",
        String::from_utf8_lossy(&rest)
    );
}

#[tokio::test]
async fn outgoing_requests_reach_the_pods_loopback() {
    let yaml = pod("http-out", "", "", "");
    let started = start(&yaml, options()).await;
    let handle = &started.handle;
    assert_eq!(
        request(
            handle,
            8080,
            "GET /fetch?http://localhost:8080/ HTTP/1.1",
            b""
        )
        .await,
        (200, "status 200: hello from wasi:http\n".into()),
        "through the pod network to its own port"
    );
    assert_eq!(
        request(handle, 8080, "GET /fetch?http://localhost:9/ HTTP/1.1", b"").await,
        (502, "error: ErrorCode::ConnectionRefused\n".into()),
        "nobody listens on 9 in the pod"
    );
    started.stop().await;
}

/// Outside destinations, run by the CLI in a network namespace of its own
/// (see `network::in_isolated_netns`): 10.77.0.1 is an address of that
/// namespace's loopback, where a Python HTTP server answers on 18080.
#[test]
fn outgoing_requests_outside_the_pod_are_denied_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "outside hello\n").unwrap();
    let ask = |path: &str| {
        format!(
            "printf \"GET /fetch?{path} HTTP/1.0\\r\\nHost: pod\\r\\n\\r\\n\" | nc -w 10 localhost 8080 | tail -n 1"
        )
    };
    let script = format!(
        "until wget -q -O - http://localhost:8080/fetch?http://10.77.0.1:18080/hello.txt; do sleep 0.2; done; {}; {}",
        ask("http://10.77.0.1:18081/"),
        ask("http://example.com/")
    );
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: egress}}\nspec:\n  restartPolicy: Never\n  initContainers:\n  - name: web\n    image: {:?}\n    restartPolicy: Always\n  containers:\n  - name: client\n    image: busybox\n    command: ['sh', '-c', '{script}']\n",
        wasmpod_guests::HTTP_HELLO_PATH
    );
    let file = dir.path().join("pod.yaml");
    std::fs::write(&file, yaml).unwrap();
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpod-cache");
    let out = crate::network::in_isolated_netns(&format!(
        "sh -c 'ip addr add 10.77.0.1/32 dev lo && cd {} && (python3 -m http.server --bind 10.77.0.1 18080 >/dev/null 2>&1 &) && {} run --quiet --timeout 120s --cache-dir {} --allow-outbound 10.77.0.1:18080 {}'",
        dir.path().display(),
        wasmpod_bin(),
        cache.display(),
        file.display()
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let all = format!(
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "pod Succeeded; {all}");
    for line in [
        "status 200: outside hello",
        "error: ErrorCode::HttpRequestDenied",
    ] {
        assert!(
            stdout.lines().any(|l| l.ends_with(line)),
            "missing {line:?}; {all}"
        );
    }
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.ends_with("error: ErrorCode::HttpRequestDenied"))
            .count(),
        2,
        "another port of the allowed host and another host are denied; {all}"
    );
}

/// `wasmpod run -p 127.0.0.1:PORT:8080`: a host port forwarded to the
/// component's port serves it (until the run's timeout, exit 124).
#[test]
fn a_host_port_forward_serves_it() {
    use std::io::{Read as _, Write as _};
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.yaml");
    std::fs::write(&file, pod("http-forward", "", "", "")).unwrap();
    let ws = crate::cli::Workspace::new();
    let publish = format!("127.0.0.1:{port}:8080");
    let args = ["-p", &publish, "--timeout", "20s", file.to_str().unwrap()];
    let mut running = crate::cli::spawn(ws.run_command(&args), None);
    let get = || -> Option<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    let response = loop {
        if running.has_exited() {
            break None;
        }
        if let Some(r) =
            get().filter(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
        {
            break Some(r);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let ran = running.finish(crate::cli::LIMIT);
    let response =
        response.unwrap_or_else(|| panic!("never answered 200 through the forward\n{ran}"));
    assert!(response.ends_with("hello from wasi:http\n"), "{response}");
    ran.assert_code(124);
}

/// A component this project did not write: the `wasip2` crate's own
/// `http-proxy` example, built from its published source at test time.
#[tokio::test]
async fn the_wasip2_crates_own_example_server_is_served() {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: wasip2-proxy}}\nspec:\n  containers:\n  - name: proxy\n    image: {:?}\n",
        wasmpod_guests::WASIP2_HTTP_PROXY_PATH
    );
    let started = start(&yaml, options()).await;
    assert_eq!(
        request(&started.handle, 8080, "GET / HTTP/1.1", b"").await,
        (200, "Hello, WASI!".into())
    );
    let run = started.stop().await;
    assert_eq!(run.exit_code("proxy"), 0, "{}", run.dump());
}
