//! The audit stream (contracts.md §5): which revision of which source was applied to
//! which object, when, by which controller, with its change set; `rbac_denied` findings
//! mirrored.
//!
//! Invariant: one audit record per apply (the log line and the Event of the same apply
//! produce one record), and one per new revision even when nothing changed.

use rustc_hash::FxHashMap;

use super::finding::Finding;
use super::pattern_id::PatternId;
use super::spec::Settings;
use crate::record::{ChangeSet, Class, ObjectRef, Record, TsMs};

/// One audit record. Serde form is the internal (spool) form; the public schema is
/// `render::finding::audit_native`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    pub ts: TsMs,
    pub cluster: String,
    pub controller: Option<String>,
    /// `revision_applied`, `helm_release_installed`, `helm_release_upgraded`, `rbac_denied`.
    pub action: String,
    pub subject: ObjectRef,
    pub tenant: String,
    pub source: Option<ObjectRef>,
    pub source_url: Option<String>,
    pub revision: Option<String>,
    pub commit: Option<String>,
    pub changes: ChangeSet,
    pub outcome: String,
    pub message: String,
}

/// De-duplication memory for audit records.
#[derive(Debug, Default)]
pub struct AuditState {
    /// object → (revision, ts) of the last audit record.
    last: FxHashMap<ObjectRef, (Option<String>, TsMs, bool)>,
    /// Entries dropped when the map was full (counted in `Evictions::audit`).
    pub evicted: u64,
}

/// Most objects the audit de-duplication remembers; when full it starts over (a repeat
/// after that only risks one duplicate audit record per object).
pub const AUDIT_DEDUPE_CAP: usize = 200_000;

/// The commit SHA inside a revision string (`main@sha1:abc…`, `main/abc…`).
pub fn commit_of(rev: &str) -> Option<String> {
    let hex = rev.rsplit([':', '/', '@']).next()?;
    (hex.len() >= 7 && hex.chars().all(|c| c.is_ascii_hexdigit())).then(|| hex.to_string())
}

impl AuditState {
    /// Objects remembered for de-duplication.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// An audit record for a `revision_applied` record, unless it repeats the last one.
    pub fn on_applied(
        &mut self,
        rec: &Record,
        obj: &ObjectRef,
        ts: TsMs,
        settings: &Settings,
        tenant: &str,
    ) -> Option<AuditRecord> {
        if rec.class != Class::RevisionApplied {
            return None;
        }
        let changes = match &rec.changes {
            Some(c) => c.clone(),
            None => change_lines(&rec.msg),
        };
        let reason = rec.reason.as_deref().unwrap_or("");
        let action = match reason {
            "InstallSucceeded" => "helm_release_installed",
            "UpgradeSucceeded" => "helm_release_upgraded",
            _ if rec.msg.starts_with("Helm install succeeded") => "helm_release_installed",
            _ if rec.msg.starts_with("Helm upgrade succeeded") => "helm_release_upgraded",
            _ => "revision_applied",
        };
        let has_changes = !changes.is_empty();
        if self.last.len() >= AUDIT_DEDUPE_CAP && !self.last.contains_key(obj) {
            self.evicted += self.last.len() as u64;
            self.last.clear();
        }
        let prev = self.last.get(obj).cloned();
        if let Some((rev, t, changed)) = &prev {
            let same_rev = *rev == rec.revision;
            // The Event and the log line of one apply arrive within seconds.
            if same_rev && (ts - t).abs() <= 10_000 && (*changed || !has_changes) {
                return None;
            }
            if same_rev && !has_changes {
                return None;
            }
        }
        self.last
            .insert(obj.clone(), (rec.revision.clone(), ts, has_changes));
        Some(AuditRecord {
            ts,
            cluster: settings.cluster.clone(),
            controller: rec.controller.clone(),
            action: action.into(),
            subject: obj.clone(),
            tenant: tenant.to_string(),
            source: None,
            source_url: None,
            revision: rec.revision.clone(),
            commit: rec.revision.as_deref().and_then(commit_of),
            changes,
            outcome: "success".into(),
            message: crate::classify::redact::redact(&rec.message()).into_owned(),
        })
    }

    /// The audit mirror of an `rbac_denied` finding (once per finding episode).
    pub fn mirror_rbac(&mut self, f: &Finding) -> Option<AuditRecord> {
        Some(AuditRecord {
            ts: f.last_seen,
            cluster: f.cluster.clone(),
            controller: f.evidence.last().and_then(|e| e.controller.clone()),
            action: PatternId::RbacDenied.as_str().into(),
            subject: f.subject.clone(),
            tenant: f.tenant.clone(),
            source: None,
            source_url: None,
            revision: f.labels.get("revision").cloned(),
            commit: f.labels.get("commit").cloned(),
            changes: ChangeSet::default(),
            outcome: "failure".into(),
            message: f
                .evidence
                .last()
                .map(|e| e.message.clone())
                .unwrap_or_default(),
        })
    }
}

/// Change lines of a Progressing event: `Deployment/ns/name configured` per line.
pub fn change_lines(msg: &str) -> ChangeSet {
    let mut cs = ChangeSet::default();
    for l in msg.lines() {
        if let Some((obj, action)) = l.trim().rsplit_once(' ') {
            if obj.contains('/') && matches!(action, "created" | "configured" | "deleted") {
                cs.add(obj, action);
            }
        }
    }
    cs
}
