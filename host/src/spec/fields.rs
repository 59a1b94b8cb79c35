//! Which Pod fields wasmpod honours, and which fields exist at all.
//!
//! Two checks live here, both as walks over JSON trees:
//!
//! 1. **Unknown fields** ([`unknown_fields`]). `k8s-openapi` — like Go's `encoding/json` —
//!    silently drops keys it does not know, so `comand: [...]` would run the image's default
//!    command without a word. `kubectl apply` rejects such a manifest (server-side strict field
//!    validation), and so do we: the document as written is compared with the typed `Pod`
//!    serialised back to JSON, and every key that did not survive is an error
//!    `unknown field "comand"`. The same walk catches scalars that serde_yaml quietly turned
//!    into strings (`value: 8080` → `"8080"`); the API server rejects those too.
//! 2. **Honoured fields** ([`classify`]). A manifest may use any of the hundreds of Pod fields,
//!    but the runtime only implements some. Silently ignoring a `livenessProbe` or a
//!    `securityContext` would make a pod *look* protected when it is not, so every present field
//!    that is not honoured yet produces a warning (or, for volume types, an error). The policy
//!    is the [`RULES`] table: moving a field from "warn" to "honoured" is a one-line change.

use serde_json::Value;

use super::error::{Diagnostic, msg};
use super::locate::{Locator, Seg, display_path};

/// What wasmpod does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Treatment {
    /// Implemented; the walk goes on into the value's fields, which need their own rules.
    Honoured,
    /// Accepted as a whole (the field and everything under it), no diagnostic: either
    /// implemented, or server-side bookkeeping with no meaning for a local run.
    Accepted,
    /// Present but not implemented: a warning with this message.
    Warn(&'static str),
    /// Present and cannot be run: an error with this message (`{key}` → the field's name).
    Reject(&'static str),
}

use Treatment::{Accepted, Honoured, Reject, Warn};

/// Warning for a field the runtime does not implement (yet).
pub(crate) const NOT_HONOURED: &str = "not honoured by wasmpod yet; ignored";

/// The policy table. Patterns are field paths where `[*]` matches any list index and a `*`
/// segment matches any key; the first matching rule wins; a field with no rule gets
/// [`NOT_HONOURED`]. Container rules are written for `spec.containers[*]` and also apply to
/// `spec.initContainers[*]` unless an `initContainers` rule matches first.
pub(crate) const RULES: &[(&str, Treatment)] = &[
    ("apiVersion", Accepted),
    ("kind", Accepted),
    ("metadata", Honoured),
    ("metadata.name", Accepted),
    ("metadata.generateName", Accepted),
    ("metadata.namespace", Accepted),
    ("metadata.labels", Accepted),
    ("metadata.annotations", Accepted),
    ("metadata.uid", Accepted),
    // Server-side bookkeeping, present in `kubectl get -o yaml` output: meaningless here.
    ("metadata.creationTimestamp", Accepted),
    ("metadata.resourceVersion", Accepted),
    ("metadata.managedFields", Accepted),
    ("metadata.ownerReferences", Accepted),
    ("metadata.finalizers", Accepted),
    (
        "status",
        Warn("set by the runtime, not by the manifest; ignored"),
    ),
    ("spec", Honoured),
    ("spec.containers", Honoured),
    ("spec.initContainers", Honoured),
    ("spec.volumes", Honoured),
    ("spec.restartPolicy", Accepted),
    // Registry images: the pull secrets are read from the file's Secrets; the runtime class
    // names runwasi's handler on a cluster, and wasmpod runs every container as Wasm anyway.
    ("spec.imagePullSecrets", Accepted),
    ("spec.runtimeClassName", Accepted),
    ("spec.terminationGracePeriodSeconds", Accepted),
    ("spec.activeDeadlineSeconds", Accepted),
    ("spec.readinessGates", Accepted),
    ("spec.hostname", Accepted),
    ("spec.hostAliases", Accepted),
    ("spec.dnsPolicy", Accepted),
    ("spec.dnsConfig", Accepted),
    // The pod's securityContext: each field warns, but what the sandbox already holds.
    ("spec.securityContext", Honoured),
    // Accepted no-ops: cluster concepts with nothing to do on one machine.
    ("spec.enableServiceLinks", Accepted),
    ("spec.schedulerName", Accepted),
    ("spec.priority", Accepted),
    ("spec.preemptionPolicy", Accepted),
    ("spec.serviceAccountName", Accepted),
    ("spec.serviceAccount", Accepted),
    (
        "spec.nodeName",
        Warn("has no effect: wasmpod runs the pod on this machine"),
    ),
    (
        "spec.tolerations",
        Warn("has no effect: wasmpod does no scheduling"),
    ),
    // Containers (init containers too).
    ("spec.containers[*].name", Accepted),
    ("spec.containers[*].image", Accepted),
    ("spec.containers[*].imagePullPolicy", Accepted), // honoured for registry images
    ("spec.containers[*].command", Accepted),
    ("spec.containers[*].args", Accepted),
    // Memory, CPU and ephemeral-storage limits are enforced; a CPU request is a weight.
    ("spec.containers[*].resources", Honoured),
    ("spec.containers[*].resources.requests", Accepted),
    ("spec.containers[*].resources.limits", Honoured),
    ("spec.containers[*].resources.limits.memory", Accepted),
    (
        "spec.containers[*].resources.limits.ephemeral-storage",
        Accepted,
    ),
    ("spec.containers[*].resources.limits.cpu", Accepted),
    ("spec.containers[*].workingDir", Accepted),
    ("spec.containers[*].restartPolicy", Accepted),
    ("spec.containers[*].restartPolicyRules", Accepted),
    ("spec.containers[*].terminationMessagePath", Accepted),
    ("spec.containers[*].terminationMessagePolicy", Accepted),
    ("spec.containers[*].env", Honoured),
    ("spec.containers[*].env[*].name", Accepted),
    ("spec.containers[*].env[*].value", Accepted),
    ("spec.containers[*].env[*].valueFrom", Honoured),
    ("spec.containers[*].env[*].valueFrom.fieldRef", Accepted),
    (
        "spec.containers[*].env[*].valueFrom.configMapKeyRef",
        Accepted,
    ),
    ("spec.containers[*].env[*].valueFrom.secretKeyRef", Accepted),
    (
        "spec.containers[*].env[*].valueFrom.resourceFieldRef",
        Accepted,
    ),
    ("spec.containers[*].envFrom", Accepted),
    // securityContext: what a Wasm guest's sandbox can enforce; the rest warns.
    ("spec.containers[*].securityContext", Honoured),
    (
        "spec.containers[*].securityContext.readOnlyRootFilesystem",
        Accepted,
    ),
    ("spec.containers[*].volumeMounts", Honoured),
    ("spec.containers[*].volumeMounts[*].name", Accepted),
    ("spec.containers[*].volumeMounts[*].mountPath", Accepted),
    ("spec.containers[*].volumeMounts[*].readOnly", Accepted),
    ("spec.containers[*].volumeMounts[*].subPath", Accepted),
    ("spec.containers[*].volumeMounts[*].subPathExpr", Accepted),
    // Probes: rules are written for livenessProbe and apply to all three.
    ("spec.containers[*].livenessProbe", Honoured),
    ("spec.containers[*].livenessProbe.exec", Accepted),
    ("spec.containers[*].livenessProbe.tcpSocket", Honoured),
    ("spec.containers[*].livenessProbe.tcpSocket.port", Accepted),
    ("spec.containers[*].livenessProbe.grpc", Honoured),
    ("spec.containers[*].livenessProbe.grpc.port", Accepted),
    ("spec.containers[*].livenessProbe.grpc.service", Accepted),
    ("spec.containers[*].livenessProbe.httpGet", Honoured),
    ("spec.containers[*].livenessProbe.httpGet.path", Accepted),
    ("spec.containers[*].livenessProbe.httpGet.port", Accepted),
    (
        "spec.containers[*].livenessProbe.httpGet.httpHeaders",
        Accepted,
    ),
    (
        "spec.containers[*].livenessProbe.initialDelaySeconds",
        Accepted,
    ),
    ("spec.containers[*].livenessProbe.periodSeconds", Accepted),
    ("spec.containers[*].livenessProbe.timeoutSeconds", Accepted),
    (
        "spec.containers[*].livenessProbe.successThreshold",
        Accepted,
    ),
    (
        "spec.containers[*].livenessProbe.failureThreshold",
        Accepted,
    ),
    (
        "spec.containers[*].livenessProbe.terminationGracePeriodSeconds",
        Accepted,
    ),
    // Lifecycle hooks: rules are written for postStart and apply to preStop.
    ("spec.containers[*].lifecycle", Honoured),
    ("spec.containers[*].lifecycle.postStart", Honoured),
    ("spec.containers[*].lifecycle.postStart.exec", Accepted),
    ("spec.containers[*].lifecycle.postStart.sleep", Accepted),
    ("spec.containers[*].lifecycle.postStart.httpGet", Honoured),
    (
        "spec.containers[*].lifecycle.postStart.httpGet.path",
        Accepted,
    ),
    (
        "spec.containers[*].lifecycle.postStart.httpGet.port",
        Accepted,
    ),
    (
        "spec.containers[*].lifecycle.postStart.httpGet.httpHeaders",
        Accepted,
    ),
    ("spec.containers[*].ports", Honoured),
    ("spec.containers[*].ports[*].containerPort", Accepted),
    ("spec.containers[*].ports[*].name", Accepted),
    ("spec.containers[*].ports[*].protocol", Accepted),
    ("spec.containers[*].ports[*].hostPort", Accepted),
    ("spec.containers[*].ports[*].hostIP", Accepted),
    // Volumes: the type is an error (a mount of it could never start), see validate.rs.
    ("spec.volumes[*].name", Accepted),
    ("spec.volumes[*].emptyDir", Honoured),
    ("spec.volumes[*].emptyDir.medium", Accepted),
    ("spec.volumes[*].emptyDir.sizeLimit", Honoured),
    ("spec.volumes[*].hostPath", Honoured),
    ("spec.volumes[*].hostPath.path", Accepted),
    ("spec.volumes[*].hostPath.type", Accepted),
    // Files from objects and from the pod (`sources.rs`); WASI has no file modes, so `mode`
    // and `defaultMode` are checked and accepted.
    ("spec.volumes[*].configMap", Accepted),
    ("spec.volumes[*].secret", Accepted),
    ("spec.volumes[*].downwardAPI", Accepted),
    ("spec.volumes[*].projected", Honoured),
    ("spec.volumes[*].projected.defaultMode", Accepted),
    ("spec.volumes[*].projected.sources", Honoured),
    ("spec.volumes[*].projected.sources[*].configMap", Accepted),
    ("spec.volumes[*].projected.sources[*].secret", Accepted),
    ("spec.volumes[*].projected.sources[*].downwardAPI", Accepted),
    (
        "spec.volumes[*].projected.sources[*].serviceAccountToken",
        Reject(
            "projection {key} is not supported: wasmpod has no API server to issue service account tokens",
        ),
    ),
    (
        "spec.volumes[*].projected.sources[*].clusterTrustBundle",
        Reject(
            "projection {key} is not supported: wasmpod has no API server to hold ClusterTrustBundles",
        ),
    ),
    (
        "spec.volumes[*].projected.sources[*].podCertificate",
        Reject(
            "projection {key} is not supported: wasmpod has no API server to issue pod certificates",
        ),
    ),
    (
        "spec.volumes[*].*",
        Reject(
            "volume type {key} is not supported yet (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)",
        ),
    ),
];

fn pattern_tokens(pattern: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for part in pattern.split('.') {
        match part.strip_suffix("[*]") {
            Some(key) => {
                out.push(key);
                out.push("[*]");
            }
            None => out.push(part),
        }
    }
    out
}

fn matches(pattern: &str, path: &[Seg]) -> bool {
    let tokens = pattern_tokens(pattern);
    tokens.len() == path.len()
        && tokens.iter().zip(path).all(|(t, seg)| match seg {
            Seg::Index(_) => *t == "[*]",
            Seg::Key(k) => *t == "*" || *t == k,
        })
}

/// The rule for a concrete field path (see [`RULES`]).
pub(crate) fn treatment(path: &[Seg]) -> Treatment {
    let lookup = |p: &[Seg]| {
        RULES
            .iter()
            .find(|(pattern, _)| matches(pattern, p))
            .map(|(_, t)| *t)
    };
    if let Some(t) = lookup(path) {
        return t;
    }
    // Container rules also serve init containers; livenessProbe rules serve
    // the startup and readiness probes.
    let mut general = path.to_vec();
    if general.len() > 2
        && general[0] == Seg::key("spec")
        && general[1] == Seg::key("initContainers")
    {
        general[1] = Seg::key("containers");
    }
    if general.len() > 3
        && (general[3] == Seg::key("startupProbe") || general[3] == Seg::key("readinessProbe"))
    {
        general[3] = Seg::key("livenessProbe");
    }
    if general.len() > 4 && general[3] == Seg::key("lifecycle") && general[4] == Seg::key("preStop")
    {
        general[4] = Seg::key("postStart");
    }
    if general != path
        && let Some(t) = lookup(&general)
    {
        return t;
    }
    Warn(NOT_HONOURED)
}

/// null, `{}` or `[]`: a value a serializer may drop without changing the meaning.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Whether `value`, a `securityContext` field at `path`, only asks for a restriction every
/// Wasm guest already has, being no Linux process: `runAsNonRoot: true` (a guest has no
/// user, root or other), `capabilities` that only drop (it has none), `seccompProfile` of
/// type `RuntimeDefault` (it makes no system calls). What the Restricted Pod Security
/// Standard asks for is then no warning; what asks for more (`capabilities.add`,
/// `Unconfined`, `privileged: true`) or names an identity (`runAsUser`) still is.
fn held_by_the_sandbox(path: &[Seg], value: &Value) -> bool {
    let n = path.len();
    let (Some(Seg::Key(key)), true) = (
        path.last(),
        n >= 2 && path[n - 2] == Seg::key("securityContext"),
    ) else {
        return false;
    };
    match key.as_str() {
        "runAsNonRoot" => *value == Value::Bool(true),
        "capabilities" => value.get("add").is_none_or(is_inert),
        "seccompProfile" => value.get("type").and_then(Value::as_str) == Some("RuntimeDefault"),
        _ => false,
    }
}

/// A value that asks for nothing (`false`, `""`, `[]`, `{}`, null): not worth a warning.
fn is_inert(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn diagnostic(loc: &Locator, path: &[Seg], message: String) -> Diagnostic {
    Diagnostic {
        path: display_path(path),
        line: loc.find(path).map(|p| p.line),
        message,
    }
}

/// Errors and warnings: walks the typed Pod (as JSON) against [`RULES`].
pub(crate) fn classify(typed: &Value, loc: &Locator) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    let mut out = (Vec::new(), Vec::new());
    let mut path = Vec::new();
    walk_children(typed, &mut path, loc, &mut out);
    out
}

type Found = (Vec<Diagnostic>, Vec<Diagnostic>);

fn walk_children(value: &Value, path: &mut Vec<Seg>, loc: &Locator, out: &mut Found) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(Seg::Key(key.clone()));
                match treatment(path) {
                    Honoured => walk_children(child, path, loc, out),
                    Accepted => {}
                    Warn(message) => {
                        if !is_inert(child) && !held_by_the_sandbox(path, child) {
                            out.1.push(diagnostic(loc, path, message.to_owned()));
                        }
                    }
                    Reject(message) => {
                        out.0
                            .push(diagnostic(loc, path, message.replace("{key}", key)));
                    }
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                walk_children(item, path, loc, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// Whether a string field legitimately accepts a bare YAML number: `Quantity` fields
/// (`cpu: 1`, `sizeLimit: 1`, `divisor: 1`) and anything under `status`.
fn accepts_number_as_string(path: &[Seg]) -> bool {
    let key_is = |seg: Option<&Seg>, names: &[&str]| matches!(seg, Some(Seg::Key(k)) if names.contains(&k.as_str()));
    let n = path.len();
    key_is(path.first(), &["status"])
        || key_is(path.last(), &["sizeLimit", "divisor"])
        || (n >= 2
            && key_is(
                path.get(n - 2),
                &[
                    "limits",
                    "requests",
                    "overhead",
                    "allocatedResources",
                    "capacity",
                ],
            ))
}

/// Errors for fields that exist in the document as written (`raw`) but not in the typed Pod
/// (`typed`), and for numbers/booleans that a string field swallowed.
///
/// Keys whose raw value is null, `{}` or `[]` are not reported: such a value requests nothing
/// and a serializer may legitimately drop it.
pub(crate) fn unknown_fields(raw: &Value, typed: &Value, loc: &Locator) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    compare(raw, typed, &mut path, loc, &mut out);
    out
}

fn compare(
    raw: &Value,
    typed: &Value,
    path: &mut Vec<Seg>,
    loc: &Locator,
    out: &mut Vec<Diagnostic>,
) {
    match (raw, typed) {
        (Value::Object(r), Value::Object(t)) => {
            for (key, rv) in r {
                path.push(Seg::Key(key.clone()));
                match t.get(key) {
                    Some(tv) => compare(rv, tv, path, loc, out),
                    None if is_empty(rv) => {}
                    None if key == "<<" => out.push(diagnostic(
                        loc,
                        path,
                        "YAML merge keys (\"<<\") are not supported; write the fields out".into(),
                    )),
                    None => out.push(diagnostic(
                        loc,
                        path,
                        format!("unknown field {}", msg::quote(key)),
                    )),
                }
                path.pop();
            }
        }
        (Value::Array(r), Value::Array(t)) => {
            for (i, (rv, tv)) in r.iter().zip(t).enumerate() {
                path.push(Seg::Index(i));
                compare(rv, tv, path, loc, out);
                path.pop();
            }
        }
        (Value::Number(_) | Value::Bool(_), Value::String(s))
            if !accepts_number_as_string(path) =>
        {
            out.push(diagnostic(
                loc,
                path,
                msg::invalid(
                    &raw.to_string(),
                    &format!("must be a string; quote it in YAML ({})", msg::quote(s)),
                ),
            ));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::locate::parse_path;

    fn t(path: &str) -> Treatment {
        treatment(&parse_path(path))
    }

    #[test]
    fn table_lookups() {
        assert_eq!(t("spec.containers[3].image"), Accepted);
        assert_eq!(t("spec.initContainers[0].image"), Accepted);
        assert_eq!(t("spec.containers[0].livenessProbe"), Honoured);
        assert_eq!(
            t("spec.initContainers[1].readinessProbe.httpGet.port"),
            Accepted
        );
        assert_eq!(t("spec.containers[0].startupProbe.grpc"), Honoured);
        assert_eq!(t("spec.containers[0].startupProbe.grpc.service"), Accepted);
        assert_eq!(t("spec.containers[0].lifecycle.preStop.sleep"), Accepted);
        assert_eq!(
            t("spec.containers[0].lifecycle.preStop.tcpSocket"),
            Warn(NOT_HONOURED)
        );
        assert_eq!(t("spec.initContainers[0].securityContext"), Honoured);
        assert_eq!(
            t("spec.initContainers[0].securityContext.readOnlyRootFilesystem"),
            Accepted
        );
        assert_eq!(
            t("spec.containers[0].securityContext.runAsUser"),
            Warn(NOT_HONOURED)
        );
        assert_eq!(t("spec.containers[0].env[2].valueFrom"), Honoured);
        assert_eq!(
            t("spec.containers[0].env[2].valueFrom.secretKeyRef"),
            Accepted
        );
        assert_eq!(
            t("spec.containers[0].env[2].valueFrom.fileKeyRef"),
            Warn(NOT_HONOURED)
        );
        assert_eq!(t("spec.initContainers[0].envFrom"), Accepted);
        assert_eq!(t("spec.volumes[1].configMap"), Accepted);
        assert_eq!(t("spec.volumes[1].projected.sources[0].secret"), Accepted);
        assert!(matches!(
            t("spec.volumes[1].projected.sources[2].serviceAccountToken"),
            Reject(_)
        ));
        assert!(matches!(t("spec.volumes[1].nfs"), Reject(_)));
        assert_eq!(t("spec.volumes[1].emptyDir"), Honoured);
        assert_eq!(t("spec.activeDeadlineSeconds"), Accepted);
        assert_eq!(t("spec.readinessGates"), Accepted);
        assert_eq!(t("metadata.managedFields"), Accepted);
    }

    #[test]
    fn number_as_string_exemptions() {
        assert!(accepts_number_as_string(&parse_path(
            "spec.containers[0].resources.limits.cpu"
        )));
        assert!(accepts_number_as_string(&parse_path(
            "spec.volumes[0].emptyDir.sizeLimit"
        )));
        assert!(!accepts_number_as_string(&parse_path(
            "spec.containers[0].env[0].value"
        )));
        assert!(!accepts_number_as_string(&parse_path(
            "metadata.labels.version"
        )));
    }
}
