//! `wasi:http` benchmark (issue 12): requests per second and p50/p99 latency of a
//! hello-world handler (`guests/http-hello`, `GET /`), served by wasmpod (a fresh instance
//! per request) and by `wasmtime serve` of the same component, side by side in one run.
//!
//! ```text
//! cargo install wasmtime-cli --version 48.0.8 --locked --no-default-features \
//!     --features serve,cranelift,cache,component-model      # the anchor, once
//! CARGO_TARGET_DIR=target/bench cargo bench --bench http
//! WASMTIME=/path/to/wasmtime CARGO_TARGET_DIR=target/bench cargo bench --bench http
//! WASMTIME_POOLING=n WASMTIME=... cargo bench --bench http   # a wasmtime without pooling
//! ```
//!
//! Clients: the benchmark process with hyper's HTTP/1.1 client on keep-alive connections
//! (to wasmpod through a host forward, `PodHandle::publish`, and to `wasmtime serve` on its
//! host port), and, for wasmpod only, the toolbox's `netbench http` in another pod on the
//! server pod's IP (one keep-alive connection). Without a `wasmtime` binary (`$WASMTIME`,
//! else on `PATH`), its rows are left out.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use wasmpod::{Runtime, RuntimeConfig};

#[path = "support/netbench.rs"]
mod netbench;
use netbench::{create, field, run};

/// How long each host-client measurement runs.
const DURATION: Duration = Duration::from_secs(5);
/// Requests of the in-pod client.
const POD_REQUESTS: u64 = 20_000;

/// Requests per second and p50/p99 latency (µs) of `conns` keep-alive connections
/// sending `GET /` to `addr` for [`DURATION`].
async fn load(addr: SocketAddr, conns: usize) -> (f64, f64, f64) {
    let deadline = Instant::now() + DURATION;
    let mut tasks = Vec::new();
    for _ in 0..conns {
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut sender = None;
            while Instant::now() < deadline {
                // A server may close a keep-alive connection: open another (not timed).
                let s = match &mut sender {
                    Some(s) => s,
                    None => sender.insert(open(addr).await),
                };
                let request = hyper::Request::get("/")
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())
                    .expect("request");
                let sent = Instant::now();
                match s.send_request(request).await {
                    Ok(response) => {
                        assert_eq!(response.status(), 200);
                        response.into_body().collect().await.expect("body");
                        latencies.push(sent.elapsed().as_secs_f64() * 1e6);
                    }
                    Err(_) => sender = None,
                }
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client task"));
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() - 1) as f64 * q) as usize];
    (all.len() as f64 / secs, at(0.5), at(0.99))
}

/// A keep-alive HTTP/1.1 connection to `addr`.
async fn open(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).ok();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// Waits until something accepts connections on `addr`.
async fn listening(addr: SocketAddr) {
    let give_up = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < give_up, "nothing listens on {addr}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `wasmtime serve`, killed when dropped.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wasmtime_binary() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("WASMTIME") {
        return Some(p.into());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("wasmtime"))
            .find(|p| p.is_file())
    })
}

#[tokio::main]
async fn main() {
    let cache = tempfile::tempdir().unwrap();
    let rt =
        Runtime::new(RuntimeConfig::default().with_cache_dir(Some(cache.path().into()))).unwrap();
    let component = wasmpod_guests::HTTP_HELLO_PATH;
    let server = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: web, labels: {{app: web}}}}\nspec:\n  containers:\n  - name: web\n    image: {component:?}\n"
    );
    let web = create(&rt, &server).await;
    web.start();
    let forward = web
        .publish("127.0.0.1:0".parse().unwrap(), 8080)
        .await
        .expect("forward");
    // The forward listens at once; wait for the component's port in the pod.
    let give_up = Instant::now() + Duration::from_secs(60);
    while web.connect(8080).await.is_err() {
        assert!(Instant::now() < give_up, "the component never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pod_ip = web
        .pod()
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("pod IP");

    let mut rows: Vec<(String, (f64, f64, f64))> = Vec::new();
    let wasmtime = wasmtime_binary();
    let mut serve = None;
    if let Some(bin) = &wasmtime {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        // `WASMTIME_POOLING=n` for a wasmtime built without the pooling allocator (wasmpod
        // serves requests on demand; see RuntimeConfig::pooled_instances).
        let pooling = format!(
            "pooling-allocator={}",
            std::env::var("WASMTIME_POOLING").unwrap_or_else(|_| "y".into())
        );
        let child = Serve(
            std::process::Command::new(bin)
                .args([
                    "serve",
                    "-O",
                    &pooling,
                    "--addr",
                    &addr.to_string(),
                    "-S",
                    "cli=y",
                    component,
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("wasmtime serve"),
        );
        listening(addr).await;
        serve = Some((child, addr));
    } else {
        eprintln!("no wasmtime binary ($WASMTIME or PATH): its rows are left out");
    }
    // Warm both up.
    load(forward, 1).await;
    if let Some((_, addr)) = &serve {
        load(*addr, 1).await;
    }
    for conns in [1, 8] {
        if let Some((_, addr)) = &serve {
            rows.push((
                format!("`wasmtime serve`, host client, {conns} connection(s)"),
                load(*addr, conns).await,
            ));
        }
        rows.push((
            format!("wasmpod, host client through a forward, {conns} connection(s)"),
            load(forward, conns).await,
        ));
    }
    let client = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: client}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: [netbench, http, '{pod_ip}', '8080', '{POD_REQUESTS}']\n"
    );
    let f = run(&rt, &client, "c").await;
    rows.push((
        "wasmpod, client in another pod (pod IP), 1 connection".into(),
        (
            field(&f, "count") / field(&f, "secs"),
            field(&f, "p50_us"),
            field(&f, "p99_us"),
        ),
    ));
    println!("| server, client | requests/s | p50 (µs) | p99 (µs) |");
    println!("|---|---:|---:|---:|");
    for (what, (rps, p50, p99)) in rows {
        println!("| {what} | {rps:.0} | {p50:.0} | {p99:.0} |");
    }
    println!(
        "\nhost clients: {:?} each; the pod client: {POD_REQUESTS} requests",
        DURATION
    );
    drop(serve);
    web.stop();
    web.wait().await;
}
