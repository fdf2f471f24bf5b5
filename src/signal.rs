//! Signals: what a sidecar publishes for `fluxsight central` (issue 18): its classified,
//! redacted records and its heartbeats, in a versioned wire schema (`docs/fleet.md`).
//!
//! Owns: the wire form ([`Signal`], [`WireRecord`] and the detail mirrors: short field
//! names, empty fields left out), the encoding of a classified [`Record`] into it
//! (redacted), its decoding back into a `Record`, and [`SignalProducer`], the sans-IO
//! state of one publisher (sequence numbers, watermark, heartbeat schedule). Does not
//! own where signals go (the Kafka sink, `sinks::kafka`), how they are spooled
//! (`sinks::delivery`), nor when records are read (`pipeline`).
//!
//! Invariants:
//! - **Same findings.** A record carries exactly what the correlator reads of it (class,
//!   format, object, controller, reason, revision, message and error, durations, change
//!   set, and the Event / object / Pod / metric facts its detectors use), so feeding the
//!   decoded records to a correlator gives byte-identical findings to the local replay
//!   (tests/signals.rs, over every dev capture and golden case). Debug-only fields
//!   (`fields`, level, envelope, pod, logger, reconcile id, line numbers) stay home. A
//!   field the correlator starts to read must be added here.
//! - **No secret on the wire.** Every free text (message, error, reason, revision,
//!   condition and container messages, source URL) goes through
//!   [`crate::classify::redact`] before it is encoded.
//! - **Versioned.** Every signal names [`SCHEMA`]; v1 is only extended (new optional
//!   fields, new kinds); a reader skips what it does not know and decodes unknown class
//!   or format names as `info_other` / `text`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::classify::redact::redact;
use crate::parse::message::controller_for_kind;
use crate::record::{
    ChangeSet, Class, Condition, ContainerInfo, Detail, EventInfo, Format, MetricSample,
    ObjectInfo, ObjectRef, OwnerRef, PodInfo, Record, Severity, TsMs, WorkloadInfo,
};

/// The schema every signal names (`schema` field and Kafka header).
pub const SCHEMA: &str = "fluxsight.signal/v1";
/// Default time between two heartbeats of one publisher.
pub const DEFAULT_HEARTBEAT_MS: u64 = 10_000;

/// What a signal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignalKind {
    /// One classified record.
    Record,
    /// The publisher's clock: time moves on a quiet partition.
    Heartbeat,
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::Record => "record",
            SignalKind::Heartbeat => "heartbeat",
        }
    }
}

/// One signal, as published (JSON). The Kafka record key is `cluster`, its timestamp `t`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// [`SCHEMA`].
    pub schema: Cow<'static, str>,
    /// The publishing cluster (the pipeline file's `cluster`).
    pub cluster: String,
    /// Event time, ms since the epoch: the record's own time, or the publisher's clock
    /// when the record had none; for a heartbeat, the publisher's clock.
    pub t: TsMs,
    /// 1, 2, … per publisher and run, records and heartbeats alike (a gap is a loss; a
    /// restart starts again at 1).
    pub seq: u64,
    pub kind: SignalKind,
    /// The record (`kind: record`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r: Option<WireRecord>,
    /// The newest record time the publisher has read (`kind: heartbeat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wm: Option<TsMs>,
}

/// Why bytes are not a signal this build reads.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("not a signal: {0}")]
    Json(#[from] serde_json::Error),
    #[error("schema '{0}' is not {SCHEMA}")]
    Schema(String),
}

impl Signal {
    /// The compact JSON form.
    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings, numbers and vectors: serialization cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a signal; a different schema (another major version) is an error.
    pub fn decode(bytes: &[u8]) -> Result<Signal, SignalError> {
        let s: Signal = serde_json::from_slice(bytes)?;
        if s.schema != SCHEMA {
            return Err(SignalError::Schema(s.schema.into_owned()));
        }
        Ok(s)
    }

    /// The record a `record` signal carries, as the correlator reads it.
    pub fn record(&self) -> Option<Record> {
        self.r.as_ref().map(|r| r.to_record(self.t))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn red(s: &str) -> String {
    redact(s).into_owned()
}

fn red_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(red)
}

/// An object reference on the wire: `[kind, namespace, name]`.
pub type WireRef = [String; 3];

fn wire_ref(o: &ObjectRef) -> WireRef {
    [
        o.kind.to_string(),
        o.namespace.to_string(),
        o.name.to_string(),
    ]
}

fn from_wire_ref(r: &WireRef) -> ObjectRef {
    ObjectRef::new(r[0].as_str(), r[1].as_str(), r[2].as_str())
}

/// A record on the wire. Field names are short; absent means empty or default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WireRecord {
    /// The record had no time of its own (the signal's `t` is the publisher's clock).
    #[serde(skip_serializing_if = "is_false")]
    pub nt: bool,
    /// Format (`Format::as_str`); absent: `zap_json` (controller log lines, most records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f: Option<String>,
    /// Class (`Class::as_str`); absent: `info_other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cls: Option<String>,
    /// Severity, when not the class's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sev: Option<Severity>,
    /// Controller (deployment name); absent: the controller of the object's kind
    /// (`GitRepository` → `source-controller`), else none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctl: Option<String>,
    /// No controller, although the object's kind names one.
    #[serde(skip_serializing_if = "is_false")]
    pub noctl: bool,
    /// The object the record is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub o: Option<WireRef>,
    /// Reason (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rsn: Option<String>,
    /// Revision (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Message (redacted).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub m: String,
    /// Error text (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Reconcile duration, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub d: Option<u64>,
    /// Next run / retry interval, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub i: Option<u64>,
    /// Server-side apply change set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chg: Option<WireChanges>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ev: Option<WireEvent>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obj: Option<Box<WireObject>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<Box<WirePod>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mt: Option<WireMetric>,
}

impl WireRecord {
    /// The wire form of a classified record (free text redacted).
    pub fn of(rec: &Record) -> WireRecord {
        let (mut ev, mut obj, mut pod, mut mt) = (None, None, None, None);
        match &rec.detail {
            Detail::None => {}
            Detail::Event(e) => ev = Some(WireEvent::of(e)),
            Detail::Object(o) => obj = Some(Box::new(WireObject::of(o))),
            Detail::Pod(p) => pod = Some(Box::new(WirePod::of(p))),
            Detail::Metric(m) => mt = Some(WireMetric::of(m)),
        }
        let implied = implied_controller(rec.object.as_ref());
        WireRecord {
            nt: rec.ts.is_none(),
            f: (rec.format != WIRE_DEFAULT_FORMAT).then(|| rec.format.as_str().to_string()),
            cls: (rec.class != Class::InfoOther).then(|| rec.class.as_str().to_string()),
            sev: (rec.severity != rec.class.default_severity()).then_some(rec.severity),
            ctl: rec
                .controller
                .clone()
                .filter(|c| Some(c.as_str()) != implied),
            noctl: rec.controller.is_none() && implied.is_some(),
            o: rec.object.as_ref().map(wire_ref),
            rsn: red_opt(&rec.reason),
            rev: red_opt(&rec.revision),
            m: red(&rec.msg),
            e: red_opt(&rec.error),
            d: rec.duration_ms,
            i: rec.interval_ms,
            chg: rec.changes.as_ref().map(WireChanges::of),
            ev,
            obj,
            pod,
            mt,
        }
    }

    /// The record back, at event time `t` (unless it had none).
    pub fn to_record(&self, t: TsMs) -> Record {
        let class = self
            .cls
            .as_deref()
            .and_then(Class::parse)
            .unwrap_or(Class::InfoOther);
        let detail = if let Some(e) = &self.ev {
            Detail::Event(Box::new(e.to_info()))
        } else if let Some(o) = &self.obj {
            Detail::Object(Box::new(o.to_info()))
        } else if let Some(p) = &self.pod {
            Detail::Pod(Box::new(p.to_info()))
        } else if let Some(m) = &self.mt {
            Detail::Metric(m.to_sample())
        } else {
            Detail::None
        };
        let object = self.o.as_ref().map(from_wire_ref);
        let controller = match (&self.ctl, self.noctl) {
            (Some(c), _) => Some(c.clone()),
            (None, true) => None,
            (None, false) => implied_controller(object.as_ref()).map(str::to_string),
        };
        Record {
            ts: (!self.nt).then_some(t),
            format: match &self.f {
                None => WIRE_DEFAULT_FORMAT,
                Some(f) => Format::parse(f).unwrap_or(Format::Text),
            },
            controller,
            object,
            reason: self.rsn.clone(),
            revision: self.rev.clone(),
            msg: self.m.clone(),
            error: self.e.clone(),
            duration_ms: self.d,
            interval_ms: self.i,
            changes: self.chg.as_ref().map(WireChanges::to_changes),
            detail,
            class,
            severity: self.sev.unwrap_or(class.default_severity()),
            ..Record::default()
        }
    }
}

/// The format a record has when the wire names none.
const WIRE_DEFAULT_FORMAT: Format = Format::ZapJson;

/// The controller an object's kind names (the one the wire leaves out).
fn implied_controller(o: Option<&ObjectRef>) -> Option<&'static str> {
    o.and_then(|o| controller_for_kind(&o.kind))
}

/// A server-side apply change set: `Kind/ns/name` lists, empty ones left out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WireChanges {
    /// Created.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub c: Vec<String>,
    /// Configured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub u: Vec<String>,
    /// Deleted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub d: Vec<String>,
    /// Unchanged (a count).
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub n: usize,
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

impl WireChanges {
    fn of(c: &ChangeSet) -> Self {
        WireChanges {
            c: c.created.clone(),
            u: c.configured.clone(),
            d: c.deleted.clone(),
            n: c.unchanged,
        }
    }

    fn to_changes(&self) -> ChangeSet {
        ChangeSet {
            created: self.c.clone(),
            configured: self.u.clone(),
            deleted: self.d.clone(),
            unchanged: self.n,
        }
    }
}

/// Event facts the correlator reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WireEvent {
    /// `Normal` / `Warning`, or the Flux payload severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u64>,
    /// Reporting component.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rep: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<TsMs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<TsMs>,
    /// Involved object's uid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

impl WireEvent {
    fn of(e: &EventInfo) -> Self {
        WireEvent {
            ty: e.event_type.clone(),
            n: e.count,
            rep: e.reporter.clone(),
            first: e.first_ms,
            last: e.last_ms,
            uid: e.involved_uid.clone(),
        }
    }

    fn to_info(&self) -> EventInfo {
        EventInfo {
            event_type: self.ty.clone(),
            count: self.n,
            reporter: self.rep.clone(),
            first_ms: self.first,
            last_ms: self.last,
            involved_uid: self.uid.clone(),
            ..EventInfo::default()
        }
    }
}

/// A `status.conditions[]` entry: `[type, status, reason, message]` (message redacted).
pub type WireCondition = [String; 4];

fn wire_conditions(c: &[Condition]) -> Vec<WireCondition> {
    c.iter()
        .map(|c| {
            [
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone(),
                red(&c.message),
            ]
        })
        .collect()
}

fn from_wire_conditions(c: &[WireCondition]) -> Vec<Condition> {
    c.iter()
        .map(|[t, s, r, m]| Condition {
            type_: t.clone(),
            status: s.clone(),
            reason: r.clone(),
            message: m.clone(),
            last_transition_ms: None,
        })
        .collect()
}

/// An owner reference.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WireOwner {
    pub k: String,
    pub n: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// `controller: true`.
    #[serde(skip_serializing_if = "is_false")]
    pub c: bool,
}

impl WireOwner {
    fn of(o: &OwnerRef) -> Self {
        WireOwner {
            k: o.kind.clone(),
            n: o.name.clone(),
            uid: o.uid.clone(),
            c: o.controller,
        }
    }

    fn to_owner(&self) -> OwnerRef {
        OwnerRef {
            kind: self.k.clone(),
            name: self.n.clone(),
            uid: self.uid.clone(),
            controller: self.c,
        }
    }
}

/// Rollout facts of a workload.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WireWorkload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub des: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upd: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avl: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
    /// Volume claim templates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vct: Vec<String>,
}

impl WireWorkload {
    fn of(w: &WorkloadInfo) -> Self {
        WireWorkload {
            des: w.desired,
            upd: w.updated,
            avl: w.available,
            rev: w.revision.clone(),
            vct: w.claim_templates.clone(),
        }
    }

    fn to_info(&self) -> WorkloadInfo {
        WorkloadInfo {
            desired: self.des,
            updated: self.upd,
            available: self.avl,
            revision: self.rev.clone(),
            claim_templates: self.vct.clone(),
            ..WorkloadInfo::default()
        }
    }
}

/// Object snapshot facts the correlator reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WireObject {
    /// Watch event type (`DELETED` makes the correlator forget the object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gen: Option<i64>,
    /// `spec.interval`, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iv: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    pub sus: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dep: Vec<WireRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<WireRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sa: Option<String>,
    /// Source URL (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cond: Vec<WireCondition>,
    /// `status.lastAppliedRevision`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lar: Option<String>,
    /// `status.artifact.size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asz: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lbl: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own: Option<WireOwner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wl: Option<WireWorkload>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inv: Vec<WireRef>,
}

impl WireObject {
    fn of(o: &ObjectInfo) -> Self {
        WireObject {
            wt: o.watch_type.clone(),
            gen: o.generation,
            iv: o.interval_ms,
            sus: o.suspend,
            dep: o.depends_on.iter().map(wire_ref).collect(),
            src: o.source_ref.as_ref().map(wire_ref),
            sa: o.service_account.clone(),
            url: red_opt(&o.url),
            chart: o.chart.clone(),
            cond: wire_conditions(&o.conditions),
            lar: red_opt(&o.last_applied_revision),
            asz: o.artifact_size,
            lbl: o.labels.clone(),
            uid: o.uid.clone(),
            own: o.owner.as_ref().map(WireOwner::of),
            wl: o.workload.as_deref().map(WireWorkload::of),
            inv: o.inventory.iter().map(wire_ref).collect(),
        }
    }

    fn to_info(&self) -> ObjectInfo {
        ObjectInfo {
            watch_type: self.wt.clone(),
            generation: self.gen,
            interval_ms: self.iv,
            suspend: self.sus,
            depends_on: self.dep.iter().map(from_wire_ref).collect(),
            source_ref: self.src.as_ref().map(from_wire_ref),
            service_account: self.sa.clone(),
            url: self.url.clone(),
            chart: self.chart.clone(),
            conditions: from_wire_conditions(&self.cond),
            last_applied_revision: self.lar.clone(),
            artifact_size: self.asz,
            labels: self.lbl.clone(),
            uid: self.uid.clone(),
            owner: self.own.as_ref().map(WireOwner::to_owner),
            workload: self.wl.as_ref().map(|w| Box::new(w.to_info())),
            inventory: self.inv.iter().map(from_wire_ref).collect(),
            ..ObjectInfo::default()
        }
    }
}

/// One container status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WireContainer {
    pub n: String,
    /// Restart count.
    #[serde(skip_serializing_if = "is_zero")]
    pub rc: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub img: Option<String>,
    /// `state.waiting.reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wr: Option<String>,
    /// `state.waiting.message` (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wm: Option<String>,
    /// `state.terminated.reason` / exit code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tc: Option<i64>,
    /// `lastState.terminated.reason` / exit code / finish time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ltr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ltc: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ltf: Option<TsMs>,
    /// Memory limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl WireContainer {
    fn of(c: &ContainerInfo) -> Self {
        WireContainer {
            n: c.name.clone(),
            rc: c.restart_count,
            img: c.image.clone(),
            wr: c.waiting_reason.clone(),
            wm: red_opt(&c.waiting_message),
            tr: c.terminated_reason.clone(),
            tc: c.terminated_exit_code,
            ltr: c.last_terminated_reason.clone(),
            ltc: c.last_terminated_exit_code,
            ltf: c.last_terminated_finished_ms,
            mem: c.memory_limit.clone(),
        }
    }

    fn to_info(&self) -> ContainerInfo {
        ContainerInfo {
            name: self.n.clone(),
            restart_count: self.rc,
            image: self.img.clone(),
            waiting_reason: self.wr.clone(),
            waiting_message: self.wm.clone(),
            terminated_reason: self.tr.clone(),
            terminated_exit_code: self.tc,
            last_terminated_reason: self.ltr.clone(),
            last_terminated_exit_code: self.ltc,
            last_terminated_finished_ms: self.ltf,
            memory_limit: self.mem.clone(),
            ..ContainerInfo::default()
        }
    }
}

/// Pod status facts the correlator reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WirePod {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wt: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lbl: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub c: Vec<WireContainer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own: Option<WireOwner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Claim names of its volumes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pvc: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cond: Vec<WireCondition>,
    /// `status.reason` / `status.message` (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sm: Option<String>,
}

impl WirePod {
    fn of(p: &PodInfo) -> Self {
        WirePod {
            wt: p.watch_type.clone(),
            lbl: p.labels.clone(),
            c: p.containers.iter().map(WireContainer::of).collect(),
            uid: p.uid.clone(),
            own: p.owner.as_ref().map(WireOwner::of),
            node: p.node_name.clone(),
            pvc: p.claim_names.clone(),
            cond: wire_conditions(&p.conditions),
            sr: p.status_reason.clone(),
            sm: red_opt(&p.status_message),
        }
    }

    fn to_info(&self) -> PodInfo {
        PodInfo {
            watch_type: self.wt.clone(),
            labels: self.lbl.clone(),
            containers: self.c.iter().map(WireContainer::to_info).collect(),
            uid: self.uid.clone(),
            owner: self.own.as_ref().map(WireOwner::to_owner),
            node_name: self.node.clone(),
            claim_names: self.pvc.clone(),
            conditions: from_wire_conditions(&self.cond),
            status_reason: self.sr.clone(),
            status_message: self.sm.clone(),
            ..PodInfo::default()
        }
    }
}

/// A Prometheus sample. The value is text (Rust's shortest round-trip form: `NaN`,
/// `inf` included), so it decodes to the same bits; JSON numbers cannot promise that.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WireMetric {
    pub n: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub l: Vec<(String, String)>,
    pub v: String,
}

impl WireMetric {
    fn of(m: &MetricSample) -> Self {
        WireMetric {
            n: m.name.clone(),
            l: m.labels.clone(),
            v: format!("{:?}", m.value),
        }
    }

    fn to_sample(&self) -> MetricSample {
        MetricSample {
            name: self.n.clone(),
            labels: self.l.clone(),
            value: self.v.parse().unwrap_or(f64::NAN),
        }
    }
}

/// The sans-IO state of one publisher: sequence numbers, the watermark and when the
/// next heartbeat is due. Time is passed in (record time in replay, the live clock in
/// `run`), as for the correlator.
#[derive(Debug, Clone)]
pub struct SignalProducer {
    cluster: String,
    heartbeat_ms: TsMs,
    seq: u64,
    watermark: Option<TsMs>,
    last_heartbeat: Option<TsMs>,
}

impl SignalProducer {
    /// A publisher for `cluster` with a heartbeat every `heartbeat_ms` (at least 1 ms).
    pub fn new(cluster: &str, heartbeat_ms: u64) -> Self {
        SignalProducer {
            cluster: cluster.to_string(),
            heartbeat_ms: heartbeat_ms.max(1) as TsMs,
            seq: 0,
            watermark: None,
            last_heartbeat: None,
        }
    }

    /// The newest record time seen.
    pub fn watermark(&self) -> Option<TsMs> {
        self.watermark
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The signal of a classified record; a record without a time of its own is dated
    /// `now` (the clock the correlator reads it at), else the watermark, else 0.
    pub fn record(&mut self, rec: &Record, now: Option<TsMs>) -> Signal {
        if let Some(t) = rec.ts {
            self.watermark = Some(self.watermark.map_or(t, |w| w.max(t)));
        }
        let t = rec.ts.or(now).or(self.watermark).unwrap_or(0);
        Signal {
            schema: Cow::Borrowed(SCHEMA),
            cluster: self.cluster.clone(),
            t,
            seq: self.next_seq(),
            kind: SignalKind::Record,
            r: Some(WireRecord::of(rec)),
            wm: None,
        }
    }

    /// A heartbeat at `now` when one is due (the first at the first call, then every
    /// interval; a clock that jumps gives one, not one per missed interval).
    pub fn heartbeat(&mut self, now: TsMs) -> Option<Signal> {
        if self
            .last_heartbeat
            .is_some_and(|l| now < l.saturating_add(self.heartbeat_ms))
        {
            return None;
        }
        self.last_heartbeat = Some(now);
        Some(Signal {
            schema: Cow::Borrowed(SCHEMA),
            cluster: self.cluster.clone(),
            t: now,
            seq: self.next_seq(),
            kind: SignalKind::Heartbeat,
            r: None,
            wm: self.watermark,
        })
    }
}

#[cfg(test)]
mod tests;
