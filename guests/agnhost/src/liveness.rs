//! `liveness`: agnhost's server that is alive for 10 seconds, then
//! reports unhealthy for the rest of its (hopefully) short existence
//! (`test/images/agnhost/liveness/server.go`), which Kubernetes' probe e2e
//! tests run as `args: ["liveness"]`.
//!
//! It serves HTTP/1.1 on `127.0.0.1:8080` ([`PORT`]; it has no flags),
//! timing everything from its start:
//!
//! * `/started`: `200`, the time since start in Go's duration format
//!   (`1.234567s`);
//! * `/healthz`: `200` `ok` while at most 10 seconds have passed, then
//!   `500` `error: <seconds>`, the seconds as Go prints a `float64`
//!   (`error: 10.523456789`), see [`healthz`];
//! * `/redirect?loc=<escaped location>`: `302 Found` to the location, see
//!   [`redirect`];
//! * anything else: `404 page not found`.
//!
//! Like Go's `http.HandleFunc` routes, any method is served (HEAD gets the
//! headers only); see [`crate::http1`] for how requests are read and what
//! is refused before routing.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use crate::gofmt::{go_duration, go_float, go_quote, go_seconds};
use crate::http1::{Http1, Request, Response};
use crate::server::Server;
use crate::url;

pub const SUBCOMMAND: &str = "liveness";
/// The port agnhost's `liveness` listens on (`ListenAndServe(":8080")`).
pub const PORT: u16 = 8080;
/// Seconds `/healthz` stays healthy.
const HEALTHY_SECONDS: f64 = 10.0;

/// What all connections share: when the server started.
pub struct Liveness {
    started: Instant,
}

/// Answers one request at `now`.
pub fn handle(request: &Request<'_>, state: &mut Liveness, now: Instant) -> Response {
    route(request, now.saturating_duration_since(state.started))
}

/// Answers one request `elapsed` after start.
pub fn route(request: &Request<'_>, elapsed: Duration) -> Response {
    match request.path {
        b"/started" => Response::text(200, go_duration(elapsed)),
        b"/healthz" => healthz(elapsed),
        b"/redirect" => redirect(request),
        _ => Response::not_found(),
    }
}

/// `/healthz` `elapsed` after start: `200` `ok` through 10 seconds
/// (`time.Since(started).Seconds() > 10` is the test), then `500`
/// `error: <seconds>` (`fmt.Sprintf("error: %v", seconds)`).
pub fn healthz(elapsed: Duration) -> Response {
    let seconds = go_seconds(elapsed);
    if seconds > HEALTHY_SECONDS {
        Response::text(500, format!("error: {}", go_float(seconds)))
    } else {
        Response::text(200, "ok")
    }
}

/// `/redirect`: the `loc` query parameter (`r.URL.Query().Get("loc")`,
/// which decodes it once) is query-unescaped once more
/// (`url.QueryUnescape`) and redirected to with `302 Found`, as Go's
/// `http.Redirect` does it ([`Response::redirect`]): a path is resolved
/// against `/redirect` and cleaned (`loc=%2Fhealthz` and `loc=healthz`
/// both give `Location: /healthz`), anything with a scheme or host goes as
/// it is (`loc=http%3A%2F%2F0.0.0.0%2F`). A missing `loc` redirects to
/// `/`. If the second unescaping fails (`loc=%25zz`: `%zz`), the answer is
/// `400` `invalid redirect: "%zz"`, the value quoted as Go's `%q` does.
pub fn redirect(request: &Request<'_>) -> Response {
    let loc = url::query_value(request.query, b"loc").unwrap_or_default();
    match url::unescape(&loc, true) {
        Some(location) => Response::redirect(302, request.method, request.path, &location),
        None => Response::error(400, &format!("invalid redirect: {}", go_quote(&loc))),
    }
}

/// The server over `socket`, timing from `started`.
pub fn server(socket: TcpListener, started: Instant) -> std::io::Result<Server<Liveness>> {
    let mut server = Server::new(SUBCOMMAND, Liveness { started });
    server.listen(socket, || Box::new(Http1::new(handle)))?;
    Ok(server)
}

/// Runs `liveness` until termination is requested.
pub fn run() -> ! {
    let started = Instant::now();
    let socket = crate::listen(SUBCOMMAND, "HTTP", PORT);
    let addr = socket
        .local_addr()
        .map_or(format!("127.0.0.1:{PORT}"), |a| a.to_string());
    let mut server = server(socket, started).unwrap_or_else(|e| {
        eprintln!("{SUBCOMMAND}: can't make the listener nonblocking: {e}");
        wasmpod_guest::exit(1);
    });
    // Like installing a SIGTERM handler: from now on we stop on our own.
    let _termination = wasmpod_guest::subscribe();
    crate::say(format_args!("{SUBCOMMAND}: serving on {addr}"));
    server.run(wasmpod_guest::requested, |nap| {
        wasmpod_guest::sleep_or_terminated(nap);
    });
    crate::say(format_args!("{SUBCOMMAND}: shutting down"));
    wasmpod_guest::exit(0);
}

#[cfg(test)]
mod tests;
