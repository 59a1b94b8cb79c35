//! Reading a YAML stream into typed objects: its documents, and the items of a `v1` `List`
//! (what `kubectl get -o yaml` writes), each as if it were a document of its own.
//!
//! Two passes over the text. The first reads every document untyped, to learn its
//! `apiVersion` and `kind` (and those of a List's items) and to keep it as written, for the
//! strict field check. The second deserialises the wanted objects straight from the text, so
//! that type errors keep their line (and their path: `items[2].spec.containers[0].command`)
//! and `Quantity` fields take bare numbers as with kubectl; a List is read through a seed
//! that knows the kind of each item.

use std::fmt;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

use super::locate::{Locator, Seg};
use super::workloads::{self, Workload, WorkloadDocument};
use super::{
    ConfigObject, ObjectDocument, ParsedFile, PodDocument, SpecError, fields, json, locate,
    objects, octal, prescan,
};

/// What is read at one place of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Pod,
    Object(&'static str),
    Workload(&'static str),
    Skip,
}

/// A document with something wanted in it: one object, or the items of a List (every
/// item, skipped ones too, so that the seed knows each item's place).
struct Plan {
    index: usize,
    list: bool,
    wants: Vec<(Want, Value)>,
}

/// An object read by the second pass.
enum Typed {
    Pod(Box<Pod>),
    /// A ConfigMap, Secret or Service.
    Object(Box<ConfigObject>),
    Workload(Box<Workload>),
}

/// Reads `text` (input number `input` of a load): every `v1` Pod, ConfigMap and Secret of
/// it, and a note for each skipped document or item. No Pod is not an error here.
pub(super) fn read(text: &str, input: usize) -> Result<ParsedFile, SpecError> {
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
    let locator = |index: usize| locators.get(index).cloned().unwrap_or_default();
    let mut notes = Vec::new();
    let mut plans = Vec::new();

    // Pass 1: untyped, to read apiVersion/kind and to keep each object as written.
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(de).map_err(|e| yaml_error(text, index, &e))?;
        if value.is_null() {
            continue;
        }
        let loc = locator(index);
        let root_line = loc.root().map(|p| p.line);
        let error = |line, message| SpecError::Document {
            document: index,
            line,
            message,
        };
        let (api_version, kind) = type_meta(&value).map_err(|m| error(root_line, m))?;
        if (api_version, kind) != ("v1", "List") {
            let place = format!("document {}", index + 1);
            let want = want(api_version, kind, &place, root_line, &mut notes);
            if want != Want::Skip {
                plans.push(Plan {
                    index,
                    list: false,
                    wants: vec![(want, value)],
                });
            }
            continue;
        }
        let items = match value.get("items") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items.clone(),
            Some(other) => {
                let line = loc.find(&[Seg::key("items")]).map(|p| p.line);
                return Err(error(
                    line,
                    format!(
                        "items: expected a list of objects, found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let mut wants = Vec::with_capacity(items.len());
        for (j, item) in items.into_iter().enumerate() {
            let line = loc.at(&item_path(j)).root().map(|p| p.line);
            let (api_version, kind) =
                type_meta(&item).map_err(|m| error(line, format!("items[{j}]: {m}")))?;
            let place = format!("document {}, items[{j}]", index + 1);
            let want = want(api_version, kind, &place, line, &mut notes);
            wants.push((
                want,
                if want == Want::Skip {
                    Value::Null
                } else {
                    item
                },
            ));
        }
        if wants.iter().any(|(w, _)| *w != Want::Skip) {
            plans.push(Plan {
                index,
                list: true,
                wants,
            });
        }
    }

    // Pass 2: typed, straight from the text.
    let mut file = ParsedFile {
        pods: Vec::new(),
        objects: Vec::new(),
        workloads: Vec::new(),
        notes,
    };
    let mut plans = plans.into_iter().peekable();
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let Some(plan) = plans.next_if(|p| p.index == index) else {
            continue;
        };
        let loc = locator(index);
        let kinds: Vec<Want> = plan.wants.iter().map(|(w, _)| *w).collect();
        let typed = if plan.list {
            ListSeed(&kinds).deserialize(de)
        } else {
            ItemSeed(kinds[0]).deserialize(de).map(|t| vec![t])
        }
        .map_err(|e| yaml_error(text, index, &e))?;
        for (j, (typed, (_, raw))) in typed.into_iter().zip(plan.wants).enumerate() {
            let Some(typed) = typed else { continue };
            let (item, loc) = if plan.list {
                (Some(j), loc.at(&item_path(j)))
            } else {
                (None, loc.clone())
            };
            let raw = yaml_to_json(&raw);
            match typed {
                Typed::Pod(pod) => {
                    let typed_json = serde_json::to_value(&pod).unwrap_or(serde_json::Value::Null);
                    file.pods.push(PodDocument {
                        strict_problems: fields::unknown_fields(&raw, &typed_json, &loc),
                        pod: *pod,
                        document_index: index,
                        first_line: loc.root().map_or(1, |p| p.line),
                        locator: loc,
                        input,
                        item,
                    });
                }
                Typed::Object(object) => {
                    let object = object_document(*object, &raw, loc);
                    file.objects.push(ObjectDocument {
                        document_index: index,
                        input,
                        item,
                        ..object
                    });
                }
                Typed::Workload(workload) => {
                    let typed_json = workload.to_json();
                    file.workloads.push(WorkloadDocument {
                        strict_problems: fields::unknown_fields(&raw, &typed_json, &loc),
                        workload: *workload,
                        document_index: index,
                        input,
                        item,
                        locator: loc,
                    });
                }
            }
        }
    }
    Ok(file)
}

fn item_path(j: usize) -> [Seg; 2] {
    [Seg::key("items"), Seg::Index(j)]
}

/// `apiVersion` and `kind` of an object, or what is wrong.
fn type_meta(value: &Value) -> Result<(&str, &str), String> {
    let Value::Mapping(mapping) = value else {
        return Err(format!(
            "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
            describe(value)
        ));
    };
    let field = |name: &str| mapping.get(name).and_then(Value::as_str);
    match (field("apiVersion"), field("kind")) {
        (Some(api_version), Some(kind)) => Ok((api_version, kind)),
        (None, _) => Err("\"apiVersion\" is missing or not a string".into()),
        (_, None) => Err("\"kind\" is missing or not a string".into()),
    }
}

/// What to do with an object of this type; a note when it is skipped.
fn want(
    api_version: &str,
    kind: &str,
    place: &str,
    line: Option<usize>,
    notes: &mut Vec<String>,
) -> Want {
    match (api_version, kind) {
        ("v1", "Pod") => return Want::Pod,
        ("v1", "ConfigMap") => return Want::Object("ConfigMap"),
        ("v1", "Secret") => return Want::Object("Secret"),
        ("v1", "Service") => return Want::Object("Service"),
        _ => {}
    }
    if let Some(kind) = workloads::KINDS
        .iter()
        .find(|(v, k)| (*v, *k) == (api_version, kind))
    {
        return Want::Workload(kind.1);
    }
    let what = if kind == "Pod" {
        format!("{api_version} Pod")
    } else {
        format!("kind {kind}")
    };
    notes.push(format!(
        "{place} (line {}): skipped {what} (wasmpod reads v1 Pod, ConfigMap, Secret, Service, apps/v1 Deployment, ReplicaSet, StatefulSet, DaemonSet and batch/v1 Job)",
        line.map_or_else(|| "?".to_owned(), |l| l.to_string())
    ));
    Want::Skip
}

/// Reads one object of a known kind (nothing for [`Want::Skip`]).
#[derive(Clone, Copy)]
struct ItemSeed(Want);

impl<'de> DeserializeSeed<'de> for ItemSeed {
    type Value = Option<Typed>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Ok(Some(match self.0 {
            Want::Pod => Typed::Pod(Box::new(Pod::deserialize(d)?)),
            Want::Object("ConfigMap") => Typed::Object(Box::new(ConfigObject::ConfigMap(
                ConfigMap::deserialize(d)?,
            ))),
            Want::Object("Service") => Typed::Object(Box::new(ConfigObject::Service(Box::new(
                Service::deserialize(d)?,
            )))),
            Want::Object(_) => {
                Typed::Object(Box::new(ConfigObject::Secret(Secret::deserialize(d)?)))
            }
            Want::Workload(kind) => Typed::Workload(Box::new(workloads::deserialize(kind, d)?)),
            Want::Skip => {
                IgnoredAny::deserialize(d)?;
                return Ok(None);
            }
        }))
    }
}

/// Reads a List document: its `items`, each of the kind pass 1 found.
struct ListSeed<'k>(&'k [Want]);

impl<'de> DeserializeSeed<'de> for ListSeed<'_> {
    type Value = Vec<Option<Typed>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ListSeed<'_> {
    type Value = Vec<Option<Typed>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a List")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(key) = map.next_key::<Value>()? {
            if key.as_str() == Some("items") {
                items = map.next_value_seed(ItemsSeed(self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(items)
    }
}

/// Reads a List's `items`.
struct ItemsSeed<'k>(&'k [Want]);

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Vec<Option<Typed>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Vec<Option<Typed>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(self.0.len());
        for want in self.0 {
            match seq.next_element_seed(ItemSeed(*want))? {
                Some(typed) => out.push(typed),
                None => break,
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(out)
    }
}

/// A ConfigMap or Secret with its unknown fields, a Secret's `stringData` merged into `data`.
fn object_document(
    mut object: ConfigObject,
    raw: &serde_json::Value,
    locator: Locator,
) -> ObjectDocument {
    // Unknown fields are judged on the object as written, before the merge.
    let typed = match &object {
        ConfigObject::ConfigMap(cm) => serde_json::to_value(cm),
        ConfigObject::Secret(secret) => serde_json::to_value(secret),
        ConfigObject::Service(svc) => serde_json::to_value(svc),
    }
    .unwrap_or(serde_json::Value::Null);
    let mut strict_problems = fields::unknown_fields(raw, &typed, &locator);
    if let ConfigObject::Secret(secret) = &mut object {
        objects::merge_string_data(secret);
        objects::redact(&mut strict_problems);
    }
    ObjectDocument {
        object,
        document_index: 0,
        input: 0,
        item: None,
        locator,
        strict_problems,
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
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
/// print them; tags are dropped). Used to spot keys the typed object dropped.
fn yaml_to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => {
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
        Value::String(s) => J::String(s.clone()),
        Value::Sequence(items) => J::Array(items.iter().map(yaml_to_json).collect()),
        Value::Mapping(map) => J::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Value::String(s) => s.clone(),
                        Value::Null => "null".to_owned(),
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Value::Tagged(tagged) => yaml_to_json(&tagged.value),
    }
}
