//! Jobs, ported from Kubernetes' `test/e2e/apps/job.go`.

use k8s_openapi::api::batch::v1::{Job, JobCondition};
use wasmpod::spec::Workload;

use super::*;

/// A Job: `spec` lines (indented 2) before its template, a busybox container running
/// `script`, restart policy `restart`, and `volumes` (indented 6) if any.
fn job(name: &str, spec: &str, restart: &str, script: &str, extra: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n{spec}  template:\n    spec:\n      restartPolicy: {restart}\n      terminationGracePeriodSeconds: 1\n{extra}      containers:\n      - name: c\n        image: busybox\n        command: ['sh', '-c', '{script}']\n"
    )
}

async fn finish(handle: &WorkloadHandle) -> Job {
    let outcome = tokio::time::timeout(LIMIT, handle.wait())
        .await
        .unwrap_or_else(|_| panic!("{} did not end", handle.object_name()));
    let Workload::Job(job) = outcome.workload else {
        panic!("not a job")
    };
    job
}

fn conditions(job: &Job) -> Vec<JobCondition> {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
}

fn condition_types(job: &Job) -> Vec<String> {
    conditions(job).into_iter().map(|c| c.type_).collect()
}

fn counts(job: &Job) -> (i32, i32, i32) {
    let s = job.status.clone().unwrap_or_default();
    (
        s.active.unwrap_or(0),
        s.succeeded.unwrap_or(0),
        s.failed.unwrap_or(0),
    )
}

// upstream: test/e2e/apps/job.go "should run a job to completion when tasks succeed"
#[tokio::test]
async fn should_run_a_job_to_completion_when_tasks_succeed() {
    let handle = apply(&job(
        "all-succeed",
        "  completions: 3\n  parallelism: 2\n",
        "Never",
        "echo done",
        "",
    ))
    .await;
    let job = finish(&handle).await;
    assert_eq!(counts(&job), (0, 3, 0), "{job:?}");
    assert_eq!(condition_types(&job), ["SuccessCriteriaMet", "Complete"]);
    let complete = &conditions(&job)[1];
    assert_eq!(complete.reason.as_deref(), Some("CompletionsReached"));
    let status = job.status.clone().unwrap();
    assert!(status.start_time.is_some() && status.completion_time.is_some());
    // Pods: <job>-<5 chars>, labelled and owned by the Job.
    let uid = job.metadata.uid.clone().expect("a uid");
    let pods = handle.pods();
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let pod = p.pod();
        let name = pod.metadata.name.clone().unwrap();
        assert_eq!(
            name.strip_prefix("all-succeed-").map(str::len),
            Some(5),
            "{name}"
        );
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels["job-name"], "all-succeed");
        assert_eq!(labels["batch.kubernetes.io/job-name"], "all-succeed");
        assert_eq!(labels["controller-uid"], uid);
        assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid);
        let owner = &pod.metadata.owner_references.clone().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Job", uid.as_str())
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(p.phase().as_deref(), Some("Succeeded"));
    }
}

// upstream: test/e2e/apps/job.go "should run a job to completion when tasks sometimes fail and are locally restarted"
#[tokio::test]
async fn should_run_a_job_to_completion_when_tasks_sometimes_fail_and_are_locally_restarted() {
    // The first run of each container fails; the kubelet restarts it in place (emptyDir
    // survives a container restart) and the second run succeeds.
    let handle = apply(
        &job(
            "local-restart",
            "  completions: 2\n  parallelism: 2\n",
            "OnFailure",
            "if [ -f /data/ran ]; then exit 0; fi; touch /data/ran; exit 1",
            "      volumes: [{name: data, emptyDir: {}}]\n",
        )
        .replace(
            "command: ['sh'",
            "volumeMounts: [{name: data, mountPath: /data}]\n        command: ['sh'",
        ),
    )
    .await;
    let job = finish(&handle).await;
    assert_eq!(
        condition_types(&job),
        ["SuccessCriteriaMet", "Complete"],
        "{job:?}"
    );
    assert_eq!(counts(&job), (0, 2, 0));
    // The same two pods, each restarted once.
    let pods = handle.pods();
    assert_eq!(pods.len(), 2);
    for p in pods {
        assert_eq!(restarts(&p), 1);
    }
}

// upstream: test/e2e/apps/job.go "should run a job to completion when tasks sometimes fail and are not locally restarted"
#[tokio::test]
async fn should_run_a_job_to_completion_when_tasks_sometimes_fail_and_are_not_locally_restarted() {
    // A failed pod is replaced (after the Job's backoff) by a new pod; a hostPath directory
    // tells the second pod that the first one ran.
    let dir = tempfile::tempdir().expect("tempdir");
    let handle = apply(
        &job(
            "replaced",
            "  backoffLimit: 3\n",
            "Never",
            "if [ -f /data/ran ]; then exit 0; fi; touch /data/ran; exit 1",
            &format!(
                "      volumes: [{{name: data, hostPath: {{path: {}}}}}]\n",
                dir.path().display()
            ),
        )
        .replace(
            "command: ['sh'",
            "volumeMounts: [{name: data, mountPath: /data}]\n        command: ['sh'",
        ),
    )
    .await;
    let job = finish(&handle).await;
    assert_eq!(
        condition_types(&job),
        ["SuccessCriteriaMet", "Complete"],
        "{job:?}"
    );
    assert_eq!(counts(&job), (0, 1, 1));
    let phases: Vec<_> = handle.pods().iter().map(|p| p.phase()).collect();
    assert_eq!(
        phases,
        [Some("Failed".to_owned()), Some("Succeeded".to_owned())]
    );
}

// upstream: test/e2e/apps/job.go "should fail to exceed backoffLimit"
#[tokio::test]
async fn should_fail_to_exceed_backoff_limit() {
    let handle = apply(&job(
        "backoff",
        "  backoffLimit: 1\n",
        "Never",
        "exit 1",
        "",
    ))
    .await;
    let mut events = handle.events();
    let job = finish(&handle).await;
    assert_eq!(
        condition_types(&job),
        ["FailureTarget", "Failed"],
        "{job:?}"
    );
    let failed = &conditions(&job)[1];
    assert_eq!(
        (failed.reason.as_deref(), failed.message.as_deref()),
        (
            Some("BackoffLimitExceeded"),
            Some("Job has reached the specified backoff limit")
        )
    );
    // backoffLimit 1: the first pod and one replacement, both failed.
    assert_eq!(counts(&job), (0, 0, 2));
    assert_eq!(handle.pods().len(), 2);
    assert!(job.status.unwrap().completion_time.is_none());
    let mut reasons = Vec::new();
    while let Ok(e) = events.try_recv() {
        reasons.push(e.reason);
    }
    assert!(
        reasons.contains(&"BackoffLimitExceeded".to_owned()),
        "{reasons:?}"
    );
    assert!(!handle.wait().await.succeeded);
}

// upstream: test/e2e/apps/job.go "should fail when exceeds active deadline"
#[tokio::test]
async fn should_fail_when_exceeds_active_deadline() {
    let handle = apply(&job(
        "deadline",
        "  activeDeadlineSeconds: 1\n  parallelism: 2\n  completions: 4\n",
        "Never",
        "sleep 3600",
        "",
    ))
    .await;
    let job = finish(&handle).await;
    assert_eq!(
        condition_types(&job),
        ["FailureTarget", "Failed"],
        "{job:?}"
    );
    let failed = &conditions(&job)[1];
    assert_eq!(
        (failed.reason.as_deref(), failed.message.as_deref()),
        (
            Some("DeadlineExceeded"),
            Some("Job was active longer than specified deadline")
        )
    );
    // Its active pods were stopped; none runs on.
    assert_eq!(counts(&job).0, 0);
    for p in handle.pods() {
        assert_ne!(p.phase().as_deref(), Some("Running"));
    }
}

// upstream: test/e2e/apps/job.go "should run a job to completion with CPU requests" is a
// scheduling test; what applies of it here is parallelism as a work queue:
// upstream: test/e2e/apps/job.go "should run a job to completion when tasks succeed"
// (no completions: a work queue of `parallelism` pods, complete once they all ended).
#[tokio::test]
async fn a_work_queue_job_runs_parallelism_pods_and_completes_when_they_succeed() {
    let handle = apply(&job(
        "queue",
        "  parallelism: 3\n",
        "Never",
        "echo item",
        "",
    ))
    .await;
    let job = finish(&handle).await;
    assert_eq!(
        condition_types(&job),
        ["SuccessCriteriaMet", "Complete"],
        "{job:?}"
    );
    assert_eq!(counts(&job), (0, 3, 0));
    assert_eq!(handle.pods().len(), 3);
}

// upstream: test/e2e/apps/job.go "should fail to exceed backoffLimit", with
// restartPolicy OnFailure: the kubelet restarts the container in place and the Job
// controller counts those restarts against the limit (`pastBackoffLimitOnFailure`).
#[tokio::test]
async fn should_fail_to_exceed_backoff_limit_by_local_restarts() {
    let handle = apply(&job(
        "restarts",
        "  backoffLimit: 2\n",
        "OnFailure",
        "exit 1",
        "",
    ))
    .await;
    let job = finish(&handle).await;
    assert_eq!(
        condition_types(&job),
        ["FailureTarget", "Failed"],
        "{job:?}"
    );
    assert_eq!(
        conditions(&job)[1].reason.as_deref(),
        Some("BackoffLimitExceeded")
    );
    // One pod, restarted in place until the limit, then stopped.
    let pods = handle.pods();
    assert_eq!(pods.len(), 1);
    let restarts = restarts(&pods[0]);
    assert!(restarts >= 2, "{restarts} restarts");
    assert_eq!(counts(&job).0, 0);
}

/// The restart count of a pod's first container.
fn restarts(pod: &wasmpod::PodHandle) -> i32 {
    let pod = pod.pod();
    let status = pod.status.as_ref().expect("a status");
    status
        .container_statuses
        .as_ref()
        .expect("container statuses")[0]
        .restart_count
}
