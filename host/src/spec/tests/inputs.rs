//! `kind: List` documents and several inputs (`load_many`): objects found where kubectl
//! finds them, each problem naming its item, its line and its file.

use super::*;

/// A List (line 1) whose items are `items` (line 4 on).
fn list(items: &str) -> String {
    format!("apiVersion: v1\nkind: List\nitems:\n{items}")
}

/// A List item Pod `name` (3 lines) with one container (4 lines): 7 lines.
fn item_pod(name: &str, image: &str) -> String {
    format!(
        "- apiVersion: v1\n  kind: Pod\n  metadata: {{name: {name}}}\n  spec:\n    containers:\n    - name: app\n      image: {image}\n"
    )
}

fn shown(err: &SpecError) -> String {
    err.to_string()
}

#[test]
fn list_items_are_read_as_documents() {
    let text = list(&format!(
        "{}- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: settings}}\n  data: {{mode: fast}}\n- apiVersion: v1\n  kind: Endpoints\n  metadata: {{name: web}}\n{}",
        item_pod("a", "a.wasm"),
        item_pod("b", "b.wasm")
    )) + &format!("---\n{}", pod(APP));
    let file = load(&text).unwrap();
    let names: Vec<String> = file
        .pods
        .iter()
        .map(|p| p.document.display_name())
        .collect();
    assert_eq!(names, ["\"a\"", "\"b\"", "\"p\""]);
    assert_eq!(file.objects.len(), 1);
    assert_eq!(file.objects[0].name(), "settings");
    assert_eq!(
        file.notes,
        [
            "document 1, items[2] (line 15): skipped kind Endpoints (wasmpod reads v1 Pod, ConfigMap, Secret, Service, apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and batch/v1 Job)"
        ]
    );
    // Lines are lines of the file; paths are the pod's own.
    let b = &file.pods[1].document;
    assert_eq!((b.document_index, b.first_line), (0, 18));
    assert_eq!(b.line_of("spec.containers[0].image"), Some(24));
    assert_eq!(
        file.pods[2].document.line_of("spec.containers[0].image"),
        Some(33)
    );
    // An empty List holds nothing; a List of nothing wanted is no Pod.
    assert!(matches!(
        parse("apiVersion: v1\nkind: List\nitems: []\n"),
        Err(SpecError::NoPod { .. })
    ));
    let err = parse(&list("- {apiVersion: v1, kind: List, items: []}\n")).unwrap_err();
    assert_eq!(
        shown(&err),
        "no v1 Pod found in the file (document 1, items[0] (line 4): skipped kind List (wasmpod reads v1 Pod, ConfigMap, Secret, Service, apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and batch/v1 Job))"
    );
}

#[test]
fn problems_in_items_name_the_item_and_its_line() {
    let text = list(&format!(
        "{}- apiVersion: v1\n  kind: Pod\n  metadata: {{name: b}}\n  spec:\n    restartPolicy: Sometimes\n    containers:\n    - name: app\n      comand: [x]\n      securityContext: {{runAsUser: 1}}\n",
        item_pod("a", "a.wasm")
    ));
    let Err(SpecError::Invalid {
        pod: name,
        problems,
    }) = load(&text)
    else {
        panic!("{:?}", load(&text))
    };
    assert_eq!(name, "\"b\"");
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            r#"items[1].spec.restartPolicy (line 15): Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
            "items[1].spec.containers[0].image (line 17): Required value",
            r#"items[1].spec.containers[0].comand (line 18): unknown field "comand""#,
        ]
    );
    // Warnings name the item too.
    let text = list(&item_pod("a", "a.wasm").replace(
        "      image: a.wasm\n",
        "      image: a.wasm\n      securityContext: {runAsUser: 1}\n",
    ));
    let file = load(&text).unwrap();
    assert_eq!(
        file.pods[0].warnings[0].to_string(),
        "items[0].spec.containers[0].securityContext.runAsUser (line 11): not honoured by wasmpod yet; ignored"
    );
    // And objects.
    let err = load(
        &(list(
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n  data: {'bad key': x}\n",
        ) + &format!("---\n{}", pod(APP))),
    )
    .unwrap_err();
    assert!(
        shown(&err).starts_with(
            "ConfigMap \"c\" is invalid:\n  items[0].data[bad key] (line 7): Invalid value"
        ),
        "{err}"
    );
}

#[test]
fn malformed_items_are_errors_at_their_line() {
    // Wrong types: serde_yaml's path starts at the List.
    let err = load(&list(
        &item_pod("a", "a.wasm").replace("image: a.wasm", "image: a.wasm\n      command: 5"),
    ))
    .unwrap_err();
    let SpecError::Yaml { line, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*line, Some(11));
    assert!(
        message.starts_with("items[0].spec.containers[0].command: invalid type: integer `5`"),
        "{message}"
    );
    let err = load(&list(&format!(
        "{}- just a string\n",
        item_pod("a", "a.wasm")
    )))
    .unwrap_err();
    assert_eq!(
        shown(&err),
        "document 1 (line 11): items[1]: expected a Kubernetes object (a mapping with apiVersion and kind), found a string"
    );
    let err = load(&list("- {kind: Pod}\n")).unwrap_err();
    assert_eq!(
        shown(&err),
        "document 1 (line 4): items[0]: \"apiVersion\" is missing or not a string"
    );
    let err = load("apiVersion: v1\nkind: List\nitems: {a: b}\n").unwrap_err();
    assert_eq!(
        shown(&err),
        "document 1 (line 3): items: expected a list of objects, found a mapping"
    );
}

#[test]
fn several_inputs_load_as_one() {
    let config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n---\napiVersion: v1\nkind: Endpoints\n";
    let web = pod(APP);
    let other = list(&item_pod("q", "q.wasm"));
    let file = load_many(&[
        ("config.yaml", config),
        ("web/pod.yaml", &web),
        ("list.json", &other),
    ])
    .unwrap();
    let pods: Vec<(String, usize)> = file
        .pods
        .iter()
        .map(|p| (p.document.display_name(), p.document.input))
        .collect();
    assert_eq!(pods, [("\"p\"".to_owned(), 1), ("\"q\"".to_owned(), 2)]);
    assert_eq!(file.objects.len(), 1);
    assert_eq!(
        file.notes,
        [
            "config.yaml: document 2 (line 5): skipped kind Endpoints (wasmpod reads v1 Pod, ConfigMap, Secret, Service, apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and batch/v1 Job)"
        ]
    );
    // ConfigMaps and Secrets alone load (something to apply); nothing at all is NoPod.
    let only_objects = load_many(&[("config.yaml", config)]).expect("objects alone load");
    assert!(only_objects.pods.is_empty() && only_objects.objects.len() == 1);
    let service = "apiVersion: v1\nkind: Endpoints\nmetadata: {name: s}\n";
    let Err(SpecError::NoPod { notes }) = load_many(&[("svc.yaml", service)]) else {
        panic!("a file of nothing wasmpod reads is NoPod")
    };
    assert_eq!(notes.len(), 1);
}

#[test]
fn problems_of_several_inputs_name_their_file() {
    let bad = pod("  containers:\n  - name: app\n");
    let broken = "apiVersion: v1\nkind: Pod\nspec: [\n";
    let other = list(&item_pod("q", "q.wasm"));
    let Err(SpecError::Several(errors)) = load_many(&[
        ("bad.yaml", &bad),
        ("ok.yaml", &other),
        ("broken.yaml", broken),
    ]) else {
        panic!()
    };
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert_eq!(
        shown[0],
        "bad.yaml: pod \"p\" is invalid:\n  spec.containers[0].image (line 7): Required value"
    );
    assert!(shown[1].starts_with("broken.yaml: line 4"), "{}", shown[1]);
}

#[test]
fn one_kind_namespace_and_name_once_across_inputs() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let web = pod(APP);
    let err = load_many(&[("a.yaml", cm), ("b.yaml", &web), ("c.yaml", cm)]).unwrap_err();
    assert_eq!(
        shown(&err),
        "c.yaml: ConfigMap \"c\" is invalid:\n  metadata.name (line 3): Duplicate value: \"ConfigMap default/c is defined twice\""
    );
    // Pods too, within a file and across files; another namespace is another pod.
    let err = load(&format!("{web}---\n{web}")).unwrap_err();
    assert_eq!(
        shown(&err),
        "pod \"p\" is invalid:\n  metadata.name (line 13): Duplicate value: \"Pod default/p is defined twice\""
    );
    let elsewhere = web.replace("  name: p\n", "  name: p\n  namespace: other\n");
    assert_eq!(
        load_many(&[("a.yaml", &web), ("b.yaml", &elsewhere)])
            .unwrap()
            .pods
            .len(),
        2
    );
    let invalid_too = list(&item_pod("p", "''"));
    let err = load_many(&[("a.yaml", &web), ("b.yaml", &invalid_too)]).unwrap_err();
    assert_eq!(
        shown(&err),
        "b.yaml: pod \"p\" is invalid:\n  items[0].metadata.name (line 6): Duplicate value: \"Pod default/p is defined twice\"\n  items[0].spec.containers[0].image (line 10): Required value"
    );
}
