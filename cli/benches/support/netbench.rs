//! What the network benchmarks share: running a pod whose `netbench` guest prints its
//! own timing as `netbench … key=value …`, and reading those figures.

// Each benchmark uses part of it.
#![allow(dead_code)]

use tokio::sync::broadcast::error::RecvError;
use wasmpod::{Phase, PodHandle, RunOptions, Runtime};

/// The `key=value` figures of one `netbench` line.
pub type Fields = Vec<(String, f64)>;

/// The figures of `line` if it is a `netbench` line.
pub fn parse(line: &str) -> Option<Fields> {
    line.starts_with("netbench").then(|| {
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect()
    })
}

/// Creates (without starting) the one pod of `yaml`.
pub async fn create(rt: &Runtime, yaml: &str) -> PodHandle {
    let mut file = wasmpod::spec::load(yaml).expect("valid bench pod");
    rt.create(file.pods.remove(0), RunOptions::default())
        .await
        .expect("create")
}

/// Reads `handle`'s log until it ends: the last `netbench` figures `container` printed
/// (other lines go to stderr).
pub async fn figures(
    handle: &PodHandle,
    mut logs: wasmpod::Subscription<wasmpod::LogLine>,
    container: &str,
) -> Fields {
    let mut fields = Vec::new();
    loop {
        match logs.recv().await {
            Ok(l) if l.container == container => match parse(&l.line) {
                Some(f) => fields = f,
                None => eprintln!("{} | {}", l.container, l.line),
            },
            Ok(l) => eprintln!("{} | {}", l.container, l.line),
            Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => break,
        }
    }
    let outcome = handle.wait().await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        outcome.phase,
        Phase::Succeeded,
        "bench pod failed: {:?}",
        outcome.pod.status
    );
    fields
}

/// Runs a pod to its end; the figures `container` printed.
pub async fn run(rt: &Runtime, yaml: &str, container: &str) -> Fields {
    let handle = create(rt, yaml).await;
    let logs = handle.logs();
    let mut events = handle.events();
    handle.start();
    let printer = tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            if e.type_ == wasmpod::EventType::Warning {
                eprintln!("event: {} {}", e.reason, e.message);
            }
        }
    });
    let fields = figures(&handle, logs, container).await;
    printer.abort();
    fields
}

/// One figure.
pub fn field(fields: &[(String, f64)], key: &str) -> f64 {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no {key} in {fields:?}"))
}

/// The median of the runs.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
