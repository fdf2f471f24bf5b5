//! Every pattern file's `examples:` must behave as declared (`fluxsight patterns test`),
//! and every pattern must have at least one example that fires and one that stays quiet.

use fluxsight::classify::Classifier;
use fluxsight::correlate::spec::{Expect, Settings};
use fluxsight::pipeline::examples::run_examples;

#[test]
fn pattern_examples_pass() {
    let settings = Settings::default();
    let results = run_examples(&settings, &Classifier::builtin());
    assert!(!results.is_empty(), "no pattern examples");
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{} / {}: {}", r.pattern, r.name, r.detail))
        .collect();
    assert!(
        failed.is_empty(),
        "failing examples:\n{}",
        failed.join("\n")
    );
}

#[test]
fn every_pattern_has_fire_and_quiet_examples() {
    let settings = Settings::default();
    let mut missing = Vec::new();
    for p in settings.patterns.iter() {
        for want in [Expect::Fire, Expect::Quiet] {
            if !p.spec.examples.iter().any(|e| e.expect == want) {
                missing.push(format!("{} {want:?}", p.spec.id));
            }
        }
    }
    assert!(missing.is_empty(), "patterns without examples: {missing:?}");
}
