//! Parsing: bytes of one input line → typed [`Record`]s.
//!
//! Owns: envelope removal, format detection and one parser per input form
//! (contracts.md §1). Pure and synchronous: no tokio, no clock, no I/O. nom stays inside
//! this module.
//!
//! Invariant: [`LineDecoder::decode`] never panics and returns at least one record for
//! every input line (bad input becomes a `text` record), so no line is ever lost.
//!
//! Layout: `envelope` (kubectl/CRI/docker wrappers), `export` (log-store exports: Cloud
//! Logging, Loki, Elasticsearch, CloudWatch, Datadog; layers of `envelope`), `zap` (JSON,
//! all layouts since 2020), `console` (zap console), `klog`, `logfmt`, `flux_cli`, `k8s`
//! (Events, objects, Pods, watch events, Lists, Flux event payloads), `metric`
//! (Prometheus samples), `text` (bare text), `message` (facts inside message text:
//! durations, revisions, object references, controller names), `time`.

pub mod block;
pub mod console;
pub mod envelope;
pub mod export;
pub mod flux_cli;
pub mod flux_progress;
pub mod k8s;
pub mod klog;
pub mod logfmt;
pub mod message;
pub mod metric;
pub mod text;
pub mod time;
pub mod zap;

use crate::record::{Format, Record, TsMs};

/// Longest line parsed as structured input; longer lines are truncated to this length
/// and classified as text (contracts.md §1.4).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Deepest JSON nesting accepted before a line is treated as text.
pub const MAX_JSON_DEPTH: usize = 64;

/// Why a parser refused a line; the decoder then tries the next form.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("not this format")]
    NotThisFormat,
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("line longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
}

/// What the parsers may know about a line beyond its bytes.
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    /// Controller named by the file name (`source-controller.log`) or the source.
    pub controller_hint: Option<String>,
    /// Year for formats that print none (klog); the decoder keeps it current.
    pub year_hint: Option<i64>,
}

/// Per-input stateful decoder: removes envelopes, joins CRI partial chunks, keeps the
/// year hint, dispatches to the parsers and fills record facts from the envelope.
#[derive(Debug, Default)]
pub struct LineDecoder {
    ctx: ParseContext,
    /// Text of CRI `P` chunks waiting for their `F` line.
    partial: Vec<u8>,
    stats: DecodeStats,
    /// The multi-line form being assembled (a document, table or describe block).
    block: Option<Box<dyn block::Block>>,
    /// What earlier lines said that later ones need (the last command line).
    block_ctx: block::Context,
    /// The object earlier Flux CLI progress lines (`►`, `◎`) named.
    progress: flux_progress::ProgressState,
    /// A line was read while no year was known yet (a klog line before any dated
    /// record): its time would differ had the decoder started with a year.
    read_without_year: bool,
}

/// Counters a decoder keeps (exported as metrics by live sources).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DecodeStats {
    pub lines: u64,
    pub structured: u64,
    pub text: u64,
    pub malformed: u64,
    pub truncated: u64,
    pub invalid_utf8: u64,
}

impl LineDecoder {
    pub fn new(controller_hint: Option<String>) -> Self {
        LineDecoder {
            ctx: ParseContext {
                controller_hint,
                year_hint: None,
            },
            ..Default::default()
        }
    }

    /// A decoder that continues an input after its first `lines_before` lines, as a
    /// fresh decoder would (see [`LineDecoder::continues_as_fresh`]): line numbers (and so
    /// `at_line` / `carrier_line`) count from there.
    pub fn starting_after(controller_hint: Option<String>, lines_before: u64) -> Self {
        let mut d = LineDecoder::new(controller_hint);
        d.stats.lines = lines_before;
        d
    }

    /// True when decoding the lines that follow gives the same records from `self` as
    /// from a fresh decoder (`starting_after`) whose own run read a line without a year
    /// only when `later_read_without_year`: no CRI partial, multi-line form, command-line
    /// context or progress object is pending, and no year is carried that the later run
    /// would have needed. What lets an input be decoded in chunks on several threads and
    /// stay identical to one decoder reading it whole.
    pub fn continues_as_fresh(&self, later_read_without_year: bool) -> bool {
        self.partial.is_empty()
            && self.block.is_none()
            && self.block_ctx.command.is_none()
            && self.progress == flux_progress::ProgressState::default()
            && !(later_read_without_year && self.ctx.year_hint.is_some())
    }

    /// Whether a line was read while no year was known (see `continues_as_fresh`).
    pub fn read_without_year(&self) -> bool {
        self.read_without_year
    }

    /// Takes over the year a decoder that ran before this one ended with, when this one
    /// has seen none itself, and adds its counters: `self` then stands where one decoder
    /// reading both runs would.
    pub fn follow(&mut self, before: &LineDecoder) {
        if self.ctx.year_hint.is_none() {
            self.ctx.year_hint = before.ctx.year_hint;
        }
        let (a, b) = (&mut self.stats, before.stats);
        a.structured += b.structured;
        a.text += b.text;
        a.malformed += b.malformed;
        a.truncated += b.truncated;
        a.invalid_utf8 += b.invalid_utf8;
    }

    pub fn stats(&self) -> DecodeStats {
        self.stats
    }

    /// Decodes one line (without its trailing newline). Returns one record per line,
    /// or several for a `List` document. Lines of a multi-line form (a document, a
    /// table row, a describe block) return a `continuation` record, and the form's
    /// records arrive with the line that completes it, `at_line` naming the line they
    /// belong to.
    pub fn decode(&mut self, raw: &[u8]) -> Vec<Record> {
        self.stats.lines += 1;
        let no = self.stats.lines;
        let mut raw = raw;
        while let [rest @ .., b'\r' | b'\n'] = raw {
            raw = rest;
        }
        let truncated = raw.len() > MAX_LINE_BYTES;
        if truncated {
            self.stats.truncated += 1;
            raw = &raw[..MAX_LINE_BYTES];
        }
        let stripped = envelope::strip(raw);
        if stripped.partial {
            self.partial.extend_from_slice(&stripped.inner);
            if self.partial.len() > MAX_LINE_BYTES {
                self.partial.truncate(MAX_LINE_BYTES);
            }
            let mut rec = Record {
                format: Format::Partial,
                envelope: stripped.envelope,
                ts: stripped.ts,
                ..Default::default()
            };
            self.apply_envelope_facts(&mut rec, &stripped);
            return vec![rec];
        }
        let joined;
        let inner: &[u8] = if self.partial.is_empty() {
            &stripped.inner
        } else {
            self.partial.extend_from_slice(&stripped.inner);
            joined = std::mem::take(&mut self.partial);
            &joined
        };
        let text = match std::str::from_utf8(inner) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => {
                self.stats.invalid_utf8 += 1;
                String::from_utf8_lossy(inner)
            }
        };
        // Lines copied from a rendered web page (an issue thread, a wiki) carry HTML
        // entities where the controller printed quotes.
        let text = match unescape_html(&text) {
            Some(t) => std::borrow::Cow::Owned(t),
            None => text,
        };
        let mut recs = if truncated {
            vec![text::parse(&text, &self.ctx)]
        } else {
            self.parse_inner(&text, no)
        };
        if self.ctx.year_hint.is_none() && recs.iter().any(|r| r.format == Format::Klog) {
            self.read_without_year = true;
        }
        for rec in &mut recs {
            rec.envelope = stripped.envelope.or(rec.envelope);
            if rec.ts.is_none() && rec.at_line.is_none() {
                rec.ts = stripped.ts;
            }
            self.apply_envelope_facts(rec, &stripped);
            self.complete(rec);
        }
        if let Some(ts) = recs.iter().filter_map(|r| r.ts).next_back() {
            self.ctx.year_hint = Some(time::year_of(ts));
        }
        recs
    }

    /// The input ended: returns the records of a multi-line form still being
    /// assembled (a document cut off at the end of a file, the last table row).
    pub fn finish(&mut self) -> Vec<Record> {
        let mut out = Vec::new();
        if let Some(mut b) = self.block.take() {
            b.finish(&self.block_ctx, &mut out);
        }
        for rec in &mut out {
            self.complete(rec);
        }
        out
    }

    /// First line whose records are still being assembled: a caller that prints one
    /// row per line in order holds rows from this line on.
    pub fn held_from(&self) -> Option<u64> {
        self.block.as_ref().and_then(|b| b.held_from())
    }

    /// Facts every record gets whatever its form: message facts, the controller hint,
    /// counters.
    fn complete(&mut self, rec: &mut Record) {
        if rec.format == Format::Continuation {
            return;
        }
        message::enrich(rec);
        if rec.controller.is_none() {
            rec.controller = self.ctx.controller_hint.clone();
        }
        match rec.format {
            Format::Text | Format::Blank => self.stats.text += 1,
            _ => self.stats.structured += 1,
        }
    }

    fn apply_envelope_facts(&self, rec: &mut Record, s: &envelope::Stripped<'_>) {
        if let Some(pod) = &s.pod {
            if let Some(c) = message::controller_from_pod(pod) {
                rec.controller = Some(c.to_string());
            }
            if rec.pod.is_none() {
                rec.pod = Some(pod.clone());
            }
        }
    }

    /// Offers an envelope-free line to the multi-line form being assembled, then to
    /// the forms that start on it.
    fn parse_inner(&mut self, line: &str, no: u64) -> Vec<Record> {
        let mut out = Vec::new();
        if let Some(b) = self.block.take() {
            if self.feed_block(b, line, no, &mut out) {
                return out;
            }
        }
        if !line.trim().is_empty() {
            if let Some(b) = block::start(line, no, &self.block_ctx) {
                if self.feed_block(b, line, no, &mut out) {
                    return out;
                }
            }
        }
        out.extend(self.parse_line_form(line));
        out
    }

    /// Feeds `line` to `b`; true when the block took it (the line's record is in
    /// `out`). An unfinished block is kept for the next line.
    fn feed_block(
        &mut self,
        mut b: Box<dyn block::Block>,
        line: &str,
        no: u64,
        out: &mut Vec<Record>,
    ) -> bool {
        match b.feed(line, no, &self.block_ctx, out) {
            block::Step::Took { carrier, done } => {
                if let Some(c) = carrier {
                    out.push(block::continuation(c));
                }
                if !done {
                    self.block = Some(b);
                }
                true
            }
            block::Step::Ended => false,
        }
    }

    /// Detects the form of a one-line record and parses it.
    fn parse_line_form(&mut self, line: &str) -> Vec<Record> {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return vec![Record {
                format: Format::Blank,
                ..Default::default()
            }];
        }
        let attempt = if trimmed.starts_with('{') {
            parse_json_line(trimmed, &self.ctx)
        } else if let Some(cmd) = block::command::parse(trimmed) {
            self.block_ctx.command = Some(cmd);
            // A new command's progress output names its own objects.
            self.progress = flux_progress::ProgressState::default();
            return vec![Record {
                format: Format::Command,
                msg: trimmed.to_string(),
                ..Default::default()
            }];
        } else if let Ok(r) = flux_progress::parse(trimmed, &mut self.progress) {
            Ok(vec![r])
        } else if let Some(r) = block::describe::lone_event_row(trimmed) {
            Ok(vec![r])
        } else {
            parse_text_forms(trimmed, &self.ctx)
        };
        match attempt {
            Ok(recs) if !recs.is_empty() => recs,
            Ok(_) => vec![text::parse(trimmed, &self.ctx)],
            Err(e) => {
                if matches!(e, ParseError::Malformed(_)) {
                    self.stats.malformed += 1;
                }
                vec![text::parse(trimmed, &self.ctx)]
            }
        }
    }
}

/// A JSON document: zap log line, Kubernetes object/event/watch event/List, or Flux
/// event payload.
fn parse_json_line(line: &str, ctx: &ParseContext) -> Result<Vec<Record>, ParseError> {
    if json_depth_exceeds(line.as_bytes(), MAX_JSON_DEPTH) {
        return Err(ParseError::Malformed("json nesting too deep"));
    }
    // zap log lines (most JSON lines) go straight into `LogFields` without a `Value` tree;
    // documents that may be Kubernetes ones take the `Value` path below.
    if !zap::may_be_k8s(line) {
        // matched whole, not through `?`: that would copy the record once more
        match zap::parse_line(line) {
            Ok(zap::Line::Record(r)) => return Ok(vec![r]),
            Ok(zap::Line::NotLogLine) => return Err(ParseError::NotThisFormat),
            Ok(zap::Line::MayBeKubernetes) => {}
            Err(e) => return Err(e),
        }
    }
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|_| ParseError::Malformed("json"))?;
    let obj = value.as_object().ok_or(ParseError::NotThisFormat)?;
    if k8s::looks_like(obj) {
        return k8s::from_json(obj, ctx);
    }
    zap::from_json(obj, ctx).map(|r| vec![r])
}

/// The signature every text-form parser shares.
type TextParser = fn(&str, &ParseContext) -> Result<Record, ParseError>;

/// Non-JSON structured forms, most specific first.
fn parse_text_forms(line: &str, ctx: &ParseContext) -> Result<Vec<Record>, ParseError> {
    let parsers: [TextParser; 5] = [
        klog::parse,
        console::parse,
        flux_cli::parse,
        metric::parse,
        logfmt::parse,
    ];
    for p in parsers {
        match p(line, ctx) {
            Ok(r) => return Ok(vec![r]),
            Err(ParseError::NotThisFormat) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ParseError::NotThisFormat)
}

/// Where a JSON scan is relative to strings: the one place that knows how quotes and
/// escapes nest, for every bracket count over JSON text (depth limit, multi-line
/// documents, closing a cut-off document).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct JsonStrings {
    pub in_str: bool,
    esc: bool,
}

impl JsonStrings {
    /// Feeds one byte; returns it when it is structural (outside a string), `None`
    /// inside strings and for the quotes themselves.
    #[inline]
    pub fn structural(&mut self, c: u8) -> Option<u8> {
        if self.in_str {
            if self.esc {
                self.esc = false;
            } else if c == b'\\' {
                self.esc = true;
            } else if c == b'"' {
                self.in_str = false;
            }
            return None;
        }
        if c == b'"' {
            self.in_str = true;
            return None;
        }
        Some(c)
    }
}

/// True when brackets nest deeper than `max` (strings are skipped). serde_json itself
/// stops at 128; checking first keeps deep garbage cheap.
pub fn json_depth_exceeds(b: &[u8], max: usize) -> bool {
    // Depth can only exceed `max` with more than `max` opening brackets: count them
    // with the SIMD searcher first and run the exact scan only for bracket-heavy lines.
    if memchr::memchr2_iter(b'{', b'[', b).nth(max).is_none() {
        return false;
    }
    let mut depth = 0usize;
    let mut strings = JsonStrings::default();
    for &c in b {
        match strings.structural(c) {
            Some(b'{' | b'[') => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            Some(b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// HTML entities a web page puts where a log line had quotes and brackets.
const HTML_ENTITIES: [(&str, &str); 8] = [
    ("&#39;", "'"),
    ("&#x27;", "'"),
    ("&apos;", "'"),
    ("&#34;", "\""),
    ("&quot;", "\""),
    ("&lt;", "<"),
    ("&gt;", ">"),
    ("&amp;", "&"),
];

/// `s` with HTML entities replaced, or `None` when it has none (the common case costs
/// one `memchr`).
fn unescape_html(s: &str) -> Option<String> {
    memchr::memchr(b'&', s.as_bytes())?;
    if !HTML_ENTITIES.iter().any(|(e, _)| s.contains(e)) {
        return None;
    }
    let mut out = s.to_string();
    // `&amp;` last, so `&amp;quot;` becomes `&quot;` and not a quote.
    for (e, c) in HTML_ENTITIES {
        if out.contains(e) {
            out = out.replace(e, c);
        }
    }
    Some(out)
}

/// Controller hint from a file or pod name such as `source-controller.log` or
/// `kustomize-controller-6c9b8d7f5-abcde.log`, for [`LineDecoder::new`].
pub fn controller_hint_from_path(path: &str) -> Option<String> {
    let base = path.rsplit('/').next().unwrap_or(path);
    message::controller_in_text(base).map(str::to_string)
}

/// Convenience for tests and one-shot callers: decode a single line with a fresh decoder.
pub fn parse_line(line: &[u8]) -> Vec<Record> {
    LineDecoder::new(None).decode(line)
}

/// Timestamp of the record, falling back to `last` (replay clock rule, contracts.md §3).
pub fn ts_or(rec: &Record, last: Option<TsMs>) -> Option<TsMs> {
    rec.ts.or(last)
}
