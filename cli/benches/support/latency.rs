//! Two latency rows of issue 11, measured in process on a warm runtime:
//! a crashed container's restart (`Started` → `Started` with backoff 0) and
//! an init + native sidecar + app pod's `start()` → app `Started`: the
//! restarts by the events' own times, the chain with [`Instant`] when the
//! event is received.

use std::time::{Duration, Instant};

use wasmpod::spec::{self, ValidPod};
use wasmpod::{BackoffPolicy, RunOptions, Runtime};

/// median, min, max of `samples`, in microseconds.
pub fn spread(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    match samples {
        [] => (0.0, 0.0, 0.0),
        s => (us(s[s.len() / 2]), us(s[0]), us(s[s.len() - 1])),
    }
}

fn pod(yaml: &str) -> ValidPod {
    let mut file = spec::load(yaml).unwrap_or_else(|e| panic!("invalid pod: {e}"));
    file.pods.remove(0)
}

/// The time between consecutive `Started` events of a container that exits
/// 1 at once (`false`) and restarts with no backoff: exit → record →
/// decide → fresh root → instantiate → `Started`, `restarts` times.
pub async fn restart(rt: &Runtime, restarts: usize) -> Vec<Duration> {
    let crash = pod(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: crash}\nspec:\n  restartPolicy: Always\n  \
         terminationGracePeriodSeconds: 0\n  containers:\n  - name: c\n    image: busybox\n    \
         command: ['false']\n",
    );
    let options =
        RunOptions::default().with_backoff(BackoffPolicy::new(Duration::ZERO, Duration::ZERO));
    let handle = rt
        .create(crash, options)
        .await
        .unwrap_or_else(|e| panic!("create failed: {e}"));
    let mut events = handle.events();
    handle.start();
    let mut gaps = Vec::with_capacity(restarts);
    let mut last: Option<jiff::Timestamp> = None;
    while gaps.len() < restarts {
        let Ok(event) = events.recv().await else {
            panic!(
                "the crashing pod's events ended after {} restarts",
                gaps.len()
            );
        };
        if event.reason != "Started" {
            continue;
        }
        // The event's own time (taken when the supervisor emitted it): this
        // reader may fall behind and receive several at once.
        if let Some(prev) = last {
            gaps.push(event.time.duration_since(prev).unsigned_abs());
        }
        last = Some(event.time);
    }
    handle.kill();
    handle.wait().await;
    gaps
}

/// `start()` → the app's `Started` event of a pod with an init container
/// (`true`), a native sidecar (`sleep 3600`) and an app (`true`), `n` times.
pub async fn chain(rt: &Runtime, n: usize) -> Vec<Duration> {
    let chain = pod(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: chain}\nspec:\n  restartPolicy: Never\n  \
         terminationGracePeriodSeconds: 0\n  initContainers:\n  - name: init\n    image: busybox\n    \
         command: ['true']\n  - name: sidecar\n    image: busybox\n    restartPolicy: Always\n    \
         command: ['sleep', '3600']\n  containers:\n  - name: app\n    image: busybox\n    \
         command: ['true']\n",
    );
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let handle = rt
            .create(chain.clone(), RunOptions::default())
            .await
            .unwrap_or_else(|e| panic!("create failed: {e}"));
        let mut events = handle.events();
        let t0 = Instant::now();
        handle.start();
        loop {
            let Ok(event) = events.recv().await else {
                panic!("the chain pod ended before its app started");
            };
            if event.reason == "Started" && event.container.as_deref() == Some("app") {
                samples.push(t0.elapsed());
                break;
            }
        }
        handle.wait().await;
    }
    samples
}
