//! E. Native sidecars (restartable init containers), part 1: start-up,
//! restarts and probes. Termination scenarios are in `termination.rs`.

use super::*;

fn restarts(p: &Pod, c: &str) -> i32 {
    status_of(p, c).restart_count
}

/// CL :: "using a Pod with restartPolicy=Never, three init container and two restartable init containers"
#[tokio::test]
async fn e1_mixed_init_and_sidecar_ordering() {
    let j = Journal::new();
    let init = [
        p("init-1", 1.0),
        p("restartable-init-1", 600.0).sidecar(),
        p("init-2", 1.0),
        p("restartable-init-2", 600.0).sidecar(),
        p("init-3", 1.0),
    ];
    let run = run_pod(&pod(&j, "Never", "", &init, &[p("regular-1", 1.0)])).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    // A sidecar without a startup probe counts as started once its process
    // runs, so its own "Started" line may land just after the next
    // container's "Starting": order by the runtime's Started events,
    // overlap by the journal.
    let t = |n: &str, e: &str| j.first(n, e);
    assert!(t("init-1", "Exiting") < t("restartable-init-1", "Starting"));
    assert!(t("restartable-init-1", "Started") < t("init-2", "Exiting"));
    assert!(t("init-2", "Exiting") < t("restartable-init-2", "Starting"));
    started_in_order(
        &run,
        &[
            "restartable-init-1",
            "init-2",
            "restartable-init-2",
            "init-3",
        ],
    );
    for side in ["restartable-init-1", "restartable-init-2"] {
        assert!(t(side, "Started") < t("init-3", "Exiting"), "{side}");
        run_together(&j, side, "regular-1");
        assert_eq!(j.count(side, "Exiting"), 0, "{side} ran until the end");
    }
    assert!(j.first("init-3", "Exiting") < j.first("regular-1", "Starting"));
}

async fn sidecar_does_not_block(policy: &str) {
    let j = Journal::new();
    let yaml = pod(
        &j,
        policy,
        "",
        &[p("sidecar", 600.0).sidecar()],
        &[p("regular-1", 1.0)],
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    has_not_restarted(&j, "sidecar");
    assert_eq!(j.count("regular-1", "Exiting"), 1);
}

/// CL :: "a restartable init container runs continuously" (Never)
#[tokio::test]
async fn e2_sidecar_does_not_block_completion_never() {
    sidecar_does_not_block("Never").await;
}

/// CL :: "a restartable init container runs continuously" (OnFailure)
#[tokio::test]
async fn e2_sidecar_does_not_block_completion_on_failure() {
    sidecar_does_not_block("OnFailure").await;
}

/// CL :: "a restartable init container runs continuously" (Always)
#[tokio::test]
async fn e2_sidecar_runs_continuously_always() {
    let j = Journal::new();
    let yaml = pod(
        &j,
        "Always",
        "",
        &[p("sidecar", 600.0).sidecar()],
        &[p("regular-1", 1.0)],
    );
    let st = start(&yaml, fast()).await;
    st.wait_for(LIMIT, "regular-1 restarted twice", |p| {
        restarts(p, "regular-1") >= 2
    })
    .await;
    assert_eq!(restarts(&st.pod(), "sidecar"), 0);
    st.stop().await;
    has_not_restarted(&j, "sidecar");
}

async fn sidecar_restarted_despite_never(exit: i32) {
    let j = Journal::new();
    let init = [p("sidecar", 5.0).exit(exit).sidecar(), p("init-1", 5.0)];
    let yaml = pod(&j, "Never", "", &init, &[p("regular-1", 60.0)]);
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    has_restarted(&j, "sidecar");
    let regular = j.first("regular-1", "Starting");
    let later = j
        .entries()
        .iter()
        .filter(|(t, n, e)| n == "sidecar" && e == "Starting" && *t > regular)
        .count();
    assert!(
        later >= 1,
        "restarted after regular-1 started: {:#?}",
        j.entries()
    );
    assert!(run.status("sidecar").restart_count >= 1);
}

/// CL :: "a restartable init container starts and exits with exit code 0 continuously"
#[tokio::test]
async fn e3_sidecar_restarted_despite_never_exit_0() {
    sidecar_restarted_despite_never(0).await;
}

/// CL :: "a restartable init container starts and exits with exit code 1 continuously"
#[tokio::test]
async fn e3_sidecar_restarted_despite_never_exit_1() {
    sidecar_restarted_despite_never(1).await;
}

fn init_before_sidecar_fails(j: &Journal, policy: &str) -> String {
    pod(
        j,
        policy,
        "",
        &[p("init-1", 1.0).exit(1), p("sidecar", 600.0).sidecar()],
        &[p("regular-1", 600.0)],
    )
}

/// CL :: "an Init container before restartable init container fails" (Never)
#[tokio::test]
async fn e4_init_before_sidecar_fails_never() {
    let j = Journal::new();
    let run = run_pod(&init_before_sidecar_fails(&j, "Never")).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert_eq!(j.count("init-1", "Exiting"), 1);
    doesnt_start(&j, "sidecar");
    doesnt_start(&j, "regular-1");
}

/// CL :: "an Init container before restartable init container continuously fails" (Always)
#[tokio::test]
async fn e4_init_before_sidecar_fails_always() {
    let j = Journal::new();
    let st = start(&init_before_sidecar_fails(&j, "Always"), fast()).await;
    st.wait_for(LIMIT, "init-1 restarted 3 times", |p| {
        restarts(p, "init-1") >= 3
    })
    .await;
    assert_eq!(phase(&st.pod()), "Pending");
    st.stop().await;
    doesnt_start(&j, "sidecar");
    doesnt_start(&j, "regular-1");
}

fn init_after_sidecar_fails(j: &Journal, policy: &str) -> String {
    pod(
        j,
        policy,
        "",
        &[
            p("sidecar", 5.0).exit(1).sidecar(),
            p("init-1", 1.0).exit(1),
        ],
        &[p("regular-1", 600.0)],
    )
}

/// CL :: "an Init container after restartable init container fails" (Never)
#[tokio::test]
async fn e5_init_after_sidecar_fails_never() {
    let j = Journal::new();
    let run = run_pod(&init_after_sidecar_fails(&j, "Never")).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    sidecar_runs_with(&j, &run, "sidecar", "init-1");
    doesnt_start(&j, "regular-1");
}

/// CL :: "an Init container after restartable init container fails" (Always)
#[tokio::test]
async fn e5_init_after_sidecar_fails_always() {
    let j = Journal::new();
    let st = start(&init_after_sidecar_fails(&j, "Always"), fast()).await;
    st.wait_for(LIMIT, "sidecar restarted 3 times, init-1 restarted", |p| {
        restarts(p, "sidecar") >= 3 && restarts(p, "init-1") >= 1
    })
    .await;
    assert_eq!(phase(&st.pod()), "Pending");
    st.stop().await;
    doesnt_start(&j, "regular-1");
}

/// CL :: "a restartable init container fails to start because of a bad image"
#[tokio::test]
async fn e6_sidecar_bad_image() {
    let j = Journal::new();
    let dir = tempfile::tempdir().unwrap();
    let yaml = pod(
        &j,
        "Always",
        "",
        &[p("sidecar", 600.0).sidecar()],
        &[p("regular-1", 1.0)],
    )
    .replacen(
        "image: busybox",
        &format!("image: {}", dir.path().join("bad.wasm").display()),
        1,
    );
    match create_error(&yaml, fast()).await {
        wasmpod::Error::Image { container, pod, .. } => {
            assert_eq!(container, "sidecar");
            let init = &pod
                .status
                .as_ref()
                .unwrap()
                .init_container_statuses
                .as_ref()
                .unwrap()[0];
            let waiting = init.state.as_ref().unwrap().waiting.as_ref().unwrap();
            assert_eq!(waiting.reason.as_deref(), Some("ErrImagePull"));
            assert_eq!(phase(&pod), "Pending");
        }
        other => panic!("unexpected error: {other}"),
    }
    doesnt_start(&j, "sidecar");
    doesnt_start(&j, "regular-1");
}

const STARTED_PROBE: &str = "periodSeconds: 1\n      failureThreshold: 60";

/// CL :: "should launch restartable init containers serially considering the startup probe"
#[tokio::test]
async fn e7_sidecar_startup_probe_gates_next() {
    let j = Journal::new();
    let ri = |n: &str| {
        p(n, 600.0).start(10.0).sidecar().probe(
            "startupProbe",
            "test -f /tmp/started",
            STARTED_PROBE,
        )
    };
    let yaml = pod(
        &j,
        "Never",
        "",
        &[ri("ri-1"), ri("ri-2")],
        &[p("regular-1", 1.0)],
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    starts_before(&j, "ri-1", "ri-2");
    starts_before(&j, "ri-2", "regular-1");
}

/// CL :: "should call the container's preStop hook and not launch next container if the restartable init container's startup probe fails"
#[tokio::test]
async fn e8_sidecar_startup_failure_restarts_and_blocks() {
    let j = Journal::new();
    let sidecar = p("sidecar", 600.0)
        .term(15.0)
        .sidecar()
        .pre_stop(1.0)
        .probe(
            "startupProbe",
            "exit 1",
            &format!(
                "initialDelaySeconds: {}\n      failureThreshold: 1",
                secs(5)
            ),
        );
    let yaml = pod(&j, "Always", "", &[sidecar], &[p("regular-1", 1.0)]);
    let st = start(&yaml, fast()).await;
    st.wait_for(LIMIT, "sidecar restarted twice", |p| {
        restarts(p, "sidecar") >= 2
    })
    .await;
    assert_eq!(phase(&st.pod()), "Pending");
    st.stop().await;
    run_together(&j, "sidecar", "PreStop-sidecar");
    doesnt_start(&j, "regular-1");
}

/// CL :: "should call the container's preStop hook and start the next container if the restartable init container's liveness probe fails"
#[tokio::test]
async fn e9_sidecar_liveness_failure() {
    let j = Journal::new();
    let sidecar = p("sidecar", 600.0)
        .term(15.0)
        .sidecar()
        .pre_stop(1.0)
        .probe(
            "livenessProbe",
            "exit 1",
            &format!(
                "initialDelaySeconds: {}\n      failureThreshold: 1",
                secs(5)
            ),
        );
    let yaml = pod(&j, "Always", "", &[sidecar], &[p("regular-1", 1.0)]);
    let st = start(&yaml, fast()).await;
    st.wait_for(LIMIT, "sidecar restarted twice, regular-1 once", |p| {
        restarts(p, "sidecar") >= 2 && restarts(p, "regular-1") >= 1
    })
    .await;
    st.stop().await;
    assert!(j.count("regular-1", "Started") >= 1);
    assert!(
        j.count("PreStop-sidecar", "Started") >= 1,
        "{:#?}",
        j.entries()
    );
    run_together(&j, "sidecar", "PreStop-sidecar");
}

/// CL :: "should continue probing and allow regular container to start after the restartable init container recovers"
#[tokio::test]
async fn e10_sidecar_recovers() {
    let j = Journal::new();
    let script = format!(
        "{}; if test -f /journal/marker; then sleep {}; else touch /journal/marker; exit 1; fi",
        Journal::note("sidecar", "Starting"),
        s(120.0)
    );
    let sidecar = format!(
        "  - name: sidecar\n    image: busybox\n    restartPolicy: Always\n    startupProbe:\n      exec: {{command: ['true']}}\n      initialDelaySeconds: {}\n      periodSeconds: 1\n      failureThreshold: 10\n    command: ['sh', '-c', '{script}']\n{JOURNAL_MOUNT}",
        secs(3)
    );
    let regular = p("regular-1", 600.0).probe("startupProbe", "true", "periodSeconds: 1");
    let yaml = pod(&j, "Never", "", &[], &[regular]).replace(
        "  containers:\n",
        &format!("  initContainers:\n{sidecar}  containers:\n"),
    );
    let st = start(&yaml, fast()).await;
    st.wait_for(LIMIT, "regular-1 running", |p| is_running(p, "regular-1"))
        .await;
    let pod = st.pod();
    assert!(restarts(&pod, "sidecar") > 0);
    assert!(is_running(&pod, "sidecar"));
    st.stop().await;
    has_restarted(&j, "sidecar");
}
