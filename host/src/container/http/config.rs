//! Where a `wasi:http` container listens and the limits its requests get.
//!
//! The address is read as runwasi's wasmtime shim and the Spin shim read
//! it, from the container's environment: `WASMTIME_HTTP_PROXY_SOCKET_ADDR`,
//! else `SPIN_HTTP_LISTEN_ADDR`, else `0.0.0.0:8080` (`wasmtime serve`'s
//! and runwasi's default). `containerPort` does not change it: in
//! Kubernetes a declared port is informational (a process listens where it
//! listens), and a manifest written for runwasi declares `containerPort`
//! next to the env var, not instead of it.
//!
//! Settings the host reads are removed from the guest's environment, as
//! runwasi removes its own: the two addresses, `WASMTIME_HTTP_BACKLOG`
//! (listen backlog) and `WASMPOD_HTTP_MAX_IN_FLIGHT` (requests served at
//! once; more wait for a slot, within the request timeout).

use std::net::SocketAddr;
use std::time::Duration;

/// The address when the environment names none.
pub const DEFAULT_ADDR: &str = "0.0.0.0:8080";
/// The environment variables naming the address, in the order they win.
pub const ADDR_VARS: [&str; 2] = ["WASMTIME_HTTP_PROXY_SOCKET_ADDR", "SPIN_HTTP_LISTEN_ADDR"];
/// The listen backlog variable (runwasi's name) and its default.
pub const BACKLOG_VAR: &str = "WASMTIME_HTTP_BACKLOG";
/// The default listen backlog (the pod network's default).
pub const DEFAULT_BACKLOG: usize = crate::sandbox::net::netns::DEFAULT_BACKLOG;
/// The variable limiting requests in flight.
pub const MAX_IN_FLIGHT_VAR: &str = "WASMPOD_HTTP_MAX_IN_FLIGHT";
/// Requests one container serves at once by default: each is an instance
/// of its own, so that a few busy HTTP containers cannot take every
/// instance of the runtime.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 32;
/// The most requests in flight a container may ask for.
pub const MAX_MAX_IN_FLIGHT: usize = 128;
/// The largest request body accepted (`Content-Length` over it: 413; a
/// chunked body that grows past it ends in an error for the guest).
pub const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// The most header lines in a request (hyper answers 431 past it).
pub const MAX_HEADERS: usize = 100;
/// The largest request head (request line and headers) read, in bytes
/// (hyper answers 431 past it).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long one request may take, waiting for a slot included, until its
/// response is complete: past it the instance is killed (504 if nothing was
/// answered yet).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How a container is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Where it listens in the pod.
    pub addr: SocketAddr,
    /// The listen backlog.
    pub backlog: usize,
    /// Requests served at once.
    pub max_in_flight: usize,
    /// See [`MAX_BODY_BYTES`].
    pub max_body_bytes: u64,
    /// See [`MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`MAX_HEAD_BYTES`].
    pub max_head_bytes: usize,
    /// See [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
}

impl ServeConfig {
    /// Reads the settings from a container's environment and removes them
    /// from it.
    ///
    /// # Errors
    /// A message naming the variable whose value is invalid.
    pub fn from_env(env: &mut Vec<(String, String)>) -> Result<Self, String> {
        let mut take = |name: &str| {
            // The last definition wins, as in a process's environment.
            let value = env
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone());
            env.retain(|(k, _)| k != name);
            value
        };
        let addrs: Vec<_> = ADDR_VARS.iter().map(|v| (*v, take(v))).collect();
        let (var, addr) = addrs
            .into_iter()
            .find_map(|(var, v)| v.map(|v| (var, v)))
            .unwrap_or(("the default", DEFAULT_ADDR.to_string()));
        let addr = addr.trim().parse::<SocketAddr>().map_err(|_| {
            format!("{var}={addr:?} is not a socket address (expected e.g. 0.0.0.0:8080)")
        })?;
        let number = |var: &str, value: Option<String>, default: usize, max: usize| match value {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| format!("{var}={v:?} is not a number from 1 to {max}")),
        };
        let backlog = number(BACKLOG_VAR, take(BACKLOG_VAR), DEFAULT_BACKLOG, 4096)?;
        let max_in_flight = number(
            MAX_IN_FLIGHT_VAR,
            take(MAX_IN_FLIGHT_VAR),
            DEFAULT_MAX_IN_FLIGHT,
            MAX_MAX_IN_FLIGHT,
        )?;
        Ok(Self {
            addr,
            backlog,
            max_in_flight,
            max_body_bytes: MAX_BODY_BYTES,
            max_headers: MAX_HEADERS,
            max_head_bytes: MAX_HEAD_BYTES,
            request_timeout: REQUEST_TIMEOUT,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_default_is_8080_on_every_address() {
        let mut e = env(&[("A", "1")]);
        let c = ServeConfig::from_env(&mut e).unwrap();
        assert_eq!(c.addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(
            (c.backlog, c.max_in_flight),
            (DEFAULT_BACKLOG, DEFAULT_MAX_IN_FLIGHT)
        );
        assert_eq!(e, env(&[("A", "1")]));
    }

    #[test]
    fn wasmtime_s_variable_wins_over_spin_s_and_both_leave_the_guest_env() {
        let mut e = env(&[
            ("SPIN_HTTP_LISTEN_ADDR", "0.0.0.0:80"),
            ("KEEP", "x"),
            ("WASMTIME_HTTP_PROXY_SOCKET_ADDR", "127.0.0.1:9000"),
            ("WASMTIME_HTTP_BACKLOG", "16"),
            ("WASMPOD_HTTP_MAX_IN_FLIGHT", "4"),
        ]);
        let c = ServeConfig::from_env(&mut e).unwrap();
        assert_eq!(c.addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!((c.backlog, c.max_in_flight), (16, 4));
        assert_eq!(e, env(&[("KEEP", "x")]));
        let mut e = env(&[("SPIN_HTTP_LISTEN_ADDR", "0.0.0.0:80")]);
        let c = ServeConfig::from_env(&mut e).unwrap();
        assert_eq!(c.addr, "0.0.0.0:80".parse().unwrap());
        assert!(e.is_empty());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value, want) in [
            (
                "SPIN_HTTP_LISTEN_ADDR",
                "localhost:80",
                "not a socket address",
            ),
            ("WASMTIME_HTTP_BACKLOG", "0", "from 1 to 4096"),
            ("WASMPOD_HTTP_MAX_IN_FLIGHT", "1000", "from 1 to 128"),
        ] {
            let err = ServeConfig::from_env(&mut env(&[(var, value)])).unwrap_err();
            assert!(err.starts_with(var) && err.contains(want), "{err}");
        }
    }
}
