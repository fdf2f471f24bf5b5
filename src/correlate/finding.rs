//! Findings and their lifecycle: the table of open findings, material-change detection,
//! repeat intervals and resolution.
//!
//! Invariant: a finding's `id` is a fingerprint of (pattern, subject) only, so it is the
//! same across updates, replays and restarts. Iteration is over a `BTreeMap`, so output
//! order never depends on hashing.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use sha2::{Digest, Sha256};

use super::pattern_id::PatternId;
use crate::record::{Class, ObjectRef, Severity, TsMs};

/// Status of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Firing => "firing",
            Status::Resolved => "resolved",
        }
    }
}

/// The object a finding explains others by.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RootCause {
    pub object: ObjectRef,
    pub class: Class,
    pub message: String,
}

/// One evidence sample.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evidence {
    pub ts: Option<TsMs>,
    pub controller: Option<String>,
    pub class: Class,
    pub message: String,
}

/// What a root finding knows about one impacted object (a symptom it groups): how often
/// it failed, since when, and its last failure. Extends the `impacted` entry with the
/// same object; objects listed without failures of their own have none.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImpactDetail {
    pub object: ObjectRef,
    /// Distinct failed attempts seen while grouped under this finding.
    pub count: u64,
    pub first_failed: TsMs,
    pub last_failed: TsMs,
    pub class: Class,
    pub message: String,
}

/// One link of a workload chain: the object and how it was linked to the one before.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChainLink {
    pub object: ObjectRef,
    pub uid: Option<String>,
    /// `flux` (the Flux object itself), `health_check` (named in its message),
    /// `inventory`, `label`, `ownerRef` (by uid), `name` (name prefix, inferred),
    /// `claim` (a Pod's PVC), `node` (a Pod's node), `event` (Events only).
    pub link: String,
}

/// A cause of a workload not becoming available (report-and-workload-rca.md §2.5).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkloadCauseInfo {
    /// `create`, `schedule`, `volume`, `image`, `config`, `crash`, `node`, `probe`,
    /// `none`.
    pub stage: String,
    pub class: String,
    pub subclass: String,
    pub params: BTreeMap<String, String>,
    /// The workload it was found for and how many of its Pods show it.
    pub workload: ObjectRef,
    pub pods_in_class: u64,
    /// The cause in words (`image ghcr.io/acme/web:v1.4.3 not found`).
    pub text: String,
}

/// One piece of workload evidence, verbatim: an Event or a status field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkloadEvidence {
    /// `event` or `status`.
    pub source: String,
    pub reason: String,
    pub event_type: Option<String>,
    pub reporter: Option<String>,
    pub involved_object: ObjectRef,
    pub uid: Option<String>,
    /// The class of the record it came from (taxonomy §1).
    pub record_class: Class,
    pub message: String,
    pub count: Option<u64>,
    pub first_seen: Option<TsMs>,
    pub last_seen: Option<TsMs>,
}

/// What the workload root cause found under a Flux health-check or Helm timeout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkloadDiagnosis {
    /// The Kustomization or HelmRelease, its failure message and reason.
    pub flux_object: ObjectRef,
    pub flux_message: String,
    /// Flux object → workload → ReplicaSet/StatefulSet/Job → Pod → PVC.
    pub chain: Vec<ChainLink>,
    pub cause: WorkloadCauseInfo,
    /// Other causes (other Pods, other named workloads), most Pods first.
    pub others: Vec<WorkloadCauseInfo>,
    pub desired: Option<i64>,
    pub updated: Option<i64>,
    pub available: Option<i64>,
    /// `full` or `partial`.
    pub coverage: String,
    /// Why partial: `events_expired`, `rbac_forbidden`, `no_uids`.
    pub coverage_reasons: Vec<String>,
    pub evidence: Vec<WorkloadEvidence>,
}

/// How sure a pattern is that its findings are real (a pattern-file setting,
/// `confidence:`): renderers map it to OCSF `confidence_id`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A heuristic or extrapolation (a trend, a share): worth a look, may be benign.
    Low,
    /// A threshold over several signals: usually right. The default of a pattern
    /// file that does not say.
    #[default]
    Medium,
    /// A failure the controllers state themselves (an error, a status reason).
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// What the pattern behind a finding says about itself, copied from its pattern file
/// when the finding's text is rendered: SIEM renderers describe the rule with it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RuleMeta {
    /// The pattern file's `description`.
    pub description: String,
    /// The pattern file's `category` (the family of failure, e.g. `source`).
    pub category: String,
    pub confidence: Confidence,
}

/// Most evidence samples kept per finding (contracts.md §4).
pub const MAX_EVIDENCE: usize = 5;
/// Most impacted objects listed per finding; the rest are counted in `impacted_total`.
pub const MAX_IMPACTED: usize = 500;

/// Longest evidence gap taken as retry back-off rather than recovery.
pub const MAX_BACKOFF_GAP_MS: i64 = 30 * 60_000;

/// A correlated conclusion (contracts.md §4). Serde form is the internal (spool)
/// form; the public schema is `render::finding::native`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Finding {
    pub id: String,
    pub pattern: String,
    pub status: Status,
    pub severity: Severity,
    pub title: String,
    pub summary: String,
    pub cluster: String,
    pub tenant: String,
    pub tenants: Vec<String>,
    pub subject: ObjectRef,
    pub root_cause: Option<RootCause>,
    /// Ordered: first cause → symptoms, in the order they were first seen.
    pub impacted: Vec<ObjectRef>,
    /// Own evidence of impacted objects that failed (at most one per `impacted` entry).
    #[serde(default)]
    pub impact: Vec<ImpactDetail>,
    pub first_seen: TsMs,
    pub last_seen: TsMs,
    pub count: u64,
    pub evidence: Vec<Evidence>,
    pub labels: BTreeMap<String, String>,
    pub remediation: String,
    /// The pattern's own description, category and confidence (not in the native
    /// schema; OCSF, ECS and Alertmanager render it).
    #[serde(default)]
    pub rule: RuleMeta,
    /// Time of the last counted attempt (not rendered): records of one attempt (log
    /// line, `Reconciler error`, Event) count once.
    pub last_counted: TsMs,
    /// How many times this finding has been emitted (1 = created); OCSF activity
    /// Create/Update follows from it.
    #[serde(default)]
    pub emission: u64,
    /// `workload_failure` only: the chain, cause, replicas, coverage and evidence.
    #[serde(default)]
    pub workload: Option<Box<WorkloadDiagnosis>>,
    /// Templates to render before the next emission (not rendered, not stored).
    #[serde(skip)]
    pub text_pending: PendingText,
}

/// The pattern whose title, summary and remediation templates a finding still has to
/// be rendered with. `vars::fill_text` only records it; the text is rendered once when
/// the finding is emitted (`FindingTable::take_changes`), not on every update, since
/// the templates read nothing but the finding itself. Compares equal to every other.
#[derive(Clone, Default)]
pub struct PendingText(pub(crate) Option<std::sync::Arc<super::spec::Pattern>>);

impl PartialEq for PendingText {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for PendingText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(p) => write!(f, "PendingText({})", p.spec.id),
            None => f.write_str("PendingText(None)"),
        }
    }
}

impl Finding {
    /// A firing `error` finding of `pattern` about `subject` with every other field
    /// empty: the base of unit-test fixtures (`Finding { count: 3, ..Finding::example(…) }`).
    #[cfg(test)]
    pub(crate) fn example(pattern: PatternId, subject: ObjectRef) -> Finding {
        Finding {
            id: finding_id(pattern.as_str(), &subject),
            pattern: pattern.as_str().into(),
            status: Status::Firing,
            severity: Severity::Error,
            title: String::new(),
            summary: String::new(),
            cluster: "c".into(),
            tenant: String::new(),
            tenants: Vec::new(),
            subject,
            root_cause: None,
            impacted: Vec::new(),
            impact: Vec::new(),
            first_seen: 0,
            last_seen: 0,
            count: 1,
            evidence: Vec::new(),
            labels: Default::default(),
            remediation: String::new(),
            rule: RuleMeta::default(),
            last_counted: 0,
            emission: 1,
            workload: None,
            text_pending: Default::default(),
        }
    }

    /// Counts an attempt against a provider host: a new finding starts from the
    /// `attempts` in its window (first one at `first`); later only new attempts count.
    pub fn note_host_attempt(&mut self, attempts: u64, first: TsMs, new_attempt: bool) {
        if self.count == 0 {
            self.count = attempts;
            self.first_seen = self.first_seen.min(first);
        } else if new_attempt {
            self.count += 1;
        }
    }

    /// Counts one attempt at `ts`; a new finding starts from `initial` (the attempts
    /// that made it fire).
    pub fn note_attempt(&mut self, ts: TsMs, initial: u64) {
        if self.count == 0 {
            self.count = initial.max(1);
            self.last_counted = ts;
        } else if ts - self.last_counted > super::state::ATTEMPT_DEDUPE_MS {
            self.count += 1;
            self.last_counted = ts;
        }
    }

    pub fn add_impacted(&mut self, o: &ObjectRef) {
        if self.impacted.len() < MAX_IMPACTED && !self.impacted.contains(o) && *o != self.subject {
            self.impacted.push(o.clone());
        }
    }

    /// Lists `d.object` as impacted with its own failures: the first time as `d` says
    /// (its failures so far), later as one more failure when `d`'s last one is new
    /// (attempts closer than the attempt dedupe, log line and Event of one attempt,
    /// count once).
    pub fn add_impact(&mut self, d: ImpactDetail) {
        self.add_impacted(&d.object);
        if !self.impacted.contains(&d.object) {
            return;
        }
        match self.impact.iter_mut().find(|x| x.object == d.object) {
            Some(x) => {
                if d.last_failed - x.last_failed > super::state::ATTEMPT_DEDUPE_MS {
                    x.count += 1;
                }
                if d.last_failed >= x.last_failed {
                    x.last_failed = d.last_failed;
                    x.class = d.class;
                    x.message = d.message;
                }
                x.first_failed = x.first_failed.min(d.first_failed);
            }
            None => self.impact.push(d),
        }
    }

    /// The own evidence of impacted object `o`, when it failed while grouped here.
    pub fn impact_of(&self, o: &ObjectRef) -> Option<&ImpactDetail> {
        self.impact.iter().find(|d| d.object == *o)
    }

    pub fn add_tenant(&mut self, t: &str) {
        if !t.is_empty() && !self.tenants.iter().any(|x| x == t) {
            self.tenants.push(t.to_string());
            self.tenants.sort();
        }
    }

    /// Keeps the first sample and the most recent ones, up to [`MAX_EVIDENCE`].
    pub fn add_evidence(&mut self, e: Evidence) {
        if self
            .evidence
            .iter()
            .any(|x| x.message == e.message && x.ts == e.ts)
        {
            return;
        }
        if self.evidence.len() >= MAX_EVIDENCE {
            self.evidence.remove(1);
        }
        self.evidence.push(e);
    }

    /// What counts as a material change: status, severity, who is blamed and what is
    /// impacted. Counters, timestamps, texts and labels (which carry running figures such
    /// as durations) are refreshed by the repeat interval instead.
    fn material_key(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        // In-process comparison only (never stored), so FxHash is enough.
        let mut h = rustc_hash::FxHasher::default();
        self.status.as_str().hash(&mut h);
        self.severity.as_str().hash(&mut h);
        self.tenant.hash(&mut h);
        self.tenants.len().hash(&mut h);
        self.impacted.len().hash(&mut h);
        if let Some(r) = &self.root_cause {
            r.object.kind.hash(&mut h);
            r.object.namespace.hash(&mut h);
            r.object.name.hash(&mut h);
            r.class.as_str().hash(&mut h);
        }
        // What a workload diagnosis says is material: a cause found after "none"
        // (a lookup came back), or coverage turning partial (RBAC), is news.
        if let Some(w) = &self.workload {
            w.cause.stage.hash(&mut h);
            w.cause.subclass.hash(&mut h);
            w.coverage.hash(&mut h);
            w.coverage_reasons.hash(&mut h);
        }
        h.finish()
    }
}

/// Stable fingerprint of (pattern, subject).
pub fn finding_id(pattern: &str, subject: &ObjectRef) -> String {
    let mut h = Sha256::new();
    h.update(pattern.as_bytes());
    h.update([0]);
    h.update(subject.kind.as_bytes());
    h.update([0]);
    h.update(subject.namespace.as_bytes());
    h.update([0]);
    h.update(subject.name.as_bytes());
    let d = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(16);
    for b in &d[..8] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    id
}

struct Entry {
    finding: Finding,
    /// Hash of the material key last emitted (SipHash with fixed keys: the same on
    /// every run).
    emitted_key: Option<u64>,
    emitted_count: u64,
    emitted_at: Option<TsMs>,
    /// Evidence older than this resolves the finding.
    resolve_after_ms: u64,
    /// Longest gap seen between two pieces of evidence: retries back off (Flux up to
    /// 15m), so silence shorter than twice that is not recovery.
    max_gap_ms: i64,
}

/// How long a resolved, announced finding is kept so a flapping subject keeps its id
/// history cheap.
const RESOLVED_KEEP_MS: i64 = 86_400_000;

/// The open (and recently resolved) findings.
///
/// Per-record work is proportional to what changed, not to the table: `dirty` lists the
/// entries touched since they were last emitted, and `subjects` lets a success resolve
/// an object with no findings without hashing every pattern id.
#[derive(Default)]
pub struct FindingTable {
    entries: BTreeMap<String, Entry>,
    /// Ids touched since they were last looked at. Sorted, so emission order is the id
    /// order.
    dirty: BTreeSet<String>,
    /// Ids whose count changed but whose repeat interval had not elapsed; looked at
    /// again only once the earliest of them is due (`owed_due`), so a firing finding
    /// that keeps counting costs nothing per record.
    owed: BTreeSet<String>,
    owed_due: TsMs,
    /// Subject → number of entries about it.
    /// Subject → ids of the entries about it (a handful at most).
    subjects: FxHashMap<ObjectRef, Vec<String>>,
    /// Re-emit a firing finding whose count changed after this long.
    pub repeat_interval_ms: u64,
    pub cluster: String,
}

impl FindingTable {
    pub fn new(cluster: &str, repeat_interval_ms: u64) -> Self {
        FindingTable {
            entries: BTreeMap::new(),
            dirty: BTreeSet::new(),
            owed: BTreeSet::new(),
            owed_due: TsMs::MAX,
            subjects: FxHashMap::default(),
            repeat_interval_ms,
            cluster: cluster.to_string(),
        }
    }

    pub fn get(&self, pattern: PatternId, subject: &ObjectRef) -> Option<&Finding> {
        let id = self.id_of(pattern, subject)?;
        self.entries.get(id).map(|e| &e.finding)
    }

    /// The id of the entry of (pattern, subject), through the subject index: no
    /// fingerprint is computed for a lookup.
    fn id_of(&self, pattern: PatternId, subject: &ObjectRef) -> Option<&String> {
        self.subjects.get(subject)?.iter().find(|id| {
            self.entries
                .get(*id)
                .is_some_and(|e| pattern.is(&e.finding.pattern))
        })
    }

    pub fn is_firing(&self, pattern: PatternId, subject: &ObjectRef) -> bool {
        self.get(pattern, subject)
            .is_some_and(|f| f.status == Status::Firing)
    }

    /// Opens (or re-opens) the finding of (pattern, subject) and returns it for update.
    pub fn upsert(
        &mut self,
        pattern: PatternId,
        subject: &ObjectRef,
        severity: Severity,
        ts: TsMs,
        resolve_after_ms: u64,
    ) -> &mut Finding {
        let id = match self.id_of(pattern, subject) {
            Some(id) => id.clone(),
            None => {
                let id = finding_id(pattern.as_str(), subject);
                self.subjects
                    .entry(subject.clone())
                    .or_default()
                    .push(id.clone());
                id
            }
        };
        self.dirty.insert(id.clone());
        let cluster = &self.cluster;
        let e = self.entries.entry(id.clone()).or_insert_with(|| Entry {
            finding: Finding {
                id,
                pattern: pattern.as_str().to_string(),
                status: Status::Firing,
                severity,
                title: String::new(),
                summary: String::new(),
                cluster: cluster.clone(),
                tenant: String::new(),
                tenants: Vec::new(),
                subject: subject.clone(),
                root_cause: None,
                impacted: Vec::new(),
                impact: Vec::new(),
                first_seen: ts,
                last_seen: ts,
                count: 0,
                evidence: Vec::new(),
                labels: BTreeMap::new(),
                remediation: String::new(),
                rule: RuleMeta::default(),
                last_counted: ts,
                emission: 0,
                workload: None,
                text_pending: PendingText::default(),
            },
            emitted_key: None,
            emitted_count: 0,
            emitted_at: None,
            resolve_after_ms,
            max_gap_ms: 0,
        });
        if e.finding.status == Status::Resolved {
            // A new episode: same id, fresh counters.
            e.finding.status = Status::Firing;
            e.finding.first_seen = ts;
            e.finding.count = 0;
            e.finding.evidence.clear();
            e.finding.impacted.clear();
            e.finding.impact.clear();
            e.finding.workload = None;
        }
        e.resolve_after_ms = resolve_after_ms;
        if ts > e.finding.last_seen {
            e.max_gap_ms = e
                .max_gap_ms
                .max(ts - e.finding.last_seen)
                .min(MAX_BACKOFF_GAP_MS);
            e.finding.last_seen = ts;
        }
        &mut e.finding
    }

    /// A firing finding to amend without new evidence of its own (its `last_seen`
    /// stays): a symptom attached to it. Emitted with its next material change or
    /// repeat.
    pub fn update(&mut self, pattern: PatternId, subject: &ObjectRef) -> Option<&mut Finding> {
        let id = self.id_of(pattern, subject)?.clone();
        let e = self.entries.get_mut(&id)?;
        if e.finding.status != Status::Firing {
            return None;
        }
        self.dirty.insert(id);
        Some(&mut e.finding)
    }

    /// Resolves a firing finding now (its subject succeeded).
    pub fn resolve(&mut self, pattern: PatternId, subject: &ObjectRef, ts: TsMs) {
        self.resolve_where(subject, ts, |p| p == pattern);
    }

    /// Resolves now every firing finding about `subject` whose pattern `pred` accepts:
    /// one index lookup however many patterns a success clears.
    pub fn resolve_where(
        &mut self,
        subject: &ObjectRef,
        ts: TsMs,
        pred: impl Fn(PatternId) -> bool,
    ) {
        let Some(ids) = self.subjects.get(subject) else {
            return;
        };
        for id in ids {
            if let Some(e) = self.entries.get_mut(id) {
                if e.finding.status == Status::Firing
                    && PatternId::parse(&e.finding.pattern).is_some_and(&pred)
                {
                    e.finding.status = Status::Resolved;
                    e.finding.last_seen = e.finding.last_seen.max(ts);
                    self.dirty.insert(id.clone());
                }
            }
        }
    }

    /// Removes an entry and its index references.
    fn remove(&mut self, id: &str) {
        if let Some(e) = self.entries.remove(id) {
            self.dirty.remove(id);
            self.owed.remove(id);
            let s = &e.finding.subject;
            if let Some(ids) = self.subjects.get_mut(s) {
                ids.retain(|x| x != id);
                if ids.is_empty() {
                    self.subjects.remove(s);
                }
            }
        }
    }

    /// Resolves every firing finding whose evidence is older than its resolve window.
    /// Also forgets resolved, announced findings older than a day.
    pub fn expire(&mut self, now: TsMs) {
        let mut old = Vec::new();
        for (id, e) in self.entries.iter_mut() {
            let window = (e.resolve_after_ms as i64).max(2 * e.max_gap_ms);
            if e.finding.status == Status::Firing
                && now.saturating_sub(e.finding.last_seen) > window
            {
                e.finding.status = Status::Resolved;
                self.dirty.insert(id.clone());
            } else if e.finding.status == Status::Resolved
                && e.emitted_key.is_some()
                && now - e.finding.last_seen > RESOLVED_KEEP_MS
            {
                old.push(id.clone());
            }
        }
        for id in old {
            self.remove(&id);
        }
    }

    /// Findings to emit now: never emitted, materially changed, or counts changed and
    /// the repeat interval elapsed. `force` emits everything that changed at all (end of
    /// input).
    pub fn take_changes(&mut self, now: TsMs, force: bool) -> Vec<Finding> {
        let mut out = Vec::new();
        let repeat = self.repeat_interval_ms as i64;
        // Untouched entries have nothing to emit: their material key and count are the
        // ones last emitted. Only the touched ones are looked at, plus the owed ones
        // once one of them is due.
        let mut todo = std::mem::take(&mut self.dirty);
        if force || now >= self.owed_due {
            todo.append(&mut self.owed);
            self.owed_due = TsMs::MAX;
        }
        for id in todo {
            let Some(e) = self.entries.get_mut(&id) else {
                continue;
            };
            let key = e.finding.material_key();
            let changed = e.emitted_key != Some(key);
            let counted = e.finding.count != e.emitted_count;
            let due = e.emitted_at.map(|t| now - t >= repeat).unwrap_or(true);
            if changed || (counted && (due || force)) {
                if e.emitted_key.is_none() && e.finding.status == Status::Resolved {
                    // Never announced: nothing to resolve.
                    e.emitted_key = Some(key);
                    continue;
                }
                e.emitted_key = Some(key);
                e.emitted_count = e.finding.count;
                e.emitted_at = Some(now);
                e.finding.emission += 1;
                super::vars::render_pending(&mut e.finding);
                out.push(e.finding.clone());
            } else if counted {
                // Still owed an emission: due when its repeat interval has elapsed.
                let at = e.emitted_at.map_or(now, |t| t.saturating_add(repeat));
                self.owed_due = self.owed_due.min(at);
                self.owed.insert(id);
            }
        }
        out
    }

    pub fn firing(&self) -> impl Iterator<Item = &Finding> {
        self.entries
            .values()
            .map(|e| &e.finding)
            .filter(|f| f.status == Status::Firing)
    }

    pub fn all(&self) -> impl Iterator<Item = &Finding> {
        self.entries.values().map(|e| &e.finding)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Keeps the table at or under `cap` entries: when over, drops resolved findings
    /// (oldest first), then firing ones seen least recently, until a tenth of room is
    /// free. Returns how many were dropped. Ties break by id, so replay stays
    /// deterministic.
    pub fn enforce_cap(&mut self, cap: usize) -> u64 {
        if self.entries.len() <= cap {
            return 0;
        }
        let target = cap.saturating_sub(cap / 10);
        let mut order: Vec<(bool, TsMs, &String)> = self
            .entries
            .iter()
            .map(|(id, e)| (e.finding.status == Status::Firing, e.finding.last_seen, id))
            .collect();
        order.sort_unstable();
        let drop: Vec<String> = order
            .into_iter()
            .take(self.entries.len() - target)
            .map(|(_, _, id)| id.clone())
            .collect();
        for id in &drop {
            self.remove(id);
        }
        drop.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
