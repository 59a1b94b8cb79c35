//! One test per YAML in `examples/`: each runs through the `wasmpod` CLI and
//! ends as its first-line comment says. Plus the embedding example
//! (`examples/embed.rs`, built by `cargo test` as an example target) done
//! through the library.
//!
//! The two nginx examples serve on port 80 of their pod's own network; the
//! tests forward a free host port to it with `-p` (as the README shows) and
//! GET a page through it while the pod runs. Pods' ports never clash, so no
//! test needs to wait for another.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use crate::cli::{LIMIT, Ran, Running, Workspace, container_status, spawn};
use crate::support::{repo_root, runtime, status_of, terminated_code};

/// Every YAML example, each with a test below.
const EXAMPLES: &[&str] = &[
    "config-and-secret.yaml",
    "config-init.yaml",
    "crashloop.yaml",
    "hardened.yaml",
    "hello.yaml",
    "http-hello.yaml",
    "init-container.yaml",
    "job-and-deployment.yaml",
    "log-shipper.yaml",
    "mydb-service.yaml",
    "sidecar-log-agent.yaml",
    "time-printer.yaml",
    "wait-for-db.yaml",
];

/// The path of an example, which must be listed in [`EXAMPLES`].
fn example(name: &str) -> String {
    assert!(EXAMPLES.contains(&name), "{name} is not in EXAMPLES");
    if name == "http-hello.yaml" {
        place_http_hello();
    }
    let path = repo_root().join("examples").join(name);
    path.to_str().expect("utf-8 path").to_owned()
}

/// Puts the `http-hello` test guest where `examples/http-hello.yaml` names
/// it (`examples/http-hello.wasm`, ignored by git), as its comment tells a
/// user to; written to a temporary name and renamed, so that tests doing it
/// at once never see half a file.
fn place_http_hello() {
    let dir = repo_root().join("examples");
    let tmp = tempfile::NamedTempFile::new_in(&dir).unwrap();
    std::fs::copy(wasmpod_guests::HTTP_HELLO_PATH, tmp.path()).unwrap();
    tmp.persist(dir.join("http-hello.wasm")).unwrap();
}

fn yaml_files() -> Vec<String> {
    let dir = repo_root().join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_example_yaml_has_a_test_and_a_comment() {
    assert_eq!(
        yaml_files(),
        EXAMPLES,
        "examples/ and the tests in examples.rs differ: add a test for a new example"
    );
    for name in EXAMPLES {
        let text = std::fs::read_to_string(example(name)).unwrap();
        let first = text.lines().next().unwrap_or("");
        assert!(
            first.starts_with("# ") && first.len() > 40,
            "{name}: the first line says what it shows and how it ends: {first:?}"
        );
        // Each is a valid pod (validate also compiles its images).
        let mut cmd = std::process::Command::new(crate::support::wasmpod_bin());
        cmd.arg("validate")
            .arg(example(name))
            .arg("--cache-dir")
            .arg(crate::cli::shared_cache());
        let ran = spawn(cmd, None).finish(LIMIT);
        ran.assert_code(0);
        assert_eq!(ran.stdout, "", "{ran}");
    }
}

/// Runs an example to its end.
fn run_example(ws: &Workspace, name: &str, args: &[&str]) -> Ran {
    let file = example(name);
    let mut all = args.to_vec();
    all.push(&file);
    ws.run(&all)
}

fn phase(ws: &Workspace) -> Value {
    ws.status()["status"]["phase"].clone()
}

fn exit_code(pod: &Value, container: &str) -> Value {
    container_status(pod, container)["state"]["terminated"]["exitCode"].clone()
}

#[test]
fn hardened() {
    let ws = Workspace::new();
    let ran = run_example(&ws, "hardened.yaml", &[]);
    ran.assert_code(0);
    // The database through its alias, the read-only root, and the log's directory
    // named after the pod (subPathExpr) as the whole volume shows it.
    assert_eq!(
        ran.lines_of("app"),
        [
            "ping from app",
            "the root filesystem is read-only",
            "hardened"
        ],
        "{ran}"
    );
    assert_eq!(phase(&ws), "Succeeded");
}

#[test]
fn hello() {
    let ws = Workspace::new();
    let ran = run_example(&ws, "hello.yaml", &[]);
    ran.assert_code(0);
    // `$(WHO)` was expanded from the env.
    assert_eq!(ran.stdout, "hello | hello from wasm\n", "{ran}");
    assert_eq!(phase(&ws), "Succeeded");
}

#[test]
fn http_hello() {
    let ws = Workspace::new();
    let ran = run_example(&ws, "http-hello.yaml", &[]);
    ran.assert_code(0);
    assert_eq!(ran.lines_of("caller"), ["hello from wasi:http"; 3], "{ran}");
    let pod = ws.status();
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(exit_code(&pod, "caller"), 0);
    assert_eq!(exit_code(&pod, "web"), 0, "drained on TERM: {ran}");
    // Each request's instance logged its path: the caller's three at least
    // (and the readiness probe's, if it ran meanwhile).
    assert!(ran.lines_of("web").len() >= 3, "{ran}");
}

#[test]
fn config_and_secret() {
    let ws = Workspace::new();
    let ran = run_example(&ws, "config-and-secret.yaml", &[]);
    ran.assert_code(0);
    assert_eq!(
        ran.lines_of("app"),
        [
            "log level: debug",
            "listen=0.0.0.0:8080",
            "greeting=hello from a ConfigMap",
            "db_user=app",
            "db_password_file=/etc/db/password",
        ],
        "{ran}"
    );
    assert_eq!(phase(&ws), "Succeeded");
    let status = std::fs::read_to_string(ws.status_file()).unwrap();
    assert!(!ran.stdout.contains("not-for-printing") && !ran.stderr.contains("not-for-printing"));
    assert!(
        !status.contains("not-for-printing"),
        "the status file has no secret value"
    );
}

#[test]
fn time_printer() {
    let ws = Workspace::new();
    let ran = run_example(&ws, "time-printer.yaml", &[]);
    ran.assert_code(0);
    assert_eq!(phase(&ws), "Succeeded");
    let lines = ran.lines_of("time-printer");
    assert_eq!(lines.len(), 1, "{ran}");
    // ctime style: `Sat Nov 21 06:51:07 UTC 2026`.
    let words: Vec<&str> = lines[0].split_whitespace().collect();
    let this_year: i32 = k8s_openapi::jiff::Zoned::now().year().into();
    assert!(
        words.len() == 6
            && ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].contains(&words[0])
            && [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
            ]
            .contains(&words[1])
            && words[2].parse::<u8>().is_ok_and(|d| (1..=31).contains(&d))
            && words[3].len() == 8
            && words[3].split(':').all(|p| p.parse::<u8>().is_ok())
            && words[5]
                .parse::<i32>()
                .is_ok_and(|y| (this_year - 1..=this_year + 1).contains(&y)),
        "a date line: {:?}",
        lines[0]
    );
}

#[test]
fn log_shipper() {
    let ws = Workspace::new();
    let ran = run_example(&ws, "log-shipper.yaml", &[]);
    ran.assert_code(0);
    let pod = ws.status();
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(exit_code(&pod, "app"), 0);
    // The sidecar printed each of the app's five lines, in order; the app
    // itself printed nothing (it writes to the file).
    let shipped = ran.lines_of("log-shipper");
    let numbers: Vec<&str> = shipped
        .iter()
        .filter_map(|l| l.rsplit_once(" app line ").map(|(_, n)| n))
        .collect();
    assert_eq!(numbers, ["1", "2", "3", "4", "5"], "{ran}");
    assert!(ran.lines_of("app").is_empty(), "{ran}");
    // Then it was stopped, after the app exited.
    assert!(
        ran.event_position("app", "Exited") < ran.event_position("log-shipper", "Killing"),
        "{ran}"
    );
}

#[test]
fn wait_for_db() {
    let ws = Workspace::new();
    let ran = run_example(&ws, "wait-for-db.yaml", &[]);
    ran.assert_code(0);
    let pod = ws.status();
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(exit_code(&pod, "init-db"), 0);
    assert_eq!(exit_code(&pod, "app"), 0);
    ran.position("mydb", "database ready on 5432");
    assert!(
        ran.position("init-db", "db is up")
            < ran.position("app", "app started after the database was reachable"),
        "{ran}"
    );
    assert!(
        ran.event_position("init-db", "Exited") < ran.event_position("app", "Started"),
        "{ran}"
    );
}

/// The seed's init container verbatim, `mydb` a Service in front of a Deployment: the
/// init waits, the app runs with the Service's variables, the run exits 0 and stops the
/// Deployment; the status file lists the Service with its cluster IP and EndpointSlice.
#[test]
fn mydb_service() {
    let ws = Workspace::new();
    let ran = run_example(&ws, "mydb-service.yaml", &[]);
    ran.assert_code(0);
    let list = ws.status();
    assert_eq!(list["kind"], "List", "{ran}");
    let items = list["items"].as_array().expect("items");
    let of = |kind: &str, name: &str| {
        items
            .iter()
            .find(|i| i["kind"] == kind && i["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in the status file\n{ran}"))
    };
    let svc = of("Service", "mydb");
    let ip = svc["spec"]["clusterIP"].as_str().expect("a cluster IP");
    assert!(ip.starts_with("10.9"), "{ip}");
    assert_eq!(
        of("EndpointSlice", "mydb-1")["metadata"]["labels"]["kubernetes.io/service-name"],
        "mydb"
    );
    let app = of("Pod", "myapp");
    assert_eq!(app["status"]["phase"], "Succeeded", "{ran}");
    assert_eq!(
        ran.lines_of("myapp/app"),
        [format!("app started; mydb is {ip}:5432").as_str()],
        "{ran}"
    );
    let waited = ran.position("myapp/init-db", "waiting for db");
    assert!(waited < ran.position("myapp/app", "app started"), "{ran}");
    // The database pod's name has the Deployment's hash and a random suffix.
    let listening = ran
        .stdout
        .find("| database listening on 5432")
        .expect("db line");
    let app = ran.stdout.find("| app started").expect("app line");
    assert!(listening < app, "{ran}");
}

/// A Deployment behind a Service and a Job testing it by name: the run exits with the
/// Job's result and stops the Deployment.
#[test]
fn job_and_deployment() {
    let ws = Workspace::new();
    let ran = run_example(&ws, "job-and-deployment.yaml", &[]);
    ran.assert_code(0);
    assert!(ran.stdout.contains("/test | smoke test passed"), "{ran}");
    assert!(ran.stderr.contains("job/smoke-test Complete"), "{ran}");
    assert!(ran.stderr.contains("deployment/web stopped"), "{ran}");
}

#[test]
fn config_init() {
    let ws = Workspace::new();
    let ran = run_example(&ws, "config-init.yaml", &[]);
    ran.assert_code(0);
    let pod = ws.status();
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(
        ran.lines_of("app"),
        ["app read: greeting=hello from the config server"],
        "{ran}"
    );
    // The server sidecar served the file the init container fetched.
    assert!(
        ran.lines_of("config-server")
            .iter()
            .any(|l| l.contains("GET /app.conf") && l.contains(" 200 ")),
        "{ran}"
    );
    for name in ["seed-site", "fetch-config", "app"] {
        assert_eq!(exit_code(&pod, name), 0, "{name}");
    }
}

#[test]
fn crashloop() {
    let ws = Workspace::new();
    // The app runs ~1 s per attempt; 6 s leaves room for at least two
    // restarts on a loaded machine.
    let ran = run_example(
        &ws,
        "crashloop.yaml",
        &["--backoff-initial", "200ms", "--timeout", "6s"],
    );
    ran.assert_code(124);
    let pod = ws.status();
    let app = container_status(&pod, "app");
    assert!(
        app["restartCount"].as_u64().is_some_and(|n| n >= 2),
        "{pod:#}"
    );
    let waiting = app["state"]["waiting"]["reason"] == "CrashLoopBackOff";
    let last = &app["lastState"]["terminated"];
    assert!(
        waiting || (last["exitCode"] == 1 && last["reason"] == "Error"),
        "{pod:#}"
    );
    let lines = ran.lines_of("app");
    assert!(
        lines.iter().filter(|l| **l == "failing").count() >= 2,
        "{ran}"
    );
    assert!(!ran.events_of("app", "BackOff").is_empty(), "{ran}");
}

/// `GET /` on 127.0.0.1:`port`: the whole response, if one came.
fn http_get(port: u16) -> Option<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Polls `GET /` until it answers 200 or the CLI exits.
fn wait_for_http_200(running: &mut Running, port: u16) -> Option<String> {
    loop {
        if running.has_exited() {
            return None;
        }
        if let Some(response) = http_get(port)
            && response.lines().next().is_some_and(|l| l.contains(" 200 "))
        {
            return Some(response);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The nginx access-log line for our `GET /` (proves our pod served it).
fn served_our_get(ran: &Ran) -> bool {
    ran.lines_of("nginx")
        .iter()
        .any(|l| l.contains("\"GET / HTTP/1.0\" 200"))
}

/// Runs a serving example with a free host port forwarded to its port 80
/// until `timeout`, GETting `/` once it serves: (the 200 response, the run).
fn serving(ws: &Workspace, name: &str, timeout: &str) -> (Option<String>, Ran) {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let publish = format!("127.0.0.1:{port}:80");
    let file = example(name);
    let args = ["-p", &publish, "--timeout", timeout, &file];
    let mut running = spawn(ws.run_command(&args), None);
    let response = wait_for_http_200(&mut running, port);
    (response, running.finish(LIMIT))
}

#[test]
fn init_container() {
    let ws = Workspace::new();
    // The init container sleeps 5 s; nginx then serves until the timeout.
    let (response, ran) = serving(&ws, "init-container.yaml", "25s");
    let response = response.unwrap_or_else(|| panic!("nginx never answered 200\n{ran}"));
    ran.assert_code(124);
    assert!(
        served_our_get(&ran),
        "the 200 came from this pod's nginx\n{response}\n{ran}"
    );
    assert_eq!(
        ran.lines_of("init-myservice"),
        ["Init Container Running"],
        "{ran}"
    );
    let first_nginx = ran
        .output()
        .iter()
        .position(|(c, _)| *c == "nginx")
        .expect("nginx printed");
    assert!(
        ran.position("init-myservice", "Init Container Running") < first_nginx,
        "{ran}"
    );
    assert!(
        ran.event_position("init-myservice", "Exited") < ran.event_position("nginx", "Started"),
        "{ran}"
    );
    let pod = ws.status();
    assert_eq!(exit_code(&pod, "init-myservice"), 0);
    // nginx shuts down cleanly on TERM, so the stopped pod Succeeded.
    assert_eq!(exit_code(&pod, "nginx"), 0, "{pod:#}");
    assert_eq!(pod["status"]["phase"], "Succeeded");
}

#[test]
fn sidecar_log_agent() {
    let ws = Workspace::new();
    let (response, ran) = serving(&ws, "sidecar-log-agent.yaml", "15s");
    let response = response.unwrap_or_else(|| panic!("nginx never answered 200\n{ran}"));
    ran.assert_code(124);
    assert!(
        served_our_get(&ran),
        "the 200 came from this pod's nginx\n{response}\n{ran}"
    );
    let logging = ran.lines_of("log-agent");
    assert!(
        !logging.is_empty() && logging.iter().all(|l| *l == "Logging"),
        "{ran}"
    );
    let pod = ws.status();
    // Stopped: nginx exits 0 on TERM; the shell loop has no handler (143),
    // so the pod Failed, as the kubelet would report it.
    assert_eq!(exit_code(&pod, "nginx"), 0, "{pod:#}");
    assert_eq!(exit_code(&pod, "log-agent"), 143, "{pod:#}");
    assert_eq!(pod["status"]["phase"], "Failed");
}

/// What `examples/embed.rs` does, through the library: a typed Pod, logs
/// and events streamed, the final status read.
#[tokio::test]
async fn embedding_runs_a_typed_pod() {
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("embedded".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            init_containers: Some(vec![Container {
                name: "prepare".into(),
                image: Some("busybox".into()),
                command: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "echo preparing; sleep 0.2".into(),
                ]),
                ..Default::default()
            }]),
            containers: vec![Container {
                name: "work".into(),
                image: Some("busybox".into()),
                command: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "for i in 1 2 3; do echo step $i; done".into(),
                ]),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let handle = runtime()
        .create(
            wasmpod::ValidPod::from_pod(pod).expect("valid"),
            wasmpod::RunOptions::default(),
        )
        .await
        .expect("create");
    assert_eq!(handle.name(), "embedded");
    let mut logs = handle.logs();
    let mut events = handle.events();
    handle.start();
    let lines = tokio::spawn(async move {
        let mut out = Vec::new();
        loop {
            match logs.recv().await {
                Ok(l) => out.push((l.container, l.line)),
                Err(RecvError::Lagged(n)) => panic!("lagged by {n}"),
                Err(RecvError::Closed) => return out,
            }
        }
    });
    let reasons = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Ok(e) = events.recv().await {
            out.push((e.container, e.reason));
        }
        out
    });
    let outcome = tokio::time::timeout(Duration::from_secs(120), handle.wait())
        .await
        .expect("the pod ends by itself");
    let lines = lines.await.unwrap();
    let reasons = reasons.await.unwrap();
    assert_eq!(outcome.phase.as_str(), "Succeeded", "{lines:?} {reasons:?}");
    assert_eq!(outcome.stopped, None);
    let text = |c: &str| -> Vec<&str> {
        lines
            .iter()
            .filter(|(n, _)| n == c)
            .map(|(_, l)| l.as_str())
            .collect()
    };
    assert_eq!(text("prepare"), ["preparing"]);
    assert_eq!(text("work"), ["step 1", "step 2", "step 3"]);
    let at = |c: &str, r: &str| {
        reasons
            .iter()
            .position(|(n, reason)| n.as_deref() == Some(c) && reason == r)
            .unwrap_or_else(|| panic!("no {r} for {c}: {reasons:?}"))
    };
    assert!(
        at("prepare", "Exited") < at("work", "Started"),
        "{reasons:?}"
    );
    for c in ["prepare", "work"] {
        assert_eq!(terminated_code(&status_of(&outcome.pod, c)), Some(0), "{c}");
    }
    // Without a run directory the pod had a temporary one, gone at its end.
    let temp: PathBuf = handle.run_dir().to_path_buf();
    assert!(
        !temp.as_os_str().is_empty() && !temp.exists(),
        "{}",
        temp.display()
    );
}
