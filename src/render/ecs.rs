//! Findings as ECS 9.4 `event.kind: alert` documents (output-formats.md §2).
//!
//! Owns: the mapping of a [`Finding`] to ECS field names, the choice of
//! `event.category` per pattern and of an `event.type` that ECS allows for that
//! category. Does not own the audit mapping (in `finding`).
//!
//! Invariants:
//! - `event.type` is always one of ECS's expected types for the `event.category` it
//!   sits with ([`expected_types`]); `tests/schema_ecs.rs` checks every golden finding
//!   against the vendored ECS field definitions (`tests/schemas/ecs/9.4.0/`).
//! - `rule.id` is a stable id (`fluxsight.<pattern>`) distinct from `rule.name`, so
//!   Elastic rules and dashboards keyed on it survive a renamed pattern title.
//! - Fields outside ECS live under `fluxsight.*` (the native finding) only.

use serde_json::{json, Value};

use super::finding::{native, pattern_doc_url, ECS_VERSION, PATTERN_DOCS_URL};
use crate::classify::redact::redact;
use crate::correlate::finding::{Finding, Status};
use crate::correlate::PatternId;
use crate::record::Severity;
use crate::time::format_rfc3339_ms;

/// Prefix of `rule.id`.
pub const RULE_ID_PREFIX: &str = "fluxsight.";
/// `rule.ruleset` of the built-in patterns.
pub const RULESET: &str = "fluxsight-default";

/// ECS `event.category` values this renderer uses.
pub mod category {
    pub const AUTHENTICATION: &str = "authentication";
    pub const CONFIGURATION: &str = "configuration";
    pub const IAM: &str = "iam";
    pub const NETWORK: &str = "network";
    pub const PROCESS: &str = "process";
}

/// ECS `event.type` values this renderer uses.
pub mod event_type {
    pub const INFO: &str = "info";
    pub const END: &str = "end";
    pub const CHANGE: &str = "change";
}

fn r(s: &str) -> String {
    redact(s).into_owned()
}

/// `event.category` of a pattern.
pub fn ecs_category(pattern: &str) -> &'static str {
    use PatternId::*;
    match PatternId::parse(pattern) {
        Some(GitAuthFailure) => category::AUTHENTICATION,
        Some(RbacDenied) => category::IAM,
        Some(RateLimitExhaustion | NetworkDegradation | FleetRateLimit) => category::NETWORK,
        Some(ControllerOom | OomCascade | ControllerCrashloop | MemoryGrowth) => category::PROCESS,
        _ => category::CONFIGURATION,
    }
}

/// The `event.type` values ECS expects with `category` (ECS "expected event types";
/// only the categories [`ecs_category`] returns).
pub fn expected_types(category: &str) -> &'static [&'static str] {
    match category {
        category::AUTHENTICATION => &["start", "end", "info"],
        category::CONFIGURATION => &["access", "change", "creation", "deletion", "info"],
        category::IAM => &[
            "admin", "change", "creation", "deletion", "group", "info", "user",
        ],
        category::NETWORK => &[
            "access",
            "allowed",
            "connection",
            "denied",
            "end",
            "info",
            "protocol",
            "start",
        ],
        category::PROCESS => &["access", "change", "end", "info", "start"],
        _ => &["info"],
    }
}

/// `event.type` of a finding in `category`: `info` while firing; when resolved `end`
/// where the category allows it, else `change` (the condition changed back), so a
/// resolved finding never carries a pair ECS rejects (`configuration` + `end`).
pub fn event_type(status: Status, category: &str) -> &'static str {
    if status == Status::Firing {
        return event_type::INFO;
    }
    let allowed = expected_types(category);
    [event_type::END, event_type::CHANGE]
        .into_iter()
        .find(|t| allowed.contains(t))
        .unwrap_or(event_type::INFO)
}

/// ECS alert document.
pub fn ecs(f: &Finding) -> Value {
    let sev = match f.severity {
        Severity::Info => 1,
        Severity::Warning => 3,
        Severity::Error => 4,
        Severity::Critical => 5,
    };
    let category = ecs_category(&f.pattern);
    let mut rule = json!({
        "id": format!("{RULE_ID_PREFIX}{}", f.pattern),
        "name": f.pattern,
        "ruleset": RULESET,
        "version": env!("CARGO_PKG_VERSION"),
        "author": ["fluxsight"],
        "reference": pattern_doc_url(PATTERN_DOCS_URL, &f.pattern),
    });
    if !f.rule.description.is_empty() {
        rule["description"] = json!(r(&f.rule.description));
    }
    if !f.rule.category.is_empty() {
        rule["category"] = json!(f.rule.category);
    }
    json!({
        "@timestamp": format_rfc3339_ms(f.last_seen),
        "ecs": {"version": ECS_VERSION},
        "message": r(&f.title),
        "event": {
            "kind": "alert", "category": [category],
            "type": [event_type(f.status, category)],
            "severity": sev, "risk_score": sev as f64 * 20.0,
            "dataset": "fluxsight.finding", "provider": "fluxsight", "module": "fluxsight",
            "id": f.id, "code": f.pattern, "action": f.status.as_str(),
            "reason": r(&f.summary),
            "start": format_rfc3339_ms(f.first_seen), "end": format_rfc3339_ms(f.last_seen),
        },
        "rule": rule,
        "orchestrator": {
            "type": "kubernetes", "cluster": {"name": f.cluster},
            "namespace": f.subject.namespace, "organization": f.tenant,
            "resource": {"type": f.subject.kind, "name": f.subject.name},
        },
        "labels": {"tenant": f.tenant, "pattern": f.pattern, "status": f.status.as_str()},
        "tags": ["flux", "gitops", "fluxsight"],
        "fluxsight": native(f),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_types_are_allowed_for_every_category() {
        for p in PatternId::ALL {
            let c = ecs_category(p.as_str());
            for s in [Status::Firing, Status::Resolved] {
                let t = event_type(s, c);
                assert!(expected_types(c).contains(&t), "{p}: {c}/{t}");
            }
        }
        assert_eq!(
            event_type(Status::Resolved, category::CONFIGURATION),
            "change"
        );
        assert_eq!(event_type(Status::Resolved, category::IAM), "change");
        assert_eq!(event_type(Status::Resolved, category::NETWORK), "end");
    }
}
