//! What the supervisor knows about each container: the runtime's view, from
//! which both decisions ([`super::decide()`]) and the API status
//! ([`super::status`]) are computed.

use k8s_openapi::api::core::v1::PodCondition;
use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;

use super::backoff::BackoffEntry;
use crate::plan::{ContainerKind, ContainerPlan, PodPlan};

/// Identifies a container by list and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// `initContainers[i]` (regular init container or sidecar).
    Init(usize),
    /// `containers[i]`.
    Regular(usize),
}

impl Slot {
    /// The container's plan.
    pub fn plan<'a>(&self, pod: &'a PodPlan) -> &'a ContainerPlan {
        match *self {
            Slot::Init(i) => &pod.init_containers[i],
            Slot::Regular(i) => &pod.containers[i],
        }
    }
}

/// How an instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Termination {
    /// The exit code.
    pub exit_code: i32,
    /// `Completed` (0), `Error`, or `StartError`.
    pub reason: String,
    /// The termination message (e.g. the trap text).
    pub message: Option<String>,
    /// When the instance started.
    pub started_at: Timestamp,
    /// When it ended.
    pub finished_at: Timestamp,
    /// When it ended, on the supervisor's monotonic clock.
    pub finished: Instant,
}

/// The current state of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not running: not created yet, backing off, or blocked.
    Waiting {
        /// The Kubernetes reason (`PodInitializing`, `CrashLoopBackOff`, …).
        reason: String,
        /// Details.
        message: Option<String>,
    },
    /// Running since `started_at`.
    Running {
        /// When the instance started.
        started_at: Timestamp,
    },
    /// The newest instance ended and has not been restarted.
    Terminated(Termination),
}

/// The runtime's record of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Current state.
    pub state: State,
    /// The previous instance's end (`lastState`).
    pub last: Option<Termination>,
    /// How many times the container was restarted.
    pub restart_count: u32,
    /// The crash-loop backoff entry.
    pub backoff: Option<BackoffEntry>,
    /// The running instance's startup probe has succeeded.
    pub startup_passed: bool,
    /// The running instance's readiness probe is passing.
    pub readiness_passed: bool,
    /// The running instance's postStart hook has not returned yet.
    pub post_start_pending: bool,
}

impl Record {
    fn new(initial_reason: &str) -> Self {
        Self {
            state: State::Waiting {
                reason: initial_reason.into(),
                message: None,
            },
            last: None,
            restart_count: 0,
            backoff: None,
            startup_passed: false,
            readiness_passed: false,
            post_start_pending: false,
        }
    }

    /// Whether an instance is running.
    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }

    /// Whether an instance was ever created.
    pub fn has_run(&self) -> bool {
        !matches!(self.state, State::Waiting { .. }) || self.last.is_some()
    }

    /// A terminated container that failed to start properly (its postStart
    /// hook failed) waits to restart with `reason`: its termination becomes
    /// `lastState`, as the kubelet's reason cache shows it until the next
    /// start attempt.
    pub fn wait_to_restart(&mut self, reason: &str, message: String) {
        if let State::Terminated(t) = &self.state {
            self.last = Some(t.clone());
            self.state = State::Waiting {
                reason: reason.into(),
                message: Some(message),
            };
        }
    }

    /// Waits with `reason` and `message`: a terminated container waits to
    /// restart ([`wait_to_restart`](Self::wait_to_restart)), any other's
    /// waiting reason is replaced.
    pub fn wait_with(&mut self, reason: &str, message: String) {
        if matches!(self.state, State::Terminated(_)) {
            self.wait_to_restart(reason, message);
        } else {
            self.state = State::Waiting {
                reason: reason.into(),
                message: Some(message),
            };
        }
    }

    /// The newest termination: the current state's, or while waiting to
    /// restart, the previous instance's.
    pub fn newest_termination(&self) -> Option<&Termination> {
        match &self.state {
            State::Terminated(t) => Some(t),
            _ => self.last.as_ref(),
        }
    }
}

/// The runtime's view of a pod.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Records of `initContainers[]`, in order.
    pub init: Vec<Record>,
    /// Records of `containers[]`, in order.
    pub regular: Vec<Record>,
    /// The pod is being deleted (stopped by the user or a timeout).
    pub deleting: bool,
    /// The pod has finished (all containers stopped for good).
    pub terminal: bool,
    /// `activeDeadlineSeconds` ran out.
    pub deadline_exceeded: bool,
    /// The pod was evicted (an emptyDir went past its `sizeLimit`): the
    /// eviction message.
    pub evicted: Option<String>,
    /// When the pod started.
    pub start_time: Timestamp,
    /// Pod conditions set from outside (by the embedding program, as a
    /// controller would through the API server), such as readiness gates'.
    pub conditions: Vec<PodCondition>,
}

impl Observed {
    /// At a deletion or eviction: containers waiting to restart will not
    /// restart, so they show their last termination again.
    pub(crate) fn freeze_waiting(&mut self) {
        for rec in self.init.iter_mut().chain(self.regular.iter_mut()) {
            if let (State::Waiting { .. }, Some(last)) = (&rec.state, &rec.last) {
                rec.state = State::Terminated(last.clone());
            }
        }
    }

    /// The initial view: nothing created yet.
    pub fn new(plan: &PodPlan) -> Self {
        let reason = if plan.init_containers.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        Self {
            init: plan
                .init_containers
                .iter()
                .map(|_| Record::new(reason))
                .collect(),
            regular: plan
                .containers
                .iter()
                .map(|_| Record::new(reason))
                .collect(),
            deleting: false,
            terminal: false,
            deadline_exceeded: false,
            evicted: None,
            start_time: Timestamp::now(),
            conditions: Vec::new(),
        }
    }

    /// The record of `slot`.
    pub fn record(&self, slot: Slot) -> &Record {
        match slot {
            Slot::Init(i) => &self.init[i],
            Slot::Regular(i) => &self.regular[i],
        }
    }

    /// The mutable record of `slot`.
    pub fn record_mut(&mut self, slot: Slot) -> &mut Record {
        match slot {
            Slot::Init(i) => &mut self.init[i],
            Slot::Regular(i) => &mut self.regular[i],
        }
    }

    /// Whether any regular container was ever created; the pod then counts
    /// as initialized and regular init containers never re-run.
    pub fn any_regular_started(&self) -> bool {
        self.regular.iter().any(Record::has_run)
    }
}

/// Whether a container counts as started: running, and its startup probe
/// (if any) has succeeded. Regular init containers are never "started".
pub fn is_started(c: &ContainerPlan, record: &Record) -> bool {
    c.kind != ContainerKind::Init
        && record.is_running()
        && !record.post_start_pending
        && (c.probes.startup.is_none() || record.startup_passed)
}

/// Whether a started container is ready: its readiness probe (if any) passes.
pub fn is_ready(c: &ContainerPlan, record: &Record) -> bool {
    is_started(c, record) && (c.probes.readiness.is_none() || record.readiness_passed)
}

/// A termination at `finished` (for tests of the pure functions).
#[cfg(test)]
pub(crate) fn termination(exit_code: i32, finished: Instant) -> Termination {
    let now = Timestamp::now();
    Termination {
        exit_code,
        reason: if exit_code == 0 {
            "Completed".into()
        } else {
            "Error".into()
        },
        message: None,
        started_at: now,
        finished_at: now,
        finished,
    }
}
