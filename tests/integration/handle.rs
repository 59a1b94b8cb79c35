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

/// A layer of the embedding program's tracing subscriber that panics on the pod's
/// events (as `tracing-subscriber`'s `fmt` did on a closed stderr).
struct PanicsOnPodEvents;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PanicsOnPodEvents {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target().starts_with("wasmpod::supervisor") {
            panic!("the embedding program's subscriber panics");
        }
    }
}

/// A supervisor that panics leaves no one waiting on its pod: `wait()` returns Failed,
/// the status says Failed, and the log and event streams end (before, a reader of them
/// waited for ever, and so did `wasmpod run`). The subscriber is this thread's, where the
/// test's runtime drives the pod's supervisor.
#[tokio::test]
async fn a_supervisor_that_panics_fails_its_pod_and_ends_its_streams() {
    use tracing_subscriber::layer::SubscriberExt;
    const SIDECAR: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: panics}\nspec:\n  restartPolicy: Never\n  initContainers:\n  - name: sidecar\n    image: busybox\n    restartPolicy: Always\n    command: ['sleep', '3600']\n  containers:\n  - name: app\n    image: busybox\n    command: ['sleep', '3600']\n";
    let subscriber = tracing_subscriber::registry().with(PanicsOnPodEvents);
    let _panics = tracing::subscriber::set_default(subscriber);
    let started = start(SIDECAR, options()).await;
    let ran = tokio::time::timeout(
        Duration::from_secs(120),
        started.finish(Duration::from_secs(600)),
    )
    .await
    .expect("the pod's wait and streams end");
    assert_eq!(ran.phase(), "Failed");
    let status = ran.outcome.pod.status.as_ref().expect("a status");
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(status.reason.as_deref(), Some("SupervisorFailed"));
}

/// An image file that several containers of a pod run is read (and digested)
/// once when the pod is created, not once per container. The subscriber is this
/// thread's, where `create()` loads the pod's images.
#[tokio::test]
async fn an_image_file_used_by_several_containers_is_read_once() {
    let echo = wasmpod_guests::ECHO_PATH;
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: read-once}}\nspec:\n  restartPolicy: Never\n  \
         initContainers:\n  - name: first\n    image: {echo}\n    args: [one]\n  \
         containers:\n  - name: second\n    image: {echo}\n    args: [two]\n  \
         - name: third\n    image: {echo}\n    args: [three]\n  \
         - name: other\n    image: busybox\n    command: ['true']\n"
    );
    let captured = Captured::default();
    let subscriber = captured.subscriber();
    let run = {
        let _capture = tracing::subscriber::set_default(subscriber);
        run_pod(&yaml).await
    };
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    for (container, line) in [("first", "one"), ("second", "two"), ("third", "three")] {
        assert_eq!(run.lines(container), [line], "{}", run.dump());
    }
    let text = captured.text();
    let reads = text
        .lines()
        .filter(|l| l.contains("reading an image file") && l.contains(echo))
        .count();
    assert_eq!(reads, 1, "{text}");
}
