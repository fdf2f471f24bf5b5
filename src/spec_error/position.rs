//! Where a config field is: the 1-based line and column of a key or value.
//!
//! Owns: an index of every key and value of a YAML document with its position, built
//! by serde-saphyr (the parser that reads the config) through [`Spanned`], and the two
//! questions asked of it: where is the field at a path such as `sinks[0].url`, and which
//! field does a serde-saphyr error at a location mean. Does not own: the error type
//! ([`super::SpecError`]) or any config schema.
//!
//! Why a second parse: serde buffers an internally tagged enum (a `sinks:` item, chosen
//! by `type`) before deserialising it, so serde-saphyr can only report an error inside
//! one at the item's first key, and a type error there does not name its field. The
//! index finds the field inside that item from what the error names: the unknown key,
//! or the offending value.
//!
//! Invariant: a [`Position`] is 1-based; column 0 means unknown. The index is built
//! only when an error is reported, never on a data path.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// Line and column (1-based) of a config field; column 0 when only the line is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// A serde-saphyr location, or `None` when it is unknown (line 0).
    pub fn of(l: Location) -> Option<Position> {
        (l.line() > 0).then(|| Position {
            line: l.line() as usize,
            column: l.column() as usize,
        })
    }
}

/// A YAML node as the index needs it: scalars keep their text to be matched against
/// the value an error quotes.
enum Node {
    Scalar(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = a.next_element()? {
            items.push(n);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = a.next_key()? {
            entries.push((k, a.next_value()?));
        }
        Ok(Node::Map(entries))
    }
}

/// One key or list item of the document, in document order (parents first).
struct Entry {
    /// `sinks[0].url`; the root is `""`.
    path: String,
    /// The key's position; `None` for list items and the root.
    key: Option<Position>,
    value: Position,
    /// A scalar value's text.
    scalar: Option<String>,
    is_map: bool,
}

/// Every key and value of a document with its position.
pub struct PositionIndex {
    entries: Vec<Entry>,
}

impl PositionIndex {
    /// Indexes `text`; `None` when it is not YAML (the parse error says where).
    pub fn new(text: &str) -> Option<Self> {
        let root: Spanned<Node> = serde_saphyr::from_str(text).ok()?;
        let mut entries = Vec::new();
        walk(&root, String::new(), None, &mut entries);
        Some(PositionIndex { entries })
    }

    /// An index of nothing (a text that is not YAML cannot reach validation).
    pub fn empty() -> Self {
        PositionIndex {
            entries: Vec::new(),
        }
    }

    /// Where the field at `path` is: its value when the value starts on the key's line
    /// (a scalar or a flow collection), else its key (a block section or list).
    pub fn field(&self, path: &str) -> Option<Position> {
        let e = self.entries.iter().find(|e| e.path == path)?;
        Some(match e.key {
            Some(k) if k.line != e.value.line => k,
            _ => e.value,
        })
    }

    /// Where the field at `path` is, or (when it is absent, a missing key) its nearest
    /// enclosing field that exists; `None` only when not even the first key exists.
    pub fn nearest(&self, path: &str) -> Option<Position> {
        let mut p = path;
        loop {
            if let Some(pos) = self.field(p) {
                return Some(pos);
            }
            p = &p[..p.rfind(['.', '['])?];
        }
    }

    /// The field a deserialisation error at `at` is about, and its own position.
    /// `message` is serde's text: it names an unknown or missing field, or quotes the
    /// offending value (`invalid type: string "ten", expected usize`).
    pub fn error_field(&self, at: Position, message: &str) -> Option<(String, Position)> {
        let key_hit = self.entries.iter().rfind(|e| e.key == Some(at));
        let value_hit = self.entries.iter().rfind(|e| e.value == at);
        // The mapping the error is inside: the one starting at `at` (an error from a
        // buffered, internally tagged item), else the one holding the key at `at`.
        let scope = match (value_hit, key_hit) {
            (Some(v), _) if v.is_map => Some(v.path.as_str()),
            (_, Some(k)) => Some(parent(&k.path)),
            _ => None,
        };
        if let Some(name) = backticked(message, "unknown field `") {
            let path = join(scope.unwrap_or(""), &name);
            if let Some(e) = self.entries.iter().find(|e| e.path == path) {
                return Some((path, e.key.unwrap_or(e.value)));
            }
        }
        if let Some(name) = backticked(message, "missing field `") {
            return Some((join(scope.unwrap_or(""), &name), at));
        }
        if let Some(v) = value_hit.filter(|v| v.scalar.is_some()) {
            return Some((v.path.clone(), at));
        }
        if let (Some(scope), Some(quoted)) = (scope, quoted_value(message)) {
            let inside = |p: &str| {
                p.strip_prefix(scope)
                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
            };
            if let Some(e) = self
                .entries
                .iter()
                .find(|e| inside(&e.path) && e.scalar.as_deref() == Some(quoted.as_str()))
            {
                return Some((e.path.clone(), e.value));
            }
        }
        key_hit.map(|k| (k.path.clone(), at))
    }
}

fn walk(node: &Spanned<Node>, path: String, key: Option<Position>, out: &mut Vec<Entry>) {
    let value = Position::of(node.referenced).unwrap_or_default();
    let (scalar, is_map) = match &node.value {
        Node::Scalar(s) => (Some(s.clone()), false),
        Node::Seq(_) => (None, false),
        Node::Map(_) => (None, true),
    };
    out.push(Entry {
        path: path.clone(),
        key,
        value,
        scalar,
        is_map,
    });
    match &node.value {
        Node::Scalar(_) => {}
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, format!("{path}[{i}]"), None, out);
            }
        }
        Node::Map(entries) => {
            for (k, v) in entries {
                let Node::Scalar(name) = &k.value else {
                    continue;
                };
                walk(v, join(&path, name), Position::of(k.referenced), out);
            }
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `sinks[0]` of `sinks[0].url`, `sinks` of `sinks[0]`, `""` of `cluster`.
fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

fn backticked(message: &str, marker: &str) -> Option<String> {
    let rest = &message[message.find(marker)? + marker.len()..];
    rest.find('`').map(|j| rest[..j].to_string())
}

/// The value serde quotes in `invalid type: string "ten"` / `invalid value: integer
/// `-1`` / `unknown variant `webhok``.
fn quoted_value(message: &str) -> Option<String> {
    if let Some(i) = message.find("string \"") {
        let rest = &message[i + "string \"".len()..];
        return rest.find('"').map(|j| rest[..j].to_string());
    }
    let rest = &message[message.find('`')? + 1..];
    rest.find('`').map(|j| rest[..j].to_string())
}
