//! Renderer harnesses and the output invariants they check.

use serde_json::Value;

use super::gen;
use super::input::{Input, CANARY_SECRET};
use fluxsight::correlate::{AuditRecord, Finding};
use fluxsight::render::finding::{
    audit_ecs, audit_native, audit_ocsf, ecs, native, ocsf, text_line, text_report,
};
use fluxsight::render::row::render_row as row;
use fluxsight::render::slack;
use fluxsight::sinks::alertmanager::{
    valid_label_name, AlertMapper, PostableAlert, MAX_ANNOTATION, MAX_LABEL_VALUE,
};
use fluxsight::sinks::body::render_all;
use fluxsight::sinks::config::BodyFormat;
use fluxsight::sinks::Delivery;

const JSON_BODIES: [BodyFormat; 4] = [
    BodyFormat::Native,
    BodyFormat::Ocsf,
    BodyFormat::Ecs,
    BodyFormat::Cloudevents,
];

/// Every string in a JSON value, keys included.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

/// No output text may carry the canary secret planted in free-text fields.
fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(CANARY_SECRET),
        "{what} leaked the secret: {text}"
    );
}

/// Serialises and re-parses (the bytes a sink sends are valid JSON), checks secrets.
fn check_json(what: &str, v: &Value) {
    let s = serde_json::to_string(v).expect("serialise");
    let back: Value = serde_json::from_str(&s).expect("rendered JSON parses");
    assert_eq!(&back, v, "{what} JSON does not round-trip");
    assert_no_secret(what, &s);
}

fn check_bodies(d: &Delivery) {
    for fmt in JSON_BODIES {
        for v in render_all(d, fmt) {
            check_json("webhook body", &v);
        }
    }
}

/// Classify rows: lines → decoder → classifier → row; every row is one JSON object.
pub fn render_row(data: &[u8]) {
    for (n, mut rec) in super::decode_lines(data).into_iter().enumerate() {
        super::classifier().classify(&mut rec);
        let line = row("fuzz.log", n as u64 + 1, &rec);
        assert!(!line.contains('\n'), "row spans lines: {line}");
        let v: Value = serde_json::from_str(&line).expect("row is JSON");
        assert!(v.is_object(), "row is not an object: {line}");
    }
}

fn check_finding(f: &Finding) {
    check_json("native", &native(f));
    check_json("ocsf", &ocsf(f, true));
    check_json("ocsf", &ocsf(f, false));
    check_json("ecs", &ecs(f));
    assert_no_secret("text line", &text_line(f));
}

pub fn render_finding(data: &[u8]) {
    let mut i = Input::new(data);
    let fs = i.vec(4, gen::finding);
    for f in &fs {
        check_finding(f);
        check_bodies(&Delivery::Finding(Box::new(f.clone())));
    }
    assert_no_secret("text report", &text_report(&fs));
}

fn check_audit(a: &AuditRecord) {
    check_json("audit native", &audit_native(a));
    check_json("audit ocsf", &audit_ocsf(a));
    check_json("audit ecs", &audit_ecs(a));
}

pub fn render_audit(data: &[u8]) {
    let a = gen::audit(&mut Input::new(data));
    check_audit(&a);
    check_bodies(&Delivery::Audit(Box::new(a)));
}

/// Slack: no `<…>` control syntax (links, user/channel mentions) and no live mass
/// mention from input, Block Kit limits kept, no secret.
fn check_slack(d: &Delivery) {
    let msg = slack::message(d);
    check_json("slack", &msg);
    let mut texts = Vec::new();
    strings(&msg, &mut texts);
    for t in &texts {
        assert!(!t.contains('<'), "slack text has '<': {t}");
        let lower = t.to_lowercase();
        for m in ["@here", "@channel", "@everyone", "@group"] {
            assert!(!lower.contains(m), "slack text has a live {m}: {t}");
        }
    }
    let fallback = msg["text"].as_str().unwrap_or_default();
    assert!(
        fallback.chars().count() <= slack::MAX_TEXT_CHARS,
        "fallback too long"
    );
    let blocks = msg["blocks"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    assert!(blocks.len() <= slack::MAX_BLOCKS, "{} blocks", blocks.len());
    for b in blocks {
        let text_len = |v: &Value| v["text"].as_str().map_or(0, |s| s.chars().count());
        match b["type"].as_str() {
            Some("header") => assert!(text_len(&b["text"]) <= slack::MAX_HEADER_CHARS),
            Some("section") => {
                assert!(text_len(&b["text"]) <= slack::MAX_SECTION_CHARS);
                let fields = b["fields"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                assert!(fields.len() <= slack::MAX_FIELDS);
                assert!(fields.iter().all(|f| text_len(f) <= slack::MAX_FIELD_CHARS));
            }
            _ => {}
        }
    }
}

pub fn render_slack(data: &[u8]) {
    check_slack(&gen::delivery(&mut Input::new(data)));
}

/// Alertmanager: valid, clean, bounded labels; bounded annotations; no secret.
fn check_alert(a: &PostableAlert) {
    for (k, v) in &a.labels {
        assert!(valid_label_name(k), "label name {k:?}");
        assert!(v.len() <= MAX_LABEL_VALUE, "label {k} is {} bytes", v.len());
        assert!(
            !v.chars().any(char::is_control),
            "label {k} has control chars"
        );
        assert_no_secret("alert label", v);
    }
    for (k, v) in &a.annotations {
        assert!(
            v.len() <= MAX_ANNOTATION,
            "annotation {k} is {} bytes",
            v.len()
        );
        assert_no_secret("alert annotation", v);
    }
    let body = serde_json::to_string(a).expect("alert serialises");
    let _: Value = serde_json::from_str(&body).expect("alert JSON parses");
}

pub fn render_alertmanager(data: &[u8]) {
    let mut i = Input::new(data);
    let mapper = AlertMapper {
        static_labels: i
            .vec(4, |i| {
                (i.name(&["team", "severity", "env", "1x", ""]), i.text())
            })
            .into_iter()
            .collect(),
        generator_url: i.opt(Input::text),
        runbook_base_url: i.opt(Input::text),
    };
    let now = gen::ts(&mut i);
    for f in i.vec(4, gen::finding) {
        check_alert(&mapper.alert(&f, now));
    }
}

/// Every renderer over one correlator output (used by the correlator harness).
pub(super) fn check_delivery(d: &Delivery) {
    for f in d.findings() {
        check_finding(f);
        check_alert(&AlertMapper::default().alert(f, f.last_seen));
    }
    if let Delivery::Audit(a) = d {
        check_audit(a);
    }
    check_bodies(d);
    check_slack(d);
}
