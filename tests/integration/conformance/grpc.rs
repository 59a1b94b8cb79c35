//! D4, gRPC variants: the kubelet's gRPC prober against Kubernetes' own
//! test server, `agnhost grpc-health-checking` (gRPC health on 5000,
//! HTTP control on 8080), which wasmpod ships as a builtin image.

use super::*;

/// upstream's `gRPCServerPodSpec`, with `probe` under the container.
fn grpc_pod(probe: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: grpc}}\nspec:\n  containers:\n  - name: agnhost\n    image: registry.k8s.io/e2e-test-images/agnhost:2.53\n    command: [/agnhost, grpc-health-checking]\n    ports: [{{containerPort: 5000}}, {{containerPort: 8080}}]\n{probe}"
    )
}

fn liveness(port: u16) -> String {
    format!(
        "    livenessProbe:\n      grpc: {{port: {port}}}\n      initialDelaySeconds: {}\n      timeoutSeconds: {}\n      failureThreshold: 1\n",
        secs(15),
        secs(5)
    )
}

fn restarts(p: &Pod) -> i32 {
    status_of(p, "agnhost").restart_count
}

/// PR :: "should *not* be restarted with a GRPC liveness probe"
#[tokio::test]
async fn d4_grpc_liveness_not_restarted() {
    let st = start(&grpc_pod(&liveness(5000)), fast()).await;
    st.wait_for(LIMIT, "running", |p| is_running(p, "agnhost"))
        .await;
    // initialDelay (2 s) plus several 1 s periods of SERVING answers.
    never_within(&st, Duration::from_secs(6), "a restart", |p| {
        restarts(p) > 0
    })
    .await;
    let run = st.stop().await;
    assert!(
        run.event_messages("agnhost", "Unhealthy").is_empty(),
        "{}",
        run.dump()
    );
}

/// PR :: "should be restarted with a GRPC liveness probe" (port 2333: nothing listens)
#[tokio::test]
async fn d4_grpc_liveness_restarted() {
    let st = start(&grpc_pod(&liveness(2333)), fast()).await;
    st.wait_for(LIMIT, "a restart", |p| restarts(p) >= 1).await;
    let run = st.stop().await;
    let unhealthy = run.event_messages("agnhost", "Unhealthy");
    assert_eq!(
        unhealthy.first().map(String::as_str),
        Some(
            "Liveness probe failed: timeout: failed to connect service \"127.0.0.1:2333\" within 1s: context deadline exceeded"
        ),
        "{}",
        run.dump()
    );
    assert_eq!(
        run.event_messages("agnhost", "Killing")
            .first()
            .map(String::as_str),
        Some("Container agnhost failed liveness probe, will be restarted"),
        "{}",
        run.dump()
    );
}
