//! The SSRF guard of configured destinations (webhook, Slack, Alertmanager URLs; Kafka
//! brokers): fluxsight must not be pointed at the cloud metadata service or other
//! addresses no sink legitimately lives at, since a pipeline file (or the Secret a URL
//! comes from) may be wrong or written by someone with less access than fluxsight's
//! ServiceAccount and node.
//!
//! Refused: link-local (169.254.0.0/16, fe80::/10), the metadata addresses
//! (169.254.169.254, fd00:ec2::254, 100.100.100.200) and names
//! (`metadata.google.internal`, `metadata.goog`, `instance-data`), unspecified and
//! "this network" (0.0.0.0/8, ::), broadcast and multicast (224.0.0.0/4, ff00::/8),
//! including their IPv4-mapped IPv6 forms. Allowed: loopback and private ranges
//! (RFC 1918, fc00::/7 other than the metadata address), since in-cluster Alertmanager,
//! sidecars and tests live there. A sink's `allow_hosts` lists host names or IP literals
//! exempt from the guard.
//!
//! Checked three times: at validation for hosts written in the file (pure: names and IP
//! literals, no DNS), at build for URLs read from `{env}`/`{file}`, and at connect time
//! by [`GuardedResolver`], so a name that resolves (or later re-resolves: DNS rebinding)
//! to a refused address is not connected to. Redirects are never followed
//! (`http::client`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Host names of cloud metadata services.
const METADATA_NAMES: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];
/// AWS IMDS over IPv6.
const AWS_IMDS_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
/// Alibaba Cloud metadata.
const ALIBABA_METADATA: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);

/// Why an address is refused, or `None` when it may be used.
pub fn refused_ip(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            if v6 == AWS_IMDS_V6 {
                Some("a cloud metadata address")
            } else if v6.is_unspecified() {
                Some("the unspecified address")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                Some("a link-local address")
            } else {
                None
            }
        }
    }
}

fn refused_v4(v4: Ipv4Addr) -> Option<&'static str> {
    if v4 == Ipv4Addr::new(169, 254, 169, 254) || v4 == ALIBABA_METADATA {
        Some("a cloud metadata address")
    } else if v4.is_link_local() {
        Some("a link-local address")
    } else if v4.octets()[0] == 0 {
        Some("the unspecified address")
    } else if v4.is_multicast() || v4.is_broadcast() {
        Some("a multicast or broadcast address")
    } else {
        None
    }
}

/// Host names and IP literals exempt from the guard (a sink's `allow_hosts`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allow(BTreeSet<String>);

impl Allow {
    pub fn new(hosts: &[String]) -> Self {
        Allow(hosts.iter().map(|h| normalise(h)).collect())
    }

    pub fn contains(&self, host: &str) -> bool {
        self.0.contains(&normalise(host))
    }
}

/// Lower case, without IPv6 brackets or a trailing dot.
fn normalise(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Why `host` (a name or an IP literal, as written) is refused without resolving it.
pub fn refused_host(host: &str, allow: &Allow) -> Option<&'static str> {
    if allow.contains(host) {
        return None;
    }
    let h = normalise(host);
    if let Ok(ip) = h.parse::<IpAddr>() {
        return refused_ip(ip);
    }
    METADATA_NAMES
        .contains(&h.as_str())
        .then_some("a cloud metadata host name")
}

/// The error text for a refused destination: names the field and the class, not the
/// URL (it may hold a token).
pub fn refusal(field: &str, why: &str) -> String {
    format!("{field}: refused: the host is {why} (SSRF guard); list it in allow_hosts to allow it")
}

/// Checks a URL's host (validation and build steps).
pub fn check_url(url: &reqwest::Url, allow: &Allow) -> Result<(), &'static str> {
    match url.host_str() {
        None => Ok(()),
        Some(h) => refused_host(h, allow).map_or(Ok(()), Err),
    }
}

/// Checks `host:port[,host:port…]` (Kafka brokers; librdkafka resolves names itself, so
/// only names and literals as written are checked).
pub fn check_brokers(brokers: &str, allow: &Allow) -> Result<(), &'static str> {
    for b in brokers.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        let host = match b.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|c| c.is_ascii_digit()) => h,
            _ => b,
        };
        if let Some(why) = refused_host(host, allow) {
            return Err(why);
        }
    }
    Ok(())
}

/// A reqwest DNS resolver that drops refused addresses from every answer, so a name
/// that (re-)resolves to the metadata service is never connected to.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    allow: Arc<Allow>,
}

impl GuardedResolver {
    pub fn new(allow: Allow) -> Self {
        GuardedResolver {
            allow: Arc::new(allow),
        }
    }
}

/// Keeps the usable addresses of an answer; an error naming the class when none is left.
pub fn filter_addrs(
    host: &str,
    addrs: Vec<SocketAddr>,
    allow: &Allow,
) -> Result<Vec<SocketAddr>, String> {
    if allow.contains(host) {
        return Ok(addrs);
    }
    let mut why = None;
    let kept: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match refused_ip(a.ip()) {
            Some(w) => {
                why = Some(w);
                false
            }
            None => true,
        })
        .collect();
    match (kept.is_empty(), why) {
        (true, Some(w)) => Err(format!(
            "{host} resolves to {w} only; refused by the SSRF guard (allow_hosts)"
        )),
        _ => Ok(kept),
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            if let Some(why) = refused_host(&host, &allow) {
                return Err(format!("{host} is {why}; refused by the SSRF guard").into());
            }
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept = filter_addrs(&host, addrs, &allow)?;
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_classes() {
        for (ip, class) in [
            ("169.254.169.254", "metadata"),
            ("100.100.100.200", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("169.254.10.1", "link-local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("ff02::1", "multicast"),
            ("::ffff:169.254.169.254", "metadata"),
        ] {
            let why = refused_ip(ip.parse().unwrap());
            assert!(why.is_some_and(|w| w.contains(class)), "{ip}: {why:?}");
        }
    }

    #[test]
    fn loopback_and_private_ranges_stay_allowed() {
        for ip in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "fd12::1",
            "8.8.8.8",
            "2001:db8::1",
        ] {
            assert_eq!(refused_ip(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn host_names_and_allow_list() {
        let none = Allow::default();
        assert!(refused_host("metadata.google.internal", &none).is_some());
        assert!(refused_host("METADATA.google.internal.", &none).is_some());
        assert!(refused_host("[fe80::1]", &none).is_some());
        assert!(refused_host("alertmanager.monitoring", &none).is_none());
        let allow = Allow::new(&["169.254.169.254".into(), "metadata.google.internal".into()]);
        assert!(refused_host("169.254.169.254", &allow).is_none());
        assert!(refused_host("metadata.google.internal", &allow).is_none());
        assert!(
            refused_host("169.254.1.1", &allow).is_some(),
            "only the listed host"
        );
    }

    #[test]
    fn urls_and_brokers() {
        let none = Allow::default();
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(check_url(&u("http://169.254.169.254/latest/meta-data/"), &none).is_err());
        assert!(check_url(&u("http://[::ffff:a9fe:a9fe]/"), &none).is_err());
        assert!(
            check_url(&u("http://0x7f.1/"), &none).is_ok(),
            "127.0.0.1 in hex"
        );
        assert!(
            check_url(&u("http://0xa9fea9fe/"), &none).is_err(),
            "169.254.169.254 in hex"
        );
        assert!(check_url(&u("https://hooks.example.com/x"), &none).is_ok());
        assert!(check_brokers("kafka:9092, 169.254.169.254:9092", &none).is_err());
        assert!(check_brokers("[fe80::1]:9092", &none).is_err());
        assert!(check_brokers("kafka-0:9092,kafka-1:9092", &none).is_ok());
    }

    #[test]
    fn resolved_answers_are_filtered() {
        let none = Allow::default();
        let a = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let mixed = vec![a("169.254.169.254:80"), a("10.0.0.5:80")];
        assert_eq!(
            filter_addrs("h", mixed, &none).unwrap(),
            vec![a("10.0.0.5:80")]
        );
        let e = filter_addrs("rebind.example", vec![a("169.254.169.254:80")], &none);
        assert!(e.unwrap_err().contains("metadata"));
        let allow = Allow::new(&["rebind.example".into()]);
        assert!(filter_addrs("rebind.example", vec![a("169.254.169.254:80")], &allow).is_ok());
    }
}
