//! The real [`Instances`]: each instance is a Wasm component run by
//! [`container::run`] on the runtime's guest executor — or, for a
//! `wasi:http` component, served by [`container::http::serve`].

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::{End, Instances, Repull, Repulled, Start, Started, Term};
use crate::container::http::{self, AllowedHost, ServeConfig};
use crate::container::{self, Exit, Image, Launch, SharedSignal, TerminationSignal};
use crate::plan::{ImageSource, PodPlan, PullPolicy};
use crate::runtime::registry::PullSecret;
use crate::runtime::{Compiled, Runtime};
use crate::sandbox::{OutputSink, PodListener, Stream};
use crate::supervisor::budget::Use;
use crate::supervisor::observed::Slot;
use crate::supervisor::output::{Event, Shared};
use crate::sync::lock;

/// Runs a pod's instances as Wasm, each container's from its compiled image.
pub(crate) struct WasmInstances {
    pub(crate) runtime: Runtime,
    /// Each container's image; a pull before a restart replaces it.
    pub(crate) images: Arc<Mutex<HashMap<Slot, Compiled>>>,
    /// The image ID of each container whose image such a pull replaced (the others
    /// run the plan's): what the next pull is compared with.
    pub(crate) replaced: Arc<Mutex<HashMap<Slot, String>>>,
    /// The pod's pull credentials, for those pulls.
    pub(crate) secrets: Vec<PullSecret>,
    /// The pod (container names, for events).
    pub(crate) plan: Arc<PodPlan>,
    /// Where events go (a served container's failed requests).
    pub(crate) shared: Arc<Shared>,
    /// Hosts outside the pod outgoing `wasi:http` requests may reach.
    pub(crate) outbound: Arc<[AllowedHost]>,
}

impl Instances for WasmInstances {
    fn start(&self, s: Start) -> Started {
        let signal = SharedSignal::default();
        // The runtime-wide limit (RuntimeConfig::max_instances).
        let instance_slot = match self.runtime.instance_slot() {
            Ok(taken) => taken,
            Err(why) => {
                return Started {
                    exit: End::Ended(Some(Exit::StartError(why))),
                    exited: tokio::sync::oneshot::channel().1,
                    term: signal as Arc<dyn Term>,
                    running: tokio::sync::oneshot::channel().1,
                };
            }
        };
        let (slot, what) = (s.slot, s.what);
        let mut env = s.env;
        // The pool's code and engine when it has a place (held as long as the slot).
        let (image, engine, pooled) = self.runtime.instance_code(&lock(&self.images)[&slot]);
        let served = match (&image, what) {
            (Image::Http(_), Use::Container) => Some(ServeConfig::from_env(&mut env)),
            _ => None,
        };
        let (running_tx, running) = tokio::sync::oneshot::channel();
        let (exited_tx, exited) = tokio::sync::oneshot::channel();
        let mut launch = Launch {
            image: image.clone(),
            argv: s.argv,
            env,
            preopens: s.preopens,
            stdout: OutputSink::new(s.output.clone(), Stream::Stdout),
            stderr: OutputSink::new(s.output, Stream::Stderr),
            termination: signal.clone(),
            network: s.network,
            memory_limit: s.memory_limit,
            cpu: s.cpu,
            outbound: self.outbound.clone(),
            // The container's own run only (an exec runs `_start` with its command).
            entry_func: matches!(what, Use::Container)
                .then(|| slot.plan(&self.plan).pulled.as_ref()?.entry_func.clone())
                .flatten(),
            running: Some(running_tx),
            exited: Some(exited_tx),
            held: Some(Box::new((s.permit, instance_slot, pooled))),
        };
        let exit = match (image, served) {
            (Image::Http(pre), Some(config)) => match self.listen(config, &launch) {
                Ok((config, listener)) => {
                    // Before the driver can send TERM: the host drains on it.
                    signal.handled_by_host();
                    // Served from now on: it runs.
                    launch.announce_running();
                    let warn = self.warn(slot);
                    let serve = http::serve(engine, launch, pre, listener, config, warn);
                    End::Task(self.runtime.guest_handle().spawn(serve))
                }
                Err(e) => End::Ended(Some(Exit::StartError(e))),
            },
            (Image::Http(_), None) => End::Ended(Some(Exit::StartError(
                "a wasi:http component has no command to exec: it only handles requests".into(),
            ))),
            _ => first_slice_here(Box::pin(container::run(engine, launch)), &self.runtime),
        };
        Started {
            exit,
            exited,
            term: signal as Arc<dyn Term>,
            running,
        }
    }

    /// A registry image under `Always`: the same pull as when the pod was created
    /// ([`Runtime::ensure_image`], shared with every other pull of the image under way),
    /// then the image loaded again if the pull found another digest than the one the
    /// container ran last (its compiled code is cached by layer digest); a compat image
    /// whose digest moved from the pod's is an error (see the README).
    fn repull(&self, slot: Slot) -> Option<Repull> {
        let c = slot.plan(&self.plan);
        if c.pull_policy != PullPolicy::Always || !matches!(c.source, ImageSource::Registry(_)) {
            return None;
        }
        let (runtime, images, replaced, secrets) = (
            self.runtime.clone(),
            self.images.clone(),
            self.replaced.clone(),
            self.secrets.clone(),
        );
        let (image, source) = (c.image.clone(), c.source.clone());
        // The image loaded now: the pod's, unless a pull at an earlier restart
        // replaced it (a tag moved back must load the first image again).
        let previous = lock(&self.replaced)
            .get(&slot)
            .cloned()
            .or_else(|| c.pulled.as_ref().map(|p| p.image_id.clone()));
        Some(Box::pin(async move {
            let pulled = runtime
                .ensure_image(&image, &source, PullPolicy::Always, &secrets)
                .await?;
            let moved = pulled
                .as_ref()
                .filter(|(record, _)| previous.as_deref() != Some(record.image_id.as_str()));
            // The same digest is the image already loaded: nothing to reload.
            if let Some((record, _)) = moved {
                if record.config.is_some() {
                    // A compat image's files, entrypoint and environment were
                    // read into the pod's plan when it was created.
                    return Err(crate::ImageError::Link {
                        source_name: format!("image {image}"),
                        message: format!(
                            "the tag now names another compat image ({}); its root filesystem \
                             and entrypoint are read when a pod is created: recreate the pod \
                             to run it",
                            record.image_id
                        ),
                    });
                }
                let loaded = runtime.load_image(&source).await?;
                lock(&images).insert(slot, loaded);
                lock(&replaced).insert(slot, record.image_id.clone());
            }
            Ok(match pulled {
                Some((record, report)) => Repulled {
                    image_id: record.image_id,
                    message: report.message(&image),
                },
                None => Repulled {
                    image_id: previous.unwrap_or_default(),
                    message: crate::runtime::registry::PullReport::Present.message(&image),
                },
            })
        }))
    }
}

impl WasmInstances {
    /// Binds a served container's port in the pod, before it is reported
    /// started: it is reachable from then on.
    fn listen(
        &self,
        config: Result<ServeConfig, String>,
        launch: &Launch,
    ) -> Result<(ServeConfig, PodListener), String> {
        let config = config?;
        let listener = PodListener::bind(&launch.network, config.addr, config.backlog)
            .map_err(|e| format!("failed to listen on {} in the pod: {e}", config.addr))?;
        tracing::debug!(addr = %listener.local_addr(), "serving a wasi:http component");
        Ok((config, listener))
    }

    /// A served container's failed requests, as Warning events.
    fn warn(&self, slot: Slot) -> http::Warn {
        let name = slot.plan(&self.plan).name.clone();
        let shared = self.shared.clone();
        Arc::new(move |message| {
            shared.event(Event::warning("RequestFailed", Some(&name), message));
        })
    }
}

/// Runs an instance's first slice on this thread, then the rest, if any, on the guest
/// executor: a short-lived instance (an init container, an exec probe, a test's pod)
/// ends without a hop between threads, which on a quiet machine costs more than
/// the whole run of such an instance.
///
/// The first slice is its instantiation and its run until it first waits (a host call
/// not ready yet) or its first epoch tick, whichever comes first: at most
/// [`RuntimeConfig::epoch_tick`](crate::RuntimeConfig::epoch_tick) of guest code runs
/// here. It runs in the guest executor's context, so that what it makes for later (a
/// timer, a blocking task) belongs to the executor that runs the rest. A panic of the
/// host code is the instance's end, as it is for the executor's task.
fn first_slice_here(mut run: Pin<Box<dyn Future<Output = Exit> + Send>>, runtime: &Runtime) -> End {
    let guests = runtime.guest_handle();
    let first = {
        let _executor = guests.enter();
        // The waker is not kept: the executor polls the task it is given at once.
        let mut cx = Context::from_waker(Waker::noop());
        std::panic::catch_unwind(AssertUnwindSafe(|| run.as_mut().poll(&mut cx)))
    };
    match first {
        Ok(Poll::Ready(exit)) => End::Ended(Some(exit)),
        Ok(Poll::Pending) => {
            tracing::debug!("an instance continues on the guest executor");
            runtime.count_continued();
            End::Task(guests.spawn(run))
        }
        Err(_) => {
            tracing::error!("an instance's host code panicked while it started");
            End::Ended(None)
        }
    }
}

/// The guest's termination capability (`wasmpod:lifecycle/termination`).
impl Term for TerminationSignal {
    fn handles(&self) -> bool {
        self.is_subscribed()
    }

    fn send(&self, deadline: std::time::Instant) {
        self.request(deadline);
    }
}
