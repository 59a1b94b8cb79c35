//! A real OCI registry for the registry-image tests: Debian's `docker-registry` (CNCF
//! distribution) on a free loopback port with a temporary storage directory; open, behind
//! `htpasswd` basic auth, or behind bearer tokens from a test token server
//! (`registry_token.rs`, its key and certificate made with `openssl`); and OCI image layouts
//! written by the test and pushed with `skopeo copy` (a client other than wasmpod).
//! `.ci/run` installs these tools.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::Digest as _;

use crate::registry_token::{ISSUER, SERVICE, TokenServer};

/// A running `docker-registry`, stopped when dropped.
pub struct TestRegistry {
    child: Option<Child>,
    /// `127.0.0.1:<port>`.
    pub host: String,
    /// The registry's storage directory.
    pub storage: PathBuf,
    config: PathBuf,
    log: PathBuf,
    creds: Option<(String, String)>,
    /// The token server of a registry started with [`start_with_token`](Self::start_with_token).
    pub token: Option<TokenServer>,
    _dir: tempfile::TempDir,
}

/// How a test registry authenticates its clients.
enum Auth {
    None,
    /// htpasswd basic auth.
    Basic,
    /// Bearer tokens from a [`TokenServer`] that checks these credentials.
    Token,
}

fn require(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{tool} is not installed; .ci/run installs it (apt-get install docker-registry skopeo apache2-utils openssl)"
    );
}

impl TestRegistry {
    /// A registry without auth.
    pub fn start() -> TestRegistry {
        Self::launch(None, Auth::None)
    }

    /// A registry that wants `user`/`password` (basic auth over htpasswd).
    pub fn start_with_auth(user: &str, password: &str) -> TestRegistry {
        Self::launch(Some((user.to_string(), password.to_string())), Auth::Basic)
    }

    /// A registry that wants bearer tokens (`auth: token:`), issued by a [`TokenServer`] to
    /// `user`/`password`.
    pub fn start_with_token(user: &str, password: &str) -> TestRegistry {
        Self::launch(Some((user.to_string(), password.to_string())), Auth::Token)
    }

    fn launch(creds: Option<(String, String)>, auth: Auth) -> TestRegistry {
        require("docker-registry");
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            storage.display()
        );
        let mut token = None;
        if let (Auth::Token, Some((user, password))) = (&auth, &creds) {
            require("openssl");
            let server = TokenServer::start(dir.path(), user, password);
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                server.realm,
                server.cert.display()
            ));
            token = Some(server);
        }
        if let (Auth::Basic, Some((user, password))) = (&auth, &creds) {
            require("htpasswd");
            let htpasswd = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd");
            assert!(out.status.success());
            std::fs::write(&htpasswd, out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test-realm\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut registry = TestRegistry {
            child: None,
            host,
            storage,
            config: config_path,
            log: dir.path().join("registry.log"),
            creds,
            token,
            _dir: dir,
        };
        registry.restart();
        registry
    }

    /// Starts the registry process (again, after [`stop`](Self::stop)) and waits until it answers.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(&self.host) {
                let _ = write!(s, "GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host);
                let mut head = [0u8; 12];
                if s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not answer on {}", self.host);
    }

    /// Stops the registry process (its storage stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Pushes the layout's `tag` to `repo:tag` here with `skopeo copy --all`.
    pub fn push(&self, layout: &Layout, tag: &str, repo: &str) -> String {
        require("skopeo");
        let dest = format!("{}/{repo}:{tag}", self.host);
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--all", "--quiet", "--dest-tls-verify=false"]);
        if let Some((u, p)) = &self.creds {
            cmd.arg(format!("--dest-creds={u}:{p}"));
        }
        let out = cmd
            .arg(format!("oci:{}:{tag}", layout.dir.path().display()))
            .arg(format!("docker://{dest}"))
            .output()
            .expect("skopeo");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dest
    }

    /// How many `GET`s of blob `digest` the registry's access log shows.
    pub fn blob_requests(&self, digest: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let path = format!("/blobs/{digest} ");
        log.lines()
            .filter(|l| l.contains("\"GET /v2/") && l.contains(&path))
            .count()
    }

    /// The file the registry serves blob `digest` from.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An OCI image layout directory, written by hand.
pub struct Layout {
    dir: tempfile::TempDir,
    tags: Vec<Value>,
}

/// `sha256:<hex>` of `bytes`.
pub fn digest(bytes: &[u8]) -> String {
    let hex: String = sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

impl Layout {
    pub fn new() -> Layout {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("blobs/sha256")).unwrap();
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        Layout {
            dir,
            tags: Vec::new(),
        }
    }

    /// Writes a blob; its descriptor.
    pub fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let d = digest(bytes);
        let path = self
            .dir
            .path()
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"));
        std::fs::write(path, bytes).unwrap();
        json!({"mediaType": media_type, "digest": d, "size": bytes.len()})
    }

    /// A TAG-Runtime Wasm artifact (or, with another `layer_type`, runwasi's older one).
    pub fn wasm_image(&self, wasm: &[u8], os: &str, layer_type: &str) -> Value {
        let layer = self.blob(layer_type, wasm);
        let config = json!({
            "architecture": "wasm",
            "os": os,
            "layerDigests": [layer["digest"]],
        });
        let config = self.blob(
            "application/vnd.wasm.config.v0+json",
            config.to_string().as_bytes(),
        );
        self.manifest(config, vec![layer])
    }

    /// An image manifest of `config` and `layers`.
    pub fn manifest(&self, config: Value, layers: Vec<Value>) -> Value {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers,
        });
        self.blob(
            "application/vnd.oci.image.manifest.v1+json",
            manifest.to_string().as_bytes(),
        )
    }

    /// An image index of `entries` (manifest descriptors with their `os`/`architecture`).
    pub fn index(&self, entries: Vec<(Value, &str, &str)>) -> Value {
        let manifests: Vec<Value> = entries
            .into_iter()
            .map(|(mut d, os, arch)| {
                d["platform"] = json!({"os": os, "architecture": arch});
                d
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        self.blob(
            "application/vnd.oci.image.index.v1+json",
            index.to_string().as_bytes(),
        )
    }

    /// Names `descriptor` `tag` in the layout's `index.json`.
    pub fn tag(&mut self, mut descriptor: Value, tag: &str) {
        descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.tags.push(descriptor);
        let index = json!({"schemaVersion": 2, "manifests": self.tags});
        std::fs::write(self.dir.path().join("index.json"), index.to_string()).unwrap();
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
