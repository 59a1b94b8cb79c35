//! A fixture's waits: each gives up at the fixture's timeout, or as soon as the pod has
//! ended without what it waits for, with a [`WaitError`] that shows the pod.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use regex::Regex;
use tokio::time::Instant;

use super::journal::{Journal, status_line};
use super::{Fixture, FixtureError};
use crate::{LogLine, Outcome, Stream};

/// How often a port is tried while nothing listens.
const PORT_POLL: Duration = Duration::from_millis(50);

/// A wait that gave up: what it awaited, why it stopped, and the pod's status, last
/// output and events at that moment.
#[derive(Debug, thiserror::Error)]
#[error("{why} waiting for {awaited}\n{report}")]
#[non_exhaustive]
pub struct WaitError {
    /// What was awaited (`pod ready`, `a line of app matching "listening"`).
    pub awaited: String,
    /// Why the wait stopped (`timed out after 60s`, `the pod ended (Failed)`).
    pub why: String,
    /// The pod's status, last output and events.
    pub report: String,
}

fn ended(pod: &Pod) -> Option<String> {
    let phase = pod.status.as_ref()?.phase.as_deref()?;
    matches!(phase, "Succeeded" | "Failed").then(|| phase.to_owned())
}

fn container<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .find(|c| c.name == name)
}

impl Fixture {
    fn gave_up(&self, awaited: &str, why: String) -> FixtureError {
        FixtureError::Wait(Box::new(WaitError {
            awaited: awaited.to_owned(),
            why,
            report: self.journal.report(&self.handle.pod()),
        }))
    }

    /// Waits until `check` answers for the pod and its journal; gives up at the timeout,
    /// or once the pod has ended (and, with `until_output_ends`, its output too).
    async fn until<T>(
        &self,
        awaited: &str,
        until_output_ends: bool,
        mut check: impl FnMut(&Pod, &Journal) -> Option<T>,
    ) -> Result<T, FixtureError> {
        let deadline = Instant::now() + self.timeout;
        let mut status = self.handle.watch();
        let mut changes = self.journal.changes();
        loop {
            let pod = status.borrow_and_update().clone();
            if let Some(found) = check(&pod, &self.journal) {
                return Ok(found);
            }
            if let Some(phase) = ended(&pod)
                && (!until_output_ends || self.journal.output_ended())
            {
                return Err(self.gave_up(awaited, format!("the pod ended ({phase})")));
            }
            tokio::select! {
                _ = status.changed() => {}
                _ = changes.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(self.gave_up(awaited, format!("timed out after {:?}", self.timeout)));
                }
            }
        }
    }

    /// Waits until the pod is Ready (its readiness probes pass and its readiness gates hold).
    ///
    /// # Errors
    /// [`FixtureError::Wait`] at the timeout or when the pod ended first.
    pub async fn ready(&self) -> Result<(), FixtureError> {
        self.until("the pod to be Ready", false, |pod, _| {
            let conditions = pod.status.as_ref()?.conditions.as_ref()?;
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
                .then_some(())
        })
        .await
    }

    /// Waits until `container` has started (its startup probe, if any, passed).
    ///
    /// # Errors
    /// As [`Fixture::ready`].
    pub async fn started(&self, container_name: &str) -> Result<(), FixtureError> {
        let awaited = format!("container {container_name} to start");
        self.until(&awaited, false, |pod, _| {
            (container(pod, container_name)?.started == Some(true)).then_some(())
        })
        .await
    }

    /// Waits for a line of `container`'s output (stdout or stderr) that `pattern` (a regular
    /// expression) matches, counting from the pod's start, and returns it.
    ///
    /// # Errors
    /// [`FixtureError::Wait`] for a pattern that is no regular expression, at the timeout,
    /// or when the pod's output ended without such a line.
    pub async fn log(&self, container_name: &str, pattern: &str) -> Result<LogLine, FixtureError> {
        self.log_matching(container_name, None, pattern).await
    }

    /// [`Fixture::log`] on one stream of the container.
    ///
    /// # Errors
    /// As [`Fixture::log`].
    pub async fn log_on(
        &self,
        container_name: &str,
        stream: Stream,
        pattern: &str,
    ) -> Result<LogLine, FixtureError> {
        self.log_matching(container_name, Some(stream), pattern)
            .await
    }

    async fn log_matching(
        &self,
        container_name: &str,
        stream: Option<Stream>,
        pattern: &str,
    ) -> Result<LogLine, FixtureError> {
        let on = stream.map(|s| format!(" on {s:?}")).unwrap_or_default();
        let awaited = format!("a line of {container_name}{on} matching {pattern:?}");
        let regex = Regex::new(pattern).map_err(|e| self.gave_up(&awaited, e.to_string()))?;
        self.until(&awaited, true, |_, journal| {
            journal.find_line(|l| {
                l.container == container_name
                    && stream.is_none_or(|s| l.stream == s)
                    && regex.is_match(&l.line)
            })
        })
        .await
    }

    /// Waits until something in the pod accepts connections on `port`.
    ///
    /// # Errors
    /// As [`Fixture::ready`].
    pub async fn port(&self, port: u16) -> Result<(), FixtureError> {
        let awaited = format!("port {port} to accept connections");
        let deadline = Instant::now() + self.timeout;
        loop {
            if self.handle.connect(port).await.is_ok() {
                return Ok(());
            }
            if let Some(phase) = ended(&self.handle.pod()) {
                return Err(self.gave_up(&awaited, format!("the pod ended ({phase})")));
            }
            if Instant::now() >= deadline {
                return Err(self.gave_up(&awaited, format!("timed out after {:?}", self.timeout)));
            }
            tokio::time::sleep(PORT_POLL).await;
        }
    }

    /// Waits until the Service `service` of the fixture's namespace has at least `n` ready
    /// endpoints (pods its selector matches that are Ready) and returns them; the fixture's
    /// manifest may hold the Service (see [`Fixture::start`]), other fixtures or pods of
    /// the namespace its endpoints.
    ///
    /// ```no_run
    /// # async fn t() -> Result<(), wasmpod::testing::FixtureError> {
    /// let db = wasmpod::testing::Fixture::start(
    ///     "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {selector: {app: db}, ports: [{port: 5432}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: db, labels: {app: db}}\nspec:\n  containers: [{name: db, image: busybox, command: [nc, -lk, -p, '5432']}]\n",
    /// ).await?;
    /// let endpoints = db.endpoints("db", 1).await?;
    /// assert_eq!(endpoints[0].pod, "db");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`FixtureError::Wait`] at the timeout (it says how many were ready).
    pub async fn endpoints(
        &self,
        service: &str,
        n: usize,
    ) -> Result<Vec<crate::Endpoint>, FixtureError> {
        let pod = self.handle.pod();
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let awaited = format!("service {namespace}/{service} to have {n} ready endpoints");
        let deadline = Instant::now() + self.timeout;
        loop {
            let ready: Vec<crate::Endpoint> = super::runtime()
                .cluster()
                .endpoints(namespace, service)
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.ready)
                .collect();
            if ready.len() >= n {
                return Ok(ready);
            }
            if Instant::now() >= deadline {
                let why = format!(
                    "timed out after {:?} with {} ready",
                    self.timeout,
                    ready.len()
                );
                return Err(self.gave_up(&awaited, why));
            }
            tokio::time::sleep(PORT_POLL).await;
        }
    }

    /// Waits until `container` has exited (its current state, or for a restarted one its
    /// last state) and returns its exit code.
    ///
    /// # Errors
    /// As [`Fixture::ready`].
    pub async fn exited(&self, container_name: &str) -> Result<i32, FixtureError> {
        let awaited = format!("container {container_name} to exit");
        let code = self
            .until(&awaited, false, |pod, _| {
                let c = container(pod, container_name)?;
                let now = c.state.as_ref().and_then(|s| s.terminated.as_ref());
                let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
                now.or(last).map(|t| t.exit_code)
            })
            .await;
        // The pod may end as the container does: its final status has the answer.
        match code {
            Err(FixtureError::Wait(_)) => {
                let pod = self.handle.pod();
                container(&pod, container_name)
                    .and_then(|c| c.state.as_ref()?.terminated.as_ref())
                    .map(|t| t.exit_code)
                    .ok_or_else(|| self.gave_up(&awaited, status_line(&pod)))
            }
            other => other,
        }
    }

    /// Waits until the pod has ended (a pod with `restartPolicy: Never` or `OnFailure` does
    /// by itself) and returns how.
    ///
    /// # Errors
    /// [`FixtureError::Wait`] at the timeout.
    pub async fn ended(&self) -> Result<Outcome, FixtureError> {
        tokio::time::timeout(self.timeout, self.handle.wait())
            .await
            .map_err(|_| {
                self.gave_up(
                    "the pod to end",
                    format!("timed out after {:?}", self.timeout),
                )
            })
    }
}
