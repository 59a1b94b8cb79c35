//! Protocol Buffers wire format for the two `grpc.health.v1` messages:
//!
//! ```proto
//! message HealthCheckRequest  { string service = 1; }
//! message HealthCheckResponse { ServingStatus status = 1; }
//! ```
//!
//! Hand-written rather than generated with `prost`: each message has a
//! single field, so a varint reader, a field skipper and two functions are
//! all that is needed, and the guest avoids `prost`'s derive macros and a
//! build-time `protoc` step. Decoding follows proto3 rules: unknown fields
//! of every wire type (including groups) are skipped, a repeated field keeps
//! its last value, and strings must be UTF-8.

use std::fmt;

/// Why a message could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ended inside a field.
    Truncated,
    /// A varint longer than ten bytes or overflowing 64 bits.
    VarintOverflow,
    /// Field number 0, wire type 6 or 7, or an unmatched end-group.
    InvalidTag,
    /// A known field arrived with another wire type than its declared one.
    WrongWireType,
    /// A `string` field that is not UTF-8.
    InvalidUtf8,
    /// Groups nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Truncated => "unexpected end of message",
            DecodeError::VarintOverflow => "invalid varint",
            DecodeError::InvalidTag => "invalid field tag",
            DecodeError::WrongWireType => "invalid wire type for field",
            DecodeError::InvalidUtf8 => "string field contains invalid UTF-8",
            DecodeError::TooDeep => "groups nested too deeply",
        })
    }
}

/// Wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// How deeply unknown groups may nest before decoding gives up.
pub const MAX_DEPTH: usize = 64;

/// Reads a base-128 varint from the front of `buf`, advancing it.
fn read_varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first().ok_or(DecodeError::Truncated)?;
        *buf = rest;
        // The tenth byte may only contribute the 64th bit.
        if i == 9 && byte > 1 {
            return Err(DecodeError::VarintOverflow);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintOverflow)
}

/// Appends `value` as a varint.
fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a field key, returning (field number, wire type).
fn read_key(buf: &mut &[u8]) -> Result<(u64, u8), DecodeError> {
    let key = read_varint(buf)?;
    let (field, wire) = (key >> 3, (key & 7) as u8);
    if field == 0 || field > u64::from(u32::MAX >> 3) || wire > FIXED32 {
        return Err(DecodeError::InvalidTag);
    }
    Ok((field, wire))
}

/// Splits `n` bytes off the front of `buf`.
fn take<'a>(buf: &mut &'a [u8], n: u64) -> Result<&'a [u8], DecodeError> {
    let n = usize::try_from(n).map_err(|_| DecodeError::Truncated)?;
    if n > buf.len() {
        return Err(DecodeError::Truncated);
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// Skips the value of a field with the given number and wire type.
fn skip(buf: &mut &[u8], field: u64, wire: u8, depth: usize) -> Result<(), DecodeError> {
    match wire {
        VARINT => read_varint(buf).map(drop),
        FIXED64 => take(buf, 8).map(drop),
        LEN => {
            let len = read_varint(buf)?;
            take(buf, len).map(drop)
        }
        FIXED32 => take(buf, 4).map(drop),
        START_GROUP => {
            if depth >= MAX_DEPTH {
                return Err(DecodeError::TooDeep);
            }
            loop {
                let (inner, inner_wire) = read_key(buf)?;
                if inner_wire == END_GROUP {
                    return if inner == field {
                        Ok(())
                    } else {
                        Err(DecodeError::InvalidTag)
                    };
                }
                skip(buf, inner, inner_wire, depth + 1)?;
            }
        }
        // END_GROUP without a matching START_GROUP.
        _ => Err(DecodeError::InvalidTag),
    }
}

/// Decodes a `HealthCheckRequest`, returning its `service` ("" if absent).
pub fn decode_health_check_request(mut buf: &[u8]) -> Result<String, DecodeError> {
    let mut service = String::new();
    while !buf.is_empty() {
        match read_key(&mut buf)? {
            (1, LEN) => {
                let len = read_varint(&mut buf)?;
                let bytes = take(&mut buf, len)?;
                service = std::str::from_utf8(bytes)
                    .map_err(|_| DecodeError::InvalidUtf8)?
                    .to_string();
            }
            (1, _) => return Err(DecodeError::WrongWireType),
            (field, wire) => skip(&mut buf, field, wire, 0)?,
        }
    }
    Ok(service)
}

/// Encodes a `HealthCheckResponse` with the given `ServingStatus` number
/// (proto3 leaves the default, 0 = UNKNOWN, out).
pub fn encode_health_check_response(status: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(3);
    if status != 0 {
        out.push(1 << 3 | VARINT);
        write_varint(&mut out, status);
    }
    out
}

/// Encodes a `HealthCheckRequest` (what a client sends; used in tests).
#[cfg(test)]
pub fn encode_health_check_request(service: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if !service.is_empty() {
        out.push(1 << 3 | LEN);
        write_varint(&mut out, service.len() as u64);
        out.extend_from_slice(service.as_bytes());
    }
    out
}

/// Decodes a `HealthCheckResponse`'s `status` (what a client reads; used in
/// tests).
#[cfg(test)]
pub fn decode_health_check_response(mut buf: &[u8]) -> Result<u64, DecodeError> {
    let mut status = 0;
    while !buf.is_empty() {
        match read_key(&mut buf)? {
            (1, VARINT) => status = read_varint(&mut buf)?,
            (1, _) => return Err(DecodeError::WrongWireType),
            (field, wire) => skip(&mut buf, field, wire, 0)?,
        }
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        for v in [0, 1, 127, 128, 300, 16_384, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            let mut buf = &out[..];
            assert_eq!(read_varint(&mut buf), Ok(v));
            assert!(buf.is_empty());
        }
        let mut out = Vec::new();
        write_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(read_varint(&mut &[0x80][..]), Err(DecodeError::Truncated));
        let eleven = [0xff; 11];
        assert_eq!(
            read_varint(&mut &eleven[..]),
            Err(DecodeError::VarintOverflow)
        );
        let mut too_big = [0xff; 10];
        too_big[9] = 0x02;
        assert_eq!(
            read_varint(&mut &too_big[..]),
            Err(DecodeError::VarintOverflow)
        );
    }

    #[test]
    fn requests_round_trip() {
        assert_eq!(encode_health_check_request(""), b"");
        assert_eq!(encode_health_check_request("ab"), b"\x0a\x02ab");
        for s in ["", "grpc.health.v1.Health", "ünïcode", &"x".repeat(300)] {
            let bytes = encode_health_check_request(s);
            assert_eq!(decode_health_check_request(&bytes).as_deref(), Ok(s));
        }
    }

    #[test]
    fn responses_round_trip() {
        assert_eq!(encode_health_check_response(1), [0x08, 0x01]);
        assert_eq!(encode_health_check_response(2), [0x08, 0x02]);
        assert_eq!(encode_health_check_response(0), b"");
        for status in 0..4 {
            let bytes = encode_health_check_response(status);
            assert_eq!(decode_health_check_response(&bytes), Ok(status));
        }
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let mut msg = Vec::new();
        msg.extend_from_slice(&[2 << 3 | VARINT, 0x96, 0x01]); // 2: varint 150
        msg.extend_from_slice(&[3 << 3 | FIXED64, 1, 2, 3, 4, 5, 6, 7, 8]);
        msg.extend_from_slice(&[4 << 3 | FIXED32, 1, 2, 3, 4]);
        msg.extend_from_slice(&[5 << 3 | LEN, 3, b'x', b'y', b'z']);
        // Group 6 holding a varint field and a nested group 7.
        msg.extend_from_slice(&[6 << 3 | START_GROUP, 1 << 3 | VARINT, 5]);
        msg.extend_from_slice(&[7 << 3 | START_GROUP, 7 << 3 | END_GROUP]);
        msg.extend_from_slice(&[6 << 3 | END_GROUP]);
        msg.extend_from_slice(b"\x0a\x03svc");
        // Field numbers above 15 take a two-byte key: field 16, varint.
        msg.extend_from_slice(&[0x80, 0x01, 0x01]);
        assert_eq!(decode_health_check_request(&msg).as_deref(), Ok("svc"));
    }

    #[test]
    fn last_value_wins() {
        let msg = b"\x0a\x01a\x0a\x01b";
        assert_eq!(decode_health_check_request(msg).as_deref(), Ok("b"));
    }

    #[test]
    fn malformed_messages() {
        use DecodeError::*;
        let cases: &[(&[u8], DecodeError)] = &[
            (b"\x0a", Truncated),
            (b"\x0a\x05ab", Truncated),
            (b"\x08\x01", WrongWireType),
            (b"\x00\x01", InvalidTag),
            (b"\x0e", InvalidTag),
            (b"\x0f", InvalidTag),
            (b"\x0c", WrongWireType),
            (b"\x14", InvalidTag),
            (b"\x1b\x08\x01", Truncated),
            (b"\x1b\x24", InvalidTag),
            (b"\x11\x01\x02", Truncated),
            (b"\x0a\x02\xff\xfe", InvalidUtf8),
        ];
        for (msg, err) in cases {
            assert_eq!(decode_health_check_request(msg), Err(*err), "{msg:?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n(2 << 3 | START_GROUP, MAX_DEPTH + 2).collect();
        assert_eq!(decode_health_check_request(&deep), Err(TooDeep));
        assert_eq!(Truncated.to_string(), "unexpected end of message");
    }
}
