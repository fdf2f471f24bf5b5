//! zap JSON fast path: the line is deserialized straight into [`LogFields`] without
//! building a `serde_json::Value` tree (no `Map<String, Value>`, no `String` per key).
//!
//! Semantics are those of [`from_json`](super::from_json) over the `Value` tree:
//! - the tree is a `BTreeMap` (serde_json without `preserve_order`): keys are visited in
//!   byte order and a repeated key keeps its last value; the entries here are sorted and
//!   deduplicated the same way (stable sort, last one wins) before they are pushed;
//! - every token is validated by the same serde_json parser routines (strings through
//!   `deserialize_any`, never `IgnoredAny`, which would accept lone surrogates), so a line
//!   is malformed here exactly when the `Value` parse fails;
//! - documents the `Value` path treats specially (Kubernetes documents, see
//!   `k8s::looks_like`; a non-scalar `error`, rendered with `Value`'s `Display`) are
//!   handed back with [`Fast::Fallback`].

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use super::{key, LogFields};
use crate::parse::time::{epoch_f64, parse_go_duration_ms, parse_ts};
use crate::record::{ChangeSet, Format, Level, ObjectRef, Record};

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
        f.push_fast(k, v);
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
    fn keep_fast<'a>(slot: &mut Option<String>, v: TopVal<'a>) -> Option<TopVal<'a>> {
        if slot.is_none() && v.is_scalar() {
            *slot = v.scalar();
            None
        } else {
            Some(v)
        }
    }

    /// [`push`](LogFields::push) for a fast value: the scalar slots from the shared
    /// `scalar_slot` table, then the same arms in the same order.
    fn push_fast(&mut self, k: Cow<'_, str>, v: TopVal<'_>) {
        if let Some(slot) = self.scalar_slot(&k) {
            if let Some(s) = Self::keep_fast(slot, v).and_then(TopVal::scalar) {
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
                v => Self::keep_fast(&mut self.error, v),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ParseContext, ParseError};
    use serde_json::Value;

    /// The `Value` path: `Ok(Some)` record, `Ok(None)` not a log line / not an object,
    /// `Err` malformed.
    fn slow(line: &str) -> Result<Option<Record>, ()> {
        let v: Value = serde_json::from_str(line).map_err(|_| ())?;
        let Some(obj) = v.as_object() else {
            return Ok(None);
        };
        match super::super::from_json(obj, &ParseContext::default()) {
            Ok(r) => Ok(Some(r)),
            Err(ParseError::NotThisFormat) => Ok(None),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    fn same(line: &str) {
        let want = slow(line);
        match parse(line) {
            Err(()) => assert_eq!(want, Err(()), "{line}"),
            Ok(Fast::Record(r)) => assert_eq!(want, Ok(Some(r)), "{line}"),
            Ok(Fast::NotLogLine) => assert_eq!(want, Ok(None), "{line}"),
            Ok(Fast::Fallback) => {}
        }
    }

    #[test]
    fn fast_path_matches_value_path() {
        for line in [
            r#"{"level":"info","ts":"2026-08-01T10:00:00.123Z","msg":"Reconciliation finished in 2.31s, next run in 10m0s","controller":"kustomization","controllerGroup":"kustomize.toolkit.fluxcd.io","controllerKind":"Kustomization","Kustomization":{"name":"apps","namespace":"flux-system"},"namespace":"flux-system","name":"apps","reconcileID":"3f6c0d8e-1111-4a4a-9b9b-222233334444","revision":"main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f"}"#,
            r#"{"level":"error","ts":1594302000.1234,"logger":"controller-runtime.controller","msg":"Reconciler error","controller":"gitrepository","request":"default/podinfo","error":"unable to clone: auth"}"#,
            r#"{"level":"info","ts":"2021-01-31T18:54:10.611Z","logger":"controller.gitrepository","msg":"x","reconciler group":"source.toolkit.fluxcd.io","reconciler kind":"GitRepository","name":"flux-system","namespace":"flux-system"}"#,
            r#"{"level":"info","msg":"server-side apply completed","output":{"configured":["Deployment/apps/b","Deployment/apps/a",3],"deleted":["ConfigMap/apps/c"],"Namespace/x":"created","configured":["Deployment/apps/z"]}}"#,
            r#"{"level":"info","msg":"x","output":{"b/x":"created","a/x":"created"},"output":{"c/x":"deleted"}}"#,
            r#"{"msg":"second","msg":"first","zeta":1,"alpha":2.50,"beta":true,"gamma":null,"big":18446744073709551615,"neg":-3,"exp":1e3,"huge":123456789012345678901234567890}"#,
            r#"{"level":"info","msg":"esc \"q\" \u00e9 \ud83d\ude00","k\u0065y":"v\nw","error":false}"#,
            r#"{"level":"info","msg":"x","error":null,"err":"EOF","reason":"Progressing","duration":"1.5s"}"#,
            r#"{"level":"info","msg":"reconciliation waiting","reason":"not ready","duration":30}"#,
            r#"{"level":"info","msg":"x","duration":-1,"duration":"bogus"}"#,
            r#"{"level":"info","msg":"dispatching event","eventInvolvedObject":{"kind":"Kustomization","namespace":"flux-system","name":"apps","name":7},"message":"Health check passed"}"#,
            r#"{"level":"info","msg":"x","eventInvolvedObject":"str","gitRepository":{"name":"a","namespace":"b","deep":{"x":[1,{"y":"z"}]}},"list":[1,2,{"a":[]}]}"#,
            r#"{"level":7,"ts":true,"msg":{"a":1},"logger":["x"],"name":"","request":"a/b"}"#,
            r#"{"level":"bogus","ts":"not a time","msg":"x"}"#,
            r#"{"foo":1,"bar":{"a":2}}"#,
            r#"{}"#,
            r#"{"level":"info","msg":"x","error":{"a":[1,2]}}"#,
            r#"{"level":"info","msg":"x",}"#,
            r#"{"level":"info","msg":"x"} trailing"#,
            r#"{"level":"info","msg":"lone \ud800 surrogate"}"#,
            r#"{"level":"info","msg":"x","other":"lone \ud800 surrogate"}"#,
            r#"{"level":"info","msg":"x","other":{"k":["lone \udc00"]}}"#,
            r#"{"level":"info","msg":"x","other":{"lone \udc00":1}}"#,
            "{\"level\":\"info\",\"msg\":\"ctl \u{1}\"}",
            r#"{"level":"info","msg":"x","n":1e999}"#,
            r#"{"level":"info","msg":"x","n":-0,"m":-0.0,"o":0.1,"p":1.0e-7}"#,
            r#"{"level":"info","msg":"x","kind":"Deployment","apiVersion":"apps/v1"}"#,
            r#"[1,2]"#,
            r#"  {"level":"info","msg":"x"}  "#,
        ] {
            same(line);
        }
    }

    #[test]
    fn key_order_and_duplicates() {
        let Ok(Fast::Record(r)) = parse(r#"{"z":"1","a":"2","m":"3","a":"4"}"#) else {
            // not a log line: no msg/level/ts
            let Ok(Fast::Record(r)) = parse(r#"{"z":"1","a":"2","msg":"m","m":"3","a":"4"}"#)
            else {
                panic!("log line expected");
            };
            let keys: Vec<_> = r.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            assert_eq!(keys, ["a=4", "m=3", "z=1"]);
            return;
        };
        panic!("not a log line: {r:?}");
    }
}
