//! TCP scenarios (ports 7001–7019).
//!
//! * `inherit`: an accepted socket inherits the listener's options;
//! * `drop-streams`: a server writes to a client that dropped its streams
//!   but holds its socket, then to one that closed (reset, FIN);
//! * `bind-errors`: what `start-bind` refuses and why;
//! * `states`: the state machine's `invalid-state`, `not-in-progress`,
//!   `concurrency-conflict` and `invalid-argument` answers;
//! * `ipv6`: IPv6-only sockets, `::1`, IPv4-mapped addresses;
//! * `options`: option values (0 refused, rounding, defaults);
//! * `shutdown`: half-closes in each direction;
//! * `backlog`: a connect to a full backlog waits instead of failing.

use wasip2::sockets::network::IpAddressFamily::{Ipv4, Ipv6};
use wasip2::sockets::tcp::ShutdownType;

use crate::util::*;

/// Runs `scenario` if it is one of this module's.
pub fn run(scenario: &str) -> bool {
    match scenario {
        "inherit" => inherit(),
        "drop-streams" => drop_streams(),
        "bind-errors" => bind_errors(),
        "states" => states(),
        "ipv6" => ipv6(),
        "options" => options(),
        "shutdown" => shutdown(),
        "backlog" => backlog(),
        _ => return false,
    }
    true
}

const SEC: u64 = 1_000_000_000;

fn inherit() {
    for (name, family, at) in [("v4", Ipv4, v4(LOOP4, 7001)), ("v6", Ipv6, v6(LOOP6, 7001))] {
        let l = tcp(family);
        bind(&l, at).unwrap();
        l.set_keep_alive_enabled(true).unwrap();
        l.set_keep_alive_idle_time(30 * SEC).unwrap();
        l.set_keep_alive_interval(5 * SEC).unwrap();
        l.set_keep_alive_count(4).unwrap();
        l.set_hop_limit(7).unwrap();
        l.set_receive_buffer_size(32768).unwrap();
        l.set_send_buffer_size(16384).unwrap();
        listen(&l).unwrap();
        let (_client, server) = pair(family, &l, at);
        let a = &server.sock;
        say(
            &format!("{name}-keep-alive"),
            a.keep_alive_enabled().unwrap(),
        );
        say(
            &format!("{name}-idle-s"),
            a.keep_alive_idle_time().unwrap() / SEC,
        );
        say(
            &format!("{name}-interval-s"),
            a.keep_alive_interval().unwrap() / SEC,
        );
        say(&format!("{name}-count"), a.keep_alive_count().unwrap());
        say(&format!("{name}-hop-limit"), a.hop_limit().unwrap());
        say(
            &format!("{name}-receive-buffer"),
            a.receive_buffer_size().unwrap(),
        );
        say(
            &format!("{name}-send-buffer"),
            a.send_buffer_size().unwrap(),
        );
        say(&format!("{name}-family-kept"), a.address_family() == family);
        say(&format!("{name}-listening"), a.is_listening());
    }
}

fn drop_streams() {
    let at = v4(LOOP4, 7002);
    let l = listener(Ipv4, at);

    // The client drops its streams and keeps its socket.
    let c = client(Ipv4, at);
    let held = c.sock;
    drop((c.rx, c.tx));
    let s = accept(&l);
    say("held-first-write", write(&s.tx, "hello"));
    say("held-second-write", write(&s.tx, "again"));
    say("held-read", peek(&s.rx));

    // It drops the socket, "helloagain" unread: a reset, reported once.
    drop(held);
    say("reset-read", read_n(&s.rx, 1).1);
    say("reset-read-after", peek(&s.rx));
    say("reset-write", write(&s.tx, "x"));
    drop(s);

    // The same, writing first.
    let c = client(Ipv4, at);
    let s = accept(&l);
    write(&s.tx, "unread");
    drop(c);
    say("reset-write-first", write(&s.tx, "x"));
    say("reset-write-first-then-write", write(&s.tx, "x"));
    say("reset-write-first-then-read", peek(&s.rx));
    drop(s);

    // The client reads everything, then closes: a FIN.
    let c = client(Ipv4, at);
    let s = accept(&l);
    write(&s.tx, "bye");
    write(&c.tx, "last words");
    say("fin-client-read", read_n(&c.rx, 3).0);
    drop(c);
    let (text, end) = read_n(&s.rx, 100);
    say("fin-server-read", format!("{text}|{end}"));
    say("fin-first-write", write(&s.tx, "x"));
    say("fin-second-write", write(&s.tx, "x"));
}

fn bind_errors() {
    let bind_tcp = |family, addr| outcome(bind(&tcp(family), addr));
    say("tcp-not-in-pod-v4", bind_tcp(Ipv4, v4([10, 1, 2, 3], 7003)));
    say(
        "tcp-not-in-pod-v6",
        bind_tcp(Ipv6, v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 7003)),
    );
    say("tcp-wrong-family", bind_tcp(Ipv4, v6(LOOP6, 7003)));
    say("tcp-mapped", bind_tcp(Ipv6, v6(MAPPED6, 7003)));
    say("tcp-multicast", bind_tcp(Ipv4, v4([224, 0, 0, 1], 7003)));
    say(
        "tcp-broadcast",
        bind_tcp(Ipv4, v4([255, 255, 255, 255], 7003)),
    );
    say(
        "tcp-other-loopback",
        bind_tcp(Ipv4, v4([127, 0, 0, 9], 7004)),
    );
    let bind_udp = |family, addr| {
        let s = udp(family);
        outcome(s.start_bind(&net(), addr).and_then(|()| s.finish_bind()))
    };
    say(
        "udp-not-in-pod-v4",
        bind_udp(Ipv4, v4([192, 168, 1, 1], 7003)),
    );
    say(
        "udp-not-in-pod-v6",
        bind_udp(Ipv6, v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2], 7003)),
    );
    say("udp-wrong-family", bind_udp(Ipv6, v4(LOOP4, 7003)));

    // In use: by a listener, on any address of the family.
    let _l = listener(Ipv4, v4(LOOP4, 7005));
    say("in-use", bind_tcp(Ipv4, v4(ANY4, 7005)));
    say("in-use-other-family", bind_tcp(Ipv6, v6(LOOP6, 7005)));
    say("in-use-other-protocol", bind_udp(Ipv4, v4(LOOP4, 7005)));

    // A failed bind may be retried; a successful one is final.
    let s = tcp(Ipv4);
    say("retry-first", outcome(bind(&s, v4(LOOP4, 7005))));
    say("retry-second", outcome(bind(&s, v4(LOOP4, 7006))));
    say("rebind", outcome(bind(&s, v4(LOOP4, 7007))));
    say("finish-bind-again", outcome(s.finish_bind()));
    let t = tcp(Ipv4);
    t.start_bind(&net(), v4(LOOP4, 0)).unwrap();
    say(
        "bind-while-binding",
        outcome(t.start_bind(&net(), v4(LOOP4, 0))),
    );
    say("listen-while-binding", outcome(t.start_listen()));
    t.finish_bind().unwrap();
    let local = t.local_address().unwrap();
    say("ephemeral-port", (32768..=60999).contains(&port(&local)));
}

fn states() {
    let at = v4(LOOP4, 7008);
    let s = tcp(Ipv4);
    say("unbound-local-address", outcome(s.local_address()));
    say("unbound-remote-address", outcome(s.remote_address()));
    say("unbound-listen", outcome(s.start_listen()));
    say("unbound-accept", outcome(s.accept().map(drop)));
    say("unbound-shutdown", outcome(s.shutdown(ShutdownType::Both)));
    say(
        "unbound-finish-connect",
        outcome(s.finish_connect().map(drop)),
    );
    say("unbound-finish-listen", outcome(s.finish_listen()));
    say("unbound-finish-bind", outcome(s.finish_bind()));
    say("unbound-is-listening", s.is_listening());

    // Addresses connect refuses before trying.
    let refused = |addr| outcome(tcp(Ipv4).start_connect(&net(), addr));
    say("connect-port-0", refused(v4(LOOP4, 0)));
    say("connect-any", refused(v4(ANY4, 7008)));
    say("connect-wrong-family", refused(v6(LOOP6, 7008)));
    say("connect-multicast", refused(v4([224, 0, 0, 1], 7008)));
    say("connect-broadcast", refused(v4([255, 255, 255, 255], 7008)));
    say(
        "connect-any-v6",
        outcome(tcp(Ipv6).start_connect(&net(), v6(ANY6, 7008))),
    );

    // Nobody listens: refused, then the socket is closed.
    let c = tcp(Ipv4);
    say("connect-nobody", outcome(connect(&c, at).map(drop)));
    say("closed-connect-again", outcome(c.start_connect(&net(), at)));
    say("closed-listen", outcome(c.start_listen()));

    // Listening.
    let l = tcp(Ipv4);
    bind(&l, v4(ANY4, 7008)).unwrap();
    say("backlog-0", outcome(l.set_listen_backlog_size(0)));
    say(
        "backlog-before-listen",
        outcome(l.set_listen_backlog_size(1)),
    );
    l.start_listen().unwrap();
    say("listen-while-listening-starts", outcome(l.start_listen()));
    l.finish_listen().unwrap();
    say("finish-listen-again", outcome(l.finish_listen()));
    say("is-listening", l.is_listening());
    say("listening-accept-nobody", outcome(l.accept().map(drop)));
    say(
        "listening-bind",
        outcome(l.start_bind(&net(), v4(LOOP4, 7009))),
    );
    say("listening-connect", outcome(l.start_connect(&net(), at)));
    say("listening-listen", outcome(l.start_listen()));
    say("listening-remote-address", outcome(l.remote_address()));
    say(
        "listening-shutdown",
        outcome(l.shutdown(ShutdownType::Both)),
    );
    say("listening-local-address", show(&l.local_address().unwrap()));
    say(
        "backlog-while-listening",
        outcome(l.set_listen_backlog_size(64)),
    );

    // Connected (the listener is on 0.0.0.0, the client dials 127.0.0.1).
    let (c, a) = pair(Ipv4, &l, at);
    say("connected-local-ip", ip(&c.sock.local_address().unwrap()));
    say("connected-remote", show(&c.sock.remote_address().unwrap()));
    say("accepted-local", show(&a.sock.local_address().unwrap()));
    say(
        "accepted-remote-is-client",
        show(&a.sock.remote_address().unwrap()) == show(&c.sock.local_address().unwrap()),
    );
    say("connected-listen", outcome(c.sock.start_listen()));
    say(
        "connected-connect",
        outcome(c.sock.start_connect(&net(), at)),
    );
    say(
        "connected-bind",
        outcome(c.sock.start_bind(&net(), v4(LOOP4, 0))),
    );
    say(
        "connected-finish-connect",
        outcome(c.sock.finish_connect().map(drop)),
    );
    say(
        "connected-backlog",
        outcome(c.sock.set_listen_backlog_size(8)),
    );
    say("connected-accept", outcome(c.sock.accept().map(drop)));
}

fn ipv6() {
    let at6 = v6(LOOP6, 7010);
    let l6 = listener(Ipv6, v6(ANY6, 7010));
    // IPv6-only: an IPv4 client does not reach the IPv6 listener...
    say(
        "v4-to-v6-listener",
        outcome(connect(&tcp(Ipv4), v4(LOOP4, 7010)).map(drop)),
    );
    // ...and an IPv4 listener may share the port.
    let _l4 = listener(Ipv4, v4(ANY4, 7010));
    say("v4-listener-same-port", "ok");
    let (c, a) = pair(Ipv6, &l6, at6);
    say("v6-client-local-ip", ip(&c.sock.local_address().unwrap()));
    say("v6-accepted-local", show(&a.sock.local_address().unwrap()));
    say(
        "v6-accepted-remote-ip",
        ip(&a.sock.remote_address().unwrap()),
    );
    say("v6-family-kept", a.sock.address_family() == Ipv6);
    write(&c.tx, "over ::1");
    say("v6-data", read_n(&a.rx, 8).0);
    // IPv4-mapped addresses are not for IPv6 sockets.
    say(
        "v6-connect-mapped",
        outcome(tcp(Ipv6).start_connect(&net(), v6(MAPPED6, 7010))),
    );
    say("v6-bind-mapped", outcome(bind(&tcp(Ipv6), v6(MAPPED6, 0))));
    let u = udp(Ipv6);
    u.start_bind(&net(), v6(ANY6, 0)).unwrap();
    u.finish_bind().unwrap();
    say(
        "v6-udp-stream-mapped",
        outcome(u.stream(Some(v6(MAPPED6, 7010))).map(drop)),
    );
}

fn options() {
    let s = tcp(Ipv4);
    say("default-keep-alive", s.keep_alive_enabled().unwrap());
    say("default-hop-limit", s.hop_limit().unwrap());
    say("set-hop-limit-0", outcome(s.set_hop_limit(0)));
    say(
        "set-receive-buffer-0",
        outcome(s.set_receive_buffer_size(0)),
    );
    say("set-send-buffer-0", outcome(s.set_send_buffer_size(0)));
    say("set-idle-0", outcome(s.set_keep_alive_idle_time(0)));
    say("set-interval-0", outcome(s.set_keep_alive_interval(0)));
    say("set-count-0", outcome(s.set_keep_alive_count(0)));
    s.set_keep_alive_idle_time(SEC / 2).unwrap();
    say("idle-half-second-reads", s.keep_alive_idle_time().unwrap());
    s.set_keep_alive_interval(u64::MAX).unwrap();
    say(
        "interval-max-reads-s",
        s.keep_alive_interval().unwrap() / SEC,
    );
    s.set_keep_alive_count(u32::MAX).unwrap();
    say("count-max-reads", s.keep_alive_count().unwrap());
    let u = udp(Ipv4);
    say("udp-default-hop-limit", u.unicast_hop_limit().unwrap());
    say("udp-set-hop-limit-0", outcome(u.set_unicast_hop_limit(0)));
    say(
        "udp-set-receive-buffer-0",
        outcome(u.set_receive_buffer_size(0)),
    );
    say("udp-set-send-buffer-0", outcome(u.set_send_buffer_size(0)));
    u.set_unicast_hop_limit(9).unwrap();
    say("udp-hop-limit", u.unicast_hop_limit().unwrap());
}

fn shutdown() {
    let at = v4(LOOP4, 7011);
    let l = listener(Ipv4, at);
    let (c, a) = pair(Ipv4, &l, at);
    // Send: a FIN after what was written; the other direction stays open.
    write(&c.tx, "request");
    c.sock.shutdown(ShutdownType::Send).unwrap();
    say(
        "send-shutdown-again",
        outcome(c.sock.shutdown(ShutdownType::Send)),
    );
    say("after-send-shutdown-write", write(&c.tx, "more"));
    let (text, end) = read_n(&a.rx, 100);
    say("peer-reads", format!("{text}|{end}"));
    say("peer-writes", write(&a.tx, "response"));
    say("reads-response", read_n(&c.rx, 8).0);
    // Receive: reading ends at once; the peer may still write.
    write(&a.tx, "discarded");
    c.sock.shutdown(ShutdownType::Receive).unwrap();
    say("after-receive-shutdown-read", peek(&c.rx));
    say(
        "peer-writes-after-receive-shutdown",
        write(&a.tx, "ignored"),
    );
    say("both-again", outcome(c.sock.shutdown(ShutdownType::Both)));
}

fn backlog() {
    let at = v4(LOOP4, 7012);
    let l = tcp(Ipv4);
    bind(&l, at).unwrap();
    l.set_listen_backlog_size(1).unwrap();
    listen(&l).unwrap();
    // Linux queues backlog + 1 connections.
    let queued: Vec<Conn> = (0..2).map(|_| client(Ipv4, at)).collect();
    say("queued", queued.len());
    // The next one is not refused: it waits until the server accepts.
    let c = tcp(Ipv4);
    c.start_connect(&net(), at).unwrap();
    say("full-finish-connect", outcome(c.finish_connect().map(drop)));
    let first = accept(&l);
    let waited = loop {
        match c.finish_connect() {
            Err(wasip2::sockets::network::ErrorCode::WouldBlock) => c.subscribe().block(),
            r => break r,
        }
    };
    say(
        "after-accept-connect",
        outcome(waited.as_ref().map(drop).map_err(Clone::clone)),
    );
    let (rx, tx) = waited.unwrap();
    write(&tx, "late");
    let rest: Vec<Conn> = (0..2).map(|_| accept(&l)).collect();
    say("third-reads", read_n(&rest[1].rx, 4).0);
    drop((rx, tx, first, rest, queued));
}
