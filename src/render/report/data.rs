//! What a post-mortem report is drawn from: the replay's findings with their history,
//! audit records, object facts, per-object activity, inputs and configuration.
//!
//! Owns: these plain data types (filled by `pipeline::report`'s collector, read by the
//! views in this module). Does not own: how they are collected or drawn.
//!
//! Invariant: every collection is bounded by the collector's caps and ordered (sorted
//! maps, input order), so the same replay gives the same data.

use std::collections::BTreeMap;

use crate::correlate::{AuditRecord, Finding, ObjectView, Status};
use crate::record::{Class, ObjectRef, Severity, TsMs};

/// Everything one report shows.
#[derive(Debug, Clone, Default)]
pub struct ReportData {
    /// The fluxsight version that wrote the report.
    pub version: String,
    pub cluster: String,
    /// The replayed inputs, in command-line order.
    pub inputs: Vec<InputInfo>,
    /// The effective configuration as `key = value` lines (cluster, patterns source,
    /// config file, pattern overrides), sorted.
    pub config: Vec<(String, String)>,
    /// Every finding with its history, sorted by id.
    pub findings: Vec<FindingHistory>,
    /// Audit records in emission order (the first [`MAX_AUDIT`]).
    pub audit: Vec<AuditRecord>,
    pub audit_total: u64,
    /// What the correlator knew about each object at the end, sorted.
    pub objects: Vec<ObjectView>,
    /// Failure and success times per object, sorted by object.
    pub activity: BTreeMap<ObjectRef, ObjectActivity>,
    /// First and last record time of the replay.
    pub start: Option<TsMs>,
    pub end: Option<TsMs>,
    pub records: u64,
    pub lines: u64,
    /// What the replay could not see or keep: lines only read as text, state evicted,
    /// caps reached.
    pub gaps: Vec<String>,
}

/// Most audit records a report keeps.
pub const MAX_AUDIT: usize = 2_000;

/// One replayed input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputInfo {
    pub name: String,
    pub bytes: u64,
    /// Lowercase hex SHA-256 of the bytes read.
    pub sha256: String,
}

/// A finding's final state, how it was emitted over time and its evidence.
#[derive(Debug, Clone)]
pub struct FindingHistory {
    pub finding: Finding,
    /// Every emission (firing, updates, resolved) in order, the first [`MAX_EMISSIONS`].
    pub emissions: Vec<Emission>,
    /// Distinct evidence messages in first-seen order (deduplicated, capped).
    pub evidence: Vec<EvidenceItem>,
    /// Distinct messages beyond the cap, counted only.
    pub evidence_omitted: u64,
}

/// Most emissions kept per finding.
pub const MAX_EMISSIONS: usize = 200;

/// One emission of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Emission {
    /// Record time of the emission.
    pub at: TsMs,
    pub status: Status,
    pub severity: Severity,
    pub count: u64,
}

/// One distinct evidence message of a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceItem {
    /// The object the evidence is about when it is a grouped symptom's own failure.
    pub object: Option<ObjectRef>,
    pub first: Option<TsMs>,
    pub last: Option<TsMs>,
    pub controller: Option<String>,
    pub class: Class,
    /// Verbatim (secrets redacted by the correlator, and again when drawn).
    pub message: String,
    /// Where it was read (`file:line`) when the replay saw the record.
    pub source: Option<String>,
    /// Times this exact message was seen among the samples.
    pub count: u64,
}

/// Times of an object's failing and succeeding records (each list capped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectActivity {
    pub failures: Vec<TsMs>,
    pub failures_total: u64,
    pub successes: Vec<TsMs>,
}

/// Most times kept per object and list.
pub const MAX_ACTIVITY: usize = 2_000;
