//! Per-object detectors: `health_check_failure`, `helm_release_failure`,
//! `build_failure`, `decryption_failure`, `rbac_denied`, `apply_conflict`,
//! `notification_failure`, `image_automation_failure`, `stalled_reconciliation`,
//! `slow_reconciliation`, `reconcile_loop`, `drift_detected`: the object family
//! ([`ObjectPatterns`]).
//!
//! Owns: the judgement of an object's own failures, durations and applies, and the
//! parameter table of its twelve patterns. Its state lives in the shared per-object
//! state (attempts, durations, applies). Does not own: snapshots and recovery
//! bookkeeping (the correlator), or roots that claim the object (other families).

use std::collections::BTreeSet;

use super::claims::ClaimRank;
use super::detector::{count, duration, float, Consumes, Detector, PatternParams, TickPhase};
use super::finding::Evidence;
use super::pattern_id::PatternId;
use super::shared::Shared;
use super::state::{push_capped, Apply, ObjState};
use super::{vars, APPLIED_REVISIONS_CAP};
use crate::record::{Class, ObjectRef, Record, TsMs};

/// Most durations kept per object (the median of slow runs).
const DURATIONS_CAP: usize = 32;
/// Most slow runs kept per object.
const SLOW_CAP: usize = 16;
/// Most applies kept per object.
const APPLIES_CAP: usize = 32;

/// The object family: what an object's own records say about it.
pub(crate) struct ObjectPatterns;

/// The parameters of a per-object failure pattern (defaults differ by pattern).
const fn per_object(min_attempts: f64, resolve_after_ms: f64) -> [super::detector::Param; 3] {
    [
        count("min_attempts", min_attempts),
        duration("window", 3_600_000.0),
        duration("resolve_after", resolve_after_ms),
    ]
}

impl ObjectPatterns {
    /// The patterns this family emits and the parameters it reads (durations in ms).
    pub const PARAMS: &'static [PatternParams] = &[
        PatternParams {
            pattern: PatternId::ReconcileLoop,
            params: &[
                count("min_applies", 3.0),
                duration("window", 1_800_000.0),
                duration("dedupe", 10_000.0),
                duration("confirm_after", 600_000.0),
                duration("resolve_after", 1_800_000.0),
            ],
        },
        PatternParams {
            pattern: PatternId::DriftDetected,
            params: &[duration("resolve_after", 1_800_000.0)],
        },
        PatternParams {
            pattern: PatternId::StalledReconciliation,
            params: &[
                duration("min_failing", 1_800_000.0),
                count("min_intervals", 3.0),
                duration("recent", 900_000.0),
                duration("resolve_after", 900_000.0),
            ],
        },
        PatternParams {
            pattern: PatternId::SlowReconciliation,
            params: &[
                duration("absolute", 300_000.0),
                float("median_factor", 5.0),
                count("min_samples", 5.0),
                duration("min_duration", 60_000.0),
                count("min_slow", 2.0),
                duration("window", 3_600_000.0),
                duration("resolve_after", 1_800_000.0),
            ],
        },
        PatternParams {
            pattern: PatternId::HealthCheckFailure,
            params: &per_object(2.0, 900_000.0),
        },
        PatternParams {
            pattern: PatternId::HelmReleaseFailure,
            params: &per_object(3.0, 1_800_000.0),
        },
        PatternParams {
            pattern: PatternId::BuildFailure,
            params: &per_object(2.0, 900_000.0),
        },
        PatternParams {
            pattern: PatternId::DecryptionFailure,
            params: &per_object(2.0, 900_000.0),
        },
        PatternParams {
            pattern: PatternId::RbacDenied,
            params: &per_object(1.0, 1_800_000.0),
        },
        PatternParams {
            pattern: PatternId::ApplyConflict,
            params: &per_object(2.0, 900_000.0),
        },
        PatternParams {
            pattern: PatternId::NotificationFailure,
            params: &per_object(2.0, 900_000.0),
        },
        PatternParams {
            pattern: PatternId::ImageAutomationFailure,
            params: &per_object(3.0, 900_000.0),
        },
    ];
}

impl Detector for ObjectPatterns {
    fn name(&self) -> &'static str {
        "ObjectPatterns"
    }

    fn consumes(&self) -> Consumes {
        Consumes {
            classes: &[
                Class::HealthCheckFailed,
                Class::HelmReleaseFailed,
                Class::BuildFailed,
                Class::ValidationFailed,
                Class::DecryptionFailed,
                Class::RbacForbidden,
                Class::ApplyConflict,
                Class::NotificationFailed,
                Class::ImageAutomationFailed,
                // Applies: drift and loops.
                Class::RevisionApplied,
            ],
            runs: false,
            recovery: true,
            controller_records: false,
            workload_records: false,
        }
    }

    fn params(&self) -> &'static [PatternParams] {
        Self::PARAMS
    }

    fn claims(&self) -> &'static [ClaimRank] {
        &[ClaimRank::Own]
    }

    fn on_record(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        if rec.class == Class::RevisionApplied {
            self.track_apply(sh, rec, obj, ts);
        } else {
            self.detect_object_failure(sh, rec, obj, ts);
        }
    }

    fn on_recovery(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        // A slow run is a success, but not recovery from slowness.
        let slow = rec
            .duration_ms
            .is_some_and(|d| self.track_duration(sh, obj, d, ts));
        if rec.class == Class::ReconcileSucceeded {
            self.confirm_applies_of(sh, obj);
        }
        sh.findings.resolve_where(obj, ts, |p| {
            if p == PatternId::SlowReconciliation {
                return !slow;
            }
            OBJECT_PATTERNS.contains(&p) || p == PatternId::StalledReconciliation
        });
    }

    fn on_tick(&mut self, sh: &mut Shared, now: TsMs, phase: TickPhase) {
        if phase == TickPhase::Main {
            self.confirm_applies(sh, now, false);
            self.check_stalled(sh, now);
        }
    }

    fn on_end(&mut self, sh: &mut Shared, now: TsMs) {
        // No more records can show an apply's run failed: judge the open ones.
        self.confirm_applies(sh, now, true);
    }

    fn next_deadline(&self, sh: &Shared, tick: TsMs) -> Option<TsMs> {
        (!sh.open_applies.is_empty() || !sh.failing.is_empty()).then_some(tick)
    }
}

/// Patterns whose subject is the failing object itself; a success resolves them.
pub const OBJECT_PATTERNS: &[PatternId] = &[
    PatternId::HealthCheckFailure,
    PatternId::HelmReleaseFailure,
    PatternId::BuildFailure,
    PatternId::DecryptionFailure,
    PatternId::RbacDenied,
    PatternId::ApplyConflict,
    PatternId::NotificationFailure,
    PatternId::ImageAutomationFailure,
    PatternId::SlowReconciliation,
];

/// Resolve window of a finding whose subject stopped retrying.
const GAVE_UP_RESOLVE_MS: u64 = 24 * 3_600_000;

/// The pattern of a failure class, when it has a per-object one.
fn pattern_for(class: Class) -> Option<PatternId> {
    Some(match class {
        Class::HealthCheckFailed => PatternId::HealthCheckFailure,
        Class::HelmReleaseFailed => PatternId::HelmReleaseFailure,
        Class::BuildFailed | Class::ValidationFailed => PatternId::BuildFailure,
        Class::DecryptionFailed => PatternId::DecryptionFailure,
        Class::RbacForbidden => PatternId::RbacDenied,
        Class::ApplyConflict => PatternId::ApplyConflict,
        Class::NotificationFailed => PatternId::NotificationFailure,
        Class::ImageAutomationFailed => PatternId::ImageAutomationFailure,
        _ => return None,
    })
}

/// True when failures of `class` have a per-object pattern: the object's own root
/// cause. Other failures (a source not ready, a fetch error) are symptoms that group
/// under the root that explains them, or surface as stalled.
pub fn has_own_pattern(class: Class) -> bool {
    pattern_for(class).is_some()
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(&s[i..j])
}

fn revision_commit(rev: &str) -> String {
    let hex = rev.rsplit([':', '/']).next().unwrap_or(rev);
    if hex.len() >= 7 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        hex.to_string()
    } else {
        String::new()
    }
}

/// Pattern-specific labels from the failure text.
fn labels_for(pattern: PatternId, msg: &str, rec: &Record) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    match pattern {
        PatternId::HelmReleaseFailure => {
            if let Some(ch) =
                between(msg, "with chart ", ":").or_else(|| between(msg, "with chart ", " "))
            {
                out.push(("chart", ch.trim().to_string()));
                if let Some((_, v)) = ch.rsplit_once('@') {
                    out.push(("version", v.trim().to_string()));
                }
            }
            let lower = msg.to_ascii_lowercase();
            let action = ["install", "upgrade", "test", "rollback", "uninstall"]
                .into_iter()
                .find(|a| {
                    lower.contains(&format!("helm {a}"))
                        || lower.contains(&format!("'{a}'"))
                        || lower.contains(&format!("to {a}"))
                        || lower.contains(&format!("cannot {a}"))
                })
                .unwrap_or("release");
            out.push(("action", action.into()));
        }
        PatternId::DecryptionFailure => {
            let secret = between(msg, "decryption failed for '", "'")
                .or_else(|| between(msg, "failed to decrypt and format '", "'"))
                .or_else(|| between(msg, "Secret \"", "\""))
                .unwrap_or("the encrypted manifests");
            out.push(("secret", secret.to_string()));
            let lower = msg.to_ascii_lowercase();
            let provider = if lower.contains("age")
                && (lower.contains("age1")
                    || lower.contains("no identities")
                    || lower.contains(" age ")
                    || lower.contains("age decryption")
                    || lower.contains("age:"))
            {
                "age"
            } else if lower.contains("kms") || lower.contains("aws") {
                "aws-kms"
            } else if lower.contains("vault") {
                "hashicorp-vault"
            } else if lower.contains("pgp") || lower.contains("gpg") || lower.contains("openpgp") {
                "pgp"
            } else if lower.contains("azure") || lower.contains("keyvault") {
                "azure-keyvault"
            } else if lower.contains("gcp") || lower.contains("google") {
                "gcp-kms"
            } else {
                "unknown key provider"
            };
            out.push(("provider", provider.into()));
        }
        PatternId::RbacDenied => {
            let sa = between(msg, "User \"", "\"").unwrap_or("the service account");
            out.push(("service_account", sa.to_string()));
            let verb = between(msg, "cannot ", " resource").unwrap_or("access");
            out.push(("verb", verb.to_string()));
            let res = between(msg, "resource \"", "\"").unwrap_or("the resource");
            out.push(("resource", res.to_string()));
            let ns = between(msg, "in the namespace \"", "\"")
                .map(str::to_string)
                .or_else(|| {
                    msg.contains("at the cluster scope")
                        .then(|| "(cluster scope)".to_string())
                })
                .or_else(|| rec.object.as_ref().map(|o| o.namespace.to_string()))
                .unwrap_or_default();
            out.push(("target_namespace", ns));
        }
        PatternId::ApplyConflict => {
            let m = between(msg, "conflict with \"", "\"").unwrap_or("another writer");
            out.push(("manager", m.to_string()));
        }
        PatternId::ImageAutomationFailure => {
            if let Some(h) = super::sources::host_of(msg) {
                out.push(("registry", h));
            }
            if let Some(o) = rec.object.as_ref().filter(|o| o.kind == "ImagePolicy") {
                out.push(("policy", o.name.to_string()));
            }
        }
        PatternId::HealthCheckFailure => {
            let w = between(msg, "timeout waiting for: [", "]")
                .or_else(|| between(msg, "stalled resources: [", "]"))
                .map(|s| {
                    s.split(", ")
                        .filter_map(|p| p.split(" status").next())
                        .take(10)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_else(|| "unknown workloads".into());
            out.push(("workloads", w));
        }
        _ => {}
    }
    out
}

fn exhausted(msg: &str) -> bool {
    let l = msg.to_ascii_lowercase();
    l.contains("exceeded maximum retries")
        || l.contains("retries exhausted")
        || l.contains("retriesexceeded")
        || (l.contains("failed to ") && l.contains(" attempt(s)"))
        || l.contains("another operation (install/upgrade/rollback) is in progress")
        || l.contains("has no deployed releases")
}

impl ObjectPatterns {
    fn detect_object_failure(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        let Some(pattern) = pattern_for(rec.class) else {
            return;
        };
        if matches!(
            pattern,
            PatternId::HealthCheckFailure | PatternId::HelmReleaseFailure
        ) && super::workload::folded(sh, obj, &rec.message())
        {
            // A symptom of the workload root that claims the object (its `impacted`).
            return;
        }
        let pat = sh.settings.patterns.shared(pattern);
        let Some(s) = sh.objects.get(obj) else {
            return;
        };
        let window = pat.ms("window");
        let cls = rec.class;
        let same = |c: Class| {
            c == cls
                || (pattern == PatternId::BuildFailure
                    && matches!(c, Class::BuildFailed | Class::ValidationFailed))
        };
        let n = s.attempts_in(ts, window, same);
        let msg = rec.message();
        let special = pattern == PatternId::HelmReleaseFailure
            && (exhausted(&msg)
                || s.stalled
                || s.attempts
                    .iter()
                    .any(|a| ts - a.ts <= window && exhausted(&a.message)));
        let already = sh.findings.is_firing(pattern, obj);
        if n < pat.n("min_attempts") && !special && !already {
            return;
        }
        let mut revision = rec
            .revision
            .clone()
            .or_else(|| s.last_revision.clone())
            .unwrap_or_else(|| "unknown".into());
        let sa = s.service_account.clone();
        let chart = s.chart.clone();
        let tenant = sh.tenant_of(obj);
        let redacted = crate::classify::redact::redact(&msg).into_owned();
        let mut labels = labels_for(pattern, &redacted, rec);
        // A HelmRelease's revision is its chart version; the failed action names the
        // version that broke, while later records (a rollback) carry the previous one.
        let failed_version = labels
            .iter()
            .find(|(k, _)| *k == "version")
            .map(|(_, v)| v.clone())
            .or_else(|| {
                sh.findings
                    .get(pattern, obj)
                    .and_then(|f| f.labels.get("version").cloned())
            });
        if let Some(v) = failed_version {
            revision = v;
        }
        if pattern == PatternId::RbacDenied {
            if let Some(sa) = sa {
                if !labels
                    .iter()
                    .any(|(k, v)| *k == "service_account" && v.starts_with("system:"))
                {
                    labels.retain(|(k, _)| *k != "service_account");
                    labels.push(("service_account", sa));
                }
            }
        }
        // A release that gave up (retries exhausted, Stalled) emits nothing more:
        // silence is not recovery, only a success resolves it.
        let resolve_after = if special || s.stalled {
            GAVE_UP_RESOLVE_MS
        } else {
            pat.ms("resolve_after") as u64
        };
        let first = s
            .attempts
            .iter()
            .find(|a| ts - a.ts <= window && same(a.class))
            .map(|a| a.ts)
            .unwrap_or(ts);
        let f = sh
            .findings
            .upsert(pattern, obj, pat.severity, ts, resolve_after);
        if f.count == 0 {
            f.first_seen = f.first_seen.min(first);
        }
        f.note_attempt(ts, n);
        f.tenant = tenant.clone();
        f.add_tenant(&tenant);
        f.labels.insert("revision".into(), revision.clone());
        let commit = revision_commit(&revision);
        f.labels.insert(
            "commit".into(),
            if commit.is_empty() {
                revision.clone()
            } else {
                commit
            },
        );
        for (k, v) in labels {
            f.labels.insert(k.into(), v);
        }
        if pattern == PatternId::HelmReleaseFailure {
            if !f.labels.contains_key("chart") {
                f.labels
                    .insert("chart".into(), chart.unwrap_or_else(|| "unknown".into()));
            }
            let ex = if special {
                " and retries are exhausted or the release is locked"
            } else {
                ""
            };
            f.labels.insert("exhausted".into(), ex.into());
        }
        f.labels.insert("error_class".into(), cls.as_str().into());
        f.add_evidence(Evidence {
            ts: Some(ts),
            controller: rec.controller.clone(),
            class: cls,
            message: vars::truncate(&redacted, 2000),
        });
        vars::fill_text(f, &pat);
        sh.claim(obj, pattern, obj);
    }

    /// Reconcile durations: `slow_reconciliation`. True when this run was slow.
    fn track_duration(&mut self, sh: &mut Shared, obj: &ObjectRef, d: u64, ts: TsMs) -> bool {
        let pat = sh.settings.patterns.shared(PatternId::SlowReconciliation);
        let window = pat.ms("window");
        let (median, n, slow_count) = {
            let s = sh.obj_mut(obj, ts);
            let median = s.median_duration();
            let n = s.durations.len() as u64;
            let slow = d as f64 >= pat.p("absolute")
                || (n >= pat.n("min_samples")
                    && median.is_some_and(|m| d as f64 >= pat.p("median_factor") * m as f64)
                    && d as f64 >= pat.p("min_duration"));
            push_capped(&mut s.durations, d, DURATIONS_CAP);
            if slow {
                push_capped(&mut s.slow, (ts, d), SLOW_CAP);
            }
            while s.slow.front().is_some_and(|(t, _)| ts - t > window) {
                s.slow.pop_front();
            }
            (median, n, if slow { s.slow.len() as u64 } else { 0 })
        };
        let _ = n;
        if slow_count < pat.n("min_slow") || sh.claimed(obj) {
            return slow_count > 0;
        }
        let tenant = sh.tenant_of(obj);
        let f = sh.findings.upsert(
            PatternId::SlowReconciliation,
            obj,
            pat.severity,
            ts,
            pat.ms("resolve_after") as u64,
        );
        f.count = slow_count;
        f.tenant = tenant.clone();
        f.add_tenant(&tenant);
        f.labels.insert("duration".into(), vars::human_ms(d as i64));
        f.labels.insert(
            "median".into(),
            median
                .map(|m| vars::human_ms(m as i64))
                .unwrap_or_else(|| "unknown".into()),
        );
        vars::fill_text(f, &pat);
        true
    }

    /// Applies that changed objects: `reconcile_loop` and `drift_detected`.
    fn track_apply(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        let changed: Vec<String> = match &rec.changes {
            Some(cs) => cs
                .created
                .iter()
                .chain(cs.configured.iter())
                .cloned()
                .collect(),
            None => rec
                .msg
                .lines()
                .filter_map(|l| {
                    let l = l.trim();
                    l.strip_suffix(" configured")
                        .or_else(|| l.strip_suffix(" created"))
                })
                .map(str::to_string)
                .collect(),
        };
        let dedupe = sh
            .settings
            .patterns
            .shared(PatternId::ReconcileLoop)
            .ms("dedupe");
        let revision = rec.revision.clone();
        let open = {
            let s = sh.obj_mut(obj, ts);
            let rev = revision.or_else(|| s.last_revision.clone());
            if changed.is_empty() {
                if let Some(r) = &rev {
                    if !s.applied_revisions.contains(r) {
                        push_capped(&mut s.applied_revisions, r.clone(), APPLIED_REVISIONS_CAP);
                    }
                }
                return;
            }
            if s.applies.back().is_some_and(|a| ts - a.ts <= dedupe) {
                return; // the Event of the apply we already counted
            }
            let same = rev
                .as_ref()
                .is_some_and(|r| s.applied_revisions.contains(r));
            // Applied while the last run failed: Flux retrying, not another writer.
            let retry = s.failing_since.is_some();
            push_capped(
                &mut s.applies,
                Apply {
                    ts,
                    revision: rev.clone(),
                    same_revision: same,
                    changed,
                    retry,
                    confirmed: retry,
                },
                APPLIES_CAP,
            );
            if let Some(r) = &rev {
                if !s.applied_revisions.contains(r) {
                    push_capped(&mut s.applied_revisions, r.clone(), APPLIED_REVISIONS_CAP);
                }
            }
            same && !retry
        };
        // Judged once the run's outcome is known: a failure after it (health check,
        // apply error) makes it a retry.
        if open {
            sh.open_applies.insert(obj.clone());
        }
    }

    /// The run of `obj` succeeded: its open applies stand, and count as drift.
    fn confirm_applies_of(&mut self, sh: &mut Shared, obj: &ObjectRef) {
        if sh.open_applies.remove(obj) {
            self.confirm_open(sh, obj, TsMs::MAX);
        }
    }

    /// Confirms open applies with no failure after `confirm_after` (every open one
    /// when `all`: the input ended) and judges drift for their objects.
    fn confirm_applies(&mut self, sh: &mut Shared, now: TsMs, all: bool) {
        if sh.open_applies.is_empty() {
            return;
        }
        let before = if all {
            TsMs::MAX
        } else {
            now - sh
                .settings
                .patterns
                .get(PatternId::ReconcileLoop)
                .ms("confirm_after")
        };
        let due: Vec<ObjectRef> = sh
            .open_applies
            .iter()
            .filter(|o| {
                sh.objects
                    .get(*o)
                    .is_some_and(|s| s.applies.iter().any(|a| !a.confirmed && a.ts <= before))
            })
            .cloned()
            .collect();
        for o in due {
            self.confirm_open(sh, &o, before);
            let still_open = sh
                .objects
                .get(&o)
                .is_some_and(|s| s.applies.iter().any(|a| !a.confirmed));
            if !still_open {
                sh.open_applies.remove(&o);
            }
        }
    }

    /// Confirms `obj`'s open applies made at or before `before`, then judges drift
    /// when one of them corrected changes without a new revision.
    fn confirm_open(&mut self, sh: &mut Shared, obj: &ObjectRef, before: TsMs) {
        let Some(s) = sh.objects.get_mut(obj) else {
            return;
        };
        let mut drift_at = None;
        for a in s
            .applies
            .iter_mut()
            .filter(|a| !a.confirmed && a.ts <= before)
        {
            a.confirmed = true;
            if a.same_revision && !a.retry {
                drift_at = Some(a.ts);
            }
        }
        if let Some(ts) = drift_at {
            self.judge_drift(sh, obj, ts);
        }
    }

    /// `reconcile_loop` and `drift_detected` from the confirmed applies of `obj` that
    /// corrected changes made outside Git (no new revision, not a retry) up to `ts`.
    fn judge_drift(&mut self, sh: &mut Shared, obj: &ObjectRef, ts: TsMs) {
        let loop_pat = sh.settings.patterns.shared(PatternId::ReconcileLoop);
        let window = loop_pat.ms("window");
        let Some(s) = sh.objects.get(obj) else {
            return;
        };
        let drifts: Vec<&Apply> = s
            .applies
            .iter()
            .filter(|a| {
                a.same_revision && !a.retry && a.confirmed && a.ts <= ts && ts - a.ts <= window
            })
            .collect();
        let Some(last) = drifts.last() else {
            return;
        };
        let rev = last.revision.clone();
        let mut changing: BTreeSet<String> = BTreeSet::new();
        for a in &drifts {
            changing.extend(a.changed.iter().cloned());
        }
        let drifts = drifts.len() as u64;
        // A root that explains the object (a failing source, a crashed controller)
        // explains its re-applies too.
        if sh.claimed_above(obj, ClaimRank::Own) {
            return;
        }
        let changing_s = changing
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let other = if changing
            .iter()
            .any(|c| c.starts_with("HorizontalPodAutoscaler/"))
        {
            "a HorizontalPodAutoscaler scaling the same workload (spec.replicas)".to_string()
        } else {
            "unknown: check managedFields of the changing objects".to_string()
        };
        let tenant = sh.tenant_of(obj);
        let rev = rev.unwrap_or_else(|| "unknown".into());
        // A loop is drift that keeps coming back: once it fires it carries the later
        // corrections, and the single-drift finding it grew from is closed.
        let pattern = if drifts >= loop_pat.n("min_applies")
            || sh.findings.is_firing(PatternId::ReconcileLoop, obj)
        {
            sh.findings.resolve(PatternId::DriftDetected, obj, ts);
            PatternId::ReconcileLoop
        } else {
            PatternId::DriftDetected
        };
        let pat = sh.settings.patterns.shared(pattern);
        let f = sh.findings.upsert(
            pattern,
            obj,
            pat.severity,
            ts,
            pat.ms("resolve_after") as u64,
        );
        f.count = drifts;
        f.tenant = tenant.clone();
        f.add_tenant(&tenant);
        f.labels.insert("revision".into(), rev);
        f.labels.insert("changing".into(), changing_s);
        f.labels.insert("other_writer".into(), other);
        for c in changing.iter().take(20) {
            if let Some(o) = parse_kind_ns_name(c) {
                f.add_impacted(&o);
            }
        }
        vars::fill_text(f, &pat);
    }

    /// `stalled_reconciliation`: failing for long, or Stalled=True.
    fn check_stalled(&mut self, sh: &mut Shared, now: TsMs) {
        let pat = sh
            .settings
            .patterns
            .shared(PatternId::StalledReconciliation);
        let (recent, min_failing) = (pat.ms("recent"), pat.ms("min_failing"));
        let min_intervals = pat.p("min_intervals") as i64;
        // Only objects past the time checks are cloned out of the failing set.
        let due = |s: &ObjState| {
            let (Some(since), Some(last)) = (s.failing_since, s.attempts.back()) else {
                return false;
            };
            let need = min_failing.max(min_intervals * s.interval_ms.unwrap_or(0) as i64);
            !s.suspended && now - last.ts <= recent && (now - since >= need || s.stalled)
        };
        let candidates: Vec<ObjectRef> = sh
            .failing
            .iter()
            .filter(|o| sh.objects.get(*o).is_some_and(due))
            .cloned()
            .collect();
        for o in candidates {
            let Some(s) = sh.objects.get(&o) else {
                continue;
            };
            let (Some(since), Some(last)) = (s.failing_since, s.attempts.back()) else {
                continue;
            };
            if sh.claimed(&o)
                || pattern_for(last.class).is_some_and(|p| sh.findings.is_firing(p, &o))
            {
                // Explained by a root (or its own finding) now: that finding carries
                // the object, so a stalled one opened before the root fired closes.
                sh.findings
                    .resolve(PatternId::StalledReconciliation, &o, now);
                continue;
            }
            if matches!(last.class, Class::DependencyNotReady) {
                continue;
            }
            let last = last.clone();
            let tenant = sh.tenant_of(&o);
            let f = sh.findings.upsert(
                PatternId::StalledReconciliation,
                &o,
                pat.severity,
                last.ts,
                pat.ms("resolve_after") as u64,
            );
            f.count = s.attempts.len() as u64;
            f.tenant = tenant.clone();
            f.add_tenant(&tenant);
            f.labels
                .insert("last_class".into(), last.class.as_str().into());
            f.labels.insert("since".into(), vars::human_ms(now - since));
            f.labels.insert(
                "first_failure".into(),
                crate::time::format_rfc3339_ms(since),
            );
            f.add_evidence(Evidence {
                ts: Some(last.ts),
                controller: last.controller.clone(),
                class: last.class,
                message: last.message.clone(),
            });
            vars::fill_text(f, &pat);
        }
    }
}

/// `Kind/ns/name` or `Kind/name` → reference.
pub fn parse_kind_ns_name(s: &str) -> Option<ObjectRef> {
    let mut it = s.split('/');
    let kind = it.next()?;
    let a = it.next()?;
    match it.next() {
        Some(name) => Some(ObjectRef::new(kind, a, name)),
        None => Some(ObjectRef::new(kind, "", a)),
    }
}
