//! `test/e2e/common/node/configmap.go`, `secrets.go` and `downwardapi.go`: env from
//! ConfigMaps, Secrets and the downward API, and a missing reference as the kubelet
//! reports it (`CreateContainerConfigError`).

use std::time::Duration;

use super::*;

/// configmap.go "should be consumable via environment variable"
#[tokio::test]
async fn configmap_should_be_consumable_via_environment_variable() {
    let ns = "env-cm-key";
    apply(&config_map(ns, "configmap-test", &[("data-1", "value-1")]));
    let run = run(&pod(
        ns,
        "",
        "echo CONFIG_DATA_1=$CONFIG_DATA_1",
        "    env:\n    - name: CONFIG_DATA_1\n      valueFrom: {configMapKeyRef: {name: configmap-test, key: data-1}}\n",
    ))
    .await;
    assert_eq!(output(&run), ["CONFIG_DATA_1=value-1"]);
}

/// configmap.go "should be consumable via the environment": `envFrom` with and without a
/// prefix, `env` overriding it and expanding `$(VAR)` against it.
#[tokio::test]
async fn configmap_should_be_consumable_via_the_environment() {
    let ns = "env-cm-from";
    apply(&config_map(
        ns,
        "configmap-test",
        &[("data_1", "value-1"), ("data_2", "value-2")],
    ));
    let run = run(&pod(
        ns,
        "",
        "echo $data_1 $p_data_1 $data_2 $EXPANDED",
        "    envFrom:\n    - configMapRef: {name: configmap-test}\n    - prefix: p_\n      configMapRef: {name: configmap-test}\n    env:\n    - {name: data_2, value: from-env}\n    - {name: EXPANDED, value: \"$(data_1)!\"}\n",
    ))
    .await;
    assert_eq!(output(&run), ["value-1 value-1 from-env value-1!"]);
}

/// configmap.go "should be consumable as environment variable names when configmap keys
/// start with a digit" (relaxed env names, Kubernetes 1.34): nothing is skipped.
#[tokio::test]
async fn should_be_consumable_as_environment_variable_names_when_configmap_keys_start_with_a_digit()
{
    let ns = "env-cm-digit";
    apply(&config_map(
        ns,
        "cm",
        &[("1-data", "value-1"), ("2.key", "value-2")],
    ));
    let run = run(&pod(
        ns,
        "",
        "env | grep -e '^1-data=' -e '^p-2.key=' | sort",
        "    envFrom:\n    - configMapRef: {name: cm}\n    - {prefix: p-, configMapRef: {name: cm}}\n",
    ))
    .await;
    assert_eq!(output(&run), ["1-data=value-1", "p-2.key=value-2"]);
}

/// secrets.go "should be consumable from pods in env vars" and "should be consumable via
/// the environment"
#[tokio::test]
async fn secret_should_be_consumable_from_pods_in_env_vars_and_via_the_environment() {
    let ns = "env-secret";
    apply(&secret(
        ns,
        "secret-test",
        &[("data-1", "value-1"), ("data_2", "value-2")],
    ));
    let run = run(&pod(
        ns,
        "",
        "echo $SECRET_DATA $p_data_2",
        "    envFrom:\n    - {prefix: p_, secretRef: {name: secret-test}}\n    env:\n    - name: SECRET_DATA\n      valueFrom: {secretKeyRef: {name: secret-test, key: data-1}}\n",
    ))
    .await;
    assert_eq!(output(&run), ["value-1 value-2"]);
}

/// downwardapi.go "should provide container's limits.cpu/memory and requests.cpu/memory as
/// env vars" and "should provide default limits.cpu/memory from node allocatable", with
/// "should provide pod UID as env vars".
#[tokio::test]
async fn should_provide_containers_limits_and_requests_and_pod_uid_as_env_vars() {
    let ns = "env-downward";
    let field = |name: &str, resource: &str, divisor: &str| {
        format!(
            "    - name: {name}\n      valueFrom: {{resourceFieldRef: {{resource: {resource}, divisor: {divisor}}}}}\n"
        )
    };
    let env = [
        field("CPU_LIMIT", "limits.cpu", "1m"),
        field("MEMORY_LIMIT", "limits.memory", "1Mi"),
        field("CPU_REQUEST", "requests.cpu", "1m"),
        field("MEMORY_REQUEST", "requests.memory", "1Mi"),
        field("EPHEMERAL_LIMIT", "limits.ephemeral-storage", "1"),
    ]
    .concat();
    let run = run(&pod(
        ns,
        "",
        "echo $CPU_LIMIT $MEMORY_LIMIT $CPU_REQUEST $MEMORY_REQUEST; test $EPHEMERAL_LIMIT -gt 0 && echo node-default; echo $POD_UID",
        &format!(
            "    resources: {{limits: {{cpu: 500m, memory: 64Mi}}, requests: {{cpu: 250m, memory: 32Mi}}}}\n    env:\n{env}    - name: POD_UID\n      valueFrom: {{fieldRef: {{fieldPath: metadata.uid}}}}\n"
        ),
    ))
    .await;
    let out = output(&run);
    assert_eq!(out[..2], ["500 64 250 32", "node-default"]);
    assert_eq!(Some(&out[2]), run.outcome.pod.metadata.uid.as_ref());
}

/// A missing ConfigMap or key in env: the container waits with `CreateContainerConfigError`
/// and the kubelet's message and event; once the object is applied it starts.
#[tokio::test]
async fn a_missing_reference_waits_with_create_container_config_error_until_applied() {
    let ns = "env-missing";
    let started = start(
        &pod(
            ns,
            "",
            "echo $A",
            "    env:\n    - name: A\n      valueFrom: {configMapKeyRef: {name: later, key: a}}\n",
        ),
        options(),
    )
    .await;
    let waiting = |message: &'static str| {
        move |p: &k8s_openapi::api::core::v1::Pod| {
            let s = status_of(p, "c");
            let w = s.state.and_then(|s| s.waiting);
            w.as_ref().and_then(|w| w.reason.as_deref()) == Some("CreateContainerConfigError")
                && w.as_ref().and_then(|w| w.message.as_deref()) == Some(message)
        }
    };
    started
        .wait_for(
            Duration::from_secs(30),
            "configmap not found",
            waiting("configmap \"later\" not found"),
        )
        .await;
    // The ConfigMap without the key: the message changes to the missing key.
    apply(&config_map(ns, "later", &[("b", "x")]));
    started
        .wait_for(
            Duration::from_secs(30),
            "key not found",
            waiting("couldn't find key a in ConfigMap env-missing/later"),
        )
        .await;
    assert_eq!(
        started.pod().status.unwrap().phase.as_deref(),
        Some("Pending")
    );
    apply(&config_map(ns, "later", &[("a", "arrived")]));
    let run = started.finish(Duration::from_secs(60)).await;
    assert_eq!(output(&run), ["arrived"]);
    assert_eq!(
        run.event_messages("c", "Failed"),
        [
            "Error: configmap \"later\" not found",
            "Error: couldn't find key a in ConfigMap env-missing/later"
        ]
    );
    assert_eq!(run.status("c").restart_count, 0);
}

/// `wasmpod run`, where nothing can add an object, lists every missing reference (env and
/// volumes, optional ones left out) and exits 2 before anything runs.
#[test]
fn wasmpod_run_reports_every_missing_reference_and_exits_2() {
    let ws = crate::cli::Workspace::new();
    let yaml = format!(
        "{}---\n{}",
        config_map("default", "present", &[("a", "1")]),
        pod(
            "default",
            "  - name: v\n    secret: {secretName: absent-secret}\n  - name: w\n    configMap: {name: absent-optional, optional: true}\n",
            "echo never",
            "    env:\n    - name: A\n      valueFrom: {configMapKeyRef: {name: present, key: nope}}\n    - name: B\n      valueFrom: {configMapKeyRef: {name: gone, key: b, optional: true}}\n    envFrom:\n    - configMapRef: {name: absent-map}\n",
        )
    );
    let ran = ws.run_yaml(&yaml, &[]);
    ran.assert_code(2);
    for missing in [
        "pod/p: configmap \"absent-map\" not found",
        "pod/p: couldn't find key nope in ConfigMap default/present",
        "pod/p: volume \"v\": secret \"absent-secret\" not found",
    ] {
        assert!(ran.stderr.contains(missing), "{missing}: {ran}");
    }
    assert!(
        !ran.stderr.contains("gone") && !ran.stderr.contains("absent-optional"),
        "{ran}"
    );
    assert!(!ran.stdout.contains("never"), "{ran}");
}

/// A `subPathExpr` naming a variable the container does not have would keep it waiting
/// (`CreateContainerConfigError`); `wasmpod run` reports it with the kubelet's message
/// and exits 2 before anything runs.
#[test]
fn wasmpod_run_reports_a_sub_path_expr_that_cannot_expand_and_exits_2() {
    let ws = crate::cli::Workspace::new();
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: spe}\nspec:\n  restartPolicy: Never\n  \
                volumes:\n  - {name: v, emptyDir: {}}\n  containers:\n  - name: app\n    image: busybox\n    \
                command: ['echo', 'never']\n    env:\n    - {name: SET, value: x}\n    \
                volumeMounts:\n    - {name: v, mountPath: /a, subPathExpr: '$(SET)/$(UNSET)'}\n";
    let ran = ws.run_yaml(yaml, &[]);
    ran.assert_code(2);
    assert!(
        ran.stderr
            .contains("pod/spe: container \"app\": missing value for UNSET"),
        "{ran}"
    );
    assert!(!ran.stdout.contains("never"), "{ran}");
}
