//! ConfigMaps and Secrets read beside the Pods of a file, checked by the API server's rules
//! (`ValidateConfigMap`, `ValidateSecret`): names, keys, sizes, and one object per kind,
//! namespace and name.

use std::collections::BTreeSet;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};

use super::Diagnostic;
use super::error::SpecError;
use super::error::formats::{dns1123_label, dns1123_subdomain};
use super::error::msg;
use super::locate::{Locator, parse_path};

/// The most bytes of data a ConfigMap or a Secret holds (`MaxSecretSize`, and the
/// ConfigMap's own 1 MiB limit).
pub const MAX_OBJECT_DATA_BYTES: usize = 1024 * 1024;

/// The longest config key (`IsConfigMapKey`: a DNS subdomain's length).
const MAX_KEY_LENGTH: usize = 253;

/// An object a cluster keeps besides its pods: a ConfigMap, a Secret or a Service.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigObject {
    /// A `v1` ConfigMap.
    ConfigMap(ConfigMap),
    /// A `v1` Secret, its `stringData` merged into `data` as the API server stores it.
    Secret(Secret),
    /// A `v1` Service.
    Service(Box<Service>),
}

impl ConfigObject {
    /// `ConfigMap` or `Secret`.
    pub fn kind(&self) -> &'static str {
        match self {
            ConfigObject::ConfigMap(_) => "ConfigMap",
            ConfigObject::Secret(_) => "Secret",
            ConfigObject::Service(_) => "Service",
        }
    }

    fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        match self {
            ConfigObject::ConfigMap(c) => &c.metadata,
            ConfigObject::Secret(s) => &s.metadata,
            ConfigObject::Service(s) => &s.metadata,
        }
    }

    /// `metadata.name` (empty when missing: validation refuses that).
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace`, `default` when unset.
    pub fn namespace(&self) -> &str {
        self.meta().namespace.as_deref().unwrap_or("default")
    }
}

/// A ConfigMap or Secret read from one YAML document, with what is needed to point at lines.
#[derive(Debug, Clone)]
pub struct ObjectDocument {
    /// The object.
    pub object: ConfigObject,
    /// 0-based index of the document in the YAML stream.
    pub document_index: usize,
    /// 0-based index of the input it was read from ([`load_many`](super::load_many)).
    pub input: usize,
    /// Its index in the `items` of a `kind: List` document, if it was read from one.
    pub(super) item: Option<usize>,
    pub(super) locator: Locator,
    /// Unknown fields and mistyped scalars found while parsing.
    pub(super) strict_problems: Vec<Diagnostic>,
}

impl ObjectDocument {
    /// A problem at `path`, on the line of the field as written: a Secret's `data[k]` may
    /// have been written as `stringData[k]`; an absent field takes its parent's line.
    fn problem(&self, path: &str, message: String) -> Diagnostic {
        let written = path
            .strip_prefix("data[")
            .map(|key| format!("stringData[{key}"))
            .and_then(|alt| self.locator.find_exact(&parse_path(&alt)));
        let line = self
            .locator
            .find_exact(&parse_path(path))
            .or(written)
            .or_else(|| self.locator.find(&parse_path(path)))
            .map(|p| p.line);
        Diagnostic {
            path: path.to_owned(),
            line,
            message,
        }
    }
}

/// Merges a Secret's `stringData` into `data` (a `stringData` key wins), as the API
/// server does on write.
pub(super) fn merge_string_data(secret: &mut Secret) {
    if let Some(strings) = secret.string_data.take() {
        let data = secret.data.get_or_insert_with(Default::default);
        for (key, value) in strings {
            data.insert(key, ByteString(value.into_bytes()));
        }
    }
}

/// Keeps a Secret's values out of its problems: a value under `data` or `stringData` is
/// never shown (a key is, as kubectl shows it).
pub(super) fn redact(problems: &mut [Diagnostic]) {
    for p in problems {
        let under = |field: &str| {
            p.path
                .strip_prefix(field)
                .is_some_and(|rest| rest.starts_with(['[', '.']))
        };
        if (under("data") || under("stringData")) && p.message.starts_with("Invalid value:") {
            p.message = msg::invalid(
                "<secret value redacted>",
                "must be a string; quote it in YAML",
            );
        }
    }
}

/// The API server's checks of an object's `metadata`: a name (a DNS subdomain), a
/// namespace (a DNS label; unset or empty is `default`), and one object per kind,
/// namespace and name (`seen` holds those of the objects before it).
pub(super) fn meta_problems(
    kind: &'static str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    seen: &mut BTreeSet<(&'static str, String, String)>,
    add: &mut dyn FnMut(&str, String),
) {
    let name = meta.name.as_deref().unwrap_or_default();
    match name {
        "" => add(
            "metadata.name",
            msg::required("name or generateName is required"),
        ),
        name => {
            for e in dns1123_subdomain(name) {
                add("metadata.name", msg::invalid(&msg::quote(name), &e));
            }
        }
    }
    let namespace = meta.namespace.as_deref().filter(|n| !n.is_empty());
    for e in namespace.map(dns1123_label).unwrap_or_default() {
        let ns = namespace.unwrap_or_default();
        add("metadata.namespace", msg::invalid(&msg::quote(ns), &e));
    }
    let namespace = namespace.unwrap_or("default");
    if !name.is_empty() && !seen.insert((kind, namespace.to_owned(), name.to_owned())) {
        add(
            "metadata.name",
            msg::duplicate(&format!("{kind} {namespace}/{name} is defined twice")),
        );
    }
}

/// Checks one object; `seen` holds the (kind, namespace, name) of the objects before it.
pub(super) fn validate(
    doc: &ObjectDocument,
    seen: &mut BTreeSet<(&'static str, String, String)>,
) -> Result<(), SpecError> {
    let mut problems = doc.strict_problems.clone();
    let mut add = |path: &str, message: String| problems.push(doc.problem(path, message));
    let object = &doc.object;
    let meta = object.meta();
    meta_problems(object.kind(), meta, seen, &mut add);
    let mut size = 0;
    match object {
        ConfigObject::ConfigMap(cm) => {
            for (k, v) in cm.data.iter().flatten() {
                key_problems("data", k, &mut add);
                size += k.len() + v.len();
            }
            for (k, v) in cm.binary_data.iter().flatten() {
                key_problems("binaryData", k, &mut add);
                if cm.data.as_ref().is_some_and(|d| d.contains_key(k)) {
                    add(
                        &format!("binaryData[{k}]"),
                        msg::invalid(&msg::quote(k), "duplicate of key present in data"),
                    );
                }
                size += k.len() + v.0.len();
            }
            if size > MAX_OBJECT_DATA_BYTES {
                add("data", too_long());
            }
        }
        ConfigObject::Secret(secret) => {
            for (k, v) in secret.data.iter().flatten() {
                key_problems("data", k, &mut add);
                size += v.0.len();
            }
            if size > MAX_OBJECT_DATA_BYTES {
                add("data", too_long());
            }
            secret_type_problems(secret, &mut add);
        }
        ConfigObject::Service(svc) => {
            if let Some(name) = meta.name.as_deref().filter(|n| !n.is_empty()) {
                // A Service's name is a DNS label (it is one in `svc.ns.svc.cluster.local`).
                for e in dns1123_label(name) {
                    if !e.contains("RFC 1123 subdomain") {
                        add("metadata.name", msg::invalid(&msg::quote(name), &e));
                    }
                }
            }
            super::service::problems(svc, &mut add);
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    super::in_item(doc.item, &mut problems);
    Err(SpecError::InvalidObject {
        kind: object.kind(),
        name: format!("{:?}", object.name()),
        problems,
    })
}

/// A Pod whose kind, namespace and name were seen before (`seen`, shared with the
/// ConfigMaps and Secrets): the problem to report, on its `metadata.name`.
pub(super) fn duplicate_pod(
    doc: &super::PodDocument,
    seen: &mut BTreeSet<(&'static str, String, String)>,
) -> Option<Diagnostic> {
    let meta = &doc.pod.metadata;
    let name = meta.name.as_deref().filter(|n| !n.is_empty())?;
    let namespace = meta
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    if seen.insert(("Pod", namespace.to_owned(), name.to_owned())) {
        return None;
    }
    let mut problem = [Diagnostic {
        path: "metadata.name".to_owned(),
        line: doc.line_of("metadata.name"),
        message: msg::duplicate(&format!("Pod {namespace}/{name} is defined twice")),
    }];
    super::in_item(doc.item, &mut problem);
    let [problem] = problem;
    Some(problem)
}

fn too_long() -> String {
    format!("Too long: must have at most {MAX_OBJECT_DATA_BYTES} bytes")
}

/// `IsConfigMapKey`.
fn key_problems(field: &str, key: &str, add: &mut impl FnMut(&str, String)) {
    let path = format!("{field}[{key}]");
    for e in config_key_errors(key) {
        add(&path, msg::invalid(&msg::quote(key), &e));
    }
}

/// What `IsConfigMapKey` says of `key` (empty when it is a valid key).
pub(super) fn config_key_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        errors.push(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' \
             (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is \
             '[-._a-zA-Z0-9]+')"
                .to_owned(),
        );
    }
    if key.len() > MAX_KEY_LENGTH {
        errors.push(format!("must be no more than {MAX_KEY_LENGTH} characters"));
    }
    if key == "." || key == ".." {
        errors.push(format!("must not be '{key}'"));
    } else if key.starts_with("..") {
        errors.push("must not start with '..'".to_owned());
    }
    errors
}

/// The keys a typed Secret must hold (`ValidateSecret`).
fn secret_type_problems(secret: &Secret, add: &mut impl FnMut(&str, String)) {
    let has = |k: &str| secret.data.as_ref().is_some_and(|d| d.contains_key(k));
    let required: &[&str] = match secret.type_.as_deref() {
        Some("kubernetes.io/dockerconfigjson") => &[".dockerconfigjson"],
        Some("kubernetes.io/dockercfg") => &[".dockercfg"],
        Some("kubernetes.io/tls") => &["tls.crt", "tls.key"],
        Some("kubernetes.io/ssh-auth") => &["ssh-privatekey"],
        _ => &[],
    };
    for key in required {
        if !has(key) {
            add(&format!("data[{key}]"), msg::required(""));
        }
    }
    if secret.type_.as_deref() == Some("kubernetes.io/dockerconfigjson")
        && let Some(json) = secret
            .data
            .as_ref()
            .and_then(|d| d.get(".dockerconfigjson"))
        && serde_json::from_slice::<serde_json::Value>(&json.0).is_err()
    {
        add(
            "data[.dockerconfigjson]",
            msg::invalid("<secret contents redacted>", "invalid JSON"),
        );
    }
}
