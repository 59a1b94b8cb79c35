//! Socket options: validated, clamped and rounded as wasmtime-wasi on Linux
//! does (the values a guest reads back are the ones it would read there),
//! and remembered. The in-memory network has no use for them.

use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

use super::pipe::PIPE_CAPACITY;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// `keep-alive-idle-time` and `keep-alive-interval` are kept in whole
/// seconds (Linux's TCP_KEEPIDLE / TCP_KEEPINTVL unit; wasmtime rounds up)
/// between 1 s and 32767 s (Linux's maximum; wasmtime clamps to it).
pub const KEEP_ALIVE_TIME_NS: (u64, u64) = (NANOS_PER_SEC, i16::MAX as u64 * NANOS_PER_SEC);

/// `keep-alive-count` is clamped to 1..=127 (Linux's maximum).
pub const KEEP_ALIVE_COUNT: (u32, u32) = (1, i8::MAX as u32);

/// What a TCP socket remembers (and an accepted socket inherits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpOptions {
    /// `keep-alive-enabled` (off, as SO_KEEPALIVE).
    pub keep_alive: bool,
    /// `keep-alive-idle-time` in ns (Linux's default: 7200 s).
    pub keep_alive_idle_ns: u64,
    /// `keep-alive-interval` in ns (Linux's default: 75 s).
    pub keep_alive_interval_ns: u64,
    /// `keep-alive-count` (Linux's default: 9).
    pub keep_alive_count: u32,
    /// `hop-limit` (IP_TTL / IPV6_UNICAST_HOPS: 64).
    pub hop_limit: u8,
    /// `receive-buffer-size`.
    pub receive_buffer: u64,
    /// `send-buffer-size`.
    pub send_buffer: u64,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            keep_alive: false,
            keep_alive_idle_ns: 7200 * NANOS_PER_SEC,
            keep_alive_interval_ns: 75 * NANOS_PER_SEC,
            keep_alive_count: 9,
            hop_limit: 64,
            receive_buffer: PIPE_CAPACITY as u64,
            send_buffer: PIPE_CAPACITY as u64,
        }
    }
}

impl TcpOptions {
    /// `set-keep-alive-idle-time`.
    ///
    /// # Errors
    /// `invalid-argument` for 0.
    pub fn set_keep_alive_idle_time(&mut self, ns: u64) -> Result<(), ErrorCode> {
        self.keep_alive_idle_ns = keep_alive_time(ns)?;
        Ok(())
    }

    /// `set-keep-alive-interval`.
    ///
    /// # Errors
    /// `invalid-argument` for 0.
    pub fn set_keep_alive_interval(&mut self, ns: u64) -> Result<(), ErrorCode> {
        self.keep_alive_interval_ns = keep_alive_time(ns)?;
        Ok(())
    }

    /// `set-keep-alive-count`.
    ///
    /// # Errors
    /// `invalid-argument` for 0.
    pub fn set_keep_alive_count(&mut self, count: u32) -> Result<(), ErrorCode> {
        nonzero(count.into())?;
        self.keep_alive_count = count.clamp(KEEP_ALIVE_COUNT.0, KEEP_ALIVE_COUNT.1);
        Ok(())
    }

    /// `set-hop-limit`.
    ///
    /// # Errors
    /// `invalid-argument` for 0.
    pub fn set_hop_limit(&mut self, value: u8) -> Result<(), ErrorCode> {
        self.hop_limit = hop_limit(value)?;
        Ok(())
    }

    /// `set-receive-buffer-size`.
    ///
    /// # Errors
    /// `invalid-argument` for 0.
    pub fn set_receive_buffer_size(&mut self, value: u64) -> Result<(), ErrorCode> {
        self.receive_buffer = buffer_size(value)?;
        Ok(())
    }

    /// `set-send-buffer-size`.
    ///
    /// # Errors
    /// `invalid-argument` for 0.
    pub fn set_send_buffer_size(&mut self, value: u64) -> Result<(), ErrorCode> {
        self.send_buffer = buffer_size(value)?;
        Ok(())
    }
}

/// A keep-alive time as Linux keeps it: clamped, then whole seconds
/// (rounded up).
fn keep_alive_time(ns: u64) -> Result<u64, ErrorCode> {
    nonzero(ns)?;
    let ns = ns.clamp(KEEP_ALIVE_TIME_NS.0, KEEP_ALIVE_TIME_NS.1);
    Ok(ns.div_ceil(NANOS_PER_SEC) * NANOS_PER_SEC)
}

/// A hop limit (TTL): 0 is `invalid-argument`.
pub fn hop_limit(value: u8) -> Result<u8, ErrorCode> {
    nonzero(value.into())?;
    Ok(value)
}

/// A buffer size: 0 is `invalid-argument`; clamped to `i32::MAX` as
/// wasmtime does before SO_RCVBUF / SO_SNDBUF.
pub fn buffer_size(value: u64) -> Result<u64, ErrorCode> {
    nonzero(value)?;
    Ok(value.min(i32::MAX as u64))
}

/// 0 is `invalid-argument` for every option that takes a number.
fn nonzero(value: u64) -> Result<(), ErrorCode> {
    if value == 0 {
        Err(ErrorCode::InvalidArgument)
    } else {
        Ok(())
    }
}
