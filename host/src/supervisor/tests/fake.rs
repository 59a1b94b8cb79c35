//! A scripted fake of [`Instances`] and a driver built over it, so the
//! supervisor's driver runs without Wasm (no runtime, no images) under
//! tokio's paused clock. Each instance is a task that ends when the test's
//! script says and reacts to TERM as told; the fake logs what happened, on
//! the paused clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::container::Exit;
use crate::plan::PodPlan;
use crate::sandbox::{PodDirs, PodNetwork};
use crate::supervisor::driver::Driver;
use crate::supervisor::launcher::{End, Instances, Start, Started, Term};
use crate::supervisor::output::{Event, Shared, StopReason};
use crate::supervisor::{BackoffPolicy, Observed, Phase, status};

/// What one instance does.
#[derive(Debug, Clone, Copy)]
pub(super) struct Behaviour {
    /// Exits by itself with this code after this long; `None`: runs until
    /// stopped.
    pub(super) exit: Option<(Duration, i32)>,
    /// What TERM does.
    pub(super) on_term: OnTerm,
    /// How long after its start it runs (a Wasm instance: instantiated).
    pub(super) running_after: Duration,
}

/// How an instance reacts to TERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnTerm {
    /// It does not handle TERM: stopped at once (143), like a guest that
    /// never subscribed to termination.
    Unhandled,
    /// It handles TERM but carries on: killed at the deadline (137).
    Ignore,
    /// It handles TERM and exits with this code after this long.
    Exit(Duration, i32),
}

impl Behaviour {
    /// Exits with `code` after `after`; TERM unhandled.
    pub(super) fn exits(after: Duration, code: i32) -> Self {
        Self {
            exit: Some((after, code)),
            on_term: OnTerm::Unhandled,
            running_after: Duration::ZERO,
        }
    }

    /// Runs until stopped, reacting to TERM with `on_term`.
    pub(super) fn runs(on_term: OnTerm) -> Self {
        Self {
            exit: None,
            on_term,
            running_after: Duration::ZERO,
        }
    }

    /// Runs `after` its start, not at once.
    pub(super) fn running_after(self, after: Duration) -> Self {
        Self {
            running_after: after,
            ..self
        }
    }
}

/// One start the script decides on.
#[derive(Debug, Clone)]
pub(super) struct Call {
    /// The container's name.
    pub(super) container: String,
    /// The instance's argv (an exec probe's or hook's command, or the
    /// container's own).
    pub(super) argv: Vec<String>,
    /// How many instances of this container with this argv started before.
    pub(super) n: usize,
}

/// What the fake saw, with the time since the fake was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seen {
    Started { container: String, argv0: String },
    Term { container: String },
    Ended { container: String, argv0: String },
}

/// A timed [`Seen`].
pub(super) type Note = (Duration, Seen);

type Script = dyn Fn(&Call) -> Behaviour + Send + Sync;

/// The scripted fake.
pub(super) struct Fake {
    plan: Arc<PodPlan>,
    script: Box<Script>,
    starts: Mutex<HashMap<(String, Vec<String>), usize>>,
    log: Arc<watch::Sender<Vec<Note>>>,
    t0: Instant,
}

impl Fake {
    fn note(log: &watch::Sender<Vec<Note>>, t0: Instant, seen: Seen) {
        log.send_modify(|l| l.push((t0.elapsed(), seen)));
    }

    /// Waits until the log satisfies `done` (failing the test after an
    /// hour on the paused clock, which is milliseconds of real time).
    pub(super) async fn until(&self, done: impl Fn(&[Note]) -> bool) {
        let mut rx = self.log.subscribe();
        let wait = rx.wait_for(|l| done(l));
        match tokio::time::timeout(Duration::from_secs(3600), wait).await {
            Ok(result) => drop(result.expect("the fake lives")),
            Err(_) => panic!("never happened; the log: {:#?}", self.log()),
        }
    }

    /// Waits until `seen` was logged `count` times.
    pub(super) async fn until_seen(&self, seen: &Seen, count: usize) {
        self.until(|l| l.iter().filter(|(_, s)| s == seen).count() >= count)
            .await;
    }

    /// The time since the fake was made.
    pub(super) fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// The log so far.
    pub(super) fn log(&self) -> Vec<Note> {
        self.log.borrow().clone()
    }

    /// When `seen` was first logged.
    pub(super) fn when(&self, seen: &Seen) -> Option<Duration> {
        self.log
            .borrow()
            .iter()
            .find(|(_, s)| s == seen)
            .map(|(t, _)| *t)
    }

    /// When each `seen` matching `which` was logged, in order.
    pub(super) fn times(&self, which: impl Fn(&Seen) -> bool) -> Vec<Duration> {
        let log = self.log.borrow();
        log.iter()
            .filter(|(_, s)| which(s))
            .map(|(t, _)| *t)
            .collect()
    }
}

impl Instances for Fake {
    fn start(&self, start: Start) -> Started {
        let container = start.slot.plan(&self.plan).name.clone();
        let n = {
            let mut starts = self.starts.lock().unwrap();
            let count = starts
                .entry((container.clone(), start.argv.clone()))
                .or_default();
            *count += 1;
            *count - 1
        };
        let behaviour = (self.script)(&Call {
            container: container.clone(),
            argv: start.argv.clone(),
            n,
        });
        let argv0 = start.argv.first().cloned().unwrap_or_default();
        let (log, t0) = (self.log.clone(), self.t0);
        Fake::note(
            &log,
            t0,
            Seen::Started {
                container: container.clone(),
                argv0: argv0.clone(),
            },
        );
        let (term_tx, mut term_rx) = watch::channel(false);
        let term = Arc::new(FakeTerm {
            handles: behaviour.on_term != OnTerm::Unhandled,
            tx: term_tx,
            log: log.clone(),
            t0,
            container: container.clone(),
        });
        let ended = EndedGuard {
            log,
            t0,
            seen: Seen::Ended { container, argv0 },
        };
        let (running_tx, running) = tokio::sync::oneshot::channel();
        let exit = tokio::spawn(async move {
            // Held while the instance lives, as the seam requires.
            let _held = (start.permit, start.output, ended);
            // It runs after a while; an instance that ends first never ran.
            let runs = async {
                tokio::time::sleep(behaviour.running_after).await;
                let _ = running_tx.send(());
                std::future::pending().await
            };
            let by_itself = async {
                match behaviour.exit {
                    Some((after, code)) => {
                        tokio::time::sleep(after).await;
                        code
                    }
                    None => std::future::pending().await,
                }
            };
            let on_term = async {
                let _ = term_rx.wait_for(|t| *t).await;
                match behaviour.on_term {
                    OnTerm::Exit(after, code) => {
                        tokio::time::sleep(after).await;
                        code
                    }
                    OnTerm::Unhandled | OnTerm::Ignore => std::future::pending().await,
                }
            };
            let code = tokio::select! {
                code = by_itself => code,
                code = on_term => code,
                code = runs => code,
            };
            Exit::Code(code)
        });
        Started {
            exit: End::Task(exit),
            exited: tokio::sync::oneshot::channel().1,
            term,
            running,
        }
    }
}

/// Logs the end of an instance, whether it exited or was killed (aborted).
struct EndedGuard {
    log: Arc<watch::Sender<Vec<Note>>>,
    t0: Instant,
    seen: Seen,
}

impl Drop for EndedGuard {
    fn drop(&mut self) {
        Fake::note(&self.log, self.t0, self.seen.clone());
    }
}

struct FakeTerm {
    handles: bool,
    tx: watch::Sender<bool>,
    log: Arc<watch::Sender<Vec<Note>>>,
    t0: Instant,
    container: String,
}

impl Term for FakeTerm {
    fn handles(&self) -> bool {
        self.handles
    }

    fn send(&self, _deadline: std::time::Instant) {
        Fake::note(
            &self.log,
            self.t0,
            Seen::Term {
                container: self.container.clone(),
            },
        );
        self.tx.send_replace(true);
    }
}

/// A pod's driver over a [`Fake`], running.
pub(super) struct FakePod {
    pub(super) fake: Arc<Fake>,
    pub(super) shared: Arc<Shared>,
    pub(super) events: crate::supervisor::output::Subscription<Event>,
    /// The ConfigMaps and Secrets the pod reads.
    pub(super) objects: watch::Sender<Arc<crate::plan::ConfigObjects>>,
    stop: watch::Sender<Option<StopReason>>,
    run: JoinHandle<Phase>,
    _run_dir: tempfile::TempDir,
}

/// Starts the driver of the Pod in `yaml` over a fake following `script`.
pub(super) fn run(
    yaml: &str,
    script: impl Fn(&Call) -> Behaviour + Send + Sync + 'static,
) -> FakePod {
    let file = crate::spec::load(yaml).expect("valid test pod");
    let plan = Arc::new(
        crate::plan::resolve(&file.pods[0].document.pod, std::path::Path::new("/"))
            .expect("resolves"),
    );
    let fake = Arc::new(Fake {
        plan: plan.clone(),
        script: Box::new(script),
        starts: Mutex::default(),
        log: Arc::new(watch::channel(Vec::new()).0),
        t0: Instant::now(),
    });
    let run_dir = tempfile::tempdir().expect("temp dir");
    let dirs = PodDirs::create(&plan, run_dir.path()).expect("pod dirs");
    let obs = Observed::new(&plan);
    let shared = Arc::new(Shared::new(status::snapshot(&plan, &obs)));
    let events = shared.subscribe_events();
    let (stop, stop_rx) = watch::channel(None);
    let (objects, objects_rx) = watch::channel(Arc::default());
    let driver = Driver {
        instances: fake.clone(),
        max_instances: 64,
        network: PodNetwork::new(plan.hostname.clone()),
        plan,
        dirs: Arc::new(dirs),
        backoff: BackoffPolicy::default(),
        shared: shared.clone(),
        stop: stop_rx,
        log_dir: None,
        obs,
        objects: objects_rx,
        execs: tokio::sync::mpsc::unbounded_channel().1,
    };
    FakePod {
        fake,
        shared,
        events,
        objects,
        stop,
        run: tokio::spawn(driver.run()),
        _run_dir: run_dir,
    }
}

impl FakePod {
    /// Stops the pod as a deletion does.
    pub(super) fn stop(&self) {
        self.stop.send_replace(Some(StopReason::Requested));
    }

    /// Kills the pod at once, as `PodHandle::kill` does.
    pub(super) fn kill(&self) {
        self.stop.send_replace(Some(StopReason::Killed));
    }

    /// Waits for the pod's end: its phase and final Pod.
    pub(super) async fn end(self) -> (Phase, Pod, Vec<Event>) {
        let phase = self.run.await.expect("the driver does not panic");
        let mut events = self.events;
        let mut seen = Vec::new();
        while let Ok(e) = events.recv().await {
            seen.push(e);
        }
        (phase, Pod::clone(&self.shared.status.borrow()), seen)
    }

    /// The current Pod.
    pub(super) fn pod(&self) -> Pod {
        Pod::clone(&self.shared.status.borrow())
    }

    /// Applies the ConfigMaps and Secrets of `yaml`, or with `None` deletes every object.
    pub(super) fn set_objects(&self, yaml: Option<&str>) {
        let mut objects = crate::plan::ConfigObjects::default();
        for object in yaml
            .map(|y| crate::spec::load(y).expect("objects").objects)
            .into_iter()
            .flatten()
        {
            objects.apply(object).expect("apply");
        }
        self.objects.send_replace(Arc::new(objects));
    }
}

/// The status of container `name` in `pod`.
pub(super) fn container_status<'a>(pod: &'a Pod, name: &str) -> &'a ContainerStatus {
    let status = pod.status.as_ref().expect("status");
    status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no status for {name}"))
}

/// `Seen::Started` of `container` running `argv0`.
pub(super) fn started(container: &str, argv0: &str) -> Seen {
    Seen::Started {
        container: container.into(),
        argv0: argv0.into(),
    }
}

/// `Seen::Ended` of `container` running `argv0`.
pub(super) fn ended(container: &str, argv0: &str) -> Seen {
    Seen::Ended {
        container: container.into(),
        argv0: argv0.into(),
    }
}

/// `Seen::Term` of `container`.
pub(super) fn term(container: &str) -> Seen {
    Seen::Term {
        container: container.into(),
    }
}
