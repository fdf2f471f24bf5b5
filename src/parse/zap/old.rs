//! The two zap paths as they were before they became one (the serde fast path and the
//! `serde_json::Value` path), kept test-only as the reference of the differential test in
//! `equivalence` until the one parser matches them; then deleted.
#![allow(dead_code, clippy::all)]

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use super::{key, LogFields};
use crate::parse::time::{epoch_f64, parse_go_duration_ms, parse_ts};
use crate::parse::{k8s, ParseContext, ParseError};
use crate::record::{ChangeSet, Format, Level, ObjectRef, Record};
use serde_json::{Map, Value};

/// Outcome of the fast path.
// Returned by value once per line and matched at once: boxing the record would add an
// allocation per line for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Fast {
    /// A zap log line.
    Record(Record),
    /// A JSON object that is not a log line (none of `msg`, `level`, `ts`).
    NotLogLine,
    /// Take the `Value` path (Kubernetes document, non-object, non-scalar `error`).
    Fallback,
}

/// Top-level keys that make `k8s::looks_like` possibly true: `apiVersion` (with
/// `kind`), `involvedObject`, `object` (watch event). Any of them → `Value` path.
const K8S_KEYS: [&str; 3] = ["apiVersion", "involvedObject", "object"];

/// Cheap pre-check on the raw line: false when none of the [`K8S_KEYS`] can be a key.
/// (A key spelled with escapes is still caught after unescaping, see `parse`.)
pub fn may_be_k8s(line: &str) -> bool {
    static FINDERS: std::sync::OnceLock<[memchr::memmem::Finder<'static>; 3]> =
        std::sync::OnceLock::new();
    let finders = FINDERS.get_or_init(|| {
        [
            memchr::memmem::Finder::new(b"\"apiVersion\""),
            memchr::memmem::Finder::new(b"\"involvedObject\""),
            memchr::memmem::Finder::new(b"\"object\""),
        ]
    });
    let b = line.as_bytes();
    finders.iter().any(|f| f.find(b).is_some())
}

/// Parses one JSON line. `Err(())` when the JSON is malformed (the `Value` parse would
/// fail too).
pub(crate) fn parse(line: &str) -> Result<Fast, ()> {
    let mut de = serde_json::Deserializer::from_str(line);
    let top = Top::deserialize(&mut de).map_err(|_| ())?;
    de.end().map_err(|_| ())?;
    let mut entries = match top {
        Top::Object(e) => e,
        Top::Other => return Ok(Fast::Fallback),
    };
    if entries.iter().any(|(k, v)| {
        K8S_KEYS.contains(&k.as_ref())
            || (matches!(k.as_ref(), key::ERROR | key::ERR)
                && matches!(v, TopVal::Arr | TopVal::Obj(_)))
    }) {
        return Ok(Fast::Fallback);
    }
    sort_dedup(&mut entries);
    if ![key::MSG, key::LEVEL, key::TS]
        .iter()
        .any(|k| entries.iter().any(|(e, _)| e == k))
    {
        return Ok(Fast::NotLogLine);
    }
    let mut f = LogFields::default();
    for (k, v) in entries {
        f.old_push_fast(k, v);
    }
    Ok(Fast::Record(f.finish(Format::ZapJson)))
}

/// Stable sort by key bytes, then keep the last entry of each run of equal keys
/// (`BTreeMap::insert` of the `Value` path).
fn sort_dedup<V>(entries: &mut Vec<(Cow<'_, str>, V)>) {
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let n = entries.len();
    if n < 2 || entries.windows(2).all(|w| w[0].0 != w[1].0) {
        return;
    }
    let mut keep = Vec::with_capacity(n);
    for i in 0..n {
        keep.push(i + 1 == n || entries[i].0 != entries[i + 1].0);
    }
    let mut it = keep.into_iter();
    entries.retain(|_| it.next().unwrap_or(true));
}

/// A top-level value, reduced to what [`LogFields`] reads.
#[derive(Debug)]
pub enum TopVal<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    /// An array (contents validated, not kept: no top-level reader uses them).
    Arr,
    /// An object: its entries in input order, nested values reduced further.
    Obj(Vec<(Cow<'a, str>, NestedVal<'a>)>),
}

/// A value inside a top-level object.
#[derive(Debug)]
pub enum NestedVal<'a> {
    Str(Cow<'a, str>),
    /// The string items of an array (`output` grouped change sets).
    StrArr(Vec<Cow<'a, str>>),
    Other,
}

impl<'a> TopVal<'a> {
    fn scalar(self) -> Option<String> {
        match self {
            TopVal::Str(s) => Some(s.into_owned()),
            TopVal::Num(n) => Some(n.to_string()),
            TopVal::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    fn is_scalar(&self) -> bool {
        matches!(self, TopVal::Str(_) | TopVal::Num(_) | TopVal::Bool(_))
    }
}

/// `str_of` of the `Value` path: the last value of `k`, when it is a string.
fn str_of<'m>(m: &'m [(Cow<'_, str>, NestedVal<'_>)], k: &str) -> Option<&'m str> {
    match m.iter().rev().find(|(e, _)| e == k) {
        Some((_, NestedVal::Str(s))) => Some(s),
        _ => None,
    }
}

impl LogFields {
    /// `keep` for an owned fast value: returns the value when it was not used.
    fn old_keep_fast<'a>(slot: &mut Option<String>, v: TopVal<'a>) -> Option<TopVal<'a>> {
        if slot.is_none() && v.is_scalar() {
            *slot = v.scalar();
            None
        } else {
            Some(v)
        }
    }

    /// [`push`](LogFields::push) for a fast value: the scalar slots from the shared
    /// `scalar_slot` table, then the same arms in the same order.
    fn old_push_fast(&mut self, k: Cow<'_, str>, v: TopVal<'_>) {
        if let Some(slot) = self.old_scalar_slot(&k) {
            if let Some(s) = Self::old_keep_fast(slot, v).and_then(TopVal::scalar) {
                self.rec.fields.push((k.into_owned(), s));
            }
            return;
        }
        let unused: Option<TopVal<'_>> = match k.as_ref() {
            key::LEVEL | key::LVL => {
                let level = match &v {
                    TopVal::Str(s) => Level::from_loose(s),
                    _ => None,
                };
                match level {
                    Some(l) if self.rec.level.is_none() => {
                        self.rec.level = Some(l);
                        None
                    }
                    _ => Some(v),
                }
            }
            key::TS | key::TIME | key::T | key::TIMESTAMP => {
                let ts = match &v {
                    TopVal::Str(s) => parse_ts(s),
                    TopVal::Num(n) => n.as_f64().and_then(epoch_f64),
                    _ => None,
                };
                match ts {
                    Some(t) if self.rec.ts.is_none() => {
                        self.rec.ts = Some(t);
                        None
                    }
                    _ => Some(v),
                }
            }
            key::ERROR | key::ERR => match v {
                TopVal::Null => None,
                // non-scalar errors took the `Value` path (see `parse`)
                v => Self::old_keep_fast(&mut self.error, v),
            },
            key::DURATION => {
                self.duration_ms = match &v {
                    TopVal::Num(n) => n.as_f64().and_then(|s| {
                        (s.is_finite() && (0.0..1e12).contains(&s))
                            .then(|| (s * 1000.0).round() as u64)
                    }),
                    TopVal::Str(s) => parse_go_duration_ms(s),
                    _ => None,
                };
                if self.duration_ms.is_some() {
                    None
                } else {
                    Some(v)
                }
            }
            key::OUTPUT => match v {
                TopVal::Obj(mut m) => {
                    let cs = change_set(&mut m);
                    let merged = self.rec.changes.get_or_insert_with(ChangeSet::default);
                    merged.created.extend(cs.created);
                    merged.configured.extend(cs.configured);
                    merged.deleted.extend(cs.deleted);
                    merged.unchanged += cs.unchanged;
                    None
                }
                v => Some(v),
            },
            key::STACKTRACE => None,
            key::EVENT_INVOLVED_OBJECT => match v {
                TopVal::Obj(m) => {
                    if let (Some(kind), Some(name)) = (str_of(&m, key::KIND), str_of(&m, key::NAME))
                    {
                        let ns = str_of(&m, key::NAMESPACE).unwrap_or("");
                        self.involved = Some(ObjectRef::new(kind, ns, name));
                    }
                    None
                }
                v => Some(v),
            },
            _ => match v {
                TopVal::Obj(m) => {
                    if let Some(name) = str_of(&m, key::NAME) {
                        let ns = str_of(&m, key::NAMESPACE).unwrap_or("");
                        self.kind_objects
                            .push((k.to_string(), ns.to_string(), name.to_string()));
                    }
                    None
                }
                TopVal::Arr | TopVal::Null => None,
                v => Some(v),
            },
        };
        if let Some(s) = unused.and_then(TopVal::scalar) {
            self.rec.fields.push((k.into_owned(), s));
        }
    }
}

/// `change_set` of the `Value` path (entries in key order, last duplicate wins).
fn change_set(m: &mut Vec<(Cow<'_, str>, NestedVal<'_>)>) -> ChangeSet {
    sort_dedup(m);
    let mut cs = ChangeSet::default();
    for (k, v) in m.iter() {
        match v {
            NestedVal::Str(action) => cs.add(k, action),
            NestedVal::StrArr(items) => {
                for it in items {
                    cs.add(it, k);
                }
            }
            NestedVal::Other => {}
        }
    }
    cs
}

// ---------------------------------------------------------------------------------------
// serde plumbing

/// A string that borrows from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Validates and discards any value (every token goes through the parser as `Value`
/// parsing would: strings are fully decoded, numbers range-checked).
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_none<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Skip, D::Error> {
        Skip::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<CowStrSkip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
    }
}

/// A map key, validated as a string and discarded.
struct CowStrSkip;

impl<'de> Deserialize<'de> for CowStrSkip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStrSkip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(CowStrSkip)
            }
        }
        d.deserialize_str(V)
    }
}

/// The whole document.
enum Top<'a> {
    Object(Vec<(Cow<'a, str>, TopVal<'a>)>),
    Other,
}

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Top<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
                let mut entries = Vec::with_capacity(16);
                while let Some(CowStr(k)) = map.next_key::<CowStr<'de>>()? {
                    let v = map.next_value::<TopVal<'de>>()?;
                    entries.push((k, v));
                }
                Ok(Top::Object(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Top<'de>, A::Error> {
                SkipVisitor.visit_seq(seq).map(|_| Top::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Top<'de>, E> {
                Ok(Top::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for TopVal<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopVal<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<TopVal<'de>, E> {
                Ok(TopVal::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TopVal<'de>, E> {
                Ok(TopVal::Num(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TopVal<'de>, E> {
                Ok(TopVal::Num(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TopVal<'de>, E> {
                // as `Value`: a non-finite float becomes null
                Ok(Number::from_f64(v).map_or(TopVal::Null, TopVal::Num))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<TopVal<'de>, E> {
                Ok(TopVal::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TopVal<'de>, E> {
                Ok(TopVal::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<TopVal<'de>, E> {
                Ok(TopVal::Str(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<TopVal<'de>, E> {
                Ok(TopVal::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<TopVal<'de>, E> {
                Ok(TopVal::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<TopVal<'de>, D::Error> {
                TopVal::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<TopVal<'de>, A::Error> {
                SkipVisitor.visit_seq(seq).map(|_| TopVal::Arr)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopVal<'de>, A::Error> {
                let mut entries = Vec::new();
                while let Some(CowStr(k)) = map.next_key::<CowStr<'de>>()? {
                    let v = map.next_value_seed(NestedSeed)?;
                    entries.push((k, v));
                }
                Ok(TopVal::Obj(entries))
            }
        }
        d.deserialize_any(V)
    }
}

struct NestedSeed;

impl<'de> DeserializeSeed<'de> for NestedSeed {
    type Value = NestedVal<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<NestedVal<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NestedVal<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<NestedVal<'de>, E> {
                Ok(NestedVal::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<NestedVal<'de>, E> {
                Ok(NestedVal::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<NestedVal<'de>, E> {
                Ok(NestedVal::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<NestedVal<'de>, E> {
                Ok(NestedVal::Other)
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<NestedVal<'de>, E> {
                Ok(NestedVal::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NestedVal<'de>, E> {
                Ok(NestedVal::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<NestedVal<'de>, E> {
                Ok(NestedVal::Str(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<NestedVal<'de>, E> {
                Ok(NestedVal::Other)
            }
            fn visit_none<E: de::Error>(self) -> Result<NestedVal<'de>, E> {
                Ok(NestedVal::Other)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NestedVal<'de>, D::Error> {
                NestedSeed.deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NestedVal<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(it) = seq.next_element_seed(NestedSeed)? {
                    if let NestedVal::Str(s) = it {
                        items.push(s);
                    }
                }
                Ok(NestedVal::StrArr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NestedVal<'de>, A::Error> {
                SkipVisitor.visit_map(map).map(|_| NestedVal::Other)
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------
// the `Value` path and the dispatch of `parse::parse_json_line`, as they were

/// `parse::parse_json_line` after its depth check, with the old zap paths.
pub(crate) fn parse_json_line(line: &str, ctx: &ParseContext) -> Result<Vec<Record>, ParseError> {
    if !may_be_k8s(line) {
        match parse(line) {
            Err(()) => return Err(ParseError::Malformed("json")),
            Ok(Fast::Record(r)) => return Ok(vec![r]),
            Ok(Fast::NotLogLine) => return Err(ParseError::NotThisFormat),
            Ok(Fast::Fallback) => {}
        }
    }
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|_| ParseError::Malformed("json"))?;
    let obj = value.as_object().ok_or(ParseError::NotThisFormat)?;
    if k8s::looks_like(obj) {
        return k8s::from_json(obj, ctx);
    }
    from_json(obj, ctx).map(|r| vec![r])
}

pub(crate) fn from_json(
    obj: &Map<String, Value>,
    _ctx: &ParseContext,
) -> Result<Record, ParseError> {
    if ![key::MSG, key::LEVEL, key::TS]
        .iter()
        .any(|k| obj.contains_key(*k))
    {
        return Err(ParseError::NotThisFormat);
    }
    let mut f = LogFields::default();
    for (k, v) in obj {
        f.old_push(k, v);
    }
    Ok(f.finish(Format::ZapJson))
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn v_str_of<'v>(m: &'v Map<String, Value>, k: &str) -> Option<&'v str> {
    m.get(k).and_then(Value::as_str)
}

fn v_change_set(m: &Map<String, Value>) -> ChangeSet {
    let mut cs = ChangeSet::default();
    for (k, v) in m {
        match v {
            Value::String(action) => cs.add(k, action),
            Value::Array(items) => {
                for it in items.iter().filter_map(Value::as_str) {
                    cs.add(it, k);
                }
            }
            _ => {}
        }
    }
    cs
}

impl LogFields {
    fn old_keep(slot: &mut Option<String>, v: &Value) -> bool {
        match scalar(v) {
            Some(s) if slot.is_none() => {
                *slot = Some(s);
                true
            }
            _ => false,
        }
    }

    fn old_scalar_slot(&mut self, k: &str) -> Option<&mut Option<String>> {
        Some(match k {
            key::MSG => &mut self.msg,
            key::MESSAGE => &mut self.message,
            key::LOGGER => &mut self.rec.logger,
            key::CONTROLLER => &mut self.controller,
            key::CONTROLLER_KIND => &mut self.controller_kind,
            key::RECONCILER_KIND | key::RECONCILER_KIND_SPACED => &mut self.reconciler_kind,
            key::NAME => &mut self.name,
            key::NAMESPACE => &mut self.namespace,
            key::REQUEST => &mut self.request,
            key::RECONCILE_ID => &mut self.rec.reconcile_id,
            key::REVISION => &mut self.rec.revision,
            key::REASON => &mut self.reason,
            _ => return None,
        })
    }

    pub(crate) fn old_push(&mut self, k: &str, v: &Value) {
        if let Some(slot) = self.old_scalar_slot(k) {
            if !Self::old_keep(slot, v) {
                if let Some(s) = scalar(v) {
                    self.rec.fields.push((k.to_string(), s));
                }
            }
            return;
        }
        let used = match k {
            key::LEVEL | key::LVL => match v.as_str().and_then(Level::from_loose) {
                Some(l) if self.rec.level.is_none() => {
                    self.rec.level = Some(l);
                    true
                }
                _ => false,
            },
            key::TS | key::TIME | key::T | key::TIMESTAMP => {
                let ts = match v {
                    Value::String(s) => parse_ts(s),
                    Value::Number(n) => n.as_f64().and_then(epoch_f64),
                    _ => None,
                };
                match ts {
                    Some(t) if self.rec.ts.is_none() => {
                        self.rec.ts = Some(t);
                        true
                    }
                    _ => false,
                }
            }
            key::ERROR | key::ERR => match v {
                Value::Null => true,
                Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                    Self::old_keep(&mut self.error, v)
                }
                other if self.error.is_none() => {
                    self.error = Some(other.to_string());
                    true
                }
                _ => false,
            },
            key::DURATION => {
                self.duration_ms = match v {
                    Value::Number(n) => n.as_f64().and_then(|s| {
                        (s.is_finite() && (0.0..1e12).contains(&s))
                            .then(|| (s * 1000.0).round() as u64)
                    }),
                    Value::String(s) => parse_go_duration_ms(s),
                    _ => None,
                };
                self.duration_ms.is_some()
            }
            key::OUTPUT => match v {
                Value::Object(m) => {
                    let cs = v_change_set(m);
                    let merged = self.rec.changes.get_or_insert_with(ChangeSet::default);
                    merged.created.extend(cs.created);
                    merged.configured.extend(cs.configured);
                    merged.deleted.extend(cs.deleted);
                    merged.unchanged += cs.unchanged;
                    true
                }
                _ => false,
            },
            key::STACKTRACE => true,
            key::EVENT_INVOLVED_OBJECT => match v {
                Value::Object(m) => {
                    if let (Some(kind), Some(name)) =
                        (v_str_of(m, key::KIND), v_str_of(m, key::NAME))
                    {
                        let ns = v_str_of(m, key::NAMESPACE).unwrap_or("");
                        self.involved = Some(ObjectRef::new(kind, ns, name));
                    }
                    true
                }
                _ => false,
            },
            _ => match v {
                Value::Object(m) => {
                    if let Some(name) = v_str_of(m, key::NAME) {
                        let ns = v_str_of(m, key::NAMESPACE).unwrap_or("");
                        self.kind_objects
                            .push((k.to_string(), ns.to_string(), name.to_string()));
                    }
                    true
                }
                Value::Array(_) | Value::Null => true,
                _ => false,
            },
        };
        if !used {
            if let Some(s) = scalar(v) {
                self.rec.fields.push((k.to_string(), s));
            }
        }
    }
}
