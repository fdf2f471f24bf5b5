//! Multi-line documents: YAML (`kubectl get -o yaml`, `---` streams, `kind: List`) and
//! pretty-printed JSON (`kubectl get -o json`, `jq`) of Flux objects, Events, Pods and
//! Lists, assembled across lines and read by `k8s` exactly as their one-line JSON forms.
//!
//! Owns: where a document starts and ends, and reading a cut-off one as far as it goes.
//! The document's records belong to its first line; its other lines are continuations.
//!
//! Boundaries:
//! - YAML starts at a column-0 `apiVersion:` / `kind:` line or a `---` line; it goes on
//!   over indented lines, `- ` items, blank lines, comments and column-0 `key:` lines,
//!   and ends before `---`, `...`, a code fence or any other column-0 line.
//! - JSON starts at a line that opens more brackets than it closes (outside strings);
//!   it ends on the line that closes them, or before a column-0 line that cannot
//!   continue a pretty-printed document (a cut-off document).

use serde_json::{Map, Value};

use super::{attribute, Block, Context, Step, MAX_BLOCK_BYTES, MAX_BLOCK_LINES};
use crate::parse::{
    json_depth_exceeds, k8s, JsonStrings, LineDecoder, ParseContext, MAX_JSON_DEPTH,
};
use crate::record::{Format, Record};

/// How many trailing lines a cut-off document may lose while it is read as far as it goes.
const MAX_REPAIR_DROP: usize = 8;

/// Starts a document at `line` when one begins there.
pub fn start(line: &str, no: u64, _ctx: &Context) -> Option<Box<dyn Block>> {
    if let Some(base) = yaml_starts(line) {
        let mut d = Doc::new(Syntax::Yaml, no);
        d.base = base;
        return Some(Box::new(d));
    }
    // A pretty-printed document's first line opens a bracket and ends with one open
    // (`{`, `[`, `[{`); a log line cut off mid-way ends inside a string or a value.
    let t = line.trim();
    if (t.starts_with('{') || t.starts_with('['))
        && t.ends_with(['{', '['])
        && !json_depth_exceeds(t.as_bytes(), MAX_JSON_DEPTH)
        && JsonScan::default().scan(t).open > 0
    {
        return Some(Box::new(Doc::new(Syntax::Json, no)));
    }
    // A one-line JSON record the paste wrapped (a terminal's width): it opens a record
    // and does not close it. Only the next line may finish it, and only if the two
    // together parse; otherwise both are read on their own.
    if t.starts_with("{\"")
        && t.len() >= MIN_WRAPPED_WIDTH
        && !t.ends_with('}')
        && !json_depth_exceeds(t.as_bytes(), MAX_JSON_DEPTH)
        && JsonScan::default().scan(t).open > 0
    {
        return Some(Box::new(Doc::new(Syntax::Wrapped, no)));
    }
    None
}

/// Shortest first half of a wrapped JSON line (terminals wrap at 80 columns or more).
const MIN_WRAPPED_WIDTH: usize = 60;

/// Where a YAML document starts, and its indentation: a whole document at column 0, or
/// the status part of one pasted alone (`status:`, `conditions:`, `containerStatuses:`
/// on a line of their own, at any indentation).
fn yaml_starts(line: &str) -> Option<usize> {
    if line.trim_end() == "---"
        || line.starts_with("apiVersion:")
        || (line.starts_with("kind:") && line.len() > 5)
    {
        return Some(0);
    }
    FRAGMENT_KEYS
        .contains(&line.trim())
        .then(|| super::indent_of(line))
}

/// Keys that open the status part of an object pasted without the rest.
const FRAGMENT_KEYS: [&str; 3] = ["status:", "conditions:", "containerStatuses:"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Yaml,
    Json,
    /// A one-line JSON record wrapped onto a second line.
    Wrapped,
}

/// Bracket state carried across the lines of a JSON document.
#[derive(Debug, Default, Clone, Copy)]
struct JsonScan {
    open: usize,
    strings: JsonStrings,
}

impl JsonScan {
    fn scan(mut self, s: &str) -> Self {
        for c in s.bytes() {
            match self.strings.structural(c) {
                Some(b'{' | b'[') => self.open += 1,
                Some(b'}' | b']') => self.open = self.open.saturating_sub(1),
                _ => {}
            }
        }
        self
    }

    fn in_str(&self) -> bool {
        self.strings.in_str
    }
}

#[derive(Debug)]
struct Doc {
    syntax: Syntax,
    first: u64,
    /// Indentation of the document's first line (a fragment pasted indented).
    base: usize,
    lines: u64,
    text: String,
    json: JsonScan,
}

impl Doc {
    fn new(syntax: Syntax, first: u64) -> Self {
        Doc {
            syntax,
            first,
            base: 0,
            lines: 0,
            text: String::new(),
            json: JsonScan::default(),
        }
    }

    fn take(&mut self, line: &str) {
        self.lines += 1;
        // A fragment pasted indented is read as if it started at column 0.
        let cut = super::indent_of(line).min(self.base);
        let line = &line[cut..];
        if self.text.len() + line.len() < MAX_BLOCK_BYTES {
            self.text.push_str(line);
            self.text.push('\n');
        }
    }

    fn full(&self) -> bool {
        self.text.len() + 1 >= MAX_BLOCK_BYTES || self.lines >= MAX_BLOCK_LINES
    }

    fn yaml_continues(&self, line: &str) -> bool {
        let t = line.trim_end();
        if t == "---" {
            // `---` opens this document when it is the first line; later it ends it.
            return self.lines == 0;
        }
        if t == "..." || t.starts_with("```") {
            return false;
        }
        if t.is_empty() {
            return true;
        }
        let indent = super::indent_of(line);
        if indent != self.base {
            return indent > self.base;
        }
        let t = t.trim_start();
        t.starts_with('#') || t == "-" || t.starts_with("- ") || column0_key(t)
    }

    fn json_continues(&self, line: &str) -> bool {
        // A pretty-printed document indents everything but its closing bracket; a
        // column-0 line that is neither ends a cut-off document.
        line.is_empty() || line.starts_with([' ', '\t', '}', ']']) || self.lines == 0
    }

    /// Records of the document, read as far as it goes.
    /// The second line of a wrapped record: taken only when the two parse together.
    fn unwrap(&mut self, line: &str, no: u64, out: &mut Vec<Record>) -> Step {
        let head = self.text.trim_end_matches('\n');
        for sep in ["", " "] {
            let joined = format!("{head}{sep}{}", line.trim_end());
            if let Ok(v) = serde_json::from_str::<Value>(&joined) {
                self.lines += 1;
                let mut recs = value_records(&v, 0);
                if recs.is_empty() {
                    recs.push(fallback(&joined));
                }
                attribute(&mut recs, self.first, no);
                out.extend(recs);
                self.lines = 0;
                return Step::Took {
                    carrier: Some(self.first),
                    done: true,
                };
            }
        }
        self.finish(&Context::default(), out);
        Step::Ended
    }

    fn records(&mut self, ctx: &Context) -> Vec<Record> {
        let text = std::mem::take(&mut self.text);
        let value = match self.syntax {
            Syntax::Yaml => read_yaml(&text).map(|v| complete_fragment(v, ctx)),
            Syntax::Json | Syntax::Wrapped => read_json(&text),
        };
        let mut recs = value.map(|v| value_records(&v, 0)).unwrap_or_default();
        if recs.is_empty() {
            recs.push(fallback(&text));
        }
        recs
    }
}

/// `key:` or `key: value` at column 0 (a YAML mapping key, not prose).
fn column0_key(t: &str) -> bool {
    let Some((key, rest)) = t.split_once(':') else {
        return false;
    };
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && (rest.is_empty() || rest.starts_with(' '))
}

impl Block for Doc {
    fn feed(&mut self, line: &str, no: u64, _ctx: &Context, out: &mut Vec<Record>) -> Step {
        if self.syntax == Syntax::Wrapped && self.lines > 0 {
            return self.unwrap(line, no, out);
        }
        let continues = match self.syntax {
            Syntax::Wrapped => true,
            Syntax::Yaml => self.yaml_continues(line),
            Syntax::Json => self.json_continues(line),
        };
        if !continues || self.full() {
            self.finish(_ctx, out);
            return Step::Ended;
        }
        self.take(line);
        if self.syntax == Syntax::Json {
            // JSON strings never span lines: a line ending inside one was cut.
            self.json.strings = JsonStrings::default();
            self.json = self.json.scan(line);
            if self.json.open == 0 && !self.json.in_str() {
                // Complete: the last line of the document carries no record of its own.
                self.emit(no, _ctx, out);
                return Step::Took {
                    carrier: Some(self.first),
                    done: true,
                };
            }
        }
        Step::Took {
            carrier: Some(self.first),
            done: false,
        }
    }

    fn finish(&mut self, _ctx: &Context, out: &mut Vec<Record>) {
        if self.syntax == Syntax::Wrapped {
            // Not finished by the next line: the first line alone, as it would have been.
            if self.lines > 0 {
                let mut recs = vec![fallback(&self.text)];
                attribute(&mut recs, self.first, u64::MAX);
                out.extend(recs);
                self.lines = 0;
            }
            return;
        }
        if self.lines > 0 {
            self.emit(u64::MAX, _ctx, out);
        }
    }

    fn held_from(&self) -> Option<u64> {
        (self.lines > 0).then_some(self.first)
    }
}

impl Doc {
    /// Pushes the document's records, attributed to its first line; `current` is the
    /// line being decoded (`u64::MAX` when none is).
    fn emit(&mut self, current: u64, ctx: &Context, out: &mut Vec<Record>) {
        let mut recs = self.records(ctx);
        attribute(&mut recs, self.first, current);
        out.extend(recs);
        self.lines = 0;
    }
}

/// The status part of an object pasted alone (`status:` / `conditions:` /
/// `containerStatuses:`) becomes the object it belongs to: its kind from the pasted
/// command line (`kubectl get hr web -o yaml`), a Pod when it has container statuses,
/// else unknown; name and namespace from the command when it gave them.
fn complete_fragment(v: Value, ctx: &Context) -> Value {
    let Value::Object(mut obj) = v else {
        return v;
    };
    if obj.contains_key("kind") || obj.contains_key("apiVersion") {
        return Value::Object(obj);
    }
    if obj.contains_key("conditions") || obj.contains_key("containerStatuses") {
        let mut status = Map::new();
        status.append(&mut obj);
        obj.insert("status".into(), Value::Object(status));
    }
    let Some(status) = obj.get("status").and_then(Value::as_object) else {
        return Value::Object(obj);
    };
    let cmd = ctx.command.as_ref();
    let kind = if status.contains_key("containerStatuses") {
        "Pod".to_string()
    } else {
        cmd.and_then(|c| c.kind.clone()).unwrap_or_default()
    };
    let mut meta = Map::new();
    if let Some(c) = cmd {
        if let Some(n) = &c.name {
            meta.insert("name".into(), Value::String(n.clone()));
        }
        if let Some(ns) = &c.namespace {
            meta.insert("namespace".into(), Value::String(ns.clone()));
        }
    }
    obj.insert("kind".into(), Value::String(kind));
    obj.insert("apiVersion".into(), Value::String(String::new()));
    obj.entry("metadata").or_insert(Value::Object(meta));
    Value::Object(obj)
}

fn read_yaml(text: &str) -> Option<Value> {
    let lines: Vec<&str> = text.lines().collect();
    // A cut-off document: drop trailing lines until the rest is valid YAML.
    for drop in 0..=MAX_REPAIR_DROP.min(lines.len().saturating_sub(1)) {
        let body = lines[..lines.len() - drop].join("\n");
        match serde_saphyr::from_str::<Value>(&body) {
            Ok(Value::Null) => return None,
            Ok(v) => return Some(v),
            Err(_) => continue,
        }
    }
    None
}

fn read_json(text: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return Some(v);
    }
    // A cut-off document: drop trailing lines, then close what is open.
    let lines: Vec<&str> = text.lines().collect();
    for drop in 0..=MAX_REPAIR_DROP.min(lines.len().saturating_sub(1)) {
        let mut body = lines[..lines.len() - drop].join("\n");
        if body
            .lines()
            .next_back()
            .is_some_and(|l| JsonScan::default().scan(l).in_str())
        {
            continue;
        }
        while body.ends_with([',', ' ', '\n', '\t', ':']) {
            body.pop();
        }
        let closers = closers_for(&body);
        body.push_str(&closers);
        if let Ok(v) = serde_json::from_str::<Value>(&body) {
            return Some(v);
        }
    }
    None
}

/// The brackets that close what `s` leaves open, innermost first.
fn closers_for(s: &str) -> String {
    let mut stack = Vec::new();
    let mut strings = JsonStrings::default();
    for c in s.bytes() {
        match strings.structural(c) {
            Some(b'{') => stack.push('}'),
            Some(b'[') => stack.push(']'),
            Some(b'}' | b']') => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.iter().rev().collect()
}

/// Records of a document value: a Kubernetes document (object, Event, List, watch
/// event), a JSON array of them, a log-store export (entries, or the search response that
/// holds them), or a zap log line printed over several lines.
fn value_records(v: &Value, depth: usize) -> Vec<Record> {
    if depth > MAX_CONTAINER_DEPTH {
        return Vec::new();
    }
    match v {
        Value::Array(items) => items
            .iter()
            .take(k8s::MAX_LIST_ITEMS)
            .flat_map(|i| value_records(i, depth + 1))
            .collect(),
        Value::Object(obj) => object_records(obj, depth),
        _ => Vec::new(),
    }
}

/// How deep exported entries may sit in a search response (`hits.hits[]`, `data.result[]`).
const MAX_CONTAINER_DEPTH: usize = 4;

fn object_records(obj: &Map<String, Value>, depth: usize) -> Vec<Record> {
    if k8s::looks_like(obj) {
        return k8s::from_json(obj, &ParseContext::default()).unwrap_or_default();
    }
    // Search responses that hold exported entries: Elasticsearch/OpenSearch
    // `hits.hits[]`, the Loki query API's `data.result[]` streams, Datadog's `data[]`.
    if let Some(hits) = obj.get("hits").and_then(|h| h.get("hits")) {
        return value_records(hits, depth + 1);
    }
    if let Some(Value::Array(streams)) = obj.get("data").and_then(|d| d.get("result")) {
        return streams
            .iter()
            .take(k8s::MAX_LIST_ITEMS)
            .flat_map(loki_stream)
            .collect();
    }
    if let Some(data @ Value::Array(_)) = obj.get("data") {
        return value_records(data, depth + 1);
    }
    // Anything else reads as its one-line form: a zap line, an export entry (Cloud
    // Logging, Loki, Elasticsearch hit, CloudWatch, Datadog) with the line inside it.
    let line = serde_json::to_string(obj).unwrap_or_default();
    let recs = LineDecoder::new(None).decode(line.as_bytes());
    // A document that is none of these (Helm values, a config file) is not a record:
    // the caller reads its first line as text instead of its JSON.
    if recs.iter().all(|r| r.format == Format::Text) {
        return Vec::new();
    }
    recs
}

/// One Loki query-API stream: `{"stream": {labels}, "values": [[ts_ns, line], …]}` →
/// the records of each line, as logcli's JSON form `{"labels", "line", "timestamp"}`.
fn loki_stream(stream: &Value) -> Vec<Record> {
    let labels = stream.get("stream").cloned().unwrap_or(Value::Null);
    let Some(values) = stream.get("values").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pair in values.iter().take(k8s::MAX_LIST_ITEMS) {
        let (Some(ts), Some(line)) = (pair.get(0), pair.get(1)) else {
            continue;
        };
        let entry = serde_json::json!({"labels": labels, "line": line, "timestamp": ts});
        let text = serde_json::to_string(&entry).unwrap_or_default();
        out.extend(LineDecoder::new(None).decode(text.as_bytes()));
    }
    out
}

/// A document that is not one fluxsight reads: its first line, as text.
fn fallback(text: &str) -> Record {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && *l != "---")
        .unwrap_or("");
    let mut r = crate::parse::text::parse(first, &ParseContext::default());
    if r.format == Format::Blank {
        r.format = Format::Text;
    }
    r
}
