//! A pod's DNS settings (`spec.dnsPolicy`, `spec.dnsConfig`), resolved as the
//! kubelet writes the pod's `resolv.conf` (`GetPodDNS`), for the pod's name
//! lookups ([`crate::sandbox::net::lookup::Resolver`]).

use k8s_openapi::api::core::v1::PodSpec;

/// Where the pod's resolver sends names (`spec.dnsPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsPolicy {
    /// `ClusterFirst` (the default) and `ClusterFirstWithHostNet`: the cluster's
    /// DNS, with the namespace's search path and `ndots:5`.
    ClusterFirst,
    /// `Default`: the node's resolver, which a pod in wasmpod's sandbox does not
    /// reach: only the pod's own names and its `hostAliases` resolve.
    Node,
    /// `None`: only what `dnsConfig` says. wasmpod's one DNS server is the
    /// cluster's, which answers for whichever nameservers are named.
    Configured,
}

/// The DNS settings of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDns {
    /// `spec.dnsPolicy`.
    pub policy: DnsPolicy,
    /// `spec.dnsConfig.searches`, after the policy's own.
    pub searches: Vec<String>,
    /// The last `ndots` of `spec.dnsConfig.options` whose value is a number
    /// (capped at 15, as glibc caps it).
    pub ndots: Option<usize>,
}

impl PodDns {
    /// The settings of a validated pod spec.
    pub fn of(spec: &PodSpec) -> Self {
        let policy = match spec.dns_policy.as_deref() {
            Some("Default") => DnsPolicy::Node,
            Some("None") => DnsPolicy::Configured,
            _ => DnsPolicy::ClusterFirst,
        };
        let config = spec.dns_config.as_ref();
        let searches = config.and_then(|c| c.searches.clone()).unwrap_or_default();
        let ndots = config
            .and_then(|c| c.options.as_ref())
            .into_iter()
            .flatten()
            .rev()
            .filter(|o| o.name.as_deref() == Some("ndots"))
            .find_map(|o| o.value.as_deref()?.parse::<usize>().ok())
            .map(|n| n.min(15));
        Self {
            policy,
            searches,
            ndots,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> PodSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn policy_searches_and_ndots() {
        let dns = PodDns::of(&spec("containers: []\n"));
        assert_eq!(
            dns,
            PodDns {
                policy: DnsPolicy::ClusterFirst,
                searches: vec![],
                ndots: None
            }
        );
        let dns = PodDns::of(&spec(
            "containers: []\ndnsPolicy: None\ndnsConfig:\n  nameservers: [1.2.3.4]\n  \
             searches: [other.svc.cluster.local]\n  options:\n  - {name: ndots, value: '2'}\n  \
             - {name: edns0}\n  - {name: ndots, value: x}\n",
        ));
        assert_eq!(dns.policy, DnsPolicy::Configured);
        assert_eq!(dns.searches, ["other.svc.cluster.local"]);
        assert_eq!(dns.ndots, Some(2), "the last ndots that is a number");
        let dns = PodDns::of(&spec(
            "containers: []\ndnsPolicy: Default\ndnsConfig:\n  options: [{name: ndots, value: '40'}]\n",
        ));
        assert_eq!((dns.policy, dns.ndots), (DnsPolicy::Node, Some(15)));
        let dns = PodDns::of(&spec(
            "containers: []\ndnsPolicy: ClusterFirstWithHostNet\n",
        ));
        assert_eq!(dns.policy, DnsPolicy::ClusterFirst);
    }
}
