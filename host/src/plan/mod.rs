//! The resolved pod: what the supervisor runs.
//!
//! [`resolve`] turns a validated Kubernetes [`Pod`] into a [`PodPlan`]: image
//! references resolved to sources, argv built from `command`/`args`, the
//! environment filled in and expanded, restart policies as enums, volumes and
//! mounts as plain data. Nothing after this point reads the raw spec (except
//! to echo it back in the status file).
//!
//! # argv
//! Kubernetes runs `command` followed by `args`, replacing the image's
//! ENTRYPOINT and CMD. A Wasm component has no ENTRYPOINT, so:
//! * `command` set: argv is `command ++ args`, and `argv[0]` is `command[0]`
//!   (the toolbox picks its applet from it, as busybox does).
//! * only `args`: argv is `[default argv[0]] ++ args`.
//! * neither: the image's default argv (`sh` for busybox/alpine, `nginx` for
//!   nginx, the file name without `.wasm` for a file image).
//!
//! `$(VAR)` references in `command` and `args` are expanded against the
//! container's complete environment, with no shell involved.

mod config;
mod dns;
mod env;
pub(crate) mod image;
mod probe;
mod projection;
mod reference;
mod resources;
pub mod service;
mod volume;

pub use config::{ConfigObjects, ObjectData, ObjectKind};
pub use dns::{DnsPolicy, PodDns};
pub use env::StartEnv;
pub use image::{BuiltinImage, ImageConfig, ImageSource, PulledImage, resolve_image};
pub use probe::{Hooks, ProbeHandler, ProbeKind, ProbePlan, Probes, resolve_hook, resolve_probe};
pub use projection::{Payload, Projection};
pub use reference::{ImageRef, PullPolicy};
pub use volume::{MountPlan, SizeLimit, VolumePlan, VolumeSource};

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::spec::expand;
use crate::spec::quantity::quantity_value;

/// A restart policy (pod-level or container-level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Restart on every exit (the Kubernetes default).
    #[default]
    Always,
    /// Restart on a non-zero exit.
    OnFailure,
    /// Never restart.
    Never,
}

impl RestartPolicy {
    /// Parses a Kubernetes value; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Always" => Some(Self::Always),
            "OnFailure" => Some(Self::OnFailure),
            "Never" => Some(Self::Never),
            _ => None,
        }
    }

    /// Whether a container that exited with `exit_code` is restarted.
    pub fn restarts_after(self, exit_code: i32) -> bool {
        match self {
            Self::Always => true,
            Self::OnFailure => exit_code != 0,
            Self::Never => false,
        }
    }
}

/// Which list a container is declared in, and how it behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `initContainers[]` without `restartPolicy: Always`: runs to completion.
    Init,
    /// `initContainers[]` with `restartPolicy: Always`: a native sidecar.
    Sidecar,
    /// `containers[]`.
    Regular,
}

/// One container, resolved.
#[derive(Debug, Clone)]
pub struct ContainerPlan {
    /// The container's name.
    pub name: String,
    /// Init, sidecar or regular.
    pub kind: ContainerKind,
    /// The `image:` value as written.
    pub image: String,
    /// Where the image's bytes come from.
    pub source: ImageSource,
    /// `imagePullPolicy` with the kubelet's default (for a registry image; files and
    /// built-ins are never pulled).
    pub pull_policy: PullPolicy,
    /// The registry image as pulled (set when the pod is created; `None` for files and
    /// built-ins).
    pub pulled: Option<PulledImage>,
    /// The guest's argv (see the module docs for the argv[0] rule).
    pub argv: Vec<String>,
    /// The guest's environment, in order (without values from ConfigMaps and Secrets: see
    /// [`PodPlan::start_env`]).
    pub env: Vec<(String, String)>,
    /// Reads env from ConfigMaps or Secrets: its env and argv are built at each start.
    pub reads_objects: bool,
    /// `workingDir`, if set.
    pub working_dir: Option<String>,
    /// `securityContext.readOnlyRootFilesystem`: the guest cannot write its private
    /// root (only the directory of its termination message, and its mounts).
    pub read_only_root: bool,
    /// Volume mounts.
    pub mounts: Vec<MountPlan>,
    /// A container-level `restartPolicy` (not for sidecars, which always restart).
    pub restart_policy: Option<RestartPolicy>,
    /// `restartPolicyRules` (only with a container-level `restartPolicy`).
    pub restart_rules: Vec<RestartRule>,
    /// `terminationMessagePath` (default `/dev/termination-log`).
    pub termination_message_path: String,
    /// `terminationMessagePolicy: FallbackToLogsOnError`.
    pub fallback_to_logs_on_error: bool,
    /// Startup, liveness and readiness probes (not for regular init containers).
    pub probes: Probes,
    /// `lifecycle` hooks (not for regular init containers).
    pub hooks: Hooks,
    /// `resources.limits.memory` in bytes: the most linear memory the
    /// container's instance may hold; going past it is `OOMKilled`.
    pub memory_limit: Option<u64>,
    /// `resources.limits.ephemeral-storage`: the most its private root may
    /// hold; past it the pod is evicted, as the kubelet's eviction manager does.
    pub ephemeral_storage_limit: Option<SizeLimit>,
    /// `resources.limits.cpu` in millicores: a CFS-style quota per period.
    pub cpu_limit_millis: Option<u64>,
    /// `resources.requests.cpu` in millicores (the limit when only that is
    /// set, as the API server defaults it): the container's weight when the
    /// cores are contended.
    pub cpu_request_millis: Option<u64>,
}

/// One `restartPolicyRules` entry: restart when the exit code is (`In`) or
/// is not (`NotIn`) one of `values`. `Restart` is the only action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartRule {
    /// `true` for `In`, `false` for `NotIn`.
    pub operator_in: bool,
    /// The exit codes.
    pub values: Vec<i32>,
}

impl RestartRule {
    /// Whether the rule matches an exit code.
    pub fn matches(&self, exit_code: i32) -> bool {
        self.values.contains(&exit_code) == self.operator_in
    }
}

/// The resolved pod.
#[derive(Debug, Clone)]
pub struct PodPlan {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (default `default`).
    pub namespace: String,
    /// `metadata.uid`, or a generated one.
    pub uid: String,
    /// The hostname guests see (`spec.hostname`, else the pod name).
    pub hostname: String,
    /// `spec.hostAliases`: names that resolve to an address in this pod, as the
    /// kubelet's `/etc/hosts` entries do (validated: each IP parses).
    pub host_aliases: Vec<(std::net::IpAddr, Vec<String>)>,
    /// `spec.dnsPolicy` and `spec.dnsConfig`.
    pub dns: PodDns,
    /// `spec.restartPolicy`.
    pub restart_policy: RestartPolicy,
    /// `spec.terminationGracePeriodSeconds` (default 30 s).
    pub grace_period: Duration,
    /// `spec.activeDeadlineSeconds`: the pod fails once it has been active this long.
    pub active_deadline: Option<Duration>,
    /// `spec.readinessGates[].conditionType`: conditions that must be True,
    /// besides ready containers, for the pod to be Ready.
    pub readiness_gates: Vec<String>,
    /// `initContainers[]` in order: regular init containers and sidecars.
    pub init_containers: Vec<ContainerPlan>,
    /// `containers[]` in order.
    pub containers: Vec<ContainerPlan>,
    /// `volumes[]`.
    pub volumes: Vec<VolumePlan>,
    /// The pod's address in its cluster: what its environment shows.
    pub address: PodAddress,
    /// The Pod as given, echoed in the status.
    pub pod: Pod,
}

/// A pod's place in its cluster network, known when it is created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PodAddress {
    /// The pod IP (`status.podIP`); `None` outside a cluster network.
    pub ip: Option<std::net::Ipv4Addr>,
    /// The Service variables of the pod's namespace (`enableServiceLinks`).
    pub service_env: Vec<(String, String)>,
}

impl PodAddress {
    /// An address with this IP and these Service variables.
    pub fn new(ip: Option<std::net::Ipv4Addr>, service_env: Vec<(String, String)>) -> Self {
        PodAddress { ip, service_env }
    }
}

impl PodPlan {
    /// Whether a container that exited with `exit_code` is restarted: a port
    /// of `podutil.ContainerShouldRestart`. Sidecars always restart; with a
    /// container-level policy, the first matching rule wins, else that
    /// policy decides; otherwise the pod's policy does.
    pub fn should_restart(&self, c: &ContainerPlan, exit_code: i32) -> bool {
        if c.kind == ContainerKind::Sidecar {
            return true;
        }
        if c.restart_policy.is_some() && c.restart_rules.iter().any(|r| r.matches(exit_code)) {
            return true;
        }
        self.policy_for(c).restarts_after(exit_code)
    }

    /// The effective policy for a regular or init container.
    pub fn policy_for(&self, c: &ContainerPlan) -> RestartPolicy {
        match c.kind {
            ContainerKind::Sidecar => RestartPolicy::Always,
            // A successful init container never re-runs, so pod `Always`
            // behaves like `OnFailure` for init containers.
            ContainerKind::Init => match c.restart_policy.unwrap_or(self.restart_policy) {
                RestartPolicy::Always => RestartPolicy::OnFailure,
                p => p,
            },
            ContainerKind::Regular => c.restart_policy.unwrap_or(self.restart_policy),
        }
    }
}

/// Why a validated pod could not be resolved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A field the resolver needs is missing; validation should have caught it.
    #[error("{path}: {message}")]
    Field {
        /// The field path, e.g. `spec.containers[0].image`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Resolves a validated pod. `base_dir` is where relative image paths start.
///
/// # Errors
/// [`PlanError::Field`] if a required field is missing (validation in
/// [`crate::spec`] reports these with YAML lines first).
pub fn resolve(pod: &Pod, base_dir: &Path) -> Result<PodPlan, PlanError> {
    resolve_at(pod, base_dir, PodAddress::default())
}

/// [`resolve`] for a pod with an address in a cluster network: its environment shows
/// its IP (`status.podIP`) and the Service variables.
///
/// # Errors
/// As [`resolve`].
pub fn resolve_at(pod: &Pod, base_dir: &Path, address: PodAddress) -> Result<PodPlan, PlanError> {
    let meta = &pod.metadata;
    let name = meta
        .name
        .clone()
        .or_else(|| {
            meta.generate_name
                .as_ref()
                .map(|g| format!("{g}{}", short_id()))
        })
        .ok_or_else(|| field("metadata.name", "Required value"))?;
    let namespace = meta.namespace.clone().unwrap_or_else(|| "default".into());
    let uid = meta.uid.clone().unwrap_or_else(new_uid);
    let spec = pod
        .spec
        .as_ref()
        .ok_or_else(|| field("spec", "Required value"))?;
    let restart_policy = spec
        .restart_policy
        .as_deref()
        .map(|p| {
            RestartPolicy::parse(p).ok_or_else(|| field("spec.restartPolicy", "Unsupported value"))
        })
        .transpose()?
        .unwrap_or_default();
    let hostname = spec.hostname.clone().unwrap_or_else(|| name.clone());
    let ctx = PodContext {
        name: &name,
        namespace: &namespace,
        uid: &uid,
        hostname: &hostname,
        pod,
        base_dir,
        address: &address,
    };

    let init_containers = spec
        .init_containers
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let kind = if c.restart_policy.as_deref() == Some("Always") {
                ContainerKind::Sidecar
            } else {
                ContainerKind::Init
            };
            resolve_container(&ctx, c, kind, &format!("spec.initContainers[{i}]"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let containers = spec
        .containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            resolve_container(
                &ctx,
                c,
                ContainerKind::Regular,
                &format!("spec.containers[{i}]"),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let volumes = spec
        .volumes
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, v)| {
            let source = if let Some(e) = &v.empty_dir {
                VolumeSource::EmptyDir {
                    memory: e.medium.as_deref() == Some("Memory"),
                    // A zero limit is no limit (`size.Sign() == 1`).
                    size_limit: e
                        .size_limit
                        .as_ref()
                        .and_then(|q| SizeLimit::parse(&q.0))
                        .filter(|l| l.bytes > 0),
                }
            } else if let Some(h) = &v.host_path {
                VolumeSource::HostPath {
                    path: PathBuf::from(&h.path),
                    kind: h.type_.clone().unwrap_or_default(),
                }
            } else if let Some(source) = projection::source(v) {
                source
            } else {
                return Err(field(
                    &format!("spec.volumes[{i}]"),
                    "volume type not supported",
                ));
            };
            Ok(VolumePlan {
                name: v.name.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let grace_period =
        Duration::from_secs(spec.termination_grace_period_seconds.unwrap_or(30).max(0) as u64);
    Ok(PodPlan {
        name,
        namespace,
        uid,
        hostname,
        host_aliases: spec
            .host_aliases
            .iter()
            .flatten()
            .filter_map(|a| Some((a.ip.parse().ok()?, a.hostnames.clone().unwrap_or_default())))
            .collect(),
        dns: PodDns::of(spec),
        restart_policy,
        grace_period,
        init_containers,
        containers,
        volumes,
        active_deadline: spec
            .active_deadline_seconds
            .map(|s| Duration::from_secs(s.max(0) as u64)),
        readiness_gates: spec
            .readiness_gates
            .iter()
            .flatten()
            .map(|g| g.condition_type.clone())
            .collect(),
        address: address.clone(),
        pod: pod.clone(),
    })
}

struct PodContext<'a> {
    name: &'a str,
    namespace: &'a str,
    uid: &'a str,
    hostname: &'a str,
    pod: &'a Pod,
    base_dir: &'a Path,
    address: &'a PodAddress,
}

impl PodContext<'_> {
    fn fields(&self) -> expand::PodFields<'_> {
        expand::PodFields {
            name: self.name,
            namespace: self.namespace,
            uid: self.uid,
            pod: self.pod,
            pod_ip: self.address.ip,
            service_env: &self.address.service_env,
        }
    }
}

fn resolve_container(
    ctx: &PodContext<'_>,
    c: &Container,
    kind: ContainerKind,
    path: &str,
) -> Result<ContainerPlan, PlanError> {
    let image = c
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| field(&format!("{path}.image"), "Required value"))?;
    let source = resolve_image(&image, ctx.base_dir);
    let pull_policy = match &source {
        ImageSource::Registry(r) => PullPolicy::resolve(c.image_pull_policy.as_deref(), r),
        _ => PullPolicy::IfNotPresent,
    };
    let env::StartEnv { env, argv } =
        env::build(&ctx.fields(), ctx.hostname, c, path, &source, None).map_err(|e| match e {
            env::EnvError::Expand(e) => field(&e.path, &e.message),
            env::EnvError::Config(m) => field(&format!("{path}.env"), &m),
        })?;

    let mounts = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| MountPlan {
            volume: m.name.clone(),
            mount_path: m.mount_path.clone(),
            read_only: m.read_only.unwrap_or(false),
            sub_path: m.sub_path.clone().filter(|s| !s.is_empty()),
            sub_path_expr: m.sub_path_expr.clone().filter(|s| !s.is_empty()),
        })
        .collect();
    let restart_policy = match kind {
        ContainerKind::Sidecar => None,
        _ => c.restart_policy.as_deref().and_then(RestartPolicy::parse),
    };
    let ports: Vec<(String, u16)> = c
        .ports
        .iter()
        .flatten()
        .filter_map(|p| Some((p.name.clone()?, u16::try_from(p.container_port).ok()?)))
        .collect();
    let probe = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref().and_then(|p| resolve_probe(p, &ports))
    };
    Ok(ContainerPlan {
        name: c.name.clone(),
        kind,
        image,
        source,
        pull_policy,
        pulled: None,
        argv,
        env,
        reads_objects: env::reads_objects(c),
        working_dir: c.working_dir.clone(),
        read_only_root: c
            .security_context
            .as_ref()
            .and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false),
        mounts,
        restart_policy,
        restart_rules: c
            .restart_policy_rules
            .iter()
            .flatten()
            .filter(|r| r.action == "Restart")
            .filter_map(|r| r.exit_codes.as_ref())
            .map(|e| RestartRule {
                operator_in: e.operator == "In",
                values: e.values.clone().unwrap_or_default(),
            })
            .collect(),
        termination_message_path: c
            .termination_message_path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/dev/termination-log".into()),
        fallback_to_logs_on_error: c.termination_message_policy.as_deref()
            == Some("FallbackToLogsOnError"),
        memory_limit: c
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref()?.get("memory"))
            .and_then(|q| u64::try_from(quantity_value(&q.0).ok()?).ok()),
        ephemeral_storage_limit: c
            .resources
            .as_ref()
            .and_then(|r| r.limits.as_ref()?.get("ephemeral-storage"))
            .and_then(|q| SizeLimit::parse(&q.0)),
        cpu_limit_millis: crate::spec::quantity::cpu_millis(c, false),
        cpu_request_millis: crate::spec::quantity::cpu_millis(c, true)
            .or_else(|| crate::spec::quantity::cpu_millis(c, false)),
        probes: if kind == ContainerKind::Init {
            Probes::default()
        } else {
            Probes {
                startup: probe(&c.startup_probe),
                liveness: probe(&c.liveness_probe),
                readiness: probe(&c.readiness_probe),
            }
        },
        hooks: match (&c.lifecycle, kind) {
            (Some(l), ContainerKind::Regular | ContainerKind::Sidecar) => Hooks {
                post_start: l.post_start.as_ref().and_then(|h| resolve_hook(h, &ports)),
                pre_stop: l.pre_stop.as_ref().and_then(|h| resolve_hook(h, &ports)),
            },
            _ => Hooks::default(),
        },
    })
}

fn field(path: &str, message: &str) -> PlanError {
    PlanError::Field {
        path: path.to_string(),
        message: message.to_string(),
    }
}

/// A random UUID, like the API server assigns.
fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Five lowercase alphanumerics, like `generateName` suffixes.
fn short_id() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..5]
        .iter()
        .map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char)
        .collect()
}
