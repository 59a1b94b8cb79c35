//! A. Init containers.

use super::*;

fn waiting(p: &Pod, c: &str) -> Option<String> {
    waiting_reason(p, c)
}

fn exit0(name: &str) -> P {
    p(name, 0.0)
}

/// IC :: "should invoke init containers on a RestartNever pod"
#[tokio::test]
async fn a1_init_never_all_succeed() {
    let j = Journal::new();
    let yaml = pod(
        &j,
        "Never",
        "",
        &[exit0("init1"), exit0("init2")],
        &[exit0("run1")],
    );
    let st = start(&yaml, fast()).await;
    // Invariant while init is incomplete: run1 waits PodInitializing with 0
    // restarts, and Initialized never goes True -> False nor Unknown.
    let mut rx = st.handle.watch();
    let watcher = tokio::spawn(async move {
        let mut was_true = false;
        loop {
            let p = rx.borrow_and_update().clone();
            if let Some((status, _, _)) = condition(&p, "Initialized") {
                assert_ne!(status, "Unknown");
                assert!(
                    !(was_true && status == "False"),
                    "Initialized went back to False"
                );
                was_true |= status == "True";
                if status == "False" && !phase(&p).is_empty() {
                    let s = status_of(&p, "run1");
                    assert_eq!(waiting(&p, "run1").as_deref(), Some("PodInitializing"));
                    assert_eq!(s.restart_count, 0);
                }
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    });
    let run = st.finish(LIMIT).await;
    watcher.await.expect("invariants hold");
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.condition("Initialized").0, "True");
    for c in ["init1", "init2"] {
        let s = run.status(c);
        assert_eq!((terminated_code(&s), s.ready), (Some(0), true), "{c}");
    }
}

/// IC :: "should invoke init containers on a RestartAlways pod"
#[tokio::test]
async fn a2_init_always_succeed() {
    let j = Journal::new();
    let yaml = pod(
        &j,
        "Always",
        "",
        &[exit0("init1"), exit0("init2")],
        &[p("run1", 6000.0)],
    );
    let st = start(&yaml, fast()).await;
    st.wait_for(LIMIT, "Running", |p| phase(p) == "Running")
        .await;
    let pod = st.pod();
    assert_eq!(condition(&pod, "Initialized").unwrap().0, "True");
    for c in ["init1", "init2"] {
        let s = status_of(&pod, c);
        assert_eq!((terminated_code(&s), s.ready), (Some(0), true), "{c}");
    }
    assert!(is_running(&pod, "run1"));
    st.stop().await;
}

/// IC :: "should not start app containers if init containers fail on a RestartAlways pod"
#[tokio::test]
async fn a3_init_always_failing_init_loops() {
    let j = Journal::new();
    let yaml = pod(
        &j,
        "Always",
        "",
        &[exit0("init1").exit(1), exit0("init2")],
        &[p("run1", 6000.0)],
    );
    let st = start(&yaml, fast()).await;
    st.wait_for(LIMIT, "init1 restarted 3 times", |p| {
        status_of(p, "init1").restart_count >= 3
    })
    .await;
    let pod = st.pod();
    let init1 = status_of(&pod, "init1");
    assert_eq!(init1.last_state.unwrap().terminated.unwrap().exit_code, 1);
    assert_eq!(waiting(&pod, "init2").as_deref(), Some("PodInitializing"));
    assert_eq!(waiting(&pod, "run1").as_deref(), Some("PodInitializing"));
    assert_eq!(phase(&pod), "Pending");
    assert_eq!(
        condition(&pod, "Initialized").unwrap(),
        (
            "False".into(),
            Some("ContainersNotInitialized".into()),
            Some("containers with incomplete status: [init1 init2]".into())
        )
    );
    st.stop().await;
    doesnt_start(&j, "init2");
    doesnt_start(&j, "run1");
}

/// IC :: "should not start app containers and fail the pod if init containers fail on a RestartNever pod"
#[tokio::test]
async fn a4_init_never_failing_init_fails_pod() {
    let j = Journal::new();
    let yaml = pod(
        &j,
        "Never",
        "",
        &[exit0("init1"), exit0("init2").exit(1)],
        &[p("run1", 6000.0)],
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert_eq!(run.exit_code("init1"), 0);
    assert_ne!(run.exit_code("init2"), 0);
    let (status, reason, message) = run.condition("Initialized");
    assert_eq!(
        (status.as_str(), reason.as_deref(), message.as_deref()),
        (
            "False",
            Some("ContainersNotInitialized"),
            Some("containers with incomplete status: [init2]")
        )
    );
    assert!(waiting(&run.outcome.pod, "run1").is_some());
    assert!(!run.started("run1"));
    doesnt_start(&j, "run1");
}

/// CL :: "should launch init container serially before a regular container"
#[tokio::test]
async fn a5_init_serial_order() {
    let j = Journal::new();
    let startup = "periodSeconds: 1\n      failureThreshold: 30";
    let regular =
        p("regular-1", 1.0)
            .start(5.0)
            .probe("startupProbe", "test -f /tmp/started", startup);
    let yaml = pod(
        &j,
        "Never",
        "",
        &[p("init-1", 1.0), p("init-2", 1.0), p("init-3", 1.0)],
        &[regular],
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    for (a, b) in [
        ("init-1", "init-2"),
        ("init-2", "init-3"),
        ("init-3", "regular-1"),
    ] {
        starts_before(&j, a, b);
        exits_before(&j, a, b);
    }
}

/// CL :: "should not launch regular containers if an init container fails"
#[tokio::test]
async fn a6_init_failure_blocks_regular() {
    let j = Journal::new();
    let yaml = pod(
        &j,
        "Never",
        "",
        &[p("init-1", 1.0).exit(1)],
        &[p("regular-1", 1.0)],
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert_eq!(j.count("init-1", "Started"), 1);
    assert_eq!(j.count("init-1", "Exiting"), 1);
    doesnt_start(&j, "regular-1");
}

/// CL :: "should run Init container to completion before call to PostStart of regular container"
#[tokio::test]
async fn a7_init_completes_before_poststart() {
    let j = Journal::new();
    let regular = p("regular-1", 10.0).post_start(1.0);
    let yaml = pod(&j, "Never", "", &[p("init-1", 1.0)], &[regular]);
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    starts_before(&j, "init-1", "PostStart-regular-1");
    exits_before(&j, "init-1", "PostStart-regular-1");
    hook_runs_during(&j, "regular-1", "PostStart-regular-1");
}

/// CL :: "shouldn't restart init containers upon regular container restart"
#[tokio::test]
async fn a8_init_not_rerun_on_regular_restart() {
    let j = Journal::new();
    let yaml = pod(
        &j,
        "Always",
        "",
        &[p("init-1", 1.0), p("init-2", 1.0), p("init-3", 1.0)],
        &[p("regular-1", 10.0).exit(255)],
    );
    let st = start(&yaml, fast()).await;
    st.wait_for(LIMIT, "regular-1 restarted 3 times", |p| {
        status_of(p, "regular-1").restart_count >= 3
    })
    .await;
    let run = st.stop().await;
    for (a, b) in [
        ("init-1", "init-2"),
        ("init-2", "init-3"),
        ("init-3", "regular-1"),
    ] {
        starts_before(&j, a, b);
        exits_before(&j, a, b);
    }
    for c in ["init-1", "init-2", "init-3"] {
        has_not_restarted(&j, c);
        assert_eq!(run.status(c).restart_count, 0);
    }
    has_restarted(&j, "regular-1");
    let last = run
        .status("regular-1")
        .last_state
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(last.exit_code, 255);
}

/// CL :: "an init container fails to start because of a bad image" ("should not start an init container", "should not start a regular container")
#[tokio::test]
async fn a9_init_bad_image() {
    let j = Journal::new();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wasm");
    let yaml = pod(&j, "Never", "", &[p("init1", 1.0)], &[p("regular-1", 1.0)]).replacen(
        "image: busybox",
        &format!("image: {}", missing.display()),
        1,
    );
    match create_error(&yaml, fast()).await {
        wasmpod::Error::Image { container, pod, .. } => {
            assert_eq!(container, "init1");
            // The Wasm equivalent of ImagePullBackOff: the load failure's reason.
            assert_eq!(waiting(&pod, "init1").as_deref(), Some("ErrImagePull"));
            assert!(waiting(&pod, "regular-1").is_some());
            assert_eq!(phase(&pod), "Pending");
        }
        other => panic!("unexpected error: {other}"),
    }
    doesnt_start(&j, "init1");
    doesnt_start(&j, "regular-1");
}
