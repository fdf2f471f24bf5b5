//! Pattern files (`patterns/<pattern>.yaml`) and the correlator's sections of a
//! pipeline file (`--config`: cluster, tenants, pattern overrides, repeat interval).
//!
//! Owns: loading raw YAML (serde, `deny_unknown_fields`), validating it (pure, every
//! error with file, the field's own line and column, and its path; see [`position`]),
//! and exposing thresholds to detectors. The built-in set is compiled in from
//! `patterns/`. Does not own: the pipeline file as a whole, which `crate::config`
//! composes from every component's section (the correlator imports no component above
//! it: tests/layers.rs).
//!
//! Invariant: every parameter a detector reads is declared in its family's table
//! (`detector::PARAM_TABLES`, see [`params_of`]) with its kind and default, so a
//! pattern file can only name parameters that exist, and a detector can only read
//! those (a read of an undeclared name panics in debug builds).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;
use serde::Deserialize;

use super::detector::{Param, ParamKind};
use super::finding::Confidence;
use super::pattern_id::PatternId;
use crate::record::Severity;
use crate::time::parse_go_duration_ms;

// The error type and the field locator are shared by every config section (sinks,
// sources, server); they live at the bottom of the tree (`crate::spec_error`).
pub use crate::spec_error::{
    line_of, locate, position, yaml_error, Position, PositionIndex, SpecError,
};

/// A scalar parameter value: a number or a duration / string.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    Num(f64),
    Str(String),
}

/// Whether an example must make the pattern fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Fire,
    Quiet,
}

/// An example a pattern must (or must not) fire on: input lines in any accepted form.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    /// Short name shown by `fluxsight patterns test`.
    pub name: String,
    pub expect: Expect,
    /// Input lines, one record per line, as `replay` reads them.
    pub input: String,
    /// When firing, the subject name the finding must have (prefix match).
    #[serde(default)]
    pub subject: Option<String>,
    /// When firing, the tenant the finding must name.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// One `patterns/<pattern>.yaml` file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternSpec {
    /// Pattern id, taxonomy.md §2; must match the file name.
    pub id: String,
    /// What the pattern means, for `fluxsight patterns`.
    pub description: String,
    /// Default severity: `info`, `warning`, `error` or `critical`.
    pub severity: String,
    /// Title template: `{subject}`, `{tenant}`, `{count}` and `{<label>}` are replaced;
    /// `{count|time}` writes the number with its noun agreed (`1 time`, `3 times`;
    /// see [`super::vars`]).
    pub title: String,
    /// Summary template (same placeholders).
    pub summary: String,
    /// Remediation template (same placeholders).
    pub remediation: String,
    /// How sure a firing finding is: `low`, `medium` or `high` (default `medium`);
    /// OCSF `confidence_id`.
    #[serde(default)]
    pub confidence: Confidence,
    /// Family of failure (`source`, `apply`, `controller`, …; default `flux`); ECS
    /// `rule.category`.
    #[serde(default = "default_category")]
    pub category: String,
    /// Thresholds and windows; numbers, or Go/humantime durations such as `15m`.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// Examples that must and must not fire.
    #[serde(default)]
    pub examples: Vec<Example>,
}

/// Rule category of a pattern file that does not name one.
pub const DEFAULT_CATEGORY: &str = "flux";

fn default_category() -> String {
    DEFAULT_CATEGORY.to_string()
}

/// The parameters of `pattern` as its detector family declares them (name, kind,
/// default): the one table pattern files and `--config` overrides are checked
/// against (`detector::PARAM_TABLES`).
pub use super::detector::params_of;

/// A validated pattern: its spec and resolved parameters.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub spec: PatternSpec,
    pub severity: Severity,
    params: BTreeMap<String, f64>,
}

impl Pattern {
    /// A parameter's value (durations in ms). Reading a name the pattern's family
    /// does not declare is a programming error: it panics in debug builds (every test)
    /// and reads as 0 in release.
    pub fn p(&self, key: &str) -> f64 {
        let v = self.params.get(key).copied();
        debug_assert!(
            v.is_some(),
            "pattern {} reads undeclared parameter '{key}'",
            self.spec.id
        );
        v.unwrap_or(0.0)
    }

    /// The value of `key` in ms when the pattern declares it: for callers that scan
    /// every pattern for a parameter only some have (the live rebuild lookback).
    pub fn declared_ms(&self, key: &str) -> Option<i64> {
        self.params.get(key).map(|v| *v as i64)
    }

    pub fn ms(&self, key: &str) -> i64 {
        self.p(key) as i64
    }

    pub fn n(&self, key: &str) -> u64 {
        self.p(key).max(0.0) as u64
    }
}

/// Parses and validates one pattern file. Collects every error.
pub fn load_pattern(text: &str, file: &str) -> Result<Pattern, Vec<SpecError>> {
    let spec: PatternSpec =
        serde_saphyr::from_str(text).map_err(|e| vec![yaml_error(&e, file, text)])?;
    validate_pattern(spec, text, file)
}

fn validate_pattern(spec: PatternSpec, text: &str, file: &str) -> Result<Pattern, Vec<SpecError>> {
    let mut errs = Vec::new();
    let err = |field: &str, message: String| SpecError::at(file, text, field, message);
    let known = PatternId::parse(&spec.id).and_then(params_of);
    if known.is_none() {
        errs.push(err("id", format!("unknown pattern '{}'", spec.id)));
    }
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    if !stem.is_empty() && stem != spec.id && file.ends_with(".yaml") {
        errs.push(err(
            "id",
            format!("id '{}' does not match file name '{stem}'", spec.id),
        ));
    }
    let severity = Severity::parse(&spec.severity).unwrap_or_else(|| {
        errs.push(err(
            "severity",
            format!(
                "'{}' is not one of info, warning, error, critical",
                spec.severity
            ),
        ));
        Severity::Warning
    });
    let mut params: BTreeMap<String, f64> = known
        .map(|ps| ps.iter().map(|p| (p.name.to_string(), p.default)).collect())
        .unwrap_or_default();
    for (k, v) in &spec.params {
        if !params.contains_key(k) {
            let names: Vec<&str> = known
                .map(|ps| ps.iter().map(|p| p.name).collect())
                .unwrap_or_default();
            errs.push(err(
                &format!("params.{k}"),
                format!("unknown parameter (known: {})", names.join(", ")),
            ));
            continue;
        }
        match parse_param(param_of(known, k), v) {
            Ok(x) => {
                params.insert(k.clone(), x);
            }
            Err(m) => errs.push(err(&format!("params.{k}"), m)),
        }
    }
    for field in ["title", "summary", "remediation", "description"] {
        let v = match field {
            "title" => &spec.title,
            "summary" => &spec.summary,
            "remediation" => &spec.remediation,
            _ => &spec.description,
        };
        if v.trim().is_empty() {
            errs.push(err(field, "must not be empty".into()));
        }
    }
    if errs.is_empty() {
        Ok(Pattern {
            spec,
            severity,
            params,
        })
    } else {
        Err(errs)
    }
}

/// The declaration of parameter `key` in `known` (a pattern's table).
fn param_of(known: Option<&'static [Param]>, key: &str) -> Option<&'static Param> {
    known.and_then(|ps| ps.iter().find(|p| p.name == key))
}

/// A parameter's value as held (durations in ms), by its declared kind.
fn parse_param(param: Option<&Param>, v: &ParamValue) -> Result<f64, String> {
    let is_duration = param.is_some_and(|p| p.kind == ParamKind::Duration);
    let x = match v {
        ParamValue::Num(n) if is_duration => *n * 1000.0,
        ParamValue::Num(n) => *n,
        ParamValue::Str(s) if is_duration => parse_go_duration_ms(s)
            .map(|ms| ms as f64)
            .ok_or_else(|| format!("'{s}' is not a duration such as 15m or 90s"))?,
        ParamValue::Str(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("'{s}' is not a number"))?,
    };
    if !x.is_finite() || x < 0.0 {
        return Err("must be a non-negative number".into());
    }
    Ok(x)
}

// The built-in files are compiled in by the pattern id table, one list for both.
pub use super::pattern_id::BUILTIN_PATTERNS;

/// All patterns by id.
///
/// Patterns are shared (`Arc`) so a detector can hold its pattern while it updates
/// correlator state, without copying templates and parameters per record.
#[derive(Debug, Clone)]
pub struct PatternSet {
    by_id: BTreeMap<String, Arc<Pattern>>,
}

impl PatternSet {
    /// The compiled-in set. Panics only if a shipped file is invalid, which the test
    /// suite prevents.
    pub fn builtin() -> Self {
        let mut by_id = BTreeMap::new();
        for (id, text) in BUILTIN_PATTERNS {
            let p = load_pattern(text, &format!("patterns/{id}.yaml"))
                .unwrap_or_else(|e| panic!("built-in pattern {id} invalid: {e:?}"));
            by_id.insert(id.to_string(), Arc::new(p));
        }
        PatternSet { by_id }
    }

    /// The built-in set with every `*.yaml` in `dir` replacing its namesake.
    pub fn from_dir(dir: &Path) -> Result<Self, Vec<SpecError>> {
        let mut set = Self::builtin();
        let mut errs = Vec::new();
        let rd = std::fs::read_dir(dir).map_err(|e| {
            vec![SpecError {
                file: dir.display().to_string(),
                line: 0,
                column: 0,
                field: "(directory)".into(),
                message: e.to_string(),
            }]
        })?;
        for p in pattern_files(rd) {
            let file = p.display().to_string();
            match std::fs::read_to_string(&p) {
                Ok(text) => match load_pattern(&text, &file) {
                    Ok(pat) => {
                        set.by_id.insert(pat.spec.id.clone(), Arc::new(pat));
                    }
                    Err(e) => errs.extend(e),
                },
                Err(e) => errs.push(SpecError {
                    file,
                    line: 0,
                    column: 0,
                    field: "(file)".into(),
                    message: e.to_string(),
                }),
            }
        }
        if errs.is_empty() {
            Ok(set)
        } else {
            Err(errs)
        }
    }

    /// The finding-pattern files [`PatternSet::from_dir`] reads in `dir`, sorted (what
    /// `fluxsight validate` reports it checked).
    pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        Ok(pattern_files(std::fs::read_dir(dir)?))
    }

    /// The pattern `id`: every [`PatternId`] is in every set (the built-in files are
    /// loaded first and a file can only replace its namesake).
    pub fn get(&self, id: PatternId) -> &Pattern {
        self.shared_ref(id)
    }

    /// The pattern of an id string (a `Finding.pattern`, a command-line name), if any.
    pub fn find(&self, id: &str) -> Option<&Pattern> {
        self.by_id.get(id).map(|p| &**p)
    }

    /// The pattern `id`, as a handle that does not borrow the set.
    pub fn shared(&self, id: PatternId) -> Arc<Pattern> {
        Arc::clone(self.shared_ref(id))
    }

    fn shared_ref(&self, id: PatternId) -> &Arc<Pattern> {
        self.by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("pattern {id} missing from set"))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Pattern> {
        self.by_id.values().map(|p| &**p)
    }

    /// Applies `--config` threshold overrides.
    pub fn apply_overrides(
        &mut self,
        overrides: &BTreeMap<String, BTreeMap<String, ParamValue>>,
        file: &str,
        text: &str,
    ) -> Result<(), Vec<SpecError>> {
        let mut errs = Vec::new();
        for (id, params) in overrides {
            let Some(pat) = self.by_id.get_mut(id).map(Arc::make_mut) else {
                errs.push(SpecError::at(
                    file,
                    text,
                    &format!("patterns.{id}"),
                    "unknown pattern",
                ));
                continue;
            };
            for (k, v) in params {
                if !pat.params.contains_key(k) {
                    errs.push(SpecError::at(
                        file,
                        text,
                        &format!("patterns.{id}.{k}"),
                        "unknown parameter",
                    ));
                    continue;
                }
                let known = PatternId::parse(id).and_then(params_of);
                match parse_param(param_of(known, k), v) {
                    Ok(x) => {
                        pat.params.insert(k.clone(), x);
                    }
                    Err(m) => {
                        errs.push(SpecError::at(file, text, &format!("patterns.{id}.{k}"), m))
                    }
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

/// How namespaces map to tenants.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantRule {
    /// Regex matched against the namespace (anchored).
    pub namespace: String,
    /// Tenant name; `$1`, `${name}` refer to capture groups.
    pub tenant: String,
}

/// The correlator's own sections of a pipeline file (`--config FILE`): cluster name,
/// tenant mapping, threshold overrides and the repeat interval. The file as a whole
/// (with sinks, routes, delivery, receiver and Kubernetes sections) is composed in
/// `crate::config`, which hands these fields over.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CorrelateConfig {
    /// Cluster name reported in every finding (default `default`).
    pub cluster: Option<String>,
    /// Namespace → tenant rules, first match wins; unmatched namespaces are their own tenant.
    pub tenants: Vec<TenantRule>,
    /// Per-pattern parameter overrides, e.g. `git_auth_failure: {min_attempts: 5}`.
    pub patterns: BTreeMap<String, BTreeMap<String, ParamValue>>,
    /// Re-emit a firing finding whose count changed after this long (default `1h`).
    pub repeat_interval: Option<String>,
}

/// Compiled tenant mapping.
#[derive(Debug, Clone, Default)]
pub struct TenantMap {
    rules: Vec<(Regex, String)>,
}

impl TenantMap {
    pub fn new(rules: &[TenantRule], file: &str, text: &str) -> Result<Self, Vec<SpecError>> {
        let mut out = Vec::new();
        let mut errs = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            match Regex::new(&format!("^(?:{})$", r.namespace)) {
                Ok(re) => out.push((re, r.tenant.clone())),
                Err(e) => errs.push(SpecError::at(
                    file,
                    text,
                    &format!("tenants[{i}].namespace"),
                    crate::classify::rules::invalid_regex(&r.namespace, &e),
                )),
            }
        }
        if errs.is_empty() {
            Ok(TenantMap { rules: out })
        } else {
            Err(errs)
        }
    }

    /// Tenant of a namespace.
    pub fn tenant(&self, namespace: &str) -> String {
        for (re, t) in &self.rules {
            if let Some(c) = re.captures(namespace) {
                let mut s = String::new();
                c.expand(t, &mut s);
                return s;
            }
        }
        namespace.to_string()
    }
}

/// Everything the correlator is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cluster: String,
    pub tenants: TenantMap,
    pub patterns: PatternSet,
    pub repeat_interval_ms: u64,
}

/// Cluster name when a pipeline file names none.
pub const DEFAULT_CLUSTER: &str = "default";

/// `repeat_interval` when a pipeline file sets none: 1h.
pub const DEFAULT_REPEAT_INTERVAL_MS: u64 = 3_600_000;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cluster: DEFAULT_CLUSTER.into(),
            tenants: TenantMap::default(),
            patterns: PatternSet::builtin(),
            repeat_interval_ms: DEFAULT_REPEAT_INTERVAL_MS,
        }
    }
}

impl Settings {
    /// Validates the correlator's sections of a pipeline file on top of `patterns`
    /// (pure: no I/O). `file` and `text` place errors. Collects every error.
    pub fn from_sections(
        cfg: CorrelateConfig,
        file: &str,
        text: &str,
        mut patterns: PatternSet,
    ) -> Result<Settings, Vec<SpecError>> {
        let mut errs = Vec::new();
        let tenants = TenantMap::new(&cfg.tenants, file, text).unwrap_or_else(|e| {
            errs.extend(e);
            TenantMap::default()
        });
        if let Err(e) = patterns.apply_overrides(&cfg.patterns, file, text) {
            errs.extend(e);
        }
        let repeat_interval_ms = match &cfg.repeat_interval {
            None => DEFAULT_REPEAT_INTERVAL_MS,
            Some(s) => parse_go_duration_ms(s).unwrap_or_else(|| {
                errs.push(SpecError::at(
                    file,
                    text,
                    "repeat_interval",
                    format!("'{s}' is not a duration"),
                ));
                DEFAULT_REPEAT_INTERVAL_MS
            }),
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Settings {
            cluster: cfg.cluster.unwrap_or_else(|| DEFAULT_CLUSTER.into()),
            tenants,
            patterns,
            repeat_interval_ms,
        })
    }
}

pub use super::vars::render_template;

/// The `*.yaml`/`*.yml` files of a pattern directory, sorted, without `classes.yaml`
/// (the record-class rules, read by the classifier).
fn pattern_files(rd: std::fs::ReadDir) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .filter(|p| p.file_stem().is_none_or(|s| s != "classes"))
        .collect();
    paths.sort();
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_patterns_load() {
        let set = PatternSet::builtin();
        assert_eq!(set.iter().count(), PatternId::ALL.len());
        assert_eq!(set.get(PatternId::GitAuthFailure).n("min_attempts"), 3);
        assert_eq!(set.get(PatternId::GitAuthFailure).ms("window"), 900_000);
    }

    #[test]
    fn unknown_param_is_reported_with_line() {
        let text = "id: git_auth_failure\ndescription: d\nseverity: error\ntitle: t\nsummary: s\nremediation: r\nparams:\n  min_atempts: 4\n";
        let e = load_pattern(text, "patterns/git_auth_failure.yaml").unwrap_err();
        assert_eq!(e[0].line, 8);
        assert_eq!(e[0].field, "params.min_atempts");
    }

    /// A pattern file text for `git_auth_failure` with `params` as its last lines.
    fn auth_file(params: &str) -> String {
        format!(
            "id: git_auth_failure\ndescription: d\nseverity: error\ntitle: t\nsummary: s\nremediation: r\nparams:\n{params}"
        )
    }

    #[test]
    fn a_misspelt_parameter_is_rejected_naming_it_and_the_declared_ones() {
        let text = auth_file("  window: 10m\n  min_atempts: 4\n");
        let e = load_pattern(&text, "patterns/git_auth_failure.yaml").unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!((e[0].line, e[0].field.as_str()), (9, "params.min_atempts"));
        // The message lists what the detector family declares for the pattern.
        let declared: Vec<&str> = params_of(PatternId::GitAuthFailure)
            .unwrap()
            .iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(declared, ["min_attempts", "window", "resolve_after"]);
        assert_eq!(
            e[0].message,
            "unknown parameter (known: min_attempts, window, resolve_after)"
        );
        assert!(e[0].to_string().contains("min_atempts"), "{}", e[0]);
        // The same table checks `--config` overrides.
        let cfg = "patterns:\n  git_auth_failure:\n    min_atempts: 4\n";
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "git_auth_failure".to_string(),
            BTreeMap::from([("min_atempts".to_string(), ParamValue::Num(4.0))]),
        );
        let e = PatternSet::builtin()
            .apply_overrides(&overrides, "p.yaml", cfg)
            .unwrap_err();
        assert_eq!(e[0].field, "patterns.git_auth_failure.min_atempts");
        assert_eq!(e[0].line, 3);
    }

    #[test]
    fn a_parameter_is_parsed_by_its_declared_kind() {
        // `window` is a duration (a bare number is seconds), `min_attempts` a count.
        let text = auth_file("  window: 90\n  min_attempts: 90\n");
        let p = load_pattern(&text, "patterns/git_auth_failure.yaml").unwrap();
        assert_eq!(p.ms("window"), 90_000);
        assert_eq!(p.n("min_attempts"), 90);
        let e = load_pattern(
            &auth_file("  min_attempts: soon\n"),
            "patterns/git_auth_failure.yaml",
        )
        .unwrap_err();
        assert_eq!(e[0].message, "'soon' is not a number");
        // What a file leaves out takes the table's default.
        let text = auth_file("  window: 90\n");
        let p = load_pattern(&text, "patterns/git_auth_failure.yaml").unwrap();
        for param in params_of(PatternId::GitAuthFailure).unwrap() {
            if param.name != "window" {
                assert_eq!(p.p(param.name), param.default, "{}", param.name);
            }
        }
    }

    #[test]
    fn declared_ms_reads_only_what_a_pattern_declares() {
        let set = PatternSet::builtin();
        let span = set.get(PatternId::MemoryGrowth).declared_ms("min_span");
        assert_eq!(span, Some(7_200_000));
        assert_eq!(
            set.get(PatternId::ApplyConflict).declared_ms("min_span"),
            None
        );
    }

    #[test]
    #[should_panic(expected = "reads undeclared parameter 'min_atempts'")]
    fn reading_an_undeclared_parameter_panics_in_debug() {
        PatternSet::builtin()
            .get(PatternId::GitAuthFailure)
            .n("min_atempts");
    }

    #[test]
    fn bad_severity_and_duration() {
        let text = "id: git_auth_failure\ndescription: d\nseverity: loud\ntitle: t\nsummary: s\nremediation: r\nparams:\n  window: soon\n";
        let e = load_pattern(text, "x/git_auth_failure.yaml").unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e.iter().any(|x| x.field == "severity" && x.line == 3));
        assert!(e.iter().any(|x| x.field == "params.window" && x.line == 8));
    }

    #[test]
    fn templates() {
        let mut v = BTreeMap::new();
        v.insert("subject".into(), "GitRepository/a/b".into());
        assert_eq!(
            render_template("auth fails for {subject} {x}", &v),
            "auth fails for GitRepository/a/b {x}"
        );
    }
}
