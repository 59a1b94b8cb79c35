//! The ConfigMaps and Secrets pods read, by namespace and name, and the kubelet's answers
//! when a pod names one that is not there.
//!
//! [`ConfigObjects`] is plain data: the runtime keeps the current one in its
//! [`Cluster`](crate::Cluster) and hands each pod a watch on it, so a pod waiting for an
//! object proceeds once it is applied and a mounted volume follows its updates.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use crate::spec::ConfigObject;

/// The ConfigMaps and Secrets of a cluster, by namespace and name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigObjects {
    config_maps: BTreeMap<(String, String), Arc<ConfigMap>>,
    secrets: BTreeMap<(String, String), Arc<Secret>>,
}

/// The most ConfigMaps and Secrets (together) one runtime holds: each is up to 1 MiB,
/// and every pod's view of them is a copy of the set's index.
pub const MAX_CONFIG_OBJECTS: usize = 10_000;

impl ConfigObjects {
    /// Adds or replaces an object (by kind, namespace and name).
    ///
    /// # Errors
    /// The API server's update rules: an object with `immutable: true` keeps its data and
    /// stays immutable; a Secret keeps its `type`. The message names the field. A new
    /// object past 10,000 of them (`MAX_CONFIG_OBJECTS`) is refused too (a namespace's
    /// quota would).
    pub fn apply(&mut self, object: ConfigObject) -> Result<(), String> {
        let key = (object.namespace().to_owned(), object.name().to_owned());
        const IMMUTABLE: &str = "Forbidden: field is immutable when `immutable` is set";
        let new = match &object {
            ConfigObject::ConfigMap(_) => !self.config_maps.contains_key(&key),
            ConfigObject::Secret(_) => !self.secrets.contains_key(&key),
            ConfigObject::Service(_) => false,
        };
        if new && self.config_maps.len() + self.secrets.len() >= MAX_CONFIG_OBJECTS {
            return Err(format!(
                "Forbidden: exceeded quota: at most {MAX_CONFIG_OBJECTS} ConfigMaps and Secrets \
                 in one runtime; delete some first"
            ));
        }
        match object {
            ConfigObject::ConfigMap(c) => {
                if let Some(old) = self.config_maps.get(&key)
                    && old.immutable == Some(true)
                {
                    for (field, same) in [
                        ("immutable", old.immutable == c.immutable),
                        ("data", old.data == c.data),
                        ("binaryData", old.binary_data == c.binary_data),
                    ] {
                        if !same {
                            return Err(format!("{field}: {IMMUTABLE}"));
                        }
                    }
                }
                self.config_maps.insert(key, Arc::new(c));
            }
            ConfigObject::Secret(s) => {
                if let Some(old) = self.secrets.get(&key) {
                    let type_of = |s: &Secret| s.type_.clone().unwrap_or_else(|| "Opaque".into());
                    if type_of(old) != type_of(&s) {
                        return Err("type: Invalid value: field is immutable".into());
                    }
                    if old.immutable == Some(true) {
                        for (field, same) in [
                            ("immutable", old.immutable == s.immutable),
                            ("data", old.data == s.data),
                        ] {
                            if !same {
                                return Err(format!("{field}: {IMMUTABLE}"));
                            }
                        }
                    }
                }
                self.secrets.insert(key, Arc::new(s));
            }
            // The runtime keeps Services apart (they have cluster IPs).
            ConfigObject::Service(_) => return Err("kind: a Service is not a config object".into()),
        }
        Ok(())
    }

    /// Removes an object; `false` if there was none.
    pub fn delete(&mut self, kind: ObjectKind, namespace: &str, name: &str) -> bool {
        let key = (namespace.to_owned(), name.to_owned());
        match kind {
            ObjectKind::ConfigMap => self.config_maps.remove(&key).is_some(),
            ObjectKind::Secret => self.secrets.remove(&key).is_some(),
        }
    }

    /// A ConfigMap.
    pub fn config_map(&self, namespace: &str, name: &str) -> Option<&ConfigMap> {
        self.config_maps
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|c| &**c)
    }

    /// A Secret.
    pub fn secret(&self, namespace: &str, name: &str) -> Option<&Secret> {
        self.secrets
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|s| &**s)
    }

    /// The object of `kind`, as the key/value data a pod reads from it: a ConfigMap's
    /// `data` then `binaryData`, a Secret's `data`. `None` when there is no such object.
    pub fn data(&self, kind: ObjectKind, namespace: &str, name: &str) -> Option<ObjectData<'_>> {
        match kind {
            ObjectKind::ConfigMap => self.config_map(namespace, name).map(|c| ObjectData {
                kind,
                text: c.data.as_ref(),
                binary: c.binary_data.as_ref(),
            }),
            ObjectKind::Secret => self.secret(namespace, name).map(|s| ObjectData {
                kind,
                text: None,
                binary: s.data.as_ref(),
            }),
        }
    }
}

/// The two kinds of objects a pod reads configuration from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A `v1` ConfigMap.
    ConfigMap,
    /// A `v1` Secret.
    Secret,
}

impl ObjectKind {
    /// `ConfigMap` or `Secret`, as in messages about a key.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::ConfigMap => "ConfigMap",
            ObjectKind::Secret => "Secret",
        }
    }

    /// The kubelet's message for a missing object: `configmap "x" not found` (its object
    /// managers' NotFound error for the resource `configmap` / `secret`).
    pub fn not_found(self, name: &str) -> String {
        let resource = match self {
            ObjectKind::ConfigMap => "configmap",
            ObjectKind::Secret => "secret",
        };
        format!("{resource} {name:?} not found")
    }
}

/// The data of one ConfigMap or Secret.
#[derive(Debug, Clone, Copy)]
pub struct ObjectData<'a> {
    kind: ObjectKind,
    text: Option<&'a BTreeMap<String, String>>,
    binary: Option<&'a BTreeMap<String, k8s_openapi::ByteString>>,
}

impl<'a> ObjectData<'a> {
    /// The bytes of `key`.
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        self.text
            .and_then(|t| t.get(key))
            .map(|v| v.as_bytes())
            .or_else(|| self.binary.and_then(|b| b.get(key)).map(|v| &v.0[..]))
    }

    /// The value of `key` as env reads it: a ConfigMap's `data` (not `binaryData`), a
    /// Secret's `data` as the kubelet turns it into a string (`string(bytes)`).
    pub fn env_value(&self, key: &str) -> Option<String> {
        match self.kind {
            ObjectKind::ConfigMap => self.text.and_then(|t| t.get(key)).cloned(),
            ObjectKind::Secret => self
                .binary
                .and_then(|b| b.get(key))
                .map(|v| String::from_utf8_lossy(&v.0).into_owned()),
        }
    }

    /// Every key and value as env reads them (see [`ObjectData::env_value`]), sorted.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        match self.kind {
            ObjectKind::ConfigMap => self
                .text
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ObjectKind::Secret => self
                .binary
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
                .collect(),
        }
    }

    /// Every key and its bytes, sorted by key: what a volume of the whole object holds.
    pub fn files(&self) -> BTreeMap<&'a str, &'a [u8]> {
        let mut out = BTreeMap::new();
        for (k, v) in self.binary.into_iter().flatten() {
            out.insert(k.as_str(), &v.0[..]);
        }
        for (k, v) in self.text.into_iter().flatten() {
            out.insert(k.as_str(), v.as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects() -> ConfigObjects {
        let file = crate::spec::load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: x}\nbinaryData: {b: eQ==}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: other}\nstringData: {k: v}\n",
        )
        .expect("valid objects");
        let mut o = ConfigObjects::default();
        for object in file.objects {
            o.apply(object).unwrap();
        }
        o
    }

    /// Past [`MAX_CONFIG_OBJECTS`] a new object is refused; those there can still be
    /// replaced, and a deletion makes room.
    #[test]
    fn config_objects_are_bounded() {
        use k8s_openapi::api::core::v1::{ConfigMap, Secret};
        let config_map = |name: String| {
            let mut c = ConfigMap::default();
            c.metadata.name = Some(name);
            ConfigObject::ConfigMap(c)
        };
        let mut o = ConfigObjects::default();
        for i in 0..MAX_CONFIG_OBJECTS {
            o.apply(config_map(format!("c{i}"))).unwrap();
        }
        let mut secret = Secret::default();
        secret.metadata.name = Some("one-too-many".into());
        let err = o.apply(ConfigObject::Secret(secret)).unwrap_err();
        assert!(err.contains("exceeded quota"), "{err}");
        assert!(o.secret("default", "one-too-many").is_none());
        o.apply(config_map("c0".into())).unwrap();
        assert!(o.delete(ObjectKind::ConfigMap, "default", "c0"));
        o.apply(config_map("room".into())).unwrap();
        assert!(o.apply(config_map("no-room".into())).is_err());
    }

    #[test]
    fn objects_are_found_in_their_namespace_only() {
        let o = objects();
        let c = o.data(ObjectKind::ConfigMap, "default", "c").unwrap();
        assert_eq!(c.get("a"), Some(&b"x"[..]));
        assert_eq!(c.get("b"), Some(&b"y"[..]));
        assert_eq!(c.get("z"), None);
        assert_eq!(c.env_value("a").as_deref(), Some("x"));
        assert_eq!(c.env_value("b"), None, "env reads data, not binaryData");
        assert_eq!(c.env_pairs(), [("a".to_string(), "x".to_string())]);
        assert_eq!(c.files().keys().copied().collect::<Vec<_>>(), ["a", "b"]);
        assert!(o.data(ObjectKind::Secret, "default", "s").is_none());
        let s = o.data(ObjectKind::Secret, "other", "s").unwrap();
        assert_eq!(s.env_pairs(), [("k".to_string(), "v".to_string())]);
    }

    #[test]
    fn immutable_objects_keep_their_data() {
        let file = crate::spec::load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nimmutable: true\ndata: {a: x}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: Opaque\n",
        )
        .unwrap();
        let mut o = ConfigObjects::default();
        for object in file.objects.clone() {
            o.apply(object).unwrap();
        }
        // The same object again is no change.
        for object in file.objects.clone() {
            o.apply(object).unwrap();
        }
        let ConfigObject::ConfigMap(mut c) = file.objects[0].clone() else {
            unreachable!()
        };
        c.data = Some([("a".to_string(), "y".to_string())].into());
        assert_eq!(
            o.apply(ConfigObject::ConfigMap(c.clone())).unwrap_err(),
            "data: Forbidden: field is immutable when `immutable` is set"
        );
        c.immutable = None;
        assert!(
            o.apply(ConfigObject::ConfigMap(c))
                .unwrap_err()
                .starts_with("immutable:")
        );
        let ConfigObject::Secret(mut s) = file.objects[1].clone() else {
            unreachable!()
        };
        s.type_ = Some("kubernetes.io/tls".into());
        assert_eq!(
            o.apply(ConfigObject::Secret(s)).unwrap_err(),
            "type: Invalid value: field is immutable"
        );
        assert_eq!(
            o.config_map("default", "c").unwrap().data.as_ref().unwrap()["a"],
            "x"
        );
    }

    #[test]
    fn delete_removes_one_kind() {
        let mut o = objects();
        assert!(!o.delete(ObjectKind::Secret, "default", "c"));
        assert!(o.delete(ObjectKind::ConfigMap, "default", "c"));
        assert!(o.config_map("default", "c").is_none());
        assert_eq!(
            ObjectKind::ConfigMap.not_found("c"),
            "configmap \"c\" not found"
        );
    }
}
