//! A token server for the bearer-token tests (the Docker registry token protocol, as
//! distribution 2.8's `registry/auth/token` reads it): it checks the client's basic
//! credentials and issues a JWT (RS256) whose `x5c` header holds the self-signed certificate
//! that is the registry's `rootcertbundle`. The key and certificate are made with the
//! `openssl` CLI in a temporary directory, and each token is signed with `openssl dgst`.
//!
//! It runs on its own thread (a current-thread tokio runtime serving hyper) on a free
//! loopback port, and records every request (scope, service, who asked, whether granted) and
//! every token it issued, so that a test can check that the token flow was used and that no
//! token leaks.

#![allow(dead_code)]

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use crate::registry_images::base64_encode;

/// The `service` the registry names in its challenge (the token's `aud`).
pub const SERVICE: &str = "wasmpod-test-registry";
/// The token's `iss`, the registry's `issuer`.
pub const ISSUER: &str = "wasmpod-test-issuer";

/// One request to the token server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The `scope` query parameters (`repository:app:pull`).
    pub scopes: Vec<String>,
    /// The `service` query parameter.
    pub service: Option<String>,
    /// The user name of the basic credentials sent, if any.
    pub user: Option<String>,
    /// Whether a token was issued.
    pub granted: bool,
}

#[derive(Default)]
struct Log {
    requests: Vec<TokenRequest>,
    tokens: Vec<String>,
}

/// A running token server; it stops with the test process.
pub struct TokenServer {
    /// `http://127.0.0.1:<port>/token`, the registry's `realm`.
    pub realm: String,
    /// The certificate (PEM) whose key signs the tokens: the registry's `rootcertbundle`.
    pub cert: PathBuf,
    log: Arc<Mutex<Log>>,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// base64url without padding, as JWTs are written.
fn b64url(bytes: &[u8]) -> String {
    // The test's standard encoder works on text; these bytes may be binary.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | (c as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

/// Standard base64 with padding, of binary bytes (an `x5c` entry).
fn b64std(bytes: &[u8]) -> String {
    let mut out: String = b64url(bytes)
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

impl TokenServer {
    /// Makes a key and self-signed certificate in `dir` and starts serving tokens to `user`
    /// with `password`.
    pub fn start(dir: &Path, user: &str, password: &str) -> TokenServer {
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.pem",
                "-days",
                "2",
                "-subj",
                "/CN=wasmpod-test-token-issuer",
            ],
            dir,
        );
        openssl(
            &[
                "x509",
                "-in",
                "token.pem",
                "-outform",
                "DER",
                "-out",
                "token.der",
            ],
            dir,
        );
        let der = std::fs::read(dir.join("token.der")).unwrap();
        let issuer = Arc::new(Issuer {
            key: dir.join("token.key"),
            x5c: b64std(&der),
            basic: format!("Basic {}", base64_encode(&format!("{user}:{password}"))),
            user: user.to_string(),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.set_nonblocking(true).unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Log::default()));
        let served = log.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(listener, issuer, served));
        });
        TokenServer {
            realm,
            cert: dir.join("token.pem"),
            log,
        }
    }

    /// The requests served so far.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.log.lock().unwrap().requests.clone()
    }

    /// The tokens issued so far.
    pub fn tokens(&self) -> Vec<String> {
        self.log.lock().unwrap().tokens.clone()
    }
}

struct Issuer {
    key: PathBuf,
    x5c: String,
    /// The `Authorization` header value of the right credentials.
    basic: String,
    user: String,
}

async fn serve(listener: std::net::TcpListener, issuer: Arc<Issuer>, log: Arc<Mutex<Log>>) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (issuer, log) = (issuer.clone(), log.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let (issuer, log) = (issuer.clone(), log.clone());
                async move { Ok::<_, Infallible>(answer(&req, &issuer, &log).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

async fn answer(
    req: &Request<hyper::body::Incoming>,
    issuer: &Issuer,
    log: &Mutex<Log>,
) -> Response<Full<Bytes>> {
    let query = req.uri().query().unwrap_or_default();
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string))
        .collect();
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone());
    let auth = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let user = auth
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(decode_user);
    let granted = auth == Some(issuer.basic.as_str());
    let mut entry = TokenRequest {
        scopes: scopes.clone(),
        service: service.clone(),
        user,
        granted,
    };
    if !granted {
        log.lock().unwrap().requests.push(entry);
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(
                br#"{"details":"token server: wrong user name or password"}"#,
            )))
            .unwrap();
    }
    let token = issue(issuer, service.as_deref().unwrap_or(SERVICE), &scopes).await;
    entry.granted = true;
    {
        let mut log = log.lock().unwrap();
        log.requests.push(entry);
        log.tokens.push(token.clone());
    }
    let body = json!({"token": token, "access_token": token, "expires_in": 300});
    Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// A JWT for `scopes` (`repository:<name>:<actions>`), every action asked for granted.
async fn issue(issuer: &Issuer, service: &str, scopes: &[String]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let (kind, rest) = s.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            Some(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [issuer.x5c]});
    let claims = json!({
        "iss": ISSUER,
        "sub": issuer.user,
        "aud": service,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", std::process::id()),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let key = issuer.key.clone();
    let input = signing_input.clone();
    let signature = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "openssl dgst -sign failed");
        out.stdout
    })
    .await
    .unwrap();
    format!("{signing_input}.{}", b64url(&signature))
}

fn decode_user(b64: &str) -> Option<String> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in b64.trim_end_matches('=').bytes() {
        let v = T.iter().position(|&t| t == c)? as u32;
        bits = bits << 6 | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    let text = String::from_utf8(out).ok()?;
    Some(text.split_once(':')?.0.to_string())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn base64_and_percent_codecs() {
    assert_eq!(b64url(b"\xfb\xff"), "-_8");
    assert_eq!(b64std(b"\xfb\xff"), "+/8=");
    assert_eq!(b64url(b"abc"), "YWJj");
    assert_eq!(
        decode_user(&base64_encode("alice:pw:x")).as_deref(),
        Some("alice")
    );
    assert_eq!(
        percent_decode("repository%3Aa%2Fb%3Apull%2Cpush"),
        "repository:a/b:pull,push"
    );
}
