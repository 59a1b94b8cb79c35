//! Pods as test fixtures (`wasmpod::testing`): every wait strategy and helper against the
//! built-in images. Run by `cargo test` (the `fixtures` test of `wasmpod-cli`).

use std::time::Duration;

use wasmpod::Stream;
use wasmpod::testing::{Fixture, FixtureError, Request};

const NGINX: &str = "apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: web
    image: nginx
    args: ['-p', '80']
    readinessProbe: {httpGet: {path: /, port: 80}, periodSeconds: 1}
";

/// A pod serving HTTP: started, a port, Ready, then GET and POST over the pod network.
#[tokio::test]
async fn a_web_server_is_ready_and_answers() -> Result<(), FixtureError> {
    let web = Fixture::start(NGINX).await?;
    web.started("web").await?;
    web.port(80).await?;
    web.ready().await?;
    let page = web.get(80, "/").await?;
    assert_eq!(page.status, 200);
    assert!(page.header("content-length").is_some());
    let missing = web
        .http(80, Request::get("/nope").header("accept", "text/plain"))
        .await?;
    assert_eq!(missing.status, 404);
    Ok(())
}

/// A Service in the fixture's manifest: wait until the pod is its ready endpoint, then
/// connect to the Service's cluster IP from the test (no host port).
#[tokio::test]
async fn a_service_gets_its_endpoint() -> Result<(), FixtureError> {
    let web = Fixture::start(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec: {{selector: {{app: web}}, ports: [{{port: 8080, targetPort: 80}}]}}\n---\n{}",
        NGINX.replace("metadata: {name: web}", "metadata: {name: web, labels: {app: web}}")
    ))
    .await?;
    let endpoints = web.endpoints("web", 1).await?;
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0].pod, "web");
    let ns = web.pod().metadata.namespace.clone().unwrap_or_default();
    let svc = wasmpod::testing::runtime()
        .cluster()
        .services()
        .into_iter()
        .find(|s| s.metadata.namespace.as_deref() == Some(&ns))
        .expect("the fixture's Service");
    let ip = svc.spec.and_then(|s| s.cluster_ip).expect("a cluster IP");
    let stream = wasmpod::testing::runtime()
        .cluster()
        .connect(format!("{ip}:8080").parse().expect("address"))
        .expect("the Service answers");
    assert_eq!(stream.peer_addr().to_string(), format!("{ip}:8080"));
    Ok(())
}

/// A Job as a fixture: it runs to its end; a failing one reports its exit code, a
/// passing one completes.
#[tokio::test]
async fn a_job_ends_with_its_result() -> Result<(), FixtureError> {
    let job = |name: &str, script: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: m, image: busybox, command: [sh, -c, {script:?}]}}]\n"
        )
    };
    let failing = wasmpod::testing::JobFixture::start(&job("check", "exit 3")).await?;
    assert_eq!(failing.exit_code("m").await?, 3);
    assert!(!failing.ended().await?.succeeded);
    let passing = wasmpod::testing::JobFixture::start(&job("migrate", "echo done")).await?;
    assert!(passing.ended().await?.succeeded);
    assert_eq!(passing.exit_code("m").await?, 0);
    Ok(())
}

/// Log lines (any stream, or one), exec in the running container, and a ConfigMap that
/// comes in the same manifest.
#[tokio::test]
async fn logs_exec_and_config() -> Result<(), FixtureError> {
    let app = Fixture::start(
        "apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast}
---
apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo starting; echo mode $MODE >&2; sleep 600']
    env: [{name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}]
",
    )
    .await?;
    let line = app.log("app", "^mode (fast|slow)$").await?;
    assert_eq!(line.stream, Stream::Stderr);
    app.log_on("app", Stream::Stdout, "start").await?;
    let ran = app.exec("app", ["sh", "-c", "echo $MODE; exit 2"]).await?;
    assert_eq!((ran.exit_code, ran.output.as_str()), (2, "fast\n"));
    Ok(())
}

/// A job-like pod: its container's exit code, then the pod's end.
#[tokio::test]
async fn a_job_exits_with_its_code() -> Result<(), FixtureError> {
    let job = Fixture::start(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: job}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: main, image: busybox, command: [sh, -c, 'echo working; exit 3']}\n",
    )
    .await?;
    assert_eq!(job.exited("main").await?, 3);
    assert_eq!(job.ended().await?.phase.as_str(), "Failed");
    Ok(())
}

/// A wait that cannot succeed says what it awaited and shows the pod: here the pod ends
/// without the line, so the wait gives up at once rather than at its timeout.
#[tokio::test]
async fn a_failed_wait_shows_the_pod() {
    let pod = Fixture::start(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: short}\nspec:\n  restartPolicy: Never\n  containers:\n  - {name: main, image: busybox, command: [sh, -c, 'echo only this; exit 1']}\n",
    )
    .await
    .expect("created")
    .with_timeout(Duration::from_secs(120));
    let err = pod
        .log("main", "never printed")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "the pod ended (Failed) waiting for a line of main matching \"never printed\""
        ),
        "{err}"
    );
    assert!(err.contains("main | only this"), "{err}");
    assert!(err.contains("main: terminated Error (exit 1)"), "{err}");
}

/// The child of [`a_failing_test_prints_its_fixtures_output`]: a test that fails with a
/// fixture alive. Ignored, and it does nothing unless that test runs it.
#[tokio::test]
#[ignore = "run by a_failing_test_prints_its_fixtures_output"]
async fn failing_child() {
    if std::env::var_os("WASMPOD_FIXTURE_CHILD").is_none() {
        return;
    }
    let pod = Fixture::start(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: doomed}\nspec:\n  volumes: [{name: doomed-scratch, emptyDir: {medium: Memory}}]\n  containers:\n  - {name: main, image: busybox, command: [sh, -c, 'echo a clue for the reader; sleep 600'], volumeMounts: [{name: doomed-scratch, mountPath: /scratch}]}\n",
    )
    .await
    .expect("created");
    pod.log("main", "clue").await.expect("the line");
    panic!("the test failed");
}

/// A failing test prints its fixtures' output and events (the child test above, run in a
/// process of its own).
#[test]
fn a_failing_test_prints_its_fixtures_output() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["failing_child", "--exact", "--ignored", "--test-threads=1"])
        .env("WASMPOD_FIXTURE_CHILD", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the child fails: {text}");
    assert!(text.contains("the test failed"), "{text}");
    assert!(text.contains("pod doomed: Running"), "{text}");
    assert!(text.contains("main | a clue for the reader"), "{text}");
    assert!(text.contains("Started main: Container started"), "{text}");
    // Nothing of the child's pod is left behind, wherever run directories and memory
    // volumes go.
    let mut places = vec![std::env::temp_dir(), "/dev/shm".into()];
    places.extend(std::env::var_os("XDG_RUNTIME_DIR").map(Into::into));
    let left: Vec<String> = places
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("wasmpod-doomed-") || n.ends_with("-doomed-scratch"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}
