//! Deployments, ReplicaSets, StatefulSets, DaemonSets and Jobs: read beside the Pods, their
//! templates validated as Pods, and the API server's workload rules, each problem with its
//! field path and line.

use super::*;

fn workload_problems(yaml: &str) -> Vec<String> {
    match load(yaml) {
        Err(SpecError::InvalidObject { problems, .. }) => {
            problems.iter().map(ToString::to_string).collect()
        }
        other => panic!("expected InvalidObject, got {other:?}"),
    }
}

/// A Job whose template spec body (indented 6) starts on line 7.
fn job(template_spec: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: pi}}\nspec:\n  template:\n    spec:\n{template_spec}"
    )
}

/// A Deployment: replicas and selector lines, then the template from line 7.
fn deployment(replicas: i32, selector: &str, labels: &str, template_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {replicas}\n  selector: {selector}\n  template:\n    metadata: {{labels: {labels}}}\n    spec:\n{template_spec}"
    )
}

const BUSYBOX: &str = "      containers: [{name: c, image: busybox}]\n";

#[test]
fn every_workload_kind_is_read_with_its_template() {
    let yaml = format!(
        "{}---\n{}---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db}}\nspec:\n  selector: {{matchLabels: {{app: db}}}}\n  template:\n    metadata: {{labels: {{app: db}}}}\n    spec:\n{BUSYBOX}---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: agent}}\nspec:\n  selector: {{matchExpressions: [{{key: app, operator: In, values: [agent]}}]}}\n  template:\n    metadata: {{labels: {{app: agent}}}}\n    spec:\n{BUSYBOX}---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: rs}}\nspec:\n  selector: {{matchLabels: {{app: rs}}}}\n  template:\n    metadata: {{labels: {{app: rs}}}}\n    spec:\n{BUSYBOX}",
        job(&format!("      restartPolicy: Never\n{BUSYBOX}")),
        deployment(2, "{matchLabels: {app: web}}", "{app: web}", BUSYBOX),
    );
    let loaded = load(&yaml).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = loaded.workloads.iter().map(|w| w.workload.kind()).collect();
    assert_eq!(
        kinds,
        [
            "Job",
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet"
        ]
    );
    assert!(loaded.pods.is_empty());
    assert!(loaded.notes.is_empty(), "{:?}", loaded.notes);
}

#[test]
fn a_template_is_validated_as_a_pod_with_its_path_and_line() {
    let problems = workload_problems(&job(
        "      restartPolicy: Never\n      containers:\n      - name: c\n        comand: [sh]\n",
    ));
    assert_eq!(
        problems,
        [
            "spec.template.spec.containers[0].image (line 9): Required value",
            "spec.template.spec.containers[0].comand (line 10): unknown field \"comand\"",
        ]
    );
}

#[test]
fn a_job_template_must_not_restart_always() {
    // Unset: the line of the template's `spec:`; `Always`: its own line.
    for (policy, line) in [("", 6), ("      restartPolicy: Always\n", 7)] {
        let problems = workload_problems(&job(&format!("{policy}{BUSYBOX}")));
        assert_eq!(
            problems,
            [format!(
                r#"spec.template.spec.restartPolicy (line {line}): Required value: valid values: "OnFailure", "Never""#
            )]
        );
    }
    assert!(load(&job(&format!("      restartPolicy: OnFailure\n{BUSYBOX}"))).is_ok());
}

#[test]
fn a_deployment_template_must_restart_always() {
    let yaml = deployment(
        1,
        "{matchLabels: {app: web}}",
        "{app: web}",
        &format!("      restartPolicy: Never\n{BUSYBOX}"),
    );
    assert_eq!(
        workload_problems(&yaml),
        [
            r#"spec.template.spec.restartPolicy (line 10): Unsupported value: "Never": supported values: "Always""#
        ]
    );
}

#[test]
fn the_selector_is_required_and_must_match_the_template_labels() {
    let yaml = deployment(1, "{matchLabels: {app: other}}", "{app: web}", BUSYBOX);
    assert_eq!(
        workload_problems(&yaml),
        [
            r#"spec.template.metadata.labels (line 8): Invalid value: map[string]string{"app":"web"}: `selector` does not match template `labels`"#
        ]
    );
    let yaml = deployment(1, "{}", "{app: web}", BUSYBOX);
    assert_eq!(
        workload_problems(&yaml),
        ["spec.selector (line 6): Required value"]
    );
}

#[test]
fn negative_counts_are_refused() {
    let yaml = deployment(-1, "{matchLabels: {app: web}}", "{app: web}", BUSYBOX);
    assert_eq!(
        workload_problems(&yaml),
        ["spec.replicas (line 5): Invalid value: -1: must be greater than or equal to 0"]
    );
    let yaml = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: pi}}\nspec:\n  completions: -1\n  parallelism: -2\n  backoffLimit: -3\n  template:\n    spec:\n      restartPolicy: Never\n{BUSYBOX}"
    );
    assert_eq!(
        workload_problems(&yaml),
        [
            "spec.completions (line 5): Invalid value: -1: must be greater than or equal to 0",
            "spec.parallelism (line 6): Invalid value: -2: must be greater than or equal to 0",
            "spec.backoffLimit (line 7): Invalid value: -3: must be greater than or equal to 0",
        ]
    );
}

#[test]
fn two_workloads_of_one_kind_and_name_are_refused() {
    let one = job(&format!("      restartPolicy: Never\n{BUSYBOX}"));
    let err = load(&format!("{one}---\n{one}")).unwrap_err();
    assert!(
        err.to_string().contains(
            r#"metadata.name (line 12): Duplicate value: "Job default/pi is defined twice""#
        ),
        "{err}"
    );
    // Another kind of the same name is another object.
    let deploy =
        deployment(1, "{matchLabels: {app: pi}}", "{app: pi}", BUSYBOX).replace("web", "pi");
    assert!(load(&format!("{one}---\n{deploy}")).is_ok());
}

#[test]
fn a_workload_in_a_list_names_its_item() {
    let yaml = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: batch/v1\n  kind: Job\n  metadata: {name: pi}\n  spec:\n    template:\n      spec:\n        containers: [{name: c, image: busybox}]\n";
    assert_eq!(
        workload_problems(yaml),
        [
            r#"items[0].spec.template.spec.restartPolicy (line 9): Required value: valid values: "OnFailure", "Never""#
        ]
    );
}

#[test]
fn a_stateful_set_claim_becomes_an_empty_dir_with_a_warning() {
    let yaml = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  podManagementPolicy: Parallel\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec:\n      containers:\n      - name: c\n        image: busybox\n        volumeMounts: [{name: data, mountPath: /data}]\n  volumeClaimTemplates:\n  - metadata: {name: data}\n";
    let loaded = load(yaml).unwrap_or_else(|e| panic!("{e}"));
    let shown: Vec<String> = loaded.workloads[0]
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "spec.volumeClaimTemplates (line 14): not persisted by wasmpod: each pod gets an emptyDir volume of the claim's name"
        ]
    );
    let template = loaded.workloads[0].workload.template();
    let volume = &template.spec.unwrap().volumes.unwrap()[0];
    assert_eq!(
        (volume.name.as_str(), volume.empty_dir.is_some()),
        ("data", true)
    );
    let bad = yaml.replace("Parallel", "Sometimes");
    assert_eq!(
        workload_problems(&bad),
        [
            r#"spec.podManagementPolicy (line 5): Unsupported value: "Sometimes": supported values: "OrderedReady", "Parallel""#
        ]
    );
}

#[test]
fn workload_fields_the_controllers_do_not_carry_out_are_warnings() {
    let yaml = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\nspec:\n  completionMode: Indexed\n  completions: 2\n  ttlSecondsAfterFinished: 60\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n";
    let loaded = load(yaml).unwrap_or_else(|e| panic!("{e}"));
    let shown: Vec<String> = loaded.workloads[0]
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        [
            "spec.completionMode (line 5): not honoured by wasmpod yet; ignored",
            "spec.ttlSecondsAfterFinished (line 7): not honoured by wasmpod yet; ignored",
        ]
    );
}

#[test]
fn pod_counts_are_bounded() {
    let yaml = deployment(10_001, "{matchLabels: {app: web}}", "{app: web}", BUSYBOX);
    assert_eq!(
        workload_problems(&yaml),
        ["spec.replicas (line 5): Invalid value: 10001: must be at most 10000 (wasmpod's limit)"]
    );
    // A deadline or backoff limit past any clock is accepted (and never reached).
    let yaml = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: pi}}\nspec:\n  activeDeadlineSeconds: 9223372036854775807\n  backoffLimit: 2147483647\n  template:\n    spec:\n      restartPolicy: Never\n{BUSYBOX}"
    );
    assert!(load(&yaml).is_ok());
}
