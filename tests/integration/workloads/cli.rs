//! `wasmpod run` with workloads: it ends once its Jobs (and finite Pods) ended, stopping
//! the rest (Deployments first) as deletions; exit 0 when all succeeded, 1 when one failed;
//! `--status-file` lists every object.

use serde_json::Value;

use crate::cli::Workspace;

/// A Job `migrate` whose pod runs `script`, and a Deployment `web` of two pods that run
/// until stopped.
fn job_and_deployment(script: &str, backoff_limit: i32) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: migrate}}\nspec:\n  backoffLimit: {backoff_limit}\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: task\n        image: busybox\n        command: ['sh', '-c', '{script}']\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: server\n        image: busybox\n        command: ['sh', '-c', 'echo serving; sleep 3600']\n"
    )
}

fn items_of<'a>(list: &'a Value, kind: &str) -> Vec<&'a Value> {
    assert_eq!(
        (&list["apiVersion"], &list["kind"]),
        (&"v1".into(), &"List".into())
    );
    let items = list["items"].as_array().expect("items");
    items.iter().filter(|i| i["kind"] == kind).collect()
}

#[test]
fn run_ends_with_its_job_and_stops_the_deployment() {
    let ws = Workspace::new();
    let ran = ws.run_yaml(&job_and_deployment("echo migrated", 6), &[]);
    ran.assert_code(0);
    // Output lines carry `pod/container`; the Job's pod is `migrate-<5 chars>`.
    let task_lines: Vec<_> = ran
        .output()
        .into_iter()
        .filter(|(prefix, _)| prefix.starts_with("migrate-") && prefix.ends_with("/task"))
        .map(|(_, text)| text)
        .collect();
    assert_eq!(task_lines, ["migrated"], "{ran}");
    ran.assert_stderr_has("job/migrate Normal  Completed  Job completed");
    ran.assert_stderr_has("job/migrate Complete");
    ran.assert_stderr_has("deployment/web stopped");
    let status = ws.status();
    let [job] = items_of(&status, "Job")[..] else {
        panic!("one Job\n{status:#}")
    };
    let types: Vec<&Value> = job["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .map(|c| &c["type"])
        .collect();
    assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
    assert_eq!(job["status"]["succeeded"], 1);
    let [deployment] = items_of(&status, "Deployment")[..] else {
        panic!("one Deployment")
    };
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(items_of(&status, "ReplicaSet").len(), 1);
    // The Job's pod and the Deployment's two, all ended.
    let pods = items_of(&status, "Pod");
    assert_eq!(pods.len(), 3, "{status:#}");
    for pod in pods {
        let phase = pod["status"]["phase"].as_str().unwrap_or_default();
        assert!(phase == "Succeeded" || phase == "Failed", "{pod:#}");
    }
}

#[test]
fn run_exits_1_when_its_job_fails() {
    let ws = Workspace::new();
    // backoffLimit 0: the first failed pod fails the Job.
    let ran = ws.run_yaml(
        &job_and_deployment("exit 3", 0),
        &["--backoff-initial", "100ms"],
    );
    ran.assert_code(1);
    ran.assert_stderr_has(
        "job/migrate Warning BackoffLimitExceeded  Job has reached the specified backoff limit",
    );
    ran.assert_stderr_has("job/migrate Failed");
    let status = ws.status();
    let [job] = items_of(&status, "Job")[..] else {
        panic!("one Job")
    };
    let failed = &job["status"]["conditions"][1];
    assert_eq!(
        (&failed["type"], &failed["reason"]),
        (&"Failed".into(), &"BackoffLimitExceeded".into())
    );
}

#[test]
fn a_workload_template_error_names_its_path_and_line_and_nothing_runs() {
    let ws = Workspace::new();
    let yaml = job_and_deployment("echo x", 6).replace("      restartPolicy: Never\n", "");
    let ran = ws.run_yaml(&yaml, &[]);
    ran.assert_code(2);
    ran.assert_stderr_has(
        r#"spec.template.spec.restartPolicy (line 7): Required value: valid values: "OnFailure", "Never""#,
    );
}

#[test]
fn a_workload_reading_a_missing_config_map_is_refused_before_anything_runs() {
    let ws = Workspace::new();
    let yaml = job_and_deployment("echo x", 6).replace(
        "      - name: task\n",
        "      - name: task\n        envFrom: [{configMapRef: {name: settings}}]\n",
    );
    let ran = ws.run_yaml(&yaml, &[]);
    ran.assert_code(2);
    ran.assert_stderr_has("job/migrate: ");
    ran.assert_stderr_has("\"settings\" not found");
    assert!(ran.stdout.is_empty(), "{ran}");
}

#[test]
fn a_run_with_nothing_finite_runs_until_stopped_and_timeout_exits_124() {
    let ws = Workspace::new();
    // Only the Deployment: nothing ends on its own; --timeout stops it.
    let yaml = job_and_deployment("echo x", 6);
    let deployment = yaml.split("---\n").nth(1).expect("the Deployment");
    let ran = ws.run_yaml(deployment, &["--timeout", "3s"]);
    ran.assert_code(124);
    ran.assert_stderr_has("timeout reached: stopping");
    ran.assert_stderr_has("deployment/web stopped");
    let status = ws.status();
    let [deployment] = items_of(&status, "Deployment")[..] else {
        panic!("one Deployment")
    };
    assert_eq!(deployment["status"]["replicas"], 0, "{deployment:#}");
}
