//! `test/e2e/common/storage/configmap_volume.go`.

use std::time::Duration;

use super::*;

const MOUNT: &str =
    "    volumeMounts: [{name: configmap-volume, mountPath: /etc/configmap-volume}]\n";

/// "should be consumable from pods in volume"
#[tokio::test]
async fn should_be_consumable_from_pods_in_volume() {
    let ns = "cm-volume";
    apply(&config_map(
        ns,
        "configmap-test-volume",
        &[("data-1", "value-1"), ("data-2", "value-2")],
    ));
    let run = run(&pod(
        ns,
        "  - name: configmap-volume\n    configMap: {name: configmap-test-volume}\n",
        "cat /etc/configmap-volume/data-1; echo; ls -A /etc/configmap-volume",
        MOUNT,
    ))
    .await;
    let out = output(&run);
    assert_eq!(out[0], "value-1");
    // The kubelet's layout: the keys, `..data` and one timestamped version.
    let names = &out[1..];
    assert!(names.contains(&"..data".to_string()), "{names:?}");
    assert!(names.contains(&"data-1".to_string()) && names.contains(&"data-2".to_string()));
    assert_eq!(
        names.iter().filter(|n| n.starts_with("..20")).count(),
        1,
        "{names:?}"
    );
}

/// "should be consumable from pods in volume with mappings"
#[tokio::test]
async fn should_be_consumable_from_pods_in_volume_with_mappings() {
    let ns = "cm-volume-mappings";
    apply(&config_map(
        ns,
        "configmap-test-volume-map",
        &[("data-1", "value-1"), ("data-2", "value-2")],
    ));
    let run = run(&pod(
        ns,
        "  - name: configmap-volume\n    configMap:\n      name: configmap-test-volume-map\n      items: [{key: data-2, path: path/to/data-2}]\n",
        "cat /etc/configmap-volume/path/to/data-2; echo; ls /etc/configmap-volume",
        MOUNT,
    ))
    .await;
    assert_eq!(
        output(&run),
        ["value-2", "path"],
        "only the listed key is projected"
    );
}

/// "binary data should be reflected in volume"
#[tokio::test]
async fn binary_data_should_be_reflected_in_volume() {
    let ns = "cm-binary";
    apply(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm, namespace: {ns}}}\ndata: {{data-1: value-1}}\nbinaryData: {{dump.bin: 3q2+7w==}}\n"
    ));
    let run = run(&pod(
        ns,
        "  - name: configmap-volume\n    configMap: {name: cm}\n",
        "cat /etc/configmap-volume/data-1; echo; wc -c /etc/configmap-volume/dump.bin",
        MOUNT,
    ))
    .await;
    let out = output(&run);
    assert_eq!(out[0], "value-1");
    assert!(
        out[1].trim_start().starts_with('4'),
        "4 bytes of binary data: {out:?}"
    );
}

/// "should be consumable in multiple volumes in the same pod"
#[tokio::test]
async fn should_be_consumable_in_multiple_volumes_in_the_same_pod() {
    let ns = "cm-multiple";
    apply(&config_map(ns, "cm", &[("data-1", "value-1")]));
    let run = run(&pod(
        ns,
        "  - name: one\n    configMap: {name: cm}\n  - name: two\n    configMap: {name: cm}\n",
        "cat /etc/one/data-1 /etc/two/data-1",
        "    volumeMounts: [{name: one, mountPath: /etc/one}, {name: two, mountPath: /etc/two}]\n",
    ))
    .await;
    assert_eq!(output(&run), ["value-1value-1"]);
}

/// "updates should be reflected in volume", and the mount is read-only as on a node.
#[tokio::test]
async fn updates_should_be_reflected_in_volume() {
    let ns = "cm-updates";
    apply(&config_map(ns, "cm", &[("data-1", "value-1")]));
    let started = start(
        &pod(
            ns,
            "  - name: configmap-volume\n    configMap: {name: cm}\n",
            "if echo x > /etc/configmap-volume/data-1; then echo writable; fi; \
             until grep -q value-2 /etc/configmap-volume/data-1; do sleep 0.1; done; cat /etc/configmap-volume/data-1",
            MOUNT,
        ),
        options(),
    )
    .await;
    started
        .wait_for(Duration::from_secs(60), "running", |p| is_running(p, "c"))
        .await;
    apply(&config_map(ns, "cm", &[("data-1", "value-2")]));
    let run = started.finish(Duration::from_secs(60)).await;
    let out = output(&run);
    assert!(
        out[0].starts_with("sh: can't create /etc/configmap-volume/data-1"),
        "read-only: {out:?}"
    );
    assert_eq!(out[1..], ["value-2"], "the update showed");
}

/// "optional updates should be reflected in volume": a missing optional ConfigMap is an
/// empty volume; once created, its keys appear.
#[tokio::test]
async fn optional_updates_should_be_reflected_in_volume() {
    let ns = "cm-optional";
    let (started, mut logs) = start_watched(
        &pod(
            ns,
            "  - name: configmap-volume\n    configMap: {name: cm-create, optional: true}\n",
            "ls -A /etc/configmap-volume; echo listed; until cat /etc/configmap-volume/data-3 2>/dev/null; do sleep 0.1; done",
            MOUNT,
        ),
        options(),
    )
    .await;
    logs.wait_line("c", "listed", Duration::from_secs(60)).await;
    apply(&config_map(ns, "cm-create", &[("data-3", "value-3")]));
    let run = started.finish(Duration::from_secs(60)).await;
    let out = output(&run);
    // Empty at first: only the kubelet's `..data` and its version.
    assert_eq!(out.len(), 4, "{out:?}");
    assert!(out[..2].iter().all(|n| n.starts_with("..")), "{out:?}");
    assert_eq!(out[2..], ["listed", "value-3"]);
}

#[tokio::test]
async fn should_fail_non_optional_pod_creation_due_to_configmap_object_does_not_exist() {
    let ns = "cm-missing";
    let (started, mut events) = start_subscribed(&pod(
        ns,
        "  - name: configmap-volume\n    configMap: {name: cm-later}\n",
        "cat /etc/configmap-volume/data-1",
        MOUNT,
    ))
    .await;
    let failed = first_event(&mut events, "FailedMount").await;
    assert_eq!(
        failed,
        "MountVolume.SetUp failed for volume \"configmap-volume\" : configmap \"cm-later\" not found"
    );
    let pod = started.pod();
    assert_eq!(
        pod.status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    assert_eq!(
        waiting_reason(&pod, "c").as_deref(),
        Some("ContainerCreating")
    );

    apply(&config_map(ns, "cm-later", &[("data-1", "value-1")]));
    let run = started.finish(Duration::from_secs(60)).await;
    assert_eq!(output(&run), ["value-1"]);
}

/// "Should fail non-optional pod creation due to the key in the configMap object does not
/// exist"
#[tokio::test]
async fn should_fail_non_optional_pod_creation_due_to_the_key_in_the_configmap_object_does_not_exist()
 {
    let ns = "cm-missing-key";
    apply(&config_map(ns, "cm", &[("data-1", "value-1")]));
    let (started, mut events) = start_subscribed(&pod(
        ns,
        "  - name: configmap-volume\n    configMap: {name: cm, items: [{key: data-4, path: d4}]}\n",
        "cat /etc/configmap-volume/d4",
        MOUNT,
    ))
    .await;
    let failed = first_event(&mut events, "FailedMount").await;
    assert_eq!(
        failed,
        "MountVolume.SetUp failed for volume \"configmap-volume\" : configmap references non-existent config key: data-4"
    );
    assert_eq!(
        waiting_reason(&started.pod(), "c").as_deref(),
        Some("ContainerCreating")
    );
    let run = started.stop().await;
    assert!(!run.started("c"), "the container never started");
}

/// "should be immutable if `immutable` field is set"
#[tokio::test]
async fn should_be_immutable_if_immutable_field_is_set() {
    let ns = "cm-immutable";
    let immutable = |value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm, namespace: {ns}}}\nimmutable: true\ndata: {{data: {value}}}\n"
        )
    };
    apply(&immutable("value-1"));
    let file = wasmpod::spec::load(&immutable("value-2")).unwrap();
    let err = runtime()
        .cluster()
        .apply(file.objects[0].clone())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ConfigMap cm-immutable/cm: data: Forbidden: field is immutable when `immutable` is set"
    );
    let cm = runtime().cluster().objects();
    let cm = cm.config_map(ns, "cm").unwrap();
    assert_eq!(cm.data.as_ref().unwrap()["data"], "value-1");
}

/// A `subPath` naming one key mounts that file (copied at start, as a node's `subPath`
/// mount that never follows updates).
#[tokio::test]
async fn a_subpath_mounts_one_key_as_a_file() {
    let ns = "cm-subpath";
    apply(&config_map(
        ns,
        "cm",
        &[("nginx.conf", "worker_processes 1;"), ("other", "x")],
    ));
    let run = run(&pod(
        ns,
        "  - name: configmap-volume\n    configMap: {name: cm}\n",
        "cat /etc/nginx/nginx.conf; echo; ls /etc/nginx; if echo y > /etc/nginx/nginx.conf; then echo writable; fi",
        "    volumeMounts: [{name: configmap-volume, mountPath: /etc/nginx/nginx.conf, subPath: nginx.conf}]\n",
    ))
    .await;
    let out = output(&run);
    assert_eq!(out[..2], ["worker_processes 1;", "nginx.conf"]);
    assert!(
        out[2].starts_with("sh: can't create /etc/nginx/nginx.conf"),
        "read-only: {out:?}"
    );
}
