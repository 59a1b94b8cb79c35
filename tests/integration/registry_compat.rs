//! "Compat" images from a real registry (issue 15, format 3): ordinary OCI images whose tar
//! layers hold a `.wasm` that their entrypoint names. The layers are written here with the
//! `tar` and `flate2` crates, pushed with skopeo to Debian's docker-registry.

use std::io::Write as _;
use std::path::Path;

use serde_json::{Value, json};
use wasmpod::{Error, RunOptions, Runtime, RuntimeConfig};

use crate::registry_images::{p1_module, run, runtime};
use crate::registry_server::{Layout, TestRegistry};

const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const TAR_GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub(crate) const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// One tar entry: a file (`body`), a directory (path ends in `/`), or a link.
pub(crate) enum E<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

/// A tar stream of `entries`, headers written by hand (the builder refuses `..` and
/// absolute paths, which the hostile layers need).
pub(crate) fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let (kind, path, link, body): (_, &str, &str, &[u8]) = match e {
            E::File(p, b) => (tar::EntryType::Regular, p, "", b),
            E::Dir(p) => (tar::EntryType::Directory, p, "", b""),
            E::Symlink(p, l) => (tar::EntryType::Symlink, p, l, b""),
            E::HardLink(p, l) => (tar::EntryType::Link, p, l, b""),
        };
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_size(body.len() as u64);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(body);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A compat image of `layers` (media type, bytes) and the image config's `config` object.
pub(crate) fn image(
    layout: &Layout,
    platform: (&str, &str),
    config: Value,
    layers: &[(&str, Vec<u8>)],
) -> Value {
    let config = json!({
        "os": platform.0,
        "architecture": platform.1,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": []},
    });
    let config = layout.blob(OCI_CONFIG, config.to_string().as_bytes());
    let layers = layers.iter().map(|(t, b)| layout.blob(t, b)).collect();
    layout.manifest(config, layers)
}

/// The toolbox at `/bin/toolbox.wasm`, files in `/etc` and `/data`; a second layer hides
/// `/data/old` and adds `/data/new`.
fn app_layers() -> Vec<(&'static str, Vec<u8>)> {
    let lower = tar(&[
        E::Dir("bin/"),
        E::File("bin/toolbox.wasm", wasmpod_guests::TOOLBOX),
        E::File("etc/msg", b"from the image\n"),
        E::Symlink("etc/link", "/etc/msg"),
        E::Symlink("bin/echo", "/bin/toolbox.wasm"),
        E::File("data/old", b"old\n"),
        E::Dir("srv/"),
    ]);
    let upper = tar(&[E::File("data/.wh.old", b""), E::File("data/new", b"new\n")]);
    vec![(TAR_GZ, gzip(&lower)), (TAR, upper)]
}

fn app_config() -> Value {
    json!({
        "Entrypoint": ["/bin/toolbox.wasm"],
        "Cmd": ["sh", "-c", "cat /etc/msg; cat /etc/link; ls /data; echo MODE=$MODE; pwd"],
        "Env": ["PATH=/bin", "MODE=image"],
        "WorkingDir": "/srv",
    })
}

/// A pod of one container `app` running `image`, with `extra` lines under the container.
fn pod(name: &str, image: &str, restart: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: {restart}\n  \
         containers:\n  - name: app\n    image: {image}\n{extra}"
    )
}

fn image_error(e: Error) -> (String, String) {
    match e {
        Error::Image { cause, .. } => (cause.reason().to_string(), cause.to_string()),
        other => panic!("expected an image error, got {other}"),
    }
}

/// The store's unpacked roots.
fn roots(cache: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(cache.join("images/rootfs"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compat_image_runs_its_entrypoint_on_its_files() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    layout.tag(
        image(&layout, ("linux", "amd64"), app_config(), &app_layers()),
        "1",
    );
    let app = registry.push(&layout, "1", "compat/app");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());

    // Entrypoint + Cmd, Env and WorkingDir from the config; an absolute symlink of the image
    // resolves in the image; the second layer's whiteout hides /data/old.
    let ran = run(&rt, &pod("plain", &app, "Never", ""), RunOptions::default())
        .await
        .expect("created");
    assert_eq!(ran.phase, "Succeeded", "{:?}", ran.pod.status);
    assert_eq!(
        ran.lines,
        [
            "from the image",
            "from the image",
            "new",
            "MODE=image",
            "/srv"
        ]
    );
    let images = rt.images();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].record.kind, "compat");
    assert!(images[0].compiled);

    // `args` replaces Cmd (the Entrypoint stays); the container's env wins over the
    // image's; its workingDir over WorkingDir.
    let extra = "    args: [\"sh\", \"-c\", \"echo MODE=$MODE; pwd\"]\n    env: [{name: MODE, value: pod}]\n    workingDir: /etc\n";
    let ran = run(
        &rt,
        &pod("args", &app, "Never", extra),
        RunOptions::default(),
    )
    .await
    .expect("created");
    assert_eq!(ran.lines, ["MODE=pod", "/etc"], "{:?}", ran.pod.status);

    // `command` replaces the Entrypoint and drops Cmd; a bare name is found through the
    // image's PATH (runwasi's rule), here through an absolute symlink of the image (the
    // toolbox picks its applet by argv[0]).
    let extra = "    command: [\"echo\", \"by command\"]\n";
    let ran = run(
        &rt,
        &pod("command", &app, "Never", extra),
        RunOptions::default(),
    )
    .await
    .expect("created");
    assert_eq!(ran.lines, ["by command"], "{:?}", ran.pod.status);

    // A container reading a ConfigMap has its argv and env rebuilt at each start: the
    // image's still apply.
    let objects = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: cm}\n";
    for object in wasmpod::spec::load(objects).unwrap().objects {
        rt.cluster().apply(object).unwrap();
    }
    let extra =
        "    env: [{name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}]\n";
    let ran = run(
        &rt,
        &pod("objects", &app, "Never", extra),
        RunOptions::default(),
    )
    .await
    .expect("created");
    assert_eq!(
        ran.lines,
        ["from the image", "from the image", "new", "MODE=cm", "/srv"],
        "{:?}",
        ran.pod.status
    );

    // prepare_image compiles the default entrypoint's file (already compiled: a cache hit).
    rt.prepare_image(&app, Path::new(".")).await.unwrap();

    // rmi removes the unpacked root with the image.
    assert_eq!(roots(cache.path()).len(), 1);
    assert!(rt.remove_image(&app).unwrap());
    assert!(roots(cache.path()).is_empty());
    assert!(rt.images().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_image_files_stay_in_the_instance_and_volumes_mount_on_top() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    layout.tag(
        image(&layout, ("wasip2", "wasm"), app_config(), &app_layers()),
        "1",
    );
    let app = registry.push(&layout, "1", "compat/writer");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());

    // The first instance overwrites /etc/msg and fails; the restarted one sees the image's
    // file again. /data is an emptyDir over the image's directory (it keeps the marker).
    let script = "cat /etc/msg; ls /data; echo changed > /etc/msg; cat /etc/msg; \
                  if [ -e /data/once ]; then exit 0; fi; touch /data/once; exit 1";
    let extra = format!(
        "    command: [\"/bin/toolbox.wasm\", \"sh\", \"-c\", {script:?}]\n    \
         volumeMounts: [{{name: scratch, mountPath: /data}}]\n  \
         volumes: [{{name: scratch, emptyDir: {{}}}}]\n"
    );
    let ran = run(
        &rt,
        &pod("writer", &app, "OnFailure", &extra),
        RunOptions::default(),
    )
    .await
    .expect("created");
    assert_eq!(ran.phase, "Succeeded", "{:?}", ran.pod.status);
    assert_eq!(
        ran.lines,
        [
            "from the image",
            "changed",
            "from the image",
            "once",
            "changed"
        ],
        "the volume hides the image's /data; the restart sees the image's /etc/msg"
    );

    // Another pod of the image sees the image's file; the store's copy is unchanged.
    let extra = "    command: [\"/bin/toolbox.wasm\", \"cat\", \"/etc/msg\"]\n";
    let ran = run(
        &rt,
        &pod("reader", &app, "Never", extra),
        RunOptions::default(),
    )
    .await
    .expect("created");
    assert_eq!(ran.lines, ["from the image"]);
    let roots = roots(cache.path());
    assert_eq!(roots.len(), 1);
    assert_eq!(
        std::fs::read_to_string(roots[0].join("etc/msg")).unwrap(),
        "from the image\n"
    );
    assert!(!roots[0].join("data/once").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_hash_func_calls_an_export_of_a_wasip1_module() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    let module = wat::parse_str(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 16) "hello from func\n")
          (func (export "_start") unreachable)
          (func (export "greet")
            (i32.store (i32.const 0) (i32.const 16))
            (i32.store (i32.const 4) (i32.const 16))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
    )
    .unwrap();
    let layer = tar(&[
        E::File("app/greet.wasm", &module),
        E::File("app/hello.wasm", &p1_module()),
        E::File("bin/toolbox.wasm", wasmpod_guests::TOOLBOX),
    ]);
    let config = json!({"Entrypoint": ["/app/greet.wasm#greet"]});
    layout.tag(
        image(
            &layout,
            ("wasip1", "wasm"),
            config,
            &[(TAR_GZ, gzip(&layer))],
        ),
        "1",
    );
    let app = registry.push(&layout, "1", "compat/func");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());

    let ran = run(&rt, &pod("func", &app, "Never", ""), RunOptions::default())
        .await
        .expect("created");
    assert_eq!(ran.lines, ["hello from func"], "{:?}", ran.pod.status);
    // A relative path from the working directory (`/`).
    let extra = "    command: [\"app/hello.wasm\"]\n";
    let ran = run(
        &rt,
        &pod("rel", &app, "Never", extra),
        RunOptions::default(),
    )
    .await
    .expect("created");
    assert_eq!(ran.lines, ["hello from p1"]);
    // A component has no exported function to call but wasi:cli/run.
    let extra = "    command: [\"/bin/toolbox.wasm#greet\"]\n";
    let err = run(&rt, &pod("p2", &app, "Never", extra), RunOptions::default())
        .await
        .err()
        .expect("a component with #func");
    let (reason, message) = image_error(err);
    assert_eq!(reason, "CreateContainerError");
    assert!(
        message.contains("names a function, which wasmpod calls only in wasip1 modules"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linux_image_with_an_elf_entrypoint_is_a_clear_error() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    let layer = tar(&[
        E::File("bin/sh", b"\x7fELF\x02\x01\x01\0"),
        E::File("app.wasm", &p1_module()),
    ]);
    let config = json!({"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "true"]});
    layout.tag(
        image(
            &layout,
            ("linux", "amd64"),
            config,
            &[(TAR_GZ, gzip(&layer))],
        ),
        "1",
    );
    let elf = registry.push(&layout, "1", "linux/sh");
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime(cache.path());

    let err = run(&rt, &pod("elf", &elf, "Never", ""), RunOptions::default())
        .await
        .err()
        .expect("not Wasm");
    let (reason, message) = image_error(err);
    assert_eq!(reason, "CreateContainerError");
    assert!(
        message.ends_with(
            "entrypoint /bin/sh is an ELF executable, not Wasm (the image is linux/amd64)"
        ),
        "{message}"
    );
    let err = rt
        .prepare_image(&elf, Path::new("."))
        .await
        .expect_err("not Wasm");
    assert!(err.to_string().contains("is an ELF executable"), "{err}");
    let err = rt.pull_image(&elf, &[]).await.expect_err("not Wasm");
    assert!(
        err.to_string().ends_with("not a Wasm image: entrypoint /bin/sh is an ELF executable, not Wasm (the image is linux/amd64)"),
        "{err}"
    );
    // A pod naming the image's .wasm runs it.
    let extra = "    command: [\"/app.wasm\"]\n";
    let ran = run(
        &rt,
        &pod("wasm", &elf, "Never", extra),
        RunOptions::default(),
    )
    .await
    .expect("created");
    assert_eq!(ran.lines, ["hello from p1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_layers_are_errors_and_write_nothing_outside_the_store() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    let zeros = vec![0u8; 256 * 1024];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dotdot",
            tar(&[E::File("../x", b"evil")]),
            "tar entry \"../x\": a \"..\" component leaves the image root",
        ),
        (
            "absolute",
            tar(&[E::File("/x", b"evil")]),
            "tar entry \"/x\": an absolute path",
        ),
        (
            "symlink",
            tar(&[
                E::Symlink("root", "/"),
                E::File("root/tmp/wasmpod-compat-escape", b"evil"),
            ]),
            "tar entry \"root/tmp/wasmpod-compat-escape\"",
        ),
        (
            "hardlink",
            tar(&[E::HardLink("passwd", "/etc/passwd")]),
            "tar entry \"passwd\": hard link target: an absolute path",
        ),
        (
            "oversized",
            tar(&[E::File("big", &zeros)]),
            "the image's files total more than 131072 bytes",
        ),
    ];
    for (tag, layer, _) in &cases {
        let config = json!({"Entrypoint": ["/app.wasm"]});
        layout.tag(
            image(
                &layout,
                ("wasip1", "wasm"),
                config,
                &[(TAR_GZ, gzip(layer))],
            ),
            tag,
        );
    }
    let cache = tempfile::tempdir().unwrap();
    let config = RuntimeConfig::default()
        .with_cache_dir(Some(cache.path().join("cache")))
        .with_max_layer_bytes(128 * 1024);
    let rt = Runtime::new(config).unwrap();
    for (tag, _, expected) in &cases {
        let image = registry.push(&layout, tag, "hostile/app");
        let err = run(&rt, &pod(tag, &image, "Never", ""), RunOptions::default())
            .await
            .err()
            .unwrap_or_else(|| panic!("{tag}: ran"));
        let (reason, message) = image_error(err);
        assert_eq!(reason, "ErrImagePull", "{tag}");
        assert!(message.contains(expected), "{tag}: {message}");
    }
    // Nothing unpacked, nothing left half-written, nothing outside the store.
    let cache = cache.path();
    assert!(roots(&cache.join("cache")).is_empty());
    let tmp: Vec<_> = std::fs::read_dir(cache.join("cache/images/tmp"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "{tmp:?}");
    let top: Vec<_> = std::fs::read_dir(cache)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(top, ["cache"]);
    assert!(!Path::new("/tmp/wasmpod-compat-escape").exists());
    assert!(!cache.join("cache/images/x").exists() && !cache.join("cache/x").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_pulls_lists_and_removes_a_compat_image() {
    let registry = TestRegistry::start();
    let mut layout = Layout::new();
    layout.tag(
        image(&layout, ("linux", "amd64"), app_config(), &app_layers()),
        "1",
    );
    let app = registry.push(&layout, "1", "compat/cli");
    let cache = tempfile::tempdir().unwrap();
    let wasmpod = |args: &[&str]| {
        let out = std::process::Command::new(crate::support::wasmpod_bin())
            .args(args)
            .arg("--cache-dir")
            .arg(cache.path())
            .env_remove("DOCKER_CONFIG")
            .env("HOME", cache.path())
            .output()
            .expect("wasmpod");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code(),
            stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = wasmpod(&["pull", &app]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("{}/compat/cli@sha256:", registry.host)),
        "{stdout}"
    );
    assert!(stderr.contains("compat"), "{stderr}");
    let (_, stdout, _) = wasmpod(&["images"]);
    let row: Vec<&str> = stdout
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row.first(), Some(&app.as_str()), "{stdout}");
    assert_eq!(row.get(4), Some(&"compat"), "{stdout}");
    assert_eq!(roots(cache.path()).len(), 1);
    let (code, _, stderr) = wasmpod(&["rmi", &app]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(roots(cache.path()).is_empty());
}
