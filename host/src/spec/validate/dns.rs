//! The pod's DNS settings, as the API server validates them
//! (`validateDNSPolicy`'s rule for `None`, `validatePodDNSConfig`).

use k8s_openapi::api::core::v1::PodSpec;

use super::Checker;
use crate::spec::error::formats::dns1123_subdomain;
use crate::spec::error::msg;

/// The most nameservers a pod may name (`MaxDNSNameservers`).
const MAX_NAMESERVERS: usize = 3;
/// The most search domains (`MaxDNSSearchPaths`).
const MAX_SEARCHES: usize = 32;
/// The longest search list, spaces between domains included (`MaxDNSSearchListChars`).
const MAX_SEARCH_CHARS: usize = 2048;

impl Checker<'_> {
    /// `spec.dnsConfig`, and its presence under `dnsPolicy: None`.
    pub(super) fn dns(&mut self, spec: &PodSpec) {
        let none = spec.dns_policy.as_deref() == Some("None");
        let Some(config) = &spec.dns_config else {
            if none {
                self.add(
                    "spec.dnsConfig",
                    msg::required("must provide `dnsConfig` when `dnsPolicy` is None"),
                );
            }
            return;
        };
        let nameservers = config.nameservers.as_deref().unwrap_or_default();
        if none && nameservers.is_empty() {
            self.add(
                "spec.dnsConfig.nameservers",
                msg::required("must provide at least one DNS nameserver when `dnsPolicy` is None"),
            );
        }
        if nameservers.len() > MAX_NAMESERVERS {
            self.add(
                "spec.dnsConfig.nameservers",
                msg::invalid(
                    &list(nameservers),
                    &format!("must not have more than {MAX_NAMESERVERS} nameservers"),
                ),
            );
        }
        for (i, ip) in nameservers.iter().enumerate() {
            if ip.parse::<std::net::IpAddr>().is_err() {
                self.add(
                    format!("spec.dnsConfig.nameservers[{i}]"),
                    msg::invalid(&msg::quote(ip), "must be a valid IP address"),
                );
            }
        }
        let searches = config.searches.as_deref().unwrap_or_default();
        if searches.len() > MAX_SEARCHES {
            self.add(
                "spec.dnsConfig.searches",
                msg::invalid(
                    &list(searches),
                    &format!("must not have more than {MAX_SEARCHES} search paths"),
                ),
            );
        }
        let chars =
            searches.iter().map(String::len).sum::<usize>() + searches.len().saturating_sub(1);
        if chars > MAX_SEARCH_CHARS {
            self.add(
                "spec.dnsConfig.searches",
                msg::invalid(
                    &list(searches),
                    &format!(
                        "must not have more than {MAX_SEARCH_CHARS} characters (including spaces) \
                         in the search list"
                    ),
                ),
            );
        }
        for (i, search) in searches.iter().enumerate() {
            // `.` is the root; a domain may end in one.
            if search != "." {
                let domain = search.strip_suffix('.').unwrap_or(search);
                self.name_rule(
                    &format!("spec.dnsConfig.searches[{i}]"),
                    search,
                    dns1123_subdomain(domain),
                );
            }
        }
        for (i, option) in config.options.iter().flatten().enumerate() {
            if option.name.as_deref().unwrap_or_default().is_empty() {
                self.add(
                    format!("spec.dnsConfig.options[{i}]"),
                    msg::required("Option.Name must not be empty"),
                );
            }
        }
    }
}

/// A list of values as the API server's messages show it (at most 8 of them).
fn list(values: &[String]) -> String {
    let shown: Vec<String> = values.iter().take(8).map(|v| msg::quote(v)).collect();
    let more = if values.len() > 8 { ", …" } else { "" };
    format!("[]string{{{}{more}}}", shown.join(", "))
}
