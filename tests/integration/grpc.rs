//! gRPC probes end to end: readiness follows the health status the server
//! reports, and each kind of failure reads as the kubelet writes it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(30);

fn agnhost(flags: &str, probe: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: grpc}}\nspec:\n  containers:\n  - name: app\n    image: agnhost\n    args: [grpc-health-checking{flags}]\n{probe}"
    )
}

fn ready(p: &k8s_openapi::api::core::v1::Pod) -> bool {
    status_of(p, "app").ready
}

/// GETs `path` from the pod's port 8080 (agnhost's control server).
async fn control(st: &Started, path: &str) -> String {
    let mut stream = st.handle.connect(8080).await.expect("control server");
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn readiness_follows_the_served_health_status() {
    let probe = "    readinessProbe:\n      grpc: {port: 5000}\n      periodSeconds: 1\n      failureThreshold: 1\n";
    let st = start(&agnhost("", probe), options()).await;
    st.wait_for(LIMIT, "ready", ready).await;
    assert!(
        control(&st, "/make-not-serving")
            .await
            .starts_with("HTTP/1.1 200")
    );
    st.wait_for(LIMIT, "not ready", |p| !ready(p)).await;
    assert_eq!(
        st.pod()
            .status
            .and_then(|s| s.conditions)
            .and_then(|c| c.into_iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status)
            .as_deref(),
        Some("False")
    );
    control(&st, "/make-serving").await;
    st.wait_for(LIMIT, "ready again", ready).await;
    let run = st.stop().await;
    assert!(
        run.event_messages("app", "Unhealthy")
            .iter()
            .any(|m| m
                == "Readiness probe failed: service unhealthy (responded with \"NOT_SERVING\")"),
        "{}",
        run.dump()
    );
    assert_eq!(run.status("app").restart_count, 0);
}

/// Runs `probe` as a readiness probe until it has failed once with the server up; the
/// message. On a loaded machine a probe can run before the server listens: those failures
/// ("failed to connect service") are not the one asked about, and are skipped.
async fn first_failure(yaml: &str) -> String {
    let st = start(yaml, options()).await;
    let mut events = st.handle.events();
    let message = tokio::time::timeout(LIMIT, async {
        loop {
            let e = events.recv().await.expect("events");
            if e.reason == "Unhealthy" && !e.message.contains("failed to connect service") {
                return e.message;
            }
        }
    })
    .await
    .expect("a failed probe");
    st.stop().await;
    message
}

#[tokio::test]
async fn failures_read_as_the_kubelet_writes_them() {
    let unknown = agnhost(
        ", --service=db",
        "    readinessProbe:\n      grpc: {port: 5000, service: cache}\n      periodSeconds: 1\n",
    );
    assert_eq!(
        first_failure(&unknown).await,
        "Readiness probe failed: error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"
    );
    let named = agnhost(
        ", --service=db",
        "    readinessProbe:\n      grpc: {port: 5000, service: db}\n      periodSeconds: 1\n      failureThreshold: 1\n",
    );
    let st = start(&named, options()).await;
    st.wait_for(LIMIT, "ready for the named service", ready)
        .await;
    st.stop().await;
    // An HTTP/1.1 server is no gRPC server.
    let http = "apiVersion: v1\nkind: Pod\nmetadata: {name: grpc}\nspec:\n  containers:\n  - name: app\n    image: nginx\n    args: ['-p', '8080']\n    readinessProbe:\n      grpc: {port: 8080}\n      periodSeconds: 1\n";
    let message = first_failure(http).await;
    assert!(
        message.starts_with(
            "Readiness probe failed: error: health rpc probe failed: rpc error: code = Unavailable"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn a_server_turning_unhealthy_is_restarted() {
    let probe = "    livenessProbe:\n      grpc: {port: 5000}\n      periodSeconds: 1\n      failureThreshold: 1\n";
    let st = start(&agnhost(", --delay-unhealthy-sec=1", probe), options()).await;
    st.wait_for(LIMIT, "a restart", |p| {
        status_of(p, "app").restart_count >= 1
    })
    .await;
    let run = st.stop().await;
    assert!(
        run.lines("app")
            .iter()
            .any(|l| l.contains("serving gRPC health on 127.0.0.1:5000")),
        "{}",
        run.dump()
    );
}
