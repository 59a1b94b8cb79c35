//! The runtime's registry of pods (`Runtime::cluster`): a pod is listed from its creation
//! until it has ended and its handle is dropped.

use std::time::Duration;

use crate::support::{create, options, runtime};

fn pod(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: busybox\n    command: [echo, hi]\n"
    )
}

/// The phases of the listed pods of this name (no other test uses it).
fn listed(name: &str) -> Vec<String> {
    runtime()
        .cluster()
        .pods()
        .into_iter()
        .filter(|p| p.metadata.name.as_deref() == Some(name))
        .map(|p| p.status.and_then(|s| s.phase).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_pod_is_listed_until_it_ended_and_its_handle_is_dropped() {
    let name = "registry-listed";
    let handle = create(&pod(name), options()).await;
    assert_eq!(listed(name), ["Pending"], "created, not started");

    let outcome = handle.wait().await;
    assert_eq!(outcome.phase.as_str(), "Succeeded");
    assert_eq!(listed(name), ["Succeeded"], "ended, its handle still held");

    drop(handle);
    assert!(listed(name).is_empty(), "unlisted with its handle");
}

#[tokio::test]
async fn a_pod_dropped_before_it_started_is_unlisted() {
    let name = "registry-dropped";
    let handle = create(&pod(name), options()).await;
    assert_eq!(listed(name).len(), 1);
    drop(handle);
    // Its supervisor task sees the handle gone and ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !listed(name).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "still listed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
