//! Redirectable standard streams for applets.
//!
//! WASI has no processes, so the shell runs every command in-process and
//! cannot hand a child its own file descriptors. Instead every applet gets an
//! [`Io`]: its stdin, stdout and stderr (each possibly a file, an in-memory
//! buffer for pipes and `$(...)`, or nothing for `/dev/null`) plus the
//! environment it should see. All three streams are cheap to clone and clones
//! share position and buffers, the way duplicated file descriptors do
//! (`2>&1`, or every command of a `while read` loop reading one stdin).

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Cursor, Read, Write};
use std::rc::Rc;

/// The streams and environment of one command.
#[derive(Clone)]
pub struct Io {
    pub stdin: Input,
    pub stdout: Output,
    pub stderr: Output,
    /// Environment variables visible to the command, in order.
    pub env: Rc<Vec<(String, String)>>,
}

impl Io {
    /// The process's own standard streams and environment.
    pub fn process() -> Io {
        Io {
            stdin: Input::new(Source::Stdin),
            stdout: Output::Stdout,
            stderr: Output::Stderr,
            env: Rc::new(std::env::vars().collect()),
        }
    }

    /// In-memory streams (stdin from `input`, outputs captured); for tests.
    #[cfg(test)]
    pub fn capture(input: &str) -> (Io, SharedBuffer, SharedBuffer) {
        let out = Rc::new(RefCell::new(Vec::new()));
        let err = Rc::new(RefCell::new(Vec::new()));
        let io = Io {
            stdin: Input::bytes(input.as_bytes().to_vec()),
            stdout: Output::Buffer(out.clone()),
            stderr: Output::Buffer(err.clone()),
            env: Rc::new(Vec::new()),
        };
        (io, out, err)
    }

    /// Looks up an environment variable of this command.
    pub fn getenv(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Writes `msg` and a newline to stderr, ignoring errors (there is
    /// nowhere left to report them).
    pub fn error(&mut self, msg: impl std::fmt::Display) {
        let _ = writeln!(self.stderr, "{msg}");
    }

    /// Flushes stdout and stderr.
    pub fn flush(&mut self) {
        let _ = self.stdout.flush();
        let _ = self.stderr.flush();
    }
}

/// Formats an I/O error the way busybox does: the OS message without the
/// "(os error N)" suffix Rust adds.
pub fn errstr(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// An in-memory output buffer shared between clones of an [`Output`].
pub type SharedBuffer = Rc<RefCell<Vec<u8>>>;

/// Where an [`Input`] reads from.
pub enum Source {
    Stdin,
    Null,
    Bytes(Cursor<Vec<u8>>),
    File(BufReader<File>),
}

/// A readable stream; clones share the read position.
#[derive(Clone)]
pub struct Input(Rc<RefCell<Source>>);

impl Input {
    pub fn new(source: Source) -> Input {
        Input(Rc::new(RefCell::new(source)))
    }

    /// Reads from memory (pipes, here-documents).
    pub fn bytes(data: Vec<u8>) -> Input {
        Input::new(Source::Bytes(Cursor::new(data)))
    }

    /// Reads until `delim` (included) or end of input; returns the count.
    pub fn read_until(&mut self, delim: u8, buf: &mut Vec<u8>) -> io::Result<usize> {
        match &mut *self.0.borrow_mut() {
            Source::Stdin => io::stdin().lock().read_until(delim, buf),
            Source::Null => Ok(0),
            Source::Bytes(c) => c.read_until(delim, buf),
            Source::File(f) => f.read_until(delim, buf),
        }
    }

    /// Reads one line, newline included; `None` at end of input.
    pub fn read_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = Vec::new();
        match self.read_until(b'\n', &mut buf)? {
            0 => Ok(None),
            _ => Ok(Some(buf)),
        }
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut *self.0.borrow_mut() {
            Source::Stdin => io::stdin().lock().read(buf),
            Source::Null => Ok(0),
            Source::Bytes(c) => c.read(buf),
            Source::File(f) => f.read(buf),
        }
    }
}

/// A writable stream; clones share the destination.
#[derive(Clone)]
pub enum Output {
    Stdout,
    Stderr,
    /// Discards everything (`/dev/null`, closed descriptors).
    Null,
    /// Captures output in memory (pipes, command substitution).
    Buffer(SharedBuffer),
    File(Rc<RefCell<BufWriter<File>>>),
}

impl Output {
    /// A fresh in-memory buffer and a handle to its contents.
    pub fn buffer() -> (Output, SharedBuffer) {
        let buf = Rc::new(RefCell::new(Vec::new()));
        (Output::Buffer(buf.clone()), buf)
    }
}

impl Write for Output {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout => io::stdout().write(data),
            Output::Stderr => io::stderr().write(data),
            Output::Null => Ok(data.len()),
            Output::Buffer(b) => {
                b.borrow_mut().extend_from_slice(data);
                Ok(data.len())
            }
            Output::File(f) => f.borrow_mut().write(data),
        }
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout => io::stdout().write_all(data),
            Output::Stderr => io::stderr().write_all(data),
            Output::File(f) => f.borrow_mut().write_all(data),
            _ => self.write(data).map(drop),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout => io::stdout().flush(),
            Output::Stderr => io::stderr().flush(),
            Output::Null | Output::Buffer(_) => Ok(()),
            Output::File(f) => f.borrow_mut().flush(),
        }
    }
}

/// Opens a file for reading, understanding the device names scripts use
/// (WASI has no `/dev`): `/dev/null`, `/dev/zero` (read as empty) and
/// `/dev/stdin`; `-` is also stdin.
pub fn open_input(path: &str, io: &Io) -> io::Result<Input> {
    match path {
        "/dev/null" | "/dev/zero" => Ok(Input::new(Source::Null)),
        "-" | "/dev/stdin" => Ok(io.stdin.clone()),
        _ => Ok(Input::new(Source::File(BufReader::new(File::open(path)?)))),
    }
}

/// Opens a file for writing (truncating, or appending), understanding
/// `/dev/null`, `/dev/stdout` and `/dev/stderr`.
pub fn open_output(path: &str, append: bool, io: &Io) -> io::Result<Output> {
    match path {
        "/dev/null" => Ok(Output::Null),
        "/dev/stdout" => Ok(io.stdout.clone()),
        "/dev/stderr" => Ok(io.stderr.clone()),
        _ => {
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .append(append)
                .truncate(!append)
                .open(path)?;
            Ok(Output::File(Rc::new(RefCell::new(BufWriter::new(file)))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_position_and_buffers() {
        let mut a = Input::bytes(b"one\ntwo\n".to_vec());
        let mut b = a.clone();
        assert_eq!(a.read_line().unwrap().unwrap(), b"one\n");
        assert_eq!(b.read_line().unwrap().unwrap(), b"two\n");
        assert!(a.read_line().unwrap().is_none());

        let (mut out, buf) = Output::buffer();
        let mut dup = out.clone();
        out.write_all(b"x").unwrap();
        dup.write_all(b"y").unwrap();
        assert_eq!(&*buf.borrow(), b"xy");
    }

    #[test]
    fn strips_os_error_suffix() {
        let e = io::Error::from_raw_os_error(2);
        assert!(!errstr(&e).contains("os error"));
    }
}
