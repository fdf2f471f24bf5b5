//! Google Chat messages: `text` fallback + one `cardsV2` card, threaded per incident.
//!
//! Owns: the card layout of a [`ChatMessage`] (header, sections of `decoratedText`,
//! `textParagraph` and `buttonList` widgets), escaping for Google Chat's two text
//! syntaxes, the thread key, and the size limits. Does not send anything (see
//! `sinks::gchat`, which adds `messageReplyOption` to the URL).
//!
//! Invariants:
//! - card text (`textParagraph`, `decoratedText`) is Google Chat's HTML subset: every
//!   interpolated value (decoratedText labels included) goes through [`html`] (`&`,
//!   `<`, `>` as entities, `://` broken with a word joiner), so input cannot add tags,
//!   links or auto-links; the card header is plain text and goes through [`plain`];
//! - the `text` fallback is Google Chat's markdown-like syntax (`*bold*`, `_it_`,
//!   `<url|label>` links, `<users/all>` mentions), which has no escape: [`plain`] turns
//!   its syntax characters into look-alikes;
//! - a message has at most [`MAX_WIDGETS`] widgets and at most [`MAX_PAYLOAD_BYTES`]
//!   bytes for any input (lists capped with "+N more", rendered again with smaller caps
//!   while too large);
//! - `thread.threadKey` is the finding id (`group:<key>` for a group), so every message
//!   about one incident lands in one thread.

use serde_json::{json, Value};

use super::chat::{self, Caps, ChatMessage, Fact, FactValue, Footer};
use crate::classify::redact::redact;
use crate::correlate::Status;
use crate::delivery::Delivery;
use crate::record::Severity;

/// Google Chat refuses messages above 32,000 bytes; keep a margin.
pub const MAX_PAYLOAD_BYTES: usize = 30_000;
/// Widgets per card (Google Chat ignores the sections past 100).
pub const MAX_WIDGETS: usize = 100;
/// Longest `text` fallback (Google Chat: 4,096 characters).
pub const MAX_TEXT_CHARS: usize = 1_000;

const ELLIPSIS: char = '…';
const WORD_JOINER: char = '\u{2060}';
/// Syntax characters of the `text` field and their look-alikes.
const LOOKALIKES: [(char, char); 6] = [
    ('*', '\u{2217}'), // ASTERISK OPERATOR
    ('_', '\u{02CD}'), // MODIFIER LETTER LOW MACRON
    ('~', '\u{223C}'), // TILDE OPERATOR
    ('`', '\u{02CB}'), // MODIFIER LETTER GRAVE ACCENT
    ('<', '\u{2039}'), // SINGLE LEFT-POINTING ANGLE QUOTATION MARK
    ('>', '\u{203A}'), // SINGLE RIGHT-POINTING ANGLE QUOTATION MARK
];

/// Redacted, one line, control characters as spaces, `://` broken, cut to `max` chars.
fn flat(s: &str, max: usize) -> String {
    let one: String = redact(s)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let one = one.replace("://", &format!(":{WORD_JOINER}//"));
    let one = one.trim();
    if one.chars().count() <= max {
        return one.to_string();
    }
    let mut out: String = one.chars().take(max.saturating_sub(1)).collect();
    out.push(ELLIPSIS);
    out
}

/// Untrusted text for card HTML: entities for `&`, `<`, `>` (never split by the cut,
/// which happens before escaping).
pub fn html(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in flat(s, max).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Untrusted text for plain-text fields (card header) and the `text` fallback: syntax
/// characters replaced by look-alikes.
pub fn plain(s: &str, max: usize) -> String {
    let chars: Vec<char> = flat(s, max).chars().collect();
    chars
        .iter()
        .enumerate()
        .map(
            |(i, &c)| match LOOKALIKES.iter().find(|(from, _)| *from == c) {
                Some(_) if c == '_' && intraword(&chars, i) => c,
                Some((_, to)) => *to,
                None => c,
            },
        )
        .collect()
}

/// An underscore between two letters or digits (`git_auth_failure`) cannot open or
/// close emphasis, so identifiers keep theirs.
fn intraword(chars: &[char], i: usize) -> bool {
    let alnum = |j: Option<usize>| {
        j.and_then(|j| chars.get(j))
            .is_some_and(|c| c.is_alphanumeric())
    };
    alnum(i.checked_sub(1)) && alnum(Some(i + 1))
}

/// The webhook payload of a delivery.
pub fn message(d: &Delivery) -> Value {
    render(&chat::message(d))
}

/// The payload of a neutral chat message, within [`MAX_PAYLOAD_BYTES`].
pub fn render(m: &ChatMessage) -> Value {
    chat::fit(MAX_PAYLOAD_BYTES, |caps| payload(m, caps))
}

/// Colour of the status line.
fn colour(m: &ChatMessage) -> &'static str {
    match (m.status, m.severity) {
        (None, _) => "#5f6368",
        (Some(Status::Resolved), _) | (_, None) => "#188038",
        (_, Some(Severity::Critical | Severity::Error)) => "#d93025",
        (_, Some(Severity::Warning)) => "#e37400",
        (_, Some(Severity::Info)) => "#1a73e8",
    }
}

fn paragraph(t: String) -> Value {
    json!({"textParagraph": {"text": t}})
}

fn decorated(label: &str, t: String) -> Value {
    json!({"decoratedText": {"topLabel": html(label, 100), "text": t, "wrapText": true}})
}

fn fact(f: &Fact) -> Value {
    let value = match &f.value {
        FactValue::Ident { text, max } => format!("<code>{}</code>", html(text, *max)),
        FactValue::Severity(s, _) => s.as_str().to_string(),
        FactValue::Plain(t) => html(t, chat::IDENT_CHARS),
    };
    decorated(&f.label, value)
}

fn section(header: &str, widgets: Vec<Value>) -> Value {
    if header.is_empty() {
        json!({"widgets": widgets})
    } else {
        json!({"header": header, "widgets": widgets})
    }
}

/// `n` items shown of `total`: the "+N more" line, if any.
fn more(total: usize, n: usize) -> Option<Value> {
    (total > n).then(|| paragraph(format!("<i>+{} more</i>", total - n)))
}

/// Lines as one monospace paragraph (`<br>` between lines; each line escaped).
fn code_lines<'a>(lines: impl Iterator<Item = &'a String>, max: usize) -> Value {
    let body: Vec<String> = lines.map(|l| html(l, max)).collect();
    paragraph(format!("<code>{}</code>", body.join("<br>")))
}

fn sections(m: &ChatMessage, caps: Caps) -> Vec<Value> {
    let mut out = Vec::new();
    let status = match m.severity {
        Some(s) => format!("{} · {}", m.status_label(), s.as_str().to_uppercase()),
        None => m.status_label().to_string(),
    };
    let mut top = vec![paragraph(format!(
        "<font color=\"{}\"><b>{status}</b></font>",
        colour(m)
    ))];
    if !m.summary.is_empty() {
        top.push(paragraph(html(&m.summary, caps.text)));
    }
    out.push(section("", top));
    if !m.facts.is_empty() {
        out.push(section("Details", m.facts.iter().map(fact).collect()));
    }
    if let Some(rc) = &m.root_cause {
        out.push(section(
            "Root cause",
            vec![
                decorated(
                    rc.class,
                    format!("<code>{}</code>", html(&rc.object, chat::IDENT_CHARS)),
                ),
                code_lines(std::iter::once(&rc.message), caps.text),
            ],
        ));
    }
    if !m.evidence.is_empty() {
        let shown = m.evidence.len().min(caps.list);
        let mut w = vec![code_lines(m.evidence[..shown].iter(), caps.text.min(400))];
        w.extend(more(m.evidence.len(), shown));
        out.push(section("Evidence", w));
    }
    if !m.impacted.is_empty() {
        let shown = m.impacted.len().min(caps.list);
        let mut w = vec![code_lines(m.impacted[..shown].iter(), 120)];
        w.extend(more(m.impacted.len(), shown));
        out.push(section(&format!("Impacted ({})", m.impacted.len()), w));
    }
    if !m.items.is_empty() {
        let shown = m.items.len().min(caps.list);
        let mut w: Vec<Value> = m.items[..shown]
            .iter()
            .map(|i| {
                let state = if i.status == Status::Resolved {
                    "RESOLVED".to_string()
                } else {
                    i.severity.as_str().to_uppercase()
                };
                json!({"decoratedText": {
                    "topLabel": html(&format!("{state} · {}", i.title), 150),
                    "text": format!("<code>{}</code> · {} · tenant {} · count {}",
                        html(&i.object, 120), html(&i.cluster, 40), html(&i.tenant, 40), i.count),
                    "bottomLabel": html(&i.summary, caps.text.min(300)),
                    "wrapText": true,
                }})
            })
            .collect();
        w.extend(more(m.items.len(), shown));
        out.push(section("Findings", w));
    }
    if let Some(d) = &m.detail {
        out.push(section(
            "Message",
            vec![code_lines(std::iter::once(d), caps.text)],
        ));
    }
    if !m.remediation.is_empty() {
        out.push(section(
            "Remediation",
            vec![paragraph(html(&m.remediation, caps.text))],
        ));
    }
    let mut last = vec![paragraph(format!("<i>{}</i>", footer(&m.footer)))];
    if let Some(url) = &m.runbook_url {
        last.push(json!({"buttonList": {"buttons": [
            {"text": "Runbook", "onClick": {"openLink": {"url": url}}}
        ]}}));
    }
    out.push(section("", last));
    out
}

fn footer(f: &Footer) -> String {
    chat::footer_text(f, html)
}

/// A card id: letters, digits and `-` only (ids are ours, but group keys carry labels).
fn card_id(m: &ChatMessage) -> String {
    let key = m.thread_key.as_deref().unwrap_or("audit");
    let clean: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(64)
        .collect();
    format!("fluxsight-{clean}")
}

fn payload(m: &ChatMessage, caps: Caps) -> Value {
    let mut subtitle = m
        .facts
        .iter()
        .filter_map(|f| match &f.value {
            FactValue::Ident { text, .. } if f.label == chat::label::OBJECT => Some(text.clone()),
            _ => None,
        })
        .next()
        .unwrap_or_default();
    if let Some(c) = m
        .facts
        .iter()
        .find(|f| f.label == chat::label::CLUSTER)
        .and_then(|f| match &f.value {
            FactValue::Ident { text, .. } => Some(text),
            _ => None,
        })
    {
        subtitle = format!("{subtitle} on {c}");
    }
    let mut header = json!({"title": plain(&m.title, 150)});
    if !subtitle.is_empty() {
        header["subtitle"] = json!(plain(&subtitle, 150));
    }
    let mut v = json!({
        "text": plain(&m.fallback, MAX_TEXT_CHARS),
        "cardsV2": [{"cardId": card_id(m), "card": {
            "header": header,
            "sections": sections(m, caps),
        }}],
    });
    if let Some(k) = &m.thread_key {
        v["thread"] = json!({"threadKey": k});
    }
    v
}

/// Widgets of a payload (for the limit check in tests).
pub fn widget_count(v: &Value) -> usize {
    v["cardsV2"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["card"]["sections"].as_array().into_iter().flatten())
        .map(|s| s["widgets"].as_array().map_or(0, Vec::len))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_tags_and_breaks_links() {
        let h = html("<a href=\"https://evil.example\">x</a> & <users/all>", 200);
        assert_eq!(
            h,
            "&lt;a href=\"https:\u{2060}//evil.example\"&gt;x&lt;/a&gt; &amp; &lt;users/all&gt;"
        );
    }

    #[test]
    fn plain_text_cannot_link_or_mention() {
        let p = plain("<https://evil.example|click> *b* <users/all>", 200);
        for c in ['<', '>', '*'] {
            assert!(!p.contains(c), "{c} in {p}");
        }
        assert!(!p.contains("://"));
    }

    #[test]
    fn cut_happens_before_escaping() {
        let h = html(&"<".repeat(50), 10);
        assert_eq!(h.matches("&lt;").count(), 9, "{h}");
        assert!(h.ends_with(ELLIPSIS));
    }
}
