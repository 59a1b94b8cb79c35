//! Pod network benchmark: bulk TCP throughput and small-message round-trip
//! latency between two containers of one pod (the in-memory `wasi:sockets`
//! of `sandbox/net`), side by side with a native thread pair doing the same
//! over the kernel loopback.
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo bench --bench network
//! ```
//!
//! The guests are the toolbox's `netbench` applet (`sink`/`send` for
//! throughput: 256 MiB in 64 KiB writes; `echo`/`ping` for latency: 64-byte
//! messages, one in flight). Each figure is the median of N runs; the guest
//! times itself (accept → EOF for throughput, first send → last echo for
//! latency), so pod start-up is not included. The benchmark exits non-zero
//! if a pod does not succeed.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use wasmpod::{Runtime, RuntimeConfig};

#[path = "support/netbench.rs"]
mod netbench;
use netbench::{field, median, run};

const MIB: u64 = 256;
const PINGS: u64 = 20_000;
const RUNS: usize = 5;
const MESSAGE: usize = 64;

fn pod(name: &str, server: &str, client: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: server\n    image: busybox\n    command: [{server}]\n  - name: client\n    image: busybox\n    command: [{client}]\n"
    )
}

fn native_throughput() -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let chunk = vec![0x5au8; 64 * 1024];
        for _ in 0..MIB * 16 {
            s.write_all(&chunk).unwrap();
        }
    });
    let (mut s, _) = listener.accept().unwrap();
    let start = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match s.read(&mut buf).unwrap() {
            0 => break,
            n => total += n as u64,
        }
    }
    sender.join().unwrap();
    total as f64 / start.elapsed().as_secs_f64()
}

fn native_rtt() -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; MESSAGE];
        while s.read_exact(&mut buf).is_ok() {
            s.write_all(&buf).unwrap();
        }
    });
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let (msg, mut buf) = ([0x42u8; MESSAGE], [0u8; MESSAGE]);
    let start = Instant::now();
    for _ in 0..PINGS {
        s.write_all(&msg).unwrap();
        s.read_exact(&mut buf).unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    drop(s);
    server.join().unwrap();
    secs / PINGS as f64
}

#[tokio::main]
async fn main() {
    let cache = tempfile::tempdir().unwrap();
    let rt =
        Runtime::new(RuntimeConfig::default().with_cache_dir(Some(cache.path().into()))).unwrap();
    let throughput_pod = pod(
        "tput",
        "netbench, sink, '9000'",
        &format!("netbench, send, 127.0.0.1, '9000', '{MIB}'"),
    );
    let latency_pod = pod(
        "rtt",
        "netbench, echo, '9001'",
        &format!("netbench, ping, 127.0.0.1, '9001', '{PINGS}'"),
    );
    // Warm up: compile once.
    run(
        &rt,
        &latency_pod.replace(&format!("'{PINGS}'"), "'10'"),
        "client",
    )
    .await;

    let mut pod_tput = Vec::new();
    let mut pod_rtt = Vec::new();
    let mut native_tput = Vec::new();
    let mut native_rtts = Vec::new();
    for _ in 0..RUNS {
        let f = run(&rt, &throughput_pod, "server").await;
        pod_tput.push(field(&f, "bytes") / field(&f, "secs"));
        let f = run(&rt, &latency_pod, "client").await;
        pod_rtt.push(field(&f, "secs") / field(&f, "count"));
        native_tput.push(
            tokio::task::spawn_blocking(native_throughput)
                .await
                .unwrap(),
        );
        native_rtts.push(tokio::task::spawn_blocking(native_rtt).await.unwrap());
    }
    let (pt, nt) = (median(pod_tput), median(native_tput));
    let (pr, nr) = (median(pod_rtt), median(native_rtts));
    let mib_s = |b: f64| b / (1024.0 * 1024.0);
    println!(
        "| what | pod (wasm guests, in-memory network) | native threads, kernel loopback | pod / native |"
    );
    println!("|---|---:|---:|---:|");
    println!(
        "| bulk TCP throughput, {MIB} MiB in 64 KiB writes (MiB/s) | {:.0} | {:.0} | {:.2}× |",
        mib_s(pt),
        mib_s(nt),
        pt / nt
    );
    println!(
        "| round trip, 64-byte message (µs) | {:.1} | {:.1} | {:.2}× |",
        pr * 1e6,
        nr * 1e6,
        pr / nr
    );
    println!("\nmedians of {RUNS} runs; {PINGS} round trips per run");
}
