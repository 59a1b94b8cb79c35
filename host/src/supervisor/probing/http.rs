//! The `httpGet` handler: one GET through the pod's network (never a host
//! socket), for probes ([`get`], with redirects and a verdict) and for
//! lifecycle hooks ([`get_once`]).

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Verdict;
use crate::sandbox::{PodNetwork, PodStream};

/// An HTTP GET probe through the pod network (pkg/probe/http). Same-host
/// redirects are followed (up to 10, like Go's client); a redirect to
/// another host is not, and counts as success with a warning
/// ("Probe terminated redirects"), as the kubelet's prober treats it.
pub(super) async fn get(
    network: &Arc<PodNetwork>,
    port: u16,
    path: &str,
    headers: &[(String, String)],
) -> Verdict {
    let (mut port, mut path) = (port, path.to_string());
    for _ in 0..10 {
        let url = format!("http://127.0.0.1:{port}{path}");
        let response = match get_once(network, port, &path, headers, PROBE_AGENT).await {
            Ok(r) => r,
            Err(e) => return Verdict::Failure(format!("Get \"{url}\": {e}")),
        };
        let text = String::from_utf8_lossy(&response);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let code = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok());
        let location = lines.take_while(|l| !l.is_empty()).find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.trim().to_string())
        });
        let next = location.and_then(|l| same_host_target(&l, port));
        match (code, next) {
            (Some(300..400), Some(next)) => (port, path) = next,
            (Some(300..400), None) => {
                return Verdict::Warning(format!(
                    "Probe terminated redirects, Response body: {body}"
                ));
            }
            (Some(200..300), _) => return Verdict::Success,
            (Some(code), _) => {
                return Verdict::Failure(format!("HTTP probe failed with statuscode: {code}"));
            }
            (None, _) => {
                return Verdict::Failure(format!(
                    "Get \"{url}\": malformed HTTP response {status_line:?}"
                ));
            }
        }
    }
    Verdict::Failure(format!(
        "Get \"http://127.0.0.1:{port}{path}\": stopped after 10 redirects"
    ))
}

/// The port and path of a redirect target on the probed host, or `None` for
/// another host.
///
/// As the kubelet's redirect checker, only the host name is compared: the
/// probed host is the pod's address (127.0.0.1 here, as the pod IP is on a
/// node), so a redirect to it on another port is followed, and one to any
/// other name (`localhost` included, as it is not the pod IP) is not.
fn same_host_target(location: &str, port: u16) -> Option<(u16, String)> {
    if location.starts_with('/') {
        return Some((port, location.to_string()));
    }
    let rest = location.strip_prefix("http://")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (authority, 80),
    };
    (host == "127.0.0.1").then_some((port, path))
}

/// The `User-Agent` of probes (`kube-probe/<major>.<minor>`).
const PROBE_AGENT: &str = "kube-probe/1.35";
/// The `User-Agent` of lifecycle hooks.
pub(crate) const HOOK_AGENT: &str = "kube-lifecycle/1.35";

/// One GET; returns the whole (bounded) response. Reading it all, as Go's
/// client does, keeps the server from seeing the connection reset under it.
pub(crate) async fn get_once(
    network: &Arc<PodNetwork>,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    agent: &str,
) -> std::io::Result<Vec<u8>> {
    let mut stream = PodStream::connect(network, port)?;
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {agent}\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while response.len() < 64 * 1024 {
        match stream.read(&mut buf).await? {
            0 => break,
            n => response.extend_from_slice(&buf[..n]),
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::same_host_target;

    #[test]
    fn redirect_targets() {
        let target = |loc| same_host_target(loc, 8080);
        assert_eq!(target("/dir/"), Some((8080, "/dir/".into())));
        assert_eq!(target("http://127.0.0.1:8080/x"), Some((8080, "/x".into())));
        assert_eq!(target("http://127.0.0.1:9090"), Some((9090, "/".into())));
        assert_eq!(target("http://127.0.0.1/x"), Some((80, "/x".into())));
        assert_eq!(target("http://localhost:8080/x"), None, "not the pod IP");
        assert_eq!(target("http://0.0.0.0/"), None);
        assert_eq!(target("https://127.0.0.1/"), None);
    }
}
