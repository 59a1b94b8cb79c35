//! CPU limits and weights (`resources.limits.cpu`, `resources.requests.cpu`).
//!
//! A plain `harness = false` binary. Each scenario is one `wasmpod run`
//! process of the test-only `hostile` guest's `spin-count` (a spinner that
//! reports the work it did in a fixed wall time) and `latency` (a sleeper
//! that reports how late its 10 ms wake-ups were):
//!
//! 1. the anchor: one unlimited spinner alone — the work of a whole core;
//! 2. a `500m` and a `200m` spinner beside an unlimited latency sleeper: each
//!    spinner's work as a fraction of the anchor's is the share of a core it
//!    got; the process's CPU time (`/proc/PID/stat`) over the run is the total;
//! 3. weights: four unlimited spinners on the guest threads (one per core), two requesting
//!    `1000m` and two `250m`: the work ratio between them.
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo bench --bench cpu
//! ```

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WASMPOD: &str = env!("CARGO_BIN_EXE_wasmpod");
const SECONDS: u64 = 5;

/// One finished run: its containers' `key=value` lines and its CPU time.
struct RunResult {
    lines: Vec<(String, String)>,
    cpu: Duration,
    wall: Duration,
}

impl RunResult {
    fn value(&self, container: &str, key: &str) -> f64 {
        self.lines
            .iter()
            .filter(|(c, _)| c == container)
            .find_map(|(_, l)| l.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("{container} printed no {key}"))
    }
}

fn container(name: &str, args: &str, resources: &str) -> String {
    format!(
        "  - name: {name}\n    image: {}\n    args: [{args}]\n{resources}",
        wasmpod_guests::HOSTILE_PATH
    )
}

fn spinner(name: &str, resources: &str) -> String {
    container(name, &format!("'spin-count', '{SECONDS}'"), resources)
}

fn run(dir: &Path, name: &str, containers: &[String]) -> RunResult {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers:\n{}",
        containers.concat()
    );
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    let out = tempfile::tempfile().unwrap();
    let mut child = Command::new(WASMPOD)
        .args(["run", "--color", "never"])
        .arg(&file)
        .stdout(out.try_clone().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wasmpod");
    let start = Instant::now();
    let (mut cpu, mut wall) = (Duration::ZERO, Duration::ZERO);
    while child.try_wait().unwrap().is_none() {
        if let Some(ticks) = cpu_ticks(child.id()) {
            cpu = Duration::from_millis(ticks * 10);
            wall = start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{name}: wasmpod exited {status}");
    let text = std::fs::read_to_string(fd_path(&out)).unwrap();
    let lines = text
        .lines()
        .filter_map(|l| {
            let (c, rest) = l.split_once(" | ")?;
            Some((c.trim().to_string(), rest.to_string()))
        })
        .collect();
    RunResult { lines, cpu, wall }
}

fn fd_path(f: &std::fs::File) -> String {
    use std::os::fd::AsRawFd;
    format!("/proc/self/fd/{}", f.as_raw_fd())
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return; // `cargo test --benches` only checks that it builds
    }
    let dir = tempfile::tempdir().unwrap();
    println!("- load average before: {}", load());
    let anchor = run(dir.path(), "anchor", &[spinner("full", "")]);
    let full = anchor.value("full", "iterations");
    let limited = run(
        dir.path(),
        "limited",
        &[
            spinner("half", "    resources: {limits: {cpu: 500m}}\n"),
            spinner("fifth", "    resources: {limits: {cpu: 200m}}\n"),
            container("sleeper", &format!("'latency', '{SECONDS}'"), ""),
        ],
    );
    let weights = run(
        dir.path(),
        "weights",
        &[
            spinner("heavy1", "    resources: {requests: {cpu: 1000m}}\n"),
            spinner("heavy2", "    resources: {requests: {cpu: 1000m}}\n"),
            spinner("light1", "    resources: {requests: {cpu: 250m}}\n"),
            spinner("light2", "    resources: {requests: {cpu: 250m}}\n"),
        ],
    );
    println!("- load average after: {}", load());
    println!();
    println!("| what | value |");
    println!("|---|---:|");
    println!(
        "| anchor: unlimited spinner alone, work in {SECONDS} s (iterations of 10k steps) | {full:.0} |"
    );
    println!(
        "| anchor run: process CPU / wall | {:.2} |",
        anchor.cpu.as_secs_f64() / anchor.wall.as_secs_f64()
    );
    for (name, limit) in [("half", "500m"), ("fifth", "200m")] {
        println!(
            "| `{limit}` spinner beside the others: work / anchor (share of a core) | {:.2} |",
            limited.value(name, "iterations") / full
        );
    }
    println!(
        "| that run: process CPU / wall (both spinners + sleeper + runtime) | {:.2} |",
        limited.cpu.as_secs_f64() / limited.wall.as_secs_f64()
    );
    for q in ["p50", "p99", "max"] {
        println!(
            "| unlimited sleeper beside them: 10 ms wake-up lateness {q} (µs) | {:.0} |",
            limited.value("sleeper", &format!("late_{q}_us"))
        );
    }
    let heavy = weights.value("heavy1", "iterations") + weights.value("heavy2", "iterations");
    let light = weights.value("light1", "iterations") + weights.value("light2", "iterations");
    println!(
        "| weights: 4 unlimited spinners on the 2 guest threads, work of `1000m` requests / `250m` requests | {:.2} |",
        heavy / light
    );
}
