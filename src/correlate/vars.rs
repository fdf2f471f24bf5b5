//! Text of findings: template variables, titles, summaries, remediations.
//!
//! Owns the template language of the pattern files: `{name}` is replaced by the
//! variable `name`; `{name|noun}` by the number in `name` followed by `noun` agreed
//! with it (`{count|time}`: `1 time`, `3 times`), `{name|noun|nouns}` for a plural that
//! is not `noun` + `s`. Invariant: an unknown variable, or a count that is not a
//! number, is left as written so a wrong template shows in the text instead of
//! vanishing.

use std::collections::BTreeMap;

use std::sync::Arc;

use super::finding::{Finding, PendingText, RuleMeta};
use super::spec::Pattern;
use crate::time::format_rfc3339_ms;

/// Renders `{count}`-style durations: `1h5m`, `12m`, `40s`.
pub fn human_ms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    if s >= 3600 {
        format!("{}h{}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{}s", s)
    }
}

/// Marks title, summary and remediation to be filled from the pattern's templates,
/// the finding's own facts and its labels when the finding is next emitted
/// ([`render_pending`]).
pub fn fill_text(f: &mut Finding, pattern: &Arc<Pattern>) {
    f.text_pending = PendingText(Some(Arc::clone(pattern)));
}

/// Renders the text [`fill_text`] deferred, if any.
pub fn render_pending(f: &mut Finding) {
    if let Some(p) = f.text_pending.0.take() {
        render_text(f, &p);
    }
}

/// Fills title, summary and remediation from the pattern's templates, the finding's
/// own facts and its labels, and the rule facts (description, category, confidence)
/// from the pattern.
pub fn render_text(f: &mut Finding, pattern: &Pattern) {
    let mut v: BTreeMap<String, String> = BTreeMap::new();
    v.insert("subject".into(), f.subject.to_string());
    v.insert("kind".into(), f.subject.kind.to_string());
    v.insert("kind_lc".into(), f.subject.kind.to_ascii_lowercase());
    v.insert("name".into(), f.subject.name.to_string());
    v.insert("namespace".into(), f.subject.namespace.to_string());
    v.insert("tenant".into(), f.tenant.clone());
    v.insert("count".into(), f.count.to_string());
    v.insert("impacted_count".into(), f.impacted.len().to_string());
    v.insert("tenants_count".into(), f.tenants.len().to_string());
    v.insert("tenants_list".into(), f.tenants.join(", "));
    v.insert("first_seen".into(), format_rfc3339_ms(f.first_seen));
    if let Some(e) = f.evidence.last() {
        // The templates end the sentence themselves: `…: no such host.` not `host..`
        let last = e.message.trim_end().trim_end_matches('.');
        v.insert("last_error".into(), truncate(last, 400));
    }
    if let Some(rc) = &f.root_cause {
        v.insert("root_class".into(), rc.class.as_str().to_string());
        v.insert("root_message".into(), truncate(&rc.message, 300));
    }
    for (k, val) in &f.labels {
        v.insert(k.clone(), val.clone());
    }
    f.title = truncate(&render_template(&pattern.spec.title, &v), 200);
    f.summary = render_template(&pattern.spec.summary, &v);
    f.remediation = render_template(&pattern.spec.remediation, &v);
    f.rule = RuleMeta {
        description: pattern.spec.description.clone(),
        category: pattern.spec.category.clone(),
        confidence: pattern.spec.confidence,
    };
}

/// Separates a count variable from the noun agreed with it: `{count|time}`.
const PLURAL_SEP: char = '|';

/// Replaces `{key}` and `{key|noun}` / `{key|noun|nouns}` placeholders from `vars`
/// (see the module doc); unknown keys are left as is.
pub fn render_template(tpl: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(tpl.len() + 32);
    let mut rest = tpl;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match after.find('}').filter(|&j| is_placeholder(&after[..j])) {
            Some(j) => {
                let inner = &after[..j];
                match substitute(inner, vars) {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push('{');
                        out.push_str(inner);
                        out.push('}');
                    }
                }
                rest = &after[j + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

/// `key`, `key|noun` or `key|noun|nouns`: a variable name, then nouns of letters,
/// spaces and hyphens (so a literal `{` in prose or JSON is never taken for one).
fn is_placeholder(inner: &str) -> bool {
    let mut parts = inner.split(PLURAL_SEP);
    let key = parts.next().unwrap_or_default();
    let nouns: Vec<&str> = parts.collect();
    !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && nouns.len() <= 2
        && nouns.iter().all(|n| {
            !n.trim().is_empty() && n.chars().all(|c| c.is_alphabetic() || c == ' ' || c == '-')
        })
}

/// The text of one placeholder, `None` when it cannot be filled.
fn substitute(inner: &str, vars: &BTreeMap<String, String>) -> Option<String> {
    let mut parts = inner.split(PLURAL_SEP);
    let value = vars.get(parts.next()?)?;
    let Some(singular) = parts.next() else {
        return Some(value.clone());
    };
    let n: u64 = value.trim().parse().ok()?;
    let noun = match (n, parts.next()) {
        (1, _) => singular.to_string(),
        (_, Some(plural)) => plural.to_string(),
        (_, None) => format!("{singular}s"),
    };
    Some(format!("{n} {noun}"))
}

/// Cuts `s` to at most `n` bytes on a char boundary, marking the cut.
pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

pub use crate::parse::message::controller_for_kind;

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_count_agrees_with_its_noun() {
        let v = vars(&[("count", "1"), ("n", "3"), ("zero", "0")]);
        assert_eq!(render_template("denied {count|time}", &v), "denied 1 time");
        assert_eq!(render_template("denied {n|time}", &v), "denied 3 times");
        assert_eq!(render_template("{zero|object}", &v), "0 objects");
        assert_eq!(
            render_template("{count|network error} and {n|entry|entries}", &v),
            "1 network error and 3 entries"
        );
        assert_eq!(render_template("{count|entry|entries}", &v), "1 entry");
    }

    #[test]
    fn what_cannot_be_filled_stays_as_written() {
        let v = vars(&[("subject", "GitRepository/a/b"), ("word", "many")]);
        assert_eq!(
            render_template("auth fails for {subject} {x} {x|time}", &v),
            "auth fails for GitRepository/a/b {x} {x|time}"
        );
        // Not a number: the placeholder shows, not a wrong sentence.
        assert_eq!(render_template("{word|time}", &v), "{word|time}");
        // Braces in prose are not placeholders.
        assert_eq!(
            render_template("{\"a\": 1} {subject|a|b|c}", &v),
            "{\"a\": 1} {subject|a|b|c}"
        );
    }

    /// Every built-in template that counts something says it through the plural form,
    /// so no summary reads "1 times".
    #[test]
    fn builtin_templates_have_no_bare_counted_nouns() {
        let counted = regex::Regex::new(r"\{[a-z_]+\} (times|attempts|restarts|objects|failures|consumers|sources|tenants|requests|notifications|network|slow)\b").unwrap();
        for p in crate::correlate::spec::PatternSet::builtin().iter() {
            for t in [&p.spec.title, &p.spec.summary, &p.spec.remediation] {
                assert!(!counted.is_match(t), "{}: {t}", p.spec.id);
            }
        }
    }
}
