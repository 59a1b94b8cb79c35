//! What `configMap`, `secret`, `downwardAPI` and `projected` volumes hold: the files the
//! kubelet's volume plugins compute (`MakePayload`, `CollectData`), from the pod and the
//! current ConfigMaps and Secrets. Writing them is the sandbox's business.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{KeyToPath, ResourceFieldSelector, Volume};

use super::config::{ConfigObjects, ObjectKind};
use super::resources::{NodeResources, resource_value};
use super::{PodPlan, VolumePlan, VolumeSource};
use crate::spec::expand::{self, PodFields};

/// One source of a projected volume (a `configMap`, `secret` or `downwardAPI` volume is a
/// projected volume of one source).
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    /// A ConfigMap's or a Secret's keys.
    Object {
        /// ConfigMap or Secret.
        kind: ObjectKind,
        /// The object's name, in the pod's namespace.
        name: String,
        /// `items`: only these keys, each at its path; `None`: every key at its own name.
        items: Option<Vec<(String, String)>>,
        /// `optional`: a missing object is an empty source, a missing key is left out.
        optional: bool,
    },
    /// The pod's own fields and its containers' resources.
    DownwardApi {
        /// `items`: each file's path and what it holds.
        items: Vec<(String, DownwardField)>,
    },
}

/// What a downward API file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum DownwardField {
    /// `fieldRef.fieldPath`: `metadata.name`, `metadata.labels`, `metadata.labels['k']`, …
    Field(String),
    /// `resourceFieldRef`: a container's limit or request.
    Resource(ResourceFieldSelector),
}

/// A volume's files: contents by relative path (`a/b.conf`).
pub type Payload = BTreeMap<String, Vec<u8>>;

/// The volume source of a `configMap`, `secret`, `downwardAPI` or `projected` volume.
pub(crate) fn source(v: &Volume) -> Option<VolumeSource> {
    let items = |items: &Option<Vec<KeyToPath>>| {
        items.as_ref().filter(|i| !i.is_empty()).map(|i| {
            i.iter()
                .map(|k| (k.key.clone(), k.path.clone()))
                .collect::<Vec<_>>()
        })
    };
    let downward = |items: &Option<Vec<k8s_openapi::api::core::v1::DownwardAPIVolumeFile>>| {
        Projection::DownwardApi {
            items: items
                .iter()
                .flatten()
                .filter_map(|f| {
                    let field = match (&f.field_ref, &f.resource_field_ref) {
                        (Some(r), _) => DownwardField::Field(r.field_path.clone()),
                        (None, Some(r)) => DownwardField::Resource(r.clone()),
                        (None, None) => return None,
                    };
                    Some((f.path.clone(), field))
                })
                .collect(),
        }
    };
    let (sources, memory) = if let Some(c) = &v.config_map {
        let p = Projection::Object {
            kind: ObjectKind::ConfigMap,
            name: c.name.clone(),
            items: items(&c.items),
            optional: c.optional == Some(true),
        };
        (vec![p], false)
    } else if let Some(s) = &v.secret {
        let p = Projection::Object {
            kind: ObjectKind::Secret,
            name: s.secret_name.clone().unwrap_or_default(),
            items: items(&s.items),
            optional: s.optional == Some(true),
        };
        (vec![p], true)
    } else if let Some(d) = &v.downward_api {
        (vec![downward(&d.items)], false)
    } else if let Some(p) = &v.projected {
        let sources = p
            .sources
            .iter()
            .flatten()
            .filter_map(|s| {
                if let Some(c) = &s.config_map {
                    Some(Projection::Object {
                        kind: ObjectKind::ConfigMap,
                        name: c.name.clone(),
                        items: items(&c.items),
                        optional: c.optional == Some(true),
                    })
                } else if let Some(c) = &s.secret {
                    Some(Projection::Object {
                        kind: ObjectKind::Secret,
                        name: c.name.clone(),
                        items: items(&c.items),
                        optional: c.optional == Some(true),
                    })
                } else {
                    s.downward_api.as_ref().map(|d| downward(&d.items))
                }
            })
            .collect();
        // The kubelet backs projected volumes with memory, as secret volumes.
        (sources, true)
    } else {
        return None;
    };
    Some(VolumeSource::Projected { sources, memory })
}

impl PodPlan {
    /// The files of volume `v` with the current ConfigMaps and Secrets (an empty payload for
    /// volumes that are not projections). `Err` lists what is missing, each with the
    /// kubelet's message (`configmap "x" not found`, `configmap references non-existent
    /// config key: k`): the pod cannot start until it is there.
    pub fn volume_payload(
        &self,
        v: &VolumePlan,
        objects: &ConfigObjects,
    ) -> Result<Payload, Vec<String>> {
        let VolumeSource::Projected { sources, .. } = &v.source else {
            return Ok(Payload::new());
        };
        let mut payload = Payload::new();
        let mut problems = Vec::new();
        for source in sources {
            match source {
                Projection::Object {
                    kind,
                    name,
                    items,
                    optional,
                } => {
                    let Some(data) = objects.data(*kind, &self.namespace, name) else {
                        if !optional {
                            problems.push(kind.not_found(name));
                        }
                        continue;
                    };
                    match items {
                        None => {
                            for (key, bytes) in data.files() {
                                payload.insert(key.to_owned(), bytes.to_vec());
                            }
                        }
                        Some(items) => {
                            for (key, path) in items {
                                match data.get(key) {
                                    Some(bytes) => {
                                        payload.insert(path.clone(), bytes.to_vec());
                                    }
                                    None if *optional => {}
                                    None => problems.push(match kind {
                                        ObjectKind::ConfigMap => format!(
                                            "configmap references non-existent config key: {key}"
                                        ),
                                        ObjectKind::Secret => {
                                            format!("references non-existent secret key: {key}")
                                        }
                                    }),
                                }
                            }
                        }
                    }
                }
                Projection::DownwardApi { items } => {
                    for (path, field) in items {
                        match self.downward_value(field) {
                            Ok(value) => {
                                payload.insert(path.clone(), value.into_bytes());
                            }
                            Err(e) => problems.push(e),
                        }
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(payload)
        } else {
            Err(problems)
        }
    }

    /// A downward API file's content.
    fn downward_value(&self, field: &DownwardField) -> Result<String, String> {
        let meta = &self.pod.metadata;
        match field {
            DownwardField::Field(path) => match path.as_str() {
                "metadata.labels" => Ok(format_map(meta.labels.as_ref())),
                "metadata.annotations" => Ok(format_map(meta.annotations.as_ref())),
                _ => {
                    let fields = PodFields {
                        name: &self.name,
                        namespace: &self.namespace,
                        uid: &self.uid,
                        pod: &self.pod,
                        pod_ip: self.address.ip,
                        service_env: &[],
                    };
                    let var = k8s_openapi::api::core::v1::EnvVar {
                        value_from: Some(k8s_openapi::api::core::v1::EnvVarSource {
                            field_ref: Some(k8s_openapi::api::core::v1::ObjectFieldSelector {
                                field_path: path.clone(),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    };
                    expand::env_value(&fields, &var)
                        .ok_or_else(|| format!("unsupported fieldPath: {path}"))
                }
            },
            DownwardField::Resource(selector) => {
                let name = selector.container_name.as_deref().unwrap_or_default();
                let spec = self.pod.spec.as_ref();
                let container = spec
                    .into_iter()
                    .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
                    .find(|c| c.name == name)
                    .ok_or_else(|| format!("container {name} not found in pod"))?;
                resource_value(container, selector, &NodeResources::host())
            }
        }
    }
}

/// Labels or annotations as the kubelet writes them (`fieldpath.FormatMap`): `key="value"`
/// lines sorted by key, the value quoted as Go's `%q` does, no newline after the last.
pub fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A string quoted as Go's `strconv.Quote`: printable characters as they are, `"` and `\`
/// escaped, the usual short escapes, other control characters as `\xNN` / `\uNNNN`.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_formatted_as_the_kubelet_writes_them() {
        let map: BTreeMap<String, String> = [("b", "two \"2\""), ("a", "1\n")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(format_map(Some(&map)), "a=\"1\\n\"\nb=\"two \\\"2\\\"\"");
        assert_eq!(format_map(None), "");
        assert_eq!(go_quote("é\u{1}\\"), "\"é\\x01\\\\\"");
    }
}
