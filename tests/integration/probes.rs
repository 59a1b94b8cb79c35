//! Startup, liveness and readiness probes (exec, tcpSocket, httpGet).

use std::time::Duration;

use crate::support::*;

#[tokio::test]
async fn sidecar_startup_probe_gates_the_next_container() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: gate}\nspec:\n  restartPolicy: Never\n  initContainers:\n  - name: side\n    image: busybox\n    restartPolicy: Always\n    command: ['sh', '-c', 'sleep 1; touch /tmp/ready; while true; do sleep 1; done']\n    startupProbe:\n      exec: {command: [test, -f, /tmp/ready]}\n      periodSeconds: 1\n      failureThreshold: 30\n  containers:\n  - name: app\n    image: busybox\n    command: ['echo', 'app ran']\n";
    let run = run_pod(yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let pos = |c: &str, reason: &str| {
        run.events
            .iter()
            .position(|e| e.container.as_deref() == Some(c) && e.reason == reason)
    };
    // The startup probe failed at least once (the file is made after 1 s),
    // and the app started only after that.
    let first_failure = pos("side", "Unhealthy").expect("an early startup probe failure");
    assert!(
        first_failure < pos("app", "Started").unwrap(),
        "{}",
        run.dump()
    );
    assert_eq!(run.lines("app"), ["app ran"]);
}

#[tokio::test]
async fn liveness_failure_kills_and_restarts_the_container() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: live}\nspec:\n  restartPolicy: OnFailure\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'test -f /tmp/second && exit 0; touch /tmp/second; sleep 60']\n    livenessProbe:\n      exec: {command: ['false']}\n      periodSeconds: 1\n      failureThreshold: 2\n";
    // The private root is reset per instance, so the restarted instance
    // sleeps again; stop once the restart is seen.
    let pod = start(yaml, options()).await;
    pod.wait_for(
        Duration::from_secs(60),
        "a restart after the liveness failure",
        |p| status_of(p, "app").restart_count >= 1,
    )
    .await;
    let run = pod.stop().await;
    let killing: Vec<String> = run
        .events
        .iter()
        .filter(|e| e.reason == "Killing")
        .map(|e| e.message.clone())
        .collect();
    assert!(
        killing
            .iter()
            .any(|m| m == "Container app failed liveness probe, will be restarted"),
        "{}",
        run.dump()
    );
    let last = run
        .status("app")
        .last_state
        .unwrap()
        .terminated
        .expect("lastState");
    assert_eq!(last.exit_code, 143, "killed without a TERM handler");
    assert!(
        run.events
            .iter()
            .any(|e| e.reason == "Unhealthy" && e.message.starts_with("Liveness probe failed"))
    );
}

#[tokio::test]
async fn readiness_drives_ready_and_the_ready_conditions() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: ready}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'sleep 1; touch /tmp/ready; sleep 2; rm /tmp/ready; sleep 60']\n    readinessProbe:\n      exec: {command: [test, -f, /tmp/ready]}\n      periodSeconds: 1\n      failureThreshold: 1\n";
    let pod = start(yaml, options()).await;
    let ready = |p: &k8s_openapi::api::core::v1::Pod| status_of(p, "app").ready;
    let condition = |p: &k8s_openapi::api::core::v1::Pod, t: &str| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == t))
            .map(|c| c.status.clone())
    };
    assert!(!ready(&pod.pod()), "not ready before the first success");
    pod.wait_for(Duration::from_secs(30), "ready", |p| {
        ready(p) && condition(p, "Ready").as_deref() == Some("True")
    })
    .await;
    assert_eq!(
        condition(&pod.pod(), "ContainersReady").as_deref(),
        Some("True")
    );
    pod.wait_for(Duration::from_secs(30), "not ready again", |p| {
        !ready(p) && condition(p, "Ready").as_deref() == Some("False")
    })
    .await;
    let p = pod.pod();
    assert_eq!(
        status_of(&p, "app").restart_count,
        0,
        "readiness never restarts"
    );
    assert_eq!(p.status.as_ref().unwrap().phase.as_deref(), Some("Running"));
    pod.stop().await;
}

#[tokio::test]
async fn http_and_tcp_probes_reach_the_pods_port() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: web\n    image: nginx\n    args: ['-p', '8080']\n    ports: [{name: http, containerPort: 8080}]\n    readinessProbe:\n      httpGet: {path: /healthz, port: http}\n      periodSeconds: 1\n    livenessProbe:\n      tcpSocket: {port: 8080}\n      periodSeconds: 1\n";
    let pod = start(yaml, options()).await;
    pod.wait_for(Duration::from_secs(30), "web ready through httpGet", |p| {
        status_of(p, "web").ready
    })
    .await;
    let run = pod.stop().await;
    assert!(
        run.lines("web")
            .iter()
            .any(|l| l.contains("GET /healthz") && l.contains(" 200 ")),
        "{}",
        run.dump()
    );
    assert_eq!(
        run.status("web").restart_count,
        0,
        "the tcpSocket liveness probe passed"
    );
}

#[tokio::test]
async fn readiness_keeps_running_during_termination() {
    // On TERM the guest stops being ready but keeps running until its grace
    // ends; the readiness probe notices while the container terminates.
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: draining}\nspec:\n  terminationGracePeriodSeconds: 4\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'trap \"rm /tmp/ready\" TERM; touch /tmp/ready; while true; do sleep 0.1; done']\n    readinessProbe:\n      exec: {command: [test, -f, /tmp/ready]}\n      periodSeconds: 1\n      failureThreshold: 1\n";
    let pod = start(yaml, options()).await;
    pod.wait_for(Duration::from_secs(30), "ready", |p| {
        status_of(p, "app").ready
    })
    .await;
    pod.handle.stop();
    pod.wait_for(
        Duration::from_secs(30),
        "not ready while still running",
        |p| {
            let s = status_of(p, "app");
            !s.ready && s.state.as_ref().is_some_and(|st| st.running.is_some())
        },
    )
    .await;
    let run = pod.finish(Duration::from_secs(60)).await;
    assert_eq!(
        run.exit_code("app"),
        137,
        "killed at the end of its grace period"
    );
}

#[tokio::test]
async fn readiness_gates_hold_ready_until_their_conditions_are_true() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: gated}\nspec:\n  readinessGates: [{conditionType: example.com/registered}]\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'sleep 60']\n";
    let st = start(yaml, options()).await;
    let ready = |p: &k8s_openapi::api::core::v1::Pod| {
        let c = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "Ready")?;
        Some((c.status, c.reason, c.message))
    };
    let limit = std::time::Duration::from_secs(30);
    st.wait_for(limit, "ContainersReady", |p| {
        status_of(p, "app").ready && ready(p).is_some_and(|(_, reason, _)| reason.is_some())
    })
    .await;
    assert_eq!(
        ready(&st.pod()),
        Some((
            "False".into(),
            Some("ReadinessGatesNotReady".into()),
            Some(
                "corresponding condition of pod readiness gate \"example.com/registered\" does not exist."
                    .into()
            )
        ))
    );
    assert!(matches!(
        st.handle.set_condition("Ready", true, None, None),
        Err(wasmpod::Error::KubeletCondition { .. })
    ));
    st.handle
        .set_condition("example.com/registered", true, Some("Registered"), None)
        .unwrap();
    st.wait_for(limit, "Ready", |p| {
        ready(p).is_some_and(|(status, _, _)| status == "True")
    })
    .await;
    let run = st.stop().await;
    let conditions = run.outcome.pod.status.clone().unwrap().conditions.unwrap();
    let gate = conditions
        .iter()
        .find(|c| c.type_ == "example.com/registered")
        .expect("the condition is part of the status");
    assert_eq!(gate.reason.as_deref(), Some("Registered"));
}

#[tokio::test]
async fn a_readiness_gate_set_before_the_start_counts() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: gated}\nspec:\n  readinessGates: [{conditionType: example.com/registered}]\n  containers:\n  - name: app\n    image: busybox\n    command: ['sh', '-c', 'sleep 60']\n";
    let st = start_after(yaml, options(), |handle| {
        handle
            .set_condition("example.com/registered", true, None, None)
            .unwrap();
    })
    .await;
    st.wait_for(std::time::Duration::from_secs(30), "Ready", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
    .await;
    st.stop().await;
}
