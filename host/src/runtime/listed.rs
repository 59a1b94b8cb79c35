//! The pods a cluster lists, found by uid, by namespace and by label: a Service's
//! selector is answered from the pods that carry one of its labels, not by reading the
//! status of every pod at each connection to it.
//!
//! A pod's namespace and labels are taken when it is listed: the runtime never changes
//! them while it runs (its status changes, and is read when asked).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;

use crate::plan::service::{carries, namespace_of};

/// One listed pod: its status, and what it was listed under.
#[derive(Debug)]
struct Entry {
    status: watch::Receiver<Arc<Pod>>,
    namespace: String,
    labels: BTreeMap<String, String>,
}

/// uids by label value, by label key.
type ByLabel = HashMap<String, HashMap<String, BTreeSet<String>>>;

/// The listed pods, with an index by namespace and by label.
#[derive(Debug, Default)]
pub(crate) struct Listed {
    by_uid: HashMap<String, Entry>,
    /// The uids of each namespace, and of each label (key, then value) in it.
    by_namespace: HashMap<String, (BTreeSet<String>, ByLabel)>,
}

impl Listed {
    /// Lists the pod whose status `status` watches under `uid` (replacing one listed so).
    pub(crate) fn insert(&mut self, uid: &str, status: watch::Receiver<Arc<Pod>>) {
        self.remove(uid);
        let (namespace, labels) = {
            let pod = status.borrow();
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            (namespace_of(&pod.metadata).to_owned(), labels)
        };
        let (uids, by_label) = self.by_namespace.entry(namespace.clone()).or_default();
        uids.insert(uid.to_owned());
        for (k, v) in &labels {
            let values = by_label.entry(k.clone()).or_default();
            values.entry(v.clone()).or_default().insert(uid.to_owned());
        }
        let entry = Entry {
            status,
            namespace,
            labels,
        };
        self.by_uid.insert(uid.to_owned(), entry);
    }

    /// Unlists the pod of `uid`, if listed.
    pub(crate) fn remove(&mut self, uid: &str) {
        let Some(entry) = self.by_uid.remove(uid) else {
            return;
        };
        let Some((uids, by_label)) = self.by_namespace.get_mut(&entry.namespace) else {
            return;
        };
        uids.remove(uid);
        for (k, v) in &entry.labels {
            let Some(values) = by_label.get_mut(k) else {
                continue;
            };
            if let Some(set) = values.get_mut(v) {
                set.remove(uid);
                if set.is_empty() {
                    values.remove(v);
                }
            }
            if values.is_empty() {
                by_label.remove(k);
            }
        }
        if uids.is_empty() {
            self.by_namespace.remove(&entry.namespace);
        }
    }

    /// Every listed pod's current status.
    pub(crate) fn all(&self) -> impl Iterator<Item = Arc<Pod>> + '_ {
        self.by_uid.values().map(|e| e.status.borrow().clone())
    }

    /// The current status of every pod of `namespace`.
    pub(crate) fn in_namespace(&self, namespace: &str) -> Vec<Arc<Pod>> {
        let Some((uids, _)) = self.by_namespace.get(namespace) else {
            return Vec::new();
        };
        self.statuses(uids.iter())
    }

    /// The current status of every pod of `namespace` that carries each label of
    /// `selector`; none for an empty selector (as a Service's, whose endpoints are
    /// managed by hand). Only the pods of the selector's rarest label are looked at.
    pub(crate) fn selected(
        &self,
        namespace: &str,
        selector: &BTreeMap<String, String>,
    ) -> Vec<Arc<Pod>> {
        let Some((_, by_label)) = self.by_namespace.get(namespace) else {
            return Vec::new();
        };
        let mut rarest: Option<&BTreeSet<String>> = None;
        for (k, v) in selector {
            // A label no pod carries selects none.
            let Some(set) = by_label.get(k).and_then(|values| values.get(v)) else {
                return Vec::new();
            };
            if rarest.is_none_or(|r| set.len() < r.len()) {
                rarest = Some(set);
            }
        }
        let Some(rarest) = rarest else {
            return Vec::new();
        };
        let carries_all = |uid: &&String| {
            let entry = self.by_uid.get(*uid);
            entry.is_some_and(|e| carries(Some(&e.labels), selector))
        };
        self.statuses(rarest.iter().filter(carries_all))
    }

    fn statuses<'a>(&self, uids: impl Iterator<Item = &'a String>) -> Vec<Arc<Pod>> {
        uids.filter_map(|uid| self.by_uid.get(uid))
            .map(|e| e.status.borrow().clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ns: Option<&str>, name: &str, labels: &[(&str, &str)]) -> watch::Sender<Arc<Pod>> {
        let mut pod = Pod::default();
        pod.metadata.namespace = ns.map(Into::into);
        pod.metadata.name = Some(name.into());
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        pod.metadata.labels = Some(labels.collect());
        watch::channel(Arc::new(pod)).0
    }

    fn names(pods: Vec<Arc<Pod>>) -> Vec<String> {
        let mut names: Vec<String> = pods
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect();
        names.sort();
        names
    }

    fn selector(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_selector_finds_the_pods_of_its_namespace_that_carry_all_its_labels() {
        let mut listed = Listed::default();
        let pods = [
            pod(None, "web-1", &[("app", "web"), ("tier", "front")]),
            pod(Some("default"), "web-2", &[("app", "web")]),
            pod(Some("default"), "db", &[("app", "db"), ("tier", "front")]),
            pod(Some("other"), "web-3", &[("app", "web"), ("tier", "front")]),
            pod(Some(""), "bare", &[]),
        ];
        for (i, p) in pods.iter().enumerate() {
            listed.insert(&format!("u{i}"), p.subscribe());
        }
        let web = selector(&[("app", "web")]);
        let front_web = selector(&[("app", "web"), ("tier", "front")]);
        assert_eq!(names(listed.selected("default", &web)), ["web-1", "web-2"]);
        assert_eq!(names(listed.selected("default", &front_web)), ["web-1"]);
        assert_eq!(names(listed.selected("other", &front_web)), ["web-3"]);
        assert!(listed.selected("default", &selector(&[])).is_empty());
        let unknown = selector(&[("app", "web"), ("tier", "back")]);
        assert!(listed.selected("default", &unknown).is_empty());
        assert!(listed.selected("nowhere", &web).is_empty());
        assert_eq!(
            names(listed.in_namespace("default")),
            ["bare", "db", "web-1", "web-2"]
        );
        assert_eq!(listed.all().count(), 5);

        // The current status is what is read.
        pods[1].send_modify(|p| Arc::make_mut(p).metadata.name = Some("web-2b".into()));
        assert_eq!(names(listed.selected("default", &web)), ["web-1", "web-2b"]);

        // Unlisted, and listed again under the same uid with other labels.
        listed.remove("u0");
        assert_eq!(names(listed.selected("default", &web)), ["web-2b"]);
        listed.insert("u1", pod(None, "web-2c", &[("app", "api")]).subscribe());
        assert!(listed.selected("default", &web).is_empty());
        assert_eq!(listed.all().count(), 4);
        for uid in ["u1", "u2", "u3", "u4", "u5"] {
            listed.remove(uid);
        }
        assert!(listed.by_uid.is_empty() && listed.by_namespace.is_empty());
    }
}
