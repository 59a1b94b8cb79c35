//! OCI image references: `[host[:port]/]repo[:tag][@sha256:digest]`, parsed and normalised as
//! Docker and containerd do (no host → `docker.io`, one path element on Docker Hub →
//! `library/`), and the pull policy a container gets for one.
//!
//! The grammar is distribution's (`github.com/distribution/reference`), and a malformed
//! reference gets the kubelet's `InvalidImageName` message.

use std::fmt;

/// A normalised OCI image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// The registry host, with its port if any (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// The repository path (`library/busybox`, `acme/api`).
    pub repository: String,
    /// The tag, if written (`1.4`); with neither tag nor digest, `latest` is pulled.
    pub tag: Option<String>,
    /// The digest, if written (`sha256:…`).
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `image` as an OCI reference. The error is the kubelet's message for
    /// `InvalidImageName` (`Failed to apply default image tag "…": couldn't parse image name
    /// "…": invalid reference format`).
    pub fn parse(image: &str) -> Result<ImageRef, String> {
        parse(image).map_err(|why| {
            format!("Failed to apply default image tag {image:?}: couldn't parse image name {image:?}: {why}")
        })
    }

    /// `registry/repository`, without tag or digest (the `repo` of an `imageID`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag pulled when the reference has no digest: the tag written, else `latest`.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// Whether the reference names a moving target: `:latest`, or no tag and no digest.
    /// The default pull policy for such a reference is `Always`.
    pub fn is_latest(&self) -> bool {
        self.digest.is_none() && self.tag.as_deref().is_none_or(|t| t == "latest")
    }
}

impl fmt::Display for ImageRef {
    /// The normalised reference: `docker.io/library/busybox:latest`, `host:5000/a/b@sha256:…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        match (&self.tag, &self.digest) {
            (Some(tag), Some(d)) => write!(f, ":{tag}@{d}"),
            (Some(tag), None) => write!(f, ":{tag}"),
            (None, Some(d)) => write!(f, "@{d}"),
            (None, None) => f.write_str(":latest"),
        }
    }
}

/// `imagePullPolicy`, resolved with the kubelet's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull every time the container's image is loaded.
    Always,
    /// Pull only when the image is not in the local store.
    IfNotPresent,
    /// Never pull: an image not in the store is `ErrImageNeverPull`.
    Never,
}

impl PullPolicy {
    /// The policy for `written` (the spec's `imagePullPolicy`), defaulted as the API server
    /// does: `Always` for a `:latest` or untagged reference, else `IfNotPresent`.
    pub fn resolve(written: Option<&str>, reference: &ImageRef) -> PullPolicy {
        match written {
            Some("Always") => PullPolicy::Always,
            Some("IfNotPresent") => PullPolicy::IfNotPresent,
            Some("Never") => PullPolicy::Never,
            _ if reference.is_latest() => PullPolicy::Always,
            _ => PullPolicy::IfNotPresent,
        }
    }
}

const NAME_TOTAL_LENGTH_MAX: usize = 255;

fn parse(s: &str) -> Result<ImageRef, String> {
    const INVALID: &str = "invalid reference format";
    if s.is_empty() {
        return Err("repository name must have at least one component".into());
    }
    if s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(format!(
            "invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        ));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((rest, d)) => (rest, Some(parse_digest(d).ok_or(INVALID)?)),
        None => (s, None),
    };
    // A ':' after the last '/' is a tag; one before it is a registry port.
    let (name, tag) = match rest.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (rest, None),
    };
    if let Some(tag) = tag
        && !valid_tag(tag)
    {
        return Err(INVALID.into());
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, path))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            if !valid_domain(first) {
                return Err(INVALID.into());
            }
            (first.to_string(), path.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    let registry = if registry == "index.docker.io" {
        "docker.io".to_string()
    } else {
        registry
    };
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "invalid reference format: repository name ({path}) must be lowercase"
        ));
    }
    if path.is_empty() || !path.split('/').all(valid_path_component) {
        return Err(INVALID.into());
    }
    let repository = if registry == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    if registry.len() + 1 + repository.len() > NAME_TOTAL_LENGTH_MAX {
        return Err(format!(
            "repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        ));
    }
    Ok(ImageRef {
        registry,
        repository,
        tag: tag.map(str::to_string),
        digest,
    })
}

/// `sha256:<64 hex>` (the only algorithm wasmpod verifies).
fn parse_digest(d: &str) -> Option<String> {
    let hex = d.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| d.to_string())
}

/// `[\w][\w.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

/// A host (dot-separated labels, or a bracketed IPv6 address) with an optional `:port`.
fn valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if host.is_empty() {
        return d.starts_with('[');
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        ImageRef::parse(s).expect(s).to_string()
    }

    #[test]
    fn references_are_normalised_as_docker_does() {
        assert_eq!(norm("python"), "docker.io/library/python:latest");
        assert_eq!(norm("python:3.8"), "docker.io/library/python:3.8");
        assert_eq!(norm("acme/api:1.4"), "docker.io/acme/api:1.4");
        assert_eq!(
            norm("index.docker.io/acme/api"),
            "docker.io/acme/api:latest"
        );
        assert_eq!(norm("ghcr.io/acme/api:1.4"), "ghcr.io/acme/api:1.4");
        assert_eq!(norm("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(norm("localhost/app:v1"), "localhost/app:v1");
        assert_eq!(norm("[::1]:5000/a/b:c"), "[::1]:5000/a/b:c");
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(norm(&format!("x@{d}")), format!("docker.io/library/x@{d}"));
        assert_eq!(norm(&format!("r.io/x:1@{d}")), format!("r.io/x:1@{d}"));
        let r = ImageRef::parse("myregistry:5000/a/b_c-d.e:tag").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("myregistry:5000", "a/b_c-d.e", Some("tag"))
        );
        assert_eq!(r.name(), "myregistry:5000/a/b_c-d.e");
    }

    #[test]
    fn malformed_references_get_the_kubelets_message() {
        let err = ImageRef::parse("Foo:bar").unwrap_err();
        assert_eq!(
            err,
            "Failed to apply default image tag \"Foo:bar\": couldn't parse image name \"Foo:bar\": \
             invalid reference format: repository name (Foo) must be lowercase"
        );
        for bad in [
            "a b",
            "repo:",
            "repo:-tag",
            "-repo",
            "repo//x",
            "repo@sha256:abc",
            "repo@md5:0123",
            "host:port/x",
            "a__-b",
            "x:y:z",
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert!(err.ends_with("invalid reference format"), "{bad}: {err}");
        }
        let err = ImageRef::parse(&"a".repeat(300)).unwrap_err();
        assert!(err.contains("must not be more than 255"), "{err}");
        let err = ImageRef::parse(&"a".repeat(64)).unwrap_err();
        assert!(err.contains("64-byte hexadecimal"), "{err}");
    }

    #[test]
    fn the_default_pull_policy_follows_the_tag() {
        let p = |image: &str, written: Option<&str>| {
            PullPolicy::resolve(written, &ImageRef::parse(image).unwrap())
        };
        assert_eq!(p("app", None), PullPolicy::Always);
        assert_eq!(p("app:latest", None), PullPolicy::Always);
        assert_eq!(p("app:1.0", None), PullPolicy::IfNotPresent);
        let d = format!("app@sha256:{}", "0".repeat(64));
        assert_eq!(p(&d, None), PullPolicy::IfNotPresent);
        assert_eq!(p("app", Some("Never")), PullPolicy::Never);
        assert_eq!(p("app:1", Some("Always")), PullPolicy::Always);
        assert_eq!(p("app", Some("IfNotPresent")), PullPolicy::IfNotPresent);
    }
}
