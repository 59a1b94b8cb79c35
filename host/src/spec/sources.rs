//! Validation of data sources: `configMap`, `secret`, `downwardAPI` and `projected` volumes,
//! and a container's env from ConfigMaps, Secrets, pod fields and resources, after
//! `validateConfigMapVolumeSource`, `validateSecretVolumeSource`,
//! `validateDownwardAPIVolumeSource`, `validateProjectedVolumeSource`, `validateKeyToPath`,
//! `ValidateLocalNonReservedPath`, `validateEnvVarValueFrom`, `ValidateEnvFrom`,
//! `validateObjectFieldSelector` and `validateContainerResourceFieldSelector` in
//! pkg/apis/core/validation/validation.go, with their messages.
//!
//! Deliberate differences, all stricter, because the runtime could not do what is asked:
//!
//! * two items of one volume with the same `path` are `conflicting duplicate paths` in every
//!   volume type (the API server checks it in `projected` volumes only; the kubelet then
//!   keeps one of the files at random);
//! * a `resourceFieldRef.containerName` must name a container of the pod (the kubelet fails
//!   the container later); `resource` is one of the six cpu, memory and ephemeral-storage
//!   limits and requests (wasmpod has no huge pages);
//! * errors inside a `downwardAPI` item name the item (`downwardAPI.items[1].path`), where
//!   the API server names the volume.
//!
//! `mode` and `defaultMode` are checked (0 to 0777) and otherwise ignored: WASI has no file
//! modes, so a guest sees the files as readable and the mount as read-only.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{
    Container, DownwardAPIVolumeFile, EnvVarSource, KeyToPath, ObjectFieldSelector,
    ResourceFieldSelector, Volume,
};

use super::error::formats::dns1123_subdomain;
use super::error::msg;
use super::objects::config_key_errors;
use super::quantity::{QUANTITY_FORMAT, quantity_nano_value};

/// Problems as (field path, message), the shape `validate.rs` turns into diagnostics.
pub(crate) type Problems = Vec<(String, String)>;

/// `fileModeErrorMsg`.
const FILE_MODE: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const DUPLICATE_PATHS: &str = "conflicting duplicate paths";

/// `validEnvDownwardAPIFieldPathExpressions`, sorted as Kubernetes lists them.
pub(crate) const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// `validVolumeDownwardAPIFieldPathExpressions`, sorted.
const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
];

/// `validContainerResourceFieldPathExpressions` without huge pages, sorted.
const RESOURCES: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// `IsRelaxedEnvVarName` (RelaxedEnvironmentVariableValidation, GA in Kubernetes 1.34): the
/// message when `name` is not one.
pub(crate) fn relaxed_env_name(name: &str) -> Option<&'static str> {
    name.chars()
        .any(|ch| !(' '..='~').contains(&ch) || ch == '=')
        .then_some(
            "a valid environment variable name must consist only of printable ASCII characters other than '='",
        )
}

/// The problems of a `configMap`, `secret`, `downwardAPI` or `projected` volume (other types
/// give none); `containers` are the names of every container of the pod.
pub(crate) fn volume(base: &str, vol: &Volume, containers: &HashSet<&str>) -> Problems {
    let mut out = Vec::new();
    if let Some(cm) = &vol.config_map {
        let path = format!("{base}.configMap");
        if cm.name.is_empty() {
            out.push((format!("{path}.name"), msg::required("")));
        }
        mode(&format!("{path}.defaultMode"), cm.default_mode, &mut out);
        items(&path, cm.items.as_deref(), &mut HashSet::new(), &mut out);
    }
    if let Some(secret) = &vol.secret {
        let path = format!("{base}.secret");
        if secret.secret_name.as_deref().is_none_or(str::is_empty) {
            out.push((format!("{path}.secretName"), msg::required("")));
        }
        mode(
            &format!("{path}.defaultMode"),
            secret.default_mode,
            &mut out,
        );
        items(
            &path,
            secret.items.as_deref(),
            &mut HashSet::new(),
            &mut out,
        );
    }
    if let Some(api) = &vol.downward_api {
        let path = format!("{base}.downwardAPI");
        mode(&format!("{path}.defaultMode"), api.default_mode, &mut out);
        let files = api.items.as_deref().unwrap_or_default();
        downward_files(&path, files, containers, &mut HashSet::new(), &mut out);
    }
    if let Some(projected) = &vol.projected {
        let path = format!("{base}.projected");
        mode(
            &format!("{path}.defaultMode"),
            projected.default_mode,
            &mut out,
        );
        // Paths are unique across all the sources of the volume.
        let mut paths = HashSet::new();
        for (i, source) in projected.sources.iter().flatten().enumerate() {
            let src = format!("{path}.sources[{i}]");
            let mut kinds = 0;
            if let Some(cm) = &source.config_map {
                kinds += 1;
                let p = format!("{src}.configMap");
                if cm.name.is_empty() {
                    out.push((format!("{p}.name"), msg::required("")));
                }
                items(&p, cm.items.as_deref(), &mut paths, &mut out);
            }
            if let Some(secret) = &source.secret {
                kinds += 1;
                let p = format!("{src}.secret");
                if secret.name.is_empty() {
                    out.push((format!("{p}.name"), msg::required("")));
                }
                items(&p, secret.items.as_deref(), &mut paths, &mut out);
            }
            if let Some(api) = &source.downward_api {
                kinds += 1;
                let files = api.items.as_deref().unwrap_or_default();
                let p = format!("{src}.downwardAPI");
                downward_files(&p, files, containers, &mut paths, &mut out);
            }
            // The other projections are refused by the `fields.rs` table; they still count.
            kinds += [
                source.service_account_token.is_some(),
                source.cluster_trust_bundle.is_some(),
                source.pod_certificate.is_some(),
            ]
            .into_iter()
            .filter(|s| *s)
            .count();
            if kinds > 1 {
                out.push((
                    src,
                    msg::forbidden("may not specify more than 1 volume type per source"),
                ));
            }
        }
    }
    out
}

/// `mode`/`defaultMode`: 0 to 0777.
fn mode(path: &str, value: Option<i32>, out: &mut Problems) {
    if let Some(m) = value.filter(|m| !(0..=0o777).contains(m)) {
        out.push((path.to_owned(), msg::invalid(&m.to_string(), FILE_MODE)));
    }
}

/// `validateKeyToPath` for each item, and one file per path (`paths` holds the paths seen
/// before in the volume).
fn items<'a>(
    base: &str,
    items: Option<&'a [KeyToPath]>,
    paths: &mut HashSet<&'a str>,
    out: &mut Problems,
) {
    for (i, kp) in items.unwrap_or_default().iter().enumerate() {
        let path = format!("{base}.items[{i}]");
        if kp.key.is_empty() {
            out.push((format!("{path}.key"), msg::required("")));
        }
        file_path(&format!("{path}.path"), &kp.path, paths, out);
        mode(&format!("{path}.mode"), kp.mode, out);
    }
}

/// A file's `path` in a volume: required, `ValidateLocalNonReservedPath`, unique.
fn file_path<'a>(path: &str, value: &'a str, paths: &mut HashSet<&'a str>, out: &mut Problems) {
    if value.is_empty() {
        out.push((path.to_owned(), msg::required("")));
        return;
    }
    let invalid = |detail: &str| (path.to_owned(), msg::invalid(&msg::quote(value), detail));
    if value.starts_with('/') {
        out.push(invalid("must be a relative path"));
    }
    if value.split('/').any(|part| part == "..") {
        out.push(invalid("must not contain '..'"));
    } else if value.starts_with("..") {
        out.push(invalid("must not start with '..'"));
    }
    if !paths.insert(value) {
        out.push(invalid(DUPLICATE_PATHS));
    }
}

/// `validateDownwardAPIVolumeFile` for each item.
fn downward_files<'a>(
    base: &str,
    files: &'a [DownwardAPIVolumeFile],
    containers: &HashSet<&str>,
    paths: &mut HashSet<&'a str>,
    out: &mut Problems,
) {
    for (i, file) in files.iter().enumerate() {
        let path = format!("{base}.items[{i}]");
        file_path(&format!("{path}.path"), &file.path, paths, out);
        match (&file.field_ref, &file.resource_field_ref) {
            (Some(field), resource) => {
                field_ref(&format!("{path}.fieldRef"), field, VOLUME_FIELD_PATHS, out);
                if resource.is_some() {
                    out.push((
                        path.clone(),
                        msg::invalid(
                            "\"resource\"",
                            "fieldRef and resourceFieldRef can not be specified simultaneously",
                        ),
                    ));
                }
            }
            (None, Some(resource)) => {
                let p = format!("{path}.resourceFieldRef");
                resource_field_ref(&p, resource, None, containers, out);
            }
            (None, None) => out.push((
                path.clone(),
                msg::required("one of fieldRef and resourceFieldRef is required"),
            )),
        }
        mode(&format!("{path}.mode"), file.mode, out);
    }
}

/// `validateObjectFieldSelector`: `fieldPath` is one of `expressions`, or a subscripted
/// `metadata.labels['key']` or `metadata.annotations['key']`.
pub(crate) fn field_ref(
    path: &str,
    field_ref: &ObjectFieldSelector,
    expressions: &[&str],
    out: &mut Problems,
) {
    if let Some(v) = field_ref
        .api_version
        .as_deref()
        .filter(|v| !v.is_empty() && *v != "v1")
    {
        out.push((format!("{path}.apiVersion"), msg::not_supported(v, &["v1"])));
    }
    let fp = field_ref.field_path.as_str();
    if fp.is_empty() {
        out.push((format!("{path}.fieldPath"), msg::required("")));
    } else if let Some((field, key)) = split_subscript(fp) {
        if field != "metadata.labels" && field != "metadata.annotations" {
            out.push((
                path.to_owned(),
                msg::invalid(&msg::quote(field), "does not support subscript"),
            ));
        } else if key.is_empty() {
            out.push((
                format!("{path}.fieldPath"),
                msg::invalid(&msg::quote(fp), "the key in [''] must not be empty"),
            ));
        }
    } else if !expressions.contains(&fp) {
        out.push((
            format!("{path}.fieldPath"),
            msg::not_supported(fp, expressions),
        ));
    }
}

/// `metadata.labels['key']` → (`metadata.labels`, `key`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let (field, rest) = path.split_once("['")?;
    Some((field, rest.strip_suffix("']")?))
}

/// `validateContainerResourceFieldSelector` and `validateContainerResourceDivisor`. In a
/// volume (`this` is `None`) the container must be named; in env it defaults to `this`.
fn resource_field_ref(
    path: &str,
    r: &ResourceFieldSelector,
    this: Option<&str>,
    containers: &HashSet<&str>,
    out: &mut Problems,
) {
    let container = r.container_name.as_deref().filter(|c| !c.is_empty());
    if this.is_none() && container.is_none() {
        out.push((format!("{path}.containerName"), msg::required("")));
    } else if r.resource.is_empty() {
        out.push((format!("{path}.resource"), msg::required("")));
    } else if !RESOURCES.contains(&r.resource.as_str()) {
        out.push((
            format!("{path}.resource"),
            msg::not_supported(&r.resource, RESOURCES),
        ));
    }
    if let Some(name) = container.filter(|c| !containers.contains(c)) {
        out.push((format!("{path}.containerName"), msg::not_found(name)));
    }
    let Some(divisor) = &r.divisor else { return };
    let nanos = match quantity_nano_value(&divisor.0) {
        Ok(n) => n,
        Err(_) => {
            out.push((
                format!("{path}.divisor"),
                msg::invalid(&msg::quote(&divisor.0), QUANTITY_FORMAT),
            ));
            return;
        }
    };
    // A zero divisor is an unset one (the API server compares it with `Quantity{}`).
    if nanos == 0 {
        return;
    }
    let (ok, detail) = match r.resource.as_str() {
        "limits.cpu" | "requests.cpu" => (
            divisor_class(&divisor.0) != Class::Binary && (nanos == ONE || nanos == ONE / 1000),
            "only divisor's values 1m and 1 are supported with the cpu resource",
        ),
        "limits.memory" | "requests.memory" => (
            byte_divisor(&divisor.0, nanos),
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource",
        ),
        "limits.ephemeral-storage" | "requests.ephemeral-storage" => (
            byte_divisor(&divisor.0, nanos),
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource",
        ),
        _ => (true, ""),
    };
    if !ok {
        out.push((
            format!("{path}.divisor"),
            msg::invalid(&msg::quote(&r.resource), detail),
        ));
    }
}

/// One unit, in nanos.
const ONE: i128 = 1_000_000_000;

/// How a quantity is written, which decides its canonical form (`Quantity.String()`, what
/// the API server compares): `1000` is `1k`, `1024Ki` is `1Mi`, but `1e3` stays `1e3`.
#[derive(PartialEq, Eq)]
enum Class {
    Decimal,
    Binary,
    Exponent,
}

fn divisor_class(text: &str) -> Class {
    let suffix = text.trim_start_matches(|c: char| c.is_ascii_digit() || "+-.".contains(c));
    if suffix.ends_with('i') {
        Class::Binary
    } else if suffix.len() > 1 && suffix.starts_with(['e', 'E']) {
        Class::Exponent
    } else {
        Class::Decimal
    }
}

/// Whether a memory or storage divisor is canonically one of 1, 1k … 1E, 1Ki … 1Ei.
fn byte_divisor(text: &str, nanos: i128) -> bool {
    match divisor_class(text) {
        Class::Decimal => (0..=6).any(|k| nanos == ONE * 1000i128.pow(k)),
        Class::Binary => (1..=6).any(|k| nanos == ONE * 1024i128.pow(k)),
        Class::Exponent => nanos == ONE,
    }
}

/// `validateEnvVarValueFrom`'s checks of `configMapKeyRef`, `secretKeyRef` and
/// `resourceFieldRef` (`fieldRef` and the count of sources are `validate.rs`'s); `this` is
/// the container's name.
pub(crate) fn value_from(
    path: &str,
    from: &EnvVarSource,
    this: &str,
    containers: &HashSet<&str>,
) -> Problems {
    let mut out = Vec::new();
    if let Some(field) = &from.field_ref {
        field_ref(
            &format!("{path}.fieldRef"),
            field,
            ENV_FIELD_PATHS,
            &mut out,
        );
    }
    if let Some(r) = &from.resource_field_ref {
        let p = format!("{path}.resourceFieldRef");
        resource_field_ref(&p, r, Some(this), containers, &mut out);
    }
    for (field, selector) in [
        (
            "configMapKeyRef",
            from.config_map_key_ref.as_ref().map(|s| (&s.name, &s.key)),
        ),
        (
            "secretKeyRef",
            from.secret_key_ref.as_ref().map(|s| (&s.name, &s.key)),
        ),
    ] {
        let Some((name, key)) = selector else {
            continue;
        };
        let p = format!("{path}.{field}");
        for e in dns1123_subdomain(name) {
            out.push((format!("{p}.name"), msg::invalid(&msg::quote(name), &e)));
        }
        if key.is_empty() {
            out.push((format!("{p}.key"), msg::required("")));
        } else {
            for e in config_key_errors(key) {
                out.push((format!("{p}.key"), msg::invalid(&msg::quote(key), &e)));
            }
        }
    }
    out
}

/// `ValidateEnvFrom`: a valid `prefix`, and exactly one of `configMapRef` and `secretRef`,
/// naming an object.
pub(crate) fn env_from(base: &str, c: &Container) -> Problems {
    let mut out = Vec::new();
    for (i, source) in c.env_from.iter().flatten().enumerate() {
        let path = format!("{base}.envFrom[{i}]");
        if let Some(prefix) = source.prefix.as_deref().filter(|p| !p.is_empty())
            && let Some(e) = relaxed_env_name(prefix)
        {
            out.push((
                format!("{path}.prefix"),
                msg::invalid(&msg::quote(prefix), e),
            ));
        }
        let refs = [
            (
                "configMapRef",
                source.config_map_ref.as_ref().map(|r| &r.name),
            ),
            ("secretRef", source.secret_ref.as_ref().map(|r| &r.name)),
        ];
        for (field, name) in refs {
            let Some(name) = name else { continue };
            let p = format!("{path}.{field}.name");
            if name.is_empty() {
                out.push((p, msg::required("")));
                continue;
            }
            // `ValidateConfigMapName(name, prefix=true)`: a trailing '-' is allowed.
            let masked = name
                .strip_suffix('-')
                .map_or_else(|| name.clone(), |n| format!("{n}a"));
            for e in dns1123_subdomain(&masked) {
                out.push((p.clone(), msg::invalid(&msg::quote(name), &e)));
            }
        }
        match refs.iter().filter(|(_, name)| name.is_some()).count() {
            0 => out.push((
                path,
                msg::invalid("\"\"", "must specify one of: `configMapRef` or `secretRef`"),
            )),
            1 => {}
            _ => out.push((
                path,
                msg::invalid(
                    "\"\"",
                    "may not have more than one field specified at a time",
                ),
            )),
        }
    }
    out
}
