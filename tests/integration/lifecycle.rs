//! Init containers, sidecars, restart policies and backoff, checked through
//! statuses, events and the order of timestamps guests write.

use std::time::Duration;

use crate::support::*;

fn pod(journal: &Journal, policy: &str, init: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: t}}\nspec:\n  restartPolicy: {policy}\n  volumes:\n{}  initContainers:\n{init}  containers:\n{containers}",
        journal.volume_yaml()
    )
}

/// A container entry running `script` with the journal mounted.
fn container(name: &str, script: &str, extra: &str) -> String {
    format!(
        "  - name: {name}\n    image: busybox\n{extra}    command: ['sh', '-c', '{script}']\n{JOURNAL_MOUNT}"
    )
}

fn step(name: &str) -> String {
    format!(
        "{}; sleep 0.2; {}",
        Journal::note(name, "start"),
        Journal::note(name, "end")
    )
}

#[tokio::test]
async fn init_containers_run_one_at_a_time_in_order_before_apps() {
    let j = Journal::new();
    let init = [
        container("init-1", &step("init-1"), ""),
        container("init-2", &step("init-2"), ""),
        container("init-3", &step("init-3"), ""),
    ]
    .concat();
    let apps = [
        container("app-1", &step("app-1"), ""),
        container("app-2", &step("app-2"), ""),
    ]
    .concat();
    let run = run_pod(&pod(&j, "Never", &init, &apps)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    for (a, b) in [
        ("init-1", "init-2"),
        ("init-2", "init-3"),
        ("init-3", "app-1"),
        ("init-3", "app-2"),
    ] {
        assert!(
            j.first(a, "end") < j.first(b, "start"),
            "{a} must end before {b} starts: {:?}",
            j.entries()
        );
    }
    // The two apps start together: each starts before the other ends.
    assert!(
        j.first("app-1", "start") < j.first("app-2", "end")
            && j.first("app-2", "start") < j.first("app-1", "end")
    );
    for name in ["init-1", "init-2", "init-3"] {
        let s = run.status(name);
        assert_eq!(
            (terminated_code(&s), s.ready, s.restart_count),
            (Some(0), true, 0),
            "{name}"
        );
        assert_eq!(
            s.state.unwrap().terminated.unwrap().reason.as_deref(),
            Some("Completed")
        );
    }
    assert_eq!(run.condition("Initialized").0, "True");
    assert_eq!(run.condition("PodScheduled").0, "True");
}

#[tokio::test]
async fn failed_init_under_never_fails_the_pod_and_no_app_starts() {
    let j = Journal::new();
    let init = [
        container("init-ok", &step("init-ok"), ""),
        container(
            "init-bad",
            &format!("{}; exit 3", Journal::note("init-bad", "start")),
            "",
        ),
    ]
    .concat();
    let apps = container("app", &Journal::note("app", "start"), "");
    let run = run_pod(&pod(&j, "Never", &init, &apps)).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert_eq!(run.exit_code("init-bad"), 3);
    assert!(
        !run.started("app"),
        "the app must never start: {}",
        run.dump()
    );
    assert_eq!(j.count("app", "start"), 0, "the app must never start");
    let app = run.status("app");
    assert_eq!(
        app.state.unwrap().waiting.unwrap().reason.as_deref(),
        Some("PodInitializing")
    );
    let (status, reason, message) = run.condition("Initialized");
    assert_eq!(
        (status.as_str(), reason.as_deref()),
        ("False", Some("ContainersNotInitialized"))
    );
    assert_eq!(
        message.as_deref(),
        Some("containers with incomplete status: [init-bad]")
    );
}

#[tokio::test]
async fn failed_init_under_on_failure_is_retried_with_backoff_while_pending() {
    let j = Journal::new();
    let init = container(
        "init-flaky",
        &format!("{}; exit 1", Journal::note("init-flaky", "start")),
        "",
    );
    let apps = container("app", &Journal::note("app", "start"), "");
    let pod_run = start(&pod(&j, "OnFailure", &init, &apps), options()).await;
    pod_run
        .wait_for(Duration::from_secs(60), "3 restarts of init-flaky", |p| {
            status_of(p, "init-flaky").restart_count >= 3
        })
        .await;
    let pod = pod_run.pod();
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    let init = status_of(&pod, "init-flaky");
    let last = init
        .last_state
        .unwrap()
        .terminated
        .expect("lastState.terminated");
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    let app = status_of(&pod, "app");
    assert_eq!(
        app.state.unwrap().waiting.unwrap().reason.as_deref(),
        Some("PodInitializing")
    );
    let run = pod_run.stop().await;
    assert_eq!(j.count("app", "start"), 0);
    assert!(
        run.event_reasons("init-flaky")
            .contains(&"BackOff".to_string()),
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn sidecar_starts_first_runs_beside_the_app_and_stops_after_it() {
    let j = Journal::new();
    let sidecar = container(
        "side",
        &format!(
            "{}; while true; do sleep 0.1; done",
            Journal::note("side", "start")
        ),
        "    restartPolicy: Always\n",
    );
    let apps = container("app", &step("app"), "");
    let run = run_pod(&pod(&j, "Never", &sidecar, &apps)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    // The app starts once the sidecar is started (running, no startup probe).
    let started = |c: &str| {
        run.events
            .iter()
            .position(|e| e.container.as_deref() == Some(c) && e.reason == "Started")
            .unwrap()
    };
    assert!(started("side") < started("app"), "{}", run.dump());
    assert!(
        j.first("side", "start") < j.first("app", "end"),
        "they run together: {:?}",
        j.entries()
    );
    // Stopped after the app, at once (it has no TERM handler): 143.
    assert_eq!(run.exit_code("side"), 143);
    let reasons = run.event_reasons("side");
    assert!(
        reasons.ends_with(&["Killing".into(), "Exited".into()]),
        "{reasons:?}"
    );
    let app_exit = run
        .events
        .iter()
        .position(|e| e.container.as_deref() == Some("app") && e.reason == "Exited")
        .unwrap();
    let side_kill = run
        .events
        .iter()
        .position(|e| e.container.as_deref() == Some("side") && e.reason == "Killing")
        .unwrap();
    assert!(app_exit < side_kill, "{}", run.dump());
}

#[tokio::test]
async fn sidecar_is_restarted_on_every_exit_even_under_never_and_never_decides_the_phase() {
    let j = Journal::new();
    let sidecar = container(
        "side",
        &format!("{}; sleep 0.1; exit 1", Journal::note("side", "start")),
        "    restartPolicy: Always\n",
    );
    let apps = container(
        "app",
        &format!("sleep 2; {}", Journal::note("app", "end")),
        "",
    );
    let run = run_pod(&pod(&j, "Never", &sidecar, &apps)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert!(
        j.count("side", "start") >= 2,
        "sidecar restarted: {:?}",
        j.entries()
    );
    assert!(run.status("side").restart_count >= 1);
}

#[tokio::test]
async fn sidecars_are_stopped_in_reverse_order() {
    let j = Journal::new();
    // Each sidecar handles TERM by writing to the journal, so the order shows.
    let side = |n: &str| {
        // `''` is a quote inside the YAML single-quoted script.
        container(
            n,
            &format!(
                "trap ''{}; exit 0'' TERM; while true; do sleep 0.05; done",
                Journal::note(n, "term")
            ),
            "    restartPolicy: Always\n",
        )
    };
    let init = [side("side-a"), side("side-b"), side("side-c")].concat();
    let apps = container("app", "sleep 0.5", "");
    let run = run_pod(&pod(&j, "Never", &init, &apps)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert!(j.first("side-c", "term") < j.first("side-b", "term"));
    assert!(j.first("side-b", "term") < j.first("side-a", "term"));
    for s in ["side-a", "side-b", "side-c"] {
        assert_eq!(run.exit_code(s), 0, "{s} handled TERM");
    }
}

#[tokio::test]
async fn restart_policies_decide_restarts_and_the_phase() {
    // (policy, exit code, expected phase, expected restarts at least)
    let cases = [
        ("Never", 3, "Failed", 0),
        ("Never", 0, "Succeeded", 0),
        ("OnFailure", 0, "Succeeded", 0),
    ];
    for (policy, code, phase, _) in cases {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: rp}}\nspec:\n  restartPolicy: {policy}\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'exit {code}']\n"
        );
        let run = run_pod(&yaml).await;
        assert_eq!(run.phase(), phase, "{policy} exit {code}: {}", run.dump());
        assert_eq!(run.exit_code("app"), code);
        assert_eq!(run.status("app").restart_count, 0);
    }
}

#[tokio::test]
async fn on_failure_restarts_a_failing_container_until_it_succeeds() {
    let j = Journal::new();
    // Fails twice, then succeeds (the journal survives restarts).
    let script = format!(
        "{}; test $(grep -c start /journal/log) -ge 3 || exit 1",
        Journal::note("app", "start")
    );
    let run = run_pod(
        &pod(&j, "OnFailure", "", &container("app", &script, ""))
            .replace("  initContainers:\n", ""),
    )
    .await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let s = run.status("app");
    assert_eq!(s.restart_count, 2);
    assert_eq!(terminated_code(&s), Some(0));
    assert_eq!(s.last_state.unwrap().terminated.unwrap().exit_code, 1);
}

#[tokio::test]
async fn always_restarts_even_after_success_and_reports_crash_loop_backoff() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: always}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'echo ran']\n";
    let opts = wasmpod::RunOptions::default().with_backoff(wasmpod::BackoffPolicy::new(
        Duration::from_millis(300),
        Duration::from_secs(5),
    ));
    let pod_run = start(yaml, opts).await;
    pod_run
        .wait_for(
            Duration::from_secs(60),
            "CrashLoopBackOff after 2 restarts",
            |p| {
                let s = status_of(p, "app");
                s.restart_count >= 2
                    && s.state
                        .as_ref()
                        .and_then(|s| s.waiting.as_ref())
                        .and_then(|w| w.reason.as_deref())
                        == Some("CrashLoopBackOff")
            },
        )
        .await;
    let pod = pod_run.pod();
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    let s = status_of(&pod, "app");
    let waiting = s.state.unwrap().waiting.unwrap();
    let message = waiting.message.unwrap();
    assert!(
        message.starts_with("back-off ")
            && message.contains("restarting failed container=app pod=always_default("),
        "{message}"
    );
    assert_eq!(
        s.last_state.unwrap().terminated.unwrap().reason.as_deref(),
        Some("Completed")
    );
    let run = pod_run.stop().await;
    assert!(run.lines("app").len() >= 3);
}

#[tokio::test]
async fn backoff_waits_grow_like_the_kubelets() {
    // Initial 400 ms, doubling: restarts at about 0, 0.4, 1.2 s after the
    // first exits. The instances run for ~0 s, so starts are ordered and
    // their gaps must grow; assert lower bounds only (a loaded box is slower).
    let j = Journal::new();
    let yaml = pod(
        &j,
        "Always",
        "",
        &container(
            "app",
            &format!("{}; exit 1", Journal::note("app", "start")),
            "",
        ),
    )
    .replace("  initContainers:\n", "");
    let opts = wasmpod::RunOptions::default().with_backoff(wasmpod::BackoffPolicy::new(
        Duration::from_millis(400),
        Duration::from_secs(10),
    ));
    let pod_run = start(&yaml, opts).await;
    pod_run
        .wait_for(Duration::from_secs(60), "4 restarts", |p| {
            status_of(p, "app").restart_count >= 4
        })
        .await;
    let run = pod_run.stop().await;
    let starts: Vec<u128> = j
        .entries()
        .iter()
        .filter(|(_, n, _)| n == "app")
        .map(|(t, _, _)| *t)
        .collect();
    assert!(starts.len() >= 4, "{starts:?}");
    let gap = |i: usize| (starts[i + 1] - starts[i]) / 1_000_000;
    assert!(
        gap(1) >= 380,
        "second restart waits the initial backoff: {} ms",
        gap(1)
    );
    assert!(
        gap(2) >= 780,
        "third restart waits twice as long: {} ms",
        gap(2)
    );
    assert!(
        run.event_reasons("app")
            .iter()
            .filter(|r| *r == "BackOff")
            .count()
            >= 2,
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn active_deadline_fails_the_pod_with_deadline_exceeded() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: dl}\nspec:\n  activeDeadlineSeconds: 1\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'sleep 60']\n";
    let run = run_pod(yaml).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    let status = run.outcome.pod.status.clone().unwrap();
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        status.message.as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    assert_eq!(run.exit_code("app"), 143);
}

#[tokio::test]
async fn termination_messages_come_from_the_file_or_the_log_tail() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: tm}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: file\n    image: busybox\n    command: ['sh', '-c', 'echo -n all done > /dev/termination-log']\n  - name: custom-path\n    image: busybox\n    terminationMessagePath: /tmp/msg\n    command: ['sh', '-c', 'echo -n custom > /tmp/msg; exit 2']\n  - name: fallback\n    image: busybox\n    terminationMessagePolicy: FallbackToLogsOnError\n    command: ['sh', '-c', 'echo first; echo last words; exit 1']\n  - name: no-fallback-on-success\n    image: busybox\n    terminationMessagePolicy: FallbackToLogsOnError\n    command: ['sh', '-c', 'echo fine']\n";
    let run = run_pod(yaml).await;
    let message = |c: &str| run.status(c).state.unwrap().terminated.unwrap().message;
    assert_eq!(
        message("file").as_deref(),
        Some("all done"),
        "{}",
        run.dump()
    );
    assert_eq!(message("custom-path").as_deref(), Some("custom"));
    assert_eq!(message("fallback").as_deref(), Some("first\nlast words"));
    assert_eq!(message("no-fallback-on-success"), None);
}

/// A burst of output written just before the exit (far more than the log channel holds,
/// less than a log subscriber may lag by)
/// is all in the log, in order, and its end is the termination message: the exit is
/// reported as soon as the guest returns, and its output is taken to the end first.
#[tokio::test]
async fn output_written_just_before_the_exit_is_all_in_the_log_and_the_tail() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: burst}\nspec:\n  restartPolicy: Never\n  \
                containers:\n  - name: app\n    image: busybox\n    \
                terminationMessagePolicy: FallbackToLogsOnError\n    \
                command: ['sh', '-c', 'seq 1 5000; exit 3']\n";
    let run = run_pod(yaml).await;
    assert_eq!(run.exit_code("app"), 3, "{}", run.dump());
    let expected: Vec<String> = (1..=5000).map(|i| i.to_string()).collect();
    let lines = run.lines("app");
    assert!(
        lines == expected,
        "{} lines, the last {:?}",
        lines.len(),
        lines.last()
    );
    let message = run.status("app").state.unwrap().terminated.unwrap().message;
    assert_eq!(message, Some(expected[4920..].join("\n")));
}
