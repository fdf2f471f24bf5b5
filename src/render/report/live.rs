//! The live status page of the sidecar's `GET /`: "Needs attention" (firing findings,
//! root causes first) then "Recent activity" (resolved findings and findings updated in
//! the last hour, newest first), read only, refreshed by a meta tag, with the report's
//! CSS and CSP.
//!
//! Invariant: a function of the findings and `now_ms` only; nothing is fetched.

use askama::Template;

use crate::correlate::{Finding, Status};
use crate::record::TsMs;

use super::text::{anchor, clean, duration, status_word, utc};

/// Most findings listed in each section.
pub const MAX_LIVE: usize = 200;
/// Firing findings updated this recently also show under "Recent activity" (1h).
pub const RECENT_MS: TsMs = 3_600_000;

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
    let mut firing: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == Status::Firing)
        .collect();
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
    let resolved = findings
        .iter()
        .filter(|f| f.status == Status::Resolved)
        .count();
    // Resolved findings and everything updated within the last RECENT_MS, newest first.
    let mut active: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.status == Status::Resolved || now_ms - f.last_seen <= RECENT_MS)
        .collect();
    active.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.id.cmp(&b.id)));
    let recent = active
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
            resolved,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::PatternId;
    use crate::record::{ObjectRef, Severity};

    fn finding(p: PatternId, name: &str, status: Status, first: TsMs) -> Finding {
        Finding {
            status,
            first_seen: first,
            last_seen: first + 60_000,
            title: format!("{name} <b>broke</b> token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"),
            ..Finding::example(p, ObjectRef::new("Kustomization", "apps", name))
        }
    }

    #[test]
    fn needs_attention_lists_firing_roots_first_then_recent_activity() {
        let src = ObjectRef::new("GitRepository", "apps", "repo");
        let root = Finding {
            impacted: vec![ObjectRef::new("Kustomization", "apps", "web")],
            severity: Severity::Warning,
            ..finding(PatternId::GitAuthFailure, "repo", Status::Firing, 2_000)
        };
        let root = Finding {
            subject: src,
            ..root
        };
        let symptom = finding(
            PatternId::StalledReconciliation,
            "web",
            Status::Firing,
            1_000,
        );
        let old = finding(PatternId::BuildFailure, "old", Status::Resolved, 500);
        let newer = finding(PatternId::BuildFailure, "newer", Status::Resolved, 900);
        let now = 7_200_000;
        let m = live_model(&[symptom.clone(), old, root.clone(), newer], now, "prod");
        let order: Vec<&str> = m.attention.iter().map(|c| c.subject.as_str()).collect();
        // The root comes first although the symptom is older and more severe.
        assert_eq!(
            order,
            vec!["GitRepository/apps/repo", "Kustomization/apps/web"]
        );
        assert!(m.attention[0].root && !m.attention[1].root);
        let recent: Vec<&str> = m.recent.iter().map(|r| r.subject.as_str()).collect();
        assert_eq!(
            recent,
            vec!["Kustomization/apps/newer", "Kustomization/apps/old"]
        );
        // A firing finding shows there too while it was updated within the hour.
        let later = live_model(std::slice::from_ref(&root), 62_000 + RECENT_MS, "prod");
        assert_eq!(later.recent.len(), 1);
        assert_eq!(later.recent[0].status, "FAILING");
        let much_later = live_model(std::slice::from_ref(&root), 62_001 + RECENT_MS, "prod");
        assert!(much_later.recent.is_empty());
        assert_eq!(m.attention[0].age, "1h 59m");

        let html = live_page(&[symptom, root], now, "prod");
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"30\">"));
        assert!(html.contains(&format!("content=\"{}\"", super::super::CSP)));
        assert!(html.contains("Needs attention") && html.contains("Recent activity"));
        assert!(html.find("Needs attention") < html.find("Recent activity"));
        assert!(!html.contains("<b>broke") && html.contains("&#60;b&#62;broke"));
        assert!(!html.contains("ghp_0123456789"), "token not redacted");
        assert!(!html.contains("<script") && !html.contains(" src="));
        assert!(html.contains("Nothing resolved or updated in the last hour."));
    }

    #[test]
    fn an_empty_page_says_nothing_is_failing() {
        let html = live_page(&[], 0, "c");
        assert!(html.contains("Nothing is failing."));
        assert_eq!(html.matches("<h1").count(), 1);
        assert_eq!(html, live_page(&[], 0, "c"), "not deterministic");
    }
}
