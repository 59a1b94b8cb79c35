//! The CLI rows of issue 11 with their anchor in the same run: a warm
//! `wasmpod run` of a one-container pod, and of an init + sidecar + app pod,
//! against a warm `wasmtime run` of the same component (`ECHO_PATH`, a plain
//! `wasi:cli` command with no wasmpod imports). Runs alternate between the
//! two so that both see the same load. Both caches are filled by one untimed
//! run first. `wasmtime` is `$WASMTIME`, else the one on `PATH`; without it
//! the rows say so.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Warm runs of each command: with 15, the medians of runs a minute apart moved by
/// 0.2x on a quiet machine.
const ROUNDS: usize = 41;

/// One timed process run; panics unless it succeeds and prints `expect`.
fn timed(cmd: &mut Command, expect: &str) -> Duration {
    let t0 = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let elapsed = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(expect),
        "{cmd:?} exited with {}: {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn wasmtime() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WASMTIME") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("wasmtime"))
        .find(|p| p.is_file())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The rows: `| what | N | wasmpod median ms | wasmtime run median ms | ratio |`.
pub fn rows(wasmpod: &str, scratch: &Path) -> Vec<String> {
    let echo = wasmpod_guests::ECHO_PATH;
    let one = scratch.join("echo-pod.yaml");
    std::fs::write(
        &one,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: echo}}\nspec:\n  restartPolicy: Never\n  \
             containers:\n  - name: echo\n    image: {echo}\n    args: ['hello']\n"
        ),
    )
    .expect("write the pod");
    let chain = scratch.join("chain-pod.yaml");
    std::fs::write(
        &chain,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: chain}}\nspec:\n  restartPolicy: Never\n  \
             terminationGracePeriodSeconds: 0\n  initContainers:\n  - name: init\n    image: {echo}\n    \
             args: ['init']\n  - name: sidecar\n    image: busybox\n    restartPolicy: Always\n    \
             command: ['sleep', '3600']\n  containers:\n  - name: app\n    image: {echo}\n    \
             args: ['hello']\n"
        ),
    )
    .expect("write the pod");
    let cache = scratch.join("anchor-cache");
    let pod_run = |pod: &Path| {
        let run_dir = tempfile::tempdir_in(scratch).expect("run dir");
        let mut cmd = Command::new(wasmpod);
        cmd.arg("run")
            .arg(pod)
            .arg("--cache-dir")
            .arg(&cache)
            .arg("--run-dir")
            .arg(run_dir.path())
            .args(["-q", "--color", "never"]);
        timed(&mut cmd, "hello")
    };
    let Some(wasmtime) = wasmtime() else {
        return vec![
            "| warm `wasmpod run` vs `wasmtime run`: no `wasmtime` on PATH (set WASMTIME) | | | | |"
                .into(),
        ];
    };
    let config = scratch.join("wasmtime-cache.toml");
    std::fs::write(
        &config,
        format!(
            "[cache]\ndirectory = {:?}\n",
            scratch.join("wasmtime-cache")
        ),
    )
    .expect("write the wasmtime cache config");
    let wasmtime_run = || {
        let mut cmd = Command::new(&wasmtime);
        cmd.arg("run")
            .arg("-C")
            .arg(format!("cache-config={}", config.display()))
            .arg(echo)
            .arg("hello");
        timed(&mut cmd, "hello")
    };
    // Fill both caches.
    pod_run(&one);
    pod_run(&chain);
    wasmtime_run();
    let (mut p1, mut p3, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        p1.push(pod_run(&one));
        w.push(wasmtime_run());
        p3.push(pod_run(&chain));
    }
    let anchor = median(w);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let row = |what: &str, v: Vec<Duration>| {
        let m = median(v);
        format!(
            "| {what} | {ROUNDS} | {:.1} | {:.1} | {:.2}× |",
            ms(m),
            ms(anchor),
            m.as_secs_f64() / anchor.as_secs_f64()
        )
    };
    vec![
        row(
            "warm `wasmpod run` of a one-container pod (`echo hello`)",
            p1,
        ),
        row(
            "warm `wasmpod run` of init + sidecar (`sleep`) + app (`echo hello`)",
            p3,
        ),
    ]
}
