//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Run Kubernetes pods whose containers are WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "wasmpod", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pod(s) of a YAML file until they end.
    Run(RunArgs),
    /// Check a pod YAML file (and its images) without running it.
    Validate(ValidateArgs),
}

/// `wasmpod run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pod YAML file (`-` for standard input).
    pub file: PathBuf,
    /// Stop the pod after this long (like a deletion) and exit 124, e.g. `30s`, `2m`.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// First crash-loop backoff wait (Kubernetes: 10s).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub backoff_initial: Duration,
    /// Longest crash-loop backoff wait (Kubernetes: 300s).
    #[arg(long, value_parser = parse_duration, default_value = "300s")]
    pub backoff_max: Duration,
    /// Forward a host port to a pod port: `[HOST_IP:]HOST_PORT:CONTAINER_PORT`
    /// (host IP default 127.0.0.1). Repeatable. `ports[].hostPort` is forwarded too.
    #[arg(
        short = 'p',
        long = "publish",
        value_name = "[HOST_IP:]HOST_PORT:CONTAINER_PORT"
    )]
    pub publish: Vec<String>,
    /// Write the final Pod (spec and status) as JSON to this file.
    #[arg(long)]
    pub status_file: Option<PathBuf>,
    /// The run directory for logs and volumes (default: a new directory under the system temp dir).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Do not print runtime events.
    #[arg(short, long)]
    pub quiet: bool,
    /// Colour: auto (on a terminal), always, never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

/// `wasmpod validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The pod YAML file (`-` for standard input).
    pub file: PathBuf,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Engine options.
#[derive(Debug, clap::Args)]
pub struct EngineArgs {
    /// Where compiled code is cached (default: $WASMPOD_CACHE_DIR, $XDG_CACHE_HOME/wasmpod or ~/.cache/wasmpod).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Do not cache compiled code on disk.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration {s:?}: {e} (examples: 500ms, 10s, 2m)"))
}
