//! Pod churn and density benchmarks: how many trivial pods per second one
//! [`Runtime`] creates, starts and waits for, and how many idle containers
//! one process holds (RSS per container, memory mappings per container, time
//! to bring them up and down).
//!
//! A plain `harness = false` binary (no criterion), like `startup.rs`.
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo bench --bench density
//! DENSITY_CONTAINERS=1000 CARGO_TARGET_DIR=target/bench cargo bench --bench density   # smaller N
//! ```
//!
//! 1. churn, sequential: a one-container pod running `true` (restartPolicy
//!    Never), `create()` → `start()` → `wait()`, one after the other;
//! 2. churn, 32 pods in flight;
//! 3. density: `DENSITY_CONTAINERS` (default 10,000) idle containers
//!    (`sleep 3600`, busybox) as pods of 10 and as pods of 1, all in one
//!    runtime; reported: time until every container is running, RSS and
//!    `/proc/self/maps` lines per container, time to stop them all. A
//!    container that cannot start ends that row early, with the reason
//!    (the runtime's limit) printed, never an abort.
//!
//! The runtime is `RuntimeConfig::default()` with `max_instances` raised to
//! the number of containers (and the other settings it implies), so that
//! the default configuration's limits are not what is measured.
//! `DENSITY_DEFAULT_CONFIG=1` keeps the default configuration as it is;
//! `DENSITY_POOLED=N` sets `RuntimeConfig::pooled_instances` (the instances
//! in wasmtime's pooling allocator; 0: every instance allocated on demand);
//! `DENSITY_GUEST_THREADS` and `DENSITY_WORKERS` set the guest executor's and
//! the bench's own runtime's threads (one per core and 2 by default;
//! `DENSITY_WORKERS=0`: a current-thread runtime, as `#[tokio::test]` gives).
//! `DENSITY_STEPS=1` also prints where a sequential pod's time goes: the
//! median time between the library's `wasmpod::step` trace events over the
//! pods of the per-pod medians' run (recorded from then on, which slows what
//! follows a little).

use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "support/latency.rs"]
mod latency;
#[path = "support/steps.rs"]
mod steps;

use wasmpod::spec::{self, ValidPod};
use wasmpod::{Phase, PodHandle, RunOptions, Runtime, RuntimeConfig};

const CHURN_PODS: usize = 2000;
const CHURN_ROUNDS: usize = 3;
const IN_FLIGHT: usize = 32;
/// Restarts timed, and init + sidecar + app pods started, for the latency rows.
const LATENCY_SAMPLES: usize = 500;

/// Prints to stderr and exits non-zero.
macro_rules! fail {
    ($($arg:tt)*) => {{
        eprintln!("density bench FAILED: {}", format!($($arg)*));
        std::process::exit(1)
    }};
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sh(cmd: &str) -> String {
    std::process::Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn load_pod(yaml: &str) -> ValidPod {
    let mut file = spec::load(yaml).unwrap_or_else(|e| fail!("invalid pod: {e}"));
    file.pods.remove(0)
}

fn true_pod() -> ValidPod {
    load_pod(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: churn}\nspec:\n  restartPolicy: Never\n  \
         containers:\n  - name: c\n    image: busybox\n    command: ['true']\n",
    )
}

fn idle_pod(containers: usize) -> ValidPod {
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: idle}\nspec:\n  restartPolicy: Never\n  \
         terminationGracePeriodSeconds: 0\n  containers:\n",
    );
    for i in 0..containers {
        yaml.push_str(&format!(
            "  - name: c{i}\n    image: busybox\n    command: ['sleep', '3600']\n"
        ));
    }
    load_pod(&yaml)
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Open descriptors of this process.
fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Memory mappings of this process (lines of `/proc/self/maps`).
fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// Prints the process's mappings counted by permissions and backing
/// (`DENSITY_MAPS=1`): what an idle instance maps.
fn maps_by_kind() {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
    for l in maps.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let path = f
            .get(5)
            .map_or("[anon]", |p| if p.starts_with('/') { "file" } else { p });
        *kinds
            .entry(format!("{} {path}", f.get(1).unwrap_or(&"?")))
            .or_default() += 1;
    }
    for (k, n) in kinds {
        eprintln!("maps: {n:>7} {k}");
    }
}

/// One pod of the churn; returns how long `create()` and `start()` →
/// `wait()` took.
async fn churn_one(rt: &Runtime, pod: &ValidPod) -> (Duration, Duration) {
    let t0 = Instant::now();
    let handle = rt
        .create(pod.clone(), RunOptions::default())
        .await
        .unwrap_or_else(|e| fail!("create failed: {e}"));
    let t1 = Instant::now();
    handle.start();
    let outcome = handle.wait().await;
    if outcome.phase != Phase::Succeeded {
        fail!("churn pod ended {}", outcome.phase.as_str());
    }
    let t2 = Instant::now();
    drop(handle);
    (t1 - t0, t2 - t1)
}

/// Median time of `create()` and of `start()` → `wait()` over `n`
/// sequential pods, in microseconds.
async fn churn_phases(rt: &Runtime, pod: &ValidPod, n: usize) -> (f64, f64) {
    let (mut create, mut run) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let (c, r) = churn_one(rt, pod).await;
        create.push(c);
        run.push(r);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e6
    };
    (median(&mut create), median(&mut run))
}

/// Pods per second, `n` pods with `in_flight` at a time.
async fn churn(rt: &Runtime, pod: &ValidPod, n: usize, in_flight: usize) -> f64 {
    let t0 = Instant::now();
    if in_flight <= 1 {
        for _ in 0..n {
            churn_one(rt, pod).await;
        }
    } else {
        let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..in_flight {
            let (rt, pod, next) = (rt.clone(), pod.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    churn_one(&rt, &pod).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap_or_else(|e| fail!("churn task: {e}"));
        }
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

/// How the current-thread churn row names its caller.
const LOCAL: &str = "caller on a current-thread runtime (`#[tokio::test]`'s)";

/// [`churn`] of `n` sequential pods from a current-thread tokio runtime on a thread of
/// its own (a test's), with the same [`Runtime`]: pods per second.
fn churn_on_current_thread(rt: &Runtime, pod: &ValidPod, n: usize) -> f64 {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap_or_else(|e| fail!("tokio: {e}"))
                    .block_on(churn(rt, pod, n, 1))
            })
            .join()
            .unwrap_or_else(|_| fail!("the current-thread churn panicked"))
    })
}

/// Waits until every container of the pod runs; `Err` with the first
/// container's termination message if one ended instead.
async fn all_running(handle: &PodHandle, containers: usize) -> Result<(), String> {
    let mut watch = handle.watch();
    loop {
        {
            let pod = watch.borrow_and_update();
            let statuses = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref());
            let mut running = 0;
            for c in statuses.into_iter().flatten() {
                let state = c.state.as_ref();
                if state.is_some_and(|s| s.running.is_some()) {
                    running += 1;
                }
                if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
                    return Err(format!(
                        "{} {}: {}",
                        c.name,
                        t.reason.as_deref().unwrap_or("?"),
                        t.message.as_deref().unwrap_or("")
                    ));
                }
                if let Some(w) = state.and_then(|s| s.waiting.as_ref())
                    && w.reason.as_deref() == Some("StartError")
                {
                    return Err(format!(
                        "{}: {}",
                        c.name,
                        w.message.as_deref().unwrap_or("")
                    ));
                }
            }
            if running == containers {
                return Ok(());
            }
        }
        if watch.changed().await.is_err() {
            return Err("the pod ended".into());
        }
    }
}

struct Density {
    pods: usize,
    per_pod: usize,
    up: Duration,
    down: Duration,
    rss_per_container_kib: f64,
    maps_per_container: f64,
    /// Open descriptors per running container.
    fds_per_container: f64,
    maps_total: usize,
    /// Why it stopped early, if it did.
    limit: Option<String>,
}

async fn density(rt: &Runtime, pods: usize, per_pod: usize) -> Density {
    let pod = idle_pod(per_pod);
    let (rss0, maps0, fds0) = (rss_kib(), maps(), fds());
    let t0 = Instant::now();
    let mut handles: Vec<PodHandle> = Vec::with_capacity(pods);
    let mut limit = None;
    // Start in batches of 100 and wait for each batch to run, so that a
    // limit shows up at the pod that hits it.
    'outer: for batch in (0..pods).collect::<Vec<_>>().chunks(100) {
        let mut started = Vec::new();
        for _ in batch {
            let handle = match rt.create(pod.clone(), RunOptions::default()).await {
                Ok(h) => h,
                Err(e) => {
                    limit = Some(format!("create failed: {e}"));
                    break 'outer;
                }
            };
            handle.start();
            started.push(handle);
        }
        for h in started {
            let r = all_running(&h, per_pod).await;
            handles.push(h);
            if let Err(e) = r {
                limit = Some(e);
                break 'outer;
            }
        }
    }
    let up = t0.elapsed();
    let running = handles.len() * per_pod;
    let (rss1, maps1, fds1) = (rss_kib(), maps(), fds());
    if std::env::var_os("DENSITY_MAPS").is_some() {
        maps_by_kind();
    }
    let t1 = Instant::now();
    for h in &handles {
        h.stop();
    }
    for h in &handles {
        h.wait().await;
    }
    drop(handles);
    let down = t1.elapsed();
    let n = running.max(1) as f64;
    Density {
        pods: running / per_pod.max(1),
        per_pod,
        up,
        down,
        rss_per_container_kib: rss1.saturating_sub(rss0) as f64 / n,
        maps_per_container: maps1.saturating_sub(maps0) as f64 / n,
        fds_per_container: fds1.saturating_sub(fds0) as f64 / n,
        maps_total: maps1,
        limit,
    }
}

fn main() {
    let containers = env_usize("DENSITY_CONTAINERS", 10_000);
    let churn_pods = env_usize("DENSITY_CHURN_PODS", CHURN_PODS);
    let default_config = std::env::var_os("DENSITY_DEFAULT_CONFIG").is_some();
    let load_before = sh("cut -d' ' -f1-3 /proc/loadavg");
    let bench_start = Instant::now();
    let cache = tempfile::tempdir().unwrap_or_else(|e| fail!("tempdir: {e}"));
    let config = RuntimeConfig::default().with_cache_dir(Some(cache.path().to_path_buf()));
    let config = if default_config {
        config
    } else {
        sized(config, containers)
    };
    // `DENSITY_POOLED=N`: the instance pool's size (`RuntimeConfig::pooled_instances`).
    let pooled = env_usize("DENSITY_POOLED", config.pooled_instances);
    let config = config.with_pooled_instances(pooled);
    // `DENSITY_GUEST_THREADS=N`: the guest executor's threads
    // (`RuntimeConfig::guest_threads`); `DENSITY_WORKERS=N`: the bench's own
    // runtime's (the caller's, where pods' supervisors run).
    let config = match std::env::var("DENSITY_GUEST_THREADS") {
        Ok(n) => config.with_guest_threads(n.parse().unwrap_or(1)),
        Err(_) => config,
    };
    // `DENSITY_WORKERS=0`: a current-thread runtime, what `#[tokio::test]` gives a test.
    let tokio = match env_usize("DENSITY_WORKERS", 2) {
        0 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    }
    .enable_all()
    .build()
    .unwrap_or_else(|e| fail!("tokio: {e}"));
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    let mut latency_rows = Vec::new();
    let mut run_base = String::new();
    let mut step_rows = Vec::new();
    tokio.block_on(async {
        let rt = Runtime::new(config).unwrap_or_else(|e| fail!("Runtime::new: {e}"));
        rt.prepare_image("busybox", &PathBuf::from("."))
            .await
            .unwrap_or_else(|e| fail!("prepare_image: {e}"));
        let pod = true_pod();
        let probe = rt
            .create(pod.clone(), RunOptions::default())
            .await
            .unwrap_or_else(|e| fail!("create failed: {e}"));
        let base = probe.run_dir().parent().map(|p| p.display().to_string()).unwrap_or_default();
        run_base = format!("{base} ({})", sh(&format!("stat -f -c %T {base}")));
        drop(probe);
        // Warm up (allocator, pool slots, caches).
        churn(&rt, &pod, 200, 1).await;
        for (what, in_flight) in [("sequential", 1), ("32 in flight", IN_FLIGHT)] {
            let mut rates: Vec<f64> = Vec::new();
            // Sequential pods also from a current-thread caller, a round of each in turn.
            let mut local: Vec<f64> = Vec::new();
            for _ in 0..CHURN_ROUNDS {
                rates.push(churn(&rt, &pod, churn_pods, in_flight).await);
                if in_flight == 1 {
                    local.push(churn_on_current_thread(&rt, &pod, churn_pods));
                }
            }
            for (what, mut rates) in [(what.to_string(), rates), (format!("{what}, {LOCAL}"), local)] {
                if rates.is_empty() {
                    continue;
                }
                rates.sort_by(f64::total_cmp);
                rows.push(format!(
                    "| trivial pod churn (`true`, Never), create → start → wait, {what} | {churn_pods} × {CHURN_ROUNDS} | {:.0} | {:.0} | {:.0} |",
                    rates[rates.len() / 2],
                    rates[0],
                    rates[rates.len() - 1]
                ));
                eprintln!("{}", rows.last().unwrap());
            }
        }
        let counts = rt.instances();
        notes.push(format!(
            "instances started so far: {}, of them in the instance pool: {}",
            counts.started, counts.started_pooled
        ));
        let steps = std::env::var_os("DENSITY_STEPS").and_then(|_| steps::Steps::install());
        let (create, run) = churn_phases(&rt, &pod, churn_pods).await;
        if let Some(steps) = &steps {
            step_rows = steps.table();
        }
        notes.push(format!(
            "sequential churn, median per pod: `create()` {create:.0} µs, `start()` → `wait()` {run:.0} µs ({churn_pods} pods)"
        ));
        eprintln!("{}", notes.last().unwrap());
        let n = env_usize("DENSITY_LATENCY_SAMPLES", LATENCY_SAMPLES);
        let (median, min, max) = latency::spread(&mut latency::restart(&rt, n).await);
        latency_rows.push(format!(
            "| crash → restarted, `Started` → `Started` (`false`, restartPolicy Always, backoff 0) | {n} | {median:.0} | {min:.0} | {max:.0} |"
        ));
        eprintln!("{}", latency_rows.last().unwrap());
        let (median, min, max) = latency::spread(&mut latency::chain(&rt, n).await);
        latency_rows.push(format!(
            "| init (`true`) + native sidecar + app (`true`): `start()` → app `Started` | {n} | {median:.0} | {min:.0} | {max:.0} |"
        ));
        eprintln!("{}", latency_rows.last().unwrap());
        for per_pod in [10, 1] {
            let pods = containers / per_pod;
            let d = density(&rt, pods, per_pod).await;
            let row = format!(
                "| {} pods × {} idle containers (`sleep 3600`) | {} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {:.2} |",
                d.pods,
                d.per_pod,
                d.pods * d.per_pod,
                d.rss_per_container_kib,
                d.maps_per_container,
                d.fds_per_container,
                d.up.as_secs_f64() * 1000.0,
                d.maps_total,
                d.down.as_secs_f64(),
            );
            eprintln!("{row}");
            rows.push(row);
            if let Some(why) = d.limit {
                notes.push(format!(
                    "{pods} pods × {per_pod}: stopped after {} containers: {why}",
                    d.pods * d.per_pod
                ));
            }
        }
    });
    let load_after = sh("cut -d' ' -f1-3 /proc/loadavg");
    println!("## wasmpod density benchmark\n");
    println!(
        "- date: {}\n- machine: `nproc` = {}, {}\n- pods' temporary run directories in: {run_base}\n- vm.max_map_count: {}\n- load average (1/5/15 min) before: {load_before}, after: {load_after}\n- bench wall time: {:.1} s\n- configuration: {}\n",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC"),
        sh("nproc"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'"),
        sh("cat /proc/sys/vm/max_map_count"),
        bench_start.elapsed().as_secs_f64(),
        if default_config {
            format!("`RuntimeConfig::default()`, pooled_instances = {pooled}")
        } else {
            format!(
                "`RuntimeConfig::default()` sized for {containers} instances, pooled_instances = {pooled}"
            )
        }
    );
    println!("| churn | pods × rounds | median pods/s | min | max |\n|---|---:|---:|---:|---:|");
    for r in rows.iter().filter(|r| r.starts_with("| trivial")) {
        println!("{r}");
    }
    println!("\n| latency | N | median µs | min µs | max µs |\n|---|---:|---:|---:|---:|");
    for r in &latency_rows {
        println!("{r}");
    }
    println!(
        "\n| density | containers running | RSS KiB / container | maps / container | descriptors / container | up ms | maps total | down s |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows.iter().filter(|r| !r.starts_with("| trivial")) {
        println!("{r}");
    }
    if !step_rows.is_empty() {
        println!("\n| sequential pod, step → step | pods | median µs |\n|---|---:|---:|");
        for r in &step_rows {
            println!("{r}");
        }
    }
    println!();
    for n in &notes {
        println!("- {n}");
    }
}

/// The configuration for `containers` instances (the default holds 10,000).
fn sized(config: RuntimeConfig, containers: usize) -> RuntimeConfig {
    config.with_max_instances(containers.max(10_000) + IN_FLIGHT)
}
