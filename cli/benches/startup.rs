//! Startup benchmarks for `examples/config-init.yaml` (init container →
//! native sidecar → init container → app) and a trivial `echo` pod.
//!
//! A plain `harness = false` binary (no criterion): every figure is the
//! median / min / max of N wall-clock samples taken with [`Instant`].
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo bench --bench startup
//! ```
//!
//! 1. cold `wasmpod run`: the whole CLI process, with a fresh, empty
//!    `--cache-dir` each time, so every image (toolbox, httpd) is compiled;
//! 2. warm `wasmpod run`: the same with a cache directory populated by an
//!    earlier run, so compiled code is deserialised from disk;
//! 3. in process, on one warm [`Runtime`]: `create()` and the time from
//!    `start()` to the app container's `Started` event (plus what `watch()`
//!    saw, start → `Succeeded`, and each step of the init/sidecar chain);
//! 4. in process: a one-container `echo` pod, start → exit;
//! 5. in process: `Runtime::new` and loading both images from the disk cache
//!    into a fresh runtime (the part of a warm CLI run that is not the pod).
//!
//! The benchmark exits non-zero if any pod does not succeed. It prints a
//! markdown report on stdout (copied into BENCHMARKS.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/anchor.rs"]
mod anchor;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::broadcast::error::RecvError;
use wasmpod::spec::{self, ValidPod};
use wasmpod::{Phase, RunOptions, Runtime, RuntimeConfig};

const WASMPOD: &str = env!("CARGO_BIN_EXE_wasmpod");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
const EXAMPLE: &str = "config-init.yaml";
/// What the app prints when the chain worked.
const APP_LINE: &str = "app read: greeting=hello from the config server";
/// What fetch-config prints when its first download failed (then it sleeps 1 s).
const RETRY_LINE: &str = "waiting for config-server";

const COLD_RUNS: usize = 3;
const COLD_RUNS_IF_FAST: usize = 5;
const WARM_RUNS: usize = 10;
const POD_RUNS: usize = 20;
const ECHO_RUNS: usize = 20;
const RUNTIME_RUNS: usize = 5;

const ECHO_POD: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: echo}
spec:
  restartPolicy: Never
  containers:
  - name: echo
    image: busybox
    command: ['echo', 'hello']
";

/// Prints to stderr and exits non-zero.
macro_rules! fail {
    ($($arg:tt)*) => {{
        eprintln!("startup bench FAILED: {}", format!($($arg)*));
        std::process::exit(1)
    }};
}

struct Stats {
    n: usize,
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Stats {
    fn of(samples: &[Duration]) -> Self {
        assert!(!samples.is_empty(), "no samples");
        let mut s = samples.to_vec();
        s.sort();
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2
        };
        Self {
            n,
            median,
            min: s[0],
            max: s[n - 1],
        }
    }

    fn row(&self, what: &str) -> String {
        format!(
            "| {what} | {} | {} | {} | {} |",
            self.n,
            ms(self.median),
            ms(self.min),
            ms(self.max)
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// A scratch directory for one benchmark run, removed at the end.
struct Scratch {
    dir: tempfile::TempDir,
    next: usize,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("wasmpod-bench-")
            .tempdir()
            .unwrap_or_else(|e| fail!("cannot create a temp dir: {e}"));
        Self { dir, next: 0 }
    }

    /// A new, not yet existing path under the scratch directory.
    fn fresh(&mut self, what: &str) -> PathBuf {
        self.next += 1;
        self.dir.path().join(format!("{what}-{}", self.next))
    }
}

fn remove(dir: &Path) {
    if dir.exists() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// One `wasmpod run` of the example; returns its wall time and whether
/// fetch-config had to retry.
fn cli_run(cache_dir: &Path, run_dir: &Path) -> (Duration, bool) {
    let example = Path::new(EXAMPLES).join(EXAMPLE);
    let t0 = Instant::now();
    let out = Command::new(WASMPOD)
        .arg("run")
        .arg(&example)
        .arg("--cache-dir")
        .arg(cache_dir)
        .arg("--run-dir")
        .arg(run_dir)
        .args(["-q", "--color", "never"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| fail!("cannot run {WASMPOD}: {e}"));
    let elapsed = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stdout.contains(APP_LINE) {
        fail!(
            "wasmpod run {} exited with {} (expected success and {APP_LINE:?})\n\
             --- stdout\n{stdout}--- stderr\n{stderr}",
            example.display(),
            out.status
        );
    }
    remove(run_dir);
    (elapsed, stdout.contains(RETRY_LINE))
}

fn load_pod(yaml: &str) -> ValidPod {
    let mut file = spec::load(yaml).unwrap_or_else(|e| fail!("invalid pod: {e}"));
    if file.pods.len() != 1 {
        fail!("expected one pod, found {}", file.pods.len());
    }
    file.pods.remove(0)
}

fn options(run_dir: PathBuf) -> RunOptions {
    RunOptions::default()
        .with_base_dir(PathBuf::from(EXAMPLES))
        .with_run_dir(run_dir)
}

/// The app container's state as `watch()` shows it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Seen {
    Running,
    Terminated,
}

fn app_state(pod: &Pod, app: &str) -> Option<Seen> {
    let st = pod
        .status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find(|c| c.name == app)?
        .state
        .as_ref()?;
    if st.running.is_some() {
        Some(Seen::Running)
    } else if st.terminated.is_some() {
        Some(Seen::Terminated)
    } else {
        None
    }
}

/// One in-process run of a pod on a warm runtime.
struct PodRun {
    create: Duration,
    /// start() → the app's `Started` event received.
    started_event: Duration,
    /// start() → the first `watch()` status where the app is running or terminated.
    watch_seen: (Duration, Seen),
    /// start() → the app's `Exited` event received.
    exited_event: Duration,
    /// start() → `wait()` returned `Succeeded`.
    succeeded: Duration,
    /// start() → each event, keyed "container reason" (first occurrence).
    steps: Vec<(String, Duration)>,
    retried: bool,
}

async fn pod_run(rt: &Runtime, valid: &ValidPod, app: &str, run_dir: PathBuf) -> PodRun {
    let t0 = Instant::now();
    let handle = rt
        .create(valid.clone(), options(run_dir.clone()))
        .await
        .unwrap_or_else(|e| fail!("create failed: {e}"));
    let create = t0.elapsed();

    let mut events = handle.events();
    let mut logs = handle.logs();
    let mut status = handle.watch();
    status.borrow_and_update();

    let start = Instant::now();
    handle.start();

    let mut started_event = None;
    let mut exited_event = None;
    let mut watch_seen = None;
    let mut steps: Vec<(String, Duration)> = Vec::new();
    let mut retried = false;
    let (mut events_open, mut logs_open, mut watch_open) = (true, true, true);
    while events_open || logs_open {
        tokio::select! {
            changed = status.changed(), if watch_open && watch_seen.is_none() => match changed {
                Ok(()) => {
                    let now = start.elapsed();
                    if let Some(seen) = app_state(&status.borrow_and_update(), app) {
                        watch_seen = Some((now, seen));
                    }
                }
                Err(_) => watch_open = false,
            },
            event = events.recv(), if events_open => match event {
                Ok(e) => {
                    let now = start.elapsed();
                    let key = format!("{} {}", e.container.as_deref().unwrap_or("pod"), e.reason);
                    if e.container.as_deref() == Some(app) {
                        match e.reason.as_str() {
                            "Started" => { started_event.get_or_insert(now); }
                            "Exited" => { exited_event.get_or_insert(now); }
                            _ => {}
                        }
                    }
                    if !steps.iter().any(|(k, _)| *k == key) {
                        steps.push((key, now));
                    }
                }
                Err(RecvError::Lagged(n)) => fail!("{n} events lagged"),
                Err(RecvError::Closed) => events_open = false,
            },
            line = logs.recv(), if logs_open => match line {
                Ok(l) => retried |= l.line.contains(RETRY_LINE),
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => logs_open = false,
            },
        }
    }
    let outcome = handle.wait().await;
    let succeeded = start.elapsed();
    if outcome.phase != Phase::Succeeded {
        fail!(
            "pod {} ended {} instead of Succeeded:\n{}",
            handle.name(),
            outcome.phase.as_str(),
            serde_json::to_string_pretty(&outcome.pod.status).unwrap_or_default()
        );
    }
    remove(&run_dir);
    PodRun {
        create,
        started_event: started_event.unwrap_or_else(|| fail!("no Started event for {app}")),
        watch_seen: watch_seen.unwrap_or_else(|| fail!("watch() never showed {app} started")),
        exited_event: exited_event.unwrap_or_else(|| fail!("no Exited event for {app}")),
        succeeded,
        steps,
        retried,
    }
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    // `cargo bench` passes `--bench`; there are no options.
    let mut scratch = Scratch::new();
    let mut rows: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let load_before = sh("cut -d' ' -f1-3 /proc/loadavg");
    let bench_start = Instant::now();

    // 1. Cold CLI runs: a fresh, empty cache directory each time.
    eprintln!("cold wasmpod run ...");
    let mut cold = Vec::new();
    let mut cold_retries = 0;
    let mut n = COLD_RUNS;
    while cold.len() < n {
        let cache = scratch.fresh("cache");
        let run = scratch.fresh("run");
        let (t, retried) = cli_run(&cache, &run);
        remove(&cache);
        cold.push(t);
        cold_retries += usize::from(retried);
        if cold.len() == COLD_RUNS && Stats::of(&cold).median < Duration::from_secs(3) {
            n = COLD_RUNS_IF_FAST;
        }
    }
    rows.push(
        Stats::of(&cold).row(
            "cold `wasmpod run` (empty `--cache-dir`: compiles toolbox + httpd), whole process",
        ),
    );

    // 2. Warm CLI runs: one untimed run fills the cache.
    eprintln!("warm wasmpod run ...");
    let warm_cache = scratch.fresh("cache");
    let run = scratch.fresh("run");
    cli_run(&warm_cache, &run);
    let mut warm = Vec::new();
    let mut warm_retries = 0;
    for _ in 0..WARM_RUNS {
        let run = scratch.fresh("run");
        let (t, retried) = cli_run(&warm_cache, &run);
        warm.push(t);
        warm_retries += usize::from(retried);
    }
    rows.push(Stats::of(&warm).row("warm `wasmpod run` (populated `--cache-dir`), whole process"));

    // The CLI against `wasmtime run` of the same component, alternating.
    eprintln!("warm wasmpod run vs wasmtime run ...");
    let anchor_dir = scratch.fresh("anchor");
    std::fs::create_dir_all(&anchor_dir).unwrap_or_else(|e| fail!("mkdir: {e}"));
    let anchor_rows = anchor::rows(WASMPOD, &anchor_dir);

    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail!("tokio: {e}"));

    // 5 first (it needs no pod): Runtime::new and the disk-cache loads.
    eprintln!("Runtime::new + prepare_image from the disk cache ...");
    let (rt_new, rt_load) = tokio.block_on(async {
        let mut rt_new = Vec::new();
        let mut rt_load = Vec::new();
        for _ in 0..RUNTIME_RUNS {
            let t0 = Instant::now();
            let rt =
                Runtime::new(RuntimeConfig::default().with_cache_dir(Some(warm_cache.clone())))
                    .unwrap_or_else(|e| fail!("Runtime::new: {e}"));
            rt_new.push(t0.elapsed());
            let t1 = Instant::now();
            for image in ["busybox", "nginx"] {
                rt.prepare_image(image, Path::new("."))
                    .await
                    .unwrap_or_else(|e| fail!("prepare_image: {e}"));
            }
            rt_load.push(t1.elapsed());
        }
        (rt_new, rt_load)
    });

    // 3 and 4: one warm runtime, images loaded once by an untimed run.
    eprintln!("in-process config-init and echo pods ...");
    let config_init = load_pod(
        &std::fs::read_to_string(Path::new(EXAMPLES).join(EXAMPLE))
            .unwrap_or_else(|e| fail!("cannot read {EXAMPLE}: {e}")),
    );
    let echo = load_pod(ECHO_POD);
    let (runs, echo_runs) = tokio.block_on(async {
        let rt = Runtime::new(RuntimeConfig::default().with_cache_dir(Some(warm_cache.clone())))
            .unwrap_or_else(|e| fail!("Runtime::new: {e}"));
        pod_run(&rt, &config_init, "app", scratch.fresh("run")).await;
        pod_run(&rt, &echo, "echo", scratch.fresh("run")).await;
        let mut runs = Vec::new();
        for _ in 0..POD_RUNS {
            runs.push(pod_run(&rt, &config_init, "app", scratch.fresh("run")).await);
        }
        let mut echo_runs = Vec::new();
        for _ in 0..ECHO_RUNS {
            echo_runs.push(pod_run(&rt, &echo, "echo", scratch.fresh("run")).await);
        }
        (runs, echo_runs)
    });

    let pick = |rs: &[PodRun], f: fn(&PodRun) -> Duration| rs.iter().map(f).collect::<Vec<_>>();
    rows.push(Stats::of(&pick(&runs, |r| r.create)).row(
        "in-process `create()` of config-init (validate, resolve, 2 images from memory, dirs)",
    ));
    rows.push(
        Stats::of(&pick(&runs, |r| r.started_event))
            .row("in-process config-init: `start()` → `app` `Started` event"),
    );
    let running: Vec<Duration> = runs
        .iter()
        .filter(|r| r.watch_seen.1 == Seen::Running)
        .map(|r| r.watch_seen.0)
        .collect();
    let terminated = runs.len() - running.len();
    if !running.is_empty() {
        rows.push(
            Stats::of(&running)
                .row("in-process config-init: `start()` → `watch()` shows `app` `state.running`"),
        );
    }
    if terminated > 0 {
        let t: Vec<Duration> = runs
            .iter()
            .filter(|r| r.watch_seen.1 == Seen::Terminated)
            .map(|r| r.watch_seen.0)
            .collect();
        rows.push(Stats::of(&t).row(
            "in-process config-init: `start()` → `watch()` first shows `app` already `terminated`",
        ));
    }
    rows.push(
        Stats::of(&pick(&runs, |r| r.succeeded))
            .row("in-process config-init: `start()` → pod `Succeeded` (`wait()`)"),
    );
    rows.push(
        Stats::of(&pick(&echo_runs, |r| r.create))
            .row("in-process `create()` of a one-container `echo` pod"),
    );
    rows.push(
        Stats::of(&pick(&echo_runs, |r| r.exited_event))
            .row("in-process `echo` pod: `start()` → `Exited` event (instantiate → exit)"),
    );
    rows.push(
        Stats::of(&pick(&echo_runs, |r| r.succeeded))
            .row("in-process `echo` pod: `start()` → pod `Succeeded`"),
    );
    rows.push(Stats::of(&rt_new).row("`Runtime::new()` (engine, linkers, executor)"));
    rows.push(
        Stats::of(&rt_load)
            .row("`prepare_image` toolbox + httpd into a fresh `Runtime` from the disk cache"),
    );

    // The chain, step by step (median over the config-init runs).
    let mut steps: BTreeMap<String, (usize, Vec<Duration>)> = BTreeMap::new();
    for r in &runs {
        for (i, (k, t)) in r.steps.iter().enumerate() {
            let e = steps.entry(k.clone()).or_insert((i, Vec::new()));
            e.0 = e.0.min(i);
            e.1.push(*t);
        }
    }
    let mut steps: Vec<(String, Stats)> = steps
        .into_iter()
        .map(|(k, (_, v))| (k, Stats::of(&v)))
        .collect();
    steps.sort_by_key(|(_, s)| s.median);

    let retries = runs.iter().filter(|r| r.retried).count();
    notes.push(format!(
        "fetch-config had to retry (printed {RETRY_LINE:?}, then slept 1 s) in \
         {cold_retries}/{} cold, {warm_retries}/{} warm and {retries}/{} in-process runs.",
        cold.len(),
        warm.len(),
        runs.len()
    ));
    notes.push(format!(
        "`watch()` first showed `app` running in {}/{} in-process runs, already terminated in {terminated}.",
        running.len(),
        runs.len()
    ));

    let total = bench_start.elapsed();
    let load_after = sh("cut -d' ' -f1-3 /proc/loadavg");

    println!("## wasmpod startup benchmark\n");
    println!(
        "- date: {}\n- machine: `nproc` = {}, `uname -m` = {}, {}\n- load average (1/5/15 min) before: {load_before}, after: {load_after}\n- bench wall time: {:.1} s\n",
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC"),
        sh("nproc"),
        sh("uname -m"),
        sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'"),
        total.as_secs_f64()
    );
    println!("| what | N | median ms | min ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for r in &rows {
        println!("{r}");
    }
    println!(
        "\n| whole process, warm caches | N | wasmpod median ms | `wasmtime run` median ms | ratio |"
    );
    println!("|---|---:|---:|---:|---:|");
    for r in &anchor_rows {
        println!("{r}");
    }
    println!(
        "\nconfig-init in process, `start()` → each event (first occurrence), N = {}:\n",
        runs.len()
    );
    println!("| event | N | median ms | min ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (k, s) in &steps {
        println!("{}", s.row(&format!("`{k}`")));
    }
    println!();
    for n in &notes {
        println!("- {n}");
    }
}
