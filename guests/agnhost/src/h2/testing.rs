//! Test helpers: the client side of an HTTP/2 connection, enough to drive a
//! [`Connection`](super::Connection) in memory. It HPACK-encodes requests
//! with a real, stateful encoder and decodes the server's answers with a
//! real decoder, so both directions' dynamic tables are exercised.

use std::collections::BTreeMap;

use loona_hpack::{Decoder, Encoder};

use crate::frame::{self, END_HEADERS, END_STREAM};

/// A frame the server sent, with its payload copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedFrame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

/// Everything the server sent on one stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    pub headers: Vec<(String, String)>,
    pub data: Vec<u8>,
    /// The second header block, if any.
    pub trailers: Option<Vec<(String, String)>>,
    /// Whether a frame carried `END_STREAM`.
    pub ended: bool,
    /// RST_STREAM error code, if the stream was reset.
    pub reset: Option<u32>,
}

impl Reply {
    /// The value of header (or, failing that, trailer) `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .chain(self.trailers.iter().flatten())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits everything the server sent into frames; panics on a partial one.
pub fn parse_frames(mut bytes: &[u8]) -> Vec<OwnedFrame> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (f, used) = frame::parse(bytes, frame::MAX_MAX_FRAME_SIZE as usize)
            .unwrap()
            .expect("partial frame");
        frames.push(OwnedFrame {
            kind: f.kind,
            flags: f.flags,
            stream: f.stream,
            payload: f.payload.to_vec(),
        });
        bytes = &bytes[used..];
    }
    frames
}

/// The preface followed by an empty SETTINGS frame.
pub fn preface() -> Vec<u8> {
    let mut out = frame::PREFACE.to_vec();
    frame::write_settings(&mut out, &[]);
    out
}

/// A DATA frame.
pub fn data(stream: u32, payload: &[u8], end_stream: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let flags = if end_stream { END_STREAM } else { 0 };
    frame::write(&mut out, frame::DATA, flags, stream, payload);
    out
}

/// The client's HPACK state.
pub struct Client {
    pub encoder: Encoder<'static>,
    pub decoder: Decoder<'static>,
    /// A header block being reassembled from CONTINUATION frames.
    pending: Vec<u8>,
}

impl Client {
    pub fn new() -> Client {
        Client {
            encoder: Encoder::new(),
            decoder: Decoder::new(),
            pending: Vec::new(),
        }
    }

    /// HPACK-encodes `fields`.
    pub fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        self.encoder
            .encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    /// A HEADERS frame (followed by CONTINUATIONs if the block needs them).
    pub fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
        let block = self.block(fields);
        let mut out = Vec::new();
        frame::write_headers(
            &mut out,
            stream,
            &block,
            end_stream,
            frame::DEFAULT_MAX_FRAME_SIZE,
        );
        out
    }

    /// A gRPC call: request HEADERS for `path`, then `body` in one DATA
    /// frame ending the stream.
    pub fn call(&mut self, stream: u32, path: &str, body: &[u8]) -> Vec<u8> {
        let mut out = self.headers(
            stream,
            &[
                (":method", "POST"),
                (":scheme", "http"),
                (":path", path),
                (":authority", "127.0.0.1:5000"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
                ("user-agent", "agnhost-test"),
            ],
            false,
        );
        out.extend(data(stream, body, true));
        out
    }

    /// Decodes a header block.
    pub fn decode(&mut self, block: &[u8]) -> Vec<(String, String)> {
        self.decoder
            .decode(block)
            .unwrap()
            .into_iter()
            .map(|(n, v)| {
                let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
                (text(n), text(v))
            })
            .collect()
    }

    /// Groups the server's stream frames by stream, decoding header blocks
    /// in the order they were sent.
    pub fn replies(&mut self, frames: &[OwnedFrame]) -> BTreeMap<u32, Reply> {
        let mut replies: BTreeMap<u32, Reply> = BTreeMap::new();
        for f in frames
            .iter()
            .filter(|f| f.stream != 0 && f.kind != frame::WINDOW_UPDATE)
        {
            let reply = replies.entry(f.stream).or_default();
            reply.ended |= f.flags & END_STREAM != 0 && f.kind != frame::RST_STREAM;
            match f.kind {
                frame::HEADERS | frame::CONTINUATION => {
                    self.pending.extend_from_slice(&f.payload);
                    if f.flags & END_HEADERS != 0 {
                        let block = std::mem::take(&mut self.pending);
                        let fields = self.decode(&block);
                        if reply.headers.is_empty() {
                            reply.headers = fields;
                        } else {
                            reply.trailers = Some(fields);
                        }
                    }
                }
                frame::DATA => reply.data.extend_from_slice(&f.payload),
                frame::RST_STREAM => reply.reset = Some(frame::be_u32(&f.payload)),
                _ => {}
            }
        }
        replies
    }
}
