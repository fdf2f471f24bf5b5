//! Microsoft Teams messages: an Adaptive Card (v1.5) in the envelope a Teams Workflows
//! webhook ("When a Teams webhook request is received") accepts.
//!
//! Owns: the card layout of a [`ChatMessage`], Adaptive Card markdown escaping, and the
//! payload size limit. Does not send anything (see `sinks::teams`).
//!
//! Invariants:
//! - every interpolated text goes through [`text`]: TextBlock and Fact markdown (bold,
//!   italic, lists, `[title](url)` links) cannot be produced from input, since its
//!   syntax characters become look-alikes, `<`/`>` become angle quotes (no HTML, no
//!   `<at>` mentions) and `://` is broken with a word joiner (no auto-links); the only
//!   link of a card is the runbook button, whose URL the renderer makes itself;
//! - the serialised payload is at most [`MAX_PAYLOAD_BYTES`] for any input: lists are
//!   capped (impacted objects, evidence lines, group findings, with "+N more") and, if
//!   the card is still too large, rendered again with smaller caps.

use serde_json::{json, Value};

use super::chat::{self, Caps, ChatMessage, Fact, FactValue, Footer};
use crate::classify::redact::redact;
use crate::correlate::Status;
use crate::delivery::Delivery;
use crate::record::Severity;

/// Teams rejects messages above ~28 KB; keep a margin for the HTTP envelope.
pub const MAX_PAYLOAD_BYTES: usize = 27_000;
/// The Adaptive Card schema version Teams renders (1.5 on desktop and mobile).
pub const CARD_VERSION: &str = "1.5";
pub const CARD_SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
pub const CARD_CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";

const ELLIPSIS: char = '…';
const WORD_JOINER: char = '\u{2060}';
/// Markdown syntax characters of Adaptive Card TextBlocks (and what Teams adds: code,
/// strike, HTML-looking tags) with the look-alikes shown instead.
const LOOKALIKES: [(char, char); 9] = [
    ('*', '\u{2217}'), // ASTERISK OPERATOR
    ('_', '\u{02CD}'), // MODIFIER LETTER LOW MACRON
    ('~', '\u{223C}'), // TILDE OPERATOR
    ('`', '\u{02CB}'), // MODIFIER LETTER GRAVE ACCENT
    ('[', '\u{FF3B}'), // FULLWIDTH LEFT SQUARE BRACKET
    (']', '\u{FF3D}'), // FULLWIDTH RIGHT SQUARE BRACKET
    ('<', '\u{2039}'), // SINGLE LEFT-POINTING ANGLE QUOTATION MARK
    ('>', '\u{203A}'), // SINGLE RIGHT-POINTING ANGLE QUOTATION MARK
    ('#', '\u{FF03}'), // FULLWIDTH NUMBER SIGN
];

/// Untrusted text for a TextBlock or Fact: secrets redacted, one line, markdown syntax
/// replaced by look-alikes, auto-links broken, cut to `max` chars with an ellipsis.
pub fn text(s: &str, max: usize) -> String {
    let chars: Vec<char> = redact(s).chars().collect();
    let plain: String = chars
        .iter()
        .enumerate()
        .map(
            |(i, &c)| match LOOKALIKES.iter().find(|(from, _)| *from == c) {
                Some(_) if c == '_' && intraword(&chars, i) => c,
                Some((_, to)) => *to,
                None if c.is_control() => ' ',
                None => c,
            },
        )
        .collect();
    let plain = plain.replace("://", &format!(":{WORD_JOINER}//"));
    cut(plain.trim(), max)
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

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push(ELLIPSIS);
    out
}

/// The Workflows webhook payload of a delivery.
pub fn message(d: &Delivery) -> Value {
    render(&chat::message(d))
}

/// The payload of a neutral chat message, within [`MAX_PAYLOAD_BYTES`].
pub fn render(m: &ChatMessage) -> Value {
    chat::fit(MAX_PAYLOAD_BYTES, |caps| envelope(card(m, caps)))
}

fn envelope(card: Value) -> Value {
    json!({"type": "message", "attachments": [{
        "contentType": CARD_CONTENT_TYPE,
        "contentUrl": null,
        "content": card,
    }]})
}

/// Container style and text colour of the headline.
fn colours(m: &ChatMessage) -> (&'static str, &'static str) {
    match (m.status, m.severity) {
        (None, _) => ("emphasis", "default"),
        (Some(Status::Resolved), _) | (_, None) => ("good", "good"),
        (_, Some(Severity::Critical | Severity::Error)) => ("attention", "attention"),
        (_, Some(Severity::Warning)) => ("warning", "warning"),
        (_, Some(Severity::Info)) => ("accent", "accent"),
    }
}

fn block(t: String) -> Value {
    json!({"type": "TextBlock", "text": t, "wrap": true})
}

fn heading(t: &str) -> Value {
    json!({"type": "TextBlock", "text": t, "weight": "bolder", "wrap": true, "spacing": "medium"})
}

fn mono(t: String) -> Value {
    json!({"type": "TextBlock", "text": t, "wrap": true, "fontType": "monospace", "spacing": "none"})
}

fn fact(f: &Fact) -> Value {
    let value = match &f.value {
        FactValue::Ident { text: t, max } => text(t, *max),
        FactValue::Severity(s, _) => s.as_str().to_string(),
        FactValue::Plain(t) => text(t, chat::IDENT_CHARS),
    };
    json!({"title": text(&f.label, 100), "value": value})
}

/// `n` items shown of `total`: the "+N more" line, if any.
fn more(total: usize, n: usize) -> Option<String> {
    (total > n).then(|| format!("+{} more", total - n))
}

fn card(m: &ChatMessage, caps: Caps) -> Value {
    let (style, colour) = colours(m);
    let status = match m.severity {
        Some(s) => format!("{} · {}", m.status_label(), s.as_str().to_uppercase()),
        None => m.status_label().to_string(),
    };
    let mut body = vec![json!({
        "type": "Container",
        "style": style,
        "bleed": true,
        "items": [
            {"type": "TextBlock", "text": status, "weight": "bolder", "color": colour,
             "size": "small", "wrap": true},
            {"type": "TextBlock", "text": text(&m.title, 150), "weight": "bolder",
             "size": "large", "wrap": true, "style": "heading"},
        ],
    })];
    if !m.summary.is_empty() {
        body.push(block(text(&m.summary, caps.text)));
    }
    if !m.facts.is_empty() {
        body.push(
            json!({"type": "FactSet", "facts": m.facts.iter().map(fact).collect::<Vec<_>>()}),
        );
    }
    if let Some(rc) = &m.root_cause {
        body.push(heading("Root cause"));
        body.push(block(format!(
            "{} ({})",
            text(&rc.object, chat::IDENT_CHARS),
            rc.class
        )));
        body.push(mono(text(&rc.message, caps.text)));
    }
    if !m.evidence.is_empty() {
        body.push(heading("Evidence"));
        let shown = m.evidence.len().min(caps.list);
        for line in &m.evidence[..shown] {
            body.push(mono(text(line, caps.text.min(400))));
        }
        if let Some(t) = more(m.evidence.len(), shown) {
            body.push(block(t));
        }
    }
    if !m.impacted.is_empty() {
        body.push(heading(&format!("Impacted ({})", m.impacted.len())));
        let shown = m.impacted.len().min(caps.list);
        // One TextBlock per object: markdown lists would let a name start a list item.
        let mut lines: Vec<String> = m.impacted[..shown]
            .iter()
            .map(|o| format!("• {}", text(o, 120)))
            .collect();
        lines.extend(more(m.impacted.len(), shown));
        for l in lines {
            body.push(json!({"type": "TextBlock", "text": l, "wrap": true, "spacing": "none"}));
        }
    }
    if !m.items.is_empty() {
        let shown = m.items.len().min(caps.list);
        for i in &m.items[..shown] {
            let state = if i.status == Status::Resolved {
                "RESOLVED".to_string()
            } else {
                i.severity.as_str().to_uppercase()
            };
            body.push(json!({"type": "Container", "separator": true, "items": [
                {"type": "TextBlock", "text": format!("{state} · {}", text(&i.title, 150)),
                 "weight": "bolder", "wrap": true},
                {"type": "TextBlock", "text": format!("{} · {} · tenant {} · count {}",
                    text(&i.object, 120), text(&i.cluster, 40), text(&i.tenant, 40), i.count),
                 "isSubtle": true, "spacing": "none", "wrap": true},
                {"type": "TextBlock", "text": text(&i.summary, caps.text.min(300)),
                 "spacing": "none", "wrap": true},
            ]}));
        }
        if let Some(t) = more(m.items.len(), shown) {
            body.push(block(t));
        }
    }
    if let Some(d) = &m.detail {
        body.push(mono(text(d, caps.text)));
    }
    if !m.remediation.is_empty() {
        body.push(heading("Remediation"));
        body.push(block(text(&m.remediation, caps.text)));
    }
    body.push(
        json!({"type": "TextBlock", "text": footer(&m.footer), "size": "small",
        "isSubtle": true, "wrap": true, "separator": true}),
    );
    let mut card = json!({
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": text(&m.fallback, 300),
        "msteams": {"width": "Full"},
        "body": body,
    });
    if let Some(url) = &m.runbook_url {
        card["actions"] = json!([{"type": "Action.OpenUrl", "title": "Runbook", "url": url}]);
    }
    card
}

fn footer(f: &Footer) -> String {
    chat::footer_text(f, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_links_and_tags_cannot_be_formed() {
        let t = text(
            "[click](https://evil.example) **b** _i_ <at>x</at> # h `c`",
            200,
        );
        for c in ['[', ']', '*', '_', '<', '>', '#', '`'] {
            assert!(!t.contains(c), "{c} survived: {t}");
        }
        assert!(!t.contains("://"), "{t}");
        assert!(t.contains("click"), "{t}");
    }

    #[test]
    fn text_is_one_line_and_cut() {
        let t = text("a\nb\r\tc", 100);
        assert_eq!(t, "a b  c");
        let t = text(&"x".repeat(50), 10);
        assert_eq!(t.chars().count(), 10);
        assert!(t.ends_with(ELLIPSIS));
    }
}
