//! What every command shares: the runtime built from its engine flags, and the
//! signal (Ctrl-C, SIGTERM) that stops a run.

use wasmpod::{Runtime, RuntimeConfig};

use super::args::EngineArgs;
use super::exit::Failure;

/// The runtime of one command: the default configuration with the cache,
/// registry and network flags applied.
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

/// Once the pods are stopping (a signal, `--timeout`), the next Ctrl-C or SIGTERM ends the
/// process at once, as a second Ctrl-C does for `docker compose`: a pod in a long grace
/// period (a `preStop` hook, a guest told to stop that does not) is not waited for.
pub(crate) fn exit_on_next_signal() {
    tokio::spawn(async {
        shutdown_signal().await;
        crate::output::note(
            "signal received while stopping: exiting now, without waiting for the pods",
        );
        let _ = tokio::task::spawn_blocking(crate::output::flush).await;
        std::process::exit(crate::exit::EXIT_FORCED.into());
    });
}

/// Resolves at Ctrl-C or, on Unix, SIGTERM.
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
