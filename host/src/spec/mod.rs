//! Reading a Kubernetes `v1` Pod manifest: parse, then validate. Pure: no filesystem, no
//! compiling — text in, typed [`Pod`] and diagnostics out.
//!
//! The pipeline is deliberately strict, because a manifest that is *accepted but
//! misread* is worse than one that is rejected:
//!
//! 1. [`parse`] splits the YAML stream into documents (and the items of `kind: List`
//!    documents), keeps the `v1` `Pod`s, `ConfigMap`s and `Secret`s and the workloads
//!    (`apps/v1` Deployment, ReplicaSet, StatefulSet, DaemonSet; `batch/v1` Job: see
//!    `workloads.rs`; other kinds are skipped with a note), and deserialises each into `k8s_openapi`'s types (`documents.rs`).
//!    Malformed YAML and wrongly typed values (`command: 5`) are [`SpecError::Yaml`] with a
//!    line number.
//! 2. [`validate`] applies Kubernetes' own rules for the fields wasmpod reads (names, images,
//!    restart policies, volumes, mounts, env, ports; see `validate.rs`), plus kubectl's strict
//!    field validation — unknown fields such as a `comand:` typo are errors, because
//!    `k8s-openapi` would otherwise drop them silently (see `fields.rs`). It returns **every**
//!    problem at once, each with its field path and line. Fields that are valid Kubernetes but
//!    not implemented by wasmpod yet (resources, securityContext, ...) come back as
//!    warnings, never silently ignored.
//! 3. [`load`] does both for every Pod in a file, [`load_many`] for several files at once.
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
//!     "spec.containers[0].securityContext.runAsUser (line 10): not honoured by wasmpod yet; ignored"
//! );
//! ```

mod documents;
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
mod service;
pub use service::{NODE_PORTS, SERVICE_TYPES};
mod sources;
mod validate;
mod workloads;

#[cfg(test)]
mod tests;

use k8s_openapi::api::core::v1::Pod;

pub use error::{Diagnostic, SpecError};
pub use objects::{ConfigObject, MAX_OBJECT_DATA_BYTES, ObjectDocument};
pub use prescan::{MAX_ALIAS_NODES, MAX_DOCUMENT_BYTES, MAX_NESTING, MAX_NODES};
pub use validate::{MAX_ANNOTATIONS_BYTES, validate};
pub use workloads::{
    MAX_WORKLOAD_PODS, ValidWorkload, Workload, WorkloadDocument, selector_matches,
};

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
    /// 0-based index of the input it was read from ([`load_many`]; 0 otherwise).
    pub input: usize,
    /// Its index in the `items` of a `kind: List` document, if it was read from one.
    item: Option<usize>,
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
            _ => match self.item {
                Some(j) => format!(
                    "(unnamed, document {}, items[{j}])",
                    self.document_index + 1
                ),
                None => format!("(unnamed, document {})", self.document_index + 1),
            },
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
/// let yaml = "apiVersion: v1\nkind: Endpoints\n---\napiVersion: v1\nkind: Pod\n";
/// let file = wasmpod::spec::parse(yaml).unwrap();
/// assert_eq!(file.pods.len(), 1);
/// assert_eq!(file.notes, ["document 1 (line 1): skipped kind Endpoints (wasmpod reads v1 Pod, ConfigMap, Secret, Service, apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and batch/v1 Job)"]);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ParsedFile {
    /// Every `v1` `Pod` document, in order.
    pub pods: Vec<PodDocument>,
    /// Every `v1` `ConfigMap` and `Secret` document, in order.
    pub objects: Vec<ObjectDocument>,
    /// Every workload (`apps/v1` Deployment, ReplicaSet, StatefulSet, DaemonSet; `batch/v1`
    /// Job), in order.
    pub workloads: Vec<WorkloadDocument>,
    /// One line per skipped document, e.g.
    /// `document 2 (line 14): skipped kind Endpoints (wasmpod reads v1 Pod, ConfigMap, Secret, Service, apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and batch/v1 Job)`.
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
            input: 0,
            item: None,
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
    /// Every workload of the file, in document order, each valid (its template as a Pod).
    pub workloads: Vec<ValidWorkload>,
    /// Skipped documents, as in [`ParsedFile::notes`].
    pub notes: Vec<String>,
}

/// Parses single- or multi-document YAML (or JSON) into its `v1` Pods, ConfigMaps and Secrets.
///
/// Text over [`MAX_DOCUMENT_BYTES`], nested over [`MAX_NESTING`] levels, with aliases
/// expanding to over [`MAX_ALIAS_NODES`] nodes or over [`MAX_NODES`] nodes in all is refused before any YAML parser builds
/// anything from it ([`SpecError::Yaml`]).
///
/// The items of a `v1` `List` document (what `kubectl get -o yaml` writes) are read as if
/// they were documents; the problems of an item name it (`items[2].spec.containers[0]...`),
/// and [`PodDocument::line_of`] takes paths within the item. Other documents and items (another
/// kind, or a Pod whose `apiVersion` is not `v1`) are skipped with a note; empty documents are
/// skipped silently. Errors: malformed YAML or a wrongly typed
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
/// assert!(matches!(spec::parse("kind: Endpoints\napiVersion: v1\n"), Err(SpecError::NoPod { .. })));
/// ```
pub fn parse(text: &str) -> Result<ParsedFile, SpecError> {
    let file = documents::read(text, 0)?;
    if file.pods.is_empty() {
        return Err(SpecError::NoPod { notes: file.notes });
    }
    Ok(file)
}

/// Parses `text` and validates every Pod, ConfigMap, Secret and workload in it (a workload's
/// template as a Pod, its problems named `spec.template.spec…`).
///
/// Errors as [`parse`], or [`SpecError::Invalid`] listing every problem of the one invalid
/// Pod, or [`SpecError::Several`] when more than one Pod or object is invalid. Two objects
/// of one kind, namespace and name are an error (`Duplicate value`) on the second.
///
/// # Example
///
/// ```
/// let err = wasmpod::spec::load("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: a\n").unwrap_err();
/// assert_eq!(err.to_string(), "pod \"x\" is invalid:\n  spec.containers[0].image (line 6): Required value");
/// ```
pub fn load(text: &str) -> Result<LoadedFile, SpecError> {
    load_inputs(&[(None, text)])
}

/// Loads several manifests as one: each input is (name, text), the name being what errors
/// and notes call it (a file's path). Each Pod knows its input
/// ([`PodDocument::input`], an index into `inputs`), so that a caller can resolve its
/// relative image paths against its own file's directory.
///
/// Errors as [`load`], each wrapped in [`SpecError::InFile`] naming its input; every input
/// is read, so every problem of every file comes back at once. Notes name their input when
/// there are several. Objects (Pods, ConfigMaps,
/// Secrets) are one namespace across the inputs: the same kind, namespace and name twice is
/// an error, as within one file. [`SpecError::NoPod`] only when no input holds a Pod, a
/// ConfigMap or a Secret.
///
/// # Example
///
/// ```
/// let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, image: c.wasm}]}\n";
/// let config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\n";
/// let file = wasmpod::spec::load_many(&[("config.yaml", config), ("web/pod.yaml", pod)]).unwrap();
/// assert_eq!((file.pods.len(), file.objects.len()), (1, 1));
/// assert_eq!(file.pods[0].document.input, 1);
///
/// let err = wasmpod::spec::load_many(&[("a.yaml", pod), ("b.yaml", pod)]).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "b.yaml: pod \"web\" is invalid:\n  metadata.name (line 3): Duplicate value: \"Pod default/web is defined twice\""
/// );
/// ```
pub fn load_many(inputs: &[(&str, &str)]) -> Result<LoadedFile, SpecError> {
    let inputs: Vec<(Option<&str>, &str)> = inputs.iter().map(|(n, t)| (Some(*n), *t)).collect();
    load_inputs(&inputs)
}

/// [`load`] and [`load_many`]: inputs with a name wrap their errors and notes in it.
fn load_inputs(inputs: &[(Option<&str>, &str)]) -> Result<LoadedFile, SpecError> {
    let mut pods = Vec::new();
    let mut objects = Vec::new();
    let mut workload_list = Vec::new();
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (input, (name, text)) in inputs.iter().enumerate() {
        let named = |error: SpecError| match name {
            Some(file) => SpecError::InFile {
                file: (*file).to_owned(),
                error: Box::new(error),
            },
            None => error,
        };
        let parsed = match documents::read(text, input) {
            Ok(parsed) => parsed,
            Err(e) => {
                errors.push(named(e));
                continue;
            }
        };
        notes.extend(parsed.notes.into_iter().map(|n| match name {
            Some(file) if inputs.len() > 1 => format!("{file}: {n}"),
            _ => n,
        }));
        for document in parsed.objects {
            match objects::validate(&document, &mut seen) {
                Ok(()) => objects.push(document.object),
                Err(e) => errors.push(named(e)),
            }
        }
        for document in parsed.workloads {
            match workloads::validate_workload(&document, &mut seen) {
                Ok(warnings) => workload_list.push(ValidWorkload {
                    workload: document.workload,
                    input,
                    warnings,
                }),
                Err(e) => errors.push(named(e)),
            }
        }
        for document in parsed.pods {
            let duplicate = objects::duplicate_pod(&document, &mut seen);
            match (validate(&document), duplicate) {
                (Ok(warnings), None) => pods.push(ValidPod { document, warnings }),
                (Ok(_), Some(problem)) => errors.push(named(SpecError::Invalid {
                    pod: document.display_name(),
                    problems: vec![problem],
                })),
                (Err(SpecError::Invalid { pod, mut problems }), Some(problem)) => {
                    problems.push(problem);
                    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
                    errors.push(named(SpecError::Invalid { pod, problems }));
                }
                (Err(e), _) => errors.push(named(e)),
            }
        }
    }
    // ConfigMaps and Secrets alone are something to apply (a run needs a Pod: the CLI says so).
    if errors.is_empty() && pods.is_empty() && objects.is_empty() && workload_list.is_empty() {
        return Err(SpecError::NoPod { notes });
    }
    match errors.len() {
        0 => Ok(LoadedFile {
            pods,
            objects,
            workloads: workload_list,
            notes,
        }),
        1 => Err(errors.remove(0)),
        _ => Err(SpecError::Several(errors)),
    }
}

/// Diagnostics of an object read from `items[N]` of a List name that item: `items[2].spec…`.
fn in_item(item: Option<usize>, diagnostics: &mut [Diagnostic]) {
    if let Some(j) = item {
        for d in diagnostics {
            let sep = if d.path.is_empty() || d.path.starts_with('[') {
                ""
            } else {
                "."
            };
            d.path = format!("items[{j}]{sep}{}", d.path);
        }
    }
}
