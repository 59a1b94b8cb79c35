//! Connection-level tests, driving [`Connection`] in memory with the
//! [`testing`](super::testing) client and a service that echoes bodies.

use super::testing::{Client, OwnedFrame, Reply, data, parse_frames, preface};
use super::*;
use crate::frame::{PADDED, PRIORITY_FLAG};

/// The `CANCEL` error code, which only clients send.
const CANCEL: u32 = 0x8;

/// Answers every request with its body and records what it saw.
#[derive(Default)]
struct Echo {
    calls: Vec<(String, String, String, Option<Vec<u8>>)>,
}

impl Service for Echo {
    fn call(&mut self, r: &Request<'_>) -> Response {
        self.calls.push((
            r.method.into(),
            r.path.into(),
            r.content_type.into(),
            r.body.map(<[u8]>::to_vec),
        ));
        Response {
            status: 200,
            headers: vec![("content-type", "text/plain".into())],
            body: r.body.map_or(b"too large".to_vec(), <[u8]>::to_vec),
            trailers: vec![("x-done", "yes".into())],
        }
    }
}

/// A connection past the handshake, its output drained.
fn open() -> (Connection, Echo, Client) {
    let mut conn = Connection::new();
    let mut echo = Echo::default();
    conn.receive(&preface(), &mut echo);
    let frames = parse_frames(&conn.take_output());
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[1].kind, frame::SETTINGS);
    assert_eq!(frames[1].flags, ACK);
    (conn, echo, Client::new())
}

fn feed(conn: &mut Connection, echo: &mut Echo, bytes: &[u8]) -> Vec<OwnedFrame> {
    conn.receive(bytes, echo);
    parse_frames(&conn.take_output())
}

fn goaway_code(frames: &[OwnedFrame]) -> Option<u32> {
    frames
        .iter()
        .find(|f| f.kind == frame::GOAWAY)
        .map(|f| frame::be_u32(&f.payload[4..]))
}

fn post(stream: u32) -> Vec<(&'static str, &'static str)> {
    vec![
        (":method", "POST"),
        (":scheme", "http"),
        (":path", if stream == 1 { "/one" } else { "/other" }),
        ("content-type", "application/grpc"),
    ]
}

fn assert_echoed(reply: &Reply, body: &[u8]) {
    assert_eq!(reply.field(":status"), Some("200"));
    assert_eq!(reply.field("content-type"), Some("text/plain"));
    assert_eq!(reply.data, body);
    assert_eq!(reply.field("x-done"), Some("yes"));
    assert!(reply.trailers.is_some() && reply.ended && reply.reset.is_none());
}

#[test]
fn server_settings_come_first() {
    let mut conn = Connection::new();
    let frames = parse_frames(&conn.take_output());
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].kind, frames[0].flags, frames[0].stream),
        (frame::SETTINGS, 0, 0)
    );
    let settings = frame::settings(&frames[0].payload).unwrap();
    assert!(settings.contains(&(frame::SETTINGS_MAX_CONCURRENT_STREAMS, 100)));
    assert!(!conn.is_idle() && !conn.is_closed());
}

#[test]
fn preface_is_checked() {
    let mut conn = Connection::new();
    let mut echo = Echo::default();
    conn.take_output();
    conn.receive(&frame::PREFACE[..10], &mut echo);
    assert!(conn.take_output().is_empty() && !conn.is_closed());
    conn.receive(b"GET / HTTP/1.1\r\n\r\n", &mut echo);
    assert_eq!(goaway_code(&parse_frames(&conn.take_output())), Some(1));
    assert!(conn.is_closed());

    // The first frame after the preface must be SETTINGS.
    let mut conn = Connection::new();
    let mut bytes = frame::PREFACE.to_vec();
    frame::write(&mut bytes, frame::PING, 0, 0, &[0; 8]);
    conn.receive(&bytes, &mut echo);
    assert_eq!(goaway_code(&parse_frames(&conn.take_output())), Some(1));
}

#[test]
fn settings_and_ping_are_acknowledged() {
    let (mut conn, mut echo, _) = open();
    assert!(conn.is_idle());
    let mut bytes = Vec::new();
    frame::write_settings(
        &mut bytes,
        &[(frame::SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20)],
    );
    frame::write(&mut bytes, frame::SETTINGS, ACK, 0, &[]);
    frame::write(&mut bytes, frame::PING, 0, 0, b"12345678");
    frame::write(&mut bytes, frame::PING, ACK, 0, b"87654321");
    frame::write(&mut bytes, 0xfa, 0, 0, b"unknown extension frame");
    frame::write(&mut bytes, frame::PRIORITY, 0, 9, &[0, 0, 0, 0, 16]);
    let frames = feed(&mut conn, &mut echo, &bytes);
    let summary: Vec<_> = frames
        .iter()
        .map(|f| (f.kind, f.flags, f.payload.as_slice()))
        .collect();
    assert_eq!(
        summary,
        [
            (frame::SETTINGS, ACK, &b""[..]),
            (frame::PING, ACK, &b"12345678"[..])
        ]
    );
    assert!(!conn.is_closed() && conn.is_idle());
}

#[test]
fn a_request_gets_headers_data_and_trailers() {
    let (mut conn, mut echo, mut client) = open();
    let mut bytes = client.headers(1, &post(1), false);
    bytes.extend(data(1, b"hello", true));
    let frames = feed(&mut conn, &mut echo, &bytes);
    // The DATA is credited back on the connection (not on the closed stream).
    assert_eq!(frames[0].kind, frame::WINDOW_UPDATE);
    assert_eq!(
        (frames[0].stream, frame::be_u32(&frames[0].payload)),
        (0, 5)
    );
    let kinds: Vec<_> = frames[1..].iter().map(|f| (f.kind, f.flags)).collect();
    assert_eq!(
        kinds,
        [
            (frame::HEADERS, END_HEADERS),
            (frame::DATA, 0),
            (frame::HEADERS, END_HEADERS | END_STREAM)
        ]
    );
    assert_echoed(&client.replies(&frames)[&1], b"hello");
    let call = &echo.calls[0];
    assert_eq!(
        (call.0.as_str(), call.1.as_str(), call.2.as_str()),
        ("POST", "/one", "application/grpc")
    );
    assert!(conn.is_idle());

    // HPACK state carries over: the second request reuses table entries.
    let frames = feed(&mut conn, &mut echo, &client.call(3, "/other", b"again"));
    assert_echoed(&client.replies(&frames)[&3], b"again");
}

#[test]
fn input_may_arrive_a_byte_at_a_time() {
    let mut conn = Connection::new();
    let mut echo = Echo::default();
    let mut client = Client::new();
    let mut bytes = preface();
    bytes.extend(client.call(1, "/one", b"slow"));
    let mut out = conn.take_output();
    for b in bytes {
        conn.receive(&[b], &mut echo);
        out.extend(conn.take_output());
    }
    let frames = parse_frames(&out);
    assert_echoed(&client.replies(&frames)[&1], b"slow");
}

#[test]
fn padding_priority_and_continuation() {
    let (mut conn, mut echo, mut client) = open();
    let block = client.block(&post(1));
    let (first, rest) = block.split_at(3);
    let (middle, last) = rest.split_at(2);
    // HEADERS: padded, with priority fields, first part of the block.
    let mut payload = vec![4, 0, 0, 0, 0, 200];
    payload.extend_from_slice(first);
    payload.extend_from_slice(&[0; 4]);
    let mut bytes = Vec::new();
    frame::write(
        &mut bytes,
        frame::HEADERS,
        PADDED | PRIORITY_FLAG,
        1,
        &payload,
    );
    frame::write(&mut bytes, frame::CONTINUATION, 0, 1, middle);
    frame::write(&mut bytes, frame::CONTINUATION, END_HEADERS, 1, last);
    // Padded DATA: the padding counts for flow control.
    frame::write(&mut bytes, frame::DATA, PADDED, 1, b"\x03abcPPP");
    frame::write(&mut bytes, frame::DATA, PADDED | END_STREAM, 1, b"\x00de");
    let frames = feed(&mut conn, &mut echo, &bytes);
    let updates: Vec<_> = frames
        .iter()
        .filter(|f| f.kind == frame::WINDOW_UPDATE)
        .map(|f| (f.stream, frame::be_u32(&f.payload)))
        .collect();
    assert_eq!(updates, [(0, 7), (1, 7), (0, 3)]);
    assert_echoed(&client.replies(&frames)[&1], b"abcde");
}

#[test]
fn continuation_must_follow_directly() {
    let (mut conn, mut echo, mut client) = open();
    let block = client.block(&post(1));
    let mut bytes = Vec::new();
    frame::write(&mut bytes, frame::HEADERS, 0, 1, &block[..2]);
    frame::write(&mut bytes, frame::PING, 0, 0, &[0; 8]);
    assert_eq!(goaway_code(&feed(&mut conn, &mut echo, &bytes)), Some(1));
    assert!(conn.is_closed());
}

#[test]
fn streams_are_answered_as_they_end() {
    let (mut conn, mut echo, mut client) = open();
    let mut bytes = client.headers(1, &post(1), false);
    bytes.extend(client.headers(3, &post(3), false));
    bytes.extend(data(3, b"three", true));
    let frames = feed(&mut conn, &mut echo, &bytes);
    let replies = client.replies(&frames);
    assert_eq!(replies.keys().copied().collect::<Vec<_>>(), [3]);
    assert_echoed(&replies[&3], b"three");
    assert!(!conn.is_idle());
    // Stream 1 ends with trailers of its own instead of a DATA frame.
    let mut bytes = data(1, b"one", false);
    bytes.extend(client.headers(1, &[("x-client-trailer", "1")], true));
    let frames = feed(&mut conn, &mut echo, &bytes);
    assert_echoed(&client.replies(&frames)[&1], b"one");
    assert_eq!(echo.calls.len(), 2);
    assert!(conn.is_idle());
}

#[test]
fn rst_stream_drops_a_stream() {
    let (mut conn, mut echo, mut client) = open();
    let mut bytes = client.headers(1, &post(1), false);
    frame::write(&mut bytes, frame::RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
    bytes.extend(data(1, b"late", true));
    let frames = feed(&mut conn, &mut echo, &bytes);
    // Only the connection window is credited; nothing is answered.
    assert!(
        frames
            .iter()
            .all(|f| f.kind == frame::WINDOW_UPDATE && f.stream == 0)
    );
    assert!(echo.calls.is_empty() && conn.is_idle() && !conn.is_closed());
}

#[test]
fn goaway_and_eof_end_the_connection() {
    let (mut conn, mut echo, _) = open();
    let mut bytes = Vec::new();
    frame::write_goaway(&mut bytes, 0, ErrorCode::NoError);
    frame::write(&mut bytes, frame::PING, 0, 0, &[0; 8]);
    assert!(feed(&mut conn, &mut echo, &bytes).is_empty());
    assert!(conn.is_closed());
    let (mut conn, _, _) = open();
    conn.eof();
    assert!(conn.is_closed());
    conn.go_away(ErrorCode::NoError);
    assert!(conn.take_output().is_empty());
}

#[test]
fn oversized_frames_end_the_connection() {
    let (mut conn, mut echo, mut client) = open();
    let mut bytes = client.headers(1, &post(1), false);
    bytes.extend(data(1, &[0; frame::DEFAULT_MAX_FRAME_SIZE + 1], true));
    let frames = feed(&mut conn, &mut echo, &bytes);
    assert_eq!(goaway_code(&frames), Some(6));
    let goaway = frames.iter().find(|f| f.kind == frame::GOAWAY).unwrap();
    assert_eq!(frame::be_u32(&goaway.payload), 1, "last stream id");
    assert!(conn.is_closed() && echo.calls.is_empty());
}

#[test]
fn oversized_bodies_are_answered_early() {
    let (mut conn, mut echo, mut client) = open();
    let mut bytes = client.headers(1, &post(1), false);
    let chunk = [7; frame::DEFAULT_MAX_FRAME_SIZE];
    for _ in 0..MAX_BODY / chunk.len() {
        bytes.extend(data(1, &chunk, false));
    }
    let frames = feed(&mut conn, &mut echo, &bytes);
    assert!(
        client.replies(&frames).is_empty(),
        "exactly the limit is fine"
    );
    let frames = feed(&mut conn, &mut echo, &data(1, b"x", false));
    let reply = &client.replies(&frames)[&1];
    assert_echoed(
        &Reply {
            reset: None,
            ..reply.clone()
        },
        b"too large",
    );
    assert_eq!(
        reply.reset,
        Some(0),
        "RST_STREAM(NO_ERROR) stops the upload"
    );
    assert_eq!(echo.calls[0].3, None);
    // Whatever the client had in flight is discarded.
    let frames = feed(&mut conn, &mut echo, &data(1, b"more", true));
    assert_eq!(frames.len(), 1);
    assert_eq!(
        (frames[0].kind, frames[0].stream),
        (frame::WINDOW_UPDATE, 0)
    );
    assert_eq!(echo.calls.len(), 1);
}

#[test]
fn sending_respects_the_clients_windows() {
    let (mut conn, mut echo, mut client) = open();
    let mut bytes = Vec::new();
    frame::write_settings(&mut bytes, &[(frame::SETTINGS_INITIAL_WINDOW_SIZE, 0)]);
    bytes.extend(client.call(1, "/one", b"0123456789"));
    let mut frames = feed(&mut conn, &mut echo, &bytes);
    let reply = client.replies(&frames)[&1].clone();
    assert!(
        reply.data.is_empty() && !reply.ended,
        "only HEADERS fit: {frames:?}"
    );
    assert!(!conn.is_idle());
    // Four bytes of stream window: four bytes of DATA.
    let mut update = Vec::new();
    frame::write_window_update(&mut update, 1, 4);
    let more = feed(&mut conn, &mut echo, &update);
    assert_eq!(more.len(), 1);
    assert_eq!(
        (more[0].kind, more[0].payload.as_slice()),
        (frame::DATA, &b"0123"[..])
    );
    frames.extend(more);
    // Raising the initial window releases the rest, then the trailers.
    let mut settings = Vec::new();
    frame::write_settings(&mut settings, &[(frame::SETTINGS_INITIAL_WINDOW_SIZE, 100)]);
    frames.extend(feed(&mut conn, &mut echo, &settings));
    let mut client2 = Client::new();
    assert_echoed(&client2.replies(&frames)[&1], b"0123456789");
    assert!(conn.is_idle());
}

#[test]
fn window_overflow_is_a_flow_control_error() {
    let (mut conn, mut echo, _) = open();
    let mut bytes = Vec::new();
    frame::write_window_update(&mut bytes, 0, 0x7fff_ffff);
    assert_eq!(goaway_code(&feed(&mut conn, &mut echo, &bytes)), Some(3));
}

#[test]
fn encoder_follows_the_clients_table_size() {
    let (mut conn, mut echo, mut client) = open();
    let mut bytes = Vec::new();
    frame::write_settings(&mut bytes, &[(frame::SETTINGS_HEADER_TABLE_SIZE, 100)]);
    frame::write_settings(&mut bytes, &[(frame::SETTINGS_HEADER_TABLE_SIZE, 0)]);
    bytes.extend(client.call(1, "/one", b"a"));
    let frames = feed(&mut conn, &mut echo, &bytes);
    let headers = frames.iter().find(|f| f.kind == frame::HEADERS).unwrap();
    // Dynamic table size update to 0 (0x20) opens the block.
    assert_eq!(headers.payload[0], 0x20);
    client.decoder.set_max_allowed_table_size(0);
    assert_echoed(&client.replies(&frames)[&1], b"a");
    let frames = feed(&mut conn, &mut echo, &client.call(3, "/other", b"b"));
    assert_echoed(&client.replies(&frames)[&3], b"b");
}

#[test]
fn too_many_streams_are_refused() {
    let (mut conn, mut echo, mut client) = open();
    let mut bytes = Vec::new();
    for i in 0..=MAX_CONCURRENT_STREAMS as u32 {
        bytes.extend(client.headers(2 * i + 1, &post(3), false));
    }
    let frames = feed(&mut conn, &mut echo, &bytes);
    assert_eq!(frames.len(), 1);
    let refused = 2 * MAX_CONCURRENT_STREAMS as u32 + 1;
    assert_eq!(
        (frames[0].kind, frames[0].stream),
        (frame::RST_STREAM, refused)
    );
    assert_eq!(
        frame::be_u32(&frames[0].payload),
        ErrorCode::RefusedStream as u32
    );
}

#[test]
fn malformed_requests_are_reset_or_refused() {
    let (mut conn, mut echo, mut client) = open();
    // No :path.
    let frames = feed(
        &mut conn,
        &mut echo,
        &client.headers(1, &[(":method", "POST")], true),
    );
    assert_eq!(client.replies(&frames)[&1].reset, Some(1));
    // A header list over the limit: 431.
    let big = "v".repeat(MAX_HEADER_LIST_SIZE);
    let mut fields = post(3);
    fields.push(("x-big", &big));
    let frames = feed(&mut conn, &mut echo, &client.headers(3, &fields, true));
    let reply = &client.replies(&frames)[&3];
    assert_eq!((reply.field(":status"), reply.ended), (Some("431"), true));
    assert!(echo.calls.is_empty() && conn.is_idle());
    // The connection (and its HPACK state) is still good.
    let frames = feed(&mut conn, &mut echo, &client.call(5, "/one", b"ok"));
    assert_echoed(&client.replies(&frames)[&5], b"ok");
}

#[test]
fn connection_errors() {
    let cases: Vec<(Vec<u8>, u32)> = vec![
        // Undecodable HPACK (index out of range): COMPRESSION_ERROR.
        (
            {
                let mut b = Vec::new();
                frame::write(&mut b, frame::HEADERS, END_HEADERS, 1, &[0xff, 0x7f]);
                b
            },
            9,
        ),
        (data(1, b"never opened", false), 1),
        (data(0, b"no stream", false), 1),
        (
            {
                let mut b = Vec::new();
                frame::write(&mut b, frame::PING, 0, 0, &[0; 7]);
                b
            },
            6,
        ),
        (
            {
                let mut b = Vec::new();
                frame::write(&mut b, frame::SETTINGS, 0, 1, &[]);
                b
            },
            1,
        ),
        (
            {
                let mut b = Vec::new();
                frame::write_settings(&mut b, &[(frame::SETTINGS_MAX_FRAME_SIZE, 100)]);
                b
            },
            1,
        ),
        (
            {
                let mut b = Vec::new();
                frame::write(&mut b, frame::PUSH_PROMISE, END_HEADERS, 1, &[0, 0, 0, 2]);
                b
            },
            1,
        ),
        (
            {
                let mut b = Vec::new();
                frame::write(&mut b, frame::RST_STREAM, 0, 5, &CANCEL.to_be_bytes());
                b
            },
            1,
        ),
    ];
    for (bytes, code) in cases {
        let (mut conn, mut echo, _) = open();
        let frames = feed(&mut conn, &mut echo, &bytes);
        assert_eq!(goaway_code(&frames), Some(code), "{frames:?}");
        assert!(conn.is_closed());
        // Nothing more is processed.
        assert!(feed(&mut conn, &mut echo, &preface()).is_empty());
    }
}
