//! Real-world corpus: what Flux users actually pasted into public issue threads and docs,
//! each case with the class a human gives it from the taxonomy (taxonomy.md §1).
//!
//! Every `tests/real_world/<form>.cases` file holds cases introduced by a header line
//! `### <id> | expect: <class> | form: <form> | source: <url>` (optional `| note: …`); the
//! lines up to the next header are the case, verbatim (trailing blank lines dropped). Lines
//! before the first header are the file's own comments. See `tests/real_world/README.md`.
//!
//! Each case runs through `classify_reader` on its own (the `fluxsight classify` path), so a
//! parser landing on main is picked up without touching this file. The verdict is the class of
//! the most severe row; within one severity a failure class outranks an informational one
//! (`dependency_not_ready` is a failure class at `info` severity), and ties go to the first
//! row. A `healthy` case is right when no row has a failure class.
//!
//! [`KNOWN_WRONG`] must be exactly the set of wrong cases: a wrong case not listed fails, and
//! so does a listed case that is now right (so the list stays true after parsers land). Its
//! reasons start with [`AWAITING`] when the case's input form has no parser yet; any other
//! reason marks a misclassification of a supported form. The accuracy gate
//! ([`MIN_ACCURACY`]) counts every case, listed or not; the table also prints the accuracy
//! over the supported forms (awaiting cases left out).
//!
//! `FLUXSIGHT_REAL_WORLD_ROWS=<id>[,<id>…]` prints the classify rows of those cases.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;

use fluxsight::classify::Classifier;
use fluxsight::pipeline::classify::classify_reader;
use fluxsight::record::{Class, Severity};

/// Overall share of cases that must be classified right.
const MIN_ACCURACY: f64 = 0.95;

/// Case header prefix; the rest of the header is `|`-separated `key: value` fields.
const HEADER: &str = "### ";

/// The expectation of a case that must produce no failure-class row.
const HEALTHY: &str = "healthy";

/// Reason prefix of a [`KNOWN_WRONG`] entry whose input form has no parser yet.
const AWAITING: &str = "awaiting ";

/// Environment variable naming cases whose classify rows are printed.
const ROWS_ENV: &str = "FLUXSIGHT_REAL_WORLD_ROWS";

/// Corpus file extension.
const CASES_EXT: &str = "cases";

/// Cases wrong in this tree, each with why. Emptied as the missing parsers land.
const KNOWN_WRONG: &[(&str, &str)] = &[
    (
        "cli-bootstrap-wait-deadline-2021",
        "misclassified: the CLI's own wait timed out; `✗ context deadline exceeded` alone reads as a transport timeout (the wait is only in the `◎` step before)",
    ),
    (
        "cli-bootstrap-client-rate-limiter-indented",
        "misclassified: `client rate limiter Wait returned an error` is the kube client's own throttle, read as a quota by its words",
    ),
    (
        "export-gcl-console-scan-succeeded-at-error",
        "awaiting the Logs Explorer tree view (`jsonPayload: {` with unquoted keys and `{2}` folds), which is neither YAML nor JSON",
    ),
    (
        "export-gcl-console-imagerepo-timeout",
        "awaiting the Logs Explorer tree view (`jsonPayload: {` with unquoted keys and `{2}` folds), which is neither YAML nor JSON",
    ),
    (
        "yaml-ks-condition-build-tls-timeout",
        "judgement: reason BuildFailed (a remote base could not be fetched during the build) is read as build_failed; the corpus names the TLS timeout inside it",
    ),
];

struct Case {
    id: String,
    expect: String,
    form: String,
    file: String,
    text: String,
}

/// One header field, or a message naming the file and line when it is missing.
fn field<'a>(fields: &'a BTreeMap<&str, &str>, key: &str, at: &str) -> &'a str {
    fields
        .get(key)
        .copied()
        .unwrap_or_else(|| panic!("{at}: header has no `{key}:` field"))
}

fn parse_cases(file: &str, body: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for (i, line) in body.split_inclusive('\n').enumerate() {
        if let Some(header) = line.strip_prefix(HEADER) {
            let at = format!("{file}:{}", i + 1);
            let mut parts = header.trim_end().split(" | ");
            let id = parts.next().unwrap_or_default().trim().to_string();
            assert!(!id.is_empty(), "{at}: case without id");
            let fields: BTreeMap<&str, &str> = parts
                .filter_map(|p| p.split_once(": "))
                .map(|(k, v)| (k.trim(), v.trim()))
                .collect();
            let source = field(&fields, "source", &at);
            assert!(source.starts_with("https://"), "{at}: source is not a URL");
            let expect = field(&fields, "expect", &at).to_string();
            assert!(
                expect == HEALTHY || Class::parse(&expect).is_some_and(Class::is_failure),
                "{at}: `{expect}` is neither `{HEALTHY}` nor a failure class"
            );
            cases.push(Case {
                id,
                expect,
                form: field(&fields, "form", &at).to_string(),
                file: file.to_string(),
                text: String::new(),
            });
        } else if let Some(case) = cases.last_mut() {
            case.text.push_str(line);
        }
    }
    for case in &mut cases {
        let kept = case.text.trim_end_matches(['\n', '\r', ' ']).len();
        case.text.truncate(kept);
        case.text.push('\n');
    }
    cases
}

fn load_corpus() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real_world");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == CASES_EXT))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let body = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        cases.extend(parse_cases(&name, &body));
    }
    cases
}

/// Severity rank, then failure before informational at equal severity.
fn rank(severity: Option<Severity>, class: Option<Class>) -> (u8, bool) {
    let s = match severity {
        Some(Severity::Critical) => 4,
        Some(Severity::Error) => 3,
        Some(Severity::Warning) => 2,
        Some(Severity::Info) => 1,
        None => 0,
    };
    (s, class.is_some_and(Class::is_failure))
}

/// The verdict class of a case and whether any row had a failure class.
fn verdict(classifier: &Classifier, case: &Case, show_rows: bool) -> (String, bool) {
    let mut out = Vec::new();
    classify_reader(&case.file, case.text.as_bytes(), classifier, &mut out)
        .unwrap_or_else(|e| panic!("{}: classify: {e}", case.id));
    let mut best: Option<((u8, bool), String)> = None;
    let mut any_failure = false;
    for row in String::from_utf8(out).expect("rows are UTF-8").lines() {
        if show_rows {
            println!("{}: {row}", case.id);
        }
        let v: serde_json::Value = serde_json::from_str(row).expect("row is JSON");
        let class_name = v["class"].as_str().unwrap_or_default().to_string();
        let class = Class::parse(&class_name);
        any_failure |= class.is_some_and(Class::is_failure);
        let r = rank(v["severity"].as_str().and_then(Severity::parse), class);
        if best.as_ref().is_none_or(|(b, _)| r > *b) {
            best = Some((r, class_name));
        }
    }
    (best.map(|(_, c)| c).unwrap_or_default(), any_failure)
}

#[derive(Default)]
struct Tally {
    cases: usize,
    right: usize,
}

fn print_table(title: &str, rows: &BTreeMap<String, Tally>) {
    println!(
        "{title:<28} {:>6} {:>6} {:>9}",
        "cases", "right", "accuracy"
    );
    for (k, t) in rows {
        let acc = 100.0 * t.right as f64 / t.cases as f64;
        println!("{k:<28} {:>6} {:>6} {acc:>8.1}%", t.cases, t.right);
    }
    println!();
}

#[test]
fn real_world_corpus() {
    let cases = load_corpus();
    assert!(!cases.is_empty(), "no cases in tests/real_world");
    let mut ids = HashSet::new();
    for c in &cases {
        assert!(ids.insert(c.id.as_str()), "duplicate case id {}", c.id);
    }
    let known: BTreeMap<&str, &str> = KNOWN_WRONG.iter().copied().collect();
    for id in known.keys() {
        assert!(ids.contains(id), "KNOWN_WRONG lists {id}, which is no case");
    }

    let show: Vec<String> = std::env::var(ROWS_ENV)
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let classifier = Classifier::builtin();
    let (mut by_class, mut by_form) = (BTreeMap::new(), BTreeMap::new());
    let (mut right_total, mut unlisted, mut fixed) = (0, Vec::new(), Vec::new());
    for case in &cases {
        let (got, any_failure) = verdict(&classifier, case, show.contains(&case.id));
        let right = if case.expect == HEALTHY {
            !any_failure
        } else {
            got == case.expect
        };
        for (map, key) in [(&mut by_class, &case.expect), (&mut by_form, &case.form)] {
            let t: &mut Tally = map.entry(key.clone()).or_default();
            t.cases += 1;
            t.right += usize::from(right);
        }
        right_total += usize::from(right);
        let got = if case.expect == HEALTHY && any_failure {
            format!("{got} (a failure row)")
        } else {
            got
        };
        match (right, known.get(case.id.as_str())) {
            (false, None) => unlisted.push(format!(
                "  {} ({}): expected {}, got {got}",
                case.id, case.file, case.expect
            )),
            (false, Some(reason)) => println!("known wrong {}: {reason} (got {got})", case.id),
            (true, Some(_)) => fixed.push(format!("  {}", case.id)),
            (true, None) => {}
        }
    }

    print_table("expected class", &by_class);
    print_table("form", &by_form);
    let total = cases.len();
    let awaiting = known.values().filter(|r| r.starts_with(AWAITING)).count();
    let pct = |right: usize, n: usize| 100.0 * right as f64 / n.max(1) as f64;
    println!(
        "overall: {total} cases, {right_total} right, accuracy {:.1}%",
        pct(right_total, total)
    );
    println!(
        "supported forms: {} cases ({awaiting} awaiting a parser left out), accuracy {:.1}%",
        total - awaiting,
        pct(right_total, total - awaiting)
    );
    // The gate counts every case: a case listed in KNOWN_WRONG is documented, not excused.
    let accuracy = right_total as f64 / total.max(1) as f64;
    println!(
        "gate: {total} cases (KNOWN_WRONG included), accuracy {:.1}%",
        100.0 * accuracy
    );

    assert!(
        unlisted.is_empty(),
        "wrong cases not in KNOWN_WRONG:\n{}",
        unlisted.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "KNOWN_WRONG cases that are now right (remove them from the list):\n{}",
        fixed.join("\n")
    );
    assert!(
        accuracy >= MIN_ACCURACY,
        "accuracy {:.1}% is below {:.0}%",
        100.0 * accuracy,
        100.0 * MIN_ACCURACY
    );
}
