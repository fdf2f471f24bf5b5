//! A finding pattern is wired everywhere or nowhere.
//!
//! `fluxsight::correlate::PatternId` is the one list of finding pattern ids. A pattern
//! is shipped as three things that must agree with it: its pattern file
//! (`patterns/<id>.yaml`, besides the record-class rules in `classes.yaml`), its
//! thresholds (one detector family's parameter table,
//! `correlate::detector::PARAM_TABLES`) and its runbook (`docs/patterns/<id>.md`,
//! which alerts link to). A new pattern file without a variant, or a variant without a file
//! or runbook, fails here by name. The last check keeps the ids out of the shipped
//! code as bare strings: outside the enum's table a pattern is named by its variant.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fluxsight::correlate::detector::PARAM_TABLES;
use fluxsight::correlate::spec::BUILTIN_PATTERNS;
use fluxsight::correlate::PatternId;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The stems of the files in `dir` ending in `ext`, sorted.
fn stems(dir: &Path, ext: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn all_ids() -> BTreeSet<String> {
    PatternId::ALL
        .iter()
        .map(|p| p.as_str().to_string())
        .collect()
}

#[test]
fn every_pattern_file_has_a_pattern_id_and_back() {
    let mut files = stems(&root().join("patterns"), "yaml");
    assert!(files.remove("classes"), "patterns/classes.yaml is expected");
    let ids = all_ids();
    let no_variant: Vec<_> = files.difference(&ids).collect();
    let no_file: Vec<_> = ids.difference(&files).collect();
    assert!(
        no_variant.is_empty(),
        "pattern files without a PatternId variant (add them to src/correlate/pattern_id.rs): {no_variant:?}"
    );
    assert!(
        no_file.is_empty(),
        "PatternId variants without patterns/<id>.yaml: {no_file:?}"
    );
    assert_eq!(
        PatternId::ALL.len(),
        ids.len(),
        "two variants share an id string"
    );
}

#[test]
fn every_pattern_id_has_a_runbook_and_every_runbook_a_pattern() {
    let mut pages = stems(&root().join("docs/patterns"), "md");
    assert!(
        pages.remove("README"),
        "docs/patterns/README.md is expected"
    );
    let ids = all_ids();
    let no_page: Vec<_> = ids.difference(&pages).collect();
    let orphan: Vec<_> = pages.difference(&ids).collect();
    assert!(
        no_page.is_empty(),
        "patterns without a docs/patterns/<id>.md runbook: {no_page:?}"
    );
    assert!(orphan.is_empty(), "runbooks of no pattern: {orphan:?}");
}

#[test]
fn every_pattern_id_is_compiled_in_with_its_parameters() {
    let builtin: Vec<&str> = BUILTIN_PATTERNS.iter().map(|(id, _)| *id).collect();
    let ids: Vec<&str> = PatternId::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(
        builtin, ids,
        "built-in pattern files follow the PatternId table"
    );
    for &p in PatternId::ALL {
        let n = PARAM_TABLES
            .iter()
            .flat_map(|t| t.iter())
            .filter(|pp| pp.pattern == p)
            .count();
        assert_eq!(
            n, 1,
            "{p}: in {n} detector parameter tables, want exactly 1"
        );
    }
}

/// Bare id strings still allowed in shipped code: `(file, id, why)`.
const ALLOWED_LITERALS: &[(&str, &str, &str)] = &[
    (
        "src/correlate/pattern_id.rs",
        "*",
        "the table itself: the one place the ids are spelled",
    ),
    (
        "src/record.rs",
        "apply_conflict",
        "the record class `apply_conflict` (taxonomy §1) shares the name of the pattern",
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn shipped_code_names_patterns_by_variant() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    files.sort();
    let mut found = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(path).unwrap();
        // Unit tests may spell an id where the string is the point (wire names).
        let shipped = text.split("\n#[cfg(test)]").next().unwrap_or("");
        for (n, line) in shipped.lines().enumerate() {
            for &p in PatternId::ALL {
                let id = p.as_str();
                if !line.contains(&format!("\"{id}\"")) {
                    continue;
                }
                let allowed = ALLOWED_LITERALS
                    .iter()
                    .any(|(f, i, _)| *f == rel && (*i == "*" || *i == id));
                if !allowed {
                    found.push(format!("{rel}:{}: \"{id}\"", n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "pattern ids as string literals (use PatternId::…):\n{}",
        found.join("\n")
    );
    for (f, _, why) in ALLOWED_LITERALS {
        assert!(root().join(f).exists(), "allowed file {f} ({why}) is gone");
    }
}
