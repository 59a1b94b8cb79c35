//! H. Environment and volumes.

use super::*;

fn env_pod(env: &str, command: &str, args: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: env}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: busybox\n    env:\n{env}    command: {command}\n{args}"
    )
}

fn var(name: &str, value: &str) -> String {
    format!("    - {{name: {name}, value: '{value}'}}\n")
}

/// expansion.go :: "should allow composing env vars into new env vars"
#[tokio::test]
async fn h1_env_composition() {
    let env = var("FOO", "foo-value") + &var("BAR", "bar-value") + &var("FOOBAR", "$(FOO);;$(BAR)");
    let run = run_pod(&env_pod(&env, "[env]", "")).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let lines = run.lines("app");
    assert!(
        lines.contains(&"FOOBAR=foo-value;;bar-value".to_string()),
        "{lines:?}"
    );
}

/// expansion.go :: "should allow substituting values in a container's command"
#[tokio::test]
async fn h2_command_expansion() {
    let env = var("TEST_VAR", "test-value");
    let run = run_pod(&env_pod(&env, "['echo', '$(TEST_VAR)']", "")).await;
    assert_eq!(run.lines("app"), ["test-value"], "{}", run.dump());
}

/// expansion.go :: "should allow substituting values in a container's args"
#[tokio::test]
async fn h2_args_expansion() {
    let env = var("TEST_VAR", "test-value");
    let run = run_pod(&env_pod(&env, "['echo']", "    args: ['$(TEST_VAR)']\n")).await;
    assert_eq!(run.lines("app"), ["test-value"], "{}", run.dump());
}

/// docs define-interdependent-environment-variables (ordering, undefined and escaped references)
#[tokio::test]
async fn h3_env_ordering_undefined_and_escape() {
    let env = var("SERVICE_IP", "172.17.0.1")
        + &var("SERVICE_PORT", "80")
        + &var(
            "UNCHANGED_REFERENCE",
            "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)",
        )
        + &var("PROTOCOL", "https")
        + &var(
            "SERVICE_ADDRESS",
            "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)",
        )
        + &var(
            "ESCAPED_REFERENCE",
            "$$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)",
        );
    let run = run_pod(&env_pod(&env, "[env]", "")).await;
    let lines = run.lines("app");
    for want in [
        "UNCHANGED_REFERENCE=$(PROTOCOL)://172.17.0.1:80",
        "SERVICE_ADDRESS=https://172.17.0.1:80",
        "ESCAPED_REFERENCE=$(PROTOCOL)://172.17.0.1:80",
    ] {
        assert!(lines.contains(&want.to_string()), "{want}: {lines:?}");
    }
}

/// A pod whose container mounts an emptyDir whole at /testcontainer and with
/// `subPathExpr` `$(DIR)` at /logscontainer, `DIR` from `env` (and `POD_NAME`,
/// the pod's name, from the downward API).
fn sub_path_expr_pod(name: &str, env: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  \
         volumes:\n  - {{name: workdir1, emptyDir: {{}}}}\n  containers:\n  - name: app\n    image: busybox\n    \
         env:\n    - name: POD_NAME\n      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}\n{env}    \
         command: ['sh', '-c', '{script}']\n    volumeMounts:\n    \
         - {{name: workdir1, mountPath: /logscontainer, subPathExpr: $(DIR)}}\n    \
         - {{name: workdir1, mountPath: /testcontainer}}\n"
    )
}

/// expansion.go :: "should allow substituting values in a volume subpath" and "should
/// succeed in writing subpaths in container": the subPath directory is made, and a
/// file written through the subPath mount is the file under the whole volume.
#[tokio::test]
async fn h5_sub_path_expr_mounts_the_expanded_sub_directory() {
    let env = var("DIR", "logs/$(POD_NAME)");
    let script = "echo through-subpath > /logscontainer/x; test -d /testcontainer/logs/h5-subpath && cat /testcontainer/logs/h5-subpath/x; ls /logscontainer";
    let run = run_pod(&sub_path_expr_pod("h5-subpath", &env, script)).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.lines("app"), ["through-subpath", "x"], "{}", run.dump());
}

/// expansion.go :: "should fail substituting values in a volume subpath with backticks"
/// and "...with absolute path": an expansion that steps up or is absolute keeps the
/// container waiting with `CreateContainerConfigError`, the kubelet's message and a
/// `Failed` event, and nothing runs.
#[tokio::test]
async fn h5_sub_path_expr_to_dotdot_or_absolute_waits_with_create_container_config_error() {
    for (name, dir, message) in [
        (
            "h5-dotdot",
            "..",
            "unable to provision SubPath `..`: must not contain '..'",
        ),
        (
            "h5-absolute",
            "/tmp",
            "error SubPath `/tmp` must not be an absolute path",
        ),
    ] {
        let started = start(
            &sub_path_expr_pod(name, &var("DIR", dir), "echo ran"),
            options(),
        )
        .await;
        started
            .wait_for(Duration::from_secs(60), message, |p| {
                let w = status_of(p, "app").state.and_then(|s| s.waiting);
                w.as_ref().and_then(|w| w.reason.as_deref()) == Some("CreateContainerConfigError")
                    && w.as_ref().and_then(|w| w.message.as_deref()) == Some(message)
            })
            .await;
        let run = started.finish(Duration::from_millis(200)).await;
        assert_eq!(run.lines("app"), Vec::<String>::new(), "{}", run.dump());
        assert_eq!(
            run.event_messages("app", "Failed"),
            [format!("Error: {message}")],
            "{}",
            run.dump()
        );
    }
}

/// docs init-containers.md: an init container writes a file, the app reads
/// it, and it survives app restarts.
#[tokio::test]
async fn h6_init_writes_app_reads() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: handoff}\nspec:\n  restartPolicy: OnFailure\n  volumes:\n  - name: work\n    emptyDir: {}\n  initContainers:\n  - name: init\n    image: busybox\n    volumeMounts: [{name: work, mountPath: /work}]\n    command: ['sh', '-c', 'echo -n from-init > /work/data']\n  containers:\n  - name: app\n    image: busybox\n    volumeMounts: [{name: work, mountPath: /work}]\n    command: ['sh', '-c', 'cat /work/data; echo; test -f /work/again && exit 0; touch /work/again; exit 1']\n";
    let run = run_pod(yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    assert_eq!(run.status("app").restart_count, 1);
    assert_eq!(run.lines("app"), ["from-init", "from-init"]);
    assert_eq!(run.status("init").restart_count, 0);
}
