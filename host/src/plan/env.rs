//! A container's environment and argv, as the kubelet builds them before each start
//! (`makeEnvironmentVariables`, then `ExpandContainerCommandAndArgs`): `envFrom` first,
//! then `env` in order, each `$(VAR)` in a value expanded against what came before, then
//! `command` and `args` against the whole.
//!
//! Values from ConfigMaps and Secrets are read at every start, so a container that names
//! one that is missing waits (`CreateContainerConfigError`) until it is applied. When the
//! pod is resolved ([`super::resolve`]) they are left out; [`PodPlan::start_env`] fills
//! them in.

use k8s_openapi::api::core::v1::{Container, EnvVar};

use super::config::{ConfigObjects, ObjectKind};
use super::resources::{NodeResources, resource_value};
use super::{ContainerPlan, ImageSource, PodPlan};
use crate::spec::expand::{self, ExpandError, PodFields};

/// A container's environment and argv for one start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartEnv {
    /// The environment, in order.
    pub env: Vec<(String, String)>,
    /// The argv.
    pub argv: Vec<String>,
}

/// Why a container's environment could not be built.
#[derive(Debug)]
pub(crate) enum EnvError {
    /// An execve limit was broken after expansion (the field and the message).
    Expand(ExpandError),
    /// A ConfigMap, Secret or key is missing, with the kubelet's message.
    Config(String),
}

impl From<ExpandError> for EnvError {
    fn from(e: ExpandError) -> Self {
        EnvError::Expand(e)
    }
}

impl EnvError {
    /// The message a container waiting with `CreateContainerConfigError` shows.
    fn message(self) -> String {
        match self {
            EnvError::Expand(e) => format!("{}: {}", e.path, e.message),
            EnvError::Config(m) => m,
        }
    }
}

/// Whether a container reads env from ConfigMaps or Secrets (then it is built at each start).
pub(crate) fn reads_objects(c: &Container) -> bool {
    c.env_from.as_ref().is_some_and(|e| !e.is_empty())
        || c.env.iter().flatten().any(|v| {
            v.value_from
                .as_ref()
                .is_some_and(|f| f.config_map_key_ref.is_some() || f.secret_key_ref.is_some())
        })
}

/// Builds the environment and argv of `c`. With `objects` `None`, values from ConfigMaps
/// and Secrets are left out (unset).
pub(crate) fn build(
    fields: &PodFields<'_>,
    hostname: &str,
    c: &Container,
    path: &str,
    source: &ImageSource,
    objects: Option<&ConfigObjects>,
) -> Result<StartEnv, EnvError> {
    let namespace = fields.namespace;
    // The Service variables come first: the container's own override them.
    let mut env_from_all = fields.service_env.to_vec();
    if let Some(objects) = objects {
        env_from_all.extend(env_from(c, namespace, objects)?);
    }
    let env_from = env_from_all;
    let containers = || {
        let spec = fields.pod.spec.as_ref();
        spec.into_iter()
            .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
    };
    let expanded = expand::expand_container(c, path, hostname, &env_from, |var: &EnvVar| {
        let Some(from) = &var.value_from else {
            return Ok(Some(var.value.clone().unwrap_or_default()));
        };
        if let Some(r) = &from.config_map_key_ref {
            return key_ref(
                objects,
                ObjectKind::ConfigMap,
                namespace,
                &r.name,
                &r.key,
                r.optional,
            );
        }
        if let Some(r) = &from.secret_key_ref {
            return key_ref(
                objects,
                ObjectKind::Secret,
                namespace,
                &r.name,
                &r.key,
                r.optional,
            );
        }
        if let Some(r) = &from.resource_field_ref {
            let target = match r.container_name.as_deref().filter(|n| !n.is_empty()) {
                Some(name) => containers().find(|x| x.name == name).unwrap_or(c),
                None => c,
            };
            return resource_value(target, r, &NodeResources::host())
                .map(Some)
                .map_err(EnvError::Config);
        }
        // Validation refuses the field paths this does not know.
        Ok(Some(expand::env_value(fields, var).unwrap_or_default()))
    })?;
    let expand::Expanded { env, command, args } = expanded;
    let default_argv = || match source {
        ImageSource::Builtin(b) => b.default_argv(),
        ImageSource::File(p) => vec![
            p.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ],
        // argv[0] of a pulled image: the repository's last path element.
        ImageSource::Registry(r) => vec![
            r.repository
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
        ],
        ImageSource::Invalid { .. } => Vec::new(),
    };
    let argv = match (command.is_empty(), args.is_empty()) {
        (false, _) => command.into_iter().chain(args).collect(),
        (true, false) => default_argv().into_iter().take(1).chain(args).collect(),
        (true, true) => default_argv(),
    };
    Ok(StartEnv {
        env: env.vars().to_vec(),
        argv,
    })
}

/// `envFrom`: every source's keys, prefixed, later sources overriding earlier ones.
fn env_from(
    c: &Container,
    namespace: &str,
    objects: &ConfigObjects,
) -> Result<Vec<(String, String)>, EnvError> {
    let mut out = expand::Environment::default();
    for source in c.env_from.iter().flatten() {
        let (kind, name, optional) = match (&source.config_map_ref, &source.secret_ref) {
            (Some(r), _) => (ObjectKind::ConfigMap, &r.name, r.optional),
            (None, Some(r)) => (ObjectKind::Secret, &r.name, r.optional),
            (None, None) => continue,
        };
        let Some(data) = objects.data(kind, namespace, name) else {
            if optional == Some(true) {
                continue;
            }
            return Err(EnvError::Config(kind.not_found(name)));
        };
        let prefix = source.prefix.as_deref().unwrap_or_default();
        for (k, v) in data.env_pairs() {
            out.set(&format!("{prefix}{k}"), v);
        }
    }
    Ok(out.vars().to_vec())
}

/// `configMapKeyRef` / `secretKeyRef`: the value, `None` when optional and missing.
fn key_ref(
    objects: Option<&ConfigObjects>,
    kind: ObjectKind,
    namespace: &str,
    name: &str,
    key: &str,
    optional: Option<bool>,
) -> Result<Option<String>, EnvError> {
    let Some(objects) = objects else {
        return Ok(None);
    };
    let optional = optional == Some(true);
    let Some(data) = objects.data(kind, namespace, name) else {
        return if optional {
            Ok(None)
        } else {
            Err(EnvError::Config(kind.not_found(name)))
        };
    };
    match data.env_value(key) {
        Some(v) => Ok(Some(v)),
        None if optional => Ok(None),
        None => Err(EnvError::Config(format!(
            "couldn't find key {key} in {} {namespace}/{name}",
            kind.as_str()
        ))),
    }
}

impl PodPlan {
    /// The environment and argv of `c` for its next start, with the current ConfigMaps and
    /// Secrets. `Err` is the message of a container waiting with `CreateContainerConfigError`
    /// (`configmap "x" not found`, `couldn't find key k in Secret default/x`).
    pub fn start_env(
        &self,
        c: &ContainerPlan,
        objects: &ConfigObjects,
    ) -> Result<StartEnv, String> {
        if !c.reads_objects {
            return Ok(StartEnv {
                env: c.env.clone(),
                argv: c.argv.clone(),
            });
        }
        let spec = self.pod.spec.as_ref();
        let (path, raw) = spec
            .into_iter()
            .flat_map(|s| {
                let init = s.init_containers.iter().flatten().enumerate();
                let init = init.map(|(i, c)| (format!("spec.initContainers[{i}]"), c));
                let regular = s.containers.iter().enumerate();
                init.chain(regular.map(|(i, c)| (format!("spec.containers[{i}]"), c)))
            })
            .find(|(_, raw)| raw.name == c.name)
            .ok_or_else(|| format!("container {} is not in the pod", c.name))?;
        let fields = PodFields {
            name: &self.name,
            namespace: &self.namespace,
            uid: &self.uid,
            pod: &self.pod,
            pod_ip: self.address.ip,
            service_env: &self.address.service_env,
        };
        let start = build(
            &fields,
            &self.hostname,
            raw,
            &path,
            &c.source,
            Some(objects),
        )
        .map_err(EnvError::message)?;
        // A compat image's Entrypoint, Cmd and Env, as when the pod was created.
        Ok(match c.pulled.as_ref().and_then(|p| p.config.as_ref()) {
            Some(config) => {
                let overrides = super::image::overrides(&self.pod, &c.name);
                ContainerPlan::with_image(config, &overrides, start).0
            }
            None => start,
        })
    }

    /// Every ConfigMap and Secret the pod needs that `objects` lacks, every missing key
    /// (optional references left out), and every `subPathExpr` that cannot expand, each as
    /// the kubelet's message, sorted and without repeats: what `wasmpod run`, where nothing
    /// can change, reports before anything runs.
    pub fn missing_references(&self, objects: &ConfigObjects) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        let spec = self.pod.spec.as_ref();
        let containers = spec
            .into_iter()
            .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers));
        for c in containers {
            for source in c.env_from.iter().flatten() {
                let (kind, name, optional) = match (&source.config_map_ref, &source.secret_ref) {
                    (Some(r), _) => (ObjectKind::ConfigMap, &r.name, r.optional),
                    (None, Some(r)) => (ObjectKind::Secret, &r.name, r.optional),
                    (None, None) => continue,
                };
                if optional != Some(true) && objects.data(kind, &self.namespace, name).is_none() {
                    out.insert(kind.not_found(name));
                }
            }
            for var in c.env.iter().flatten() {
                let Some(from) = &var.value_from else {
                    continue;
                };
                let (kind, r) = match (&from.config_map_key_ref, &from.secret_key_ref) {
                    (Some(r), _) => (ObjectKind::ConfigMap, (&r.name, &r.key, r.optional)),
                    (None, Some(r)) => (ObjectKind::Secret, (&r.name, &r.key, r.optional)),
                    (None, None) => continue,
                };
                let (name, key, optional) = r;
                if let Err(EnvError::Config(m)) =
                    key_ref(Some(objects), kind, &self.namespace, name, key, optional)
                {
                    out.insert(m);
                }
            }
        }
        for v in &self.volumes {
            if let Err(problems) = self.volume_payload(v, objects) {
                for message in problems {
                    out.insert(format!("volume {:?}: {message}", v.name));
                }
            }
        }
        // A `subPathExpr` that cannot expand from its container's environment (where that
        // can be built): the container would wait with `CreateContainerConfigError` too.
        for c in self.init_containers.iter().chain(&self.containers) {
            if let Ok(start) = self.start_env(c, objects)
                && let Err(message) = c.with_sub_path_exprs(&start.env)
            {
                out.insert(format!("container {:?}: {message}", c.name));
            }
        }
        out.into_iter().collect()
    }
}
