//! Kubernetes documents, one JSON document per line (contracts.md §1.2): core `v1` and
//! `events.k8s.io/v1` Events, watch events, Pods, Flux objects, any other object, `List`s
//! and the Flux event payload POSTed to notification-controller.
//!
//! Owns: recognising these documents ([`looks_like`]) and turning each into typed
//! [`Record`]s with an event, pod or object [`Detail`](crate::record::Detail); the table
//! of Flux controller names and the kinds each reconciles. Does not own: classification
//! (records keep the default class) or facts inside message text (`message::enrich`).
//!
//! Invariant: never panics on any JSON value; a field of the wrong type or shape is
//! skipped, never an error. Every array read is capped.
//!
//! Layout: `event` (Events and Flux payloads), `pod`, `object` (Flux and other objects).

mod event;
mod object;
mod pod;

use serde_json::{Map, Value};

use super::time::parse_ts;
use super::{ParseContext, ParseError};
use crate::record::{Format, ObjectRef, Record, TsMs};

/// Most items taken from one `List` document; the rest are dropped.
pub const MAX_LIST_ITEMS: usize = 10_000;

/// Most entries read from any other array or map (conditions, labels, containers, …).
pub(crate) const MAX_ENTRIES: usize = 256;

/// Watch event types (`watch.EventType`).
const WATCH_TYPES: [&str; 5] = ["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"];

/// Record field holding the watch event type of a wrapped Event.
pub(crate) const FIELD_WATCH_TYPE: &str = "watch_type";

/// Deployment names of the Flux controllers.
pub mod controller {
    pub const SOURCE: &str = "source-controller";
    pub const KUSTOMIZE: &str = "kustomize-controller";
    pub const HELM: &str = "helm-controller";
    pub const NOTIFICATION: &str = "notification-controller";
    pub const IMAGE_REFLECTOR: &str = "image-reflector-controller";
    pub const IMAGE_AUTOMATION: &str = "image-automation-controller";

    /// Every Flux controller, as deployed by `flux install`.
    pub const ALL: [&str; 6] = [
        SOURCE,
        KUSTOMIZE,
        HELM,
        NOTIFICATION,
        IMAGE_REFLECTOR,
        IMAGE_AUTOMATION,
    ];
}

pub use super::message::controller_for_kind;

/// True for the kinds of the Flux APIs (`controller_for_kind` knows them).
pub fn is_flux_kind(kind: &str) -> bool {
    controller_for_kind(kind).is_some()
}

/// The name itself when it is exactly a Flux controller's name.
pub fn known_controller(name: &str) -> Option<&'static str> {
    controller::ALL.iter().find(|c| **c == name).copied()
}

pub use super::message::controller_from_pod;

/// True when the JSON object is a Kubernetes document or a Flux event payload rather
/// than a log line.
pub fn looks_like(obj: &Map<String, Value>) -> bool {
    let is_str = |k: &str| obj.get(k).is_some_and(Value::is_string);
    (is_str("kind") && is_str("apiVersion"))
        || obj.get("involvedObject").is_some_and(Value::is_object)
        || is_watch_event(obj)
}

fn is_watch_event(obj: &Map<String, Value>) -> bool {
    obj.get("object").is_some_and(Value::is_object)
        && str_at(obj, "type").is_some_and(|t| WATCH_TYPES.contains(&t))
}

/// Builds the record(s) of one document (several for a `List`).
pub fn from_json(obj: &Map<String, Value>, _ctx: &ParseContext) -> Result<Vec<Record>, ParseError> {
    if is_watch_event(obj) {
        let watch_type = str_at(obj, "type").unwrap_or_default();
        let inner = obj.get("object").and_then(Value::as_object);
        return match inner {
            Some(inner) if watch_type == "BOOKMARK" => Ok(vec![object::bookmark(inner)]),
            Some(inner) => document(inner, None, Some(watch_type)),
            None => Err(ParseError::NotThisFormat),
        };
    }
    if !looks_like(obj) {
        return Err(ParseError::NotThisFormat);
    }
    document(obj, None, None)
}

/// One document. `kind_hint` is `Some` inside a List (holding the item kind of a typed
/// List, or `""`); Lists nested in a List are not expanded, so the item cap holds.
fn document(
    obj: &Map<String, Value>,
    kind_hint: Option<&str>,
    watch_type: Option<&str>,
) -> Result<Vec<Record>, ParseError> {
    let kind = str_at(obj, "kind")
        .or(kind_hint.filter(|k| !k.is_empty()))
        .unwrap_or_default();
    if kind_hint.is_none() && obj.get("items").is_some_and(Value::is_array) {
        if let Some(item_kind) = list_item_kind(kind) {
            return Ok(list(obj, item_kind));
        }
    }
    let api_version = str_at(obj, "apiVersion").unwrap_or_default();
    let rec = if event::is_flux_payload(obj) {
        event::from_flux_payload(obj)
    } else if kind == "Event" && api_version.starts_with("events.k8s.io/") {
        event::from_events_v1(obj, watch_type)
    } else if kind == "Event" || (kind.is_empty() && obj.contains_key("involvedObject")) {
        event::from_core_v1(obj, watch_type)
    } else if kind == "Pod" {
        pod::from_pod(obj, watch_type)
    } else {
        object::from_object(obj, kind, watch_type)
    };
    Ok(vec![rec])
}

/// `List` → `""` (items carry their kind), `PodList` → `Pod`; `None` when not a List.
fn list_item_kind(kind: &str) -> Option<&str> {
    kind.strip_suffix("List")
}

fn list(obj: &Map<String, Value>, item_kind: &str) -> Vec<Record> {
    let hint = Some(item_kind);
    let items = obj.get("items").and_then(Value::as_array);
    let mut out: Vec<Record> = items
        .into_iter()
        .flatten()
        .take(MAX_LIST_ITEMS)
        .filter_map(Value::as_object)
        .filter_map(|item| document(item, hint, None).ok())
        .flatten()
        .collect();
    if out.is_empty() {
        // An empty List is still a Kubernetes document, not text.
        out.push(Record {
            format: Format::K8sObject,
            fields: vec![("kind".into(), str_at(obj, "kind").unwrap_or("List").into())],
            ..Default::default()
        });
    }
    out
}

// ---- typed access to loosely shaped JSON: wrong types read as absent ----

/// A non-empty string at `key`.
pub(crate) fn str_at<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The object at `key`.
pub(crate) fn obj_at<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    obj.get(key).and_then(Value::as_object)
}

/// The object at a path of keys.
pub(crate) fn obj_path<'a>(
    obj: &'a Map<String, Value>,
    path: &[&str],
) -> Option<&'a Map<String, Value>> {
    path.iter().try_fold(obj, |o, k| obj_at(o, k))
}

/// The array at `key`, capped at [`MAX_ENTRIES`] elements.
pub(crate) fn arr_at<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a Value> {
    obj.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_ENTRIES)
}

/// An integer at `key` (a JSON integer, or a string holding one).
pub(crate) fn i64_at(obj: &Map<String, Value>, key: &str) -> Option<i64> {
    match obj.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A non-negative integer at `key`.
pub(crate) fn u64_at(obj: &Map<String, Value>, key: &str) -> Option<u64> {
    i64_at(obj, key).and_then(|v| u64::try_from(v).ok())
}

/// A boolean at `key` (`true`/`false`, or the strings `"true"`/`"false"`).
pub(crate) fn bool_at(obj: &Map<String, Value>, key: &str) -> Option<bool> {
    match obj.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A timestamp string at `key`.
pub(crate) fn ts_at(obj: &Map<String, Value>, key: &str) -> Option<TsMs> {
    str_at(obj, key).and_then(parse_ts)
}

/// String entries of a map (`labels`, `annotations`, Flux `metadata`), capped.
pub(crate) fn string_map(obj: Option<&Map<String, Value>>) -> Vec<(String, String)> {
    obj.into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .take(MAX_ENTRIES)
        .collect()
}

/// The value of the first `<group>/revision` key (Flux event metadata, §3.2).
pub(crate) fn revision_in(metadata: &[(String, String)]) -> Option<String> {
    metadata
        .iter()
        .find(|(k, v)| k.ends_with("/revision") && !v.is_empty())
        .map(|(_, v)| v.clone())
}

/// `{kind, namespace, name}` of an object reference; `default_ns` fills a missing
/// namespace and `default_kind` a missing kind. `None` without a name.
pub(crate) fn object_ref(
    r: &Map<String, Value>,
    default_kind: &str,
    default_ns: &str,
) -> Option<ObjectRef> {
    let name = str_at(r, "name")?;
    Some(ObjectRef::new(
        str_at(r, "kind").unwrap_or(default_kind),
        str_at(r, "namespace").unwrap_or(default_ns),
        name,
    ))
}

#[cfg(test)]
mod tests;
