//! Table tests of the pure functions, after the kubelet's unit tables
//! (kubelet_pods_test.go `TestPodPhase*`, kuberuntime_manager_test.go
//! `TestComputePodActions*`, status/generate_test.go). The direct ports of
//! upstream tables are in [`upstream_phase`] and [`upstream_actions`].

mod driver;
mod fake;
mod upstream_actions;
mod upstream_phase;

use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::plan::{PodPlan, resolve};

/// A plan from a compact description: `init` entries and `apps` are
/// `name` followed by `:`-separated flags: `sidecar` (`restartPolicy:
/// Always`), `startup`, `liveness`, `readiness` (an exec probe of that kind).
pub(super) fn plan(policy: &str, init: &[&str], apps: &[&str]) -> PodPlan {
    let container = |spec: &str| {
        let mut parts = spec.split(':');
        let name = parts.next().unwrap_or(spec);
        let mut extra = String::new();
        for flag in parts {
            extra.push_str(match flag {
                "sidecar" => "\n    restartPolicy: Always",
                "startup" => "\n    startupProbe: {exec: {command: ['true']}}",
                "liveness" => "\n    livenessProbe: {exec: {command: ['true']}}",
                "readiness" => "\n    readinessProbe: {exec: {command: ['true']}}",
                other => panic!("unknown container flag {other:?}"),
            });
        }
        format!("  - name: {name}\n    image: busybox{extra}\n")
    };
    let init_yaml: String = init.iter().map(|c| container(c)).collect();
    let apps_yaml: String = apps.iter().map(|c| container(c)).collect();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  restartPolicy: {policy}\n{}  containers:\n{apps_yaml}",
        if init.is_empty() {
            String::new()
        } else {
            format!("  initContainers:\n{init_yaml}")
        }
    );
    let file = crate::spec::load(&yaml).expect("valid test pod");
    resolve(&file.pods[0].document.pod, std::path::Path::new("/")).expect("resolves")
}

fn running() -> State {
    State::Running {
        started_at: k8s_openapi::jiff::Timestamp::now(),
    }
}

fn exited(code: i32) -> State {
    State::Terminated(termination(code, Instant::now()))
}

fn waiting_after(code: i32) -> (State, Option<Termination>) {
    (
        State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: None,
        },
        Some(termination(code, Instant::now())),
    )
}

fn set(obs: &mut Observed, slot: Slot, state: State) {
    obs.record_mut(slot).state = state;
}

pub(super) fn backoff() -> BackoffPolicy {
    BackoffPolicy::default()
}

/// A container's runtime state as an upstream table row gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cs {
    /// No status: never created. Our records always exist, so this is the
    /// initial `Waiting` record (as "waiting, no lastState" and "created
    /// but not started" are: our starts are atomic).
    Missing,
    /// `Running`, startup probe not passed (not started if it has one).
    Running,
    /// `Running` and started (startup probe, if any, passed).
    Started,
    /// `Terminated` with this exit code.
    Exited(i32),
    /// `Waiting` (CrashLoopBackOff) with `lastState` terminated with this code.
    CrashLoop(i32),
}

/// Sets the record of `slot` to `cs`.
pub(super) fn apply(obs: &mut Observed, slot: Slot, cs: Cs) {
    let rec = obs.record_mut(slot);
    match cs {
        Cs::Missing => {}
        Cs::Running => rec.state = running(),
        Cs::Started => {
            rec.state = running();
            rec.startup_passed = true;
        }
        Cs::Exited(code) => rec.state = exited(code),
        Cs::CrashLoop(code) => (rec.state, rec.last) = waiting_after(code),
    }
}

/// The observed state with init containers `init` and regular ones `apps`.
pub(super) fn observe(p: &PodPlan, init: &[Cs], apps: &[Cs]) -> Observed {
    assert_eq!(
        (init.len(), apps.len()),
        (p.init_containers.len(), p.containers.len())
    );
    let mut obs = Observed::new(p);
    for (i, cs) in init.iter().enumerate() {
        apply(&mut obs, Slot::Init(i), *cs);
    }
    for (i, cs) in apps.iter().enumerate() {
        apply(&mut obs, Slot::Regular(i), *cs);
    }
    obs
}

/// Mixed exit codes of two regular containers; the uniform rows are B6's
/// (`upstream_phase::b6_*`).
#[test]
fn phase_regular_containers_with_mixed_exit_codes() {
    use Phase::*;
    // (policy, states of two app containers, terminal, expected)
    let cases: Vec<(&str, [State; 2], bool, Phase)> = vec![
        ("Always", [exited(0), exited(1)], false, Running),
        ("Never", [exited(0), exited(1)], false, Failed),
        ("Never", [running(), exited(1)], false, Running),
        ("OnFailure", [exited(0), exited(1)], false, Running),
        ("Always", [exited(0), exited(137)], true, Failed),
    ];
    for (policy, [a, b], terminal, want) in cases {
        let p = plan(policy, &[], &["a", "b"]);
        let mut obs = Observed::new(&p);
        set(&mut obs, Slot::Regular(0), a.clone());
        set(&mut obs, Slot::Regular(1), b.clone());
        assert_eq!(
            status::phase(&p, &obs, terminal),
            want,
            "{policy} {a:?} {b:?} terminal={terminal}"
        );
    }
}

#[test]
fn phase_waiting_with_last_state_counts_as_stopped_not_succeeded() {
    let p = plan("OnFailure", &[], &["a"]);
    let mut obs = Observed::new(&p);
    let (state, last) = waiting_after(1);
    obs.regular[0].state = state;
    obs.regular[0].last = last;
    assert_eq!(status::phase(&p, &obs, false), Phase::Running);
    assert_eq!(status::phase(&p, &obs, true), Phase::Failed);
}

#[test]
fn phase_sidecars_never_decide_the_outcome() {
    let p = plan("Never", &["side:sidecar"], &["a"]);
    let mut obs = Observed::new(&p);
    assert_eq!(
        status::phase(&p, &obs, false),
        Phase::Pending,
        "sidecar not started"
    );
    set(&mut obs, Slot::Init(0), running());
    set(&mut obs, Slot::Regular(0), running());
    assert_eq!(status::phase(&p, &obs, false), Phase::Running);
    set(&mut obs, Slot::Regular(0), exited(0));
    set(&mut obs, Slot::Init(0), exited(137));
    assert_eq!(
        status::phase(&p, &obs, true),
        Phase::Succeeded,
        "a killed sidecar does not fail the pod"
    );
}

#[test]
fn decide_starts_init_containers_one_at_a_time() {
    let p = plan("Always", &["i1", "i2"], &["a", "b"]);
    let mut obs = Observed::new(&p);
    let now = Instant::now();
    assert_eq!(
        decide(&p, &obs, &backoff(), now).actions,
        vec![Action::Start(Slot::Init(0))]
    );
    set(&mut obs, Slot::Init(0), running());
    assert_eq!(
        decide(&p, &obs, &backoff(), now),
        Decision::default(),
        "wait for the running init"
    );
    set(&mut obs, Slot::Init(0), exited(0));
    assert_eq!(
        decide(&p, &obs, &backoff(), now).actions,
        vec![Action::Start(Slot::Init(1))]
    );
    set(&mut obs, Slot::Init(1), exited(0));
    assert_eq!(
        decide(&p, &obs, &backoff(), now).actions,
        vec![
            Action::Start(Slot::Regular(0)),
            Action::Start(Slot::Regular(1))
        ],
        "apps start together once initialized"
    );
}

#[test]
fn decide_fails_the_pod_on_init_failure_under_never() {
    let p = plan("Never", &["side:sidecar", "i2"], &["a"]);
    let mut obs = Observed::new(&p);
    set(&mut obs, Slot::Init(0), running());
    set(&mut obs, Slot::Init(1), exited(2));
    let d = decide(&p, &obs, &backoff(), Instant::now());
    assert!(d.init_failed && d.complete && d.actions.is_empty(), "{d:?}");
}

#[test]
fn decide_retries_a_failed_init_with_backoff() {
    let p = plan("OnFailure", &["i1"], &["a"]);
    let mut obs = Observed::new(&p);
    let t0 = Instant::now();
    // First failure: restart at once.
    obs.init[0].state = State::Terminated(termination(1, t0));
    assert_eq!(
        decide(&p, &obs, &backoff(), t0).actions,
        vec![Action::Start(Slot::Init(0))]
    );
    // After a restart, the next failure waits the initial 10 s.
    obs.init[0].backoff = Some(backoff().next(None, t0, t0));
    let t1 = t0 + Duration::from_secs(1);
    obs.init[0].state = State::Terminated(termination(1, t1));
    let d = decide(&p, &obs, &backoff(), t1 + Duration::from_secs(4));
    assert_eq!(
        d.actions,
        vec![Action::BackOff {
            slot: Slot::Init(0),
            remaining: Duration::from_secs(6),
            period: Duration::from_secs(10)
        }]
    );
    assert!(!d.complete);
    assert_eq!(
        decide(&p, &obs, &backoff(), t1 + Duration::from_secs(10)).actions,
        vec![Action::Start(Slot::Init(0))]
    );
}

#[test]
fn decide_restarts_sidecars_but_not_completed_inits_once_apps_run() {
    let p = plan("Never", &["i1", "side:sidecar"], &["a"]);
    let mut obs = Observed::new(&p);
    set(&mut obs, Slot::Init(0), exited(0));
    set(&mut obs, Slot::Init(1), exited(1));
    set(&mut obs, Slot::Regular(0), running());
    assert_eq!(
        decide(&p, &obs, &backoff(), Instant::now()).actions,
        vec![Action::Start(Slot::Init(1))]
    );
}

#[test]
fn decide_completes_when_no_regular_container_runs_or_restarts() {
    let p = plan("OnFailure", &["side:sidecar"], &["a", "b"]);
    let mut obs = Observed::new(&p);
    set(&mut obs, Slot::Init(0), exited(1));
    set(&mut obs, Slot::Regular(0), exited(0));
    set(&mut obs, Slot::Regular(1), running());
    let d = decide(&p, &obs, &backoff(), Instant::now());
    assert!(
        !d.complete && d.actions == vec![Action::Start(Slot::Init(0))],
        "{d:?}"
    );
    set(&mut obs, Slot::Regular(1), exited(0));
    let d = decide(&p, &obs, &backoff(), Instant::now());
    assert!(d.complete, "{d:?}");
    assert!(
        d.actions.is_empty(),
        "sidecars are not restarted once the pod is done: {d:?}"
    );
}

#[test]
fn decide_does_nothing_while_deleting() {
    let p = plan("Always", &[], &["a"]);
    let mut obs = Observed::new(&p);
    obs.deleting = true;
    assert_eq!(
        decide(&p, &obs, &backoff(), Instant::now()),
        Decision::default()
    );
}

#[test]
fn conditions_follow_generate_go() {
    let p = plan("Always", &["i1", "side:sidecar"], &["a"]);
    let mut obs = Observed::new(&p);
    let now = k8s_openapi::jiff::Timestamp::now();
    let cond = |status: &k8s_openapi::api::core::v1::PodStatus, t: &str| {
        let c = status
            .conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
            .clone();
        (c.status, c.reason, c.message)
    };
    let s = status::generate(&p, &obs, status::phase(&p, &obs, false), None, now);
    let types: Vec<&str> = s
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled"
        ]
    );
    assert_eq!(
        cond(&s, "Initialized"),
        (
            "False".into(),
            Some("ContainersNotInitialized".into()),
            Some("containers with incomplete status: [i1 side]".into())
        )
    );
    assert_eq!(
        cond(&s, "ContainersReady"),
        (
            "False".into(),
            Some("ContainersNotReady".into()),
            Some("containers with unready status: [side a]".into())
        )
    );
    let waiting = s.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .waiting
        .clone()
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("PodInitializing"));

    set(&mut obs, Slot::Init(0), exited(0));
    set(&mut obs, Slot::Init(1), running());
    set(&mut obs, Slot::Regular(0), running());
    let s2 = status::generate(&p, &obs, status::phase(&p, &obs, false), Some(&s), now);
    assert_eq!(cond(&s2, "Initialized").0, "True");
    assert_eq!(cond(&s2, "Ready"), ("True".into(), None, None));
    let init = &s2.init_container_statuses.as_ref().unwrap()[0];
    assert!(init.ready, "a completed init container is ready");

    // lastTransitionTime only moves when the status changes.
    let later = now + k8s_openapi::jiff::SignedDuration::from_secs(5);
    let s3 = status::generate(&p, &obs, status::phase(&p, &obs, false), Some(&s2), later);
    let ltt = |s: &k8s_openapi::api::core::v1::PodStatus, t: &str| {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
            .last_transition_time
            .clone()
    };
    assert_eq!(ltt(&s3, "Ready"), ltt(&s2, "Ready"));
    set(&mut obs, Slot::Regular(0), exited(1));
    let s4 = status::generate(&p, &obs, status::phase(&p, &obs, false), Some(&s3), later);
    assert_ne!(ltt(&s4, "Ready"), ltt(&s3, "Ready"));
}

#[test]
fn succeeded_pod_reports_pod_completed() {
    let p = plan("Never", &["i1"], &["a"]);
    let mut obs = Observed::new(&p);
    set(&mut obs, Slot::Init(0), exited(0));
    set(&mut obs, Slot::Regular(0), exited(0));
    let phase = status::phase(&p, &obs, true);
    assert_eq!(phase, Phase::Succeeded);
    let s = status::generate(&p, &obs, phase, None, k8s_openapi::jiff::Timestamp::now());
    let c = s.conditions.unwrap();
    let find = |t: &str| c.iter().find(|c| c.type_ == t).unwrap().clone();
    assert_eq!(find("Initialized").reason.as_deref(), Some("PodCompleted"));
    assert_eq!(
        find("ContainersReady").reason.as_deref(),
        Some("PodCompleted")
    );
    assert_eq!(find("Ready").status, "False");
}

#[test]
fn restart_policy_rules_decide_per_exit_code() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  restartPolicy: Always\n  containers:\n  - name: a\n    image: busybox\n    restartPolicy: Never\n    restartPolicyRules:\n    - action: Restart\n      exitCodes: {operator: In, values: [42]}\n";
    let file = crate::spec::load(yaml).expect("valid");
    let p = resolve(&file.pods[0].document.pod, std::path::Path::new("/")).unwrap();
    let c = &p.containers[0];
    assert!(p.should_restart(c, 42), "a matching rule restarts");
    assert!(
        !p.should_restart(c, 1),
        "no rule matches: the container's Never decides, not the pod's Always"
    );
    let mut obs = Observed::new(&p);
    set(&mut obs, Slot::Regular(0), exited(1));
    assert_eq!(
        status::phase(&p, &obs, false),
        Phase::Failed,
        "nothing will restart"
    );
    set(&mut obs, Slot::Regular(0), exited(42));
    assert_eq!(
        status::phase(&p, &obs, false),
        Phase::Running,
        "it will restart"
    );
    assert_eq!(
        decide(&p, &obs, &backoff(), Instant::now()).actions,
        vec![Action::Start(Slot::Regular(0))]
    );
}

#[test]
fn a_failed_post_start_hook_waits_as_post_start_hook_error_then_restarts() {
    for (policy, restarts) in [("OnFailure", true), ("Never", false)] {
        let p = plan(policy, &[], &["a"]);
        let mut obs = Observed::new(&p);
        set(&mut obs, Slot::Regular(0), exited(143));
        if p.should_restart(&p.containers[0], 143) {
            obs.regular[0].wait_to_restart("PostStartHookError", "Exec lifecycle hook".into());
        }
        let now = k8s_openapi::jiff::Timestamp::now();
        let s = status::generate(&p, &obs, status::phase(&p, &obs, false), None, now);
        let c = &s.container_statuses.as_ref().unwrap()[0];
        let state = c.state.clone().unwrap();
        if restarts {
            let waiting = state.waiting.expect("waiting to restart");
            assert_eq!(waiting.reason.as_deref(), Some("PostStartHookError"));
            assert_eq!(waiting.message.as_deref(), Some("Exec lifecycle hook"));
            let last = c.last_state.clone().unwrap().terminated.expect("lastState");
            assert_eq!(last.exit_code, 143);
            assert_eq!(
                decide(&p, &obs, &backoff(), Instant::now()).actions,
                vec![Action::Start(Slot::Regular(0))],
                "the first restart is not backed off"
            );
        } else {
            assert_eq!(state.terminated.expect("stays terminated").exit_code, 143);
            assert_eq!(status::phase(&p, &obs, false), Phase::Failed);
        }
    }
}

/// F1 (TestGeneratePodReadyCondition): readiness gates.
#[test]
fn ready_waits_for_readiness_gates() {
    let mut p = plan("Always", &[], &["a"]);
    p.readiness_gates = vec!["gate1".into(), "gate2".into()];
    let mut obs = Observed::new(&p);
    set(&mut obs, Slot::Regular(0), running());
    obs.regular[0].readiness_passed = true;
    let ready = |obs: &Observed| {
        let now = k8s_openapi::jiff::Timestamp::now();
        let s = status::generate(&p, obs, status::phase(&p, obs, false), None, now);
        let find = |t: &str| {
            s.conditions
                .clone()
                .unwrap()
                .into_iter()
                .find(|c| c.type_ == t)
                .unwrap()
        };
        assert_eq!(find("ContainersReady").status, "True");
        let r = find("Ready");
        (r.status, r.reason, r.message)
    };
    let gate = |t: &str, status: &str| k8s_openapi::api::core::v1::PodCondition {
        type_: t.into(),
        status: status.into(),
        ..Default::default()
    };
    assert_eq!(
        ready(&obs),
        (
            "False".into(),
            Some("ReadinessGatesNotReady".into()),
            Some(
                "corresponding condition of pod readiness gate \"gate1\" does not exist., corresponding condition of pod readiness gate \"gate2\" does not exist.".into()
            )
        )
    );
    obs.conditions = vec![gate("gate1", "True"), gate("gate2", "False")];
    assert_eq!(
        ready(&obs).2.as_deref(),
        Some("the status of pod readiness gate \"gate2\" is not \"True\", but False")
    );
    obs.conditions[1].status = "True".into();
    assert_eq!(ready(&obs), ("True".into(), None, None));
}
