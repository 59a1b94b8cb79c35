//! Signals to `wasmpod run`: the first stops the pods like a deletion; one more while they
//! stop ends the process at once (exit 130), as a second Ctrl-C does for `docker compose`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{LIMIT, Workspace};

/// A pod whose app stops only after its `preStop` hook, which sleeps for an hour of the
/// hour's grace period.
const SLOW_TO_STOP: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  \
    restartPolicy: Never\n  terminationGracePeriodSeconds: 3600\n  containers:\n  - name: app\n    \
    image: busybox\n    command: ['sleep', '3600']\n    lifecycle:\n      preStop:\n        \
    exec:\n          command: ['sleep', '3600']\n";

/// A pod that stops at once when told (its guest never subscribed to termination).
const QUICK_TO_STOP: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  \
    restartPolicy: Never\n  containers:\n  - name: app\n    image: busybox\n    \
    command: ['sleep', '3600']\n";

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed: {status}");
}

/// Starts `yaml` with stderr in a file; returns once the app's Started event is printed.
fn started(ws: &Workspace, yaml: &str) -> Child {
    let file = ws.write("pod.yaml", yaml);
    let stderr = std::fs::File::create(ws.dir.path().join("stderr")).unwrap();
    let child = ws
        .run_command(&[&file])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start wasmpod");
    await_stderr(ws.dir.path(), "Started");
    // The handler is installed as the run starts waiting, before the event is printed; a
    // margin all the same.
    std::thread::sleep(Duration::from_millis(200));
    child
}

/// Waits until the run's stderr holds `text` (failing after [`LIMIT`]).
fn await_stderr(dir: &Path, text: &str) {
    let t0 = Instant::now();
    while !stderr_of(dir).contains(text) {
        assert!(
            t0.elapsed() < LIMIT,
            "no {text:?} on stderr:\n{}",
            stderr_of(dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("stderr")).unwrap_or_default()
}

/// Waits for the end, calling `meanwhile` every 100 ms; `None` after [`LIMIT`].
fn ended(child: &mut Child, mut meanwhile: impl FnMut(&Child)) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status.code().unwrap_or(-1));
        }
        if t0.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
        meanwhile(child);
    }
}

#[test]
fn one_sigterm_stops_the_pod_like_a_deletion() {
    let ws = Workspace::new();
    let mut child = started(&ws, QUICK_TO_STOP);
    sigterm(&child);
    let code = ended(&mut child, |_| {}).expect("wasmpod did not end after SIGTERM");
    let stderr = stderr_of(ws.dir.path());
    assert_eq!(
        code, 1,
        "the stopped pod Failed (its app exited 143)\n{stderr}"
    );
    assert!(stderr.contains("stopping (signal received"), "{stderr}");
    let app = &ws.status()["status"]["containerStatuses"][0];
    assert_eq!(app["state"]["terminated"]["exitCode"], 143, "{app}");
}

/// The first SIGTERM starts an hour-long graceful stop; the process is still there after it.
/// SIGTERM again (sent until the process ends: one that came before the stop's handler was
/// in place would be missed) ends it at once.
#[test]
fn a_second_sigterm_while_stopping_exits_at_once_with_130() {
    let ws = Workspace::new();
    let mut child = started(&ws, SLOW_TO_STOP);
    sigterm(&child);
    await_stderr(ws.dir.path(), "stopping (signal received");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the graceful stop (an hour's preStop) did not wait:\n{}",
        stderr_of(ws.dir.path())
    );
    let code = ended(&mut child, sigterm).expect("a second SIGTERM did not end wasmpod");
    let stderr = stderr_of(ws.dir.path());
    assert_eq!(code, 130, "{stderr}");
    assert!(
        stderr.contains("signal received while stopping: exiting now"),
        "{stderr}"
    );
}
