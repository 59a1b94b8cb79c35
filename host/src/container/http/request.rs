//! One HTTP request: a fresh instance of the component handles it.
//!
//! * A `Content-Length` over [`ServeConfig::max_body_bytes`] is answered
//!   413 without starting an instance; a chunked body that grows past it
//!   ends, for the guest, in a body error (`HTTP-request-body-size`).
//! * At most [`ServeConfig::max_in_flight`] requests run at once; the others
//!   wait for a slot, and get 503 if none frees within the request timeout.
//! * The instance gets the container's environment, directories and stdio
//!   (each request's output goes to the container's log), its memory limit
//!   and CPU account, and [`ServeConfig::request_timeout`] to answer and
//!   finish its body.
//! * A trap, the memory limit, `exit` or the timeout before a response is
//!   answered 500 (504 for the timeout) and reported through the server's
//!   [`Warn`](super::Warn); the container keeps serving. After a response
//!   began, the failure cuts its body short (the connection is closed).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use super::super::cpu::{Meter, Metered};
use super::super::{Exit, exit_from_error, p2_state, set_yield, start_error, wasi_builder};
use super::Server;

#[cfg(doc)]
use super::ServeConfig;

/// How a request's instance failed.
#[derive(Debug)]
enum Failure {
    /// It trapped, went past its memory limit or exited.
    Exit(Exit),
    /// It did not finish within the request timeout.
    Timeout,
    /// It returned without setting a response.
    NoResponse,
    /// The container was killed while it ran.
    Killed,
}

impl Failure {
    fn message(&self, what: &str) -> String {
        match self {
            Failure::Exit(Exit::Trap(t)) => format!("request {what} trapped: {t}"),
            Failure::Exit(Exit::OomKilled(t)) => format!("request {what} was OOM-killed: {t}"),
            Failure::Exit(Exit::Code(c)) => format!("request {what} exited with code {c}"),
            Failure::Exit(Exit::StartError(e)) => {
                format!("request {what} could not start an instance: {e}")
            }
            Failure::Timeout => format!("request {what} timed out"),
            Failure::NoResponse => format!("request {what} returned without a response"),
            Failure::Killed => format!("request {what} was killed with its container"),
        }
    }
}

/// A short plain-text response.
fn plain(status: u16, text: &str) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(format!("{text}\n")))
        .map_err(|never: Infallible| match never {})
        .boxed_unsync();
    let mut response = hyper::Response::new(body);
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Serves one request (hyper's service function).
pub(crate) async fn handle(
    server: Arc<Server>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<HyperOutgoingBody>, Infallible> {
    let limit = server.config.max_body_bytes;
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Ok(plain(413, "payload too large"));
    }
    let what = format!("{} {}", req.method(), req.uri().path());
    let timeout = server.config.request_timeout;
    let permit = match tokio::time::timeout(timeout, server.in_flight.clone().acquire_owned()).await
    {
        Ok(Ok(p)) => p,
        _ => {
            return Ok(plain(
                503,
                "service unavailable: too many requests in flight",
            ));
        }
    };
    let mut builder = match wasi_builder(&server.launch) {
        Ok(b) => b,
        Err(e) => {
            (server.warn)(Failure::Exit(Exit::StartError(e)).message(&what));
            return Ok(plain(500, "internal server error"));
        }
    };
    let meter = server.launch.cpu.clone().map(Meter::new);
    let mut store = Store::new(&server.engine, p2_state(&server.launch, &mut builder));
    store.limiter(|s| &mut s.limiter);
    set_yield(&mut store, meter.clone());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let req = req.map(|body| LimitedBody {
        inner: body,
        left: limit,
        limit,
    });
    let resources = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)
        .and_then(|req| Ok((req, store.data_mut().http().new_response_outparam(tx)?)));
    let (req, out) = match resources {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!("bad request {what}: {e}");
            return Ok(plain(400, "bad request"));
        }
    };
    let pre = server.pre.clone();
    let work = async move {
        let proxy = pre
            .instantiate_async(&mut store)
            .await
            .map_err(start_error)?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await
            .map_err(exit_from_error)
    };
    let mut alive = server.alive.clone();
    let task_server = server.clone();
    let task_what = what.clone();
    let task = tokio::spawn(async move {
        let timed = Metered::new(tokio::time::timeout(timeout, work), meter);
        let failure = tokio::select! {
            r = timed => match r {
                Ok(Ok(())) => None,
                Ok(Err(exit)) => Some(Failure::Exit(exit)),
                Err(_) => Some(Failure::Timeout),
            },
            // The sender is never used: this ends when the server is gone.
            _ = alive.changed() => Some(Failure::Killed),
        };
        drop(permit);
        if let Some(f) = failure.as_ref().filter(|f| !matches!(f, Failure::Killed)) {
            (task_server.warn)(f.message(&task_what));
        }
        failure
    });
    Ok(match rx.await {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => {
            tracing::debug!("request {what}: the handler answered with error {code:?}");
            plain(500, "internal server error")
        }
        // The response outparam was dropped unset: the instance is over.
        Err(_) => match task.await {
            Ok(Some(Failure::Timeout)) => plain(504, "gateway timeout"),
            Ok(None) => {
                (server.warn)(Failure::NoResponse.message(&what));
                plain(500, "internal server error")
            }
            _ => plain(500, "internal server error"),
        },
    })
}

/// A request body cut off past the body limit.
struct LimitedBody {
    inner: Incoming,
    left: u64,
    limit: u64,
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(match frame {
            Some(Ok(frame)) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > self.left {
                    self.left = 0;
                    Some(Err(wasmtime_wasi_http::Error::HttpRequestBodySize(Some(
                        self.limit,
                    ))))
                } else {
                    self.left -= len;
                    Some(Ok(frame))
                }
            }
            Some(Err(e)) => Some(Err(e.into())),
            None => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
