//! `configMap`, `secret`, `downwardAPI` and `projected` volumes, and env from ConfigMaps,
//! Secrets and resources: the API server's rules (`sources.rs`), each with its line.

use super::*;

/// A pod with `APP` (lines 6-8) and the volumes in `body`, whose first line is line 10.
fn vols(body: &str) -> String {
    pod(&format!("{APP}  volumes:\n{body}"))
}

/// A pod whose container `app` (line 7) has `fields` from line 9 on, and a second container
/// `side` after them.
fn container(fields: &str) -> String {
    pod(&format!(
        "  containers:\n  - name: app\n    image: app.wasm\n{fields}  - name: side\n    image: side.wasm\n"
    ))
}

#[test]
fn config_map_secret_downward_and_projected_volumes_are_accepted() {
    let w = warnings(&vols(
        "  - name: cfg\n    configMap:\n      name: settings\n      defaultMode: 0o644\n      optional: true\n      items:\n      - {key: a.conf, path: conf/a.conf, mode: 0o400}\n\
         \x20 - name: creds\n    secret: {secretName: creds, items: [{key: token, path: token}], optional: false}\n\
         \x20 - name: info\n    downwardAPI:\n      defaultMode: 420\n      items:\n      - {path: labels, fieldRef: {fieldPath: metadata.labels}}\n      - {path: name, fieldRef: {apiVersion: v1, fieldPath: 'metadata.annotations[''a'']'}}\n      - {path: mem, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}\n\
         \x20 - name: all\n    projected:\n      defaultMode: 256\n      sources:\n      - configMap: {name: settings, items: [{key: a, path: a}]}\n      - secret: {name: creds}\n      - downwardAPI: {items: [{path: uid, fieldRef: {fieldPath: metadata.uid}}]}\n",
    ));
    assert!(w.is_empty(), "{w:#?}");
}

#[test]
fn octal_modes_are_read_as_kubectl_reads_them() {
    // YAML 1.1, which kubectl reads, takes a leading 0 as octal; YAML 1.2 would not.
    let yaml = vols(
        "  - name: cfg\n    configMap:\n      name: settings\n      defaultMode: 0644\n      items: [{key: k, path: p, mode: 0400}]\n  - name: s\n    secret: {secretName: s, defaultMode: 0777}\n",
    );
    let file = load(&yaml).unwrap();
    let volumes = file.pods[0]
        .document
        .pod
        .spec
        .as_ref()
        .unwrap()
        .volumes
        .clone()
        .unwrap();
    let cm = volumes[0].config_map.as_ref().unwrap();
    assert_eq!(cm.default_mode, Some(0o644));
    assert_eq!(cm.items.as_ref().unwrap()[0].mode, Some(0o400));
    assert_eq!(
        volumes[1].secret.as_ref().unwrap().default_mode,
        Some(0o777)
    );
    // Only where a mode is written: other numbers, quoted strings and data stay as they are.
    let yaml = vols("  - name: cfg\n    configMap: {name: settings, defaultMode: 0800}\n");
    assert!(load(&yaml).is_err(), "0800 is no octal number");
    let file = load(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata:\n  mode: 0644\n  conf: |\n    defaultMode: 0644\n---\n{}",
        pod(APP)
    ))
    .unwrap();
    let ConfigObject::ConfigMap(cm) = &file.objects[0] else {
        panic!()
    };
    let data = cm.data.as_ref().unwrap();
    assert_eq!(
        (data["mode"].as_str(), data["conf"].as_str()),
        ("0644", "defaultMode: 0644\n")
    );
}

#[test]
fn volume_sources_need_a_name() {
    let p = problems(&vols(
        "  - name: a\n    configMap: {items: [{key: k, path: p}]}\n  - name: b\n    secret: {}\n  - name: c\n    projected:\n      sources:\n      - configMap: {}\n      - secret: {optional: true}\n",
    ));
    has(&p, "spec.volumes[0].configMap.name", 11, "Required value");
    has(
        &p,
        "spec.volumes[1].secret.secretName",
        13,
        "Required value",
    );
    has(
        &p,
        "spec.volumes[2].projected.sources[0].configMap.name",
        17,
        "Required value",
    );
    has(
        &p,
        "spec.volumes[2].projected.sources[1].secret.name",
        18,
        "Required value",
    );
    assert_eq!(p.len(), 4, "{p:#?}");
}

#[test]
fn modes_are_between_0_and_0777() {
    let p = problems(&vols(
        "  - name: a\n    configMap:\n      name: c\n      defaultMode: 512\n      items:\n      - key: k\n        path: p\n        mode: -1\n  - name: b\n    projected: {defaultMode: 0o1000, sources: []}\n  - name: d\n    downwardAPI:\n      items: [{path: n, fieldRef: {fieldPath: metadata.name}, mode: 4096}]\n",
    ));
    let detail = "must be a number between 0 and 0777 (octal), both inclusive";
    has(
        &p,
        "spec.volumes[0].configMap.defaultMode",
        13,
        &format!("Invalid value: 512: {detail}"),
    );
    has(
        &p,
        "spec.volumes[0].configMap.items[0].mode",
        17,
        "Invalid value: -1: ",
    );
    has(
        &p,
        "spec.volumes[1].projected.defaultMode",
        19,
        "Invalid value: 512: ",
    );
    has(
        &p,
        "spec.volumes[2].downwardAPI.items[0].mode",
        22,
        "Invalid value: 4096: ",
    );
    assert_eq!(p.len(), 4, "{p:#?}");
}

#[test]
fn item_keys_and_paths_follow_validate_key_to_path() {
    let p = problems(&vols(
        "  - name: a\n    secret:\n      secretName: s\n      items:\n      - {key: '', path: ''}\n      - {key: k, path: /etc/x}\n      - {key: k, path: a/../../x}\n      - {key: k, path: ..data}\n      - {key: k, path: ok/file}\n      - {key: k2, path: ok/file}\n",
    ));
    let items = "spec.volumes[0].secret.items";
    has(&p, &format!("{items}[0].key"), 14, "Required value");
    has(&p, &format!("{items}[0].path"), 14, "Required value");
    has(
        &p,
        &format!("{items}[1].path"),
        15,
        r#"Invalid value: "/etc/x": must be a relative path"#,
    );
    has(
        &p,
        &format!("{items}[2].path"),
        16,
        r#"Invalid value: "a/../../x": must not contain '..'"#,
    );
    has(
        &p,
        &format!("{items}[3].path"),
        17,
        r#"Invalid value: "..data": must not start with '..'"#,
    );
    has(
        &p,
        &format!("{items}[5].path"),
        19,
        r#"Invalid value: "ok/file": conflicting duplicate paths"#,
    );
    assert_eq!(p.len(), 6, "{p:#?}");
}

#[test]
fn projected_paths_are_unique_across_sources() {
    let p = problems(&vols(
        "  - name: all\n    projected:\n      sources:\n      - configMap: {name: c, items: [{key: a, path: x}]}\n      - secret: {name: s, items: [{key: b, path: y}]}\n      - downwardAPI:\n          items:\n          - {path: x, fieldRef: {fieldPath: metadata.name}}\n",
    ));
    assert_eq!(
        p.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            r#"spec.volumes[0].projected.sources[2].downwardAPI.items[0].path (line 17): Invalid value: "x": conflicting duplicate paths"#
        ]
    );
}

#[test]
fn projections_an_api_server_issues_are_refused_by_name() {
    let p = problems(&vols(
        "  - name: token\n    projected:\n      sources:\n      - serviceAccountToken: {path: token, expirationSeconds: 3600}\n      - clusterTrustBundle: {name: b, path: ca.pem}\n      - podCertificate: {signerName: example.com/s, keyType: ED25519, credentialBundlePath: c.pem}\n      - secret: {name: s}\n        configMap: {name: c}\n",
    ));
    let base = "spec.volumes[0].projected.sources";
    has(
        &p,
        &format!("{base}[0].serviceAccountToken"),
        13,
        "projection serviceAccountToken is not supported: wasmpod has no API server to issue service account tokens",
    );
    has(
        &p,
        &format!("{base}[1].clusterTrustBundle"),
        14,
        "projection clusterTrustBundle is not supported: wasmpod has no API server",
    );
    has(
        &p,
        &format!("{base}[2].podCertificate"),
        15,
        "projection podCertificate is not supported: wasmpod has no API server to issue pod certificates",
    );
    has(
        &p,
        &format!("{base}[3]"),
        16,
        "Forbidden: may not specify more than 1 volume type per source",
    );
    assert_eq!(p.len(), 4, "{p:#?}");
}

#[test]
fn downward_api_items_need_one_valid_reference() {
    let p = problems(&vols(
        "  - name: info\n    downwardAPI:\n      items:\n      - {path: a}\n      - {path: b, fieldRef: {fieldPath: spec.nodeName}}\n      - path: c\n        fieldRef: {fieldPath: metadata.name}\n        resourceFieldRef: {containerName: app, resource: limits.cpu}\n      - {path: d, fieldRef: {fieldPath: 'spec[''x'']'}}\n",
    ));
    let items = "spec.volumes[0].downwardAPI.items";
    has(
        &p,
        &format!("{items}[0]"),
        13,
        "Required value: one of fieldRef and resourceFieldRef is required",
    );
    has(
        &p,
        &format!("{items}[1].fieldRef.fieldPath"),
        14,
        r#"Unsupported value: "spec.nodeName": supported values: "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid""#,
    );
    has(
        &p,
        &format!("{items}[2]"),
        15,
        r#"Invalid value: "resource": fieldRef and resourceFieldRef can not be specified simultaneously"#,
    );
    has(
        &p,
        &format!("{items}[3].fieldRef"),
        18,
        r#"Invalid value: "spec": does not support subscript"#,
    );
    assert_eq!(p.len(), 4, "{p:#?}");
}

#[test]
fn resource_field_refs_name_a_container_a_resource_and_a_divisor() {
    let p = problems(&vols(
        "  - name: info\n    downwardAPI:\n      items:\n      - {path: a, resourceFieldRef: {resource: limits.cpu}}\n      - {path: b, resourceFieldRef: {containerName: nope, resource: limits.cpu}}\n      - {path: c, resourceFieldRef: {containerName: app, resource: limits.gpu}}\n      - {path: d, resourceFieldRef: {containerName: app, resource: requests.cpu, divisor: 2m}}\n      - {path: e, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1024}}\n      - {path: f, resourceFieldRef: {containerName: app, resource: requests.ephemeral-storage, divisor: '1e3'}}\n      - {path: g, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1MB}}\n",
    ));
    let items = "spec.volumes[0].downwardAPI.items";
    has(
        &p,
        &format!("{items}[0].resourceFieldRef.containerName"),
        13,
        "Required value",
    );
    has(
        &p,
        &format!("{items}[1].resourceFieldRef.containerName"),
        14,
        r#"Not found: "nope""#,
    );
    has(
        &p,
        &format!("{items}[2].resourceFieldRef.resource"),
        15,
        r#"Unsupported value: "limits.gpu": supported values: "limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage", "requests.memory""#,
    );
    has(
        &p,
        &format!("{items}[3].resourceFieldRef.divisor"),
        16,
        r#"Invalid value: "requests.cpu": only divisor's values 1m and 1 are supported with the cpu resource"#,
    );
    has(
        &p,
        &format!("{items}[4].resourceFieldRef.divisor"),
        17,
        "supported with the memory resource",
    );
    has(
        &p,
        &format!("{items}[5].resourceFieldRef.divisor"),
        18,
        "supported with the local ephemeral storage resource",
    );
    has(
        &p,
        &format!("{items}[6].resourceFieldRef.divisor"),
        19,
        r#"Invalid value: "1MB": quantities must match"#,
    );
    assert_eq!(p.len(), 7, "{p:#?}");

    // Every value the API server accepts, however it is written.
    for (resource, divisor) in [
        ("limits.cpu", "1m"),
        ("limits.cpu", "1"),
        ("requests.cpu", "1000m"),
        ("requests.cpu", "0.001"),
        ("limits.memory", "1"),
        ("limits.memory", "1000"),
        ("limits.memory", "1k"),
        ("limits.memory", "1E"),
        ("requests.memory", "1Ki"),
        ("requests.memory", "1024Ki"),
        ("limits.ephemeral-storage", "1Ei"),
        ("limits.ephemeral-storage", "1G"),
        ("limits.memory", "0"),
    ] {
        let yaml = vols(&format!(
            "  - name: info\n    downwardAPI:\n      items:\n      - {{path: a, resourceFieldRef: {{containerName: app, resource: {resource}, divisor: '{divisor}'}}}}\n"
        ));
        let w = warnings(&yaml);
        assert!(w.is_empty(), "{resource} / {divisor}: {w:#?}");
    }
}

#[test]
fn env_from_config_maps_secrets_and_resources() {
    let w = warnings(&container(
        "    env:\n    - name: MODE\n      valueFrom: {configMapKeyRef: {name: settings, key: mode, optional: true}}\n    - name: TOKEN\n      valueFrom: {secretKeyRef: {name: creds, key: .token}}\n    - name: CPU\n      valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}\n    - name: SIDE_MEM\n      valueFrom: {resourceFieldRef: {containerName: side, resource: requests.memory}}\n",
    ));
    assert!(w.is_empty(), "{w:#?}");

    let p = problems(&container(
        "    env:\n    - name: A\n      valueFrom: {configMapKeyRef: {name: Bad_Name, key: 'a b'}}\n    - name: B\n      valueFrom: {secretKeyRef: {name: s, key: ''}}\n    - name: C\n      valueFrom: {resourceFieldRef: {containerName: ghost, resource: limits.memory, divisor: 1m}}\n    - name: D\n      valueFrom: {resourceFieldRef: {resource: ''}}\n",
    ));
    let env = "spec.containers[0].env";
    has(
        &p,
        &format!("{env}[0].valueFrom.configMapKeyRef.name"),
        11,
        r#"Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain"#,
    );
    has(
        &p,
        &format!("{env}[0].valueFrom.configMapKeyRef.key"),
        11,
        r#"Invalid value: "a b": a valid config key must consist of alphanumeric characters"#,
    );
    has(
        &p,
        &format!("{env}[1].valueFrom.secretKeyRef.key"),
        13,
        "Required value",
    );
    has(
        &p,
        &format!("{env}[2].valueFrom.resourceFieldRef.containerName"),
        15,
        r#"Not found: "ghost""#,
    );
    has(
        &p,
        &format!("{env}[2].valueFrom.resourceFieldRef.divisor"),
        15,
        "supported with the memory resource",
    );
    has(
        &p,
        &format!("{env}[3].valueFrom.resourceFieldRef.resource"),
        17,
        "Required value",
    );
    assert_eq!(p.len(), 6, "{p:#?}");
}

#[test]
fn env_from_needs_one_named_source_and_a_valid_prefix() {
    let w = warnings(&container(
        "    envFrom:\n    - configMapRef: {name: settings}\n      prefix: CFG_\n    - secretRef: {name: creds-, optional: true}\n      prefix: 'my.prefix-'\n",
    ));
    assert!(w.is_empty(), "{w:#?}");

    let p = problems(&container(
        "    envFrom:\n    - prefix: 'A=B'\n      configMapRef: {name: c}\n    - {}\n    - configMapRef: {name: c}\n      secretRef: {name: s}\n    - secretRef: {name: ''}\n    - configMapRef: {name: Not.Valid}\n",
    ));
    let from = "spec.containers[0].envFrom";
    has(
        &p,
        &format!("{from}[0].prefix"),
        10,
        r#"Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='"#,
    );
    has(
        &p,
        &format!("{from}[1]"),
        12,
        "Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`",
    );
    has(
        &p,
        &format!("{from}[2]"),
        13,
        "may not have more than one field specified at a time",
    );
    has(
        &p,
        &format!("{from}[3].secretRef.name"),
        15,
        "Required value",
    );
    has(
        &p,
        &format!("{from}[4].configMapRef.name"),
        16,
        r#"Invalid value: "Not.Valid": a lowercase RFC 1123 subdomain"#,
    );
    assert_eq!(p.len(), 5, "{p:#?}");
}
