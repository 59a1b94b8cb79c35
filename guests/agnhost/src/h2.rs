//! The server side of one HTTP/2 connection (RFC 9113) over cleartext with
//! prior knowledge ("h2c"), as gRPC clients speak it.
//!
//! [`Connection`] is a state machine without I/O: [`Connection::receive`]
//! takes whatever bytes arrived from the client, and
//! [`Connection::take_output`] hands back the bytes to send. Each request is
//! given to a [`Service`] once the client has ended its stream, and the
//! answer goes out as HEADERS, DATA and trailing HEADERS frames.
//!
//! What is handled: the client preface (which must be followed by a
//! SETTINGS frame), the server's own SETTINGS (sent first), SETTINGS ACKs,
//! PING ACKs, PRIORITY (ignored), RST_STREAM, GOAWAY, WINDOW_UPDATE, padded
//! and prioritized HEADERS, CONTINUATION, padded DATA and many concurrent
//! streams. HPACK state is kept per connection in both directions
//! (`loona-hpack`), and the encoder respects the client's
//! `SETTINGS_HEADER_TABLE_SIZE`. Received DATA is credited back at once
//! with WINDOW_UPDATEs on the connection and on streams still open; sent
//! DATA respects the client's windows and is held back until they allow it.
//!
//! Limits: frames over 16 KiB are a connection error (`FRAME_SIZE_ERROR`),
//! request bodies over [`MAX_BODY`] are answered early (the [`Service`]
//! sees `body: None`) and the rest of the upload is refused with
//! `RST_STREAM(NO_ERROR)`, header lists over [`MAX_HEADER_LIST_SIZE`] get
//! `431`, and more than [`MAX_CONCURRENT_STREAMS`] open streams are refused.
//! The client's adherence to the server's flow-control windows is not
//! policed.

use std::collections::BTreeMap;

use loona_hpack::{Decoder, Encoder};

use crate::frame::{self, ACK, END_HEADERS, END_STREAM, ErrorCode, Frame};

/// Largest request body kept; longer uploads are answered early.
pub const MAX_BODY: usize = 64 * 1024;
/// `SETTINGS_MAX_CONCURRENT_STREAMS` announced, and enforced.
pub const MAX_CONCURRENT_STREAMS: usize = 100;
/// `SETTINGS_MAX_HEADER_LIST_SIZE` announced (RFC 9113 §6.5.2 sizing).
pub const MAX_HEADER_LIST_SIZE: usize = 16 * 1024;
/// Largest header block (HEADERS plus CONTINUATIONs) accepted in transit.
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// HPACK's default dynamic table size. The decoder's table is never
/// allowed to grow beyond it, and the encoder never uses more.
const HPACK_TABLE_SIZE: usize = 4096;

/// A complete request, as given to a [`Service`].
#[derive(Debug)]
pub struct Request<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path`.
    pub path: &'a str,
    /// `content-type`, or "" if there is none.
    pub content_type: &'a str,
    /// The request body; `None` if it grew beyond [`MAX_BODY`] and was
    /// dropped (the client may still be sending).
    pub body: Option<&'a [u8]>,
}

/// A response: status, headers, body and trailers.
///
/// A response without body and trailers is sent as a single HEADERS frame
/// ending the stream (for gRPC, a "trailers-only" response).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header fields after `:status`; names must be lower case.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Trailer fields, sent after the body with `END_STREAM`.
    pub trailers: Vec<(&'static str, String)>,
}

/// Answers requests.
pub trait Service {
    fn call(&mut self, request: &Request<'_>) -> Response;
}

/// A response still being sent, waiting for flow-control window.
#[derive(Debug)]
struct Outgoing {
    data: Vec<u8>,
    sent: usize,
    trailers: Vec<(&'static str, String)>,
}

/// An open stream.
#[derive(Debug)]
struct Stream {
    method: String,
    path: String,
    content_type: String,
    body: Vec<u8>,
    /// The client has ended its side (`END_STREAM` received).
    remote_closed: bool,
    /// The client's window for DATA the server sends on this stream.
    send_window: i64,
    /// Set once the request has been answered.
    response: Option<Outgoing>,
}

/// A header block still arriving in CONTINUATION frames.
#[derive(Debug)]
struct HeaderBlock {
    stream: u32,
    end_stream: bool,
    block: Vec<u8>,
}

/// Server side of one HTTP/2 connection. See the [module docs](self).
pub struct Connection {
    input: Vec<u8>,
    output: Vec<u8>,
    preface_received: bool,
    settings_received: bool,
    /// No more input is processed (GOAWAY sent or received, or EOF).
    closed: bool,
    decoder: Decoder<'static>,
    encoder: Encoder<'static>,
    /// The encoder's dynamic table size.
    table_size: usize,
    /// Table size changes not yet signalled to the client: (smallest, last).
    table_size_updates: Option<(usize, usize)>,
    streams: BTreeMap<u32, Stream>,
    /// Highest stream the client has opened.
    last_stream: u32,
    continuation: Option<HeaderBlock>,
    /// The client's connection-level window for DATA the server sends.
    send_window: i64,
    /// The client's `SETTINGS_INITIAL_WINDOW_SIZE`.
    initial_window: i64,
    /// The client's `SETTINGS_MAX_FRAME_SIZE`.
    max_frame_size: usize,
}

impl Default for Connection {
    fn default() -> Self {
        Connection::new()
    }
}

impl Connection {
    /// A new connection, with the server's SETTINGS already queued.
    pub fn new() -> Connection {
        let mut decoder = Decoder::new();
        decoder.set_max_allowed_table_size(HPACK_TABLE_SIZE);
        let mut output = Vec::new();
        frame::write_settings(
            &mut output,
            &[
                (
                    frame::SETTINGS_MAX_CONCURRENT_STREAMS,
                    MAX_CONCURRENT_STREAMS as u32,
                ),
                (
                    frame::SETTINGS_MAX_HEADER_LIST_SIZE,
                    MAX_HEADER_LIST_SIZE as u32,
                ),
            ],
        );
        Connection {
            input: Vec::new(),
            output,
            preface_received: false,
            settings_received: false,
            closed: false,
            decoder,
            encoder: Encoder::new(),
            table_size: HPACK_TABLE_SIZE,
            table_size_updates: None,
            streams: BTreeMap::new(),
            last_stream: 0,
            continuation: None,
            send_window: frame::DEFAULT_WINDOW,
            initial_window: frame::DEFAULT_WINDOW,
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
        }
    }

    /// Processes bytes received from the client, calling `service` for
    /// every request completed by them. A protocol error queues a GOAWAY
    /// and closes the connection.
    pub fn receive(&mut self, data: &[u8], service: &mut impl Service) {
        if self.closed {
            return;
        }
        self.input.extend_from_slice(data);
        if let Err(code) = self.process(service) {
            self.go_away(code);
        }
    }

    /// The client closed its side: nothing more will be processed.
    pub fn eof(&mut self) {
        self.closed = true;
    }

    /// Takes the bytes queued for the client.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Whether the connection is over: once its output has been sent, the
    /// socket can be closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the connection sits between requests: preface received, no
    /// partial frame, no open stream.
    pub fn is_idle(&self) -> bool {
        self.preface_received
            && self.input.is_empty()
            && self.continuation.is_none()
            && self.streams.is_empty()
    }

    /// Queues a GOAWAY with `code` (unless the connection is already
    /// closed) and closes the connection.
    pub fn go_away(&mut self, code: ErrorCode) {
        if !self.closed {
            frame::write_goaway(&mut self.output, self.last_stream, code);
            self.closed = true;
        }
    }

    /// Checks the preface, then handles every complete frame in `input`.
    fn process(&mut self, service: &mut impl Service) -> Result<(), ErrorCode> {
        if !self.preface_received {
            let n = self.input.len().min(frame::PREFACE.len());
            if self.input[..n] != frame::PREFACE[..n] {
                return Err(ErrorCode::ProtocolError);
            }
            if n < frame::PREFACE.len() {
                return Ok(());
            }
            self.input.drain(..n);
            self.preface_received = true;
        }
        let input = std::mem::take(&mut self.input);
        let mut pos = 0;
        let result = loop {
            if self.closed {
                break Ok(());
            }
            match frame::parse(&input[pos..], frame::DEFAULT_MAX_FRAME_SIZE) {
                Ok(Some((f, used))) => {
                    pos += used;
                    if let Err(code) = self.on_frame(f, service) {
                        break Err(code);
                    }
                }
                Ok(None) => break Ok(()),
                Err(code) => break Err(code),
            }
        };
        self.input = input;
        self.input.drain(..pos);
        result
    }

    /// Handles one frame; an `Err` is a connection error.
    fn on_frame(&mut self, f: Frame<'_>, service: &mut impl Service) -> Result<(), ErrorCode> {
        if let Some(block) = &self.continuation
            && (f.kind != frame::CONTINUATION || f.stream != block.stream)
        {
            return Err(ErrorCode::ProtocolError);
        }
        if !self.settings_received {
            if f.kind != frame::SETTINGS || f.has(ACK) {
                return Err(ErrorCode::ProtocolError);
            }
            self.settings_received = true;
        }
        let connection_level = matches!(f.kind, frame::SETTINGS | frame::PING | frame::GOAWAY);
        let stream_level = matches!(
            f.kind,
            frame::DATA
                | frame::HEADERS
                | frame::PRIORITY
                | frame::RST_STREAM
                | frame::CONTINUATION
        );
        if (connection_level && f.stream != 0) || (stream_level && f.stream == 0) {
            return Err(ErrorCode::ProtocolError);
        }
        let len = f.payload.len();
        match f.kind {
            frame::DATA => self.on_data(f, service)?,
            frame::HEADERS => {
                let block = HeaderBlock {
                    stream: f.stream,
                    end_stream: f.has(END_STREAM),
                    block: frame::headers_fragment(&f)?.to_vec(),
                };
                self.on_header_fragment(block, f.has(END_HEADERS), service)?;
            }
            frame::CONTINUATION => {
                let mut block = self.continuation.take().ok_or(ErrorCode::ProtocolError)?;
                if block.block.len() + len > MAX_HEADER_BLOCK {
                    return Err(ErrorCode::EnhanceYourCalm);
                }
                block.block.extend_from_slice(f.payload);
                self.on_header_fragment(block, f.has(END_HEADERS), service)?;
            }
            // A stream error, but the stream may be idle (not resettable):
            // treated as a connection error, as RFC 9113 §5.4 permits.
            frame::PRIORITY if len != 5 => return Err(ErrorCode::FrameSizeError),
            frame::PRIORITY => {}
            frame::RST_STREAM if len != 4 => return Err(ErrorCode::FrameSizeError),
            frame::RST_STREAM if self.never_opened(f.stream) => {
                return Err(ErrorCode::ProtocolError);
            }
            frame::RST_STREAM => {
                self.streams.remove(&f.stream);
            }
            frame::SETTINGS if f.has(ACK) && len != 0 => return Err(ErrorCode::FrameSizeError),
            frame::SETTINGS if f.has(ACK) => {}
            frame::SETTINGS => self.on_settings(f.payload)?,
            frame::PING if len != 8 => return Err(ErrorCode::FrameSizeError),
            frame::PING if !f.has(ACK) => {
                frame::write(&mut self.output, frame::PING, ACK, 0, f.payload);
            }
            frame::PING => {}
            frame::GOAWAY if len < 8 => return Err(ErrorCode::FrameSizeError),
            frame::GOAWAY => self.closed = true,
            frame::WINDOW_UPDATE => self.on_window_update(f)?,
            frame::PUSH_PROMISE => return Err(ErrorCode::ProtocolError),
            // Unknown extension frames are ignored (RFC 9113 §4.1).
            _ => {}
        }
        Ok(())
    }

    /// Whether `id` names a stream the client cannot have opened yet
    /// (clients open odd, increasing stream identifiers).
    fn never_opened(&self, id: u32) -> bool {
        id.is_multiple_of(2) || id > self.last_stream
    }

    /// Applies the client's SETTINGS and acknowledges them.
    fn on_settings(&mut self, payload: &[u8]) -> Result<(), ErrorCode> {
        for (id, value) in frame::settings(payload)? {
            match id {
                frame::SETTINGS_HEADER_TABLE_SIZE => {
                    let size = usize::try_from(value)
                        .map_or(HPACK_TABLE_SIZE, |v| v.min(HPACK_TABLE_SIZE));
                    if size != self.table_size {
                        self.table_size = size;
                        self.encoder.set_max_table_size(size);
                        let smallest = self.table_size_updates.map_or(size, |(s, _)| s.min(size));
                        self.table_size_updates = Some((smallest, size));
                    }
                }
                frame::SETTINGS_ENABLE_PUSH if value > 1 => return Err(ErrorCode::ProtocolError),
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    let value = i64::from(value);
                    if value > frame::MAX_WINDOW {
                        return Err(ErrorCode::FlowControlError);
                    }
                    let delta = value - self.initial_window;
                    for stream in self.streams.values_mut() {
                        stream.send_window += delta;
                        if stream.send_window > frame::MAX_WINDOW {
                            return Err(ErrorCode::FlowControlError);
                        }
                    }
                    self.initial_window = value;
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME_SIZE as u32..=frame::MAX_MAX_FRAME_SIZE)
                        .contains(&value)
                    {
                        return Err(ErrorCode::ProtocolError);
                    }
                    self.max_frame_size = value as usize;
                }
                _ => {}
            }
        }
        frame::write(&mut self.output, frame::SETTINGS, ACK, 0, &[]);
        self.flush_all();
        Ok(())
    }

    /// Credits the connection's or a stream's send window, then sends what
    /// was waiting for it.
    fn on_window_update(&mut self, f: Frame<'_>) -> Result<(), ErrorCode> {
        if f.payload.len() != 4 {
            return Err(ErrorCode::FrameSizeError);
        }
        let increment = i64::from(frame::be_u32(f.payload) & 0x7fff_ffff);
        if f.stream == 0 {
            if increment == 0 {
                return Err(ErrorCode::ProtocolError);
            }
            self.send_window += increment;
            if self.send_window > frame::MAX_WINDOW {
                return Err(ErrorCode::FlowControlError);
            }
        } else if let Some(stream) = self.streams.get_mut(&f.stream) {
            stream.send_window += increment;
            if increment == 0 {
                self.reset(f.stream, ErrorCode::ProtocolError);
            } else if stream.send_window > frame::MAX_WINDOW {
                self.reset(f.stream, ErrorCode::FlowControlError);
            }
        } else if self.never_opened(f.stream) {
            return Err(ErrorCode::ProtocolError);
        }
        self.flush_all();
        Ok(())
    }

    /// Collects request body bytes (crediting them straight back) and
    /// answers the request at `END_STREAM` or when it grows too large.
    fn on_data(&mut self, f: Frame<'_>, service: &mut impl Service) -> Result<(), ErrorCode> {
        let data = frame::strip_padding(&f)?;
        // The whole payload, padding included, counts against the windows.
        let flow = f.payload.len() as u32;
        if flow > 0 {
            frame::write_window_update(&mut self.output, 0, flow);
        }
        let id = f.stream;
        let Some(stream) = self.streams.get_mut(&id) else {
            if self.never_opened(id) {
                return Err(ErrorCode::ProtocolError);
            }
            return Ok(()); // a stream already closed or reset: discard
        };
        if stream.remote_closed {
            self.reset(id, ErrorCode::StreamClosed);
            return Ok(());
        }
        let end = f.has(END_STREAM);
        stream.remote_closed = end;
        if stream.response.is_some() {
            return Ok(()); // answered early: discard the rest
        }
        if stream.body.len() + data.len() > MAX_BODY {
            stream.body = Vec::new();
            self.answer(id, service, false);
            return Ok(());
        }
        stream.body.extend_from_slice(data);
        if end {
            self.answer(id, service, true);
        } else if flow > 0 {
            frame::write_window_update(&mut self.output, id, flow);
        }
        Ok(())
    }

    /// Continues with a header block fragment; decodes the block once
    /// `END_HEADERS` has been seen.
    fn on_header_fragment(
        &mut self,
        block: HeaderBlock,
        end_headers: bool,
        service: &mut impl Service,
    ) -> Result<(), ErrorCode> {
        if !end_headers {
            self.continuation = Some(block);
            return Ok(());
        }
        // Every block is decoded, even for streams about to be refused, to
        // keep the HPACK decoder in step with the client's encoder.
        let fields = self.decode(&block.block)?;
        let id = block.stream;
        if let Some(stream) = self.streams.get_mut(&id) {
            // A second block on a stream: the request's trailers.
            if stream.remote_closed {
                self.reset(id, ErrorCode::StreamClosed);
            } else if !block.end_stream {
                self.reset(id, ErrorCode::ProtocolError);
            } else {
                stream.remote_closed = true;
                if stream.response.is_none() {
                    self.answer(id, service, true);
                }
            }
            return Ok(());
        }
        if id.is_multiple_of(2) {
            return Err(ErrorCode::ProtocolError);
        }
        if id <= self.last_stream {
            return Ok(()); // a stream already closed or reset: ignore
        }
        self.last_stream = id;
        if self.streams.len() >= MAX_CONCURRENT_STREAMS {
            self.reset(id, ErrorCode::RefusedStream);
            return Ok(());
        }
        let Some(fields) = fields else {
            self.streams.insert(id, self.new_stream(block.end_stream));
            let response = Response {
                status: 431,
                headers: Vec::new(),
                body: Vec::new(),
                trailers: Vec::new(),
            };
            self.respond(id, response);
            return Ok(());
        };
        let field = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let (Some(method), Some(path)) = (field(":method"), field(":path")) else {
            self.reset(id, ErrorCode::ProtocolError);
            return Ok(());
        };
        let stream = Stream {
            method,
            path,
            content_type: field("content-type").unwrap_or_default(),
            ..self.new_stream(block.end_stream)
        };
        self.streams.insert(id, stream);
        if block.end_stream {
            self.answer(id, service, true);
        }
        Ok(())
    }

    /// A stream with nothing received yet but its `END_STREAM` flag.
    fn new_stream(&self, remote_closed: bool) -> Stream {
        Stream {
            method: String::new(),
            path: String::new(),
            content_type: String::new(),
            body: Vec::new(),
            remote_closed,
            send_window: self.initial_window,
            response: None,
        }
    }

    /// Decodes a header block: the fields, or `None` if they exceed
    /// [`MAX_HEADER_LIST_SIZE`]. Fails with `COMPRESSION_ERROR`.
    fn decode(&mut self, block: &[u8]) -> Result<Option<Vec<(String, String)>>, ErrorCode> {
        let mut fields = Vec::new();
        let mut size = 0;
        self.decoder
            .decode_with_cb(block, |name, value| {
                size += name.len() + value.len() + 32;
                if size <= MAX_HEADER_LIST_SIZE {
                    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    fields.push((text(&name), text(&value)));
                }
            })
            .map_err(|_| ErrorCode::CompressionError)?;
        Ok((size <= MAX_HEADER_LIST_SIZE).then_some(fields))
    }

    /// Calls the service for stream `id` and sends its answer; `complete`
    /// says whether the body is all there.
    fn answer(&mut self, id: u32, service: &mut impl Service, complete: bool) {
        let Some(stream) = self.streams.get(&id) else {
            return;
        };
        let response = service.call(&Request {
            method: &stream.method,
            path: &stream.path,
            content_type: &stream.content_type,
            body: complete.then_some(&stream.body[..]),
        });
        self.respond(id, response);
    }
}

mod send;
#[cfg(test)]
pub mod testing;
#[cfg(test)]
mod tests;
