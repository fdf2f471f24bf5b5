//! Golden replay cases: every directory `tests/golden/<case>/` holds an `input.log`
//! (written by `tests/golden/make_cases.py`), the `expected.jsonl` that `fluxsight replay`
//! must print for it, and an `assert.json` of findings the case must end with (or must
//! never produce). Adding a directory adds a case; a name ending in `_audit` replays with
//! `--audit`.
//!
//! Regenerate the expected output after review with
//! `FLUXSIGHT_BLESS=1 cargo test --test golden_replay`. Blessing still checks
//! `assert.json`, so a detector change that breaks a case cannot be blessed silently.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Settings};
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use serde_json::Value;

/// Replays `input` as `fluxsight replay [--audit] input.log` does.
fn replay_bytes(input: &[u8], audit: bool, classifier: &Classifier) -> String {
    let opts = ReplayOptions {
        audit,
        ..ReplayOptions::default()
    };
    let lateness = opts.lateness_ms;
    let mut correlator = Correlator::new(Settings::default());
    let mut out = Vec::new();
    let mut emitter = Emitter::new(&mut out, opts);
    replay(
        vec![("input.log".to_string(), input)],
        classifier,
        &mut correlator,
        &mut emitter,
        lateness,
    )
    .expect("replay");
    emitter.finish().expect("flush");
    String::from_utf8(out).expect("utf-8 output")
}

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/golden")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("input.log").is_file())
        .collect();
    v.sort();
    v
}

/// `Kind/namespace/name` of an object in the output.
fn obj_key(o: &Value) -> String {
    let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    format!("{}/{}/{}", s("kind"), s("namespace"), s("name"))
}

/// The last state of every finding, by id.
fn final_findings(out: &str) -> Vec<Value> {
    let mut by_id: BTreeMap<String, Value> = BTreeMap::new();
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).expect("output line is JSON");
        if v["type"] == "finding" {
            by_id.insert(v["id"].as_str().unwrap_or("").to_string(), v);
        }
    }
    by_id.into_values().collect()
}

/// Problems with `out` against the case's `assert.json`.
fn check_asserts(case: &Path, out: &str) -> Vec<String> {
    let Ok(text) = fs::read_to_string(case.join("assert.json")) else {
        return Vec::new();
    };
    let spec: Value = serde_json::from_str(&text).expect("assert.json");
    let fs = final_findings(out);
    let mut errs = Vec::new();
    for e in spec["present"].as_array().into_iter().flatten() {
        let pattern = e["pattern"].as_str().unwrap_or("");
        let found = fs.iter().find(|f| {
            f["pattern"] == pattern
                && e.get("subject")
                    .is_none_or(|s| s.as_str() == Some(obj_key(&f["subject"]).as_str()))
        });
        let Some(f) = found else {
            errs.push(format!(
                "missing {pattern} {}",
                e.get("subject").unwrap_or(&Value::Null)
            ));
            continue;
        };
        if let Some(st) = e.get("status") {
            if f["status"] != *st {
                errs.push(format!("{pattern}: status {} (want {st})", f["status"]));
            }
        }
        if let Some(t) = e.get("tenant") {
            if f["tenant"] != *t {
                errs.push(format!("{pattern}: tenant {} (want {t})", f["tenant"]));
            }
        }
        if let Some(want) = e.get("impacted").and_then(Value::as_array) {
            let got: Vec<String> = f["impacted"]
                .as_array()
                .into_iter()
                .flatten()
                .map(obj_key)
                .collect();
            for w in want {
                let w = w.as_str().unwrap_or("");
                if !got.iter().any(|g| g == w) {
                    errs.push(format!("{pattern}: {w} not impacted (impacted: {got:?})"));
                }
            }
        }
        if let Some(want) = e.get("tenants") {
            if f["tenants"] != *want {
                errs.push(format!("{pattern}: tenants {} (want {want})", f["tenants"]));
            }
        }
        if let Some(want) = e.get("impacted_count").and_then(Value::as_u64) {
            let got = f["impacted"].as_array().map_or(0, Vec::len) as u64;
            if got != want {
                errs.push(format!("{pattern}: {got} impacted (want {want})"));
            }
        }
        if let Some(want) = e.get("workload") {
            errs.extend(check_workload(pattern, &f["workload"], want));
        }
        if let Some(rc) = e.get("root_cause") {
            if f["root_cause"]["class"] != *rc {
                errs.push(format!(
                    "{pattern}: root_cause {} (want {rc})",
                    f["root_cause"]
                ));
            }
        }
    }
    // One alert per root cause: findings of severity warning or worse, any status.
    if let Some(max) = spec.get("max_alerting").and_then(Value::as_u64) {
        let alerting: Vec<String> = fs
            .iter()
            .filter(|f| f["severity"] != "info")
            .map(|f| format!("{} {}", f["pattern"], obj_key(&f["subject"])))
            .collect();
        if alerting.len() as u64 > max {
            errs.push(format!(
                "{} warning-or-worse findings (at most {max}): {alerting:?}",
                alerting.len()
            ));
        }
    }
    for p in spec["absent"].as_array().into_iter().flatten() {
        let p = p.as_str().unwrap_or("");
        for f in fs.iter().filter(|f| f["pattern"] == p) {
            errs.push(format!("unexpected {p} on {}", obj_key(&f["subject"])));
        }
    }
    errs
}

/// A `workload_failure`'s `workload` object against the case's expectation: `stage`,
/// `subclass`, `coverage`, `coverage_reasons` equal; `chain` equal as
/// `Kind/ns/name:link` strings; `params` a subset.
fn check_workload(pattern: &str, got: &Value, want: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    if got.is_null() {
        return vec![format!("{pattern}: no workload object")];
    }
    for (k, path) in [
        ("stage", &["cause", "stage"][..]),
        ("subclass", &["cause", "subclass"][..]),
        ("coverage", &["coverage"][..]),
        ("coverage_reasons", &["coverage_reasons"][..]),
    ] {
        if let Some(w) = want.get(k) {
            let g = path.iter().fold(got, |v, p| &v[*p]);
            if g != w {
                errs.push(format!("{pattern}: workload {k} {g} (want {w})"));
            }
        }
    }
    if let Some(w) = want.get("chain") {
        let g: Vec<String> = got["chain"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| format!("{}:{}", obj_key(l), l["link"].as_str().unwrap_or("")))
            .collect();
        let w: Vec<String> = w
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        if g != w {
            errs.push(format!("{pattern}: workload chain {g:?} (want {w:?})"));
        }
    }
    if let Some(w) = want.get("params").and_then(Value::as_object) {
        for (k, v) in w {
            if got["cause"]["params"][k] != *v {
                errs.push(format!(
                    "{pattern}: cause param {k} = {} (want {v})",
                    got["cause"]["params"][k]
                ));
            }
        }
    }
    errs
}

/// Up to 160 bytes of `s` from a little before `at`, on char boundaries.
fn window(s: &str, at: usize) -> &str {
    let mut start = at.saturating_sub(40).min(s.len());
    while !s.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + 160).min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[start..end]
}

/// The first differing lines of two outputs.
fn first_diff(got: &str, want: &str) -> String {
    let g: Vec<&str> = got.lines().collect();
    let w: Vec<&str> = want.lines().collect();
    let mut out = Vec::new();
    for i in 0..g.len().max(w.len()) {
        let (a, b) = (g.get(i).copied(), w.get(i).copied());
        if a != b {
            let (a, b) = (a.unwrap_or("<missing>"), b.unwrap_or("<missing>"));
            // Long JSON lines: show where they start to differ.
            let at = a
                .bytes()
                .zip(b.bytes())
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            out.push(format!(
                "  line {} (from byte {at}):\n    got  …{}\n    want …{}",
                i + 1,
                window(a, at),
                window(b, at)
            ));
            if out.len() == 2 {
                break;
            }
        }
    }
    format!(
        "{} lines vs {} expected\n{}",
        g.len(),
        w.len(),
        out.join("\n")
    )
}

#[test]
fn golden_replay_cases() {
    let bless = std::env::var_os("FLUXSIGHT_BLESS").is_some();
    let classifier = Classifier::builtin();
    let cases = cases();
    assert!(
        cases.len() >= 46,
        "expected every pattern's cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let input = fs::read(case.join("input.log")).unwrap();
        let got = replay_bytes(&input, name.ends_with("_audit"), &classifier);
        let errs = check_asserts(case, &got);
        if !errs.is_empty() {
            failures.push(format!("{name}: assert.json:\n  {}", errs.join("\n  ")));
            continue;
        }
        let expected_path = case.join("expected.jsonl");
        if bless {
            fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let want = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != want {
            failures.push(format!("{name}: {}", first_diff(&got, &want)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed (FLUXSIGHT_BLESS=1 to regenerate after review):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every pattern of the built-in set has a firing case and a near-miss case.
#[test]
fn every_pattern_has_both_cases() {
    let names: Vec<String> = cases()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    let settings = Settings::default();
    let mut missing = Vec::new();
    // The fleet patterns are fed partials, not a capture: their fire and near-miss
    // cases are their pattern files' examples (tests/pattern_examples.rs) and the
    // fleet correlator's tests.
    for p in settings.patterns.iter().filter(|p| {
        !fluxsight::correlate::PatternId::parse(&p.spec.id)
            .is_some_and(fluxsight::fleet::is_fleet_pattern)
    }) {
        for suffix in ["fires", "near_miss"] {
            let want = format!("{}_{suffix}", p.spec.id);
            if !names.contains(&want) {
                missing.push(want);
            }
        }
    }
    assert!(missing.is_empty(), "missing golden cases: {missing:?}");
}

/// The audit case's expected output carries audit records; the others never do.
#[test]
fn audit_only_where_asked() {
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let Ok(want) = fs::read_to_string(case.join("expected.jsonl")) else {
            continue;
        };
        let audits = want
            .lines()
            .filter(|l| l.contains("\"type\":\"audit\""))
            .count();
        if name.ends_with("_audit") {
            assert!(audits > 0, "{name}: no audit records");
        } else {
            assert_eq!(audits, 0, "{name}: audit records without --audit");
        }
    }
}
