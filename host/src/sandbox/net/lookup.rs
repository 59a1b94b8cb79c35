//! Name lookup inside a pod: `localhost` (and any name under
//! `.localhost`, RFC 6761) and the pod's hostname resolve to the pod's
//! loopback, `127.0.0.1` then `::1`; IP literals resolve to themselves,
//! read as wasmtime reads them (URL host syntax, so `127.1` and
//! `0x7f000001` are `127.0.0.1`), and an IPv4-mapped IPv6 literal to its
//! IPv4 address (the WIT: never an IPv4-mapped address). In a cluster,
//! other names go to its DNS ([`super::cluster`]); every other name is
//! `name-unresolvable`. A name that is not valid domain syntax is
//! `invalid-argument`. A pod's `spec.hostAliases` ([`PodNames`]) resolve
//! after its own names and before the cluster's DNS, as the kubelet's
//! `/etc/hosts` lists them.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use wasmtime_wasi::p2::Pollable;
use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;

/// The names a pod's network resolves itself: its hostname (to loopback) and
/// its `spec.hostAliases`, as the kubelet's `/etc/hosts` for the pod lists them;
/// and how it asks the cluster's DNS for the others ([`Resolver`]).
#[derive(Debug, Clone, Default)]
pub struct PodNames {
    hostname: String,
    aliases: Vec<(IpAddr, Vec<String>)>,
    /// `None`: `ClusterFirst` in the pod's namespace, made at each lookup (most
    /// pods never look a name up; none pays for a resolver it does not use).
    resolver: Option<Resolver>,
}

impl PodNames {
    /// A pod whose hostname is `hostname`, without aliases, resolving as a
    /// `ClusterFirst` pod of its namespace.
    pub fn new(hostname: impl Into<String>) -> Self {
        Self {
            hostname: hostname.into(),
            ..Self::default()
        }
    }

    /// With `resolver` for the names that are not the pod's own (`None`:
    /// `ClusterFirst` in the pod's namespace).
    #[must_use]
    pub fn with_resolver(mut self, resolver: Option<Resolver>) -> Self {
        self.resolver = resolver;
        self
    }

    /// How the pod asks the cluster's DNS, unless as `ClusterFirst` in its namespace.
    pub fn resolver(&self) -> Option<&Resolver> {
        self.resolver.as_ref()
    }

    /// The pod's hostname.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// With `aliases` (`spec.hostAliases`: an IP and its names, each entry in turn).
    #[must_use]
    pub fn with_aliases(mut self, aliases: Vec<(IpAddr, Vec<String>)>) -> Self {
        self.aliases = aliases;
        self
    }

    /// The addresses the aliases give `name` (compared without case and a final
    /// dot), in their order, each once.
    pub(super) fn alias(&self, name: &str) -> Vec<IpAddr> {
        let wanted = name.trim_end_matches('.');
        let mut found: Vec<IpAddr> = Vec::new();
        for (ip, names) in &self.aliases {
            let ip = ip.to_canonical();
            if names
                .iter()
                .any(|n| n.trim_end_matches('.').eq_ignore_ascii_case(wanted))
                && !found.contains(&ip)
            {
                found.push(ip);
            }
        }
        found
    }
}

/// How a pod's resolver asks the cluster's DNS, as the kubelet writes the pod's
/// `resolv.conf` from `spec.dnsPolicy` and `spec.dnsConfig`: its search path and
/// `ndots`, or no cluster DNS at all (`dnsPolicy: Default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolver {
    cluster: bool,
    searches: Vec<String>,
    ndots: usize,
}

impl Resolver {
    /// The most search domains a `resolv.conf` the kubelet writes keeps.
    pub const MAX_SEARCHES: usize = 32;

    /// `ClusterFirst` for a pod of `namespace`: the search path
    /// `<ns>.svc.cluster.local svc.cluster.local cluster.local`, `ndots:5`.
    pub fn cluster_first(namespace: &str) -> Self {
        Self {
            cluster: true,
            searches: vec![
                format!("{namespace}.svc.cluster.local").to_ascii_lowercase(),
                "svc.cluster.local".into(),
                "cluster.local".into(),
            ],
            ndots: 5,
        }
    }

    /// `None`: the cluster's DNS with no search path of its own, `ndots:1`
    /// (the resolver's default).
    pub fn configured() -> Self {
        Self {
            cluster: true,
            searches: Vec::new(),
            ndots: 1,
        }
    }

    /// `Default`: the node's resolver, which the sandbox does not reach.
    pub fn node() -> Self {
        Self {
            cluster: false,
            searches: Vec::new(),
            ndots: 1,
        }
    }

    /// With `searches` after its own (`dnsConfig.searches`: each once, at most
    /// [`MAX_SEARCHES`](Self::MAX_SEARCHES) in all; `.` is the root, no domain)
    /// and `ndots` when given (`dnsConfig.options`).
    #[must_use]
    pub fn with(mut self, searches: &[String], ndots: Option<usize>) -> Self {
        for search in searches {
            let domain = search.trim_end_matches('.').to_ascii_lowercase();
            if !domain.is_empty()
                && !self.searches.contains(&domain)
                && self.searches.len() < Self::MAX_SEARCHES
            {
                self.searches.push(domain);
            }
        }
        self.ndots = ndots.unwrap_or(self.ndots);
        self
    }

    /// Whether the cluster's DNS is asked at all.
    pub fn asks_cluster(&self) -> bool {
        self.cluster
    }

    /// The names asked for `name`, in order: one with fewer dots than `ndots`
    /// under each search domain first, then as it is; any other name, and one
    /// ending in a dot, only as it is (as musl's resolver asks).
    pub fn candidates(&self, name: &str) -> Vec<String> {
        let lower = name.to_ascii_lowercase();
        if let Some(absolute) = lower.strip_suffix('.') {
            return vec![absolute.to_string()];
        }
        let mut out = Vec::new();
        if lower.matches('.').count() < self.ndots {
            out.extend(
                self.searches
                    .iter()
                    .map(|domain| format!("{lower}.{domain}")),
            );
        }
        out.push(lower);
        out
    }
}

/// Resolves `name` for a pod whose hostname is `hostname`.
///
/// # Errors
/// `invalid-argument` for a syntactically invalid name;
/// `name-unresolvable` for a name that is not the pod's own.
pub fn resolve(hostname: &str, name: &str) -> Result<Vec<IpAddr>, ErrorCode> {
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![ip.to_canonical()]);
    }
    if ends_in_a_number(name) {
        return url_ipv4(name)
            .map(|ip| vec![ip.into()])
            .ok_or(ErrorCode::InvalidArgument);
    }
    if !is_domain_syntax(name) {
        return Err(ErrorCode::InvalidArgument);
    }
    let lower = name.trim_end_matches('.').to_ascii_lowercase();
    let own = lower == "localhost"
        || lower.ends_with(".localhost")
        || lower == hostname.trim_end_matches('.').to_ascii_lowercase();
    if own {
        Ok(vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()])
    } else {
        Err(ErrorCode::NameUnresolvable)
    }
}

/// Whether the URL standard reads `name` as an IPv4 address (its last
/// label is a number), as wasmtime's `url::Host::parse` does.
fn ends_in_a_number(name: &str) -> bool {
    let mut parts: Vec<&str> = name.split('.').collect();
    if parts.last() == Some(&"") {
        if parts.len() == 1 {
            return false;
        }
        parts.pop();
    }
    let last = parts.last().copied().unwrap_or_default();
    (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())) || url_number(last).is_some()
}

/// The URL standard's IPv4 parser: 1–4 numbers (decimal, `0x` hex or
/// `0` octal), the last one filling the remaining bytes.
fn url_ipv4(name: &str) -> Option<Ipv4Addr> {
    let mut parts: Vec<&str> = name.split('.').collect();
    if parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let numbers = parts
        .iter()
        .map(|p| url_number(p))
        .collect::<Option<Vec<u64>>>()?;
    let (last, init) = numbers.split_last()?;
    if init.iter().any(|&n| n > 255) || *last >= 256u64.pow(5 - numbers.len() as u32) {
        return None;
    }
    let high = init
        .iter()
        .enumerate()
        .map(|(i, &n)| n << (8 * (3 - i)))
        .sum::<u64>();
    u32::try_from(high + last).ok().map(Ipv4Addr::from)
}

/// One number of a URL IPv4 address.
fn url_number(part: &str) -> Option<u64> {
    if part.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(hex) = part.strip_prefix("0x").or(part.strip_prefix("0X")) {
        (hex, 16)
    } else if part.len() > 1 && part.starts_with('0') {
        (&part[1..], 8)
    } else {
        (part, 10)
    };
    if digits.is_empty() {
        return Some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Letters, digits, `-` and `_` in dot-separated labels of 1–63 bytes,
/// at most 253 bytes (one trailing dot allowed).
fn is_domain_syntax(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The `resolve-address-stream` resource: the answer, known at once.
pub struct ResolveAddressStream {
    result: Result<VecDeque<IpAddr>, ErrorCode>,
}

impl ResolveAddressStream {
    /// A stream yielding `result`.
    pub fn new(result: Result<Vec<IpAddr>, ErrorCode>) -> Self {
        Self {
            result: result.map(VecDeque::from),
        }
    }

    /// `resolve-next-address`: the next address, `None` at the end.
    pub fn next_address(&mut self) -> Result<Option<IpAddr>, ErrorCode> {
        match &mut self.result {
            Ok(addrs) => Ok(addrs.pop_front()),
            Err(e) => Err(*e),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for ResolveAddressStream {
    async fn ready(&mut self) {
        // The answer is known when the stream is made.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_path_is_tried_before_the_name_itself() {
        let prod = Resolver::cluster_first("prod");
        assert_eq!(
            prod.candidates("mydb"),
            [
                "mydb.prod.svc.cluster.local",
                "mydb.svc.cluster.local",
                "mydb.cluster.local",
                "mydb"
            ]
        );
        assert_eq!(prod.candidates("a.b.c.d.e.f"), ["a.b.c.d.e.f"]);
        assert_eq!(prod.candidates("MyDb.X."), ["mydb.x"]);
    }

    #[test]
    fn dns_config_searches_and_ndots_extend_the_policys_own() {
        let searches = [
            "Other.svc.cluster.local.".to_string(),
            "svc.cluster.local".into(),
            ".".into(),
            "corp.example".into(),
        ];
        let r = Resolver::cluster_first("prod").with(&searches, Some(1));
        // Each domain once, the policy's first; `.` adds none; ndots:1 leaves a
        // dotted name unsearched.
        assert_eq!(
            r.candidates("db"),
            [
                "db.prod.svc.cluster.local",
                "db.svc.cluster.local",
                "db.cluster.local",
                "db.other.svc.cluster.local",
                "db.corp.example",
                "db"
            ]
        );
        assert_eq!(r.candidates("db.other"), ["db.other"]);
        // `None`: only the configured domains.
        let none = Resolver::configured().with(&searches[..1], None);
        assert_eq!(none.candidates("db"), ["db.other.svc.cluster.local", "db"]);
        assert!(none.asks_cluster());
        // `Default`: the node's resolver, not the cluster's.
        assert!(!Resolver::node().with(&searches, None).asks_cluster());
        // At most 32 domains in all.
        let many: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
        let r = Resolver::cluster_first("p").with(&many, None);
        assert_eq!(r.candidates("x").len(), Resolver::MAX_SEARCHES + 1);
    }

    #[test]
    fn the_pod_resolves_its_own_names_and_nothing_else() {
        let lo: Vec<IpAddr> = vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
        assert_eq!(resolve("web", "LocalHost"), Ok(lo.clone()));
        assert_eq!(resolve("web", "web"), Ok(lo));
        assert_eq!(resolve("web", "[::1]"), Ok(vec!["::1".parse().unwrap()]));
        assert!(resolve("web", "example.com").is_err());
    }

    #[test]
    fn aliases_match_without_case_or_final_dot_in_their_order_each_once() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "fd00::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let names = PodNames::new("pod").with_aliases(vec![
            (a, vec!["db.local".into(), "cache".into()]),
            (b, vec!["DB.local.".into()]),
            (mapped, vec!["db.local".into()]),
        ]);
        assert_eq!(names.alias("db.local"), [a, b]);
        assert_eq!(names.alias("Db.Local."), [a, b]);
        assert_eq!(names.alias("cache"), [a]);
        assert!(
            names.alias("pod").is_empty(),
            "the hostname is not an alias"
        );
        assert!(names.alias("other").is_empty());
    }
}
