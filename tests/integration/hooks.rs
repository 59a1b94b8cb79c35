//! Lifecycle hooks: postStart (exec, sleep) and preStop (exec, httpGet).

use crate::support::*;

fn pod(j: &Journal, body: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: hooks}}\nspec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 5\n  volumes:\n{}{body}",
        j.volume_yaml()
    )
}

#[tokio::test]
async fn post_start_runs_with_the_container_and_the_next_container_waits_for_it() {
    let j = Journal::new();
    let body = format!(
        "  containers:\n  - name: first\n    image: busybox\n    command: ['sh', '-c', '{}; sleep 1; {}']\n{JOURNAL_MOUNT}    lifecycle:\n      postStart:\n        exec: {{command: ['sh', '-c', 'sleep 0.3; {}']}}\n  - name: second\n    image: busybox\n    command: ['sh', '-c', '{}']\n{JOURNAL_MOUNT}",
        Journal::note("first", "start"),
        Journal::note("first", "end"),
        Journal::note("post-start", "done"),
        Journal::note("second", "start"),
    );
    let run = run_pod(&pod(&j, &body)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert!(
        j.first("post-start", "done") < j.first("second", "start"),
        "{:?}",
        j.entries()
    );
    assert!(
        j.first("post-start", "done") < j.first("first", "end"),
        "the hook runs while the container runs"
    );
}

#[tokio::test]
async fn failing_post_start_kills_the_container() {
    let j = Journal::new();
    let body = format!(
        "  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'sleep 30']\n{JOURNAL_MOUNT}    lifecycle:\n      postStart:\n        exec: {{command: ['sh', '-c', 'echo no; exit 3']}}\n"
    );
    let run = run_pod(&pod(&j, &body)).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert!(
        run.event_reasons("app")
            .contains(&"FailedPostStartHook".to_string()),
        "{}",
        run.dump()
    );
    assert_eq!(run.exit_code("app"), 143);
}

#[tokio::test]
async fn pre_stop_runs_before_the_container_is_told_to_stop() {
    let j = Journal::new();
    let body = format!(
        "  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'trap ''{}; exit 0'' TERM; while true; do sleep 0.05; done']\n{JOURNAL_MOUNT}    lifecycle:\n      preStop:\n        exec: {{command: ['sh', '-c', '{}']}}\n  - name: bad-hook\n    image: busybox\n    command: ['sh', '-c', 'trap ''exit 0'' TERM; while true; do sleep 0.05; done']\n    lifecycle:\n      preStop:\n        exec: {{command: ['false']}}\n",
        Journal::note("app", "term"),
        Journal::note("pre-stop", "done"),
    );
    let pod_run = start(&pod(&j, &body), options()).await;
    pod_run
        .wait_for(std::time::Duration::from_secs(30), "both running", |p| {
            ["app", "bad-hook"]
                .iter()
                .all(|c| status_of(p, c).state.and_then(|s| s.running).is_some())
        })
        .await;
    let run = pod_run.stop().await;
    assert!(
        j.first("pre-stop", "done") < j.first("app", "term"),
        "{:?}",
        j.entries()
    );
    assert_eq!(run.exit_code("app"), 0);
    assert!(
        run.event_reasons("bad-hook")
            .contains(&"FailedPreStopHook".to_string()),
        "{}",
        run.dump()
    );
    assert_eq!(
        run.exit_code("bad-hook"),
        0,
        "a failed preStop does not change the exit code"
    );
}

#[tokio::test]
async fn sleep_hook_delays_the_start_of_the_next_container() {
    let j = Journal::new();
    let body = format!(
        "  containers:\n  - name: first\n    image: busybox\n    command: ['sh', '-c', '{}; sleep 2']\n{JOURNAL_MOUNT}    lifecycle:\n      postStart:\n        sleep: {{seconds: 1}}\n  - name: second\n    image: busybox\n    command: ['sh', '-c', '{}']\n{JOURNAL_MOUNT}",
        Journal::note("first", "start"),
        Journal::note("second", "start"),
    );
    let run = run_pod(&pod(&j, &body)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let gap_ms = (j.first("second", "start") - j.first("first", "start")) / 1_000_000;
    assert!(gap_ms >= 900, "second started {gap_ms} ms after first");
}
