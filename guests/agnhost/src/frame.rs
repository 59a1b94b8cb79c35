//! HTTP/2 framing (RFC 9113 §4 and §6): splitting a received byte stream
//! into frames, taking frame payloads apart, and writing the frames the
//! server sends.
//!
//! Nothing here keeps connection state; [`crate::h2`] does that.

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Length of the fixed frame header.
pub const HEADER_LEN: usize = 9;
/// `SETTINGS_MAX_FRAME_SIZE` before (and unless) a peer changes it. The
/// server never raises its own, so larger frames are errors.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 16_384;
/// Largest `SETTINGS_MAX_FRAME_SIZE` a peer may announce.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;
/// Initial flow-control window of connections and streams.
pub const DEFAULT_WINDOW: i64 = 65_535;
/// Largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;

/// Frame types.
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

/// Frame flags.
pub const END_STREAM: u8 = 0x1;
/// `ACK`, on SETTINGS and PING (same bit as `END_STREAM`).
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY_FLAG: u8 = 0x20;

/// Setting identifiers (RFC 9113 §6.5.2).
pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;
pub const SETTINGS_MAX_HEADER_LIST_SIZE: u16 = 0x6;

/// The HTTP/2 error codes this server sends (RFC 9113 §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    NoError = 0x0,
    ProtocolError = 0x1,
    FlowControlError = 0x3,
    StreamClosed = 0x5,
    FrameSizeError = 0x6,
    RefusedStream = 0x7,
    CompressionError = 0x9,
    EnhanceYourCalm = 0xb,
}

/// One frame, borrowing its payload from the receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub kind: u8,
    pub flags: u8,
    /// Stream identifier, reserved bit cleared.
    pub stream: u32,
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Whether `flag` is set.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Splits the next complete frame off the front of `buf`.
///
/// Returns the frame and the number of bytes it occupies, `Ok(None)` if
/// `buf` does not hold a whole frame yet, or `FRAME_SIZE_ERROR` as soon as
/// the header announces a payload longer than `max_size`.
pub fn parse(buf: &[u8], max_size: usize) -> Result<Option<(Frame<'_>, usize)>, ErrorCode> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    if len > max_size {
        return Err(ErrorCode::FrameSizeError);
    }
    let Some(payload) = buf.get(HEADER_LEN..HEADER_LEN + len) else {
        return Ok(None);
    };
    let frame = Frame {
        kind: header[3],
        flags: header[4],
        stream: be_u32(&header[5..9]) & 0x7fff_ffff,
        payload,
    };
    Ok(Some((frame, HEADER_LEN + len)))
}

/// Reads a big-endian `u32` from the first four bytes of `b`.
pub fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// The payload of a DATA or HEADERS frame without its padding (the
/// `PADDED` flag's pad-length octet and trailing pad bytes).
pub fn strip_padding<'a>(frame: &Frame<'a>) -> Result<&'a [u8], ErrorCode> {
    if !frame.has(PADDED) {
        return Ok(frame.payload);
    }
    let (&pad, rest) = frame
        .payload
        .split_first()
        .ok_or(ErrorCode::FrameSizeError)?;
    // "Padding that exceeds the size remaining for the header block
    // fragment MUST be treated as a PROTOCOL_ERROR."
    rest.len()
        .checked_sub(usize::from(pad))
        .map(|end| &rest[..end])
        .ok_or(ErrorCode::ProtocolError)
}

/// The header block fragment of a HEADERS frame: padding and the
/// `PRIORITY` flag's dependency and weight fields removed.
pub fn headers_fragment<'a>(frame: &Frame<'a>) -> Result<&'a [u8], ErrorCode> {
    let payload = strip_padding(frame)?;
    if frame.has(PRIORITY_FLAG) {
        payload.get(5..).ok_or(ErrorCode::FrameSizeError)
    } else {
        Ok(payload)
    }
}

/// The (identifier, value) pairs of a SETTINGS payload.
pub fn settings(payload: &[u8]) -> Result<Vec<(u16, u32)>, ErrorCode> {
    if !payload.len().is_multiple_of(6) {
        return Err(ErrorCode::FrameSizeError);
    }
    Ok(payload
        .chunks_exact(6)
        .map(|c| (u16::from_be_bytes([c[0], c[1]]), be_u32(&c[2..])))
        .collect())
}

/// Appends a frame header.
fn write_header(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(len <= MAX_MAX_FRAME_SIZE as usize);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Appends a whole frame.
pub fn write(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    write_header(out, payload.len(), kind, flags, stream);
    out.extend_from_slice(payload);
}

/// Appends a SETTINGS frame carrying `values`.
pub fn write_settings(out: &mut Vec<u8>, values: &[(u16, u32)]) {
    let mut payload = Vec::with_capacity(values.len() * 6);
    for (id, value) in values {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    write(out, SETTINGS, 0, 0, &payload);
}

/// Appends a WINDOW_UPDATE frame (`stream` 0: the connection's window).
pub fn write_window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    write(out, WINDOW_UPDATE, 0, stream, &increment.to_be_bytes());
}

/// Appends a RST_STREAM frame.
pub fn write_rst_stream(out: &mut Vec<u8>, stream: u32, code: ErrorCode) {
    write(out, RST_STREAM, 0, stream, &(code as u32).to_be_bytes());
}

/// Appends a GOAWAY frame naming the last stream the server processed.
pub fn write_goaway(out: &mut Vec<u8>, last_stream: u32, code: ErrorCode) {
    let mut payload = [0; 8];
    payload[..4].copy_from_slice(&last_stream.to_be_bytes());
    payload[4..].copy_from_slice(&(code as u32).to_be_bytes());
    write(out, GOAWAY, 0, 0, &payload);
}

/// Appends a header block as one HEADERS frame followed by as many
/// CONTINUATION frames as `max_frame_size` requires; `END_HEADERS` goes on
/// the last of them, `END_STREAM` (if asked for) on the HEADERS frame.
pub fn write_headers(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: usize,
) {
    let mut chunks = block.chunks(max_frame_size.max(1)).peekable();
    let mut kind = HEADERS;
    let mut flags = if end_stream { END_STREAM } else { 0 };
    loop {
        let chunk = chunks.next().unwrap_or_default();
        let last = chunks.peek().is_none();
        if last {
            flags |= END_HEADERS;
        }
        write(out, kind, flags, stream, chunk);
        if last {
            return;
        }
        kind = CONTINUATION;
        flags = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, kind, flags, stream, payload);
        out
    }

    #[test]
    fn parses_complete_frames_only() {
        let bytes = frame(PING, 0, 0, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&bytes[..9], &[0, 0, 8, 6, 0, 0, 0, 0, 0]);
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut], DEFAULT_MAX_FRAME_SIZE), Ok(None));
        }
        let mut two = bytes.clone();
        two.extend(frame(DATA, END_STREAM, 3, b"hi"));
        let (f, used) = parse(&two, DEFAULT_MAX_FRAME_SIZE).unwrap().unwrap();
        assert_eq!((f.kind, f.flags, f.stream, used), (PING, 0, 0, 17));
        assert_eq!(f.payload, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let (f, used) = parse(&two[used..], DEFAULT_MAX_FRAME_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(
            (f.kind, f.stream, f.payload, used),
            (DATA, 3, &b"hi"[..], 11)
        );
        assert!(f.has(END_STREAM) && !f.has(PADDED));
    }

    #[test]
    fn reserved_bit_is_ignored() {
        let mut bytes = frame(DATA, 0, 1, b"");
        bytes[5] |= 0x80;
        let (f, _) = parse(&bytes, DEFAULT_MAX_FRAME_SIZE).unwrap().unwrap();
        assert_eq!(f.stream, 1);
    }

    #[test]
    fn oversized_frames_are_rejected_from_the_header() {
        let mut header = Vec::new();
        write_header(&mut header, DEFAULT_MAX_FRAME_SIZE + 1, DATA, 0, 1);
        assert_eq!(
            parse(&header, DEFAULT_MAX_FRAME_SIZE),
            Err(ErrorCode::FrameSizeError)
        );
        let max = frame(DATA, 0, 1, &[0; DEFAULT_MAX_FRAME_SIZE]);
        assert!(parse(&max, DEFAULT_MAX_FRAME_SIZE).unwrap().is_some());
    }

    #[test]
    fn padding() {
        let f = |flags, payload: &'static [u8]| Frame {
            kind: DATA,
            flags,
            stream: 1,
            payload,
        };
        assert_eq!(strip_padding(&f(0, b"abc")), Ok(&b"abc"[..]));
        assert_eq!(strip_padding(&f(PADDED, b"\x02abcXX")), Ok(&b"abc"[..]));
        assert_eq!(strip_padding(&f(PADDED, b"\x00abc")), Ok(&b"abc"[..]));
        assert_eq!(strip_padding(&f(PADDED, b"\x02XX")), Ok(&b""[..]));
        assert_eq!(
            strip_padding(&f(PADDED, b"\x03XX")),
            Err(ErrorCode::ProtocolError)
        );
        assert_eq!(
            strip_padding(&f(PADDED, b"")),
            Err(ErrorCode::FrameSizeError)
        );
    }

    #[test]
    fn headers_fragment_strips_priority_and_padding() {
        let f = |flags, payload: &'static [u8]| Frame {
            kind: HEADERS,
            flags,
            stream: 1,
            payload,
        };
        assert_eq!(headers_fragment(&f(END_HEADERS, b"\x82")), Ok(&b"\x82"[..]));
        let prio = b"\x80\x00\x00\x03\x0f\x82\x86";
        assert_eq!(
            headers_fragment(&f(PRIORITY_FLAG, prio)),
            Ok(&b"\x82\x86"[..])
        );
        let both = b"\x01\x00\x00\x00\x03\x0f\x82\x86P";
        assert_eq!(
            headers_fragment(&f(PRIORITY_FLAG | PADDED, both)),
            Ok(&b"\x82\x86"[..])
        );
        assert_eq!(
            headers_fragment(&f(PRIORITY_FLAG, b"\x00\x00")),
            Err(ErrorCode::FrameSizeError)
        );
    }

    #[test]
    fn settings_payloads() {
        let mut out = Vec::new();
        write_settings(
            &mut out,
            &[(SETTINGS_MAX_CONCURRENT_STREAMS, 100), (0x4, 1)],
        );
        let (f, _) = parse(&out, DEFAULT_MAX_FRAME_SIZE).unwrap().unwrap();
        assert_eq!((f.kind, f.flags, f.stream), (SETTINGS, 0, 0));
        assert_eq!(settings(f.payload), Ok(vec![(3, 100), (4, 1)]));
        assert_eq!(settings(&[0; 7]), Err(ErrorCode::FrameSizeError));
        assert_eq!(settings(&[]), Ok(vec![]));
    }

    #[test]
    fn control_frame_encodings() {
        let mut out = Vec::new();
        write_window_update(&mut out, 5, 1000);
        assert_eq!(out, [0, 0, 4, 8, 0, 0, 0, 0, 5, 0, 0, 0x03, 0xe8]);
        out.clear();
        write_rst_stream(&mut out, 7, ErrorCode::RefusedStream);
        assert_eq!(out, [0, 0, 4, 3, 0, 0, 0, 0, 7, 0, 0, 0, 7]);
        out.clear();
        write_goaway(&mut out, 9, ErrorCode::FrameSizeError);
        assert_eq!(out, [0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 6]);
    }

    #[test]
    fn header_blocks_are_split_into_continuations() {
        let block: Vec<u8> = (0..10).collect();
        let mut out = Vec::new();
        write_headers(&mut out, 1, &block, true, 4);
        let mut frames = Vec::new();
        let mut rest = &out[..];
        while let Some((f, used)) = parse(rest, 4).unwrap() {
            frames.push((f.kind, f.flags, f.payload.to_vec()));
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        assert_eq!(
            frames,
            [
                (HEADERS, END_STREAM, vec![0, 1, 2, 3]),
                (CONTINUATION, 0, vec![4, 5, 6, 7]),
                (CONTINUATION, END_HEADERS, vec![8, 9]),
            ]
        );
        out.clear();
        write_headers(&mut out, 3, &block, false, DEFAULT_MAX_FRAME_SIZE);
        let (f, _) = parse(&out, DEFAULT_MAX_FRAME_SIZE).unwrap().unwrap();
        assert_eq!((f.kind, f.flags, f.stream), (HEADERS, END_HEADERS, 3));
        out.clear();
        write_headers(&mut out, 3, &[], false, DEFAULT_MAX_FRAME_SIZE);
        assert_eq!(out, [0, 0, 0, HEADERS, END_HEADERS, 0, 0, 0, 3]);
    }
}
