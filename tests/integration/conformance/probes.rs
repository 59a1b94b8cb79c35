//! D. Probes.

use super::*;

fn restarts(p: &Pod, c: &str) -> i32 {
    status_of(p, c).restart_count
}

/// One container running `script` (`''` is a quote) with `extra` YAML under it.
fn single(policy: &str, spec: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: probes}}\nspec:\n  restartPolicy: {policy}\n{spec}  containers:\n  - name: app\n{image}{extra}"
    )
}

fn sh(script: &str) -> String {
    format!("    image: busybox\n    command: ['sh', '-c', '{script}']\n")
}

const HTTPD: &str =
    "    image: nginx\n    args: ['-p', '8080']\n    ports: [{containerPort: 8080}]\n";

fn killing_for(run: &PodRun, probe: &str) -> bool {
    run.events
        .iter()
        .any(|e| e.reason == "Killing" && e.message.contains(&format!("failed {probe} probe")))
}

/// PR :: "with readiness probe should not be ready before initial delay and never restart"
#[tokio::test]
async fn d1_readiness_initial_delay() {
    let probe = format!(
        "    readinessProbe:\n      httpGet: {{path: /, port: 8080}}\n      initialDelaySeconds: {}\n      periodSeconds: 1\n",
        secs(15)
    );
    let st = start(&single("Always", "", HTTPD, &probe), fast()).await;
    st.wait_for(LIMIT, "ready", |p| status_of(p, "app").ready)
        .await;
    let pod = st.pod();
    let started = status_of(&pod, "app")
        .state
        .unwrap()
        .running
        .unwrap()
        .started_at
        .unwrap();
    let ready = pod
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .last_transition_time
        .clone()
        .unwrap();
    let gap = ready.0.as_second() - started.0.as_second();
    assert!(gap >= i64::from(secs(15)), "ready {gap} s after the start");
    assert_eq!(restarts(&pod, "app"), 0);
    st.stop().await;
}

/// PR :: "with readiness probe that fails should never be ready and never restart"
#[tokio::test]
async fn d2_readiness_failing() {
    let probe = "    readinessProbe:\n      httpGet: {path: /, port: 81}\n      periodSeconds: 1\n";
    let st = start(&single("Always", "", HTTPD, probe), fast()).await;
    st.wait_for(LIMIT, "running", |p| is_running(p, "app"))
        .await;
    never_within(&st, Duration::from_secs(6), "ready or a restart", |p| {
        status_of(p, "app").ready || restarts(p, "app") > 0
    })
    .await;
    let run = st.stop().await;
    assert!(
        run.events.iter().any(|e| e.reason == "Unhealthy"),
        "{}",
        run.dump()
    );
}

fn health_probe() -> String {
    format!(
        "    livenessProbe:\n      exec: {{command: [cat, /tmp/health]}}\n      initialDelaySeconds: {}\n      timeoutSeconds: 1\n      periodSeconds: 1\n      failureThreshold: 1\n",
        secs(15)
    )
}

/// PR :: `should be restarted with a exec "cat /tmp/health" liveness probe`
#[tokio::test]
async fn d3_liveness_exec_restarted() {
    let script = "echo ok > /tmp/health; sleep 1; rm /tmp/health; sleep 60";
    let st = start(&single("Always", "", &sh(script), &health_probe()), fast()).await;
    st.wait_for(LIMIT, "a restart", |p| restarts(p, "app") >= 1)
        .await;
    let run = st.stop().await;
    assert!(killing_for(&run, "liveness"), "{}", run.dump());
}

/// PR :: `should *not* be restarted with a exec "cat /tmp/health" liveness probe`
#[tokio::test]
async fn d3_liveness_exec_not_restarted() {
    let script = "echo ok > /tmp/health; sleep 60";
    let st = start(&single("Always", "", &sh(script), &health_probe()), fast()).await;
    st.wait_for(LIMIT, "running", |p| is_running(p, "app"))
        .await;
    never_within(&st, Duration::from_secs(5), "a restart", |p| {
        restarts(p, "app") > 0
    })
    .await;
    let run = st.stop().await;
    assert!(!killing_for(&run, "liveness"), "{}", run.dump());
}

/// upstream's `livenessPodSpec`: `agnhost liveness`, whose /healthz answers
/// 500 once it has run for 10 s (its own constant, not scaled).
const AGNHOST_LIVENESS: &str =
    "    image: registry.k8s.io/e2e-test-images/agnhost:2.53\n    args: [liveness]\n";

/// upstream's `httpGetHandler(path, 8080)` liveness probe, failureThreshold 1.
fn http_liveness(path: &str) -> String {
    format!(
        "    livenessProbe:\n      httpGet: {{path: '{path}', port: 8080}}\n      initialDelaySeconds: {}\n      periodSeconds: 1\n      failureThreshold: 1\n",
        secs(15)
    )
}

/// PR :: "should be restarted with a /healthz http liveness probe"
#[tokio::test]
async fn d4_liveness_http_restarted() {
    let probe = http_liveness("/healthz");
    let st = start(&single("Always", "", AGNHOST_LIVENESS, &probe), fast()).await;
    st.wait_for(LIMIT, "a restart", |p| restarts(p, "app") >= 1)
        .await;
    let run = st.stop().await;
    assert!(killing_for(&run, "liveness"), "{}", run.dump());
}

/// PR :: "should have monotonically increasing restart count" (fast
/// backoff: the scenario is about the count, not the backoff constants)
#[tokio::test]
async fn d4_monotonic_restart_count() {
    let probe = exec_probe(
        "livenessProbe",
        "false",
        "      initialDelaySeconds: 1\n      failureThreshold: 1\n",
    );
    let st = start(&single("Always", "", &sh("sleep 60"), &probe), fast()).await;
    let mut rx = st.handle.watch();
    let watcher = tokio::spawn(async move {
        let mut seen = vec![0];
        loop {
            let count = status_of(&rx.borrow_and_update(), "app").restart_count;
            assert!(
                count >= *seen.last().unwrap(),
                "restart count went down: {seen:?} then {count}"
            );
            if count != *seen.last().unwrap() {
                seen.push(count);
            }
            if count >= 5 || rx.changed().await.is_err() {
                return seen;
            }
        }
    });
    st.wait_for(LIMIT, "5 restarts", |p| restarts(p, "app") >= 5)
        .await;
    let seen = watcher.await.expect("monotonic");
    assert_eq!(*seen.last().unwrap(), 5, "{seen:?}");
    st.stop().await;
}

/// PR :: "should *not* be restarted with a tcp:8080 liveness probe"
#[tokio::test]
async fn d4_liveness_tcp_not_restarted() {
    let probe = "    livenessProbe:\n      tcpSocket: {port: 8080}\n      initialDelaySeconds: 1\n      periodSeconds: 1\n      failureThreshold: 1\n";
    let st = start(&single("Always", "", HTTPD, probe), fast()).await;
    st.wait_for(LIMIT, "running", |p| is_running(p, "app"))
        .await;
    never_within(&st, Duration::from_secs(5), "a restart", |p| {
        restarts(p, "app") > 0
    })
    .await;
    st.stop().await;
}

/// The probe command sleeps 10 s (unscaled: it must outlast the 1 s timeout).
const SLOW: &str = "exec: {command: [sleep, '10']}\n      timeoutSeconds: 1\n      periodSeconds: 1\n      failureThreshold: 1\n";

/// PR :: "should be restarted with an exec liveness probe with timeout" and "...a failing exec liveness probe that took longer than the timeout"
#[tokio::test]
async fn d5_liveness_exec_timeout_restarts() {
    let probe = format!("    livenessProbe:\n      {SLOW}");
    let st = start(&single("Always", "", &sh("sleep 60"), &probe), fast()).await;
    st.wait_for(LIMIT, "a restart", |p| restarts(p, "app") >= 1)
        .await;
    let run = st.stop().await;
    assert!(killing_for(&run, "liveness"), "{}", run.dump());
}

/// PR :: "should not be ready with an exec readiness probe timeout"
#[tokio::test]
async fn d5_readiness_exec_timeout_never_ready() {
    let probe = format!("    readinessProbe:\n      {SLOW}");
    let st = start(&single("Always", "", &sh("sleep 60"), &probe), fast()).await;
    st.wait_for(LIMIT, "running", |p| is_running(p, "app"))
        .await;
    never_within(&st, Duration::from_secs(5), "ready", |p| {
        status_of(p, "app").ready
    })
    .await;
    assert_eq!(restarts(&st.pod(), "app"), 0);
    st.stop().await;
}

fn exec_probe(kind: &str, command: &str, fields: &str) -> String {
    format!(
        "    {kind}:\n      exec: {{command: ['sh', '-c', '{command}']}}\n      periodSeconds: 1\n{fields}"
    )
}

/// PR :: "should be restarted startup probe fails"
#[tokio::test]
async fn d7_startup_failure_restarts() {
    let probes = exec_probe("startupProbe", "false", "      failureThreshold: 3\n")
        + &exec_probe("livenessProbe", "true", "");
    let st = start(&single("Always", "", &sh("sleep 60"), &probes), fast()).await;
    st.wait_for(LIMIT, "a restart", |p| restarts(p, "app") >= 1)
        .await;
    let run = st.stop().await;
    assert!(killing_for(&run, "startup"), "{}", run.dump());
}

/// PR :: "should *not* be restarted by liveness probe because startup probe delays it"
#[tokio::test]
async fn d7_startup_gates_liveness() {
    let probes = exec_probe("startupProbe", "false", "      failureThreshold: 60\n")
        + &exec_probe("livenessProbe", "false", "      failureThreshold: 1\n");
    let st = start(&single("Always", "", &sh("sleep 60"), &probes), fast()).await;
    st.wait_for(LIMIT, "running", |p| is_running(p, "app"))
        .await;
    never_within(&st, Duration::from_secs(5), "a restart", |p| {
        restarts(p, "app") > 0
    })
    .await;
    let run = st.stop().await;
    assert!(!killing_for(&run, "liveness"), "{}", run.dump());
}

/// PR :: "should be restarted by liveness probe after startup probe enables it"
#[tokio::test]
async fn d7_liveness_after_startup_restarts() {
    let probes = exec_probe(
        "startupProbe",
        "cat /tmp/startup",
        "      failureThreshold: 60\n",
    ) + &exec_probe("livenessProbe", "false", "      failureThreshold: 1\n");
    let script = "sleep 1; echo ok > /tmp/startup; sleep 60";
    let st = start(&single("Always", "", &sh(script), &probes), fast()).await;
    st.wait_for(LIMIT, "a restart", |p| restarts(p, "app") >= 1)
        .await;
    let run = st.stop().await;
    assert!(killing_for(&run, "liveness"), "{}", run.dump());
}

/// The container ignores TERM; the pod's grace (500 s) would hold the restart. The probe
/// fails only once the trap is set (on a loaded machine a first probe could otherwise
/// TERM the shell before its `trap` ran).
async fn probe_grace(kind: &str) {
    // The probe fails only once the TERM trap is set (it waits for the file the script
    // touches after `trap`): a startup probe that ran before it and passed would never
    // probe again, and one that failed before it would kill with 143, not 137.
    let probe = format!(
        "    {kind}:\n      exec: {{command: ['sh', '-c', 'until test -f /tmp/trapped; do sleep 0.1; done; exit 1']}}\n      periodSeconds: 1\n      timeoutSeconds: 60\n      failureThreshold: 1\n      terminationGracePeriodSeconds: {}\n",
        secs(5)
    );
    let spec = format!("  terminationGracePeriodSeconds: {}\n", secs(500));
    let script = "trap \"echo ignored\" TERM; touch /tmp/trapped; while true; do sleep 0.1; done";
    let st = start(&single("Always", &spec, &sh(script), &probe), fast()).await;
    st.wait_for(LIMIT, "a restart well before the pod's grace", |p| {
        restarts(p, "app") >= 1
    })
    .await;
    let last = status_of(&st.pod(), "app")
        .last_state
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        last.exit_code, 137,
        "killed at the end of the probe's grace"
    );
    st.stop().await;
}

/// PR :: "should override timeoutGracePeriodSeconds when LivenessProbe field is set"
#[tokio::test]
async fn d8_liveness_probe_level_grace() {
    probe_grace("livenessProbe").await;
}

/// PR :: "should override timeoutGracePeriodSeconds when StartupProbe field is set"
#[tokio::test]
async fn d8_startup_probe_level_grace() {
    probe_grace("startupProbe").await;
}

/// PR :: "should mark readiness on pods to false while pod is in progress of terminating when a pod has a readiness probe" and "...disable liveness probes while pod is in progress of terminating"
#[tokio::test]
async fn d9_readiness_and_liveness_during_termination() {
    let probes = exec_probe(
        "readinessProbe",
        "cat /tmp/ready",
        "      failureThreshold: 1\n",
    ) + &exec_probe(
        "livenessProbe",
        "cat /tmp/liveness",
        "      initialDelaySeconds: 1\n      failureThreshold: 1\n",
    );
    // Upstream: the TERM handler sleeps 20–30 s within a 30 s grace. Scaled
    // by 10 that window (2–3 s) is too short to be sure that a fresh exec
    // probe instance runs in it on a loaded machine, so it is 6 s in 10 s.
    // The TERM handler is set before the pod can be Ready, so a stop never finds it missing.
    let script = "trap \"rm /tmp/ready; rm /tmp/liveness; sleep 6; exit 0\" TERM; touch /tmp/ready; touch /tmp/liveness; while true; do sleep 0.1; done";
    let spec = "  terminationGracePeriodSeconds: 10\n";
    let st = start(&single("Always", spec, &sh(script), &probes), fast()).await;
    st.wait_for(LIMIT, "ready", |p| status_of(p, "app").ready)
        .await;
    st.handle.stop();
    st.wait_for(LIMIT, "not ready while still running", |p| {
        !status_of(p, "app").ready && is_running(p, "app")
    })
    .await;
    let run = st.finish(LIMIT).await;
    assert_eq!(run.exit_code("app"), 0, "{}", run.dump());
    assert!(!killing_for(&run, "liveness"), "{}", run.dump());
    assert!(
        !run.events
            .iter()
            .any(|e| e.message.starts_with("Liveness probe failed")),
        "{}",
        run.dump()
    );
}

async fn failure_runs_prestop(kind: &str) {
    let j = Journal::new();
    let regular = p("regular-1", 100.0).term(15.0).pre_stop(1.0).probe(
        kind,
        "exit 1",
        &format!(
            "initialDelaySeconds: {}\n      failureThreshold: 1",
            secs(10)
        ),
    );
    let spec = format!("  terminationGracePeriodSeconds: {}\n", secs(30));
    let run = run_pod(&pod(&j, "Never", &spec, &[], &[regular])).await;
    run_together(&j, "regular-1", "PreStop-regular-1");
    assert_eq!(j.count("regular-1", "Exiting"), 1);
    has_not_restarted(&j, "regular-1");
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
}

/// CL :: "should call the container's preStop hook and terminate it if its startup probe fails"
#[tokio::test]
async fn d10_startup_failure_runs_prestop() {
    failure_runs_prestop("startupProbe").await;
}

/// CL :: "should call the container's preStop hook and terminate it if its liveness probe fails"
#[tokio::test]
async fn d10_liveness_failure_runs_prestop() {
    failure_runs_prestop("livenessProbe").await;
}

/// PR :: "should *not* be restarted with a non-local redirect http liveness probe"
#[tokio::test]
async fn d6_non_local_redirect_is_a_warning() {
    let probe = http_liveness("/redirect?loc=http%3A%2F%2F0.0.0.0%2F");
    let st = start(&single("Always", "", AGNHOST_LIVENESS, &probe), fast()).await;
    st.wait_for(LIMIT, "running", |p| is_running(p, "app"))
        .await;
    // The initial delay (2 s) and several probes; /healthz would have
    // failed only after 10 s, and the redirect is not followed anyway.
    never_within(&st, Duration::from_secs(5), "a restart", |p| {
        restarts(p, "app") > 0
    })
    .await;
    let run = st.stop().await;
    let warnings = run.event_messages("app", "ProbeWarning");
    assert!(
        warnings.first().is_some_and(|w| w
            .starts_with("Liveness probe warning: Probe terminated redirects, Response body: ")),
        "{}",
        run.dump()
    );
    assert!(!killing_for(&run, "liveness"), "{}", run.dump());
}
