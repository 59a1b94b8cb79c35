//! Pull time of a ~20 MB Wasm image from a local registry (issue 15), with `skopeo copy` of the
//! same image to a directory as the anchor, side by side in one run, and the peak RSS of each.
//!
//! A plain `harness = false` binary. It starts Debian's `docker-registry` on a free loopback
//! port, pushes a 20 MiB `application/wasm` layer with `wasmpod push`, then `ROUNDS` times,
//! alternating: `wasmpod pull` into a fresh cache directory, and `skopeo copy` to a fresh `dir:`
//! — both as processes under `/usr/bin/time -f %M` (peak RSS in KiB). Then the second start of
//! a pulled image: `wasmpod run` of a pod whose image is a pushed toolbox component, from the
//! store (`IfNotPresent`), against the same pod with the component as a local file, both with
//! their compiled code cached. Needs `docker-registry`, `skopeo` and GNU `time`.
//!
//! ```text
//! CARGO_TARGET_DIR=target/bench cargo bench --bench pull
//! ```

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LAYER_BYTES: usize = 20 * 1024 * 1024;
const ROUNDS: usize = 5;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let host = format!("127.0.0.1:{port}");
    let config = dir.path().join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            dir.path().join("storage").display()
        ),
    )
    .unwrap();
    let mut registry = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (apt-get install docker-registry)");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&host).is_err() {
        assert!(Instant::now() < deadline, "the registry did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A core-module header and 20 MiB of bytes: the pull never compiles it.
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend((0..LAYER_BYTES).map(|i| (i * 7919 % 251) as u8));
    let file = dir.path().join("big.wasm");
    std::fs::write(&file, &wasm).unwrap();
    let image = format!("{host}/bench/big:1");
    let wasmpod = env!("CARGO_BIN_EXE_wasmpod");
    let pushed = Command::new(wasmpod)
        .arg("push")
        .arg(&file)
        .arg(&image)
        .arg("--no-cache")
        .output()
        .expect("wasmpod push");
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    let timed = |program: &str, args: &[String]| -> (Duration, u64) {
        let start = Instant::now();
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%M"])
            .arg(program)
            .args(args)
            .stdout(Stdio::null())
            .output()
            .expect("/usr/bin/time");
        let took = start.elapsed();
        assert!(
            out.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let rss = stderr
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .expect("peak RSS");
        (took, rss)
    };
    let (mut ours, mut anchor) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let cache = dir.path().join(format!("cache{round}"));
        ours.push(timed(
            wasmpod,
            &[
                "pull".into(),
                "--cache-dir".into(),
                cache.display().to_string(),
                image.clone(),
            ],
        ));
        let dest = dir.path().join(format!("skopeo{round}"));
        anchor.push(timed(
            "skopeo",
            &[
                "copy".into(),
                "--quiet".into(),
                "--src-tls-verify=false".into(),
                format!("docker://{image}"),
                format!("dir:{}", dest.display()),
            ],
        ));
    }
    // A pulled image starts as fast as a local file the second time: a pod running the
    // toolbox component from the store (IfNotPresent) against the same pod with the
    // component as a file, each run once to compile (the compiled code is cached by content
    // digest, the layer's for a pulled image), then timed alternately.
    let toolbox = dir.path().join("toolbox.wasm");
    std::fs::write(&toolbox, wasmpod_guests::TOOLBOX).unwrap();
    let component = format!("{host}/bench/toolbox:1");
    let pushed = Command::new(wasmpod)
        .arg("push")
        .arg(&toolbox)
        .arg(&component)
        .arg("--no-cache")
        .output()
        .expect("wasmpod push");
    assert!(pushed.status.success());
    let warm = dir.path().join("warm-cache");
    let pod = |name: &str, image: &str| {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: {image}\n    imagePullPolicy: IfNotPresent\n    command: [echo, hi]\n"
            ),
        )
        .unwrap();
        vec![
            "run".to_string(),
            path.display().to_string(),
            "--cache-dir".into(),
            warm.display().to_string(),
        ]
    };
    let (pulled_pod, file_pod) = (
        pod("pulled", &component),
        pod("file", &toolbox.display().to_string()),
    );
    let first_pulled = timed(wasmpod, &pulled_pod);
    let first_file = timed(wasmpod, &file_pod);
    let (mut from_store, mut from_file) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        from_store.push(timed(wasmpod, &pulled_pod));
        from_file.push(timed(wasmpod, &file_pod));
    }
    let _ = registry.kill();
    let _ = registry.wait();

    let report = |name: &str, runs: &[(Duration, u64)]| {
        let mut times: Vec<Duration> = runs.iter().map(|r| r.0).collect();
        times.sort();
        let rss = runs.iter().map(|r| r.1).max().unwrap_or(0);
        println!(
            "{name:<22} median {:>7.1} ms  min {:>7.1} ms  max {:>7.1} ms  peak RSS {:>6.1} MiB",
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3,
            rss as f64 / 1024.0
        );
    };
    println!(
        "pull of a {:.1} MB image from a loopback registry, {ROUNDS} rounds each, alternating",
        wasm.len() as f64 / 1e6
    );
    report("wasmpod pull", &ours);
    report("skopeo copy (anchor)", &anchor);
    println!(
        "`wasmpod run` of a toolbox pod ({:.1} MB component), {ROUNDS} rounds each, alternating, compiled code cached",
        wasmpod_guests::TOOLBOX.len() as f64 / 1e6
    );
    println!(
        "first runs (pull + compile / compile): pulled {:.1} ms, file {:.1} ms",
        first_pulled.0.as_secs_f64() * 1e3,
        first_file.0.as_secs_f64() * 1e3
    );
    report("pulled image (store)", &from_store);
    report("local file (anchor)", &from_file);
}
