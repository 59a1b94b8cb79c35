//! The event loop: a subcommand's listeners and all their connections,
//! served interleaved on one thread with nonblocking `std::net` sockets
//! (which `wasm32-wasip2` supports), so kubelet's liveness and readiness
//! probes can be answered at the same time and no client can hold up
//! another. What a connection speaks is a [`Protocol`], chosen by the
//! listener that accepted it; all of them share one state.
//!
//! Each turn accepts what is pending, then reads from, feeds and writes to
//! every connection; when a turn does nothing the loop naps for 1 ms,
//! doubling up to [`MAX_NAP`] while it stays quiet.
//!
//! Bounds: a connection in the middle of something (the HTTP/2 preface or a
//! request not yet complete, an HTTP/1.1 request, output the client does
//! not read) must make progress every [`REQUEST_TIMEOUT`]; an HTTP/2
//! connection between requests may stay open for [`IDLE_TIMEOUT`] and is
//! then sent a GOAWAY. At most [`MAX_CONNECTIONS`] are kept: a new one
//! replaces the longest quiet of those between requests or closing, or else
//! waits in the listener's backlog until a connection ends. Closing is
//! graceful: the server shuts down its sending side, then reads (and
//! discards) what the client still sends for up to [`LINGER`], so that its
//! last response is not lost to a TCP reset.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// How long a connection in the middle of something may go without
/// progress.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection may sit between requests.
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

/// What one connection speaks (HTTP/2 for gRPC, or one HTTP/1.1 request,
/// see [`crate::http1::Http1`]), over the state `S` that all connections
/// of a [`Server`] share.
pub trait Protocol<S>: Send {
    /// What to send as soon as the connection is accepted.
    fn start(&mut self) -> Vec<u8> {
        Vec::new()
    }
    /// Hands over bytes received from the client; returns bytes to send.
    fn receive(&mut self, data: &[u8], state: &mut S, now: Instant) -> Vec<u8>;
    /// The client closed its sending side.
    fn eof(&mut self);
    /// Ends the protocol politely; returns the goodbye to send.
    fn go_away(&mut self) -> Vec<u8>;
    /// Whether the protocol is over (its output may still be pending).
    fn is_closed(&self) -> bool;
    /// Whether the connection sits between requests: it may then stay
    /// quiet for [`IDLE_TIMEOUT`] rather than [`REQUEST_TIMEOUT`], and may
    /// make room for a newcomer when [`MAX_CONNECTIONS`] are open.
    fn is_idle(&self) -> bool {
        false
    }
}

/// Makes the protocol of a newly accepted connection.
pub type Open<S> = fn() -> Box<dyn Protocol<S>>;

/// One accepted connection.
struct Conn<S> {
    stream: TcpStream,
    protocol: Box<dyn Protocol<S>>,
    /// Bytes waiting to be written.
    output: Vec<u8>,
    /// Last time bytes were read or written.
    last_activity: Instant,
    /// When the server shut down its sending side (lingering since).
    closing: Option<Instant>,
    /// Ready to be dropped.
    finished: bool,
}

impl<S> Conn<S> {
    fn new(stream: TcpStream, mut protocol: Box<dyn Protocol<S>>, now: Instant) -> Conn<S> {
        Conn {
            stream,
            output: protocol.start(),
            protocol,
            last_activity: now,
            closing: None,
            finished: false,
        }
    }

    /// Whether the connection sits between requests.
    fn idle(&self) -> bool {
        self.protocol.is_idle() && self.output.is_empty()
    }

    /// Ends the protocol politely.
    fn go_away(&mut self) {
        let goodbye = self.protocol.go_away();
        self.output.extend(goodbye);
    }

    /// One turn: read, write, close, time out. Returns whether anything
    /// happened.
    fn poll(&mut self, state: &mut S, now: Instant) -> bool {
        let mut progress = false;
        if self.closing.is_none()
            && !self.protocol.is_closed()
            && self.output.len() < MAX_PENDING_OUTPUT
        {
            progress |= self.read(state, now);
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
        } else if self.protocol.is_closed() && self.output.is_empty() {
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
            } else if quiet >= limit && !self.protocol.is_closed() {
                self.go_away();
                progress = true;
            }
        }
        progress
    }

    /// Reads what is available (up to [`READ_BUDGET`]) and feeds it.
    fn read(&mut self, state: &mut S, now: Instant) -> bool {
        let mut buf = [0; 16 * 1024];
        let mut budget = READ_BUDGET;
        let mut progress = false;
        while budget > 0 && !self.protocol.is_closed() {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.protocol.eof();
                    return true;
                }
                Ok(n) => {
                    progress = true;
                    budget = budget.saturating_sub(n);
                    self.last_activity = now;
                    let reply = self.protocol.receive(&buf[..n], state, now);
                    self.output.extend(reply);
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

/// A listening socket and the protocol its connections speak.
struct Listener<S> {
    socket: TcpListener,
    open: Open<S>,
}

/// The listeners of one subcommand, their connections and the state they
/// share (`S`).
pub struct Server<S> {
    /// The subcommand, for log lines.
    name: &'static str,
    listeners: Vec<Listener<S>>,
    conns: Vec<Conn<S>>,
    state: S,
}

impl<S> Server<S> {
    /// A server without listeners yet; `name` prefixes its log lines.
    pub fn new(name: &'static str, state: S) -> Server<S> {
        Server {
            name,
            listeners: Vec::new(),
            conns: Vec::new(),
            state,
        }
    }

    /// Serves `socket`, whose connections speak what `open` makes.
    pub fn listen(&mut self, socket: TcpListener, open: Open<S>) -> io::Result<()> {
        socket.set_nonblocking(true)?;
        self.listeners.push(Listener { socket, open });
        Ok(())
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
        let mut progress = false;
        for i in 0..self.listeners.len() {
            progress |= self.accept(i, now);
        }
        for conn in &mut self.conns {
            progress |= conn.poll(&mut self.state, now);
        }
        self.conns.retain(|c| !c.finished);
        progress
    }

    /// Says goodbye to every client (a GOAWAY for HTTP/2), as far as its
    /// socket takes it without waiting, and closes all connections.
    pub fn shutdown(&mut self) {
        let now = Instant::now();
        for conn in &mut self.conns {
            conn.go_away();
            conn.write(now);
        }
        self.conns.clear();
    }

    /// Accepts pending connections from listener `i`. When
    /// [`MAX_CONNECTIONS`] are open, a new one takes the place of the
    /// longest quiet connection that is between requests or closing; if
    /// there is none, it waits in the listener's backlog.
    fn accept(&mut self, i: usize, now: Instant) -> bool {
        let mut progress = false;
        for _ in 0..ACCEPT_BATCH {
            if self.conns.len() >= MAX_CONNECTIONS && !self.evict(now) {
                break;
            }
            let listener = &self.listeners[i];
            let stream = match listener.socket.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = writeln!(io::stderr(), "{}: accept failed: {e}", self.name);
                    break;
                }
            };
            progress = true;
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            // Small responses should not wait for Nagle; not every host
            // supports the option.
            let _ = stream.set_nodelay(true);
            let protocol = (listener.open)();
            self.conns.push(Conn::new(stream, protocol, now));
        }
        progress
    }

    /// Drops the longest quiet connection that is between requests or
    /// closing (with a goodbye, if the socket takes it at once); `false`
    /// if there is none.
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
