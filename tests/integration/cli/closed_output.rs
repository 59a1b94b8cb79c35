//! A reader that goes away: `wasmpod run … 2>&1 | head -3` must still end.
//! Debug logging goes to stderr through the tracing subscriber, which panicked on
//! a closed pipe and took the pod's supervisor with it: the run never ended.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{LIMIT, Workspace};

/// The pod: an init container, a sidecar that runs until stopped, and an app that
/// waits for `go` in the workspace (so the pipe is closed while the pod runs and
/// the pod's later events, written after, meet the closed pipe).
fn waiting_pod(dir: &std::path::Path) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  restartPolicy: Never\n  \
         terminationGracePeriodSeconds: 0\n  initContainers:\n  - name: init\n    image: busybox\n    \
         command: ['echo', 'init']\n  - name: sidecar\n    image: busybox\n    restartPolicy: Always\n    \
         command: ['sleep', '3600']\n  containers:\n  - name: app\n    image: busybox\n    \
         command: ['sh', '-c', 'while [ ! -e /w/go ]; do sleep 0.05; done; echo gone']\n    \
         volumeMounts:\n    - {{name: w, mountPath: /w}}\n  volumes:\n  - name: w\n    \
         hostPath: {{path: {}, type: Directory}}\n",
        dir.display()
    )
}

/// Runs the pod with `log` as `WASMPOD_LOG`, stderr on a pipe that is read for one
/// line and then closed; requires the run to end, with the pod's status 0.
fn ends_with_stderr_closed(log: Option<&str>) {
    let ws = Workspace::new();
    let shared = ws.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let file = ws.write("pod.yaml", &waiting_pod(&shared));
    let mut cmd = ws.run_command(&[&file]);
    match log {
        Some(level) => cmd.env("WASMPOD_LOG", level),
        None => cmd.env_remove("WASMPOD_LOG"),
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wasmpod");
    let mut first = String::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    stderr.read_line(&mut first).expect("read stderr");
    assert!(!first.is_empty(), "wasmpod printed nothing on stderr");
    drop(stderr);
    std::fs::write(shared.join("go"), "").unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(25));
    };
    let status = status.expect("wasmpod did not end after its stderr was closed");
    assert_eq!(status.code(), Some(0), "the pod did not succeed: {status}");
    assert_eq!(ws.status()["status"]["phase"], "Succeeded");
}

#[test]
fn a_run_ends_when_its_stderr_closes_under_debug_logging() {
    ends_with_stderr_closed(Some("debug"));
}

#[test]
fn a_run_ends_when_its_stderr_closes() {
    ends_with_stderr_closed(None);
}
