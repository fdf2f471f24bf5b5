//! `kubectl describe` blocks: Flux objects (`Kind:` printed, the object read from its
//! unstructured content), Pods (`Containers:` → `State:` / `Last State:` /
//! `Restart Count:`) and several describes one after another, with their `Events:` tables.
//!
//! Owns: where a describe block starts and ends, reading its indented `Key:  value` tree
//! back into the JSON document it was printed from, and reading the `Events:` table into
//! core v1 Events about the described object. Does not own: what the document means
//! (`k8s::from_json` reads it exactly as the one-line JSON form).
//!
//! Grammar (kubectl `describe` printers, tabwriter with two spaces of padding):
//! ```text
//! block   = first { line } ;   first = "Name:" value | key-line (after `kubectl describe`)
//! key0    = Title Case Words ":" [ spaces value ]          (column 0, e.g. `API Version:`)
//! keyN    = indent key ":" [ spaces value ]                 (`Last Transition Time:`, `manager:`)
//! item    = indent text                                     (a list element: `finalizers.fluxcd.io`)
//! wrapped = indent>=value-column text                      (joins the value above it)
//! events  = "Events:" ( "<none>" | NL header NL underline { row | wrapped-message } )
//! row     = Type  Reason  Age  From  Message                (cells apart by 2+ spaces)
//! ```
//! A block ends before a blank line, a column-0 line that is not a describe key, or the
//! next `Name:` (a new object). A key repeated at one level starts a new list item (how
//! describe prints lists of maps such as `Conditions`).
//!
//! Lines: the `Name:` line carries the object's record, each Events row its own Event
//! record; every other line is a continuation of the `Name:` line (or of the row whose
//! message it wraps). All records are pushed when the block ends (the `Name:` line is held
//! until then, so nothing is gained by pushing rows earlier).
//!
//! Invariants: never panics; holds at most [`MAX_BLOCK_BYTES`] / [`MAX_BLOCK_LINES`];
//! the tree is never nested deeper than [`MAX_DEPTH`] (deeper lines read as siblings).

use serde_json::{Map, Value};

use super::command::Tool;
use super::{attribute, indent_of, Block, Context, Step, MAX_BLOCK_BYTES, MAX_BLOCK_LINES};
use crate::parse::time::{days_from_civil, format_rfc3339_ms, parse_ts};
use crate::parse::{k8s, ParseContext};
use crate::record::{Format, Record};

/// Deepest nesting of the key tree read; deeper keys are read at this level.
pub const MAX_DEPTH: usize = 32;
/// Longest key read as a key; a longer `text: more` line is a list item.
const MAX_KEY_CHARS: usize = 80;
/// Most words in a column-0 Title Case key (`Last Termination State`, `Priority Class Name`).
const MAX_TOP_KEY_WORDS: usize = 5;

const KEY_NAME: &str = "Name";
const KEY_EVENTS: &str = "Events";
/// What describe prints for an empty map or list.
const NONE_VALUE: &str = "<none>";
/// The verb of the command whose output this is.
const VERB_DESCRIBE: &str = "describe";
const KIND_POD: &str = "Pod";
const KIND_EVENT: &str = "Event";
const CORE_V1: &str = "v1";

/// Column-0 keys of the describe printers that may begin a block after a
/// `kubectl describe` command line whose `Name:` line was not pasted.
const DESCRIBE_KEYS: &[&str] = &[
    "Name",
    "Namespace",
    "Labels",
    "Annotations",
    "API Version",
    "Kind",
    "Metadata",
    "Spec",
    "Status",
    "Events",
    "Priority",
    "Node",
    "Start Time",
    "IP",
    "IPs",
    "Controlled By",
    "Containers",
    "Init Containers",
    "Conditions",
    "Volumes",
    "QoS Class",
    "Node-Selectors",
    "Tolerations",
];

/// Column-0 keys only a Pod's describe prints next to `Containers:`.
const POD_KEYS: &[&str] = &["node", "startTime", "controlledBy", "qoSClass"];

/// Keys (as read back, lowerCamel) that hold a list even when one item is printed:
/// describe prints a one-item list of maps exactly like a map.
const LIST_KEYS: &[&str] = &[
    "conditions",
    "dependsOn",
    "history",
    "finalizers",
    "managedFields",
    "entries",
    "ownerReferences",
    "healthChecks",
    "components",
];

/// Starts a describe block at a column-0 `Name:` line, or at a describe key right after
/// a `kubectl describe` command line.
pub fn start(line: &str, no: u64, ctx: &Context) -> Option<Box<dyn Block>> {
    let (key, _, _) = top_key(line)?;
    let after_describe = describe_command(ctx).is_some() && DESCRIBE_KEYS.contains(&key);
    (key == KEY_NAME || after_describe).then(|| Box::new(Describe::new(no)) as Box<dyn Block>)
}

/// The `kubectl describe` command the context holds, if that was the last command.
fn describe_command(ctx: &Context) -> Option<&super::Command> {
    ctx.command
        .as_ref()
        .filter(|c| c.tool == Tool::Kubectl && c.verb == VERB_DESCRIBE)
}

/// `Key:` / `Key:  value` at column 0 with a Title Case key: (key, value, value column).
fn top_key(line: &str) -> Option<(&str, &str, usize)> {
    if line.starts_with([' ', '\t']) {
        return None;
    }
    let (key, value, col) = split_key(line)?;
    let mut words = 0;
    for w in key.split(' ') {
        words += 1;
        let mut chars = w.chars();
        let title = chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !title || words > MAX_TOP_KEY_WORDS {
            return None;
        }
    }
    Some((key, value, col))
}

/// Splits at the first `:` followed by whitespace or the end of the line:
/// (key, value, character column of the value). `f:metadata:` keeps its inner colon.
fn split_key(line: &str) -> Option<(&str, &str, usize)> {
    let t = line.trim_start_matches([' ', '\t']);
    let b = t.as_bytes();
    let at = (0..b.len())
        .find(|&i| b[i] == b':' && b.get(i + 1).is_none_or(|c| *c == b' ' || *c == b'\t'))?;
    let key = &t[..at];
    if key.is_empty() || key.chars().count() > MAX_KEY_CHARS || key.contains("  ") {
        return None;
    }
    let rest = &t[at + 1..];
    let value = rest.trim();
    let lead = line.len() - t.len() + at + 1 + (rest.len() - rest.trim_start().len());
    let col = line.get(..lead).map_or(lead, |p| p.chars().count());
    Some((key, value, col))
}

/// One key or list-item line of the tree, with the wrapped lines that joined it.
#[derive(Debug)]
struct Entry {
    indent: usize,
    /// `None` for a list item (its text is `lines[0]`).
    key: Option<String>,
    lines: Vec<String>,
    /// Column where the value starts, for a key with a value (wrapped lines reach it).
    value_col: Option<usize>,
}

/// One row of the `Events:` table.
#[derive(Debug, Default)]
struct EventRow {
    line: u64,
    type_: String,
    reason: String,
    age: String,
    from: String,
    message: String,
}

/// Where the block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Fields,
    Events,
}

#[derive(Debug)]
struct Describe {
    first: u64,
    lines: u64,
    bytes: usize,
    section: Section,
    entries: Vec<Entry>,
    events: Vec<EventRow>,
    /// Character column of the Events table's `Message` header.
    message_col: Option<usize>,
}

impl Describe {
    fn new(first: u64) -> Self {
        Describe {
            first,
            lines: 0,
            bytes: 0,
            section: Section::Fields,
            entries: Vec::new(),
            events: Vec::new(),
            message_col: None,
        }
    }

    fn full(&self) -> bool {
        self.bytes >= MAX_BLOCK_BYTES || self.lines >= MAX_BLOCK_LINES
    }

    /// Whether the block goes on over `line`.
    fn continues(&self, line: &str) -> bool {
        if line.trim().is_empty() {
            return false;
        }
        if line.starts_with([' ', '\t']) {
            return self.lines > 0;
        }
        match top_key(line) {
            // A new object starts at its `Name:` line.
            Some((key, _, _)) => self.lines == 0 || key != KEY_NAME,
            None => false,
        }
    }

    /// Takes a line of the key tree; returns the line carrying its record.
    fn take_field(&mut self, line: &str) -> u64 {
        let indent = indent_of(line);
        let text = line.trim();
        if let Some(last) = self.entries.last_mut() {
            if last.value_col.is_some_and(|c| indent >= c) {
                last.lines.push(text.to_string());
                return self.first;
            }
        }
        let entry = match split_key(line) {
            Some((key, value, col)) => Entry {
                indent,
                key: Some(key.to_string()),
                lines: if value.is_empty() {
                    Vec::new()
                } else {
                    vec![value.to_string()]
                },
                value_col: (!value.is_empty()).then_some(col),
            },
            None => Entry {
                indent,
                key: None,
                lines: vec![text.to_string()],
                value_col: None,
            },
        };
        if indent == 0 && entry.key.as_deref() == Some(KEY_EVENTS) {
            self.section = Section::Events;
        } else if indent == 0 {
            self.section = Section::Fields;
        }
        self.entries.push(entry);
        self.first
    }

    /// Takes an indented line of the Events table; returns the line carrying its record.
    fn take_event_line(&mut self, line: &str, no: u64) -> u64 {
        let text = line.trim();
        let cells = cells(line);
        if text.starts_with("----") {
            return self.first;
        }
        if cells.first().is_some_and(|c| c.1 == "Type") && cells.iter().any(|c| c.1 == "Reason") {
            self.message_col = cells
                .iter()
                .find(|c| c.1 == "Message")
                .map(|c| char_col(line, c.0));
            return self.first;
        }
        let wraps = self.message_col.is_some_and(|c| indent_of(line) >= c);
        if !wraps || self.events.is_empty() {
            if let Some(row) = self.row(line, &cells, no) {
                self.events.push(row);
                return no;
            }
        }
        match self.events.last_mut() {
            Some(row) => {
                if !row.message.is_empty() {
                    row.message.push(' ');
                }
                row.message.push_str(text);
                row.line
            }
            None => self.first,
        }
    }

    /// An Events row: a `Normal`/`Warning` type, a reason, an age, then From and Message.
    fn row(&self, line: &str, cells: &[(usize, &str)], no: u64) -> Option<EventRow> {
        let [(_, type_), (_, reason), (_, age), rest @ ..] = cells else {
            return None;
        };
        let is_type = type_.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && type_.chars().all(|c| c.is_ascii_alphabetic());
        let is_age = age.starts_with(|c: char| c.is_ascii_digit() || c == '<');
        if !is_type || !is_age || rest.is_empty() {
            return None;
        }
        let mut row = EventRow {
            line: no,
            type_: type_.to_string(),
            reason: reason.to_string(),
            age: age.to_string(),
            ..Default::default()
        };
        let message_from = |start: usize| line.get(start..).unwrap_or("").trim().to_string();
        match rest {
            [(at, only)] => {
                // Four cells: From or Message is empty; the header's columns say which.
                if self.message_col.is_some_and(|c| char_col(line, *at) >= c) {
                    row.message = message_from(*at);
                } else {
                    row.from = only.to_string();
                }
            }
            [(_, from), (at, _), ..] => {
                row.from = from.to_string();
                row.message = message_from(*at);
            }
            [] => {}
        }
        Some(row)
    }

    /// Pushes the object's and the Events rows' records; `current` is the line being
    /// decoded (`u64::MAX` when none is).
    fn emit(&mut self, ctx: &Context, current: u64, out: &mut Vec<Record>) {
        let entries = std::mem::take(&mut self.entries);
        let mut i = 0;
        let (_, maps) = children(&entries, &mut i, None, 0);
        let top: Vec<(String, Node)> = maps.into_iter().flatten().collect();
        let described = described(&top, ctx);
        let mut recs = records(&described.doc);
        attribute(&mut recs, self.first, current);
        out.extend(recs);
        for row in std::mem::take(&mut self.events) {
            let mut recs = records(&event_doc(&row, &described));
            attribute(&mut recs, row.line, current);
            out.extend(recs);
        }
        self.lines = 0;
        self.bytes = 0;
    }
}

impl Block for Describe {
    fn feed(&mut self, line: &str, no: u64, ctx: &Context, out: &mut Vec<Record>) -> Step {
        if !self.continues(line) || self.full() {
            self.finish(ctx, out);
            return Step::Ended;
        }
        self.lines += 1;
        self.bytes += line.len() + 1;
        let carrier = if self.section == Section::Events && line.starts_with([' ', '\t']) {
            self.take_event_line(line, no)
        } else {
            self.take_field(line)
        };
        Step::Took {
            carrier: Some(carrier),
            done: false,
        }
    }

    fn finish(&mut self, ctx: &Context, out: &mut Vec<Record>) {
        if self.lines > 0 {
            self.emit(ctx, u64::MAX, out);
        }
    }

    fn held_from(&self) -> Option<u64> {
        (self.lines > 0).then_some(self.first)
    }
}

/// Cells of a table line: (byte offset, text), apart by two or more spaces or a tab.
fn cells(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut gap = 0;
    let mut end = 0;
    for (i, c) in line.char_indices() {
        if c == ' ' || c == '\t' {
            gap += if c == '\t' { 2 } else { 1 };
            if gap >= 2 {
                if let Some(s) = start.take() {
                    out.push((s, &line[s..end]));
                }
            }
            continue;
        }
        if start.is_none() {
            start = Some(i);
        }
        gap = 0;
        end = i + c.len_utf8();
    }
    if let Some(s) = start {
        out.push((s, &line[s..end]));
    }
    out
}

/// Character column of byte offset `at` in `line`.
fn char_col(line: &str, at: usize) -> usize {
    line.get(..at).map_or(at, |p| p.chars().count())
}

/// A node of the key tree: its value lines, list items and maps (several when a key
/// repeated: a list of maps).
#[derive(Debug, Default)]
struct Node {
    lines: Vec<String>,
    items: Vec<String>,
    maps: Vec<Vec<(String, Node)>>,
}

impl Node {
    fn value(&self) -> String {
        self.lines.join(" ")
    }

    /// The child at `key` in the first map.
    fn get(&self, key: &str) -> Option<&Node> {
        get(self.maps.first()?, key)
    }
}

fn get<'a>(map: &'a [(String, Node)], key: &str) -> Option<&'a Node> {
    map.iter().find(|(k, _)| k == key).map(|(_, n)| n)
}

/// Reads the entries deeper than `parent` (all of them for `None`) into list items and
/// maps; a key already in the current map starts a new one.
fn children(
    entries: &[Entry],
    i: &mut usize,
    parent: Option<usize>,
    depth: usize,
) -> (Vec<String>, Vec<Vec<(String, Node)>>) {
    let mut items = Vec::new();
    let mut maps: Vec<Vec<(String, Node)>> = Vec::new();
    while let Some(e) = entries.get(*i) {
        if parent.is_some_and(|p| e.indent <= p) {
            break;
        }
        *i += 1;
        let Some(key) = &e.key else {
            items.extend(e.lines.iter().cloned());
            continue;
        };
        let mut node = Node {
            lines: e.lines.clone(),
            ..Default::default()
        };
        if depth < MAX_DEPTH {
            (node.items, node.maps) = children(entries, i, Some(e.indent), depth + 1);
        }
        let key = camel(key);
        match maps.last_mut() {
            Some(m) if !m.iter().any(|(k, _)| *k == key) => m.push((key, node)),
            _ => maps.push(vec![(key, node)]),
        }
    }
    (items, maps)
}

/// `Last Transition Time` → `lastTransitionTime`, `API Version` → `apiVersion`,
/// `UID` → `uid`; keys that are not Title Case (`manager`, `f:spec`) stay as printed.
fn camel(key: &str) -> String {
    if !key.starts_with(|c: char| c.is_ascii_uppercase()) {
        return key.to_string();
    }
    let mut out = String::with_capacity(key.len());
    for (n, w) in key.split(' ').filter(|w| !w.is_empty()).enumerate() {
        if n == 0 {
            if w.chars().all(|c| !c.is_ascii_lowercase()) {
                out.push_str(&w.to_ascii_lowercase());
            } else {
                let mut cs = w.chars();
                out.extend(cs.next().map(|c| c.to_ascii_lowercase()));
                out.extend(cs);
            }
        } else {
            let mut cs = w.chars();
            out.extend(cs.next().map(|c| c.to_ascii_uppercase()));
            out.extend(cs);
        }
    }
    out
}

/// The JSON a node was printed from.
fn to_json(key: &str, n: &Node) -> Option<Value> {
    let list = LIST_KEYS.contains(&key);
    if !n.maps.is_empty() {
        let mut objs: Vec<Value> = n.maps.iter().map(|m| Value::Object(map_json(m))).collect();
        return if objs.len() > 1 || list {
            Some(Value::Array(objs))
        } else {
            objs.pop()
        };
    }
    let value = n.value();
    if !n.items.is_empty() {
        if value.is_empty() || list {
            let items = n.lines.iter().chain(&n.items).cloned().map(Value::String);
            return Some(Value::Array(items.collect()));
        }
        // A value wrapped onto lines indented short of its column.
        return Some(Value::String(format!("{value} {}", n.items.join(" "))));
    }
    (!value.is_empty() && value != NONE_VALUE).then_some(Value::String(value))
}

fn map_json(m: &[(String, Node)]) -> Map<String, Value> {
    m.iter()
        .filter_map(|(k, n)| to_json(k, n).map(|v| (k.clone(), v)))
        .collect()
}

/// The object a block describes: its JSON document and who it is.
struct Described {
    doc: Map<String, Value>,
    kind: String,
    name: String,
    namespace: String,
}

/// Builds the document of the described object from the top-level keys.
fn described(top: &[(String, Node)], ctx: &Context) -> Described {
    let value = |k: &str| get(top, k).map(Node::value).filter(|v| !v.is_empty());
    let cmd = describe_command(ctx);
    let has = |k: &str| get(top, k).is_some();
    let pod_shape = has("containers") && POD_KEYS.iter().any(|k| has(k));
    let kind = value("kind")
        .or_else(|| pod_shape.then(|| KIND_POD.to_string()))
        .or_else(|| cmd.and_then(|c| c.kind.clone()))
        .unwrap_or_default();
    let name = value("name")
        .or_else(|| cmd.and_then(|c| c.name.clone()))
        .unwrap_or_default();
    let namespace = value("namespace")
        .or_else(|| cmd.and_then(|c| c.namespace.clone()))
        .unwrap_or_default();
    let mut meta = match get(top, "metadata").and_then(|n| to_json("metadata", n)) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    put(&mut meta, "name", &name);
    put(&mut meta, "namespace", &namespace);
    if let Some(labels) = get(top, "labels") {
        meta.insert("labels".into(), pairs(labels, '='));
    }
    if let Some(ann) = get(top, "annotations") {
        meta.insert("annotations".into(), pairs(ann, ':'));
    }
    let mut doc = Map::new();
    let api_version = value("apiVersion").unwrap_or_default();
    doc.insert("apiVersion".into(), Value::String(api_version));
    doc.insert("kind".into(), Value::String(kind.clone()));
    doc.insert("metadata".into(), Value::Object(meta));
    if kind == KIND_POD {
        doc.insert("status".into(), Value::Object(pod_status(top)));
        // What links the Pod to its workload and node (`correlate::workload`):
        // `Controlled By:  ReplicaSet/web-7d9f4c8b6`, `Node:  node-2/10.0.0.5`.
        if let Some((okind, oname)) = value("controlledBy").and_then(|v| {
            v.split_once('/')
                .map(|(k, n)| (k.trim().to_string(), n.trim().to_string()))
        }) {
            if let Some(Value::Object(m)) = doc.get_mut("metadata") {
                let mut owner = Map::new();
                put(&mut owner, "kind", &okind);
                put(&mut owner, "name", &oname);
                owner.insert("controller".into(), Value::Bool(true));
                m.insert(
                    "ownerReferences".into(),
                    Value::Array(vec![Value::Object(owner)]),
                );
            }
        }
        let node = value("node").unwrap_or_default();
        let node = node.split('/').next().unwrap_or("").trim();
        if !node.is_empty() && node != "<none>" {
            let mut spec = Map::new();
            put(&mut spec, "nodeName", node);
            doc.insert("spec".into(), Value::Object(spec));
        }
    } else {
        for key in ["spec", "status"] {
            if let Some(v) = get(top, key).and_then(|n| to_json(key, n)) {
                doc.insert(key.into(), v);
            }
        }
    }
    Described {
        doc,
        kind,
        name,
        namespace,
    }
}

fn put(m: &mut Map<String, Value>, k: &str, v: &str) {
    if !v.is_empty() {
        m.insert(k.to_string(), Value::String(v.to_string()));
    }
}

/// `Labels:` (`k=v` per line) and `Annotations:` (`k: v` per line) as a map.
fn pairs(n: &Node, sep: char) -> Value {
    let mut m = Map::new();
    for l in n.lines.iter().chain(&n.items) {
        if let Some((k, v)) = l.split_once(sep) {
            put(&mut m, k.trim(), v.trim());
        }
    }
    Value::Object(m)
}

/// A Pod's `status` from its describe: phase, reason, message, start time and the
/// container statuses under `Init Containers:` / `Containers:`.
fn pod_status(top: &[(String, Node)]) -> Map<String, Value> {
    let mut status = Map::new();
    let value = |k: &str| get(top, k).map(Node::value).unwrap_or_default();
    put(&mut status, "phase", &value("status"));
    put(&mut status, "reason", &value("reason"));
    put(&mut status, "message", &value("message"));
    put(&mut status, "startTime", &timestamp(&value("startTime")));
    for (key, out_key) in [
        ("initContainers", "initContainerStatuses"),
        ("containers", "containerStatuses"),
    ] {
        let Some(containers) = get(top, key).and_then(|n| n.maps.first()) else {
            continue;
        };
        let statuses = containers
            .iter()
            .take(k8s::MAX_LIST_ITEMS)
            .map(|(name, n)| container_status(name, n))
            .collect();
        status.insert(out_key.into(), Value::Array(statuses));
    }
    status
}

fn container_status(name: &str, n: &Node) -> Value {
    let mut cs = Map::new();
    let value = |k: &str| n.get(k).map(Node::value).unwrap_or_default();
    put(&mut cs, "name", name);
    put(&mut cs, "image", &value("image"));
    if let Ok(ready) = value("ready").to_ascii_lowercase().parse::<bool>() {
        cs.insert("ready".into(), Value::Bool(ready));
    }
    if let Ok(count) = value("restartCount").parse::<u64>() {
        cs.insert("restartCount".into(), Value::from(count));
    }
    if let Some(s) = n.get("state").and_then(container_state) {
        cs.insert("state".into(), s);
    }
    let last = n.get("lastState").or_else(|| n.get("lastTerminationState"));
    if let Some(s) = last.and_then(container_state) {
        cs.insert("lastState".into(), s);
    }
    Value::Object(cs)
}

/// `State: Waiting` + `Reason: CrashLoopBackOff` → `{"waiting": {"reason": …}}`.
fn container_state(n: &Node) -> Option<Value> {
    let word = n.value().to_ascii_lowercase();
    if !matches!(word.as_str(), "waiting" | "running" | "terminated") {
        return None;
    }
    let mut s = Map::new();
    let value = |k: &str| n.get(k).map(Node::value).unwrap_or_default();
    put(&mut s, "reason", &value("reason"));
    put(&mut s, "message", &value("message"));
    if let Ok(code) = value("exitCode").parse::<i64>() {
        s.insert("exitCode".into(), Value::from(code));
    }
    put(&mut s, "startedAt", &timestamp(&value("started")));
    put(&mut s, "finishedAt", &timestamp(&value("finished")));
    let mut out = Map::new();
    out.insert(word, Value::Object(s));
    Some(Value::Object(out))
}

/// A describe time (`Mon, 02 Nov 2020 13:57:18 +0000`, RFC 1123 with a numeric zone) as
/// RFC 3339; RFC 3339 input is kept; anything else is dropped.
fn timestamp(s: &str) -> String {
    if parse_ts(s).is_some() {
        return s.to_string();
    }
    rfc1123z_ms(s).map(format_rfc3339_ms).unwrap_or_default()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn rfc1123z_ms(s: &str) -> Option<i64> {
    let toks: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, hms, zone] = toks.as_slice() else {
        return None;
    };
    let d: i64 = day.parse().ok()?;
    let m = MONTHS.iter().position(|x| x == month)? as i64 + 1;
    let y: i64 = year.parse().ok()?;
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let (sign, hhmm) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let z: i64 = hhmm.parse().ok().filter(|_| hhmm.len() == 4)?;
    if !(1..=31).contains(&d) || !(0..=9999).contains(&y) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let offset_s = sign * ((z / 100) * 3600 + (z % 100) * 60);
    let secs = days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    Some(secs * 1000)
}

/// The core v1 Event an Events row stands for, about the described object.
fn event_doc(row: &EventRow, obj: &Described) -> Map<String, Value> {
    let mut involved = Map::new();
    put(&mut involved, "kind", &obj.kind);
    put(&mut involved, "name", &obj.name);
    put(&mut involved, "namespace", &obj.namespace);
    let mut doc = Map::new();
    doc.insert("apiVersion".into(), Value::String(CORE_V1.into()));
    doc.insert("kind".into(), Value::String(KIND_EVENT.into()));
    doc.insert("involvedObject".into(), Value::Object(involved));
    put(&mut doc, "type", &row.type_);
    put(&mut doc, "reason", &row.reason);
    put(&mut doc, "message", &row.message);
    if !row.from.is_empty() {
        let mut source = Map::new();
        put(&mut source, "component", &row.from);
        doc.insert("source".into(), Value::Object(source));
    }
    if let Some(count) = repeat_count(&row.age) {
        doc.insert("count".into(), Value::from(count));
    }
    doc
}

/// An Events row pasted on its own, without the describe block or table around it:
/// `Warning  NotificationDispatchFailed  11m (x14 over 2d3h)  notification-controller
/// failed to send notification …` (Type, Reason, Age, From, Message). The object it is
/// about is unknown; `None` when the line does not have that shape.
pub fn lone_event_row(line: &str) -> Option<Record> {
    let (type_, rest) = line.trim().split_once(char::is_whitespace)?;
    if !matches!(type_, "Normal" | "Warning") {
        return None;
    }
    let (reason, rest) = rest.trim_start().split_once(char::is_whitespace)?;
    if !reason.chars().all(|c| c.is_ascii_alphanumeric()) || reason.is_empty() {
        return None;
    }
    let rest = rest.trim_start();
    let (age, rest) = rest.split_once(char::is_whitespace)?;
    if !is_age(age) {
        return None;
    }
    let mut rest = rest.trim_start();
    let mut age = age.to_string();
    if rest.starts_with("(x") {
        let close = rest.find(')')?;
        age = format!("{age} {}", &rest[..=close]);
        rest = rest[close + 1..].trim_start();
    }
    let (from, message) = rest.split_once(char::is_whitespace)?;
    if !from
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | ','))
    {
        return None;
    }
    let row = EventRow {
        line: 0,
        type_: type_.to_string(),
        reason: reason.to_string(),
        age,
        from: from.trim_end_matches(',').to_string(),
        message: message.trim().to_string(),
    };
    let unknown = Described {
        doc: Map::new(),
        kind: String::new(),
        name: String::new(),
        namespace: String::new(),
    };
    let mut recs = records(&event_doc(&row, &unknown));
    let mut rec = recs.pop()?;
    rec.format = Format::EventsTable;
    Some(rec)
}

/// A kubectl age: `11m`, `2d3h`, `59s`, `<unknown>`, `<invalid>`.
fn is_age(s: &str) -> bool {
    matches!(s, "<unknown>" | "<invalid>")
        || (s.chars().next().is_some_and(|c| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_digit() || "smhdy".contains(c)))
}

/// `2m (x4 over 20m)` → 4.
fn repeat_count(age: &str) -> Option<u64> {
    let rest = &age[age.find("(x")? + 2..];
    let digits = rest.split(' ').next()?;
    digits.parse().ok()
}

/// Records of a document built here, as `describe` records.
fn records(doc: &Map<String, Value>) -> Vec<Record> {
    let mut recs = k8s::from_json(doc, &ParseContext::default()).unwrap_or_default();
    for r in &mut recs {
        r.format = Format::Describe;
    }
    recs
}

#[cfg(test)]
#[path = "describe_tests.rs"]
mod tests;
