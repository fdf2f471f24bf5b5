//! The live status page of the sidecar's `GET /`: "Needs attention" (firing findings,
//! root causes first) then "Recent activity" (resolved findings, newest first), read
//! only, refreshed by a meta tag, with the report's CSS and CSP.
//!
//! Invariant: a function of the findings and `now_ms` only; nothing is fetched.

use askama::Template;

use crate::correlate::{Finding, Status};
use crate::record::TsMs;

use super::text::{anchor, clean, duration, status_word, utc};

/// Most findings listed in each section.
pub const MAX_LIVE: usize = 200;

/// A firing finding.
#[derive(Debug, Clone)]
pub struct LiveCard {
    pub anchor: String,
    pub title: String,
    pub status: &'static str,
    pub severity: String,
    pub pattern: String,
    pub root: bool,
    pub subject: String,
    pub first: String,
    pub age: String,
    pub last: String,
    pub impacted: usize,
    pub tenants: usize,
    pub summary: String,
    pub remediation: String,
}

/// A resolved finding.
#[derive(Debug, Clone)]
pub struct LiveRow {
    pub last: String,
    pub status: &'static str,
    pub title: String,
    pub subject: String,
    pub pattern: String,
}

/// The live page as data.
#[derive(Debug, Clone)]
pub struct LivePage {
    pub h1: String,
    pub lede: String,
    pub attention: Vec<LiveCard>,
    pub recent: Vec<LiveRow>,
}

#[derive(Template)]
#[template(path = "live.html")]
struct LiveTemplate<'a> {
    p: &'a LivePage,
}

/// The page's data: see the module docs.
pub fn live_model(findings: &[Finding], now_ms: TsMs, cluster: &str) -> LivePage {
    let grouped: std::collections::BTreeSet<_> = findings
        .iter()
        .filter(|f| f.status == Status::Firing)
        .flat_map(|f| f.impacted.iter())
        .collect();
    let mut firing: Vec<&Finding> = findings.iter().filter(|f| f.status == Status::Firing).collect();
    // Roots (explaining others, or explained by none) first, then severity, age, id.
    let is_root = |f: &Finding| !f.impacted.is_empty() || !grouped.contains(&f.subject);
    firing.sort_by(|a, b| {
        is_root(b)
            .cmp(&is_root(a))
            .then(b.severity.cmp(&a.severity))
            .then(a.first_seen.cmp(&b.first_seen))
            .then(a.id.cmp(&b.id))
    });
    let attention = firing
        .iter()
        .take(MAX_LIVE)
        .map(|f| LiveCard {
            anchor: anchor(&f.id),
            title: clean(&f.title),
            status: status_word(f.status),
            severity: f.severity.as_str().to_uppercase(),
            pattern: f.pattern.clone(),
            root: is_root(f),
            subject: f.subject.to_string(),
            first: utc(f.first_seen),
            age: duration(now_ms - f.first_seen),
            last: utc(f.last_seen),
            impacted: f.impacted.len(),
            tenants: f.tenants.len(),
            summary: clean(&f.summary),
            remediation: clean(&f.remediation),
        })
        .collect();
    let mut resolved: Vec<&Finding> = findings.iter().filter(|f| f.status == Status::Resolved).collect();
    resolved.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.id.cmp(&b.id)));
    let recent = resolved
        .iter()
        .take(MAX_LIVE)
        .map(|f| LiveRow {
            last: utc(f.last_seen),
            status: status_word(f.status),
            title: clean(&f.title),
            subject: f.subject.to_string(),
            pattern: f.pattern.clone(),
        })
        .collect();
    LivePage {
        h1: format!("fluxsight: {cluster}"),
        lede: format!(
            "{} failing, {} resolved, as of {}.",
            firing.len(),
            resolved.len(),
            utc(now_ms)
        ),
        attention,
        recent,
    }
}

/// The live status page (HTML) for `findings` at `now_ms` in cluster `cluster`.
pub fn live_page(findings: &[Finding], now_ms: TsMs, cluster: &str) -> String {
    let p = live_model(findings, now_ms, cluster);
    super::render_or_note(&LiveTemplate { p: &p })
}
