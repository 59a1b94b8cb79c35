//! One test per rule: a bad snippet → the exact field path, line and message fragment.

use super::*;

/// Lines 1–5; the spec body passed to [`pod`] starts on line 6.
const HEAD: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n";

fn pod(spec_body: &str) -> String {
    format!("{HEAD}{spec_body}")
}

fn problems(yaml: &str) -> Vec<Diagnostic> {
    let file = parse(yaml).unwrap_or_else(|e| panic!("parse failed: {e}"));
    match validate(&file.pods[0]) {
        Err(SpecError::Invalid { problems, .. }) => problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn warnings(yaml: &str) -> Vec<Diagnostic> {
    let file = parse(yaml).unwrap_or_else(|e| panic!("parse failed: {e}"));
    validate(&file.pods[0]).unwrap_or_else(|e| panic!("expected valid, got {e}"))
}

/// Asserts that exactly one diagnostic has `path`, `line` and a message containing `fragment`.
#[track_caller]
fn has(found: &[Diagnostic], path: &str, line: usize, fragment: &str) {
    let hits = found
        .iter()
        .filter(|d| d.path == path && d.line == Some(line) && d.message.contains(fragment))
        .count();
    assert_eq!(
        hits, 1,
        "want {path} (line {line}): ...{fragment}... in:\n{found:#?}"
    );
}

const APP: &str = "  containers:\n  - name: app\n    image: app.wasm\n"; // lines 6-8

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
        "{APP}  volumes:\n  - name: cfg\n    configMap:\n      name: settings\n"
    )));
    assert_eq!(
        p[0].to_string(),
        "spec.volumes[0].configMap (line 11): volume type configMap is not supported yet (supported: emptyDir, hostPath)"
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

#[test]
fn malformed_yaml_has_a_line() {
    let err =
        parse("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   labels: {}\n").unwrap_err();
    assert!(
        matches!(err, SpecError::Yaml { line: Some(5), .. }),
        "{err:?}"
    );
    assert!(
        !err.to_string().contains(" at line "),
        "position is not repeated: {err}"
    );

    let err = parse("apiVersion: v1\nkind: Pod\nspec:\n\tcontainers: []\n").unwrap_err();
    let SpecError::Yaml { line, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, Some(4));
    assert!(message.contains("tabs"), "{message}");
}

#[test]
fn byte_order_mark_and_crlf_are_accepted() {
    let text = format!("\u{FEFF}{}", pod(APP)).replace('\n', "\r\n");
    let file = parse(&text).unwrap();
    assert_eq!(file.pods[0].line_of("spec.containers[0].image"), Some(8));
}

#[test]
fn type_errors_have_a_line() {
    let err = parse(&pod("  containers:\n  - name: a\n    command: 5\n")).unwrap_err();
    let SpecError::Yaml { line, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, Some(8));
    assert!(
        message.starts_with("spec.containers[0].command: invalid type: integer `5`"),
        "{message}"
    );
}

#[test]
fn multi_document_skips_other_kinds() {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\ndata: {{a: b}}\n---\n\n---\n# the pod\n{}",
        pod(APP)
    );
    let file = parse(&text).unwrap();
    assert_eq!(file.pods.len(), 1);
    assert_eq!(
        file.notes,
        ["document 1 (line 1): skipped kind ConfigMap (only v1 Pod is run)"]
    );
    let doc = &file.pods[0];
    assert_eq!((doc.document_index, doc.first_line), (2, 8));
    assert_eq!(doc.line_of("spec.containers[0].image"), Some(15));
    let file = parse(&format!(
        "{}---\napiVersion: apps/v1\nkind: Pod\n",
        pod(APP)
    ))
    .unwrap();
    assert_eq!(
        file.notes,
        ["document 2 (line 10): skipped apps/v1 Pod (only v1 Pod is run)"]
    );
}

#[test]
fn unknown_field_is_an_error_at_its_line() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    comand: [sh]\n",
    ));
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(
        p[0].to_string(),
        r#"spec.containers[0].comand (line 9): unknown field "comand""#
    );
    // Null / empty unknown values ask for nothing and are not reported.
    assert!(
        warnings(&pod(
            "  containers:\n  - name: a\n    image: a.wasm\n    extra: null\n    more: {}\n"
        ))
        .is_empty()
    );
}

#[test]
fn scalars_for_string_fields_must_be_quoted() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    env: [{name: PORT, value: 8080}]\n",
    ));
    has(
        &p,
        "spec.containers[0].env[0].value",
        9,
        r#"Invalid value: 8080: must be a string; quote it in YAML ("8080")"#,
    );
    // Quantities take bare numbers, as with kubectl.
    let w = warnings(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    resources: {limits: {cpu: 1, memory: 1.5}}\n",
    ));
    has(
        &w,
        "spec.containers[0].resources",
        9,
        "not honoured by wasmpod yet",
    );
}

#[test]
fn unsupported_field_is_a_warning_at_its_line() {
    let w = warnings(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    livenessProbe:\n      exec: {command: [check]}\n    stdin: false\n  nodeName: here\n",
    ));
    assert_eq!(w.len(), 2, "{w:#?}");
    assert_eq!(
        w[0].to_string(),
        "spec.containers[0].livenessProbe (line 9): not honoured by wasmpod yet; ignored"
    );
    has(&w, "spec.nodeName", 12, "has no effect");
}

#[test]
fn good_pod_has_no_diagnostics() {
    let text = "\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 5
  hostname: web
  initContainers:
  - name: setup
    image: setup.wasm
    command: ['setup', '--to', '/data']
    volumeMounts: [{name: data, mountPath: /data}]
  - name: logger
    image: logger.wasm
    restartPolicy: Always
    env:
    - name: POD_NAME
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: APP
      valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}
  containers:
  - name: app
    image: ./app.wasm
    imagePullPolicy: Never
    args: [serve]
    workingDir: /data
    env: [{name: MODE, value: prod}]
    ports: [{containerPort: 8080, name: http, protocol: TCP}]
    volumeMounts:
    - {name: data, mountPath: /data, readOnly: true, subPath: site}
    - {name: host, mountPath: /host}
  volumes:
  - name: data
    emptyDir: {medium: Memory}
  - name: host
    hostPath: {path: /srv/web, type: DirectoryOrCreate}
";
    let loaded = load(text).unwrap();
    assert_eq!(loaded.pods.len(), 1);
    assert!(
        loaded.pods[0].warnings.is_empty(),
        "{:#?}",
        loaded.pods[0].warnings
    );
}

#[test]
fn flow_style_is_located() {
    let p = problems(&pod(
        "  containers: [{name: a, image: a.wasm}, {name: b, image: ''}]\n  volumes: [{name: v, emptyDir: {}}, {name: w,\n    configMap: {name: c}}]\n",
    ));
    has(&p, "spec.containers[1].image", 6, "Required value");
    has(&p, "spec.volumes[1].configMap", 8, "volume type configMap");
}

#[test]
fn merge_keys_are_reported() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    <<: {workingDir: /x}\n",
    ));
    has(&p, "spec.containers[0].<<", 9, "merge keys");
}

#[test]
fn non_objects_and_missing_kind_are_errors() {
    let err = parse("- a\n- b\n").unwrap_err();
    assert!(
        matches!(
            err,
            SpecError::Document {
                document: 0,
                line: Some(1),
                ..
            }
        ),
        "{err:?}"
    );
    let err = parse("apiVersion: v1\nmetadata: {}\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "document 1 (line 1): \"kind\" is missing or not a string"
    );
    assert!(matches!(parse("# nothing\n"), Err(SpecError::NoPod { .. })));
}

#[test]
fn load_reports_every_invalid_pod() {
    let bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: []}\n";
    let err = load(&format!("{bad}---\n{bad}")).unwrap_err();
    let SpecError::Several(errors) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(errors.len(), 2);
    assert!(
        err.to_string()
            .contains("spec.containers (line 9): Required value"),
        "{err}"
    );
}

#[test]
fn odd_inputs_are_errors_not_panics() {
    let deep_flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_block: String = (0..300)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let inputs = [
        String::new(),
        "---".into(),
        "---\n...\n---\n".into(),
        "42".into(),
        "just a string".into(),
        "- 1\n- 2".into(),
        "{".into(),
        "apiVersion: v1\nkind: Pod\nspec: [1, 2]\n".into(),
        "apiVersion: v1\nkind: Pod\nspec: {containers: {a: b}}\n".into(),
        "apiVersion: [v1]\nkind: Pod\n".into(),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {containers: [{name: \"\u{1F600}\u{202E}\u{0301}\", image: \"\u{FEFF}\"}]}\n".into(),
        "\u{FEFF}\u{2028}\u{85}ÿ: \u{10FFFF}".into(),
        "&a [*a]".into(),
        "*unknown".into(),
        "!!binary aGVsbG8=".into(),
        "? [complex, key]\n: value\n".into(),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x, name: y}\n".into(),
        deep_flow,
        deep_block,
    ];
    for input in &inputs {
        let parsed = std::panic::catch_unwind(|| load(input));
        let Ok(result) = parsed else {
            panic!("panicked on {input:?}")
        };
        assert!(result.is_err(), "accepted {input:?}");
    }
}
