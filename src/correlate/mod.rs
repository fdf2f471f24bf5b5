//! Correlation: classified records → findings (taxonomy.md §2) and audit records.
//!
//! A sans-IO state machine: [`Correlator::on_record`], [`Correlator::on_time`] and
//! [`Correlator::next_deadline`]. It never reads a clock: replay drives it with record
//! time, live mode with wall time, so every detector is tested with plain synchronous
//! calls and replay is deterministic.
//!
//! The correlator is a clock, the state every family shares (`shared::Shared`), and
//! five detector families behind one trait (`detector::Detector`), one file or folder
//! each: `workload` (`WorkloadHealth`: the workload cause below a health check, and the
//! live lookups seam [`Correlator::take_lookups`] / [`Correlator::lookup_result`]),
//! `sources` (`SourceHealth`: auth, rate limit, network), `controllers`
//! (`ControllerHealth`: OOM, crash loop, cascade, memory, queue, guilty
//! tenant), `objects` (`ObjectPatterns`: per-object failure patterns,
//! stalled, slow, drift and loops), `graph` (`DependencyGraph`: dependency
//! cycles and chains, the failing-or-missing-source root). It keeps the shared
//! bookkeeping of each record (object state, failures, recovery) and hands the record
//! to the families that consume it, in `RECORD_ORDER`; ticks run in `TICK_ORDER`.
//! Also owns: keyed windowed state (`state`), the finding lifecycle (`finding`), the
//! pattern ids (`pattern_id`), pattern files and config (`spec`), and the claims that
//! group symptoms under their root cause (`claims`). Does not own: parsing, rendering,
//! delivery.
//!
//! Invariants: state is capped (see [`state::Caps`]); output order depends only on the
//! input (BTreeMaps, sorted keys, the fixed family orders), never on hashing or timing.

pub mod audit;
mod claims;
mod controllers;
pub mod detector;
pub mod finding;
mod graph;
mod objects;
pub mod pattern_id;
mod shared;
mod sources;
pub mod spec;
pub mod state;
pub mod vars;
pub mod workload;

use std::collections::BTreeSet;

use crate::parse::k8s::is_flux_kind;
use crate::record::{Class, Detail, Format, ObjectRef, Record, TsMs};

pub use audit::AuditRecord;
pub use claims::{grouping, ClaimRank, Grouping};
pub use finding::{Finding, Status};
pub use pattern_id::PatternId;
pub use spec::Settings;

use controllers::ControllerHealth;
use detector::{Detector, TickPhase};
use graph::DependencyGraph;
use objects::ObjectPatterns;
use shared::{RecentFailure, Shared, RECENT_FAILURES_CAP};
use sources::SourceHealth;
use state::{push_capped, Attempt, Caps, Evictions, StateCounts};
use workload::WorkloadHealth;
pub use workload::{Lookup, LookupResult};

/// The kind whose applies are steps of a run rather than its outcome.
const KUSTOMIZATION: &str = "Kustomization";

/// How often time-driven checks run (stalled, graph, memory, queue, tenants), in ms.
pub const TICK_MS: i64 = 30_000;

/// Gaps longer than this many ticks are caught up with a single tick.
const MAX_TICK_CATCH_UP: i64 = 20;

/// Something the correlator emits.
#[derive(Debug, Clone)]
pub enum Output {
    Finding(Box<Finding>),
    Audit(Box<AuditRecord>),
}

/// What the correlator knows about one object, read-only, for reports
/// ([`Correlator::object_views`]): its links (dependsOn, source), its source URL, and
/// the last revision it attempted against the last it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectView {
    pub object: ObjectRef,
    /// The tenant of its namespace (the configured mapping).
    pub tenant: String,
    pub depends_on: Vec<ObjectRef>,
    pub source_ref: Option<ObjectRef>,
    pub url: Option<String>,
    /// The last revision a record about it named (what it attempted last).
    pub last_attempted: Option<String>,
    /// The last revision seen applied (snapshot `lastAppliedRevision`, an apply).
    pub last_applied: Option<String>,
    pub last_success: Option<TsMs>,
    pub failing_since: Option<TsMs>,
    pub suspended: bool,
}

/// A detector family, for the explicit call orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Workloads,
    Objects,
    Sources,
    Graph,
    Controllers,
}

/// The order in which a record reaches the families that consume it (its class, a
/// run, a recovery, a controller's own record, the end of input). It matters where a
/// family reads what another settles on the same record: on a success, the object's
/// own patterns (slow, drift: "is it claimed?") are judged before the source family
/// and the graph resolve the roots that claimed it. The workload family comes first:
/// on a health-check failure it claims the object before the object's own pattern
/// asks whether it is a folded symptom. Changing it changes output.
const RECORD_ORDER: [Family; 5] = [
    Family::Workloads,
    Family::Objects,
    Family::Sources,
    Family::Graph,
    Family::Controllers,
];

/// The order of the time-driven checks in a tick, after the finding table expired
/// what went quiet and the shared state was pruned: controllers first (an OOM
/// cascade claims its symptoms before they are judged), then the dependency graph
/// and the source-failure root (claims), then the objects' own checks (drift,
/// stalled: quiet when claimed), the hosts' cap; last, the guilty tenant, which reads
/// the pressure the others found. The workload family first re-evaluates failures
/// whose evidence changed (its claims then hold for the checks after it). Changing
/// it changes output.
const TICK_ORDER: [(Family, TickPhase); 6] = [
    (Family::Workloads, TickPhase::Main),
    (Family::Controllers, TickPhase::Main),
    (Family::Graph, TickPhase::Main),
    (Family::Objects, TickPhase::Main),
    (Family::Sources, TickPhase::Main),
    (Family::Controllers, TickPhase::Late),
];

/// What a detector family declares about itself ([`Correlator::detectors`]).
#[derive(Debug, Clone)]
pub struct DetectorInfo {
    pub name: &'static str,
    pub consumes: detector::Consumes,
    /// Its patterns with their parameters and defaults.
    pub params: &'static [detector::PatternParams],
    /// The claim ranks its root findings take.
    pub claims: &'static [ClaimRank],
}

/// The correlation engine: a clock, the shared state, and the detector families.
pub struct Correlator {
    now: Option<TsMs>,
    next_tick: Option<TsMs>,
    sh: Shared,
    objects: ObjectPatterns,
    sources: SourceHealth,
    graph: DependencyGraph,
    controllers: ControllerHealth,
    workloads: WorkloadHealth,
}

impl Correlator {
    pub fn new(settings: Settings) -> Self {
        Self::with_caps(settings, Caps::default())
    }

    pub fn with_caps(settings: Settings, caps: Caps) -> Self {
        Correlator {
            now: None,
            next_tick: None,
            sh: Shared::new(settings, caps),
            objects: ObjectPatterns,
            sources: SourceHealth::default(),
            graph: DependencyGraph,
            controllers: ControllerHealth::default(),
            workloads: WorkloadHealth::new(caps.objects),
        }
    }

    /// The shared state and one family, borrowed apart.
    fn family(&mut self, f: Family) -> (&mut Shared, &mut dyn Detector) {
        let d: &mut dyn Detector = match f {
            Family::Workloads => &mut self.workloads,
            Family::Objects => &mut self.objects,
            Family::Sources => &mut self.sources,
            Family::Graph => &mut self.graph,
            Family::Controllers => &mut self.controllers,
        };
        (&mut self.sh, d)
    }

    fn family_ref(&self, f: Family) -> &dyn Detector {
        match f {
            Family::Workloads => &self.workloads,
            Family::Objects => &self.objects,
            Family::Sources => &self.sources,
            Family::Graph => &self.graph,
            Family::Controllers => &self.controllers,
        }
    }

    /// The detector families, in `RECORD_ORDER`, with what each declares.
    pub fn detectors(&self) -> Vec<DetectorInfo> {
        RECORD_ORDER
            .iter()
            .map(|f| {
                let d = self.family_ref(*f);
                DetectorInfo {
                    name: d.name(),
                    consumes: d.consumes(),
                    params: d.params(),
                    claims: d.claims(),
                }
            })
            .collect()
    }

    /// Swaps the settings of a reloaded config (thresholds, patterns, tenant mapping,
    /// cluster name, repeat interval) keeping every window, claim and open finding:
    /// a finding firing before the swap is updated and resolved after it.
    pub fn reconfigure(&mut self, settings: Settings) {
        self.sh.findings.cluster = settings.cluster.clone();
        self.sh.findings.repeat_interval_ms = settings.repeat_interval_ms;
        self.sh.settings = settings;
    }

    /// The clock as the correlator knows it (latest record or tick time).
    pub fn now(&self) -> Option<TsMs> {
        self.now
    }

    /// When `on_time` next has work to do: the next tick of the fixed [`TICK_MS`] grid.
    /// The grid stays even while no family has time-driven work
    /// ([`Correlator::next_check`]): the finding table expires quiet findings at
    /// ticks, and findings carry tick times.
    pub fn next_deadline(&self) -> Option<TsMs> {
        self.next_tick
    }

    /// The earliest tick at which some family's time-driven checks have something to
    /// look at; `None` while only a record could give them work.
    pub fn next_check(&self) -> Option<TsMs> {
        let tick = self.next_tick?;
        RECORD_ORDER
            .iter()
            .filter_map(|f| self.family_ref(*f).next_deadline(&self.sh, tick))
            .min()
    }

    pub fn evictions(&self) -> Evictions {
        Evictions {
            audit: self.sh.audit.evicted,
            workloads: self.workloads.evicted(),
            ..self.sh.evictions
        }
    }

    /// The caps this correlator enforces.
    pub fn caps(&self) -> Caps {
        self.sh.caps
    }

    /// Entry counts of every keyed structure (for memory tests and metrics).
    pub fn state_counts(&self) -> StateCounts {
        let ctrls = &self.controllers.ctrls;
        let (workload_keys, workload_events, workload_pending, inventories) =
            self.workloads.counts();
        StateCounts {
            workload_keys,
            workload_events,
            workload_pending: workload_pending + inventories,
            lookups: self.workloads.lookups.len() + self.workloads.lookups.queued(),
            objects: self.sh.objects.len(),
            controllers: ctrls.len(),
            hosts: self.sources.hosts.len(),
            findings: self.sh.findings.len(),
            consumer_sources: self.sh.consumers.len(),
            consumer_edges: self.sh.consumers.values().map(BTreeSet::len).sum(),
            claims: self.sh.claims.len(),
            failing: self.sh.failing.len(),
            waiting: self.sh.waiting.len(),
            recent_failures: self.sh.recent_failures.len(),
            audit: self.sh.audit.len(),
            object_runs_max: ctrls
                .values()
                .map(|c| c.object_runs.len())
                .max()
                .unwrap_or(0),
            tenants_max: ctrls
                .values()
                .flat_map(|c| c.work.iter().map(|(_, m)| m.len()))
                .max()
                .unwrap_or(0),
        }
    }

    /// Entry counts of the keyed state (objects, controllers, hosts, findings).
    pub fn state_sizes(&self) -> (usize, usize, usize, usize) {
        (
            self.sh.objects.len(),
            self.controllers.ctrls.len(),
            self.sources.hosts.len(),
            self.sh.findings.len(),
        )
    }

    /// Lookups asked for since the last call: one per workload a health-check failure
    /// named, at most one per workload per `workload_failure.lookup_interval`. The
    /// live side GETs each and answers with [`Correlator::lookup_result`]; replay
    /// drains and drops them (the queue is capped either way).
    pub fn take_lookups(&mut self) -> Vec<Lookup> {
        self.workloads.lookups.take()
    }

    /// The documents a [`Lookup`] fetched: taken like any workload record, and the
    /// pending failures naming the workload are evaluated now, so the finding names the
    /// cause without waiting for the next tick. A non-empty `denied` makes the
    /// finding's coverage partial (`rbac_forbidden`). The clock is not moved.
    pub fn lookup_result(&mut self, r: LookupResult) {
        let now = self.now.unwrap_or(r.at);
        self.workloads.lookup_result(&mut self.sh, r, now);
        self.sh.collect(now, false);
    }

    /// Drains what has been emitted so far.
    pub fn drain(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.sh.out)
    }

    /// Every finding known (firing or resolved).
    pub fn findings(&self) -> Vec<Finding> {
        self.sh.findings.all().cloned().collect()
    }

    /// Every object the correlator holds, sorted by reference: a read-only view for
    /// reports (nothing here feeds detection).
    pub fn object_views(&self) -> Vec<ObjectView> {
        let mut v: Vec<ObjectView> = self
            .sh
            .objects
            .iter()
            .map(|(o, s)| ObjectView {
                object: o.clone(),
                tenant: self.sh.settings.tenants.tenant(&o.namespace),
                depends_on: s.depends_on.clone(),
                source_ref: s.source_ref.clone(),
                url: s.url.clone(),
                last_attempted: s.last_revision.clone(),
                last_applied: s.applied_revisions.back().cloned(),
                last_success: s.last_success,
                failing_since: s.failing_since,
                suspended: s.suspended,
            })
            .collect();
        v.sort_by(|a, b| a.object.cmp(&b.object));
        v
    }

    /// Every finding currently firing.
    pub fn firing(&self) -> impl Iterator<Item = &Finding> {
        self.sh.findings.firing()
    }

    /// Advances the clock to `now` and runs time-driven checks when due.
    pub fn on_time(&mut self, now: TsMs) {
        if self.now.is_none_or(|n| now > n) {
            self.now = Some(now);
        }
        let now = self.now.unwrap_or(now);
        while let Some(t) = self.next_tick {
            if t > now {
                break;
            }
            if now - t > MAX_TICK_CATCH_UP * TICK_MS {
                // A long silence (or a jump in record time): one check at `now` decides
                // what every skipped tick would have, without looping over the gap.
                self.tick(now);
                self.next_tick = Some(now - now.rem_euclid(TICK_MS) + TICK_MS);
                break;
            }
            self.tick(t);
            self.next_tick = Some(t + TICK_MS);
        }
        if self.next_tick.is_none() {
            self.next_tick = Some(now - now.rem_euclid(TICK_MS) + TICK_MS);
        }
        self.sh.collect(now, false);
    }

    /// End of input: run the checks once more and emit the final state of every
    /// finding that changed. Open findings stay firing.
    pub fn finish(&mut self) {
        if let Some(now) = self.now {
            for f in RECORD_ORDER {
                let (sh, d) = self.family(f);
                d.on_end(sh, now);
            }
            self.tick(now);
            self.sh.collect(now, true);
        }
    }

    /// Feeds one classified record. Records without a timestamp take the clock's.
    pub fn on_record(&mut self, rec: &Record) {
        let ts = match rec.ts.or(self.now) {
            Some(t) => t,
            None => return,
        };
        self.on_time(ts);
        let now = self.now.unwrap_or(ts);
        // Late records keep their own time for windows but never move the clock back.
        let ts = ts.min(now);
        if workload::wants(rec) {
            // A status document is dated by when it was seen (its own newest timestamp
            // may be a creation time hours back: a ReplicaSet, a PVC); an Event by its
            // own time.
            let at = if matches!(rec.detail, Detail::Event(_)) {
                ts
            } else {
                now
            };
            for f in RECORD_ORDER {
                let (sh, d) = self.family(f);
                if d.consumes().workload_records {
                    d.on_workload_record(sh, rec, at);
                }
            }
        }
        match &rec.detail {
            Detail::Metric(_) | Detail::Pod(_) => self.controller_record(rec, ts),
            Detail::Object(_) => self.on_object(rec, ts),
            _ => {
                if rec.format == Format::Metric {
                    return;
                }
                self.on_event_or_log(rec, ts)
            }
        }
        self.sh.collect(now, false);
    }

    fn tick(&mut self, now: TsMs) {
        self.sh.findings.expire(now);
        self.sh.evictions.findings += self.sh.findings.enforce_cap(self.sh.caps.findings);
        self.sh.prune(now);
        for (f, phase) in TICK_ORDER {
            let (sh, d) = self.family(f);
            d.on_tick(sh, now, phase);
        }
    }

    /// Hands a record of `class` about `obj` to every family that consumes the
    /// class, in `RECORD_ORDER`. False when none does.
    fn dispatch_class(&mut self, rec: &Record, obj: &ObjectRef, ts: TsMs) -> bool {
        let mut fed = false;
        for f in RECORD_ORDER {
            let (sh, d) = self.family(f);
            if d.consumes().class(rec.class) {
                d.on_record(sh, rec, obj, ts);
                fed = true;
            }
        }
        fed
    }

    /// A controller's own record: metric samples, Pod status, Pod and Node Events,
    /// lines without a Flux object.
    fn controller_record(&mut self, rec: &Record, ts: TsMs) {
        for f in RECORD_ORDER {
            let (sh, d) = self.family(f);
            if d.consumes().controller_records {
                d.on_controller_record(sh, rec, ts);
            }
        }
    }

    /// Records of Kubernetes Events and log lines.
    fn on_event_or_log(&mut self, rec: &Record, ts: TsMs) {
        let Some(obj) = rec.object.clone() else {
            self.controller_record(rec, ts);
            return;
        };
        // Pods, Nodes, workloads, PVCs: their Events are the workload family's and the
        // controllers' (a Flux object's state is never opened for them).
        if !is_flux_kind(&obj.kind) {
            self.controller_record(rec, ts);
            return;
        }
        self.on_object_record(rec, &obj, ts);
    }

    /// A Flux object snapshot: spec facts, the dependency graph, and its status.
    fn on_object(&mut self, rec: &Record, ts: TsMs) {
        let (Some(obj), Some(info)) = (rec.object.clone(), rec.object_info()) else {
            return;
        };
        // Workload and PVC documents are the workload family's (taken above).
        if !is_flux_kind(&obj.kind) {
            return;
        }
        if info.watch_type.as_deref() == Some("DELETED") {
            self.sh.forget(&obj);
            return;
        }
        let old_source = self.sh.objects.get(&obj).and_then(|s| s.source_ref.clone());
        let load_changed = {
            let s = self.sh.obj_mut(&obj, ts);
            let mut load_changed = false;
            if info.interval_ms.is_some() && s.interval_ms != info.interval_ms {
                s.interval_ms = info.interval_ms;
                load_changed = true;
            }
            s.depends_on = info.depends_on.clone();
            s.source_ref = info.source_ref.clone();
            s.service_account = info.service_account.clone();
            if info.artifact_size.is_some() && s.artifact_size != info.artifact_size {
                s.artifact_size = info.artifact_size;
                load_changed = true;
            }
            s.chart = info.chart.clone();
            s.suspended = info.suspend;
            s.missing_at = None;
            s.stalled = info
                .condition("Stalled")
                .is_some_and(|c| c.status == "True");
            if let Some(r) = &info.last_applied_revision {
                if !s.applied_revisions.contains(r) {
                    push_capped(&mut s.applied_revisions, r.clone(), APPLIED_REVISIONS_CAP);
                }
            }
            load_changed
        };
        if load_changed {
            self.sh.load_gen += 1;
        }
        if let Some(u) = &info.url {
            self.sh.set_url(&obj, ts, u);
        }
        if old_source != info.source_ref {
            if let Some(o) = old_source {
                self.sh.remove_consumer(&o, &obj);
            }
            if let Some(src) = &info.source_ref {
                self.sh.add_consumer(src, &obj);
            }
        }
        let ready = info.condition("Ready");
        if ready.is_some_and(|c| c.status == "True") {
            // A snapshot saying Ready is not a run; it only clears stale failure state.
            let s = self.sh.obj_mut(&obj, ts);
            if s.failing_since.is_some() && s.attempts.back().is_none_or(|a| a.ts < ts) {
                s.failing_since = None;
                s.last_success = Some(ts);
            }
        } else if rec.class.is_failure() {
            self.on_object_record(rec, &obj, ts);
        }
    }

    /// A record about a Flux object (log line, Event, payload or snapshot failure).
    fn on_object_record(&mut self, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        let ctrl = controller_of(rec, obj);
        let class = rec.class;
        let load_changed = {
            let s = self.sh.obj_mut(obj, ts);
            if let Some(r) = &rec.revision {
                if s.last_revision.as_deref() != Some(r) {
                    s.last_revision = Some(r.clone());
                }
            }
            // The object speaks for itself: it exists.
            s.missing_at = None;
            if class == Class::ReconcileSucceeded
                && s.interval_ms.is_none()
                && rec.interval_ms.is_some()
            {
                s.interval_ms = rec.interval_ms;
                true
            } else {
                false
            }
        };
        if load_changed {
            self.sh.load_gen += 1;
        }
        // Work done for the controller, by tenant (guilty-tenant shares).
        let is_run = matches!(class, Class::ReconcileSucceeded | Class::ArtifactStored)
            || (class.is_failure() && class != Class::DependencyNotReady);
        if is_run && rec.format != Format::K8sEvent && rec.format != Format::FluxEvent {
            if let Some(c) = &ctrl {
                for f in RECORD_ORDER {
                    let (sh, d) = self.family(f);
                    if d.consumes().runs {
                        d.on_run(sh, rec, obj, c, ts);
                    }
                }
            }
        }
        if class.is_failure() {
            self.on_failure(rec, obj, ctrl, ts);
        } else {
            self.on_success_like(rec, obj, ts);
        }
    }

    fn on_failure(&mut self, rec: &Record, obj: &ObjectRef, ctrl: Option<String>, ts: TsMs) {
        let class = rec.class;
        let message = crate::classify::redact::redact(&rec.message()).into_owned();
        let history = self.sh.caps.history;
        {
            let s = self.sh.obj_mut(obj, ts);
            if class == Class::DependencyNotReady {
                s.waiting_at = Some(ts);
            } else {
                s.failing_since.get_or_insert(ts);
                // The run of any apply still open failed: those applies were retries.
                for a in s.applies.iter_mut().filter(|a| !a.confirmed) {
                    a.retry = true;
                    a.confirmed = true;
                }
                push_capped(
                    &mut s.attempts,
                    Attempt {
                        ts,
                        class,
                        message: message.clone(),
                        controller: ctrl.clone(),
                        occurrences: pasted_occurrences(rec),
                    },
                    history,
                );
            }
        }
        // Waiting for a dependency is not failing: the graph family judges it.
        if class != Class::DependencyNotReady {
            self.sh.failing.insert(obj.clone());
            self.sh.recent_failures.push(
                RecentFailure::new(ts, obj.clone(), class, ctrl, message.clone()),
                RECENT_FAILURES_CAP,
            );
        }
        if self.dispatch_class(rec, obj, ts) {
            return;
        }
        // No family owns this failure: a symptom of whatever root explains it.
        if class == Class::SourceNotReady {
            self.sh.note_source_of(obj, &message, ts);
        }
        self.sh.group_symptom(obj, ts, class, &message);
    }

    fn on_success_like(&mut self, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        let class = rec.class;
        // A Kustomization's apply is a step of its run, not its outcome: health checks
        // and pruning follow, and the run ends with `Reconciliation finished` (a
        // success) or `failed`. Taking the apply as recovery would resolve a failing
        // health check at every retry and re-open it minutes later.
        let success = match class {
            Class::ReconcileSucceeded | Class::ArtifactStored => true,
            Class::RevisionApplied => obj.kind != KUSTOMIZATION,
            _ => false,
        };
        if class == Class::RevisionApplied {
            // Before recovery below: an apply made while failing is a retry.
            self.dispatch_class(rec, obj, ts);
            let tenant = self.sh.tenant_of(obj);
            let sh = &mut self.sh;
            if let Some(mut a) = sh.audit.on_applied(rec, obj, ts, &sh.settings, &tenant) {
                let src = sh.objects.get(obj).and_then(|s| s.source_ref.clone());
                a.source_url = src
                    .as_ref()
                    .and_then(|s| sh.objects.get(s))
                    .and_then(|s| s.url.clone());
                a.source = src;
                sh.out.push(Output::Audit(Box::new(a)));
            }
        }
        if !success || is_remediation(rec) {
            return;
        }
        let was_failing = {
            let s = self.sh.obj_mut(obj, ts);
            s.last_success = Some(ts);
            s.stalled = false;
            s.waiting_at = None;
            s.failing_since.take().is_some()
        };
        self.sh.waiting.remove(obj);
        if was_failing {
            self.sh.failing.remove(obj);
        }
        for f in RECORD_ORDER {
            let (sh, d) = self.family(f);
            if d.consumes().recovery {
                d.on_recovery(sh, rec, obj, ts);
            }
        }
    }
}

/// Most revisions remembered as applied per object.
pub(crate) const APPLIED_REVISIONS_CAP: usize = 8;

/// The controller behind a record about `obj`: the one that logged it, else the one
/// that reconciles its kind.
pub(crate) fn controller_of(rec: &Record, obj: &ObjectRef) -> Option<String> {
    rec.controller
        .clone()
        .or_else(|| vars::controller_for_kind(&obj.kind).map(str::to_string))
}

/// A Helm remediation that succeeded (rollback, uninstall after a failed install): the
/// release is back to its previous state, the desired one still fails, so this is not
/// recovery.
fn is_remediation(rec: &Record) -> bool {
    if matches!(
        rec.reason.as_deref(),
        Some("RollbackSucceeded" | "UninstallSucceeded")
    ) {
        return true;
    }
    let m = rec.msg.as_str();
    m.starts_with("Helm rollback to previous release")
        || m.starts_with("Helm uninstall remediation")
}

/// Most occurrences one pasted Events row may stand for.
const MAX_PASTED_OCCURRENCES: u64 = 100;

/// How many occurrences a record stands for: an Events row pasted from `kubectl
/// describe` / `kubectl get events` counts its `(xN over …)`; a watched Event is seen at
/// every change of its count, so it counts once per record.
fn pasted_occurrences(rec: &Record) -> u64 {
    match (&rec.detail, rec.format) {
        (Detail::Event(e), Format::Describe | Format::EventsTable) => {
            e.count.unwrap_or(1).clamp(1, MAX_PASTED_OCCURRENCES)
        }
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_called_once_in_each_order() {
        let all = [
            Family::Workloads,
            Family::Objects,
            Family::Sources,
            Family::Graph,
            Family::Controllers,
        ];
        for f in all {
            let in_records = RECORD_ORDER.iter().filter(|x| **x == f).count();
            let in_ticks = TICK_ORDER
                .iter()
                .filter(|(x, p)| *x == f && *p == TickPhase::Main)
                .count();
            assert_eq!((in_records, in_ticks), (1, 1), "{f:?}");
        }
        let late: Vec<Family> = TICK_ORDER
            .iter()
            .filter(|(_, p)| *p == TickPhase::Late)
            .map(|(f, _)| *f)
            .collect();
        assert_eq!(late, [Family::Controllers]);
    }

    #[test]
    fn the_families_together_emit_every_pattern_once() {
        let c = Correlator::new(Settings::default());
        let infos = c.detectors();
        let names: Vec<&str> = infos.iter().map(|d| d.name).collect();
        assert_eq!(
            names,
            [
                "WorkloadHealth",
                "ObjectPatterns",
                "SourceHealth",
                "DependencyGraph",
                "ControllerHealth"
            ]
        );
        let mut emitted: Vec<PatternId> = infos
            .iter()
            .flat_map(|d| d.params.iter().map(|pp| pp.pattern))
            .collect();
        emitted.sort();
        // The fleet patterns are stage 2's (`crate::fleet`), fed partials, not records.
        let per_cluster: Vec<PatternId> = PatternId::ALL
            .iter()
            .copied()
            .filter(|p| !crate::fleet::is_fleet_pattern(*p))
            .collect();
        assert_eq!(emitted, per_cluster);
    }

    #[test]
    fn next_check_says_when_a_family_has_time_driven_work() {
        let mut c = Correlator::new(Settings::default());
        c.on_time(1_000_000);
        assert!(c.next_deadline().is_some());
        assert_eq!(c.next_check(), None, "nothing to look at yet");
        let failing = Record {
            ts: Some(1_000_500),
            object: Some(ObjectRef::new("Kustomization", "apps", "a")),
            class: Class::HealthCheckFailed,
            msg: "health check failed after 5m0s".into(),
            ..Default::default()
        };
        c.on_record(&failing);
        // A failing object: stalled and the source-failure root look at it each tick.
        assert_eq!(c.next_check(), c.next_deadline());
    }
}
