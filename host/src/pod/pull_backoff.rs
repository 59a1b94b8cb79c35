//! Registry pulls that failed when a pod was created, retried as the kubelet does: the pod
//! stays Pending, the container waits with `ErrImagePull` and then `ImagePullBackOff`, events
//! `Failed` and `BackOff` tell why, and the pull is tried again after the backoff (doubling
//! up to its cap) until it succeeds or the pod is stopped. A restart's pull that fails is
//! retried the same way, by the driver (`supervisor/driver/image_pull.rs`, whose event and
//! message texts both use).

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;

use crate::container::ImageError;
use crate::error::Error;
use crate::plan::PodPlan;
use crate::runtime::Compiled;
use crate::runtime::Runtime;
use crate::supervisor::driver::image_pull;
use crate::supervisor::output::{Shared, StopReason};
use crate::supervisor::{BackoffPolicy, Observed, Slot, State, status};

/// The container whose image failed, and why.
pub(super) struct FailedPull {
    pub(super) container: String,
    pub(super) cause: ImageError,
}

/// Whether a create-time image error is retried: a registry pull that failed (not a
/// malformed name, `Never`, a missing file or a compile error, which no retry mends).
pub(super) fn retried(cause: &ImageError) -> bool {
    matches!(cause, ImageError::Pull { .. })
}

/// Retries the pod's image loads until all succeed (the plan as loaded, with its images) or
/// the pod is stopped (`None`).
pub(super) async fn until_loaded(
    runtime: &Runtime,
    plan: &PodPlan,
    secrets: &[crate::PullSecret],
    backoff: BackoffPolicy,
    shared: &Shared,
    stop: &mut watch::Receiver<Option<StopReason>>,
    mut failed: FailedPull,
) -> Option<(PodPlan, HashMap<Slot, Compiled>)> {
    let mut delay = backoff.initial;
    loop {
        let slot = slot_of(plan, &failed.container)?;
        let image = &slot.plan(plan).image;
        let name = failed.container.as_str();
        for event in image_pull::pull_failed_events(name, &failed.cause) {
            shared.event(event);
        }
        let message = image_pull::backoff_message(image, &failed.cause);
        shared.status.send_replace(Arc::new(image_error_status(
            plan,
            slot,
            "ImagePullBackOff",
            &message,
        )));
        for event in image_pull::backoff_events(name, image) {
            shared.event(event);
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(Option::is_some) => return None,
        }
        delay = (delay * 2).min(backoff.max);
        let mut attempt = plan.clone();
        match runtime.load_images(&mut attempt, secrets).await {
            Ok(images) => return Some((attempt, images)),
            Err(Error::Image {
                container,
                cause,
                pod,
            }) => {
                shared.update_status(|status| {
                    *status = *pod;
                    true
                });
                failed = FailedPull { container, cause };
            }
            Err(_) => return None,
        }
    }
}

/// The slot of the container named `name`.
fn slot_of(plan: &PodPlan, name: &str) -> Option<Slot> {
    let init = (0..plan.init_containers.len()).map(Slot::Init);
    let regular = (0..plan.containers.len()).map(Slot::Regular);
    init.chain(regular).find(|s| s.plan(plan).name == name)
}

/// The pod as it stands when an image fails to load: Pending, the container
/// waiting with the image error's reason.
pub(super) fn image_error_status(plan: &PodPlan, slot: Slot, reason: &str, message: &str) -> Pod {
    let mut obs = Observed::new(plan);
    obs.record_mut(slot).state = State::Waiting {
        reason: reason.into(),
        message: Some(message.into()),
    };
    status::snapshot(plan, &obs)
}
