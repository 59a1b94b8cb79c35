//! ConfigMaps, Secrets, the downward API and projected volumes, and env from them
//! (issue 10). Tests ported from Kubernetes' e2e suites are named after the upstream
//! `It`, with its file:
//!
//! * `test/e2e/common/storage/configmap_volume.go` → [`configmap_volume`]
//! * `test/e2e/common/storage/secrets_volume.go` → [`secrets_volume`]
//! * `test/e2e/common/storage/downwardapi_volume.go`, `projected_*.go` → [`downward_projected`]
//! * `test/e2e/common/node/configmap.go`, `secrets.go`, `downwardapi.go` → [`env`]
//!
//! Every test works in a namespace of its own, so the objects it applies to the shared
//! runtime's cluster never meet another test's.
//!
//! Upstream tests that cannot apply, and why:
//! * `defaultMode`/`mode`/`fsGroup`/"non-root" variants check Unix file modes and owners:
//!   WASI has neither (the fields are accepted; files read as the guest's own).
//! * downward API "should update labels/annotations on modification": a pod's metadata
//!   cannot change after creation here (there is no API server to patch it).
//! * "should be consumable in multiple volumes in a pod" of secrets_volume and the
//!   ConfigMap one are the same code path; the ConfigMap one is ported.
//! * `serviceAccountToken`, `clusterTrustBundle`, `podCertificate` projections need an
//!   API server to issue them: refused by validation.

mod configmap_volume;
mod downward_projected;
mod env;
mod secrets_volume;

use std::time::Duration;

use crate::support::*;

/// Applies the ConfigMaps and Secrets of `yaml` to the shared runtime's cluster.
pub fn apply(yaml: &str) {
    let file = wasmpod::spec::load(yaml).unwrap_or_else(|e| panic!("invalid test objects: {e}"));
    for object in file.objects {
        runtime().cluster().apply(object).expect("apply");
    }
}

/// A ConfigMap of `namespace` with `data`.
pub fn config_map(namespace: &str, name: &str, data: &[(&str, &str)]) -> String {
    let data: Vec<String> = data.iter().map(|(k, v)| format!("{k}: {v:?}")).collect();
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {{{}}}\n",
        data.join(", ")
    )
}

/// A Secret of `namespace` with `stringData`.
pub fn secret(namespace: &str, name: &str, data: &[(&str, &str)]) -> String {
    let data: Vec<String> = data.iter().map(|(k, v)| format!("{k}: {v:?}")).collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {namespace}}}\nstringData: {{{}}}\n",
        data.join(", ")
    )
}

/// A pod of `namespace` with `restartPolicy: Never`, `volumes` (YAML list items under
/// `volumes:`, may be empty) and one busybox container `c` running `script` with `extra`
/// (YAML under the container, e.g. `volumeMounts`, `env`).
pub fn pod(namespace: &str, volumes: &str, script: &str, extra: &str) -> String {
    let volumes = if volumes.is_empty() {
        String::new()
    } else {
        format!("  volumes:\n{volumes}")
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: {namespace}, labels: {{app: demo, tier: \"x\\\"y\"}}, annotations: {{note: hi}}}}\nspec:\n  restartPolicy: Never\n{volumes}  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, {script:?}]\n{extra}"
    )
}

/// Runs a pod to its end (90 s at most).
pub async fn run(yaml: &str) -> PodRun {
    run_pod_with(yaml, options(), Duration::from_secs(90)).await
}

/// The container `c`'s output of a run that must have succeeded.
pub fn output(run: &PodRun) -> Vec<String> {
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    run.lines("c")
}

/// Starts a pod, subscribed to its events from before its start.
pub async fn start_subscribed(yaml: &str) -> (Started, wasmpod::Subscription<wasmpod::Event>) {
    let mut events = None;
    let started = start_after(yaml, options(), |h| events = Some(h.events())).await;
    (started, events.expect("subscribed"))
}

/// The message of the first event with `reason` (waiting up to a minute).
pub async fn first_event(
    events: &mut wasmpod::Subscription<wasmpod::Event>,
    reason: &str,
) -> String {
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match events.recv().await {
                Ok(e) if e.reason == reason => return e.message,
                Ok(_) => {}
                Err(e) => panic!("no {reason} event: {e}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {reason} event within a minute"))
}
