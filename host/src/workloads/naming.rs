//! Names, labels and owner references of the objects controllers create, as the
//! Kubernetes controllers make them.

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// `k8s.io/apimachinery/pkg/util/rand`'s alphabet: no vowels (no words), no `0`, `1`, `3`
/// (no confusion with letters).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The length of the random suffix of generated names (`names.SimpleNameGenerator`).
pub(crate) const SUFFIX_LEN: usize = 5;

/// FNV-1a, 32 bits (Go's `hash/fnv.New32a`).
pub(crate) fn fnv32a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// `rand.SafeEncodeString`: each byte mapped onto [`ALPHANUMS`].
pub(crate) fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// The `pod-template-hash` of a template, as `controller.ComputeHash` renders it: the
/// FNV-32a hash of the template, its decimal digits through [`safe_encode`]. The hashed
/// bytes are the template's JSON with sorted keys (Go hashes its `spew` dump of the struct,
/// which no other language reproduces), so the value has the same shape and stability (same
/// template, same hash) but not the same digits as on a cluster.
pub(crate) fn template_hash(template: &PodTemplateSpec) -> String {
    let json = serde_json::to_value(template).unwrap_or(serde_json::Value::Null);
    // serde_json's map is ordered by key unless `preserve_order`: sort explicitly.
    let text = canonical(&json);
    safe_encode(&fnv32a(text.as_bytes()).to_string())
}

fn canonical(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<&String, String> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            let fields: Vec<String> = sorted.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
            format!("{{{}}}", fields.join(","))
        }
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// 64 random bits (the standard library's per-process random hasher keys, mixed with a
/// counter so that two calls never repeat).
fn random_u64() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}

/// `rand.String(5)`: the random suffix of a generated name.
pub(crate) fn random_suffix() -> String {
    let mut bits = random_u64();
    (0..SUFFIX_LEN)
        .map(|_| {
            let c = ALPHANUMS[(bits % ALPHANUMS.len() as u64) as usize];
            bits /= ALPHANUMS.len() as u64;
            char::from(c)
        })
        .collect()
}

/// A random RFC 4122 version 4 UID, as the API server gives every object.
pub(crate) fn new_uid() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48 & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// The object that owns the pods (or the ReplicaSet) a controller creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
    pub uid: String,
}

impl Owner {
    /// Its reference, as controllers set it (`metav1.NewControllerRef`).
    pub(crate) fn reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.into(),
            kind: self.kind.into(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

/// A pod from a template (`controller.GetPodFromTemplate`): the template's labels and
/// annotations, `extra` labels on top, the owner's reference, the given name.
pub(crate) fn pod_from_template(
    template: &PodTemplateSpec,
    owner: &Owner,
    namespace: &str,
    name: String,
    extra: &[(&str, String)],
) -> Pod {
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    for (k, v) in extra {
        labels.insert((*k).to_owned(), v.clone());
    }
    let mut pod = Pod {
        spec: template.spec.clone(),
        ..Default::default()
    };
    pod.metadata.name = Some(name);
    pod.metadata.namespace = Some(namespace.to_owned());
    pod.metadata.labels = Some(labels);
    pod.metadata.annotations = template_meta.annotations;
    pod.metadata.owner_references = Some(vec![owner.reference()]);
    pod
}

/// A generated name: `prefix-` and [`random_suffix`] (`names.SimpleNameGenerator`, which
/// cuts the prefix so that the whole fits in 63 characters).
pub(crate) fn generated_name(prefix: &str) -> String {
    let max = 63 - SUFFIX_LEN - 1;
    let prefix: String = prefix.chars().take(max).collect();
    format!("{prefix}-{}", random_suffix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv32a_matches_the_reference_vectors() {
        // From the FNV reference test suite (and Go's hash/fnv tests).
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encode_maps_bytes_onto_the_safe_alphabet() {
        // '0' is 48, 48 % 27 = 21 → '4'; '9' is 57, 57 % 27 = 3 → 'f'.
        assert_eq!(safe_encode("09"), "4f");
        let hash = safe_encode(&u32::MAX.to_string());
        assert_eq!(hash.len(), 10);
        assert!(hash.bytes().all(|b| ALPHANUMS.contains(&b)));
    }

    #[test]
    fn template_hash_is_stable_and_follows_the_template() {
        let mut t = PodTemplateSpec::default();
        let first = template_hash(&t);
        assert_eq!(first, template_hash(&t.clone()));
        t.metadata = Some(Default::default());
        t.metadata.as_mut().unwrap().labels = Some([("app".into(), "web".into())].into());
        assert_ne!(first, template_hash(&t));
    }

    #[test]
    fn generated_names_have_five_safe_characters() {
        let name = generated_name("pi");
        let suffix = name.strip_prefix("pi-").expect("prefix kept");
        assert_eq!(suffix.len(), SUFFIX_LEN);
        assert!(suffix.bytes().all(|b| ALPHANUMS.contains(&b)));
        assert_ne!(generated_name("pi"), generated_name("pi"));
        assert_eq!(generated_name(&"x".repeat(100)).len(), 63);
    }

    #[test]
    fn uids_are_version_4() {
        let uid = new_uid();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert_ne!(uid, new_uid());
    }

    #[test]
    fn pods_carry_the_owner_reference_and_labels() {
        let owner = Owner {
            api_version: "batch/v1",
            kind: "Job",
            name: "pi".into(),
            uid: "u".into(),
        };
        let pod = pod_from_template(
            &PodTemplateSpec::default(),
            &owner,
            "default",
            "pi-abcde".into(),
            &[("job-name", "pi".into())],
        );
        let r = &pod.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((r.kind.as_str(), r.uid.as_str()), ("Job", "u"));
        assert_eq!(
            (r.controller, r.block_owner_deletion),
            (Some(true), Some(true))
        );
        assert_eq!(pod.metadata.labels.unwrap()["job-name"], "pi");
    }
}
