//! The `classify` output row (contracts.md §2): one JSON object per input line.
//!
//! Invariant: field names and value vocabularies are public; absent facts are omitted,
//! never invented. Every string that leaves here has been through redaction.
//!
//! The row is written straight into a byte buffer (no intermediate struct, no `String`
//! per field): keys in the fixed order below, strings escaped by serde_json's own string
//! serializer, so the bytes are those serde's derive of the former `Row` struct wrote.

use crate::classify::redact::redact;
use crate::record::Record;
use crate::time::write_rfc3339_ms;

/// Field names of the row, shared with tests.
pub mod field {
    pub const FILE: &str = "file";
    pub const LINE: &str = "line";
    pub const FORMAT: &str = "format";
    pub const CLASS: &str = "class";
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Reusable buffers for [`render_row_into`].
#[derive(Debug, Default)]
pub struct RowScratch {
    message: String,
    /// The file name of the last row and its escaped JSON string.
    file: String,
    file_json: Vec<u8>,
}

/// True for the bytes serde_json escapes in strings: control characters, `"` and `\`.
fn needs_escape(b: &[u8]) -> bool {
    let bad = |x: u8| (x < 0x20) | (x == b'"') | (x == b'\\');
    let mut chunks = b.chunks_exact(16);
    for c in &mut chunks {
        // no early exit inside a chunk, so the check vectorises
        if c.iter().fold(false, |acc, &x| acc | bad(x)) {
            return true;
        }
    }
    chunks.remainder().iter().any(|&x| bad(x))
}

/// A JSON string, escaped as serde_json does.
fn push_str(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // serializing a `&str` into a `Vec` cannot fail
    let _ = serde_json::to_writer(&mut *out, s);
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// `,"key":` (every key but the first).
fn push_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

fn push_opt_str(out: &mut Vec<u8>, key: &str, v: Option<&str>) {
    if let Some(v) = v {
        push_key(out, key);
        push_str(out, v);
    }
}

/// Appends one record as a compact JSON row (no trailing newline) to `out`.
pub fn render_row_into(
    out: &mut Vec<u8>,
    scratch: &mut RowScratch,
    file: &str,
    line: u64,
    rec: &Record,
) {
    let obj = rec.object.as_ref();
    out.extend_from_slice(b"{\"file\":");
    if scratch.file != file || scratch.file_json.is_empty() {
        scratch.file.clear();
        scratch.file.push_str(file);
        scratch.file_json.clear();
        push_str(&mut scratch.file_json, file);
    }
    out.extend_from_slice(&scratch.file_json);
    push_key(out, "line");
    push_u64(out, line);
    push_key(out, "format");
    push_str(out, rec.format.as_str());
    push_opt_str(out, "envelope", rec.envelope.map(|e| e.as_str()));
    if let Some(ts) = rec.ts {
        push_key(out, "ts");
        out.push(b'"');
        write_rfc3339_ms(out, ts);
        out.push(b'"');
    }
    push_opt_str(out, "level", rec.level.map(|l| l.as_str()));
    push_opt_str(out, "controller", rec.controller.as_deref());
    push_opt_str(out, "kind", obj.and_then(|o| non_empty(&o.kind)));
    push_opt_str(out, "namespace", obj.and_then(|o| non_empty(&o.namespace)));
    push_opt_str(out, "name", obj.and_then(|o| non_empty(&o.name)));
    push_opt_str(out, "reason", rec.reason.as_deref().map(redact).as_deref());
    push_opt_str(
        out,
        "revision",
        rec.revision.as_deref().map(redact).as_deref(),
    );
    // `Record::message` without its allocation
    let message: &str = match &rec.error {
        Some(e) if !e.is_empty() && !rec.msg.is_empty() => {
            scratch.message.clear();
            scratch.message.push_str(&rec.msg);
            scratch.message.push_str(": ");
            scratch.message.push_str(e);
            &scratch.message
        }
        Some(e) if !e.is_empty() => e,
        _ => &rec.msg,
    };
    push_opt_str(out, "message", non_empty(message).map(redact).as_deref());
    push_key(out, "class");
    push_str(out, rec.class.as_str());
    push_key(out, "severity");
    push_str(out, rec.severity.as_str());
    if let Some(c) = rec.carrier_line {
        push_key(out, "carrier_line");
        push_u64(out, c);
    }
    if let Some(d) = rec.duration_ms {
        push_key(out, "duration_ms");
        push_u64(out, d);
    }
    if let Some(d) = rec.interval_ms {
        push_key(out, "interval_ms");
        push_u64(out, d);
    }
    out.push(b'}');
}

/// Renders one record as a compact JSON row (no trailing newline).
pub fn render_row(file: &str, line: u64, rec: &Record) -> String {
    let mut out = Vec::with_capacity(256);
    render_row_into(&mut out, &mut RowScratch::default(), file, line, rec);
    // only UTF-8 was written: `&str`s, ASCII digits and punctuation
    String::from_utf8(out).unwrap_or_else(|_| String::from("{}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::Classifier;
    use crate::parse::parse_line;
    use crate::record::{Envelope, Level, ObjectRef};
    use crate::time::format_rfc3339_ms;
    use serde::Serialize;

    /// The former serde-derived row: the byte-for-byte reference.
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

    fn reference(file: &str, line: u64, rec: &Record) -> String {
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
        serde_json::to_string(&row).unwrap()
    }

    #[test]
    fn same_bytes_as_serde_row() {
        let classifier = Classifier::builtin();
        let mut recs = Vec::new();
        for line in [
            r#"{"level":"error","ts":"2025-01-01T00:00:00.5Z","msg":"Reconciler error","controllerKind":"GitRepository","name":"a\"b","namespace":"n\u0001s","error":"auth: password=hunter2 token: ghp_abcdefghijklmnopqrstuvwxyz0123"}"#,
            "plain text \u{7f} \u{e9} \t tab \\ back \"quote\" \u{1b}[0m",
            "a string well over sixteen bytes long with a \"quote\" in its second chunk",
            "a string well over sixteen bytes long with a control \u{1f} near its end.",
            "a string well over sixteen bytes long with nothing to escape at all, none",
            "",
            "2026-01-01T00:00:00.000000001Z stdout F {\"level\":\"info\",\"msg\":\"Reconciliation finished in 2.31s, next run in 10m0s\",\"duration\":0.5}",
        ] {
            recs.extend(parse_line(line.as_bytes()));
        }
        let mut custom = Record {
            ts: Some(-62_167_219_200_001),
            envelope: Some(Envelope::Docker),
            level: Some(Level::Warning),
            controller: Some("c\"c".into()),
            object: Some(ObjectRef::new("", "ns", "")),
            reason: Some("Bearer abcdefghijklmnop1234".into()),
            revision: Some("https://user:pw@host/x".into()),
            msg: String::new(),
            error: Some("only error".into()),
            duration_ms: Some(u64::MAX),
            interval_ms: Some(0),
            ..Default::default()
        };
        recs.push(custom.clone());
        custom.error = Some(String::new());
        custom.ts = Some(i64::MAX);
        recs.push(custom);
        let mut out = Vec::new();
        let mut scratch = RowScratch::default();
        for (i, mut rec) in recs.into_iter().enumerate() {
            classifier.classify(&mut rec);
            for file in ["in.log", "we\"ird\n.log"] {
                out.clear();
                render_row_into(&mut out, &mut scratch, file, i as u64, &rec);
                let want = reference(file, i as u64, &rec);
                assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
                assert_eq!(render_row(file, i as u64, &rec), want);
            }
        }
    }
}
