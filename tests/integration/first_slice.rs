//! An instance's first slice — its instantiation and its run until it first
//! waits or reaches an epoch tick — runs on the thread that starts it (its
//! pod's supervisor, on the caller's runtime); the guest executor runs the
//! rest. A container that never waits ends without leaving that thread; one
//! that never yields leaves it at its first tick.

use std::time::Duration;

use crate::support::*;

/// The debug event of an instance that goes on on the guest executor.
const CONTINUES: &str = "an instance continues on the guest executor";

fn pod(name: &str, init: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n{init}  containers:\n{containers}"
    )
}

/// `true` and `echo` run to their exits in their first slice; `sleep` waits,
/// and goes on on the guest executor once. The subscriber is this test's
/// thread's, where its pods' supervisors (a current-thread runtime) run.
#[tokio::test]
async fn a_container_that_never_waits_ends_on_the_thread_that_started_it() {
    let captured = Captured::default();
    let _capture = tracing::subscriber::set_default(captured.subscriber());
    let quick = pod(
        "never-waits",
        "  initContainers:\n  - name: init\n    image: busybox\n    command: ['true']\n",
        "  - name: app\n    image: busybox\n    command: [echo, hello]\n",
    );
    let run = run_pod(&quick).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["hello"], "{}", run.dump());
    let text = captured.text();
    assert_eq!(text.matches(CONTINUES).count(), 0, "{text}");

    let waits = pod(
        "waits",
        "",
        "  - name: app\n    image: busybox\n    command: [sh, -c, 'sleep 0.05; echo done']\n",
    );
    let run = run_pod(&waits).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["done"], "{}", run.dump());
    let text = captured.text();
    assert_eq!(text.matches(CONTINUES).count(), 1, "{text}");
}

/// A guest that never waits leaves the caller's thread at its first epoch
/// tick: a current-thread caller goes on (its own timer fires, it stops the
/// pod) while the guest spins on the guest executor. Were the spinner kept on
/// the caller's thread, that thread would never come back.
#[test]
fn a_spinning_guest_leaves_the_callers_thread_at_its_first_tick() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let caller = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        let codes = caller.block_on(async {
            let yaml = pod(
                "spins",
                "",
                "  - name: spinner\n    image: busybox\n    command: [spin]\n",
            );
            let (started, _logs) = start_watched(&yaml, options()).await;
            started
                .wait_for(Duration::from_secs(60), "the spinner running", |p| {
                    is_running(p, "spinner")
                })
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let still = is_running(&started.pod(), "spinner");
            let run = started.stop().await;
            (still, run.exit_code("spinner"))
        });
        let _ = tx.send(codes);
    });
    let (still, code) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the caller's thread never came back: the spinner kept it");
    assert!(still, "the spinner stopped spinning on its own");
    assert_eq!(code, 143, "stopped without a TERM handler");
}
