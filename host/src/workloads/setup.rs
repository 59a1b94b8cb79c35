//! From a validated workload to what its controller loop needs: the object as the API
//! server stores it (uid, creation time, a Job's generated selector), the object that owns
//! the pods (a Deployment's ReplicaSet), and how pods are named and labelled.

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

use super::job;
use super::naming::{self, Owner};
use crate::spec::Workload;

/// How the controller keeps its pods.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// Deployment, ReplicaSet, DaemonSet: this many pods, any that ends replaced.
    Replicas(i32),
    /// StatefulSet (`OrderedReady`): pods `name-0`… started one after the other.
    Ordered(i32),
    /// StatefulSet with `podManagementPolicy: Parallel`: pods `name-0`… all at once.
    Parallel(i32),
    /// Job.
    Job(job::Params),
}

/// What a workload's controller works from.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// The object as stored.
    pub object: Workload,
    /// The object between it and its pods (a Deployment's ReplicaSet).
    pub owned: Option<Workload>,
    /// The pods' owner.
    pub owner: Owner,
    pub namespace: String,
    pub template: PodTemplateSpec,
    /// Generated pod names start `prefix-`; a StatefulSet's are `prefix-N`.
    pub prefix: String,
    /// Labels the controller adds to every pod.
    pub labels: Vec<(&'static str, String)>,
    /// A StatefulSet's `serviceName`: its pods' `subdomain`.
    pub service_name: Option<String>,
    pub mode: Mode,
}

impl Plan {
    /// A pod as the controller creates it: `ordinal` for a StatefulSet's.
    pub(crate) fn pod(&self, ordinal: Option<i32>) -> Pod {
        let mut labels = self.labels.clone();
        let name = match ordinal {
            Some(i) => {
                let name = format!("{}-{i}", self.prefix);
                labels.push(("statefulset.kubernetes.io/pod-name", name.clone()));
                labels.push(("apps.kubernetes.io/pod-index", i.to_string()));
                name
            }
            None => naming::generated_name(&self.prefix),
        };
        let mut pod = naming::pod_from_template(
            &self.template,
            &self.owner,
            &self.namespace,
            name.clone(),
            &labels,
        );
        if ordinal.is_some() {
            let spec = pod.spec.get_or_insert_with(Default::default);
            spec.hostname = Some(name);
            spec.subdomain.clone_from(&self.service_name);
        }
        pod
    }

    /// A pod standing for all of them, to check that the template runs.
    pub(crate) fn sample_pod(&self) -> Pod {
        self.pod(matches!(self.mode, Mode::Ordered(_) | Mode::Parallel(_)).then_some(0))
    }
}

fn stored(meta: &mut ObjectMeta, namespace: &str) -> String {
    let uid = naming::new_uid();
    meta.uid = Some(uid.clone());
    meta.namespace = Some(namespace.to_owned());
    meta.generation = Some(1);
    meta.creation_timestamp = Some(Time(Timestamp::now()));
    uid
}

fn with_label(template: &mut PodTemplateSpec, key: &str, value: &str) {
    template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(Default::default)
        .insert(key.to_owned(), value.to_owned());
}

/// The plan for a validated workload.
pub(crate) fn plan(mut object: Workload) -> Plan {
    let namespace = object.namespace().to_owned();
    let name = object.name().to_owned();
    let kind = object.kind();
    let api_version = object.api_version();
    let uid = stored(object.metadata_mut(), &namespace);
    let template = object.template();
    let hash = naming::template_hash(&template);
    let self_owner = Owner {
        api_version,
        kind,
        name: name.clone(),
        uid: uid.clone(),
    };
    let plain = |mode, labels| Plan {
        object: object.clone(),
        owned: None,
        owner: self_owner.clone(),
        namespace: namespace.clone(),
        template: template.clone(),
        prefix: name.clone(),
        labels,
        service_name: None,
        mode,
    };
    match &object {
        Workload::Deployment(d) => {
            let spec = d.spec.clone().unwrap_or_default();
            let rs_name = format!("{name}-{hash}");
            let mut rs_template = template.clone();
            with_label(&mut rs_template, "pod-template-hash", &hash);
            let mut selector = spec.selector.clone();
            selector
                .match_labels
                .get_or_insert_with(Default::default)
                .insert("pod-template-hash".into(), hash.clone());
            let mut rs = ReplicaSet {
                metadata: ObjectMeta {
                    name: Some(rs_name.clone()),
                    labels: rs_template.metadata.as_ref().and_then(|m| m.labels.clone()),
                    owner_references: Some(vec![self_owner.reference()]),
                    ..Default::default()
                },
                spec: Some(ReplicaSetSpec {
                    replicas: Some(spec.replicas.unwrap_or(1)),
                    selector,
                    template: Some(rs_template),
                    ..Default::default()
                }),
                status: None,
            };
            let rs_uid = stored(&mut rs.metadata, &namespace);
            Plan {
                owned: Some(Workload::ReplicaSet(rs)),
                owner: Owner {
                    api_version: "apps/v1",
                    kind: "ReplicaSet",
                    name: rs_name.clone(),
                    uid: rs_uid,
                },
                prefix: rs_name,
                ..plain(
                    Mode::Replicas(spec.replicas.unwrap_or(1)),
                    vec![("pod-template-hash", hash)],
                )
            }
        }
        Workload::ReplicaSet(rs) => {
            let replicas = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            plain(Mode::Replicas(replicas), Vec::new())
        }
        Workload::DaemonSet(_) => plain(
            Mode::Replicas(1),
            vec![
                ("controller-revision-hash", hash),
                ("pod-template-generation", "1".into()),
            ],
        ),
        Workload::StatefulSet(ss) => {
            let spec = ss.spec.clone().unwrap_or_default();
            let replicas = spec.replicas.unwrap_or(1);
            let mode = if spec.pod_management_policy.as_deref() == Some("Parallel") {
                Mode::Parallel(replicas)
            } else {
                Mode::Ordered(replicas)
            };
            Plan {
                service_name: spec.service_name.filter(|s| !s.is_empty()),
                ..plain(
                    mode,
                    vec![("controller-revision-hash", format!("{name}-{hash}"))],
                )
            }
        }
        Workload::Job(j) => {
            let params = job::Params::of(j);
            let labels = vec![
                ("batch.kubernetes.io/controller-uid", uid.clone()),
                ("batch.kubernetes.io/job-name", name.clone()),
                ("controller-uid", uid.clone()),
                ("job-name", name.clone()),
            ];
            // The API server generates the selector and labels the template with it.
            let mut object = object.clone();
            if let Workload::Job(j) = &mut object {
                let spec = j.spec.get_or_insert_with(Default::default);
                for (k, v) in &labels {
                    with_label(&mut spec.template, k, v);
                }
                if spec.manual_selector != Some(true) {
                    spec.selector = Some(LabelSelector {
                        match_labels: Some(
                            [("batch.kubernetes.io/controller-uid".to_owned(), uid.clone())].into(),
                        ),
                        ..Default::default()
                    });
                }
            }
            Plan {
                object,
                ..plain(Mode::Job(params), labels)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(yaml: &str) -> Workload {
        crate::spec::load(yaml)
            .expect("valid")
            .workloads
            .remove(0)
            .workload
    }

    const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox}]}
";

    #[test]
    fn a_deployment_names_its_replica_set_by_template_hash_and_its_pods_after_it() {
        let plan = plan(workload(DEPLOYMENT));
        let Some(Workload::ReplicaSet(rs)) = &plan.owned else {
            panic!("a ReplicaSet")
        };
        let rs_name = rs.metadata.name.clone().unwrap();
        let hash = rs_name.strip_prefix("web-").unwrap();
        assert!(!hash.is_empty());
        let owner = &rs.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str()),
            ("Deployment", "web")
        );
        assert_eq!(Some(&owner.uid), plan.object.metadata().uid.as_ref());
        let pod = plan.pod(None);
        let name = pod.metadata.name.clone().unwrap();
        assert_eq!(name.len(), rs_name.len() + 6, "{name}");
        assert!(name.starts_with(&format!("{rs_name}-")));
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(
            (labels["app"].as_str(), labels["pod-template-hash"].as_str()),
            ("web", hash)
        );
        let pod_owner = &pod.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (pod_owner.kind.as_str(), Some(&pod_owner.uid)),
            ("ReplicaSet", rs.metadata.uid.as_ref())
        );
        // The same template, the same hash.
        let again = super::plan(workload(DEPLOYMENT));
        assert_eq!(again.prefix, plan.prefix);
    }

    #[test]
    fn a_stateful_set_pod_has_its_ordinal_name_hostname_and_subdomain() {
        let plan = plan(workload(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: dbs\n  replicas: 3\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: c, image: busybox}]}\n",
        ));
        let pod = plan.pod(Some(2));
        assert_eq!(pod.metadata.name.as_deref(), Some("db-2"));
        let spec = pod.spec.unwrap();
        assert_eq!(
            (spec.hostname.as_deref(), spec.subdomain.as_deref()),
            (Some("db-2"), Some("dbs"))
        );
        let labels = pod.metadata.labels.unwrap();
        assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "db-2");
        assert!(labels["controller-revision-hash"].starts_with("db-"));
    }

    #[test]
    fn pod_management_policy_chooses_ordered_or_parallel() {
        let yaml = |policy: &str| {
            format!(
                "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db}}\nspec:\n  {policy}replicas: 2\n  selector: {{matchLabels: {{app: db}}}}\n  template:\n    metadata: {{labels: {{app: db}}}}\n    spec: {{containers: [{{name: c, image: busybox}}]}}\n"
            )
        };
        assert!(matches!(plan(workload(&yaml(""))).mode, Mode::Ordered(2)));
        let parallel = plan(workload(&yaml("podManagementPolicy: Parallel\n  ")));
        assert!(matches!(parallel.mode, Mode::Parallel(2)));
        assert_eq!(parallel.sample_pod().metadata.name.as_deref(), Some("db-0"));
    }

    #[test]
    fn a_job_gets_a_generated_selector_and_labels_its_pods() {
        let plan = plan(workload(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {name: pi}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n",
        ));
        let uid = plan.object.metadata().uid.clone().unwrap();
        let selector = plan.object.selector().unwrap();
        assert_eq!(
            selector.match_labels.as_ref().unwrap()["batch.kubernetes.io/controller-uid"],
            uid
        );
        let pod = plan.pod(None);
        let labels = pod.metadata.labels.unwrap();
        assert_eq!(labels["job-name"], "pi");
        assert_eq!(labels["batch.kubernetes.io/job-name"], "pi");
        assert_eq!(labels["controller-uid"], uid);
        assert!(pod.metadata.name.unwrap().starts_with("pi-"));
    }
}
