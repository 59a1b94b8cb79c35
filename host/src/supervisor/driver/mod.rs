//! The thin async loop that carries out [`decide`]'s decisions: it starts
//! instances (through [`Instances`]: Wasm in a pod, a fake in tests),
//! records their exits, waits out backoffs, stops the pod, and publishes the
//! status after every change. What a start or an exit does to a container's
//! record is decided in `supervisor/transitions.rs`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::backoff::{BackoffPolicy, go_duration};
use super::budget::{InstanceBudget, Use};
use super::decide::{Action, decide};
use super::launcher::{Instances, Kill, Launcher, Term};
use super::observed::{Observed, Slot, State, Termination};
use super::output::logs::{self, LogDir};
use super::output::{Event, Shared, StopReason};
use super::probing::ProbeNote;
use super::probing::thresholds::ProbeState;
use super::status::{Phase, generate, phase};
use super::task::AbortOnDrop;
use super::transitions::{exit_of, exit_reason, post_start_wait, start_instance};
use crate::container::Exit;
use crate::plan::{ConfigObjects, ContainerKind, PodPlan, ProbeKind};
use crate::sandbox::{CHANNEL_CHUNKS, PodDirs};

mod config;
mod eviction;
mod exec;
pub(crate) mod image_pull;
mod lifecycle_hooks;
mod messages;
mod probe_results;
mod stopping;

pub use exec::ExecOutput;
pub(crate) use exec::ExecRequest;
use messages::{message_file, read_message};

/// The kubelet's floor for a container's remaining grace period.
const MIN_GRACE: Duration = Duration::from_secs(2);

struct Instance {
    id: u64,
    /// Kills the instance.
    abort: Kill,
    /// Asks it to stop.
    term: Arc<dyn Term>,
    started_at: Timestamp,
    /// Set when the supervisor stops the instance: the code it then reports.
    kill_code: Option<i32>,
    /// Running probe workers and their results.
    probes: Vec<(ProbeKind, ProbeState, AbortHandle)>,
    /// Starts the exec probes' and hooks' instances.
    launcher: Arc<Launcher>,
    /// The preStop hook, once started (it runs once per instance, and
    /// ends with the instance at the latest).
    pre_stop: Option<AbortOnDrop>,
    /// The postStart hook failed with this message (`PostStartHookError`).
    start_error: Option<String>,
}

impl Drop for Instance {
    /// An instance never outlives its record: when the driver is dropped (its runtime shut
    /// down under it), the guest is killed too.
    fn drop(&mut self) {
        for (_, _, worker) in &self.probes {
            worker.abort();
        }
        self.abort.abort();
    }
}

struct ExitNote {
    slot: Slot,
    id: u64,
    /// `None` when the instance was aborted.
    exit: Option<Exit>,
    /// The termination message (`terminationMessagePath`, or the log tail
    /// under `FallbackToLogsOnError`).
    message: Option<String>,
}

/// Drives one pod from start to end.
pub(crate) struct Driver {
    /// What runs the pod's instances (Wasm, or a fake in tests).
    pub(crate) instances: Arc<dyn Instances>,
    /// The most instances the pod may run at once
    /// ([`crate::RuntimeConfig::max_instances_per_pod`]).
    pub(crate) max_instances: usize,
    pub(crate) plan: Arc<PodPlan>,
    pub(crate) dirs: Arc<PodDirs>,
    pub(crate) backoff: BackoffPolicy,
    pub(crate) shared: Arc<Shared>,
    pub(crate) stop: watch::Receiver<Option<StopReason>>,
    pub(crate) log_dir: Option<LogDir>,
    pub(crate) obs: Observed,
    /// The pod's network namespace.
    pub(crate) network: Arc<crate::sandbox::PodNetwork>,
    /// The ConfigMaps and Secrets the pod reads (its runtime's).
    pub(crate) objects: watch::Receiver<Arc<ConfigObjects>>,
    /// Commands to run in fresh instances of running containers (`PodHandle::exec`).
    pub(crate) execs: mpsc::UnboundedReceiver<ExecRequest>,
}

struct Run {
    d: Driver,
    /// The pod's share of the runtime's instances.
    budget: Arc<InstanceBudget>,
    running: HashMap<Slot, Instance>,
    exits_tx: mpsc::UnboundedSender<ExitNote>,
    exits_rx: mpsc::UnboundedReceiver<ExitNote>,
    probe_tx: mpsc::UnboundedSender<ProbeNote>,
    probe_rx: mpsc::UnboundedReceiver<ProbeNote>,
    hook_tx: mpsc::UnboundedSender<lifecycle_hooks::HookNote>,
    hook_rx: mpsc::UnboundedReceiver<lifecycle_hooks::HookNote>,
    /// Probe-failure kills waiting to be carried out: (container, deadline, message).
    deferred_kills: Vec<(Slot, Instant, String)>,
    next_id: u64,
    /// The backoff period last announced per container (one event per period).
    announced: HashMap<Slot, Duration>,
    /// Conditions set from outside (readiness gates).
    conditions: watch::Receiver<Vec<k8s_openapi::api::core::v1::PodCondition>>,
    /// The emptyDir usage monitor's eviction message, once.
    evictions: mpsc::UnboundedReceiver<String>,
    /// An eviction to carry out.
    eviction: Option<String>,
    /// The usage monitor (stopped with the pod).
    _monitor: Option<AbortOnDrop>,
    /// The ConfigMaps and Secrets, and what waits on them.
    objects: watch::Receiver<Arc<ConfigObjects>>,
    gate: config::ConfigGate,
    /// Pulls before restarts (`imagePullPolicy: Always`).
    pulls: image_pull::PullGate,
}

impl Driver {
    /// Runs the pod to its end and returns the final phase.
    pub(crate) async fn run(self) -> Phase {
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let (probe_tx, probe_rx) = mpsc::unbounded_channel();
        let (hook_tx, hook_rx) = mpsc::unbounded_channel();
        let conditions = self.shared.conditions.subscribe();
        let (evict_tx, evictions) = mpsc::unbounded_channel();
        let monitor = eviction::spawn_monitor(&self.plan, &self.dirs, evict_tx);
        let mut run = Run {
            budget: InstanceBudget::new(self.max_instances),
            conditions,
            evictions,
            eviction: None,
            _monitor: monitor,
            objects: self.objects.clone(),
            gate: config::ConfigGate::default(),
            pulls: image_pull::PullGate::default(),
            d: self,
            running: HashMap::new(),
            exits_tx,
            exits_rx,
            probe_tx,
            probe_rx,
            hook_tx,
            hook_rx,
            deferred_kills: Vec::new(),
            next_id: 0,
            announced: HashMap::new(),
        };
        // Conditions set before the pod started.
        run.d.obs.conditions = run.conditions.borrow_and_update().clone();
        run.main_loop().await
    }
}

impl Run {
    async fn main_loop(&mut self) -> Phase {
        let active_deadline = self.d.plan.active_deadline.map(|d| Instant::now() + d);
        loop {
            if self.d.stop.borrow().is_some() {
                self.delete().await;
                break;
            }
            if let Some(message) = self.eviction.take() {
                self.evict(message).await;
                break;
            }
            if active_deadline.is_some_and(|d| Instant::now() >= d) {
                self.deadline_exceeded().await;
                break;
            }
            let now = Instant::now();
            let decision = decide(&self.d.plan, &self.d.obs, &self.d.backoff, now);
            let mut wake: Option<Instant> = None;
            let mut started = false;
            for action in decision.actions {
                match action {
                    Action::Start(slot) => {
                        if !self.volumes_ready()
                            || self.config_blocked(slot)
                            || self.image_blocked(slot, now, &mut wake)
                        {
                            continue;
                        }
                        started |= self.start(slot);
                    }
                    Action::BackOff {
                        slot,
                        remaining,
                        period,
                    } => {
                        self.back_off(slot, period);
                        let at = now + remaining;
                        wake = Some(wake.map_or(at, |w| w.min(at)));
                    }
                }
            }
            if decision.complete {
                // Job-like completion (or a failed init under Never): stop the
                // sidecars in reverse order and finish.
                self.stop_sidecars(Instant::now() + self.d.plan.grace_period)
                    .await;
                break;
            }
            self.publish(false);
            if started {
                // A start can unblock the next container (a started sidecar).
                continue;
            }
            let mut stop = self.d.stop.clone();
            tokio::select! {
                Some(note) = self.exits_rx.recv() => self.on_exit(note),
                _ = sleep_until_opt(wake) => {}
                _ = sleep_until_opt(active_deadline) => {}
                Some(note) = self.probe_rx.recv() => self.on_probe(note).await,
                Some(note) = self.hook_rx.recv() => self.on_post_start(note).await,
                _ = stop.changed() => {}
                Some(message) = self.evictions.recv() => self.eviction = Some(message),
                Some(note) = self.pulls.rx.recv() => self.on_pulled(note),
                // A ConfigMap or Secret was applied or deleted.
                Ok(()) = self.objects.changed() => self.objects_changed(),
                Some(request) = self.d.execs.recv() => self.on_exec(request),
                // A condition set from outside (a readiness gate's) changed.
                Ok(()) = self.conditions.changed() => {
                    self.d.obs.conditions = self.conditions.borrow_and_update().clone();
                }
            }
            // Probe failures seen while another container was being stopped.
            self.run_deferred_kills().await;
        }
        self.d.obs.terminal = true;
        let phase = self.publish(true);
        step!("terminal");
        // No instance can start any more; with none left, the pod's roots as they
        // were made are as good as new for other pods.
        self.d.dirs.remove_reusing(self.budget.close());
        step!("dirs-removed");
        let (kind, reason) = if phase == Phase::Succeeded {
            (true, "Completed")
        } else {
            (false, "Failed")
        };
        let msg = format!("Pod {} ended: {}", self.d.plan.name, phase.as_str());
        self.d.shared.event(if kind {
            Event::normal(reason, None, msg)
        } else {
            Event::warning(reason, None, msg)
        });
        self.d.shared.close();
        phase
    }

    /// Starts an instance of `slot`; `false` when its env cannot be built yet.
    fn start(&mut self, slot: Slot) -> bool {
        let plan = self.d.plan.clone();
        let c = slot.plan(&plan);
        let Some(start_env) = self.start_env(slot) else {
            return false;
        };
        // `subPathExpr`s expand from this start's environment.
        let expanded = match c.with_sub_path_exprs(&start_env.env) {
            Ok(expanded) => expanded,
            Err(message) => {
                self.config_error(slot, message);
                return false;
            }
        };
        let c = expanded.as_ref().unwrap_or(c);
        let started_at = Timestamp::now();
        let rec = self.d.obs.record_mut(slot);
        start_instance(rec, &self.d.backoff, Instant::now(), started_at);
        let restart_count = rec.restart_count;
        self.announced.remove(&slot);

        let shared = self.d.shared.clone();
        if restart_count > 0 {
            // Not a kubelet event, but what a local runner wants to see.
            shared.event(Event::normal(
                "Restarting",
                Some(&c.name),
                format!("Restarting container {} (restart {restart_count})", c.name),
            ));
        }
        let repulled = self.pulls.take_ready(slot);
        match c.pulled.as_ref().filter(|p| p.pulled_now && restart_count == 0) {
            // Pulled again before this restart: its events are sent.
            _ if repulled => {}
            // Pulled from a registry for this pod (when it was created).
            Some(p) => {
                let pulling = format!("Pulling image \"{}\"", c.image);
                shared.event(Event::normal("Pulling", Some(&c.name), pulling));
                shared.event(Event::normal("Pulled", Some(&c.name), p.message.clone()));
            }
            None => shared.event(Event::normal(
                "Pulled",
                Some(&c.name),
                format!(
                    "Container image \"{}\" already present on machine and can be accessed by the pod",
                    c.image
                ),
            )),
        }
        // With no instance left, a restarted container's root left as made serves again.
        let preopens = match self.d.dirs.preopens_reusing(c, self.budget.idle()) {
            Ok(p) => p,
            Err(e) => {
                let e = crate::report::chain(&e);
                shared.event(Event::warning(
                    "Failed",
                    Some(&c.name),
                    format!("Error: {e}"),
                ));
                self.record_exit(slot, started_at, Exit::StartError(e), None);
                self.d.dirs.remove_stale();
                return true;
            }
        };
        let kept = crate::sandbox::keep(&preopens);
        let message_at = message_file(&kept, &c.termination_message_path);
        let fallback_to_logs = c.fallback_to_logs_on_error;
        let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
        let log_file = self
            .d
            .log_dir
            .as_ref()
            .map(|d| d.file(&c.name, restart_count));
        let (ended_tx, ended) = oneshot::channel();
        let log = logs::collect(c.name.clone(), log_file, rx, shared.log_sender(), ended);
        let launcher = Arc::new(Launcher {
            instances: self.d.instances.clone(),
            slot,
            env: start_env.env,
            preopens: kept,
            network: self.d.network.clone(),
            memory_limit: c.memory_limit,
            cpu: crate::container::cpu::CpuAccount::new(c.cpu_limit_millis, c.cpu_request_millis),
            budget: self.budget.clone(),
        });
        step!("launch");
        let started = launcher.start_in(preopens, start_env.argv, tx, Use::Container);
        step!("launched");
        let (handle, exited) = (started.exit, started.exited);
        self.next_id += 1;
        let id = self.next_id;
        self.running.insert(
            slot,
            Instance {
                id,
                abort: handle.kill(),
                term: started.term,
                started_at,
                kill_code: None,
                probes: Vec::new(),
                launcher,
                pre_stop: None,
                start_error: None,
            },
        );
        let rec = self.d.obs.record_mut(slot);
        rec.startup_passed = false;
        rec.readiness_passed = false;
        rec.post_start_pending = false;
        let first = if c.probes.startup.is_some() {
            &[ProbeKind::Startup][..]
        } else {
            &[ProbeKind::Liveness, ProbeKind::Readiness][..]
        };
        self.start_probes(slot, first);
        self.start_post_start(slot, started.running);
        let exits = self.exits_tx.clone();
        tokio::spawn(async move {
            // The exit as soon as the guest returned (its memory is freed after),
            // else (killed, or never started) when its task ends.
            let exit = async {
                let exit = match exited.await {
                    Ok(exit) => Some(exit),
                    Err(_) => handle.exit().await,
                };
                // The guest writes no more: its output ends with what it wrote.
                let _ = ended_tx.send(());
                exit
            };
            let (tail, exit) = tokio::join!(log, exit);
            let failed = exit.as_ref().is_none_or(|e| e.code() != 0);
            let message = read_message(message_at)
                .or_else(|| (fallback_to_logs && failed && !tail.is_empty()).then_some(tail));
            let _ = exits.send(ExitNote {
                slot,
                id,
                exit,
                message,
            });
        });
        shared.event(Event::normal(
            "Created",
            Some(&c.name),
            "Container created".into(),
        ));
        shared.event(Event::normal(
            "Started",
            Some(&c.name),
            "Container started".into(),
        ));
        // A restart's previous root, while the new instance starts.
        self.d.dirs.remove_stale();
        true
    }

    fn back_off(&mut self, slot: Slot, period: Duration) {
        let c = slot.plan(&self.d.plan);
        let message = format!(
            "back-off {} restarting failed container={} pod={}_{}({})",
            go_duration(period),
            c.name,
            self.d.plan.name,
            self.d.plan.namespace,
            self.d.plan.uid
        );
        let rec = self.d.obs.record_mut(slot);
        if let State::Terminated(t) = &rec.state {
            rec.last = Some(t.clone());
        }
        rec.state = State::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some(message),
        };
        if self.announced.insert(slot, period) != Some(period) {
            self.d.shared.event(Event::warning(
                "BackOff",
                Some(&c.name),
                format!(
                    "Back-off restarting failed container {} in pod {}_{}({})",
                    c.name, self.d.plan.name, self.d.plan.namespace, self.d.plan.uid
                ),
            ));
        }
    }

    fn on_exit(&mut self, note: ExitNote) {
        let Some(inst) = self.running.get(&note.slot).filter(|i| i.id == note.id) else {
            return;
        };
        step!("exit-seen");
        let exit = exit_of(note.exit, inst.kill_code);
        let started_at = inst.started_at;
        let start_error = inst.start_error.clone();
        self.running.remove(&note.slot);
        self.record_exit(note.slot, started_at, exit, note.message);
        // A container killed for its postStart hook shows why while it
        // waits to restart (the kubelet's reason cache).
        if let Some(message) = post_start_wait(&self.d.plan, &self.d.obs, note.slot, start_error) {
            self.d
                .obs
                .record_mut(note.slot)
                .wait_to_restart("PostStartHookError", message);
        }
    }

    fn record_exit(
        &mut self,
        slot: Slot,
        started_at: Timestamp,
        exit: Exit,
        message: Option<String>,
    ) {
        let c = slot.plan(&self.d.plan);
        let code = exit.code();
        let (reason, default_message) = exit_reason(&exit);
        let message = message.or(default_message);
        let t = Termination {
            exit_code: code,
            reason: reason.into(),
            message: message.clone(),
            started_at,
            finished_at: Timestamp::now(),
            finished: Instant::now(),
        };
        let text = match &message {
            Some(m) => format!(
                "Container {} exited with code {code} ({reason}): {m}",
                c.name
            ),
            None => format!("Container {} exited with code {code} ({reason})", c.name),
        };
        let event = if code == 0 {
            Event::normal("Exited", Some(&c.name), text)
        } else {
            Event::warning("Exited", Some(&c.name), text)
        };
        self.d.shared.event(event);
        self.d.obs.record_mut(slot).state = State::Terminated(t);
    }

    /// Pod deletion: regular containers (and a running init container) get
    /// TERM at once; then the sidecars, in reverse order.
    async fn delete(&mut self) {
        let killed = *self.d.stop.borrow() == Some(StopReason::Killed);
        let grace = if killed {
            Duration::ZERO
        } else {
            self.d.plan.grace_period
        };
        self.d.shared.update_status(|pod| {
            pod.metadata.deletion_timestamp = Some(Time(Timestamp::now()));
            pod.metadata.deletion_grace_period_seconds = Some(grace.as_secs() as i64);
            true
        });
        if killed {
            self.kill_now().await;
        } else {
            self.terminate_all().await;
        }
    }

    /// `activeDeadlineSeconds` ran out (pkg/kubelet/active_deadline.go): the
    /// pod fails with reason DeadlineExceeded and every container is killed.
    async fn deadline_exceeded(&mut self) {
        self.d.obs.deadline_exceeded = true;
        self.d.shared.event(Event::warning(
            "DeadlineExceeded",
            None,
            super::status::DEADLINE_MESSAGE.into(),
        ));
        self.terminate_all().await;
    }

    /// Recomputes the phase and status and publishes them if they changed.
    fn publish(&mut self, terminal: bool) -> Phase {
        let mut phase = phase(&self.d.plan, &self.d.obs, terminal || self.d.obs.deleting);
        if terminal && !phase.is_terminal() {
            // A pod is driven to a terminal phase before removal (v1.27+);
            // one stopped before every regular container ran has failed.
            phase = Phase::Failed;
        }
        let now = Timestamp::now();
        let plan = &self.d.plan;
        let obs = &self.d.obs;
        // Compared on a borrow, so that an unchanged status never copies an object a
        // reader holds; the supervisor is the status's only writer while it runs.
        let status = {
            let pod = self.d.shared.status.borrow();
            let status = generate(plan, obs, phase, pod.status.as_ref(), now);
            if pod.status.as_ref() == Some(&status) {
                return phase;
            }
            status
        };
        self.d.shared.update_status(|pod| {
            pod.status = Some(status);
            true
        });
        phase
    }
}

fn slot_kind(plan: &PodPlan, slot: Slot) -> ContainerKind {
    slot.plan(plan).kind
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
