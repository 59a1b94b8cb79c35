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
