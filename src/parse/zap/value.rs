//! The values [`LogFields`](super::LogFields) reads, and their two sources: a JSON line
//! deserialized straight into them ([`entries`]: no `serde_json::Value` tree, no `String`
//! per key, strings borrowed from the line unless escaped), and a `serde_json::Value`
//! another parser already holds ([`Val::of`]: console's trailing JSON, logfmt and klog
//! pairs, a JSON document that turned out not to be a Kubernetes one).
//!
//! Owns: the JSON-to-[`Val`] mapping. Does not own: what a key means (see `zap`).
//!
//! Invariant: both sources give the same entries for the same JSON, those of the `Value`
//! tree (serde_json without `preserve_order`):
//! - keys in byte order, a repeated key keeping its last value ([`sort_dedup`], stable);
//! - every token validated by serde_json's own routines (strings through
//!   `deserialize_any`, never `IgnoredAny`, which would accept lone surrogates), so a line
//!   is malformed here exactly when `serde_json::from_str::<Value>` fails;
//! - a non-finite float is `Null`; a compound `error`/`err` value is kept as the compact
//!   JSON text `Value`'s `Display` gives ([`Val::Rendered`]), the only compound value
//!   whose content reaches a record as text.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::key;

/// A top-level value, reduced to what `LogFields` reads.
#[derive(Debug)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    /// An array (contents validated, not kept: no top-level reader uses them).
    Arr,
    /// An object: its entries in input order, nested values reduced further.
    Obj(Vec<(Cow<'a, str>, Nested<'a>)>),
    /// A compound `error`/`err` value as compact JSON text.
    Rendered(String),
}

/// A value inside a top-level object.
#[derive(Debug)]
pub enum Nested<'a> {
    Str(Cow<'a, str>),
    /// The string items of an array (`output` grouped change sets).
    StrArr(Vec<Cow<'a, str>>),
    Other,
}

/// Keys whose compound values are kept as text ([`Val::Rendered`]).
fn renders_compound(k: &str) -> bool {
    matches!(k, key::ERROR | key::ERR)
}

impl<'a> Val<'a> {
    /// The view of a `Value` held elsewhere, under key `k`.
    pub fn of(k: &str, v: &'a Value) -> Val<'a> {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Num(n.clone()),
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            Value::Array(_) | Value::Object(_) if renders_compound(k) => {
                Val::Rendered(v.to_string())
            }
            Value::Array(_) => Val::Arr,
            Value::Object(m) => Val::Obj(
                m.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Nested::of(v)))
                    .collect(),
            ),
        }
    }

    /// The text of a scalar (`Value`'s rendering of numbers and booleans).
    pub fn scalar(self) -> Option<String> {
        match self {
            Val::Str(s) => Some(s.into_owned()),
            Val::Num(n) => Some(n.to_string()),
            Val::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn is_scalar(&self) -> bool {
        matches!(self, Val::Str(_) | Val::Num(_) | Val::Bool(_))
    }
}

impl<'a> Nested<'a> {
    fn of(v: &'a Value) -> Nested<'a> {
        match v {
            Value::String(s) => Nested::Str(Cow::Borrowed(s)),
            Value::Array(items) => Nested::StrArr(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(Cow::Borrowed)
                    .collect(),
            ),
            _ => Nested::Other,
        }
    }
}

/// The last value of `k` in a nested object, when it is a string (`Value::get` of a
/// deduplicated map).
pub fn str_of<'m>(m: &'m [(Cow<'_, str>, Nested<'_>)], k: &str) -> Option<&'m str> {
    match m.iter().rev().find(|(e, _)| e == k) {
        Some((_, Nested::Str(s))) => Some(s),
        _ => None,
    }
}

/// Stable sort by key bytes, then keep the last entry of each run of equal keys (the
/// `BTreeMap::insert` of a `Value` object).
pub fn sort_dedup<V>(entries: &mut Vec<(Cow<'_, str>, V)>) {
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

/// Top-level keys and values, in input order.
pub type Entries<'a> = Vec<(Cow<'a, str>, Val<'a>)>;

/// The top-level entries of a JSON line, in input order (`Ok(None)`: valid JSON, not an
/// object); `Err` when the line is not one valid JSON document.
pub fn entries(line: &str) -> Result<Option<Entries<'_>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(line);
    let top = Top::deserialize(&mut de)?;
    de.end()?;
    Ok(match top {
        Top::Object(e) => Some(e),
        Top::Other => None,
    })
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
    Object(Entries<'a>),
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
                    let v = map.next_value_seed(ValSeed { key: &k })?;
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

/// A top-level value under `key`; a compound value of a key that [`renders_compound`]
/// becomes [`Val::Rendered`] (deserialized
/// as the `Value` it would be, then displayed).
// The key is looked at only when the value is compound (rare): the check per key would
// cost more than the rest of a scalar's visit.
struct ValSeed<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for ValSeed<'_> {
    type Value = Val<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Val<'de>, D::Error> {
        struct V<'k> {
            key: &'k str,
        }
        impl<'de> Visitor<'de> for V<'_> {
            type Value = Val<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Val<'de>, E> {
                Ok(Val::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Val<'de>, E> {
                Ok(Val::Num(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Val<'de>, E> {
                Ok(Val::Num(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Val<'de>, E> {
                // as `Value`: a non-finite float becomes null
                Ok(Number::from_f64(v).map_or(Val::Null, Val::Num))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Val<'de>, E> {
                Ok(Val::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Val<'de>, E> {
                Ok(Val::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Val<'de>, E> {
                Ok(Val::Str(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Val<'de>, E> {
                Ok(Val::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Val<'de>, E> {
                Ok(Val::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Val<'de>, D::Error> {
                ValSeed { key: self.key }.deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Val<'de>, A::Error> {
                if renders_compound(self.key) {
                    let v = Value::deserialize(SeqAccessDeserializer::new(seq))?;
                    return Ok(Val::Rendered(v.to_string()));
                }
                SkipVisitor.visit_seq(seq).map(|_| Val::Arr)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val<'de>, A::Error> {
                if renders_compound(self.key) {
                    let v = Value::deserialize(MapAccessDeserializer::new(map))?;
                    return Ok(Val::Rendered(v.to_string()));
                }
                let mut entries = Vec::new();
                while let Some(CowStr(k)) = map.next_key::<CowStr<'de>>()? {
                    let v = map.next_value_seed(NestedSeed)?;
                    entries.push((k, v));
                }
                Ok(Val::Obj(entries))
            }
        }
        d.deserialize_any(V { key: self.key })
    }
}

struct NestedSeed;

impl<'de> DeserializeSeed<'de> for NestedSeed {
    type Value = Nested<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Nested<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Nested<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Nested<'de>, E> {
                Ok(Nested::Other)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Nested<'de>, E> {
                Ok(Nested::Other)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Nested<'de>, E> {
                Ok(Nested::Other)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Nested<'de>, E> {
                Ok(Nested::Other)
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Nested<'de>, E> {
                Ok(Nested::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Nested<'de>, E> {
                Ok(Nested::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Nested<'de>, E> {
                Ok(Nested::Str(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Nested<'de>, E> {
                Ok(Nested::Other)
            }
            fn visit_none<E: de::Error>(self) -> Result<Nested<'de>, E> {
                Ok(Nested::Other)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Nested<'de>, D::Error> {
                NestedSeed.deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Nested<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(it) = seq.next_element_seed(NestedSeed)? {
                    if let Nested::Str(s) = it {
                        items.push(s);
                    }
                }
                Ok(Nested::StrArr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Nested<'de>, A::Error> {
                SkipVisitor.visit_map(map).map(|_| Nested::Other)
            }
        }
        d.deserialize_any(V)
    }
}
