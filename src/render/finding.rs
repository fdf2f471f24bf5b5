//! Findings and audit records in their output schemas: native (contracts.md §4–§5),
//! OCSF API Activity and ECS events for audit records, and a human text summary (one
//! line per finding, a detailed block, and the report of `replay --output text` made
//! of those blocks).
//! Findings as OCSF Detection Findings and ECS alerts are in `ocsf` and `ecs`,
//! re-exported here.
//!
//! Invariant: field names are public (SIEM dashboards depend on them): extend, never
//! rename. Every free-text value has been redacted upstream; renderers redact again
//! because they are the last stage before a sink.

use serde_json::{json, Map, Value};

use crate::classify::redact::redact;
use crate::correlate::finding::{Finding, Status, WorkloadCauseInfo, WorkloadDiagnosis};
use crate::correlate::{AuditRecord, PatternId};
use crate::record::ObjectRef;
use crate::render::colour::Palette;
use crate::time::format_rfc3339_ms;

/// Output format of `replay` and sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Native,
    Ocsf,
    Ecs,
    Text,
}

impl OutputFormat {
    pub fn parse(s: &str) -> Option<OutputFormat> {
        Some(match s {
            "native" => OutputFormat::Native,
            "ocsf" => OutputFormat::Ocsf,
            "ecs" => OutputFormat::Ecs,
            "text" => OutputFormat::Text,
            _ => return None,
        })
    }
}

/// OCSF schema version the renderer targets.
pub const OCSF_VERSION: &str = "1.8.0";
/// ECS version the renderer targets.
pub const ECS_VERSION: &str = "9.4.0";
/// Where each pattern's runbook page (`docs/patterns/<pattern>.md`) is published:
/// OCSF `remediation.references`, ECS `rule.reference`, and the Alertmanager sink's
/// default `runbook_url` base.
pub const PATTERN_DOCS_URL: &str = "https://github.com/fluxsight/fluxsight/blob/main/docs/patterns";

/// The runbook page of `pattern` under `base` (a trailing `/` is allowed).
pub fn pattern_doc_url(base: &str, pattern: &str) -> String {
    format!("{}/{pattern}.md", base.trim_end_matches('/'))
}

pub use super::ecs::ecs;
pub use super::ocsf::ocsf;

fn r(s: &str) -> String {
    redact(s).into_owned()
}

/// Text for a terminal (`--output text`): redacted, and every control character (ESC of
/// ANSI/OSC sequences that could rewrite the screen, set the clipboard or forge links,
/// CR that could overwrite a line, newlines) replaced by a space.
fn term(s: &str) -> String {
    redact(s)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn obj_json(o: &ObjectRef) -> Value {
    json!({"kind": o.kind, "namespace": o.namespace, "name": o.name})
}

/// An impacted object: `{kind, namespace, name}`, extended (never renamed) with its own
/// failures when it had some while grouped under this root: `count`, `first_failed`,
/// `since` (how long it has been failing, up to the finding's last evidence) and
/// `evidence` (its last failure's class and message).
fn impacted_json(f: &Finding, o: &ObjectRef) -> Value {
    let mut v = obj_json(o);
    if let (Some(d), Value::Object(m)) = (f.impact_of(o), &mut v) {
        m.insert("count".into(), json!(d.count));
        m.insert(
            "first_failed".into(),
            json!(format_rfc3339_ms(d.first_failed)),
        );
        let since = f.last_seen.max(d.last_failed) - d.first_failed;
        m.insert(
            "since".into(),
            json!(crate::correlate::vars::human_ms(since)),
        );
        m.insert(
            "evidence".into(),
            json!({
                "ts": format_rfc3339_ms(d.last_failed),
                "class": d.class.as_str(),
                "message": r(&d.message),
            }),
        );
    }
    v
}

/// The `workload` object of a `workload_finding` (an extension of contracts.md §4):
/// chain, cause, replicas, coverage, verbatim evidence. Texts redacted again.
pub fn workload_json(w: &WorkloadDiagnosis) -> Value {
    let ts = |t: Option<i64>| t.map(format_rfc3339_ms);
    let cause = |c: &WorkloadCauseInfo| {
        json!({
            "stage": c.stage,
            "class": c.class,
            "subclass": c.subclass,
            "params": c.params.iter().map(|(k, v)| (k.clone(), json!(r(v)))).collect::<Map<_, _>>(),
            "workload": obj_json(&c.workload),
            "pods_in_class": c.pods_in_class,
            "text": r(&c.text),
        })
    };
    json!({
        "flux_object": obj_json(&w.flux_object),
        "flux_message": r(&w.flux_message),
        "chain": w.chain.iter().map(|l| {
            let mut v = obj_json(&l.object);
            if let (Some(uid), Value::Object(m)) = (&l.uid, &mut v) {
                m.insert("uid".into(), json!(uid));
            }
            if let Value::Object(m) = &mut v {
                m.insert("link".into(), json!(l.link));
            }
            v
        }).collect::<Vec<_>>(),
        "cause": cause(&w.cause),
        "others": w.others.iter().map(cause).collect::<Vec<_>>(),
        "replicas": {
            "desired": w.desired,
            "updated": w.updated,
            "available": w.available,
            "pods_in_class": w.cause.pods_in_class,
        },
        "coverage": w.coverage,
        "coverage_reasons": w.coverage_reasons,
        "evidence": w.evidence.iter().map(|e| json!({
            "source": e.source,
            "reason": e.reason,
            "type": e.event_type,
            "reporter": e.reporter,
            "involved_object": obj_json(&e.involved_object),
            "uid": e.uid,
            "class": e.record_class.as_str(),
            "message": r(&e.message),
            "count": e.count,
            "first_seen": ts(e.first_seen),
            "last_seen": ts(e.last_seen),
        })).collect::<Vec<_>>(),
    })
}

/// Native finding (contracts.md §4), with `workload` when the pattern has one.
pub fn native(f: &Finding) -> Value {
    let mut v = native_base(f);
    if let (Some(w), Value::Object(m)) = (&f.workload, &mut v) {
        m.insert("workload".into(), workload_json(w));
    }
    v
}

fn native_base(f: &Finding) -> Value {
    json!({
        "type": "finding",
        "id": f.id,
        "pattern": f.pattern,
        "status": f.status.as_str(),
        "severity": f.severity.as_str(),
        "title": r(&f.title),
        "summary": r(&f.summary),
        "cluster": f.cluster,
        "tenant": f.tenant,
        "tenants": f.tenants,
        "subject": obj_json(&f.subject),
        "root_cause": f.root_cause.as_ref().map(|rc| json!({
            "kind": rc.object.kind, "namespace": rc.object.namespace, "name": rc.object.name,
            "class": rc.class.as_str(), "message": r(&rc.message),
        })),
        "impacted": f.impacted.iter().map(|o| impacted_json(f, o)).collect::<Vec<_>>(),
        "first_seen": format_rfc3339_ms(f.first_seen),
        "last_seen": format_rfc3339_ms(f.last_seen),
        "count": f.count,
        "evidence": f.evidence.iter().map(|e| {
            let mut m = Map::new();
            if let Some(ts) = e.ts { m.insert("ts".into(), json!(format_rfc3339_ms(ts))); }
            if let Some(c) = &e.controller { m.insert("controller".into(), json!(c)); }
            m.insert("class".into(), json!(e.class.as_str()));
            m.insert("message".into(), json!(r(&e.message)));
            Value::Object(m)
        }).collect::<Vec<_>>(),
        "labels": f.labels.iter().map(|(k, v)| (k.clone(), json!(r(v)))).collect::<Map<_, _>>(),
        "remediation": r(&f.remediation),
    })
}

/// Native audit record (contracts.md §5).
pub fn audit_native(a: &AuditRecord) -> Value {
    let mut source = Value::Null;
    if let Some(s) = &a.source {
        source = json!({"kind": s.kind, "namespace": s.namespace, "name": s.name,
                        "url": a.source_url.as_deref().map(r)});
    }
    json!({
        "type": "audit",
        "ts": format_rfc3339_ms(a.ts),
        "cluster": a.cluster,
        "controller": a.controller,
        "action": a.action,
        "subject": obj_json(&a.subject),
        "tenant": a.tenant,
        "source": source,
        "revision": a.revision,
        "commit": a.commit,
        "changes": {"created": a.changes.created, "configured": a.changes.configured, "deleted": a.changes.deleted},
        "outcome": a.outcome,
        "message": r(&a.message),
    })
}

/// OCSF API Activity (6003, Update) for an audit record.
pub fn audit_ocsf(a: &AuditRecord) -> Value {
    let ok = a.outcome == "success";
    json!({
        "class_uid": 6003, "class_name": "API Activity", "category_uid": 6,
        "category_name": "Application Activity", "activity_id": 3, "activity_name": "Update",
        "type_uid": 600303, "severity_id": if ok { 1 } else { 4 },
        "status_id": if ok { 1 } else { 2 }, "status": if ok { "Success" } else { "Failure" },
        "time": a.ts,
        "metadata": {"version": OCSF_VERSION, "product": {"name": "fluxsight", "vendor_name": "fluxsight", "version": env!("CARGO_PKG_VERSION")}, "tenant_uid": a.tenant},
        "actor": {"app_name": a.controller.clone().unwrap_or_else(|| "flux".into())},
        "api": {"operation": if a.action == PatternId::RbacDenied.as_str() { "apply (denied)" } else { "apply" }},
        "src_endpoint": {"name": a.controller.clone().unwrap_or_else(|| "flux".into())},
        "resources": [{"uid": a.subject.to_string(), "name": a.subject.name, "type": a.subject.kind,
                       "namespace": a.subject.namespace, "version": a.commit}],
        "message": r(&a.message),
        "unmapped": audit_native(a),
    })
}

/// ECS event for an audit record.
pub fn audit_ecs(a: &AuditRecord) -> Value {
    json!({
        "@timestamp": format_rfc3339_ms(a.ts), "ecs": {"version": ECS_VERSION},
        "message": r(&a.message),
        "event": {"kind": "event", "category": ["configuration"], "type": ["change"],
                  "outcome": a.outcome, "action": a.action.replace('_', "-"), "dataset": "fluxsight.audit"},
        "orchestrator": {"type": "kubernetes", "cluster": {"name": a.cluster}, "namespace": a.subject.namespace,
                         "organization": a.tenant, "resource": {"type": a.subject.kind, "name": a.subject.name}},
        "fluxsight": audit_native(a),
    })
}

/// One line of the human summary.
pub fn text_line(f: &Finding) -> String {
    text_line_in(f, Palette::Plain)
}

/// One line of the human summary in `palette` (padding is counted on the visible text).
pub fn text_line_in(f: &Finding, palette: Palette) -> String {
    let status = format!("[{}]", f.status.as_str().to_uppercase());
    let severity = format!("{:<8}", f.severity.as_str());
    let mut s = format!(
        "{} {} {:<24} {}",
        palette.status(f.status, &status),
        palette.severity(f.severity, &severity),
        f.pattern,
        palette.strong(&term(&f.title))
    );
    if f.tenants.len() > 1 {
        let all: Vec<String> = f.tenants.iter().map(|t| term(t)).collect();
        s.push_str(&format!("  (tenants {})", all.join(", ")));
    } else if !f.tenant.is_empty() {
        s.push_str(&format!("  (tenant {})", term(&f.tenant)));
    }
    s
}

/// A multi-line human report of the final findings.
pub fn text_report(findings: &[Finding]) -> String {
    text_report_in(findings, Palette::Plain)
}

/// [`text_report`] in `palette`.
pub fn text_report_in(findings: &[Finding], palette: Palette) -> String {
    let mut v: Vec<&Finding> = findings.iter().collect();
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.first_seen.cmp(&b.first_seen))
    });
    let mut out = String::new();
    let firing = v.iter().filter(|f| f.status == Status::Firing).count();
    out.push_str(&format!(
        "fluxsight: {} findings ({} firing)\n",
        v.len(),
        firing
    ));
    for f in v {
        out.push('\n');
        out.push_str(&text_block_in(f, palette));
    }
    out
}

/// Impacted objects named in a text block; the rest are counted.
const TEXT_IMPACTED_SHOWN: usize = 8;

/// One finding's block of the human report: its line, then since/last/count, the
/// summary, the root cause, the impacted objects and the next step, each indented.
/// `replay --output text` prints it for every final finding, `run` when one fires or
/// resolves.
pub fn text_block_in(f: &Finding, palette: Palette) -> String {
    let mut out = text_line_in(f, palette);
    out.push('\n');
    out.push_str(&format!(
        "    since {}  last {}  count {}\n",
        format_rfc3339_ms(f.first_seen),
        format_rfc3339_ms(f.last_seen),
        f.count
    ));
    out.push_str(&format!("    {}\n", term(&f.summary)));
    if let Some(rc) = &f.root_cause {
        out.push_str(&format!(
            "    root cause: {} ({})\n",
            term(&rc.object.to_string()),
            rc.class.as_str()
        ));
    }
    if !f.impacted.is_empty() {
        let names: Vec<String> = f
            .impacted
            .iter()
            .take(TEXT_IMPACTED_SHOWN)
            .map(|o| term(&o.to_string()))
            .collect();
        let more = f.impacted.len().saturating_sub(TEXT_IMPACTED_SHOWN);
        out.push_str(&format!(
            "    impacted: {}{}\n",
            names.join(", "),
            if more > 0 {
                format!(" … and {more} more")
            } else {
                String::new()
            }
        ));
    }
    if let Some(w) = &f.workload {
        out.push_str(&workload_text(w));
    }
    out.push_str(&format!("    next step: {}\n", term(&f.remediation)));
    out
}

/// Most workload evidence lines in a text block.
const TEXT_WORKLOAD_EVIDENCE: usize = 3;

/// The chain (`flux trace` style, one line) and the cause's verbatim evidence.
fn workload_text(w: &WorkloadDiagnosis) -> String {
    let chain: Vec<String> = w
        .chain
        .iter()
        .map(|l| {
            let how = if l.link == "name" {
                " (linked by name, inferred)".to_string()
            } else {
                String::new()
            };
            format!("{}{how}", term(&l.object.to_string()))
        })
        .collect();
    let mut out = format!("    chain: {}\n", chain.join(" → "));
    let mut cause = format!(
        "    cause: {} / {}: {} ({} Pods",
        w.cause.stage,
        w.cause.subclass,
        term(&w.cause.text),
        w.cause.pods_in_class
    );
    if let (Some(a), Some(d)) = (w.available, w.desired) {
        cause.push_str(&format!(", {a}/{d} available"));
    }
    cause.push_str(&format!("), coverage {}", w.coverage));
    if !w.coverage_reasons.is_empty() {
        cause.push_str(&format!(" ({})", w.coverage_reasons.join(", ")));
    }
    out.push_str(&cause);
    out.push('\n');
    // One line per distinct message; the same message on other objects is counted.
    let mut shown: Vec<(&str, usize)> = Vec::new();
    for e in &w.evidence {
        if let Some(s) = shown.iter_mut().find(|(m, _)| *m == e.message) {
            s.1 += 1;
        } else if shown.len() < TEXT_WORKLOAD_EVIDENCE {
            shown.push((&e.message, 0));
        }
    }
    for (msg, more) in shown {
        let Some(e) = w.evidence.iter().find(|e| e.message == msg) else {
            continue;
        };
        let count = e.count.map(|c| format!(" ×{c}")).unwrap_or_default();
        let more = if more > 0 {
            format!(" (same on {more} more)")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "    {} {}{count}{more}: {}\n",
            term(&e.reason),
            term(&e.involved_object.to_string()),
            term(&e.message)
        ));
    }
    for o in w.others.iter().take(TEXT_WORKLOAD_EVIDENCE) {
        out.push_str(&format!(
            "    also: {} ({}, {} Pods)\n",
            term(&o.text),
            term(&o.workload.to_string()),
            o.pods_in_class
        ));
    }
    out
}
