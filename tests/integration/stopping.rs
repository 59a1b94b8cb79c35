//! Stopping pods (like a deletion): guests without a TERM handler end at
//! once (143), handlers run and may exit cleanly, handlers that do not exit
//! are killed after the grace period (137), regular containers are stopped
//! before sidecars, and the phase reflects how the containers ended.

use std::time::{Duration, Instant};

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(10);

/// A pod with restartPolicy Never; `extra` goes under `spec:`.
fn pod(name: &str, extra: &str, init: &str, containers: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n{extra}{init}  containers:\n{containers}"
    )
}

/// One container entry running a shell script (`''` is a quote inside it).
fn sh(name: &str, script: &str) -> String {
    format!("  - name: {name}\n    image: busybox\n    command: ['sh', '-c', '{script}']\n")
}

/// A script that prints `ready` and then idles in 0.1 s sleeps forever.
fn idle(prefix: &str) -> String {
    format!("{prefix}echo ready; while true; do sleep 0.1; done")
}

#[tokio::test]
async fn spinning_guest_neither_starves_its_sibling_nor_resists_stop() {
    let containers = [
        "  - name: spinner\n    image: busybox\n    command: [spin]\n".to_string(),
        sh("ticker", "while true; do echo tick; sleep 0.1; done"),
    ]
    .concat();
    let (pod_run, mut logs) = start_watched(&pod("spin", "", "", &containers), options()).await;
    pod_run
        .wait_for(LIMIT, "the spinner running", |p| is_running(p, "spinner"))
        .await;
    // Ten ticks (a second of 0.1 s sleeps) while the spinner spins.
    logs.wait_lines("ticker", "tick", 10, LIMIT).await;
    assert!(
        is_running(&pod_run.pod(), "spinner"),
        "the spinner still spins: {:#?}",
        pod_run.pod().status
    );
    let t0 = Instant::now();
    let run = pod_run.stop().await;
    let took = t0.elapsed();
    assert!(took < LIMIT, "stop took {took:?}: {}", run.dump());
    let t = terminated_state(&run, "spinner");
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (143, Some("Error")),
        "{}",
        run.dump()
    );
    assert_eq!(run.exit_code("ticker"), 143);
    assert_eq!(run.phase(), "Failed");
}

/// The epoch ticker parks while no instance lives; a guest that starts after
/// the runtime has been idle must still be interrupted at every tick. With
/// one guest thread, a spinner that were never interrupted would keep its
/// sibling from ever running.
#[tokio::test]
async fn after_an_idle_while_a_spinning_guest_is_still_interrupted() {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpod-cache");
    let runtime = wasmpod::Runtime::new(
        wasmpod::RuntimeConfig::default()
            .with_cache_dir(Some(cache))
            .with_guest_threads(1),
    )
    .expect("runtime");
    let yaml = pod(
        "idle-then-spin",
        "  terminationGracePeriodSeconds: 0\n",
        "",
        &[
            "  - name: spinner\n    image: busybox\n    command: [spin]\n".to_string(),
            sh("sibling", "sleep 0.2; echo done"),
        ]
        .concat(),
    );
    for round in 0..2 {
        // Idle for longer than the ticker waits before it parks (100 ms).
        tokio::time::sleep(Duration::from_millis(400)).await;
        let mut file = wasmpod::spec::load(&yaml).expect("valid pod");
        let handle = runtime
            .create(file.pods.remove(0), options())
            .await
            .expect("created");
        handle.start();
        let mut rx = handle.watch();
        let sibling_done = tokio::time::timeout(
            Duration::from_secs(60),
            rx.wait_for(|p| terminated_code(&status_of(p, "sibling")) == Some(0)),
        )
        .await
        .map(|seen| seen.map(|_| ()));
        let pod = handle.pod();
        assert!(
            matches!(sibling_done, Ok(Ok(_))),
            "round {round}: the sibling never ran to its end beside the spinner: {:#?}",
            pod.status
        );
        assert!(
            is_running(&pod, "spinner"),
            "round {round}: {:#?}",
            pod.status
        );
        handle.stop();
        handle.wait().await;
    }
}

#[tokio::test]
async fn guest_without_term_trap_is_stopped_at_once_despite_a_long_grace() {
    let yaml = pod(
        "no-trap",
        "  terminationGracePeriodSeconds: 30\n",
        "",
        &sh("app", &idle("")),
    );
    let (pod_run, mut logs) = start_watched(&yaml, options()).await;
    logs.wait_line("app", "ready", LIMIT).await;
    let t0 = Instant::now();
    let run = pod_run.stop().await;
    let took = t0.elapsed();
    // Well under the 30 s grace: no handler means no grace.
    assert!(took < LIMIT, "stop took {took:?}: {}", run.dump());
    let t = terminated_state(&run, "app");
    assert_eq!((t.exit_code, t.reason.as_deref()), (143, Some("Error")));
    let reasons = run.event_reasons("app");
    assert!(
        reasons.ends_with(&["Killing".into(), "Exited".into()]),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn term_trap_that_exits_0_runs_and_ends_the_container_cleanly() {
    let yaml = pod(
        "trap-exit",
        "",
        "",
        &sh("app", &idle("trap ''echo bye; exit 0'' TERM; ")),
    );
    let (pod_run, mut logs) = start_watched(&yaml, options()).await;
    logs.wait_line("app", "ready", LIMIT).await;
    let t0 = Instant::now();
    let run = pod_run.stop().await;
    assert!(t0.elapsed() < LIMIT, "{}", run.dump());
    assert_eq!(run.lines("app"), ["ready", "bye"], "{}", run.dump());
    let t = terminated_state(&run, "app");
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
}

#[tokio::test]
async fn term_trap_that_does_not_exit_is_killed_after_the_grace_period() {
    let yaml = pod(
        "trap-ignore",
        "  terminationGracePeriodSeconds: 1\n",
        "",
        &sh("app", &idle("trap ''echo ignoring'' TERM; ")),
    );
    let (pod_run, mut logs) = start_watched(&yaml, options()).await;
    logs.wait_line("app", "ready", LIMIT).await;
    let t0 = Instant::now();
    let run = pod_run.stop().await;
    let took = t0.elapsed();
    // The kubelet floors the remaining grace at 2 s; allow for timer slack
    // but not for an early kill.
    assert!(
        took >= Duration::from_millis(1500),
        "killed after only {took:?}: {}",
        run.dump()
    );
    assert!(
        took < Duration::from_secs(15),
        "stop took {took:?}: {}",
        run.dump()
    );
    assert!(
        run.lines("app").contains(&"ignoring".to_string()),
        "the trap ran: {}",
        run.dump()
    );
    let t = terminated_state(&run, "app");
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("Error")));
    assert_eq!(run.phase(), "Failed");
}

#[tokio::test]
async fn deletion_stops_regular_containers_before_sidecars() {
    let j = Journal::new();
    let on_term = |n: &str| {
        format!(
            "trap ''{}; exit 0'' TERM; {}",
            Journal::note(n, "term"),
            idle("")
        )
    };
    let entry = |n: &str, extra: &str| {
        format!(
            "  - name: {n}\n    image: busybox\n{extra}    command: ['sh', '-c', '{}']\n{JOURNAL_MOUNT}",
            on_term(n)
        )
    };
    let init = format!(
        "  initContainers:\n{}",
        entry("side", "    restartPolicy: Always\n")
    );
    let containers = [entry("app-1", ""), entry("app-2", "")].concat();
    let yaml = pod(
        "deletion-order",
        &format!("  volumes:\n{}", j.volume_yaml()),
        &init,
        &containers,
    );
    let (pod_run, mut logs) = start_watched(&yaml, options()).await;
    for c in ["side", "app-1", "app-2"] {
        logs.wait_line(c, "ready", LIMIT).await;
    }
    let run = pod_run.stop().await;
    for c in ["side", "app-1", "app-2"] {
        assert_eq!(run.exit_code(c), 0, "{c} handled TERM: {}", run.dump());
    }
    let side = j.first("side", "term");
    for app in ["app-1", "app-2"] {
        assert!(
            j.first(app, "term") < side,
            "{app} gets TERM before the sidecar: {:?}",
            j.entries()
        );
    }
    // The events agree: both apps are killed (and exit) before the sidecar is.
    let position = |c: &str, reason: &str| {
        run.events
            .iter()
            .position(|e| e.container.as_deref() == Some(c) && e.reason == reason)
            .unwrap_or_else(|| panic!("no {reason} event for {c}: {}", run.dump()))
    };
    for app in ["app-1", "app-2"] {
        assert!(
            position(app, "Exited") < position("side", "Killing"),
            "{}",
            run.dump()
        );
    }
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
}

#[tokio::test]
async fn stop_during_an_init_container_fails_the_pod_and_no_app_starts() {
    let init = format!("  initContainers:\n{}", sh("init", &idle("")));
    let yaml = pod("stop-init", "", &init, &sh("app", "echo app-ran"));
    let (pod_run, mut logs) = start_watched(&yaml, options()).await;
    logs.wait_line("init", "ready", LIMIT).await;
    let run = pod_run.stop().await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert_eq!(run.exit_code("init"), 143);
    assert!(!run.started("app"), "the app never starts: {}", run.dump());
    assert!(run.lines("app").is_empty());
    assert_eq!(
        waiting_reason(&run.outcome.pod, "app").as_deref(),
        Some("PodInitializing"),
        "{}",
        run.dump()
    );
}

#[tokio::test]
async fn phase_after_stop_follows_how_the_containers_ended() {
    // Both pods run until stopped: one container handles TERM with exit 0,
    // the other has no handler and is stopped (143).
    let graceful = pod(
        "stopped-clean",
        "",
        "",
        &sh("app", &idle("trap ''exit 0'' TERM; ")),
    );
    let killed = pod("stopped-killed", "", "", &sh("app", &idle("")));
    let ((clean, mut clean_logs), (kill, mut kill_logs)) = tokio::join!(
        start_watched(&graceful, options()),
        start_watched(&killed, options())
    );
    clean_logs.wait_line("app", "ready", LIMIT).await;
    kill_logs.wait_line("app", "ready", LIMIT).await;
    let (clean, kill) = tokio::join!(clean.stop(), kill.stop());
    assert_eq!(clean.exit_code("app"), 0, "{}", clean.dump());
    assert_eq!(clean.phase(), "Succeeded", "{}", clean.dump());
    assert_eq!(kill.exit_code("app"), 143, "{}", kill.dump());
    assert_eq!(kill.phase(), "Failed", "{}", kill.dump());
    assert_eq!(
        (clean.outcome.stopped, kill.outcome.stopped),
        (
            Some(wasmpod::StopReason::Requested),
            Some(wasmpod::StopReason::Requested)
        )
    );
}
