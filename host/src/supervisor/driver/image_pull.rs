//! Pulls before a restart, as the kubelet's `EnsureImageExists` does at every container
//! start: a container whose image is pulled `Always` goes to the registry again each time it
//! restarts (`Pulling`, then `Pulled`), and runs what the tag names now. A pull that fails
//! keeps the container waiting with `ErrImagePull`, then `ImagePullBackOff` while the image
//! backoff runs (the pod's backoff policy, doubling up to its cap), and is tried again, as at
//! the first start. The first start needs no pull here: the pod's images were pulled when it
//! was created. Which images are pulled, and how, is [`Instances::repull`]'s.
//!
//! [`Instances::repull`]: crate::supervisor::launcher::Instances::repull

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Run;
use crate::container::ImageError;
use crate::supervisor::launcher::Repulled;
use crate::supervisor::observed::{Slot, State};
use crate::supervisor::output::Event;
use crate::supervisor::task::AbortOnDrop;

/// The pulls before restarts, per container.
pub(super) struct PullGate {
    state: HashMap<Slot, Pull>,
    tx: mpsc::UnboundedSender<PullNote>,
    pub(super) rx: mpsc::UnboundedReceiver<PullNote>,
}

enum Pull {
    /// Under way (dropping the task aborts it); the image backoff's last delay, if the pull
    /// before it failed.
    Pulling {
        _task: AbortOnDrop,
        last_delay: Option<Duration>,
    },
    /// Pulled: the next start runs it (its events are sent).
    Ready,
    /// Failed: tried again at `until`.
    BackOff {
        until: Instant,
        delay: Duration,
        message: String,
        announced: bool,
    },
}

/// A finished pull.
pub(super) struct PullNote {
    slot: Slot,
    result: Result<Repulled, ImageError>,
}

impl Default for PullGate {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        PullGate {
            state: HashMap::new(),
            tx,
            rx,
        }
    }
}

impl PullGate {
    /// Whether the start of `slot` follows a pull whose events were sent (the start then
    /// sends no `Pulled` of its own); forgets the pull.
    pub(super) fn take_ready(&mut self, slot: Slot) -> bool {
        if matches!(self.state.get(&slot), Some(Pull::Ready)) {
            self.state.remove(&slot);
            return true;
        }
        false
    }
}

impl Run {
    /// Whether a restart of `slot` waits for its image: a pull under way or starting now, or
    /// the image backoff after a failed one (`wake` is then its end, at the latest).
    pub(super) fn image_blocked(
        &mut self,
        slot: Slot,
        now: Instant,
        wake: &mut Option<Instant>,
    ) -> bool {
        if !self.d.obs.record(slot).has_run() {
            return false;
        }
        let last_delay = match self.pulls.state.get_mut(&slot) {
            Some(Pull::Ready) => return false,
            Some(Pull::Pulling { .. }) => return true,
            Some(Pull::BackOff {
                until,
                delay,
                message,
                announced,
            }) => {
                if now < *until {
                    *wake = Some(wake.map_or(*until, |w| w.min(*until)));
                    if !std::mem::replace(announced, true) {
                        let message = message.clone();
                        self.announce_backoff(slot, &message);
                    }
                    return true;
                }
                Some(*delay)
            }
            None => None,
        };
        let Some(pull) = self.d.instances.repull(slot) else {
            self.pulls.state.remove(&slot);
            return false;
        };
        let c = slot.plan(&self.d.plan);
        self.d.shared.event(Event::normal(
            "Pulling",
            Some(&c.name),
            format!("Pulling image {:?}", c.image),
        ));
        let tx = self.pulls.tx.clone();
        let task = tokio::spawn(async move {
            let result = pull.await;
            let _ = tx.send(PullNote { slot, result });
        });
        let pulling = Pull::Pulling {
            _task: AbortOnDrop(task.abort_handle()),
            last_delay,
        };
        self.pulls.state.insert(slot, pulling);
        true
    }

    /// A pull finished: `Pulled` and the image's ID, or `ErrImagePull` and the backoff.
    pub(super) fn on_pulled(&mut self, note: PullNote) {
        let Some(Pull::Pulling { last_delay, .. }) = self.pulls.state.remove(&note.slot) else {
            return;
        };
        let slot = note.slot;
        let c = slot.plan(&self.d.plan);
        let name = c.name.clone();
        match note.result {
            Ok(pulled) => {
                self.d
                    .shared
                    .event(Event::normal("Pulled", Some(&name), pulled.message));
                if c.pulled.as_ref().map(|p| &p.image_id) != Some(&pulled.image_id) {
                    // The tag names another image now: the restart runs it and reports it.
                    let plan = std::sync::Arc::make_mut(&mut self.d.plan);
                    let c = match slot {
                        Slot::Init(i) => &mut plan.init_containers[i],
                        Slot::Regular(i) => &mut plan.containers[i],
                    };
                    if let Some(p) = c.pulled.as_mut() {
                        p.image_id = pulled.image_id;
                    }
                }
                self.pulls.state.insert(slot, Pull::Ready);
            }
            Err(cause) => {
                for event in pull_failed_events(&name, &cause) {
                    self.d.shared.event(event);
                }
                let message = crate::report::chain(&cause);
                self.d
                    .obs
                    .record_mut(slot)
                    .wait_with("ErrImagePull", message);
                let policy = &self.d.backoff;
                let delay = last_delay.map_or(policy.initial, |d| d * 2).min(policy.max);
                self.pulls.state.insert(
                    slot,
                    Pull::BackOff {
                        until: Instant::now() + delay,
                        delay,
                        message: backoff_message(&c.image, &cause),
                        announced: false,
                    },
                );
                self.publish(false);
            }
        }
    }

    /// The container waits out the image backoff: `ImagePullBackOff`, with its events.
    fn announce_backoff(&mut self, slot: Slot, message: &str) {
        let c = slot.plan(&self.d.plan);
        for event in backoff_events(&c.name, &c.image) {
            self.d.shared.event(event);
        }
        self.d.obs.record_mut(slot).state = State::Waiting {
            reason: "ImagePullBackOff".into(),
            message: Some(message.to_string()),
        };
    }
}

/// The kubelet's events for a failed pull of a container's image.
pub(crate) fn pull_failed_events(container: &str, cause: &ImageError) -> [Event; 2] {
    [
        Event::warning("Failed", Some(container), cause.to_string()),
        Event::warning(
            "Failed",
            Some(container),
            format!("Error: {}", cause.reason()),
        ),
    ]
}

/// The kubelet's events when a container's image pull is in backoff.
pub(crate) fn backoff_events(container: &str, image: &str) -> [Event; 2] {
    [
        Event::normal(
            "BackOff",
            Some(container),
            format!("Back-off pulling image {image:?}"),
        ),
        Event::warning(
            "Failed",
            Some(container),
            "Error: ImagePullBackOff".to_string(),
        ),
    ]
}

/// The waiting message of a container in `ImagePullBackOff` after `cause`.
pub(crate) fn backoff_message(image: &str, cause: &ImageError) -> String {
    format!(
        "Back-off pulling image {image:?}: {}: {cause}",
        cause.reason()
    )
}
