//! zap JSON log lines of the Flux controllers, every layout since 2020, and the key/value
//! extraction shared with the console, logfmt and klog parsers.
//!
//! Owns: the mapping of structured log keys to [`Record`] fields ([`LogFields`]): level,
//! time, message, error (and the eventLogf `"error":"<Reason>"` quirk), the reconciled
//! object in all five layouts (catalog §1.3), revision, reconcile ID, the ssa change set.
//! Does not own: facts found in message text (see `message`), envelope facts, Kubernetes
//! documents (see `k8s`).
//!
//! Layouts, oldest first (catalog §1.3):
//! (a) 2020 `"logger":"controllers.GitRepository"` / `"controller-runtime.controller"` +
//!     `"request":"ns/name"` (+ `"controller":"gitrepository"`);
//! (b) late 2020 `"logger":"controller"`, `reconcilerGroup`, `reconcilerKind`, `name`,
//!     `namespace`;
//! (c) 2021–22 `"logger":"controller.<kind>"`, `"reconciler kind"` (key with a space);
//! (d) Flux v0.34 `controllerKind` + lower-camel kind key (`"gitRepository":{…}`);
//! (e) current `controllerKind` + `"<Kind>":{"name","namespace"}` + `reconcileID`.
//!
//! One reading of the keys, two ways in: a JSON line is deserialized straight into
//! `value::Val` entries ([`parse_line`], no `serde_json::Value` tree), and a `Value` another
//! parser holds is viewed as the same entries ([`from_json`], [`LogFields::push`]); both
//! go through `LogFields::push_val`. `value` says how the two views are kept equal.
//!
//! Invariant: a key is read into exactly one place (a typed field or `fields`); nothing
//! is invented: the object is set only when both its kind and name are known.

use std::borrow::Cow;

use serde_json::{Map, Value};

#[cfg(test)]
mod equivalence;
mod value;

use super::message::{canonical_kind, controller_for_kind, kind_for_logger};
use super::time::{epoch_f64, parse_go_duration_ms, parse_ts};
use super::{ParseContext, ParseError};
use crate::record::{ChangeSet, Format, Level, ObjectRef, Record};
use value::{sort_dedup, str_of, Nested, Val};

/// Structured log keys understood by [`LogFields`].
pub mod key {
    pub const LEVEL: &str = "level";
    pub const LVL: &str = "lvl";
    pub const TS: &str = "ts";
    pub const TIME: &str = "time";
    pub const T: &str = "t";
    pub const TIMESTAMP: &str = "timestamp";
    pub const MSG: &str = "msg";
    pub const MESSAGE: &str = "message";
    pub const ERROR: &str = "error";
    pub const ERR: &str = "err";
    pub const LOGGER: &str = "logger";
    pub const CONTROLLER: &str = "controller";
    pub const CONTROLLER_KIND: &str = "controllerKind";
    pub const RECONCILER_KIND: &str = "reconcilerKind";
    pub const RECONCILER_KIND_SPACED: &str = "reconciler kind";
    pub const NAME: &str = "name";
    pub const NAMESPACE: &str = "namespace";
    pub const REQUEST: &str = "request";
    pub const RECONCILE_ID: &str = "reconcileID";
    pub const REVISION: &str = "revision";
    pub const REASON: &str = "reason";
    pub const DURATION: &str = "duration";
    pub const OUTPUT: &str = "output";
    pub const STACKTRACE: &str = "stacktrace";
    pub const EVENT_INVOLVED_OBJECT: &str = "eventInvolvedObject";
    pub const KIND: &str = "kind";
}

/// What a JSON line is to the zap parser.
// Returned by value once per line and matched at once: boxing the record would add an
// allocation per line for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Line {
    /// A zap log line.
    Record(Record),
    /// Valid JSON that is not a log line: not an object, or none of `msg`, `level`, `ts`.
    NotLogLine,
    /// An object with a key of a Kubernetes document (`K8S_KEYS`): `k8s::looks_like`
    /// decides, on the `Value` tree, and [`from_json`] reads it when it is not one.
    MayBeKubernetes,
}

/// Top-level keys that make `k8s::looks_like` possibly true: `apiVersion` (with
/// `kind`), `involvedObject`, `object` (watch event).
const K8S_KEYS: [&str; 3] = ["apiVersion", "involvedObject", "object"];

/// Keys of which a log line has at least one.
const LOG_LINE_KEYS: [&str; 3] = [key::MSG, key::LEVEL, key::TS];

/// Cheap pre-check on the raw line: false when none of the `K8S_KEYS` can be a key, so
/// a caller may skip [`parse_line`] for a line that is probably a Kubernetes document. (A
/// key spelled with escapes is still caught by `parse_line`, after unescaping.)
pub fn may_be_k8s(line: &str) -> bool {
    static FINDERS: std::sync::OnceLock<[memchr::memmem::Finder<'static>; 3]> =
        std::sync::OnceLock::new();
    // the key with its quotes: a value or a longer key containing it is no match
    let finders = FINDERS.get_or_init(|| {
        K8S_KEYS.map(|k| memchr::memmem::Finder::new(&format!("\"{k}\"")).into_owned())
    });
    let b = line.as_bytes();
    finders.iter().any(|f| f.find(b).is_some())
}

/// Parses one JSON line.
///
/// Grammar: one JSON document (RFC 8259, serde_json's reading of it), whitespace around
/// it allowed; an object is a log line when it has one of `msg`, `level`, `ts`, its keys
/// read as by [`from_json`] on the `Value` tree of the same line (sorted, last duplicate
/// wins). `Malformed` when the line is not one valid JSON document.
pub fn parse_line(line: &str) -> Result<Line, ParseError> {
    let mut entries = match value::entries(line) {
        Ok(Some(e)) => e,
        Ok(None) => return Ok(Line::NotLogLine),
        Err(_) => return Err(ParseError::Malformed("json")),
    };
    if entries.iter().any(|(k, _)| K8S_KEYS.contains(&k.as_ref())) {
        return Ok(Line::MayBeKubernetes);
    }
    sort_dedup(&mut entries);
    if !LOG_LINE_KEYS
        .iter()
        .any(|k| entries.iter().any(|(e, _)| e == k))
    {
        return Ok(Line::NotLogLine);
    }
    let mut f = LogFields::default();
    for (k, v) in entries {
        f.push_val(k, v);
    }
    Ok(Line::Record(f.finish(Format::ZapJson)))
}

/// Builds a record from a parsed zap JSON object; `NotThisFormat` when it is not a log
/// line (none of `msg`, `level`, `ts`).
pub fn from_json(obj: &Map<String, Value>, _ctx: &ParseContext) -> Result<Record, ParseError> {
    if !LOG_LINE_KEYS.iter().any(|k| obj.contains_key(*k)) {
        return Err(ParseError::NotThisFormat);
    }
    let mut f = LogFields::default();
    for (k, v) in obj {
        f.push(k, v);
    }
    Ok(f.finish(Format::ZapJson))
}

/// True for an eventLogf reason in the `error` key: one CamelCase token
/// (`GitOperationFailed`, `Succeeded`), not an all-caps error such as `EOF`.
pub fn is_reason_token(s: &str) -> bool {
    s.len() >= 2
        && s.bytes().next().is_some_and(|c| c.is_ascii_uppercase())
        && s.bytes().all(|c| c.is_ascii_alphanumeric())
        && s.bytes().any(|c| c.is_ascii_lowercase())
}

/// Accumulates structured key/values of one log line (zap JSON, console trailing JSON,
/// logfmt pairs, klog structured pairs) and turns them into a [`Record`].
#[derive(Debug, Default)]
pub struct LogFields {
    rec: Record,
    msg: Option<String>,
    message: Option<String>,
    error: Option<String>,
    reason: Option<String>,
    duration_ms: Option<u64>,
    controller: Option<String>,
    controller_kind: Option<String>,
    reconciler_kind: Option<String>,
    name: Option<String>,
    namespace: Option<String>,
    request: Option<String>,
    /// `"<Kind>": {"name", "namespace"}` values: (key, namespace, name).
    kind_objects: Vec<(String, String, String)>,
    involved: Option<ObjectRef>,
}

/// `ChangeSet` of an `output` object, entries in key order (last duplicate wins).
fn change_set(m: &mut Vec<(Cow<'_, str>, Nested<'_>)>) -> ChangeSet {
    sort_dedup(m);
    let mut cs = ChangeSet::default();
    for (k, v) in m.iter() {
        match v {
            // `{"Deployment/ns/name": "configured"}`
            Nested::Str(action) => cs.add(k, action),
            // grouped change log: `{"configured": ["Deployment/ns/name", …]}`
            Nested::StrArr(items) => {
                for it in items {
                    cs.add(it, k);
                }
            }
            Nested::Other => {}
        }
    }
    cs
}

impl LogFields {
    /// Sets a scalar unless an earlier key already did (first spelling wins); gives the
    /// value back when it was not used.
    fn keep<'a>(slot: &mut Option<String>, v: Val<'a>) -> Option<Val<'a>> {
        if slot.is_none() && v.is_scalar() {
            *slot = v.scalar();
            None
        } else {
            Some(v)
        }
    }

    /// The plain scalar slot a key fills (the first scalar value wins), for the keys
    /// that fill one.
    fn scalar_slot(&mut self, k: &str) -> Option<&mut Option<String>> {
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

    /// Reads one key/value of a `Value` held elsewhere.
    pub fn push(&mut self, k: &str, v: &Value) {
        self.push_val(Cow::Borrowed(k), Val::of(k, v));
    }

    /// Reads one key/value: into its typed field, or into `fields` when it is a scalar
    /// that no typed field took.
    fn push_val(&mut self, k: Cow<'_, str>, v: Val<'_>) {
        if let Some(slot) = self.scalar_slot(&k) {
            if let Some(s) = Self::keep(slot, v).and_then(Val::scalar) {
                self.rec.fields.push((k.into_owned(), s));
            }
            return;
        }
        let unused: Option<Val<'_>> = match k.as_ref() {
            key::LEVEL | key::LVL => {
                let level = match &v {
                    Val::Str(s) => Level::from_loose(s),
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
                    Val::Str(s) => parse_ts(s),
                    Val::Num(n) => n.as_f64().and_then(epoch_f64),
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
                Val::Null => None,
                // a compound error, as JSON text, when no earlier spelling set one
                Val::Rendered(text) if self.error.is_none() => {
                    self.error = Some(text);
                    None
                }
                v => Self::keep(&mut self.error, v),
            },
            key::DURATION => {
                self.duration_ms = match &v {
                    // zap's production encoder writes durations as float seconds
                    Val::Num(n) => n.as_f64().and_then(|s| {
                        (s.is_finite() && (0.0..1e12).contains(&s))
                            .then(|| (s * 1000.0).round() as u64)
                    }),
                    Val::Str(s) => parse_go_duration_ms(s),
                    _ => None,
                };
                if self.duration_ms.is_some() {
                    None
                } else {
                    Some(v)
                }
            }
            key::OUTPUT => match v {
                Val::Obj(mut m) => {
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
                Val::Obj(m) => {
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
                Val::Obj(m) => {
                    if let Some(name) = str_of(&m, key::NAME) {
                        let ns = str_of(&m, key::NAMESPACE).unwrap_or("");
                        self.kind_objects
                            .push((k.to_string(), ns.to_string(), name.to_string()));
                    }
                    None
                }
                Val::Arr | Val::Null => None,
                v => Some(v),
            },
        };
        if let Some(s) = unused.and_then(Val::scalar) {
            self.rec.fields.push((k.into_owned(), s));
        }
    }

    /// The object's kind, from the most specific key present.
    fn kind(&self) -> Option<String> {
        let named = self
            .controller_kind
            .as_deref()
            .or(self.reconciler_kind.as_deref())
            .filter(|k| !k.is_empty())
            .map(|k| canonical_kind(k).unwrap_or(k).to_string());
        named
            .or_else(|| {
                self.controller
                    .as_deref()
                    .and_then(canonical_kind)
                    .map(str::to_string)
            })
            .or_else(|| {
                self.rec
                    .logger
                    .as_deref()
                    .and_then(kind_for_logger)
                    .map(str::to_string)
            })
            .or_else(|| {
                self.kind_objects.iter().find_map(|(k, _, _)| {
                    canonical_kind(k).map(str::to_string).or_else(|| {
                        k.bytes()
                            .next()
                            .is_some_and(|c| c.is_ascii_uppercase())
                            .then(|| k.clone())
                    })
                })
            })
    }

    /// (namespace, name) of the object.
    fn namespace_name(&self, kind: &str) -> Option<(String, String)> {
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            return Some((self.namespace.clone().unwrap_or_default(), name.to_string()));
        }
        if let Some((_, ns, name)) = self
            .kind_objects
            .iter()
            .find(|(k, _, _)| k.eq_ignore_ascii_case(kind))
        {
            return Some((ns.clone(), name.clone()));
        }
        let req = self.request.as_deref().filter(|r| !r.is_empty())?;
        Some(match req.split_once('/') {
            Some((ns, name)) => (ns.to_string(), name.to_string()),
            None => (String::new(), req.to_string()),
        })
    }

    /// Builds the record.
    pub fn finish(mut self, format: Format) -> Record {
        self.rec.format = format;
        match (self.msg.take(), self.message.take()) {
            (Some(m), other) => {
                self.rec.msg = m;
                if let Some(o) = other {
                    self.rec.fields.push((key::MESSAGE.to_string(), o));
                }
            }
            (None, Some(o)) => self.rec.msg = o,
            (None, None) => {}
        }
        let reason = self.reason.take();
        match self.error.take() {
            Some(e) if is_reason_token(&e) && reason.is_none() => self.rec.reason = Some(e),
            Some(e) => self.rec.error = Some(e).filter(|e| !e.is_empty()),
            None => {}
        }
        match reason {
            Some(r) if is_reason_token(&r) => self.rec.reason = Some(r),
            // source-controller's `reconciliation waiting` puts the waiting error here
            Some(r) if self.rec.error.is_none() => self.rec.error = Some(r),
            Some(r) => self.rec.fields.push((key::REASON.to_string(), r)),
            None => {}
        }
        if let Some(d) = self.duration_ms {
            // `reconciliation waiting` logs the requeue delay as `duration`
            if self.rec.msg.contains("waiting") {
                self.rec.interval_ms = Some(d);
            } else {
                self.rec.duration_ms = Some(d);
            }
        }
        let kind = self.kind();
        if let Some(k) = &kind {
            // notification-controller's event and receiver servers log the kind of the
            // object an event is about, not their own (`"logger":"event-server",
            // "reconciler kind":"Kustomization"`): the logger names who spoke.
            self.rec.controller = if self
                .rec
                .logger
                .as_deref()
                .is_some_and(is_notification_server)
            {
                Some(super::message::NOTIFICATION_CONTROLLER.into())
            } else {
                controller_for_kind(k).map(str::to_string)
            };
            if let Some((ns, name)) = self.namespace_name(k) {
                self.rec.object = Some(ObjectRef::new(k.clone(), ns, name));
            }
        }
        if self.rec.object.is_none() {
            if let Some(inv) = self.involved.take() {
                // only notification-controller logs the involved object of received events
                self.rec.object = Some(inv);
                if self.rec.controller.is_none() {
                    self.rec.controller = Some(super::message::NOTIFICATION_CONTROLLER.into());
                }
            }
        }
        if let Some(c) = self.controller.take() {
            if canonical_kind(&c).is_none() {
                self.rec.fields.push((key::CONTROLLER.to_string(), c));
            }
        }
        if self.rec.object.is_none() {
            let keys = [
                (key::NAMESPACE, self.namespace.take()),
                (key::NAME, self.name.take()),
            ];
            for (k, v) in keys {
                if let Some(v) = v {
                    self.rec.fields.push((k.to_string(), v));
                }
            }
        }
        self.rec
    }
}

/// Loggers of notification-controller's HTTP servers (events in, webhooks in).
fn is_notification_server(logger: &str) -> bool {
    matches!(logger, "event-server" | "receiver-server")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::time::format_rfc3339_ms;

    fn parse(line: &str) -> Record {
        let v: Value = serde_json::from_str(line).unwrap();
        from_json(v.as_object().unwrap(), &ParseContext::default()).unwrap()
    }

    fn obj(r: &Record) -> String {
        r.object.as_ref().map(|o| o.to_string()).unwrap_or_default()
    }

    #[test]
    fn current_layout() {
        let r = parse(
            r#"{"level":"info","ts":"2026-08-01T10:00:00.123Z","msg":"Reconciliation finished in 2.31s, next run in 10m0s","controller":"kustomization","controllerGroup":"kustomize.toolkit.fluxcd.io","controllerKind":"Kustomization","Kustomization":{"name":"apps","namespace":"flux-system"},"namespace":"flux-system","name":"apps","reconcileID":"3f6c0d8e-1111-4a4a-9b9b-222233334444","revision":"main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f"}"#,
        );
        assert_eq!(r.format, Format::ZapJson);
        assert_eq!(r.level, Some(Level::Info));
        assert_eq!(
            r.ts.map(format_rfc3339_ms).as_deref(),
            Some("2026-08-01T10:00:00.123Z")
        );
        assert_eq!(obj(&r), "Kustomization/flux-system/apps");
        assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
        assert_eq!(
            r.reconcile_id.as_deref(),
            Some("3f6c0d8e-1111-4a4a-9b9b-222233334444")
        );
        assert_eq!(
            r.revision.as_deref(),
            Some("main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f")
        );
        assert_eq!(
            r.field("controllerGroup"),
            Some("kustomize.toolkit.fluxcd.io")
        );
        assert_eq!(
            r.field("controller"),
            None,
            "controller key is read into the kind"
        );
    }

    #[test]
    fn current_layout_object_key_only() {
        let r = parse(
            r#"{"level":"info","ts":"2023-03-06T18:03:00.164Z","msg":"error logging into ACR","controller":"helmrepository","controllerGroup":"source.toolkit.fluxcd.io","controllerKind":"HelmRepository","HelmRepository":{"name":"metadata-service","namespace":"metadata-service"}}"#,
        );
        assert_eq!(obj(&r), "HelmRepository/metadata-service/metadata-service");
        assert_eq!(r.controller.as_deref(), Some("source-controller"));
    }

    #[test]
    fn lower_camel_layout() {
        let r = parse(
            r#"{"level":"error","ts":"2022-09-20T08:00:00.000Z","msg":"Reconciler error","controller":"gitrepository","controllerGroup":"source.toolkit.fluxcd.io","controllerKind":"GitRepository","gitRepository":{"name":"podinfo","namespace":"default"},"namespace":"default","name":"podinfo","reconcileID":"abc","error":"failed to checkout and determine revision: unable to clone"}"#,
        );
        assert_eq!(obj(&r), "GitRepository/default/podinfo");
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(
            r.error.as_deref(),
            Some("failed to checkout and determine revision: unable to clone")
        );
        assert_eq!(r.reason, None);
        // without the duplicated name/namespace keys
        let r = parse(
            r#"{"level":"info","ts":"2022-09-20T08:00:00.000Z","msg":"x","controllerKind":"OCIRepository","ociRepository":{"name":"app","namespace":"apps"}}"#,
        );
        assert_eq!(obj(&r), "OCIRepository/apps/app");
    }

    #[test]
    fn spaced_reconciler_kind_layout() {
        let r = parse(
            r#"{"level":"info","ts":"2021-01-31T18:54:10.611Z","logger":"controller.gitrepository","msg":"Reconciliation finished in 179.582368ms, next run in 1m0s","reconciler group":"source.toolkit.fluxcd.io","reconciler kind":"GitRepository","name":"flux-system","namespace":"flux-system"}"#,
        );
        assert_eq!(obj(&r), "GitRepository/flux-system/flux-system");
        assert_eq!(r.controller.as_deref(), Some("source-controller"));
        assert_eq!(r.logger.as_deref(), Some("controller.gitrepository"));
        assert_eq!(
            r.field("reconciler group"),
            Some("source.toolkit.fluxcd.io")
        );
    }

    #[test]
    fn reconciler_kind_layout() {
        let r = parse(
            r#"{"level":"info","ts":"2020-11-20T10:00:00.000Z","logger":"controller","msg":"Reconciliation finished","controller":"helmrelease","reconcilerGroup":"helm.toolkit.fluxcd.io","reconcilerKind":"HelmRelease","name":"podinfo","namespace":"apps"}"#,
        );
        assert_eq!(obj(&r), "HelmRelease/apps/podinfo");
        assert_eq!(r.controller.as_deref(), Some("helm-controller"));
    }

    #[test]
    fn request_layout_2020() {
        let r = parse(
            r#"{"level":"error","ts":1594302000.1234,"logger":"controller-runtime.controller","msg":"Reconciler error","controller":"gitrepository","request":"default/podinfo","error":"unable to clone: auth"}"#,
        );
        assert_eq!(obj(&r), "GitRepository/default/podinfo");
        assert_eq!(r.ts, Some(1_594_302_000_123));
        let r = parse(
            r#"{"level":"info","ts":"2020-07-09T13:40:00.000+0300","logger":"controllers.GitRepository","msg":"Reconciliation finished","request":"flux-system/flux-system"}"#,
        );
        assert_eq!(obj(&r), "GitRepository/flux-system/flux-system");
        assert_eq!(r.controller.as_deref(), Some("source-controller"));
        assert_eq!(
            r.ts.map(format_rfc3339_ms).as_deref(),
            Some("2020-07-09T10:40:00.000Z")
        );
    }

    #[test]
    fn timestamps_and_levels() {
        for (ts, want) in [
            (
                r#""2025-11-10T17:00:00.123+03:00""#,
                "2025-11-10T14:00:00.123Z",
            ),
            (
                r#""2025-11-10T17:00:00.123+0300""#,
                "2025-11-10T14:00:00.123Z",
            ),
            (r#""1762783200.123""#, "2025-11-10T14:00:00.123Z"),
            ("1762783200.123", "2025-11-10T14:00:00.123Z"),
        ] {
            let r = parse(&format!(r#"{{"level":"Level(-2)","ts":{ts},"msg":"x"}}"#));
            assert_eq!(r.ts.map(format_rfc3339_ms).as_deref(), Some(want));
            assert_eq!(r.level, Some(Level::Trace));
        }
        for (l, want) in [
            ("debug", Level::Debug),
            ("trace", Level::Trace),
            ("warn", Level::Warning),
            ("error", Level::Error),
        ] {
            assert_eq!(
                parse(&format!(r#"{{"level":"{l}","msg":"x"}}"#)).level,
                Some(want)
            );
        }
        let r = parse(r#"{"level":"bogus","ts":"not a time","msg":"x"}"#);
        assert_eq!((r.level, r.ts), (None, None));
        assert_eq!(r.field("level"), Some("bogus"));
    }

    #[test]
    fn event_reason_in_error_key() {
        let r = parse(
            r#"{"level":"error","ts":"2025-01-01T00:00:00Z","msg":"failed to checkout and determine revision: unable to clone 'https://github.com/org/repo': authentication required","controllerKind":"GitRepository","GitRepository":{"name":"a","namespace":"b"},"error":"GitOperationFailed"}"#,
        );
        assert_eq!(r.reason.as_deref(), Some("GitOperationFailed"));
        assert_eq!(r.error, None);
        let r = parse(r#"{"level":"error","msg":"Reconciler error","error":"EOF"}"#);
        assert_eq!(r.error.as_deref(), Some("EOF"));
        assert_eq!(r.reason, None);
    }

    #[test]
    fn change_sets() {
        let r = parse(
            r#"{"level":"info","ts":"2025-01-01T00:00:00Z","msg":"server-side apply completed","controllerKind":"Kustomization","name":"apps","namespace":"flux-system","output":{"Deployment/apps/podinfo":"configured","Service/apps/podinfo":"unchanged","Namespace/apps":"created"},"revision":"main@sha1:abc"}"#,
        );
        let cs = r.changes.unwrap();
        assert_eq!(cs.configured, vec!["Deployment/apps/podinfo"]);
        assert_eq!(cs.created, vec!["Namespace/apps"]);
        assert_eq!(cs.unchanged, 1);
        let r = parse(
            r#"{"level":"info","msg":"server-side apply completed","output":{"configured":["Deployment/apps/a","Deployment/apps/b"],"deleted":["ConfigMap/apps/c"]}}"#,
        );
        let cs = r.changes.unwrap();
        assert_eq!(cs.configured.len(), 2);
        assert_eq!(cs.deleted, vec!["ConfigMap/apps/c"]);
    }

    #[test]
    fn waiting_reason_and_duration() {
        let r = parse(
            r#"{"level":"info","ts":"2025-01-01T00:00:00Z","msg":"reconciliation waiting","reason":"HelmChart 'flux-system/podinfo' is not ready","duration":30,"controllerKind":"HelmChart","name":"x","namespace":"y"}"#,
        );
        assert_eq!(r.interval_ms, Some(30_000));
        assert_eq!(
            r.error.as_deref(),
            Some("HelmChart 'flux-system/podinfo' is not ready")
        );
        let r = parse(r#"{"level":"info","msg":"x","reason":"Progressing","duration":"1.5s"}"#);
        assert_eq!(r.reason.as_deref(), Some("Progressing"));
        assert_eq!(r.duration_ms, Some(1500));
    }

    #[test]
    fn setup_and_notification_lines() {
        let r = parse(
            r#"{"level":"info","ts":"2025-11-10T15:19:00.000Z","msg":"starting manager","logger":"setup"}"#,
        );
        assert_eq!((r.object.as_ref(), r.controller.as_deref()), (None, None));
        let r = parse(
            r#"{"level":"info","ts":"2025-11-10T15:19:00.000Z","msg":"dispatching event","eventInvolvedObject":{"kind":"Kustomization","namespace":"flux-system","name":"apps"},"message":"Health check passed"}"#,
        );
        assert_eq!(obj(&r), "Kustomization/flux-system/apps");
        assert_eq!(r.controller.as_deref(), Some("notification-controller"));
        assert_eq!(r.field("message"), Some("Health check passed"));
        let r = parse(
            r#"{"level":"info","msg":"Starting EventSource","controller":"kustomization","controllerKind":"Kustomization","source":"kind source: *v1.Kustomization"}"#,
        );
        assert_eq!(r.object, None);
        assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
        // notification-controller's event server names the involved object's kind
        let r = parse(
            r#"{"level":"error","ts":"2023-03-09T17:39:57.859Z","logger":"event-server","msg":"failed to send notification","reconciler kind":"Kustomization","name":"flux-system","namespace":"flux-system","error":"postMessage failed: failed to execute request: context deadline exceeded"}"#,
        );
        assert_eq!(obj(&r), "Kustomization/flux-system/flux-system");
        assert_eq!(r.controller.as_deref(), Some("notification-controller"));
    }

    #[test]
    fn not_a_log_line() {
        let v: Value = serde_json::from_str(r#"{"foo":1,"bar":{"a":2}}"#).unwrap();
        assert_eq!(
            from_json(v.as_object().unwrap(), &ParseContext::default()),
            Err(ParseError::NotThisFormat)
        );
    }
}
