//! The driver over the scripted fake instance on tokio's paused clock:
//! backoff, grace periods, sidecar order, startup gating, preStop and
//! liveness kills, each in milliseconds of real time. Times are on the
//! paused clock, rounded to whole seconds.

use std::time::Duration;

use super::fake::{Behaviour, OnTerm, Seen, container_status, ended, run, started, term};
use crate::supervisor::{Phase, RESET_AFTER};

/// A Pod whose `spec:` is `spec` (indented by two spaces).
fn pod(spec: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n{spec}")
}

/// Whole seconds, rounded (the paused clock's timers fire on millisecond
/// ticks).
fn secs(d: Duration) -> u64 {
    (d.as_millis() as u64 + 500) / 1000
}

fn all_secs(ds: &[Duration]) -> Vec<u64> {
    ds.iter().copied().map(secs).collect()
}

const S: Duration = Duration::from_secs(1);

#[tokio::test(start_paused = true)]
async fn crash_loop_backoff_doubles_to_the_cap_and_resets_after_a_long_run() {
    let long = RESET_AFTER + 60 * S;
    let p = run(
        &pod("  containers:\n  - {name: app, image: busybox, command: [main]}\n"),
        move |call| match call.n {
            4 => Behaviour::exits(long, 1),
            n if n >= 12 => Behaviour::runs(OnTerm::Unhandled),
            _ => Behaviour::exits(S, 1),
        },
    );
    p.fake.until_seen(&started("app", "main"), 13).await;
    let starts = p.fake.times(|s| *s == started("app", "main"));
    let ends = p.fake.times(|s| *s == ended("app", "main"));
    let waits: Vec<u64> = starts[1..]
        .iter()
        .zip(&ends)
        .map(|(start, end)| secs(*start - *end))
        .collect();
    // The first restart is at once; then 10 s doubling to 300 s. The fifth
    // instance ran past RESET_AFTER: the backoff starts over.
    assert_eq!(waits, [0, 10, 20, 40, 0, 10, 20, 40, 80, 160, 300, 300]);
    assert_eq!(container_status(&p.pod(), "app").restart_count, 12);
    p.stop();
    let (_, _, events) = p.end().await;
    assert!(
        events
            .iter()
            .any(|e| e.reason == "BackOff" && e.container.as_deref() == Some("app")),
        "a BackOff event"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_kills_at_the_end_of_the_grace_period() {
    let p = run(
        &pod("  terminationGracePeriodSeconds: 30
  containers:
  - {name: stubborn, image: busybox, command: [main]}
  - {name: plain, image: busybox, command: [main]}
  - {name: polite, image: busybox, command: [main]}
"),
        |call| match call.container.as_str() {
            // Handles TERM but carries on.
            "stubborn" => Behaviour::runs(OnTerm::Ignore),
            // No TERM handler.
            "plain" => Behaviour::runs(OnTerm::Unhandled),
            _ => Behaviour::runs(OnTerm::Exit(3 * S, 0)),
        },
    );
    for name in ["stubborn", "plain", "polite"] {
        p.fake.until_seen(&started(name, "main"), 1).await;
    }
    let stop = secs(p.fake.now());
    p.stop();
    let fake = p.fake.clone();
    let (phase, pod, _) = p.end().await;
    let at = |seen: Seen| secs(fake.when(&seen).expect("seen")) - stop;
    assert_eq!(at(term("stubborn")), 0);
    assert_eq!(at(ended("stubborn", "main")), 30, "killed at the deadline");
    assert_eq!(at(ended("plain", "main")), 0, "stopped at once");
    assert_eq!(fake.when(&term("plain")), None, "no TERM to deliver");
    assert_eq!(at(ended("polite", "main")), 3);
    let code = |name| {
        container_status(&pod, name)
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| t.exit_code)
    };
    assert_eq!(code("stubborn"), Some(137));
    assert_eq!(code("plain"), Some(143));
    assert_eq!(code("polite"), Some(0));
    assert_eq!(phase, Phase::Failed, "a stopped Always pod has failed");
}

const SIDECARS: &str = "  initContainers:
  - {name: s1, image: busybox, command: [main], restartPolicy: Always}
  - {name: s2, image: busybox, command: [main], restartPolicy: Always}
  containers:
  - {name: app, image: busybox, command: [main]}
";

#[tokio::test(start_paused = true)]
async fn a_stop_takes_regular_containers_then_sidecars_in_reverse_order() {
    let p = run(&pod(SIDECARS), |_| Behaviour::runs(OnTerm::Exit(S, 0)));
    p.fake.until_seen(&started("app", "main"), 1).await;
    let stop = secs(p.fake.now());
    p.stop();
    let fake = p.fake.clone();
    p.end().await;
    let terms: Vec<(u64, Seen)> = fake
        .log()
        .into_iter()
        .filter(|(_, s)| matches!(s, Seen::Term { .. }))
        .map(|(t, s)| (secs(t) - stop, s))
        .collect();
    assert_eq!(
        terms,
        [(0, term("app")), (1, term("s2")), (2, term("s1"))],
        "each after the one before it ended"
    );
}

#[tokio::test(start_paused = true)]
async fn a_finished_job_stops_its_sidecars_in_reverse_order() {
    let yaml = pod(&format!("  restartPolicy: Never\n{SIDECARS}"));
    let p = run(&yaml, |call| match call.container.as_str() {
        "app" => Behaviour::exits(5 * S, 0),
        _ => Behaviour::runs(OnTerm::Exit(S, 0)),
    });
    let fake = p.fake.clone();
    let (phase, _, _) = p.end().await;
    assert_eq!(phase, Phase::Succeeded);
    let at = |seen: Seen| fake.when(&seen).map(secs);
    assert_eq!(at(ended("app", "main")), Some(5));
    assert_eq!(at(term("s2")), Some(5));
    assert_eq!(at(term("s1")), Some(6), "after s2 ended");
    assert_eq!(at(ended("s1", "main")), Some(7));
}

#[tokio::test(start_paused = true)]
async fn a_sidecars_startup_probe_gates_the_next_container() {
    let p = run(
        &pod("  initContainers:
  - name: proxy
    image: busybox
    command: [main]
    restartPolicy: Always
    startupProbe: {exec: {command: [ready]}, periodSeconds: 1, failureThreshold: 30}
  containers:
  - {name: app, image: busybox, command: [main]}
"),
        |call| match call.argv[0].as_str() {
            // Fails three times, then passes.
            "ready" => Behaviour::exits(Duration::ZERO, if call.n < 3 { 1 } else { 0 }),
            _ => Behaviour::runs(OnTerm::Unhandled),
        },
    );
    p.fake.until_seen(&started("app", "main"), 1).await;
    let log = p.fake.log();
    let app_at = log
        .iter()
        .position(|(_, s)| *s == started("app", "main"))
        .expect("app started");
    let probes_before = log[..app_at]
        .iter()
        .filter(|(_, s)| *s == ended("proxy", "ready"))
        .count();
    assert_eq!(
        probes_before, 4,
        "app waited for the fourth (passing) probe"
    );
    assert_eq!(secs(log[app_at].0), 3, "probes ran at 0, 1, 2 and 3 s");
    assert_eq!(
        container_status(&p.pod(), "proxy").started,
        Some(true),
        "the sidecar counts as started"
    );
    p.stop();
    p.end().await;
}

#[tokio::test(start_paused = true)]
async fn pre_stop_runs_before_term_within_the_grace_period() {
    let p = run(
        &pod("  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    command: [main]
    lifecycle: {preStop: {exec: {command: [drain]}}}
"),
        |call| match call.argv[0].as_str() {
            "drain" => Behaviour::exits(5 * S, 0),
            _ => Behaviour::runs(OnTerm::Exit(S, 0)),
        },
    );
    p.fake.until_seen(&started("app", "main"), 1).await;
    let stop = secs(p.fake.now());
    p.stop();
    let fake = p.fake.clone();
    let (_, pod, _) = p.end().await;
    let at = |seen: Seen| secs(fake.when(&seen).expect("seen")) - stop;
    assert_eq!(at(started("app", "drain")), 0);
    assert_eq!(at(term("app")), 5, "TERM once the hook returned");
    assert_eq!(at(ended("app", "main")), 6);
    let terminated = container_status(&pod, "app")
        .state
        .as_ref()
        .and_then(|s| s.terminated.clone())
        .expect("terminated");
    assert_eq!(terminated.exit_code, 0);
}

#[tokio::test(start_paused = true)]
async fn a_pre_stop_hook_past_the_grace_period_leaves_the_kill_at_its_end() {
    let p = run(
        &pod("  terminationGracePeriodSeconds: 10
  containers:
  - name: app
    image: busybox
    command: [main]
    lifecycle: {preStop: {exec: {command: [drain]}}}
"),
        |call| match call.argv[0].as_str() {
            "drain" => Behaviour::exits(100 * S, 0),
            _ => Behaviour::runs(OnTerm::Ignore),
        },
    );
    p.fake.until_seen(&started("app", "main"), 1).await;
    let stop = secs(p.fake.now());
    p.stop();
    let fake = p.fake.clone();
    let (_, pod, _) = p.end().await;
    let at = |seen: Seen| secs(fake.when(&seen).expect("seen")) - stop;
    assert_eq!(at(term("app")), 10, "TERM when the grace is used up");
    assert_eq!(at(ended("app", "main")), 12, "killed after the 2 s minimum");
    assert_eq!(
        at(ended("app", "drain")),
        12,
        "the hook ends with its container"
    );
    let code = container_status(&pod, "app")
        .state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code);
    assert_eq!(code, Some(137));
}

#[tokio::test(start_paused = true)]
async fn a_failing_liveness_probe_kills_and_restarts_the_container() {
    let p = run(
        &pod("  containers:
  - name: app
    image: busybox
    command: [main]
    livenessProbe: {exec: {command: [alive]}, periodSeconds: 10, failureThreshold: 3}
"),
        |call| match call.argv[0].as_str() {
            // The first instance's three probes fail; later ones pass.
            "alive" => Behaviour::exits(Duration::ZERO, if call.n < 3 { 1 } else { 0 }),
            _ => Behaviour::runs(OnTerm::Unhandled),
        },
    );
    p.fake.until_seen(&started("app", "main"), 2).await;
    // Probes at 0, 10 and 20 s; the third failure kills at once (no TERM
    // handler) and the first restart is immediate.
    let ends = all_secs(&p.fake.times(|s| *s == ended("app", "main")));
    let starts = all_secs(&p.fake.times(|s| *s == started("app", "main")));
    assert_eq!((ends, starts), (vec![20], vec![0, 20]));
    let status = container_status(&p.pod(), "app").clone();
    assert_eq!(status.restart_count, 1);
    let last = status
        .last_state
        .and_then(|s| s.terminated)
        .expect("lastState.terminated");
    assert_eq!(
        (last.exit_code, last.reason.as_deref()),
        (143, Some("Error"))
    );
    p.stop();
    let (_, _, events) = p.end().await;
    let unhealthy = events.iter().filter(|e| e.reason == "Unhealthy").count();
    assert_eq!(unhealthy, 3);
    assert!(
        events.iter().any(|e| e.reason == "Killing"
            && e.message == "Container app failed liveness probe, will be restarted"),
        "{events:#?}"
    );
}

/// A container whose ConfigMap is deleted while it runs: its restart waits with
/// `CreateContainerConfigError`, keeping its last termination and restart count, without
/// backoff events piling up; once the ConfigMap is back it restarts.
#[tokio::test(start_paused = true)]
async fn a_restart_waits_for_a_deleted_configmap_and_goes_on_once_it_is_back() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {k: v}\n";
    let p = run(
        &pod(
            "  containers:\n  - name: app\n    image: busybox\n    command: [main]\n    env:\n    - name: K\n      valueFrom: {configMapKeyRef: {name: cm, key: k}}\n",
        ),
        move |call| match call.n {
            0 => Behaviour::exits(S, 1),
            _ => Behaviour::runs(OnTerm::Unhandled),
        },
    );
    p.set_objects(Some(cm));
    p.fake.until_seen(&started("app", "main"), 1).await;
    p.set_objects(None);
    tokio::time::sleep(30 * S).await;
    let pod = p.pod();
    let status = container_status(&pod, "app").clone();
    let waiting = status.state.clone().unwrap().waiting.unwrap();
    assert_eq!(
        waiting.reason.as_deref(),
        Some("CreateContainerConfigError")
    );
    assert_eq!(
        waiting.message.as_deref(),
        Some("configmap \"cm\" not found")
    );
    assert_eq!(status.restart_count, 0);
    assert_eq!(
        status
            .last_state
            .clone()
            .unwrap()
            .terminated
            .unwrap()
            .exit_code,
        1,
        "the last termination stays"
    );
    assert_eq!(p.fake.times(|s| *s == started("app", "main")).len(), 1);

    p.set_objects(Some(cm));
    p.fake.until_seen(&started("app", "main"), 2).await;
    assert_eq!(container_status(&p.pod(), "app").restart_count, 1);
    drop(pod);
    p.stop();
    let (_, _, events) = p.end().await;
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.reason == "Failed" && e.container.is_some())
        .collect();
    assert_eq!(failed.len(), 1, "one Failed event per message: {failed:?}");
    assert_eq!(failed[0].message, "Error: configmap \"cm\" not found");
}

/// `PodHandle::kill`: containers that would ignore TERM for a long grace period, with
/// preStop hooks, are all killed at once (137), no hook run.
#[tokio::test(start_paused = true)]
async fn a_kill_ends_every_container_at_once_without_hooks() {
    let p = run(
        &pod(
            "  terminationGracePeriodSeconds: 600\n  initContainers:\n  - {name: side, image: busybox, command: [side], restartPolicy: Always}\n  containers:\n  - name: app\n    image: busybox\n    command: [main]\n    lifecycle: {preStop: {exec: {command: [hook]}}}\n",
        ),
        |_| Behaviour::runs(OnTerm::Ignore),
    );
    p.fake.until_seen(&started("app", "main"), 1).await;
    let fake = p.fake.clone();
    let killed_at = fake.now();
    p.kill();
    let (_, pod, _) = p.end().await;
    assert_eq!(secs(fake.now() - killed_at), 0, "no grace period");
    assert!(
        fake.times(|s| *s == started("app", "hook")).is_empty(),
        "no preStop hook"
    );
    for name in ["side", "app"] {
        let t = container_status(&pod, name)
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        assert_eq!(t.exit_code, 137, "{name}");
    }
}

/// The kubelet runs a postStart hook once the runtime has started the
/// container's process: here, once its instance runs (is instantiated), not
/// when it is launched.
#[tokio::test(start_paused = true)]
async fn post_start_waits_until_the_instance_runs() {
    let p = run(
        &pod("  containers:
  - name: app
    image: busybox
    command: [main]
    lifecycle: {postStart: {exec: {command: [hook]}}}
"),
        |call| match call.argv[0].as_str() {
            "hook" => Behaviour::exits(S, 0),
            _ => Behaviour::runs(OnTerm::Exit(S, 0)).running_after(3 * S),
        },
    );
    p.fake.until_seen(&started("app", "hook"), 1).await;
    let fake = p.fake.clone();
    let at = |seen: Seen| secs(fake.when(&seen).expect("seen"));
    assert_eq!(at(started("app", "main")), 0);
    assert_eq!(
        at(started("app", "hook")),
        3,
        "the hook once the instance runs"
    );
    p.stop();
    p.end().await;
}
