//! The instance pool (`RuntimeConfig::pooled_instances`): once the runtime has
//! started enough instances it sets the pool up; instances take its places while
//! there are some, and past it run on demand, side by side, each as it would alone.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmpod::{Phase, Runtime, RuntimeConfig, ValidPod};

use crate::support::{is_running, options};

fn pod(name: &str, commands: &[&str]) -> ValidPod {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers:\n"
    );
    for (i, command) in commands.iter().enumerate() {
        yaml.push_str(&format!(
            "  - name: c{i}\n    image: busybox\n    command: ['sh', '-c', '{command}']\n"
        ));
    }
    ValidPod::from_yaml(&yaml).expect("valid pod")
}

/// Runs `pod` to its end, which must be Succeeded.
async fn succeeds(rt: &Runtime, pod: ValidPod) {
    let outcome = rt.run(pod, options()).await.expect("pod").wait().await;
    assert_eq!(outcome.phase, Phase::Succeeded, "{:#?}", outcome.pod.status);
}

/// Runs `true` pods until one of them ran in the pool (it is set up, and the image
/// loaded into it, in the background).
async fn until_pooled(rt: &Runtime) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while rt.instances().started_pooled == 0 {
        assert!(
            Instant::now() < deadline,
            "never pooled: {:?}",
            rt.instances()
        );
        succeeds(rt, pod("warm", &["true"])).await;
    }
}

#[tokio::test]
async fn past_the_pool_instances_run_on_demand_beside_pooled_ones() {
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpod-cache");
    let rt = Runtime::new(
        RuntimeConfig::default()
            .with_cache_dir(Some(cache))
            .with_pooled_instances(2),
    )
    .expect("runtime");
    until_pooled(&rt).await;
    assert_eq!(rt.instances().running, 0);
    // Four containers, each writing and reading back memory of its own: two in the
    // pool, two on demand.
    let work = "i=0; while [ $i -lt 200 ]; do i=$((i+1)); done; echo done $i; sleep 3600";
    let h = rt
        .create(pod("four", &[work, work, work, work]), options())
        .await
        .expect("pod");
    let mut logs = h.logs();
    h.start();
    let mut watch = h.watch();
    let all = tokio::time::timeout(
        Duration::from_secs(120),
        watch.wait_for(|p| (0..4).all(|i| is_running(p, &format!("c{i}")))),
    )
    .await
    .map(|r| r.map(drop));
    assert!(matches!(all, Ok(Ok(_))), "{:#?}", h.pod().status);
    let counts = rt.instances();
    assert_eq!((counts.running, counts.pooled), (4, 2), "{counts:?}");
    // Each counted in its own memory and printed it: pooled and on-demand instances alike.
    let mut done = std::collections::BTreeSet::new();
    while done.len() < 4 {
        let line = tokio::time::timeout(Duration::from_secs(60), logs.recv()).await;
        let line = line.expect("a line").expect("the log stream");
        assert_eq!(line.line, "done 200", "{}", line.container);
        done.insert(line.container);
    }
    h.stop();
    h.wait().await;
    // Every place is freed with its instance.
    let counts = rt.instances();
    assert_eq!((counts.running, counts.pooled), (0, 0), "{counts:?}");
    succeeds(&rt, pod("again", &["true", "true"])).await;
}

#[tokio::test]
async fn without_a_pool_every_instance_runs_on_demand() {
    let rt = Runtime::new(
        RuntimeConfig::default()
            .with_cache_dir(None)
            .with_pooled_instances(0),
    )
    .expect("runtime");
    for _ in 0..40 {
        succeeds(&rt, pod("plain", &["true"])).await;
    }
    let counts = rt.instances();
    assert_eq!(
        (counts.started, counts.started_pooled),
        (40, 0),
        "{counts:?}"
    );
}
