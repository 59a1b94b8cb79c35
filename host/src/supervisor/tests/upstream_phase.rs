//! Ports of the kubelet's `getPhase` unit tables (pkg/kubelet/kubelet_pods_test.go,
//! "KP" in shared/reference/kubernetes-conformance-scenarios.md, scenarios
//! A12, B6 and E23) as tables over [`status::phase`]. Row descriptions are
//! the upstream ones where upstream has the row.

use super::Cs::{CrashLoop, Exited, Missing, Running, Started};
use super::{Cs, observe, plan};
use crate::supervisor::{Phase, status};

use Phase::{Failed, Pending, Running as PRunning, Succeeded};

/// One row: the init and regular containers' states, `podIsTerminal`, and
/// the expected phase.
struct Row {
    desc: &'static str,
    init: &'static [Cs],
    apps: &'static [Cs],
    terminal: bool,
    want: Phase,
}

/// Checks `rows` against a pod with policy `policy` and the containers
/// `init` and `apps` (see [`plan`]).
fn check(id: &str, policy: &str, init: &[&str], apps: &[&str], rows: Vec<Row>) {
    let p = plan(policy, init, apps);
    for r in rows {
        let obs = observe(&p, r.init, r.apps);
        assert_eq!(
            status::phase(&p, &obs, r.terminal),
            r.want,
            "{id} ({policy}, terminal={}): {}",
            r.terminal,
            r.desc
        );
    }
}

/// A12 rows for a regular init container X and regular containers A, B.
fn a12_rows(never: bool) -> Vec<Row> {
    // The two rows with a failed X differ: Pending under Always (X is
    // retried), Failed under Never.
    let failed = if never { Failed } else { Pending };
    vec![
        Row {
            desc: "init container running",
            init: &[Running],
            apps: &[Missing, Missing],
            terminal: false,
            want: Pending,
        },
        Row {
            desc: "init container terminated non-zero",
            init: &[Exited(-1)],
            apps: &[Missing, Missing],
            terminal: false,
            want: failed,
        },
        Row {
            desc: "init container waiting, terminated zero",
            init: &[CrashLoop(0)],
            apps: &[Missing, Missing],
            terminal: false,
            want: Pending,
        },
        Row {
            desc: "init container waiting, terminated non-zero",
            init: &[CrashLoop(-1)],
            apps: &[Missing, Missing],
            terminal: false,
            want: failed,
        },
        Row {
            desc: "init container waiting, not terminated",
            init: &[Missing],
            apps: &[Missing, Missing],
            terminal: false,
            want: Pending,
        },
        Row {
            desc: "init container succeeded",
            init: &[Exited(0)],
            apps: &[Started, Started],
            terminal: false,
            want: PRunning,
        },
    ]
}

/// A12. KP :: TestPodPhaseWithRestartAlwaysInitContainers
#[test]
fn a12_phase_with_restart_always_init_containers() {
    check("A12", "Always", &["x"], &["a", "b"], a12_rows(false));
}

/// A12. KP :: TestPodPhaseWithRestartNeverInitContainers
#[test]
fn a12_phase_with_restart_never_init_containers() {
    check("A12", "Never", &["x"], &["a", "b"], a12_rows(true));
}

/// B6 rows common to the three policies (regular containers A and B).
/// Upstream's "running, missing" (no status for B) and "running, waiting"
/// are the same record for us: B was never created.
fn b6_common_rows() -> Vec<Row> {
    vec![
        Row {
            desc: "waiting (no statuses)",
            init: &[],
            apps: &[Missing, Missing],
            terminal: false,
            want: Pending,
        },
        Row {
            desc: "all running",
            init: &[],
            apps: &[Started, Started],
            terminal: false,
            want: PRunning,
        },
        Row {
            desc: "mixed state #1 (running, exit 0)",
            init: &[],
            apps: &[Started, Exited(0)],
            terminal: false,
            want: PRunning,
        },
        Row {
            desc: "mixed state #2 (running, missing)",
            init: &[],
            apps: &[Started, Missing],
            terminal: false,
            want: Pending,
        },
        Row {
            desc: "mixed state #3 (running, waiting)",
            init: &[],
            apps: &[Started, Missing],
            terminal: false,
            want: Pending,
        },
    ]
}

/// B6. KP :: TestPodPhaseWithRestartAlways
#[test]
fn b6_phase_with_restart_always() {
    let mut rows = b6_common_rows();
    rows.extend([
        Row {
            desc: "all stopped (exit 0) with restart always",
            init: &[],
            apps: &[Exited(0), Exited(0)],
            terminal: false,
            want: PRunning,
        },
        Row {
            desc: "all succeeded with restart always, but the pod is terminal",
            init: &[],
            apps: &[Exited(0), Exited(0)],
            terminal: true,
            want: Succeeded,
        },
        Row {
            desc: "all failed with restart always",
            init: &[],
            apps: &[Exited(-1), Exited(-1)],
            terminal: false,
            want: PRunning,
        },
        Row {
            desc: "all failed with restart always, but the pod is terminal",
            init: &[],
            apps: &[Exited(-1), Exited(-1)],
            terminal: true,
            want: Failed,
        },
        Row {
            desc: "backoff crashloop container with restart always",
            init: &[],
            apps: &[Started, CrashLoop(0)],
            terminal: false,
            want: PRunning,
        },
    ]);
    check("B6", "Always", &[], &["a", "b"], rows);
}

/// B6. KP :: TestPodPhaseWithRestartNever
#[test]
fn b6_phase_with_restart_never() {
    // Upstream has no "backoff crashloop" row under Never.
    let mut rows = b6_common_rows();
    rows.extend([
        Row {
            desc: "all succeeded with restart never",
            init: &[],
            apps: &[Exited(0), Exited(0)],
            terminal: false,
            want: Succeeded,
        },
        Row {
            desc: "all failed with restart never",
            init: &[],
            apps: &[Exited(-1), Exited(-1)],
            terminal: false,
            want: Failed,
        },
    ]);
    check("B6", "Never", &[], &["a", "b"], rows);
}

/// B6. KP :: TestPodPhaseWithRestartOnFailure
#[test]
fn b6_phase_with_restart_on_failure() {
    let mut rows = b6_common_rows();
    rows.extend([
        Row {
            desc: "all succeeded with restart onfailure",
            init: &[],
            apps: &[Exited(0), Exited(0)],
            terminal: false,
            want: Succeeded,
        },
        Row {
            desc: "all failed with restart onfailure",
            init: &[],
            apps: &[Exited(-1), Exited(-1)],
            terminal: false,
            want: PRunning,
        },
        Row {
            desc: "backoff crashloop container with restart onfailure",
            init: &[],
            apps: &[Started, CrashLoop(0)],
            terminal: false,
            want: PRunning,
        },
    ]);
    check("B6", "OnFailure", &[], &["a", "b"], rows);
}

/// E23 sidecar X, with a startup probe so that "running" (not started) and
/// "started" differ.
const E23_SIDECAR: &str = "x:sidecar:startup";

/// E23. KP :: TestPodPhaseWithRestartNeverRestartableInitContainers
#[test]
fn e23_phase_with_restart_never_restartable_init_containers() {
    let rows = vec![
        Row {
            desc: "restartable init container running",
            init: &[Running],
            apps: &[Missing, Missing],
            terminal: false,
            want: Pending,
        },
        Row {
            desc: "restartable init container started, one main container running",
            init: &[Started],
            apps: &[Started, Missing],
            terminal: false,
            want: Pending,
        },
        // The sidecar is still up; decide() then completes the pod, which
        // ends Succeeded.
        Row {
            desc: "restartable init container started, main containers succeeded",
            init: &[Started],
            apps: &[Exited(0), Exited(0)],
            terminal: false,
            want: PRunning,
        },
        // The v1.30-era row. The newer getPhase lets a pending sidecar hold
        // the pod in Pending only while podHasInitialized
        // (HasAnyActiveRegularContainerStarted) is false; A and B ran in the
        // pod's current run (we have no sandbox re-creation), so it is true
        // and the newer rule gives Running too.
        Row {
            desc: "restartable init container re-running, main containers succeeded",
            init: &[Running],
            apps: &[Exited(0), Exited(0)],
            terminal: false,
            want: PRunning,
        },
        Row {
            desc: "all containers succeeded",
            init: &[Exited(0)],
            apps: &[Exited(0), Exited(0)],
            terminal: false,
            want: Succeeded,
        },
        Row {
            desc: "restartable init container terminated non-zero, main containers succeeded",
            init: &[Exited(-1)],
            apps: &[Exited(0), Exited(0)],
            terminal: false,
            want: Succeeded,
        },
        Row {
            desc: "backoff crashloop restartable init container, main containers succeeded",
            init: &[CrashLoop(0)],
            apps: &[Exited(0), Exited(0)],
            terminal: false,
            want: Succeeded,
        },
        Row {
            desc: "backoff crashloop with non-zero restartable init container, main containers succeeded",
            init: &[CrashLoop(-1)],
            apps: &[Exited(0), Exited(0)],
            terminal: false,
            want: Succeeded,
        },
    ];
    check("E23", "Never", &[E23_SIDECAR], &["a", "b"], rows);
}

/// E23. KP :: TestPodPhaseWithRestartAlwaysRestartableInitContainers
#[test]
fn e23_phase_with_restart_always_restartable_init_containers() {
    let rows = vec![
        Row {
            desc: "restartable init container running",
            init: &[Running],
            apps: &[Missing, Missing],
            terminal: false,
            want: Pending,
        },
        Row {
            desc: "restartable init container started, 1/2 regular container running",
            init: &[Started],
            apps: &[Started, Missing],
            terminal: false,
            want: Pending,
        },
        Row {
            desc: "restartable init container started, all regular containers running",
            init: &[Started],
            apps: &[Started, Started],
            terminal: false,
            want: PRunning,
        },
        Row {
            desc: "restartable init container stopped, all regular containers running",
            init: &[Exited(0)],
            apps: &[Started, Started],
            terminal: false,
            want: PRunning,
        },
        Row {
            desc: "backoff crashloop restartable init container, all regular containers running",
            init: &[CrashLoop(0)],
            apps: &[Started, Started],
            terminal: false,
            want: PRunning,
        },
        Row {
            desc: "all regular containers succeeded and restartable init container succeeded with restart always, but the pod is terminal",
            init: &[Exited(0)],
            apps: &[Exited(0), Exited(0)],
            terminal: true,
            want: Succeeded,
        },
        Row {
            desc: "all regular containers succeeded and restartable init container failed with restart always, but the pod is terminal",
            init: &[Exited(-1)],
            apps: &[Exited(0), Exited(0)],
            terminal: true,
            want: Succeeded,
        },
        Row {
            desc: "all regular containers succeeded and restartable init container in crashloop with restart always, but the pod is terminal",
            init: &[CrashLoop(-1)],
            apps: &[Exited(0), Exited(0)],
            terminal: true,
            want: Succeeded,
        },
    ];
    check("E23", "Always", &[E23_SIDECAR], &["a", "b"], rows);
}

/// E23. KP :: TestPodPhaseWithRestartAlwaysAndPodHasRun: regular init
/// container X, sidecar Y and regular container A. Y has a startup probe
/// that has not passed, as upstream's `runningState` has no `started`.
#[test]
fn e23_phase_with_restart_always_and_pod_has_run() {
    let rows = vec![
        Row {
            desc: "regular init containers, restartable init container and regular container are all running",
            init: &[Running, Running],
            apps: &[Started],
            terminal: false,
            want: Pending,
        },
        Row {
            desc: "regular containers is stopped, restartable init container and regular int container are both running",
            init: &[Running, Running],
            apps: &[Exited(0)],
            terminal: false,
            want: Pending,
        },
        Row {
            desc: "regular init container is succeeded, restartable init container is running, regular containers is stopped",
            init: &[Exited(0), Running],
            apps: &[Exited(0)],
            terminal: false,
            want: PRunning,
        },
        Row {
            desc: "regular init container is succeeded, restartable init container and regular containers are both running",
            init: &[Exited(0), Running],
            apps: &[Started],
            terminal: false,
            want: PRunning,
        },
    ];
    check("E23", "Always", &["x", "y:sidecar:startup"], &["a"], rows);
}
