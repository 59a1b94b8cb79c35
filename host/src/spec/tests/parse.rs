//! Parsing: malformed YAML, types, documents, strict fields, warnings and `load`.

use super::*;

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
        "apiVersion: v1\nkind: Endpoints\nspec: {{ports: [{{port: 80}}]}}\n---\n\n---\n# the pod\n{}",
        pod(APP)
    );
    let file = parse(&text).unwrap();
    assert_eq!(file.pods.len(), 1);
    assert_eq!(
        file.notes,
        [
            "document 1 (line 1): skipped kind Endpoints (wasmpod reads v1 Pod, ConfigMap, Secret, Service, apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and batch/v1 Job)"
        ]
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
        [
            "document 2 (line 10): skipped apps/v1 Pod (wasmpod reads v1 Pod, ConfigMap, Secret, Service, apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and batch/v1 Job)"
        ]
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
    // Quantities take bare numbers, as with kubectl; both limits are honoured.
    let w = warnings(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    resources: {limits: {cpu: 1, memory: 1.5}}\n",
    ));
    assert!(w.is_empty(), "{w:#?}");
}

#[test]
fn bad_quantities_are_errors_at_their_line() {
    let p = problems(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    resources:\n      limits: {memory: 12MB}\n      requests: {memory: -1Mi}\n",
    ));
    has(
        &p,
        "spec.containers[0].resources.limits.memory",
        10,
        "Invalid value: \"12MB\": quantities must match the regular expression",
    );
    has(
        &p,
        "spec.containers[0].resources.requests.memory",
        11,
        "Invalid value: \"-1Mi\": must be greater than or equal to 0",
    );
}

#[test]
fn unsupported_field_is_a_warning_at_its_line() {
    let w = warnings(&pod(
        "  containers:\n  - name: a\n    image: a.wasm\n    livenessProbe:\n      httpGet: {port: 80, scheme: HTTPS}\n    stdin: false\n  nodeName: here\n",
    ));
    assert_eq!(w.len(), 2, "{w:#?}");
    assert_eq!(
        w[0].to_string(),
        "spec.containers[0].livenessProbe.httpGet.scheme (line 10): not honoured by wasmpod yet; ignored"
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
        "  containers: [{name: a, image: a.wasm}, {name: b, image: ''}]\n  volumes: [{name: v, emptyDir: {}}, {name: w,\n    nfs: {server: s, path: /p}}]\n",
    ));
    has(&p, "spec.containers[1].image", 6, "Required value");
    has(&p, "spec.volumes[1].nfs", 8, "volume type nfs");
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
