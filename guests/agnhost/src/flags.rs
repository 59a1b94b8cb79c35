//! Flags of the subcommands, parsed like agnhost's (Go, cobra/pflag) with
//! one liberty: single-dash long flags are accepted too.
//!
//! `--port=5000`, `--port 5000`, `-port=5000` and `-port 5000` are all the
//! same; a separate value is taken as is, even if it starts with `-`
//! (`--delay-unhealthy-sec -1`). The last occurrence of a flag wins, `--`
//! ends the flags, and `-h`/`--help` asks for usage. Integers are decimal.
//! Positional arguments are rejected, as agnhost does, and so are flags
//! the subcommand does not have (`liveness` has none).

/// Settings of one `grpc-health-checking` run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `--port`: the gRPC health port.
    pub port: u16,
    /// `--http-port`: the control server's port.
    pub http_port: u16,
    /// `--service`: the service name answered for.
    pub service: String,
    /// `--delay-unhealthy-sec`: seconds of SERVING before NOT_SERVING;
    /// negative: never.
    pub delay_unhealthy_sec: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            port: 5000,
            http_port: 8080,
            service: String::new(),
            delay_unhealthy_sec: -1,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<T = Options> {
    Run(T),
    Help,
}

/// Flag help, for usage messages.
pub const FLAGS_HELP: &str = "\
Flags:
      --delay-unhealthy-sec int   seconds to report SERVING before turning NOT_SERVING;
                                  negative: never, 0: from the start (default -1)
      --http-port int             port of the /make-serving and /make-not-serving
                                  control server (default 8080)
      --port int                  gRPC health port (default 5000)
      --service string            service name to answer for (default \"\")
  -h, --help                      show this help
";

/// Parses the arguments that follow `grpc-health-checking`.
pub fn parse(args: &[String]) -> Result<Parsed, String> {
    let mut options = Options::default();
    let mut tls = false;
    let names = [
        "port",
        "http-port",
        "service",
        "delay-unhealthy-sec",
        "tls-cert-file",
        "tls-private-key-file",
    ];
    let help = scan(args, &names, |name, value| {
        match name {
            "port" => options.port = port(name, &value)?,
            "http-port" => options.http_port = port(name, &value)?,
            "service" => options.service = value,
            "delay-unhealthy-sec" => options.delay_unhealthy_sec = int(name, &value)?,
            // agnhost can serve gRPC over TLS; this build cannot.
            _ => tls |= !value.is_empty(),
        }
        Ok(())
    })?;
    if help {
        return Ok(Parsed::Help);
    }
    if tls {
        return Err(
            "--tls-cert-file/--tls-private-key-file: TLS is not supported by this agnhost".into(),
        );
    }
    Ok(Parsed::Run(options))
}

/// Parses the arguments that follow a subcommand without flags
/// (`liveness`): only `-h`/`--help` and `--`.
pub fn parse_none(args: &[String]) -> Result<Parsed<()>, String> {
    let help = scan(args, &[], |_, _| Ok(()))?;
    Ok(if help { Parsed::Help } else { Parsed::Run(()) })
}

/// Goes through `args`, calling `set` with the name and value of each
/// flag, which must be one of `names`. `Ok(true)` when usage is asked for
/// (nothing after that is looked at).
fn scan(
    args: &[String],
    names: &[&str],
    mut set: impl FnMut(&str, String) -> Result<(), String>,
) -> Result<bool, String> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            if let Some(extra) = args.next() {
                return Err(format!(
                    "unexpected argument {extra:?}: no arguments are accepted"
                ));
            }
            break;
        }
        let Some(flag) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|f| !f.is_empty())
        else {
            return Err(format!(
                "unexpected argument {arg:?}: no arguments are accepted"
            ));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        if matches!(name, "h" | "help") {
            return Ok(true);
        }
        if !names.contains(&name) {
            return Err(format!("unknown flag: --{name}"));
        }
        let Some(value) = inline.or_else(|| args.next().cloned()) else {
            return Err(format!("flag needs an argument: --{name}"));
        };
        set(name, value)?;
    }
    Ok(false)
}

/// A decimal integer flag value.
fn int(name: &str, value: &str) -> Result<i64, String> {
    value
        .parse()
        .map_err(|_| format!("invalid argument {value:?} for \"--{name}\" flag: not an integer"))
}

/// A port number flag value (0 picks any free port).
fn port(name: &str, value: &str) -> Result<u16, String> {
    let n = int(name, value)?;
    u16::try_from(n).map_err(|_| {
        format!("invalid argument {value:?} for \"--{name}\" flag: not a port number (0-65535)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args)? {
            Parsed::Run(o) => Ok(o),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults() {
        assert_eq!(
            run(&[]),
            Ok(Options {
                port: 5000,
                http_port: 8080,
                service: String::new(),
                delay_unhealthy_sec: -1
            })
        );
    }

    #[test]
    fn every_spelling() {
        let want = Options {
            port: 6000,
            http_port: 9090,
            service: "svc".into(),
            delay_unhealthy_sec: 5,
        };
        for args in [
            &[
                "--port=6000",
                "--http-port=9090",
                "--service=svc",
                "--delay-unhealthy-sec=5",
            ][..],
            &[
                "--port",
                "6000",
                "--http-port",
                "9090",
                "--service",
                "svc",
                "--delay-unhealthy-sec",
                "5",
            ],
            &[
                "-port=6000",
                "-http-port",
                "9090",
                "-service=svc",
                "-delay-unhealthy-sec",
                "5",
            ],
            &[
                "--port=1",
                "--port=6000",
                "--http-port=9090",
                "--service",
                "svc",
                "--delay-unhealthy-sec=5",
                "--",
            ],
        ] {
            assert_eq!(run(args), Ok(want.clone()), "{args:?}");
        }
    }

    #[test]
    fn values_may_look_like_flags_or_be_empty() {
        let o = run(&["--delay-unhealthy-sec", "-1", "--service", "-x"]).unwrap();
        assert_eq!((o.delay_unhealthy_sec, o.service.as_str()), (-1, "-x"));
        let o = run(&["--service=a=b", "--delay-unhealthy-sec=+7"]).unwrap();
        assert_eq!((o.delay_unhealthy_sec, o.service.as_str()), (7, "a=b"));
        assert_eq!(run(&["--service", ""]).unwrap().service, "");
        assert_eq!(run(&["--service="]).unwrap().service, "");
        assert_eq!(run(&["--port=0"]).unwrap().port, 0);
        assert_eq!(
            run(&["--tls-cert-file=", "--tls-private-key-file", ""]).map(|o| o.port),
            Ok(5000)
        );
    }

    #[test]
    fn no_flags() {
        let none =
            |args: &[&str]| parse_none(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(none(&[]), Ok(Parsed::Run(())));
        assert_eq!(none(&["--"]), Ok(Parsed::Run(())));
        assert_eq!(none(&["-h"]), Ok(Parsed::Help));
        assert_eq!(none(&["--help", "--bogus"]), Ok(Parsed::Help));
        assert_eq!(none(&["--port=8080"]), Err("unknown flag: --port".into()));
        assert_eq!(none(&["-v", "2"]), Err("unknown flag: --v".into()));
        assert!(
            none(&["extra"])
                .unwrap_err()
                .contains("unexpected argument \"extra\"")
        );
        assert!(
            none(&["--", "x"])
                .unwrap_err()
                .contains("unexpected argument \"x\"")
        );
    }

    #[test]
    fn help() {
        for flag in ["-h", "--help", "-help"] {
            assert_eq!(parse(&[flag.to_string()]), Ok(Parsed::Help));
        }
    }

    #[test]
    fn errors_name_the_flag() {
        let cases: [(&[&str], &str); 9] = [
            (
                &["--port=http"],
                "invalid argument \"http\" for \"--port\" flag: not an integer",
            ),
            (
                &["--http-port", "65536"],
                "invalid argument \"65536\" for \"--http-port\" flag: not a port number (0-65535)",
            ),
            (&["--port=-1"], "--port"),
            (&["--delay-unhealthy-sec=1.5"], "--delay-unhealthy-sec"),
            (&["--port"], "flag needs an argument: --port"),
            (&["--verbose"], "unknown flag: --verbose"),
            (&["extra"], "unexpected argument \"extra\""),
            (&["--", "extra"], "unexpected argument \"extra\""),
            (
                &["--tls-cert-file=c.pem", "--tls-private-key-file=k.pem"],
                "TLS is not supported",
            ),
        ];
        for (args, message) in cases {
            let err = run(args).unwrap_err();
            assert!(err.contains(message), "{args:?}: {err}");
        }
        assert!(
            run(&["-"])
                .unwrap_err()
                .contains("unexpected argument \"-\"")
        );
    }
}
