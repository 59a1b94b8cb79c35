//! The gRPC probe: the standard health service (`grpc.health.v1.Health/Check`)
//! over HTTP/2, through the pod's network, as the kubelet's prober does it
//! (pkg/probe/grpc/grpc.go).
//!
//! * The client is the `h2` crate over a [`PodStream`]; the two messages are
//!   `prost` types mirroring `grpc/health/v1/health.proto`.
//! * Like grpc-go's blocking dial, a refused connection is retried (with
//!   grpc's 1 s × 1.6 backoff) until the probe's timeout, which then fails
//!   the probe with the kubelet's "failed to connect" message; so a probe of a
//!   wrong port takes `timeoutSeconds` to fail, as it does on a node.
//! * The result texts are the kubelet's, word for word: `service unhealthy
//!   (responded with "NOT_SERVING")`, `error: health rpc probe failed: rpc
//!   error: code = NotFound desc = unknown service`, and so on.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use prost::Message;
use tokio::time::Instant;

use super::Verdict;
use crate::sandbox::{PodNetwork, PodStream};
use crate::supervisor::task::AbortOnDrop;

/// `grpc.health.v1.HealthCheckRequest`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct HealthCheckRequest {
    /// The service asked about; "" is the server as a whole.
    #[prost(string, tag = "1")]
    pub(crate) service: String,
}

/// `grpc.health.v1.HealthCheckResponse`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct HealthCheckResponse {
    /// A [`ServingStatus`].
    #[prost(enumeration = "ServingStatus", tag = "1")]
    pub(crate) status: i32,
}

/// `grpc.health.v1.HealthCheckResponse.ServingStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum ServingStatus {
    Unknown = 0,
    Serving = 1,
    NotServing = 2,
    ServiceUnknown = 3,
}

/// The status names as the Go enum prints them (`resp.GetStatus().String()`).
fn status_name(status: i32) -> String {
    match ServingStatus::try_from(status) {
        Ok(ServingStatus::Unknown) => "UNKNOWN".into(),
        Ok(ServingStatus::Serving) => "SERVING".into(),
        Ok(ServingStatus::NotServing) => "NOT_SERVING".into(),
        Ok(ServingStatus::ServiceUnknown) => "SERVICE_UNKNOWN".into(),
        Err(_) => status.to_string(),
    }
}

/// gRPC status code names as grpc-go's `codes.Code.String()` prints them.
fn code_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES
        .get(code as usize)
        .map_or_else(|| format!("Code({code})"), |n| (*n).to_string())
}

const UNKNOWN: u32 = 2;
const UNIMPLEMENTED: u32 = 12;
const INTERNAL: u32 = 13;
const UNAVAILABLE: u32 = 14;

/// A failed RPC: a gRPC status code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RpcError {
    code: u32,
    message: String,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rpc error: code = {} desc = {}",
            code_name(self.code),
            self.message
        )
    }
}

impl From<h2::Error> for RpcError {
    fn from(e: h2::Error) -> Self {
        RpcError {
            code: UNAVAILABLE,
            message: e.to_string(),
        }
    }
}

/// Runs one gRPC health probe against `port` of the pod, asking about
/// `service`, within `timeout`, with the kubelet's result texts.
pub(crate) async fn check(
    network: &Arc<PodNetwork>,
    port: u16,
    service: &str,
    timeout: Duration,
) -> Verdict {
    let addr = format!("127.0.0.1:{port}");
    let within = format!("{}s", timeout.as_secs_f64());
    let deadline = Instant::now() + timeout;
    let Some(stream) = dial(network, port, deadline).await else {
        return Verdict::Failure(format!(
            "timeout: failed to connect service {addr:?} within {within}: context deadline exceeded"
        ));
    };
    let text = match tokio::time::timeout_at(deadline, call(stream, port, service, timeout)).await {
        Ok(Ok(status)) if status == ServingStatus::Serving as i32 => return Verdict::Success,
        Ok(Ok(status)) => format!(
            "service unhealthy (responded with {:?})",
            status_name(status)
        ),
        Ok(Err(e)) if e.code == UNIMPLEMENTED => format!(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
            e.message
        ),
        Ok(Err(e)) => format!("error: health rpc probe failed: {e}"),
        Err(_) => format!("timeout: health rpc did not complete within {within}"),
    };
    Verdict::Failure(text)
}

/// Connects to the port, retrying a refused connection with grpc's
/// reconnect backoff until `deadline`, as `grpc.DialContext(WithBlock)` does.
async fn dial(network: &Arc<PodNetwork>, port: u16, deadline: Instant) -> Option<PodStream> {
    let mut backoff = Duration::from_secs(1);
    loop {
        if let Ok(stream) = PodStream::connect(network, port) {
            return Some(stream);
        }
        let next = Instant::now() + backoff;
        if next >= deadline {
            tokio::time::sleep_until(deadline).await;
            return None;
        }
        tokio::time::sleep_until(next).await;
        backoff = backoff.mul_f64(1.6).min(Duration::from_secs(120));
    }
}

/// One `Check` call on a fresh HTTP/2 connection; the serving status.
async fn call(
    stream: PodStream,
    port: u16,
    service: &str,
    timeout: Duration,
) -> Result<i32, RpcError> {
    let (send, connection) = h2::client::handshake(stream).await?;
    // The connection task ends when the call's handles are dropped, or with this guard.
    let driver = tokio::spawn(connection);
    let _stop = AbortOnDrop(driver.abort_handle());
    let mut send = send.ready().await?;
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!(
            "http://127.0.0.1:{port}/grpc.health.v1.Health/Check"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", "kube-probe/1.35")
        .header("grpc-timeout", format!("{}m", timeout.as_millis()))
        .body(())
        .expect("a well-formed request");
    let (response, mut body) = send.send_request(request, false)?;
    body.send_data(
        frame(&HealthCheckRequest {
            service: service.to_string(),
        }),
        true,
    )?;
    let response = response.await?;
    let (head, mut recv) = response.into_parts();
    if head.status != http::StatusCode::OK {
        return Err(http_status_error(head.status));
    }
    // A trailers-only response carries the status in its headers.
    if let Some(error) = grpc_status(&head.headers) {
        return error.map(|()| ServingStatus::Unknown as i32);
    }
    let mut data = BytesMut::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        if data.len() + chunk.len() > MAX_MESSAGE {
            return Err(RpcError {
                code: 8, // ResourceExhausted
                message: format!("received message larger than max ({MAX_MESSAGE})"),
            });
        }
        data.extend_from_slice(&chunk);
    }
    let trailers = recv.trailers().await?.unwrap_or_default();
    match grpc_status(&trailers) {
        Some(Err(e)) => return Err(e),
        Some(Ok(())) => {}
        None => {
            return Err(RpcError {
                code: INTERNAL,
                message: "server closed the stream without sending trailers".into(),
            });
        }
    }
    let message = unframe(data.freeze())?;
    HealthCheckResponse::decode(message)
        .map(|r| r.status)
        .map_err(|e| RpcError {
            code: INTERNAL,
            message: format!("grpc: failed to unmarshal the received message: {e}"),
        })
}

/// The largest response accepted (grpc-go's default receive limit is 4 MiB;
/// a health response is two bytes).
const MAX_MESSAGE: usize = 64 * 1024;

/// A message with gRPC's 5-byte prefix: uncompressed flag, big-endian length.
pub(crate) fn frame(message: &impl Message) -> Bytes {
    let body = message.encode_to_vec();
    let mut out = BytesMut::with_capacity(5 + body.len());
    out.extend_from_slice(&[0]);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out.freeze()
}

/// The one message in a unary response body.
fn unframe(mut data: Bytes) -> Result<Bytes, RpcError> {
    let internal = |message: &str| RpcError {
        code: INTERNAL,
        message: message.into(),
    };
    if data.len() < 5 {
        return Err(internal(
            "grpc: server sent an empty or truncated response body",
        ));
    }
    let compressed = data.get_u8();
    let len = data.get_u32() as usize;
    if compressed != 0 {
        return Err(internal(
            "grpc: compressed message received, but no compression was asked for",
        ));
    }
    if data.len() != len {
        return Err(internal(
            "grpc: response message length does not match its prefix",
        ));
    }
    Ok(data)
}

/// `grpc-status` (and `grpc-message`, percent-decoded) from a header map:
/// `None` if absent, `Some(Ok)` for OK.
fn grpc_status(headers: &http::HeaderMap) -> Option<Result<(), RpcError>> {
    let code = headers.get("grpc-status")?;
    let code = code
        .to_str()
        .ok()
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(UNKNOWN);
    if code == 0 {
        return Some(Ok(()));
    }
    let message = headers
        .get("grpc-message")
        .map(|m| percent_decode(m.as_bytes()))
        .unwrap_or_default();
    Some(Err(RpcError { code, message }))
}

/// grpc-go's mapping of a non-200 HTTP status to a gRPC code.
fn http_status_error(status: http::StatusCode) -> RpcError {
    let code = match status.as_u16() {
        400 => INTERNAL,
        401 => 16,
        403 => 7,
        404 => UNIMPLEMENTED,
        429 | 502..=504 => UNAVAILABLE,
        _ => UNKNOWN,
    };
    RpcError {
        code,
        message: format!(
            "unexpected HTTP status code received from server: {} ({})",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Unknown")
        ),
    }
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2 spec).
fn percent_decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if raw[i] == b'%'
            && let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_with_the_grpc_prefix() {
        let framed = frame(&HealthCheckRequest {
            service: "db".into(),
        });
        assert_eq!(&framed[..], &[0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']);
        let response = frame(&HealthCheckResponse {
            status: ServingStatus::NotServing as i32,
        });
        let decoded = HealthCheckResponse::decode(unframe(response).unwrap()).unwrap();
        assert_eq!(decoded.status, 2);
        assert_eq!(status_name(decoded.status), "NOT_SERVING");
        assert!(unframe(Bytes::from_static(&[1, 0, 0, 0, 0])).is_err());
        assert!(unframe(Bytes::from_static(&[0, 0, 0, 0, 3, 8])).is_err());
    }

    #[test]
    fn statuses_and_errors_print_as_grpc_go_does() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(grpc_status(&headers), None);
        headers.insert("grpc-status", "5".parse().unwrap());
        headers.insert("grpc-message", "unknown%20service".parse().unwrap());
        let error = grpc_status(&headers).unwrap().unwrap_err();
        assert_eq!(
            error.to_string(),
            "rpc error: code = NotFound desc = unknown service"
        );
        assert_eq!(
            http_status_error(http::StatusCode::NOT_FOUND).to_string(),
            "rpc error: code = Unimplemented desc = unexpected HTTP status code received from server: 404 (Not Found)"
        );
        assert_eq!(code_name(99), "Code(99)");
        assert_eq!(percent_decode(b"a%2"), "a%2");
    }
}
