//! B. Regular containers and restart policy; C. CrashLoopBackOff.

use std::time::Instant;

use super::*;

/// A single-container pod (no journal) running `script`; `extra` goes under the container.
fn single(policy: &str, extra: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: single}}\nspec:\n  restartPolicy: {policy}\n  volumes:\n  - name: counter\n    emptyDir: {{medium: Memory}}\n  containers:\n  - name: app\n    image: busybox\n{extra}    volumeMounts: [{{name: counter, mountPath: /c}}]\n    command: ['sh', '-c', '{script}']\n"
    )
}

/// 1st run exits 1, 2nd exits 0, 3rd and later run forever (a counter on emptyDir).
const COUNTER: &str = "if test -f /c/two; then sleep 600; elif test -f /c/one; then touch /c/two; exit 0; else touch /c/one; exit 1; fi";

/// RT :: "should run with the expected status [NodeConformance]" (Always row)
#[tokio::test]
async fn b1_restart_policy_matrix_always() {
    let st = start(&single("Always", "", COUNTER), fast()).await;
    st.wait_for(LIMIT, "2 restarts and running", |p| {
        status_of(p, "app").restart_count == 2 && is_running(p, "app")
    })
    .await;
    let pod = st.pod();
    assert_eq!(phase(&pod), "Running");
    let s = status_of(&pod, "app");
    assert!(s.ready, "{s:?}");
    st.stop().await;
}

/// RT :: "should run with the expected status [NodeConformance]" (OnFailure row)
#[tokio::test]
async fn b1_restart_policy_matrix_on_failure() {
    let run = run_pod(&single("OnFailure", "", COUNTER)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let s = run.status("app");
    assert_eq!(
        (s.restart_count, terminated_code(&s), s.ready),
        (1, Some(0), false)
    );
}

/// RT :: "should run with the expected status [NodeConformance]" (Never row)
#[tokio::test]
async fn b1_restart_policy_matrix_never() {
    let run = run_pod(&single("Never", "", COUNTER)).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    let s = run.status("app");
    assert_eq!(
        (s.restart_count, terminated_code(&s), s.ready),
        (0, Some(1), false)
    );
}

/// CL :: "should restart failing container when pod restartPolicy is Always"
#[tokio::test]
async fn b2_always_restarts_failing_container() {
    let j = Journal::new();
    let yaml = pod(&j, "Always", "", &[], &[p("regular-1", 1.0).exit(1)]);
    let st = start(&yaml, fast()).await;
    st.wait_for(LIMIT, "3 restarts", |p| {
        status_of(p, "regular-1").restart_count >= 3
    })
    .await;
    st.stop().await;
    has_restarted(&j, "regular-1");
}

/// CL :: "should not launch second container before PostStart of the first container completed"
#[tokio::test]
async fn b3_poststart_blocks_next_container() {
    let j = Journal::new();
    let yaml = pod(
        &j,
        "Never",
        "",
        &[],
        &[p("regular-1", 10.0).post_start(1.0), p("regular-2", 1.0)],
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    starts_before(&j, "PostStart-regular-1", "regular-2");
    exits_before(&j, "PostStart-regular-1", "regular-2");
    // And PostStart exits before regular-2 even starts.
    assert!(j.first("PostStart-regular-1", "Exiting") < j.first("regular-2", "Starting"));
}

async fn message(extra: &str, script: &str) -> (String, Option<String>) {
    let run = run_pod(&single("Never", extra, script)).await;
    let t = terminated_state(&run, "app");
    (run.phase().to_string(), t.message)
}

/// RT :: "should report termination message if TerminationMessagePath is set"
#[tokio::test]
async fn b4_termination_message_file() {
    let got = message("", "echo -n DONE > /dev/termination-log").await;
    assert_eq!(got, ("Succeeded".into(), Some("DONE".into())));
}

/// RT :: "should report termination message if TerminationMessagePath is set as non-root user and at a non-default path"
#[tokio::test]
async fn b4_termination_message_custom_path() {
    let got = message(
        "    terminationMessagePath: /dev/termination-custom-log\n",
        "echo -n DONE > /dev/termination-custom-log",
    )
    .await;
    assert_eq!(got, ("Succeeded".into(), Some("DONE".into())));
}

/// RT :: "should report termination message from log output if TerminationMessagePolicy FallbackToLogsOnError is set"
#[tokio::test]
async fn b4_termination_message_fallback_on_error() {
    let got = message(
        "    terminationMessagePolicy: FallbackToLogsOnError\n",
        "echo -n DONE; exit 1",
    )
    .await;
    assert_eq!(got, ("Failed".into(), Some("DONE".into())));
}

/// RT :: "should report termination message as empty when pod succeeds and TerminationMessagePolicy FallbackToLogsOnError is set"
#[tokio::test]
async fn b4_termination_message_empty_on_success() {
    let (phase, message) = message(
        "    terminationMessagePolicy: FallbackToLogsOnError\n",
        "echo -n DONE",
    )
    .await;
    assert_eq!(phase, "Succeeded");
    assert_eq!(message.unwrap_or_default(), "");
}

/// RT :: "should report termination message from file when pod succeeds and TerminationMessagePolicy FallbackToLogsOnError is set"
#[tokio::test]
async fn b4_termination_message_file_over_logs() {
    let got = message(
        "    terminationMessagePolicy: FallbackToLogsOnError\n",
        "echo -n OK > /dev/termination-log; echo DONE",
    )
    .await;
    assert_eq!(got, ("Succeeded".into(), Some("OK".into())));
}

const RULE_42: &str = "    restartPolicy: Never\n    restartPolicyRules:\n    - action: Restart\n      exitCodes: {operator: In, values: [42]}\n";

/// pods.go "Pod Extended (container restart policy)" :: "should restart container on rule match"
#[tokio::test]
async fn b7_restart_rules_match_restarts() {
    let st = start(&single("Never", RULE_42, "exit 42"), fast()).await;
    st.wait_for(LIMIT, "a restart", |p| {
        status_of(p, "app").restart_count > 0
    })
    .await;
    st.stop().await;
}

/// pods.go :: "should not restart container on rule mismatch, container restart policy Never"
#[tokio::test]
async fn b7_restart_rules_mismatch_no_restart() {
    let run = run_pod(&single("Never", RULE_42, "exit 1")).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert_eq!(run.status("app").restart_count, 0);
}

/// pods.go :: "should restart container on container-level restart policy Never" (pod Always)
#[tokio::test]
async fn b7_container_never_under_pod_always() {
    let run = run_pod(&single("Always", "    restartPolicy: Never\n", "exit 1")).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert_eq!(run.status("app").restart_count, 0);
}

/// pods.go :: "should restart container on container-level restart policy Always" (pod Never)
#[tokio::test]
async fn b7_container_always_under_pod_never() {
    let st = start(
        &single("Never", "    restartPolicy: Always\n", "exit 1"),
        fast(),
    )
    .await;
    st.wait_for(LIMIT, "restarts", |p| {
        status_of(p, "app").restart_count >= 2
    })
    .await;
    st.stop().await;
}

/// pods.go :: "should restart container on pod-level restart policy Always when no container-level restart policy"
#[tokio::test]
async fn b7_pod_always_without_container_policy() {
    let st = start(&single("Always", "", "exit 1"), fast()).await;
    st.wait_for(LIMIT, "restarts", |p| {
        status_of(p, "app").restart_count >= 2
    })
    .await;
    st.stop().await;
}

/// pod-lifecycle.md docs example: pod Always, init container `restartPolicy: Never` exits 1.
#[tokio::test]
async fn b7_init_never_under_pod_always_fails_pod() {
    let j = Journal::new();
    let init = p("init-1", 0.0).exit(1).with("    restartPolicy: Never\n");
    let yaml = pod(&j, "Always", "", &[init], &[p("regular-1", 6000.0)]);
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Failed", "{}", run.dump());
    assert_eq!(run.status("init-1").restart_count, 0);
    doesnt_start(&j, "regular-1");
}

fn crash_loop(p: &Pod) -> bool {
    waiting_reason(p, "app").as_deref() == Some("CrashLoopBackOff")
}

/// container_restart_test.go :: "Container restart backs off." (unscaled 10 s initial backoff)
#[tokio::test]
async fn c1_backoff_schedule() {
    let opts = wasmpod::RunOptions::default().with_backoff(wasmpod::BackoffPolicy::new(
        Duration::from_secs(10),
        Duration::from_secs(300),
    ));
    let st = start(&single("Always", "", "exit 1"), opts).await;
    // Restarts at about 0, 0, 10 s: the first restart is immediate, then
    // the container waits in CrashLoopBackOff.
    st.wait_for(LIMIT, "CrashLoopBackOff after the first restart", |p| {
        crash_loop(p) && status_of(p, "app").restart_count >= 1
    })
    .await;
    let t0 = Instant::now();
    let s = status_of(&st.pod(), "app");
    assert_eq!(s.restart_count, 1, "{s:?}");
    assert_eq!(s.last_state.unwrap().terminated.unwrap().exit_code, 1);
    st.wait_for(LIMIT, "the second restart", |p| {
        status_of(p, "app").restart_count >= 2
    })
    .await;
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(9),
        "restarted after {waited:?}"
    );
    st.wait_for(LIMIT, "CrashLoopBackOff again", crash_loop)
        .await;
    st.stop().await;
}

/// container_restart_test.go :: "Container restart backs off." variant with a 1 s maximum restart period
#[tokio::test]
async fn c1_backoff_max_one_second() {
    let opts = wasmpod::RunOptions::default().with_backoff(wasmpod::BackoffPolicy::new(
        Duration::from_secs(1),
        Duration::from_secs(1),
    ));
    let st = start(&single("Always", "", "exit 1"), opts).await;
    st.wait_for(LIMIT, "the first restart", |p| {
        status_of(p, "app").restart_count >= 1
    })
    .await;
    let t0 = Instant::now();
    st.wait_for(LIMIT, "4 more restarts", |p| {
        status_of(p, "app").restart_count >= 5
    })
    .await;
    // Capped at 1 s: four more restarts take about 4 s, not 1+2+4+8 s.
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(3500), "{took:?}");
    assert!(took < Duration::from_secs(14), "not capped: {took:?}");
    st.stop().await;
}
