//! Command-line arguments.

use std::path::{Path, PathBuf};
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
    /// Run the pod(s) of YAML or JSON files until they end.
    Run(Box<RunArgs>),
    /// Check pod YAML or JSON files (and their images) without running anything.
    Validate(ValidateArgs),
    /// Pull an image from an OCI registry into the local image store.
    Pull(PullArgs),
    /// Push a .wasm file to an OCI registry as a Wasm artifact (what runwasi and wkg read).
    Push(PushArgs),
    /// List the images in the local image store.
    Images(ImagesArgs),
    /// Remove an image from the local image store.
    Rmi(RmiArgs),
}

/// `wasmpod pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// The image reference, e.g. `ghcr.io/acme/api:1.4` (credentials from the Docker config file).
    pub reference: String,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `wasmpod push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The .wasm file (a wasip2 component or a wasip1 module).
    pub file: PathBuf,
    /// The image reference to push to, e.g. `ghcr.io/acme/api:1.4`.
    pub reference: String,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `wasmpod images`.
#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `wasmpod rmi`.
#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// The image reference, as pulled.
    pub reference: String,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `wasmpod run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Stop the pod after this long (like a deletion) and exit 124, e.g. `30s`, `2m`.
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// First crash-loop backoff wait (Kubernetes: 10s). A Job's pod-failure backoff
    /// (10s doubling to 6 minutes) is scaled by the same ratio to 10s.
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
    /// Let outgoing `wasi:http` requests reach this host outside the pod
    /// (`HOST` any port, or `HOST:PORT`; plain http). Repeatable. Without
    /// it only the pod's own loopback is reachable; the rest is denied
    /// (`HTTP-request-denied`).
    #[arg(long, value_name = "HOST[:PORT]")]
    pub allow_outbound: Vec<wasmpod::AllowedHost>,
    /// Write the final Pod (spec and status) as JSON to this file; with several pods or
    /// any workload, a `v1` `List` of every object (Jobs, Deployments, their ReplicaSets
    /// and pods too) with its status.
    #[arg(long)]
    pub status_file: Option<PathBuf>,
    /// Write a JUnit XML report to this file: one test case per pod that runs to an end
    /// (restartPolicy Never or OnFailure), failed unless the pod Succeeded, with the tail
    /// of its containers' output; for CI systems that show test reports.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// The run directory for logs and volumes (default: a new directory under the system temp dir).
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Remove each pod's directories when it ends, as `docker run --rm` removes its
    /// container: logs and volumes go to a temporary directory (in memory where there is
    /// one) instead of a run directory that is kept.
    #[arg(long, conflicts_with = "run_dir")]
    pub rm: bool,
    /// Rotate a container's log file before it grows past this size, as the
    /// kubelet's containerLogMaxSize (a quantity: 10Mi, 500Ki, 1G, 4096).
    #[arg(long, value_parser = parse_log_size, default_value = "10Mi")]
    pub container_log_max_size: u64,
    /// The most log files kept per container instance, the current one
    /// included, as the kubelet's containerLogMaxFiles (at least 2).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..), default_value = "5")]
    pub container_log_max_files: u32,
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
    #[command(flatten)]
    pub manifests: ManifestArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Where the manifests are: files and directories, given as `FILE` and/or `-f FILE`.
#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    /// A manifest: a YAML or JSON file (Pods, ConfigMaps, Secrets, `kind: List`), a
    /// directory, or `-` for standard input.
    #[arg(value_name = "FILE", required_unless_present = "filename")]
    pub file: Option<PathBuf>,
    /// A manifest file, or a directory whose `*.yaml`, `*.yml` and `*.json` files are read in
    /// name order (not its subdirectories), or `-`; repeatable, as kubectl's `-f`.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filename: Vec<PathBuf>,
}

impl ManifestArgs {
    /// Every path given: `FILE` first, then each `-f`, in order.
    pub fn paths(&self) -> Vec<&Path> {
        self.file
            .iter()
            .chain(&self.filename)
            .map(PathBuf::as_path)
            .collect()
    }
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
    /// A registry (`host[:port]`) reached over plain HTTP instead of HTTPS; loopback
    /// registries always are. Repeatable.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub insecure_registry: Vec<String>,
    /// The pods' addresses in the cluster network.
    #[arg(long, value_name = "CIDR", default_value = wasmpod::DEFAULT_POD_CIDR)]
    pub pod_cidr: String,
    /// The Services' virtual addresses; must not overlap --pod-cidr.
    #[arg(long, value_name = "CIDR", default_value = wasmpod::DEFAULT_SERVICE_CIDR)]
    pub service_cidr: String,
}

/// A Kubernetes quantity of bytes: digits with an optional binary (`Ki`,
/// `Mi`, `Gi`, `Ti`) or decimal (`k`, `M`, `G`, `T`) suffix; at least 1.
pub(crate) fn parse_log_size(s: &str) -> Result<u64, String> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits);
    let unit: u64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "invalid size {s:?} (examples: 10Mi, 500Ki, 1G, 4096)"
            ));
        }
    };
    let size = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("invalid size {s:?} (examples: 10Mi, 500Ki, 1G, 4096)"))?;
    if size == 0 {
        return Err("the size must be at least 1 byte".into());
    }
    Ok(size)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration {s:?}: {e} (examples: 500ms, 10s, 2m)"))
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::{Cli, Command, parse_log_size};

    #[test]
    fn manifests_are_a_file_and_or_repeated_dash_f() {
        let paths = |args: &[&str]| -> Result<Vec<String>, String> {
            let cli = Cli::try_parse_from(args).map_err(|e| e.kind().to_string())?;
            let manifests = match cli.command {
                Command::Run(args) => args.manifests,
                Command::Validate(args) => args.manifests,
                _ => return Err("not run or validate".into()),
            };
            Ok(manifests
                .paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect())
        };
        assert_eq!(
            paths(&["wasmpod", "run", "pod.yaml"]),
            Ok(vec!["pod.yaml".into()])
        );
        assert_eq!(
            paths(&[
                "wasmpod",
                "run",
                "-f",
                "a.yaml",
                "--filename",
                "dir",
                "-f",
                "-"
            ]),
            Ok(vec!["a.yaml".into(), "dir".into(), "-".into()])
        );
        assert_eq!(
            paths(&["wasmpod", "validate", "x.yaml", "-f", "y.yaml"]),
            Ok(vec!["x.yaml".into(), "y.yaml".into()])
        );
        assert!(
            paths(&["wasmpod", "run"]).is_err(),
            "a manifest is required"
        );
    }

    #[test]
    fn log_sizes_are_kubernetes_quantities() {
        assert_eq!(parse_log_size("10Mi"), Ok(10 << 20));
        assert_eq!(parse_log_size("500Ki"), Ok(500 << 10));
        assert_eq!(parse_log_size("1G"), Ok(1_000_000_000));
        assert_eq!(parse_log_size("4096"), Ok(4096));
        for bad in ["", "Mi", "10MB", "1.5Mi", "-1", "0", "99999999999Ti"] {
            assert!(parse_log_size(bad).is_err(), "{bad}");
        }
    }
}
