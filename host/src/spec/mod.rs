//! Reading a Kubernetes `v1` Pod manifest: parse, then validate. Pure: no filesystem, no
//! compiling — text in, typed [`Pod`] and diagnostics out.
//!
//! The pipeline is deliberately strict, because a manifest that is *accepted but
//! misread* is worse than one that is rejected:
//!
//! 1. [`parse`] splits the YAML stream into documents, keeps the `v1` `Pod`s (other kinds are
//!    skipped with a note), and deserialises each into `k8s_openapi`'s [`Pod`]. Malformed YAML
//!    and wrongly typed values (`command: 5`) are [`SpecError::Yaml`] with a line number.
//! 2. [`validate`] applies Kubernetes' own rules for the fields wasmpod reads (names, images,
//!    restart policies, volumes, mounts, env, ports; see `validate.rs`), plus kubectl's strict
//!    field validation — unknown fields such as a `comand:` typo are errors, because
//!    `k8s-openapi` would otherwise drop them silently (see `fields.rs`). It returns **every**
//!    problem at once, each with its field path and line. Fields that are valid Kubernetes but
//!    not implemented by wasmpod yet (resources, securityContext, ...) come back as
//!    warnings, never silently ignored.
//! 3. [`load`] does both for every Pod in a file.
//!
//! Line numbers come from a second, position-aware pass over the text (`locate.rs`), since
//! serde keeps no positions; they are 1-based lines in the whole file.
//!
//! # Example
//!
//! ```
//! let yaml = "\
//! apiVersion: v1
//! kind: Pod
//! metadata:
//!   name: hello
//! spec:
//!   containers:
//!   - name: app
//!     image: hello.wasm
//!     securityContext:
//!       runAsUser: 1000
//! ";
//! let file = wasmpod::spec::load(yaml).unwrap();
//! let pod = &file.pods[0];
//! assert_eq!(pod.document.pod.metadata.name.as_deref(), Some("hello"));
//! assert_eq!(
//!     pod.warnings[0].to_string(),
//!     "spec.containers[0].securityContext (line 9): not honoured by wasmpod yet; ignored"
//! );
//! ```

mod error;
pub mod expand;
mod fields;
mod handlers;
mod json;
mod locate;
mod objects;
mod octal;
mod prescan;
pub mod quantity;
mod sources;
mod validate;

#[cfg(test)]
mod tests;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use serde::Deserialize as _;

pub use error::{Diagnostic, SpecError};
pub use objects::{ConfigObject, MAX_OBJECT_DATA_BYTES, ObjectDocument};
pub use prescan::{MAX_ALIAS_NODES, MAX_DOCUMENT_BYTES, MAX_NESTING, MAX_NODES};
pub use validate::{MAX_ANNOTATIONS_BYTES, validate};

use locate::{Locator, parse_path};

/// A Pod read from one YAML document, with what is needed to point at lines.
///
/// # Example
///
/// ```
/// let file = wasmpod::spec::parse("---\nkind: Pod\napiVersion: v1\nspec:\n  containers: []\n").unwrap();
/// let doc = &file.pods[0];
/// assert_eq!((doc.document_index, doc.first_line), (0, 2));
/// assert_eq!(doc.line_of("spec.containers"), Some(5));
/// ```
#[derive(Debug, Clone)]
pub struct PodDocument {
    /// The typed Pod.
    pub pod: Pod,
    /// 0-based index of the document in the YAML stream.
    pub document_index: usize,
    /// 1-based line where the document's content starts (1 if it could not be located).
    pub first_line: usize,
    locator: Locator,
    /// Unknown fields and mistyped scalars found while parsing; reported by [`validate`] so
    /// that they come out together with every other problem.
    strict_problems: Vec<Diagnostic>,
}

impl PodDocument {
    /// The 1-based file line of a field, given as a Kubernetes-style path
    /// (`spec.containers[0].image`; map keys with dots as `metadata.labels[a.b/c]`).
    ///
    /// A field that is absent (or reached through a YAML alias) gives the line of its
    /// nearest present parent, so `Required value` problems point at the object missing the
    /// field. `None` only if nothing of the document could be located.
    ///
    /// # Example
    ///
    /// ```
    /// let file = wasmpod::spec::parse(
    ///     "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    command: ['sh', '-c', 'x']\n",
    /// ).unwrap();
    /// let doc = &file.pods[0];
    /// assert_eq!(doc.line_of("spec.containers[0].command[2]"), Some(6));
    /// assert_eq!(doc.line_of("spec.containers[0].image"), Some(5)); // absent: the container's line
    /// ```
    pub fn line_of(&self, path: &str) -> Option<usize> {
        self.locator.find(&parse_path(path)).map(|p| p.line)
    }

    /// A name to show for this Pod: its `metadata.name`, else its `generateName` prefix, else
    /// `(unnamed, document N)`.
    ///
    /// # Example
    ///
    /// ```
    /// let file = wasmpod::spec::parse("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n").unwrap();
    /// assert_eq!(file.pods[0].display_name(), "\"web\"");
    /// ```
    pub fn display_name(&self) -> String {
        let meta = &self.pod.metadata;
        match (meta.name.as_deref(), meta.generate_name.as_deref()) {
            (Some(n), _) if !n.is_empty() => format!("{n:?}"),
            (_, Some(g)) if !g.is_empty() => format!("{:?}", format!("{g}*")),
            _ => format!("(unnamed, document {})", self.document_index + 1),
        }
    }

    fn problem(&self, path: String, message: String) -> Diagnostic {
        let line = self.line_of(&path);
        Diagnostic {
            path,
            line,
            message,
        }
    }
}

/// The Pods of a file, in document order, and notes about what else the file held.
///
/// # Example
///
/// ```
/// let yaml = "apiVersion: v1\nkind: Service\n---\napiVersion: v1\nkind: Pod\n";
/// let file = wasmpod::spec::parse(yaml).unwrap();
/// assert_eq!(file.pods.len(), 1);
/// assert_eq!(file.notes, ["document 1 (line 1): skipped kind Service (wasmpod reads v1 Pod, ConfigMap and Secret)"]);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParsedFile {
    /// Every `v1` `Pod` document, in order.
    pub pods: Vec<PodDocument>,
    /// Every `v1` `ConfigMap` and `Secret` document, in order.
    pub objects: Vec<ObjectDocument>,
    /// One line per skipped document, e.g.
    /// `document 2 (line 14): skipped kind Service (wasmpod reads v1 Pod, ConfigMap and Secret)`.
    pub notes: Vec<String>,
}

/// A Pod that passed [`validate`], with the warnings about fields it uses that wasmpod does
/// not honour yet.
///
/// # Example
///
/// ```
/// let file = wasmpod::spec::load("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: c, image: c.wasm}]\n").unwrap();
/// let valid: &wasmpod::spec::ValidPod = &file.pods[0];
/// assert!(valid.warnings.is_empty());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ValidPod {
    /// The parsed Pod.
    pub document: PodDocument,
    /// Fields accepted but not honoured (see [`validate`]).
    pub warnings: Vec<Diagnostic>,
}

impl ValidPod {
    /// Validates a typed Pod (one built in code, or read by other means) by the same rules as
    /// a manifest; problems carry field paths but no lines.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] listing every problem.
    ///
    /// # Example
    ///
    /// ```
    /// use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
    ///
    /// let mut pod = Pod::default();
    /// pod.metadata.name = Some("hello".into());
    /// pod.spec = Some(PodSpec {
    ///     containers: vec![Container { name: "app".into(), ..Default::default() }],
    ///     ..Default::default()
    /// });
    /// let err = wasmpod::spec::ValidPod::from_pod(pod).unwrap_err();
    /// assert_eq!(err.to_string(), "pod \"hello\" is invalid:\n  spec.containers[0].image: Required value");
    /// ```
    pub fn from_pod(pod: Pod) -> Result<Self, SpecError> {
        let document = PodDocument {
            pod,
            document_index: 0,
            first_line: 1,
            locator: Locator::default(),
            strict_problems: Vec::new(),
        };
        let warnings = validate(&document)?;
        Ok(Self { document, warnings })
    }

    /// Parses and validates YAML or JSON text holding exactly one Pod (other kinds of object
    /// are skipped); problems carry field paths and lines.
    ///
    /// # Errors
    /// As [`load`], and [`SpecError::Document`] when the text holds several Pods.
    ///
    /// # Example
    ///
    /// ```
    /// let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: busybox}]}\n";
    /// let pod = wasmpod::spec::ValidPod::from_yaml(yaml).unwrap();
    /// assert_eq!(pod.document.pod.metadata.name.as_deref(), Some("a"));
    /// assert!(pod.warnings.is_empty());
    /// ```
    pub fn from_yaml(text: &str) -> Result<Self, SpecError> {
        let mut file = load(text)?;
        if file.pods.len() != 1 {
            return Err(SpecError::Document {
                document: 0,
                line: None,
                message: format!("expected one Pod, found {}", file.pods.len()),
            });
        }
        Ok(file.pods.remove(0))
    }
}

/// What [`load`] returns: every Pod of the file, validated.
///
/// # Example
///
/// ```
/// let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: c.wasm}]}\n";
/// let file: wasmpod::spec::LoadedFile = wasmpod::spec::load(yaml).unwrap();
/// assert_eq!((file.pods.len(), file.notes.len()), (1, 0));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadedFile {
    /// Every Pod of the file, in document order, each valid.
    pub pods: Vec<ValidPod>,
    /// Every ConfigMap and Secret of the file, in document order, each valid.
    pub objects: Vec<ConfigObject>,
    /// Skipped documents, as in [`ParsedFile::notes`].
    pub notes: Vec<String>,
}

/// Parses single- or multi-document YAML into its `v1` Pods.
///
/// Text over [`MAX_DOCUMENT_BYTES`], nested over [`MAX_NESTING`] levels, with aliases
/// expanding to over [`MAX_ALIAS_NODES`] nodes or over [`MAX_NODES`] nodes in all is refused before any YAML parser builds
/// anything from it ([`SpecError::Yaml`]).
///
/// Non-Pod documents (another kind, or a Pod whose `apiVersion` is not `v1`) are skipped with
/// a note; empty documents are skipped silently. Errors: malformed YAML or a wrongly typed
/// value ([`SpecError::Yaml`], with line and column), a document that is not an object with
/// `apiVersion` and `kind` ([`SpecError::Document`]), no Pod at all ([`SpecError::NoPod`]).
///
/// Parsing does not judge field values; call [`validate`] (or use [`load`]) before running.
///
/// # Example
///
/// ```
/// use wasmpod::spec::{self, SpecError};
///
/// let err = spec::parse("apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    command: 5\n").unwrap_err();
/// assert!(matches!(err, SpecError::Yaml { line: Some(6), .. }), "{err}");
/// assert!(matches!(spec::parse("kind: Service\napiVersion: v1\n"), Err(SpecError::NoPod { .. })));
/// ```
pub fn parse(text: &str) -> Result<ParsedFile, SpecError> {
    // A UTF-8 byte order mark (Windows editors) confuses serde_yaml; it is not content.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    // JSON's surrogate-pair escapes, which YAML does not read (see `json`).
    let joined = json::join_surrogates(text);
    let text: &str = &joined;
    // Size and nesting first: past those bounds both YAML parsers take quadratic time.
    prescan::check(text)?;
    // `defaultMode: 0644` is octal, as kubectl reads it (see `octal`).
    let octal = octal::yaml11_modes(text);
    let text: &str = &octal;
    let locators = locate::locate_documents(text);
    let mut notes = Vec::new();
    let mut pods: Vec<(usize, serde_yaml::Value)> = Vec::new();
    let mut objects: Vec<(usize, &'static str, serde_yaml::Value)> = Vec::new();

    // Pass 1: untyped, to read apiVersion/kind and to keep the document as written.
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(de).map_err(|e| yaml_error(text, index, &e))?;
        let root_line = locators.get(index).and_then(Locator::root).map(|p| p.line);
        let mapping = match &value {
            serde_yaml::Value::Null => continue,
            serde_yaml::Value::Mapping(m) => m,
            other => {
                return Err(SpecError::Document {
                    document: index,
                    line: root_line,
                    message: format!(
                        "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
                        describe(other)
                    ),
                });
            }
        };
        let field = |name: &str| mapping.get(name).and_then(serde_yaml::Value::as_str);
        let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
            let missing = if field("apiVersion").is_none() {
                "apiVersion"
            } else {
                "kind"
            };
            return Err(SpecError::Document {
                document: index,
                line: root_line,
                message: format!("\"{missing}\" is missing or not a string"),
            });
        };
        if kind == "Pod" && api_version == "v1" {
            pods.push((index, value));
        } else if let ("v1", Some(kind)) = (api_version, config_kind(kind)) {
            objects.push((index, kind, value));
        } else {
            let what = if kind == "Pod" {
                format!("{api_version} Pod")
            } else {
                format!("kind {kind}")
            };
            notes.push(format!(
                "document {} (line {}): skipped {what} (wasmpod reads v1 Pod, ConfigMap and Secret)",
                index + 1,
                root_line.map_or_else(|| "?".to_owned(), |l| l.to_string())
            ));
        }
    }
    if pods.is_empty() {
        return Err(SpecError::NoPod { notes });
    }

    // Pass 2: typed. Deserialising straight from the text (not from the Value) keeps serde_yaml's
    // positions in type errors, and lets `Quantity` fields take bare numbers like kubectl does.
    let mut typed = Vec::with_capacity(pods.len());
    let mut typed_objects = Vec::with_capacity(objects.len());
    let mut wanted = pods.into_iter().peekable();
    let mut wanted_objects = objects.into_iter().peekable();
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        if let Some((_, kind, raw)) = wanted_objects.next_if(|(i, _, _)| *i == index) {
            let locator = locators.get(index).cloned().unwrap_or_default();
            typed_objects.push(object_document(text, index, kind, &raw, de, locator)?);
            continue;
        }
        let Some((_, raw)) = wanted.next_if(|(i, _)| *i == index) else {
            continue;
        };
        let pod = Pod::deserialize(de).map_err(|e| yaml_error(text, index, &e))?;
        let locator = locators.get(index).cloned().unwrap_or_default();
        let raw_json = yaml_to_json(&raw);
        let typed_json = serde_json::to_value(&pod).unwrap_or(serde_json::Value::Null);
        let strict_problems = fields::unknown_fields(&raw_json, &typed_json, &locator);
        typed.push(PodDocument {
            pod,
            document_index: index,
            first_line: locator.root().map_or(1, |p| p.line),
            locator,
            strict_problems,
        });
    }
    Ok(ParsedFile {
        pods: typed,
        objects: typed_objects,
        notes,
    })
}

/// Parses `text` and validates every Pod in it.
///
/// Errors as [`parse`], or [`SpecError::Invalid`] listing every problem of the one invalid
/// Pod, or [`SpecError::Several`] when more than one Pod is invalid.
///
/// # Example
///
/// ```
/// let err = wasmpod::spec::load("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: a\n").unwrap_err();
/// assert_eq!(err.to_string(), "pod \"x\" is invalid:\n  spec.containers[0].image (line 6): Required value");
/// ```
pub fn load(text: &str) -> Result<LoadedFile, SpecError> {
    let parsed = parse(text)?;
    let mut pods = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut objects = Vec::new();
    for document in parsed.objects {
        match objects::validate(&document, &mut seen) {
            Ok(()) => objects.push(document.object),
            Err(e) => errors.push(e),
        }
    }
    for document in parsed.pods {
        match validate(&document) {
            Ok(warnings) => pods.push(ValidPod { document, warnings }),
            Err(e) => errors.push(e),
        }
    }
    match errors.len() {
        0 => Ok(LoadedFile {
            pods,
            objects,
            notes: parsed.notes,
        }),
        1 => Err(errors.remove(0)),
        _ => Err(SpecError::Several(errors)),
    }
}

/// The config kinds read beside Pods.
fn config_kind(kind: &str) -> Option<&'static str> {
    match kind {
        "ConfigMap" => Some("ConfigMap"),
        "Secret" => Some("Secret"),
        _ => None,
    }
}

/// Deserialises one ConfigMap or Secret document and finds its unknown fields.
fn object_document(
    text: &str,
    index: usize,
    kind: &'static str,
    raw: &serde_yaml::Value,
    de: serde_yaml::Deserializer<'_>,
    locator: Locator,
) -> Result<ObjectDocument, SpecError> {
    let raw_json = yaml_to_json(raw);
    let (object, typed_json) = if kind == "ConfigMap" {
        let cm = ConfigMap::deserialize(de).map_err(|e| yaml_error(text, index, &e))?;
        let json = serde_json::to_value(&cm).unwrap_or(serde_json::Value::Null);
        (ConfigObject::ConfigMap(cm), json)
    } else {
        let mut secret = Secret::deserialize(de).map_err(|e| yaml_error(text, index, &e))?;
        // Unknown fields are judged on the object as written, before the merge.
        let json = serde_json::to_value(&secret).unwrap_or(serde_json::Value::Null);
        objects::merge_string_data(&mut secret);
        (ConfigObject::Secret(secret), json)
    };
    let mut strict_problems = fields::unknown_fields(&raw_json, &typed_json, &locator);
    if let ConfigObject::Secret(_) = object {
        objects::redact(&mut strict_problems);
    }
    Ok(ObjectDocument {
        object,
        document_index: index,
        locator,
        strict_problems,
    })
}

fn describe(v: &serde_yaml::Value) -> &'static str {
    match v {
        serde_yaml::Value::Null => "nothing",
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "a string",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}

/// serde_yaml error → [`SpecError::Yaml`], moving the position out of the message.
fn yaml_error(text: &str, document: usize, err: &serde_yaml::Error) -> SpecError {
    let location = err.location();
    let mut message = err.to_string();
    if let Some(loc) = &location {
        let suffix = format!(" at line {} column {}", loc.line(), loc.column());
        if let Some(at) = message.find(&suffix) {
            message.replace_range(at..at + suffix.len(), "");
        }
        let line_text = text.lines().nth(loc.line().saturating_sub(1)).unwrap_or("");
        let indent: String = line_text
            .chars()
            .take_while(|c| c.is_whitespace())
            .collect();
        if indent.contains('\t') {
            message.push_str(" (YAML does not allow tabs for indentation)");
        }
    }
    SpecError::Yaml {
        document,
        line: location.as_ref().map(serde_yaml::Location::line),
        column: location.as_ref().map(serde_yaml::Location::column),
        message,
    }
}

/// The document as written, as JSON (keys that are not strings are written as YAML would
/// print them; tags are dropped). Used to spot keys the typed Pod dropped.
fn yaml_to_json(v: &serde_yaml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    use serde_yaml::Value as Y;
    match v {
        Y::Null => J::Null,
        Y::Bool(b) => J::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                J::from(i)
            } else if let Some(u) = n.as_u64() {
                J::from(u)
            } else {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or_else(|| J::String(n.to_string()), J::Number)
            }
        }
        Y::String(s) => J::String(s.clone()),
        Y::Sequence(items) => J::Array(items.iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => J::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s.clone(),
                        Y::Null => "null".to_owned(),
                        Y::Bool(b) => b.to_string(),
                        Y::Number(n) => n.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => yaml_to_json(&tagged.value),
    }
}
