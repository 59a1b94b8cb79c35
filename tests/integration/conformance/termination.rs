//! E. Native sidecars, part 2: termination (E11–E20); G. termination
//! grace (G1) and the active deadline (G5).

use std::time::Instant;

use super::*;

fn grace(upstream: u32) -> String {
    format!("  terminationGracePeriodSeconds: {}\n", secs(upstream))
}

/// Runs until `ready` containers all run, then stops the pod (a deletion).
async fn delete_when_running(j: &Journal, yaml: &str, ready: &[&str]) -> (PodRun, Duration) {
    let st = start(yaml, fast()).await;
    wait_started(j, ready).await;
    let t0 = Instant::now();
    let run = st.stop().await;
    (run, t0.elapsed())
}

fn sidecars_reverse_order() -> (Journal, String) {
    let j = Journal::new();
    let ri = |n: &str| p(n, 60.0).term(5.0).sidecar();
    let yaml = pod(
        &j,
        "Never",
        &grace(30),
        &[ri("ri-1"), ri("ri-2"), ri("ri-3")],
        &[p("regular-1", 5.0)],
    );
    (j, yaml)
}

fn assert_reverse_exit(j: &Journal, run: &PodRun) {
    for side in ["ri-1", "ri-2", "ri-3"] {
        exits_before(j, "regular-1", side);
        assert_eq!(ended(run, side), (0, "Completed".into()), "{side}");
    }
    exits_before(j, "ri-3", "ri-2");
    exits_before(j, "ri-2", "ri-1");
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
}

/// CL :: "should terminate sidecars in reverse order after all main containers have exited"
#[tokio::test]
async fn e11_sidecar_termination_reverse_order() {
    let (j, yaml) = sidecars_reverse_order();
    let run = run_pod(&yaml).await;
    started_in_order(&run, &["ri-1", "ri-2", "ri-3", "regular-1"]);
    assert_reverse_exit(&j, &run);
}

/// CL :: "should not hang in termination if terminated during initialization"
#[tokio::test]
async fn e14_delete_during_init_doesnt_hang() {
    let j = Journal::new();
    let ri = |n: &str| p(n, 600.0).term(5.0).sidecar().pre_stop(1.0);
    let yaml = pod(
        &j,
        "Never",
        "  terminationGracePeriodSeconds: 3\n",
        &[
            p("start-init", 300.0).term(0.0),
            ri("ri-1"),
            ri("ri-2"),
            ri("ri-3"),
        ],
        &[p("regular-1", 1.0)],
    );
    let (run, took) = delete_when_running(&j, &yaml, &["start-init"]).await;
    assert!(
        took < Duration::from_secs(6),
        "took {took:?}: {}",
        run.dump()
    );
    for c in ["ri-1", "ri-2", "ri-3", "regular-1"] {
        doesnt_start(&j, c);
    }
}

/// CL :: "should terminate restartable init containers gracefully if there is a non-started restartable init container"
#[tokio::test]
async fn e15_non_started_sidecar_graceful() {
    let j = Journal::new();
    let ri2 = p("ri-2", 600.0).term(1.0).sidecar().probe(
        "startupProbe",
        "false",
        "periodSeconds: 1\n      failureThreshold: 600",
    );
    let yaml = pod(
        &j,
        "Never",
        &grace(180),
        &[p("init-1", 1.0), ri2, p("ri-3", 600.0).term(1.0).sidecar()],
        &[p("regular-1", 600.0)],
    );
    let (run, took) = delete_when_running(&j, &yaml, &["ri-2"]).await;
    // Upstream: gone in under 61 s of a 180 s grace; scaled: well under 18 s.
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: {}",
        run.dump()
    );
    assert_eq!(ended(&run, "ri-2").0, 0, "{}", run.dump());
    doesnt_start(&j, "ri-3");
    doesnt_start(&j, "regular-1");
}

fn nonzero_pod(j: &Journal, ri2: P) -> String {
    let ri = |n: &str| p(n, 600.0).term(1.0).sidecar();
    pod(
        j,
        "Never",
        &grace(30),
        &[ri("ri-1"), ri2, ri("ri-3")],
        &[p("regular-1", 600.0).term(1.0)],
    )
}

const ALL: &[&str] = &["ri-1", "ri-2", "ri-3", "regular-1"];

/// CL :: "should mark pod as succeeded if any of the restartable init containers have terminated with non-zero exit code"
#[tokio::test]
async fn e16_sidecar_nonzero_exit_on_termination() {
    let j = Journal::new();
    let ri2 = p("ri-2", 600.0).term(1.0).exit(1).sidecar();
    let (run, _) = delete_when_running(&j, &nonzero_pod(&j, ri2), ALL).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    for c in ["regular-1", "ri-1", "ri-3"] {
        assert_eq!(ended(&run, c), (0, "Completed".into()), "{c}");
    }
    assert_eq!(ended(&run, "ri-2"), (1, "Error".into()));
}

/// CL :: "should mark pod as succeeded if any of the restartable init containers have terminated with non-zero exit code by prestop hook"
#[tokio::test]
async fn e17_sidecar_prestop_fails() {
    let j = Journal::new();
    let ri2 = p("ri-2", 600.0)
        .term(1.0)
        .sidecar()
        .with("    lifecycle:\n      preStop:\n        exec: {command: ['sh', '-c', 'exit 1']}\n");
    let (run, _) = delete_when_running(&j, &nonzero_pod(&j, ri2), ALL).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    for c in ALL {
        assert_eq!(ended(&run, c), (0, "Completed".into()), "{c}");
    }
}

/// CL :: "should mark pod as failed if regular container has exceeded its termination grace period seconds"
#[tokio::test]
async fn e18_regular_exceeds_grace() {
    let j = Journal::new();
    let long = |n: &str| p(n, 600.0).term_long().sidecar();
    let yaml = pod(
        &j,
        "Never",
        &grace(5),
        &[
            long("ri-1"),
            p("ri-2", 600.0).term(1.0).sidecar(),
            long("ri-3"),
        ],
        &[p("regular-1", 600.0).term_long()],
    );
    let (run, _) = delete_when_running(&j, &yaml, ALL).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    for c in ["regular-1", "ri-1", "ri-3"] {
        assert_eq!(ended(&run, c), (137, "Error".into()), "{c}");
    }
    assert_eq!(ended(&run, "ri-2"), (0, "Completed".into()));
}

/// CL :: "should mark pod as succeeded if any of the restartable init containers have exceeded its termination grace period seconds"
#[tokio::test]
async fn e19_sidecar_exceeds_grace() {
    let j = Journal::new();
    let short = |n: &str| p(n, 600.0).term(1.0).sidecar();
    let yaml = pod(
        &j,
        "Never",
        &grace(5),
        &[
            short("ri-1"),
            p("ri-2", 600.0).term_long().sidecar(),
            short("ri-3"),
        ],
        &[p("regular-1", 600.0).term(1.0)],
    );
    let (run, _) = delete_when_running(&j, &yaml, ALL).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    for c in ["regular-1", "ri-1", "ri-3"] {
        assert_eq!(ended(&run, c), (0, "Completed".into()), "{c}");
    }
    assert_eq!(ended(&run, "ri-2"), (137, "Error".into()));
}

/// CL :: "should mark pod as failed if any of the prestop hook in regular container has exceeded its termination grace period seconds"
#[tokio::test]
async fn e20_regular_prestop_exceeds_grace() {
    let j = Journal::new();
    let short = |n: &str| p(n, 600.0).term(1.0).sidecar();
    let yaml = pod(
        &j,
        "Never",
        &grace(5),
        &[
            short("ri-1"),
            p("ri-2", 600.0).term_long().sidecar(),
            short("ri-3"),
        ],
        &[p("regular-1", 600.0).term_long().pre_stop(20.0)],
    );
    let (run, _) = delete_when_running(&j, &yaml, ALL).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert_eq!(ended(&run, "regular-1"), (137, "Error".into()));
    assert_eq!(ended(&run, "ri-2").0, 137);
    for c in ["ri-1", "ri-3"] {
        assert_eq!(ended(&run, c), (0, "Completed".into()), "{c}");
    }
}

/// CL :: "should mark pod as failed if any of the prestop hook in regular container has exceeded..." (variant: a sidecar's preStop exceeds the grace)
#[tokio::test]
async fn e20_sidecar_prestop_exceeds_grace() {
    let j = Journal::new();
    let short = |n: &str| p(n, 600.0).term(1.0).sidecar();
    let ri2 = p("ri-2", 600.0).term_long().sidecar().pre_stop(30.0);
    let yaml = pod(
        &j,
        "Never",
        &grace(5),
        &[short("ri-1"), ri2, short("ri-3")],
        &[p("regular-1", 600.0).term(1.0)],
    );
    let (run, _) = delete_when_running(&j, &yaml, ALL).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(ended(&run, "ri-2").0, 137, "{}", run.dump());
}

/// CL :: "should respect termination grace period seconds" (the guest ignores TERM)
#[tokio::test]
async fn g1_grace_respected() {
    grace_respected("").await;
}

/// CL :: "should respect termination grace period seconds with long-running preStop hook"
#[tokio::test]
async fn g1_grace_respected_with_long_pre_stop() {
    grace_respected("    lifecycle:\n      preStop:\n        exec: {command: [sleep, '10000']}\n")
        .await;
}

async fn grace_respected(extra: &str) {
    let j = Journal::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: grace}}\nspec:\n{}  volumes:\n{}  containers:\n  - name: app\n    image: busybox\n{extra}    command: ['sh', '-c', 'trap \"echo ignored\" TERM; {}; while true; do sleep 0.1; done']\n{JOURNAL_MOUNT}",
        grace(30),
        j.volume_yaml(),
        Journal::note("app", "Started")
    );
    let (run, took) = delete_when_running(&j, &yaml, &["app"]).await;
    // Upstream: gone within 60 s of a 30 s grace; scaled: 6 s (+ slack).
    assert!(
        took >= Duration::from_millis(2900),
        "killed early: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: {}",
        run.dump()
    );
    assert_eq!(run.exit_code("app"), 137);
}

/// Source: pkg/kubelet/active_deadline.go (activeDeadlineSeconds during init)
#[tokio::test]
async fn g5_active_deadline() {
    let j = Journal::new();
    let yaml = pod(
        &j,
        "Never",
        &format!("  activeDeadlineSeconds: {}\n", secs(5)),
        &[p("init-1", 600.0)],
        &[p("regular-1", 1.0)],
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    let status = run.outcome.pod.status.clone().unwrap();
    assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    assert_eq!(
        status.message.as_deref(),
        Some("Pod was active on the node longer than the specified deadline")
    );
    assert!(terminated_code(&run.status("init-1")).is_some());
    assert_eq!(j.count("init-1", "Exiting"), 0, "killed before its end");
    doesnt_start(&j, "regular-1");
}
