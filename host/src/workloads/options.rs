//! What a workload's driver and its handle share: the options its pods get and how it
//! ended.

use crate::pod::RunOptions;
use crate::spec::Workload;

/// Options for the pods of one workload.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkloadOptions {
    /// Options for each pod. A `run_dir` is the workload's root: each pod runs in
    /// `run_dir/<pod name>`.
    pub run: RunOptions,
    /// Scales the Job controller's pod-failure backoff (10 s doubling to six minutes):
    /// 1.0 (the default) as on a cluster, 0.01 for a hundredth of it.
    pub job_backoff_factor: f64,
}

impl Default for WorkloadOptions {
    fn default() -> Self {
        Self {
            run: RunOptions::default(),
            job_backoff_factor: 1.0,
        }
    }
}

impl WorkloadOptions {
    /// [`run`](Self::run): options for each pod.
    pub fn with_run(mut self, run: RunOptions) -> Self {
        self.run = run;
        self
    }

    /// [`job_backoff_factor`](Self::job_backoff_factor): scales the Job backoff.
    ///
    /// ```
    /// let options = wasmpod::WorkloadOptions::default().with_job_backoff_factor(0.01);
    /// assert_eq!(options.job_backoff_factor, 0.01);
    /// ```
    pub fn with_job_backoff_factor(mut self, factor: f64) -> Self {
        self.job_backoff_factor = factor;
        self
    }
}

/// How a workload ended.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkloadOutcome {
    /// The object with its last status (a Job with its `Complete` or `Failed` condition).
    pub workload: Workload,
    /// A Job: whether it completed. Other kinds end only when stopped: `true`.
    pub succeeded: bool,
    /// Whether it was stopped from outside ([`WorkloadHandle::stop`](super::WorkloadHandle::stop)).
    pub stopped: bool,
}
