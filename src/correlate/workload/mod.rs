//! `workload_failure`: the workload root cause below a Flux health-check failure or a
//! Helm install/upgrade timeout ([`WorkloadHealth`], report-and-workload-rca.md Part 2).
//!
//! Flux says `health check failed after 5m0s: timeout waiting for:
//! [Deployment/shop/web status: 'InProgress']` and stops there. This family keeps the
//! latest status of workloads, ReplicaSets, Pods and PVCs and small rings of the Events
//! that name a cause (`store`); when a Kustomization or HelmRelease fails waiting for
//! workloads (`failure`), it rebuilds Flux object → workload → ReplicaSet → Pods →
//! Events/status → PVC (`chain`), classifies by the earliest blocked Pod-lifecycle
//! stage covering the most unavailable replicas (`classify::workload`), and raises a
//! finding about the workload that claims the Flux object: its `health_check_failure` /
//! `helm_release_failure` is folded under it as an impacted symptom.
//!
//! Also owns the live lookups seam (`lookup`): a [`Lookup`] per named workload after a
//! failure, rate-limited, and [`LookupResult`]s taken back like any record, which
//! re-evaluate the pending failure at once. Does not own the GETs nor the watch of
//! Events (sources), nor rendering.
//!
//! Invariant: bounded (`store` caps and TTLs, [`MAX_PENDING`] pending failures, the
//! lookup queue's cap); deterministic (ordered maps; evaluation at the failure, at
//! ticks for failures whose evidence changed, at a lookup result, at the end).

pub mod chain;
pub mod failure;
pub mod lookup;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};

use super::claims::ClaimRank;
use super::detector::{count, duration, Consumes, Detector, PatternParams, TickPhase};
use super::finding::{ChainLink, Evidence, ImpactDetail, WorkloadCauseInfo, WorkloadDiagnosis};
use super::pattern_id::PatternId;
use super::shared::Shared;
use super::vars;
use crate::classify::workload::{describe, Stage};
use crate::record::{Class, Detail, ObjectRef, Record, Sym, TsMs};

pub use lookup::{Lookup, LookupLimiter, LookupResult};

use chain::{View, Window};
use failure::FluxFailure;
use store::{Store, HELM_LABEL, KUSTOMIZE_LABEL};

/// Most Flux objects with a pending workload failure.
pub const MAX_PENDING: usize = 1_000;
/// Most Flux objects whose inventory is remembered.
const MAX_INVENTORIES: usize = 4_096;
/// Most inventory entries kept per Flux object.
const INVENTORY_ENTRIES: usize = 512;
/// Label keys that become finding labels when a cause extracted them.
const PARAM_LABELS: &[&str] = &[
    "image",
    "quota",
    "taint",
    "storage_class",
    "webhook",
    "policy",
    "container",
    "exit_code",
    "limit",
    "configmap",
    "secret",
    "pvc",
    "resource",
];

/// A Flux object whose health check (or Helm wait) failed naming workloads.
#[derive(Debug, Clone)]
struct Pending {
    failure: FluxFailure,
    message: String,
    class: Class,
    controller: Option<String>,
    first_failed: TsMs,
    failed_at: TsMs,
    count: u64,
    window: Window,
    /// Evidence changed since the last evaluation.
    dirty: bool,
    /// The workload the open finding is about.
    subject: Option<ObjectRef>,
}

/// The workload family.
pub(crate) struct WorkloadHealth {
    store: Store,
    pending: BTreeMap<ObjectRef, Pending>,
    inventories: BTreeMap<ObjectRef, Vec<ObjectRef>>,
    /// Resources the API forbade, per workload (lookup results).
    denied: BTreeMap<ObjectRef, Vec<String>>,
    pub(crate) lookups: LookupLimiter,
    /// Namespaces whose workload records changed since the last tick (every pending
    /// failure when `dirty_all`: a Node Event, or too many namespaces).
    dirty_ns: BTreeSet<Sym>,
    dirty_all: bool,
}

impl WorkloadHealth {
    pub fn new(cap: usize) -> Self {
        WorkloadHealth {
            store: Store::with_cap(cap.min(store::DEFAULT_CAP)),
            pending: BTreeMap::new(),
            inventories: BTreeMap::new(),
            denied: BTreeMap::new(),
            lookups: LookupLimiter::default(),
            dirty_ns: BTreeSet::new(),
            dirty_all: false,
        }
    }

    /// The patterns this family emits and the parameters it reads (durations in ms).
    pub const PARAMS: &'static [PatternParams] = &[PatternParams {
        pattern: PatternId::WorkloadFailure,
        params: &[
            duration("event_ttl", 3_600_000.0),
            duration("status_ttl", 6.0 * 3_600_000.0),
            duration("window", 600_000.0),
            duration("lookup_interval", 60_000.0),
            duration("resolve_after", 1_800_000.0),
            count("min_attempts", 2.0),
        ],
    }];

    /// Entry counts: (store keys, kept Events, pending failures, inventories).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let (keys, events) = self.store.counts();
        (keys, events, self.pending.len(), self.inventories.len())
    }

    pub fn evicted(&self) -> u64 {
        self.store.evicted + self.lookups.dropped
    }

    /// A lookup came back: its records are taken as any workload record, `denied`
    /// noted for coverage, and every failure naming the workload evaluated now.
    pub fn lookup_result(&mut self, sh: &mut Shared, r: LookupResult, now: TsMs) {
        for rec in &r.records {
            let ts = rec.ts.unwrap_or(r.at).min(now);
            self.ingest(rec, ts.max(r.at.min(now)));
        }
        if !r.denied.is_empty() {
            if !self.denied.contains_key(&r.workload) && self.denied.len() >= MAX_PENDING {
                self.denied.pop_first();
            }
            let mut d = r.denied.clone();
            d.sort();
            d.dedup();
            self.denied.insert(r.workload.clone(), d);
        }
        let due: Vec<ObjectRef> = self
            .pending
            .iter()
            .filter(|(_, p)| p.failure.named.iter().any(|(w, _)| *w == r.workload))
            .map(|(k, _)| k.clone())
            .collect();
        for flux in due {
            self.evaluate(sh, &flux);
        }
    }

    /// Takes a workload-side record (or a Flux object's inventory).
    fn ingest(&mut self, rec: &Record, ts: TsMs) {
        let Some(o) = rec.object.as_ref() else { return };
        if let Detail::Object(info) = &rec.detail {
            if matches!(o.kind.as_str(), "Kustomization" | "HelmRelease") {
                if !info.inventory.is_empty() {
                    if !self.inventories.contains_key(o)
                        && self.inventories.len() >= MAX_INVENTORIES
                    {
                        self.inventories.pop_first();
                    }
                    let inv = info
                        .inventory
                        .iter()
                        .take(INVENTORY_ENTRIES)
                        .cloned()
                        .collect();
                    self.inventories.insert(o.clone(), inv);
                }
                return;
            }
        }
        if !self.store.ingest(rec, ts) {
            return;
        }
        // Noted per namespace (O(1) per record); the pending failures it concerns are
        // found at the next tick.
        if self.pending.is_empty() {
            return;
        }
        if o.kind == "Node" {
            self.dirty_all = true;
        } else if !self.dirty_all && self.dirty_ns.len() < MAX_PENDING {
            self.dirty_ns.insert(o.namespace.clone());
        } else {
            self.dirty_all = true;
        }
    }

    /// How the Flux object reaches workload `w`: its inventory, the labels its
    /// controller put on `w`, else the failure message that named it.
    fn first_link(&self, flux: &ObjectRef, w: &ObjectRef) -> &'static str {
        if self
            .inventories
            .get(flux)
            .is_some_and(|inv| inv.contains(w))
        {
            return "inventory";
        }
        if self
            .store
            .workloads
            .get(w)
            .is_some_and(|d| labelled_by(&d.info.labels, flux))
        {
            return "label";
        }
        "health_check"
    }

    /// Workloads of a HelmRelease whose timeout named none: labelled by it, else
    /// named after the release (in its namespace).
    fn release_workloads(&self, flux: &ObjectRef) -> Vec<(ObjectRef, &'static str)> {
        let top = |k: &ObjectRef| {
            matches!(
                k.kind.as_str(),
                "Deployment" | "StatefulSet" | "DaemonSet" | "Job"
            )
        };
        let labelled: Vec<(ObjectRef, &'static str)> = match owner_group(flux) {
            Some(group) => self
                .store
                .labelled(group, &flux.namespace, &flux.name)
                .filter(|k| top(k))
                .map(|k| (k.clone(), "label"))
                .take(failure::MAX_NAMED)
                .collect(),
            None => Vec::new(),
        };
        if !labelled.is_empty() {
            return labelled;
        }
        let prefix = format!("{}-", flux.name);
        let mut by_name: Vec<ObjectRef> = self
            .store
            .workloads
            .keys()
            .filter(|k| top(k) && k.namespace == flux.namespace)
            .filter(|k| k.name == flux.name || k.name.starts_with(&prefix))
            .cloned()
            .collect();
        // Workloads known only from their Pods' Events: `<release>-<hash>-<id>`.
        if by_name.is_empty() {
            for k in self.store.events.keys().filter(|k| {
                k.kind == "Pod" && k.namespace == flux.namespace && k.name.starts_with(&prefix)
            }) {
                let Some((kind, name)) = owner_from_pod_name(&k.name) else {
                    continue;
                };
                let d = ObjectRef::new(kind, flux.namespace.clone(), name);
                if !by_name.contains(&d) {
                    by_name.push(d);
                }
            }
        }
        by_name
            .into_iter()
            .take(failure::MAX_NAMED)
            .map(|k| (k, "name"))
            .collect()
    }

    /// Evaluates the pending failures whose evidence may have changed: new ones, and
    /// those about a namespace whose workload records changed.
    fn evaluate_dirty(&mut self, sh: &mut Shared) {
        let (all, ns) = (self.dirty_all, std::mem::take(&mut self.dirty_ns));
        self.dirty_all = false;
        let due: Vec<ObjectRef> = self
            .pending
            .iter()
            .filter(|(flux, p)| {
                p.dirty
                    || all
                    || ns.contains(&flux.namespace)
                    || p.failure
                        .named
                        .iter()
                        .any(|(w, _)| ns.contains(&w.namespace))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for flux in due {
            self.evaluate(sh, &flux);
        }
    }

    /// Re-evaluates the failure of `flux`: the finding names the cause found now.
    fn evaluate(&mut self, sh: &mut Shared, flux: &ObjectRef) {
        let Some(p) = self.pending.get(flux).cloned() else {
            return;
        };
        if let Some(x) = self.pending.get_mut(flux) {
            x.dirty = false;
        }
        let targets: Vec<(ObjectRef, &'static str)> = if p.failure.named.is_empty() {
            self.release_workloads(flux)
        } else {
            p.failure
                .named
                .iter()
                .map(|(w, _)| (w.clone(), self.first_link(flux, w)))
                .collect()
        };
        let views: Vec<(View, &'static str)> = targets
            .iter()
            .map(|(w, l)| (chain::view(&self.store, w, p.window), *l))
            .filter(|(v, _)| v.known)
            .collect();
        // The workload with a cause found (not only "none"), else the first known.
        let Some(primary) = views
            .iter()
            .position(|(v, _)| {
                v.found
                    .first()
                    .is_some_and(|f| f.cause.stage != Stage::None)
            })
            .or(if views.is_empty() { None } else { Some(0) })
        else {
            return;
        };
        let (view, first_link) = &views[primary];
        let Some(top) = view.found.first() else {
            return;
        };
        let subject = view.workload.clone();
        let pat = sh.settings.patterns.shared(PatternId::WorkloadFailure);
        // A failure with no cause found is worth a finding only once it repeats (a
        // single timeout of a slow rollout is not); a cause found fires at once.
        let unexplained = top.cause.stage == Stage::None;
        if unexplained
            && p.count < pat.n("min_attempts")
            && !sh.findings.is_firing(PatternId::WorkloadFailure, &subject)
        {
            return;
        }
        let resolve_after = pat.ms("resolve_after") as u64;
        if let Some(old) = p.subject.as_ref().filter(|s| **s != subject) {
            sh.findings
                .resolve(PatternId::WorkloadFailure, old, p.failed_at);
        }
        let mut chain_links = vec![
            ChainLink {
                object: flux.clone(),
                uid: None,
                link: "flux".into(),
            },
            ChainLink {
                object: subject.clone(),
                uid: self
                    .store
                    .workloads
                    .get(&subject)
                    .and_then(|d| d.info.uid.clone()),
                link: (*first_link).to_string(),
            },
        ];
        chain_links.extend(view.chain.iter().cloned());
        let mut reasons = Vec::new();
        if !view.saw_pods_or_events {
            reasons.push("events_expired".to_string());
        }
        if self.denied.get(&subject).is_some_and(|d| !d.is_empty()) {
            reasons.push("rbac_forbidden".to_string());
        }
        if view.name_only || chain_links.iter().any(|l| l.link == "name") {
            reasons.push("no_uids".to_string());
        }
        let cause_info = |v: &View, f: &chain::Found| WorkloadCauseInfo {
            stage: f.cause.stage.as_str().into(),
            class: f.cause.class().into(),
            subclass: f.cause.subclass.into(),
            params: f
                .cause
                .params
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect(),
            workload: v.workload.clone(),
            pods_in_class: f.pods,
            text: describe(&f.cause),
        };
        let mut others: Vec<WorkloadCauseInfo> = view
            .found
            .iter()
            .skip(1)
            .map(|f| cause_info(view, f))
            .collect();
        for (i, (v, _)) in views.iter().enumerate() {
            if i != primary {
                others.extend(v.found.first().map(|f| cause_info(v, f)));
            }
        }
        let mut cause = cause_info(view, top);
        // A generic cause never replaces the specific one this episode already named
        // for the same workload and stage (`pull_failed` from a Pod's waiting reason
        // after `tag_or_image_not_found` from its Event left the ring): it only
        // refines, and a flip each evaluation would re-send the finding every time.
        if !top.cause.specific {
            let kept = sh
                .findings
                .get(PatternId::WorkloadFailure, &subject)
                .filter(|f| f.status == super::Status::Firing)
                .and_then(|f| f.workload.as_ref())
                .map(|w| &w.cause)
                .filter(|c| {
                    c.workload == cause.workload
                        && c.stage == cause.stage
                        && !crate::classify::workload::is_generic(&c.subclass)
                });
            if let Some(kept) = kept {
                cause = kept.clone();
            }
        }
        let tenant = sh.tenant_of(flux);
        let flux_text = format!("{} {}/{}", flux.kind, flux.namespace, flux.name);
        let workload_text = format!("{} {}/{}", subject.kind, subject.namespace, subject.name);
        let status_text = match (view.available, view.desired) {
            (Some(a), Some(d)) => format!("{workload_text} {a}/{d} available"),
            _ => workload_text.clone(),
        };
        let redacted = crate::classify::redact::redact(&p.message).into_owned();
        let diag = WorkloadDiagnosis {
            flux_object: flux.clone(),
            flux_message: redacted.clone(),
            chain: chain_links,
            cause: cause.clone(),
            others,
            desired: view.desired,
            updated: view.updated,
            available: view.available,
            coverage: if reasons.is_empty() {
                "full"
            } else {
                "partial"
            }
            .into(),
            coverage_reasons: reasons.clone(),
            evidence: top
                .evidence
                .iter()
                .cloned()
                .map(|mut e| {
                    e.message = crate::classify::redact::redact(&e.message).into_owned();
                    e
                })
                .collect(),
        };
        let f = sh.findings.upsert(
            PatternId::WorkloadFailure,
            &subject,
            pat.severity,
            p.failed_at,
            resolve_after,
        );
        if f.count == 0 {
            f.first_seen = f.first_seen.min(p.first_failed);
        }
        f.note_attempt(p.failed_at, p.count);
        f.tenant = tenant.clone();
        f.add_tenant(&tenant);
        for (k, v) in [
            ("flux_object", flux_text),
            ("workload", workload_text),
            ("workload_status", status_text),
            ("cause", cause.text.clone()),
            ("stage", cause.stage.clone()),
            ("cause_class", cause.class.clone()),
            ("subclass", cause.subclass.clone()),
            ("coverage", diag.coverage.clone()),
            ("health_check", vars::truncate(&redacted, 400)),
        ] {
            f.labels.insert(k.into(), v);
        }
        for (k, v) in &cause.params {
            if PARAM_LABELS.contains(&k.as_str()) {
                f.labels.insert(k.clone(), v.clone());
            }
        }
        for e in diag.evidence.iter().take(3) {
            f.add_evidence(Evidence {
                ts: e.last_seen,
                controller: e.reporter.clone(),
                class: e.record_class,
                message: vars::truncate(
                    &format!("{} {}: {}", e.reason, e.involved_object, e.message),
                    2000,
                ),
            });
        }
        f.add_evidence(Evidence {
            ts: Some(p.failed_at),
            controller: p.controller.clone(),
            class: p.class,
            message: vars::truncate(&redacted, 2000),
        });
        f.add_impact(ImpactDetail {
            object: flux.clone(),
            count: p.count,
            first_failed: p.first_failed,
            last_failed: p.failed_at,
            class: p.class,
            message: redacted,
        });
        f.workload = Some(Box::new(diag));
        vars::fill_text(f, &pat);
        sh.claim(flux, PatternId::WorkloadFailure, &subject);
        // Folded: the Flux object's own finding for this failure is the symptom.
        for own in [PatternId::HealthCheckFailure, PatternId::HelmReleaseFailure] {
            sh.findings.resolve(own, flux, p.failed_at);
        }
        if let Some(x) = self.pending.get_mut(flux) {
            x.subject = Some(subject);
        }
    }
}

/// The label group `flux`'s controller puts on what it applies.
fn owner_group(flux: &ObjectRef) -> Option<&'static str> {
    match flux.kind.as_str() {
        "Kustomization" => Some(KUSTOMIZE_LABEL),
        "HelmRelease" => Some(HELM_LABEL),
        _ => None,
    }
}

/// True when `labels` say the object was applied by `flux`.
fn labelled_by(labels: &[(String, String)], flux: &ObjectRef) -> bool {
    let Some(group) = owner_group(flux) else {
        return false;
    };
    store::label(labels, group, "name") == Some(flux.name.as_str())
        && store::label(labels, group, "namespace") == Some(flux.namespace.as_str())
}

/// True when the Flux failure of `obj` is one the workload root explains (a wait for
/// workloads that timed out): the object patterns fold it instead of firing.
pub(crate) fn folded(sh: &Shared, obj: &ObjectRef, msg: &str) -> bool {
    sh.root_of(obj)
        .is_some_and(|(p, _, _)| p == PatternId::WorkloadFailure)
        && failure::parse(msg).is_workload_timeout()
}

/// True for the records this family keeps: workload, Pod, PVC and Node-event records,
/// and Flux snapshots carrying an inventory.
pub(crate) fn wants(rec: &Record) -> bool {
    store::is_workload_record(rec) || rec.object_info().is_some_and(|i| !i.inventory.is_empty())
}

impl Detector for WorkloadHealth {
    fn name(&self) -> &'static str {
        "WorkloadHealth"
    }

    fn consumes(&self) -> Consumes {
        Consumes {
            classes: &[Class::HealthCheckFailed, Class::HelmReleaseFailed],
            runs: false,
            recovery: true,
            controller_records: false,
            workload_records: true,
        }
    }

    fn params(&self) -> &'static [PatternParams] {
        Self::PARAMS
    }

    fn claims(&self) -> &'static [ClaimRank] {
        &[ClaimRank::Workload]
    }

    fn on_record(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        // The Flux message proper (a log line's `error`, an Event's message), without
        // the `Reconciliation failed after …` line around it.
        let msg = rec
            .error
            .clone()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| rec.msg.clone());
        let failure = failure::parse(&msg);
        if !failure.is_workload_timeout() {
            return;
        }
        let pat = sh.settings.patterns.shared(PatternId::WorkloadFailure);
        let span = failure.duration_ms.unwrap_or(pat.ms("window"));
        let window = Window {
            // A minute of slack: Events are stamped by other clocks.
            start: ts - span - 60_000,
            end: ts + 60_000,
        };
        if !self.pending.contains_key(obj) && self.pending.len() >= MAX_PENDING {
            self.pending.pop_first();
        }
        let p = self.pending.entry(obj.clone()).or_insert_with(|| Pending {
            failure: failure.clone(),
            message: msg.clone(),
            class: rec.class,
            controller: rec.controller.clone(),
            first_failed: ts,
            failed_at: ts,
            count: 0,
            window,
            dirty: true,
            subject: None,
        });
        // The log line and the Event of one attempt count once.
        if p.count == 0 || ts - p.failed_at > super::state::ATTEMPT_DEDUPE_MS {
            p.count += 1;
        }
        p.failure = failure;
        p.message = msg;
        p.class = rec.class;
        if rec.controller.is_some() {
            p.controller = rec.controller.clone();
        }
        p.failed_at = ts;
        p.window = window;
        let interval = pat.ms("lookup_interval");
        let mut named: Vec<ObjectRef> = p.failure.named.iter().map(|(w, _)| w.clone()).collect();
        if named.is_empty() {
            // The old Helm wording names none: look up those the release's labels or
            // name point at, when some are known.
            named = self
                .release_workloads(obj)
                .into_iter()
                .map(|(w, _)| w)
                .collect();
        }
        for w in &named {
            self.lookups.ask(obj, w, ts, interval);
        }
        self.evaluate(sh, obj);
    }

    fn on_workload_record(&mut self, _sh: &mut Shared, rec: &Record, ts: TsMs) {
        self.ingest(rec, ts);
    }

    fn on_recovery(&mut self, sh: &mut Shared, _rec: &Record, obj: &ObjectRef, ts: TsMs) {
        if let Some(p) = self.pending.remove(obj) {
            if let Some(s) = p.subject {
                sh.findings.resolve(PatternId::WorkloadFailure, &s, ts);
            }
        }
    }

    fn on_tick(&mut self, sh: &mut Shared, now: TsMs, phase: TickPhase) {
        if phase != TickPhase::Main {
            return;
        }
        let pat = sh.settings.patterns.shared(PatternId::WorkloadFailure);
        let ttl = pat.ms("event_ttl");
        self.store.prune(now, ttl, pat.ms("status_ttl"));
        self.pending.retain(|_, p| now - p.failed_at <= ttl);
        self.evaluate_dirty(sh);
    }

    fn on_end(&mut self, sh: &mut Shared, _now: TsMs) {
        self.evaluate_dirty(sh);
    }

    fn next_deadline(&self, _sh: &Shared, tick: TsMs) -> Option<TsMs> {
        (!self.pending.is_empty() || !self.store.is_empty()).then_some(tick)
    }
}

/// The workload a Pod belongs to, from the shape of its generated name alone:
/// `<deployment>-<pod-template-hash>-<5>` (the hash 6–10 characters of Kubernetes'
/// safe alphabet), `<statefulset>-<ordinal>`, `<cronjob>-<scheduled minute>-<5>` (a
/// Job). `<name>-<5>` alone fits a Job and a DaemonSet alike: no guess.
fn owner_from_pod_name(pod: &str) -> Option<(&'static str, &str)> {
    const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let safe = |s: &str, lo: usize, hi: usize| {
        (lo..=hi).contains(&s.len()) && s.bytes().all(|b| SAFE.contains(&b))
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (rest, last) = pod.rsplit_once('-')?;
    if rest.is_empty() {
        return None;
    }
    if digits(last) {
        return Some(("StatefulSet", rest));
    }
    if !safe(last, 5, 5) {
        return None;
    }
    let (owner, mid) = rest.rsplit_once('-')?;
    if owner.is_empty() {
        return None;
    }
    if digits(mid) && mid.len() >= 8 {
        return Some(("Job", rest));
    }
    safe(mid, 6, 10).then_some(("Deployment", owner))
}

#[cfg(test)]
mod tests;
