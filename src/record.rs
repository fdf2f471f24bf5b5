//! The typed [`Record`] every stage shares.
//!
//! Owns: the record struct, its small vocabularies ([`Format`], [`Envelope`], [`Level`],
//! [`Class`], [`Severity`]) and the details of object snapshots, events, pods and metric
//! samples. Does not own: parsing (see `parse`) or classification (see `classify`).
//!
//! Invariant: vocabulary strings (`as_str`) are part of the public interface
//! (contracts.md §2, taxonomy.md §1): extend, never rename.

use std::fmt;

pub use crate::sym::Sym;

/// Milliseconds since the Unix epoch, UTC.
pub type TsMs = i64;

/// How a line was encoded once any envelope was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    ZapJson,
    ZapConsole,
    Klog,
    Logfmt,
    FluxCli,
    K8sEvent,
    K8sObject,
    FluxEvent,
    Metric,
    #[default]
    Text,
    Blank,
    /// A CRI `P` chunk whose text is carried into the next line's record.
    Partial,
    /// A row of a `kubectl get <kind>` / `flux get <kind>|all` table.
    Table,
    /// A row of a `kubectl get events` table or `flux events` output.
    EventsTable,
    /// A header line of a table (column names).
    TableHeader,
    /// A `kubectl describe` block: the object, its conditions and its Events rows.
    Describe,
    /// Flux CLI progress output (`►`, `✔`, `✗`, `◎`).
    FluxProgress,
    /// A command line pasted above its output (`$ kubectl get hr -A`).
    Command,
    /// A line that only continues the record carried by another line
    /// (`Record::carrier_line`): the rest of a document, a wrapped table cell.
    Continuation,
}

impl Format {
    /// Every format, in declaration order.
    pub const ALL: &'static [Format] = &[
        Format::ZapJson,
        Format::ZapConsole,
        Format::Klog,
        Format::Logfmt,
        Format::FluxCli,
        Format::K8sEvent,
        Format::K8sObject,
        Format::FluxEvent,
        Format::Metric,
        Format::Text,
        Format::Blank,
        Format::Partial,
        Format::Table,
        Format::EventsTable,
        Format::TableHeader,
        Format::Describe,
        Format::FluxProgress,
        Format::Command,
        Format::Continuation,
    ];

    /// The format named `s` (its [`Format::as_str`]).
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.iter().copied().find(|f| f.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::ZapJson => "zap_json",
            Format::ZapConsole => "zap_console",
            Format::Klog => "klog",
            Format::Logfmt => "logfmt",
            Format::FluxCli => "flux_cli",
            Format::K8sEvent => "k8s_event",
            Format::K8sObject => "k8s_object",
            Format::FluxEvent => "flux_event",
            Format::Metric => "metric",
            Format::Text => "text",
            Format::Blank => "blank",
            Format::Partial => "partial",
            Format::Table => "table",
            Format::EventsTable => "events_table",
            Format::TableHeader => "table_header",
            Format::Describe => "describe",
            Format::FluxProgress => "flux_progress",
            Format::Command => "command",
            Format::Continuation => "continuation",
        }
    }
}

/// A wrapper removed before the inner line was parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Envelope {
    /// `kubectl logs --timestamps`: `<RFC3339Nano> <line>`.
    Timestamps,
    /// `kubectl logs --prefix`: `[pod/<pod>/<container>] <line>`.
    Prefix,
    /// CRI: `<RFC3339Nano> <stdout|stderr> <F|P> <line>`.
    Cri,
    /// docker json-file: `{"log":"…","stream":"…","time":"…"}`.
    Docker,
    /// Google Cloud Logging entry: `jsonPayload` / `textPayload`, `resource.labels`.
    CloudLogging,
    /// Loki: logcli `<ts> {labels} <line>` or its JSON `{"labels":…,"line":…}`.
    Loki,
    /// Elasticsearch/OpenSearch hit or `_source` document (Fluent Bit, Filebeat/ECS).
    Elasticsearch,
    /// CloudWatch Logs Insights row: `{"@timestamp":…,"@message":…,"@logStream":…}`.
    Cloudwatch,
    /// Datadog log export: `message`, `timestamp`/`date`, `tags`, `attributes`.
    Datadog,
}

impl Envelope {
    pub fn as_str(self) -> &'static str {
        match self {
            Envelope::Timestamps => "timestamps",
            Envelope::Prefix => "prefix",
            Envelope::Cri => "cri",
            Envelope::Docker => "docker",
            Envelope::CloudLogging => "cloud_logging",
            Envelope::Loki => "loki",
            Envelope::Elasticsearch => "elasticsearch",
            Envelope::Cloudwatch => "cloudwatch",
            Envelope::Datadog => "datadog",
        }
    }
}

/// Log level, normalised (`Level(-2)` → trace, `W` → warning, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }

    /// Maps any level spelling seen in Flux, klog, logfmt and event payloads.
    pub fn from_loose(s: &str) -> Option<Level> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        Some(match lower.as_str() {
            "trace" | "level(-2)" | "-2" | "t" => Level::Trace,
            "debug" | "dbg" | "d" | "level(-1)" | "-1" => Level::Debug,
            "info" | "information" | "i" | "normal" | "notice" => Level::Info,
            "warn" | "warning" | "w" => Level::Warning,
            "error" | "err" | "e" | "fatal" | "f" | "panic" | "dpanic" | "critical" | "crit" => {
                Level::Error
            }
            _ => {
                if lower.starts_with("level(") {
                    // zap prints unknown levels as Level(n); negative = more verbose.
                    let n: i32 = lower
                        .trim_start_matches("level(")
                        .trim_end_matches(')')
                        .parse()
                        .ok()?;
                    if n <= -2 {
                        Level::Trace
                    } else if n < 0 {
                        Level::Debug
                    } else if n == 0 {
                        Level::Info
                    } else if n == 1 {
                        Level::Warning
                    } else {
                        Level::Error
                    }
                } else {
                    return None;
                }
            }
        })
    }
}

/// Severity of a record or finding.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Warning,
    Error,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "error" => Severity::Error,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

macro_rules! classes {
    ($( $(#[$attr:meta])* $variant:ident => $name:literal, $failure:literal; )*) => {
        /// Record class, taxonomy.md §1. Exactly one per record.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub enum Class {
            $( $(#[$attr])* $variant, )*
        }

        impl Class {
            /// Every class, in declaration order.
            pub const ALL: &'static [Class] = &[$(Class::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $( Class::$variant => $name, )*
                }
            }

            /// True for the failure classes (severity warning or error).
            pub fn is_failure(self) -> bool {
                match self {
                    $( Class::$variant => $failure, )*
                }
            }

            pub fn parse(s: &str) -> Option<Class> {
                match s {
                    $( $name => Some(Class::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

classes! {
    GitAuthFailed => "git_auth_failed", true;
    RateLimited => "rate_limited", true;
    NetworkError => "network_error", true;
    SourceFetchFailed => "source_fetch_failed", true;
    SourceNotReady => "source_not_ready", true;
    DependencyNotReady => "dependency_not_ready", true;
    HealthCheckFailed => "health_check_failed", true;
    BuildFailed => "build_failed", true;
    ValidationFailed => "validation_failed", true;
    ApplyConflict => "apply_conflict", true;
    DecryptionFailed => "decryption_failed", true;
    RbacForbidden => "rbac_forbidden", true;
    HelmReleaseFailed => "helm_release_failed", true;
    NotificationFailed => "notification_failed", true;
    ImageAutomationFailed => "image_automation_failed", true;
    StorageFailed => "storage_failed", true;
    OomKilled => "oom_killed", true;
    ControllerRestarted => "controller_restarted", true;
    ErrorOther => "error_other", true;
    ReconcileSucceeded => "reconcile_succeeded", false;
    ArtifactStored => "artifact_stored", false;
    RevisionApplied => "revision_applied", false;
    Progressing => "progressing", false;
    Suspended => "suspended", false;
    Lifecycle => "lifecycle", false;
    Metric => "metric", false;
    ObjectState => "object_state", false;
    #[default]
    InfoOther => "info_other", false;
}

impl Class {
    /// Default record severity of the class; `error` level records of a failure class
    /// are raised to `error` by the classifier.
    pub fn default_severity(self) -> Severity {
        match self {
            Class::DependencyNotReady | Class::Progressing => Severity::Info,
            c if c.is_failure() => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

impl serde::Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Class {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Class::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown class '{s}'")))
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Kubernetes object reference. `namespace` is empty for cluster-scoped objects.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct ObjectRef {
    pub kind: Sym,
    pub namespace: Sym,
    pub name: Sym,
}

impl ObjectRef {
    pub fn new(kind: impl Into<Sym>, namespace: impl Into<Sym>, name: impl Into<Sym>) -> Self {
        ObjectRef {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// One `status.conditions[]` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_ms: Option<TsMs>,
}

/// What a Flux (or other Kubernetes) object snapshot says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectInfo {
    pub api_version: String,
    /// Watch event type (`ADDED`, `MODIFIED`, `DELETED`) when the object came wrapped.
    pub watch_type: Option<String>,
    pub generation: Option<i64>,
    pub observed_generation: Option<i64>,
    pub resource_version: Option<String>,
    /// `spec.interval` in milliseconds.
    pub interval_ms: Option<u64>,
    /// `spec.retryInterval` in milliseconds.
    pub retry_interval_ms: Option<u64>,
    /// `spec.timeout` in milliseconds.
    pub timeout_ms: Option<u64>,
    pub suspend: bool,
    /// `spec.dependsOn` (namespace defaults to the object's own).
    pub depends_on: Vec<ObjectRef>,
    /// `spec.sourceRef`, or for a HelmRelease `spec.chart.spec.sourceRef` / `spec.chartRef`.
    pub source_ref: Option<ObjectRef>,
    pub service_account: Option<String>,
    /// `spec.url` for sources.
    pub url: Option<String>,
    /// `spec.chart.spec.chart` / HelmChart `spec.chart`.
    pub chart: Option<String>,
    pub chart_version: Option<String>,
    pub conditions: Vec<Condition>,
    pub last_applied_revision: Option<String>,
    pub last_attempted_revision: Option<String>,
    pub artifact_revision: Option<String>,
    pub artifact_size: Option<u64>,
    /// HelmRelease `status.failures` / install / upgrade failure counters, summed.
    pub failures: Option<u64>,
    pub labels: Vec<(String, String)>,
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// The `ownerReferences[]` entry with `controller: true` (else the first).
    pub owner: Option<OwnerRef>,
    /// Replica counts and rollout facts of a workload (Deployment, StatefulSet,
    /// DaemonSet, ReplicaSet, Job); `None` for other kinds.
    pub workload: Option<Box<WorkloadInfo>>,
    /// PVC `status.phase` and `spec.storageClassName`; `None` for other kinds.
    pub pvc: Option<PvcInfo>,
    /// Kustomization / HelmRelease `status.inventory.entries[].id`, decoded
    /// (cli-utils `ObjMetadata`: `<ns>_<name>_<group>_<Kind>`), capped.
    pub inventory: Vec<ObjectRef>,
}

/// An `ownerReferences[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
    pub uid: Option<String>,
    /// `controller: true`: the owner that manages the object.
    pub controller: bool,
}

/// What a workload document says about its rollout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkloadInfo {
    /// `spec.replicas` (Job: `spec.parallelism`; DaemonSet: desiredNumberScheduled).
    pub desired: Option<i64>,
    pub updated: Option<i64>,
    pub ready: Option<i64>,
    pub available: Option<i64>,
    /// `deployment.kubernetes.io/revision` annotation.
    pub revision: Option<String>,
    /// The `pod-template-hash` label (ReplicaSets).
    pub pod_template_hash: Option<String>,
    /// StatefulSet `spec.volumeClaimTemplates[].metadata.name`.
    pub claim_templates: Vec<String>,
}

/// A PersistentVolumeClaim's phase and class.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PvcInfo {
    pub phase: Option<String>,
    pub storage_class: Option<String>,
}

impl ObjectInfo {
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// One `status.containerStatuses[]` entry of a Pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerInfo {
    pub name: String,
    pub ready: bool,
    pub restart_count: u64,
    pub image: Option<String>,
    pub waiting_reason: Option<String>,
    pub terminated_reason: Option<String>,
    pub terminated_exit_code: Option<i64>,
    pub last_terminated_reason: Option<String>,
    pub last_terminated_exit_code: Option<i64>,
    pub last_terminated_finished_ms: Option<TsMs>,
    /// `state.waiting.message`.
    pub waiting_message: Option<String>,
    /// `lastState.terminated.message` (or `state.terminated.message`).
    pub terminated_message: Option<String>,
    /// `spec.containers[].resources.limits.memory` of the container of this name.
    pub memory_limit: Option<String>,
}

/// What a Pod snapshot says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PodInfo {
    pub watch_type: Option<String>,
    pub phase: Option<String>,
    pub labels: Vec<(String, String)>,
    pub containers: Vec<ContainerInfo>,
    /// `metadata.uid`.
    pub uid: Option<String>,
    /// The controller owner (ReplicaSet, StatefulSet, DaemonSet, Job).
    pub owner: Option<OwnerRef>,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
    /// `spec.volumes[].persistentVolumeClaim.claimName`.
    pub claim_names: Vec<String>,
    /// `status.conditions` (PodScheduled=False says why it is not scheduled).
    pub conditions: Vec<Condition>,
    /// `status.reason` (`Evicted`) and `status.message`.
    pub status_reason: Option<String>,
    pub status_message: Option<String>,
}

/// Kubernetes Event (or Flux event payload) specifics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventInfo {
    /// `Normal` / `Warning` (Kubernetes) or the payload `severity` (`info` / `error`).
    pub event_type: Option<String>,
    pub count: Option<u64>,
    /// `source.component`, `reportingController` or `reportingComponent`.
    pub reporter: Option<String>,
    pub first_ms: Option<TsMs>,
    pub last_ms: Option<TsMs>,
    /// Flux metadata (annotations) as `key → value`.
    pub metadata: Vec<(String, String)>,
    /// `involvedObject.uid` / `regarding.uid`.
    pub involved_uid: Option<String>,
    /// `involvedObject.fieldPath` (`spec.containers{web}`).
    pub field_path: Option<String>,
    /// The message came aggregated by client-go: `(combined from similar events): …`
    /// (the record's `msg` keeps it verbatim).
    pub combined: bool,
}

/// The prefix client-go puts on aggregated Event messages.
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

impl EventInfo {
    /// `msg` without the aggregation prefix.
    pub fn strip_combined(msg: &str) -> &str {
        msg.strip_prefix(COMBINED_PREFIX).unwrap_or(msg)
    }
}

/// A Prometheus sample.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricSample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl MetricSample {
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
}

/// A server-side apply change set (`Kind/ns/name` strings).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ChangeSet {
    pub created: Vec<String>,
    pub configured: Vec<String>,
    pub deleted: Vec<String>,
    pub unchanged: usize,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.configured.is_empty() && self.deleted.is_empty()
    }

    /// Adds one `"Kind/ns/name" → action` entry (`created`, `configured`, `deleted`, …).
    pub fn add(&mut self, object: &str, action: &str) {
        match action.trim() {
            "created" => self.created.push(object.to_string()),
            "configured" => self.configured.push(object.to_string()),
            "deleted" => self.deleted.push(object.to_string()),
            _ => self.unchanged += 1,
        }
    }
}

/// Form-specific payload of a record.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Detail {
    #[default]
    None,
    Event(Box<EventInfo>),
    Object(Box<ObjectInfo>),
    Pod(Box<PodInfo>),
    Metric(MetricSample),
}

/// One parsed input line (or object), the unit every stage passes on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    /// Event time in ms since the epoch (UTC), when the input carried one.
    pub ts: Option<TsMs>,
    pub format: Format,
    pub envelope: Option<Envelope>,
    pub level: Option<Level>,
    /// Deployment name of the Flux controller, e.g. `source-controller`.
    pub controller: Option<String>,
    /// Pod name when an envelope, label or field named it.
    pub pod: Option<String>,
    /// The object the record is about.
    pub object: Option<ObjectRef>,
    /// Event or condition reason (also the eventLogf `"error":"<Reason>"` value).
    pub reason: Option<String>,
    /// Revision as printed.
    pub revision: Option<String>,
    /// The message proper (`msg`).
    pub msg: String,
    /// Error text (`error` field), when separate from the message.
    pub error: Option<String>,
    /// Reconcile duration (`Reconciliation finished in 1.25s` → 1250).
    pub duration_ms: Option<u64>,
    /// Next run / retry interval (`next run in 10m0s`, `retrying in 30s`).
    pub interval_ms: Option<u64>,
    pub reconcile_id: Option<String>,
    pub logger: Option<String>,
    /// Server-side apply change set when the line carried one.
    pub changes: Option<ChangeSet>,
    pub detail: Detail,
    /// Other scalar fields, in input order, for evidence and debugging.
    pub fields: Vec<(String, String)>,
    pub class: Class,
    pub severity: Severity,
    /// Line (of the decoder's input, 1-based) this record belongs to when that is an
    /// earlier line than the one whose decoding returned it (an assembled document).
    pub at_line: Option<u64>,
    /// For a `continuation` record: the line that carries the record it continues.
    pub carrier_line: Option<u64>,
}

impl Record {
    /// The human message: `msg` plus the error text, as contracts.md §2 `message`.
    pub fn message(&self) -> String {
        match &self.error {
            Some(e) if !e.is_empty() && !self.msg.is_empty() => format!("{}: {}", self.msg, e),
            Some(e) if !e.is_empty() => e.clone(),
            _ => self.msg.clone(),
        }
    }

    pub fn field(&self, k: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }

    pub fn object_info(&self) -> Option<&ObjectInfo> {
        match &self.detail {
            Detail::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn pod_info(&self) -> Option<&PodInfo> {
        match &self.detail {
            Detail::Pod(p) => Some(p),
            _ => None,
        }
    }

    pub fn event_info(&self) -> Option<&EventInfo> {
        match &self.detail {
            Detail::Event(e) => Some(e),
            _ => None,
        }
    }

    pub fn metric(&self) -> Option<&MetricSample> {
        match &self.detail {
            Detail::Metric(m) => Some(m),
            _ => None,
        }
    }
}
