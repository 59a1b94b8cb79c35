//! The per-pod in-memory network: every pod has its own loopback, so two
//! pods can listen on the same port, containers of one pod share it, and
//! nothing a pod binds appears on the host. The embedding program reaches a
//! pod's port with `PodHandle::connect`.
//!
//! Ports here are the pods' own, so tests reuse them freely; the one test
//! that binds host ports uses 41290–41291.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmpod::PodHandle;
use wasmpod::{PodStream, Protocol};

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(60);

fn pod(name: &str, extra_spec: &str, init: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{extra_spec}{init}  containers:\n{containers}"
    )
}

fn never() -> &'static str {
    "  restartPolicy: Never\n"
}

fn sidecars(list: &str) -> String {
    format!("  initContainers:\n{list}")
}

fn sh(name: &str, script: &str, extra: &str) -> String {
    format!("  - name: {name}\n    image: busybox\n{extra}    command: ['sh', '-c', '{script}']\n")
}

fn sidecar(name: &str, script: &str) -> String {
    sh(name, script, "    restartPolicy: Always\n")
}

/// A shell loop waiting (up to ~10 s, quietly) until something in the pod
/// listens on `port`.
fn wait_port(port: u16) -> String {
    format!(
        "i=0; until nc -z localhost {port} 2>/dev/null; do i=$((i+1)); [ $i -lt 100 ] || exit 9; sleep 0.1; done"
    )
}

/// Connects into the pod, retrying while its server starts.
async fn connect(pod: &PodHandle, port: u16) -> PodStream {
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

/// Sends `request`, closes the sending side, returns everything read.
async fn exchange(stream: &mut PodStream, request: &[u8]) -> String {
    try_exchange(stream, request).await.unwrap()
}

async fn try_exchange(stream: &mut PodStream, request: &[u8]) -> std::io::Result<String> {
    stream.write_all(request).await?;
    stream.shutdown().await?;
    let mut reply = Vec::new();
    tokio::time::timeout(LIMIT, stream.read_to_end(&mut reply))
        .await
        .expect("reply in time")?;
    Ok(String::from_utf8(reply).unwrap())
}

#[tokio::test]
async fn two_pods_both_serve_8080_and_each_client_reaches_its_own() {
    let mut pods = Vec::new();
    for name in ["alpha", "beta"] {
        let client = sh(
            "client",
            &format!(
                "{}; echo from-{name}-client | nc -w 5 localhost 8080; sleep 60",
                wait_port(8080)
            ),
            "",
        );
        let yaml = pod(
            name,
            never(),
            &sidecars(&sidecar("echo", "nc -lk -e -p 8080")),
            &client,
        );
        pods.push((name, start_watched(&yaml, options()).await));
    }
    for (name, (started, _)) in &pods {
        let mut stream = connect(&started.handle, 8080).await;
        assert_eq!(stream.peer_addr().port(), 8080);
        let request = format!("from-host-to-{name}\n");
        assert_eq!(exchange(&mut stream, request.as_bytes()).await, request);
    }
    for (name, (_, watch)) in &mut pods {
        watch
            .wait_line("client", &format!("from-{name}-client"), LIMIT)
            .await;
    }
    for (name, (started, _)) in pods {
        let run = started.stop().await;
        let mut heard = run.lines("echo");
        heard.sort();
        assert_eq!(
            heard,
            [
                format!("from-{name}-client"),
                format!("from-host-to-{name}")
            ],
            "each echo server heard only its own pod's clients\n{}",
            run.dump()
        );
        assert_eq!(run.lines("client"), [format!("from-{name}-client")]);
    }
}

#[tokio::test]
async fn two_nginx_pods_on_8080_serve_their_own_page() {
    let mut pods = Vec::new();
    for name in ["left", "right"] {
        let mount = "    volumeMounts: [{name: html, mountPath: /html}]\n";
        let content = sh(
            "content",
            &format!("echo page-of-{name} > /html/index.html"),
            mount,
        );
        let containers = format!(
            "  - name: web\n    image: nginx\n    args: ['-p', '8080', '-r', '/html']\n{mount}{}",
            sh(
                "client",
                &format!(
                    "{}; wget -q -O - http://localhost:8080/; sleep 60",
                    wait_port(8080)
                ),
                ""
            )
        );
        let spec = format!("{}  volumes: [{{name: html, emptyDir: {{}}}}]\n", never());
        let yaml = pod(name, &spec, &sidecars(&content), &containers);
        pods.push((name, start_watched(&yaml, options()).await));
    }
    for (name, (started, watch)) in &mut pods {
        let mut stream = connect(&started.handle, 8080).await;
        let response = exchange(&mut stream, b"GET / HTTP/1.0\r\n\r\n").await;
        assert!(
            response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200"),
            "{response}"
        );
        assert!(
            response.ends_with(&format!("page-of-{name}\n")),
            "{response}"
        );
        watch
            .wait_line("client", &format!("page-of-{name}"), LIMIT)
            .await;
    }
    for (_, (started, _)) in pods {
        started.stop().await;
    }
}

#[tokio::test]
async fn a_second_listener_on_a_port_of_the_pod_gets_address_in_use() {
    let app = sh(
        "app",
        &format!("{}; nc -l -p 8080; echo \"status=$?\"", wait_port(8080)),
        "",
    );
    let yaml = pod(
        "in-use",
        never(),
        &sidecars(&sidecar("holder", "nc -lk -p 8080")),
        &app,
    );
    let run = run_pod(&yaml).await;
    assert_eq!(
        run.lines("app"),
        ["nc: 0.0.0.0:8080: address in use", "status=1"],
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn connecting_to_a_port_nobody_listens_on_is_refused() {
    let app = sh(
        "app",
        "nc -z 127.0.0.1 8080; echo \"status=$?\"; nc -z -w 2 localhost 8080; echo \"status=$?\"; nc -z $HOSTNAME 8080; echo \"status=$?\"",
        "",
    );
    let (started, mut watch) = start_watched(&pod("refused", never(), "", &app), options()).await;
    let err = started.handle.connect(8080).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    watch.wait_line("app", "status=", LIMIT).await;
    let run = started.finish(LIMIT).await;
    assert_eq!(
        run.lines("app"),
        [
            "nc: 127.0.0.1:8080: connection refused",
            "status=1",
            "nc: localhost:8080: connection refused",
            "status=1",
            "nc: refused:8080: connection refused",
            "status=1",
        ],
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn names_other_than_the_pods_own_do_not_resolve() {
    let app = sh(
        "app",
        &format!(
            "{}; nc -z $HOSTNAME 8080; echo \"own=$?\"; nc -z mydb 8080; echo \"other=$?\"",
            wait_port(8080)
        ),
        "",
    );
    let yaml = pod(
        "resolver",
        never(),
        &sidecars(&sidecar("server", "nc -lk -p 8080")),
        &app,
    );
    let run = run_pod(&yaml).await;
    let lines = run.lines("app");
    assert_eq!(
        lines.first().map(String::as_str),
        Some("own=0"),
        "{}",
        run.dump()
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("other=1"),
        "{}",
        run.dump()
    );
    assert!(
        lines.iter().any(|l| l.starts_with("nc: mydb:8080: ")),
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn udp_round_trip_between_containers() {
    let app = sh(
        "client",
        "for i in 1 2 3 4 5 6 7 8 9 10; do r=$(echo ping | nc -u -w 1 127.0.0.1 5353); if [ \"$r\" = ping ]; then echo \"reply=$r\"; exit 0; fi; done; exit 1",
        "",
    );
    let yaml = pod(
        "udp",
        never(),
        &sidecars(&sidecar("udp-echo", "nc -u -l -k -e -p 5353")),
        &app,
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("client"), ["reply=ping"], "{}", run.dump());
    let server = run.lines("udp-echo");
    assert!(
        !server.is_empty() && server.iter().all(|l| l == "ping"),
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn a_killed_server_closes_its_connections() {
    let server = sh("server", "nc -lk -e -p 8080", "");
    let started = start(&pod("killed", never(), "", &server), options()).await;
    let mut stream = connect(&started.handle, 8080).await;
    stream.write_all(b"live\n").await.unwrap();
    let mut echo = [0u8; 5];
    stream.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"live\n");
    // The connection stays open while the server runs...
    let mut byte = [0u8; 1];
    let idle = tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await;
    assert!(idle.is_err(), "no EOF while the server runs: {idle:?}");
    // ...and ends when its instance is killed.
    let run = started.stop().await;
    assert_eq!(run.exit_code("server"), 143, "{}", run.dump());
    let n = tokio::time::timeout(LIMIT, stream.read(&mut byte))
        .await
        .expect("EOF in time")
        .unwrap();
    assert_eq!(n, 0, "EOF");
    // As over loopback: the first write after the peer closed is taken (the
    // closed socket answers it with a reset), the next one fails.
    stream.write_all(b"anyone?").await.unwrap();
    let err = stream.write_all(b"anyone?").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
}

#[tokio::test]
async fn a_restarted_container_binds_its_port_again_at_once() {
    // One client per run; the container exits after it and is restarted.
    let server = sh("server", "nc -l -p 8080", "");
    let yaml = pod("rebind", "  restartPolicy: Always\n", "", &server);
    let (started, mut watch) = start_watched(&yaml, options()).await;
    for word in ["one", "two", "three"] {
        // A connection made while the previous instance is exiting lands in
        // its backlog and is reset when it exits: retry, as a client would.
        let reply = loop {
            let mut stream = connect(&started.handle, 8080).await;
            match try_exchange(&mut stream, format!("{word}\n").as_bytes()).await {
                Err(e)
                    if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) =>
                {
                    continue;
                }
                other => break other.unwrap(),
            }
        };
        assert_eq!(reply, "");
        watch.wait_line("server", word, LIMIT).await;
    }
    let run = started.stop().await;
    assert_eq!(
        run.lines("server")[..3],
        ["one", "two", "three"],
        "{}",
        run.dump()
    );
    let restarts = run.status("server").restart_count;
    assert!(restarts >= 2, "restarts: {restarts}\n{}", run.dump());
    assert!(
        !run.logs.iter().any(|l| l.line.contains("address in use")),
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn what_a_pod_listens_on_is_not_on_the_host() {
    let (tcp, udp) = (41290, 41291);
    let containers = [
        sh("tcp", &format!("nc -lk -p {tcp}"), ""),
        sh("udp", &format!("nc -u -l -k -p {udp}"), ""),
    ]
    .concat();
    let started = start(&pod("private", never(), "", &containers), options()).await;
    // Listening in the pod...
    drop(connect(&started.handle, tcp).await);
    let deadline = Instant::now() + LIMIT;
    while !started.handle.bound_ports(Protocol::Udp).contains(&udp) {
        assert!(Instant::now() < deadline, "the UDP listener never bound");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // ...while the same ports are free on the host.
    let host_tcp = std::net::TcpListener::bind(("127.0.0.1", tcp));
    let host_udp = std::net::UdpSocket::bind(("127.0.0.1", udp));
    started.stop().await;
    host_tcp.expect("the pod's TCP port is free on the host");
    host_udp.expect("the pod's UDP port is free on the host");
}

#[tokio::test]
async fn fifty_pods_in_parallel_each_serve_8080_to_their_own_clients() {
    const PODS: usize = 50;
    let mut pods = Vec::new();
    for i in 0..PODS {
        let yaml = pod(
            &format!("p{i}"),
            "",
            "",
            &sh("echo", "nc -lk -e -p 8080", ""),
        );
        pods.push(start(&yaml, options()).await);
    }
    // Every pod answers on its own 8080 with its own echo server, concurrently.
    let exchanges = pods.iter().enumerate().map(|(i, p)| async move {
        let mut stream = connect(&p.handle, 8080).await;
        let request = format!("hello pod {i}\n");
        (
            request.clone(),
            exchange(&mut stream, request.as_bytes()).await,
        )
    });
    for (request, reply) in futures::future::join_all(exchanges).await {
        assert_eq!(reply, request);
    }
    for (i, p) in pods.into_iter().enumerate() {
        let run = p.stop().await;
        assert_eq!(
            run.lines("echo"),
            [format!("hello pod {i}")],
            "{}",
            run.dump()
        );
    }
}

#[tokio::test]
async fn a_crashing_server_closes_its_connections() {
    // The server accepts, sends "hello" and traps with the connection open.
    let yaml = pod(
        "crash",
        never(),
        "",
        &sh("server", "netbench crash 8080", ""),
    );
    let started = start(&yaml, options()).await;
    let mut stream = connect(&started.handle, 8080).await;
    let mut received = Vec::new();
    tokio::time::timeout(LIMIT, stream.read_to_end(&mut received))
        .await
        .expect("EOF in time")
        .expect("the peer sees EOF, not an error");
    assert_eq!(received, b"hello");
    let run = started.finish(LIMIT).await;
    assert_eq!(
        run.exit_code("server"),
        134,
        "the server trapped\n{}",
        run.dump()
    );
}

/// `spec.hostAliases` resolve in the pod, as the kubelet's `/etc/hosts` entries do (any
/// case, a final dot or not), before the cluster's DNS; other names still do not.
#[tokio::test]
async fn host_aliases_resolve_to_their_addresses_in_the_pod() {
    let client = sh(
        "client",
        &format!(
            "{}; echo via-alias | nc -w 5 backend.test 8080; echo again | nc -w 5 OTHER.example. 8080; nc -z -w 2 unknown.test 8080 2>/dev/null || echo unknown-failed",
            wait_port(8080)
        ),
        "",
    );
    let aliases = "  hostAliases:\n  - ip: 127.0.0.1\n    hostnames: [backend.test, other.example]\n  - ip: 10.255.0.1\n    hostnames: [unused.test]\n";
    let yaml = pod(
        "aliases",
        &format!("{}{aliases}", never()),
        &sidecars(&sidecar("echo", "nc -lk -e -p 8080")),
        &client,
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(
        run.lines("client"),
        ["via-alias", "again", "unknown-failed"],
        "{}",
        run.dump()
    );
}
