//! Golden tests for `classify`: every `tests/fixtures/classify/<case>.log` must produce
//! exactly `<case>.expected.jsonl`. Adding a fixture adds a test case.
//! Regenerate with `FLUXSIGHT_BLESS=1 cargo test --test classify_golden`.

use std::fs;
use std::path::Path;

use fluxsight::classify::Classifier;
use fluxsight::pipeline::classify::classify_reader;

#[test]
fn classify_golden_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classify");
    let bless = std::env::var_os("FLUXSIGHT_BLESS").is_some();
    let classifier = Classifier::builtin();
    let mut cases: Vec<_> = fs::read_dir(&dir)
        .expect("fixture dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no fixtures in {}", dir.display());
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let input = fs::read(case).unwrap();
        let mut out = Vec::new();
        classify_reader(&name, &input[..], &classifier, &mut out).unwrap();
        let got = String::from_utf8(out).unwrap();
        let expected_path = case.with_extension("expected.jsonl");
        if bless {
            fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let want = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != want {
            let diff: Vec<String> = got
                .lines()
                .zip(want.lines().chain(std::iter::repeat("<missing>")))
                .enumerate()
                .filter(|(_, (g, w))| g != w)
                .take(3)
                .map(|(i, (g, w))| format!("  row {}:\n    got  {g}\n    want {w}", i + 1))
                .collect();
            failures.push(format!("{name}:\n{}", diff.join("\n")));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatches (FLUXSIGHT_BLESS=1 to regenerate after review):\n{}",
        failures.join("\n")
    );
}
