//! The cluster network seen from the host: node ports and `-p svc/` forwards, the only
//! host sockets a cluster has; isolation between two runtimes; CIDR options.
//! (The Services' behaviour inside the cluster is in `services`.)

use std::time::Duration;

use wasmpod::spec;

use crate::services::{LIMIT, apply, cluster_ip, ready, web_pod};
use crate::support::{options, runtime, start};

/// A free host port in the node port range, for a `NodePort` test.
/// (Each test of this file searches its own part of the range: tests run in parallel, and
/// two that found the same port free would race to bind it.)
fn free_node_port() -> u16 {
    (30000..=31499)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in the node port range")
}

/// upstream: test/e2e/network/service.go "should be able to create a functioning
/// NodePort service": the Service's node port on the host reaches its endpoints, and
/// `ClientIP` affinity keeps one client on one endpoint; a UDP Service answers from its
/// own address.
#[tokio::test]
async fn should_be_able_to_create_a_functioning_nodeport_service() {
    let ns = "svc-nodeport";
    let node_port = free_node_port();
    apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  type: NodePort\n  sessionAffinity: ClientIP\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080, nodePort: {node_port}}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: echo, namespace: {ns}}}\nspec:\n  selector: {{app: web}}\n  ports: [{{name: dns, port: 53, targetPort: 5353, protocol: UDP}}]\n"
    ));
    let a = start(&web_pod(ns, "web-a", "web"), options()).await;
    let b = start(&web_pod(ns, "web-b", "web"), options()).await;
    ready(&a).await;
    ready(&b).await;
    let opened = runtime().cluster().open_service_ports().await;
    let forwards: Vec<_> = opened
        .into_iter()
        .filter(|(what, _)| what.contains(&format!(":{node_port} ")))
        .map(|(what, r)| r.unwrap_or_else(|e| panic!("{what}: {e}")))
        .collect();
    assert_eq!(forwards.len(), 1);
    let mut answers = Vec::new();
    for _ in 0..3 {
        let body = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(("127.0.0.1", node_port))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut r = String::new();
            s.read_to_string(&mut r)?;
            Ok::<_, std::io::Error>(
                r.split("\r\n\r\n")
                    .nth(1)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            )
        })
        .await
        .expect("joined")
        .expect("served on the node port");
        answers.push(body);
    }
    answers.dedup();
    assert_eq!(
        answers.len(),
        1,
        "ClientIP affinity: one endpoint: {answers:?}"
    );
    assert!(
        ["web-a", "web-b"].contains(&answers[0].as_str()),
        "{answers:?}"
    );

    // UDP through a Service: the reply comes from the Service's address.
    let echo_ip = cluster_ip(ns, "echo");
    let server = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: udp-echo, namespace: {ns}, labels: {{app: web}}}}
spec:
  containers:
  - name: echo
    image: busybox
    command: ['sh', '-c', 'nc -u -l -k -e -p 5353']
"#
    );
    let server = start(&server, options()).await;
    let client = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: udp-client, namespace: {ns}}}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ['sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do r=$(echo ping | nc -u -w 1 echo 53); if [ "$r" = ping ]; then echo "reply=$r"; exit 0; fi; done; exit 1']
"#
    );
    drop(forwards);
    // The web pods are not UDP endpoints on 5353 (nothing bound): stop them first, so the
    // Service's only endpoint with that port bound is the echo pod.
    a.stop().await;
    b.stop().await;
    server
        .wait_for(LIMIT, "running", |p| {
            p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
        })
        .await;
    let run = start(&client, options()).await.finish(LIMIT).await;
    assert_eq!(
        run.lines("c"),
        ["reply=ping"],
        "{}\nservice {echo_ip}",
        run.dump()
    );
    server.stop().await;
}

/// Two runtimes are two clusters: the same Service name and the same pod IPs in each,
/// and neither reaches the other.
#[tokio::test]
async fn two_runtimes_are_isolated_clusters() {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmpod-cache");
    let other =
        wasmpod::Runtime::new(wasmpod::RuntimeConfig::default().with_cache_dir(Some(cache)))
            .expect("second runtime");
    let ns = "svc-isolated";
    let svc = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
    );
    apply(&svc);
    let server = web_pod(ns, "web-a", "web");
    let a = start(&server, options()).await;
    ready(&a).await;
    let a_ip = a.pod().status.and_then(|s| s.pod_ip).unwrap();
    let ip = cluster_ip(ns, "web");
    // The other runtime has neither the Service nor the pod.
    assert!(other.cluster().services().is_empty());
    assert!(other.cluster().endpoints(ns, "web").is_none());
    let client = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: client, namespace: {ns}}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    command: ['sh', '-c', 'nc -z -w 1 {a_ip} 8080 || echo pod unreachable; nc -z -w 1 {ip} 80 || echo service unreachable; nc -z web 80 || echo name unknown']\n"
    );
    let mut file = spec::load(&client).unwrap();
    let handle = other
        .create(file.pods.remove(0), options())
        .await
        .expect("create");
    let mut logs = handle.logs();
    handle.start();
    let mut lines = Vec::new();
    // Until the pod's log stream closes (it ended).
    while let Ok(l) = logs.recv().await {
        if !l.line.starts_with("nc: ") {
            lines.push(l.line);
        }
    }
    let outcome = handle.wait().await;
    assert_eq!(outcome.phase.as_str(), "Succeeded");
    assert_eq!(
        lines,
        ["pod unreachable", "service unreachable", "name unknown"]
    );
    a.stop().await;
}

/// `wasmpod run -p PORT:svc/web:80` and a `type: NodePort` Service: host ports into the
/// cluster network reach the Service's endpoint (until the run's timeout, exit 124);
/// the status file lists the Service with its node port.
#[test]
fn wasmpod_run_forwards_host_ports_to_services() {
    use std::io::{Read as _, Write as _};
    let free = |range: std::ops::RangeInclusive<u16>| {
        range
            .into_iter()
            .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
            .expect("a free port")
    };
    let (port, node_port) = (free(20000..=29999), free(31500..=32767));
    let yaml = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  type: NodePort\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080, nodePort: {node_port}}}]\n---\n{}",
        web_pod("default", "web-0", "web")
    );
    let ws = crate::cli::Workspace::new();
    let file = ws.run_dir().with_extension("yaml");
    std::fs::write(&file, &yaml).unwrap();
    let publish = format!("{port}:svc/web:80");
    // (The workspace's command writes the status file.)
    let args = ["-p", &publish, "--timeout", "20s", file.to_str().unwrap()];
    let mut running = crate::cli::spawn(ws.run_command(&args), None);
    let get = |port: u16| -> Option<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut r = String::new();
        s.read_to_string(&mut r).ok()?;
        r.starts_with("HTTP/1.0 200").then(|| {
            r.split("\r\n\r\n")
                .nth(1)
                .unwrap_or_default()
                .trim()
                .to_string()
        })
    };
    let mut answers = None;
    while !running.has_exited() {
        if let (Some(a), Some(b)) = (get(port), get(node_port)) {
            answers = Some((a, b));
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let ran = running.finish(crate::cli::LIMIT);
    let (a, b) = answers.unwrap_or_else(|| panic!("never served through the host ports\n{ran}"));
    assert_eq!((a.as_str(), b.as_str()), ("web-0", "web-0"), "{ran}");
    ran.assert_code(124);
    let status = ws.status();
    let svc = status["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["kind"] == "Service"))
        .unwrap_or_else(|| panic!("no Service in the status file\n{ran}"));
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], node_port, "{ran}");
}

/// Overlapping ranges given as options are a clear error before anything runs.
#[test]
fn overlapping_cidrs_are_an_error() {
    let ws = crate::cli::Workspace::new();
    let ran = ws.run(&[
        "--pod-cidr",
        "10.0.0.0/8",
        crate::support::repo_root()
            .join("examples/hello.yaml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(
        ran.stderr
            .contains("the pod CIDR 10.0.0.0/8 and the service CIDR 10.96.0.0/12 overlap"),
        "{ran}"
    );
}
