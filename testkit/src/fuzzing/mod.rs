//! Fuzz harnesses: one function per cargo-fuzz target in `fuzz/fuzz_targets/`.
//!
//! Owns: how fuzzer bytes reach each parser, loader, renderer and the correlator, and the
//! cheap invariants checked on the way (a violated invariant panics, which libFuzzer
//! reports as a crash). Does not own: any behaviour; it only calls public functions.
//! `tests/fuzz_regressions.rs` replays committed crash inputs and the seed corpus
//! through [`TARGETS`], so `cargo test` runs the same code paths as the fuzzer.
//!
//! Invariant: a harness panics only on a real defect (a panic inside fluxsight or a
//! broken invariant), never on odd input.

mod correlate;
pub mod gen;
pub mod input;
mod render;

use std::sync::OnceLock;

use fluxsight::classify::Classifier;
use fluxsight::correlate::spec::{self, PatternSet, Settings};
use fluxsight::parse::{
    console, envelope, flux_cli, k8s, klog, logfmt, metric, text, zap, LineDecoder, ParseContext,
    ParseError,
};
use fluxsight::record::Record;

pub use correlate::correlate;
pub use render::{render_alertmanager, render_audit, render_finding, render_row, render_slack};

/// A harness: consumes one fuzz input.
pub type Harness = fn(&[u8]);

/// Every target by name (the file name in `fuzz/fuzz_targets/` and the folder name under
/// `fuzz/seeds/` and `fuzz/regressions/`).
pub const TARGETS: &[(&str, Harness)] = &[
    ("decode", decode),
    ("envelope", envelope),
    ("parse_zap", parse_zap),
    ("parse_console", parse_console),
    ("parse_klog", parse_klog),
    ("parse_logfmt", parse_logfmt),
    ("parse_flux_cli", parse_flux_cli),
    ("parse_text", parse_text),
    ("parse_metric", parse_metric),
    ("parse_k8s", parse_k8s),
    ("load_pattern", load_pattern),
    ("load_classes", load_classes),
    ("load_pipeline", load_pipeline),
    ("render_row", render_row),
    ("render_finding", render_finding),
    ("render_audit", render_audit),
    ("render_slack", render_slack),
    ("render_alertmanager", render_alertmanager),
    ("correlate", correlate),
];

/// The harness named `name`.
pub fn harness(name: &str) -> Option<Harness> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}

/// The built-in classifier, compiled once per process.
fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(Classifier::builtin)
}

/// The built-in patterns, loaded once per process.
fn patterns() -> &'static PatternSet {
    static P: OnceLock<PatternSet> = OnceLock::new();
    P.get_or_init(PatternSet::builtin)
}

/// Default correlation settings (built-in patterns), built once per process.
fn settings() -> &'static Settings {
    static S: OnceLock<Settings> = OnceLock::new();
    S.get_or_init(Settings::default)
}

fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|b| *b == b'\n')
}

/// Lines through one stateful decoder (CRI partials and the year hint carry over).
/// Invariant: at least one record per line, every line counted.
pub fn decode_lines(data: &[u8]) -> Vec<Record> {
    let mut dec = LineDecoder::new(None);
    let mut out = Vec::new();
    let mut n = 0;
    for line in lines(data) {
        let recs = dec.decode(line);
        assert!(!recs.is_empty(), "no record for line {line:?}");
        out.extend(recs);
        n += 1;
    }
    assert_eq!(dec.stats().lines, n);
    out
}

pub fn decode(data: &[u8]) {
    decode_lines(data);
}

/// Envelope removal never grows a line (docker JSON unescaping only shrinks).
pub fn envelope(data: &[u8]) {
    let s = envelope::strip(data);
    assert!(s.inner.len() <= data.len(), "envelope grew the line");
}

type TextParser = fn(&str, &ParseContext) -> Result<Record, ParseError>;

/// One text form over every line, with and without a controller hint.
fn text_form(data: &[u8], parse: TextParser) {
    let text = String::from_utf8_lossy(data);
    let ctx = ParseContext {
        controller_hint: Some("source-controller".into()),
        year_hint: Some(2025),
    };
    for line in text.lines() {
        let _ = parse(line, &ParseContext::default());
        let _ = parse(line, &ctx);
    }
}

pub fn parse_console(data: &[u8]) {
    text_form(data, console::parse);
}

pub fn parse_klog(data: &[u8]) {
    text_form(data, klog::parse);
}

pub fn parse_logfmt(data: &[u8]) {
    text_form(data, logfmt::parse);
}

pub fn parse_flux_cli(data: &[u8]) {
    text_form(data, flux_cli::parse);
}

pub fn parse_metric(data: &[u8]) {
    text_form(data, metric::parse);
}

pub fn parse_text(data: &[u8]) {
    text_form(data, |l, ctx| Ok(text::parse(l, ctx)));
}

fn json_object(data: &[u8]) -> Option<serde_json::Map<String, serde_json::Value>> {
    match serde_json::from_slice(data) {
        Ok(serde_json::Value::Object(m)) => Some(m),
        _ => None,
    }
}

pub fn parse_zap(data: &[u8]) {
    if let Some(obj) = json_object(data) {
        let _ = zap::from_json(&obj, &ParseContext::default());
    }
}

/// A JSON object, optionally steered to one document form by a leading selector byte
/// (input not starting with `{`): 1 Event v1, 2 events.k8s.io Event, 3 Pod, 4 a Flux
/// kind, 5 watch event, 6 List, 7 Flux event payload.
pub fn parse_k8s(data: &[u8]) {
    let (sel, json) = match data.split_first() {
        Some((b'{', _)) | None => (0, data),
        Some((s, rest)) => (s % 8, rest),
    };
    let Some(mut obj) = json_object(json) else {
        return;
    };
    let mut put = |k: &str, v: serde_json::Value| {
        obj.entry(k).or_insert(v);
    };
    match sel {
        1 => put("kind", "Event".into()),
        2 => {
            put("kind", "Event".into());
            put("apiVersion", "events.k8s.io/v1".into());
        }
        3 => put("kind", "Pod".into()),
        4 => {
            put("kind", "Kustomization".into());
            put("apiVersion", "kustomize.toolkit.fluxcd.io/v1".into());
        }
        7 => {
            put("involvedObject", serde_json::json!({}));
            put("severity", "error".into());
        }
        _ => {}
    }
    if (1..=4).contains(&sel) {
        put("apiVersion", "v1".into());
    }
    let doc = match sel {
        5 => serde_json::json!({"type": "MODIFIED", "object": obj}),
        6 => serde_json::json!({"kind": "List", "apiVersion": "v1", "items": [obj]}),
        _ => serde_json::Value::Object(obj),
    };
    if let Some(doc) = doc.as_object() {
        let _ = k8s::from_json(doc, &ParseContext::default());
    }
}

fn utf8(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// A finding pattern file; errors must format.
pub fn load_pattern(data: &[u8]) {
    if let Err(errs) = spec::load_pattern(&utf8(data), "patterns/fuzz.yaml") {
        for e in errs {
            let _ = e.to_string();
        }
    }
}

/// A record-class rule file; a table that compiles must classify and run its examples.
pub fn load_classes(data: &[u8]) {
    match Classifier::from_yaml(&utf8(data), "patterns/classes.yaml") {
        Ok(c) => {
            let _ = c.check_examples();
            for mut rec in decode_lines(b"{\"level\":\"error\",\"msg\":\"auth failed\"}\nx") {
                c.classify(&mut rec);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A pipeline file (correlation settings, tenants, sinks, routes, delivery, live).
pub fn load_pipeline(data: &[u8]) {
    match fluxsight::config::load(&utf8(data), "pipelines/fuzz.yaml", patterns().clone()) {
        Ok((settings, _plan, _live)) => {
            let _ = settings.tenants.tenant("team-a-prod");
        }
        Err(errs) => {
            for e in errs {
                let _ = e.to_string();
            }
        }
    }
}
