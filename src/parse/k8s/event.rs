//! Events: core `v1` Event, `events.k8s.io/v1` Event and the Flux event payload
//! (`eventv1.Event`) POSTed to notification-controller (flux-catalog.md §3).
//!
//! Invariant: `ts` is the latest instant the event shows (the last occurrence), so a
//! count-incremented Event sorts where it last happened.

use serde_json::{Map, Value};

use super::{
    controller_from_pod, known_controller, obj_at, object_ref, revision_in, str_at, string_map,
    ts_at, u64_at, FIELD_WATCH_TYPE,
};
use crate::record::{Detail, EventInfo, Format, Level, ObjectRef, Record, TsMs};

/// Record field holding `involvedObject.fieldPath` (`spec.containers{manager}`).
const FIELD_PATH: &str = "field_path";
/// Record field holding the Event's own namespace when its object is cluster-scoped
/// (a `Node` event lives in `default`; the Node itself has no namespace).
const FIELD_EVENT_NAMESPACE: &str = "event_namespace";

/// The parts every event form shares, gathered before the record is built.
#[derive(Default)]
struct EventParts<'a> {
    object: Option<ObjectRef>,
    /// `involvedObject.uid` / `regarding.uid`.
    uid: Option<&'a str>,
    field_path: Option<&'a str>,
    /// `metadata.namespace` of the Event object itself.
    event_namespace: Option<&'a str>,
    reason: Option<&'a str>,
    message: Option<&'a str>,
    event_type: Option<&'a str>,
    /// Reporting components, most specific first; the first Flux controller wins.
    reporters: Vec<&'a str>,
    reporting_instance: Option<&'a str>,
    count: Option<u64>,
    first_ms: Option<TsMs>,
    last_ms: Option<TsMs>,
    /// Every instant the event shows; the latest becomes `ts`.
    instants: Vec<Option<TsMs>>,
    metadata: Vec<(String, String)>,
}

/// True for the Flux payload: `severity` and `involvedObject`, not a `kind: Event`.
pub(super) fn is_flux_payload(obj: &Map<String, Value>) -> bool {
    let is_event = str_at(obj, "kind") == Some("Event") && str_at(obj, "apiVersion").is_some();
    !is_event
        && obj.get("severity").is_some_and(Value::is_string)
        && obj.get("involvedObject").is_some_and(Value::is_object)
}

/// Core `v1` Event (also a kind-less object with `involvedObject`).
pub(super) fn from_core_v1(obj: &Map<String, Value>, watch_type: Option<&str>) -> Record {
    let involved = obj_at(obj, "involvedObject");
    let meta = obj_at(obj, "metadata");
    let first = ts_at(obj, "firstTimestamp");
    let last = ts_at(obj, "lastTimestamp");
    let event_time = ts_at(obj, "eventTime");
    let series_last = obj_at(obj, "series").and_then(|s| ts_at(s, "lastObservedTime"));
    let parts = EventParts {
        object: involved.and_then(|o| object_ref(o, "", "")),
        uid: involved.and_then(|o| str_at(o, "uid")),
        field_path: involved.and_then(|o| str_at(o, "fieldPath")),
        event_namespace: meta.and_then(|m| str_at(m, "namespace")),
        reason: str_at(obj, "reason"),
        message: str_at(obj, "message"),
        event_type: str_at(obj, "type"),
        reporters: [
            obj_at(obj, "source").and_then(|s| str_at(s, "component")),
            str_at(obj, "reportingComponent"),
        ]
        .into_iter()
        .flatten()
        .collect(),
        reporting_instance: str_at(obj, "reportingInstance"),
        count: u64_at(obj, "count")
            .or_else(|| obj_at(obj, "series").and_then(|s| u64_at(s, "count"))),
        first_ms: first.or(event_time),
        last_ms: last.or(series_last).or(event_time),
        instants: vec![
            last,
            event_time,
            series_last,
            first,
            meta.and_then(|m| ts_at(m, "creationTimestamp")),
        ],
        metadata: string_map(meta.and_then(|m| obj_at(m, "annotations"))),
    };
    build(parts, Format::K8sEvent, watch_type)
}

/// `events.k8s.io/v1` Event.
pub(super) fn from_events_v1(obj: &Map<String, Value>, watch_type: Option<&str>) -> Record {
    let regarding = obj_at(obj, "regarding");
    let meta = obj_at(obj, "metadata");
    let series = obj_at(obj, "series");
    let event_time = ts_at(obj, "eventTime");
    let first = ts_at(obj, "deprecatedFirstTimestamp");
    let last = ts_at(obj, "deprecatedLastTimestamp");
    let series_last = series.and_then(|s| ts_at(s, "lastObservedTime"));
    let parts = EventParts {
        object: regarding.and_then(|o| object_ref(o, "", "")),
        uid: regarding.and_then(|o| str_at(o, "uid")),
        field_path: regarding.and_then(|o| str_at(o, "fieldPath")),
        event_namespace: meta.and_then(|m| str_at(m, "namespace")),
        reason: str_at(obj, "reason"),
        message: str_at(obj, "note"),
        event_type: str_at(obj, "type"),
        reporters: [
            str_at(obj, "reportingController"),
            obj_at(obj, "deprecatedSource").and_then(|s| str_at(s, "component")),
        ]
        .into_iter()
        .flatten()
        .collect(),
        reporting_instance: str_at(obj, "reportingInstance"),
        count: series
            .and_then(|s| u64_at(s, "count"))
            .or_else(|| u64_at(obj, "deprecatedCount")),
        first_ms: first.or(event_time),
        last_ms: series_last.or(last).or(event_time),
        instants: vec![
            series_last,
            last,
            event_time,
            first,
            meta.and_then(|m| ts_at(m, "creationTimestamp")),
        ],
        metadata: string_map(meta.and_then(|m| obj_at(m, "annotations"))),
    };
    build(parts, Format::K8sEvent, watch_type)
}

/// The Flux event payload (flux-catalog.md §3.4).
pub(super) fn from_flux_payload(obj: &Map<String, Value>) -> Record {
    let ts = ts_at(obj, "timestamp");
    let parts = EventParts {
        object: obj_at(obj, "involvedObject").and_then(|o| object_ref(o, "", "")),
        uid: obj_at(obj, "involvedObject").and_then(|o| str_at(o, "uid")),
        field_path: None,
        event_namespace: None,
        reason: str_at(obj, "reason"),
        message: str_at(obj, "message"),
        event_type: str_at(obj, "severity"),
        reporters: str_at(obj, "reportingController").into_iter().collect(),
        reporting_instance: str_at(obj, "reportingInstance"),
        count: None,
        first_ms: ts,
        last_ms: ts,
        instants: vec![ts],
        metadata: string_map(obj_at(obj, "metadata")),
    };
    build(parts, Format::FluxEvent, None)
}

fn build(p: EventParts<'_>, format: Format, watch_type: Option<&str>) -> Record {
    let reporter = p
        .reporters
        .iter()
        .find(|r| known_controller(r).is_some())
        .or(p.reporters.first())
        .map(|r| r.to_string());
    let instance_ctrl = p.reporting_instance.and_then(controller_from_pod);
    let pod = match &p.object {
        Some(o) if o.kind == "Pod" => Some(o.name.to_string()),
        _ => instance_ctrl.and(p.reporting_instance.map(str::to_string)),
    };
    let controller = reporter
        .as_deref()
        .and_then(known_controller)
        .or(instance_ctrl)
        .or_else(|| p.object.as_ref().and_then(workload_controller))
        .or_else(|| p.message.and_then(killed_process_controller));
    let mut fields = Vec::new();
    if let Some(w) = watch_type {
        fields.push((FIELD_WATCH_TYPE.to_string(), w.to_string()));
    }
    if let Some(fp) = p.field_path {
        fields.push((FIELD_PATH.to_string(), fp.to_string()));
    }
    let mut object = p.object;
    if let (Some(ns), Some(o)) = (p.event_namespace, object.as_mut()) {
        if o.namespace.is_empty() {
            // A cluster-scoped object (Node): the record is the Event, which lives in
            // `ns`; report that namespace and keep a marker that it is the Event's.
            fields.push((FIELD_EVENT_NAMESPACE.to_string(), ns.to_string()));
            o.namespace = ns.into();
        }
    }
    Record {
        ts: p.instants.iter().flatten().max().copied(),
        format,
        level: p.event_type.and_then(level_of),
        controller: controller.map(str::to_string),
        pod,
        object,
        reason: p.reason.map(str::to_string),
        revision: revision_in(&p.metadata),
        msg: p.message.unwrap_or_default().to_string(),
        detail: Detail::Event(Box::new(EventInfo {
            event_type: p.event_type.map(str::to_string),
            count: p.count,
            reporter,
            first_ms: p.first_ms,
            last_ms: p.last_ms,
            metadata: p.metadata,
            involved_uid: p.uid.map(str::to_string),
            field_path: p.field_path.map(str::to_string),
            combined: p
                .message
                .is_some_and(|m| m.starts_with(crate::record::COMBINED_PREFIX)),
        })),
        fields,
        ..Default::default()
    }
}

/// `Normal`/`Warning` (Kubernetes) or `info`/`error`/`trace` (Flux payload severity).
fn level_of(t: &str) -> Option<Level> {
    match t {
        "Normal" => Some(Level::Info),
        "Warning" => Some(Level::Warning),
        other => Level::from_loose(other),
    }
}

/// The Flux controller an Event about a workload names: a controller Pod, ReplicaSet
/// or Deployment (kubelet `BackOff`, `Killing`, `Unhealthy`; `ScalingReplicaSet`).
fn workload_controller(o: &ObjectRef) -> Option<&'static str> {
    match o.kind.as_str() {
        "Pod" | "ReplicaSet" | "Deployment" => controller_from_pod(&o.name),
        // An Event about a Flux object reported by anyone else (the flux CLI, a user's
        // tool) is not the controller's own: leave the controller unknown.
        _ => None,
    }
}

/// Kernel OOM message of a Node `OOMKilling` event:
/// `Memory cgroup out of memory: Killed process 46585 (source-controller) …`.
fn killed_process_controller(msg: &str) -> Option<&'static str> {
    let rest = &msg[msg.find("Killed process ")? + "Killed process ".len()..];
    let open = rest.find('(')?;
    let close = rest[open..].find(')')? + open;
    known_controller(&rest[open + 1..close])
}
