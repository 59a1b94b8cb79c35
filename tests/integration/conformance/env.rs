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
