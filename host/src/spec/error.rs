//! Problems found while reading a Pod manifest.
//!
//! Two shapes exist on purpose:
//!
//! * a [`Diagnostic`] is one finding about one field (`spec.containers[1].image (line 12):
//!   Required value`). Validation errors and "accepted but not honoured" warnings share it,
//!   so callers print both the same way.
//! * a [`SpecError`] is why a file cannot be run at all. When the cause is a set of field
//!   problems it carries *all* of them ([`SpecError::Invalid`]), never just the first, so a
//!   user fixes a manifest in one round trip rather than one error at a time.
//!
//! Messages follow Kubernetes' `field.Error` wording (`Required value`, `Invalid value: ...`,
//! `Unsupported value: ...: supported values: ...`, `Not found: ...`, `Duplicate value: ...`,
//! `Forbidden: ...`) so that what wasmpod says matches what `kubectl apply` would say.

use std::fmt;

/// One finding about one field of a Pod: an error when it comes inside
/// [`SpecError::Invalid`], a warning when [`validate`](super::validate) returns it in `Ok`.
///
/// `path` uses Kubernetes' field-path style (`spec.containers[0].env[3].name`) and `line`
/// is the 1-based line in the whole file (not in the YAML document) when it could be found.
///
/// # Example
///
/// ```
/// let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n";
/// let Err(wasmpod::spec::SpecError::Invalid { problems, .. }) = wasmpod::spec::load(yaml) else {
///     panic!("invalid");
/// };
/// let d = &problems[0];
/// assert_eq!((d.path.as_str(), d.line), ("spec.containers[0].image", Some(6)));
/// assert_eq!(d.to_string(), "spec.containers[0].image (line 6): Required value");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Diagnostic {
    /// Kubernetes-style field path, e.g. `spec.volumes[2].hostPath.path`.
    pub path: String,
    /// 1-based line in the file, if the field (or its nearest located parent) was found.
    pub line: Option<usize>,
    /// What is wrong, in Kubernetes' wording, e.g. `Duplicate value: "app"`.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} (line {line}): {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Why a manifest cannot be run.
///
/// Document numbers (`document`) are 0-based indexes into the YAML stream; `Display`
/// shows them 1-based ("document 2") because that is what a person counts.
///
/// # Example
///
/// ```
/// use wasmpod::spec::{self, SpecError};
///
/// let err = spec::parse("apiVersion: v1\nkind: Pod\nspec:\n\tcontainers: []\n").unwrap_err();
/// match err {
///     SpecError::Yaml { line, .. } => assert_eq!(line, Some(4)),
///     other => panic!("unexpected {other}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The text is not well-formed YAML, or a value has the wrong type for its field
    /// (e.g. `command: 5`). `line`/`column` are 1-based positions in the whole file.
    #[error("{}{message}", location_prefix(*document, *line, *column))]
    Yaml {
        /// 0-based index of the YAML document in the file.
        document: usize,
        /// 1-based line in the file.
        line: Option<usize>,
        /// 1-based column.
        column: Option<usize>,
        /// The parser's explanation, without the position (that is in `line`/`column`).
        message: String,
    },
    /// A document is well-formed YAML but not a Kubernetes object (e.g. a bare list, or a
    /// mapping without `kind`).
    #[error("document {} (line {}): {message}", document + 1, line_text(*line))]
    Document {
        /// 0-based index of the YAML document in the file.
        document: usize,
        /// 1-based line where the document's content starts.
        line: Option<usize>,
        /// What is wrong with it.
        message: String,
    },
    /// The file holds no `v1` `Pod`. `notes` says what was skipped instead, if anything.
    #[error("no v1 Pod found in the file{}", notes_suffix(notes))]
    NoPod {
        /// One line per skipped document, as in [`ParsedFile::notes`](super::ParsedFile::notes).
        notes: Vec<String>,
    },
    /// The Pod was read but breaks one or more rules; every problem found is listed.
    #[error("pod {pod} is invalid:{}", problem_list(problems))]
    Invalid {
        /// The pod's name (quoted), its `generateName` prefix, or `(unnamed, document N)`.
        pod: String,
        /// Every problem found, ordered by line.
        problems: Vec<Diagnostic>,
    },
    /// A ConfigMap or Secret was read but breaks one or more rules; every problem found is
    /// listed. Secret values never appear in it.
    #[error("{kind} {name} is invalid:{}", problem_list(problems))]
    InvalidObject {
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// The object's name, quoted.
        name: String,
        /// Every problem found, ordered by line.
        problems: Vec<Diagnostic>,
    },
    /// A problem of one input of [`load_many`](super::load_many), named by it (a file's
    /// path): `pods/web.yaml: pod "web" is invalid: ...`.
    #[error("{file}: {error}")]
    InFile {
        /// The input's name, as given to `load_many`.
        file: String,
        /// What is wrong in it.
        error: Box<SpecError>,
    },
    /// Several Pods or objects are invalid (from [`load`](super::load)), or several inputs of
    /// [`load_many`](super::load_many) have problems; each entry is one of the other variants.
    #[error("{} pods are invalid:\n{}", .0.len(), join_errors(.0))]
    Several(Vec<SpecError>),
}

fn location_prefix(document: usize, line: Option<usize>, column: Option<usize>) -> String {
    let doc = if document > 0 {
        format!("document {}, ", document + 1)
    } else {
        String::new()
    };
    match (line, column) {
        (Some(l), Some(c)) => format!("{doc}line {l}, column {c}: "),
        (Some(l), None) => format!("{doc}line {l}: "),
        _ if document > 0 => format!("document {}: ", document + 1),
        _ => String::new(),
    }
}

fn line_text(line: Option<usize>) -> String {
    line.map_or_else(|| "?".to_owned(), |l| l.to_string())
}

fn notes_suffix(notes: &[String]) -> String {
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    }
}

fn problem_list(problems: &[Diagnostic]) -> String {
    problems.iter().map(|p| format!("\n  {p}")).collect()
}

fn join_errors(errors: &[SpecError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Builders for Kubernetes-style messages (`k8s.io/apimachinery/pkg/util/validation/field`).
pub(crate) mod msg {
    use std::fmt::Write as _;

    /// `Required value` with an optional detail.
    pub(crate) fn required(detail: &str) -> String {
        with_detail("Required value", detail)
    }

    /// `Invalid value: <value>: <detail>`; `value` is already rendered (see [`quote`]).
    pub(crate) fn invalid(value: &str, detail: &str) -> String {
        with_detail(&format!("Invalid value: {value}"), detail)
    }

    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub(crate) fn not_supported(value: &str, supported: &[&str]) -> String {
        let mut out = format!("Unsupported value: {}: supported values: ", quote(value));
        for (i, s) in supported.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}", quote(s));
        }
        out
    }

    /// `Not found: "x"`.
    pub(crate) fn not_found(value: &str) -> String {
        format!("Not found: {}", quote(value))
    }

    /// `Duplicate value: "x"`.
    pub(crate) fn duplicate(value: &str) -> String {
        format!("Duplicate value: {}", quote(value))
    }

    /// `Forbidden: <detail>`.
    pub(crate) fn forbidden(detail: &str) -> String {
        with_detail("Forbidden", detail)
    }

    /// A string value the way Go's `%q` shows it (close enough: Rust's `{:?}`).
    pub(crate) fn quote(value: &str) -> String {
        format!("{value:?}")
    }

    fn with_detail(head: &str, detail: &str) -> String {
        if detail.is_empty() {
            head.to_owned()
        } else {
            format!("{head}: {detail}")
        }
    }
}

/// Kubernetes' string formats (`k8s.io/apimachinery/pkg/util/validation`), each returning
/// Kubernetes' own messages for what is wrong (empty when valid).
pub(crate) mod formats {
    const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

    fn is_label(s: &str) -> bool {
        let b = s.as_bytes();
        let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        !b.is_empty()
            && b.first().is_some_and(alnum)
            && b.last().is_some_and(alnum)
            && b.iter().all(|c| alnum(c) || *c == b'-')
    }

    /// `IsDNS1123Label`: ≤ 63 characters, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`.
    pub(crate) fn dns1123_label(s: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if s.len() > 63 {
            errors.push("must be no more than 63 characters".to_owned());
        }
        if !is_label(s) {
            errors.push(
                if is_subdomain(s) {
                    "must not contain dots"
                } else {
                    DNS1123_LABEL_MSG
                }
                .to_owned(),
            );
        }
        errors
    }

    fn is_subdomain(s: &str) -> bool {
        s.split('.').all(is_label)
    }

    /// `IsDNS1123Subdomain`: ≤ 253 characters, dot-separated labels.
    pub(crate) fn dns1123_subdomain(s: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if s.len() > 253 {
            errors.push("must be no more than 253 characters".to_owned());
        }
        if !is_subdomain(s) {
            errors.push(DNS1123_SUBDOMAIN_MSG.to_owned());
        }
        errors
    }

    /// `IsValidPortName` (IANA_SVC_NAME): ≤ 15 of `[-a-z0-9]`, a letter, no `--`, no edge `-`.
    pub(crate) fn port_name(s: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if s.len() > 15 {
            errors.push("must be no more than 15 characters".to_owned());
        }
        if !s
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        {
            errors.push(
                "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_owned(),
            );
        }
        if !s.bytes().any(|c| c.is_ascii_lowercase()) {
            errors.push("must contain at least one letter (a-z)".to_owned());
        }
        if s.contains("--") {
            errors.push("must not contain consecutive hyphens".to_owned());
        }
        if s.starts_with('-') || s.ends_with('-') {
            errors.push("must not begin or end with a hyphen".to_owned());
        }
        errors
    }
}
