//! Kubernetes' validation rules for the Pod fields wasmpod reads.
//!
//! The rules and their wording follow `k8s.io/kubernetes/pkg/apis/core/validation` (and
//! `k8s.io/apimachinery/pkg/util/validation`), so a manifest wasmpod accepts is one the API
//! server would accept too, and the messages are the ones Kubernetes users already know.
//! Deliberate differences, all stricter because of how wasmpod runs containers:
//!
//! * `mountPath`, `workingDir` and `terminationMessagePath` must be absolute and have no `..`
//!   element (they become WASI preopens, the cwd, and a file the host creates under the
//!   container's private root: a `..` would reach outside it); `hostPath.path` and `subPath`
//!   have no `..` element, as the API server requires;
//! * the expanded `env`, `command` and `args` of a container must fit what `execve` accepts
//!   (`MAX_ARG_STRLEN`, `ARG_MAX`; see `expand::expansion_problems`), so a `$(VAR)` doubling
//!   chain is refused instead of filling memory;
//! * a volume of a type other than `emptyDir`, `hostPath`, `configMap`, `secret`,
//!   `downwardAPI` or `projected` is an **error** (`volume type nfs is not supported yet ...`,
//!   from the `fields.rs` table), and so are the `serviceAccountToken`, `clusterTrustBundle`
//!   and `podCertificate` projections (no API server issues them): a pod whose mount could
//!   never be set up is better refused before anything starts than half started;
//! * in `configMap`, `secret`, `downwardAPI` and `projected` volumes and in env from them
//!   (`sources.rs`), item paths are unique in every volume type and a
//!   `resourceFieldRef.containerName` must name a container of the pod; `mode` and
//!   `defaultMode` are checked and accepted, but WASI has no file modes;
//! * container-level `restartPolicy` is allowed on regular containers (`Always`, `OnFailure`,
//!   `Never`: KEP-5307 container restart rules), not only on init containers.
//!
//! Every check runs; problems are collected, never returned one at a time.

use std::collections::{HashMap, HashSet};

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod, Volume};

use super::error::formats::{dns1123_label, dns1123_subdomain, port_name};
use super::error::{Diagnostic, SpecError, msg};
use super::{PodDocument, fields, sources};

mod dns;
mod volumes;

/// Validates one parsed Pod.
///
/// `Ok` carries the warnings: fields that are valid Kubernetes but not honoured by wasmpod
/// yet (e.g. `spec.containers[0].livenessProbe (line 20): not honoured by wasmpod yet;
/// ignored`). `Err` is [`SpecError::Invalid`] listing every problem found, ordered by line:
/// unknown fields, rule violations, unsupported volume types.
///
/// # Example
///
/// ```
/// let yaml = "\
/// apiVersion: v1
/// kind: Pod
/// metadata: {name: web}
/// spec:
///   restartPolicy: Sometimes
///   containers:
///   - name: app
///     image: app.wasm
///   - name: app
/// ";
/// let file = wasmpod::spec::parse(yaml).unwrap();
/// let err = wasmpod::spec::validate(&file.pods[0]).unwrap_err();
/// let wasmpod::spec::SpecError::Invalid { problems, .. } = err else { unreachable!() };
/// let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
/// assert_eq!(shown, [
///     r#"spec.restartPolicy (line 5): Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#,
///     r#"spec.containers[1].name (line 9): Duplicate value: "app""#,
///     "spec.containers[1].image (line 9): Required value",
/// ]);
/// ```
pub fn validate(doc: &PodDocument) -> Result<Vec<Diagnostic>, SpecError> {
    let typed = serde_json::to_value(&doc.pod).unwrap_or(serde_json::Value::Null);
    let (field_errors, warnings) = fields::classify(&typed, &doc.locator);
    let mut v = Checker {
        doc,
        problems: doc.strict_problems.clone(),
    };
    v.problems.extend(field_errors);
    v.pod(&doc.pod);
    for (path, message) in super::expand::expansion_problems(&doc.pod) {
        v.add(path, message);
    }
    if v.problems.is_empty() {
        let mut warnings = warnings;
        super::in_item(doc.item, &mut warnings);
        return Ok(warnings);
    }
    let mut problems = v.problems;
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX)); // stable: same line keeps rule order
    super::in_item(doc.item, &mut problems);
    Err(SpecError::Invalid {
        pod: doc.display_name(),
        problems,
    })
}

/// The API server's `TotalAnnotationSizeLimitB`: 256 KiB of annotation keys and values.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;
const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const TERMINATION_MESSAGE_POLICIES: &[&str] = &["FallbackToLogsOnError", "File"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const RESTART_RULE_ACTIONS: &[&str] = &["Restart"];
const EXIT_CODE_OPERATORS: &[&str] = &["In", "NotIn"];
const NOT_RESTARTABLE_INIT: &str =
    "may not be set for init containers without restartPolicy=Always";

struct Checker<'a> {
    doc: &'a PodDocument,
    problems: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn add(&mut self, path: impl Into<String>, message: String) {
        let problem = self.doc.problem(path.into(), message);
        self.problems.push(problem);
    }

    fn one_of(&mut self, path: impl Into<String>, value: Option<&str>, allowed: &[&str]) {
        if let Some(value) = value.filter(|v| !allowed.contains(v)) {
            self.add(path, msg::not_supported(value, allowed));
        }
    }

    fn absolute(&mut self, path: impl Into<String>, value: &str) {
        if !value.starts_with('/') {
            self.add(
                path,
                msg::invalid(&msg::quote(value), "must be an absolute path"),
            );
        }
    }

    /// `validatePathNoBacksteps`: no `..` element, so that joining the path under a root can
    /// never leave it.
    fn no_backsteps(&mut self, path: impl Into<String>, value: &str) {
        if value.split('/').any(|part| part == "..") {
            self.add(
                path,
                msg::invalid(&msg::quote(value), "must not contain '..'"),
            );
        }
    }

    /// An absolute path with no `..` element (`mountPath`, `terminationMessagePath`,
    /// `workingDir`): each becomes a path under the container's private root.
    fn absolute_descending(&mut self, path: String, value: &str) {
        self.absolute(path.clone(), value);
        self.no_backsteps(path, value);
    }

    fn name_rule(&mut self, path: &str, value: &str, errors: Vec<String>) {
        for e in errors {
            self.add(path, msg::invalid(&msg::quote(value), &e));
        }
    }

    fn pod(&mut self, pod: &Pod) {
        let meta = &pod.metadata;
        let name = meta.name.as_deref().unwrap_or("");
        let generate = meta.generate_name.as_deref().unwrap_or("");
        if name.is_empty() && generate.is_empty() {
            self.add(
                "metadata.name",
                msg::required("name or generateName is required"),
            );
        }
        if !name.is_empty() {
            self.name_rule("metadata.name", name, dns1123_subdomain(name));
        }
        if !generate.is_empty() {
            // A prefix may end in '-' (Kubernetes' maskTrailingDash).
            let masked = generate
                .strip_suffix('-')
                .map_or_else(|| generate.to_owned(), |g| format!("{g}a"));
            self.name_rule(
                "metadata.generateName",
                generate,
                dns1123_subdomain(&masked),
            );
        }
        if let Some(ns) = meta.namespace.as_deref().filter(|n| !n.is_empty()) {
            self.name_rule("metadata.namespace", ns, dns1123_label(ns));
        }

        // `ValidateAnnotationsSize`: keys and values together.
        let annotations: usize = meta
            .annotations
            .iter()
            .flatten()
            .map(|(k, v)| k.len() + v.len())
            .sum();
        if annotations > MAX_ANNOTATIONS_BYTES {
            self.add(
                "metadata.annotations",
                format!("Too long: may not be more than {MAX_ANNOTATIONS_BYTES} bytes"),
            );
        }

        let Some(spec) = &pod.spec else {
            self.add("spec.containers", msg::required(""));
            return;
        };
        self.one_of(
            "spec.restartPolicy",
            spec.restart_policy.as_deref().filter(|p| !p.is_empty()),
            RESTART_POLICIES,
        );
        self.one_of(
            "spec.dnsPolicy",
            spec.dns_policy.as_deref().filter(|p| !p.is_empty()),
            DNS_POLICIES,
        );
        if let Some(seconds) = spec.termination_grace_period_seconds.filter(|s| *s < 0) {
            self.add(
                "spec.terminationGracePeriodSeconds",
                msg::invalid(&seconds.to_string(), "must be greater than or equal to 0"),
            );
        }
        for (path, value) in [
            ("spec.hostname", &spec.hostname),
            ("spec.subdomain", &spec.subdomain),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                self.name_rule(path, v, dns1123_label(v));
            }
        }
        self.dns(spec);
        // `ValidateHostAliases`.
        for (i, alias) in spec.host_aliases.iter().flatten().enumerate() {
            let path = format!("spec.hostAliases[{i}]");
            if alias.ip.parse::<std::net::IpAddr>().is_err() {
                self.add(
                    format!("{path}.ip"),
                    msg::invalid(
                        &msg::quote(&alias.ip),
                        "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                    ),
                );
            }
            for (j, name) in alias.hostnames.iter().flatten().enumerate() {
                self.name_rule(
                    &format!("{path}.hostnames[{j}]"),
                    name,
                    dns1123_subdomain(name),
                );
            }
        }

        let init = spec.init_containers.as_deref().unwrap_or_default();
        let all: HashSet<&str> = init
            .iter()
            .chain(&spec.containers)
            .map(|c| c.name.as_str())
            .collect();
        let volumes = self.volumes(spec.volumes.as_deref().unwrap_or_default(), &all);
        if spec.containers.is_empty() {
            self.add("spec.containers", msg::required(""));
        }
        let mut names = HashSet::new();
        for (list, containers) in [
            ("initContainers", init),
            ("containers", &spec.containers[..]),
        ] {
            for (i, c) in containers.iter().enumerate() {
                let base = format!("spec.{list}[{i}]");
                if !c.name.is_empty() && !names.insert(c.name.as_str()) {
                    self.add(format!("{base}.name"), msg::duplicate(&c.name));
                }
                self.container(&base, c, list == "initContainers", &volumes, &all);
            }
        }
    }

    fn container(
        &mut self,
        base: &str,
        c: &Container,
        init: bool,
        volumes: &HashMap<&str, &Volume>,
        containers: &HashSet<&str>,
    ) {
        if c.name.is_empty() {
            self.add(format!("{base}.name"), msg::required(""));
        } else {
            self.name_rule(&format!("{base}.name"), &c.name, dns1123_label(&c.name));
        }
        if c.image.as_deref().is_none_or(|i| i.trim().is_empty()) {
            self.add(format!("{base}.image"), msg::required(""));
        }
        self.one_of(
            format!("{base}.imagePullPolicy"),
            c.image_pull_policy.as_deref(),
            PULL_POLICIES,
        );
        self.one_of(
            format!("{base}.terminationMessagePolicy"),
            c.termination_message_policy.as_deref(),
            TERMINATION_MESSAGE_POLICIES,
        );
        if let Some(dir) = c.working_dir.as_deref().filter(|d| !d.is_empty()) {
            self.absolute_descending(format!("{base}.workingDir"), dir);
        }
        // The API server defaults it and requires nothing more; here it is a file created under
        // the container's private root, so it must stay inside it.
        if let Some(file) = c
            .termination_message_path
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            self.absolute_descending(format!("{base}.terminationMessagePath"), file);
        }

        // Restart policy and rules (sidecars: init containers with restartPolicy Always).
        let policy = c.restart_policy.as_deref();
        self.one_of(format!("{base}.restartPolicy"), policy, RESTART_POLICIES);
        let sidecar = init && policy == Some("Always");
        let rules = c.restart_policy_rules.as_deref().unwrap_or_default();
        if !rules.is_empty() {
            let path = format!("{base}.restartPolicyRules");
            if sidecar {
                self.add(
                    path.clone(),
                    msg::forbidden("may not be set for a restartable init container"),
                );
            }
            if policy.is_none() {
                self.add(
                    format!("{base}.restartPolicy"),
                    msg::required("must be set when restartPolicyRules is set"),
                );
            }
            for (i, rule) in rules.iter().enumerate() {
                let rule_path = format!("{path}[{i}]");
                if rule.action.is_empty() {
                    self.add(format!("{rule_path}.action"), msg::required(""));
                }
                self.one_of(
                    format!("{rule_path}.action"),
                    Some(&rule.action)
                        .filter(|a| !a.is_empty())
                        .map(String::as_str),
                    RESTART_RULE_ACTIONS,
                );
                if let Some(codes) = &rule.exit_codes {
                    self.one_of(
                        format!("{rule_path}.exitCodes.operator"),
                        Some(codes.operator.as_str()),
                        EXIT_CODE_OPERATORS,
                    );
                }
            }
        }
        if init && !sidecar {
            for (field, set) in [
                ("lifecycle", c.lifecycle.is_some()),
                ("livenessProbe", c.liveness_probe.is_some()),
                ("readinessProbe", c.readiness_probe.is_some()),
                ("startupProbe", c.startup_probe.is_some()),
            ] {
                if set {
                    self.add(
                        format!("{base}.{field}"),
                        msg::forbidden(NOT_RESTARTABLE_INIT),
                    );
                }
            }
        }

        for (i, env) in c.env.as_deref().unwrap_or_default().iter().enumerate() {
            self.env(&format!("{base}.env[{i}]"), env, &c.name, containers);
        }
        for (path, message) in sources::env_from(base, c) {
            self.add(path, message);
        }
        self.mounts(base, c, volumes);
        self.ports(base, c);
        for (path, message) in super::handlers::check(base, c) {
            self.add(path, message);
        }
        self.resources(base, c);
    }

    /// Quantities in `resources.limits` and `resources.requests` parse and
    /// are not negative.
    fn resources(&mut self, base: &str, c: &Container) {
        let Some(r) = &c.resources else { return };
        for (kind, map) in [("limits", &r.limits), ("requests", &r.requests)] {
            for (name, q) in map.iter().flatten() {
                let problem = match super::quantity::quantity_value(&q.0) {
                    Err(format) => format,
                    Ok(v) if v < 0 => "must be greater than or equal to 0".into(),
                    Ok(_) => continue,
                };
                self.add(
                    format!("{base}.resources.{kind}.{name}"),
                    msg::invalid(&msg::quote(&q.0), &problem),
                );
            }
        }
    }

    fn env(&mut self, base: &str, env: &EnvVar, this: &str, containers: &HashSet<&str>) {
        if env.name.is_empty() {
            self.add(format!("{base}.name"), msg::required(""));
        } else if let Some(e) = sources::relaxed_env_name(&env.name) {
            self.add(
                format!("{base}.name"),
                msg::invalid(&msg::quote(&env.name), e),
            );
        }
        let Some(from) = &env.value_from else { return };
        let path = format!("{base}.valueFrom");
        let sources = [
            from.field_ref.is_some(),
            from.resource_field_ref.is_some(),
            from.config_map_key_ref.is_some(),
            from.secret_key_ref.is_some(),
            from.file_key_ref.is_some(),
        ]
        .into_iter()
        .filter(|s| *s)
        .count();
        if sources == 0 {
            self.add(path.clone(), msg::invalid("\"\"", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"));
        } else if env.value.as_deref().is_some_and(|v| !v.is_empty()) {
            self.add(
                path.clone(),
                msg::invalid("\"\"", "may not be specified when `value` is not empty"),
            );
        } else if sources > 1 {
            self.add(
                path.clone(),
                msg::invalid(
                    "\"\"",
                    "may not have more than one field specified at a time",
                ),
            );
        }
        for (path, message) in sources::value_from(&path, from, this, containers) {
            self.add(path, message);
        }
    }

    fn ports(&mut self, base: &str, c: &Container) {
        let mut names = HashSet::new();
        for (i, p) in c.ports.as_deref().unwrap_or_default().iter().enumerate() {
            let path = format!("{base}.ports[{i}]");
            if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                let errors = port_name(name);
                if !errors.is_empty() {
                    self.name_rule(&format!("{path}.name"), name, errors);
                } else if !names.insert(name) {
                    self.add(format!("{path}.name"), msg::duplicate(name));
                }
            }
            if p.container_port == 0 {
                self.add(format!("{path}.containerPort"), msg::required(""));
            } else if !(1..=65535).contains(&p.container_port) {
                self.add(
                    format!("{path}.containerPort"),
                    msg::invalid(
                        &p.container_port.to_string(),
                        "must be between 1 and 65535, inclusive",
                    ),
                );
            }
            if let Some(host) = p.host_port.filter(|h| *h != 0 && !(1..=65535).contains(h)) {
                self.add(
                    format!("{path}.hostPort"),
                    msg::invalid(&host.to_string(), "must be between 1 and 65535, inclusive"),
                );
            }
            self.one_of(format!("{path}.protocol"), p.protocol.as_deref(), PROTOCOLS);
        }
    }
}
