//! `fluxsight patterns test`: runs every pattern file's examples through the whole
//! pipeline and checks that each fires (or stays quiet) as declared.

use crate::classify::Classifier;
use crate::correlate::spec::{Expect, Settings};
use crate::correlate::{Correlator, Finding, PatternId};
use crate::fleet::{findings_for_partials, is_fleet_pattern};
use crate::pipeline::replay::{replay, Emitter, ReplayOptions};

/// Outcome of one example.
#[derive(Debug, Clone)]
pub struct ExampleResult {
    pub pattern: String,
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Final state of every finding produced by replaying `input`.
pub fn findings_for(input: &str, settings: &Settings, classifier: &Classifier) -> Vec<Finding> {
    let mut c = Correlator::new(settings.clone());
    let mut sink: Vec<u8> = Vec::new();
    let mut em = Emitter::new(&mut sink, ReplayOptions::default());
    let inputs = vec![("example.log".to_string(), input.as_bytes())];
    let _ = replay(inputs, classifier, &mut c, &mut em, 10_000);
    drop(em);
    let mut by_id = std::collections::BTreeMap::new();
    for f in c.findings() {
        by_id.insert(f.id.clone(), f);
    }
    by_id.into_values().collect()
}

/// Runs every example of every pattern in `settings`.
pub fn run_examples(settings: &Settings, classifier: &Classifier) -> Vec<ExampleResult> {
    let mut out = Vec::new();
    for p in settings.patterns.iter() {
        let fleet = PatternId::parse(&p.spec.id).is_some_and(is_fleet_pattern);
        for ex in &p.spec.examples {
            // A fleet pattern's examples are partials for the fleet correlator.
            let fs = if fleet {
                match findings_for_partials(&ex.input, settings) {
                    Ok(fs) => fs,
                    Err(e) => {
                        out.push(ExampleResult {
                            pattern: p.spec.id.clone(),
                            name: ex.name.clone(),
                            ok: false,
                            detail: e,
                        });
                        continue;
                    }
                }
            } else {
                findings_for(&ex.input, settings, classifier)
            };
            let hits: Vec<&Finding> = fs.iter().filter(|f| f.pattern == p.spec.id).collect();
            let matching: Vec<&&Finding> = hits
                .iter()
                .filter(|f| {
                    ex.subject
                        .as_ref()
                        .is_none_or(|s| f.subject.name.starts_with(s.as_str()))
                })
                .filter(|f| ex.tenant.as_ref().is_none_or(|t| &f.tenant == t))
                .collect();
            let (ok, detail) = match ex.expect {
                Expect::Fire => (
                    !matching.is_empty(),
                    format!(
                        "{} matching of {} {} findings",
                        matching.len(),
                        hits.len(),
                        p.spec.id
                    ),
                ),
                Expect::Quiet => (
                    hits.is_empty(),
                    format!("{} {} findings", hits.len(), p.spec.id),
                ),
            };
            out.push(ExampleResult {
                pattern: p.spec.id.clone(),
                name: ex.name.clone(),
                ok,
                detail,
            });
        }
    }
    out
}
