//! G. Lifecycle hooks (G2, G3).

use std::time::Instant;

use super::*;

/// A pod with a server sidecar (httpd on 8080, its startup probe gating the
/// next container) and `app`; returns (journal, yaml).
fn with_server(app_extra: &str) -> (Journal, String) {
    let j = Journal::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: hooks}}\nspec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: {}\n  volumes:\n{}  initContainers:\n  - name: server\n    image: nginx\n    args: ['-p', '8080']\n    restartPolicy: Always\n    startupProbe:\n      tcpSocket: {{port: 8080}}\n      periodSeconds: 1\n      failureThreshold: 30\n  containers:\n  - name: app\n    image: busybox\n{app_extra}    command: ['sh', '-c', 'trap \"exit 0\" TERM; {}; while true; do sleep 0.1; done']\n{JOURNAL_MOUNT}",
        secs(15),
        j.volume_yaml(),
        Journal::note("app", "Started")
    );
    (j, yaml)
}

fn requested(run: &PodRun, msg: &str) -> bool {
    run.lines("server")
        .iter()
        .any(|l| l.contains(&format!("GET /healthz?msg={msg} ")) && l.contains(" 200 "))
}

/// LH :: "should execute poststart http hook properly"
#[tokio::test]
async fn g2_poststart_http_hook() {
    let (j, yaml) = with_server(
        "    lifecycle:\n      postStart:\n        httpGet: {path: '/healthz?msg=poststart', port: 8080}\n",
    );
    let st = start(&yaml, fast()).await;
    wait_started(&j, &["app"]).await;
    st.wait_for(LIMIT, "app running", |p| is_running(p, "app"))
        .await;
    let run = st.stop().await;
    assert!(requested(&run, "poststart"), "{}", run.dump());
    assert!(!requested(&run, "prestop"));
}

/// LH :: "should execute prestop http hook properly"
#[tokio::test]
async fn g2_prestop_http_hook() {
    let (j, yaml) = with_server(
        "    lifecycle:\n      preStop:\n        httpGet: {path: '/healthz?msg=prestop', port: 8080}\n",
    );
    let st = start(&yaml, fast()).await;
    wait_started(&j, &["app"]).await;
    let run = st.stop().await;
    assert!(requested(&run, "prestop"), "{}", run.dump());
    assert_eq!(run.exit_code("app"), 0);
}

async fn exec_hooks(sidecar: bool) {
    let j = Journal::new();
    let mut c = p("app", 600.0).term(1.0).post_start(0.0).pre_stop(0.0);
    if sidecar {
        c = c.sidecar();
    }
    let (init, regular) = if sidecar {
        (vec![c], vec![p("regular-1", 600.0)])
    } else {
        (vec![], vec![c])
    };
    let yaml = pod(
        &j,
        "Never",
        &format!("  terminationGracePeriodSeconds: {}\n", secs(15)),
        &init,
        &regular,
    );
    let st = start(&yaml, fast()).await;
    wait_started(&j, &["app", "PostStart-app"]).await;
    assert_eq!(
        j.count("PreStop-app", "Starting"),
        0,
        "no preStop before the deletion"
    );
    let run = st.stop().await;
    hook_runs_during(&j, "app", "PostStart-app");
    run_together(&j, "app", "PreStop-app");
    assert!(j.first("PreStop-app", "Exiting") < j.first("app", "Exiting"));
    assert_eq!(run.exit_code("app"), 0, "{}", run.dump());
}

/// LH :: "should execute poststart exec hook properly" and "should execute prestop exec hook properly"
#[tokio::test]
async fn g2_exec_hooks() {
    exec_hooks(false).await;
}

/// LH :: "Restartable Init Container Lifecycle Hook" (poststart and prestop exec on a sidecar)
#[tokio::test]
async fn g2_sidecar_exec_hooks() {
    exec_hooks(true).await;
}

fn sleeper(tgps: u32, seconds: u32, script: &str) -> (Journal, String) {
    let j = Journal::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: sleep-hook}}\nspec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: {tgps}\n  volumes:\n{}  containers:\n  - name: app\n    image: busybox\n    lifecycle:\n      preStop:\n        sleep: {{seconds: {seconds}}}\n    command: ['sh', '-c', 'trap \"exit 0\" TERM; {}; {script}']\n{JOURNAL_MOUNT}",
        j.volume_yaml(),
        Journal::note("app", "Started")
    );
    (j, yaml)
}

/// LH :: "Lifecycle Sleep Hook / valid prestop hook using sleep action"
#[tokio::test]
async fn g3_prestop_sleep() {
    let (j, yaml) = sleeper(secs(100), secs(50), "while true; do sleep 0.1; done");
    let st = start(&yaml, fast()).await;
    wait_started(&j, &["app"]).await;
    let t0 = Instant::now();
    let run = st.stop().await;
    let took = t0.elapsed();
    // Upstream: 50 to 100 s; scaled: 5 to 10 s (+ slack above).
    assert!(took >= Duration::from_millis(4900), "{took:?}");
    assert!(took < Duration::from_secs(14), "{took:?}");
    assert_eq!(run.exit_code("app"), 0, "{}", run.dump());
}

/// LH :: "Lifecycle Sleep Hook / ignore terminated container"
#[tokio::test]
async fn g3_prestop_sleep_ignores_terminated_container() {
    let (j, yaml) = sleeper(secs(100), secs(50), &format!("sleep {}", s(3.0)));
    let run = run_pod(&yaml).await;
    let ended = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let lived = Duration::from_nanos((ended - j.first("app", "Started")) as u64);
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.exit_code("app"), 0);
    // Upstream: lifetime under 10 s with a 50 s sleep hook; scaled: 5 s.
    assert!(lived < Duration::from_secs(5), "{lived:?}: {}", run.dump());
}

/// LH :: "Lifecycle sleep action zero value"
#[tokio::test]
async fn g3_prestop_sleep_zero() {
    let (j, yaml) = sleeper(secs(100), 0, "while true; do sleep 0.1; done");
    let st = start(&yaml, fast()).await;
    wait_started(&j, &["app"]).await;
    let t0 = Instant::now();
    let run = st.stop().await;
    let took = t0.elapsed();
    // Upstream: under 30 s; scaled: 3 s.
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(run.exit_code("app"), 0, "{}", run.dump());
}
