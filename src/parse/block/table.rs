//! Tables people paste: `kubectl get <kind>` / `flux get <kind>|all`, `kubectl get pods`,
//! `kubectl get events` / `kubectl events` / `flux events`, each row read as the object,
//! Pod or Event it stands for through the same `k8s` builders as their JSON forms.
//!
//! Owns: recognising a header, splitting rows into cells by the header's columns, wrapped
//! message lines, and the JSON document each row shows (never more than the row shows).
//! Does not own: what a document means (`k8s`), classification, command lines (`command`).
//!
//! Grammar (columns are located by the header, not by the row's own spacing):
//! ```text
//! header  = first *(gap column)              -- all upper case, NAME or LAST SEEN present
//! first   = "NAMESPACE" | "NAME" | "LAST SEEN"
//! column  = word | two-word name             -- "LAST SEEN", "FIRST SEEN", "SOURCE KIND", …
//! gap     = 1*(SP | TAB)
//! row     = cell *(gap cell)                 -- first cell never empty
//! cell    = text under one header column; the last column takes the rest of the line
//! wrapped = gap text                         -- first column empty: continues the message
//! ```
//! Cells are found by the header's column starts counted in chars (tabwriter pads by rune
//! count), each word of a row snapping to the nearest column start, so ragged alignment and
//! empty cells survive; a row with tabs is split at its tabs (`flux get` pads, then tabs).
//! When the positions make no valid row, whitespace splitting with the last column taking
//! the rest is tried. A row is valid when its typed cells read as their column (READY
//! `True|False|Unknown|n/m`, SUSPENDED `True|False`, counts are numbers, names have no
//! spaces or upper case); a line that is no valid row and no wrapped text ends the table,
//! as do a blank line and a command line. A new header starts a new table (`flux get all`).
//!
//! Records: a header line yields `table_header`; a row yields `table` (objects, Pods) or
//! `events_table` once the next line shows it does not wrap; a wrapped line yields a
//! `continuation` pointing at its row and its text is appended to the row's message.
//!
//! Invariants: a row holds at most [`MAX_BLOCK_BYTES`] of message; a table takes at most
//! [`MAX_BLOCK_LINES`] lines. Rows without a header above them are never tables.

use serde_json::{json, Map, Value};

use super::command::{self, resource_kind};
use super::{attribute, Block, Context, Step, MAX_BLOCK_BYTES, MAX_BLOCK_LINES};
use crate::parse::{k8s, ParseContext};
use crate::record::{Detail, Format, Record};

/// Header names the builders read.
mod col {
    pub const NAMESPACE: &str = "NAMESPACE";
    pub const NAME: &str = "NAME";
    pub const READY: &str = "READY";
    pub const STATUS: &str = "STATUS";
    pub const MESSAGE: &str = "MESSAGE";
    pub const REVISION: &str = "REVISION";
    pub const SUSPENDED: &str = "SUSPENDED";
    pub const RESTARTS: &str = "RESTARTS";
    pub const AGE: &str = "AGE";
    pub const LAST_SEEN: &str = "LAST SEEN";
    pub const FIRST_SEEN: &str = "FIRST SEEN";
    pub const TYPE: &str = "TYPE";
    pub const REASON: &str = "REASON";
    pub const OBJECT: &str = "OBJECT";
    pub const SOURCE: &str = "SOURCE";
    pub const COUNT: &str = "COUNT";
    pub const LATEST_IMAGE: &str = "LATEST IMAGE";
}

/// Column names of two words (one space inside, wider gaps between columns).
const TWO_WORD_COLUMNS: [&str; 9] = [
    col::LAST_SEEN,
    col::FIRST_SEEN,
    col::LATEST_IMAGE,
    "LAST SCAN",
    "LAST RUN",
    "SOURCE KIND",
    "SOURCE NAME",
    "NOMINATED NODE",
    "READINESS GATES",
];

/// Most columns a header may have (kubectl's widest tables have about a dozen).
const MAX_COLUMNS: usize = 32;

const TRUE: &str = "True";
const FALSE: &str = "False";
/// Condition values `flux get` and `kubectl get` print under READY.
const CONDITION_STATUSES: [&str; 3] = [TRUE, FALSE, "Unknown"];
const POD_KIND: &str = "Pod";
const READY_CONDITION: &str = "Ready";

/// Flux source kinds: their REVISION is the artifact's, not an applied one.
const SOURCE_KINDS: [&str; 5] = [
    "GitRepository",
    "OCIRepository",
    "HelmRepository",
    "HelmChart",
    "Bucket",
];

/// Pod phases kubectl prints as a Pod's STATUS.
const POD_PHASES: [&str; 5] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];
/// Container terminated reasons kubectl prints as a Pod's STATUS.
const TERMINATED_REASONS: [&str; 6] = [
    "OOMKilled",
    "Error",
    "Completed",
    "ContainerCannotRun",
    "DeadlineExceeded",
    "StartError",
];
/// Pod `status.reason` values kubectl prints as a Pod's STATUS.
const POD_REASONS: [&str; 3] = ["Evicted", "NodeLost", "Shutdown"];

/// Starts a table at a header line.
pub fn start(line: &str, _no: u64, ctx: &Context) -> Option<Box<dyn Block>> {
    let header = Header::parse(line, ctx)?;
    Some(Box::new(Table {
        header,
        lines: 0,
        held: None,
    }))
}

/// What the rows of a table stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Flux (or other) objects: `kubectl get ks`, `flux get all`.
    Objects,
    /// `kubectl get pods`.
    Pods,
    /// `kubectl get events`, `kubectl events`, `flux events`.
    Events,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    /// Char offset of the name in the header line.
    start: usize,
}

#[derive(Debug, Clone)]
struct Header {
    cols: Vec<Column>,
    shape: Shape,
    /// Index of the column wrapped lines continue (MESSAGE, else STATUS, else the last).
    message: usize,
}

impl Header {
    fn parse(line: &str, ctx: &Context) -> Option<Header> {
        let t = line.trim_start();
        if !(t.starts_with(col::NAME) || t.starts_with(col::LAST_SEEN)) {
            return None;
        }
        let mut cols: Vec<Column> = Vec::new();
        let mut prev_gap_single = false;
        for w in words(line) {
            let ok = w.text.chars().any(|c| c.is_ascii_uppercase())
                && w.text
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "-()/_.:".contains(c));
            if !ok || cols.len() > MAX_COLUMNS {
                return None;
            }
            if let Some(last) = cols.last_mut().filter(|_| prev_gap_single) {
                let joined = format!("{} {}", last.name, w.text);
                if TWO_WORD_COLUMNS.contains(&joined.as_str()) {
                    last.name = joined;
                    prev_gap_single = false;
                    continue;
                }
            }
            cols.push(Column {
                name: w.text.to_string(),
                start: w.start,
            });
            prev_gap_single = w.gap_after_single_space;
        }
        let has = |n: &str| cols.iter().any(|c| c.name == n);
        let first_ok = matches!(
            cols.first().map(|c| c.name.as_str()),
            Some(col::NAMESPACE | col::NAME | col::LAST_SEEN)
        );
        if cols.len() < 2 || !first_ok || !(has(col::NAME) || has(col::LAST_SEEN)) {
            return None;
        }
        let command_kind = ctx.command.as_ref().and_then(|c| c.kind.as_deref());
        let shape = if has(col::LAST_SEEN) {
            Shape::Events
        } else if has(col::RESTARTS) || command_kind == Some(POD_KIND) {
            Shape::Pods
        } else {
            Shape::Objects
        };
        let index = |n: &str| cols.iter().position(|c| c.name == n);
        let message = index(col::MESSAGE)
            .or_else(|| index(col::STATUS).filter(|_| shape != Shape::Pods))
            .unwrap_or(cols.len() - 1);
        Some(Header {
            cols,
            shape,
            message,
        })
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.cols.iter().position(|c| c.name == name)
    }
}

/// A word of a line: its char offset, text and what follows it.
struct Word<'a> {
    start: usize,
    byte: usize,
    text: &'a str,
    /// Whitespace chars before the word (`usize::MAX` at the start of the line).
    gap_before: usize,
    /// Exactly one space (no tab) follows the word.
    gap_after_single_space: bool,
}

fn words(line: &str) -> Vec<Word<'_>> {
    let mut out: Vec<Word<'_>> = Vec::new();
    // Whitespace chars since the last word, and whether they are all spaces.
    let mut gap = usize::MAX;
    let mut gap_spaces_only = true;
    let mut cur: Option<(usize, usize, usize)> = None;
    for (ci, (bi, c)) in line.char_indices().enumerate() {
        if c.is_whitespace() {
            if let Some((start, byte, gap_before)) = cur.take() {
                out.push(Word {
                    start,
                    byte,
                    text: &line[byte..bi],
                    gap_before,
                    gap_after_single_space: false,
                });
                gap = 0;
                gap_spaces_only = true;
            }
            gap = gap.saturating_add(1);
            gap_spaces_only &= c == ' ';
        } else if cur.is_none() {
            if let Some(w) = out.last_mut() {
                w.gap_after_single_space = gap == 1 && gap_spaces_only;
            }
            cur = Some((ci, bi, gap));
        }
    }
    if let Some((start, byte, gap_before)) = cur {
        out.push(Word {
            start,
            byte,
            text: &line[byte..],
            gap_before,
            gap_after_single_space: false,
        });
    }
    out
}

/// The cells of `line` under the header's columns, by position.
fn cells_by_position(h: &Header, line: &str) -> Vec<String> {
    let ws = words(line);
    let starts: Vec<usize> = h.cols.iter().map(|c| c.start).collect();
    // For each column, the word that starts its cell: among the words nearest to this
    // column's start, the closest, preferring words after a wide gap.
    let mut best: Vec<Option<(usize, usize)>> = vec![None; starts.len()];
    for (wi, w) in ws.iter().enumerate() {
        let ci = nearest(&starts, w.start);
        let cost = 2 * w.start.abs_diff(starts[ci]) + usize::from(w.gap_before == 1) * 3;
        if best[ci].is_none_or(|(_, c)| cost < c) {
            best[ci] = Some((wi, cost));
        }
    }
    // The first word always starts a cell: words before a column's chosen start belong to
    // the cell before it.
    if let Some(first) = ws.first() {
        let ci = nearest(&starts, first.start);
        best[ci] = Some((0, 0));
    }
    let bounds: Vec<(usize, usize)> = best
        .iter()
        .enumerate()
        .filter_map(|(ci, b)| b.map(|(wi, _)| (ci, ws[wi].byte)))
        .collect();
    let mut cells = vec![String::new(); starts.len()];
    for (k, &(ci, byte)) in bounds.iter().enumerate() {
        let end = bounds.get(k + 1).map_or(line.len(), |b| b.1);
        cells[ci] = line[byte..end].trim().to_string();
    }
    cells
}

/// Index of the start nearest to `pos` (the earlier one on a tie).
fn nearest(starts: &[usize], pos: usize) -> usize {
    let i = starts.partition_point(|s| *s <= pos);
    match (i.checked_sub(1), starts.get(i)) {
        (Some(a), Some(b)) if b - pos < pos - starts[a] => i,
        (Some(a), _) => a,
        (None, _) => 0,
    }
}

/// The cells of `line` split at `sep`, the last column taking the rest.
fn cells_by_separator(n: usize, parts: Vec<&str>) -> Vec<String> {
    let mut cells: Vec<String> = parts.iter().take(n).map(|p| p.trim().to_string()).collect();
    if parts.len() > n {
        let rest: Vec<&str> = parts[n..]
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .collect();
        if let Some(last) = cells.last_mut() {
            for r in rest {
                if !last.is_empty() {
                    last.push(' ');
                }
                last.push_str(r);
            }
        }
    }
    cells.resize(n, String::new());
    cells
}

/// Whitespace split: one word per column, the last taking the rest of the line.
fn cells_by_words(n: usize, line: &str) -> Vec<String> {
    let ws = words(line);
    let mut cells: Vec<String> = ws.iter().take(n).map(|w| w.text.to_string()).collect();
    if ws.len() > n {
        if let Some(last) = cells.last_mut() {
            *last = line[ws[n - 1].byte..].trim().to_string();
        }
    }
    cells.resize(n, String::new());
    cells
}

/// What a line under a header is.
enum Line {
    Row(Vec<String>),
    /// Text continuing the held row's message.
    Wrapped(String),
    Other,
}

fn read_line(h: &Header, line: &str, holding: bool) -> Line {
    let n = h.cols.len();
    let first = if line.contains('\t') {
        cells_by_separator(n, line.split('\t').collect())
    } else {
        cells_by_position(h, line)
    };
    if first[0].is_empty() {
        // Nothing under the first column: the rest of a wrapped message.
        let text = line.trim();
        return if holding && !text.is_empty() {
            Line::Wrapped(text.to_string())
        } else {
            Line::Other
        };
    }
    if valid_row(h, &first) {
        return Line::Row(first);
    }
    let gap2: Vec<&str> = line.trim().split("  ").filter(|p| !p.is_empty()).collect();
    for cells in [cells_by_separator(n, gap2), cells_by_words(n, line)] {
        if valid_row(h, &cells) {
            return Line::Row(cells);
        }
    }
    Line::Other
}

fn valid_row(h: &Header, cells: &[String]) -> bool {
    let filled = cells.iter().filter(|c| !c.is_empty()).count();
    if cells[0].is_empty() || filled < 2.min(cells.len()) {
        return false;
    }
    h.cols
        .iter()
        .zip(cells)
        .filter(|(_, v)| !v.is_empty())
        .all(|(c, v)| valid_cell(h.shape, &c.name, v))
}

fn valid_cell(shape: Shape, column: &str, v: &str) -> bool {
    let starts_digit = |s: &str| s.starts_with(|c: char| c.is_ascii_digit());
    let no_space_lower = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-._/:@".contains(c))
    };
    match column {
        col::NAMESPACE => no_space_lower(v),
        col::NAME if shape != Shape::Events => no_space_lower(v),
        col::READY => CONDITION_STATUSES.contains(&v) || v == "-" || ratio(v).is_some(),
        col::SUSPENDED => v == TRUE || v == FALSE,
        col::RESTARTS | col::COUNT => starts_digit(v),
        col::AGE | col::LAST_SEEN | col::FIRST_SEEN => starts_digit(v) || v.starts_with('<'),
        col::TYPE if shape == Shape::Events => v.chars().all(|c| c.is_ascii_alphabetic()),
        col::OBJECT => !v.contains(char::is_whitespace),
        _ => true,
    }
}

/// `1/2` → (1, 2).
fn ratio(v: &str) -> Option<(u64, u64)> {
    let (a, b) = v.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// A row waiting for the next line to show whether it wraps.
#[derive(Debug)]
struct Held {
    line: u64,
    cells: Vec<String>,
}

#[derive(Debug)]
struct Table {
    header: Header,
    lines: u64,
    held: Option<Held>,
}

impl Block for Table {
    fn feed(&mut self, line: &str, no: u64, ctx: &Context, out: &mut Vec<Record>) -> Step {
        let first = self.lines == 0;
        self.lines += 1;
        if first {
            out.push(header_record(line));
            return Step::Took {
                carrier: None,
                done: false,
            };
        }
        let trimmed = line.trim();
        if trimmed.is_empty() || self.lines > MAX_BLOCK_LINES || command::parse(trimmed).is_some() {
            self.flush(no, ctx, out);
            return Step::Ended;
        }
        if let Some(h) = Header::parse(line, ctx) {
            self.flush(no, ctx, out);
            self.header = h;
            out.push(header_record(line));
            return Step::Took {
                carrier: None,
                done: false,
            };
        }
        match read_line(&self.header, line, self.held.is_some()) {
            Line::Wrapped(text) => {
                let msg = self.header.message;
                let Some(held) = self.held.as_mut() else {
                    return Step::Ended;
                };
                let cell = &mut held.cells[msg];
                if cell.len() + text.len() < MAX_BLOCK_BYTES {
                    if !cell.is_empty() {
                        cell.push(' ');
                    }
                    cell.push_str(&text);
                }
                Step::Took {
                    carrier: Some(held.line),
                    done: false,
                }
            }
            Line::Row(cells) => {
                self.flush(no, ctx, out);
                self.held = Some(Held { line: no, cells });
                // The row's record replaces this placeholder once the row is complete.
                Step::Took {
                    carrier: Some(no),
                    done: false,
                }
            }
            Line::Other => {
                self.flush(no, ctx, out);
                Step::Ended
            }
        }
    }

    fn finish(&mut self, ctx: &Context, out: &mut Vec<Record>) {
        self.flush(u64::MAX, ctx, out);
    }

    fn held_from(&self) -> Option<u64> {
        self.held.as_ref().map(|h| h.line)
    }
}

impl Table {
    /// Pushes the held row's record; `current` is the line being decoded.
    fn flush(&mut self, current: u64, ctx: &Context, out: &mut Vec<Record>) {
        if let Some(held) = self.held.take() {
            let mut recs = vec![row_record(&self.header, &held.cells, ctx)];
            attribute(&mut recs, held.line, current);
            out.extend(recs);
        }
    }
}

fn header_record(line: &str) -> Record {
    Record {
        format: Format::TableHeader,
        msg: line.trim().to_string(),
        ..Default::default()
    }
}

/// The non-empty cell under `name`.
fn cell<'a>(h: &Header, cells: &'a [String], name: &str) -> Option<&'a str> {
    h.index(name)
        .map(|i| cells[i].as_str())
        .filter(|v| !v.is_empty())
}

fn row_record(h: &Header, cells: &[String], ctx: &Context) -> Record {
    let namespace = cell(h, cells, col::NAMESPACE)
        .map(str::to_string)
        .or_else(|| ctx.command.as_ref().and_then(|c| c.namespace.clone()));
    let (doc, format) = match h.shape {
        Shape::Events => (event_doc(h, cells, namespace), Format::EventsTable),
        Shape::Pods => (pod_doc(h, cells, namespace), Format::Table),
        Shape::Objects => (object_doc(h, cells, namespace, ctx), Format::Table),
    };
    let mut rec = k8s::from_json(&doc, &ParseContext::default())
        .ok()
        .and_then(|v| v.into_iter().next())
        .unwrap_or_default();
    rec.format = format;
    if h.shape == Shape::Objects && rec.object_info().is_some_and(|o| o.conditions.is_empty()) {
        // No READY to read a condition from: the row is classified by its message words.
        if let Some(msg) = cell(h, cells, col::MESSAGE).or_else(|| cell(h, cells, col::STATUS)) {
            rec.msg = msg.to_string();
            rec.detail = Detail::None;
        }
    }
    rec
}

fn metadata(name: &str, namespace: Option<String>) -> Value {
    let mut meta = Map::new();
    meta.insert("name".into(), name.into());
    if let Some(ns) = namespace {
        meta.insert("namespace".into(), ns.into());
    }
    Value::Object(meta)
}

/// A Flux (or other) object with what the row shows of its status.
fn object_doc(
    h: &Header,
    cells: &[String],
    namespace: Option<String>,
    ctx: &Context,
) -> Map<String, Value> {
    let raw = cell(h, cells, col::NAME).unwrap_or_default();
    // `flux get all` and `kubectl get ks,hr` print `kind/name`.
    let (kind, name) = match raw.split_once('/') {
        Some((res, name)) => (resource_kind(res), name),
        None => (None, raw),
    };
    let kind = kind.or_else(|| {
        ctx.command
            .as_ref()
            .filter(|c| c.verb == "get")
            .and_then(|c| c.kind.clone())
    });
    let kind = kind.unwrap_or_default();
    let mut status = Map::new();
    if let Some(ready) = cell(h, cells, col::READY).filter(|r| CONDITION_STATUSES.contains(r)) {
        let mut c = Map::new();
        c.insert("type".into(), READY_CONDITION.into());
        c.insert("status".into(), ready.into());
        let msg = cell(h, cells, col::MESSAGE).or_else(|| cell(h, cells, col::STATUS));
        if let Some(m) = msg {
            c.insert("message".into(), m.into());
        }
        status.insert("conditions".into(), json!([c]));
    }
    if let Some(rev) = cell(h, cells, col::REVISION) {
        if SOURCE_KINDS.contains(&kind.as_str()) {
            status.insert("artifact".into(), json!({ "revision": rev }));
        } else {
            status.insert("lastAppliedRevision".into(), rev.into());
        }
    }
    if let Some(image) = cell(h, cells, col::LATEST_IMAGE) {
        status.insert("latestImage".into(), image.into());
    }
    let mut doc = Map::new();
    // `k8s` reads any document with a kind and an apiVersion; the row shows neither
    // version nor, sometimes, the kind, so both stay empty rather than guessed.
    doc.insert("apiVersion".into(), "".into());
    doc.insert("kind".into(), kind.into());
    doc.insert("metadata".into(), metadata(name, namespace));
    if let Some(s) = cell(h, cells, col::SUSPENDED) {
        doc.insert("spec".into(), json!({ "suspend": s == TRUE }));
    }
    doc.insert("status".into(), Value::Object(status));
    doc
}

/// A Pod with one container status holding what READY, STATUS and RESTARTS show.
fn pod_doc(h: &Header, cells: &[String], namespace: Option<String>) -> Map<String, Value> {
    let name = cell(h, cells, col::NAME).unwrap_or_default();
    let mut status = Map::new();
    let mut container = Map::new();
    if let Some((ready, total)) = cell(h, cells, col::READY).and_then(ratio) {
        container.insert("ready".into(), (total > 0 && ready == total).into());
    }
    if let Some(n) = cell(h, cells, col::RESTARTS).and_then(leading_number) {
        // `5 (2m ago)`: the count, then when the last restart was.
        container.insert("restartCount".into(), n.into());
    }
    let mut key = "containerStatuses";
    if let Some(st) = cell(h, cells, col::STATUS) {
        // `Init:CrashLoopBackOff` is an init container's state.
        let st = match st.strip_prefix("Init:") {
            Some(rest) => {
                key = "initContainerStatuses";
                rest
            }
            None => st,
        };
        if POD_PHASES.contains(&st) {
            status.insert("phase".into(), st.into());
        } else if POD_REASONS.contains(&st) {
            status.insert("reason".into(), st.into());
        } else if let Some(code) = st.strip_prefix("ExitCode:").and_then(leading_number) {
            container.insert("state".into(), json!({"terminated": {"exitCode": code}}));
        } else if TERMINATED_REASONS.contains(&st) {
            container.insert("state".into(), json!({"terminated": {"reason": st}}));
        } else if st.chars().all(|c| c.is_ascii_alphanumeric()) {
            container.insert("state".into(), json!({"waiting": {"reason": st}}));
        }
    }
    if !container.is_empty() {
        status.insert(key.into(), json!([container]));
    }
    let mut doc = Map::new();
    doc.insert("apiVersion".into(), "v1".into());
    doc.insert("kind".into(), POD_KIND.into());
    doc.insert("metadata".into(), metadata(name, namespace));
    doc.insert("status".into(), Value::Object(status));
    doc
}

fn leading_number(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// A core v1 Event: OBJECT (`kustomization/apps`, `Kustomization/apps`), TYPE, REASON,
/// MESSAGE, SOURCE and COUNT (or the `(x20 over 19h)` of LAST SEEN).
fn event_doc(h: &Header, cells: &[String], namespace: Option<String>) -> Map<String, Value> {
    let mut involved = Map::new();
    if let Some(obj) = cell(h, cells, col::OBJECT) {
        let (kind, name) = match obj.split_once('/') {
            Some((res, name)) => (Some(resource_kind(res).unwrap_or_else(|| res.into())), name),
            None => (None, obj),
        };
        if let Some(k) = kind {
            involved.insert("kind".into(), k.into());
        }
        involved.insert("name".into(), name.into());
        if let Some(ns) = namespace {
            involved.insert("namespace".into(), ns.into());
        }
    }
    let mut doc = Map::new();
    doc.insert("apiVersion".into(), "v1".into());
    doc.insert("kind".into(), "Event".into());
    doc.insert("involvedObject".into(), Value::Object(involved));
    for (column, key) in [
        (col::TYPE, "type"),
        (col::REASON, "reason"),
        (col::MESSAGE, "message"),
    ] {
        if let Some(v) = cell(h, cells, column) {
            doc.insert(key.into(), v.into());
        }
    }
    if let Some(src) = cell(h, cells, col::SOURCE) {
        doc.insert("source".into(), json!({ "component": src }));
    }
    let count = cell(h, cells, col::COUNT)
        .and_then(leading_number)
        .or_else(|| cell(h, cells, col::LAST_SEEN).and_then(repeat_count));
    if let Some(n) = count {
        doc.insert("count".into(), n.into());
    }
    doc
}

/// `53m (x20 over 19h)` → 20.
fn repeat_count(last_seen: &str) -> Option<u64> {
    let rest = &last_seen[last_seen.find("(x")? + 2..];
    leading_number(rest)
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
