//! Slack Block Kit messages for findings, finding groups, digests and audit records.
//!
//! Owns: the message shape (`text` fallback + `blocks`), mrkdwn escaping, and Block Kit
//! limits. What a message says comes from the neutral model (`render::chat`), shared with
//! the Teams and Google Chat renderers. Does not send anything (see `sinks::slack`).
//!
//! Invariants:
//! - every interpolated value goes through [`escape`] (`&` → `&amp;`, `<` → `&lt;`,
//!   `>` → `&gt;`, mass mentions such as `@here` broken with a word joiner), so object
//!   names, log messages, tenants and labels cannot forge links or mentions; the message
//!   itself never emits `<…>` control syntax;
//! - untrusted free text (log lines, object names, labels) sits in code spans/blocks with
//!   backticks replaced, so it cannot close the span or add formatting;
//! - limits hold for any input: ≤ [`MAX_BLOCKS`] blocks, section text ≤
//!   [`MAX_SECTION_CHARS`], ≤ [`MAX_FIELDS`] fields of ≤ [`MAX_FIELD_CHARS`], header ≤
//!   [`MAX_HEADER_CHARS`], block text in total ≤ [`MAX_BLOCK_TEXT_CHARS`], fallback text ≤
//!   [`MAX_TEXT_CHARS`]; longer values are cut with an ellipsis, never inside an entity.

use serde_json::{json, Value};

use super::chat::{self, ChatMessage, Fact, FactValue, Footer, MessageKind};
use crate::classify::redact::redact;
use crate::correlate::Status;
use crate::delivery::digest::Digest;
use crate::delivery::Delivery;
use crate::record::{Severity, TsMs};
use crate::time::format_rfc3339_ms;

/// Blocks per message (Slack: 50).
pub const MAX_BLOCKS: usize = 50;
/// `section.text` (Slack: 3000).
pub const MAX_SECTION_CHARS: usize = 3000;
/// `section.fields` items (Slack: 10).
pub const MAX_FIELDS: usize = 10;
/// Each field's text (Slack: 2000).
pub const MAX_FIELD_CHARS: usize = 2000;
/// `header` plain text (Slack: 150).
pub const MAX_HEADER_CHARS: usize = 150;
/// Total text of all blocks: Slack rejects long messages (`msg_blocks_too_long`) somewhere
/// around 12–13k characters; stay below.
pub const MAX_BLOCK_TEXT_CHARS: usize = 11_000;
/// Fallback `text` (Slack truncates at 40k; notifications show far less).
pub const MAX_TEXT_CHARS: usize = 1_000;
/// Findings listed in a group message; the rest are counted ("…and N more").
pub const MAX_GROUP_FINDINGS: usize = 20;
/// Impacted objects listed in a finding message; the rest are counted.
pub const MAX_IMPACTED: usize = 10;

/// Longest code span (object names, tenants, labels).
const SPAN_CHARS: usize = 200;
/// Longest single log line in a code block.
const LINE_CHARS: usize = 400;
/// Per-finding section of a group message.
const GROUP_ITEM_CHARS: usize = 450;
const ELLIPSIS: char = '…';
/// U+02CB MODIFIER LETTER GRAVE ACCENT, shown in place of input backticks.
const BACKTICK_LOOKALIKE: char = '\u{2CB}';
/// Breaks `@here` and friends without changing what a reader sees.
const WORD_JOINER: char = '\u{2060}';
const MASS_MENTIONS: [&str; 4] = ["here", "channel", "everyone", "group"];

/// The escaped form of one input char (`&`, `<`, `>` as entities).
fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        // No escape exists for a backtick: a look-alike keeps input from opening or
        // closing code formatting.
        '`' => out.push(BACKTICK_LOOKALIKE),
        c => out.push(c),
    }
}

/// Escapes text for mrkdwn (and plain_text, which Slack entity-decodes too), breaking
/// mass mentions and replacing backticks. Secrets are redacted first.
pub fn escape(s: &str) -> String {
    escape_max(s, usize::MAX)
}

/// [`escape`], cut to at most `max` characters with an ellipsis; an entity is never split.
pub fn escape_max(s: &str, max: usize) -> String {
    let s = redact(s);
    // Pieces: the escaped form of each input char (one entity = one piece).
    let mut pieces: Vec<String> = Vec::new();
    for (i, c) in s.char_indices() {
        let mut p = String::new();
        push_escaped(&mut p, c);
        if c == '@' {
            let rest = &s.as_bytes()[i + 1..];
            let mention = MASS_MENTIONS.iter().any(|m| {
                rest.get(..m.len())
                    .is_some_and(|b| b.eq_ignore_ascii_case(m.as_bytes()))
            });
            if mention {
                p.push(WORD_JOINER);
            }
        }
        pieces.push(p);
    }
    let total: usize = pieces.iter().map(|p| p.chars().count()).sum();
    if total <= max {
        return pieces.concat();
    }
    let mut out = String::new();
    let mut n = 0;
    for p in &pieces {
        let len = p.chars().count();
        if n + len + 1 > max {
            break;
        }
        out.push_str(p);
        n += len;
    }
    if max > 0 {
        out.push(ELLIPSIS);
    }
    out
}

/// Look-alikes of mrkdwn's formatting characters (`*bold*`, `_italic_`, `~strike~`),
/// which have no escape.
const FORMAT_LOOKALIKES: [(char, char); 3] = [
    ('*', '\u{2217}'), // ASTERISK OPERATOR
    ('_', '\u{02CD}'), // MODIFIER LETTER LOW MACRON
    ('~', '\u{223C}'), // TILDE OPERATOR
];

/// Prose that may quote tenant text, outside code spans (summary, remediation, titles,
/// the notification `text`): [`escape_max`], control characters as spaces, formatting
/// characters replaced by
/// look-alikes so input cannot bold, italicise or strike, and `://` broken with a word
/// joiner so a quoted URL is not turned into a link. (Slack may still link a bare domain
/// name; untrusted identifiers therefore also appear in code spans, where it never links.)
pub fn prose(s: &str, max: usize) -> String {
    // Redact before the replacements hide the shapes redaction looks for.
    let plain: String = redact(s)
        .chars()
        .map(
            |c| match FORMAT_LOOKALIKES.iter().find(|(from, _)| *from == c) {
                Some((_, to)) => *to,
                None if c.is_control() => ' ',
                None => c,
            },
        )
        .collect();
    let plain = plain.replace("://", ":\u{2060}//");
    escape_max(&plain, max)
}

/// Untrusted text as an inline code span: one line, backticks replaced, escaped, cut.
pub fn code_span(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| match c {
            '`' => BACKTICK_LOOKALIKE,
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    let flat = flat.trim();
    if flat.is_empty() {
        return "-".into();
    }
    format!("`{}`", escape_max(flat, max.saturating_sub(2).max(1)))
}

/// Untrusted lines as a code block (each line cut to `line_max`), at most `max` chars.
pub fn code_block(lines: &[&str], line_max: usize, max: usize) -> String {
    let budget = max.saturating_sub(8);
    let mut body = String::new();
    let mut used = 0;
    for (i, l) in lines.iter().enumerate() {
        let clean: String = l
            .chars()
            .map(|c| match c {
                '`' => BACKTICK_LOOKALIKE,
                '\n' | '\r' | '\t' => ' ',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect();
        let line = escape_max(clean.trim_end(), line_max);
        let len = line.chars().count() + 1;
        if used + len > budget {
            if i > 0 {
                body.push_str(&format!("\n{ELLIPSIS}"));
            } else {
                body.push_str(&escape_max(clean.trim_end(), budget.saturating_sub(1)));
            }
            break;
        }
        if i > 0 {
            body.push('\n');
        }
        body.push_str(&line);
        used += len;
    }
    if body.is_empty() {
        body.push('-');
    }
    format!("```{body}```")
}

fn severity_emoji(s: Severity, status: Status) -> &'static str {
    if status == Status::Resolved {
        return ":white_check_mark:";
    }
    match s {
        Severity::Critical => ":red_circle:",
        Severity::Error => ":large_orange_circle:",
        Severity::Warning => ":large_yellow_circle:",
        Severity::Info => ":large_blue_circle:",
    }
}

/// Collects blocks while keeping every Block Kit limit.
struct Blocks {
    blocks: Vec<Value>,
    chars: usize,
}

impl Blocks {
    fn new() -> Self {
        Blocks {
            blocks: Vec::new(),
            chars: 0,
        }
    }

    /// Room left for text, keeping `reserve` chars and one block for a closing context.
    fn fits(&self, len: usize, reserve: usize) -> bool {
        self.blocks.len() + 2 <= MAX_BLOCKS && self.chars + len + reserve <= MAX_BLOCK_TEXT_CHARS
    }

    fn header(&mut self, raw: &str) {
        let text = escape_max(raw, MAX_HEADER_CHARS);
        self.chars += text.chars().count();
        self.blocks.push(json!({"type": "header",
            "text": {"type": "plain_text", "text": text, "emoji": true}}));
    }

    /// Adds a section of already-escaped mrkdwn if it fits; returns whether it did.
    fn section(&mut self, text: String, reserve: usize) -> bool {
        let text = clip(text, MAX_SECTION_CHARS);
        let len = text.chars().count();
        if !self.fits(len, reserve) {
            return false;
        }
        self.chars += len;
        self.blocks
            .push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
        true
    }

    fn fields(&mut self, fields: Vec<String>) {
        let fields: Vec<String> = fields
            .into_iter()
            .take(MAX_FIELDS)
            .map(|f| clip(f, MAX_FIELD_CHARS))
            .collect();
        let len: usize = fields.iter().map(|f| f.chars().count()).sum();
        if fields.is_empty() || !self.fits(len, 0) {
            return;
        }
        self.chars += len;
        let fields: Vec<Value> = fields
            .into_iter()
            .map(|t| json!({"type": "mrkdwn", "text": t}))
            .collect();
        self.blocks
            .push(json!({"type": "section", "fields": fields}));
    }

    /// A context line; always fits (the other builders keep one block and some text
    /// free for it).
    fn context(&mut self, text: String) {
        let room = MAX_BLOCK_TEXT_CHARS.saturating_sub(self.chars).min(300);
        let text = clip(text, room.max(1));
        if self.blocks.len() >= MAX_BLOCKS {
            return;
        }
        self.chars += text.chars().count();
        self.blocks.push(json!({"type": "context",
            "elements": [{"type": "mrkdwn", "text": text}]}));
    }
}

/// Safety net for already-escaped mrkdwn: cuts to `max` chars without splitting an
/// entity or leaving a code span/block open.
fn clip(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut cut: String = s.chars().take(max.saturating_sub(4)).collect();
    if let Some(amp) = cut.rfind('&') {
        if !cut[amp..].contains(';') {
            cut.truncate(amp);
        }
    }
    let ticks = cut.matches('`').count();
    cut.push(ELLIPSIS);
    if ticks % 2 == 1 {
        cut.push('`');
    }
    cut
}

/// The Slack message (`text` + `blocks`) of a delivery, rendered from the neutral
/// [`chat::ChatMessage`].
pub fn message(d: &Delivery) -> Value {
    match d {
        // Slack's digest has its own layout (count fields, top findings as sections).
        Delivery::Digest(dg) => digest_message(dg),
        _ => render(&chat::message(d)),
    }
}

/// What a threaded reply is about: the finding's title and object, or a group's labels.
fn reply_subject(d: &Delivery) -> (String, String, TsMs) {
    match d {
        Delivery::Finding(f) => (
            format!("{} on {}", f.title, chat::object(&f.subject)),
            f.summary.clone(),
            f.last_seen,
        ),
        Delivery::Group(g) => {
            let labels: Vec<&str> = g.labels.values().map(String::as_str).collect();
            let what = if labels.is_empty() {
                g.route.clone()
            } else {
                labels.join(", ")
            };
            let firing = g
                .findings
                .iter()
                .filter(|f| f.status == Status::Firing)
                .count();
            let last = g.findings.iter().map(|f| f.last_seen).max().unwrap_or(0);
            (
                what,
                format!("{firing} of {} findings firing", g.findings.len()),
                last,
            )
        }
        Delivery::Digest(dg) => (
            format!("digest of route {}", dg.route),
            format!("{} findings, {} firing", dg.total + dg.not_held, dg.firing),
            dg.window_end,
        ),
        Delivery::Audit(a) => (chat::object(&a.subject), a.message.clone(), a.ts),
        Delivery::Signal(s) => (s.cluster.clone(), String::new(), s.t),
    }
}

/// A short threaded reply: `headline` (trusted text of ours) about the delivery's subject.
fn reply(emoji: &str, headline: &str, d: &Delivery) -> Value {
    let (subject, detail, at) = reply_subject(d);
    let mut b = Blocks::new();
    b.section(
        format!(
            "{emoji} *{headline}*: {}\n{}",
            prose(&subject, 300),
            prose(&detail, 1500)
        ),
        200,
    );
    b.context(format_rfc3339_ms(at));
    json!({
        "text": prose(&format!("{headline}: {subject}"), MAX_TEXT_CHARS),
        "blocks": b.blocks,
    })
}

/// Threaded reply of an incident whose severity rose since it was last notified.
pub fn severity_reply(d: &Delivery, from: Severity, to: Severity) -> Value {
    let headline = format!("Severity rose from {} to {}", from.as_str(), to.as_str());
    reply(severity_emoji(to, Status::Firing), &headline, d)
}

/// Threaded reply of an incident whose blast radius grew since it was last notified.
pub fn growth_reply(d: &Delivery, from: usize, to: usize) -> Value {
    let headline = format!("Blast radius grew from {from} to {to} impacted");
    reply(":chart_with_upwards_trend:", &headline, d)
}

/// Threaded reply of a resolved incident (its message's header is edited to "Resolved").
pub fn resolution_reply(d: &Delivery) -> Value {
    reply(
        severity_emoji(Severity::Info, Status::Resolved),
        "Resolved",
        d,
    )
}

/// The Slack message of a neutral chat message. Slack shows no runbook button (its
/// incoming-webhook messages have kept this exact shape since the first release).
pub fn render(m: &ChatMessage) -> Value {
    let mut b = Blocks::new();
    match m.kind {
        MessageKind::Finding => finding_blocks(&mut b, m),
        MessageKind::Group => group_blocks(&mut b, m),
        MessageKind::Audit => audit_blocks(&mut b, m),
    }
    json!({"text": prose(&m.fallback, MAX_TEXT_CHARS), "blocks": b.blocks})
}

/// One field of a `fields` section: `*Label*` over the value.
fn field(f: &Fact) -> String {
    let value = match &f.value {
        FactValue::Ident { text, max } => code_span(text, *max),
        FactValue::Severity(s, status) => {
            format!("{} {}", severity_emoji(*s, *status), s.as_str())
        }
        FactValue::Plain(t) => t.clone(),
    };
    format!("*{}*\n{value}", escape_max(&f.label, 100))
}

fn finding_blocks(b: &mut Blocks, m: &ChatMessage) {
    let prefix = if m.status == Some(Status::Resolved) {
        "Resolved: "
    } else {
        ""
    };
    b.header(&format!("{prefix}{}", m.title));
    b.fields(m.facts.iter().map(field).collect());
    b.section(prose(&m.summary, 1500), 400);
    if let Some(rc) = &m.root_cause {
        b.section(
            format!(
                "*Root cause* {} ({})\n{}",
                code_span(&rc.object, SPAN_CHARS),
                rc.class,
                code_block(&[rc.message.as_str()], 1200, 1300)
            ),
            400,
        );
    }
    if !m.evidence.is_empty() {
        let lines: Vec<&str> = m.evidence.iter().map(String::as_str).collect();
        b.section(
            format!("*Evidence*\n{}", code_block(&lines, LINE_CHARS, 2000)),
            400,
        );
    }
    if !m.impacted.is_empty() {
        let names: Vec<String> = m
            .impacted
            .iter()
            .take(MAX_IMPACTED)
            .map(|o| code_span(o, 120))
            .collect();
        let more = m.impacted.len().saturating_sub(names.len());
        let tail = if more > 0 {
            format!(" {ELLIPSIS}and {more} more")
        } else {
            String::new()
        };
        b.section(format!("*Impacted*\n{}{tail}", names.join(" ")), 400);
    }
    if !m.remediation.is_empty() {
        b.section(
            format!("*Remediation*\n{}", prose(&m.remediation, 1500)),
            300,
        );
    }
    b.context(footer(&m.footer, ""));
}

/// The context line closing a message; `tail` precedes it ("…and N more · ").
fn footer(f: &Footer, tail: &str) -> String {
    match f {
        Footer::Finding {
            id,
            last_seen,
            labels,
        } => {
            let labels: Vec<String> = labels
                .iter()
                .take(8)
                .map(|(k, v)| code_span(&format!("{k}={v}"), 80))
                .collect();
            format!(
                "{tail}finding {} · {}{}",
                code_span(id, 80),
                format_rfc3339_ms(*last_seen),
                if labels.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", labels.join(" "))
                }
            )
        }
        Footer::Group { route, key } => format!(
            "{tail}route {} · group {}",
            code_span(route, 60),
            code_span(key, 80)
        ),
        Footer::Audit { action, ts } => {
            format!("{tail}{} · {}", escape(action), format_rfc3339_ms(*ts))
        }
    }
}

fn group_blocks(b: &mut Blocks, m: &ChatMessage) {
    b.header(&m.title);
    b.fields(m.facts.iter().map(field).collect());
    let mut shown = 0;
    for f in m.items.iter().take(MAX_GROUP_FINDINGS) {
        let text = clip(
            format!(
                "{} *{}* {}\n{} · {} · tenant {} · count {} · {}\n{}",
                severity_emoji(f.severity, f.status),
                f.severity.as_str(),
                prose(&f.title, 150),
                code_span(&f.object, 120),
                code_span(&f.cluster, 40),
                code_span(&f.tenant, 40),
                f.count,
                f.status.as_str(),
                prose(&f.summary, 150),
            ),
            GROUP_ITEM_CHARS,
        );
        if !b.section(text, 200) {
            break;
        }
        shown += 1;
    }
    let more = m.items.len() - shown;
    let tail = if more > 0 {
        format!("{ELLIPSIS}and {more} more · ")
    } else {
        String::new()
    };
    b.context(footer(&m.footer, &tail));
}

/// Rows of a digest's count lists (patterns, tenants).
const DIGEST_COUNT_ROWS: usize = 10;

/// `` `a` ×3, `b` ×1, …and 4 more `` from ranked counts.
fn count_list(counts: &std::collections::BTreeMap<String, usize>) -> String {
    let ranked = Digest::ranked(counts);
    let mut parts: Vec<String> = ranked
        .iter()
        .take(DIGEST_COUNT_ROWS)
        .map(|(k, n)| format!("{} ×{n}", code_span(k, 60)))
        .collect();
    if ranked.len() > DIGEST_COUNT_ROWS {
        parts.push(format!(
            "{ELLIPSIS}and {} more",
            ranked.len() - DIGEST_COUNT_ROWS
        ));
    }
    parts.join("\n")
}

/// The one message for a storm of findings: counts by pattern and tenant, the top
/// findings, and where to see the rest.
fn digest_message(d: &Digest) -> Value {
    let mut b = Blocks::new();
    let span = (d.window_end - d.window_start).max(0) / 1000;
    // Findings beyond the window's cap are only counted.
    let total = d.total + d.not_held;
    b.header(&format!(
        "{total} findings in {span}s: {} firing, {} resolved",
        d.firing, d.resolved
    ));
    b.fields(vec![
        format!("*By pattern*\n{}", count_list(&d.by_pattern)),
        format!("*By tenant*\n{}", count_list(&d.by_tenant)),
        format!(
            "*Worst severity*\n{}",
            d.worst.map(|s| s.as_str()).unwrap_or("resolved")
        ),
        format!("*Cluster*\n{}", count_list(&d.by_cluster)),
    ]);
    b.section(format!("*Top {} of {total}*", d.top.len()), 400);
    for f in &d.top {
        let text = clip(
            format!(
                "{} *{}* {}\n{} · tenant {} · {}",
                severity_emoji(f.severity, f.status),
                f.severity.as_str(),
                prose(&f.title, 150),
                code_span(&chat::object(&f.subject), 120),
                code_span(&f.tenant, 40),
                f.status.as_str(),
            ),
            GROUP_ITEM_CHARS,
        );
        if !b.section(text, 300) {
            break;
        }
    }
    b.context(format!(
        "{} more not shown · {} · route {} · {} to {}",
        total - d.top.len(),
        code_span(&d.see_rest, 200),
        code_span(&d.route, 60),
        format_rfc3339_ms(d.window_start),
        format_rfc3339_ms(d.window_end)
    ));
    let patterns: Vec<String> = Digest::ranked(&d.by_pattern)
        .iter()
        .take(3)
        .map(|(p, n)| format!("{p} {n}"))
        .collect();
    let text = format!(
        "[{}] digest: {total} findings ({} firing): {}",
        d.worst
            .map(|s| s.as_str())
            .unwrap_or("resolved")
            .to_uppercase(),
        d.firing,
        patterns.join(", ")
    );
    json!({"text": prose(&text, MAX_TEXT_CHARS), "blocks": b.blocks})
}

fn audit_blocks(b: &mut Blocks, m: &ChatMessage) {
    b.header(&m.title);
    b.fields(m.facts.iter().map(field).collect());
    if let Some(detail) = &m.detail {
        b.section(code_block(&[detail.as_str()], 1500, 1600), 200);
    }
    b.context(footer(&m.footer, ""));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::Finding;
    use crate::correlate::PatternId;
    use crate::record::ObjectRef;

    #[test]
    fn escapes_the_three_characters_and_mentions() {
        assert_eq!(escape("a & <b> c"), "a &amp; &lt;b&gt; c");
        assert_eq!(escape("<!channel> x"), "&lt;!channel&gt; x");
        let e = escape("hi @here and @Channel, mail@example.com");
        assert!(
            !e.contains("@here") && !e.to_lowercase().contains("@channel"),
            "{e}"
        );
        assert!(e.contains("mail@example.com"));
    }

    #[test]
    fn truncation_never_splits_an_entity() {
        for max in 1..40 {
            let e = escape_max("<<<<<<<<<<&&&&&&&&&&>>>>>>>>>>", max);
            assert!(e.chars().count() <= max, "{max}: {e}");
            let body = e.trim_end_matches(ELLIPSIS);
            let stripped = body
                .replace("&lt;", "")
                .replace("&gt;", "")
                .replace("&amp;", "");
            assert!(stripped.is_empty(), "{max}: {e}");
        }
    }

    #[test]
    fn code_spans_cannot_be_closed() {
        let s = code_span("a`b``c\nd", 100);
        assert_eq!(s.matches('`').count(), 2, "{s}");
        let b = code_block(&["x```y", "z"], 100, 100);
        assert!(b.starts_with("```") && b.ends_with("```"));
        assert_eq!(b.matches('`').count(), 6, "{b}");
    }

    #[test]
    fn clip_keeps_spans_closed() {
        let s = format!("`{}`", "a".repeat(100));
        let c = clip(s, 50);
        assert!(c.chars().count() <= 50, "{c}");
        assert_eq!(c.matches('`').count() % 2, 0, "{c}");
    }

    #[test]
    fn digest_keeps_limits_and_escapes_hostile_names() {
        use crate::correlate::finding::finding_id;
        let findings: Vec<Finding> = (0..300)
            .map(|i| {
                let subject = ObjectRef::new("Kustomization", "ns", format!("<!here> app-{i}"));
                let pattern = if i % 2 == 0 {
                    PatternId::BuildFailure
                } else {
                    PatternId::DriftDetected
                };
                Finding {
                    id: finding_id(PatternId::BuildFailure.as_str(), &subject),
                    title: format!("*bold* <@channel> {}", "x".repeat(400)),
                    tenant: format!("<tenant-{}>`", i % 40),
                    ..Finding::example(pattern, subject)
                }
            })
            .collect();
        let d = Digest::new("default", (0, 30_000), &findings, "fluxsight replay …");
        let m = message(&Delivery::Digest(Box::new(d)));
        let blocks = m["blocks"].as_array().unwrap();
        assert!(blocks.len() <= MAX_BLOCKS);
        let all = m.to_string();
        assert!(
            !all.contains("<!here>") && !all.contains("<tenant"),
            "{all}"
        );
        assert!(all.contains("300 findings in 30s"), "{all}");
        assert!(all.contains("×150"), "{all}");
        // 40 tenants: the first rows and the rest counted.
        assert!(all.contains("and 30 more"), "{all}");
    }
}
