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
    // The kubelet's texts: no hook output in events (it may hold secrets).
    assert_eq!(
        run.event_messages("app", "FailedPostStartHook"),
        ["PostStartHook failed"]
    );
    assert_eq!(
        run.event_messages("app", "Killing"),
        ["FailedPostStartHook"]
    );
}

#[tokio::test]
async fn failed_post_start_restarts_per_policy() {
    let j = Journal::new();
    let body = format!(
        "  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', '{}; sleep 30']\n{JOURNAL_MOUNT}    lifecycle:\n      postStart:\n        exec: {{command: ['sh', '-c', 'exit 3']}}\n",
        Journal::note("app", "start"),
    );
    let yaml = pod(&j, &body).replace("restartPolicy: Never", "restartPolicy: OnFailure");
    let st = start(&yaml, options()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while j.count("app", "start") < 2 {
        assert!(std::time::Instant::now() < deadline, "{:?}", j.entries());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let run = st.stop().await;
    let status = run.status("app");
    assert!(status.restart_count >= 1, "{}", run.dump());
    let last = status
        .last_state
        .and_then(|s| s.terminated)
        .expect("lastState");
    assert_eq!(last.exit_code, 143, "{}", run.dump());
}

#[tokio::test]
async fn http_hooks_fail_only_without_a_response() {
    // The kubelet does not look at a hook's HTTP status: a 404 is no failure;
    // a closed port is.
    let j = Journal::new();
    let body = "  containers:\n  - name: web\n    image: nginx\n    args: ['-p', '8080']\n    lifecycle:\n      preStop:\n        httpGet: {path: /missing, port: 8080}\n  - name: closed\n    image: busybox\n    command: ['sh', '-c', 'trap ''exit 0'' TERM; while true; do sleep 0.05; done']\n    lifecycle:\n      preStop:\n        httpGet: {path: /, port: 9999}\n";
    let (st, mut logs) = start_watched(&pod(&j, body), options()).await;
    let limit = std::time::Duration::from_secs(30);
    logs.wait_line("web", "listening", limit).await;
    st.wait_for(limit, "both running", |p| is_running(p, "closed"))
        .await;
    let run = st.stop().await;
    assert!(
        run.lines("web")
            .iter()
            .any(|l| l.contains("GET /missing") && l.contains(" 404 ")),
        "the hook's request was served\n{}",
        run.dump()
    );
    assert!(
        run.event_messages("web", "FailedPreStopHook").is_empty(),
        "{}",
        run.dump()
    );
    assert_eq!(
        run.event_messages("closed", "FailedPreStopHook"),
        ["PreStopHook failed"],
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn pre_stop_runs_before_the_container_is_told_to_stop() {
    let j = Journal::new();
    let body = format!(
        "  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'trap ''{}; exit 0'' TERM; {}; while true; do sleep 0.05; done']\n{JOURNAL_MOUNT}    lifecycle:\n      preStop:\n        exec: {{command: ['sh', '-c', '{}']}}\n  - name: bad-hook\n    image: busybox\n    command: ['sh', '-c', 'trap ''exit 0'' TERM; {}; while true; do sleep 0.05; done']\n{JOURNAL_MOUNT}    lifecycle:\n      preStop:\n        exec: {{command: ['false']}}\n",
        Journal::note("app", "term"),
        Journal::note("app", "trapping"),
        Journal::note("pre-stop", "done"),
        Journal::note("bad-hook", "trapping"),
    );
    let pod_run = start(&pod(&j, &body), options()).await;
    // Both traps set (not only the instances running: on a loaded machine a TERM could
    // otherwise come before the shell reads its `trap`).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while j.count("app", "trapping") + j.count("bad-hook", "trapping") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the traps were never set: {:?}",
            j.entries()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
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
