//! Shared by `schema_ocsf.rs` and `schema_ecs.rs`: every golden replay case rendered in
//! one output format, as `fluxsight replay --output <format>` prints it.
//!
//! The documents are produced from the cases' `input.log` and checked one for one
//! against their `expected.jsonl` (same findings, same order), so the schema tests
//! validate exactly the golden findings, and a new case is validated without a change
//! here. The fleet patterns (stage 2 of `central`, fed partials rather than a capture)
//! come from their pattern files' firing examples run through the fleet correlator.

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

/// Every emission of the fleet patterns' firing examples, rendered with `format`
/// (`expected`: their native form).
fn fleet_examples(format: OutputFormat) -> Vec<Rendered> {
    use fluxsight::correlate::spec::Expect;
    use fluxsight::correlate::{Output, PatternId};
    use fluxsight::fleet::{is_fleet_pattern, FleetCorrelator, Partial};
    use fluxsight::render::finding;
    let settings = Settings::default();
    let mut out = Vec::new();
    for p in settings.patterns.iter() {
        if !PatternId::parse(&p.spec.id).is_some_and(is_fleet_pattern) {
            continue;
        }
        for ex in p.spec.examples.iter().filter(|e| e.expect == Expect::Fire) {
            let mut c = FleetCorrelator::new(settings.clone(), 120_000);
            let mut findings = Vec::new();
            for line in ex.input.lines().filter(|l| !l.trim().is_empty()) {
                c.on_partial(&Partial::decode(line.as_bytes()).expect("a partial"));
                findings.extend(c.drain().into_iter().filter_map(|o| match o {
                    Output::Finding(f) => Some(*f),
                    Output::Audit(_) => None,
                }));
            }
            let docs = findings
                .iter()
                .map(|f| match format {
                    OutputFormat::Ocsf => finding::ocsf(f, f.emission <= 1),
                    OutputFormat::Ecs => finding::ecs(f),
                    _ => finding::native(f),
                })
                .collect();
            out.push(Rendered {
                case: format!("{}/{}", p.spec.id, ex.name),
                expected: findings.iter().map(finding::native).collect(),
                docs,
            });
        }
    }
    out
}

/// Every golden case replayed with `format` (`--audit` for `*_audit` cases, as the
/// golden replay test does), and the fleet patterns' firing examples.
pub fn golden(format: OutputFormat) -> Vec<Rendered> {
    let classifier = Classifier::builtin();
    let mut v: Vec<Rendered> = cases()
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
        .collect();
    v.extend(fleet_examples(format));
    v
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
