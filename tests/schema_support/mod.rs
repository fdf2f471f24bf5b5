//! Shared by `schema_ocsf.rs` and `schema_ecs.rs`: every golden replay case rendered in
//! one output format, as `fluxsight replay --output <format>` prints it.
//!
//! The documents are produced from the cases' `input.log` and checked one for one
//! against their `expected.jsonl` (same findings, same order), so the schema tests
//! validate exactly the golden findings, and a new case is validated without a change
//! here.

use std::fs;
use std::path::{Path, PathBuf};

use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Settings};
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::render::finding::OutputFormat;
use serde_json::Value;

/// One golden case rendered: its name, the native findings it expects, and every
/// document the renderer printed (findings and, for `_audit` cases, audit records).
pub struct Rendered {
    pub case: String,
    pub expected: Vec<Value>,
    pub docs: Vec<Value>,
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/golden")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input.log").is_file() && p.join("expected.jsonl").is_file())
        .collect();
    v.sort();
    v
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Every golden case replayed with `format` (`--audit` for `*_audit` cases, as the
/// golden replay test does).
pub fn golden(format: OutputFormat) -> Vec<Rendered> {
    let classifier = Classifier::builtin();
    cases()
        .into_iter()
        .map(|case| {
            let name = case.file_name().unwrap().to_string_lossy().to_string();
            let input = fs::read(case.join("input.log")).expect("input.log");
            let opts = ReplayOptions {
                format,
                audit: name.ends_with("_audit"),
                ..ReplayOptions::default()
            };
            let lateness = opts.lateness_ms;
            let mut correlator = Correlator::new(Settings::default());
            let mut out = Vec::new();
            let mut emitter = Emitter::new(&mut out, opts);
            replay(
                vec![("input.log".to_string(), &input[..])],
                &classifier,
                &mut correlator,
                &mut emitter,
                lateness,
            )
            .expect("replay");
            emitter.finish().expect("flush");
            let expected: Vec<Value> =
                lines(&fs::read_to_string(case.join("expected.jsonl")).expect("expected"))
                    .into_iter()
                    .filter(|v| v["type"] == "finding")
                    .collect();
            Rendered {
                case: name,
                expected,
                docs: lines(&String::from_utf8(out).expect("utf-8")),
            }
        })
        .collect()
}

/// Every pattern id of the built-in set.
pub fn pattern_ids() -> Vec<&'static str> {
    fluxsight::correlate::spec::BUILTIN_PATTERNS
        .iter()
        .map(|(id, _)| *id)
        .collect()
}

/// The runbook page of `pattern` in this repository.
#[allow(dead_code)] // used by schema_ecs.rs only
pub fn doc_page(pattern: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("docs/patterns/{pattern}.md"))
}
