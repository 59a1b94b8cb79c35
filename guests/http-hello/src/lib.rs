//! A `wasi:http/proxy` component for wasmpod's tests. Routes:
//!
//! * `/` — 200 `hello from wasi:http` (and a line on stdout);
//! * `/trap` — traps (`unreachable`) before answering;
//! * `/slow?ms=N` — waits N milliseconds, then 200 `slow done`;
//! * `/echo` — 200 with the number of body bytes read (or the body error);
//! * `/env?NAME` — 200 with the value of an environment variable (404 unset);
//! * `/alloc?mb=N` — allocates and touches N MiB, then 200;
//! * `/fetch?URL` — sends `GET URL` (`http://host:port/path`) and answers
//!   200 with `status N: body`, or 502 with `error: CODE` (e.g.
//!   `HttpRequestDenied`).

#[cfg(target_os = "wasi")]
mod handler;

/// Splits `path?query` into its parts.
pub fn split_query(path_with_query: &str) -> (&str, &str) {
    path_with_query
        .split_once('?')
        .unwrap_or((path_with_query, ""))
}

/// Splits `http://host[:port]/path` into (authority, path-with-query).
pub fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    match rest.find('/') {
        Some(i) => Some((&rest[..i], &rest[i..])),
        None => Some((rest, "/")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_queries_split() {
        assert_eq!(split_query("/slow?ms=5"), ("/slow", "ms=5"));
        assert_eq!(split_query("/"), ("/", ""));
        assert_eq!(
            split_url("http://localhost:8080/x?y"),
            Some(("localhost:8080", "/x?y"))
        );
        assert_eq!(split_url("http://h"), Some(("h", "/")));
        assert_eq!(split_url("https://h/"), None);
    }
}
