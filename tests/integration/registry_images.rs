//! Images from a real OCI registry (issue 15): Debian's docker-registry, images pushed by
//! skopeo from layouts the tests write, pulled by the library and by the CLI.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use wasmpod::{Error, Event, PullSecret, RunOptions, Runtime, RuntimeConfig};

use crate::registry_server::{Layout, TestRegistry};
use crate::support::{self, status_of};

pub(crate) const WASM: &str = "application/wasm";
const RUNWASI: &str = "application/vnd.bytecodealliance.wasm.component.layer.v0+wasm";

/// A runtime of its own (its own image store) for one test.
pub(crate) fn runtime(cache: &Path) -> Runtime {
    let config = RuntimeConfig::default().with_cache_dir(Some(cache.to_path_buf()));
    Runtime::new(config).expect("runtime")
}

/// A wasip1 command module that prints `hello from p1`.
pub(crate) fn p1_module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "hello from p1\n")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 14))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    )
    .expect("wat")
}

/// A pod of one container running `image` (`command`, if any).
pub(crate) fn pod(name: &str, image: &str, policy: Option<&str>, command: &[&str]) -> String {
    let policy = policy
        .map(|p| format!("\n    imagePullPolicy: {p}"))
        .unwrap_or_default();
    let command = if command.is_empty() {
        String::new()
    } else {
        format!("\n    command: {command:?}")
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: {image}{policy}{command}\n"
    )
}

pub(crate) struct Ran {
    pub pod: Pod,
    pub phase: &'static str,
    pub lines: Vec<String>,
    pub events: Vec<Event>,
}

/// Creates, starts and waits for a pod on `rt`.
pub(crate) async fn run(rt: &Runtime, yaml: &str, options: RunOptions) -> Result<Ran, Error> {
    let valid = wasmpod::ValidPod::from_yaml(yaml).expect("valid pod");
    // These tests look at the error a failed pull gives (as `wasmpod run` does); the
    // library's retry is the test below.
    let handle = rt
        .create(valid, options.with_fail_on_pull_error(true))
        .await?;
    let mut logs = handle.logs();
    let mut events = handle.events();
    handle.start();
    let outcome = tokio::time::timeout(Duration::from_secs(120), handle.wait())
        .await
        .expect("the pod ends");
    let mut lines = Vec::new();
    while let Ok(l) = logs.try_recv() {
        lines.push(l.line);
    }
    let mut evs = Vec::new();
    while let Ok(e) = events.try_recv() {
        evs.push(e);
    }
    Ok(Ran {
        phase: outcome.phase.as_str(),
        pod: std::sync::Arc::unwrap_or_clone(outcome.pod),
        lines,
        events: evs,
    })
}

fn image_error(e: Error) -> (String, String, Pod) {
    match e {
        Error::Image { cause, pod, .. } => (cause.reason().to_string(), cause.to_string(), *pod),
        other => panic!("expected an image error, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_p2_component_and_a_p1_module_are_pulled_and_run() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    let p2 = layout.wasm_image(wasmpod_guests::TOOLBOX, "wasip2", WASM);
    let p2_digest = p2["digest"].as_str().unwrap().to_string();
    layout.tag(p2, "v1");
    layout.tag(layout.wasm_image(&p1_module(), "wasip1", WASM), "p1");
    let toolbox = registry.push(&layout, "v1", "tools/toolbox");
    let hello = registry.push(&layout, "p1", "hello");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());

    let ran = run(
        &rt,
        &pod("p2", &toolbox, None, &["echo", "hi from the registry"]),
        RunOptions::default(),
    )
    .await
    .expect("created");
    assert_eq!(ran.phase, "Succeeded", "{:?}", ran.pod.status);
    assert_eq!(ran.lines, ["hi from the registry"]);
    let status = status_of(&ran.pod, "app");
    assert_eq!(status.image, toolbox, "the spec's reference");
    assert_eq!(
        status.image_id,
        format!("{}/tools/toolbox@{p2_digest}", registry.host)
    );
    let reasons: Vec<&str> = ran.events.iter().map(|e| e.reason.as_str()).collect();
    let pulling = reasons
        .iter()
        .position(|r| *r == "Pulling")
        .expect("Pulling");
    let pulled = &ran.events[pulling + 1];
    assert_eq!(pulled.reason, "Pulled");
    assert!(
        pulled
            .message
            .starts_with(&format!("Successfully pulled image \"{toolbox}\" in "))
            && pulled.message.contains(" including waiting). Image size: ")
            && pulled.message.ends_with(" bytes."),
        "{}",
        pulled.message
    );

    let ran = run(&rt, &pod("p1", &hello, None, &[]), RunOptions::default())
        .await
        .expect("created");
    assert_eq!(ran.phase, "Succeeded", "{:?}", ran.pod.status);
    assert_eq!(ran.lines, ["hello from p1"]);

    let images = rt.images();
    let kinds: Vec<(&str, &str, bool)> = images
        .iter()
        .map(|i| {
            (
                i.record.reference.as_str(),
                i.record.kind.as_str(),
                i.compiled,
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (
                format!("{}/hello:p1", registry.host).as_str(),
                "wasip1",
                true
            ),
            (toolbox.as_str(), "wasip2", true),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runwasi_layers_and_indexes_with_a_wasi_entry_are_pulled() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    layout.tag(
        layout.wasm_image(&p1_module(), "wasip1", RUNWASI),
        "runwasi",
    );
    // An ordinary linux/amd64 image (its layer a gzip'd tar, never downloaded).
    let elf = layout.manifest(
        layout.blob(
            "application/vnd.oci.image.config.v1+json",
            br#"{"architecture":"amd64","os":"linux"}"#,
        ),
        vec![layout.blob(
            "application/vnd.oci.image.layer.v1.tar+gzip",
            b"not really a tar",
        )],
    );
    let wasm = layout.wasm_image(&p1_module(), "wasip1", WASM);
    layout.tag(
        layout.index(vec![
            (elf.clone(), "linux", "amd64"),
            (wasm, "wasip1", "wasm"),
        ]),
        "multi",
    );
    layout.tag(
        layout.index(vec![(elf.clone(), "linux", "amd64")]),
        "linux-only",
    );
    layout.tag(elf, "elf");
    let runwasi = registry.push(&layout, "runwasi", "app");
    let multi = registry.push(&layout, "multi", "app");
    let linux_only = registry.push(&layout, "linux-only", "app");
    let elf = registry.push(&layout, "elf", "app");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());

    for image in [&runwasi, &multi] {
        let ran = run(&rt, &pod("ok", image, None, &[]), RunOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{image}: {}", chain(&e)));
        assert_eq!(ran.lines, ["hello from p1"], "{image}");
    }
    let err = run(
        &rt,
        &pod("linux", &linux_only, None, &[]),
        RunOptions::default(),
    )
    .await
    .err()
    .expect("no wasi/wasm entry");
    let (reason, message, _) = image_error(err);
    assert_eq!(reason, "ErrImagePull");
    assert!(
        message.ends_with("the image index has no wasi/wasm platform (it has linux/amd64)"),
        "{message}"
    );
    let err = rt.pull_image(&elf, &[]).await.expect_err("not Wasm");
    assert!(
        err.to_string().contains("not a Wasm image: config application/vnd.oci.image.config.v1+json, layers [application/vnd.oci.image.layer.v1.tar+gzip]"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_pull_secrets_and_are_never_shown() {
    let registry = TestRegistry::start_with_auth("puller", "pa55-Secret-word");
    let mut layout = Layout::new();
    layout.tag(layout.wasm_image(&p1_module(), "wasip1", WASM), "1.0");
    let image = registry.push(&layout, "1.0", "private/app");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let secret = |user: &str, password: &str| {
        let auth = base64_encode(&format!("{user}:{password}"));
        let cfg = format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.host
        );
        let data = BTreeMap::from([(".dockerconfigjson".to_string(), cfg.into_bytes())]);
        PullSecret::from_secret("regcred", Some("kubernetes.io/dockerconfigjson"), &data).unwrap()
    };

    let err = run(&rt, &pod("anon", &image, None, &[]), RunOptions::default())
        .await
        .err()
        .expect("401 without credentials");
    let (reason, message, _) = image_error(err);
    assert_eq!(reason, "ErrImagePull");
    assert!(message.contains("Failed to pull image"), "{message}");
    assert!(message.to_lowercase().contains("auth"), "{message}");

    let options = RunOptions::default().with_pull_secrets(vec![secret("puller", "wrong-Hunter2")]);
    let err = run(&rt, &pod("wrong", &image, None, &[]), options)
        .await
        .err()
        .expect("401 with a wrong password");
    let shown = format!("{err:?} {}", chain(&err));
    let (reason, message, status) = image_error(err);
    assert_eq!(reason, "ErrImagePull");
    let status = serde_json::to_string(&status).unwrap();
    for text in [&shown, &message, &status] {
        assert!(
            !text.contains("wrong-Hunter2"),
            "a password was shown: {text}"
        );
        assert!(
            !text.contains(&base64_encode("puller:wrong-Hunter2")),
            "{text}"
        );
    }

    let options =
        RunOptions::default().with_pull_secrets(vec![secret("puller", "pa55-Secret-word")]);
    let ran = run(&rt, &pod("right", &image, None, &[]), options)
        .await
        .expect("pulled with the secret");
    assert_eq!(ran.lines, ["hello from p1"]);
    let shown = format!("{:?} {:?}", ran.events, ran.pod);
    assert!(!shown.contains("pa55-Secret-word"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_images_and_tampered_blobs_are_pull_errors() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    let wasm = p1_module();
    layout.tag(layout.wasm_image(&wasm, "wasip1", WASM), "1");
    let image = registry.push(&layout, "1", "app");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());

    let missing = format!("{}/app:nope", registry.host);
    let err = run(
        &rt,
        &pod("missing", &missing, None, &[]),
        RunOptions::default(),
    )
    .await
    .err()
    .expect("404");
    let (reason, message, pod_status) = image_error(err);
    assert_eq!(reason, "ErrImagePull");
    assert!(
        message.contains("not found") || message.contains("unknown"),
        "{message}"
    );
    let waiting = support::waiting_reason(&pod_status, "app");
    assert_eq!(waiting.as_deref(), Some("ErrImagePull"));

    // The registry serves a corrupted layer (same size, other bytes).
    let layer = registry.blob_file(&crate::registry_server::digest(&wasm));
    let mut bytes = std::fs::read(&layer).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&layer, bytes).unwrap();
    let err = rt
        .pull_image(&image, &[])
        .await
        .expect_err("digest mismatch");
    let text = err.to_string();
    assert!(
        text.contains("does not match") || text.contains("Invalid digest. Expected sha256:"),
        "{text}"
    );
    assert_eq!(err.reason(), "ErrImagePull");
    assert!(rt.images().is_empty(), "nothing stored: {:?}", rt.images());
    // A layer over the configured limit is refused before any byte of it is downloaded.
    let small = tempfile::tempdir().unwrap();
    let limited = Runtime::new(
        RuntimeConfig::default()
            .with_cache_dir(Some(small.path().to_path_buf()))
            .with_max_layer_bytes(16),
    )
    .unwrap();
    let err = limited
        .pull_image(&image, &[])
        .await
        .expect_err("too large");
    assert!(
        err.to_string().contains("over the limit of 16 bytes"),
        "{err}"
    );
    assert!(limited.images().is_empty());

    let tmp = cache.path().join("images/tmp");
    assert_eq!(std::fs::read_dir(tmp).map(|d| d.count()).unwrap_or(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_policies_and_the_store_with_the_registry_down() {
    let mut registry = TestRegistry::start();
    let mut layout = Layout::new();
    layout.tag(layout.wasm_image(&p1_module(), "wasip1", WASM), "1.0");
    let image = registry.push(&layout, "1.0", "app");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());

    let err = run(
        &rt,
        &pod("never", &image, Some("Never"), &[]),
        RunOptions::default(),
    )
    .await
    .err()
    .expect("absent with Never");
    let (reason, message, _) = image_error(err);
    assert_eq!(reason, "ErrImageNeverPull");
    assert_eq!(
        message,
        format!("Container image \"{image}\" is not present with pull policy of Never")
    );

    let ran = run(&rt, &pod("first", &image, None, &[]), RunOptions::default())
        .await
        .unwrap();
    assert_eq!(ran.lines, ["hello from p1"]);

    registry.stop();
    for policy in [None, Some("IfNotPresent"), Some("Never")] {
        let ran = run(
            &rt,
            &pod("offline", &image, policy, &[]),
            RunOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("{policy:?}: {}", chain(&e)));
        assert_eq!(ran.lines, ["hello from p1"], "{policy:?}");
        let pulled = ran.events.iter().find(|e| e.reason == "Pulled").unwrap();
        assert!(
            pulled.message.contains("already present on machine"),
            "{}",
            pulled.message
        );
    }
    let err = run(
        &rt,
        &pod("always", &image, Some("Always"), &[]),
        RunOptions::default(),
    )
    .await
    .err()
    .expect("Always with the registry down");
    assert_eq!(image_error(err).0, "ErrImagePull");
    // The image is still in the store for IfNotPresent.
    assert_eq!(rt.images().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_wanting_one_image_share_one_pull() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    layout.tag(
        layout.wasm_image(wasmpod_guests::TOOLBOX, "wasip2", WASM),
        "latest",
    );
    let image = registry.push(&layout, "latest", "shared");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let layer = crate::registry_server::digest(wasmpod_guests::TOOLBOX);
    let before = registry.blob_requests(&layer);

    let runs: Vec<_> = (0..4)
        .map(|i| {
            let (rt, yaml) = (
                rt.clone(),
                pod(&format!("p{i}"), &image, None, &["echo", "ok"]),
            );
            tokio::spawn(async move { run(&rt, &yaml, RunOptions::default()).await })
        })
        .collect();
    for r in runs {
        let ran = r.await.unwrap().expect("created");
        assert_eq!(ran.lines, ["ok"]);
    }
    // Policy Always (untagged :latest): each pod asked for a pull, and the layer was
    // downloaded once (pulls that overlap share one; later ones find the blob stored).
    assert_eq!(registry.blob_requests(&layer) - before, 1);
}

/// In the library a failed pull keeps the pod Pending: ErrImagePull, then ImagePullBackOff
/// with the kubelet's events, and the pull is retried until the registry has the image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_pulls_back_off_and_retry_while_the_pod_is_pending() {
    let mut registry = TestRegistry::start();
    let mut layout = Layout::new();
    layout.tag(layout.wasm_image(&p1_module(), "wasip1", WASM), "1.0");
    let image = format!("{}/later:1.0", registry.host);
    registry.stop();
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let options = RunOptions::default().with_backoff(wasmpod::BackoffPolicy::new(
        Duration::from_millis(200),
        Duration::from_millis(400),
    ));
    let valid = wasmpod::ValidPod::from_yaml(&pod("later", &image, None, &[])).unwrap();
    let handle = rt.create(valid, options).await.expect("created, Pending");
    let mut events = handle.events();
    let mut logs = handle.logs();
    let mut watch = handle.watch();
    handle.start();
    let reason = |p: &Pod| support::waiting_reason(p, "app");
    tokio::time::timeout(
        Duration::from_secs(60),
        watch.wait_for(|p| reason(p).as_deref() == Some("ImagePullBackOff")),
    )
    .await
    .expect("ImagePullBackOff")
    .unwrap();
    assert_eq!(
        handle.pod().status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    // The registry comes up with the image: the next retry pulls it and the pod runs.
    registry.restart();
    registry.push(&layout, "1.0", "later");
    let outcome = tokio::time::timeout(Duration::from_secs(90), handle.wait())
        .await
        .expect("the pod ends");
    assert_eq!(
        outcome.phase.as_str(),
        "Succeeded",
        "{:?}",
        outcome.pod.status
    );
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push((e.reason, e.message));
    }
    let has = |reason: &str, text: &str| seen.iter().any(|(r, m)| r == reason && m.contains(text));
    assert!(
        has("Failed", &format!("Failed to pull image \"{image}\"")),
        "{seen:?}"
    );
    assert!(has("Failed", "Error: ErrImagePull"), "{seen:?}");
    assert!(
        has("BackOff", &format!("Back-off pulling image \"{image}\"")),
        "{seen:?}"
    );
    assert!(has("Failed", "Error: ImagePullBackOff"), "{seen:?}");
    assert!(has("Pulled", "Successfully pulled image"), "{seen:?}");
    assert_eq!(
        logs.try_recv().map(|l| l.line).ok().as_deref(),
        Some("hello from p1")
    );
}

/// The manifest that runs on a cluster with runwasi runs here without a warning.
#[test]
fn runtime_class_and_pull_secrets_are_accepted_without_a_warning() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: w}\nspec:\n  runtimeClassName: wasmtime\n  imagePullSecrets: [{name: regcred}]\n  containers:\n  - name: app\n    image: ghcr.io/acme/app:1.0\n    imagePullPolicy: IfNotPresent\n";
    let pod = wasmpod::ValidPod::from_yaml(yaml).expect("valid");
    assert!(pod.warnings.is_empty(), "{:?}", pod.warnings);
}

#[tokio::test]
async fn malformed_references_wait_with_invalid_image_name() {
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());
    let err = run(
        &rt,
        &pod("bad", "Registry.Example/App:1", None, &[]),
        RunOptions::default(),
    )
    .await
    .err()
    .expect("invalid");
    let (reason, message, status) = image_error(err);
    assert_eq!(reason, "InvalidImageName");
    assert!(message.starts_with("Failed to apply default image tag \"Registry.Example/App:1\": couldn't parse image name"), "{message}");
    assert_eq!(
        support::waiting_reason(&status, "app").as_deref(),
        Some("InvalidImageName")
    );
}

pub(crate) fn base64_encode(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | (c as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
