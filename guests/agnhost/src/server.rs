//! The event loop: both listeners and all their connections, served
//! interleaved on one thread with nonblocking `std::net` sockets (which
//! `wasm32-wasip2` supports), so kubelet's liveness and readiness probes can
//! be answered at the same time and no client can hold up another.
//!
//! Each turn accepts what is pending, then reads from, feeds and writes to
//! every connection; when a turn does nothing the loop naps for 1 ms,
//! doubling up to [`MAX_NAP`] while it stays quiet.
//!
//! Bounds: a connection in the middle of something (the HTTP/2 preface or a
//! request not yet complete, a control request, output the client does not
//! read) must make progress every [`REQUEST_TIMEOUT`]; an HTTP/2 connection
//! between requests may stay open for [`IDLE_TIMEOUT`] and is then sent a
//! GOAWAY. At most [`MAX_CONNECTIONS`] are kept: a new one replaces the
//! longest quiet of those between requests or closing, or else waits in the
//! listener's backlog until a connection ends. Closing is graceful: the
//! server shuts down its sending side, then reads (and discards) what the
//! client still sends for up to [`LINGER`], so that its last response is
//! not lost to a TCP reset.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::control;
use crate::frame::ErrorCode;
use crate::grpc::HealthService;
use crate::h2;
use crate::health::Health;

/// How long a connection in the middle of something may go without
/// progress.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an HTTP/2 connection may sit between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a closing connection is drained.
pub const LINGER: Duration = Duration::from_secs(1);
/// Longest nap between turns when nothing happens.
pub const MAX_NAP: Duration = Duration::from_millis(10);
const MIN_NAP: Duration = Duration::from_millis(1);
/// Most bytes read from one connection per turn, for fairness.
const READ_BUDGET: usize = 64 * 1024;
/// A connection with this much unsent output is not read from.
const MAX_PENDING_OUTPUT: usize = 256 * 1024;
/// Most connections accepted from one listener per turn.
const ACCEPT_BATCH: usize = 16;

/// What a connection speaks.
enum Protocol {
    /// gRPC over HTTP/2.
    Grpc(Box<h2::Connection>),
    /// One control request; `done` once answered (or abandoned).
    Control { received: Vec<u8>, done: bool },
}

/// One accepted connection.
struct Conn {
    stream: TcpStream,
    protocol: Protocol,
    /// Bytes waiting to be written.
    output: Vec<u8>,
    /// Last time bytes were read or written.
    last_activity: Instant,
    /// When the server shut down its sending side (lingering since).
    closing: Option<Instant>,
    /// Ready to be dropped.
    finished: bool,
}

impl Conn {
    fn new(stream: TcpStream, protocol: Protocol, now: Instant) -> Conn {
        let mut conn = Conn {
            stream,
            protocol,
            output: Vec::new(),
            last_activity: now,
            closing: None,
            finished: false,
        };
        if let Protocol::Grpc(h2) = &mut conn.protocol {
            // The server's SETTINGS go out first.
            conn.output = h2.take_output();
        }
        conn
    }

    /// Whether the protocol is over (its output may still be pending).
    fn protocol_closed(&self) -> bool {
        match &self.protocol {
            Protocol::Grpc(h2) => h2.is_closed(),
            Protocol::Control { done, .. } => *done,
        }
    }

    /// Whether the connection sits between requests.
    fn idle(&self) -> bool {
        matches!(&self.protocol, Protocol::Grpc(h2) if h2.is_idle()) && self.output.is_empty()
    }

    /// Hands received bytes to the protocol.
    fn feed(&mut self, data: &[u8], health: &mut Health, now: Instant) {
        match &mut self.protocol {
            Protocol::Grpc(h2) => {
                let mut service = HealthService { health, now };
                h2.receive(data, &mut service);
                self.output.extend(h2.take_output());
            }
            Protocol::Control { received, done } => {
                if *done {
                    return;
                }
                received.extend_from_slice(data);
                if let Some(response) = control::respond(received, health, now) {
                    self.output.extend(response);
                    *done = true;
                }
            }
        }
    }

    /// The client closed its sending side.
    fn eof(&mut self) {
        match &mut self.protocol {
            Protocol::Grpc(h2) => h2.eof(),
            Protocol::Control { done, .. } => *done = true,
        }
    }

    /// Ends the protocol politely (GOAWAY for HTTP/2).
    fn go_away(&mut self) {
        match &mut self.protocol {
            Protocol::Grpc(h2) => {
                h2.go_away(ErrorCode::NoError);
                self.output.extend(h2.take_output());
            }
            Protocol::Control { done, .. } => *done = true,
        }
    }

    /// One turn: read, write, close, time out. Returns whether anything
    /// happened.
    fn poll(&mut self, health: &mut Health, now: Instant) -> bool {
        let mut progress = false;
        if self.closing.is_none()
            && !self.protocol_closed()
            && self.output.len() < MAX_PENDING_OUTPUT
        {
            progress |= self.read(health, now);
        }
        progress |= self.write(now);
        if self.finished {
            return true;
        }
        if let Some(since) = self.closing {
            progress |= self.linger();
            if now.saturating_duration_since(since) >= LINGER {
                self.finished = true;
            }
        } else if self.protocol_closed() && self.output.is_empty() {
            let _ = self.stream.shutdown(Shutdown::Write);
            self.closing = Some(now);
            progress = true;
        } else {
            let quiet = now.saturating_duration_since(self.last_activity);
            let limit = if self.idle() {
                IDLE_TIMEOUT
            } else {
                REQUEST_TIMEOUT
            };
            if quiet >= limit + LINGER {
                // Even the goodbye could not be delivered.
                self.finished = true;
            } else if quiet >= limit && !self.protocol_closed() {
                self.go_away();
                progress = true;
            }
        }
        progress
    }

    /// Reads what is available (up to [`READ_BUDGET`]) and feeds it.
    fn read(&mut self, health: &mut Health, now: Instant) -> bool {
        let mut buf = [0; 16 * 1024];
        let mut budget = READ_BUDGET;
        let mut progress = false;
        while budget > 0 && !self.protocol_closed() {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.eof();
                    return true;
                }
                Ok(n) => {
                    progress = true;
                    budget = budget.saturating_sub(n);
                    self.last_activity = now;
                    self.feed(&buf[..n], health, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.finished = true;
                    return true;
                }
            }
        }
        progress
    }

    /// Writes as much pending output as the socket takes.
    fn write(&mut self, now: Instant) -> bool {
        let mut progress = false;
        while !self.output.is_empty() && !self.finished {
            match self.stream.write(&self.output) {
                Ok(0) => self.finished = true,
                Ok(n) => {
                    self.output.drain(..n);
                    self.last_activity = now;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.finished = true,
            }
        }
        progress
    }

    /// Discards what a closing connection's client still sends; finishes
    /// at its EOF.
    fn linger(&mut self) -> bool {
        let mut buf = [0; 4096];
        let mut progress = false;
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.finished = true;
                    return true;
                }
                Ok(_) => progress = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return progress,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.finished = true;
                    return true;
                }
            }
        }
    }
}

/// Which listener a connection came from.
#[derive(Clone, Copy)]
enum Kind {
    Grpc,
    Control,
}

/// Both servers of `grpc-health-checking` and their shared state.
pub struct Server {
    grpc: TcpListener,
    control: TcpListener,
    conns: Vec<Conn>,
    health: Health,
}

impl Server {
    /// Serves gRPC health on `grpc` and the control endpoints on `control`.
    pub fn new(grpc: TcpListener, control: TcpListener, health: Health) -> io::Result<Server> {
        grpc.set_nonblocking(true)?;
        control.set_nonblocking(true)?;
        Ok(Server {
            grpc,
            control,
            conns: Vec::new(),
            health,
        })
    }

    /// Serves until `stop` says so, calling `sleep` when there is nothing
    /// to do; then says goodbye to every client.
    pub fn run(&mut self, mut stop: impl FnMut() -> bool, mut sleep: impl FnMut(Duration)) {
        let mut nap = MIN_NAP;
        while !stop() {
            if self.turn(Instant::now()) {
                nap = MIN_NAP;
            } else {
                sleep(nap);
                nap = (nap * 2).min(MAX_NAP);
            }
        }
        self.shutdown();
    }

    /// One pass over listeners and connections. Returns whether anything
    /// happened.
    pub fn turn(&mut self, now: Instant) -> bool {
        let mut progress = self.accept(Kind::Grpc, now);
        progress |= self.accept(Kind::Control, now);
        for conn in &mut self.conns {
            progress |= conn.poll(&mut self.health, now);
        }
        self.conns.retain(|c| !c.finished);
        progress
    }

    /// Sends every HTTP/2 client a GOAWAY (as far as its socket takes it
    /// without waiting) and closes all connections.
    pub fn shutdown(&mut self) {
        let now = Instant::now();
        for conn in &mut self.conns {
            conn.go_away();
            conn.write(now);
        }
        self.conns.clear();
    }

    /// Accepts pending connections from one listener. When
    /// [`MAX_CONNECTIONS`] are open, a new one takes the place of the
    /// longest quiet connection that is between requests or closing; if
    /// there is none, it waits in the listener's backlog.
    fn accept(&mut self, kind: Kind, now: Instant) -> bool {
        let mut progress = false;
        for _ in 0..ACCEPT_BATCH {
            if self.conns.len() >= MAX_CONNECTIONS && !self.evict(now) {
                break;
            }
            let listener = match kind {
                Kind::Grpc => &self.grpc,
                Kind::Control => &self.control,
            };
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = writeln!(io::stderr(), "grpc-health-checking: accept failed: {e}");
                    break;
                }
            };
            progress = true;
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            // Small frames should not wait for Nagle; not every host
            // supports the option.
            let _ = stream.set_nodelay(true);
            let protocol = match kind {
                Kind::Grpc => Protocol::Grpc(Box::default()),
                Kind::Control => Protocol::Control {
                    received: Vec::new(),
                    done: false,
                },
            };
            self.conns.push(Conn::new(stream, protocol, now));
        }
        progress
    }

    /// Drops the longest quiet connection that is between requests or
    /// closing (with a GOAWAY, if the socket takes it at once); `false` if
    /// there is none.
    fn evict(&mut self, now: Instant) -> bool {
        let oldest = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.closing.is_some() || c.idle())
            .min_by_key(|(_, c)| c.last_activity)
            .map(|(i, _)| i);
        if let Some(i) = oldest {
            let mut conn = self.conns.swap_remove(i);
            conn.go_away();
            conn.write(now);
        }
        oldest.is_some()
    }
}

#[cfg(test)]
mod tests;
