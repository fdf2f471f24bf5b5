//! ECS output matches the ECS 9.4 field definitions, for every golden finding of
//! every pattern (and the audit records of the audit cases).
//!
//! Every field outside the custom `fluxsight.*` namespace must be an ECS field
//! (`tests/schemas/ecs/9.4.0/fields.json`, see `tests/schemas/README.md`) with a value
//! of its ECS type, one of its allowed values where ECS lists them, and `event.type`
//! one of the types ECS expects with each `event.category`. On top, the `rule.*` fields
//! SIEM rules key on: a stable `rule.id` distinct from `rule.name`, a description, a
//! category and a reference to the pattern's runbook page, which must exist.

mod schema_support;

use std::collections::BTreeSet;

use fluxsight::render::finding::OutputFormat;
use serde_json::{json, Map, Value};

const FIELDS: &str = include_str!("schemas/ecs/9.4.0/fields.json");

struct Ecs {
    fields: Map<String, Value>,
    expected_types: Map<String, Value>,
    custom: Vec<String>,
}

impl Ecs {
    fn load() -> Ecs {
        let v: Value = serde_json::from_str(FIELDS).expect("fields.json");
        Ecs {
            fields: v["fields"].as_object().unwrap().clone(),
            expected_types: v["expected_event_types"].as_object().unwrap().clone(),
            custom: v["custom_namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
        }
    }

    /// Problems of one document; empty when it conforms.
    fn check(&self, doc: &Value) -> Vec<String> {
        let mut errs = Vec::new();
        self.walk("", doc, &mut errs);
        let cats = strings(&doc["event"]["category"]);
        for t in strings(&doc["event"]["type"]) {
            for c in &cats {
                let ok = self.expected_types.get(c).and_then(Value::as_array);
                if !ok.is_some_and(|ts| ts.contains(&json!(t))) {
                    errs.push(format!(
                        "event.type {t} is not expected with event.category {c}"
                    ));
                }
            }
        }
        errs
    }

    fn walk(&self, path: &str, v: &Value, errs: &mut Vec<String>) {
        if self.custom.iter().any(|c| path == c) {
            return;
        }
        if let Some(def) = self.fields.get(path) {
            self.check_value(path, def, v, errs);
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    self.walk(&p, x, errs);
                }
            }
            _ => errs.push(format!("{path}: not an ECS field")),
        }
    }

    fn check_value(&self, path: &str, def: &Value, v: &Value, errs: &mut Vec<String>) {
        let ty = def["type"].as_str().unwrap();
        if ty == "object" {
            match v.as_object() {
                Some(m) if m.values().all(Value::is_string) => {}
                _ => errs.push(format!("{path}: must be an object of keyword strings: {v}")),
            }
            return;
        }
        let values: Vec<&Value> = match v {
            Value::Array(a) if def["array"] == true => a.iter().collect(),
            Value::Array(_) => {
                errs.push(format!("{path}: ECS does not make it an array"));
                return;
            }
            x if def["array"] == true => {
                // ECS accepts a scalar in an array field, but we always write arrays.
                errs.push(format!("{path}: ECS normalizes it to an array: {x}"));
                vec![x]
            }
            x => vec![x],
        };
        for x in values {
            let ok = match ty {
                "keyword" | "match_only_text" | "ip" => x.is_string(),
                "long" => x.is_i64() || x.is_u64(),
                "float" => x.is_number(),
                "date" => x.as_str().is_some_and(is_rfc3339),
                other => panic!("fields.json: unhandled ECS type {other}"),
            };
            if !ok {
                errs.push(format!("{path}: {x} is not of ECS type {ty}"));
            }
            if let Some(allowed) = def["allowed_values"].as_array() {
                if !allowed.contains(x) {
                    errs.push(format!("{path}: {x} is not an ECS allowed value"));
                }
            }
        }
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

fn is_rfc3339(s: &str) -> bool {
    regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
        .unwrap()
        .is_match(s)
}

#[test]
fn every_golden_finding_conforms_to_the_ecs_field_definitions() {
    let ecs = Ecs::load();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut resolved_categories = BTreeSet::new();
    let (mut findings, mut audits) = (0, 0);
    for r in schema_support::golden(OutputFormat::Ecs) {
        let alerts: Vec<&Value> = r
            .docs
            .iter()
            .filter(|d| d["event"]["kind"] == "alert")
            .collect();
        assert_eq!(
            alerts.len(),
            r.expected.len(),
            "{}: ECS replay printed another number of findings than expected.jsonl",
            r.case
        );
        for doc in &r.docs {
            let at = format!("{} {}", r.case, doc["event"]["id"]);
            problems.extend(ecs.check(doc).into_iter().map(|e| format!("{at}: {e}")));
        }
        audits += r.docs.len() - alerts.len();
        for (doc, native) in alerts.iter().zip(&r.expected) {
            findings += 1;
            let at = format!("{} finding {}", r.case, native["id"]);
            let pattern = native["pattern"].as_str().unwrap();
            seen.insert(pattern.to_string());
            if native["status"] == "resolved" {
                resolved_categories.insert(strings(&doc["event"]["category"]).join(","));
            }
            let rule = &doc["rule"];
            if rule["id"] != json!(format!("fluxsight.{pattern}")) || rule["id"] == rule["name"] {
                problems.push(format!(
                    "{at}: rule.id {} / rule.name {}",
                    rule["id"], rule["name"]
                ));
            }
            for k in ["description", "category", "reference"] {
                if rule[k].as_str().is_none_or(|s| s.trim().is_empty()) {
                    problems.push(format!("{at}: rule.{k} missing"));
                }
            }
            let page = format!("/docs/patterns/{pattern}.md");
            if !rule["reference"]
                .as_str()
                .is_some_and(|u| u.ends_with(&page))
            {
                problems.push(format!("{at}: rule.reference {}", rule["reference"]));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let missing: Vec<&str> = schema_support::pattern_ids()
        .into_iter()
        .filter(|p| !seen.contains(*p))
        .collect();
    assert!(
        missing.is_empty(),
        "patterns without a golden finding: {missing:?}"
    );
    assert!(
        !resolved_categories.is_empty(),
        "no resolved golden finding"
    );
    assert!(audits > 0, "no golden audit record checked");
    println!(
        "checked {findings} ECS findings of {} patterns and {audits} audit events; resolved in {resolved_categories:?}",
        seen.len()
    );
}

/// `rule.reference` and Alertmanager's `runbook_url` point at these pages: each exists
/// and still says what its pattern file says.
#[test]
fn every_pattern_has_its_runbook_page() {
    let set = fluxsight::correlate::spec::PatternSet::builtin();
    for p in schema_support::pattern_ids() {
        let page = schema_support::doc_page(p);
        let text =
            std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        assert!(
            text.starts_with(&format!("# {p}\n")),
            "{}: title",
            page.display()
        );
        let spec = &set
            .find(p)
            .unwrap_or_else(|| panic!("{p}: no pattern"))
            .spec;
        for (what, want) in [
            ("description", spec.description.clone()),
            ("confidence", format!("`{}`", spec.confidence.as_str())),
            ("category", format!("`{}`", spec.category)),
            ("remediation", spec.remediation.clone()),
        ] {
            assert!(
                text.contains(&want),
                "{}: {what} differs from the pattern file",
                page.display()
            );
        }
    }
}

/// A change that must make a valid document invalid.
type Breakage = Box<dyn Fn(&mut Value)>;

/// The checker is not vacuous: it refuses what Elastic would refuse or misfile.
#[test]
fn the_checker_rejects_broken_documents() {
    let ecs = Ecs::load();
    let r = schema_support::golden(OutputFormat::Ecs)
        .into_iter()
        .find(|r| !r.expected.is_empty())
        .expect("a case with findings");
    let good = r.docs[0].clone();
    assert!(ecs.check(&good).is_empty(), "{:?}", ecs.check(&good));
    let broken: Vec<(&str, Breakage)> = vec![
        (
            "end with configuration",
            Box::new(|d| {
                d["event"]["category"] = json!(["configuration"]);
                d["event"]["type"] = json!(["end"]);
            }),
        ),
        (
            "end with iam",
            Box::new(|d| {
                d["event"]["category"] = json!(["iam"]);
                d["event"]["type"] = json!(["end"]);
            }),
        ),
        (
            "unknown kind",
            Box::new(|d| d["event"]["kind"] = json!("finding")),
        ),
        (
            "severity as text",
            Box::new(|d| d["event"]["severity"] = json!("high")),
        ),
        (
            "unknown field",
            Box::new(|d| d["rule"]["confidence"] = json!("high")),
        ),
        (
            "date not RFC 3339",
            Box::new(|d| d["@timestamp"] = json!(1767268800000_i64)),
        ),
        (
            "label not a string",
            Box::new(|d| d["labels"]["count"] = json!(3)),
        ),
    ];
    for (what, f) in broken {
        let mut d = good.clone();
        f(&mut d);
        assert!(!ecs.check(&d).is_empty(), "checker accepted: {what}");
    }
}
