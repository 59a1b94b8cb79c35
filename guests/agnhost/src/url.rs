//! The bits of Go's `net/url` and `path` packages that agnhost's HTTP
//! handlers rely on, over bytes (Go strings are bytes, and a decoded
//! `%FF` need not be UTF-8):
//!
//! * [`unescape`]: `url.PathUnescape` / `url.QueryUnescape`;
//! * [`query_value`]: `url.ParseQuery(raw).Get(key)`, as `r.URL.Query()`
//!   does it;
//! * [`is_local`]: whether `url.Parse` accepts a URL and finds neither
//!   scheme nor host in it (what `http.Redirect` resolves against the
//!   request path);
//! * [`clean`] and [`dir`]: `path.Clean` and the directory half of
//!   `path.Split`.

/// Decodes `%XX` escapes (and, with `plus_is_space`, `+` as a space, as
/// query components do); `None` for a `%` not followed by two hex digits.
pub fn unescape(s: &[u8], plus_is_space: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let hi = s.get(i + 1).copied().and_then(hex)?;
                let lo = s.get(i + 2).copied().and_then(hex)?;
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The first value of `key` in the raw query string `query`, as Go's
/// `url.ParseQuery(query).Get(key)`: pairs are separated by `&`, keys and
/// values are query-unescaped, and pairs that contain a `;` or fail to
/// unescape are skipped. `None` when `key` has no value.
pub fn query_value(query: &str, key: &[u8]) -> Option<Vec<u8>> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = unescape(k.as_bytes(), true)?;
            let v = unescape(v.as_bytes(), true)?;
            (k == key).then_some(v)
        })
}

/// Whether Go's `url.Parse(url)` succeeds and finds neither a scheme nor
/// a host: a path (`/x`, `x/y`, `../z`), possibly with a query and a
/// fragment, or a network-path reference with an empty host (`//`).
/// `http.Redirect` resolves exactly those against the request path and
/// sends anything else as it is.
pub fn is_local(url: &[u8]) -> bool {
    // Control characters are rejected outright.
    if url.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return false;
    }
    let (rest, fragment) = split_at_first(url, b'#');
    if fragment.is_some_and(|f| unescape(f, false).is_none()) {
        return false;
    }
    if rest == b"*" {
        return true;
    }
    // A scheme (`[A-Za-z][A-Za-z0-9+.-]*:`) makes it non-local; a `:`
    // in first place is an error ("missing protocol scheme").
    for (i, &b) in rest.iter().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' => return false,
            _ => break,
        }
    }
    let (rest, _query) = split_at_first(rest, b'?');
    let mut path = rest;
    if !rest.starts_with(b"/") {
        // "first path segment in URL cannot contain colon"
        let (segment, _) = split_at_first(rest, b'/');
        if segment.contains(&b':') {
            return false;
        }
    } else if rest.starts_with(b"//") && !rest.starts_with(b"///") {
        let after = &rest[2..];
        let end = after.iter().position(|&b| b == b'/').unwrap_or(after.len());
        let (authority, tail) = after.split_at(end);
        let (userinfo, host) = match authority.iter().rposition(|&b| b == b'@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        if !host.is_empty() || userinfo.is_some_and(|u| !valid_userinfo(u)) {
            return false;
        }
        path = tail;
    }
    unescape(path, false).is_some()
}

/// Go's `validUserinfo`, plus its escapes decoding.
fn valid_userinfo(userinfo: &[u8]) -> bool {
    userinfo
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b))
        && unescape(userinfo, false).is_some()
}

/// `s` split at the first `sep` (excluded), if any.
fn split_at_first(s: &[u8], sep: u8) -> (&[u8], Option<&[u8]>) {
    match s.iter().position(|&b| b == sep) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// Go's `path.Clean`: the shortest equivalent path, by purely lexical
/// processing: repeated slashes collapse, `.` elements go, `..` removes
/// the element before it (at the root, it is dropped), and no trailing
/// slash remains except for `/` itself. An empty result is `.`.
pub fn clean(path: &[u8]) -> Vec<u8> {
    let rooted = path.first() == Some(&b'/');
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    // `out` up to `floor` is never removed by `..`.
    let mut floor = 0;
    if rooted {
        out.push(b'/');
        floor = 1;
    }
    for element in path.split(|&b| b == b'/') {
        match element {
            b"" | b"." => {}
            b".." if out.len() > floor => {
                let keep = out[floor..]
                    .iter()
                    .rposition(|&b| b == b'/')
                    .map_or(floor, |i| floor + i);
                out.truncate(keep);
            }
            b".." if rooted => {}
            b".." => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                floor = out.len();
            }
            _ => {
                if out.len() > usize::from(rooted) {
                    out.push(b'/');
                }
                out.extend_from_slice(element);
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// The directory half of Go's `path.Split`: everything through the last
/// `/` (empty if there is none).
pub fn dir(path: &[u8]) -> &[u8] {
    path.iter()
        .rposition(|&b| b == b'/')
        .map_or(&path[..0], |i| &path[..=i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(bytes: Option<Vec<u8>>) -> Option<String> {
        bytes.map(|b| String::from_utf8(b).unwrap())
    }

    #[test]
    fn unescaping() {
        assert_eq!(s(unescape(b"%2Fhealthz", false)), Some("/healthz".into()));
        assert_eq!(s(unescape(b"a+b%20c%7e", true)), Some("a b c~".into()));
        assert_eq!(s(unescape(b"a+b", false)), Some("a+b".into()));
        assert_eq!(unescape(b"%ff", false), Some(vec![0xff]));
        for bad in [&b"%"[..], b"%4", b"%zz", b"100%", b"%%41", b"%4g"] {
            assert_eq!(unescape(bad, true), None, "{bad:?}");
        }
    }

    #[test]
    fn query_values() {
        let q = |query, key: &str| s(query_value(query, key.as_bytes()));
        assert_eq!(q("loc=%2Fhealthz", "loc"), Some("/healthz".into()));
        assert_eq!(q("a=1&loc=x&loc=y", "loc"), Some("x".into()));
        assert_eq!(q("loc", "loc"), Some(String::new()));
        assert_eq!(q("lo%63=a+b", "loc"), Some("a b".into()));
        assert_eq!(q("", "loc"), None);
        // Pairs that do not parse are skipped, as url.ParseQuery does.
        assert_eq!(q("loc=100%&loc=2", "loc"), Some("2".into()));
        assert_eq!(q("loc=a;b&loc=c", "loc"), Some("c".into()));
        assert_eq!(q("loc=%zz", "loc"), None);
        // Decoded once: an escaped escape stays an escape.
        assert_eq!(q("loc=%2525", "loc"), Some("%25".into()));
    }

    #[test]
    fn local_urls() {
        for url in [
            "",
            "/",
            "/healthz",
            "healthz",
            "../x",
            "./a:b",
            "/a:b",
            "x/y?z=1#f",
            "*",
            "//",
            "//?q",
            "//@/x",
            "//user:pw@/x",
            "/%41",
            "?x",
            "#frag",
            // Three slashes: no authority, all path.
            "///not-a-host",
        ] {
            assert!(is_local(url.as_bytes()), "{url:?} should be local");
        }
        for url in [
            "http://0.0.0.0/",
            "HTTPS://example.com",
            "mailto:a@b",
            "a:b",
            "//host/x",
            "//host",
            "//:80",
            // url.Parse errors: sent as they are.
            ":x",
            "1a:b",
            "/%zz",
            "/x#%zz",
            "/a\nb",
            "/a\x7f",
            "//us er@/x",
            "//a%zz@/x",
        ] {
            assert!(!is_local(url.as_bytes()), "{url:?} should not be local");
        }
    }

    #[test]
    fn cleaning() {
        for (path, want) in [
            ("", "."),
            ("/", "/"),
            ("//healthz", "/healthz"),
            ("/a/./b/", "/a/b"),
            ("/a/../../b", "/b"),
            ("/..", "/"),
            ("a/../..", ".."),
            ("../../a/b/..", "../../a"),
            ("a//b/.", "a/b"),
            ("./", "."),
            ("/redirect/../healthz", "/healthz"),
        ] {
            assert_eq!(
                String::from_utf8(clean(path.as_bytes())).unwrap(),
                want,
                "{path:?}"
            );
        }
        assert_eq!(dir(b"/redirect"), b"/");
        assert_eq!(dir(b"/a/b"), b"/a/");
        assert_eq!(dir(b"x"), b"");
    }
}
