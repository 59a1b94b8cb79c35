//! HTTP/1.1 to a fixture's pod over a stream into its network (hyper's client), with no
//! host port.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;

use super::{Fixture, FixtureError};

/// The most bytes of a response body read.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// An HTTP request: method, path, headers, body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: http::Method,
    /// The path and query (`/healthz?full=1`).
    pub path: String,
    /// Headers, in order (`Host` is added when missing).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A `GET` of `path`.
    pub fn get(path: &str) -> Self {
        Self::new(http::Method::GET, path)
    }

    /// A `POST` of `body` to `path`.
    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Self {
        let mut r = Self::new(http::Method::POST, path);
        r.body = body.into();
        r
    }

    /// A request with any method.
    pub fn new(method: http::Method, path: &str) -> Self {
        Request {
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// An HTTP response: status, headers, body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers, in order (names lowercase).
    pub headers: Vec<(String, String)>,
    /// The body (at most 16 MiB).
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Fixture {
    /// Sends `request` to `port` in the pod's network (one connection per request) and
    /// reads the whole response.
    ///
    /// # Errors
    /// [`FixtureError::Talk`] when nothing listens, the exchange fails, or the body is
    /// over 16 MiB.
    pub async fn http(&self, port: u16, request: Request) -> Result<Response, FixtureError> {
        let what = format!("{} {} on port {port}", request.method, request.path);
        let failed = |message: String| FixtureError::Talk {
            what: what.clone(),
            message,
        };
        let stream = self.connect(port).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(e.to_string()))?;
        let driver = tokio::spawn(connection);
        let mut builder = http::Request::builder()
            .method(request.method.clone())
            .uri(&request.path);
        if !request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            builder = builder.header("host", format!("localhost:{port}"));
        }
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let outgoing = builder
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|e| failed(e.to_string()))?;
        let answer = sender
            .send_request(outgoing)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = answer.status().as_u16();
        let headers = answer
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = Limited::new(answer.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| failed(e.to_string()))?
            .to_bytes()
            .to_vec();
        driver.abort();
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// A `GET` of `path` on `port` (see [`Fixture::http`]).
    ///
    /// # Errors
    /// As [`Fixture::http`].
    pub async fn get(&self, port: u16, path: &str) -> Result<Response, FixtureError> {
        self.http(port, Request::get(path)).await
    }
}
