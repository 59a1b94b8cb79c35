//! The runtime's instance limit (`RuntimeConfig::max_instances`): past it a
//! container gets a `StartError` naming the setting, never a process abort;
//! and (ignored by default: it takes minutes) 10,000 idle containers in one
//! process with the default configuration.

use std::path::PathBuf;
use std::time::Duration;

use wasmpod::{Runtime, RuntimeConfig};

use crate::support::waiting_reason;

fn cache() -> Option<PathBuf> {
    Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpod-cache"))
}

fn idle_pod(name: &str, containers: usize) -> wasmpod::ValidPod {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers:\n"
    );
    for i in 0..containers {
        yaml.push_str(&format!(
            "  - name: c{i}\n    image: busybox\n    command: ['sleep', '3600']\n"
        ));
    }
    wasmpod::spec::load(&yaml)
        .expect("valid pod")
        .pods
        .remove(0)
}

fn start_errors(pod: &k8s_openapi::api::core::v1::Pod, containers: usize) -> Vec<String> {
    (0..containers)
        .filter_map(|i| {
            let name = format!("c{i}");
            let status = pod.status.as_ref()?.container_statuses.as_ref()?;
            let s = status.iter().find(|c| c.name == name)?;
            let t = s.state.as_ref()?.terminated.as_ref()?;
            (t.reason.as_deref() == Some("StartError"))
                .then(|| t.message.clone().unwrap_or_default())
        })
        .collect()
}

#[tokio::test]
async fn past_max_instances_a_container_gets_a_start_error_naming_the_setting() {
    let rt = Runtime::new(
        RuntimeConfig::default()
            .with_cache_dir(cache())
            .with_max_instances(2),
    )
    .expect("runtime");
    let pod = rt
        .run(idle_pod("three", 3), crate::support::options())
        .await
        .expect("pod");
    let mut watch = pod.watch();
    let seen = tokio::time::timeout(
        Duration::from_secs(60),
        watch.wait_for(|p| !start_errors(p, 3).is_empty()),
    )
    .await
    // Not holding the status borrowed (the pod could not publish).
    .map(|r| r.map(drop));
    assert!(
        matches!(seen, Ok(Ok(_))),
        "no StartError: {:#?}",
        pod.pod().status
    );
    pod.stop();
    let outcome = pod.wait().await;
    let errors = start_errors(&outcome.pod, 3);
    assert_eq!(errors.len(), 1, "{:#?}", outcome.pod.status);
    assert!(
        errors[0].contains("RuntimeConfig::max_instances")
            && errors[0].contains("runs 2 instances"),
        "{}",
        errors[0]
    );
    assert!(
        (0..3).all(|i| waiting_reason(&outcome.pod, &format!("c{i}")).is_none()),
        "every container ended"
    );

    // The stopped pod's instances freed their places: two run again.
    let pod = rt
        .run(idle_pod("two", 2), crate::support::options())
        .await
        .expect("pod");
    let mut watch = pod.watch();
    let both = tokio::time::timeout(
        Duration::from_secs(60),
        watch.wait_for(|p| {
            crate::support::is_running(p, "c0") && crate::support::is_running(p, "c1")
        }),
    )
    .await
    .map(|r| r.map(drop));
    assert!(matches!(both, Ok(Ok(_))), "{:#?}", pod.pod().status);
    pod.stop();
    let outcome = pod.wait().await;
    assert!(
        start_errors(&outcome.pod, 2).is_empty(),
        "{:#?}",
        outcome.pod.status
    );
}

/// The process's hard limit on open descriptors (`Max open files`).
fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Memory mappings of this process.
fn maps() -> usize {
    std::fs::read_to_string("/proc/self/maps").map_or(0, |m| m.lines().count())
}

/// 10,000 idle containers (`DENSITY_TEST_CONTAINERS` for another number;
/// fewer if the descriptor limit is lower), one per pod, in one runtime with
/// the default configuration: all run, the process stays under
/// `vm.max_map_count`, and they all stop. Minutes on a
/// 2-core machine:
/// `cargo test --release -p wasmpod-cli --test integration density -- --ignored`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "minutes: 10,000 containers"]
async fn ten_thousand_idle_containers_run_in_one_process() {
    let n: usize = std::env::var("DENSITY_TEST_CONTAINERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    // Each idle container holds one descriptor (its root directory, opened
    // by WASI; the sandbox keeps it by path, `sandbox/fs/kept.rs`): stay
    // under the process's descriptor limit, which the runtime raises to the
    // hard limit (past it a container gets a clean
    // CreateContainerConfigError, not what this test is about).
    let n = n.min(open_files_limit().saturating_sub(1024));
    let rt = Runtime::new(RuntimeConfig::default().with_cache_dir(cache())).expect("runtime");
    let pod = idle_pod("idle", 1);
    let mut pods = Vec::with_capacity(n);
    for _ in 0..n {
        let h = rt
            .run(pod.clone(), wasmpod::RunOptions::default())
            .await
            .expect("pod");
        let mut watch = h.watch();
        let up = tokio::time::timeout(
            Duration::from_secs(120),
            watch.wait_for(|p| {
                crate::support::is_running(p, "c0") || !start_errors(p, 1).is_empty()
            }),
        )
        .await
        .map(|r| r.map(drop));
        assert!(matches!(up, Ok(Ok(_))), "{:#?}", h.pod().status);
        let errors = start_errors(&h.pod(), 1);
        assert!(
            errors.is_empty(),
            "after {} pods: {}",
            pods.len(),
            errors[0]
        );
        pods.push(h);
    }
    let mapped = maps();
    let limit: usize = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(65530);
    eprintln!("{n} idle containers: {mapped} memory mappings (vm.max_map_count {limit})");
    assert!(mapped < limit, "{mapped} mappings");
    for h in &pods {
        h.stop();
    }
    for h in &pods {
        h.wait().await;
    }
}
