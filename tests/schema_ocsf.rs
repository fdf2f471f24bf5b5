//! OCSF output validates against the OCSF 1.8.0 Detection Finding schema, for every
//! golden finding of every pattern.
//!
//! The schema (`tests/schemas/ocsf/1.8.0/detection_finding.schema.json`, see
//! `tests/schemas/README.md`) checks attribute names, types, required attributes and
//! each `_id` enum with its caption. On top, this test checks what fluxsight promises
//! beyond the schema: impacted resources are "Affected", `confidence_id` follows the
//! pattern file, every resource is an observable, `metadata.uid` is unique per emitted
//! record while `finding_info.uid` stays the finding id, and the remediation links the
//! pattern's runbook page.

mod schema_support;

use std::collections::{BTreeMap, BTreeSet};

use fluxsight::correlate::finding::Confidence;
use fluxsight::correlate::spec::PatternSet;
use fluxsight::render::finding::OutputFormat;
use serde_json::{json, Value};

const SCHEMA: &str = include_str!("schemas/ocsf/1.8.0/detection_finding.schema.json");

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(SCHEMA).expect("schema is JSON");
    jsonschema::draft202012::new(&schema).expect("schema compiles")
}

fn errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn every_golden_finding_is_a_valid_ocsf_detection_finding() {
    let v = validator();
    let patterns = PatternSet::builtin();
    let mut seen_patterns = BTreeSet::new();
    let mut activities = BTreeSet::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    for r in schema_support::golden(OutputFormat::Ocsf) {
        // One replay is one emitter: its records must have distinct ids. Two cases
        // replaying the same lines emit the same records, with the same ids.
        let mut record_uids = BTreeMap::new();
        let findings: Vec<&Value> = r.docs.iter().filter(|d| d["class_uid"] == 2004).collect();
        assert_eq!(
            findings.len(),
            r.expected.len(),
            "{}: OCSF replay printed another number of findings than expected.jsonl",
            r.case
        );
        for (doc, native) in findings.iter().zip(&r.expected) {
            checked += 1;
            let at = format!("{} finding {}", r.case, native["id"]);
            for e in errors(&v, doc) {
                problems.push(format!("{at}: {e}"));
            }
            let pattern = native["pattern"].as_str().unwrap();
            seen_patterns.insert(pattern.to_string());
            activities.insert(doc["activity_name"].as_str().unwrap_or("").to_string());
            if doc["finding_info"]["uid"] != native["id"] {
                problems.push(format!("{at}: finding_info.uid is not the finding id"));
            }
            match doc["metadata"]["uid"].as_str() {
                Some(u) => {
                    if let Some(prev) = record_uids.insert(u.to_string(), at.clone()) {
                        problems.push(format!("{at}: metadata.uid {u} also names {prev}"));
                    }
                }
                None => problems.push(format!("{at}: no metadata.uid")),
            }
            let Some(pat) = patterns.find(pattern) else {
                problems.push(format!("{at}: unknown pattern {pattern}"));
                continue;
            };
            let want = match pat.spec.confidence {
                Confidence::Low => 1,
                Confidence::Medium => 2,
                Confidence::High => 3,
            };
            if doc["confidence_id"] != want {
                problems.push(format!(
                    "{at}: confidence_id {} but pattern file says {want}",
                    doc["confidence_id"]
                ));
            }
            let resources = doc["resources"].as_array().unwrap();
            let impacted = native["impacted"].as_array().map_or(0, Vec::len);
            // A workload chain's links beyond the subject and the impacted objects
            // (ReplicaSet, Pod, PVC, Node) follow as "Related".
            let key = |o: &Value| {
                format!(
                    "{}/{}/{}",
                    o["kind"].as_str().unwrap_or(""),
                    o["namespace"].as_str().unwrap_or(""),
                    o["name"].as_str().unwrap_or("")
                )
            };
            let listed: BTreeSet<String> = std::iter::once(key(&native["subject"]))
                .chain(native["impacted"].as_array().into_iter().flatten().map(key))
                .collect();
            let related = native["workload"]["chain"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|l| !listed.contains(&key(l)))
                .count();
            for (i, res) in resources.iter().enumerate() {
                let role = if i == 0 {
                    (1, "Target")
                } else if i <= impacted.min(50) {
                    (3, "Affected")
                } else {
                    (4, "Related")
                };
                if (res["role_id"].clone(), res["role"].clone()) != (json!(role.0), json!(role.1)) {
                    problems.push(format!("{at}: resources[{i}] role {res}"));
                }
            }
            if resources.len() != 1 + impacted.min(50) + related {
                problems.push(format!("{at}: {} resources", resources.len()));
            }
            let observed: BTreeSet<&str> = doc["observables"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|o| o["type_id"] == 10)
                .filter_map(|o| o["value"].as_str())
                .collect();
            for res in resources {
                if !observed.contains(res["uid"].as_str().unwrap_or("")) {
                    problems.push(format!("{at}: resource {} is no observable", res["uid"]));
                }
            }
            let refs = &doc["remediation"]["references"];
            let page = format!("/docs/patterns/{pattern}.md");
            if !refs[0].as_str().is_some_and(|u| u.ends_with(&page)) {
                problems.push(format!("{at}: remediation.references {refs}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let missing: Vec<&str> = schema_support::pattern_ids()
        .into_iter()
        .filter(|p| !seen_patterns.contains(*p))
        .collect();
    assert!(
        missing.is_empty(),
        "patterns without a golden finding: {missing:?}"
    );
    for a in ["Create", "Update", "Close"] {
        assert!(activities.contains(a), "no golden finding rendered as {a}");
    }
    println!(
        "validated {checked} OCSF findings of {} patterns",
        seen_patterns.len()
    );
}

/// A change that must make a valid document invalid.
type Breakage = Box<dyn Fn(&mut Value)>;

/// The schema is not vacuous: it refuses what an OCSF consumer would refuse.
#[test]
fn the_schema_rejects_broken_findings() {
    let v = validator();
    let r = schema_support::golden(OutputFormat::Ocsf)
        .into_iter()
        .find(|r| !r.docs.is_empty())
        .expect("a case with findings");
    let good = r.docs[0].clone();
    assert!(errors(&v, &good).is_empty(), "{:?}", errors(&v, &good));
    let broken: Vec<(&str, Breakage)> = vec![
        (
            "caption not matching its id",
            Box::new(|d| d["confidence"] = json!("Certain")),
        ),
        (
            "unknown attribute",
            Box::new(|d| d["cluster"] = json!("prod")),
        ),
        (
            "type_uid not class*100+activity",
            Box::new(|d| d["type_uid"] = json!(200409)),
        ),
        (
            "missing finding uid",
            Box::new(|d| {
                d["finding_info"].as_object_mut().unwrap().remove("uid");
            }),
        ),
        (
            "time not epoch ms",
            Box::new(|d| d["time"] = json!("2026-01-01T00:00:00Z")),
        ),
        (
            "resource role caption",
            Box::new(|d| d["resources"][0]["role"] = json!("Impacted")),
        ),
        (
            "observable without type",
            Box::new(|d| {
                d["observables"] = json!([{"name": "resources[0].uid", "value": "x"}]);
            }),
        ),
        (
            "wrong schema version",
            Box::new(|d| d["metadata"]["version"] = json!("1.0.0")),
        ),
    ];
    for (what, f) in broken {
        let mut d = good.clone();
        f(&mut d);
        assert!(!errors(&v, &d).is_empty(), "schema accepted: {what}");
    }
}
