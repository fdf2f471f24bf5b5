//! Correlation: classified records → findings (taxonomy.md §2) and audit records.
//!
//! A sans-IO state machine: [`Correlator::on_record`], [`Correlator::on_time`] and
//! [`Correlator::next_deadline`]. It never reads a clock: replay drives it with record
//! time, live mode with wall time, so every detector is tested with plain synchronous
//! calls and replay is deterministic.
//!
//! Owns: keyed windowed state (`state`), the dependency graph (`graph`), the finding
//! lifecycle (`finding`), the pattern ids every stage names patterns by (`pattern_id`),
//! pattern files and config (`spec`), and the detectors, one file
//! per family: `sources` (auth, rate limit, network), `controllers` (OOM, crash loop,
//! cascade, memory, queue, guilty tenant), `objects` (per-object failure patterns,
//! stalled, slow, drift and loops), `graph` (dependency cycles and chains); and the
//! claims that group symptoms under their root cause (`claims`: claim order, symptom
//! attachment, the failing-or-missing-source root). Does not own: parsing, rendering,
//! delivery.
//!
//! Invariants: state is capped (see [`state::Caps`]); output order depends only on the
//! input (BTreeMaps, sorted keys), never on hashing or timing.

pub mod audit;
mod claims;
mod controllers;
pub mod finding;
mod graph;
mod objects;
pub mod pattern_id;
mod sources;
pub mod spec;
pub mod state;
pub mod vars;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rustc_hash::FxHashMap;

use crate::record::{Class, Detail, Format, ObjectRef, Record, TsMs};

pub use audit::AuditRecord;
pub use finding::{Finding, Status};
pub use pattern_id::PatternId;
pub use spec::Settings;
use state::{push_capped, Attempt, Caps, CtrlState, Evictions, HostState, ObjState, StateCounts};

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

/// A recent failure anywhere, for cascade attribution.
#[derive(Debug, Clone)]
struct RecentFailure {
    ts: TsMs,
    object: ObjectRef,
    class: Class,
    controller: Option<String>,
    message: String,
}

/// The correlation engine.
pub struct Correlator {
    settings: Settings,
    caps: Caps,
    now: Option<TsMs>,
    next_tick: Option<TsMs>,
    objects: FxHashMap<ObjectRef, ObjState>,
    /// source → objects that consume it (from `spec.sourceRef`, chart sources).
    consumers: FxHashMap<ObjectRef, BTreeSet<ObjectRef>>,
    /// Edges in `consumers`, kept so the cap check is O(1).
    consumer_edges: usize,
    /// Objects failing now (for time-driven checks without scanning every object).
    failing: BTreeSet<ObjectRef>,
    waiting: BTreeSet<ObjectRef>,
    /// Objects with applies whose run has no known outcome yet (drift is judged once
    /// it has: `objects::confirm_applies`).
    open_applies: BTreeSet<ObjectRef>,
    ctrls: BTreeMap<String, CtrlState>,
    hosts: FxHashMap<String, HostState>,
    recent_failures: VecDeque<RecentFailure>,
    /// object → (pattern, subject) of the root finding that explains it (`claims`).
    claims: FxHashMap<ObjectRef, (PatternId, ObjectRef)>,
    findings: finding::FindingTable,
    audit: audit::AuditState,
    evictions: Evictions,
    out: Vec<Output>,
}

impl Correlator {
    pub fn new(settings: Settings) -> Self {
        Self::with_caps(settings, Caps::default())
    }

    pub fn with_caps(settings: Settings, caps: Caps) -> Self {
        let findings = finding::FindingTable::new(&settings.cluster, settings.repeat_interval_ms);
        Correlator {
            settings,
            caps,
            now: None,
            next_tick: None,
            objects: FxHashMap::default(),
            consumers: FxHashMap::default(),
            consumer_edges: 0,
            failing: BTreeSet::new(),
            waiting: BTreeSet::new(),
            open_applies: BTreeSet::new(),
            ctrls: BTreeMap::new(),
            hosts: FxHashMap::default(),
            recent_failures: VecDeque::new(),
            claims: FxHashMap::default(),
            findings,
            audit: audit::AuditState::default(),
            evictions: Evictions::default(),
            out: Vec::new(),
        }
    }

    /// Swaps the settings of a reloaded config (thresholds, patterns, tenant mapping,
    /// cluster name, repeat interval) keeping every window, claim and open finding:
    /// a finding firing before the swap is updated and resolved after it.
    pub fn reconfigure(&mut self, settings: Settings) {
        self.findings.cluster = settings.cluster.clone();
        self.findings.repeat_interval_ms = settings.repeat_interval_ms;
        self.settings = settings;
    }

    /// The clock as the correlator knows it (latest record or tick time).
    pub fn now(&self) -> Option<TsMs> {
        self.now
    }

    /// When `on_time` next has work to do.
    pub fn next_deadline(&self) -> Option<TsMs> {
        self.next_tick
    }

    pub fn evictions(&self) -> Evictions {
        Evictions {
            audit: self.audit.evicted,
            ..self.evictions
        }
    }

    /// The caps this correlator enforces.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// Entry counts of every keyed structure (for memory tests and metrics).
    pub fn state_counts(&self) -> StateCounts {
        StateCounts {
            objects: self.objects.len(),
            controllers: self.ctrls.len(),
            hosts: self.hosts.len(),
            findings: self.findings.len(),
            consumer_sources: self.consumers.len(),
            consumer_edges: self.consumers.values().map(BTreeSet::len).sum(),
            claims: self.claims.len(),
            failing: self.failing.len(),
            waiting: self.waiting.len(),
            recent_failures: self.recent_failures.len(),
            audit: self.audit.len(),
            object_runs_max: self
                .ctrls
                .values()
                .map(|c| c.object_runs.len())
                .max()
                .unwrap_or(0),
            tenants_max: self
                .ctrls
                .values()
                .flat_map(|c| c.work.iter().map(|(_, m)| m.len()))
                .max()
                .unwrap_or(0),
        }
    }

    /// Entry counts of the keyed state (objects, controllers, hosts, findings).
    pub fn state_sizes(&self) -> (usize, usize, usize, usize) {
        (
            self.objects.len(),
            self.ctrls.len(),
            self.hosts.len(),
            self.findings.len(),
        )
    }

    /// Drains what has been emitted so far.
    pub fn drain(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Every finding known (firing or resolved).
    pub fn findings(&self) -> Vec<Finding> {
        self.findings.all().cloned().collect()
    }

    /// Every finding currently firing.
    pub fn firing(&self) -> impl Iterator<Item = &Finding> {
        self.findings.firing()
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
        self.collect(now, false);
    }

    /// End of input: run the checks once more and emit the final state of every
    /// finding that changed. Open findings stay firing.
    pub fn finish(&mut self) {
        if let Some(now) = self.now {
            // No more records can show an apply's run failed: judge the open ones.
            self.confirm_applies(now, true);
            self.tick(now);
            self.collect(now, true);
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
        match &rec.detail {
            Detail::Metric(_) => self.on_metric(rec, ts),
            Detail::Pod(_) => self.on_pod(rec, ts),
            Detail::Object(_) => self.on_object(rec, ts),
            _ => {
                if rec.format == Format::Metric {
                    return;
                }
                self.on_event_or_log(rec, ts)
            }
        }
        self.collect(now, false);
    }

    fn collect(&mut self, now: TsMs, force: bool) {
        // Checked per record too: between ticks a flood could open many findings.
        if self.findings.len() > self.caps.findings {
            self.evictions.findings += self.findings.enforce_cap(self.caps.findings);
        }
        for f in self.findings.take_changes(now, force) {
            if PatternId::RbacDenied.is(&f.pattern) && f.status == Status::Firing {
                if let Some(a) = self.audit.mirror_rbac(&f) {
                    self.out.push(Output::Audit(Box::new(a)));
                }
            }
            self.out.push(Output::Finding(Box::new(f)));
        }
    }

    fn tick(&mut self, now: TsMs) {
        self.findings.expire(now);
        self.evictions.findings += self.findings.enforce_cap(self.caps.findings);
        self.prune(now);
        self.check_controllers(now);
        self.check_graph(now);
        self.check_sources(now);
        self.confirm_applies(now, false);
        self.check_stalled(now);
        self.check_tenants(now);
    }

    fn prune(&mut self, now: TsMs) {
        let keep = 3 * 3_600_000;
        while self
            .recent_failures
            .front()
            .is_some_and(|f| now - f.ts > keep)
        {
            self.recent_failures.pop_front();
        }
        let objects = &self.objects;
        self.failing
            .retain(|o| objects.get(o).is_some_and(|s| s.failing_since.is_some()));
        let ww = self
            .settings
            .patterns
            .get(PatternId::DependencyBlocked)
            .ms("waiting_within");
        self.waiting.retain(|o| {
            objects
                .get(o)
                .and_then(|s| s.waiting_at)
                .is_some_and(|t| now - t <= ww)
        });
        let ev = state::evict_oldest(&mut self.hosts, self.caps.hosts, |h| h.last_seen);
        self.evictions.hosts += ev;
    }

    pub(crate) fn tenant_of(&self, o: &ObjectRef) -> String {
        self.tenant_of_ns(&o.namespace)
    }

    pub(crate) fn tenant_of_ns(&self, namespace: &str) -> String {
        if namespace.is_empty() {
            return String::new();
        }
        self.settings.tenants.tenant(namespace)
    }

    fn obj_mut(&mut self, o: &ObjectRef, ts: TsMs) -> &mut ObjState {
        // Looked up before inserting so a known object (almost every call) costs no
        // clone of its reference.
        if !self.objects.contains_key(o) {
            if self.objects.len() >= self.caps.objects {
                let cap = self.caps.objects - 1;
                let n = state::evict_oldest(&mut self.objects, cap, |s| s.last_seen);
                self.evictions.objects += n;
                // Forget the evicted in the sets that point into `objects` now rather
                // than at the next tick, so a flood between ticks cannot grow them.
                let objects = &self.objects;
                self.failing.retain(|o| objects.contains_key(o));
                self.waiting.retain(|o| objects.contains_key(o));
                self.open_applies.retain(|o| objects.contains_key(o));
            }
            let fresh = ObjState {
                controller: vars::controller_for_kind(&o.kind),
                ..Default::default()
            };
            self.objects.insert(o.clone(), fresh);
        }
        let s = self
            .objects
            .get_mut(o)
            .expect("object state inserted above");
        if ts > s.last_seen {
            s.last_seen = ts;
        }
        s
    }

    /// Creates or refreshes a provider host's state, evicting the least recently seen
    /// tenth when a new host would exceed `caps.hosts`.
    pub(crate) fn touch_host(&mut self, host: &str, ts: TsMs) {
        if !self.hosts.contains_key(host) && self.hosts.len() >= self.caps.hosts {
            let cap = self.caps.hosts.saturating_sub(1);
            self.evictions.hosts += state::evict_oldest(&mut self.hosts, cap, |h| h.last_seen);
        }
        let h = self.hosts.entry(host.to_string()).or_default();
        h.last_seen = h.last_seen.max(ts);
    }

    fn ctrl_mut(&mut self, name: &str) -> &mut CtrlState {
        if !self.ctrls.contains_key(name) && self.ctrls.len() >= self.caps.controllers {
            if let Some(k) = self.ctrls.keys().next().cloned() {
                self.ctrls.remove(&k);
                self.evictions.controllers += 1;
            }
        }
        self.ctrls
            .entry(name.to_string())
            .or_insert_with(|| CtrlState {
                namespace: "flux-system".into(),
                ..Default::default()
            })
    }

    /// Records `obj` as a consumer of `src`, keeping both the number of sources and the
    /// number of edges under `caps.objects`.
    pub(crate) fn add_consumer(&mut self, src: &ObjectRef, obj: &ObjectRef) {
        let cap = self.caps.objects.max(1);
        if self.consumer_edges >= cap
            || (!self.consumers.contains_key(src) && self.consumers.len() >= cap)
        {
            self.trim_consumers(cap);
        }
        let set = self.consumers.entry(src.clone()).or_default();
        if set.len() < 10_000 && set.insert(obj.clone()) {
            self.consumer_edges += 1;
        }
    }

    pub(crate) fn remove_consumer(&mut self, src: &ObjectRef, obj: &ObjectRef) {
        if let Some(set) = self.consumers.get_mut(src) {
            if set.remove(obj) {
                self.consumer_edges -= 1;
            }
            if set.is_empty() {
                self.consumers.remove(src);
            }
        }
    }

    /// Drops edges of consumers whose state was evicted (their `sourceRef` is no longer
    /// known), then the sources seen least recently, until a tenth of room is free.
    fn trim_consumers(&mut self, cap: usize) {
        let objects = &self.objects;
        let mut dropped = 0u64;
        for set in self.consumers.values_mut() {
            let n = set.len();
            set.retain(|c| objects.contains_key(c));
            dropped += (n - set.len()) as u64;
        }
        self.consumers.retain(|_, set| !set.is_empty());
        let room = cap - (cap / 10).max(1);
        let mut edges: usize = self.consumers.values().map(BTreeSet::len).sum();
        if self.consumers.len() > room || edges > room {
            let mut ages: Vec<(TsMs, ObjectRef)> = self
                .consumers
                .keys()
                .map(|k| (objects.get(k).map_or(TsMs::MIN, |s| s.last_seen), k.clone()))
                .collect();
            ages.sort_unstable();
            for (_, k) in ages {
                if self.consumers.len() <= room && edges <= room {
                    break;
                }
                if let Some(set) = self.consumers.remove(&k) {
                    edges -= set.len();
                    dropped += set.len() as u64;
                }
            }
        }
        self.consumer_edges = edges;
        self.evictions.consumers += dropped;
    }

    /// Records of Kubernetes Events and log lines.
    fn on_event_or_log(&mut self, rec: &Record, ts: TsMs) {
        let Some(obj) = rec.object.clone() else {
            self.on_controller_line(rec, ts);
            return;
        };
        match obj.kind.as_str() {
            "Pod" => return self.on_pod_event(rec, &obj, ts),
            "Node" => return self.on_node_event(rec, ts),
            "Deployment" | "ReplicaSet" => {
                if rec.class.is_failure() {
                    self.on_controller_line(rec, ts);
                }
                return;
            }
            _ => {}
        }
        self.on_object_record(rec, &obj, ts);
    }

    /// A record about a Flux object (log line, Event, payload or snapshot failure).
    fn on_object_record(&mut self, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        let tenant = self.tenant_of(obj);
        let ctrl = rec
            .controller
            .clone()
            .or_else(|| vars::controller_for_kind(&obj.kind).map(str::to_string));
        let class = rec.class;
        let history = self.caps.history;
        {
            let s = self.obj_mut(obj, ts);
            if let Some(r) = &rec.revision {
                if s.last_revision.as_deref() != Some(r) {
                    s.last_revision = Some(r.clone());
                }
            }
            if class == Class::ReconcileSucceeded && s.interval_ms.is_none() {
                s.interval_ms = rec.interval_ms;
            }
            // The object speaks for itself: it exists.
            s.missing_at = None;
        }
        // Work done for the controller, by tenant (guilty-tenant shares).
        let is_run = matches!(class, Class::ReconcileSucceeded | Class::ArtifactStored)
            || (class.is_failure() && class != Class::DependencyNotReady);
        if is_run && rec.format != Format::K8sEvent && rec.format != Format::FluxEvent {
            if let Some(c) = &ctrl {
                let size = self
                    .objects
                    .get(obj)
                    .and_then(|s| s.artifact_size)
                    .unwrap_or(0);
                let w = state::Work {
                    runs: 1.0,
                    duration_ms: rec.duration_ms.unwrap_or(0) as f64,
                    errors: if class.is_failure() { 1.0 } else { 0.0 },
                    bytes: size as f64,
                };
                let caps = self.caps;
                let mut ev = self.evictions;
                let cs = self.ctrl_mut(c);
                cs.add_work(ts, &tenant, w, &caps, &mut ev);
                cs.add_object_work(obj, &w, caps.objects, &mut ev);
                self.evictions = ev;
                let s = self.obj_mut(obj, ts);
                push_capped(&mut s.runs, ts, history);
            }
        }
        if class.is_failure() {
            self.on_failure(rec, obj, ctrl.as_deref(), ts);
        } else {
            self.on_success_like(rec, obj, ts);
        }
    }

    fn on_failure(&mut self, rec: &Record, obj: &ObjectRef, ctrl: Option<&str>, ts: TsMs) {
        let class = rec.class;
        let message = crate::classify::redact::redact(&rec.message()).into_owned();
        let history = self.caps.history;
        {
            let s = self.obj_mut(obj, ts);
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
                        controller: ctrl.map(str::to_string),
                        occurrences: pasted_occurrences(rec),
                    },
                    history,
                );
            }
        }
        if class == Class::DependencyNotReady {
            self.waiting.insert(obj.clone());
            for dep in graph::deps_in_message(&rec.message(), obj) {
                let s = self.obj_mut(obj, ts);
                if !s.depends_on.contains(&dep) {
                    s.depends_on.push(dep);
                }
            }
            return;
        }
        self.failing.insert(obj.clone());
        push_capped(
            &mut self.recent_failures,
            RecentFailure {
                ts,
                object: obj.clone(),
                class,
                controller: ctrl.map(str::to_string),
                message: message.clone(),
            },
            10_000,
        );
        match class {
            Class::GitAuthFailed => self.detect_auth(obj, ts),
            Class::RateLimited => self.detect_rate_limit(rec, obj, ctrl, ts),
            Class::NetworkError => self.detect_network(rec, obj, ts),
            Class::OomKilled | Class::ControllerRestarted => {
                if let Some(c) = ctrl {
                    self.note_restart(c, ts, class == Class::OomKilled, &message);
                }
            }
            _ => {
                if class == Class::SourceNotReady {
                    self.note_source_of(obj, &message, ts);
                }
                if objects::has_own_pattern(class) {
                    self.detect_object_failure(rec, obj, ts);
                } else {
                    self.group_symptom(obj, ts, class, &message);
                }
            }
        }
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
            self.track_apply(rec, obj, ts);
            let tenant = self.tenant_of(obj);
            if let Some(mut a) = self.audit.on_applied(rec, obj, ts, &self.settings, &tenant) {
                let src = self.objects.get(obj).and_then(|s| s.source_ref.clone());
                a.source_url = src
                    .as_ref()
                    .and_then(|s| self.objects.get(s))
                    .and_then(|s| s.url.clone());
                a.source = src;
                self.out.push(Output::Audit(Box::new(a)));
            }
        }
        if !success || is_remediation(rec) {
            return;
        }
        // A slow run is a success, but not recovery from slowness.
        let slow = rec
            .duration_ms
            .is_some_and(|d| self.track_duration(obj, d, ts));
        let was_failing = {
            let s = self.obj_mut(obj, ts);
            s.last_success = Some(ts);
            s.stalled = false;
            s.waiting_at = None;
            s.failing_since.take().is_some()
        };
        self.waiting.remove(obj);
        if was_failing {
            self.failing.remove(obj);
        }
        if class == Class::ReconcileSucceeded {
            self.confirm_applies_of(obj);
        }
        self.resolve_recovered_host(obj, ts);
        self.findings.resolve_where(obj, ts, |p| {
            if p == PatternId::SlowReconciliation {
                return !slow;
            }
            objects::OBJECT_PATTERNS.contains(&p)
                || matches!(
                    p,
                    PatternId::StalledReconciliation
                        | PatternId::GitAuthFailure
                        | PatternId::DependencyBlocked
                )
        });
    }

    /// A controller's own lines without an object (start-up, leader election, klog).
    fn on_controller_line(&mut self, rec: &Record, ts: TsMs) {
        let Some(c) = rec.controller.clone() else {
            return;
        };
        let msg = rec.message();
        let lower = msg.to_ascii_lowercase();
        if rec.class == Class::Lifecycle && lower.starts_with("starting manager") {
            self.note_start(&c, ts);
        } else if rec.class == Class::OomKilled {
            self.note_restart(&c, ts, true, &msg);
        } else if rec.class == Class::ControllerRestarted {
            self.note_restart(&c, ts, false, &msg);
        }
    }
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
