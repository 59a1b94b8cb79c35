//! `wasmpod run` and `wasmpod validate`.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use tokio::sync::broadcast::error::RecvError;
use wasmpod::spec::{self, LoadedFile};
use wasmpod::{
    BackoffPolicy, Error, Outcome, Phase, PodHandle, RunOptions, Runtime, RuntimeConfig, StopReason,
};

use super::args::{EngineArgs, ManifestArgs, RunArgs, ValidateArgs};
use super::exit::{EXIT_FAILED, EXIT_INVALID, EXIT_SUCCEEDED, EXIT_TIMEOUT, Failure};
use super::output::{Printer, note};

/// Reads a manifest: at most one byte past the size the loader accepts, so
/// `/dev/zero` or an endless pipe cannot grow memory (the loader then names
/// the size limit). A pipe (`<(…)`, `-`) works as with any Unix tool.
/// Returns the text and the directory its relative image paths resolve against.
fn read_file(file: &Path) -> anyhow::Result<(String, PathBuf)> {
    let limit = spec::MAX_DOCUMENT_BYTES as u64 + 1;
    let read = |reader: &mut dyn Read| -> std::io::Result<String> {
        let mut bytes = Vec::new();
        reader.take(limit).read_to_end(&mut bytes)?;
        String::from_utf8(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    };
    if file == Path::new("-") {
        let text =
            read(&mut std::io::stdin()).context("failed to read the pod from standard input")?;
        return Ok((text, std::env::current_dir()?));
    }
    let text = std::fs::File::open(file)
        .and_then(|mut f| read(&mut f))
        .with_context(|| format!("failed to read {}", file.display()))?;
    let base = file
        .parent()
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| ".".into());
    Ok((text, std::fs::canonicalize(&base).unwrap_or(base)))
}

/// The manifest files a path stands for: itself, or a directory's `*.yaml`, `*.yml` and
/// `*.json` files in name order, not its subdirectories (kubectl's `-f DIR` without `-R`).
fn manifest_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if path == Path::new("-") || !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let entries =
        std::fs::read_dir(path).with_context(|| format!("failed to read {}", path.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("failed to read {}", path.display()))?;
        let file = entry.path();
        let manifest = file
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
        if manifest && !file.is_dir() {
            files.push(file);
        }
    }
    files.sort();
    if files.is_empty() {
        anyhow::bail!(
            "{}: the directory has no .yaml, .yml or .json file",
            path.display()
        );
    }
    Ok(files)
}

/// Reads and validates every manifest: one [`LoadedFile`] for all, and for each input (the
/// index of [`spec::PodDocument::input`]) the directory its relative image paths resolve
/// against.
fn load(manifests: &ManifestArgs) -> Result<(LoadedFile, Vec<PathBuf>), Failure> {
    let mut names = Vec::new();
    let mut texts = Vec::new();
    let mut bases = Vec::new();
    let mut stdin = false;
    for path in manifests.paths() {
        for file in manifest_files(path)? {
            let name = if file == Path::new("-") {
                if stdin {
                    return Err(anyhow::anyhow!("standard input (-) can be read only once").into());
                }
                stdin = true;
                "standard input".to_owned()
            } else {
                file.display().to_string()
            };
            let (text, base) = read_file(&file)?;
            names.push(name);
            texts.push(text);
            bases.push(base);
        }
    }
    let inputs: Vec<(&str, &str)> = names
        .iter()
        .zip(&texts)
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let loaded = spec::load_many(&inputs).map_err(|e| Failure {
        code: EXIT_INVALID,
        error: anyhow::Error::new(e),
    })?;
    for n in &loaded.notes {
        note(&format!("note: {n}"));
    }
    for p in &loaded.pods {
        for w in &p.warnings {
            note(&format!("warning: pod {}: {w}", p.document.display_name()));
        }
    }
    crate::services::warn(&loaded);
    Ok((loaded, bases))
}

/// The directory a pod's relative image paths resolve against: its file's.
fn base_dir(bases: &[PathBuf], pod: &spec::ValidPod) -> Option<PathBuf> {
    bases.get(pod.document.input).cloned()
}

pub(crate) fn runtime(engine: &EngineArgs) -> Result<Runtime, Failure> {
    let mut config =
        RuntimeConfig::default().with_insecure_registries(engine.insecure_registry.clone());
    if engine.no_cache {
        config.cache_dir = None;
    } else if let Some(dir) = &engine.cache_dir {
        config.cache_dir = Some(dir.clone());
    }
    let cidr = |flag: &str, value: &str| {
        value
            .parse::<wasmpod::Cidr>()
            .map_err(|e| anyhow::anyhow!("invalid {flag}: {e}"))
    };
    let config = config.with_cidrs(
        cidr("--pod-cidr", &engine.pod_cidr)?,
        cidr("--service-cidr", &engine.service_cidr)?,
    );
    Ok(Runtime::new(config)?)
}

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
    let run_root = match &args.run_dir {
        Some(d) => d.clone(),
        None => default_run_dir(&loaded)?,
    };
    note(&format!("run directory: {}", run_root.display()));

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
        options.run_dir = Some(if several {
            run_root.join(&name)
        } else {
            run_root.clone()
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

    let settings = crate::workloads::Settings::of(&args, &run_root);
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
            let spec = pod.spec.unwrap_or_default();
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
                handles.iter().for_each(PodHandle::stop);
            }
            _ = &mut deadline, if !stopping => {
                note("timeout reached: stopping");
                stopping = true;
                handles.iter().for_each(|h| h.stop_with(StopReason::Timeout));
            }
            _ = shutdown_signal(), if !stopping => {
                note("stopping (signal received)");
                stopping = true;
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

pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// On a terminal, prints the kubectl READY/STATUS/RESTARTS columns whenever
/// they change (`wasmpod: pod/web  READY 0/1  STATUS Init:0/1  RESTARTS 0`).
fn spawn_status_line(h: &PodHandle) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let mut rx = h.watch();
    let name = h.name().to_string();
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let row = wasmpod::kubectl_row(&rx.borrow_and_update());
            if last.as_ref() != Some(&row) {
                note(&format!(
                    "pod/{name}  READY {}  STATUS {}  RESTARTS {}",
                    row.ready, row.status, row.restarts
                ));
                last = Some(row);
            }
            if rx.changed().await.is_err() {
                break;
            }
        }
    });
}

/// Where a pod's output goes: the terminal, and with `--junit` the report's tails.
#[derive(Clone)]
pub(crate) struct Output {
    printer: std::sync::Arc<Printer>,
    tails: Option<std::sync::Arc<crate::junit::Tails>>,
}

/// Prints a pod's output lines and events until it ended.
pub(crate) fn spawn_printer(
    h: &PodHandle,
    output: Output,
    several: bool,
    quiet: bool,
) -> tokio::task::JoinHandle<()> {
    let Output { printer, tails } = output;
    if !quiet {
        spawn_status_line(h);
    }
    let mut logs = h.logs();
    let mut events = h.events();
    let pod = h.name().to_string();
    tokio::spawn(async move {
        let (mut logs_open, mut events_open) = (true, true);
        while logs_open || events_open {
            tokio::select! {
                line = logs.recv(), if logs_open => match line {
                    Ok(line) => {
                        let prefix = if several { format!("{pod}/{}", line.container) } else { line.container.clone() };
                        printer.log(&prefix, &line).await;
                        if let Some(tails) = &tails {
                            tails.record(&pod, &line.container, &line.line);
                        }
                    }
                    Err(RecvError::Lagged(n)) => note(&format!("{n} log lines skipped (see the log files)")),
                    Err(RecvError::Closed) => logs_open = false,
                },
                event = events.recv(), if events_open => match event {
                    Ok(e) => if !quiet { printer.event(several.then_some(pod.as_str()), &e) },
                    Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => events_open = false,
                },
            }
        }
    })
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
