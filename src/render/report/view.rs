//! The report page as data: every section's rows built from [`ReportData`], shared by
//! the HTML template and the Markdown twin.
//!
//! Owns: which findings are roots, their order, the headline numbers, the tenant
//! table, the change (applied vs attempted revisions, compare links), evidence caps and
//! the appendix. Every log-derived string is redacted here ([`clean`]).
//!
//! Invariant: ordering is by sorted keys and record times only.

use std::collections::{BTreeMap, BTreeSet};

use crate::correlate::{ObjectView, Status};
use crate::record::{ObjectRef, Severity, TsMs};

use super::data::{FindingHistory, ReportData};
use super::graph::{finding_graph, layout, GraphView};
use super::text::{anchor, clean, clip, duration, status_word, utc, utc_opt};
use super::timeline::{finding_end, finding_timeline, TimelineView};

/// Evidence items shown open per finding; the rest sit in a `<details>`.
pub const EVIDENCE_OPEN: usize = 3;
/// Most root findings given a card, graph, timeline and evidence.
pub const MAX_ROOTS: usize = 40;
/// Most rows of the change table.
pub const MAX_CHANGES: usize = 120;
/// Most audit records listed (the latest).
pub const MAX_AUDIT_ROWS: usize = 300;
/// Longest evidence message drawn, in characters.
pub const MAX_MESSAGE: usize = 2_000;

/// A headline card.
#[derive(Debug, Clone)]
pub struct Card {
    pub anchor: String,
    pub title: String,
    pub pattern: String,
    pub severity: String,
    pub status: String,
    pub resolved: &'static str,
    pub first: String,
    pub last: String,
    pub duration: String,
    pub summary: String,
    pub remediation: String,
    /// (what, how many): Kustomizations, HelmReleases, sources, other objects, tenants.
    pub blast: Vec<(String, usize)>,
}

/// A row of the tenant impact table.
#[derive(Debug, Clone)]
pub struct TenantRow {
    pub tenant: String,
    pub blocked: usize,
    pub objects: String,
    pub first: String,
    pub last: String,
    pub staleness: String,
}

/// A row of the change table.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub object: String,
    pub tenant: String,
    pub applied: String,
    pub applied_at: String,
    pub attempted: String,
    pub differs: bool,
    pub source: String,
    /// Printed, never fetched.
    pub compare: Option<String>,
}

/// One evidence item as drawn.
#[derive(Debug, Clone)]
pub struct EvidenceRow {
    pub when: String,
    pub source: String,
    pub controller: String,
    pub class: String,
    pub object: String,
    pub count: u64,
    pub message: String,
}

/// A finding's evidence.
#[derive(Debug, Clone)]
pub struct EvidenceGroup {
    pub anchor: String,
    pub title: String,
    pub open: Vec<EvidenceRow>,
    pub more: Vec<EvidenceRow>,
    pub omitted: u64,
}

/// A finding in the appendix.
#[derive(Debug, Clone)]
pub struct FindingRow {
    pub anchor: String,
    pub id: String,
    pub pattern: String,
    pub severity: String,
    pub status: String,
    pub subject: String,
    pub first: String,
    pub last: String,
    pub emissions: usize,
    pub impacted: usize,
    /// Anchor of its card when it is a root with one.
    pub card: Option<String>,
    pub title: String,
}

/// An applied revision (audit record).
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub when: String,
    pub action: String,
    pub subject: String,
    pub revision: String,
    pub outcome: String,
}

/// An input with its digest.
#[derive(Debug, Clone)]
pub struct InputRow {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// One root finding's graph and timeline.
#[derive(Debug, Clone)]
pub struct Figure {
    pub anchor: String,
    pub title: String,
    pub graph: GraphView,
    pub timeline: TimelineView,
}

/// The whole report page.
#[derive(Debug, Clone)]
pub struct Page {
    pub h1: String,
    pub lede: String,
    pub cards: Vec<Card>,
    pub roots_more: usize,
    pub tenants: Vec<TenantRow>,
    pub figures: Vec<Figure>,
    pub changes: Vec<ChangeRow>,
    pub evidence: Vec<EvidenceGroup>,
    pub findings: Vec<FindingRow>,
    pub audit: Vec<AuditRow>,
    pub audit_more: u64,
    pub inputs: Vec<InputRow>,
    pub version: String,
    pub config: Vec<(String, String)>,
    pub gaps: Vec<String>,
}

fn is_source(kind: &str) -> bool {
    matches!(
        kind,
        "GitRepository" | "OCIRepository" | "HelmRepository" | "HelmChart" | "Bucket"
    )
}

fn is_flux_workload(kind: &str) -> bool {
    matches!(kind, "Kustomization" | "HelmRelease") || is_source(kind)
}

/// Root findings: not a symptom listed by another finding, warning or worse; firing
/// first, then by severity, first sighting and id.
pub fn roots(data: &ReportData) -> Vec<&FindingHistory> {
    let grouped: BTreeSet<(&ObjectRef, &str)> = data
        .findings
        .iter()
        .flat_map(|h| {
            h.finding
                .impacted
                .iter()
                .map(move |o| (o, h.finding.id.as_str()))
        })
        .collect();
    let mut v: Vec<&FindingHistory> = data
        .findings
        .iter()
        .filter(|h| h.finding.severity >= Severity::Warning)
        .filter(|h| {
            !grouped
                .iter()
                .any(|(o, id)| **o == h.finding.subject && *id != h.finding.id)
        })
        .collect();
    v.sort_by(|a, b| {
        let (f, g) = (&a.finding, &b.finding);
        (f.status != Status::Firing)
            .cmp(&(g.status != Status::Firing))
            .then(g.severity.cmp(&f.severity))
            .then(f.first_seen.cmp(&g.first_seen))
            .then(f.id.cmp(&g.id))
    });
    v
}

fn card(h: &FindingHistory) -> Card {
    let f = &h.finding;
    let end = finding_end(h);
    let count = |p: fn(&str) -> bool| f.impacted.iter().filter(|o| p(&o.kind)).count();
    let plural = |one: &str, many: &str, n: usize| (if n == 1 { one } else { many }.to_string(), n);
    let mut blast = vec![
        plural(
            "Kustomization",
            "Kustomizations",
            count(|k| k == "Kustomization"),
        ),
        plural("HelmRelease", "HelmReleases", count(|k| k == "HelmRelease")),
        plural("source", "sources", count(is_source)),
        plural(
            "other object",
            "other objects",
            count(|k| !is_flux_workload(k)),
        ),
        plural("tenant", "tenants", f.tenants.len()),
    ];
    blast.retain(|(w, n)| *n > 0 || w.starts_with("tenant"));
    Card {
        anchor: anchor(&f.id),
        title: clean(&f.title),
        pattern: f.pattern.clone(),
        severity: f.severity.as_str().to_uppercase(),
        status: match f.status {
            Status::Firing => "FAILING — not resolved at the end of the input".to_string(),
            Status::Resolved => "RESOLVED".to_string(),
        },
        resolved: if f.status == Status::Resolved {
            "yes"
        } else {
            "no"
        },
        first: utc(f.first_seen),
        last: utc(end),
        duration: duration(end - f.first_seen),
        summary: clean(&f.summary),
        remediation: clean(&f.remediation),
        blast,
    }
}

fn tenant_rows(
    data: &ReportData,
    roots: &[&FindingHistory],
    views: &BTreeMap<ObjectRef, &ObjectView>,
) -> Vec<TenantRow> {
    let end = data.end.unwrap_or(0);
    // tenant → object → (first, last failure)
    let mut by: BTreeMap<String, BTreeMap<ObjectRef, (TsMs, TsMs)>> = BTreeMap::new();
    for h in roots {
        let f = &h.finding;
        let detail: BTreeMap<&ObjectRef, _> = f.impact.iter().map(|d| (&d.object, d)).collect();
        let fin = finding_end(h);
        for o in std::iter::once(&f.subject).chain(&f.impacted) {
            if !is_flux_workload(&o.kind) {
                continue;
            }
            let tenant = views
                .get(o)
                .map(|v| v.tenant.clone())
                .unwrap_or_else(|| o.namespace.to_string());
            let span = detail
                .get(o)
                .map_or((f.first_seen, fin), |d| (d.first_failed, d.last_failed));
            let e = by
                .entry(tenant)
                .or_default()
                .entry(o.clone())
                .or_insert(span);
            e.0 = e.0.min(span.0);
            e.1 = e.1.max(span.1);
        }
    }
    let mut applied: BTreeMap<&ObjectRef, TsMs> = BTreeMap::new();
    for a in &data.audit {
        if a.outcome == "success" {
            let e = applied.entry(&a.subject).or_insert(a.ts);
            *e = (*e).max(a.ts);
        }
    }
    by.into_iter()
        .map(|(tenant, objs)| {
            let first = objs.values().map(|s| s.0).min().unwrap_or(0);
            let last = objs.values().map(|s| s.1).max().unwrap_or(0);
            // Worst case: the object longest without an apply (or a success) it shows.
            let stale = objs
                .keys()
                .map(|o| {
                    let seen = applied
                        .get(o)
                        .copied()
                        .into_iter()
                        .chain(views.get(o).and_then(|v| v.last_success))
                        .max();
                    match seen {
                        Some(t) => (end - t, true),
                        None => (end - objs[o].0, false),
                    }
                })
                .max()
                .unwrap_or((0, true));
            let staleness = if stale.1 {
                format!("{} since the last apply seen", duration(stale.0))
            } else {
                format!("at least {} (no apply in the input)", duration(stale.0))
            };
            let names: Vec<String> = objs.keys().take(6).map(|o| o.to_string()).collect();
            let mut objects = names.join(", ");
            if objs.len() > 6 {
                objects.push_str(&format!(", … {} more", objs.len() - 6));
            }
            TenantRow {
                tenant,
                blocked: objs.len(),
                objects,
                first: utc(first),
                last: utc(last),
                staleness,
            }
        })
        .collect()
}

/// `owner/repo` of a known forge URL (https, ssh or scp form) with its host.
fn forge_repo(url: &str) -> Option<(&'static str, String)> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("ssh://"))
        .unwrap_or(url);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    for host in ["github.com", "gitlab.com"] {
        let Some(path) = rest.strip_prefix(host) else {
            continue;
        };
        let path = path.trim_start_matches([':', '/']);
        let path = path.trim_end_matches('/').trim_end_matches(".git");
        let ok = path.split('/').count() >= 2
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
        if ok {
            return Some((host, path.to_string()));
        }
    }
    None
}

/// The commit SHA of a revision (`main@sha1:abc…`, `main/abc…`, a bare SHA).
fn sha_of(rev: &str) -> Option<&str> {
    let tail = rev
        .rsplit_once("sha1:")
        .map(|(_, s)| s)
        .or_else(|| rev.rsplit_once('/').map(|(_, s)| s))
        .unwrap_or(rev);
    (tail.len() >= 7 && tail.chars().all(|c| c.is_ascii_hexdigit())).then_some(tail)
}

/// A compare link for two revisions of a repository on a known forge; printed only.
pub fn compare_link(url: &str, from: &str, to: &str) -> Option<String> {
    let (host, repo) = forge_repo(url)?;
    let (a, b) = (sha_of(from)?, sha_of(to)?);
    if a == b {
        return None;
    }
    Some(match host {
        "gitlab.com" => format!("https://gitlab.com/{repo}/-/compare/{a}...{b}"),
        _ => format!("https://github.com/{repo}/compare/{a}...{b}"),
    })
}

fn change_rows(
    data: &ReportData,
    roots: &[&FindingHistory],
    views: &BTreeMap<ObjectRef, &ObjectView>,
) -> Vec<ChangeRow> {
    let involved: BTreeSet<&ObjectRef> = roots
        .iter()
        .flat_map(|h| std::iter::once(&h.finding.subject).chain(&h.finding.impacted))
        .collect();
    let mut applied_at: BTreeMap<&ObjectRef, (TsMs, Option<&str>, Option<&str>)> = BTreeMap::new();
    for a in &data.audit {
        if a.action == "revision_applied" || a.action.starts_with("helm_release") {
            applied_at.insert(
                &a.subject,
                (a.ts, a.revision.as_deref(), a.source_url.as_deref()),
            );
        }
    }
    let mut rows: Vec<(bool, bool, ChangeRow)> = data
        .objects
        .iter()
        .filter(|v| {
            v.last_applied.is_some()
                || v.last_attempted.is_some()
                || applied_at.contains_key(&v.object)
        })
        .filter(|v| {
            matches!(&*v.object.kind, "Kustomization" | "HelmRelease")
                || involved.contains(&v.object)
        })
        .map(|v| {
            let audit = applied_at.get(&v.object);
            let applied = v
                .last_applied
                .as_deref()
                .or(audit.and_then(|a| a.1))
                .map(clean)
                .unwrap_or_default();
            let attempted = v.last_attempted.as_deref().map(clean).unwrap_or_default();
            let url = v
                .source_ref
                .as_ref()
                .and_then(|s| views.get(s))
                .and_then(|s| s.url.clone())
                .or_else(|| v.url.clone())
                .or_else(|| audit.and_then(|a| a.2.map(str::to_string)));
            let differs = !applied.is_empty() && !attempted.is_empty() && applied != attempted;
            let compare = match (&url, differs) {
                (Some(u), true) => compare_link(u, &applied, &attempted),
                _ => None,
            };
            let row = ChangeRow {
                object: v.object.to_string(),
                tenant: v.tenant.clone(),
                applied,
                applied_at: audit.map(|a| utc(a.0)).unwrap_or_else(|| "—".into()),
                attempted,
                differs,
                source: url.map(|u| clean(&u)).unwrap_or_default(),
                compare,
            };
            (!involved.contains(&v.object), !differs, row)
        })
        .collect();
    rows.sort_by(|a, b| (a.0, a.1, &a.2.object).cmp(&(b.0, b.1, &b.2.object)));
    rows.into_iter().take(MAX_CHANGES).map(|r| r.2).collect()
}

fn evidence_group(h: &FindingHistory) -> EvidenceGroup {
    let rows: Vec<EvidenceRow> = h
        .evidence
        .iter()
        .map(|e| EvidenceRow {
            when: match (e.first, e.last) {
                (Some(a), Some(b)) if a != b => format!("{} – {}", utc(a), utc(b)),
                (a, _) => utc_opt(a),
            },
            source: e
                .source
                .clone()
                .unwrap_or_else(|| "correlator (symptom's last failure)".into()),
            controller: e.controller.clone().unwrap_or_else(|| "—".into()),
            class: e.class.as_str().to_string(),
            object: e.object.as_ref().map(|o| o.to_string()).unwrap_or_default(),
            count: e.count,
            message: clip(&clean(&e.message), MAX_MESSAGE),
        })
        .collect();
    let split = rows.len().min(EVIDENCE_OPEN);
    let (open, more) = rows.split_at(split);
    EvidenceGroup {
        anchor: format!("{}-evidence", anchor(&h.finding.id)),
        title: clean(&h.finding.title),
        open: open.to_vec(),
        more: more.to_vec(),
        omitted: h.evidence_omitted,
    }
}

/// The page for `data` (see the module docs).
pub fn page(data: &ReportData) -> Page {
    let views: BTreeMap<ObjectRef, &ObjectView> =
        data.objects.iter().map(|v| (v.object.clone(), v)).collect();
    let all_roots = roots(data);
    let roots: Vec<&FindingHistory> = all_roots.iter().take(MAX_ROOTS).copied().collect();
    let cards: Vec<Card> = roots.iter().map(|h| card(h)).collect();
    let figures = roots
        .iter()
        .map(|h| {
            let a = anchor(&h.finding.id);
            let (nodes, edges, more) = finding_graph(h, &views);
            let subject = h.finding.subject.to_string();
            let graph = layout(
                &format!("{a}-graph"),
                &format!("Causal graph of {subject}"),
                &format!(
                    "{} is the root cause ({}); {} grouped symptoms drawn to its right",
                    subject,
                    h.finding.pattern,
                    h.finding.impacted.len()
                ),
                &nodes,
                &edges,
                more,
            );
            Figure {
                anchor: a.clone(),
                title: clean(&h.finding.title),
                graph,
                timeline: finding_timeline(&format!("{a}-timeline"), h, &data.activity),
            }
        })
        .collect();
    let card_of: BTreeSet<&str> = roots.iter().map(|h| h.finding.id.as_str()).collect();
    let findings = data
        .findings
        .iter()
        .map(|h| {
            let f = &h.finding;
            FindingRow {
                anchor: format!("{}-row", anchor(&f.id)),
                id: f.id.clone(),
                pattern: f.pattern.clone(),
                severity: f.severity.as_str().to_string(),
                status: status_word(f.status).to_string(),
                subject: f.subject.to_string(),
                first: utc(f.first_seen),
                last: utc(finding_end(h)),
                emissions: h.emissions.len(),
                impacted: f.impacted.len(),
                card: card_of.contains(f.id.as_str()).then(|| anchor(&f.id)),
                title: clean(&f.title),
            }
        })
        .collect();
    let h1 = match cards.first() {
        Some(c) => format!("Post-mortem: {}", c.title),
        None => "Post-mortem: no failure found".to_string(),
    };
    let lede = format!(
        "Cluster {}, {} to {}: root causes {}, findings {}, {} records from {} inputs.",
        data.cluster,
        utc_opt(data.start),
        utc_opt(data.end),
        all_roots.len(),
        data.findings.len(),
        data.records,
        data.inputs.len()
    );
    Page {
        h1,
        lede,
        tenants: tenant_rows(data, &roots, &views),
        changes: change_rows(data, &roots, &views),
        evidence: roots.iter().map(|h| evidence_group(h)).collect(),
        cards,
        roots_more: all_roots.len() - roots.len(),
        figures,
        findings,
        audit: data.audit[data.audit.len().saturating_sub(MAX_AUDIT_ROWS)..]
            .iter()
            .map(|a| AuditRow {
                when: utc(a.ts),
                action: a.action.clone(),
                subject: a.subject.to_string(),
                revision: a.revision.as_deref().map(clean).unwrap_or_default(),
                outcome: a.outcome.clone(),
            })
            .collect(),
        audit_more: data
            .audit_total
            .saturating_sub(data.audit.len().min(MAX_AUDIT_ROWS) as u64),
        inputs: data
            .inputs
            .iter()
            .map(|i| InputRow {
                name: i.name.clone(),
                bytes: i.bytes,
                sha256: i.sha256.clone(),
            })
            .collect(),
        version: data.version.clone(),
        config: data
            .config
            .iter()
            .map(|(k, v)| (k.clone(), clean(v)))
            .collect(),
        gaps: data.gaps.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_links_only_for_known_forges() {
        let a = "main@sha1:1111111111111111111111111111111111111111";
        let b = "main@sha1:2222222222222222222222222222222222222222";
        assert_eq!(
            compare_link("https://github.com/acme/apps.git", a, b).as_deref(),
            Some("https://github.com/acme/apps/compare/1111111111111111111111111111111111111111...2222222222222222222222222222222222222222")
        );
        assert_eq!(
            compare_link("ssh://git@gitlab.com/grp/sub/apps", a, b).as_deref(),
            Some("https://gitlab.com/grp/sub/apps/-/compare/1111111111111111111111111111111111111111...2222222222222222222222222222222222222222")
        );
        assert!(compare_link("git@github.com:acme/apps.git", a, b).is_some());
        assert_eq!(
            compare_link("https://git.example.com/acme/apps", a, b),
            None
        );
        assert_eq!(compare_link("https://github.com/acme/apps", a, a), None);
        assert_eq!(
            compare_link("https://github.com/acme/apps", "v1.2.0", b),
            None
        );
    }
}
