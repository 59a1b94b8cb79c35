//! An instance's first slice — its instantiation and its run until it first
//! waits or reaches an epoch tick — runs on the thread that starts it (its
//! pod's supervisor, on the caller's runtime); the guest executor runs the
//! rest. A container that never waits ends without leaving that thread; one
//! that never yields leaves it at its first tick.

use std::time::Duration;

use crate::support::*;

fn pod(name: &str, init: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n{init}  containers:\n{containers}"
    )
}

/// Runs `yaml` to its end on `runtime`; how many of its instances went on on the
/// guest executor after their first slice, and how many started.
async fn continued(runtime: &wasmpod::Runtime, yaml: &str) -> (u64, u64) {
    let before = runtime.instances();
    let mut file = wasmpod::spec::load(yaml).expect("valid pod");
    let handle = runtime
        .create(file.pods.remove(0), options())
        .await
        .expect("created");
    handle.start();
    let outcome = tokio::time::timeout(Duration::from_secs(60), handle.wait())
        .await
        .expect("the pod ended");
    assert_eq!(outcome.phase, wasmpod::Phase::Succeeded, "{yaml}");
    let after = runtime.instances();
    (
        after.continued - before.continued,
        after.started - before.started,
    )
}

/// `true` and `echo` run to their exits in their first slice; `sleep` waits, and
/// goes on on the guest executor, once. The runtime's epoch tick is an hour, so
/// that no tick can end a first slice early on a loaded machine.
#[tokio::test]
async fn a_container_that_never_waits_ends_on_the_thread_that_started_it() {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpod-cache");
    let runtime = wasmpod::Runtime::new(
        wasmpod::RuntimeConfig::default()
            .with_cache_dir(Some(cache))
            .with_epoch_tick(Duration::from_secs(3600)),
    )
    .expect("runtime");
    let quick = pod(
        "never-waits",
        "  initContainers:\n  - name: init\n    image: busybox\n    command: ['true']\n",
        "  - name: app\n    image: busybox\n    command: [echo, hello]\n",
    );
    assert_eq!(continued(&runtime, &quick).await, (0, 2));
    let waits = pod(
        "waits",
        "",
        "  - name: app\n    image: busybox\n    command: [sh, -c, 'sleep 0.05; echo done']\n",
    );
    assert_eq!(continued(&runtime, &waits).await, (1, 1));
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
