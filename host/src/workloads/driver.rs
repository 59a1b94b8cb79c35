//! The async loop of one workload: creates its pods, watches them, and carries out the
//! decisions of `job`, `status` and `setup` (one task per workload).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::job::{self, Counts, Verdict};
use super::options::{WorkloadOptions, WorkloadOutcome};
use super::setup::{Mode, Plan};
use super::status::{self, Replicas};
use crate::pod::{Outcome, PodHandle};
use crate::runtime::Runtime;
use crate::spec::{ValidPod, Workload};
use crate::supervisor::Phase;
use crate::supervisor::output::Event;
use crate::sync::lock;

/// How long a controller waits before trying again to create a pod that failed to be
/// created (the pod's images were checked when the workload was created, so this is rare).
const CREATE_RETRY: Duration = Duration::from_secs(1);

/// Where the loop reports to the handle.
pub(crate) struct Channels {
    pub status: watch::Sender<Workload>,
    pub owned: Arc<Mutex<Option<Workload>>>,
    pub pods: Arc<Mutex<Vec<Arc<PodHandle>>>>,
    pub new_pods: broadcast::Sender<Arc<PodHandle>>,
    pub events: broadcast::Sender<Event>,
    pub stop: watch::Receiver<bool>,
}

/// What one of the workload's pods did.
enum Msg {
    /// Its status changed.
    Changed,
    /// It ended.
    Ended(String, Box<Outcome>),
}

/// Why the loop woke up.
enum Wake {
    Msg(Msg),
    Stop,
    Timer,
}

/// The loop's context: the runtime, the handle's channels, the pods' messages.
pub(crate) struct Ctx {
    rt: Runtime,
    options: WorkloadOptions,
    ch: Channels,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
    /// The handle can still ask for a stop.
    stop_open: bool,
}

impl Ctx {
    pub(crate) fn new(rt: Runtime, options: WorkloadOptions, ch: Channels) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            rt,
            options,
            ch,
            tx,
            rx,
            stop_open: true,
        }
    }

    fn stop_requested(&self) -> bool {
        *self.ch.stop.borrow()
    }

    fn event(&self, warning: bool, reason: &str, message: String) {
        let event = if warning {
            Event::warning(reason, None, message)
        } else {
            Event::normal(reason, None, message)
        };
        let _ = self.ch.events.send(event);
    }

    /// Creates and starts one pod of the plan; `None` (and a `FailedCreate` event) when it
    /// cannot be created.
    async fn create(&self, plan: &Plan, ordinal: Option<i32>) -> Option<Arc<PodHandle>> {
        let pod = plan.pod(ordinal);
        let name = pod.metadata.name.clone().unwrap_or_default();
        let mut options = self.options.run.clone();
        if let Some(root) = &options.run_dir {
            options.run_dir = Some(root.join(&name));
        }
        let created = match ValidPod::from_pod(pod) {
            Ok(valid) => self.rt.create(valid, options).await,
            Err(e) => Err(e.into()),
        };
        let handle = match created {
            Ok(h) => Arc::new(h),
            Err(e) => {
                let error = crate::report::chain(&e);
                self.event(true, "FailedCreate", format!("Error creating: {error}"));
                return None;
            }
        };
        lock(&self.ch.pods).push(handle.clone());
        let _ = self.ch.new_pods.send(handle.clone());
        self.event(false, "SuccessfulCreate", format!("Created pod: {name}"));
        let (watched, tx) = (handle.clone(), self.tx.clone());
        // Subscribed before the pod starts, so that no change is missed.
        let mut status = watched.watch();
        tokio::spawn(async move {
            let ended = watched.wait();
            tokio::pin!(ended);
            loop {
                tokio::select! {
                    outcome = &mut ended => {
                        let _ = tx.send(Msg::Ended(watched.name().to_owned(), Box::new(outcome)));
                        break;
                    }
                    changed = status.changed() => {
                        if changed.is_err() || tx.send(Msg::Changed).is_err() {
                            let outcome = Box::new(watched.wait().await);
                            let _ = tx.send(Msg::Ended(watched.name().to_owned(), outcome));
                            break;
                        }
                    }
                }
            }
        });
        handle.start();
        Some(handle)
    }

    /// Waits for a pod message, a stop request or `timer`.
    async fn wake(&mut self, timer: Option<Instant>) -> Wake {
        let sleep = async {
            match timer {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            msg = self.rx.recv() => match msg {
                Some(msg) => Wake::Msg(msg),
                None => Wake::Timer, // unreachable: the context holds a sender
            },
            changed = self.ch.stop.changed(), if self.stop_open => {
                if changed.is_err() {
                    self.stop_open = false;
                    Wake::Timer
                } else {
                    Wake::Stop
                }
            }
            () = sleep => Wake::Timer,
        }
    }

    fn publish(&self, object: &Workload) {
        self.ch.status.send_replace(object.clone());
    }
}

/// Stops `pods` as a deletion: all at once, or one by one from the last (`reverse`), each
/// waited for before the next.
async fn stop_pods(pods: &[Arc<PodHandle>], reverse: bool) {
    if reverse {
        for h in pods.iter().rev() {
            h.stop();
            h.wait().await;
        }
        return;
    }
    pods.iter().for_each(|h| h.stop());
    for h in pods {
        h.wait().await;
    }
}

/// Runs the controller until the workload ends.
pub(crate) async fn run(ctx: Ctx, plan: Plan) -> WorkloadOutcome {
    match plan.mode.clone() {
        Mode::Replicas(n) => replicas(ctx, plan, n, Identity::None).await,
        Mode::Ordered(n) => replicas(ctx, plan, n, Identity::OrderedReady).await,
        Mode::Parallel(n) => replicas(ctx, plan, n, Identity::Parallel).await,
        Mode::Job(params) => run_job(ctx, plan, params).await,
    }
}

/// Whether pods have ordinals, and how a StatefulSet's are managed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identity {
    /// Deployment, ReplicaSet, DaemonSet: generated names.
    None,
    /// StatefulSet `OrderedReady`: one by one, the next once the previous is Ready; stopped
    /// highest ordinal first, each after the one above it ended.
    OrderedReady,
    /// StatefulSet `Parallel`: all at once, stopped at once.
    Parallel,
}

/// Deployments, ReplicaSets, DaemonSets and StatefulSets: keep `desired` pods, replace any
/// that ends; on a stop, stop them (an `OrderedReady` StatefulSet's in reverse order).
async fn replicas(mut ctx: Ctx, plan: Plan, desired: i32, identity: Identity) -> WorkloadOutcome {
    let ordered = identity == Identity::OrderedReady;
    let desired = desired.max(0);
    let mut object = plan.object.clone();
    // Pod by ordinal (StatefulSet) or in creation order.
    let mut slots: Vec<Option<Arc<PodHandle>>> = vec![None; usize::try_from(desired).unwrap_or(0)];
    let scaled_object = plan.owned.as_ref().map_or(&plan.object, |o| o);
    if desired > 0 && plan.owned.is_some() {
        ctx.event(
            false,
            "ScalingReplicaSet",
            format!(
                "Scaled up replica set {} from 0 to {desired}",
                scaled_object.name()
            ),
        );
    }
    let mut retry = None;
    loop {
        if ctx.stop_requested() {
            break;
        }
        // Create what is missing: every missing pod, or for OrderedReady the first missing
        // one once every pod before it is Ready.
        for (i, slot) in slots.iter_mut().enumerate() {
            if let Some(h) = slot {
                if ordered && !status::is_ready(&h.pod()) {
                    break;
                }
                continue;
            }
            if retry.is_some_and(|at| Instant::now() < at) {
                break;
            }
            let ordinal =
                (identity != Identity::None).then(|| i32::try_from(i).unwrap_or(i32::MAX));
            match ctx.create(&plan, ordinal).await {
                Some(h) => *slot = Some(h),
                None => {
                    retry = Some(Instant::now() + CREATE_RETRY);
                    break;
                }
            }
            if ordered {
                break;
            }
        }
        publish_replicas(&ctx, &plan, &mut object, desired, &slots);
        match ctx.wake(retry).await {
            Wake::Msg(Msg::Ended(name, outcome)) => {
                if let Some(slot) = slots
                    .iter_mut()
                    .find(|s| s.as_ref().is_some_and(|h| h.name() == name))
                {
                    *slot = None;
                    ctx.event(
                        false,
                        "PodEnded",
                        format!("Pod {name} ended {}: replacing it", outcome.phase.as_str()),
                    );
                }
            }
            Wake::Timer => retry = None,
            Wake::Msg(Msg::Changed) | Wake::Stop => {}
        }
    }
    let live: Vec<Arc<PodHandle>> = slots.iter().flatten().cloned().collect();
    if plan.owned.is_some() && !live.is_empty() {
        ctx.event(
            false,
            "ScalingReplicaSet",
            format!(
                "Scaled down replica set {} from {} to 0",
                scaled_object.name(),
                live.len()
            ),
        );
    }
    for h in &live {
        ctx.event(
            false,
            "SuccessfulDelete",
            format!("Deleted pod: {}", h.name()),
        );
    }
    stop_pods(&live, ordered).await;
    publish_replicas(&ctx, &plan, &mut object, desired, &[]);
    WorkloadOutcome {
        workload: object,
        succeeded: true,
        stopped: true,
    }
}

fn publish_replicas(
    ctx: &Ctx,
    plan: &Plan,
    object: &mut Workload,
    desired: i32,
    slots: &[Option<Arc<PodHandle>>],
) {
    let pods: Vec<_> = slots.iter().flatten().map(|h| h.pod()).collect();
    let counts = Replicas::of(pods.iter().map(|p| &**p));
    status::set_replicas(object, desired, counts);
    if let Some(owned) = lock(&ctx.ch.owned).as_mut() {
        status::set_replicas(owned, desired, counts);
    }
    let _ = plan;
    ctx.publish(object);
}

/// A Job: start pods as `job` decides, replace failed ones after the backoff, end with
/// its conditions.
async fn run_job(mut ctx: Ctx, plan: Plan, params: job::Params) -> WorkloadOutcome {
    let mut object = plan.object.clone();
    let start = Timestamp::now();
    let started = Instant::now();
    // A deadline past what the clock can hold is no deadline.
    let deadline = params.active_deadline.and_then(|d| started.checked_add(d));
    let mut live: Vec<Arc<PodHandle>> = Vec::new();
    let mut counts = Counts::default();
    let mut failures_since_success = 0u32;
    let mut next_create = started;
    let mut ended: Option<(Verdict, Timestamp)> = None;
    let mut stopped_by_user = false;
    loop {
        let pods: Vec<_> = live.iter().map(|h| h.pod()).collect();
        counts.active = i32::try_from(live.len()).unwrap_or(i32::MAX);
        counts.ready = pods.iter().filter(|p| status::is_ready(p)).count() as i32;
        counts.restarts = pods.iter().map(|p| status::restarts(p)).sum();
        if ended.is_none()
            && !stopped_by_user
            && let Some(v) = job::verdict(&params, &counts, started.elapsed())
        {
            {
                ended = Some((v, Timestamp::now()));
                let warning = v != Verdict::Complete;
                let (reason, message) = match v {
                    Verdict::Complete => ("Completed", "Job completed".to_owned()),
                    _ => (v.reason(), v.message().to_owned()),
                };
                ctx.event(warning, reason, message);
                for h in &live {
                    ctx.event(
                        false,
                        "SuccessfulDelete",
                        format!("Deleted pod: {}", h.name()),
                    );
                    h.stop();
                }
            }
        }
        if ctx.stop_requested() && !stopped_by_user && ended.is_none() {
            stopped_by_user = true;
            live.iter().for_each(|h| h.stop());
        }
        let finishing = ended.is_some() || stopped_by_user;
        if finishing && live.is_empty() {
            if let Workload::Job(j) = &mut object {
                j.status = Some(job::status(&counts, start, ended, true));
            }
            ctx.publish(&object);
            return WorkloadOutcome {
                workload: object,
                succeeded: ended.is_some_and(|(v, _)| v == Verdict::Complete),
                stopped: stopped_by_user,
            };
        }
        let mut timer = None;
        if !finishing {
            let missing = job::pods_to_create(&params, &counts);
            if missing > 0 && Instant::now() >= next_create {
                for _ in 0..missing {
                    match ctx.create(&plan, None).await {
                        Some(h) => live.push(h),
                        None => {
                            next_create = Instant::now() + CREATE_RETRY;
                            break;
                        }
                    }
                }
                counts.active = i32::try_from(live.len()).unwrap_or(i32::MAX);
            } else if missing > 0 {
                timer = Some(next_create);
            }
            timer = match (timer, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if let Workload::Job(j) = &mut object {
            j.status = Some(job::status(&counts, start, ended, false));
        }
        ctx.publish(&object);
        if let Wake::Msg(Msg::Ended(name, outcome)) = ctx.wake(timer).await {
            let Some(at) = live.iter().position(|h| h.name() == name) else {
                continue;
            };
            live.remove(at);
            if outcome.phase == Phase::Succeeded {
                counts.succeeded += 1;
                failures_since_success = 0;
            } else {
                counts.failed += 1;
                failures_since_success += 1;
                let delay = job::backoff(failures_since_success, ctx.options.job_backoff_factor);
                next_create = Instant::now()
                    .checked_add(delay)
                    .unwrap_or_else(Instant::now);
            }
        }
    }
}
