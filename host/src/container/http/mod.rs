//! Serving a `wasi:http` component (one exporting
//! `wasi:http/incoming-handler`, the `wasi:http/proxy` world) as a container.
//!
//! The host listens inside the pod's network ([`PodListener`], no host
//! socket) on the container's [`listen address`](ServeConfig::from_env) and
//! speaks HTTP/1.1 (hyper, keep-alive). Every request gets a fresh instance
//! of the pre-linked component (as `wasmtime serve` and runwasi do), with the
//! container's environment, directories, stdio (its log), memory limit and
//! CPU account. See [`request`] for what one request may do and what
//! happens when it fails.
//!
//! * The container is running from the moment its port is bound (the
//!   launcher binds before it reports the instance started), so probes,
//!   siblings and forwards reach it at once.
//! * On TERM it stops accepting (the port is released; connections still
//!   queued are reset), ends idle keep-alive connections, lets requests in
//!   flight finish, and exits 0. At the grace period's deadline the
//!   supervisor aborts it, which kills every request instance (137).

pub mod config;
pub mod outgoing;
pub mod request;

pub use config::ServeConfig;
pub use outgoing::AllowedHost;

use std::sync::Arc;

use hyper::server::conn::http1;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::{Exit, Launch, P2State};
use crate::sandbox::{PodListener, PodStream};

/// Called with a message when a request's instance fails (trap, memory
/// limit, timeout); the supervisor turns it into a Warning event.
pub type Warn = Arc<dyn Fn(String) + Send + Sync>;

/// What one served container shares among its connections and requests.
pub(crate) struct Server {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) launch: Launch,
    pub(crate) pre: ProxyPre<P2State>,
    pub(crate) config: ServeConfig,
    /// One permit per request in flight.
    pub(crate) in_flight: Arc<Semaphore>,
    pub(crate) warn: Warn,
    /// Closed when the serve loop ends or is aborted: request instances
    /// still running are then killed.
    pub(crate) alive: watch::Receiver<()>,
}

/// Serves `pre` on `listener` until TERM (then drains, `Exit::Code(0)`).
/// Cancel-safe: dropping the future drops the listener, every connection
/// and every request instance.
pub async fn serve(
    engine: wasmtime::Engine,
    launch: Launch,
    pre: ProxyPre<P2State>,
    listener: PodListener,
    config: ServeConfig,
    warn: Warn,
) -> Exit {
    let termination = launch.termination.clone();
    termination.handled_by_host();
    let (_alive_tx, alive) = watch::channel(());
    let (stop_tx, stop_rx) = watch::channel(false);
    let server = Arc::new(Server {
        engine,
        in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
        launch,
        pre,
        config,
        warn,
        alive,
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            stream = listener.accept() => {
                connections.spawn(connection(server.clone(), stream, stop_rx.clone()));
            }
            () = termination.requested_wait() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Stop accepting: the port is free again, queued connections are reset.
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Exit::Code(0)
}

/// Serves one connection until the client closes it, or until `stop`
/// (then once the request in flight, if any, is answered).
async fn connection(server: Arc<Server>, stream: PodStream, mut stop: watch::Receiver<bool>) {
    let service_server = server.clone();
    let service =
        hyper::service::service_fn(move |req| request::handle(service_server.clone(), req));
    let conn = http1::Builder::new()
        .keep_alive(true)
        // A client that sends its request and then shuts its sending side
        // (`nc`, `printf … | nc`) still gets the response.
        .half_close(true)
        .max_headers(server.config.max_headers)
        .max_buf_size(server.config.max_head_bytes)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = async { let _ = stop.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("http connection ended: {e}");
    }
}
