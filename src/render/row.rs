//! The `classify` output row (contracts.md §2): one JSON object per input line.
//!
//! Invariant: field names and value vocabularies are public; absent facts are omitted,
//! never invented. Every string that leaves here has been through redaction.

use serde::Serialize;

use crate::classify::redact::redact;
use crate::parse::time::format_rfc3339_ms;
use crate::record::Record;

/// Field names of the row, shared with tests.
pub mod field {
    pub const FILE: &str = "file";
    pub const LINE: &str = "line";
    pub const FORMAT: &str = "format";
    pub const CLASS: &str = "class";
}

#[derive(Serialize)]
struct Row<'a> {
    file: &'a str,
    line: u64,
    format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    envelope: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    controller: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    class: &'static str,
    severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval_ms: Option<u64>,
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Renders one record as a compact JSON row (no trailing newline).
pub fn render_row(file: &str, line: u64, rec: &Record) -> String {
    let obj = rec.object.as_ref();
    let message = rec.message();
    let row = Row {
        file,
        line,
        format: rec.format.as_str(),
        envelope: rec.envelope.map(|e| e.as_str()),
        ts: rec.ts.map(format_rfc3339_ms),
        level: rec.level.map(|l| l.as_str()),
        controller: rec.controller.as_deref(),
        kind: obj.and_then(|o| non_empty(&o.kind)),
        namespace: obj.and_then(|o| non_empty(&o.namespace)),
        name: obj.and_then(|o| non_empty(&o.name)),
        reason: rec.reason.as_deref().map(|s| redact(s).into_owned()),
        revision: rec.revision.as_deref().map(|s| redact(s).into_owned()),
        message: non_empty(&message).map(|m| redact(m).into_owned()),
        class: rec.class.as_str(),
        severity: rec.severity.as_str(),
        duration_ms: rec.duration_ms,
        interval_ms: rec.interval_ms,
    };
    serde_json::to_string(&row).unwrap_or_else(|_| String::from("{}"))
}
