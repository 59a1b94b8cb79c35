//! Ports of the kubelet's `computePodActions` unit tables
//! (pkg/kubelet/kuberuntime/kuberuntime_manager_test.go, "KM" in
//! shared/reference/kubernetes-conformance-scenarios.md, scenarios B5 and
//! E22) as tables over [`decide`]. Row descriptions are the upstream ones.
//!
//! Mapping: `ContainersToStart`/`InitContainersToStart` are our
//! [`Action::Start`]s (init containers first, each list in spec order);
//! `KillPod` with nothing to start is [`Decision::complete`]. We have no pod
//! sandbox and no container hash (a pod's spec is fixed for its life), so
//! rows about a dead sandbox or a changed spec have no counterpart. Kills
//! on a liveness or startup probe failure are the driver's (it kills the
//! container, preStop first); decide() then sees the container exited and
//! restarts it, so such rows are modelled as "exited 137 after the kill".

use tokio::time::Instant;

use super::Cs::{Exited, Missing, Running, Started};
use super::{Cs, backoff, observe, plan};
use crate::supervisor::{Action, Slot, decide};

use Slot::{Init as I, Regular as R};

/// One row: the pod policy, the containers' states, the containers
/// expected to start (in order) and whether the pod is done.
struct Row {
    desc: &'static str,
    policy: &'static str,
    init: &'static [Cs],
    apps: &'static [Cs],
    start: &'static [Slot],
    complete: bool,
}

fn check(id: &str, init: &[&str], apps: &[&str], rows: Vec<Row>) {
    for r in rows {
        let p = plan(r.policy, init, apps);
        let obs = observe(&p, r.init, r.apps);
        let d = decide(&p, &obs, &backoff(), Instant::now());
        let want: Vec<Action> = r.start.iter().map(|s| Action::Start(*s)).collect();
        let ctx = format!("{id} ({}): {}", r.policy, r.desc);
        assert_eq!(d.actions, want, "{ctx}: actions");
        assert_eq!(d.complete, r.complete, "{ctx}: complete (KillPod)");
        assert!(!d.init_failed, "{ctx}: init_failed");
    }
}

/// B5. KM :: TestComputePodActions: regular containers foo1..3, by default
/// all running.
#[test]
fn b5_compute_pod_actions() {
    let rows = vec![
        Row {
            desc: "everything is good; do nothing",
            policy: "Always",
            init: &[],
            apps: &[Started, Started, Started],
            start: &[],
            complete: false,
        },
        // Upstream also creates the sandbox; for us this is "start all".
        Row {
            desc: "start pod sandbox and all containers for a new pod",
            policy: "Always",
            init: &[],
            apps: &[Missing, Missing, Missing],
            start: &[R(0), R(1), R(2)],
            complete: false,
        },
        Row {
            desc: "restart exited containers if RestartPolicy == Always",
            policy: "Always",
            init: &[],
            apps: &[Exited(0), Exited(111), Started],
            start: &[R(0), R(1)],
            complete: false,
        },
        Row {
            desc: "restart failed containers if RestartPolicy == OnFailure",
            policy: "OnFailure",
            init: &[],
            apps: &[Exited(0), Exited(111), Started],
            start: &[R(1)],
            complete: false,
        },
        // Our starts are atomic: a created-but-not-started container is one
        // that never ran.
        Row {
            desc: "restart created but not started containers if RestartPolicy == OnFailure",
            policy: "OnFailure",
            init: &[],
            apps: &[Exited(0), Missing, Started],
            start: &[R(1)],
            complete: false,
        },
        Row {
            desc: "don't restart containers if RestartPolicy == Never",
            policy: "Never",
            init: &[],
            apps: &[Exited(0), Exited(111), Started],
            start: &[],
            complete: false,
        },
        // Left out: "Kill pod and recreate everything if the pod sandbox is
        // dead, and RestartPolicy == Always", "Kill pod and recreate all
        // containers (except for the succeeded one) if the pod sandbox is
        // dead, and RestartPolicy == OnFailure" and "Kill pod and recreate
        // all containers if the PodSandbox does not have an IP": we have no
        // sandbox that can die under running containers.
        // Left out: "Kill and recreate the container if the container's spec
        // changed": no container hash; a pod's spec is fixed for its life.
        Row {
            desc: "Kill and recreate the container if the liveness check has failed (exited after the kill)",
            policy: "Always",
            init: &[],
            apps: &[Started, Exited(137), Started],
            start: &[R(1)],
            complete: false,
        },
        Row {
            desc: "Kill and recreate the container if the startup check has failed (exited after the kill)",
            policy: "Always",
            init: &[],
            apps: &[Started, Exited(137), Started],
            start: &[R(1)],
            complete: false,
        },
        // The three "no ready sandbox" rows: the sandbox part has no
        // counterpart, but the answer (kill the pod and start nothing, or
        // start everything when nothing ever ran) is decide()'s.
        Row {
            desc: "Verify we do not create a pod sandbox if no ready sandbox for pod with RestartPolicy=Never and all containers exited",
            policy: "Never",
            init: &[],
            apps: &[Exited(0), Exited(0), Exited(0)],
            start: &[],
            complete: true,
        },
        Row {
            desc: "Verify we do not create a pod sandbox if no ready sandbox for pod with RestartPolicy=OnFailure and all containers succeeded",
            policy: "OnFailure",
            init: &[],
            apps: &[Exited(0), Exited(0), Exited(0)],
            start: &[],
            complete: true,
        },
        Row {
            desc: "Verify we create a pod sandbox if no ready sandbox for pod with RestartPolicy=Never and no containers have ever been created",
            policy: "Never",
            init: &[],
            apps: &[Missing, Missing, Missing],
            start: &[R(0), R(1), R(2)],
            complete: false,
        },
        // Left out: "Kill and recreate the container if the container is in
        // unknown state": we always know whether an instance runs.
        Row {
            desc: "Restart the container if the container is in created state",
            policy: "Never",
            init: &[],
            apps: &[Started, Missing, Started],
            start: &[R(1)],
            complete: false,
        },
    ];
    check("B5", &[], &["foo1", "foo2", "foo3"], rows);
}

/// E22. KM :: TestComputePodActionsWithRestartableInitContainers: sidecars
/// restartable-init-1 (no probes), -2 and -3 (startup and liveness probes),
/// by default all running and started, and regular containers foo1..3 with
/// no status. Liveness results do not enter decide() (only the driver acts
/// on them), so the "livenessProbe …" rows share one observed state.
#[test]
fn e22_compute_pod_actions_with_restartable_init_containers() {
    const ALL_STARTED: &[Cs] = &[Started, Started, Started];
    const NONE: &[Cs] = &[Missing, Missing, Missing];
    let rows = vec![
        Row {
            desc: "initialization completed; start all containers",
            policy: "Always",
            init: ALL_STARTED,
            apps: NONE,
            start: &[R(0), R(1), R(2)],
            complete: false,
        },
        Row {
            desc: "no init containers have been started; start the first one",
            policy: "Always",
            init: NONE,
            apps: NONE,
            start: &[I(0)],
            complete: false,
        },
        // Our starts are atomic: a container stuck in "created" is one that
        // never ran.
        Row {
            desc: "an init container is stuck in the created state; restart it",
            policy: "Always",
            init: &[Started, Started, Missing],
            apps: NONE,
            start: &[I(2)],
            complete: false,
        },
        Row {
            desc: "restartable init container has started; start the next",
            policy: "Always",
            init: &[Started, Missing, Missing],
            apps: NONE,
            start: &[I(1)],
            complete: false,
        },
        Row {
            desc: "livenessProbe has not been run; start the nothing",
            policy: "Always",
            init: &[Started, Started, Missing],
            apps: NONE,
            start: &[I(2)],
            complete: false,
        },
        Row {
            desc: "livenessProbe in progress; start the next",
            policy: "Always",
            init: &[Started, Started, Missing],
            apps: NONE,
            start: &[I(2)],
            complete: false,
        },
        Row {
            desc: "livenessProbe has completed; start the next",
            policy: "Always",
            init: &[Started, Started, Missing],
            apps: NONE,
            start: &[I(2)],
            complete: false,
        },
        // Upstream kills and restarts -3 in the same sync in which it still
        // counts as started, so it also starts foo1..3. Here the driver has
        // killed it; once exited, -3 no longer counts as started (upstream
        // gives the same answer for an exited -3) and the regular containers
        // start when the restarted -3 has started.
        Row {
            desc: "kill and recreate the restartable init container if the liveness check has failed (exited after the kill)",
            policy: "Always",
            init: &[Started, Started, Exited(137)],
            apps: NONE,
            start: &[I(2)],
            complete: false,
        },
        // "Not run" and "in progress" (Unknown) are both "not passed" for us.
        Row {
            desc: "startupProbe has not been run; do nothing",
            policy: "Always",
            init: &[Started, Running, Missing],
            apps: NONE,
            start: &[],
            complete: false,
        },
        Row {
            desc: "startupProbe in progress; do nothing",
            policy: "Always",
            init: &[Started, Running, Missing],
            apps: NONE,
            start: &[],
            complete: false,
        },
        Row {
            desc: "startupProbe has completed; start the next",
            policy: "Always",
            init: &[Started, Started, Missing],
            apps: NONE,
            start: &[I(2)],
            complete: false,
        },
        Row {
            desc: "kill and recreate the restartable init container if the startup check has failed (exited after the kill)",
            policy: "Always",
            init: &[Started, Started, Exited(137)],
            apps: NONE,
            start: &[I(2)],
            complete: false,
        },
        // Left out: "kill and recreate the restartable init container if the
        // container definition changes": no container hash; a pod's spec is
        // fixed for its life.
        Row {
            desc: "restart terminated restartable init container and next init container",
            policy: "Always",
            init: &[Exited(0), Started, Exited(0)],
            apps: NONE,
            start: &[I(0), I(2)],
            complete: false,
        },
        Row {
            desc: "restart terminated restartable init container and regular containers",
            policy: "Always",
            init: &[Exited(0), Started, Started],
            apps: NONE,
            start: &[I(0), R(0), R(1), R(2)],
            complete: false,
        },
        // Left out: the four "Pod sandbox not ready, …" rows: we have no
        // sandbox that can die under running containers.
        Row {
            desc: "initialization failed; restart the last restartable init container even if pod's RestartPolicy == Never",
            policy: "Never",
            init: &[Started, Started, Exited(137)],
            apps: NONE,
            start: &[I(2)],
            complete: false,
        },
        // Left out: "restartable init container state unknown; kill and
        // recreate the last restartable init container even if pod's
        // RestartPolicy == Never": we always know whether an instance runs.
        Row {
            desc: "restart restartable init container if regular containers are running even if pod's RestartPolicy == Never",
            policy: "Never",
            init: &[Started, Started, Exited(137)],
            apps: &[Started, Started, Started],
            start: &[I(2)],
            complete: false,
        },
        Row {
            desc: "kill the pod if all main containers succeeded if pod's RestartPolicy == Never",
            policy: "Never",
            init: ALL_STARTED,
            apps: &[Exited(0), Exited(0), Exited(0)],
            start: &[],
            complete: true,
        },
        // Records never disappear here, but one that never ran reads the same.
        Row {
            desc: "some of the init container statuses are missing but the last init container is running, restart restartable init and regular containers",
            policy: "Always",
            init: &[Missing, Missing, Started],
            apps: NONE,
            start: &[I(0), I(1), R(0), R(1), R(2)],
            complete: false,
        },
    ];
    check(
        "E22",
        &[
            "restartable-init-1:sidecar",
            "restartable-init-2:sidecar:startup:liveness",
            "restartable-init-3:sidecar:startup:liveness",
        ],
        &["foo1", "foo2", "foo3"],
        rows,
    );
}
