//! The handler (wasm32-wasip2 only).

use std::io::Write as _;

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam,
    Scheme,
};

use crate::{split_query, split_url};

wasip2::http::proxy::export!(Hello);

struct Hello;

impl wasip2::exports::http::incoming_handler::Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path_with_query = request.path_with_query().unwrap_or_else(|| "/".into());
        let (path, query) = split_query(&path_with_query);
        println!("http-hello: {path_with_query}");
        let (status, body) = match path {
            "/" => (200, "hello from wasi:http".to_string()),
            "/trap" => core::arch::wasm32::unreachable(),
            "/slow" => {
                let ms = query
                    .strip_prefix("ms=")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1000);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                (200, "slow done".to_string())
            }
            "/echo" => match read_body(request) {
                Ok(n) => (200, format!("read {n} bytes")),
                Err(e) => (400, format!("body error: {e}")),
            },
            "/env" => match std::env::var(query) {
                Ok(v) => (200, v),
                Err(_) => (404, format!("{query} is not set")),
            },
            "/alloc" => {
                let mb: usize = query
                    .strip_prefix("mb=")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                let block = vec![1u8; mb << 20];
                (200, format!("allocated {} MiB", block.len() >> 20))
            }
            "/fetch" => match fetch(query) {
                Ok(text) => (200, text),
                Err(e) => (502, format!("error: {e}")),
            },
            _ => (404, "not found".to_string()),
        };
        respond(response_out, status, &body);
    }
}

fn respond(out: ResponseOutparam, status: u16, text: &str) {
    let response = OutgoingResponse::new(Fields::new());
    response.set_status_code(status).expect("a valid status");
    let body = response.body().expect("the body, once");
    ResponseOutparam::set(out, Ok(response));
    let mut stream = body.write().expect("the body stream, once");
    stream
        .write_all(format!("{text}\n").as_bytes())
        .expect("write the body");
    stream.flush().expect("flush the body");
    drop(stream);
    OutgoingBody::finish(body, None).expect("finish the body");
}

/// Reads the request body to its end; its length, or the error.
fn read_body(request: IncomingRequest) -> Result<u64, String> {
    let body = request.consume().map_err(|()| "no body".to_string())?;
    let stream = body.stream().map_err(|()| "no stream".to_string())?;
    let mut total = 0u64;
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => total += chunk.len() as u64,
            Err(wasip2::io::streams::StreamError::Closed) => return Ok(total),
            Err(wasip2::io::streams::StreamError::LastOperationFailed(e)) => {
                return Err(e.to_debug_string());
            }
        }
    }
}

/// `GET url`: `status N: body` or the error code.
fn fetch(url: &str) -> Result<String, String> {
    let (authority, path) = split_url(url).ok_or_else(|| format!("not an http URL: {url}"))?;
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "authority")?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| "path")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = future
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|()| "no body")?;
    let stream = body.stream().map_err(|()| "no stream")?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(wasip2::io::streams::StreamError::Closed) => break,
            Err(e) => return Err(format!("{e:?}")),
        }
    }
    Ok(format!(
        "status {status}: {}",
        String::from_utf8_lossy(&bytes).trim_end()
    ))
}
