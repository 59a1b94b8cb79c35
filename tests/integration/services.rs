//! The cluster network: pod IPs, Services with their endpoints, cluster DNS and the
//! Service variables. Each test uses its own namespace in the shared runtime, so its
//! Services are not seen by other tests' pods.
//!
//! Ported from Kubernetes `test/e2e/network/service.go` and `dns.go` where they apply.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmpod::spec;

use crate::support::{options, runtime, start, start_watched};

pub(crate) const LIMIT: Duration = Duration::from_secs(90);

/// Applies every object of `yaml` (Services here) to the shared runtime's cluster.
pub(crate) fn apply(yaml: &str) {
    let file = spec::load(yaml).unwrap_or_else(|e| panic!("invalid test objects: {e}"));
    for object in file.objects {
        runtime().cluster().apply(object).expect("applied");
    }
}

pub(crate) fn cluster_ip(namespace: &str, name: &str) -> String {
    runtime()
        .cluster()
        .services()
        .into_iter()
        .find(|s| {
            s.metadata.namespace.as_deref() == Some(namespace)
                && s.metadata.name.as_deref() == Some(name)
        })
        .and_then(|s| s.spec?.cluster_ip)
        .unwrap_or_else(|| panic!("service {namespace}/{name} has no cluster IP"))
}

/// A web server pod: an init container writes the pod's name as the index page, httpd
/// serves it on 8080 (named `http`), Ready once it answers.
pub(crate) fn web_pod(ns: &str, name: &str, app: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {{app: {app}}}}}
spec:
  volumes: [{{name: html, emptyDir: {{}}}}]
  initContainers:
  - name: page
    image: busybox
    command: ['sh', '-c', 'echo $HOSTNAME > /html/index.html']
    volumeMounts: [{{name: html, mountPath: /html}}]
  containers:
  - name: web
    image: nginx
    args: ['-p', '8080', '-r', '/html']
    ports: [{{name: http, containerPort: 8080}}]
    volumeMounts: [{{name: html, mountPath: /html}}]
    readinessProbe:
      tcpSocket: {{port: 8080}}
      periodSeconds: 1
"#
    )
}

pub(crate) async fn ready(started: &crate::support::Started) {
    started
        .wait_for(LIMIT, "Ready", |p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .await;
}

/// `GET /` through the cluster network from the host program; the body.
pub(crate) async fn get(addr: &str) -> std::io::Result<String> {
    let mut stream = runtime()
        .cluster()
        .connect(addr.parse().expect("address"))?;
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_string())
}

/// The seed's init container, verbatim (`until nc -z mydb 5432`), with `mydb` a
/// Service in front of a database pod: the init waits until the database pod is up
/// and Ready, then the app runs, with the Service's variables in its environment.
#[tokio::test]
async fn seed_init_db_waits_for_the_mydb_service_then_the_app_runs() {
    let ns = "svc-seed";
    apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: mydb, namespace: {ns}}}\nspec:\n  selector: {{app: mydb}}\n  ports: [{{port: 5432}}]\n"
    ));
    let app = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: myapp, namespace: {ns}}}
spec:
  restartPolicy: Never
  initContainers:
  - name: init-db
    image: busybox
    command: ['sh', '-c', 'until nc -z mydb 5432; do echo waiting for db; sleep 2; done']
  containers:
  - name: app
    image: busybox
    command: ['sh', '-c', 'echo "db at $MYDB_SERVICE_HOST:$MYDB_SERVICE_PORT"; nc -z mydb.{ns}.svc.cluster.local 5432 && echo reached by its full name']
"#
    );
    let db = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: mydb-0, namespace: {ns}, labels: {{app: mydb}}}}
spec:
  containers:
  - name: db
    image: busybox
    command: ['sh', '-c', 'nc -lk -p 5432']
    readinessProbe:
      tcpSocket: {{port: 5432}}
      periodSeconds: 1
"#
    );
    let (app, mut watch) = start_watched(&app, options()).await;
    // No endpoint yet: the init loops.
    watch.wait_line("init-db", "waiting for db", LIMIT).await;
    let db = start(&db, options()).await;
    let run = app.finish(LIMIT).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let ip = cluster_ip(ns, "mydb");
    assert_eq!(
        run.lines("app"),
        [
            format!("db at {ip}:5432"),
            "reached by its full name".to_string()
        ],
        "{}",
        run.dump()
    );
    let init = run.lines("init-db");
    assert!(
        init.iter()
            .all(|l| l == "waiting for db" || l.starts_with("nc: mydb:5432: ")),
        "{}",
        run.dump()
    );
    db.stop().await;
}

/// upstream: test/e2e/network/service.go "should serve a basic endpoint from pods" and
/// "should serve multiport endpoints from pods" (named targetPort): the Service's
/// endpoints are its Ready pods, connections spread over them, and a pod that ends
/// leaves the endpoints.
#[tokio::test]
async fn should_serve_a_basic_endpoint_from_pods() {
    let ns = "svc-basic";
    apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  selector: {{app: web}}\n  ports: [{{name: http, port: 80, targetPort: http}}]\n"
    ));
    let ip = cluster_ip(ns, "web");
    assert!(ip.starts_with("10.9"), "{ip} is in the service CIDR");
    let no_endpoint = get(&format!("{ip}:80")).await.unwrap_err();
    assert_eq!(no_endpoint.kind(), std::io::ErrorKind::ConnectionRefused);

    let a = start(&web_pod(ns, "web-a", "web"), options()).await;
    let b = start(&web_pod(ns, "web-b", "web"), options()).await;
    let other = start(&web_pod(ns, "db", "db"), options()).await;
    for p in [&a, &b, &other] {
        ready(p).await;
    }
    let endpoints = runtime().cluster().endpoints(ns, "web").expect("service");
    let names: Vec<&str> = endpoints.iter().map(|e| e.pod.as_str()).collect();
    assert_eq!(names, ["web-a", "web-b"]);
    assert!(endpoints.iter().all(|e| e.ready && e.ports[0].2 == 8080));
    // Each endpoint's IP is its pod's status.podIP.
    let a_ip = a.pod().status.and_then(|s| s.pod_ip).expect("pod IP");
    assert_eq!(endpoints[0].ip.to_string(), a_ip);
    assert!(a_ip.starts_with("10.244."), "{a_ip}");

    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(get(&format!("{ip}:80")).await.expect("served"));
    }
    answers.sort();
    answers.dedup();
    assert_eq!(
        answers,
        ["web-a", "web-b"],
        "round-robin over both endpoints"
    );
    // The pod IP itself, on the container port.
    assert_eq!(get(&format!("{a_ip}:8080")).await.expect("pod IP"), "web-a");

    // upstream: "should be able to update service type ..." is out of scope; an ended
    // pod leaves the endpoints.
    a.stop().await;
    for _ in 0..3 {
        assert_eq!(get(&format!("{ip}:80")).await.expect("served"), "web-b");
    }
    b.stop().await;
    other.stop().await;
}

/// upstream: test/e2e/network/dns.go "should provide DNS for services" and "should
/// provide DNS for pods for Hostname" (headless Service with a subdomain): names
/// resolve through the search path, a headless Service to its pods' IPs, a pod with
/// `hostname` and `subdomain` by its own name; a pod talks to another pod's IP; a port
/// bound to 127.0.0.1 stays private to its pod.
#[tokio::test]
async fn should_provide_dns_for_services_and_pods_with_hostname() {
    let ns = "svc-dns";
    apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: db, namespace: {ns}}}\nspec:\n  clusterIP: None\n  selector: {{app: db}}\n  ports: [{{port: 5432}}]\n"
    ));
    let db = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: db-0, namespace: {ns}, labels: {{app: db}}}}
spec:
  hostname: db-0
  subdomain: db
  containers:
  - name: db
    image: busybox
    command: ['sh', '-c', 'nc -lk -p 5432']
    readinessProbe:
      tcpSocket: {{port: 5432}}
      periodSeconds: 1
  - name: private
    image: busybox
    command: ['sh', '-c', 'nc -lk -s 127.0.0.1 -p 6000']
"#
    );
    let db = start(&db, options()).await;
    ready(&db).await;
    let db_ip = db.pod().status.and_then(|s| s.pod_ip).expect("pod IP");
    let client = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {ns}}}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command:
    - sh
    - -c
    - |
      for name in db db.{ns} db.{ns}.svc db.{ns}.svc.cluster.local db-0.db db-0.db.{ns}.svc.cluster.local {db_ip}; do
        nc -z $name 5432 && echo "$name ok" || echo "$name failed"
      done
      nc -z -w 2 {db_ip} 6000 && echo "private reachable" || echo "private refused"
      nc -z nothing-here 5432 || echo "unknown name fails"
      echo "my ip $MY_IP"
    env:
    - name: MY_IP
      valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
"#
    );
    let run = start(&client, options()).await.finish(LIMIT).await;
    let lines = run.lines("c");
    let mut expect: Vec<String> = [
        "db".to_string(),
        format!("db.{ns}"),
        format!("db.{ns}.svc"),
        format!("db.{ns}.svc.cluster.local"),
        "db-0.db".into(),
        format!("db-0.db.{ns}.svc.cluster.local"),
        db_ip.clone(),
    ]
    .into_iter()
    .map(|n| format!("{n} ok"))
    .collect();
    expect.push("private refused".into());
    expect.push("unknown name fails".into());
    let own = run
        .outcome
        .pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .expect("pod IP");
    expect.push(format!("my ip {own}"));
    let printed: Vec<&String> = lines.iter().filter(|l| !l.starts_with("nc: ")).collect();
    assert_eq!(printed, expect.iter().collect::<Vec<_>>(), "{}", run.dump());
    assert_ne!(own, db_ip);
    db.stop().await;
}

/// `wasi:http` components in the cluster: one behind a Service answers a busybox pod's
/// `wget http://hello/`, and its outgoing requests reach another Service by name.
#[tokio::test]
async fn wasi_http_components_serve_behind_services_and_call_services_by_name() {
    let ns = "svc-http";
    apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: hello, namespace: {ns}}}\nspec:\n  selector: {{app: hello}}\n  ports: [{{port: 80, targetPort: 8080}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: http}}]\n"
    ));
    let hello = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: hello, namespace: {ns}, labels: {{app: hello}}}}\nspec:\n  containers:\n  - name: hello\n    image: {:?}\n    readinessProbe:\n      tcpSocket: {{port: 8080}}\n      periodSeconds: 1\n",
        wasmpod_guests::HTTP_HELLO_PATH
    );
    let hello = start(&hello, options()).await;
    let web = start(&web_pod(ns, "web-0", "web"), options()).await;
    ready(&hello).await;
    ready(&web).await;
    let client = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: client, namespace: {ns}}}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ['sh', '-c', 'wget -q -O - http://hello/; echo; wget -q -O - "http://hello.{ns}.svc.cluster.local/fetch?http://web/"']
"#
    );
    let run = start(&client, options()).await.finish(LIMIT).await;
    let lines: Vec<String> = run
        .lines("c")
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        ["hello from wasi:http", "status 200: web-0"],
        "{}",
        run.dump()
    );
    hello.stop().await;
    web.stop().await;
}

/// upstream: test/e2e/network/service.go "should create endpoints for unready pods" (the
/// inverse half): a pod whose readiness probe starts failing leaves the ready
/// endpoints and the Service stops sending to it; once Ready again it is back.
#[tokio::test]
async fn readiness_takes_a_pod_out_of_the_endpoints_and_back() {
    let ns = "svc-readiness";
    apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
    ));
    let web = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: web, namespace: {ns}, labels: {{app: web}}}}
spec:
  containers:
  - name: web
    image: busybox
    command: ['sh', '-c', 'touch /tmp/ready; nc -lk -p 8080']
    # Ready once the file is there and the listener is up (a probe between the
    # two would let a connect be refused while Ready).
    readinessProbe:
      exec: {{command: ['sh', '-c', 'cat /tmp/ready && nc -z 127.0.0.1 8080']}}
      periodSeconds: 1
"#
    );
    let web = start(&web, options()).await;
    ready(&web).await;
    let ip = cluster_ip(ns, "web");
    let ready_endpoints = || {
        runtime()
            .cluster()
            .endpoints(ns, "web")
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.ready)
            .count()
    };
    assert_eq!(ready_endpoints(), 1);
    runtime()
        .cluster()
        .connect(format!("{ip}:80").parse().unwrap())
        .expect("served while Ready");
    web.handle
        .exec("web", ["rm", "/tmp/ready"])
        .await
        .expect("exec");
    web.wait_for(LIMIT, "not Ready", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "False"))
    })
    .await;
    assert_eq!(ready_endpoints(), 0);
    let endpoints = runtime().cluster().endpoints(ns, "web").unwrap();
    assert_eq!(
        endpoints.len(),
        1,
        "still listed, not ready, as an EndpointSlice does"
    );
    let refused = runtime()
        .cluster()
        .connect(format!("{ip}:80").parse().unwrap())
        .unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    web.handle
        .exec("web", ["touch", "/tmp/ready"])
        .await
        .expect("exec");
    ready(&web).await;
    runtime()
        .cluster()
        .connect(format!("{ip}:80").parse().unwrap())
        .expect("served again");
    web.stop().await;
}

/// `spec.dnsConfig` and `spec.dnsPolicy`, as the kubelet writes a pod's `resolv.conf`:
/// a search domain of the config finds a Service of another namespace by its short
/// name (and without it the name is unknown); `None` asks the cluster's DNS with the
/// config's searches only; `Default` is the node's resolver, which a sandboxed pod
/// does not reach, so no cluster name resolves.
#[tokio::test]
async fn dns_config_searches_and_dns_policy_decide_what_a_short_name_finds() {
    let (back, front) = ("dns-back", "dns-front");
    apply(&format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: db, namespace: {back}}}\nspec:\n  selector: {{app: db}}\n  ports: [{{port: 5432}}]\n"
    ));
    let db = start(
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: db-0, namespace: {back}, labels: {{app: db}}}}\nspec:\n  containers:\n  - name: db\n    image: busybox\n    command: ['sh', '-c', 'nc -lk -p 5432']\n    readinessProbe:\n      tcpSocket: {{port: 5432}}\n      periodSeconds: 1\n"
        ),
        options(),
    )
    .await;
    let client = |name: &str, dns: &str, script: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {front}}}\nspec:\n  restartPolicy: Never\n{dns}  containers:\n  - name: c\n    image: busybox\n    command: ['sh', '-c', '{script}']\n"
        )
    };
    let searched = "  dnsConfig:\n    searches: [dns-back.svc.cluster.local]\n";
    let cases = [
        // Waits until the Service has its endpoint: the cases after it need it.
        (
            "searched",
            searched.to_string(),
            "until nc -z -w 2 db 5432 2>/dev/null; do sleep 0.2; done; echo found",
            "found",
        ),
        (
            "plain",
            String::new(),
            "nc -z -w 2 db 5432 2>/dev/null && echo found || echo unknown",
            "unknown",
        ),
        (
            "none",
            "  dnsPolicy: None\n  dnsConfig:\n    nameservers: [10.96.0.10]\n    searches: [svc.cluster.local]\n    options: [{name: ndots, value: \"2\"}]\n"
                .to_string(),
            // `db.dns-back` has one dot, fewer than ndots:2: searched as db.dns-back.svc.cluster.local.
            "nc -z -w 2 db.dns-back 5432 && echo found; nc -z -w 2 db 5432 2>/dev/null || echo unknown",
            "found unknown",
        ),
        (
            "node",
            "  dnsPolicy: Default\n".to_string(),
            "nc -z -w 2 db.dns-back.svc.cluster.local 5432 2>/dev/null || echo unknown",
            "unknown",
        ),
    ];
    for (name, dns, script, want) in cases {
        let run = crate::support::run_pod_with(&client(name, &dns, script), options(), LIMIT).await;
        assert_eq!(run.phase(), "Succeeded", "{name}: {}", run.dump());
        assert_eq!(run.lines("c").join(" "), want, "{name}: {}", run.dump());
    }
    db.stop().await;
}
