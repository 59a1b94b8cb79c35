//! The `udp-socket` resource and its datagram streams, over a
//! [`PodNetwork`].
//!
//! A bound UDP socket owns its port's [`Mailbox`]. `stream(remote)` hands
//! out an incoming stream (reading the mailbox; with a remote address, only
//! datagrams from it, as a connected socket filters) and an outgoing stream
//! (sending from the socket's port). Every datagram arrives whole or not at
//! all. There is no flow control, as with real UDP: a datagram that finds
//! the receiver's mailbox full is dropped, so `check-send` always permits
//! [`MAX_DATAGRAMS`]. A datagram a connected socket sends to a port nobody
//! has bound makes its next `send` or `receive` fail with
//! `connection-refused`, once (Linux's ICMP port unreachable, reported on
//! connected sockets only).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime_wasi::p2::Pollable;
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

use super::netns::{Datagram, Family, Mailbox, PodNetwork, PortLease, Proto};
use super::pipe::PIPE_CAPACITY;

/// Datagrams per `receive` / `check-send`.
pub const MAX_DATAGRAMS: usize = 16;
/// The largest UDP payload (IPv4: 65535 − 8 − 20; IPv6 allows 20 more).
pub const MAX_PAYLOAD_V4: usize = 65_507;
/// The largest UDP payload over IPv6.
pub const MAX_PAYLOAD_V6: usize = 65_527;

struct Bound {
    lease: PortLease,
    mailbox: Arc<Mailbox>,
}

/// A guest's UDP socket.
pub struct UdpSocket {
    net: Arc<PodNetwork>,
    family: Family,
    bound: Option<Bound>,
    binding: bool,
    remote: Option<SocketAddr>,
    pub(crate) hop_limit: u8,
    pub(crate) receive_buffer: u64,
    pub(crate) send_buffer: u64,
}

impl UdpSocket {
    /// A new unbound socket.
    pub fn new(net: Arc<PodNetwork>, family: Family) -> Self {
        Self {
            net,
            family,
            bound: None,
            binding: false,
            remote: None,
            hop_limit: 64,
            receive_buffer: PIPE_CAPACITY as u64,
            send_buffer: PIPE_CAPACITY as u64,
        }
    }

    pub(crate) fn family(&self) -> Family {
        self.family
    }

    /// `start-bind`.
    pub fn start_bind(&mut self, addr: SocketAddr) -> Result<(), ErrorCode> {
        if self.binding {
            return Err(ErrorCode::ConcurrencyConflict);
        }
        if self.bound.is_some() {
            return Err(ErrorCode::InvalidState);
        }
        if Family::of(addr.ip()) != self.family {
            return Err(ErrorCode::InvalidArgument);
        }
        let lease = self.net.bind(Proto::Udp, addr)?;
        let mailbox = self
            .net
            .mailbox(&lease)
            .expect("a UDP port just bound has a mailbox");
        self.bound = Some(Bound { lease, mailbox });
        self.binding = true;
        Ok(())
    }

    /// `finish-bind`.
    pub fn finish_bind(&mut self) -> Result<(), ErrorCode> {
        if !self.binding {
            return Err(ErrorCode::NotInProgress);
        }
        self.binding = false;
        Ok(())
    }

    /// `stream`: (dis)connects and returns new streams. The caller checks
    /// that the previous streams were dropped.
    pub fn stream(
        &mut self,
        remote: Option<SocketAddr>,
    ) -> Result<(IncomingDatagramStream, OutgoingDatagramStream), ErrorCode> {
        let Some(bound) = &self.bound else {
            return Err(ErrorCode::InvalidState);
        };
        if let Some(r) = remote {
            self.net.check_remote(self.family, r)?;
        }
        self.remote = remote;
        let refused = Arc::new(AtomicBool::new(false));
        let incoming = IncomingDatagramStream {
            mailbox: bound.mailbox.clone(),
            remote,
            refused: refused.clone(),
        };
        let outgoing = OutgoingDatagramStream {
            net: self.net.clone(),
            family: self.family,
            local: self.local_address()?,
            remote,
            permits: 0,
            refused,
        };
        Ok((incoming, outgoing))
    }

    /// `local-address`: as bound, except that a socket bound to the
    /// unspecified address and streaming to a remote address reports the
    /// address its route leaves from, the loopback address (as `connect`
    /// makes Linux choose one; WIT `stream`: "the `local-address` may be
    /// updated as well").
    pub fn local_address(&self) -> Result<SocketAddr, ErrorCode> {
        let bound = self
            .bound
            .as_ref()
            .ok_or(ErrorCode::InvalidState)?
            .lease
            .addr();
        Ok(match self.remote {
            Some(r) if bound.ip().is_unspecified() => {
                SocketAddr::new(self.net.source_for(self.family, r.ip()), bound.port())
            }
            _ => bound,
        })
    }

    /// `remote-address`.
    pub fn remote_address(&self) -> Result<SocketAddr, ErrorCode> {
        self.remote.ok_or(ErrorCode::InvalidState)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for UdpSocket {
    async fn ready(&mut self) {
        // Binding completes at once.
    }
}

/// Datagrams arriving at a bound socket.
pub struct IncomingDatagramStream {
    mailbox: Arc<Mailbox>,
    remote: Option<SocketAddr>,
    /// A connected send found nobody (shared with the outgoing stream).
    refused: Arc<AtomicBool>,
}

impl IncomingDatagramStream {
    /// Up to `max` waiting datagrams (never blocks). A connected stream
    /// drops datagrams from other senders.
    ///
    /// # Errors
    /// `connection-refused` once after a connected send found nobody.
    pub fn receive(&mut self, max: usize) -> Result<Vec<Datagram>, ErrorCode> {
        if max > 0 && self.refused.swap(false, Ordering::AcqRel) {
            return Err(ErrorCode::ConnectionRefused);
        }
        let mut out = Vec::new();
        while out.len() < max.min(MAX_DATAGRAMS) {
            let Some(d) = self.mailbox.try_recv() else {
                break;
            };
            if self.remote.is_none_or(|r| same_peer(r, d.from)) {
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// Whether a datagram from `from` comes from the connected peer `remote`
/// (any loopback address is the pod's one loopback).
fn same_peer(remote: SocketAddr, from: SocketAddr) -> bool {
    remote.port() == from.port() && Family::of(remote.ip()) == Family::of(from.ip())
}

#[wasmtime_wasi::async_trait]
impl Pollable for IncomingDatagramStream {
    async fn ready(&mut self) {
        std::future::poll_fn(|cx| self.mailbox.poll_ready(cx)).await;
    }
}

/// Datagrams sent from a bound socket.
pub struct OutgoingDatagramStream {
    net: Arc<PodNetwork>,
    family: Family,
    local: SocketAddr,
    remote: Option<SocketAddr>,
    permits: usize,
    /// A connected send found nobody (shared with the incoming stream).
    refused: Arc<AtomicBool>,
}

impl OutgoingDatagramStream {
    /// `check-send`: always [`MAX_DATAGRAMS`] (sending never waits).
    pub fn check_send(&mut self) -> usize {
        self.permits = MAX_DATAGRAMS;
        self.permits
    }

    /// How many datagrams the last `check-send` permitted; resets it.
    pub fn take_permits(&mut self) -> usize {
        std::mem::take(&mut self.permits)
    }

    /// Sends one datagram to `to` (or the connected peer).
    pub fn send(&mut self, data: Vec<u8>, to: Option<SocketAddr>) -> Result<(), ErrorCode> {
        let to = match (self.remote, to) {
            (Some(r), Some(t)) if r != t => return Err(ErrorCode::InvalidArgument),
            (Some(r), _) => r,
            (None, Some(t)) => t,
            (None, None) => return Err(ErrorCode::InvalidArgument),
        };
        self.net.check_remote(self.family, to)?;
        let max = match self.family {
            Family::V4 => MAX_PAYLOAD_V4,
            Family::V6 => MAX_PAYLOAD_V6,
        };
        if data.len() > max {
            return Err(ErrorCode::DatagramTooLarge);
        }
        if self.remote.is_some() && self.refused.swap(false, Ordering::AcqRel) {
            return Err(ErrorCode::ConnectionRefused);
        }
        let delivered = self.net.send_datagram(self.local, to, data)?;
        if self.remote.is_some() && !delivered {
            self.refused.store(true, Ordering::Release);
        }
        Ok(())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for OutgoingDatagramStream {
    async fn ready(&mut self) {
        // Sending never waits.
    }
}
