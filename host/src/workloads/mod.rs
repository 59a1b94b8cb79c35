//! Workload controllers: Deployments, ReplicaSets, StatefulSets, DaemonSets and Jobs
//! creating and watching their pods as the Kubernetes controllers do.
//!
//! The decisions are pure functions (`naming`: names, labels, owner references and the
//! template hash; `job`: the Job controller's counts, backoff and conditions; `status`:
//! replica counts); `driver` is the thin async loop per workload that carries them out
//! with [`Runtime::create`] and [`PodHandle`]s; `setup` turns a validated object into what
//! the loop needs.

mod driver;
mod job;
mod naming;
mod options;
mod setup;
mod status;

use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, oneshot, watch};

use crate::error::Error;
use crate::pod::PodHandle;
use crate::runtime::Runtime;
use crate::spec::{ValidWorkload, Workload};
use crate::supervisor::output::Event;
use crate::sync::lock;
pub use options::{WorkloadOptions, WorkloadOutcome};

/// A handle to a running workload: its object and status, its pods, its events.
/// Dropping it does not stop the workload; call [`stop`](Self::stop).
///
/// ```no_run
/// # async fn demo(runtime: wasmpod::Runtime, yaml: &str) -> Result<(), wasmpod::Error> {
/// let file = wasmpod::spec::load(yaml)?;
/// let job = runtime
///     .apply_workload(file.workloads[0].clone(), wasmpod::WorkloadOptions::default())
///     .await?;
/// let outcome = job.wait().await;
/// println!("{} succeeded: {}", job.object_name(), outcome.succeeded);
/// for pod in job.pods() {
///     println!("{} {}", pod.name(), pod.phase().unwrap_or_default());
/// }
/// # Ok(()) }
/// ```
pub struct WorkloadHandle {
    kind: &'static str,
    name: String,
    status: watch::Receiver<Workload>,
    owned: Arc<Mutex<Option<Workload>>>,
    pods: Arc<Mutex<Vec<Arc<PodHandle>>>>,
    /// Kept to subscribe from; the driver holds the only senders, so that the streams end
    /// with it.
    new_pods: broadcast::Receiver<Arc<PodHandle>>,
    events: broadcast::Receiver<Event>,
    start: Mutex<Option<oneshot::Sender<()>>>,
    stop: watch::Sender<bool>,
    done: watch::Receiver<Option<WorkloadOutcome>>,
}

impl WorkloadHandle {
    /// `Deployment`, `ReplicaSet`, `StatefulSet`, `DaemonSet` or `Job`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// `metadata.name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What kubectl calls it: `job/pi`, `deployment/web`.
    pub fn object_name(&self) -> String {
        format!("{}/{}", self.kind.to_lowercase(), self.name)
    }

    /// Whether it ends on its own (a Job), rather than when stopped.
    pub fn is_finite(&self) -> bool {
        self.kind == "Job"
    }

    /// The object with its current status.
    pub fn object(&self) -> Workload {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch(&self) -> watch::Receiver<Workload> {
        self.status.clone()
    }

    /// The objects it owns with their status: a Deployment's ReplicaSet.
    pub fn owned(&self) -> Vec<Workload> {
        lock(&self.owned).iter().cloned().collect()
    }

    /// Every pod it created so far, in order of creation (ended ones too).
    pub fn pods(&self) -> Vec<Arc<PodHandle>> {
        lock(&self.pods).clone()
    }

    /// Each pod it creates from now on (subscribe before [`start`](Self::start) to see
    /// every one). The stream ends when the workload has ended.
    pub fn subscribe_pods(&self) -> broadcast::Receiver<Arc<PodHandle>> {
        self.new_pods.resubscribe()
    }

    /// Its events from now on (`SuccessfulCreate`, `Completed`, `BackoffLimitExceeded`, …).
    /// The stream ends when the workload has ended.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.resubscribe()
    }

    /// Starts the controller (once; later calls do nothing).
    pub fn start(&self) {
        if let Some(tx) = lock(&self.start).take() {
            let _ = tx.send(());
        }
    }

    /// Stops it as a deletion: its pods are stopped gracefully (a StatefulSet's one by one,
    /// highest ordinal first), then it ends.
    pub fn stop(&self) {
        self.start();
        self.stop.send_replace(true);
    }

    /// Waits for it to end (starting it if needed): a Job once complete or failed, other
    /// kinds once stopped.
    pub async fn wait(&self) -> WorkloadOutcome {
        self.start();
        let mut done = self.done.clone();
        match done.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().expect("checked by wait_for"),
            Err(_) => WorkloadOutcome {
                workload: self.object(),
                succeeded: false,
                stopped: *self.stop.borrow(),
            },
        }
    }
}

impl Runtime {
    /// Creates a workload's controller without starting it: checks that its template
    /// resolves and its images load (so that a broken image fails here, not in a loop of
    /// failing pods), then returns its handle; [`WorkloadHandle::start`] starts it.
    ///
    /// ```no_run
    /// # async fn demo(runtime: wasmpod::Runtime, workload: wasmpod::spec::ValidWorkload) -> Result<(), wasmpod::Error> {
    /// let handle = runtime.create_workload(workload, wasmpod::WorkloadOptions::default()).await?;
    /// let mut pods = handle.subscribe_pods();
    /// handle.start();
    /// while let Ok(pod) = pods.recv().await {
    ///     println!("created {}", pod.name());
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Runtime::validate`] for the pod its template stands for.
    pub async fn create_workload(
        &self,
        workload: ValidWorkload,
        options: WorkloadOptions,
    ) -> Result<WorkloadHandle, Error> {
        let plan = setup::plan(workload.workload);
        let sample = crate::spec::ValidPod::from_pod(plan.sample_pod())?;
        self.validate(&sample, &options.run).await?;
        let (status_tx, status) = watch::channel(plan.object.clone());
        let (start_tx, start_rx) = oneshot::channel();
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = watch::channel(None);
        let (new_pods, new_pods_rx) = broadcast::channel(1024);
        let (events, events_rx) = broadcast::channel(1024);
        let handle = WorkloadHandle {
            kind: plan.object.kind(),
            name: plan.object.name().to_owned(),
            status,
            owned: Arc::new(Mutex::new(plan.owned.clone())),
            pods: Arc::default(),
            new_pods: new_pods_rx,
            events: events_rx,
            start: Mutex::new(Some(start_tx)),
            stop,
            done,
        };
        let ctx = driver::Ctx::new(
            self.clone(),
            options,
            driver::Channels {
                status: status_tx,
                owned: handle.owned.clone(),
                pods: handle.pods.clone(),
                new_pods,
                events,
                stop: stop_rx,
            },
        );
        tokio::spawn(async move {
            if start_rx.await.is_err() {
                return;
            }
            let outcome = driver::run(ctx, plan).await;
            done_tx.send_replace(Some(outcome));
        });
        Ok(handle)
    }

    /// [`create_workload`](Self::create_workload), then [`start`](WorkloadHandle::start).
    ///
    /// ```no_run
    /// # async fn demo(runtime: wasmpod::Runtime, workload: wasmpod::spec::ValidWorkload) -> Result<(), wasmpod::Error> {
    /// let web = runtime.apply_workload(workload, wasmpod::WorkloadOptions::default()).await?;
    /// let mut status = web.watch();
    /// status.changed().await.ok();
    /// web.stop();
    /// web.wait().await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`create_workload`](Self::create_workload).
    pub async fn apply_workload(
        &self,
        workload: ValidWorkload,
        options: WorkloadOptions,
    ) -> Result<WorkloadHandle, Error> {
        let handle = self.create_workload(workload, options).await?;
        handle.start();
        Ok(handle)
    }
}
