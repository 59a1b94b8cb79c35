//! `wasmpod run` and `wasmpod validate`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use wasmpod::spec::LoadedFile;
use wasmpod::{BackoffPolicy, Error, Outcome, Phase, PodHandle, RunOptions, Runtime, StopReason};

use super::args::{RunArgs, ValidateArgs};
use super::engine::{exit_on_next_signal, runtime, shutdown_signal};
use super::exit::{EXIT_FAILED, EXIT_INVALID, EXIT_SUCCEEDED, EXIT_TIMEOUT, Failure};
use super::manifests::{base_dir, load};
use super::output::{Output, Printer, note, spawn_printer};

/// Applies the file's ConfigMaps and Secrets to the runtime's cluster, then checks that
/// every pod finds what it reads there: nothing can add an object during a run, so a
/// missing one is an error before anything runs, with every missing reference listed.
fn apply_objects(rt: &Runtime, loaded: &LoadedFile) -> Result<(), Failure> {
    rt.cluster().apply_all(loaded.objects.iter().cloned())?;
    let mut problems = Vec::new();
    for p in &loaded.pods {
        let name = p.document.pod.metadata.name.as_deref().unwrap_or_default();
        for missing in rt.missing_references(p)? {
            problems.push(format!("  pod/{name}: {missing}"));
        }
    }
    for w in &loaded.workloads {
        let name = format!("{}/{}", w.workload.kind().to_lowercase(), w.workload.name());
        for missing in crate::workloads::missing_references(rt, &w.workload)? {
            problems.push(format!("  {name}: {missing}"));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(anyhow::anyhow!(
        "the manifest does not hold what its pods read (CreateContainerConfigError / FailedMount on a node):\n{}",
        problems.join("\n")
    )
    .into())
}

/// `wasmpod validate`: parse, validate, resolve and compile; run nothing.
pub async fn validate(args: ValidateArgs) -> Result<ExitCode, Failure> {
    let (loaded, bases) = load(&args.manifests)?;
    let rt = runtime(&args.engine)?;
    apply_objects(&rt, &loaded)?;
    for p in loaded.pods {
        let mut options = RunOptions::default();
        options.base_dir = base_dir(&bases, &p);
        options.pull_secrets = crate::images::pull_secrets(&rt, &p);
        let name = p.document.display_name();
        crate::progress::while_compiling(&rt, rt.validate(&p, &options))
            .await
            .with_context(|| format!("pod {name}"))?;
        note(&format!("pod {name} is valid"));
    }
    for w in loaded.workloads {
        let name = format!("{}/{}", w.workload.kind().to_lowercase(), w.workload.name());
        // Created, never started: its template resolves and its images compile.
        let settings = crate::workloads::Settings::default();
        crate::workloads::create(&rt, vec![w], &bases, &settings).await?;
        note(&format!("{name} is valid"));
    }
    Ok(ExitCode::from(EXIT_SUCCEEDED))
}

/// `wasmpod run`.
pub async fn run(args: RunArgs) -> Result<ExitCode, Failure> {
    let (mut loaded, bases) = load(&args.manifests)?;
    let rt = runtime(&args.engine)?;
    apply_objects(&rt, &loaded)?;
    if loaded.pods.is_empty() && loaded.workloads.is_empty() {
        return Err(anyhow::anyhow!(
            "no v1 Pod or workload to run: the input holds only ConfigMaps and Secrets"
        )
        .into());
    }
    // Pods of workloads have generated names: their lines are always `pod/container`.
    let several = loaded.pods.len() > 1 || !loaded.workloads.is_empty();
    // `--rm`: no run directory; the library gives each pod a temporary one, removed with it.
    let run_root = match &args.run_dir {
        _ if args.rm => None,
        Some(d) => Some(d.clone()),
        None => Some(default_run_dir(&loaded)?),
    };
    if let Some(root) = &run_root {
        note(&format!("run directory: {}", root.display()));
    }

    let mut handles: Vec<PodHandle> = Vec::new();
    let workloads = std::mem::take(&mut loaded.workloads);
    for p in loaded.pods {
        let name = p
            .document
            .pod
            .metadata
            .name
            .clone()
            .unwrap_or_else(|| format!("pod-{}", p.document.document_index));
        let mut options = RunOptions::default();
        options.base_dir = base_dir(&bases, &p);
        options.pull_secrets = crate::images::pull_secrets(&rt, &p);
        // A failed pull ends the run (exit 2) instead of waiting Pending as on a node.
        options.fail_on_pull_error = true;
        options.run_dir = run_root.as_ref().map(|root| {
            if several {
                root.join(&name)
            } else {
                root.clone()
            }
        });
        options.backoff = BackoffPolicy::new(args.backoff_initial, args.backoff_max);
        options.allow_outbound = args.allow_outbound.clone();
        options.log_rotation = wasmpod::LogRotation::new(
            args.container_log_max_size,
            args.container_log_max_files as usize,
        );
        let create = crate::images::while_pulling(&rt, rt.create(p, options));
        match crate::progress::while_compiling(&rt, create).await {
            Ok(h) => handles.push(h),
            Err(e) => {
                if let (Error::Image { pod, .. }, Some(path)) = (&e, &args.status_file) {
                    crate::status::write(path, vec![crate::status::pod_json(pod)?], false)?;
                }
                for h in &handles {
                    h.stop();
                }
                return Err(Failure {
                    code: EXIT_INVALID,
                    error: anyhow::Error::new(e),
                });
            }
        }
    }

    let settings = crate::workloads::Settings::of(&args, run_root.as_deref());
    let workloads = match crate::workloads::create(&rt, workloads, &bases, &settings).await {
        Ok(w) => w,
        Err(e) => {
            handles.iter().for_each(PodHandle::stop);
            return Err(e);
        }
    };

    let prefixes: Vec<String> = handles
        .iter()
        .flat_map(|h| {
            let pod = h.pod();
            let spec = pod.spec.clone().unwrap_or_default();
            let names: Vec<String> = spec
                .init_containers
                .iter()
                .flatten()
                .chain(&spec.containers)
                .map(|c| c.name.clone())
                .collect();
            names
                .into_iter()
                .map(|c| {
                    if several {
                        format!("{}/{c}", h.name())
                    } else {
                        c
                    }
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let printer = std::sync::Arc::new(Printer::new(prefixes, &args.color));
    let tails = args
        .junit
        .as_ref()
        .map(|_| std::sync::Arc::new(crate::junit::Tails::default()));
    let mut printers = Vec::new();
    for h in &handles {
        let output = Output {
            printer: printer.clone(),
            tails: tails.clone(),
        };
        printers.push(spawn_printer(h, output, several, args.quiet));
    }
    let output = Output {
        printer: printer.clone(),
        tails: tails.clone(),
    };
    printers.extend(crate::workloads::spawn_printers(
        &workloads, &output, args.quiet,
    ));
    // Host sockets exist only for forwarded ports: `ports[].hostPort`, `-p`, and the
    // host ports of NodePort and LoadBalancer Services.
    let explicit = parse_publish(&args.publish, handles.len())?;
    let _cluster_forwards = crate::services::open_all(&rt, &args.publish, &handles).await?;
    for (i, h) in handles.iter().enumerate() {
        let mut forwards = h.publish_host_ports().await;
        if i == 0 {
            for (host, port) in &explicit {
                forwards.push((format!("{host} -> {port}"), h.publish(*host, *port).await));
            }
        }
        for (what, result) in forwards {
            match result {
                Ok(_) => note(&format!("pod {}: forwarding {what}", h.name())),
                Err(e) => {
                    handles.iter().for_each(PodHandle::stop);
                    return Err(Failure {
                        code: EXIT_INVALID,
                        error: anyhow::anyhow!("pod {}: cannot forward {what}: {e}", h.name()),
                    });
                }
            }
        }
    }
    let started = std::time::Instant::now();
    for h in &handles {
        h.start();
    }
    if !workloads.is_empty() {
        let run = crate::workloads::Running {
            pods: &handles,
            workloads: &workloads,
            printers,
            tails,
            started,
        };
        return crate::workloads::finish(run, &args, &rt).await;
    }

    let (outcomes, pull_failure) = wait_all(&handles, args.timeout).await;
    for p in printers {
        let _ = p.await;
    }
    if let (Some(path), Some(tails)) = (&args.junit, &tails) {
        crate::junit::write(path, &outcomes, &[], tails, started.elapsed())?;
    }
    if let Some(path) = &args.status_file {
        let mut items = Vec::new();
        for o in &outcomes {
            items.push(crate::status::pod_json(&o.pod)?);
        }
        items.extend(crate::status::cluster_items(&rt)?);
        let list = items.len() != 1;
        crate::status::write(path, items, list)?;
    }
    if let Some(failure) = pull_failure {
        return Err(Failure {
            code: EXIT_INVALID,
            error: anyhow::anyhow!("failed to pull an image again at a restart: {failure}"),
        });
    }
    for o in &outcomes {
        note(&format!(
            "pod {} {}",
            o.pod.metadata.name.as_deref().unwrap_or("?"),
            o.phase.as_str()
        ));
    }
    let code = if outcomes
        .iter()
        .any(|o| o.stopped == Some(StopReason::Timeout))
    {
        EXIT_TIMEOUT
    } else if outcomes.iter().all(|o| o.phase == Phase::Succeeded) {
        EXIT_SUCCEEDED
    } else {
        EXIT_FAILED
    };
    Ok(ExitCode::from(code))
}

/// Waits for every pod; Ctrl-C, SIGTERM, the timeout or a failed pull at a restart
/// (returned) stop them all.
async fn wait_all(
    handles: &[PodHandle],
    timeout: Option<std::time::Duration>,
) -> (Vec<Outcome>, Option<String>) {
    let all = futures_join(handles);
    tokio::pin!(all);
    let pull_failed = crate::images::first_pull_failure(handles);
    tokio::pin!(pull_failed);
    let mut failure = None;
    let deadline = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let mut stopping = false;
    loop {
        tokio::select! {
            outcomes = &mut all => return (outcomes, failure),
            message = &mut pull_failed, if !stopping => {
                note(&format!("failed to pull an image: stopping ({message})"));
                stopping = true;
                failure = Some(message);
                exit_on_next_signal();
                handles.iter().for_each(PodHandle::stop);
            }
            _ = &mut deadline, if !stopping => {
                note("timeout reached: stopping");
                stopping = true;
                exit_on_next_signal();
                handles.iter().for_each(|h| h.stop_with(StopReason::Timeout));
            }
            _ = shutdown_signal(), if !stopping => {
                note("stopping (signal received; another one exits at once)");
                stopping = true;
                exit_on_next_signal();
                handles.iter().for_each(PodHandle::stop);
            }
        }
    }
}

async fn futures_join(handles: &[PodHandle]) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.wait().await);
    }
    out
}

/// Parses `-p [HOST_IP:]HOST_PORT:CONTAINER_PORT` values (host IP default
/// `127.0.0.1`, as `kubectl port-forward` listens on loopback).
/// The `-p` values that name a container port (`svc/` and `pod/` targets go through the
/// cluster network, see [`crate::forward`]).
fn parse_publish(
    values: &[String],
    pods: usize,
) -> Result<Vec<(std::net::SocketAddr, u16)>, Failure> {
    let mut out = Vec::new();
    for v in values {
        if let (host, crate::services::Target::Container(port)) = crate::services::parse(v)? {
            out.push((host, port));
        }
    }
    if !out.is_empty() && pods != 1 {
        return Err(anyhow::anyhow!(
            "-p CONTAINER_PORT needs a file with exactly one pod (this one has {pods}); use -p HOST_PORT:svc/NAME:PORT or pod/NAME:PORT"
        )
        .into());
    }
    Ok(out)
}

fn default_run_dir(loaded: &LoadedFile) -> anyhow::Result<PathBuf> {
    let name = loaded
        .pods
        .first()
        .and_then(|p| p.document.pod.metadata.name.clone())
        .or_else(|| {
            let first = loaded.workloads.first()?;
            Some(first.workload.name().to_owned())
        })
        .unwrap_or_else(|| "pod".into());
    let stamp = k8s_openapi::jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S");
    let base = std::env::temp_dir().join("wasmpod").join("runs");
    for n in 0.. {
        let dir = base.join(if n == 0 {
            format!("{name}-{stamp}")
        } else {
            format!("{name}-{stamp}-{n}")
        });
        match std::fs::create_dir_all(base.as_path()).and_then(|_| std::fs::create_dir(&dir)) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("failed to create {}", dir.display())),
        }
    }
    unreachable!("the loop returns")
}
