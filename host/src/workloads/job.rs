//! The Job controller's decisions (`pkg/controller/job/job_controller.go`), as pure
//! functions: how many pods to start, the pod-failure backoff, when the Job has failed or
//! is complete, and the conditions and status it then carries.

use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// The Job controller's default `backoffLimit`.
pub const DEFAULT_BACKOFF_LIMIT: i32 = 6;
/// The first delay before a failed pod is replaced (`DefaultJobPodFailureBackOff`).
pub const POD_FAILURE_BACKOFF: Duration = Duration::from_secs(10);
/// The longest delay before a failed pod is replaced (the six minutes the Job
/// documentation gives).
pub const MAX_POD_FAILURE_BACKOFF: Duration = Duration::from_secs(6 * 60);

/// `BackoffLimitExceeded`'s message.
pub const BACKOFF_LIMIT_MESSAGE: &str = "Job has reached the specified backoff limit";
/// `DeadlineExceeded`'s message.
pub const DEADLINE_MESSAGE: &str = "Job was active longer than specified deadline";
/// The message of `SuccessCriteriaMet` and `Complete` when the completions were reached.
pub const COMPLETIONS_MESSAGE: &str = "Reached expected number of succeeded pods";

/// A Job's spec, defaulted as the API server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// `None`: a work queue (complete once one pod succeeded and none is active).
    pub completions: Option<i32>,
    pub parallelism: i32,
    pub backoff_limit: i32,
    pub active_deadline: Option<Duration>,
    /// The template's `restartPolicy` is `OnFailure`: failures are counted by restarts.
    pub on_failure: bool,
}

impl Params {
    /// The defaulted spec of `job`: with neither `completions` nor `parallelism` set, both
    /// are 1; `parallelism` alone makes a work queue; `backoffLimit` defaults to 6.
    pub(crate) fn of(job: &Job) -> Self {
        let spec = job.spec.clone().unwrap_or_default();
        let (completions, parallelism) = match (spec.completions, spec.parallelism) {
            (None, None) => (Some(1), 1),
            (c, p) => (c, p.unwrap_or(1)),
        };
        let on_failure = spec
            .template
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.as_deref())
            == Some("OnFailure");
        Self {
            completions,
            parallelism,
            backoff_limit: spec.backoff_limit.unwrap_or(DEFAULT_BACKOFF_LIMIT),
            active_deadline: spec
                .active_deadline_seconds
                .map(|s| Duration::from_secs(s.max(0).unsigned_abs())),
            on_failure,
        }
    }
}

/// What the controller counts of a Job's pods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Pods not ended.
    pub active: i32,
    /// Pods that ended `Succeeded`.
    pub succeeded: i32,
    /// Pods that ended `Failed`.
    pub failed: i32,
    /// Container restarts of the active pods (init and regular containers).
    pub restarts: i32,
    /// Active pods that are Ready.
    pub ready: i32,
}

/// How many active pods the Job wants (`wantActive` of `manageJob`).
pub(crate) fn want_active(p: &Params, c: &Counts) -> i32 {
    match p.completions {
        // A work queue: once one pod succeeded, let the running ones finish, start no more.
        None if c.succeeded > 0 => c.active,
        None => p.parallelism,
        Some(completions) => (completions - c.succeeded).clamp(0, p.parallelism),
    }
}

/// How many pods to create now.
pub(crate) fn pods_to_create(p: &Params, c: &Counts) -> i32 {
    (want_active(p, c) - c.active).max(0)
}

/// The delay before a new pod after `failures` pod failures since the last success: 10 s
/// doubling per failure, capped at six minutes, times `factor` (1.0 as on a cluster; less
/// for tests and impatient users).
pub(crate) fn backoff(failures: u32, factor: f64) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doubled = POD_FAILURE_BACKOFF
        .checked_mul(1u32.checked_shl(failures - 1).unwrap_or(u32::MAX))
        .unwrap_or(MAX_POD_FAILURE_BACKOFF)
        .min(MAX_POD_FAILURE_BACKOFF);
    doubled.mul_f64(factor.clamp(0.0, 1e6))
}

/// Why a Job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Its completions were reached.
    Complete,
    /// `BackoffLimitExceeded`.
    BackoffLimitExceeded,
    /// `DeadlineExceeded`.
    DeadlineExceeded,
}

impl Verdict {
    /// The condition types: the interim one (set first, while pods are still stopping)
    /// and the final one, as the controller sets them since Kubernetes 1.31.
    pub(crate) fn condition_types(self) -> (&'static str, &'static str) {
        match self {
            Verdict::Complete => ("SuccessCriteriaMet", "Complete"),
            _ => ("FailureTarget", "Failed"),
        }
    }

    /// The conditions' reason.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Verdict::Complete => "CompletionsReached",
            Verdict::BackoffLimitExceeded => "BackoffLimitExceeded",
            Verdict::DeadlineExceeded => "DeadlineExceeded",
        }
    }

    /// The conditions' message.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Verdict::Complete => COMPLETIONS_MESSAGE,
            Verdict::BackoffLimitExceeded => BACKOFF_LIMIT_MESSAGE,
            Verdict::DeadlineExceeded => DEADLINE_MESSAGE,
        }
    }
}

/// Whether the Job has ended, and how, after `active_for` since its start.
pub(crate) fn verdict(p: &Params, c: &Counts, active_for: Duration) -> Option<Verdict> {
    // `pastBackoffLimitOnFailure`: restarts of the active pods count as failures.
    let past_on_failure = p.on_failure
        && if p.backoff_limit == 0 {
            c.restarts > 0
        } else {
            c.restarts >= p.backoff_limit
        };
    if c.failed > p.backoff_limit || past_on_failure {
        return Some(Verdict::BackoffLimitExceeded);
    }
    if p.active_deadline.is_some_and(|d| active_for >= d) {
        return Some(Verdict::DeadlineExceeded);
    }
    let complete = match p.completions {
        None => c.succeeded > 0 && c.active == 0,
        Some(n) => c.succeeded >= n,
    };
    complete.then_some(Verdict::Complete)
}

/// The Job's status: counts, start time, and for an ended Job its conditions (the interim
/// one, and the final one once `stopped`: no pod of it is still stopping) and, when
/// complete, its completion time.
pub(crate) fn status(
    c: &Counts,
    start: Timestamp,
    ended: Option<(Verdict, Timestamp)>,
    stopped: bool,
) -> JobStatus {
    let mut status = JobStatus {
        active: Some(c.active),
        succeeded: Some(c.succeeded),
        failed: Some(c.failed),
        ready: Some(c.ready),
        terminating: Some(0),
        start_time: Some(Time(start)),
        ..Default::default()
    };
    if let Some((verdict, at)) = ended {
        let (interim, last) = verdict.condition_types();
        let condition = |type_: &str| JobCondition {
            type_: type_.into(),
            status: "True".into(),
            reason: Some(verdict.reason().into()),
            message: Some(verdict.message().into()),
            last_probe_time: Some(Time(at)),
            last_transition_time: Some(Time(at)),
        };
        let mut conditions = vec![condition(interim)];
        if stopped {
            conditions.push(condition(last));
            if verdict == Verdict::Complete {
                status.completion_time = Some(Time(at));
            }
        } else {
            status.terminating = Some(c.active);
        }
        status.conditions = Some(conditions);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(completions: Option<i32>, parallelism: i32) -> Params {
        Params {
            completions,
            parallelism,
            backoff_limit: 6,
            active_deadline: None,
            on_failure: false,
        }
    }

    fn counts(active: i32, succeeded: i32, failed: i32) -> Counts {
        Counts {
            active,
            succeeded,
            failed,
            ..Counts::default()
        }
    }

    #[test]
    fn defaults_are_the_api_servers() {
        let job: Job =
            serde_json::from_value(serde_json::json!({"spec": {"template": {}}})).unwrap();
        let p = Params::of(&job);
        assert_eq!(
            (p.completions, p.parallelism, p.backoff_limit),
            (Some(1), 1, 6)
        );
        let job: Job =
            serde_json::from_value(serde_json::json!({"spec": {"parallelism": 3, "template": {}}}))
                .unwrap();
        assert_eq!(Params::of(&job).completions, None);
    }

    #[test]
    fn parallelism_caps_the_active_pods_and_completions_the_total() {
        let p = params(Some(5), 2);
        assert_eq!(pods_to_create(&p, &counts(0, 0, 0)), 2);
        assert_eq!(pods_to_create(&p, &counts(1, 0, 0)), 1);
        // Four succeeded: one completion left, one running already.
        assert_eq!(pods_to_create(&p, &counts(1, 4, 0)), 0);
        assert_eq!(pods_to_create(&p, &counts(0, 4, 0)), 1);
        assert_eq!(pods_to_create(&p, &counts(0, 5, 0)), 0);
    }

    #[test]
    fn a_work_queue_starts_no_pod_after_a_success() {
        let p = params(None, 3);
        assert_eq!(pods_to_create(&p, &counts(0, 0, 0)), 3);
        assert_eq!(pods_to_create(&p, &counts(2, 1, 0)), 0);
        assert_eq!(verdict(&p, &counts(2, 1, 0), Duration::ZERO), None);
        assert_eq!(
            verdict(&p, &counts(0, 1, 0), Duration::ZERO),
            Some(Verdict::Complete)
        );
    }

    #[test]
    fn backoff_doubles_from_ten_seconds_to_six_minutes() {
        assert_eq!(backoff(0, 1.0), Duration::ZERO);
        assert_eq!(backoff(1, 1.0), Duration::from_secs(10));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(20));
        assert_eq!(backoff(6, 1.0), Duration::from_secs(320));
        assert_eq!(backoff(7, 1.0), MAX_POD_FAILURE_BACKOFF);
        assert_eq!(backoff(100, 1.0), MAX_POD_FAILURE_BACKOFF);
        assert_eq!(backoff(2, 0.01), Duration::from_millis(200));
    }

    #[test]
    fn more_failures_than_the_backoff_limit_fail_the_job() {
        let mut p = params(Some(1), 1);
        p.backoff_limit = 1;
        assert_eq!(verdict(&p, &counts(1, 0, 1), Duration::ZERO), None);
        assert_eq!(
            verdict(&p, &counts(0, 0, 2), Duration::ZERO),
            Some(Verdict::BackoffLimitExceeded)
        );
    }

    #[test]
    fn on_failure_counts_container_restarts() {
        let mut p = params(Some(1), 1);
        p.on_failure = true;
        p.backoff_limit = 2;
        let mut c = counts(1, 0, 0);
        c.restarts = 1;
        assert_eq!(verdict(&p, &c, Duration::ZERO), None);
        c.restarts = 2;
        assert_eq!(
            verdict(&p, &c, Duration::ZERO),
            Some(Verdict::BackoffLimitExceeded)
        );
        p.backoff_limit = 0;
        c.restarts = 1;
        assert_eq!(
            verdict(&p, &c, Duration::ZERO),
            Some(Verdict::BackoffLimitExceeded)
        );
    }

    #[test]
    fn the_deadline_fails_a_job_still_running() {
        let mut p = params(Some(1), 1);
        p.active_deadline = Some(Duration::from_secs(1));
        assert_eq!(
            verdict(&p, &counts(1, 0, 0), Duration::from_millis(999)),
            None
        );
        assert_eq!(
            verdict(&p, &counts(1, 0, 0), Duration::from_secs(1)),
            Some(Verdict::DeadlineExceeded)
        );
    }

    #[test]
    fn completion_sets_success_criteria_met_then_complete() {
        let start = Timestamp::now();
        let c = counts(0, 1, 0);
        let interim = status(&c, start, Some((Verdict::Complete, start)), false);
        let types: Vec<_> = interim
            .conditions
            .iter()
            .flatten()
            .map(|c| c.type_.as_str())
            .collect();
        assert_eq!(types, ["SuccessCriteriaMet"]);
        assert!(interim.completion_time.is_none());
        let done = status(&c, start, Some((Verdict::Complete, start)), true);
        let conditions = done.conditions.unwrap();
        let types: Vec<_> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
        assert_eq!(conditions[1].reason.as_deref(), Some("CompletionsReached"));
        assert!(done.completion_time.is_some());
    }

    #[test]
    fn failure_sets_failure_target_then_failed_with_the_reason() {
        let start = Timestamp::now();
        let c = counts(0, 0, 7);
        let done = status(
            &c,
            start,
            Some((Verdict::BackoffLimitExceeded, start)),
            true,
        );
        let conditions = done.conditions.unwrap();
        let failed = &conditions[1];
        assert_eq!(
            (
                failed.type_.as_str(),
                failed.reason.as_deref(),
                failed.message.as_deref()
            ),
            (
                "Failed",
                Some("BackoffLimitExceeded"),
                Some(BACKOFF_LIMIT_MESSAGE)
            )
        );
        assert_eq!(conditions[0].type_, "FailureTarget");
        assert!(done.completion_time.is_none());
        assert_eq!(done.failed, Some(7));
    }
}
