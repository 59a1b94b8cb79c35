//! Kubernetes validation rules: names, restart policies, volumes, mounts, env, ports.

use super::*;

#[test]
fn metadata_name_required_unless_generate_name() {
    let p = problems(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {a: b}\nspec:\n  containers: [{name: a, image: a}]\n",
    );
    has(
        &p,
        "metadata.name",
        3,
        "Required value: name or generateName is required",
    );
    assert_eq!(p.len(), 1, "{p:#?}");
    let ok = "apiVersion: v1\nkind: Pod\nmetadata:\n  generateName: web-\nspec:\n  containers: [{name: a, image: a}]\n";
    assert!(warnings(ok).is_empty());
}

#[test]
fn metadata_name_is_dns_subdomain() {
    let p = problems(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: My_Pod\nspec:\n{APP}"
    ));
    has(
        &p,
        "metadata.name",
        4,
        r#"Invalid value: "My_Pod": a lowercase RFC 1123 subdomain"#,
    );
    let long = "a".repeat(254);
    let p = problems(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {long}\nspec:\n{APP}"
    ));
    has(
        &p,
        "metadata.name",
        4,
        "must be no more than 253 characters",
    );
    assert!(
        warnings(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web.v2-x\nspec:\n{APP}"
        ))
        .is_empty()
    );
}

#[test]
fn at_least_one_container() {
    let p = problems(&pod("  containers: []\n"));
    has(&p, "spec.containers", 6, "Required value");
    let p = problems("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n");
    has(&p, "spec.containers", 1, "Required value");
}

#[test]
fn container_name_required_and_dns_label() {
    let p = problems(&pod(
        "  containers:\n  - image: a.wasm\n  - name: App_1\n    image: b.wasm\n",
    ));
    has(&p, "spec.containers[0].name", 7, "Required value");
    has(
        &p,
        "spec.containers[1].name",
        8,
        "a lowercase RFC 1123 label must consist of",
    );
}

#[test]
fn container_names_unique_across_init_and_app() {
    let p = problems(&pod(
        "  initContainers:\n  - name: app\n    image: i.wasm\n  containers:\n  - name: app\n    image: a.wasm\n",
    ));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(
        p[0].to_string(),
        r#"spec.containers[0].name (line 10): Duplicate value: "app""#
    );
}

#[test]
fn image_required() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n  - name: b\n    image: ''\n",
    ));
    has(&p, "spec.containers[0].image", 7, "Required value");
    has(&p, "spec.containers[1].image", 9, "Required value");
}

#[test]
fn pod_restart_policy_supported_values() {
    let p = problems(&pod(&format!("  restartPolicy: Sometimes\n{APP}")));
    assert_eq!(
        p[0].to_string(),
        r#"spec.restartPolicy (line 6): Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#
    );
}

#[test]
fn container_restart_policies() {
    let p = problems(&pod(
        "  initContainers:\n  - {name: i, image: i.wasm, restartPolicy: Sometimes}\n  containers:\n  - {name: a, image: a.wasm, restartPolicy: Later}\n",
    ));
    has(
        &p,
        "spec.initContainers[0].restartPolicy",
        7,
        r#"Unsupported value: "Sometimes""#,
    );
    has(
        &p,
        "spec.containers[0].restartPolicy",
        9,
        r#"Unsupported value: "Later""#,
    );
    let ok = pod(
        "  initContainers:\n  - {name: s, image: s.wasm, restartPolicy: Always}\n  - {name: o, image: o.wasm, restartPolicy: OnFailure}\n  - {name: n, image: n.wasm, restartPolicy: Never}\n  containers:\n  - {name: a, image: a.wasm, restartPolicy: Never}\n",
    );
    assert!(warnings(&ok).is_empty());
}

#[test]
fn restart_policy_rules_forbidden_on_sidecar() {
    let p = problems(&pod(&format!(
        "  initContainers:\n  - name: side\n    image: s.wasm\n    restartPolicy: Always\n    restartPolicyRules:\n    - action: Restart\n      exitCodes: {{operator: In, values: [42]}}\n{APP}"
    )));
    has(
        &p,
        "spec.initContainers[0].restartPolicyRules",
        10,
        "Forbidden: may not be set for a restartable init container",
    );
}

#[test]
fn restart_policy_rules_need_a_restart_policy() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    restartPolicyRules:\n    - action: Jump\n      exitCodes: {operator: Maybe}\n",
    ));
    has(&p, "spec.containers[0].restartPolicy", 7, "Required value");
    has(
        &p,
        "spec.containers[0].restartPolicyRules[0].action",
        10,
        r#"Unsupported value: "Jump""#,
    );
    has(
        &p,
        "spec.containers[0].restartPolicyRules[0].exitCodes.operator",
        11,
        r#"Unsupported value: "Maybe""#,
    );
}

#[test]
fn volume_names() {
    let p = problems(&pod(&format!(
        "{APP}  volumes:\n  - emptyDir: {{}}\n  - name: Bad_Name\n    emptyDir: {{}}\n  - name: data\n    emptyDir: {{}}\n  - name: data\n    emptyDir: {{}}\n"
    )));
    has(&p, "spec.volumes[0].name", 10, "Required value");
    has(&p, "spec.volumes[1].name", 11, "a lowercase RFC 1123 label");
    has(&p, "spec.volumes[3].name", 15, r#"Duplicate value: "data""#);
}

#[test]
fn volume_needs_exactly_one_source() {
    let p = problems(&pod(&format!(
        "{APP}  volumes:\n  - name: none\n  - name: two\n    emptyDir: {{}}\n    hostPath: {{path: /tmp}}\n"
    )));
    has(
        &p,
        "spec.volumes[0]",
        10,
        "Required value: must specify a volume type",
    );
    has(
        &p,
        "spec.volumes[1].hostPath",
        13,
        "Forbidden: may not specify more than 1 volume type",
    );
}

#[test]
fn host_path_rules() {
    let p = problems(&pod(&format!(
        "{APP}  volumes:\n  - name: a\n    hostPath: {{path: ''}}\n  - name: b\n    hostPath:\n      path: relative/dir\n      type: Folder\n"
    )));
    has(&p, "spec.volumes[0].hostPath.path", 11, "Required value");
    has(
        &p,
        "spec.volumes[1].hostPath.path",
        14,
        "must be an absolute path",
    );
    has(
        &p,
        "spec.volumes[1].hostPath.type",
        15,
        r#"Unsupported value: "Folder": supported values: "", "BlockDevice", "CharDevice", "Directory""#,
    );
}

#[test]
fn empty_dir_medium() {
    let p = problems(&pod(&format!(
        "{APP}  volumes:\n  - name: a\n    emptyDir: {{medium: HugePages}}\n"
    )));
    has(
        &p,
        "spec.volumes[0].emptyDir.medium",
        11,
        r#"Unsupported value: "HugePages": supported values: "", "Memory""#,
    );
    assert!(
        warnings(&pod(&format!(
            "{APP}  volumes:\n  - name: a\n    emptyDir: {{medium: Memory}}\n"
        )))
        .is_empty()
    );
}

#[test]
fn unsupported_volume_type_is_an_error() {
    let p = problems(&pod(&format!(
        "{APP}  volumes:\n  - name: cfg\n    nfs:\n      server: nfs.example\n      path: /data\n"
    )));
    assert_eq!(
        p[0].to_string(),
        "spec.volumes[0].nfs (line 11): volume type nfs is not supported yet (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)"
    );
}

#[test]
fn volume_mount_must_name_a_volume() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    volumeMounts:\n    - name: logs\n      mountPath: /logs\n",
    ));
    assert_eq!(
        p[0].to_string(),
        r#"spec.containers[0].volumeMounts[0].name (line 10): Not found: "logs""#
    );
}

#[test]
fn mount_path_required_absolute_unique() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    volumeMounts:\n    - {name: v}\n    - {name: v, mountPath: data}\n    - {name: v, mountPath: /d}\n    - {name: v, mountPath: /d}\n  volumes: [{name: v, emptyDir: {}}]\n",
    ));
    has(
        &p,
        "spec.containers[0].volumeMounts[0].mountPath",
        10,
        "Required value",
    );
    has(
        &p,
        "spec.containers[0].volumeMounts[1].mountPath",
        11,
        "must be an absolute path",
    );
    has(
        &p,
        "spec.containers[0].volumeMounts[3].mountPath",
        13,
        r#"Invalid value: "/d": must be unique"#,
    );
}

#[test]
fn sub_path_relative_without_dotdot() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    volumeMounts:\n    - name: v\n      mountPath: /a\n      subPath: /abs\n    - name: v\n      mountPath: /b\n      subPath: x/../../y\n  volumes: [{name: v, emptyDir: {}}]\n",
    ));
    has(
        &p,
        "spec.containers[0].volumeMounts[0].subPath",
        12,
        "must be a relative path",
    );
    has(
        &p,
        "spec.containers[0].volumeMounts[1].subPath",
        15,
        "must not contain '..'",
    );
}

#[test]
fn sub_path_expr_relative_without_dotdot_and_not_beside_sub_path() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    volumeMounts:\n    - name: v\n      mountPath: /a\n      subPathExpr: /$(X)\n    - name: v\n      mountPath: /b\n      subPathExpr: $(X)/..\n    - name: v\n      mountPath: /c\n      subPath: s\n      subPathExpr: $(X)\n    - name: v\n      mountPath: /d\n      subPathExpr: logs/$(X)\n  volumes: [{name: v, emptyDir: {}}]\n",
    ));
    has(
        &p,
        "spec.containers[0].volumeMounts[0].subPathExpr",
        12,
        "must be a relative path",
    );
    has(
        &p,
        "spec.containers[0].volumeMounts[1].subPathExpr",
        15,
        "must not contain '..'",
    );
    has(
        &p,
        "spec.containers[0].volumeMounts[2].subPathExpr",
        19,
        "subPathExpr and subPath are mutually exclusive",
    );
    assert!(
        !p.iter().any(|e| e.path.contains("volumeMounts[3]")),
        "a relative expression is valid: {p:?}"
    );
}

#[test]
fn dns_config_is_validated_as_the_api_server_does() {
    let p = problems(&pod(
        "  dnsPolicy: None\n  dnsConfig:\n    nameservers: [1.1.1.1, 8.8.8.8, 9.9.9.9, not-an-ip]\n    searches: [ok.example, Bad_Domain, ., trailing.example.]\n    options:\n    - {name: ndots, value: '2'}\n    - {value: x}\n  containers:\n  - {name: a, image: a.wasm}\n",
    ));
    has(
        &p,
        "spec.dnsConfig.nameservers",
        8,
        "must not have more than 3 nameservers",
    );
    has(
        &p,
        "spec.dnsConfig.nameservers[3]",
        8,
        "must be a valid IP address",
    );
    has(&p, "spec.dnsConfig.searches[1]", 9, "RFC 1123 subdomain");
    has(
        &p,
        "spec.dnsConfig.options[1]",
        12,
        "Option.Name must not be empty",
    );
    assert_eq!(p.len(), 4, "`.` and a final dot are valid searches: {p:#?}");
    // `None` needs a dnsConfig, with a nameserver.
    let p = problems(&pod(
        "  dnsPolicy: None\n  containers:\n  - {name: a, image: a.wasm}\n",
    ));
    has(
        &p,
        "spec.dnsConfig",
        5,
        "must provide `dnsConfig` when `dnsPolicy` is None",
    );
    let p = problems(&pod(
        "  dnsPolicy: None\n  dnsConfig: {searches: [a.example]}\n  containers:\n  - {name: a, image: a.wasm}\n",
    ));
    has(
        &p,
        "spec.dnsConfig.nameservers",
        7,
        "at least one DNS nameserver",
    );
    // At most 32 searches, 2048 characters in all.
    let many: Vec<String> = (0..33).map(|i| format!("d{i}.example")).collect();
    let p = problems(&pod(&format!(
        "  dnsConfig: {{searches: [{}]}}\n  containers:\n  - {{name: a, image: a.wasm}}\n",
        many.join(", ")
    )));
    has(
        &p,
        "spec.dnsConfig.searches",
        6,
        "must not have more than 32 search paths",
    );
    let wide: Vec<String> = (0..30)
        .map(|i| format!("{}.d{i}.example", "a".repeat(63)))
        .collect();
    let p = problems(&pod(&format!(
        "  dnsConfig: {{searches: [{}]}}\n  containers:\n  - {{name: a, image: a.wasm}}\n",
        wide.join(", ")
    )));
    has(
        &p,
        "spec.dnsConfig.searches",
        6,
        "2048 characters (including spaces)",
    );
    // Honoured: no warning.
    let w = warnings(&pod(
        "  dnsPolicy: ClusterFirst\n  dnsConfig: {searches: [a.example], options: [{name: ndots, value: '1'}]}\n  containers:\n  - {name: a, image: a.wasm}\n",
    ));
    assert!(w.is_empty(), "dnsPolicy and dnsConfig are honoured: {w:#?}");
}

#[test]
fn host_aliases_need_an_ip_and_subdomain_names() {
    let p = problems(&pod(
        "  hostAliases:\n  - ip: 10.0.0.256\n    hostnames: [ok.example]\n  - ip: fd00::1\n    hostnames: [Bad_Name]\n  containers:\n  - {name: a, image: a.wasm}\n",
    ));
    has(
        &p,
        "spec.hostAliases[0].ip",
        7,
        "must be a valid IP address",
    );
    has(
        &p,
        "spec.hostAliases[1].hostnames[0]",
        10,
        "RFC 1123 subdomain",
    );
    assert_eq!(p.len(), 2, "{p:#?}");
    let w = warnings(&pod(
        "  hostAliases:\n  - ip: 127.0.0.1\n    hostnames: [db.local]\n  containers:\n  - {name: a, image: a.wasm}\n",
    ));
    assert!(w.is_empty(), "hostAliases are honoured: {w:#?}");
}

#[test]
fn security_context_warns_only_for_what_the_sandbox_does_not_hold() {
    // The Restricted Pod Security Standard's fields: every Wasm guest already holds them.
    let restricted = warnings(&pod(
        "  securityContext:\n    runAsNonRoot: true\n    seccompProfile: {type: RuntimeDefault}\n  containers:\n  - name: a\n    image: a.wasm\n    securityContext:\n      allowPrivilegeEscalation: false\n      capabilities: {drop: [ALL]}\n      readOnlyRootFilesystem: true\n      runAsNonRoot: true\n      seccompProfile: {type: RuntimeDefault}\n",
    ));
    assert!(restricted.is_empty(), "{restricted:#?}");
    // What asks for more, or names an identity, is not honoured and says so, field by field.
    let w = warnings(&pod(
        "  securityContext:\n    runAsUser: 1000\n    seccompProfile: {type: Unconfined}\n  containers:\n  - name: a\n    image: a.wasm\n    securityContext:\n      capabilities: {add: [NET_ADMIN], drop: [ALL]}\n      privileged: true\n      runAsNonRoot: false\n",
    ));
    let paths: Vec<&str> = w.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "spec.containers[0].securityContext.capabilities",
            "spec.containers[0].securityContext.privileged",
            "spec.securityContext.runAsUser",
            "spec.securityContext.seccompProfile",
        ],
        "{w:#?}"
    );
}

#[test]
fn env_names_and_sources() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    env:\n    - value: x\n    - name: A=B\n    - name: BOTH\n      value: x\n      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n    - name: NONE\n      valueFrom: {}\n    - name: ok name.with-chars\n",
    ));
    has(&p, "spec.containers[0].env[0].name", 10, "Required value");
    has(
        &p,
        "spec.containers[0].env[1].name",
        11,
        "printable ASCII characters other than '='",
    );
    has(
        &p,
        "spec.containers[0].env[2].valueFrom",
        14,
        "may not be specified when `value` is not empty",
    );
    has(
        &p,
        "spec.containers[0].env[3].valueFrom",
        16,
        "must specify one of",
    );
    assert_eq!(p.len(), 4, "{p:#?}");
}

#[test]
fn env_field_ref_paths() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    env:\n    - name: A\n      valueFrom: {fieldRef: {fieldPath: spec.foo}}\n    - name: B\n      valueFrom:\n        fieldRef: {fieldPath: \"spec.nodeName['x']\"}\n    - name: C\n      valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\", apiVersion: v1}}\n    - name: D\n      valueFrom: {fieldRef: {fieldPath: status.podIPs, apiVersion: v2}}\n",
    ));
    has(
        &p,
        "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
        11,
        r#"Unsupported value: "spec.foo": supported values: "metadata.name""#,
    );
    has(
        &p,
        "spec.containers[0].env[1].valueFrom.fieldRef",
        14,
        "does not support subscript",
    );
    has(
        &p,
        "spec.containers[0].env[3].valueFrom.fieldRef.apiVersion",
        18,
        r#"Unsupported value: "v2""#,
    );
    assert_eq!(p.len(), 3, "{p:#?}");
}

#[test]
fn ports() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    ports:\n    - containerPort: 0\n    - containerPort: 70000\n    - {containerPort: 80, name: HTTP}\n    - {containerPort: 81, name: web}\n    - {containerPort: 82, name: web, protocol: ICMP}\n",
    ));
    has(
        &p,
        "spec.containers[0].ports[0].containerPort",
        10,
        "Required value",
    );
    has(
        &p,
        "spec.containers[0].ports[1].containerPort",
        11,
        "Invalid value: 70000: must be between 1 and 65535, inclusive",
    );
    has(
        &p,
        "spec.containers[0].ports[2].name",
        12,
        "must contain only alpha-numeric characters",
    );
    has(
        &p,
        "spec.containers[0].ports[4].name",
        14,
        r#"Duplicate value: "web""#,
    );
    has(
        &p,
        "spec.containers[0].ports[4].protocol",
        14,
        r#"Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP""#,
    );
}

#[test]
fn grace_period_and_working_dir() {
    let p = problems(&pod(
        "  terminationGracePeriodSeconds: -1\n  containers:\n  - name: a\n    image: a.wasm\n    workingDir: rel\n",
    ));
    has(
        &p,
        "spec.terminationGracePeriodSeconds",
        6,
        "must be greater than or equal to 0",
    );
    has(
        &p,
        "spec.containers[0].workingDir",
        10,
        "must be an absolute path",
    );
}

#[test]
fn probes_forbidden_on_plain_init_containers() {
    let p = problems(&pod(&format!(
        "  initContainers:\n  - name: i\n    image: i.wasm\n    livenessProbe: {{exec: {{command: [x]}}}}\n{APP}"
    )));
    has(
        &p,
        "spec.initContainers[0].livenessProbe",
        9,
        "may not be set for init containers without restartPolicy=Always",
    );
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let p = problems(&pod(
        "  restartPolicy: No\n  containers:\n  - name: A\n  - name: b\n    image: b\n    comand: [x]\n",
    ));
    let lines: Vec<_> = p.iter().map(|d| d.line.unwrap()).collect();
    assert_eq!(lines, [6, 8, 8, 11], "{p:#?}");
}
