//! Findings as OCSF 1.8.0 Detection Findings (class 2004; output-formats.md §1).
//!
//! Owns: the mapping of a [`Finding`] to the OCSF attribute names, enums and captions.
//! Does not own the audit mapping (API Activity 6003, in `finding`) or delivery.
//!
//! Invariants:
//! - `finding_info.uid` is the finding id, the same for Create, Update and Close;
//!   `metadata.uid` names one emitted record and differs between emissions.
//! - Every `_id` enum sits next to its caption sibling (`confidence_id`/`confidence`,
//!   `role_id`/`role`, …) with the caption OCSF 1.8.0 gives that id:
//!   `tests/schema_ocsf.rs` validates every golden finding against
//!   `tests/schemas/ocsf/1.8.0/detection_finding.schema.json`.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::finding::{pattern_doc_url, OCSF_VERSION, PATTERN_DOCS_URL};
use crate::classify::redact::redact;
use crate::correlate::finding::{Confidence, Finding, Status};
use crate::record::{ObjectRef, Severity};
use crate::time::format_rfc3339_ms;

/// OCSF `class_uid` of Detection Finding.
pub const CLASS_UID: u32 = 2004;
/// Most impacted objects listed as `resources` (the subject comes first).
pub const MAX_RESOURCES: usize = 50;

/// `resources[].role_id`: the object the finding is about.
const ROLE_TARGET: (u8, &str) = (1, "Target");
/// `resources[].role_id`: an object the finding's cause keeps from working (OCSF 1.8.0
/// "Affected"; 99 "Other" would hide the relation from SIEM queries).
const ROLE_AFFECTED: (u8, &str) = (3, "Affected");
/// `resources[].role_id`: an object on the way to the cause (a workload chain's
/// ReplicaSet, Pod, PVC or Node).
const ROLE_RELATED: (u8, &str) = (4, "Related");
/// `observables[].type_id` of a hostname.
const OBSERVABLE_HOSTNAME: (u8, &str) = (1, "Hostname");
/// `observables[].type_id` of a resource's unique id.
const OBSERVABLE_RESOURCE_UID: (u8, &str) = (10, "Resource UID");
/// The finding label holding a provider host (network and rate-limit patterns).
const LABEL_HOST: &str = "host";

fn r(s: &str) -> String {
    redact(s).into_owned()
}

fn severity(s: Severity) -> (u8, &'static str) {
    match s {
        Severity::Info => (1, "Informational"),
        Severity::Warning => (3, "Medium"),
        Severity::Error => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// `confidence_id` and its caption.
pub fn confidence(c: Confidence) -> (u8, &'static str) {
    match c {
        Confidence::Low => (1, "Low"),
        Confidence::Medium => (2, "Medium"),
        Confidence::High => (3, "High"),
    }
}

/// The `metadata.uid` of one emission: a UUID-shaped digest of the cluster, the
/// finding id, its emission number and the state emitted (status, severity, times,
/// count, impacted objects, text). Deterministic, so a replay prints the same record
/// ids every run, two sinks rendering one emission agree and a re-sent record dedupes;
/// different for every emission of a finding and for the same finding in another
/// cluster (the finding id does not name the cluster), so SIEMs keep each record.
pub fn record_uid(f: &Finding) -> String {
    let mut h = Sha256::new();
    for part in [
        f.cluster.as_str(),
        f.id.as_str(),
        &f.emission.to_string(),
        f.status.as_str(),
        f.severity.as_str(),
        &f.first_seen.to_string(),
        &f.last_seen.to_string(),
        &f.count.to_string(),
        &f.impacted.len().to_string(),
        &f.tenant,
        &f.title,
        &f.summary,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let mut b: [u8; 16] = h.finalize()[..16].try_into().expect("16 of 32 bytes");
    // RFC 9562 version 8 (custom) and variant bits, so UUID parsers accept it.
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn resource(o: &ObjectRef, (role_id, role): (u8, &str)) -> Value {
    json!({
        "uid": o.to_string(), "name": o.name, "type": o.kind, "namespace": o.namespace,
        "role_id": role_id, "role": role,
    })
}

/// Indexable values: every resource uid, and the provider host when there is one.
/// `name` points at the attribute holding the value, as OCSF asks.
fn observables(f: &Finding, resources: &[Value]) -> Vec<Value> {
    let (rid, rcap) = OBSERVABLE_RESOURCE_UID;
    let mut v: Vec<Value> = resources
        .iter()
        .enumerate()
        .map(|(i, res)| {
            json!({"name": format!("resources[{i}].uid"), "type_id": rid, "type": rcap,
                   "value": res["uid"]})
        })
        .collect();
    if let Some(host) = f.labels.get(LABEL_HOST).filter(|h| is_hostname(h)) {
        let (hid, hcap) = OBSERVABLE_HOSTNAME;
        v.push(
            json!({"name": format!("unmapped.labels.{LABEL_HOST}"), "type_id": hid,
                      "type": hcap, "value": r(host)}),
        );
    }
    v
}

/// A DNS name or address as a `host` label holds it (no port, path or spaces).
fn is_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
}

/// OCSF Detection Finding (class 2004). `first` selects Create over Update.
pub fn ocsf(f: &Finding, first: bool) -> Value {
    let (activity_id, activity_name) = match (f.status, first) {
        (Status::Resolved, _) => (3, "Close"),
        (Status::Firing, true) => (1, "Create"),
        (Status::Firing, false) => (2, "Update"),
    };
    let (sev_id, sev_name) = severity(f.severity);
    let (status_id, status) = match f.status {
        Status::Firing if first => (1, "New"),
        Status::Firing => (2, "In Progress"),
        Status::Resolved => (4, "Resolved"),
    };
    let (conf_id, conf_name) = confidence(f.rule.confidence);
    let mut resources = vec![resource(&f.subject, ROLE_TARGET)];
    resources.extend(
        f.impacted
            .iter()
            .take(MAX_RESOURCES)
            .map(|o| resource(o, ROLE_AFFECTED)),
    );
    if let Some(w) = &f.workload {
        for l in &w.chain {
            if l.object != f.subject && !f.impacted.contains(&l.object) {
                let mut res = resource(&l.object, ROLE_RELATED);
                if let Some(uid) = &l.uid {
                    res["labels"] = json!([format!("uid:{uid}"), format!("link:{}", l.link)]);
                } else {
                    res["labels"] = json!([format!("link:{}", l.link)]);
                }
                resources.push(res);
            }
        }
    }
    let observables = observables(f, &resources);
    let mut evidences: Vec<Value> = f
        .evidence
        .iter()
        .map(|e| {
            json!({"data": {
                "ts": e.ts.map(format_rfc3339_ms), "controller": e.controller,
                "class": e.class.as_str(), "message": r(&e.message),
            }})
        })
        .collect();
    if let Some(w) = &f.workload {
        evidences.extend(w.evidence.iter().map(|e| {
            json!({"data": {
                "source": e.source, "reason": e.reason, "type": e.event_type,
                "reporter": e.reporter, "involved_object": e.involved_object.to_string(),
                "uid": e.uid, "count": e.count, "class": e.record_class.as_str(),
                "first_seen": e.first_seen.map(format_rfc3339_ms),
                "last_seen": e.last_seen.map(format_rfc3339_ms),
                "message": r(&e.message),
            }})
        }));
    }
    let mut analytic = json!({"type_id": 1, "type": "Rule", "uid": f.pattern, "name": f.pattern});
    if !f.rule.description.is_empty() {
        analytic["desc"] = json!(r(&f.rule.description));
    }
    if !f.rule.category.is_empty() {
        analytic["category"] = json!(f.rule.category);
    }
    let mut v = json!({
        "class_uid": CLASS_UID, "class_name": "Detection Finding",
        "category_uid": 2, "category_name": "Findings",
        "activity_id": activity_id, "activity_name": activity_name,
        "type_uid": CLASS_UID * 100 + activity_id, "type_name": format!("Detection Finding: {activity_name}"),
        "severity_id": sev_id, "severity": sev_name,
        "status_id": status_id, "status": status,
        "confidence_id": conf_id, "confidence": conf_name,
        "is_alert": f.status == Status::Firing,
        "time": f.last_seen,
        "start_time": f.first_seen, "end_time": f.last_seen,
        "count": f.count,
        "message": r(&f.title),
        "timezone_offset": 0,
        "metadata": {
            "uid": record_uid(f),
            "version": OCSF_VERSION,
            "product": {"name": "fluxsight", "vendor_name": "fluxsight", "version": env!("CARGO_PKG_VERSION")},
            "tenant_uid": f.tenant,
            "labels": [format!("cluster:{}", f.cluster)],
        },
        "finding_info": {
            "uid": f.id,
            "title": r(&f.title),
            "desc": r(&f.summary),
            "types": [format!("flux/{}", f.pattern)],
            "analytic": analytic,
            "first_seen_time": f.first_seen, "last_seen_time": f.last_seen,
        },
        "resources": resources,
        "observables": observables,
        "evidences": evidences,
        "remediation": {
            "desc": r(&f.remediation),
            "references": [pattern_doc_url(PATTERN_DOCS_URL, &f.pattern)],
        },
        "unmapped": {
            "cluster": f.cluster, "tenant": f.tenant, "tenants": f.tenants,
            "root_cause": f.root_cause.as_ref().map(|rc| json!({
                "kind": rc.object.kind, "namespace": rc.object.namespace, "name": rc.object.name,
                "class": rc.class.as_str(), "message": r(&rc.message)})),
            "labels": f.labels.iter().map(|(k, v)| (k.clone(), json!(r(v)))).collect::<Map<_, _>>(),
        },
    });
    if let Some(w) = &f.workload {
        v["unmapped"]["workload"] = super::finding::workload_json(w);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::PatternId;

    fn finding() -> Finding {
        Finding {
            id: "fid".into(),
            pattern: PatternId::NetworkDegradation.as_str().into(),
            status: Status::Firing,
            severity: Severity::Error,
            title: "t".into(),
            summary: "s".into(),
            cluster: "c".into(),
            tenant: "team-a".into(),
            tenants: vec!["team-a".into()],
            subject: ObjectRef::new("Host", "", "github.com"),
            root_cause: None,
            impacted: vec![ObjectRef::new("GitRepository", "team-a", "app")],
            impact: Vec::new(),
            first_seen: 1,
            last_seen: 2,
            count: 3,
            evidence: Vec::new(),
            labels: [(LABEL_HOST.to_string(), "github.com".to_string())].into(),
            remediation: "r".into(),
            rule: crate::correlate::finding::RuleMeta {
                description: "d".into(),
                category: "network".into(),
                confidence: Confidence::Medium,
            },
            last_counted: 2,
            emission: 1,
            workload: None,
            text_pending: Default::default(),
        }
    }

    #[test]
    fn impacted_resources_are_affected_and_observable() {
        let v = ocsf(&finding(), true);
        assert_eq!(v["resources"][0]["role_id"], 1);
        assert_eq!(v["resources"][1]["role_id"], 3);
        assert_eq!(v["resources"][1]["role"], "Affected");
        assert_eq!(v["confidence_id"], 2);
        assert_eq!(v["confidence"], "Medium");
        let obs = v["observables"].as_array().unwrap();
        assert_eq!(obs[1]["name"], "resources[1].uid");
        assert_eq!(obs[1]["value"], "GitRepository/team-a/app");
        assert_eq!(obs[2]["type"], "Hostname");
        assert_eq!(obs[2]["value"], "github.com");
    }

    #[test]
    fn record_uid_differs_per_emission_and_finding_uid_stays() {
        let mut f = finding();
        let a = ocsf(&f, true);
        f.emission = 2;
        let b = ocsf(&f, false);
        f.status = Status::Resolved;
        f.emission = 3;
        let c = ocsf(&f, false);
        let uids: std::collections::BTreeSet<_> = [&a, &b, &c]
            .iter()
            .map(|v| v["metadata"]["uid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(uids.len(), 3, "{uids:?}");
        assert!(uids
            .iter()
            .all(|u| u.len() == 36 && u.as_bytes()[14] == b'8'));
        for v in [&a, &b, &c] {
            assert_eq!(v["finding_info"]["uid"], "fid");
        }
        // Deterministic: rendering one emission twice names the same record.
        assert_eq!(ocsf(&f, false)["metadata"]["uid"], c["metadata"]["uid"]);
        // The same finding state in another cluster is another record.
        f.cluster = "other".into();
        assert_ne!(ocsf(&f, false)["metadata"]["uid"], c["metadata"]["uid"]);
    }
}
