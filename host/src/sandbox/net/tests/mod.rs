//! Unit tests of the in-memory pod network: port tables, connections,
//! flow control, close semantics, UDP and the TCP state machine.
//! [`wasi`] holds the behaviours `wasi:sockets` 0.2 and wasmtime over
//! Linux loopback define and the network once got wrong (issue 9).

mod wasi;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

use super::lookup::resolve;
use super::netns::{EPHEMERAL_PORTS, Family, PodNetwork, Proto};
use super::pipe::{PIPE_CAPACITY, Pipe, PipeReader, PipeWriter, ReadOutcome, WriteError};
use super::stream::PodStream;
use super::tcp::TcpSocket;
use super::udp::UdpSocket;

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(super) fn listen(net: &Arc<PodNetwork>, a: &str, backlog: u64) -> TcpSocket {
    let mut s = TcpSocket::new(net.clone(), Family::of(addr(a).ip()));
    s.start_bind(addr(a)).unwrap();
    s.finish_bind().unwrap();
    s.set_listen_backlog_size(backlog).unwrap();
    s.start_listen().unwrap();
    s.finish_listen().unwrap();
    s
}

fn ephemeral(port: u16) -> bool {
    (EPHEMERAL_PORTS.0..=EPHEMERAL_PORTS.1).contains(&port)
}

#[test]
fn every_loopback_and_unspecified_address_is_the_same_port() {
    let net = PodNetwork::new("web");
    let _a = net.bind(Proto::Tcp, addr("127.0.0.1:8080")).unwrap();
    for other in ["0.0.0.0:8080", "127.0.0.1:8080", "127.0.0.2:8080"] {
        assert_eq!(
            net.bind(Proto::Tcp, addr(other)).unwrap_err(),
            ErrorCode::AddressInUse,
            "{other}"
        );
    }
    // IPv6 and UDP have their own tables.
    let _b = net.bind(Proto::Tcp, addr("[::]:8080")).unwrap();
    assert_eq!(
        net.bind(Proto::Tcp, addr("[::1]:8080")).unwrap_err(),
        ErrorCode::AddressInUse
    );
    let _c = net.bind(Proto::Udp, addr("127.0.0.1:8080")).unwrap();
}

#[test]
fn two_pods_are_separate_namespaces() {
    let (a, b) = (PodNetwork::new("a"), PodNetwork::new("b"));
    let _la = listen(&a, "127.0.0.1:8080", 8);
    let _lb = listen(&b, "127.0.0.1:8080", 8);
    assert_eq!(a.bound_ports(Proto::Tcp, Family::V4), [8080]);
    assert_eq!(b.bound_ports(Proto::Tcp, Family::V4), [8080]);
}

#[test]
fn addresses_outside_the_pod_are_not_bindable_nor_reachable_and_malformed_ones_invalid() {
    let net = PodNetwork::new("web");
    // WIT `bind`: an address the network cannot bind is `address-not-bindable`.
    assert_eq!(
        net.bind(Proto::Tcp, addr("10.0.0.1:80")).unwrap_err(),
        ErrorCode::AddressNotBindable
    );
    assert_eq!(
        net.bind(Proto::Udp, addr("[2001:db8::1]:80")).unwrap_err(),
        ErrorCode::AddressNotBindable
    );
    // An IPv6 socket takes no IPv4-mapped or IPv4-compatible address.
    for bad in ["[::ffff:127.0.0.1]:80", "[::127.0.0.1]:80", "[ff02::1]:80"] {
        assert_eq!(
            net.bind(Proto::Tcp, addr(bad)).unwrap_err(),
            ErrorCode::InvalidArgument,
            "{bad}"
        );
    }
    assert_eq!(
        net.connect(None, addr("8.8.8.8:53")).err().unwrap(),
        ErrorCode::AccessDenied
    );
    for bad in [
        "0.0.0.0:80",
        "127.0.0.1:0",
        "224.0.0.1:80",
        "255.255.255.255:80",
        "[::ffff:127.0.0.1]:80",
    ] {
        assert_eq!(
            net.connect(None, addr(bad)).err().unwrap(),
            ErrorCode::InvalidArgument,
            "{bad}"
        );
    }
    // A socket of one family cannot use the other's addresses.
    let mut s = TcpSocket::new(net.clone(), Family::V6);
    assert_eq!(
        s.start_bind(addr("127.0.0.1:80")).unwrap_err(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        s.start_connect(addr("127.0.0.1:80")).unwrap_err(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        s.start_connect(addr("10.1.1.1:80")).unwrap_err(),
        ErrorCode::InvalidArgument
    );
}

#[test]
fn connecting_to_a_port_nobody_listens_on_is_refused() {
    let net = PodNetwork::new("web");
    assert_eq!(
        net.connect(None, addr("127.0.0.1:9")).err().unwrap(),
        ErrorCode::ConnectionRefused
    );
    // Bound but not listening is refused too.
    let _bound = net.bind(Proto::Tcp, addr("127.0.0.1:9")).unwrap();
    assert_eq!(
        net.connect(None, addr("127.0.0.1:9")).err().unwrap(),
        ErrorCode::ConnectionRefused
    );
    // The refused attempt's ephemeral port was given back.
    assert_eq!(net.bound_ports(Proto::Tcp, Family::V4), [9]);

    // Through the socket: the refusal is reported by finish-connect, after
    // which the socket is closed.
    let mut s = TcpSocket::new(net.clone(), Family::V4);
    s.start_connect(addr("127.0.0.1:10")).unwrap();
    assert_eq!(
        s.finish_connect().err().unwrap(),
        ErrorCode::ConnectionRefused
    );
    assert_eq!(
        s.start_connect(addr("127.0.0.1:10")).unwrap_err(),
        ErrorCode::InvalidState
    );
}

#[test]
fn ephemeral_ports_come_from_the_linux_range_and_are_returned() {
    let net = PodNetwork::new("web");
    let a = net.bind(Proto::Tcp, addr("127.0.0.1:0")).unwrap();
    let b = net.bind(Proto::Tcp, addr("0.0.0.0:0")).unwrap();
    assert!(ephemeral(a.addr().port()) && ephemeral(b.addr().port()));
    assert_ne!(a.addr().port(), b.addr().port());
    assert_eq!(
        b.addr().ip().to_string(),
        "0.0.0.0",
        "the address stays as bound"
    );

    let _l = listen(&net, "127.0.0.1:80", 8);
    let mut client = TcpSocket::new(net.clone(), Family::V4);
    client.start_connect(addr("127.0.0.1:80")).unwrap();
    let _streams = client.finish_connect().unwrap();
    let local = client.local_address().unwrap();
    assert!(
        local.ip().is_loopback() && ephemeral(local.port()),
        "{local}"
    );
    assert_eq!(client.remote_address().unwrap(), addr("127.0.0.1:80"));
    assert!(
        net.bound_ports(Proto::Tcp, Family::V4)
            .contains(&local.port())
    );
    drop((a, b));
    drop(_streams);
    drop(client);
    assert_eq!(net.bound_ports(Proto::Tcp, Family::V4), [80]);
}

#[test]
fn the_backlog_bounds_unaccepted_connections() {
    let net = PodNetwork::new("web");
    // As Linux: a backlog of 2 holds 3 connections.
    let mut server = listen(&net, "127.0.0.1:80", 2);
    let c1 = net.connect(None, addr("127.0.0.1:80")).unwrap();
    let c2 = net.connect(None, addr("127.0.0.1:80")).unwrap();
    let _c3 = net.connect(None, addr("127.0.0.1:80")).unwrap();
    // The host side cannot wait: a full backlog refuses it.
    assert_eq!(
        net.connect(None, addr("127.0.0.1:80")).err().unwrap(),
        ErrorCode::ConnectionRefused
    );
    let (accepted, _r, _w) = server.accept().unwrap();
    assert_eq!(accepted.remote_address().unwrap(), c1.0.local);
    assert_eq!(accepted.local_address().unwrap(), addr("127.0.0.1:80"));
    let _c4 = net.connect(None, addr("127.0.0.1:80")).unwrap();
    drop(c2);
    for _ in 0..3 {
        let _ = server.accept().unwrap();
    }
    assert_eq!(server.accept().err().unwrap(), ErrorCode::WouldBlock);
}

#[test]
fn a_closed_listener_frees_its_port_at_once_and_resets_its_backlog() {
    let net = PodNetwork::new("web");
    let server = listen(&net, "127.0.0.1:80", 8);
    let (queued, _lease) = net.connect(None, addr("127.0.0.1:80")).unwrap();
    drop(server);
    // The reset is reported once, to the first read or write.
    assert_eq!(queued.rx().try_read(10), ReadOutcome::Reset);
    assert_eq!(queued.tx().write(b"x"), Err(WriteError::Closed));
    assert_eq!(
        net.connect(None, addr("127.0.0.1:80")).err().unwrap(),
        ErrorCode::ConnectionRefused
    );
    // A restarted server binds the same port right away.
    let _again = listen(&net, "127.0.0.1:80", 8);
    assert!(net.connect(None, addr("127.0.0.1:80")).is_ok());
}

#[test]
fn a_pipe_holds_at_most_its_capacity() {
    let pipe = Pipe::with_capacity(4);
    let (r, w) = (PipeReader::new(pipe.clone()), PipeWriter::new(pipe));
    assert_eq!(w.pipe().write(b"abcdef"), Ok(4));
    assert_eq!(w.pipe().free(), Ok(0));
    assert_eq!(r.pipe().try_read(3), ReadOutcome::Data("abc".into()));
    assert_eq!(r.pipe().try_read(0), ReadOutcome::WouldBlock);
    assert_eq!(w.pipe().free(), Ok(3));
    w.pipe().close_write();
    assert_eq!(w.pipe().free(), Err(WriteError::Closed));
    assert_eq!(
        r.pipe().try_read(0),
        ReadOutcome::WouldBlock,
        "data left: not EOF yet"
    );
    assert_eq!(r.pipe().try_read(9), ReadOutcome::Data("d".into()));
    assert_eq!(r.pipe().try_read(9), ReadOutcome::Eof);
}

#[tokio::test]
async fn a_slow_reader_holds_the_writer_back_until_it_reads() {
    let net = PodNetwork::new("web");
    let mut server = listen(&net, "127.0.0.1:80", 8);
    let mut client = PodStream::connect(&net, 80).unwrap();
    let (_sock, s_rx, _s_tx) = server.accept().unwrap();
    let total = 3 * PIPE_CAPACITY + 123;
    let writer = tokio::spawn(async move {
        client.write_all(&vec![7u8; total]).await.unwrap();
        client.shutdown().await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!writer.is_finished(), "the writer must wait for the reader");
    assert_eq!(s_rx.pipe().buffered(), PIPE_CAPACITY);
    let mut got = 0;
    loop {
        match s_rx.pipe().try_read(10_000) {
            ReadOutcome::Data(d) => got += d.len(),
            ReadOutcome::Eof => break,
            ReadOutcome::WouldBlock => {
                std::future::poll_fn(|cx| s_rx.pipe().poll_read_ready(cx)).await;
            }
            ReadOutcome::Reset => panic!("reset"),
        }
    }
    assert_eq!(got, total);
    writer.await.unwrap();
}

#[tokio::test]
async fn pod_stream_round_trip_and_eof_when_the_server_goes() {
    let net = PodNetwork::new("web");
    assert_eq!(
        PodStream::connect(&net, 8080).unwrap_err().kind(),
        std::io::ErrorKind::ConnectionRefused
    );
    let mut server = listen(&net, "[::1]:8080", 8);
    let mut stream = PodStream::connect(&net, 8080).unwrap();
    assert_eq!(stream.peer_addr(), addr("[::1]:8080"));
    let (sock, s_rx, s_tx) = server.accept().unwrap();
    stream.write_all(b"ping").await.unwrap();
    assert_eq!(s_rx.pipe().try_read(10), ReadOutcome::Data("ping".into()));
    s_tx.pipe().write(b"pong").unwrap();
    // The server's instance ends: its streams and socket are dropped.
    drop((s_rx, s_tx, sock, server));
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    assert_eq!(reply, b"pong");
    // As over loopback: the first write after the peer closed is taken
    // (and answered with a reset), the next one fails.
    stream.write_all(b"more").await.unwrap();
    assert_eq!(
        stream.write_all(b"more").await.unwrap_err().kind(),
        std::io::ErrorKind::BrokenPipe
    );
}

#[test]
fn tcp_socket_state_machine() {
    let net = PodNetwork::new("web");
    let mut s = TcpSocket::new(net.clone(), Family::V4);
    assert_eq!(s.finish_bind().unwrap_err(), ErrorCode::NotInProgress);
    assert_eq!(s.local_address().unwrap_err(), ErrorCode::InvalidState);
    // WASI 0.2: listening needs an explicit bind.
    assert_eq!(s.start_listen().unwrap_err(), ErrorCode::InvalidState);
    s.start_bind(addr("0.0.0.0:7000")).unwrap();
    assert_eq!(
        s.start_listen().unwrap_err(),
        ErrorCode::ConcurrencyConflict
    );
    s.finish_bind().unwrap();
    assert_eq!(
        s.start_bind(addr("0.0.0.0:7001")).unwrap_err(),
        ErrorCode::InvalidState
    );
    assert_eq!(s.local_address().unwrap(), addr("0.0.0.0:7000"));
    assert_eq!(s.accept().err().unwrap(), ErrorCode::InvalidState);
    s.start_listen().unwrap();
    s.finish_listen().unwrap();
    assert!(s.is_listening());
    assert_eq!(s.accept().err().unwrap(), ErrorCode::WouldBlock);
    assert_eq!(
        s.start_connect(addr("127.0.0.1:7000")).unwrap_err(),
        ErrorCode::InvalidState
    );
    assert_eq!(
        s.set_listen_backlog_size(0).unwrap_err(),
        ErrorCode::InvalidArgument
    );
    s.set_listen_backlog_size(1).unwrap();

    // An explicitly bound client connects from its bound port.
    let mut c = TcpSocket::new(net.clone(), Family::V4);
    c.start_bind(addr("127.0.0.1:5555")).unwrap();
    c.finish_bind().unwrap();
    assert_eq!(c.shutdown(true, true).unwrap_err(), ErrorCode::InvalidState);
    c.start_connect(addr("127.0.0.1:7000")).unwrap();
    let (c_rx, c_tx) = c.finish_connect().unwrap();
    assert_eq!(c.finish_connect().err().unwrap(), ErrorCode::NotInProgress);
    assert_eq!(c.local_address().unwrap(), addr("127.0.0.1:5555"));
    let (a, a_rx, _a_tx) = s.accept().unwrap();
    assert_eq!(a.remote_address().unwrap(), addr("127.0.0.1:5555"));
    // Half-close: the client's FIN reaches the server; it still reads.
    c_tx.pipe().write(b"req").unwrap();
    c.shutdown(false, true).unwrap();
    assert_eq!(c_tx.pipe().write(b"x"), Err(WriteError::Closed));
    assert_eq!(a_rx.pipe().try_read(10), ReadOutcome::Data("req".into()));
    assert_eq!(a_rx.pipe().try_read(10), ReadOutcome::Eof);
    assert_eq!(c_rx.pipe().try_read(10), ReadOutcome::WouldBlock);
    c.shutdown(true, false).unwrap();
    assert_eq!(c_rx.pipe().try_read(10), ReadOutcome::Eof);
}

#[test]
fn udp_keeps_datagram_boundaries_and_filters_connected_streams() {
    let net = PodNetwork::new("web");
    let mut rx = UdpSocket::new(net.clone(), Family::V4);
    rx.start_bind(addr("127.0.0.1:5353")).unwrap();
    rx.finish_bind().unwrap();
    let mut tx = UdpSocket::new(net.clone(), Family::V4);
    assert_eq!(tx.stream(None).err().unwrap(), ErrorCode::InvalidState);
    tx.start_bind(addr("0.0.0.0:0")).unwrap();
    tx.finish_bind().unwrap();
    let from = tx.local_address().unwrap().port();
    let (mut rx_in, _rx_out) = rx.stream(None).unwrap();
    let (_tx_in, mut tx_out) = tx.stream(None).unwrap();
    assert_eq!(
        tx_out.send(b"x".to_vec(), None).unwrap_err(),
        ErrorCode::InvalidArgument
    );
    for d in ["one", "", "three"] {
        tx_out.send(d.into(), Some(addr("127.0.0.1:5353"))).unwrap();
    }
    // Nobody on 5354: dropped silently, as UDP does.
    tx_out
        .send(b"lost".to_vec(), Some(addr("127.0.0.1:5354")))
        .unwrap();
    assert_eq!(
        tx_out
            .send(vec![0; 70_000], Some(addr("127.0.0.1:5353")))
            .unwrap_err(),
        ErrorCode::DatagramTooLarge
    );
    let got = rx_in.receive(10).unwrap();
    let data: Vec<&[u8]> = got.iter().map(|d| d.data.as_slice()).collect();
    assert_eq!(data, [&b"one"[..], b"", b"three"]);
    assert!(
        got.iter()
            .all(|d| d.from == SocketAddr::from(([127, 0, 0, 1], from)))
    );

    // A connected stream only sees its peer.
    drop((rx_in, _rx_out));
    let (mut rx_in, _rx_out) = rx.stream(Some(addr("127.0.0.1:9999"))).unwrap();
    tx_out
        .send(b"not from 9999".to_vec(), Some(addr("127.0.0.1:5353")))
        .unwrap();
    assert!(rx_in.receive(10).unwrap().is_empty());
    assert_eq!(rx.remote_address().unwrap(), addr("127.0.0.1:9999"));

    // Dropping the socket frees the port.
    drop((rx_in, _rx_out, rx));
    assert!(net.bind(Proto::Udp, addr("127.0.0.1:5353")).is_ok());
}

#[test]
fn names_resolve_to_loopback_only_for_the_pod_itself() {
    assert_eq!(resolve("web", "localhost").unwrap().len(), 2);
    assert_eq!(resolve("web", "WEB.").unwrap().len(), 2);
    assert_eq!(resolve("web", "db.localhost").unwrap().len(), 2);
    assert_eq!(
        resolve("web", "10.0.0.1").unwrap(),
        ["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(
        resolve("web", "mydb").unwrap_err(),
        ErrorCode::NameUnresolvable
    );
    assert_eq!(
        resolve("web", "example.com").unwrap_err(),
        ErrorCode::NameUnresolvable
    );
    for bad in ["", "a..b", "bad name", "x/y"] {
        assert_eq!(
            resolve("web", bad).unwrap_err(),
            ErrorCode::InvalidArgument,
            "{bad:?}"
        );
    }
}

#[test]
fn a_write_beyond_a_full_pipe_traps_instead_of_buffering() {
    use wasmtime_wasi::p2::{OutputStream, StreamError};
    let pipe = Pipe::with_capacity(8);
    let (r, mut w) = (PipeReader::new(pipe.clone()), PipeWriter::new(pipe));
    assert_eq!(w.check_write().unwrap(), 8);
    w.write("12345678".into()).unwrap();
    assert_eq!(w.check_write().unwrap(), 0);
    // A guest writing without check-write into a full pipe: a trap (as
    // wasmtime-wasi's TCP stream does), never a host-side buffer.
    for _ in 0..1000 {
        match w.write("x".into()) {
            Err(StreamError::Trap(e)) => assert!(e.to_string().contains("check-write"), "{e}"),
            other => panic!("expected a trap, got {other:?}"),
        }
    }
    assert_eq!(r.pipe().buffered(), 8);
    // Room again: an unpermitted write that fits is taken.
    assert_eq!(r.pipe().try_read(3), ReadOutcome::Data("123".into()));
    w.write("abc".into()).unwrap();
    assert_eq!(r.pipe().buffered(), 8);
    // The reading endpoint closed: one more write is taken, then `closed`,
    // not a trap.
    r.pipe().orphan();
    w.write("x".into()).unwrap();
    assert!(matches!(w.write("x".into()), Err(StreamError::Closed)));
}

#[test]
fn empty_datagrams_fill_a_mailbox_too() {
    use super::queue::{DATAGRAM_OVERHEAD, MAILBOX_BYTES};
    let net = PodNetwork::new("web");
    let lease = net.bind(Proto::Udp, addr("127.0.0.1:5353")).unwrap();
    let mailbox = net.mailbox(&lease).unwrap();
    let to = addr("127.0.0.1:5353");
    let from = addr("127.0.0.1:40000");
    let most = MAILBOX_BYTES / DATAGRAM_OVERHEAD;
    for _ in 0..10 * most {
        net.send_datagram(from, to, Vec::new()).unwrap();
    }
    assert_eq!(mailbox.queued(), most, "empty datagrams are bounded");
    assert!(mailbox.charged() <= MAILBOX_BYTES);
    // Full: a datagram with a payload is dropped as well.
    net.send_datagram(from, to, b"late".to_vec()).unwrap();
    assert_eq!(mailbox.queued(), most);
    // Reading makes room again, and the charge goes back to zero.
    let first = mailbox.try_recv().unwrap();
    assert!(first.data.is_empty());
    net.send_datagram(from, to, Vec::new()).unwrap();
    assert_eq!(mailbox.queued(), most);
    while mailbox.try_recv().is_some() {}
    assert_eq!(mailbox.charged(), 0);
    // Large datagrams are bounded by their bytes.
    for _ in 0..100 {
        net.send_datagram(from, to, vec![1; 60_000]).unwrap();
    }
    assert_eq!(
        mailbox.queued(),
        MAILBOX_BYTES / (60_000 + DATAGRAM_OVERHEAD)
    );
}
