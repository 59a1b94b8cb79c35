//! The pod handle's start: from any thread; a handle dropped unstarted leaves nothing.

use std::time::Duration;

use crate::support::*;

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: handle}\nspec:\n  restartPolicy: Never\n  volumes:\n  - {name: scratch, emptyDir: {}}\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'echo ran > /scratch/ran']\n    volumeMounts:\n    - {name: scratch, mountPath: /scratch}\n";

/// `start()` called from a thread outside any tokio runtime: the pod runs on the runtime
/// it was created on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_started_from_a_thread_outside_the_runtime_runs_on_its_own() {
    let handle = std::sync::Arc::new(create(POD, wasmpod::RunOptions::default()).await);
    let started = std::sync::Arc::clone(&handle);
    std::thread::spawn(move || started.start())
        .join()
        .expect("start() from a plain thread");
    let mut done = handle.watch();
    let ended = tokio::time::timeout(
        Duration::from_secs(60),
        done.wait_for(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .is_some_and(|phase| phase == "Succeeded" || phase == "Failed")
        }),
    )
    .await
    .expect("the pod ends")
    .expect("the status is watched")
    .clone();
    assert_eq!(
        ended.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded")
    );
}

/// A handle dropped before its pod started (its supervisor never spawned): the run
/// directory made for its volume goes.
#[tokio::test]
async fn a_handle_dropped_unstarted_removes_its_run_directory() {
    let handle = create(POD, wasmpod::RunOptions::default()).await;
    let run_dir = handle.run_dir().to_path_buf();
    assert!(run_dir.exists(), "{run_dir:?}");
    let scratch = std::fs::read_dir(&run_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect::<Vec<_>>();
    drop(handle);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while run_dir.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{run_dir:?} is still there: {scratch:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
