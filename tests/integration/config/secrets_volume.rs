//! `test/e2e/common/storage/secrets_volume.go`, and secrets staying secret.

use super::*;

const MOUNT: &str = "    volumeMounts: [{name: secret-volume, mountPath: /etc/secret-volume}]\n";

/// "should be consumable from pods in volume", on memory-backed storage that is gone with
/// the pod.
#[tokio::test]
async fn should_be_consumable_from_pods_in_volume() {
    let ns = "secret-volume";
    apply(&secret(ns, "secret-test", &[("data-1", "value-1")]));
    let run = run(&pod(
        ns,
        "  - name: secret-volume\n    secret: {secretName: secret-test}\n",
        "cat /etc/secret-volume/data-1",
        MOUNT,
    ))
    .await;
    assert_eq!(output(&run), ["value-1"]);
    let leftovers: Vec<_> = std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let uid = run.outcome.pod.metadata.uid.clone().unwrap();
            e.file_name().to_string_lossy().contains(&uid)
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "the secret's files are removed: {leftovers:?}"
    );
}

/// "should be consumable from pods in volume with mappings"
#[tokio::test]
async fn should_be_consumable_from_pods_in_volume_with_mappings() {
    let ns = "secret-mappings";
    apply(&secret(
        ns,
        "secret-test-map",
        &[("data-1", "value-1"), ("data-2", "value-2")],
    ));
    let run = run(&pod(
        ns,
        "  - name: secret-volume\n    secret: {secretName: secret-test-map, items: [{key: data-1, path: new-path-data-1}]}\n",
        "cat /etc/secret-volume/new-path-data-1; echo; ls /etc/secret-volume",
        MOUNT,
    ))
    .await;
    assert_eq!(output(&run), ["value-1", "new-path-data-1"]);
}

/// "should be able to mount in a volume regardless of a different secret existing with
/// same name in different namespace"
#[tokio::test]
async fn should_be_able_to_mount_in_a_volume_regardless_of_a_different_secret_existing_with_same_name_in_different_namespace()
 {
    apply(&secret("secret-ns-a", "same", &[("data-1", "from-a")]));
    apply(&secret("secret-ns-b", "same", &[("data-1", "from-b")]));
    let run = run(&pod(
        "secret-ns-b",
        "  - name: secret-volume\n    secret: {secretName: same}\n",
        "cat /etc/secret-volume/data-1",
        MOUNT,
    ))
    .await;
    assert_eq!(output(&run), ["from-b"]);
}

/// "Should fail non-optional pod creation due to secret object does not exist"
#[tokio::test]
async fn should_fail_non_optional_pod_creation_due_to_secret_object_does_not_exist() {
    let ns = "secret-missing";
    let (started, mut events) = start_subscribed(&pod(
        ns,
        "  - name: secret-volume\n    secret: {secretName: nope}\n",
        "true",
        MOUNT,
    ))
    .await;
    let failed = first_event(&mut events, "FailedMount").await;
    assert_eq!(
        failed,
        "MountVolume.SetUp failed for volume \"secret-volume\" : secret \"nope\" not found"
    );
    let run = started.stop().await;
    assert!(!run.started("c"));
}

/// A Secret's values never appear in events, logs of the runtime, errors or the status:
/// only the guest that reads it sees it.
#[tokio::test]
async fn secret_values_stay_out_of_events_and_status() {
    let ns = "secret-quiet";
    let value = "s3cr3t-value-7f1c";
    apply(&secret(ns, "creds", &[("password", value)]));
    let run = run(&pod(
        ns,
        "  - name: secret-volume\n    secret: {secretName: creds}\n",
        "grep -qx \"$PASSWORD\" /etc/secret-volume/password && echo ok; test -n \"$MISSING\" || echo unset",
        &format!(
            "{MOUNT}    env:\n    - name: PASSWORD\n      valueFrom: {{secretKeyRef: {{name: creds, key: password}}}}\n    - name: MISSING\n      valueFrom: {{secretKeyRef: {{name: creds, key: nope, optional: true}}}}\n"
        ),
    ))
    .await;
    assert_eq!(output(&run), ["ok", "unset"]);
    for e in &run.events {
        assert!(!e.message.contains(value), "event leaks the secret: {e:?}");
    }
    let status = serde_json::to_string(&*run.outcome.pod).unwrap();
    assert!(!status.contains(value), "status leaks the secret");
    let row = format!("{:?}", wasmpod::kubectl_row(&run.outcome.pod));
    assert!(!row.contains(value));
}
