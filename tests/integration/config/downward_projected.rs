//! `test/e2e/common/storage/downwardapi_volume.go` and `projected_combined.go` /
//! `projected_configmap.go` / `projected_secret.go`.

use super::*;

const MOUNT: &str = "    volumeMounts: [{name: podinfo, mountPath: /etc/podinfo}]\n";
const RESOURCES: &str =
    "    resources: {limits: {cpu: 1250m, memory: 64Mi}, requests: {cpu: 250m, memory: 32Mi}}\n";

fn downward(items: &str) -> String {
    format!("  - name: podinfo\n    downwardAPI:\n      items:\n{items}")
}

/// "should provide podname only", and the other pod fields a downward API file can hold.
#[tokio::test]
async fn should_provide_podname_only() {
    let ns = "downward-fields";
    let run = run(&pod(
        ns,
        &downward(
            "      - {path: podname, fieldRef: {fieldPath: metadata.name}}\n      - {path: ns, fieldRef: {fieldPath: metadata.namespace}}\n      - {path: app, fieldRef: {fieldPath: \"metadata.labels['app']\"}}\n",
        ),
        "cat /etc/podinfo/podname; echo; cat /etc/podinfo/ns; echo; cat /etc/podinfo/app",
        MOUNT,
    ))
    .await;
    assert_eq!(output(&run), ["p", ns, "demo"]);
}

/// "should provide podname as non-root with fsgroup" cannot apply (no owners); its
/// sibling "should provide labels and annotations files": the kubelet's `key="value"`
/// lines, sorted, Go-quoted.
#[tokio::test]
async fn should_provide_labels_and_annotations_files() {
    let ns = "downward-labels";
    let run = run(&pod(
        ns,
        &downward(
            "      - {path: labels, fieldRef: {fieldPath: metadata.labels}}\n      - {path: annotations, fieldRef: {fieldPath: metadata.annotations}}\n",
        ),
        "cat /etc/podinfo/labels; echo; cat /etc/podinfo/annotations",
        MOUNT,
    ))
    .await;
    assert_eq!(
        output(&run),
        ["app=\"demo\"", "tier=\"x\\\"y\"", "note=\"hi\""]
    );
}

/// "should provide container's cpu limit", "memory limit", "cpu request", "memory request"
#[tokio::test]
async fn should_provide_containers_limits_and_requests() {
    let ns = "downward-resources";
    let item = |path: &str, resource: &str, divisor: &str| {
        format!(
            "      - {{path: {path}, resourceFieldRef: {{containerName: c, resource: {resource}, divisor: {divisor}}}}}\n"
        )
    };
    let items = [
        item("cpu_limit", "limits.cpu", "1m"),
        item("memory_limit", "limits.memory", "1Mi"),
        item("cpu_request", "requests.cpu", "1m"),
        item("memory_request", "requests.memory", "1Mi"),
    ]
    .concat();
    let run = run(&pod(
        ns,
        &downward(&items),
        "for f in cpu_limit memory_limit cpu_request memory_request; do cat /etc/podinfo/$f; echo; done",
        &format!("{MOUNT}{RESOURCES}"),
    ))
    .await;
    assert_eq!(output(&run), ["1250", "64", "250", "32"]);
}

/// "should provide node allocatable (cpu) as default cpu limit if the limit is not set"
/// and "(memory) … memory limit": the machine's CPUs and memory.
#[tokio::test]
async fn should_provide_node_allocatable_as_default_limits_if_the_limit_is_not_set() {
    let ns = "downward-allocatable";
    let run = run(&pod(
        ns,
        &downward(
            "      - {path: cpu_limit, resourceFieldRef: {containerName: c, resource: limits.cpu}}\n      - {path: memory_limit, resourceFieldRef: {containerName: c, resource: limits.memory, divisor: 1Mi}}\n",
        ),
        "cat /etc/podinfo/cpu_limit; echo; cat /etc/podinfo/memory_limit",
        MOUNT,
    ))
    .await;
    let out = output(&run);
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(out[0], cpus.to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = meminfo
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(out[1], (kib * 1024).div_ceil(1 << 20).to_string());
}

/// projected_combined.go "should project all components that make up the projection API"
#[tokio::test]
async fn should_project_all_components_that_make_up_the_projection_api() {
    let ns = "projected-all";
    apply(&config_map(
        ns,
        "configmap-projected-all-test-volume",
        &[("configmap-data", "configmap-value-1")],
    ));
    apply(&secret(
        ns,
        "secret-projected-all-test-volume",
        &[("secret-data", "secret-value-1")],
    ));
    let run = run(&pod(
        ns,
        "  - name: podinfo\n    projected:\n      sources:\n      - secret: {name: secret-projected-all-test-volume, items: [{key: secret-data, path: secret-data}]}\n      - configMap: {name: configmap-projected-all-test-volume, items: [{key: configmap-data, path: configmap-data}]}\n      - downwardAPI: {items: [{path: podname, fieldRef: {fieldPath: metadata.name}}, {path: cpu_limit, resourceFieldRef: {containerName: c, resource: limits.cpu}}]}\n",
        "cat /etc/podinfo/podname; echo; cat /etc/podinfo/secret-data; echo; cat /etc/podinfo/configmap-data; echo; cat /etc/podinfo/cpu_limit",
        &format!("{MOUNT}{RESOURCES}"),
    ))
    .await;
    assert_eq!(
        output(&run),
        ["p", "secret-value-1", "configmap-value-1", "2"]
    );
}
