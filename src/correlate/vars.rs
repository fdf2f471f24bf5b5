//! Text of findings: template variables, titles, summaries, remediations.

use std::collections::BTreeMap;

use std::sync::Arc;

use super::finding::{Finding, PendingText, RuleMeta};
use super::spec::{render_template, Pattern};
use crate::parse::time::format_rfc3339_ms;

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
    v.insert("kind".into(), f.subject.kind.clone());
    v.insert("kind_lc".into(), f.subject.kind.to_ascii_lowercase());
    v.insert("name".into(), f.subject.name.clone());
    v.insert("namespace".into(), f.subject.namespace.clone());
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
