//! Embedding wasmpod in a Rust program: run a pod from a typed
//! `k8s_openapi` Pod, stream its logs and events, and read its final status.
//!
//! Run with `cargo run --example embed`.

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use wasmpod::{RunOptions, Runtime, RuntimeConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One runtime (one wasmtime Engine) serves every pod of the process.
    let runtime = Runtime::new(RuntimeConfig::default())?;

    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("embedded".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            init_containers: Some(vec![Container {
                name: "prepare".into(),
                image: Some("busybox".into()),
                command: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "echo preparing; sleep 0.2".into(),
                ]),
                ..Default::default()
            }]),
            containers: vec![Container {
                name: "work".into(),
                image: Some("busybox".into()),
                command: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "for i in 1 2 3; do echo step $i; done".into(),
                ]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };

    // Create, subscribe, then start: no line is missed.
    // Validated as a manifest would be; its warnings are the caller's to show.
    let pod = wasmpod::ValidPod::from_pod(pod)?;
    for warning in &pod.warnings {
        eprintln!("warning: {warning}");
    }
    let handle = runtime.create(pod, RunOptions::default()).await?;
    let mut logs = handle.logs();
    let mut events = handle.events();
    handle.start();
    let printer = tokio::spawn(async move {
        while let Ok(line) = logs.recv().await {
            println!("{:>8} | {}", line.container, line.line);
        }
    });
    let event_printer = tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            eprintln!("event: {event}");
        }
    });

    let outcome = handle.wait().await;
    printer.await?;
    event_printer.await?;
    let status = outcome.pod.status.clone().unwrap_or_default();
    println!("phase: {}", outcome.phase.as_str());
    for c in status.container_statuses.unwrap_or_default() {
        let code = c.state.and_then(|s| s.terminated).map(|t| t.exit_code);
        println!("container {} exited with {:?}", c.name, code);
    }
    Ok(())
}
