//! Structured values from fuzzer bytes: findings, audit records, deliveries and records.
//!
//! Names come from small pools so keys collide (detectors see histories, not a new
//! object per record); times stay in the range the parsers can produce.

use std::collections::BTreeMap;

use super::input::Input;
use fluxsight::correlate::finding::{Evidence, RootCause};
use fluxsight::correlate::{AuditRecord, Finding, PatternId, Status};
use fluxsight::parse::message::CONTROLLERS;
use fluxsight::record::{
    ChangeSet, Class, Condition, ContainerInfo, Detail, EventInfo, Format, Level, MetricSample,
    ObjectInfo, ObjectRef, PodInfo, Record, Severity, TsMs,
};
use fluxsight::sinks::{Delivery, Group};

const KINDS: &[&str] = &[
    "GitRepository",
    "OCIRepository",
    "HelmRepository",
    "HelmChart",
    "Bucket",
    "Kustomization",
    "HelmRelease",
    "ImageRepository",
    "ImageUpdateAutomation",
    "Alert",
    "Provider",
    "Pod",
    "Deployment",
    "",
];
const NAMESPACES: &[&str] = &["flux-system", "payments", "shop", "team-a-prod", ""];
const NAMES: &[&str] = &["app", "infra", "podinfo", "source-controller-5d8f", "x"];
const PATTERNS: &[&str] = &[
    PatternId::GitAuthFailure.as_str(),
    PatternId::ControllerOom.as_str(),
    PatternId::DependencyCycle.as_str(),
    PatternId::RbacDenied.as_str(),
    PatternId::StalledReconciliation.as_str(),
    "",
];
const METRICS: &[&str] = &[
    "process_resident_memory_bytes",
    "container_memory_working_set_bytes",
    "workqueue_depth",
    "controller_runtime_reconcile_total",
    "gotk_reconcile_duration_seconds_bucket",
];
const REASONS: &[&str] = &[
    "OOMKilled",
    "Error",
    "CrashLoopBackOff",
    "ReconciliationSucceeded",
    "ArtifactFailed",
    "DependencyNotReady",
    "Progressing",
    "UpgradeFailed",
    "InstallSucceeded",
    "ReconciliationFailed",
];
const WATCH_TYPES: &[&str] = &["ADDED", "MODIFIED", "DELETED"];

/// Latest instant the parsers produce (`time::epoch_f64` refuses later ones).
const MAX_TS: u64 = 4_000_000_000_000_000;

pub fn ts(i: &mut Input) -> TsMs {
    (i.u64() % MAX_TS) as TsMs
}

fn severity(i: &mut Input) -> Severity {
    i.pick(&[
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
    ])
}

pub fn object(i: &mut Input) -> ObjectRef {
    ObjectRef::new(i.name(KINDS), i.name(NAMESPACES), i.name(NAMES))
}

fn labels(i: &mut Input) -> BTreeMap<String, String> {
    i.vec(6, |i| {
        (
            i.name(&["revision", "tenant", "env", "9bad", ""]),
            i.free_text(),
        )
    })
    .into_iter()
    .collect()
}

fn evidence(i: &mut Input) -> Evidence {
    Evidence {
        ts: i.opt(ts),
        controller: i.opt(|i| i.name(CONTROLLERS)),
        class: i.pick(Class::ALL),
        message: i.free_text(),
    }
}

pub fn finding(i: &mut Input) -> Finding {
    let first_seen = ts(i);
    Finding {
        id: i.text(),
        pattern: i.name(PATTERNS),
        status: i.pick(&[Status::Firing, Status::Resolved]),
        severity: severity(i),
        title: i.free_text(),
        summary: i.free_text(),
        cluster: i.text(),
        tenant: i.text(),
        tenants: i.vec(4, Input::text),
        subject: object(i),
        root_cause: i.opt(|i| RootCause {
            object: object(i),
            class: i.pick(Class::ALL),
            message: i.free_text(),
        }),
        impacted: i.vec(40, object),
        impact: Vec::new(),
        first_seen,
        last_seen: first_seen.saturating_add((i.u64() % 1_000_000_000) as i64),
        count: i.u64(),
        evidence: i.vec(6, evidence),
        labels: labels(i),
        remediation: i.free_text(),
        last_counted: first_seen,
        emission: i.u64() % 4,
        rule: Default::default(),
        workload: None,
        text_pending: Default::default(),
    }
}

fn change_set(i: &mut Input) -> ChangeSet {
    ChangeSet {
        created: i.vec(8, Input::text),
        configured: i.vec(8, Input::text),
        deleted: i.vec(8, Input::text),
        unchanged: i.below(1000),
    }
}

pub fn audit(i: &mut Input) -> AuditRecord {
    AuditRecord {
        ts: ts(i),
        cluster: i.text(),
        controller: i.opt(|i| i.name(CONTROLLERS)),
        action: i.name(&[
            "revision_applied",
            "helm_release_upgraded",
            PatternId::RbacDenied.as_str(),
        ]),
        subject: object(i),
        tenant: i.text(),
        source: i.opt(object),
        source_url: i.opt(Input::free_text),
        revision: i.opt(Input::text),
        commit: i.opt(Input::text),
        changes: change_set(i),
        outcome: i.name(&["success", "failure"]),
        message: i.free_text(),
    }
}

pub fn delivery(i: &mut Input) -> Delivery {
    match i.byte() % 3 {
        0 => Delivery::Finding(Box::new(finding(i))),
        1 => Delivery::Audit(Box::new(audit(i))),
        _ => Delivery::Group(Box::new(Group {
            route: i.text(),
            key: i.text(),
            labels: labels(i),
            findings: i.vec(30, finding),
        })),
    }
}

fn condition(i: &mut Input) -> Condition {
    Condition {
        type_: i.name(&["Ready", "Stalled", "Reconciling", "Healthy"]),
        status: i.name(&["True", "False", "Unknown"]),
        reason: i.name(REASONS),
        message: i.text(),
        last_transition_ms: i.opt(ts),
    }
}

fn object_info(i: &mut Input) -> ObjectInfo {
    ObjectInfo {
        api_version: i.name(&["source.toolkit.fluxcd.io/v1", "helm.toolkit.fluxcd.io/v2"]),
        watch_type: i.opt(|i| i.name(WATCH_TYPES)),
        generation: i.opt(|i| i.below(5) as i64),
        observed_generation: i.opt(|i| i.below(5) as i64),
        resource_version: i.opt(Input::text),
        interval_ms: i.opt(|i| i.u64() % 1_000_000_000),
        retry_interval_ms: i.opt(|i| i.u64() % 1_000_000_000),
        timeout_ms: i.opt(|i| i.u64() % 1_000_000_000),
        suspend: i.bool(),
        depends_on: i.vec(4, object),
        source_ref: i.opt(object),
        service_account: i.opt(Input::text),
        url: i.opt(Input::text),
        chart: i.opt(Input::text),
        chart_version: i.opt(Input::text),
        conditions: i.vec(4, condition),
        last_applied_revision: i.opt(Input::text),
        last_attempted_revision: i.opt(Input::text),
        artifact_revision: i.opt(Input::text),
        artifact_size: i.opt(Input::u64),
        failures: i.opt(|i| i.u64() % 100),
        labels: i.vec(3, |i| (i.text(), i.text())),
        ..Default::default()
    }
}

fn container(i: &mut Input) -> ContainerInfo {
    ContainerInfo {
        name: i.name(&["manager", "app"]),
        ready: i.bool(),
        restart_count: i.u64() % 50,
        image: i.opt(Input::text),
        waiting_reason: i.opt(|i| i.name(REASONS)),
        terminated_reason: i.opt(|i| i.name(REASONS)),
        terminated_exit_code: i.opt(|i| i.pick(&[0, 1, 137, 143])),
        last_terminated_reason: i.opt(|i| i.name(REASONS)),
        last_terminated_exit_code: i.opt(|i| i.pick(&[0, 1, 137, 143])),
        last_terminated_finished_ms: i.opt(ts),
        ..Default::default()
    }
}

fn detail(i: &mut Input) -> Detail {
    match i.byte() % 5 {
        0 => Detail::None,
        1 => Detail::Event(Box::new(EventInfo {
            event_type: i.opt(|i| i.name(&["Normal", "Warning", "error", "info"])),
            count: i.opt(|i| i.u64() % 1000),
            reporter: i.opt(|i| i.name(CONTROLLERS)),
            first_ms: i.opt(ts),
            last_ms: i.opt(ts),
            metadata: i.vec(3, |i| (i.text(), i.text())),
            ..Default::default()
        })),
        2 => Detail::Object(Box::new(object_info(i))),
        3 => Detail::Pod(Box::new(PodInfo {
            watch_type: i.opt(|i| i.name(WATCH_TYPES)),
            phase: i.opt(|i| i.name(&["Running", "Failed", "Pending"])),
            labels: i.vec(3, |i| (i.text(), i.name(CONTROLLERS))),
            containers: i.vec(3, container),
            ..Default::default()
        })),
        _ => Detail::Metric(MetricSample {
            name: i.name(METRICS),
            labels: i.vec(3, |i| (i.name(&["pod", "controller", "name"]), i.text())),
            value: f64::from_bits(i.u64()),
        }),
    }
}

/// A classified record as the parsers and classifier could hand it to the correlator;
/// `now` advances by small steps (and sometimes jumps), so windows and ticks both run.
pub fn record(i: &mut Input, now: &mut TsMs) -> Record {
    *now = match i.byte() % 8 {
        0 => ts(i),
        1 => now.saturating_sub(i.below(600_000) as i64),
        _ => now.saturating_add(i.below(120_000) as i64),
    };
    let class = i.pick(Class::ALL);
    Record {
        ts: (!i.byte().is_multiple_of(16)).then_some(*now),
        format: i.pick(&[
            Format::ZapJson,
            Format::K8sEvent,
            Format::FluxEvent,
            Format::Text,
        ]),
        envelope: None,
        level: i.opt(|i| i.pick(&[Level::Info, Level::Error, Level::Debug])),
        controller: i.opt(|i| i.name(CONTROLLERS)),
        pod: i.opt(|i| i.name(&["source-controller-5d8f9-x2x", "helm-controller-1"])),
        object: i.opt(object),
        reason: i.opt(|i| i.name(REASONS)),
        revision: i.opt(|i| i.name(&["main@sha1:0123456789abcdef", "v1.2.3"])),
        msg: i.text(),
        error: i.opt(Input::text),
        duration_ms: i.opt(|i| i.u64() % 1_000_000_000),
        interval_ms: i.opt(|i| i.u64() % 1_000_000_000),
        reconcile_id: i.opt(Input::text),
        logger: i.opt(Input::text),
        changes: i.opt(change_set),
        detail: detail(i),
        fields: i.vec(3, |i| (i.text(), i.text())),
        class,
        severity: class.default_severity().max(severity(i)),
        at_line: None,
        carrier_line: None,
    }
}
