//! Replay is deterministic: the same input gives byte-identical output, and lines
//! shuffled within 5-second windows (well inside the replay's lateness buffer) give the
//! same final findings.
//!
//! The input mixes several golden incidents (tests/golden/*_fires, chosen with disjoint
//! objects so each incident stays recognisable) into one time-ordered stream.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Settings};
use fluxsight::parse::LineDecoder;
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use serde_json::Value;

const INCIDENTS: &[&str] = &[
    "git_auth_failure_fires",
    "rate_limit_exhaustion_fires",
    "network_degradation_fires",
    "oom_cascade_fires",
    "controller_crashloop_fires",
    "dependency_blocked_fires",
    "stalled_reconciliation_fires",
    "helm_release_failure_fires",
    "guilty_tenant_fires",
    "reconcile_loop_fires",
    "decryption_failure_fires",
    "notification_failure_fires",
];

/// Shuffle window, in ms.
const WINDOW_MS: i64 = 5_000;

/// The incidents' lines with their timestamps, merged in time order (stable).
fn mixed_lines() -> Vec<(i64, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut out = Vec::new();
    for case in INCIDENTS {
        let text = fs::read_to_string(dir.join(case).join("input.log")).expect("golden input");
        let mut dec = LineDecoder::new(None);
        for line in text.lines() {
            let ts = dec
                .decode(line.as_bytes())
                .iter()
                .find_map(|r| r.ts)
                .unwrap_or_else(|| panic!("{case}: line without a timestamp: {line}"));
            out.push((ts, line.to_string()));
        }
    }
    out.sort_by_key(|(ts, _)| *ts);
    out
}

fn run(lines: &[(i64, String)]) -> String {
    let mut input = String::new();
    for (_, l) in lines {
        input.push_str(l);
        input.push('\n');
    }
    let opts = ReplayOptions::default();
    let lateness = opts.lateness_ms;
    let mut correlator = Correlator::new(Settings::default());
    let mut out = Vec::new();
    let mut emitter = Emitter::new(&mut out, opts);
    replay(
        vec![("mixed.log".to_string(), input.as_bytes())],
        &Classifier::builtin(),
        &mut correlator,
        &mut emitter,
        lateness,
    )
    .expect("replay");
    emitter.finish().expect("flush");
    String::from_utf8(out).expect("utf-8")
}

/// (pattern, subject, status, tenant, sorted impacted) of the last state of each finding.
type Key = (String, String, String, String, Vec<String>);

fn final_set(out: &str) -> BTreeSet<Key> {
    let mut last = std::collections::BTreeMap::new();
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).expect("json");
        last.insert(v["id"].as_str().unwrap_or("").to_string(), v);
    }
    let obj = |o: &Value| {
        format!(
            "{}/{}/{}",
            o["kind"].as_str().unwrap_or(""),
            o["namespace"].as_str().unwrap_or(""),
            o["name"].as_str().unwrap_or("")
        )
    };
    last.values()
        .map(|f| {
            let mut imp: Vec<String> = f["impacted"]
                .as_array()
                .into_iter()
                .flatten()
                .map(obj)
                .collect();
            imp.sort();
            (
                f["pattern"].as_str().unwrap_or("").to_string(),
                obj(&f["subject"]),
                f["status"].as_str().unwrap_or("").to_string(),
                f["tenant"].as_str().unwrap_or("").to_string(),
                imp,
            )
        })
        .collect()
}

/// xorshift64*: a tiny seeded generator, enough for shuffling.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fisher–Yates within each run of lines whose timestamps share a 5-second window.
fn shuffle_within_windows(lines: &mut [(i64, String)], seed: u64) -> usize {
    let mut rng = XorShift(seed);
    let mut moved = 0;
    let mut start = 0;
    while start < lines.len() {
        let w = lines[start].0.div_euclid(WINDOW_MS);
        let mut end = start + 1;
        while end < lines.len() && lines[end].0.div_euclid(WINDOW_MS) == w {
            end += 1;
        }
        let chunk = &mut lines[start..end];
        for i in (1..chunk.len()).rev() {
            let j = rng.below(i + 1);
            if i != j {
                chunk.swap(i, j);
                moved += 1;
            }
        }
        start = end;
    }
    moved
}

#[test]
fn same_input_gives_identical_output() {
    let lines = mixed_lines();
    assert!(lines.len() > 300, "mixed input too small: {}", lines.len());
    let a = run(&lines);
    let b = run(&lines);
    assert!(!a.is_empty(), "the mixed incidents produced no findings");
    assert_eq!(a, b, "two replays of the same input differ");
    // Every incident is still found in the mix.
    let patterns: BTreeSet<String> = final_set(&a).into_iter().map(|k| k.0).collect();
    for case in INCIDENTS {
        let p = case.trim_end_matches("_fires");
        assert!(
            patterns.contains(p),
            "{p} missing from the mixed replay: {patterns:?}"
        );
    }
}

#[test]
fn shuffling_within_five_seconds_keeps_findings() {
    let lines = mixed_lines();
    let want = final_set(&run(&lines));
    assert!(!want.is_empty());
    for seed in [0x9e37_79b9_7f4a_7c15u64, 42, 7_777_777] {
        let mut shuffled = lines.clone();
        let moved = shuffle_within_windows(&mut shuffled, seed);
        assert!(moved > 20, "seed {seed}: shuffle moved only {moved} lines");
        assert_ne!(shuffled, lines);
        let got = final_set(&run(&shuffled));
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "seed {seed}: findings differ after shuffling\n  missing: {missing:?}\n  extra: {extra:?}"
        );
    }
}
