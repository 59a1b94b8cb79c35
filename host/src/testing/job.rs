//! A Job as a test fixture: a test that needs a batch step (a migration, a seed, a smoke
//! test against a fixture) starts it, waits for its end and reads how it ended.

use std::time::Duration;

use super::{FixtureError, WaitError, fresh_namespace, in_namespace, runtime};
use crate::error::Error;
use crate::workloads::{WorkloadHandle, WorkloadOptions, WorkloadOutcome};

/// A Job created for a test, stopped (its pods killed) when the fixture is dropped.
///
/// ```no_run
/// # async fn t() -> Result<(), wasmpod::testing::FixtureError> {
/// let job = wasmpod::testing::JobFixture::start(
///     "apiVersion: batch/v1\nkind: Job\nmetadata: {name: migrate}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: busybox, command: [sh, -c, 'exit 3']}]\n",
/// ).await?;
/// assert_eq!(job.exit_code("m").await?, 3);
/// # Ok(()) }
/// ```
pub struct JobFixture {
    handle: WorkloadHandle,
    timeout: Duration,
}

impl std::fmt::Debug for JobFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobFixture")
            .field("job", &self.handle.object_name())
            .finish_non_exhaustive()
    }
}

impl JobFixture {
    /// Creates and starts the Job of `yaml`, after applying the ConfigMaps, Secrets and
    /// Services it holds; without a namespace, it and those objects get one of their own.
    ///
    /// # Errors
    /// [`FixtureError::Create`] for an invalid manifest or a Job that cannot be created,
    /// [`FixtureError::Manifest`] for a file without exactly one Job.
    pub async fn start(yaml: &str) -> Result<JobFixture, FixtureError> {
        let file = crate::spec::load(yaml).map_err(Error::from)?;
        let mut jobs: Vec<_> = file
            .workloads
            .into_iter()
            .filter(|w| w.workload.kind() == "Job")
            .collect();
        if jobs.len() != 1 {
            return Err(FixtureError::Manifest(format!(
                "a job fixture's manifest holds one Job (this one holds {})",
                jobs.len()
            )));
        }
        let mut job = jobs.remove(0);
        let namespace = match &job.workload.metadata().namespace {
            Some(ns) => ns.clone(),
            None => {
                let ns = fresh_namespace();
                job.workload.metadata_mut().namespace = Some(ns.clone());
                ns
            }
        };
        for object in file.objects {
            runtime()
                .cluster()
                .apply(in_namespace(object, &namespace))
                .map_err(|e| FixtureError::Manifest(e.to_string()))?;
        }
        let handle = runtime()
            .apply_workload(job, WorkloadOptions::default())
            .await?;
        Ok(JobFixture {
            handle,
            timeout: Duration::from_secs(60),
        })
    }

    /// How long a wait may take before it gives up (default 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The Job's handle, for everything else (its status, pods, events).
    pub fn handle(&self) -> &WorkloadHandle {
        &self.handle
    }

    /// Waits until the Job has ended (`Complete` or `Failed`) and returns how.
    ///
    /// # Errors
    /// [`FixtureError::Wait`] at the timeout, with the Job's status and its pods'.
    pub async fn ended(&self) -> Result<WorkloadOutcome, FixtureError> {
        match tokio::time::timeout(self.timeout, self.handle.wait()).await {
            Ok(outcome) => Ok(outcome),
            Err(_) => Err(self.gave_up(
                "the job to end",
                format!("timed out after {:?}", self.timeout),
            )),
        }
    }

    /// Waits until the Job has ended and returns the exit code `container` ended with in
    /// the Job's last pod.
    ///
    /// # Errors
    /// As [`ended`](Self::ended); [`FixtureError::Wait`] when no pod has that container
    /// terminated.
    pub async fn exit_code(&self, container: &str) -> Result<i32, FixtureError> {
        self.ended().await?;
        self.handle
            .pods()
            .iter()
            .rev()
            .find_map(|p| {
                let status = p.pod().status.clone()?;
                status
                    .container_statuses
                    .into_iter()
                    .flatten()
                    .find(|c| c.name == container)?
                    .state?
                    .terminated
                    .map(|t| t.exit_code)
            })
            .ok_or_else(|| {
                self.gave_up(
                    &format!("container {container} to exit"),
                    "no pod of the job has it terminated".into(),
                )
            })
    }

    fn gave_up(&self, awaited: &str, why: String) -> FixtureError {
        let mut report = format!(
            "{}\n",
            serde_json::to_string(&self.handle.object().to_json()["status"]).unwrap_or_default()
        );
        for p in self.handle.pods() {
            report.push_str(&format!("  {}\n", super::journal::status_line(&p.pod())));
        }
        FixtureError::Wait(Box::new(WaitError {
            awaited: awaited.to_owned(),
            why,
            report,
        }))
    }
}

impl Drop for JobFixture {
    fn drop(&mut self) {
        self.handle.stop();
    }
}
