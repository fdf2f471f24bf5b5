//! The digest: one message for a storm of findings, for chat sinks.
//!
//! Owns: the neutral digest data (counts by pattern, tenant and severity, the top
//! findings, where to see the rest), built by the router when more findings changed
//! within one window than a route's `digest_threshold`. Renderers (Slack today, other
//! chat sinks later) turn it into their message format; nothing here knows a format.
//!
//! Invariant: a digest is about the findings of one window of one route; the counts
//! cover every finding the window held, `top` at most [`DIGEST_TOP`]; findings beyond
//! the window's cap are only counted (`not_held`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::correlate::{Finding, Status};
use crate::record::{Severity, TsMs};

/// Findings a digest shows in full.
pub const DIGEST_TOP: usize = 5;

/// One message standing for many finding notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    /// Route whose window this is.
    pub route: String,
    /// First and last notification time covered (record time in replay).
    pub window_start: TsMs,
    pub window_end: TsMs,
    /// Findings covered, and how many of them are firing / resolved.
    pub total: usize,
    pub firing: usize,
    pub resolved: usize,
    /// Worst severity among firing findings (`None`: all resolved).
    pub worst: Option<Severity>,
    /// Findings per pattern, per tenant, per cluster.
    pub by_pattern: BTreeMap<String, usize>,
    pub by_tenant: BTreeMap<String, usize>,
    pub by_cluster: BTreeMap<String, usize>,
    /// The most important findings: firing first, then by severity, then by how many
    /// objects they impact, then oldest first.
    pub top: Vec<Finding>,
    /// Where every finding can be seen (a command or a file).
    pub see_rest: String,
    /// Further findings of the window, beyond what it holds: in no count above.
    #[serde(default)]
    pub not_held: usize,
}

impl Digest {
    /// The digest of `findings` (the latest state of each) for `route`.
    pub fn new(route: &str, window: (TsMs, TsMs), findings: &[Finding], see_rest: &str) -> Digest {
        let mut by_pattern = BTreeMap::new();
        let mut by_tenant = BTreeMap::new();
        let mut by_cluster = BTreeMap::new();
        for f in findings {
            *by_pattern.entry(f.pattern.clone()).or_insert(0) += 1;
            *by_tenant.entry(f.tenant.clone()).or_insert(0) += 1;
            *by_cluster.entry(f.cluster.clone()).or_insert(0) += 1;
        }
        let firing = findings
            .iter()
            .filter(|f| f.status == Status::Firing)
            .count();
        let mut top: Vec<&Finding> = findings.iter().collect();
        top.sort_by(|a, b| {
            (a.status != Status::Firing)
                .cmp(&(b.status != Status::Firing))
                .then_with(|| b.severity.cmp(&a.severity))
                .then_with(|| b.impacted.len().cmp(&a.impacted.len()))
                .then_with(|| a.first_seen.cmp(&b.first_seen))
                .then_with(|| a.id.cmp(&b.id))
        });
        Digest {
            route: route.to_string(),
            window_start: window.0,
            window_end: window.1,
            total: findings.len(),
            firing,
            resolved: findings.len() - firing,
            worst: findings
                .iter()
                .filter(|f| f.status == Status::Firing)
                .map(|f| f.severity)
                .max(),
            by_pattern,
            by_tenant,
            by_cluster,
            top: top.into_iter().take(DIGEST_TOP).cloned().collect(),
            see_rest: see_rest.to_string(),
            not_held: 0,
        }
    }

    /// Counts largest first (ties by name), for display.
    pub fn ranked(counts: &BTreeMap<String, usize>) -> Vec<(&str, usize)> {
        let mut v: Vec<(&str, usize)> = counts.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        v
    }
}
