//! What `wasi:sockets` 0.2 specifies and wasmtime shows over a Linux
//! loopback, host side: closing (FIN or reset) versus dropping the stream
//! views, options inherited by `accept`, a full backlog, the local address
//! of a connected UDP socket, and port-unreachable on connected UDP.

use std::time::Duration;

use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

use super::super::netns::{Family, PodNetwork, Proto};
use super::super::pipe::{PIPE_CAPACITY, ReadOutcome, WriteError};
use super::super::tcp::TcpSocket;
use super::super::udp::UdpSocket;
use super::{addr, listen};

#[tokio::test]
async fn a_guest_connect_waits_while_the_backlog_is_full() {
    use wasmtime_wasi::p2::Pollable;
    let net = PodNetwork::new("web");
    let mut server = listen(&net, "127.0.0.1:80", 1);
    let _queued: Vec<_> = (0..2)
        .map(|_| net.connect(None, addr("127.0.0.1:80")).unwrap())
        .collect();
    let mut c = TcpSocket::new(net.clone(), Family::V4);
    c.start_connect(addr("127.0.0.1:80")).unwrap();
    // Linux drops the SYN and the client retries: would-block, not refused.
    assert_eq!(c.finish_connect().err().unwrap(), ErrorCode::WouldBlock);
    assert_eq!(c.finish_connect().err().unwrap(), ErrorCode::WouldBlock);
    assert!(c.local_address().unwrap().ip().is_loopback());
    let waiting = tokio::time::timeout(Duration::from_millis(50), c.ready()).await;
    assert!(waiting.is_err(), "not ready while the backlog is full");
    let _first = server.accept().unwrap();
    tokio::time::timeout(Duration::from_secs(10), c.ready())
        .await
        .expect("ready once the server accepted one");
    let _streams = c.finish_connect().unwrap();
    assert_eq!(c.finish_connect().err().unwrap(), ErrorCode::NotInProgress);

    // A listener that goes away refuses the waiting connect.
    let mut d = TcpSocket::new(net.clone(), Family::V4);
    d.start_connect(addr("127.0.0.1:80")).unwrap();
    assert_eq!(d.finish_connect().err().unwrap(), ErrorCode::WouldBlock);
    drop(server);
    tokio::time::timeout(Duration::from_secs(10), d.ready())
        .await
        .expect("ready once the listener is gone");
    assert_eq!(
        d.finish_connect().err().unwrap(),
        ErrorCode::ConnectionRefused
    );
}

#[test]
fn closing_a_side_is_eof_for_the_peer_and_writes_to_a_closed_peer_fail() {
    let net = PodNetwork::new("web");
    let mut server = listen(&net, "127.0.0.1:80", 8);
    let (client, _lease) = net.connect(None, addr("127.0.0.1:80")).unwrap();
    let (_sock, s_rx, s_tx) = server.accept().unwrap();
    assert_eq!(client.tx().write(b"hello").unwrap(), 5);
    client.shutdown(false, true);
    assert_eq!(s_rx.pipe().try_read(100), ReadOutcome::Data("hello".into()));
    assert_eq!(s_rx.pipe().try_read(100), ReadOutcome::Eof);
    // The client reads nothing yet, then closes with nothing unread (a
    // FIN): as over loopback, the server's first write is taken (the
    // closed socket answers it with a reset), later ones fail.
    assert_eq!(client.rx().try_read(100), ReadOutcome::WouldBlock);
    drop(client);
    assert_eq!(s_tx.pipe().write(b"late"), Ok(4));
    assert_eq!(s_tx.pipe().write(b"later"), Err(WriteError::Closed));
    assert_eq!(s_tx.pipe().free(), Err(WriteError::Closed), "sticky");
    assert_eq!(s_rx.pipe().try_read(100), ReadOutcome::Eof);
}

#[test]
fn closing_with_data_unread_resets_the_connection() {
    let net = PodNetwork::new("web");
    let mut server = listen(&net, "127.0.0.1:80", 8);
    let (client, _lease) = net.connect(None, addr("127.0.0.1:80")).unwrap();
    let (_sock, s_rx, s_tx) = server.accept().unwrap();
    client.tx().write(b"sent before").unwrap();
    s_tx.pipe().write(b"never read").unwrap();
    drop(client);
    // What was sent before the reset is still read, then the reset, once.
    assert_eq!(
        s_rx.pipe().try_read(100),
        ReadOutcome::Data("sent before".into())
    );
    assert_eq!(s_rx.pipe().try_read(100), ReadOutcome::Reset);
    assert_eq!(s_rx.pipe().try_read(100), ReadOutcome::Eof);
    // The writer sees room until a write finds the reset, already reported
    // (once per endpoint, as Linux's SO_ERROR): `closed` (EPIPE).
    assert_eq!(s_tx.pipe().free(), Ok(PIPE_CAPACITY));
    assert_eq!(s_tx.pipe().write(b"x"), Err(WriteError::Closed));
    assert_eq!(s_tx.pipe().free(), Err(WriteError::Closed));

    // Writing first: the write reports the reset, the read then ends.
    let (client, _lease) = net.connect(None, addr("127.0.0.1:80")).unwrap();
    let (_sock, s_rx, s_tx) = server.accept().unwrap();
    s_tx.pipe().write(b"never read").unwrap();
    drop(client);
    assert_eq!(s_tx.pipe().write(b"x"), Err(WriteError::Reset));
    assert_eq!(s_tx.pipe().write(b"x"), Err(WriteError::Closed));
    assert_eq!(s_rx.pipe().try_read(100), ReadOutcome::Eof);
}

#[test]
fn dropping_the_stream_views_leaves_the_connection_open() {
    let net = PodNetwork::new("web");
    let mut server = listen(&net, "127.0.0.1:80", 8);
    let mut client = TcpSocket::new(net.clone(), Family::V4);
    client.start_connect(addr("127.0.0.1:80")).unwrap();
    let (c_rx, c_tx) = client.finish_connect().unwrap();
    let (_sock, s_rx, s_tx) = server.accept().unwrap();
    drop((c_rx, c_tx));
    // The client still holds its socket: the server writes and reads on.
    assert_eq!(s_tx.pipe().write(b"hello"), Ok(5));
    assert_eq!(s_tx.pipe().write(b"again"), Ok(5));
    assert_eq!(s_rx.pipe().try_read(10), ReadOutcome::WouldBlock);
    // Dropping the socket closes it; "hello again" was never read: a reset.
    drop(client);
    assert_eq!(s_rx.pipe().try_read(10), ReadOutcome::Reset);
    assert_eq!(s_tx.pipe().write(b"x"), Err(WriteError::Closed));
}

#[test]
fn an_accepted_socket_inherits_the_listeners_options() {
    let net = PodNetwork::new("web");
    let mut s = TcpSocket::new(net.clone(), Family::V6);
    s.start_bind(addr("[::]:80")).unwrap();
    s.finish_bind().unwrap();
    s.options.keep_alive = true;
    s.options.set_keep_alive_idle_time(1_500_000_000).unwrap();
    s.options.set_keep_alive_interval(2_000_000_000).unwrap();
    s.options.set_keep_alive_count(1000).unwrap();
    s.options.set_hop_limit(3).unwrap();
    s.options.set_receive_buffer_size(10_000).unwrap();
    s.options.set_send_buffer_size(20_000).unwrap();
    // As Linux keeps them: whole seconds (rounded up), count at most 127.
    assert_eq!(s.options.keep_alive_idle_ns, 2_000_000_000);
    assert_eq!(s.options.keep_alive_count, 127);
    assert_eq!(
        s.options.set_receive_buffer_size(0),
        Err(ErrorCode::InvalidArgument)
    );
    assert_eq!(
        s.options.set_keep_alive_interval(0),
        Err(ErrorCode::InvalidArgument)
    );
    s.start_listen().unwrap();
    s.finish_listen().unwrap();
    let _c = net.connect(None, addr("[::1]:80")).unwrap();
    let (accepted, _r, _w) = s.accept().unwrap();
    assert_eq!(accepted.options, s.options);
    assert_eq!(accepted.family(), Family::V6);
}

#[test]
fn a_udp_socket_bound_to_any_reports_the_loopback_address_once_connected() {
    let net = PodNetwork::new("web");
    for (any, peer, loopback) in [
        ("0.0.0.0:0", "127.0.0.1:53", "127.0.0.1"),
        ("[::]:0", "[::1]:53", "::1"),
    ] {
        let mut s = UdpSocket::new(net.clone(), Family::of(addr(any).ip()));
        s.start_bind(addr(any)).unwrap();
        s.finish_bind().unwrap();
        let bound = s.local_address().unwrap();
        assert!(bound.ip().is_unspecified(), "{bound}");
        let streams = s.stream(Some(addr(peer))).unwrap();
        let local = s.local_address().unwrap();
        assert_eq!(local.ip().to_string(), loopback);
        assert_eq!(local.port(), bound.port());
        // Disconnected again: the address as bound.
        drop(streams);
        let _streams = s.stream(None).unwrap();
        assert_eq!(s.local_address().unwrap(), bound);
        assert_eq!(s.remote_address().unwrap_err(), ErrorCode::InvalidState);
    }
}

#[test]
fn a_client_bound_to_any_connects_from_loopback_and_one_bound_to_a_loopback_from_it() {
    let net = PodNetwork::new("web");
    let mut server = listen(&net, "0.0.0.0:80", 8);
    for (bind, from) in [
        ("0.0.0.0:5000", "127.0.0.1:5000"),
        ("127.0.0.7:5001", "127.0.0.7:5001"),
    ] {
        let mut c = TcpSocket::new(net.clone(), Family::V4);
        c.start_bind(addr(bind)).unwrap();
        c.finish_bind().unwrap();
        c.start_connect(addr("127.0.0.1:80")).unwrap();
        let _streams = c.finish_connect().unwrap();
        assert_eq!(c.local_address().unwrap(), addr(from));
        let (a, _r, _w) = server.accept().unwrap();
        assert_eq!(a.remote_address().unwrap(), addr(from));
        assert_eq!(a.local_address().unwrap(), addr("127.0.0.1:80"));
    }
}

#[test]
fn a_connected_udp_socket_hears_once_that_nobody_is_at_its_peer() {
    let net = PodNetwork::new("web");
    let mut s = UdpSocket::new(net.clone(), Family::V4);
    s.start_bind(addr("127.0.0.1:0")).unwrap();
    s.finish_bind().unwrap();
    // Unconnected: nothing is reported (Linux ignores the ICMP error).
    let (mut s_in, mut s_out) = s.stream(None).unwrap();
    s_out
        .send(b"x".to_vec(), Some(addr("127.0.0.1:9")))
        .unwrap();
    s_out
        .send(b"x".to_vec(), Some(addr("127.0.0.1:9")))
        .unwrap();
    assert!(s_in.receive(1).unwrap().is_empty());
    drop((s_in, s_out));
    // Connected: the next send or receive is refused, once.
    let (mut s_in, mut s_out) = s.stream(Some(addr("127.0.0.1:9"))).unwrap();
    s_out.send(b"x".to_vec(), None).unwrap();
    assert_eq!(
        s_out.send(b"x".to_vec(), None).unwrap_err(),
        ErrorCode::ConnectionRefused
    );
    s_out.send(b"x".to_vec(), None).unwrap();
    assert_eq!(s_in.receive(1).unwrap_err(), ErrorCode::ConnectionRefused);
    assert!(s_in.receive(1).unwrap().is_empty());
    // Somebody there: no error.
    let _peer = net.bind(Proto::Udp, addr("127.0.0.1:9")).unwrap();
    s_out.send(b"x".to_vec(), None).unwrap();
    s_out.send(b"x".to_vec(), None).unwrap();
    assert!(s_in.receive(1).unwrap().is_empty());
}

#[test]
fn ip_literals_resolve_as_wasmtime_reads_them_and_never_as_ipv4_mapped() {
    use super::super::lookup::resolve;
    let ip = |s: &str| vec![s.parse::<std::net::IpAddr>().unwrap()];
    // URL host syntax (wasmtime parses names with `url::Host::parse`).
    for (name, want) in [
        ("127.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("10.0.0.1.", "10.0.0.1"),
        ("0x", "0.0.0.0"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        // The WIT: never an IPv4-mapped IPv6 address.
        ("::ffff:127.0.0.1", "127.0.0.1"),
    ] {
        assert_eq!(resolve("web", name), Ok(ip(want)), "{name}");
    }
    // A name whose last label is a number must be an IPv4 address.
    for bad in ["1.2.3.4.5", "256.0.0.1", "1.2.3.256", "web.1", "web.0x10"] {
        assert_eq!(
            resolve("web", bad),
            Err(ErrorCode::InvalidArgument),
            "{bad}"
        );
    }
}
