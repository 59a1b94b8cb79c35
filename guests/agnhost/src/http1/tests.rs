//! Request reading, the server's own answers, and response encoding.

use super::*;

/// What `answer` sends for `received`, with a handler that echoes the
/// request it was given.
fn echo(received: &[u8]) -> Option<String> {
    let bytes = answer(received, |r| {
        let path = String::from_utf8_lossy(r.path);
        Response::text(200, format!("{} {path} ? {}", r.method, r.query))
    })?;
    Some(String::from_utf8(bytes).unwrap())
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").expect("a head").1
}

#[test]
fn requests_reach_the_handler_decoded() {
    for (request, want) in [
        (
            &b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            "GET /healthz ? ",
        ),
        (
            b"GET /redirect?loc=%2Fx&a=b HTTP/1.1\r\n\r\n",
            "GET /redirect ? loc=%2Fx&a=b",
        ),
        (b"HEAD /a%20b/ HTTP/1.0\n\n", ""),
        (
            b"POST http://h:8080/started?x HTTP/1.1\r\n\r\nbody",
            "POST /started ? x",
        ),
        (b"GET http://h:8080?x=1 HTTP/1.1\r\n\r\n", ""),
        // The query may hold anything, "://" included.
        (
            b"GET /redirect?loc=http://0.0.0.0/ HTTP/1.1\r\n\r\n",
            "GET /redirect ? loc=http://0.0.0.0/",
        ),
    ] {
        let r = echo(request).expect("a response");
        if want.is_empty() {
            continue;
        }
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert_eq!(body(&r), want);
    }
    // HEAD: the headers only, Content-Length of the body it would get.
    let r = echo(b"HEAD /a%20b/ HTTP/1.0\n\n").unwrap();
    assert!(
        r.ends_with("Content-Length: 13\r\nConnection: close\r\n\r\n"),
        "{r}"
    );
}

#[test]
fn incomplete_and_refused_requests() {
    assert_eq!(echo(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"), None);
    assert_eq!(echo(b""), None);
    let big = vec![b'a'; MAX_REQUEST_HEAD + 1];
    let r = echo(&big).unwrap();
    assert!(r.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    assert_eq!(body(&r), "431 Request Header Fields Too Large");
    assert!(r.contains("Content-Length: 35\r\n"), "{r}");
    for (request, status) in [
        (&b"GARBAGE\r\n\r\n"[..], "400 Bad Request"),
        (b"GET / HTTP/1.1 extra\r\n\r\n", "400 Bad Request"),
        (b"GET healthz HTTP/1.1\r\n\r\n", "400 Bad Request"),
        (b"GET /heal%zz HTTP/1.1\r\n\r\n", "400 Bad Request"),
        (b"GET / SPDY/3\r\n\r\n", "505 HTTP Version Not Supported"),
    ] {
        let r = echo(request).unwrap();
        assert!(r.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{r}");
        assert_eq!(body(&r), status);
    }
    let r = echo(b"OPTIONS * HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(
        r,
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    assert!(
        echo(b"GET * HTTP/1.1\r\n\r\n")
            .unwrap()
            .starts_with("HTTP/1.1 400 ")
    );
}

#[test]
fn unclean_paths_are_redirected() {
    for (target, location) in [
        ("//healthz", "/healthz"),
        ("/redirect/../healthz?x=1", "/healthz?x=1"),
        ("/./started/", "/started/"),
        ("/a//b//", "/a/b/"),
        ("http://h:8080", "/"),
    ] {
        let r = echo(format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes()).unwrap();
        assert!(
            r.starts_with(&format!(
                "HTTP/1.1 301 Moved Permanently\r\nLocation: {location}\r\n\
                 Content-Type: text/html; charset=utf-8\r\n"
            )),
            "{target}: {r}"
        );
        assert_eq!(
            body(&r),
            format!("<a href=\"{location}\">Moved Permanently</a>.\n\n")
        );
    }
    // CONNECT targets are not canonicalized.
    let r = echo(b"CONNECT //x HTTP/1.1\r\n\r\n").unwrap();
    assert_eq!(body(&r), "CONNECT //x ? ");
}

#[test]
fn encoding() {
    let r = Response::text(200, "ok").encode(true);
    assert_eq!(
        r,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
          Content-Length: 2\r\nConnection: close\r\n\r\nok"
    );
    let r = Response::not_found().encode(false);
    assert_eq!(
        String::from_utf8(r).unwrap(),
        "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\
         X-Content-Type-Options: nosniff\r\nContent-Length: 19\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(Response::not_found().body, b"404 page not found\n");
    // Line breaks cannot split a header.
    let r = Response {
        status: 500,
        headers: vec![("X-Test", " a\r\nInjected: yes\n".into())],
        body: Vec::new(),
    };
    let r = String::from_utf8(r.encode(true)).unwrap();
    assert!(
        r.starts_with("HTTP/1.1 500 Internal Server Error\r\nX-Test: a  Injected: yes\r\n"),
        "{r}"
    );
}

/// `Location`, `Content-Type` and body of a redirect.
fn redirect(method: &str, path: &str, location: &[u8]) -> (String, Option<String>, Vec<u8>) {
    let r = Response::redirect(302, method, path.as_bytes(), location);
    assert_eq!(r.status, 302);
    let header = |name| {
        r.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    };
    (
        header("Location").expect("Location"),
        header("Content-Type"),
        r.body,
    )
}

#[test]
fn redirects_as_go_does() {
    for (location, want) in [
        ("/healthz", "/healthz"),
        ("healthz", "/healthz"),
        ("", "/"),
        ("../../x/./y/", "/x/y/"),
        ("/a/b/..?q=/../", "/a?q=/../"),
        ("x#frag", "/x#frag"),
        ("//?q", "/?q"),
        ("http://0.0.0.0/", "http://0.0.0.0/"),
        ("https://example.com/a/../b", "https://example.com/a/../b"),
        ("//host/a/../b", "//host/a/../b"),
        // Not parsed by url.Parse: sent as it is, uncleaned.
        ("/a/../%zz", "/a/../%zz"),
        ("1a:b/../c", "1a:b/../c"),
    ] {
        let (got, _, _) = redirect("GET", "/redirect", location.as_bytes());
        assert_eq!(got, want, "{location:?}");
    }
    // Relative to the request path's directory.
    assert_eq!(redirect("GET", "/a/b", b"c").0, "/a/c");
    assert_eq!(redirect("GET", "", b"c").0, "/c");

    let (location, content_type, body) = redirect("GET", "/redirect", b"/healthz");
    assert_eq!(location, "/healthz");
    assert_eq!(content_type.as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(body, b"<a href=\"/healthz\">Found</a>.\n\n");
    // HEAD: typed, no body; other methods: neither.
    let (_, content_type, body) = redirect("HEAD", "/redirect", b"/healthz");
    assert_eq!((content_type.is_some(), body.is_empty()), (true, true));
    let (_, content_type, body) = redirect("POST", "/redirect", b"/healthz");
    assert_eq!((content_type, body.is_empty()), (None, true));
}

#[test]
fn redirect_escaping() {
    // Non-ASCII bytes are hex-escaped (lower case, as Go's strconv does)
    // in Location, and left alone in the body.
    let (location, _, body) = redirect("GET", "/redirect", "/é".as_bytes());
    assert_eq!(location, "/%c3%a9");
    assert_eq!(body, "<a href=\"/é\">Found</a>.\n\n".as_bytes());
    let (location, _, _) = redirect("GET", "/redirect", b"/\xff");
    assert_eq!(location, "/%ff");
    // HTML-special characters are escaped in the body only.
    let (location, _, body) = redirect("GET", "/redirect", b"/a<b>&\"'");
    assert_eq!(location, "/a<b>&\"'");
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "<a href=\"/a&lt;b&gt;&amp;&#34;&#39;\">Found</a>.\n\n"
    );
    // Control characters make url.Parse fail: not cleaned; line breaks
    // become spaces on the wire.
    let r = Response::redirect(302, "GET", b"/redirect", b"/a/../b\r\nSet-Cookie: x=1");
    let wire = String::from_utf8(r.encode(true)).unwrap();
    assert!(
        wire.starts_with("HTTP/1.1 302 Found\r\nLocation: /a/../b  Set-Cookie: x=1\r\n"),
        "{wire}"
    );
}

#[test]
fn targets_and_heads() {
    assert_eq!(
        split_target("/make-serving?a=b"),
        Some(("/make-serving", "a=b"))
    );
    assert_eq!(split_target("/x?"), Some(("/x", "")));
    assert_eq!(split_target("/x#f"), Some(("/x#f", "")));
    assert_eq!(
        split_target("http://localhost:8080/x?y?z"),
        Some(("/x", "y?z"))
    );
    assert_eq!(split_target("http://localhost:8080"), Some(("", "")));
    assert_eq!(
        split_target("/r?loc=http://h/"),
        Some(("/r", "loc=http://h/"))
    );
    assert_eq!(split_target("healthz"), None);
    assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
    assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
    assert_eq!(head_end(b"GET / HTTP/1.1\r\n"), None);
}

#[test]
fn one_request_per_connection() {
    fn count(_: &Request<'_>, calls: &mut u32, _: Instant) -> Response {
        *calls += 1;
        Response::text(200, calls.to_string())
    }
    let now = Instant::now();
    let mut calls = 0;
    let mut conn = Http1::new(count);
    assert!(conn.start().is_empty());
    // The head may arrive in pieces.
    assert!(
        conn.receive(b"GET / HTTP/1.1\r\n", &mut calls, now)
            .is_empty()
    );
    assert!(!conn.is_closed());
    let r = conn.receive(b"Host: x\r\n\r\nGET / HTTP/1.1\r\n\r\n", &mut calls, now);
    assert!(r.starts_with(b"HTTP/1.1 200 OK\r\n") && r.ends_with(b"\r\n\r\n1"));
    assert!(conn.is_closed() && !conn.is_idle());
    // Anything after the first request is ignored.
    assert!(
        conn.receive(b"GET / HTTP/1.1\r\n\r\n", &mut calls, now)
            .is_empty()
    );
    assert_eq!(calls, 1);
    let mut conn = Http1::new(count);
    conn.eof();
    assert!(conn.is_closed());
    let mut conn = Http1::new(count);
    assert!(conn.go_away().is_empty());
    assert!(conn.is_closed());
}
