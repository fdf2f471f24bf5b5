//! The neutral chat message: what a chat notification says about a delivery, before any
//! chat product's syntax.
//!
//! Owns: the STRUCTURE shared by the Slack, Microsoft Teams and Google Chat renderers:
//! headline (status FIRING/RESOLVED + severity + title), notification fallback, facts
//! (object, cluster, tenant, severity, status, count since first seen, pattern), summary,
//! root cause, evidence, impacted objects, remediation, runbook link, the findings of a
//! group, and a footer naming the finding/group. Does not own escaping, limits or layout:
//! each renderer (`render::slack`, `render::teams`, `render::gchat`) escapes every text
//! for its own markup and caps lists for its own size limits.
//!
//! Invariant: every string here is RAW input text (object names, log lines, tenants,
//! labels), never pre-escaped, and lists are complete (renderers cap and count "+N more");
//! so one model serves syntaxes that escape differently. The order of facts and sections
//! is the order every renderer shows them in.

use crate::correlate::{AuditRecord, Finding, Status};
use crate::delivery::digest::Digest;
use crate::delivery::{Delivery, Group};
use crate::record::{ObjectRef, Severity, TsMs};
use crate::time::format_rfc3339_ms;

use super::finding::{pattern_doc_url, PATTERN_DOCS_URL};

/// Fact labels (shown as field titles by every renderer).
pub mod label {
    pub const OBJECT: &str = "Object";
    pub const CLUSTER: &str = "Cluster";
    pub const TENANT: &str = "Tenant";
    pub const SEVERITY: &str = "Severity";
    pub const STATUS: &str = "Status";
    pub const COUNT: &str = "Count";
    pub const PATTERN: &str = "Pattern";
    pub const OUTCOME: &str = "Outcome";
    pub const REVISION: &str = "Revision";
    pub const CONTROLLER: &str = "Controller";
    pub const SOURCE: &str = "Source";
}

/// Longest identifier value in a fact (object names, tenants, clusters, patterns).
pub const IDENT_CHARS: usize = 200;
/// Longest audit outcome.
const OUTCOME_CHARS: usize = 60;
/// Longest controller name.
const CONTROLLER_CHARS: usize = 100;

/// What kind of delivery a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Finding,
    Group,
    Audit,
}

/// A fact's value.
#[derive(Debug, Clone, PartialEq)]
pub enum FactValue {
    /// An untrusted identifier, shown verbatim (code formatting where the chat has it),
    /// cut to `max` characters.
    Ident { text: String, max: usize },
    /// The severity, with the status deciding the marker (a resolved finding is "ok").
    Severity(Severity, Status),
    /// Text the renderer made itself from trusted values (status, counts, times).
    Plain(String),
}

/// One labelled fact.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// Field title (a [`label`] constant, or a group_by label key, which is config text).
    pub label: String,
    pub value: FactValue,
}

impl Fact {
    fn ident(label: &str, text: &str, max: usize) -> Fact {
        Fact {
            label: label.to_string(),
            value: FactValue::Ident {
                text: text.to_string(),
                max,
            },
        }
    }

    fn plain(label: &str, text: String) -> Fact {
        Fact {
            label: label.to_string(),
            value: FactValue::Plain(text),
        }
    }
}

/// The object a finding blames, with the record class and the message that blamed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub object: String,
    pub class: &'static str,
    pub message: String,
}

/// One finding of a group message.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub severity: Severity,
    pub status: Status,
    pub title: String,
    pub object: String,
    pub cluster: String,
    pub tenant: String,
    pub count: u64,
    pub summary: String,
}

/// The closing line: what the message is about, for people searching later.
#[derive(Debug, Clone, PartialEq)]
pub enum Footer {
    Finding {
        id: String,
        last_seen: TsMs,
        labels: Vec<(String, String)>,
    },
    Group {
        route: String,
        key: String,
    },
    Audit {
        action: String,
        ts: TsMs,
    },
}

/// A chat message about one delivery, renderer-neutral.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub kind: MessageKind,
    /// Firing or resolved (a group is firing while any of its findings fires); `None`
    /// for audit records.
    pub status: Option<Status>,
    /// The finding's severity; a group's worst firing severity; `None` for audit records
    /// and all-resolved groups.
    pub severity: Option<Severity>,
    /// Headline without status prefix.
    pub title: String,
    /// One-line notification text (push notifications, clients without cards).
    pub fallback: String,
    pub facts: Vec<Fact>,
    pub summary: String,
    pub root_cause: Option<Cause>,
    /// Evidence log lines, oldest first.
    pub evidence: Vec<String>,
    /// Every impacted object, in order (renderers cap the list and count the rest).
    pub impacted: Vec<String>,
    pub remediation: String,
    /// The pattern's runbook page.
    pub runbook_url: Option<String>,
    /// Findings of a group message, firing first (all of them; renderers cap).
    pub items: Vec<Item>,
    /// An audit record's message.
    pub detail: Option<String>,
    pub footer: Footer,
    /// Stable conversation key: one incident, one thread (finding id; `group:<key>` for
    /// a group); `None` for audit records.
    pub thread_key: Option<String>,
}

impl ChatMessage {
    /// `FIRING`, `RESOLVED` or `AUDIT`.
    pub fn status_label(&self) -> &'static str {
        match self.status {
            Some(Status::Firing) => "FIRING",
            Some(Status::Resolved) => "RESOLVED",
            None => "AUDIT",
        }
    }

    /// Count of the findings of a group that are firing.
    pub fn firing_items(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.status == Status::Firing)
            .count()
    }
}

/// Caps of one rendering of a size-limited chat payload; halved until it fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Impacted objects, evidence lines, group findings listed.
    pub list: usize,
    /// Longest free text (summary, remediation, log line).
    pub text: usize,
}

const FIRST_CAPS: Caps = Caps {
    list: 20,
    text: 1500,
};
const LAST_CAPS: Caps = Caps { list: 1, text: 100 };

/// Renders with `build(caps)`, halving the caps until the JSON is at most `max_bytes`
/// (or the caps are at their floor: one list item, 100 characters of text).
pub fn fit(max_bytes: usize, build: impl Fn(Caps) -> serde_json::Value) -> serde_json::Value {
    let mut caps = FIRST_CAPS;
    loop {
        let v = build(caps);
        if caps == LAST_CAPS || serde_json::to_vec(&v).map_or(0, |b| b.len()) <= max_bytes {
            return v;
        }
        caps = Caps {
            list: (caps.list / 2).max(LAST_CAPS.list),
            text: (caps.text / 2).max(LAST_CAPS.text),
        };
    }
}

/// The footer line (finding id and time, group route and key, audit action and time),
/// each value escaped by the chat's `esc(text, max_chars)`.
pub fn footer_text(f: &Footer, esc: fn(&str, usize) -> String) -> String {
    match f {
        Footer::Finding { id, last_seen, .. } => {
            format!(
                "finding {} · {}",
                esc(id, 80),
                format_rfc3339_ms(*last_seen)
            )
        }
        Footer::Group { route, key } => {
            format!("route {} · group {}", esc(route, 60), esc(key, 80))
        }
        Footer::Audit { action, ts } => {
            format!("{} · {}", esc(action, 80), format_rfc3339_ms(*ts))
        }
    }
}

/// `namespace/Kind/name` (or `Kind/name` when cluster-scoped).
pub fn object(o: &ObjectRef) -> String {
    if o.namespace.is_empty() {
        format!("{}/{}", o.kind, o.name)
    } else {
        format!("{}/{}/{}", o.namespace, o.kind, o.name)
    }
}

/// The message of a delivery.
pub fn message(d: &Delivery) -> ChatMessage {
    match d {
        Delivery::Finding(f) => finding(f),
        Delivery::Group(g) => group(g),
        Delivery::Digest(dg) => digest(dg),
        Delivery::Audit(a) => audit(a),
        Delivery::Signal(sg) => signal(sg),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The message about one finding.
pub fn finding(f: &Finding) -> ChatMessage {
    let fallback = format!(
        "[{}] {}{}: {} on {}",
        f.severity.as_str().to_uppercase(),
        if f.status == Status::Resolved {
            "resolved: "
        } else {
            ""
        },
        f.title,
        object(&f.subject),
        f.cluster
    );
    let facts = vec![
        Fact::ident(label::OBJECT, &object(&f.subject), IDENT_CHARS),
        Fact::ident(label::CLUSTER, &f.cluster, IDENT_CHARS),
        Fact::ident(label::TENANT, &f.tenant, IDENT_CHARS),
        Fact {
            label: label::SEVERITY.into(),
            value: FactValue::Severity(f.severity, f.status),
        },
        Fact::plain(label::STATUS, f.status.as_str().to_string()),
        Fact::plain(
            label::COUNT,
            format!("{} since {}", f.count, format_rfc3339_ms(f.first_seen)),
        ),
        Fact::ident(label::PATTERN, &f.pattern, IDENT_CHARS),
    ];
    ChatMessage {
        kind: MessageKind::Finding,
        status: Some(f.status),
        severity: Some(f.severity),
        title: f.title.clone(),
        fallback,
        facts,
        summary: f.summary.clone(),
        root_cause: f.root_cause.as_ref().map(|rc| Cause {
            object: object(&rc.object),
            class: rc.class.as_str(),
            message: rc.message.clone(),
        }),
        evidence: f.evidence.iter().map(|e| e.message.clone()).collect(),
        impacted: f.impacted.iter().map(object).collect(),
        remediation: f.remediation.clone(),
        runbook_url: Some(pattern_doc_url(PATTERN_DOCS_URL, &f.pattern)),
        items: Vec::new(),
        detail: None,
        footer: Footer::Finding {
            id: f.id.clone(),
            last_seen: f.last_seen,
            labels: f
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        thread_key: Some(f.id.clone()),
    }
}

/// One finding as an item of a group or digest message.
fn item(f: &Finding) -> Item {
    Item {
        id: f.id.clone(),
        severity: f.severity,
        status: f.status,
        title: f.title.clone(),
        object: object(&f.subject),
        cluster: f.cluster.clone(),
        tenant: f.tenant.clone(),
        count: f.count,
        summary: f.summary.clone(),
    }
}

/// The message about a route group (storm control): one message, many findings.
pub fn group(g: &Group) -> ChatMessage {
    let firing = g
        .findings
        .iter()
        .filter(|f| f.status == Status::Firing)
        .count();
    let resolved = g.findings.len() - firing;
    let worst = g
        .findings
        .iter()
        .filter(|f| f.status == Status::Firing)
        .map(|f| f.severity)
        .max();
    let labels: Vec<String> = g.labels.values().cloned().collect();
    let what = if labels.is_empty() {
        g.route.clone()
    } else {
        labels.join(", ")
    };
    let n = g.findings.len();
    let title = format!(
        "{firing} firing, {resolved} resolved finding{}: {what}",
        plural(n)
    );
    let fallback = format!(
        "[{}] {n} finding{} ({firing} firing): {what}",
        worst
            .map(|s| s.as_str())
            .unwrap_or("resolved")
            .to_uppercase(),
        plural(n),
    );
    ChatMessage {
        kind: MessageKind::Group,
        status: Some(if firing > 0 {
            Status::Firing
        } else {
            Status::Resolved
        }),
        severity: worst,
        title,
        fallback,
        facts: g
            .labels
            .iter()
            .map(|(k, v)| Fact::ident(k, v, IDENT_CHARS))
            .collect(),
        summary: String::new(),
        root_cause: None,
        evidence: Vec::new(),
        impacted: Vec::new(),
        remediation: String::new(),
        runbook_url: None,
        items: g.findings.iter().map(item).collect(),
        detail: None,
        footer: Footer::Group {
            route: g.route.clone(),
            key: g.key.clone(),
        },
        thread_key: Some(format!("group:{}", g.key)),
    }
}

/// Ranked counts as one fact value: `a ×3, b ×1, …and N more` (at most `rows`).
fn count_fact(label: &str, counts: &std::collections::BTreeMap<String, usize>) -> Fact {
    const ROWS: usize = 5;
    let ranked = Digest::ranked(counts);
    let mut parts: Vec<String> = ranked
        .iter()
        .take(ROWS)
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect();
    if ranked.len() > ROWS {
        parts.push(format!("and {} more", ranked.len() - ROWS));
    }
    Fact::plain(label, parts.join(", "))
}

/// The one message for a storm of findings (a digest): counts by pattern, tenant and
/// cluster as facts, the top findings as items, and where to see the rest.
pub fn digest(d: &Digest) -> ChatMessage {
    let total = d.total + d.not_held;
    let span = (d.window_end - d.window_start).max(0) / 1000;
    let worst = d.worst.map(|s| s.as_str()).unwrap_or("resolved");
    ChatMessage {
        kind: MessageKind::Group,
        status: Some(if d.firing > 0 {
            Status::Firing
        } else {
            Status::Resolved
        }),
        severity: d.worst,
        title: format!(
            "{total} findings in {span}s: {} firing, {} resolved",
            d.firing, d.resolved
        ),
        fallback: format!(
            "[{}] digest: {total} findings ({} firing)",
            worst.to_uppercase(),
            d.firing
        ),
        facts: vec![
            count_fact("By pattern", &d.by_pattern),
            count_fact("By tenant", &d.by_tenant),
            count_fact("By cluster", &d.by_cluster),
        ],
        summary: format!(
            "Top {} of {total} shown; {} more not shown. See them all: {}",
            d.top.len(),
            total - d.top.len(),
            d.see_rest
        ),
        root_cause: None,
        evidence: Vec::new(),
        impacted: Vec::new(),
        remediation: String::new(),
        runbook_url: None,
        items: d.top.iter().map(item).collect(),
        detail: None,
        footer: Footer::Group {
            route: d.route.clone(),
            key: format!("digest:{}", d.window_start),
        },
        thread_key: Some(format!("digest:{}:{}", d.route, d.window_start)),
    }
}

/// The message about an audit record (only reaches chat through an explicit route).
pub fn audit(a: &AuditRecord) -> ChatMessage {
    let action = a.action.replace('_', " ");
    let mut facts = vec![
        Fact::ident(label::OBJECT, &object(&a.subject), IDENT_CHARS),
        Fact::ident(label::CLUSTER, &a.cluster, IDENT_CHARS),
        Fact::ident(label::TENANT, &a.tenant, IDENT_CHARS),
        Fact::ident(label::OUTCOME, &a.outcome, OUTCOME_CHARS),
    ];
    if let Some(r) = &a.revision {
        facts.push(Fact::ident(label::REVISION, r, IDENT_CHARS));
    }
    if let Some(c) = &a.controller {
        facts.push(Fact::ident(label::CONTROLLER, c, CONTROLLER_CHARS));
    }
    if let Some(s) = &a.source {
        facts.push(Fact::ident(label::SOURCE, &object(s), IDENT_CHARS));
    }
    ChatMessage {
        kind: MessageKind::Audit,
        status: None,
        severity: None,
        title: format!("{action}: {}", object(&a.subject)),
        fallback: format!(
            "{action}: {} on {} ({})",
            object(&a.subject),
            a.cluster,
            a.outcome
        ),
        facts,
        summary: String::new(),
        root_cause: None,
        evidence: Vec::new(),
        impacted: Vec::new(),
        remediation: String::new(),
        runbook_url: None,
        items: Vec::new(),
        detail: (!a.message.is_empty()).then(|| a.message.clone()),
        footer: Footer::Audit { action, ts: a.ts },
        thread_key: None,
    }
}

/// A signal never reaches a chat sink (it is not routed); should one be drawn, only its
/// envelope is, never the record's text.
fn signal(sg: &crate::signal::Signal) -> ChatMessage {
    let action = format!("signal {}", sg.kind.as_str());
    ChatMessage {
        kind: MessageKind::Audit,
        status: None,
        severity: None,
        title: format!("{action} {} of {}", sg.seq, sg.cluster),
        fallback: format!("{action} {} of {}", sg.seq, sg.cluster),
        facts: Vec::new(),
        summary: String::new(),
        root_cause: None,
        evidence: Vec::new(),
        impacted: Vec::new(),
        remediation: String::new(),
        runbook_url: None,
        items: Vec::new(),
        detail: None,
        footer: Footer::Audit { action, ts: sg.t },
        thread_key: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::finding::RootCause;
    use crate::correlate::PatternId;
    use crate::record::Class;

    fn f(status: Status) -> Finding {
        let subject = ObjectRef::new("GitRepository", "ns", "repo");
        Finding {
            id: "fs-1".into(),
            status,
            title: "T".into(),
            summary: "S".into(),
            tenant: "t".into(),
            tenants: vec!["t".into()],
            root_cause: Some(RootCause {
                object: subject.clone(),
                class: Class::GitAuthFailed,
                message: "m".into(),
            }),
            impacted: (0..30)
                .map(|i| ObjectRef::new("Kustomization", "ns", format!("k{i}")))
                .collect(),
            last_seen: 1000,
            count: 3,
            remediation: "R".into(),
            ..Finding::example(PatternId::GitAuthFailure, subject.clone())
        }
    }

    #[test]
    fn finding_model_keeps_every_impacted_object_and_links_the_runbook() {
        let m = finding(&f(Status::Firing));
        assert_eq!(m.status_label(), "FIRING");
        assert_eq!(m.impacted.len(), 30, "the model does not cap");
        assert_eq!(m.impacted[0], "ns/Kustomization/k0");
        assert_eq!(
            m.runbook_url.as_deref(),
            Some("https://github.com/fluxsight/fluxsight/blob/main/docs/patterns/git_auth_failure.md")
        );
        assert_eq!(m.thread_key.as_deref(), Some("fs-1"));
        let labels: Vec<&str> = m.facts.iter().map(|f| f.label.as_str()).collect();
        assert_eq!(
            labels,
            ["Object", "Cluster", "Tenant", "Severity", "Status", "Count", "Pattern"]
        );
        assert_eq!(finding(&f(Status::Resolved)).status_label(), "RESOLVED");
    }

    #[test]
    fn group_is_firing_while_any_finding_fires() {
        let mut resolved = f(Status::Resolved);
        resolved.severity = Severity::Critical;
        let g = Group {
            route: "r".into(),
            key: "k".into(),
            labels: Default::default(),
            findings: vec![f(Status::Firing), resolved],
        };
        let m = group(&g);
        assert_eq!(m.status, Some(Status::Firing));
        assert_eq!(m.severity, Some(Severity::Error), "worst FIRING severity");
        assert_eq!(m.firing_items(), 1);
        assert_eq!(m.title, "1 firing, 1 resolved findings: r");
        assert_eq!(m.thread_key.as_deref(), Some("group:k"));
    }
}
