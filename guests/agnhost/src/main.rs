//! `agnhost`: Kubernetes' e2e test image `agnhost`, as a wasm32-wasip2
//! component for wasmpod, so that pods written for Kubernetes' gRPC and
//! HTTP probe e2e tests run unchanged:
//!
//! ```yaml
//! command: ["/agnhost", "grpc-health-checking"]
//! # or, with the image's entrypoint /agnhost:
//! args: ["liveness"]
//! ```
//!
//! Two subcommands are implemented. `grpc-health-checking [flags]`:
//!
//! * a `grpc.health.v1.Health` server (HTTP/2 cleartext, prior knowledge) on
//!   `127.0.0.1:--port` (default 5000) answering `Check` for `--service`
//!   (default ""), see [`grpc`];
//! * an HTTP/1.1 control server on `127.0.0.1:--http-port` (default 8080)
//!   with `/make-serving` and `/make-not-serving`, see [`control`];
//! * SERVING for `--delay-unhealthy-sec` seconds, then NOT_SERVING
//!   (negative: always SERVING, the default; 0: NOT_SERVING from the
//!   start), see [`health`].
//!
//! `liveness` (no flags): an HTTP/1.1 server on `127.0.0.1:8080` with
//! `/started` (time since start), `/healthz` (`200 ok` for 10 seconds,
//! then `500`) and `/redirect?loc=...` (`302`), see [`liveness`].
//!
//! Flags are parsed as described in [`flags`]. Without a subcommand, or with
//! an unknown one, usage goes to stderr and the exit code is 1; so it is for
//! a bad flag value or an unknown flag, with a message naming the flag.
//! `agnhost help` and `--help` print usage on stdout and exit 0. The first
//! line printed once the ports listen is
//! `grpc-health-checking: serving gRPC health on 127.0.0.1:5000, control on 127.0.0.1:8080`,
//! or `liveness: serving on 127.0.0.1:8080`.
//!
//! Both subscribe to wasmpod termination (`wasmpod-guest`): when the pod is
//! stopped they say goodbye to their clients (a GOAWAY to HTTP/2 ones),
//! print `<subcommand>: shutting down` and exit 0.
//!
//! Everything runs on one thread with nonblocking sockets ([`server`]).
//! HTTP/1.1 is in [`http1`] (with the bits of Go's `net/url` it needs in
//! [`url`], and Go's value formatting in [`gofmt`]); HTTP/2 framing is in
//! [`frame`] and [`h2`] (HPACK from `loona-hpack`), the two protobuf
//! messages are encoded by hand in [`proto`].

mod control;
mod flags;
mod frame;
mod gofmt;
mod grpc;
mod h2;
mod health;
mod http1;
mod liveness;
mod proto;
mod server;
mod url;

use std::io::Write;
use std::net::TcpListener;
use std::time::Instant;

use flags::{Options, Parsed};
use health::Health;

const SUBCOMMAND: &str = "grpc-health-checking";

const USAGE: &str = "\
Usage: agnhost <subcommand> [flags]

agnhost for wasmpod: Kubernetes' e2e test image, as a WebAssembly component.

Subcommands:
  grpc-health-checking   serve grpc.health.v1 Check on --port, and
                         /make-serving and /make-not-serving on --http-port
  liveness               serve /started, /healthz (healthy for 10 seconds,
                         then failing) and /redirect on 127.0.0.1:8080
  help                   show this help

Run 'agnhost <subcommand> --help' for its flags.
";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    /// Usage on stdout, exit 0.
    Help(String),
    /// Start the servers.
    GrpcHealthChecking(Options),
    /// Start the `liveness` server.
    Liveness,
}

/// Interprets the whole command line (`args[0]` is the program name, with
/// or without a path). Errors carry the message for stderr (exit 1).
fn command(args: &[String]) -> Result<Command, String> {
    match args.get(1).map(String::as_str) {
        Some(SUBCOMMAND) => match flags::parse(&args[2..]) {
            Ok(Parsed::Run(options)) => Ok(Command::GrpcHealthChecking(options)),
            Ok(Parsed::Help) => Ok(Command::Help(subcommand_usage())),
            Err(e) => Err(format!("{SUBCOMMAND}: {e}\n\n{}", subcommand_usage())),
        },
        Some(liveness::SUBCOMMAND) => match flags::parse_none(&args[2..]) {
            Ok(Parsed::Run(())) => Ok(Command::Liveness),
            Ok(Parsed::Help) => Ok(Command::Help(LIVENESS_USAGE.into())),
            Err(e) => Err(format!("{}: {e}\n\n{LIVENESS_USAGE}", liveness::SUBCOMMAND)),
        },
        Some("help" | "-h" | "--help") => Ok(Command::Help(USAGE.into())),
        Some(other) => Err(format!("agnhost: unknown subcommand {other:?}\n\n{USAGE}")),
        None => Err(format!("agnhost: a subcommand is required\n\n{USAGE}")),
    }
}

const LIVENESS_USAGE: &str = "\
Usage: agnhost liveness

Serves HTTP on 127.0.0.1:8080, timing from its start:
  /started    200, the time since start (Go's duration format, 1.234567s)
  /healthz    200 \"ok\" for 10 seconds, then 500 \"error: <seconds since start>\"
  /redirect   302 to the location in the ?loc= query parameter (URL-escaped)
and 404 for anything else. There are no flags.

Flags:
  -h, --help   show this help
";

fn subcommand_usage() -> String {
    format!(
        "Usage: agnhost {SUBCOMMAND} [flags]\n\n\
         Serves grpc.health.v1.Health/Check on 127.0.0.1:--port, reporting SERVING for\n\
         --delay-unhealthy-sec seconds and NOT_SERVING after that, or after a GET of\n\
         /make-not-serving on 127.0.0.1:--http-port (/make-serving undoes that, but\n\
         not an elapsed delay).\n\n{}",
        flags::FLAGS_HELP
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match command(&args) {
        Ok(Command::Help(text)) => {
            print!("{text}");
            wasmpod_guest::exit(0);
        }
        Ok(Command::GrpcHealthChecking(options)) => grpc_health_checking(options),
        Ok(Command::Liveness) => liveness::run(),
        Err(message) => {
            eprint!("{message}");
            wasmpod_guest::exit(1);
        }
    }
}

/// Prints a log line on stdout and flushes it, ignoring errors: a closed
/// or broken stdout must not bring the servers down.
pub fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Binds a port on the pod's loopback for `subcommand`, or exits 1 saying
/// which.
pub fn listen(subcommand: &str, what: &str, port: u16) -> TcpListener {
    TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
        eprintln!("{subcommand}: can't listen for {what} on 127.0.0.1:{port}: {e}");
        wasmpod_guest::exit(1);
    })
}

/// Runs `grpc-health-checking` until termination is requested.
fn grpc_health_checking(options: Options) -> ! {
    let started = Instant::now();
    let grpc = listen(SUBCOMMAND, "gRPC health", options.port);
    let control = listen(SUBCOMMAND, "control requests", options.http_port);
    let addr = |l: &TcpListener, port| {
        l.local_addr()
            .map_or(format!("127.0.0.1:{port}"), |a| a.to_string())
    };
    let (grpc_addr, control_addr) = (addr(&grpc, options.port), addr(&control, options.http_port));
    let health = Health::new(started, options.service, options.delay_unhealthy_sec);
    let mut server = grpc::server(grpc, control, health).unwrap_or_else(|e| {
        eprintln!("{SUBCOMMAND}: can't make the listeners nonblocking: {e}");
        wasmpod_guest::exit(1);
    });
    // Like installing a SIGTERM handler: from now on we stop on our own.
    let _termination = wasmpod_guest::subscribe();
    say(format_args!(
        "{SUBCOMMAND}: serving gRPC health on {grpc_addr}, control on {control_addr}"
    ));
    server.run(wasmpod_guest::requested, |nap| {
        wasmpod_guest::sleep_or_terminated(nap);
    });
    say(format_args!("{SUBCOMMAND}: shutting down"));
    wasmpod_guest::exit(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str]) -> Result<Command, String> {
        command(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn dispatch() {
        for argv0 in ["/agnhost", "agnhost"] {
            assert_eq!(
                cmd(&[argv0, "grpc-health-checking"]),
                Ok(Command::GrpcHealthChecking(Options::default()))
            );
        }
        let Ok(Command::GrpcHealthChecking(o)) =
            cmd(&["/agnhost", "grpc-health-checking", "--port=5001"])
        else {
            panic!("not parsed");
        };
        assert_eq!(o.port, 5001);
        assert_eq!(cmd(&["agnhost", "help"]), Ok(Command::Help(USAGE.into())));
        assert!(USAGE.contains("  liveness "));
        for argv0 in ["/agnhost", "agnhost"] {
            assert_eq!(cmd(&[argv0, "liveness"]), Ok(Command::Liveness));
        }
        assert_eq!(cmd(&["/agnhost", "liveness", "--"]), Ok(Command::Liveness));
        assert_eq!(
            cmd(&["agnhost", "liveness", "--help"]),
            Ok(Command::Help(LIVENESS_USAGE.into()))
        );
        assert!(
            matches!(cmd(&["agnhost", "grpc-health-checking", "-h"]), Ok(Command::Help(u)) if u.contains("--delay-unhealthy-sec"))
        );
    }

    #[test]
    fn usage_errors() {
        let err = cmd(&["agnhost"]).unwrap_err();
        assert!(err.contains("subcommand is required") && err.contains("Usage: agnhost"));
        let err = cmd(&["agnhost", "netexec"]).unwrap_err();
        assert!(
            err.starts_with("agnhost: unknown subcommand \"netexec\"") && err.contains("Usage")
        );
        let err = cmd(&["agnhost", "liveness", "--port=8081"]).unwrap_err();
        assert!(
            err.starts_with("liveness: unknown flag: --port\n\nUsage: agnhost liveness"),
            "{err}"
        );
        let err = cmd(&["agnhost", "liveness", "extra"]).unwrap_err();
        assert!(
            err.starts_with("liveness: unexpected argument \"extra\""),
            "{err}"
        );
        let err = cmd(&["agnhost", "grpc-health-checking", "--port=x"]).unwrap_err();
        assert!(
            err.starts_with("grpc-health-checking: invalid argument \"x\" for \"--port\" flag"),
            "{err}"
        );
    }
}
