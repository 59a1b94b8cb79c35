//! Container environment: `env[].value`, `env[].valueFrom.fieldRef`, and the
//! `$(VAR)` expansion Kubernetes applies to env values, `command` and `args`.
//!
//! The expansion is a port of the rules of Kubernetes'
//! `third_party/forked/golang/expansion`: `$(NAME)` is replaced by the value
//! of `NAME` if it is defined (for env values: defined *earlier* in the list),
//! otherwise left verbatim; `$$` is an escaped `$`; any other `$` is literal.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, EnvVar, Pod};

/// The longest single argument or environment string (`NAME=value`) Linux's `execve` accepts,
/// terminating NUL included: `MAX_ARG_STRLEN`, 32 pages of 4 KiB. A container whose expanded
/// `command`, `args` or `env` entry is longer could not start on a node either.
pub const MAX_ARG_STRLEN: usize = 128 * 1024;

/// The most bytes a container's arguments and environment may take together (each string with
/// its NUL): `ARG_MAX` as `execve` enforces it with the default 8 MiB stack (a quarter of it).
pub const ARG_MAX: usize = 2 * 1024 * 1024;

/// An expansion stopped because its result would have been longer than its limit. The long
/// string is never built: expansion stops at the first piece that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expands to more than {limit} bytes")]
pub struct TooLong {
    /// The limit that was exceeded, in bytes.
    pub limit: usize,
}

/// Expands `$(VAR)` references in `input` using `lookup`.
///
/// ```
/// use wasmpod::spec::expand::expand;
/// let vars = |name: &str| (name == "GREETING").then(|| "hello".to_string());
/// assert_eq!(expand("$(GREETING) world", vars), "hello world");
/// assert_eq!(expand("$(MISSING) $$(GREETING)", vars), "$(MISSING) $(GREETING)");
/// ```
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    match expand_bounded(input, |name| lookup(name), usize::MAX) {
        Ok(s) => s,
        Err(TooLong { .. }) => unreachable!("no string is longer than usize::MAX bytes"),
    }
}

/// Like [`expand`], but fails as soon as the result would exceed `limit` bytes, without
/// building the long string.
///
/// ```
/// use wasmpod::spec::expand::{TooLong, expand_bounded};
/// let vars = |name: &str| (name == "A").then(|| "x".repeat(10));
/// assert_eq!(expand_bounded("$(A)$(A)", vars, 20).unwrap().len(), 20);
/// assert_eq!(expand_bounded("$(A)$(A)!", vars, 20), Err(TooLong { limit: 20 }));
/// ```
pub fn expand_bounded<S: AsRef<str>>(
    input: &str,
    lookup: impl Fn(&str) -> Option<S>,
    limit: usize,
) -> Result<String, TooLong> {
    let bytes = input.as_bytes();
    let mut out = String::new();
    let push = |out: &mut String, piece: &str| {
        if piece.len() > limit - out.len() {
            return Err(TooLong { limit });
        }
        out.push_str(piece);
        Ok(())
    };
    let mut i = 0;
    let mut literal_start = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 >= bytes.len() {
            i += 1;
            continue;
        }
        push(&mut out, &input[literal_start..i])?;
        match bytes[i + 1] {
            b'$' => {
                push(&mut out, "$")?;
                i += 2;
            }
            b'(' => match input[i + 2..].find(')') {
                Some(len) => {
                    let name = &input[i + 2..i + 2 + len];
                    match lookup(name) {
                        Some(value) => push(&mut out, value.as_ref())?,
                        None => push(&mut out, &input[i..i + 3 + len])?,
                    }
                    i += 3 + len;
                }
                None => {
                    // Unterminated reference: Kubernetes keeps it verbatim.
                    push(&mut out, &input[i..])?;
                    i = bytes.len();
                }
            },
            _ => {
                push(&mut out, "$")?;
                i += 1;
            }
        }
        literal_start = i;
    }
    push(&mut out, &input[literal_start.min(input.len())..])?;
    Ok(out)
}

/// An ordered environment where later definitions override earlier ones,
/// as a container's `env` list does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Environment {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Environment {
    /// Sets `name` (keeping its first position if it was already set).
    pub fn set(&mut self, name: &str, value: String) {
        match self.index.get(name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.to_string(), self.vars.len());
                self.vars.push((name.to_string(), value));
            }
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.vars[i].1.as_str())
    }

    /// Expands `$(VAR)` references against this environment.
    pub fn expand(&self, input: &str) -> String {
        expand(input, |name| self.get(name).map(str::to_string))
    }

    /// Expands `$(VAR)` references against this environment, failing past `limit` bytes.
    pub fn expand_bounded(&self, input: &str, limit: usize) -> Result<String, TooLong> {
        expand_bounded(input, |name| self.get(name), limit)
    }

    /// The variables in definition order.
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }
}

/// A container's environment, `command` and `args` after `$(VAR)` expansion.
#[derive(Debug, Default)]
pub(crate) struct Expanded {
    pub(crate) env: Environment,
    pub(crate) command: Vec<String>,
    pub(crate) args: Vec<String>,
}

/// Why a container's expansion stopped: the field (`spec.containers[0].env[3].value`) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExpandError {
    pub(crate) path: String,
    pub(crate) message: String,
}

/// What a `NAME=value` string or an argument costs in `execve`'s budget: its bytes and NUL.
fn env_cost(name: &str, value: &str) -> usize {
    name.len() + value.len() + 2
}

/// Builds a container's environment (`HOSTNAME`, then `env` in order, each `value` expanded
/// against the variables before it, then `PWD` from `workingDir`) and expands its `command`
/// and `args` against the result, as Kubernetes does.
///
/// Every string is bounded by [`MAX_ARG_STRLEN`] and all of them together by [`ARG_MAX`], the
/// limits a container meets in `execve` on a node; expansion stops at the first string that
/// would break one, so a chain of `$(VAR)` doublings costs at most `ARG_MAX` bytes, not
/// gigabytes.
///
/// `env_from` are the variables of `envFrom`, set before `env` (which overrides them) and
/// never expanded. `value_from` gives the value of a `valueFrom` entry: `Ok(None)` leaves the
/// variable unset (an optional reference to a missing key), `Err` stops (a missing object).
pub(crate) fn expand_container<E: From<ExpandError>>(
    c: &Container,
    path: &str,
    hostname: &str,
    env_from: &[(String, String)],
    mut value_from: impl FnMut(&EnvVar) -> Result<Option<String>, E>,
) -> Result<Expanded, E> {
    let too_long = |field: String, what: &str| ExpandError {
        path: field,
        message: format!(
            "Too long: {what}may not be more than {MAX_ARG_STRLEN} bytes (MAX_ARG_STRLEN) after $(VAR) expansion"
        ),
    };
    let over_total = |field: String| ExpandError {
        path: field,
        message: format!(
            "Too long: the container's arguments and environment together may not be more than {ARG_MAX} bytes (ARG_MAX) after $(VAR) expansion"
        ),
    };
    /// Sets a variable, keeping `total` up to date; `false` once it is over [`ARG_MAX`].
    fn set(env: &mut Environment, name: &str, value: String, total: &mut usize) -> bool {
        if let Some(old) = env.get(name) {
            *total -= env_cost(name, old);
        }
        *total += env_cost(name, &value);
        env.set(name, value);
        *total <= ARG_MAX
    }
    let mut out = Expanded::default();
    let mut total = 0usize;
    set(&mut out.env, "HOSTNAME", hostname.to_string(), &mut total);
    for (name, value) in env_from {
        if value.len() > MAX_ARG_STRLEN.saturating_sub(name.len() + 2) {
            let what = format!("\"{name}=value\" ");
            return Err(too_long(format!("{path}.envFrom"), &what).into());
        }
        if !set(&mut out.env, name, value.clone(), &mut total) {
            return Err(over_total(format!("{path}.envFrom")).into());
        }
    }
    for (i, var) in c.env.iter().flatten().enumerate() {
        let entry = format!("{path}.env[{i}]");
        let string_limit = MAX_ARG_STRLEN.saturating_sub(var.name.len() + 2);
        let what = format!("\"{}=value\" ", var.name);
        let value = if var.value_from.is_none() {
            // `value` is expanded against the variables defined before it.
            let raw = var.value.as_deref().unwrap_or_default();
            out.env
                .expand_bounded(raw, string_limit)
                .map_err(|_| too_long(format!("{entry}.value"), &what))?
        } else {
            let Some(value) = value_from(var)? else {
                continue;
            };
            if value.len() > string_limit {
                return Err(too_long(format!("{entry}.valueFrom"), &what).into());
            }
            value
        };
        if !set(&mut out.env, &var.name, value, &mut total) {
            return Err(over_total(entry).into());
        }
    }
    if let Some(dir) = &c.working_dir {
        let field = format!("{path}.workingDir");
        if dir.len() > MAX_ARG_STRLEN.saturating_sub(5) {
            return Err(too_long(field, "\"PWD=value\" ").into());
        }
        if !set(&mut out.env, "PWD", dir.clone(), &mut total) {
            return Err(over_total(field).into());
        }
    }
    for (list, strings, into) in [
        ("command", &c.command, &mut out.command),
        ("args", &c.args, &mut out.args),
    ] {
        for (j, s) in strings.iter().flatten().enumerate() {
            let field = format!("{path}.{list}[{j}]");
            let arg = out
                .env
                .expand_bounded(s, MAX_ARG_STRLEN - 1)
                .map_err(|_| too_long(field.clone(), ""))?;
            total += arg.len() + 1;
            if total > ARG_MAX {
                return Err(over_total(field).into());
            }
            into.push(arg);
        }
    }
    Ok(out)
}

/// What a `fieldRef` can name of the pod: its identity as the API server
/// assigned it, and the Pod object itself (labels, annotations, spec).
pub(crate) struct PodFields<'a> {
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) uid: &'a str,
    pub(crate) pod: &'a Pod,
    /// The pod's IP in its cluster network (`127.0.0.1` when it has none).
    pub(crate) pod_ip: Option<std::net::Ipv4Addr>,
    /// The Service variables (`enableServiceLinks`), set before `envFrom`.
    pub(crate) service_env: &'a [(String, String)],
}

/// The raw value of one `env` entry: `value` (the caller expands it against
/// earlier entries) or a supported `valueFrom.fieldRef`. `None` for an
/// unsupported source.
pub(crate) fn env_value(ctx: &PodFields<'_>, var: &EnvVar) -> Option<String> {
    let Some(from) = &var.value_from else {
        return Some(var.value.clone().unwrap_or_default());
    };
    let field_path = &from.field_ref.as_ref()?.field_path;
    let meta = &ctx.pod.metadata;
    let map_key = |prefix: &str| {
        field_path
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix("['"))
            .and_then(|rest| rest.strip_suffix("']"))
            .map(str::to_string)
    };
    Some(match field_path.as_str() {
        "metadata.name" => ctx.name.to_string(),
        "metadata.namespace" => ctx.namespace.to_string(),
        "metadata.uid" => ctx.uid.to_string(),
        "spec.nodeName" => ctx
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_else(|| "localhost".into()),
        "spec.serviceAccountName" => ctx
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_else(|| "default".into()),
        "status.podIP" | "status.podIPs" => ctx
            .pod_ip
            .map_or_else(|| "127.0.0.1".into(), |ip| ip.to_string()),
        "status.hostIP" | "status.hostIPs" => "127.0.0.1".into(),
        _ => {
            if let Some(k) = map_key("metadata.labels") {
                meta.labels
                    .as_ref()
                    .and_then(|l| l.get(&k).cloned())
                    .unwrap_or_default()
            } else if let Some(k) = map_key("metadata.annotations") {
                meta.annotations
                    .as_ref()
                    .and_then(|a| a.get(&k).cloned())
                    .unwrap_or_default()
            } else {
                return None;
            }
        }
    })
}

/// The containers whose `env`, `command` or `args` would break an `execve` limit after
/// `$(VAR)` expansion ([`MAX_ARG_STRLEN`] per string, [`ARG_MAX`] in all), as (field path,
/// message): what [`super::validate`] reports. Expansion stops at the first string over a
/// limit, so this costs at most a few MiB whatever the manifest. Values the pod does not fix
/// (a generated uid or name suffix) count with their usual length.
pub(crate) fn expansion_problems(pod: &Pod) -> Vec<(String, String)> {
    let meta = &pod.metadata;
    let name = match (&meta.name, &meta.generate_name) {
        (Some(n), _) => n.clone(),
        (None, Some(g)) => format!("{g}xxxxx"),
        (None, None) => String::new(),
    };
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    let fields = PodFields {
        name: &name,
        namespace: meta.namespace.as_deref().unwrap_or("default"),
        uid: meta
            .uid
            .as_deref()
            .unwrap_or("00000000-0000-0000-0000-000000000000"),
        pod,
        pod_ip: None,
        service_env: &[],
    };
    let hostname = spec.hostname.as_deref().unwrap_or(&name);
    let init = spec.init_containers.iter().flatten();
    let lists = init
        .enumerate()
        .map(|(i, c)| (format!("spec.initContainers[{i}]"), c))
        .chain(
            spec.containers
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("spec.containers[{i}]"), c)),
        );
    lists
        .filter_map(|(path, c)| {
            // Unsupported sources are validation's business; here they count as empty.
            expand_container::<ExpandError>(c, &path, hostname, &[], |var| {
                Ok(Some(env_value(&fields, var).unwrap_or_default()))
            })
            .err()
            .map(|e| (e.path, e.message))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        let mut e = Environment::default();
        for (k, v) in pairs {
            e.set(k, v.to_string());
        }
        e
    }

    // Cases from Kubernetes' expansion_test.go (TestMapReference/TestMapping).
    #[test]
    fn expansion_matches_kubernetes() {
        let e = env(&[("VAR_A", "A"), ("VAR_B", "B"), ("VAR_EMPTY", "")]);
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_A)", "A-A"),
            ("foo\\$(VAR_A)", "foo\\A"),
            ("$$(VAR_B)", "$(VAR_B)"),
            ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
            ("$$$$$$$(VAR_A)", "$$$A"),
            ("$(VAR_DNE)", "$(VAR_DNE)"),
            ("$(VAR_A", "$(VAR_A"),
            ("$VAR_A", "$VAR_A"),
            ("$(VAR_EMPTY)x", "x"),
            ("$", "$"),
            ("$()", "$()"),
            ("f000-$$VAR_A", "f000-$VAR_A"),
            ("ünïcode $(VAR_A)", "ünïcode A"),
        ];
        for (input, want) in cases {
            assert_eq!(e.expand(input), want, "expanding {input:?}");
        }
    }

    #[test]
    fn bounded_expansion_stops_at_the_limit() {
        let e = env(&[("A", "0123456789")]);
        assert_eq!(e.expand_bounded("$(A)$(A)", 20).unwrap().len(), 20);
        assert_eq!(
            e.expand_bounded("$(A)$(A)x", 20),
            Err(TooLong { limit: 20 })
        );
        assert_eq!(
            e.expand_bounded("$(A)$(A)$$", 20),
            Err(TooLong { limit: 20 })
        );
        assert_eq!(e.expand_bounded("$(B)", 3), Err(TooLong { limit: 3 }));
        assert_eq!(e.expand_bounded("$(B)", 4).unwrap(), "$(B)");
        // Same results as unbounded expansion when within the limit.
        for input in ["$$(A)", "$(A", "$", "x$(A)y$", "$()"] {
            assert_eq!(e.expand_bounded(input, 100).unwrap(), e.expand(input));
        }
    }

    #[test]
    fn a_doubling_chain_fails_without_growing() {
        let mut c = Container::default();
        let mut vars = vec![EnvVar {
            name: "V0".into(),
            value: Some("x".repeat(16)),
            ..EnvVar::default()
        }];
        for i in 1..64 {
            vars.push(EnvVar {
                name: format!("V{i}"),
                value: Some(format!("$(V{p})$(V{p})", p = i - 1)),
                ..EnvVar::default()
            });
        }
        c.env = Some(vars);
        let err =
            expand_container::<ExpandError>(&c, "c", "h", &[], |_| Ok(None)).expect_err("too long");
        assert_eq!(err.path, "c.env[13].value");
        assert!(err.message.contains("(MAX_ARG_STRLEN)"), "{}", err.message);
    }

    #[test]
    fn later_definitions_override_but_keep_position() {
        let mut e = env(&[("A", "1"), ("B", "2")]);
        e.set("A", "3".into());
        assert_eq!(
            e.vars(),
            &[("A".into(), "3".into()), ("B".into(), "2".into())]
        );
    }
}
