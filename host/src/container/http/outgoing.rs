//! Outgoing `wasi:http` requests (`wasi:http/outgoing-handler`), from any
//! component: where they may go.
//!
//! * The pod's own loopback (`localhost`, `127.0.0.0/8`, `::1`, the pod's
//!   hostname) is always reachable, through the pod's in-memory network —
//!   a sibling's server or the container's own port — never a host socket.
//! * A host the run allows ([`AllowedHost`]: `--allow-outbound HOST[:PORT]`,
//!   `RunOptions::allow_outbound`) is reached over a real TCP connection
//!   from the host.
//! * Everything else fails with the `wasi:http` error code for a denied
//!   request, `HTTP-request-denied`, before any connection is made.
//!
//! Only plain `http` is sent: wasmpod links no TLS stack, so an `https`
//! request is denied too (its message says why in the host's trace log).

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use http::uri::Scheme;
use http_body_util::BodyExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::sandbox::{PodNetwork, PodStream};

/// How long a connection to an allowed host may take when the guest set no
/// `connect-timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A destination outside the pod that outgoing requests may reach:
/// `HOST` (any port) or `HOST:PORT`, as `--allow-outbound` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// The host name or IP address, lowercase, without brackets.
    pub host: String,
    /// The port; `None`: any.
    pub port: Option<u16>,
}

impl FromStr for AllowedHost {
    type Err = String;

    /// Parses `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            |why: &str| format!("invalid outbound host {s:?}: {why} (expected HOST or HOST:PORT)");
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(bad("text after ']'")),
            }
        } else if s.parse::<IpAddr>().is_ok() {
            (s, None)
        } else {
            match s.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        if host.is_empty() || host.contains(['/', '@', ' ', '[', ']']) {
            return Err(bad("not a host name or address"));
        }
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
            ),
            None => None,
        };
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => f.write_str(&host),
        }
    }
}

/// Where one outgoing request goes.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// A port of the pod's loopback.
    Pod(u16),
    /// An allowed host, `host:port`.
    Host(String),
    /// Another pod or a Service of the cluster (by IP or cluster DNS name).
    Cluster(std::net::SocketAddr),
}

/// The `wasi:http` hooks of one instance: its pod's network and the hosts
/// the run allows.
pub struct Outgoing {
    network: Arc<PodNetwork>,
    allowed: Arc<[AllowedHost]>,
}

impl Outgoing {
    /// Hooks for an instance of a pod with `network`, allowed `allowed`.
    pub fn new(network: Arc<PodNetwork>, allowed: Arc<[AllowedHost]>) -> Self {
        Self { network, allowed }
    }

    /// The cluster address `host` names (a pod or Service IP, or a cluster DNS name
    /// through the pod's search path), if the pod is in a cluster network.
    fn in_cluster(&self, host: &str, port: u16) -> Option<std::net::SocketAddr> {
        let cluster = self.network.cluster()?;
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => cluster.routes(ip).then_some(ip)?,
            Err(_) => *self.network.cluster_lookup(host)?.first()?,
        };
        Some(std::net::SocketAddr::new(ip, port))
    }

    /// Where a request to `uri` goes, or why it may not.
    fn route(&self, uri: &http::Uri) -> Result<Route, Error> {
        if uri.scheme() != Some(&Scheme::HTTP) {
            tracing::debug!(%uri, "outgoing request denied: only plain http is sent");
            return Err(Error::HttpRequestDenied);
        }
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let host = host.to_ascii_lowercase();
        let port = authority.port_u16().unwrap_or(80);
        let loopback = host == "localhost"
            || host == self.network.hostname().to_ascii_lowercase()
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if loopback {
            return Ok(Route::Pod(port));
        }
        // `spec.hostAliases` name the pod's loopback or cluster addresses here; an alias
        // to any other address is not followed (a manifest must not point a name the
        // run allows at another host): such a name goes on as any other.
        if let Some(&ip) = self.network.host_alias(&host).first() {
            if ip.is_loopback() {
                return Ok(Route::Pod(port));
            }
            if self.network.cluster().is_some_and(|c| c.routes(ip)) {
                return Ok(Route::Cluster(std::net::SocketAddr::new(ip, port)));
            }
        }
        let allowed = self
            .allowed
            .iter()
            .any(|a| a.host == host && a.port.is_none_or(|p| p == port));
        if let Some(addr) = self.in_cluster(&host, port) {
            return Ok(Route::Cluster(addr));
        }
        if allowed {
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            return Ok(Route::Host(format!("{host}:{port}")));
        }
        tracing::debug!(%uri, "outgoing request denied: not the pod's loopback nor an allowed host");
        Err(Error::HttpRequestDenied)
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<Sent, Error>> + Send> {
        let route = self.route(request.uri());
        let network = self.network.clone();
        Box::new(async move { send(network, route?, request, options).await })
    }
}

async fn send(
    network: Arc<PodNetwork>,
    route: Route,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<Sent, Error> {
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let io: Box<dyn Io> = match route {
        Route::Pod(port) => {
            Box::new(PodStream::connect(&network, port).map_err(|_| Error::ConnectionRefused)?)
        }
        Route::Cluster(addr) => {
            Box::new(PodStream::connect_addr(&network, addr).map_err(|_| Error::ConnectionRefused)?)
        }
        Route::Host(addr) => {
            let connect = tokio::net::TcpStream::connect(addr);
            match tokio::time::timeout(connect_timeout, connect).await {
                Ok(stream) => Box::new(stream.map_err(Error::Connect)?),
                Err(_) => return Err(Error::ConnectionTimeout),
            }
        }
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    // The connection is driven by its own task; it ends once the response
    // body is read or dropped.
    let conn = tokio::spawn(conn);
    // Origin form on the wire: the authority is in the Host header.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = match options.and_then(|o| o.first_byte_timeout) {
        Some(t) => tokio::time::timeout(t, sender.send_request(request))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)??,
        None => sender.send_request(request).await?,
    };
    let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
    let done = async move {
        match conn.await {
            Ok(r) => r.map_err(Error::from),
            Err(_) => Err(Error::ConnectionTerminated),
        }
    };
    Ok((response, Box::new(done)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks(allowed: &[&str]) -> Outgoing {
        let allowed: Vec<AllowedHost> = allowed.iter().map(|a| a.parse().unwrap()).collect();
        Outgoing::new(PodNetwork::new("web-0"), allowed.into())
    }

    fn route(h: &Outgoing, uri: &str) -> Result<Route, String> {
        h.route(&uri.parse().unwrap()).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn host_aliases_of_the_loopback_reach_the_pod_and_no_other_host() {
        use crate::sandbox::net::lookup::PodNames;
        let names = PodNames::new("web-0").with_aliases(vec![
            ("127.0.0.1".parse().unwrap(), vec!["backend.test".into()]),
            (
                "169.254.169.254".parse().unwrap(),
                vec!["meta.test".into(), "api.example.com".into()],
            ),
        ]);
        let allowed: Vec<AllowedHost> = vec!["api.example.com".parse().unwrap()];
        let h = Outgoing::new(PodNetwork::with_names(names), allowed.into());
        assert_eq!(route(&h, "http://Backend.Test:8080/"), Ok(Route::Pod(8080)));
        assert_eq!(
            route(&h, "http://meta.test/latest"),
            Err("HttpRequestDenied".into())
        );
        // The run allows the name, not the manifest's address for it.
        assert_eq!(
            route(&h, "http://api.example.com/"),
            Ok(Route::Host("api.example.com:80".into()))
        );
    }

    #[test]
    fn allowed_hosts_parse_with_and_without_ports() {
        let a: AllowedHost = "Example.com:8080".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("example.com", Some(8080)));
        let a: AllowedHost = "10.0.0.1".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("10.0.0.1", None));
        let a: AllowedHost = "[::1]:80".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", Some(80)));
        assert_eq!(a.to_string(), "[::1]:80");
        let a: AllowedHost = "fe80::1".parse().unwrap();
        assert_eq!((a.host.as_str(), a.port), ("fe80::1", None));
        for bad in ["", "host:0", "host:http", "http://host", "[::1", "a b"] {
            let err = bad.parse::<AllowedHost>().unwrap_err();
            assert!(err.contains("HOST or HOST:PORT"), "{bad}: {err}");
        }
    }

    #[test]
    fn loopback_goes_through_the_pod_and_the_rest_is_denied_unless_allowed() {
        let h = hooks(&["api.example.com:8080", "10.1.2.3"]);
        assert_eq!(route(&h, "http://localhost:8080/x"), Ok(Route::Pod(8080)));
        assert_eq!(route(&h, "http://127.0.0.1/"), Ok(Route::Pod(80)));
        assert_eq!(route(&h, "http://[::1]:9000/"), Ok(Route::Pod(9000)));
        assert_eq!(route(&h, "http://WEB-0:81/"), Ok(Route::Pod(81)));
        assert_eq!(
            route(&h, "http://api.example.com:8080/v1"),
            Ok(Route::Host("api.example.com:8080".into()))
        );
        assert_eq!(
            route(&h, "http://10.1.2.3:5000/"),
            Ok(Route::Host("10.1.2.3:5000".into()))
        );
        for denied in [
            "http://api.example.com/v1",
            "http://example.org/",
            "http://169.254.169.254/latest/meta-data",
            "https://api.example.com:8080/",
            "https://localhost/",
        ] {
            assert_eq!(
                route(&h, denied),
                Err("HttpRequestDenied".into()),
                "{denied}"
            );
        }
    }
}
