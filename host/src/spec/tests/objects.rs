//! ConfigMaps and Secrets beside the Pods of a file: read, merged and checked as the API
//! server does, each problem with its field path and line.

use super::*;

const APP: &str = "  containers:\n  - name: app\n    image: busybox\n";

/// A file: the objects, then a Pod.
fn file(objects: &str) -> String {
    format!("{objects}---\n{}", pod(APP))
}

fn object_problems(yaml: &str) -> Vec<String> {
    match load(&file(yaml)) {
        Err(SpecError::InvalidObject { problems, .. }) => {
            problems.iter().map(ToString::to_string).collect()
        }
        other => panic!("expected InvalidObject, got {other:?}"),
    }
}

#[test]
fn config_maps_and_secrets_are_read_beside_the_pods() {
    let yaml = file(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\nbinaryData: {blob: AAEC}\n\
         ---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: team}\n\
         data: {user: YWRtaW4=, pass: b2xk}\nstringData: {pass: new}\n",
    );
    let loaded = load(&yaml).unwrap();
    assert_eq!((loaded.pods.len(), loaded.notes.len()), (1, 0));
    let [ConfigObject::ConfigMap(cm), ConfigObject::Secret(secret)] = &loaded.objects[..] else {
        panic!("{:?}", loaded.objects);
    };
    assert_eq!(cm.data.as_ref().unwrap()["mode"], "fast");
    assert_eq!(cm.binary_data.as_ref().unwrap()["blob"].0, [0, 1, 2]);
    assert_eq!(loaded.objects[1].namespace(), "team");
    assert_eq!(loaded.objects[0].namespace(), "default");
    // stringData is merged into data, and wins.
    let data = secret.data.as_ref().unwrap();
    assert_eq!(data["user"].0, b"admin");
    assert_eq!(data["pass"].0, b"new");
    assert!(secret.string_data.is_none());
}

#[test]
fn keys_follow_is_config_map_key() {
    let problems = object_problems(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  ok.key_1-x: a\n  'bad key': b\n  '..hidden': c\n",
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "data[bad key] (line 6): Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters"
        ),
        "{problems:?}"
    );
    assert_eq!(
        problems[1],
        "data[..hidden] (line 7): Invalid value: \"..hidden\": must not start with '..'"
    );
    let long = "k".repeat(254);
    let problems = object_problems(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData: {{{long}: v}}\n"
    ));
    assert_eq!(
        problems,
        [format!(
            "data[{long}] (line 4): Invalid value: \"{long}\": must be no more than 253 characters"
        )]
    );
}

#[test]
fn a_key_in_both_data_and_binary_data_is_refused() {
    let problems = object_problems(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: a}\nbinaryData:\n  k: AA==\n",
    );
    assert_eq!(
        problems,
        ["binaryData[k] (line 6): Invalid value: \"k\": duplicate of key present in data"]
    );
}

#[test]
fn secret_data_must_be_base64() {
    let err = load(&file(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  token: not*base64\n",
    ))
    .unwrap_err();
    assert!(
        matches!(err, SpecError::Yaml { line: Some(5), .. }),
        "{err}"
    );
    assert!(!err.to_string().contains("not*base64"), "{err}");
}

#[test]
fn objects_over_one_mebibyte_are_refused() {
    let big = "x".repeat(MAX_OBJECT_DATA_BYTES);
    let problems = object_problems(&format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata:\n  a: {big}\n"
    ));
    assert_eq!(
        problems,
        ["data (line 4): Too long: must have at most 1048576 bytes"]
    );
}

#[test]
fn two_objects_of_one_kind_namespace_and_name_are_refused() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let other_ns = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: x}\n";
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: c}\n";
    // Another namespace or another kind is another object.
    assert_eq!(
        load(&file(&format!("{cm}---\n{other_ns}---\n{secret}")))
            .unwrap()
            .objects
            .len(),
        3
    );
    let problems = object_problems(&format!("{cm}---\n{cm}"));
    assert_eq!(
        problems,
        ["metadata.name (line 7): Duplicate value: \"ConfigMap default/c is defined twice\""]
    );
}

#[test]
fn names_unknown_fields_and_typed_secrets_are_checked() {
    let problems = object_problems(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\ndat: {a: b}\n",
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("metadata.name (line 3): Invalid value: \"Bad_Name\""));
    assert_eq!(problems[1], "dat (line 4): unknown field \"dat\"");

    let problems = object_problems(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{not json'\n",
    );
    assert_eq!(
        problems,
        [
            "data[.dockerconfigjson] (line 6): Invalid value: <secret contents redacted>: invalid JSON"
        ]
    );
    let problems = object_problems(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\nstringData: {tls.crt: x}\n",
    );
    // Absent: the line of the object.
    assert_eq!(problems, ["data[tls.key] (line 1): Required value"]);
}

#[test]
fn secret_values_never_appear_in_problems() {
    let err = load(&file(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  pin: 918273\n",
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("stringData.pin (line 5)"), "{text}");
    assert!(!text.contains("918273"), "{text}");
}
