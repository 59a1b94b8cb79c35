//! Registry credentials: from a pod's `imagePullSecrets` (Secrets of type
//! `kubernetes.io/dockerconfigjson` and `kubernetes.io/dockercfg`) and from the Docker
//! config file (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), as docker and
//! podman read them. A credential is never printed: its `Debug` hides the password.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;

/// A user name and password (or token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name.
    pub username: String,
    password: String,
}

impl Credential {
    /// A credential from a user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The password, for the registry client only.
    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The credentials one pull secret (or one Docker config file) holds, by registry host.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PullSecret {
    /// Where it came from, for messages (`secret/regcred`, `~/.docker/config.json`).
    pub name: String,
    auths: BTreeMap<String, Credential>,
}

impl fmt::Debug for PullSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PullSecret")
            .field("name", &self.name)
            .field("registries", &self.auths.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a pull secret could not be read. Never holds the secret's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pull secret {name:?}: {message}")]
pub struct SecretError {
    /// The secret's name.
    pub name: String,
    /// What is wrong with it.
    pub message: String,
}

/// `kubernetes.io/dockerconfigjson`: `data[".dockerconfigjson"]` is a Docker config file.
pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
/// `kubernetes.io/dockercfg`: `data[".dockercfg"]` is the legacy `~/.dockercfg` (the `auths`
/// map alone).
pub const DOCKER_CFG: &str = "kubernetes.io/dockercfg";

impl PullSecret {
    /// Reads a Secret's data (decoded bytes by key) as its `type_` says.
    ///
    /// # Errors
    /// A wrong type, a missing key or malformed JSON or base64.
    pub fn from_secret(
        name: &str,
        type_: Option<&str>,
        data: &BTreeMap<String, Vec<u8>>,
    ) -> Result<PullSecret, SecretError> {
        let err = |message: String| SecretError {
            name: name.to_string(),
            message,
        };
        let (key, legacy) = match type_ {
            Some(DOCKER_CONFIG_JSON) => (".dockerconfigjson", false),
            Some(DOCKER_CFG) => (".dockercfg", true),
            other => {
                return Err(err(format!(
                    "type {:?} is not {DOCKER_CONFIG_JSON} or {DOCKER_CFG}",
                    other.unwrap_or("Opaque")
                )));
            }
        };
        let bytes = data
            .get(key)
            .ok_or_else(|| err(format!("data has no {key:?} key")))?;
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
            err(format!(
                "{key} is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let auths = if legacy {
            Some(&value)
        } else {
            value.get("auths")
        };
        let auths = parse_auths(auths).map_err(err)?;
        Ok(PullSecret {
            name: format!("secret/{name}"),
            auths,
        })
    }

    /// Reads a Docker config file's content (`{"auths": {...}}`). Entries it cannot read
    /// (credential helpers, identity tokens) are left out.
    ///
    /// # Errors
    /// Malformed JSON or base64.
    pub fn from_docker_config(name: &str, json: &[u8]) -> Result<PullSecret, SecretError> {
        let err = |message: String| SecretError {
            name: name.to_string(),
            message,
        };
        let value: serde_json::Value = serde_json::from_slice(json).map_err(|e| {
            err(format!(
                "not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        Ok(PullSecret {
            name: name.to_string(),
            auths: parse_auths(value.get("auths")).map_err(err)?,
        })
    }

    /// The Docker config file docker and podman read: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`; `None` when there is none.
    pub fn from_default_docker_config() -> Option<PullSecret> {
        let path = docker_config_path()?;
        let bytes = std::fs::read(&path).ok()?;
        match PullSecret::from_docker_config(&path.display().to_string(), &bytes) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        }
    }

    /// The credential for `registry` (`host[:port]`), matched as docker does: the key's
    /// scheme and path are ignored, and Docker Hub's names are one.
    pub fn for_registry(&self, registry: &str) -> Option<&Credential> {
        let want = canonical_host(registry);
        self.auths
            .iter()
            .find(|(key, _)| canonical_host(key) == want)
            .map(|(_, c)| c)
    }
}

/// The Docker config file's path.
fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// A registry key's host: `https://index.docker.io/v1/` → `docker.io`.
fn canonical_host(key: &str) -> String {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key.split('/').next().unwrap_or(key).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".into()
        }
        _ => host,
    }
}

/// An `auths` map: each entry's base64 `auth` (`user:password`), else its `username` and
/// `password`.
fn parse_auths(auths: Option<&serde_json::Value>) -> Result<BTreeMap<String, Credential>, String> {
    let mut out = BTreeMap::new();
    let Some(auths) = auths else {
        return Ok(out);
    };
    let map = auths
        .as_object()
        .ok_or_else(|| "auths is not an object".to_string())?;
    for (registry, entry) in map {
        let text = |k: &str| {
            entry
                .get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let credential = if let Some(auth) = text("auth") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| format!("the auth of {registry:?} is not base64"))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| format!("the auth of {registry:?} is not UTF-8"))?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or_else(|| format!("the auth of {registry:?} is not user:password"))?;
            Credential::new(user, password)
        } else if let (Some(user), Some(password)) = (text("username"), text("password")) {
            Credential::new(user, password)
        } else {
            continue;
        };
        out.insert(registry.clone(), credential);
    }
    Ok(out)
}

/// The credential for `registry`: the first pull secret that has one, then the Docker config
/// file (the kubelet tries the pod's secrets before the node's credentials).
pub(crate) fn credential_for(
    secrets: &[PullSecret],
    docker_config: Option<&PullSecret>,
    registry: &str,
) -> Option<Credential> {
    secrets
        .iter()
        .chain(docker_config)
        .find_map(|s| s.for_registry(registry))
        .cloned()
}

/// Signs in to the registry of `reference` for `operation` before anything else is asked
/// of it: with a registry that wants bearer tokens, the token server is asked now (with the
/// credential, for the repository's scope), so that a refusal is an error with the token
/// server's reason. Without this, `oci-client` asks for the token lazily, drops a refusal and
/// goes on anonymously, and the error is the registry's bare 401. A registry that wants
/// basic auth answers the sign-in with a basic challenge, and the credential is then sent
/// with each request. The token is kept by the client, never returned or shown.
///
/// # Errors
/// The token server's or registry's refusal, or why it could not be reached.
pub(crate) async fn sign_in(
    client: &oci_client::Client,
    reference: &oci_client::Reference,
    auth: &oci_client::secrets::RegistryAuth,
    operation: oci_client::RegistryOperation,
) -> Result<(), String> {
    client
        .auth(reference, auth, operation)
        .await
        .map(drop)
        .map_err(|e| crate::report::chain(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn docker_config_auths_are_read_by_host() {
        let json = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{}"}},
                "localhost:5000": {{"username": "u2", "password": "p2"}},
                "ghcr.io": {{"identitytoken": "x"}}
            }}, "credsStore": "desktop"}}"#,
            b64("alice:s3cret:with:colons")
        );
        let s = PullSecret::from_docker_config("cfg", json.as_bytes()).unwrap();
        let hub = s.for_registry("docker.io").unwrap();
        assert_eq!(hub.username, "alice");
        assert_eq!(hub.password(), "s3cret:with:colons");
        assert_eq!(s.for_registry("localhost:5000").unwrap().username, "u2");
        assert!(s.for_registry("ghcr.io").is_none());
        assert!(s.for_registry("localhost:5001").is_none());
        let shown = format!("{s:?} {hub:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn both_secret_types_are_read() {
        let cfg = format!(r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#, b64("a:b"));
        let data = BTreeMap::from([(".dockerconfigjson".to_string(), cfg.into_bytes())]);
        let s = PullSecret::from_secret("regcred", Some(DOCKER_CONFIG_JSON), &data).unwrap();
        assert_eq!(s.for_registry("r.io"), Some(&Credential::new("a", "b")));
        assert_eq!(s.name, "secret/regcred");

        let legacy = format!(r#"{{"https://r.io": {{"auth": "{}"}}}}"#, b64("c:d"));
        let data = BTreeMap::from([(".dockercfg".to_string(), legacy.into_bytes())]);
        let s = PullSecret::from_secret("old", Some(DOCKER_CFG), &data).unwrap();
        assert_eq!(s.for_registry("r.io"), Some(&Credential::new("c", "d")));

        let err = PullSecret::from_secret("x", Some("Opaque"), &data).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not kubernetes.io/dockerconfigjson"),
            "{err}"
        );
        let err = PullSecret::from_secret("x", Some(DOCKER_CONFIG_JSON), &data).unwrap_err();
        assert!(err.to_string().contains(".dockerconfigjson"), "{err}");
        let bad = BTreeMap::from([(
            ".dockerconfigjson".to_string(),
            br#"{"auths": {"r.io": {"auth": "%%%hunter2"}}}"#.to_vec(),
        )]);
        let err = PullSecret::from_secret("x", Some(DOCKER_CONFIG_JSON), &bad).unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn pod_secrets_come_before_the_docker_config() {
        let one = |user: &str| {
            let cfg = format!(
                r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
                b64(&format!("{user}:p"))
            );
            PullSecret::from_docker_config(user, cfg.as_bytes()).unwrap()
        };
        let (pod, node) = (one("pod"), one("node"));
        assert_eq!(
            credential_for(std::slice::from_ref(&pod), Some(&node), "r.io")
                .unwrap()
                .username,
            "pod"
        );
        assert_eq!(
            credential_for(&[], Some(&node), "r.io").unwrap().username,
            "node"
        );
        assert!(credential_for(&[pod], Some(&node), "other.io").is_none());
    }
}
