//! `wasmpod run --junit FILE`: a JUnit XML report, as CI systems (GitHub Actions with a
//! test-report action, GitLab's `artifacts:reports:junit`, Jenkins) show test results.
//!
//! One test case per finite workload — a pod whose `restartPolicy` is `Never` or
//! `OnFailure`, which runs to an end, named `pod/<name>` (it passes when the pod
//! Succeeded), and a Job, named `job/<name>` (it passes when the Job is Complete; a
//! failed one carries its `Failed` condition's reason and message, and its pods' output). A failed case carries the pod's phase and each failed container's reason
//! and exit code as its message, and the last lines of the pod's output (as `wasmpod run`
//! printed them, `container | line`) as its output. Pods that serve until stopped
//! (`Always`) are not test cases.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use wasmpod::{Outcome, Phase};

/// The most lines of output a test case keeps, per pod.
pub const TAIL_LINES: usize = 200;

/// The last lines each pod printed, for the report.
#[derive(Debug, Default)]
pub struct Tails {
    pods: Mutex<HashMap<String, VecDeque<String>>>,
}

impl Tails {
    /// Notes a line of `pod`'s output (`container | line`), keeping the last [`TAIL_LINES`].
    pub fn record(&self, pod: &str, container: &str, line: &str) {
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        let tail = pods.entry(pod.to_owned()).or_default();
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(format!("{container} | {line}"));
    }

    fn output(&self, pod: &str) -> String {
        let pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for line in pods.get(pod).into_iter().flatten() {
            out.push_str(line);
            out.push('\n');
        }
        out
    }
}

/// Whether a pod runs to an end by itself (a test case).
fn finite(pod: &Pod) -> bool {
    let policy = pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref());
    matches!(policy, Some("Never" | "OnFailure"))
}

/// Why a pod failed, in one line: its phase, its reason, and each container that did not
/// end with 0 (`app: Error (exit 1)`).
fn failure_message(o: &Outcome) -> String {
    let status = o.pod.status.clone().unwrap_or_default();
    let mut parts = vec![format!("pod {}", o.phase.as_str())];
    if let Some(reason) = status.reason {
        parts.push(reason);
    }
    if let Some(stopped) = o.stopped {
        parts.push(format!("stopped: {stopped:?}"));
    }
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for c in containers {
        let state = c.state.clone().unwrap_or_default();
        if let Some(t) = state.terminated.filter(|t| t.exit_code != 0) {
            let reason = t.reason.unwrap_or_default();
            parts.push(format!("{}: {reason} (exit {})", c.name, t.exit_code));
        } else if let Some(w) = state.waiting.filter(|_| o.phase != Phase::Succeeded) {
            let reason = w.reason.unwrap_or_default();
            parts.push(format!("{}: {reason}", c.name));
        }
    }
    parts.join("; ")
}

/// A Job of the run, as a test case.
#[derive(Debug, Clone)]
pub struct JobCase {
    /// `job/<name>`.
    pub name: String,
    /// Its namespace (the case's class name).
    pub namespace: String,
    /// Whether it completed.
    pub succeeded: bool,
    /// Why it failed (its `Failed` condition), when it did.
    pub message: String,
    /// Its pods, whose output a failed case carries.
    pub pods: Vec<String>,
    /// From its start to its completion or failure.
    pub time: Option<Duration>,
}

/// Writes the report of `outcomes` and `jobs` (with `tails`, and the run's `elapsed`
/// time) to `path`.
pub fn write(
    path: &Path,
    outcomes: &[Outcome],
    jobs: &[JobCase],
    tails: &Tails,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let mut suite = TestSuite::new("wasmpod");
    suite.set_time(elapsed);
    for o in outcomes.iter().filter(|o| finite(&o.pod)) {
        let name = o.pod.metadata.name.clone().unwrap_or_default();
        let status = if o.phase == Phase::Succeeded {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(failure_message(o));
            s
        };
        let mut case = TestCase::new(format!("pod/{name}"), status);
        case.set_classname(
            o.pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
        );
        if let Some(time) = run_time(&o.pod) {
            case.set_time(time);
        }
        if o.phase != Phase::Succeeded {
            case.set_system_out(tails.output(&name));
        }
        suite.add_test_case(case);
    }
    for job in jobs {
        let status = if job.succeeded {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(job.message.clone());
            s
        };
        let mut case = TestCase::new(job.name.clone(), status);
        case.set_classname(job.namespace.clone());
        if let Some(time) = job.time {
            case.set_time(time);
        }
        if !job.succeeded {
            let out: String = job.pods.iter().map(|p| tails.output(p)).collect();
            case.set_system_out(out);
        }
        suite.add_test_case(case);
    }
    let mut report = Report::new("wasmpod run");
    report.add_test_suite(suite);
    let file = std::fs::File::create(path)
        .with_context(|| format!("failed to write the JUnit report {}", path.display()))?;
    report
        .serialize(std::io::BufWriter::new(file))
        .with_context(|| format!("failed to write the JUnit report {}", path.display()))
}

/// From the pod's start to its last container's end.
fn run_time(pod: &Pod) -> Option<Duration> {
    let status = pod.status.as_ref()?;
    let start = status.start_time.as_ref()?.0;
    let end = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max()?;
    let span = end.duration_since(start);
    Duration::try_from(span).ok()
}
