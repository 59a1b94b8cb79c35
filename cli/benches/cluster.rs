//! Cluster network benchmark (issue 13): connection set-up, bulk throughput and round
//! trip from a pod through a Service to another pod, side by side with the same between
//! two containers of one pod (their shared loopback); and the time to bring 1,000 pods
//! behind one Service up and Ready, and the connection set-up again beside them and to
//! them.
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo bench --bench cluster
//! WASMPOD_BENCH_PODS=200 CARGO_TARGET_DIR=target/bench cargo bench --bench cluster   # fewer pods
//! ```
//!
//! The guests are the toolbox's `netbench` applet. The client reaches the Service by
//! its cluster IP (`$(SINK_SERVICE_HOST)`, the kubelet's Service variable), so name
//! lookup is not timed; the guest times itself. Medians of 5 runs.

use std::time::{Duration, Instant};

use wasmpod::{Runtime, RuntimeConfig};

#[path = "support/netbench.rs"]
mod netbench;
use netbench::{create, field, figures, median, run};

/// How a row's value is read from a run's figures.
type Figure<'a> = &'a dyn Fn(&[(String, f64)]) -> f64;

const MIB: u64 = 256;
const PINGS: u64 = 20_000;
const CONNECTS: u64 = 5_000;
const RUNS: usize = 5;

fn doc(kind_and_meta: &str, rest: &str) -> String {
    format!("apiVersion: v1\n{kind_and_meta}\n{rest}")
}

fn service(ns: &str, name: &str, app: &str, port: u16) -> String {
    doc(
        &format!("kind: Service\nmetadata: {{name: {name}, namespace: {ns}}}"),
        &format!("spec:\n  selector: {{app: {app}}}\n  ports: [{{port: {port}}}]\n"),
    )
}

fn pod(ns: &str, name: &str, labels: &str, policy: &str, containers: &[(&str, &str)]) -> String {
    let mut out = doc(
        &format!("kind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}"),
        &format!("spec:\n  restartPolicy: {policy}\n  containers:\n"),
    );
    for (c, command) in containers {
        out.push_str(&format!(
            "  - name: {c}\n    image: busybox\n    command: [{command}]\n"
        ));
    }
    out
}

/// One measurement both ways: (through a Service between two pods, within one pod).
async fn measure(
    rt: &Runtime,
    ns: &str,
    server: &str,
    client: &str,
    value: impl Fn(&[(String, f64)]) -> f64,
    from: &str,
) -> (f64, f64) {
    // Within one pod: both containers, the client dials loopback.
    let same = pod(
        ns,
        "same",
        "app: same",
        "Never",
        &[
            ("server", server),
            (
                "client",
                &client.replace("$(SINK_SERVICE_HOST)", "127.0.0.1"),
            ),
        ],
    );
    let f = run(rt, &same, from).await;
    let local = value(&f);
    // Through the Service: the server pod is its endpoint, the client another pod.
    let server_pod = create(
        rt,
        &pod(ns, "sink", "app: sink", "Never", &[("server", server)]),
    )
    .await;
    let server_logs = server_pod.logs();
    server_pod.start();
    let client_fields = run(
        rt,
        &pod(ns, "client", "app: client", "Never", &[("client", client)]),
        "client",
    )
    .await;
    let server_fields = figures(&server_pod, server_logs, "server").await;
    // Throughput is timed by the sink (the server), the rest by the client.
    let fields = if from == "server" {
        server_fields
    } else {
        client_fields
    };
    (value(&fields), local)
}

#[tokio::main]
async fn main() {
    let cache = tempfile::tempdir().unwrap();
    let rt =
        Runtime::new(RuntimeConfig::default().with_cache_dir(Some(cache.path().into()))).unwrap();
    let ns = "bench";
    for object in wasmpod::spec::load(&service(ns, "sink", "sink", 9000))
        .unwrap()
        .objects
    {
        rt.cluster().apply(object).unwrap();
    }
    // Warm up: compile once.
    run(
        &rt,
        &pod(ns, "warm", "app: warm", "Never", &[("c", "'true'")]),
        "c",
    )
    .await;

    let tput = |f: &[(String, f64)]| field(f, "bytes") / field(f, "secs") / (1024.0 * 1024.0);
    let rtt = |f: &[(String, f64)]| field(f, "secs") / field(f, "count") * 1e6;
    let setup = |f: &[(String, f64)]| field(f, "secs") / field(f, "count") * 1e6;
    let mut rows: Vec<(String, Vec<f64>, Vec<f64>)> = vec![
        (
            format!("bulk TCP throughput, {MIB} MiB in 64 KiB writes (MiB/s)"),
            vec![],
            vec![],
        ),
        ("round trip, 64-byte message (µs)".into(), vec![], vec![]),
        (
            "connection set-up, connect and close (µs)".into(),
            vec![],
            vec![],
        ),
    ];
    let cases = [
        (
            "netbench, sink, '9000'".to_string(),
            format!("netbench, send, $(SINK_SERVICE_HOST), '9000', '{MIB}'"),
            "server",
        ),
        (
            "netbench, echo, '9000'".to_string(),
            format!("netbench, ping, $(SINK_SERVICE_HOST), '9000', '{PINGS}'"),
            "client",
        ),
        (
            format!("netbench, accepts, '9000', '{CONNECTS}'"),
            format!("netbench, connects, $(SINK_SERVICE_HOST), '9000', '{CONNECTS}'"),
            "client",
        ),
    ];
    let values: [Figure; 3] = [&tput, &rtt, &setup];
    for _ in 0..RUNS {
        for (row, ((server, client, from), value)) in rows.iter_mut().zip(cases.iter().zip(values))
        {
            let (s, l) = measure(&rt, ns, server, client, value, from).await;
            row.1.push(s);
            row.2.push(l);
        }
    }
    println!(
        "| what | pod → Service → pod | two containers of one pod (loopback) | Service / loopback |"
    );
    println!("|---|---:|---:|---:|");
    for (what, svc, local) in rows {
        let (s, l) = (median(svc), median(local));
        println!("| {what} | {s:.1} | {l:.1} | {:.2}× |", s / l);
    }
    println!("\nmedians of {RUNS} runs; {PINGS} round trips, {CONNECTS} connections per run");

    // 1,000 pods behind one Service, from the first create until every one is a ready
    // endpoint.
    let n: usize = std::env::var("WASMPOD_BENCH_PODS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    for object in wasmpod::spec::load(&service(ns, "big", "big", 8080))
        .unwrap()
        .objects
    {
        rt.cluster().apply(object).unwrap();
    }
    let start = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let yaml = format!(
            "{}    readinessProbe:\n      tcpSocket: {{port: 8080}}\n      periodSeconds: 1\n",
            pod(
                ns,
                &format!("big-{i}"),
                "app: big",
                "Always",
                &[("web", "nc, -lk, -p, '8080'")]
            )
        );
        let h = create(&rt, &yaml).await;
        h.start();
        handles.push(h);
    }
    let created = start.elapsed();
    loop {
        let ready = rt
            .cluster()
            .endpoints(ns, "big")
            .unwrap_or_default()
            .iter()
            .filter(|e| e.ready)
            .count();
        if ready == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_ready = start.elapsed();
    println!(
        "\n{n} pods behind one Service: created and started in {:.2} s, all Ready endpoints after {:.2} s",
        created.as_secs_f64(),
        all_ready.as_secs_f64()
    );
    // A connect to a Service asks the cluster for its endpoints: the same set-up as
    // above, now with the `n` pods running in the namespace beside the two.
    let (server, client, from) = &cases[2];
    let (mut svc, mut local) = (vec![], vec![]);
    for _ in 0..RUNS {
        let (s, l) = measure(&rt, ns, server, client, setup, from).await;
        svc.push(s);
        local.push(l);
    }
    let (s, l) = (median(svc), median(local));
    println!(
        "\n| what | pod → Service → pod | two containers of one pod (loopback) | Service / loopback |"
    );
    println!("|---|---:|---:|---:|");
    println!(
        "| connection set-up, connect and close, {n} more pods in the namespace (µs) | {s:.1} | {l:.1} | {:.2}× |",
        s / l
    );
    // And to a Service of the `n` Ready endpoints (their busybox `nc -lk` accepts and
    // closes), whose connects spread over all of them.
    let to_big = format!("netbench, connects, $(BIG_SERVICE_HOST), '8080', '{CONNECTS}'");
    let mut big = vec![];
    for _ in 0..RUNS {
        let client = pod(ns, "client", "app: client", "Never", &[("client", &to_big)]);
        big.push(setup(&run(&rt, &client, "client").await));
    }
    println!(
        "| connection set-up, connect and close, to a Service of {n} Ready endpoints (µs) | {:.1} | {l:.1} | {:.2}× |",
        median(big.clone()),
        median(big) / l
    );
    for h in &handles {
        h.stop();
    }
    for h in handles {
        h.wait().await;
    }
}
