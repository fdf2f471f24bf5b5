//! `fluxsight explain <pattern-id | finding-id>`: what a pattern means (description,
//! severity, category, confidence, parameters with their defaults and any `--config`
//! override, how its findings group, the remediation template and the runbook, which is
//! compiled in), or a finding of a running fluxsight (fetched by id from its findings
//! API) followed by its pattern's explanation.
//!
//! Owns: telling the two kinds of id apart (a pattern id is exact; a finding id is 16 hex
//! digits), the text, and the usage error of an id that is neither, which lists the
//! close pattern ids (edit distance). Every text from a server goes through
//! [`super::get::cell`], so a finding cannot restyle the terminal.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::Value;

use fluxsight::correlate::detector::{params_of, ParamKind};
use fluxsight::correlate::spec::{Pattern, PatternSet};
use fluxsight::correlate::{grouping, ClaimRank, Grouping, PatternId};

use super::args::ExplainArgs;
use super::client::FindingsClient;
use super::common::{self, usage};
use super::get::{cell, field};

/// Length of a finding id (`correlate::finding::finding_id`: 8 bytes of SHA-256 in hex).
const FINDING_ID_LEN: usize = 16;
/// Close pattern ids named at most.
const SUGGESTIONS: usize = 3;

/// `fluxsight explain`.
pub fn explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let id = args.id.trim();
    let patterns = match common::load(None, args.config.as_deref()) {
        Ok(p) => p.settings.patterns,
        Err(e) => return Ok(e.report()),
    };
    let config = args.config.as_ref().map(|p| p.display().to_string());
    if let Some(p) = PatternId::parse(id) {
        print!("{}", pattern_text(p, &patterns, config.as_deref()));
        return Ok(ExitCode::SUCCESS);
    }
    if !is_finding_id(id) {
        return Ok(usage(unknown_id("explain", id)));
    }
    let client = match FindingsClient::new(&args.server.server)? {
        Ok(c) => c,
        Err(e) => return Ok(usage(e)),
    };
    let finding = match client.one(id) {
        Ok(Some(f)) => f,
        Ok(None) => {
            return Ok(usage(format!(
                "no finding '{id}' at {} (a resolved finding stays for api.retention, 1h by default) and no pattern by that name",
                args.server.server
            )))
        }
        Err(e) => {
            eprintln!("fluxsight: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut out = finding_text(&finding);
    match PatternId::parse(&field(&finding, "pattern")) {
        Some(p) => {
            out.push_str("\nPattern\n\n");
            out.push_str(&pattern_text(p, &patterns, config.as_deref()));
        }
        None => out.push_str("\n(the finding's pattern is not one this fluxsight knows)\n"),
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// A finding id: 16 lowercase hex digits.
fn is_finding_id(s: &str) -> bool {
    s.len() == FINDING_ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The pattern ids close to `s`: by edit distance (at most a third of its length, and
/// at least 2), or containing each of its words (`helm_failure`); closest first.
pub fn close_patterns(s: &str) -> Vec<&'static str> {
    let s = s.to_ascii_lowercase();
    let limit = (s.chars().count() / 3).max(2);
    let words: Vec<&str> = s
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() >= 3)
        .collect();
    // Ids with every word first, then by distance.
    let mut close: Vec<(bool, usize, &'static str)> = PatternId::ALL
        .iter()
        .map(|p| p.as_str())
        .filter_map(|id| {
            let d = strsim::levenshtein(&s, id);
            let contains = !words.is_empty() && words.iter().all(|w| id.contains(w));
            (d <= limit || contains).then_some((!contains, d, id))
        })
        .collect();
    close.sort();
    close
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, _, id)| id)
        .collect()
}

/// The usage error of `what` (`explain`, which also takes finding ids, or a flag that
/// takes a pattern id) given `s`, with the close pattern ids.
pub fn unknown_id(what: &str, s: &str) -> String {
    let shown = cell(s);
    let close = close_patterns(s);
    let hint = if close.is_empty() {
        "`fluxsight patterns` lists the pattern ids".to_string()
    } else {
        format!("did you mean {}?", close.join(", "))
    };
    let neither = if what == "explain" {
        "neither a pattern id nor a finding id"
    } else {
        "not a pattern id"
    };
    format!("{what}: '{shown}' is {neither}; {hint}")
}

/// How a claim rank reads.
fn rank_name(r: ClaimRank) -> &'static str {
    match r {
        ClaimRank::OomCascade => "OOM cascade",
        ClaimRank::HostRateLimit => "host rate limit",
        ClaimRank::HostNetwork => "host network",
        ClaimRank::SourceAuth => "source authentication",
        ClaimRank::SourceFailure => "source failure",
        ClaimRank::Dependency => "dependency",
        ClaimRank::Workload => "workload cause",
        ClaimRank::Own => "the object's own finding",
    }
}

/// A parameter's value as written in pattern files: `15m`, `1h30m`, `3`, `0.5`.
fn param_value(kind: ParamKind, v: f64) -> String {
    match kind {
        ParamKind::Duration => duration(v as i64),
        ParamKind::Count => format!("{}", v.max(0.0) as u64),
        ParamKind::Ratio | ParamKind::Float => format!("{v}"),
    }
}

/// A duration in ms as Go prints it, without zero parts: `15m`, `1h30m`, `90s` → `1m30s`.
fn duration(ms: i64) -> String {
    if ms % 1000 != 0 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n != 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

/// Indents every line of `text` by `n` spaces.
fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// The explanation of pattern `p` as `set` (built-in, with `config`'s overrides) has it.
pub fn pattern_text(p: PatternId, set: &PatternSet, config: Option<&str>) -> String {
    let builtin = PatternSet::builtin();
    let base = builtin.get(p);
    let pat: &Pattern = set.get(p);
    let spec = &pat.spec;
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", spec.id, spec.description);
    let _ = writeln!(
        out,
        "\n  severity {}   category {}   confidence {}",
        spec.severity,
        spec.category,
        spec.confidence.as_str()
    );
    out.push_str("\nParameters (built-in default");
    if let Some(file) = config {
        let _ = write!(out, "; → the value {file} sets");
    }
    out.push_str(")\n");
    let params = params_of(p).unwrap_or(&[]);
    let width = params.iter().map(|q| q.name.len()).max().unwrap_or(0);
    for q in params {
        let default = param_value(q.kind, base.p(q.name));
        let now = param_value(q.kind, pat.p(q.name));
        let _ = write!(out, "  {:<width$}  {default}", q.name);
        if now != default {
            let _ = write!(out, " → {now}");
        }
        out.push('\n');
    }
    out.push_str("\nGrouping\n");
    let grouping_text = match grouping(p) {
        Grouping::Root { ranks, claims } => {
            let names: Vec<&str> = ranks.iter().map(|r| rank_name(*r)).collect();
            format!(
                "A root cause (claim rank: {}). While it fires it claims {claims}: \
                 their own failures are listed under its impacted objects instead of \
                 raising findings of their own. Rank order, highest first: OOM cascade > \
                 host rate limit > host network > source authentication > source failure \
                 > dependency > the object's own finding.",
                names.join(" or ")
            )
        }
        Grouping::Symptom => "A symptom: quiet while a root cause claims its object (the \
            object's failures go to the root's impacted objects); it surfaces on its own \
            when the root resolves and the object still fails."
            .to_string(),
        Grouping::Own => "About its subject's own failure: it claims nothing, and keeps \
            its finding even when a root cause claims the object (it is another failure)."
            .to_string(),
    };
    out.push_str(&indent(&wrap(&grouping_text, 86), 2));
    out.push_str("\nRemediation (template; {…} are filled from the finding)\n");
    out.push_str(&indent(&wrap(&spec.remediation, 86), 2));
    let _ = writeln!(out, "\nRunbook (docs/patterns/{}.md)\n", spec.id);
    out.push_str(&indent(p.runbook(), 2));
    out
}

/// `text` broken into lines of at most `width` characters at spaces.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for w in text.split_whitespace() {
        let n = w.chars().count();
        if line > 0 && line + 1 + n > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(w);
        line += n;
    }
    out.push('\n');
    out
}

/// An object of a native finding as `Kind/namespace/name` (`Kind/name` when
/// cluster-scoped).
fn object(v: &Value) -> String {
    let (kind, ns, name) = (field(v, "kind"), field(v, "namespace"), field(v, "name"));
    if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{ns}/{name}")
    }
}

fn list<'a>(f: &'a Value, key: &str) -> &'a [Value] {
    f.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A native finding for people: title, status, timing, root cause, impacted objects,
/// evidence, labels and the next step.
pub fn finding_text(f: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", field(f, "title"));
    let _ = writeln!(
        out,
        "\n  finding   {}  ({} about {})",
        field(f, "id"),
        field(f, "pattern"),
        object(f.get("subject").unwrap_or(&Value::Null))
    );
    let _ = writeln!(
        out,
        "  status    {} ({})",
        field(f, "status"),
        field(f, "severity")
    );
    let tenants: Vec<String> = list(f, "tenants")
        .iter()
        .filter_map(Value::as_str)
        .map(cell)
        .collect();
    let _ = writeln!(
        out,
        "  tenant    {}{}",
        field(f, "tenant"),
        if tenants.len() > 1 {
            format!(" (all affected: {})", tenants.join(", "))
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "  timing    first seen {}, last seen {}, {} records",
        field(f, "first_seen"),
        field(f, "last_seen"),
        f.get("count").and_then(Value::as_u64).unwrap_or(0)
    );
    out.push('\n');
    out.push_str(&indent(&wrap(&field(f, "summary"), 86), 2));
    match f.get("root_cause").filter(|v| v.is_object()) {
        Some(rc) => {
            let _ = writeln!(
                out,
                "\nRoot cause\n  {} ({}): {}",
                object(rc),
                field(rc, "class"),
                field(rc, "message")
            );
        }
        None => {
            let _ = writeln!(
                out,
                "\nRoot cause\n  its subject, {} (no other finding explains it)",
                object(f.get("subject").unwrap_or(&Value::Null))
            );
        }
    }
    let impacted = list(f, "impacted");
    if !impacted.is_empty() {
        let _ = writeln!(
            out,
            "\nSymptoms: impacted objects grouped under it ({})",
            impacted.len()
        );
        for o in impacted {
            let _ = write!(out, "  - {}", object(o));
            if let Some(e) = o.get("evidence") {
                let _ = write!(
                    out,
                    "  failing {} ({} times): {}: {}",
                    field(o, "since"),
                    o.get("count").and_then(Value::as_u64).unwrap_or(0),
                    field(e, "class"),
                    field(e, "message")
                );
            }
            out.push('\n');
        }
    }
    let evidence = list(f, "evidence");
    if !evidence.is_empty() {
        out.push_str("\nEvidence\n");
        for e in evidence {
            let controller = field(e, "controller");
            let _ = writeln!(
                out,
                "  - {} {}{}: {}",
                field(e, "ts"),
                if controller.is_empty() {
                    String::new()
                } else {
                    format!("{controller} ")
                },
                field(e, "class"),
                field(e, "message")
            );
        }
    }
    if let Some(labels) = f.get("labels").and_then(Value::as_object) {
        if !labels.is_empty() {
            out.push_str("\nLabels\n");
            for (k, v) in labels {
                let _ = writeln!(out, "  {}={}", cell(k), cell(v.as_str().unwrap_or("")));
            }
        }
    }
    out.push_str("\nNext step\n");
    out.push_str(&indent(&wrap(&field(f, "remediation"), 86), 2));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_ids_come_by_edit_distance_or_containment() {
        assert_eq!(close_patterns("git_auth_failur")[0], "git_auth_failure");
        assert_eq!(close_patterns("controller_om")[0], "controller_oom");
        assert!(close_patterns("drift").contains(&"drift_detected"));
        assert_eq!(close_patterns("helm_failure")[0], "helm_release_failure");
        assert!(close_patterns("zzzzzzzzzzzz").is_empty());
        let e = unknown_id("explain", "helm_release_failur");
        assert!(e.contains("did you mean helm_release_failure"), "{e}");
        assert!(unknown_id("explain", "nothing-like-it").contains("fluxsight patterns"));
        assert!(unknown_id("--pattern", "git_auth").starts_with(
            "--pattern: 'git_auth' is not a pattern id; did you mean git_auth_failure?"
        ));
    }

    #[test]
    fn finding_ids_are_sixteen_hex_digits() {
        assert!(is_finding_id("46f9d4ed5552629d"));
        assert!(!is_finding_id("46f9d4ed5552629"));
        assert!(!is_finding_id("46F9D4ED5552629D"));
        assert!(!is_finding_id("git_auth_failure"));
    }

    #[test]
    fn durations_print_as_pattern_files_write_them() {
        assert_eq!(duration(900_000), "15m");
        assert_eq!(duration(5_400_000), "1h30m");
        assert_eq!(duration(90_000), "1m30s");
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(1_500), "1500ms");
    }

    #[test]
    fn a_pattern_explanation_has_every_part() {
        let t = pattern_text(PatternId::GitAuthFailure, &PatternSet::builtin(), None);
        for part in [
            "git_auth_failure: Authentication to the source repository keeps failing",
            "severity error   category source   confidence high",
            "  min_attempts   3\n",
            "  window         15m\n",
            "claim rank: source authentication",
            "Remediation",
            "spec.secretRef",
            "Runbook (docs/patterns/git_auth_failure.md)",
            "  # git_auth_failure\n",
        ] {
            assert!(t.contains(part), "missing {part:?} in\n{t}");
        }
        let t = pattern_text(
            PatternId::StalledReconciliation,
            &PatternSet::builtin(),
            None,
        );
        assert!(t.contains("A symptom"), "{t}");
        let t = pattern_text(PatternId::BuildFailure, &PatternSet::builtin(), None);
        assert!(t.contains("claims nothing"), "{t}");
    }
}
