//! `wasi:sockets` 0.2 as the WIT documentation specifies it (and as
//! wasmtime behaves over a Linux loopback), checked from inside a pod by
//! the `sockets` test guest (`guests/sockets`), one scenario per pod. Each
//! scenario prints `key=value` lines: an outcome is `ok`, a value, or the
//! WIT name of an error code (issue 9, item 2).

use std::collections::BTreeMap;

use crate::support::*;

/// Runs `sockets SCENARIO` alone in a pod; what it printed, by key.
async fn scenario(name: &str) -> BTreeMap<String, String> {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: sockets-{name}}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: {name}\n    image: {:?}\n    command: [\"sockets\", {name:?}]\n",
        wasmpod_guests::SOCKETS_PATH
    );
    let run = run_pod(&yaml).await;
    assert_eq!(run.phase(), "Succeeded", "{}", run.dump());
    run.lines(name)
        .iter()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Asserts every `(key, value)` at once, listing all that differ.
fn expect(got: &BTreeMap<String, String>, want: &[(&str, &str)]) {
    let wrong: Vec<String> = want
        .iter()
        .filter(|(k, v)| got.get(*k).map(String::as_str) != Some(*v))
        .map(|(k, v)| format!("{k}: want {v:?}, got {:?}", got.get(*k)))
        .collect();
    assert!(wrong.is_empty(), "{}\nall: {got:#?}", wrong.join("\n"));
}

/// Asserts that `key` reports a failed stream operation whose error is
/// `connection-reset` (WASI `last-operation-failed`).
fn expect_reset(got: &BTreeMap<String, String>, key: &str) {
    let v = got.get(key).map(String::as_str).unwrap_or_default();
    assert!(
        v.starts_with("failed:") && v.contains("reset"),
        "{key}: want a connection reset, got {v:?}\nall: {got:#?}"
    );
}

#[tokio::test]
async fn an_accepted_socket_inherits_the_listeners_options() {
    let got = scenario("inherit").await;
    for family in ["v4", "v6"] {
        let want = [
            ("keep-alive", "true"),
            ("idle-s", "30"),
            ("interval-s", "5"),
            ("count", "4"),
            ("hop-limit", "7"),
            ("receive-buffer", "32768"),
            ("send-buffer", "16384"),
            ("family-kept", "true"),
            ("listening", "false"),
        ]
        .map(|(k, v)| (format!("{family}-{k}"), v));
        let want: Vec<(&str, &str)> = want.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        expect(&got, &want);
    }
}

#[tokio::test]
async fn a_server_writes_to_a_client_that_dropped_its_streams_until_it_drops_the_socket() {
    let got = scenario("drop-streams").await;
    expect(
        &got,
        &[
            // The client holds its socket: the connection is open.
            ("held-first-write", "ok"),
            ("held-second-write", "ok"),
            ("held-read", "empty"),
            // It drops the socket with data unread: a reset, reported once
            // (to the first read or write), then the streams are closed.
            ("reset-read-after", "closed"),
            ("reset-write", "closed"),
            ("reset-write-first-then-write", "closed"),
            ("reset-write-first-then-read", "closed"),
            // It reads everything and drops the socket: a FIN. The server
            // reads to the end; its first write is taken, the next fails.
            ("fin-client-read", "bye"),
            ("fin-server-read", "last words|closed"),
            ("fin-first-write", "ok"),
            ("fin-second-write", "closed"),
        ],
    );
    expect_reset(&got, "reset-read");
    expect_reset(&got, "reset-write-first");
}

#[tokio::test]
async fn bind_refuses_what_the_wit_says_it_refuses() {
    let got = scenario("bind-errors").await;
    expect(
        &got,
        &[
            // Not an address of the pod: address-not-bindable (EADDRNOTAVAIL).
            ("tcp-not-in-pod-v4", "address-not-bindable"),
            ("tcp-not-in-pod-v6", "address-not-bindable"),
            ("udp-not-in-pod-v4", "address-not-bindable"),
            ("udp-not-in-pod-v6", "address-not-bindable"),
            // Wrong family, IPv4-mapped, not unicast: invalid-argument.
            ("tcp-wrong-family", "invalid-argument"),
            ("udp-wrong-family", "invalid-argument"),
            ("tcp-mapped", "invalid-argument"),
            ("tcp-multicast", "invalid-argument"),
            ("tcp-broadcast", "invalid-argument"),
            // All of 127.0.0.0/8 is loopback.
            ("tcp-other-loopback", "ok"),
            ("in-use", "address-in-use"),
            ("in-use-other-family", "ok"),
            ("in-use-other-protocol", "ok"),
            // A failed bind may be retried; a successful one is final.
            ("retry-first", "address-in-use"),
            ("retry-second", "ok"),
            ("rebind", "invalid-state"),
            ("finish-bind-again", "not-in-progress"),
            ("bind-while-binding", "concurrency-conflict"),
            ("listen-while-binding", "concurrency-conflict"),
            ("ephemeral-port", "true"),
        ],
    );
}

#[tokio::test]
async fn the_tcp_state_machine_answers_as_specified() {
    let got = scenario("states").await;
    expect(
        &got,
        &[
            ("unbound-local-address", "invalid-state"),
            ("unbound-remote-address", "invalid-state"),
            ("unbound-listen", "invalid-state"),
            ("unbound-accept", "invalid-state"),
            ("unbound-shutdown", "invalid-state"),
            ("unbound-finish-connect", "not-in-progress"),
            ("unbound-finish-listen", "not-in-progress"),
            ("unbound-finish-bind", "not-in-progress"),
            ("unbound-is-listening", "false"),
            ("connect-port-0", "invalid-argument"),
            ("connect-any", "invalid-argument"),
            ("connect-any-v6", "invalid-argument"),
            ("connect-wrong-family", "invalid-argument"),
            ("connect-multicast", "invalid-argument"),
            ("connect-broadcast", "invalid-argument"),
            ("connect-nobody", "connection-refused"),
            ("closed-connect-again", "invalid-state"),
            ("closed-listen", "invalid-state"),
            ("backlog-0", "invalid-argument"),
            ("backlog-before-listen", "ok"),
            ("listen-while-listening-starts", "concurrency-conflict"),
            ("finish-listen-again", "not-in-progress"),
            ("is-listening", "true"),
            ("listening-accept-nobody", "would-block"),
            ("listening-bind", "invalid-state"),
            ("listening-connect", "invalid-state"),
            ("listening-listen", "invalid-state"),
            ("listening-remote-address", "invalid-state"),
            ("listening-shutdown", "invalid-state"),
            ("listening-local-address", "0.0.0.0:7008"),
            ("backlog-while-listening", "ok"),
            ("connected-local-ip", "127.0.0.1"),
            ("connected-remote", "127.0.0.1:7008"),
            ("accepted-local", "127.0.0.1:7008"),
            ("accepted-remote-is-client", "true"),
            ("connected-listen", "invalid-state"),
            ("connected-connect", "invalid-state"),
            ("connected-bind", "invalid-state"),
            ("connected-finish-connect", "not-in-progress"),
            ("connected-backlog", "invalid-state"),
            ("connected-accept", "invalid-state"),
        ],
    );
}

#[tokio::test]
async fn ipv6_sockets_are_ipv6_only() {
    let got = scenario("ipv6").await;
    expect(
        &got,
        &[
            ("v4-to-v6-listener", "connection-refused"),
            ("v4-listener-same-port", "ok"),
            ("v6-client-local-ip", "::1"),
            ("v6-accepted-local", "[::1]:7010"),
            ("v6-accepted-remote-ip", "::1"),
            ("v6-family-kept", "true"),
            ("v6-data", "over ::1"),
            ("v6-connect-mapped", "invalid-argument"),
            ("v6-bind-mapped", "invalid-argument"),
            ("v6-udp-stream-mapped", "invalid-argument"),
        ],
    );
}

#[tokio::test]
async fn socket_options_refuse_zero_and_read_back_as_on_linux() {
    let got = scenario("options").await;
    expect(
        &got,
        &[
            ("default-keep-alive", "false"),
            ("default-hop-limit", "64"),
            ("set-hop-limit-0", "invalid-argument"),
            ("set-receive-buffer-0", "invalid-argument"),
            ("set-send-buffer-0", "invalid-argument"),
            ("set-idle-0", "invalid-argument"),
            ("set-interval-0", "invalid-argument"),
            ("set-count-0", "invalid-argument"),
            // Whole seconds, at least 1 s, at most 32767 s; count at most 127.
            ("idle-half-second-reads", "1000000000"),
            ("interval-max-reads-s", "32767"),
            ("count-max-reads", "127"),
            ("udp-default-hop-limit", "64"),
            ("udp-set-hop-limit-0", "invalid-argument"),
            ("udp-set-receive-buffer-0", "invalid-argument"),
            ("udp-set-send-buffer-0", "invalid-argument"),
            ("udp-hop-limit", "9"),
        ],
    );
}

#[tokio::test]
async fn shutdown_closes_one_direction_at_a_time() {
    let got = scenario("shutdown").await;
    expect(
        &got,
        &[
            ("send-shutdown-again", "ok"),
            ("after-send-shutdown-write", "closed"),
            ("peer-reads", "request|closed"),
            ("peer-writes", "ok"),
            ("reads-response", "response"),
            ("after-receive-shutdown-read", "closed"),
            ("peer-writes-after-receive-shutdown", "ok"),
            ("both-again", "ok"),
        ],
    );
}

#[tokio::test]
async fn a_udp_socket_bound_to_any_reports_the_loopback_address_once_connected() {
    let got = scenario("udp-connect").await;
    for (family, any, lo, remote) in [
        ("v4", "0.0.0.0", "127.0.0.1", "127.0.0.1:7020"),
        ("v6", "::", "::1", "[::1]:7020"),
    ] {
        let want = [
            ("bound-ip", any),
            ("connected-local-ip", lo),
            ("same-port", "true"),
            ("remote", remote),
            ("send", "sent-1"),
            ("received", "hi"),
            ("from-is-local", "true"),
            ("disconnected-local-ip", any),
            ("disconnected-remote", "invalid-state"),
        ]
        .map(|(k, v)| (format!("{family}-{k}"), v));
        let want: Vec<(&str, &str)> = want.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        expect(&got, &want);
    }
}

#[tokio::test]
async fn udp_refuses_what_the_wit_says_it_refuses() {
    let got = scenario("udp-errors").await;
    expect(
        &got,
        &[
            ("unbound-stream", "invalid-state"),
            ("unbound-local-address", "invalid-state"),
            ("unbound-remote-address", "invalid-state"),
            ("unbound-finish-bind", "not-in-progress"),
            ("bind-while-binding", "concurrency-conflict"),
            ("bind-again", "invalid-state"),
            ("in-use", "address-in-use"),
            ("stream-port-0", "invalid-argument"),
            ("stream-any", "invalid-argument"),
            ("stream-wrong-family", "invalid-argument"),
            ("receive-0", "0"),
            ("send-none", "0"),
            ("unconnected-no-remote", "invalid-argument"),
            ("send-port-0", "invalid-argument"),
            ("send-any", "invalid-argument"),
            ("send-wrong-family", "invalid-argument"),
            ("send-too-large", "datagram-too-large"),
            ("send-largest", "sent-1"),
            // Unconnected, nobody there: sent (and lost), as UDP does.
            ("send-nobody", "sent-1"),
            ("connected-other-remote", "invalid-argument"),
            // Connected, nobody there: the port-unreachable answer to the
            // first send fails the next one (ECONNREFUSED).
            ("connected-same-remote", "sent-1"),
            ("connected-no-remote", "connection-refused"),
        ],
    );
}

#[tokio::test]
async fn a_connect_to_a_full_backlog_waits_for_room() {
    let got = scenario("backlog").await;
    expect(
        &got,
        &[
            // A backlog of 1 holds 2 connections (Linux: backlog + 1).
            ("queued", "2"),
            // Linux drops the SYN; the client retries: would-block, not
            // connection-refused, and connected once the server accepts.
            ("full-finish-connect", "would-block"),
            ("after-accept-connect", "ok"),
            ("third-reads", "late"),
        ],
    );
}
