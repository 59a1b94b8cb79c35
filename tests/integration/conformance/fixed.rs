//! Scenarios where wasmpod first disagreed with Kubernetes, fixed since:
//! D6 (same-host httpGet redirects), D11 (liveness stops during preStop),
//! E13 (sidecars' preStop hooks start together), E12 (endless preStop
//! hooks live until their sidecars are killed).

use super::*;

/// PR :: "should be restarted with a local redirect http liveness probe"
#[tokio::test]
async fn d6_local_redirect_is_followed() {
    // GET /dir answers 301 → /dir/, which has no index: 404, so the
    // liveness probe fails and the container restarts.
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: redirect}\nspec:\n  volumes: [{name: www, emptyDir: {}}]\n  initContainers:\n  - {name: init, image: busybox, volumeMounts: [{name: www, mountPath: /www}], command: ['mkdir', '-p', '/www/dir']}\n  containers:\n  - name: app\n    image: nginx\n    args: ['-p', '8080', '-r', '/www']\n    volumeMounts: [{name: www, mountPath: /www}]\n    livenessProbe: {httpGet: {path: /dir, port: 8080}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1}\n";
    let st = start(yaml, options()).await;
    st.wait_for(LIMIT, "a restart after the redirected probe failed", |p| {
        status_of(p, "app").restart_count >= 1
    })
    .await;
    let run = st.stop().await;
    assert!(
        run.lines("app").iter().any(|l| l.contains("GET /dir/ ")),
        "the redirect was followed\n{}",
        run.dump()
    );
}

/// LH/PR :: "should not run liveness probes while the preStop hook runs"
#[tokio::test]
async fn d11_liveness_stops_when_termination_starts() {
    let j = Journal::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: d11}}\nspec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 10\n  volumes:\n{}  containers:\n  - name: regular-1\n    image: busybox\n    command: ['sh', '-c', 'trap ''sleep 1.5; exit 0'' TERM; while true; do sleep 0.1; done']\n{JOURNAL_MOUNT}    lifecycle:\n      preStop:\n        exec: {{command: ['sh', '-c', '{}; sleep 1']}}\n    livenessProbe:\n      exec: {{command: ['sh', '-c', '{}']}}\n      periodSeconds: 1\n",
        j.volume_yaml(),
        Journal::note("PreStop-regular-1", "Starting"),
        Journal::note("Liveness", "probe"),
    );
    let st = start(&yaml, options()).await;
    let deadline = std::time::Instant::now() + LIMIT;
    while j.count("Liveness", "probe") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the liveness probe never ran twice"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let run = st.stop().await;
    assert_eq!(run.exit_code("regular-1"), 0, "{}", run.dump());
    let pre_stop = j.first("PreStop-regular-1", "Starting");
    let late: Vec<_> = j
        .entries()
        .into_iter()
        .filter(|(t, n, _)| n == "Liveness" && *t > pre_stop)
        .collect();
    assert!(late.is_empty(), "liveness probed during preStop: {late:?}");
}

/// CL :: "should call sidecar container PreStop hook simultaneously"
#[tokio::test]
async fn e13_sidecar_pre_stop_hooks_start_together() {
    let j = Journal::new();
    let sidecars: Vec<P> = ["ri-1", "ri-2", "ri-3"]
        .iter()
        .map(|n| p(n, 600.0).sidecar().term(5.0).pre_stop(5.0))
        .collect();
    let run = run_pod(&pod(
        &j,
        "Never",
        &format!("  terminationGracePeriodSeconds: {}\n", secs(30)),
        &sidecars,
        &[p("regular-1", 5.0)],
    ))
    .await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let starts: Vec<u128> = ["ri-1", "ri-2", "ri-3"]
        .iter()
        .map(|n| j.first(&format!("PreStop-{n}"), "Starting"))
        .collect();
    let spread_ms = (starts.iter().max().unwrap() - starts.iter().min().unwrap()) / 1_000_000;
    assert!(
        spread_ms < 1000,
        "preStop hooks started {spread_ms} ms apart: {:?}",
        j.entries()
    );
    // TERM still goes in reverse order once the hooks are done.
    exits_before(&j, "ri-3", "ri-2");
    exits_before(&j, "ri-2", "ri-1");
}

/// CL :: "should terminate sidecars simultaneously if prestop doesn't exit"
#[tokio::test]
async fn e12_sidecars_with_endless_pre_stop_hooks_die_together() {
    let j = Journal::new();
    let looping = |n: &str| {
        format!(
            "      preStop:\n        exec: {{command: ['sh', '-c', 'while true; do {}; sleep 0.2; done']}}\n",
            Journal::note(&format!("PreStop-{n}"), "Looping")
        )
    };
    let sidecars: Vec<P> = ["ri-1", "ri-2", "ri-3"]
        .iter()
        .map(|n| p(n, 600.0).sidecar().term_long().hook(&looping(n)))
        .collect();
    let grace = secs(30);
    let run = run_pod(&pod(
        &j,
        "Never",
        &format!("  terminationGracePeriodSeconds: {grace}\n"),
        &sidecars,
        &[p("regular-1", 5.0)],
    ))
    .await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    let mut lasts = Vec::new();
    for n in ["ri-1", "ri-2", "ri-3"] {
        assert_eq!(ended(&run, n), (137, "Error".into()), "{}", run.dump());
        let loops = times(&j, &format!("PreStop-{n}"), "Looping");
        let (first, last) = (loops[0], *loops.last().unwrap());
        // Upstream: grace (30 s) + the 2 s minimum, ±1.5 s; here the grace
        // is scaled, the minimum is not, and the bound is wider for a loaded
        // machine.
        let lived = Duration::from_nanos((last - first) as u64);
        let expected = Duration::from_secs(grace as u64 + 2);
        assert!(
            lived + Duration::from_millis(1500) >= expected
                && lived <= expected + Duration::from_millis(2500),
            "PreStop-{n} lived {lived:?}, expected about {expected:?}"
        );
        lasts.push(last);
    }
    let spread_ms = (lasts.iter().max().unwrap() - lasts.iter().min().unwrap()) / 1_000_000;
    assert!(
        spread_ms < 1000,
        "the hooks' last lines are {spread_ms} ms apart"
    );
}
