//! Bearer-token auth against the real registry (issue 15): Debian's docker-registry
//! configured with `auth: token:`, and a token server in the test (`registry_token.rs`) that
//! checks basic credentials and issues signed JWTs. Credentials come from an
//! `imagePullSecrets` Secret and from `$DOCKER_CONFIG/config.json`; wrong ones give
//! `ErrImagePull` with the reason; no credential or token is ever shown.

use std::path::Path;

use wasmpod::{Error, RunOptions, Runtime};

use crate::registry_images::{WASM, base64_encode, p1_module, pod, run, runtime};
use crate::registry_server::{Layout, TestRegistry};
use crate::registry_token::{SERVICE, TokenRequest};
use crate::support::{self, status_of};

const USER: &str = "tok-user";
const PASSWORD: &str = "T0ken-Pa55word";
const WRONG: &str = "wr0ng-Hunter2";

/// Applies a `kubernetes.io/dockerconfigjson` Secret `name` for `host` to `rt`'s cluster.
fn apply_secret(rt: &Runtime, name: &str, host: &str, user: &str, password: &str) {
    let cfg = docker_config(host, user, password);
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{cfg}'\n"
    );
    for object in wasmpod::spec::load(&yaml).expect("a Secret").objects {
        rt.cluster().apply(object).expect("applied");
    }
}

/// A pod of one container running `image` with the pull secret `secret`.
fn pod_with_secret(name: &str, image: &str, secret: &str) -> String {
    pod(name, image, None, &[]).replacen(
        "spec:\n",
        &format!("spec:\n  imagePullSecrets: [{{name: {secret}}}]\n"),
        1,
    )
}

/// A Docker config file's content with one credential.
fn docker_config(host: &str, user: &str, password: &str) -> String {
    let auth = base64_encode(&format!("{user}:{password}"));
    format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#)
}

/// Fails when `text` shows a password, a basic credential or any token the server issued.
fn assert_nothing_secret(text: &str, tokens: &[String]) {
    for password in [PASSWORD, WRONG] {
        assert!(!text.contains(password), "a password was shown: {text}");
        assert!(
            !text.contains(&base64_encode(&format!("{USER}:{password}"))),
            "a basic credential was shown: {text}"
        );
    }
    for token in tokens {
        // A JWT's signature part alone is unique to it.
        let signature = token.rsplit('.').next().unwrap_or(token);
        assert!(!text.contains(signature), "a token was shown: {text}");
    }
}

/// Whether the token server granted `user` a token for `scope` (of the test service) among
/// `requests`.
fn granted(requests: &[TokenRequest], scope: &str) -> bool {
    requests.iter().any(|r| {
        r.granted
            && r.user.as_deref() == Some(USER)
            && r.service.as_deref() == Some(SERVICE)
            && r.scopes.iter().any(|s| s == scope)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_from_image_pull_secrets_and_nothing_is_shown() {
    let registry = TestRegistry::start_with_token(USER, PASSWORD);
    let tokens = registry.token.as_ref().unwrap();
    let mut layout = Layout::new();
    layout.tag(layout.wasm_image(&p1_module(), "wasip1", WASM), "1.0");
    let image = registry.push(&layout, "1.0", "private/app");
    let pushed_by_skopeo = tokens.requests().len();
    assert!(pushed_by_skopeo > 0, "skopeo went through the token server");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());

    // No credential: the registry's 401.
    let err = run(&rt, &pod("anon", &image, None, &[]), RunOptions::default())
        .await
        .err()
        .expect("401 without credentials");
    let (reason, message) = reason_of(&err);
    assert_eq!(reason, "ErrImagePull");
    assert!(message.contains("Failed to pull image"), "{message}");

    // Wrong credentials (the pod's imagePullSecrets): the token server's reason.
    apply_secret(&rt, "wrongcred", &registry.host, USER, WRONG);
    apply_secret(&rt, "regcred", &registry.host, USER, PASSWORD);
    let yaml = pod_with_secret("wrong", &image, "wrongcred");
    let err = run(&rt, &yaml, RunOptions::default())
        .await
        .err()
        .expect("refused with a wrong password");
    let (reason, message) = reason_of(&err);
    assert_eq!(reason, "ErrImagePull");
    assert!(
        message.contains("wrong user name or password"),
        "the token server's reason: {message}"
    );
    let Error::Image { pod: status, .. } = &err else {
        unreachable!()
    };
    let shown = format!(
        "{err:?} {message} {}",
        serde_json::to_string(status).unwrap()
    );
    assert_nothing_secret(&shown, &tokens.tokens());
    let refused = &tokens.requests()[pushed_by_skopeo..];
    assert!(
        refused.iter().any(|r| !r.granted
            && r.user.as_deref() == Some(USER)
            && r.scopes == ["repository:private/app:pull"]),
        "{refused:?}"
    );

    // The right credentials: a token for the repository's pull scope, and the pod runs.
    let before = tokens.requests().len();
    let yaml = pod_with_secret("right", &image, "regcred");
    let ran = run(&rt, &yaml, RunOptions::default())
        .await
        .expect("pulled with a bearer token");
    assert_eq!(ran.phase, "Succeeded");
    assert_eq!(ran.lines, ["hello from p1"]);
    let asked = &tokens.requests()[before..];
    assert!(
        granted(asked, "repository:private/app:pull"),
        "the token server issued the pull token: {asked:?}"
    );
    assert!(
        status_of(&ran.pod, "app")
            .image_id
            .contains("/private/app@sha256:"),
        "{:?}",
        ran.pod.status
    );
    let shown = format!("{:?} {:?} {:?}", ran.events, ran.pod, ran.lines);
    assert_nothing_secret(&shown, &tokens.tokens());
}

/// `$DOCKER_CONFIG/config.json` through the CLI (its own process, so the variable is set for
/// it alone), with every log line on: pull and push go through the token flow, and nothing
/// the CLI prints shows a credential or a token.
#[test]
fn bearer_tokens_from_the_docker_config_for_pull_and_push() {
    let registry = TestRegistry::start_with_token(USER, PASSWORD);
    let tokens = registry.token.as_ref().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (right, wrong) = (dir.path().join("right"), dir.path().join("wrong"));
    for (d, password) in [(&right, PASSWORD), (&wrong, WRONG)] {
        std::fs::create_dir(d).unwrap();
        std::fs::write(
            d.join("config.json"),
            docker_config(&registry.host, USER, password),
        )
        .unwrap();
    }
    let module = dir.path().join("hello.wasm");
    std::fs::write(&module, p1_module()).unwrap();
    let cache = dir.path().join("cache");
    let wasmpod = |args: &[&str], docker_config: &Path| {
        let out = std::process::Command::new(support::wasmpod_bin())
            .args(args)
            .arg("--cache-dir")
            .arg(&cache)
            .env("DOCKER_CONFIG", docker_config)
            .env("HOME", dir.path())
            .env("WASMPOD_LOG", "trace")
            .output()
            .expect("wasmpod");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let image = format!("{}/pushed/hello:1", registry.host);
    let module_arg = module.to_str().unwrap();

    // The refusal is in the error itself, not only in the trace lines.
    let refused = |text: &str| {
        text.lines()
            .any(|l| l.starts_with("wasmpod: error: ") && l.contains("wrong user name or password"))
    };
    let (code, text) = wasmpod(&["push", module_arg, &image], &wrong);
    assert_ne!(code, Some(0), "{text}");
    assert!(refused(&text), "{text}");
    assert_nothing_secret(&text, &tokens.tokens());

    let (code, text) = wasmpod(&["push", module_arg, &image], &right);
    assert_eq!(code, Some(0), "{text}");
    assert_nothing_secret(&text, &tokens.tokens());
    assert!(
        granted(&tokens.requests(), "repository:pushed/hello:pull,push"),
        "the push asked for a push token: {:?}",
        tokens.requests()
    );

    let (code, text) = wasmpod(&["pull", &image], &wrong);
    assert_eq!(code, Some(2), "{text}");
    assert!(refused(&text), "{text}");
    assert_nothing_secret(&text, &tokens.tokens());

    let before = tokens.requests().len();
    let (code, text) = wasmpod(&["pull", &image], &right);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("/pushed/hello@sha256:"), "{text}");
    assert_nothing_secret(&text, &tokens.tokens());
    assert!(
        granted(&tokens.requests()[before..], "repository:pushed/hello:pull"),
        "{:?}",
        tokens.requests()
    );

    // A pod pulls it (Always) with the Docker config and runs it.
    let yaml = dir.path().join("pod.yaml");
    std::fs::write(&yaml, pod("cfg", &image, Some("Always"), &[])).unwrap();
    let (code, text) = wasmpod(&["run", yaml.to_str().unwrap()], &right);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("hello from p1"), "{text}");
    assert_nothing_secret(&text, &tokens.tokens());
}

/// The reason and message of an image error.
fn reason_of(e: &Error) -> (String, String) {
    match e {
        Error::Image { cause, .. } => (cause.reason().to_string(), cause.to_string()),
        other => panic!("expected an image error, got {other}"),
    }
}
