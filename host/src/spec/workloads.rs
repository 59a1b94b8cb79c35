//! Workload objects read beside the Pods of a file: `apps/v1` Deployment, ReplicaSet,
//! StatefulSet and DaemonSet, and `batch/v1` Job. Each is checked by the API server's rules
//! for its kind (`ValidateDeployment`, `ValidateJob`, …): a selector that matches the
//! template's labels, the template's `restartPolicy`, no negative counts, one object per
//! kind, namespace and name; and its pod template exactly as a Pod is validated, its
//! problems named `spec.template.spec.containers[0]…` with their lines.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use super::error::formats::dns1123_subdomain;
use super::error::{Diagnostic, SpecError, msg};
use super::locate::{Locator, Seg, parse_path};
use super::{PodDocument, validate};

/// The most pods a workload may ask for at once (`replicas`, a Job's `parallelism`): a
/// bound on what one manifest makes the host create (Kubernetes has none).
pub const MAX_WORKLOAD_PODS: i32 = 10_000;

/// A workload object: something that creates pods from a template.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Workload {
    /// An `apps/v1` Deployment.
    Deployment(Deployment),
    /// An `apps/v1` ReplicaSet.
    ReplicaSet(ReplicaSet),
    /// An `apps/v1` StatefulSet.
    StatefulSet(StatefulSet),
    /// An `apps/v1` DaemonSet (one node: one pod).
    DaemonSet(DaemonSet),
    /// A `batch/v1` Job.
    Job(Job),
}

impl Workload {
    /// `Deployment`, `ReplicaSet`, `StatefulSet`, `DaemonSet` or `Job`.
    ///
    /// ```
    /// let w = wasmpod::spec::Workload::Job(Default::default());
    /// assert_eq!((w.kind(), w.api_version()), ("Job", "batch/v1"));
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Workload::Deployment(_) => "Deployment",
            Workload::ReplicaSet(_) => "ReplicaSet",
            Workload::StatefulSet(_) => "StatefulSet",
            Workload::DaemonSet(_) => "DaemonSet",
            Workload::Job(_) => "Job",
        }
    }

    /// `apps/v1` or `batch/v1`.
    pub fn api_version(&self) -> &'static str {
        match self {
            Workload::Job(_) => "batch/v1",
            _ => "apps/v1",
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Workload::Deployment(o) => &o.metadata,
            Workload::ReplicaSet(o) => &o.metadata,
            Workload::StatefulSet(o) => &o.metadata,
            Workload::DaemonSet(o) => &o.metadata,
            Workload::Job(o) => &o.metadata,
        }
    }

    /// The object's metadata, to change.
    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Workload::Deployment(o) => &mut o.metadata,
            Workload::ReplicaSet(o) => &mut o.metadata,
            Workload::StatefulSet(o) => &mut o.metadata,
            Workload::DaemonSet(o) => &mut o.metadata,
            Workload::Job(o) => &mut o.metadata,
        }
    }

    /// `metadata.name` (empty when missing: validation refuses that).
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    /// `metadata.namespace`, `default` when unset.
    pub fn namespace(&self) -> &str {
        self.metadata()
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
    }

    /// The pod template (an empty one when the object has no `spec`); a StatefulSet's
    /// `volumeClaimTemplates` become `emptyDir` volumes of their names (wasmpod has no
    /// persistent volumes: each pod gets its own, gone with the pod).
    pub fn template(&self) -> PodTemplateSpec {
        let template = match self {
            Workload::Deployment(o) => o.spec.as_ref().map(|s| &s.template),
            Workload::ReplicaSet(o) => o.spec.as_ref().and_then(|s| s.template.as_ref()),
            Workload::StatefulSet(o) => o.spec.as_ref().map(|s| &s.template),
            Workload::DaemonSet(o) => o.spec.as_ref().map(|s| &s.template),
            Workload::Job(o) => o.spec.as_ref().map(|s| &s.template),
        };
        let mut template = template.cloned().unwrap_or_default();
        if let Workload::StatefulSet(ss) = self {
            let claims = ss
                .spec
                .as_ref()
                .and_then(|s| s.volume_claim_templates.as_ref());
            let spec = template.spec.get_or_insert_with(Default::default);
            for claim in claims.into_iter().flatten() {
                let name = claim.metadata.name.clone().unwrap_or_default();
                spec.volumes.get_or_insert_with(Vec::new).push(Volume {
                    name,
                    empty_dir: Some(Default::default()),
                    ..Default::default()
                });
            }
        }
        template
    }

    /// `spec.selector`, if the kind has one and it is set.
    pub fn selector(&self) -> Option<&LabelSelector> {
        match self {
            Workload::Deployment(o) => o.spec.as_ref().map(|s| &s.selector),
            Workload::ReplicaSet(o) => o.spec.as_ref().map(|s| &s.selector),
            Workload::StatefulSet(o) => o.spec.as_ref().map(|s| &s.selector),
            Workload::DaemonSet(o) => o.spec.as_ref().map(|s| &s.selector),
            Workload::Job(o) => o.spec.as_ref().and_then(|s| s.selector.as_ref()),
        }
    }

    /// The object as JSON with its `apiVersion` and `kind`.
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self {
            Workload::Deployment(o) => serde_json::to_value(o),
            Workload::ReplicaSet(o) => serde_json::to_value(o),
            Workload::StatefulSet(o) => serde_json::to_value(o),
            Workload::DaemonSet(o) => serde_json::to_value(o),
            Workload::Job(o) => serde_json::to_value(o),
        };
        let mut value = value.unwrap_or(serde_json::Value::Null);
        if let Some(obj) = value.as_object_mut() {
            obj.insert("apiVersion".into(), self.api_version().into());
            obj.insert("kind".into(), self.kind().into());
        }
        value
    }
}

/// A workload read from one YAML document (or List item), with what is needed to point at
/// lines.
#[derive(Debug, Clone)]
pub struct WorkloadDocument {
    /// The typed object.
    pub workload: Workload,
    /// 0-based index of the document in the YAML stream.
    pub document_index: usize,
    /// 0-based index of the input it was read from.
    pub input: usize,
    pub(super) item: Option<usize>,
    pub(super) locator: Locator,
    pub(super) strict_problems: Vec<Diagnostic>,
}

impl WorkloadDocument {
    /// The 1-based file line of a field path (`spec.template.spec.containers[0]`), or of its
    /// nearest present parent.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        self.locator.find(&parse_path(path)).map(|p| p.line)
    }
}

/// A workload that passed validation, with the warnings about its template's fields that
/// wasmpod does not honour yet (paths `spec.template.spec…`).
///
/// ```
/// let yaml = "\
/// apiVersion: batch/v1
/// kind: Job
/// metadata: {name: pi}
/// spec:
///   template:
///     spec:
///       restartPolicy: Never
///       containers: [{name: c, image: busybox}]
/// ";
/// let file = wasmpod::spec::load(yaml).unwrap();
/// assert_eq!(file.workloads[0].workload.kind(), "Job");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ValidWorkload {
    /// The object.
    pub workload: Workload,
    /// 0-based index of the input it was read from (its file, for relative image paths).
    pub input: usize,
    /// Fields of its template accepted but not honoured.
    pub warnings: Vec<Diagnostic>,
}

/// The pod a template stands for, to validate it as a Pod: the template's metadata and
/// spec, named after its owner (the controller names the real pods).
fn template_pod(workload: &Workload) -> Pod {
    let template = workload.template();
    let mut metadata = template.metadata.unwrap_or_default();
    let name = workload.name();
    metadata.name = Some(if dns1123_subdomain(name).is_empty() {
        name.to_owned()
    } else {
        "pod".to_owned()
    });
    metadata.generate_name = None;
    Pod {
        metadata,
        spec: template.spec,
        status: None,
    }
}

/// Checks one workload; `seen` holds the (kind, namespace, name) of the objects before it.
pub(super) fn validate_workload(
    doc: &WorkloadDocument,
    seen: &mut BTreeSet<(&'static str, String, String)>,
) -> Result<Vec<Diagnostic>, SpecError> {
    let workload = &doc.workload;
    let mut problems = doc.strict_problems.clone();
    let mut add = |path: &str, message: String| {
        problems.push(Diagnostic {
            path: path.to_owned(),
            line: doc.line_of(path),
            message,
        });
    };
    super::objects::meta_problems(workload.kind(), workload.metadata(), seen, &mut add);
    kind_rules(workload, &mut add);

    // The template, exactly as a Pod.
    let pod = PodDocument {
        pod: template_pod(workload),
        document_index: doc.document_index,
        first_line: 1,
        input: doc.input,
        item: None,
        locator: doc.locator.at(&[Seg::key("spec"), Seg::key("template")]),
        strict_problems: Vec::new(),
    };
    let in_template = |d: Diagnostic| Diagnostic {
        path: format!("spec.template.{}", d.path),
        ..d
    };
    let mut warnings = match validate(&pod) {
        Ok(warnings) => warnings.into_iter().map(in_template).collect(),
        Err(SpecError::Invalid { problems: p, .. }) => {
            problems.extend(p.into_iter().map(in_template));
            Vec::new()
        }
        Err(other) => return Err(other),
    };
    warnings.extend(unhonoured(doc));
    if let Workload::StatefulSet(ss) = workload
        && ss
            .spec
            .as_ref()
            .and_then(|s| s.volume_claim_templates.as_ref())
            .is_some_and(|c| !c.is_empty())
    {
        let path = "spec.volumeClaimTemplates";
        warnings.push(Diagnostic {
            path: path.to_owned(),
            line: doc.line_of(path),
            message:
                "not persisted by wasmpod: each pod gets an emptyDir volume of the claim's name"
                    .into(),
        });
    }
    if problems.is_empty() {
        super::in_item(doc.item, &mut warnings);
        return Ok(warnings);
    }
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    problems.dedup();
    super::in_item(doc.item, &mut problems);
    Err(SpecError::InvalidObject {
        kind: workload.kind(),
        name: format!("{:?}", workload.name()),
        problems,
    })
}

/// Fields of the workload's own spec that are valid Kubernetes but that its controller here
/// does not carry out: warnings, never silently ignored.
fn unhonoured(doc: &WorkloadDocument) -> Vec<Diagnostic> {
    let json = doc.workload.to_json();
    let spec = &json["spec"];
    let set = |field: &str| !spec[field].is_null();
    let mut fields: Vec<&str> = Vec::new();
    match &doc.workload {
        Workload::Job(_) => {
            if spec["completionMode"]
                .as_str()
                .is_some_and(|m| m != "NonIndexed")
            {
                fields.push("completionMode");
            }
            if spec["suspend"] == serde_json::Value::Bool(true) {
                fields.push("suspend");
            }
            for field in [
                "podFailurePolicy",
                "successPolicy",
                "backoffLimitPerIndex",
                "maxFailedIndexes",
                "ttlSecondsAfterFinished",
                "podReplacementPolicy",
            ] {
                if set(field) {
                    fields.push(field);
                }
            }
        }
        _ => {
            if spec["paused"] == serde_json::Value::Bool(true) {
                fields.push("paused");
            }
            if spec["minReadySeconds"].as_i64().is_some_and(|s| s > 0) {
                fields.push("minReadySeconds");
            }
        }
    }
    fields
        .into_iter()
        .map(|field| {
            let path = format!("spec.{field}");
            Diagnostic {
                line: doc.line_of(&path),
                path,
                message: super::fields::NOT_HONOURED.into(),
            }
        })
        .collect()
}

/// The rules of each kind's own validation (`pkg/apis/apps/validation`,
/// `pkg/apis/batch/validation`).
fn kind_rules(workload: &Workload, add: &mut impl FnMut(&str, String)) {
    let template = workload.template();
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let restart = template
        .spec
        .as_ref()
        .and_then(|s| s.restart_policy.clone());
    fn nonnegative(add: &mut impl FnMut(&str, String), path: &str, value: Option<i64>) {
        if let Some(v) = value.filter(|v| *v < 0) {
            add(
                path,
                msg::invalid(&v.to_string(), "must be greater than or equal to 0"),
            );
        }
    }
    fn at_most_pods(add: &mut impl FnMut(&str, String), path: &str, value: Option<i32>) {
        if let Some(v) = value.filter(|v| *v > MAX_WORKLOAD_PODS) {
            let detail = format!("must be at most {MAX_WORKLOAD_PODS} (wasmpod's limit)");
            add(path, msg::invalid(&v.to_string(), &detail));
        }
    }
    let replicas = match workload {
        Workload::Deployment(o) => o.spec.as_ref().and_then(|s| s.replicas),
        Workload::ReplicaSet(o) => o.spec.as_ref().and_then(|s| s.replicas),
        Workload::StatefulSet(o) => o.spec.as_ref().and_then(|s| s.replicas),
        _ => None,
    };
    nonnegative(add, "spec.replicas", replicas.map(i64::from));
    at_most_pods(add, "spec.replicas", replicas);
    if let Workload::StatefulSet(ss) = workload
        && let Some(policy) = ss
            .spec
            .as_ref()
            .and_then(|s| s.pod_management_policy.as_deref())
        && !["OrderedReady", "Parallel"].contains(&policy)
    {
        add(
            "spec.podManagementPolicy",
            msg::not_supported(policy, &["OrderedReady", "Parallel"]),
        );
    }
    if let Workload::Job(job) = workload {
        let spec = job.spec.clone().unwrap_or_default();
        nonnegative(add, "spec.completions", spec.completions.map(i64::from));
        nonnegative(add, "spec.parallelism", spec.parallelism.map(i64::from));
        at_most_pods(add, "spec.parallelism", spec.parallelism);
        nonnegative(add, "spec.backoffLimit", spec.backoff_limit.map(i64::from));
        nonnegative(
            add,
            "spec.activeDeadlineSeconds",
            spec.active_deadline_seconds,
        );
        // Defaulting makes an unset policy `Always`, which is why the API server's message
        // for both is `Required value`.
        if !matches!(restart.as_deref(), Some("OnFailure" | "Never")) {
            add(
                "spec.template.spec.restartPolicy",
                msg::required(r#"valid values: "OnFailure", "Never""#),
            );
        }
        if let Some(selector) = &spec.selector {
            selector_rules(selector, &labels, add);
        }
        return;
    }
    if let Some(policy) = restart.as_deref().filter(|p| *p != "Always") {
        add(
            "spec.template.spec.restartPolicy",
            msg::not_supported(policy, &["Always"]),
        );
    }
    match workload.selector() {
        Some(s) if !is_empty(s) => selector_rules(s, &labels, add),
        _ => add("spec.selector", msg::required("")),
    }
}

fn is_empty(selector: &LabelSelector) -> bool {
    selector
        .match_labels
        .as_ref()
        .is_none_or(BTreeMap::is_empty)
        && selector
            .match_expressions
            .as_ref()
            .is_none_or(Vec::is_empty)
}

/// The selector's own rules, and that it selects the template's labels.
fn selector_rules(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
    add: &mut impl FnMut(&str, String),
) {
    for (i, e) in selector.match_expressions.iter().flatten().enumerate() {
        let path = format!("spec.selector.matchExpressions[{i}]");
        let values = e.values.as_ref().map_or(0, Vec::len);
        match e.operator.as_str() {
            "In" | "NotIn" if values == 0 => add(
                &format!("{path}.values"),
                msg::required("must be specified when `operator` is 'In' or 'NotIn'"),
            ),
            "Exists" | "DoesNotExist" if values > 0 => add(
                &format!("{path}.values"),
                msg::forbidden(
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ),
            ),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => add(
                &format!("{path}.operator"),
                msg::not_supported(other, &["In", "NotIn", "Exists", "DoesNotExist"]),
            ),
        }
    }
    if !selector_matches(selector, labels) {
        let shown: Vec<String> = labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
        add(
            "spec.template.metadata.labels",
            msg::invalid(
                &format!("map[string]string{{{}}}", shown.join(", ")),
                "`selector` does not match template `labels`",
            ),
        );
    }
}

/// Whether a label selector selects `labels` (`metav1.LabelSelectorAsSelector`); an empty
/// selector selects everything.
///
/// ```
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
/// let selector = LabelSelector {
///     match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
///     ..Default::default()
/// };
/// let labels = [("app".to_owned(), "web".to_owned())].into();
/// assert!(wasmpod::spec::selector_matches(&selector, &labels));
/// assert!(!wasmpod::spec::selector_matches(&selector, &Default::default()));
/// ```
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let listed = |v: &String| e.values.iter().flatten().any(|x| x == v);
        match e.operator.as_str() {
            "In" => value.is_some_and(listed),
            "NotIn" => !value.is_some_and(listed),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

/// The (apiVersion, kind) of every workload read.
pub(super) const KINDS: &[(&str, &str)] = &[
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
];

/// Reads a workload of `kind` (one of [`KINDS`]).
pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
    kind: &str,
    d: D,
) -> Result<Workload, D::Error> {
    use serde::Deserialize as _;
    Ok(match kind {
        "Deployment" => Workload::Deployment(Deployment::deserialize(d)?),
        "ReplicaSet" => Workload::ReplicaSet(ReplicaSet::deserialize(d)?),
        "StatefulSet" => Workload::StatefulSet(StatefulSet::deserialize(d)?),
        "DaemonSet" => Workload::DaemonSet(DaemonSet::deserialize(d)?),
        _ => Workload::Job(Job::deserialize(d)?),
    })
}
