//! The Flux side of a workload failure: which objects a health-check or Helm timeout
//! message names (report-and-workload-rca.md §2.1).
//!
//! Owns: parsing `timeout waiting for: [Kind/ns/name status: 'S'[: err], …]`,
//! `failed early due to stalled resources: […]`, Helm's
//! `Helm install failed for release ns/name with chart c@v: timeout waiting for: […]`
//! and the older `Helm install failed: timed out waiting for the condition` (no names),
//! and the health check's own duration (`health check failed after 5m0.0s`).
//!
//! Invariant: only workload kinds are returned (a named Service or HelmRelease is not a
//! workload whose Pods can be looked at); at most [`MAX_NAMED`] per message.

use crate::parse::time::parse_go_duration_ms;
use crate::record::{ObjectRef, TsMs};

use super::store::WORKLOAD_KINDS;

/// Most workloads taken from one message.
pub const MAX_NAMED: usize = 16;

/// What a failure message says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FluxFailure {
    /// Workloads named, with the kstatus word (`InProgress`, `Failed`, …).
    pub named: Vec<(ObjectRef, String)>,
    /// A timeout without names (old Helm wording): link by labels or name prefix.
    pub unnamed_timeout: bool,
    /// The health check's own duration, when the message says it.
    pub duration_ms: Option<TsMs>,
}

impl FluxFailure {
    pub fn is_workload_timeout(&self) -> bool {
        !self.named.is_empty() || self.unnamed_timeout
    }
}

/// Parses a Kustomization or HelmRelease failure message.
pub fn parse(msg: &str) -> FluxFailure {
    let mut out = FluxFailure::default();
    for marker in ["timeout waiting for: [", "stalled resources: ["] {
        let Some(i) = msg.find(marker) else { continue };
        let rest = &msg[i + marker.len()..];
        let body = &rest[..rest.rfind(']').unwrap_or(rest.len())];
        for item in body.split(", ") {
            let Some((obj, status)) = item.split_once(" status: ") else {
                continue;
            };
            let mut parts = obj.trim().splitn(3, '/');
            let (Some(kind), Some(ns), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !WORKLOAD_KINDS.contains(&kind) {
                continue;
            }
            let word = status
                .trim_start_matches('\'')
                .split('\'')
                .next()
                .unwrap_or("")
                .to_string();
            let o = ObjectRef::new(kind, ns, name);
            if out.named.len() < MAX_NAMED && !out.named.iter().any(|(x, _)| *x == o) {
                out.named.push((o, word));
            }
        }
    }
    let lower = msg.to_ascii_lowercase();
    out.unnamed_timeout = out.named.is_empty()
        && lower.contains("helm ")
        && (lower.contains("timed out waiting for the condition")
            || lower.contains("context deadline exceeded"));
    if let Some(i) = msg.find("failed after ") {
        let d = msg[i + "failed after ".len()..]
            .split([':', ',', ' '])
            .next()
            .unwrap_or("");
        out.duration_ms = parse_go_duration_ms(d).and_then(|d| TsMs::try_from(d).ok());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kustomization_health_check() {
        let f = parse("health check failed after 5m0.00158s: timeout waiting for: [Deployment/shop/checkout status: 'InProgress', Service/shop/web status: 'InProgress', StatefulSet/shop/db status: 'Failed': error]");
        assert_eq!(
            f.named,
            [
                (
                    ObjectRef::new("Deployment", "shop", "checkout"),
                    "InProgress".into()
                ),
                (ObjectRef::new("StatefulSet", "shop", "db"), "Failed".into()),
            ]
        );
        assert!(f
            .duration_ms
            .is_some_and(|d| (300_000..=300_002).contains(&d)));
        let f = parse("health check failed after 1m2s: failed early due to stalled resources: [Deployment/shop/web status: 'Failed']");
        assert_eq!(f.named.len(), 1);
    }

    #[test]
    fn helm_timeouts() {
        let f = parse("Helm install failed for release shop/web with chart web@1.2.3: timeout waiting for: [Deployment/shop/web status: 'InProgress']");
        assert_eq!(f.named[0].0, ObjectRef::new("Deployment", "shop", "web"));
        let f = parse("Helm upgrade failed: timed out waiting for the condition");
        assert!(f.named.is_empty() && f.unnamed_timeout);
        assert!(!parse("Helm install failed: chart requires kubeVersion").is_workload_timeout());
    }
}
