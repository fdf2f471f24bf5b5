//! The sans-IO side of `fluxsight central`: one [`PartitionWorker`] per assigned
//! partition of the consumed topic, and the [`Assignment`] of this member (the workers
//! by partition, told about ownership by the consumer's rebalance callback).
//!
//! Stage 1 ([`Role::Cluster`]): a worker holds one [`Correlator`] per cluster of its
//! signals partition, each with the pipeline file's settings and that cluster's name,
//! fed exactly as `tests/signals.rs` feeds one (records to `on_record`, heartbeats to
//! `on_time`), so its findings carry the ids and the bytes the cluster's own sidecar or
//! a `replay` of its capture would give. With partials on, each cluster also has its
//! [`ClusterPartials`] and the partition its [`Ticks`]: the partials of a live record
//! wait in the worker ([`PartitionWorker::take_partials`]) for the caller to publish.
//!
//! Stage 2 ([`Role::Fleet`]): a worker holds one [`FleetCorrelator`] fed the partials
//! of its partition of the partials topic. Same boundary, offsets and poison handling.
//!
//! Invariants:
//! - **Rehydrating emits nothing.** Outputs of records before the boundary (the
//!   committed offset) rebuild state only: they were emitted by the member that owned
//!   the partition before. From the boundary on, every output is returned.
//! - **Offsets only move forward and only past the boundary.** The next offset to
//!   commit is one past the last live record whose outputs are safe ([`PartitionWorker::mark_safe`]);
//!   a record before the boundary never moves it (that would commit backwards).
//! - **No clock.** Wall time (rebuild duration, idle seconds) is the caller's.

use std::collections::BTreeMap;

use crate::correlate::{Correlator, Output, Settings};
use crate::fleet::{ClusterPartials, DeriveSettings, FleetCorrelator, Partial, Ticks};
use crate::signal::{Signal, SignalKind};
use crate::sources::signals::{PartitionOwner, StartPlan};

/// Label a finding carries while its partition's rebuild could not see the whole
/// lookback (retention shorter than it): `state_complete: "false"`. Absent otherwise,
/// so a complete rebuild gives the sidecar's own bytes.
pub const LABEL_STATE_COMPLETE: &str = "state_complete";

/// What one record of the signals topic gave.
#[derive(Debug)]
pub enum Step {
    /// Outputs to deliver (possibly none); its offset may be stored once they are safe.
    Live(Vec<Output>),
    /// A record before the boundary (state rebuilt, outputs dropped), or one already
    /// processed: nothing to deliver and no offset to store.
    Rehydrated,
    /// A live record that is not a signal: to the dead-letter topic with this reason,
    /// then its offset is stored like any other.
    Poison(String),
}

/// Counters of one worker.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerCounts {
    pub records: u64,
    pub heartbeats: u64,
    /// Outputs of rehydrated records, not emitted.
    pub suppressed: u64,
    pub poison: u64,
}

/// What the workers of a member do.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// Stage 1: signals → per-cluster findings; partials too when `partials` is set
    /// (`src` of ticks: `<signals topic>/<partition>`, from `topic`).
    Cluster {
        topic: String,
        partials: Option<DeriveSettings>,
        /// The signals topic's partition count (ticks announce it), when known.
        sources: Option<u32>,
    },
    /// Stage 2: partials → fleet findings; `idle_ms` the tick sources' idleness.
    Fleet { idle_ms: i64 },
}

impl Default for Role {
    fn default() -> Self {
        Role::Cluster {
            topic: String::new(),
            partials: None,
            sources: None,
        }
    }
}

/// One assigned partition.
pub struct PartitionWorker {
    plan: StartPlan,
    settings: Settings,
    clusters: BTreeMap<String, Correlator>,
    /// Stage 1 with partials: each cluster's derivation, and the partition's ticks.
    derived: BTreeMap<String, ClusterPartials>,
    derive: Option<DeriveSettings>,
    ticks: Option<Ticks>,
    /// Partials of live records not yet taken by the caller.
    pending: Vec<Partial>,
    /// Stage 2.
    fleet: Option<FleetCorrelator>,
    /// The caller's wall time of the record being read (stage 2's tick idleness).
    wall: Option<i64>,
    /// One past the last record processed.
    next: i64,
    /// One past the last live record whose outputs are safe (`plan.boundary` before any).
    safe: i64,
    /// A delivery failed: no offset is stored any more (the records from there on are
    /// read again by the next owner).
    withheld: bool,
    /// The newest event time seen (record or heartbeat), ms.
    pub newest_event_ms: Option<i64>,
    pub counts: WorkerCounts,
    /// Which assignment of this partition this is (1, 2, … per member).
    pub generation: u64,
}

impl PartitionWorker {
    pub fn new(plan: StartPlan, settings: Settings) -> Self {
        PartitionWorker {
            plan,
            settings,
            clusters: BTreeMap::new(),
            derived: BTreeMap::new(),
            derive: None,
            ticks: None,
            pending: Vec::new(),
            fleet: None,
            wall: None,
            next: plan.start,
            safe: plan.boundary,
            withheld: false,
            newest_event_ms: None,
            counts: WorkerCounts::default(),
            generation: 0,
        }
    }

    /// A worker of `role` for `partition`.
    pub fn with_role(plan: StartPlan, settings: Settings, role: &Role, partition: i32) -> Self {
        let mut w = PartitionWorker::new(plan, settings);
        match role {
            Role::Cluster {
                topic,
                partials,
                sources,
            } => {
                w.derive = *partials;
                w.ticks =
                    partials.map(|d| Ticks::new(&format!("{topic}/{partition}"), d).of(*sources));
            }
            Role::Fleet { idle_ms } => {
                w.fleet = Some(FleetCorrelator::new(w.settings.clone(), *idle_ms));
            }
        }
        w
    }

    pub fn plan(&self) -> StartPlan {
        self.plan
    }

    /// The partials of the live records processed since the last call, in order
    /// (stage 1 with partials on; empty otherwise). Publish them before storing the
    /// offset of the record that gave them.
    pub fn take_partials(&mut self) -> Vec<Partial> {
        std::mem::take(&mut self.pending)
    }

    /// The wall time (ms) the next records are read at: stage 2's tick sources are
    /// idle after no tick for the idle timeout of it. Unset, idleness is by event time.
    pub fn set_wall(&mut self, wall_ms: i64) {
        self.wall = Some(wall_ms);
    }

    /// The fleet correlator (stage 2).
    pub fn fleet(&self) -> Option<&FleetCorrelator> {
        self.fleet.as_ref()
    }

    /// Still rebuilding: the next record is before the boundary.
    pub fn rehydrating(&self) -> bool {
        self.next < self.plan.boundary
    }

    /// One past the last record processed.
    pub fn next_offset(&self) -> i64 {
        self.next
    }

    /// The clusters seen in this partition.
    pub fn clusters(&self) -> impl Iterator<Item = &str> {
        self.clusters.keys().map(String::as_str)
    }

    /// The record at `offset` (its value `payload`).
    pub fn on_message(&mut self, offset: i64, payload: Option<&[u8]>) -> Step {
        if offset < self.next {
            // Read again (a seek back): processed already.
            return Step::Rehydrated;
        }
        self.next = offset + 1;
        let live = offset >= self.plan.boundary;
        let decoded = match (&mut self.fleet, payload) {
            (_, None) => Err("record without a value".to_string()),
            (Some(f), Some(b)) => match Partial::decode(b) {
                Ok(p) => {
                    self.counts.records += 1;
                    match self.wall {
                        Some(w) => f.on_partial_at(&p, w),
                        None => f.on_partial(&p),
                    }
                    Ok(f.drain())
                }
                Err(e) => Err(e.to_string()),
            },
            (None, Some(b)) => Signal::decode(b).map_err(|e| e.to_string()).map(|s| {
                let (outputs, partials) = self.feed(&s);
                if live {
                    self.pending.extend(partials);
                }
                outputs
            }),
        };
        let mut outputs = match decoded {
            Ok(o) => o,
            Err(e) if live => {
                self.counts.poison += 1;
                return Step::Poison(e);
            }
            // Before the boundary the previous owner dead-lettered it already.
            Err(_) => return Step::Rehydrated,
        };
        if !live {
            self.counts.suppressed += outputs.len() as u64;
            return Step::Rehydrated;
        }
        if !self.plan.state_complete {
            for o in &mut outputs {
                if let Output::Finding(f) = o {
                    f.labels
                        .insert(LABEL_STATE_COMPLETE.to_string(), "false".to_string());
                }
            }
        }
        Step::Live(outputs)
    }

    /// Records to `on_record`, heartbeats to `on_time`, of the signal's cluster's
    /// correlator (as `tests/signals.rs` checks against the replay); with partials on,
    /// the cluster's partials and the partition's tick after it.
    fn feed(&mut self, s: &Signal) -> (Vec<Output>, Vec<Partial>) {
        let c = self.clusters.entry(s.cluster.clone()).or_insert_with(|| {
            let mut settings = self.settings.clone();
            settings.cluster = s.cluster.clone();
            Correlator::new(settings)
        });
        self.newest_event_ms = Some(self.newest_event_ms.map_or(s.t, |n| n.max(s.t)));
        let mut rec = None;
        match s.kind {
            SignalKind::Record => {
                self.counts.records += 1;
                if let Some(r) = s.record() {
                    if r.ts.is_none() && c.now().is_none() {
                        c.on_time(s.t);
                    }
                    c.on_record(&r);
                    rec = Some(r);
                }
            }
            SignalKind::Heartbeat => {
                self.counts.heartbeats += 1;
                c.on_time(s.t);
            }
        }
        let outputs = c.drain();
        let Some(d) = self.derive else {
            return (outputs, Vec::new());
        };
        let now = c.now().unwrap_or(s.t);
        let derived = self
            .derived
            .entry(s.cluster.clone())
            .or_insert_with(|| ClusterPartials::new(&s.cluster, d));
        let mut partials = derived.after(rec.as_ref(), c, &outputs, now);
        if let Some(t) = &mut self.ticks {
            partials.extend(t.after(self.clusters.values().filter_map(Correlator::now)));
        }
        (outputs, partials)
    }

    /// The outputs of the record at `offset` are safe (spooled, or dead-lettered):
    /// the offset to store, `None` when none may be (before the boundary, or withheld).
    pub fn mark_safe(&mut self, offset: i64) -> Option<i64> {
        if self.withheld || offset < self.plan.boundary {
            return None;
        }
        self.safe = self.safe.max(offset + 1);
        Some(self.safe)
    }

    /// The outputs of the record at `offset` could not be made safe: no offset is
    /// stored from here on.
    pub fn withhold(&mut self) {
        self.withheld = true;
    }

    /// The offset to commit when the partition is revoked (`None`: nothing new).
    pub fn committable(&self) -> Option<i64> {
        (self.safe > self.plan.boundary).then_some(self.safe)
    }
}

/// What happened to ownership, for logs, metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OwnershipCounts {
    pub assigned: u64,
    pub revoked: u64,
    pub lost: u64,
}

/// The partitions this member owns, each with its worker.
pub struct Assignment {
    settings: Settings,
    role: Role,
    workers: BTreeMap<i32, PartitionWorker>,
    generation: u64,
    pub counts: OwnershipCounts,
    /// Outputs suppressed by workers dropped since (kept for the metrics).
    pub suppressed_before: u64,
}

impl Assignment {
    /// Workers get `settings` (their cluster name replaced by each signal's).
    pub fn new(settings: Settings) -> Self {
        Assignment::with_role(settings, Role::default())
    }

    /// Workers of `role` (stage 1 with or without partials, or stage 2).
    pub fn with_role(settings: Settings, role: Role) -> Self {
        Assignment {
            settings,
            role,
            workers: BTreeMap::new(),
            generation: 0,
            counts: OwnershipCounts::default(),
            suppressed_before: 0,
        }
    }

    pub fn worker(&mut self, partition: i32) -> Option<&mut PartitionWorker> {
        self.workers.get_mut(&partition)
    }

    pub fn workers(&self) -> impl Iterator<Item = (i32, &PartitionWorker)> {
        self.workers.iter().map(|(p, w)| (*p, w))
    }

    pub fn owned(&self) -> Vec<i32> {
        self.workers.keys().copied().collect()
    }

    /// Every partition dropped at once (a zombie found out): as if lost.
    pub fn drop_all(&mut self) {
        for p in self.owned() {
            self.lost(p);
        }
    }

    fn remove(&mut self, partition: i32) -> Option<PartitionWorker> {
        let w = self.workers.remove(&partition)?;
        self.suppressed_before += w.counts.suppressed;
        Some(w)
    }
}

impl PartitionOwner for Assignment {
    fn assigned(&mut self, partition: i32, plan: StartPlan) {
        self.generation += 1;
        self.counts.assigned += 1;
        let mut w = PartitionWorker::with_role(plan, self.settings.clone(), &self.role, partition);
        w.generation = self.generation;
        self.workers.insert(partition, w);
    }

    fn revoked(&mut self, partition: i32) -> Option<i64> {
        self.counts.revoked += 1;
        self.remove(partition)?.committable()
    }

    fn lost(&mut self, partition: i32) {
        self.counts.lost += 1;
        self.remove(partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Class, ObjectRef, Record};
    use crate::signal::{SignalProducer, DEFAULT_HEARTBEAT_MS};
    use crate::sources::signals::plan_start;

    /// One cluster's signals: a Git source failing authentication every minute (fires
    /// `git_auth_failure` after a few attempts), with heartbeats between.
    fn signals(cluster: &str, attempts: i64) -> Vec<Vec<u8>> {
        let mut p = SignalProducer::new(cluster, DEFAULT_HEARTBEAT_MS);
        let mut out = Vec::new();
        let t0 = 1_767_000_000_000;
        for i in 0..attempts {
            let t = t0 + i * 60_000;
            let rec = Record {
                ts: Some(t),
                controller: Some("source-controller".into()),
                object: Some(ObjectRef::new("GitRepository", "flux-system", "apps")),
                msg: "failed to checkout and determine revision: unable to clone 'https://github.com/acme/apps': authentication required".into(),
                class: Class::GitAuthFailed,
                severity: Class::GitAuthFailed.default_severity(),
                ..Record::default()
            };
            out.push(p.record(&rec, Some(t)).encode());
            if let Some(h) = p.heartbeat(t + 30_000) {
                out.push(h.encode());
            }
        }
        out
    }

    fn run(w: &mut PartitionWorker, msgs: &[Vec<u8>], from: usize) -> Vec<Output> {
        let mut out = Vec::new();
        for (i, m) in msgs.iter().enumerate().skip(from) {
            if let Step::Live(o) = w.on_message(i as i64, Some(m)) {
                out.extend(o);
                w.mark_safe(i as i64);
            }
        }
        out
    }

    fn ids(o: &[Output]) -> Vec<(String, u64, String)> {
        o.iter()
            .filter_map(|o| match o {
                Output::Finding(f) => Some((f.id.clone(), f.emission, f.cluster.clone())),
                Output::Audit(_) => None,
            })
            .collect()
    }

    fn worker(committed: Option<i64>, n: usize) -> PartitionWorker {
        PartitionWorker::new(
            plan_start(committed, Some(0), 0, n as i64),
            Settings::default(),
        )
    }

    #[test]
    fn rehydrating_emits_nothing_and_the_live_rest_equals_the_oracle() {
        let msgs = signals("c1", 12);
        let n = msgs.len();
        // The oracle: one owner from the start, everything live.
        let mut one = worker(Some(0), n);
        let oracle = run(&mut one, &msgs, 0);
        assert!(!oracle.is_empty(), "the signals fire a finding");
        assert!(ids(&oracle).iter().all(|(_, _, c)| c == "c1"));
        for cut in 0..=n {
            // A new owner: committed = cut, rebuilt from 0.
            let mut w = worker(Some(cut as i64), n);
            let mut before = Vec::new();
            for (i, m) in msgs.iter().enumerate().take(cut) {
                assert!(w.rehydrating());
                match w.on_message(i as i64, Some(m)) {
                    Step::Rehydrated => {}
                    other => panic!("offset {i} before the boundary {cut} gave {other:?}"),
                }
                assert_eq!(
                    w.mark_safe(i as i64),
                    None,
                    "no offset stored before the boundary"
                );
                before.push(i);
            }
            let after = run(&mut w, &msgs, cut);
            // What the first owner emitted for offsets >= cut is exactly what the new
            // owner emits: ids and emissions equal (deterministic ids and revisions).
            let mut first = worker(Some(0), n);
            let mut tail = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                if let Step::Live(o) = first.on_message(i as i64, Some(m)) {
                    if i >= cut {
                        tail.extend(o);
                    }
                }
            }
            assert_eq!(ids(&after), ids(&tail), "cut at {cut}");
        }
    }

    #[test]
    fn a_revoked_partition_commits_where_it_stopped_and_a_lost_one_commits_nothing() {
        let msgs = signals("c1", 6);
        let mut a = Assignment::new(Settings::default());
        a.assigned(0, plan_start(Some(2), Some(0), 0, 100));
        a.assigned(1, plan_start(Some(0), Some(0), 0, 100));
        for (i, m) in msgs.iter().enumerate().take(5) {
            for p in [0, 1] {
                let w = a.worker(p).unwrap();
                if let Step::Live(_) = w.on_message(i as i64, Some(m)) {
                    w.mark_safe(i as i64);
                }
            }
        }
        assert_eq!(a.revoked(0), Some(5), "one past the last safe record");
        assert!(a.worker(0).is_none(), "state dropped");
        a.lost(1);
        assert!(a.worker(1).is_none(), "state dropped");
        assert_eq!(
            a.counts,
            OwnershipCounts {
                assigned: 2,
                revoked: 1,
                lost: 1
            }
        );
        // Revoked before any live record: nothing to commit (the boundary stands).
        a.assigned(2, plan_start(Some(50), Some(0), 0, 100));
        a.worker(2).unwrap().on_message(0, Some(&msgs[0]));
        assert_eq!(a.revoked(2), None);
    }

    #[test]
    fn a_withheld_delivery_stops_the_offsets_where_it_failed() {
        let msgs = signals("c1", 3);
        let mut w = worker(Some(0), msgs.len());
        w.on_message(0, Some(&msgs[0]));
        assert_eq!(w.mark_safe(0), Some(1));
        w.on_message(1, Some(&msgs[1]));
        w.withhold();
        assert_eq!(w.mark_safe(1), None);
        w.on_message(2, Some(&msgs[2]));
        assert_eq!(w.mark_safe(2), None);
        assert_eq!(w.committable(), Some(1));
    }

    #[test]
    fn a_poison_record_is_dead_lettered_when_live_and_skipped_when_rehydrating() {
        let msgs = signals("c1", 2);
        let mut w = worker(Some(1), 10);
        // Offset 0 is before the boundary: the previous owner dead-lettered it.
        assert!(matches!(
            w.on_message(0, Some(b"not json")),
            Step::Rehydrated
        ));
        match w.on_message(1, Some(b"{\"schema\":\"other/v9\"}")) {
            Step::Poison(reason) => assert!(!reason.is_empty(), "a reason"),
            other => panic!("{other:?}"),
        }
        assert_eq!(w.mark_safe(1), Some(2), "the offset advances past it");
        assert!(matches!(w.on_message(2, None), Step::Poison(_)));
        assert!(matches!(w.on_message(3, Some(&msgs[0])), Step::Live(_)));
        assert_eq!(w.counts.poison, 2);
    }

    #[test]
    fn findings_of_an_incomplete_rebuild_say_so_in_their_labels() {
        let msgs = signals("c1", 12);
        let mut plan = plan_start(Some(0), Some(0), 0, 100);
        plan.state_complete = false;
        let mut w = PartitionWorker::new(plan, Settings::default());
        let out = run(&mut w, &msgs, 0);
        let findings: Vec<_> = out
            .iter()
            .filter_map(|o| match o {
                Output::Finding(f) => Some(f),
                Output::Audit(_) => None,
            })
            .collect();
        assert!(!findings.is_empty());
        assert!(findings
            .iter()
            .all(|f| f.labels.get(LABEL_STATE_COMPLETE).map(String::as_str) == Some("false")));
    }

    #[test]
    fn each_cluster_of_a_partition_has_its_own_correlator_and_name() {
        let a = signals("a", 12);
        let b = signals("b", 12);
        let mixed: Vec<Vec<u8>> = a
            .iter()
            .zip(&b)
            .flat_map(|(x, y)| [x.clone(), y.clone()])
            .collect();
        let mut w = worker(Some(0), mixed.len());
        let out = run(&mut w, &mixed, 0);
        let got = ids(&out);
        let of = |c: &str| {
            got.iter()
                .filter(|(_, _, k)| k == c)
                .map(|(i, e, _)| (i.clone(), *e))
                .collect::<Vec<_>>()
        };
        assert!(!of("a").is_empty());
        // The same subject in two clusters: the same id (ids are per cluster's
        // sidecar), told apart by the cluster.
        assert_eq!(of("a"), of("b"));
        assert_eq!(w.clusters().collect::<Vec<_>>(), ["a", "b"]);
    }

    /// A cluster whose GitRepository on github.com/acme is rate-limited every minute.
    fn rate_limited(cluster: &str, minutes: i64) -> Vec<Vec<u8>> {
        use crate::record::{Detail, ObjectInfo};
        let mut p = SignalProducer::new(cluster, DEFAULT_HEARTBEAT_MS);
        let t0 = 1_767_000_000_000;
        let repo = ObjectRef::new("GitRepository", "flux-system", "apps");
        let snap = Record {
            ts: Some(t0),
            object: Some(repo.clone()),
            class: Class::ObjectState,
            format: crate::record::Format::K8sObject,
            detail: Detail::Object(Box::new(ObjectInfo {
                url: Some("https://github.com/acme/apps".into()),
                ..ObjectInfo::default()
            })),
            ..Record::default()
        };
        let mut out = vec![p.record(&snap, Some(t0)).encode()];
        for i in 1..=minutes {
            let t = t0 + i * 60_000;
            let rec = Record {
                ts: Some(t),
                controller: Some("source-controller".into()),
                object: Some(repo.clone()),
                msg: "Reconciler error".into(),
                error: Some("failed to checkout and determine revision: unable to clone 'https://github.com/acme/apps': unexpected client error: unexpected requesting \"https://github.com/acme/apps/info/refs?service=git-upload-pack\" status code: 429".into()),
                class: Class::RateLimited,
                severity: Class::RateLimited.default_severity(),
                ..Record::default()
            };
            out.push(p.record(&rec, Some(t)).encode());
            if let Some(h) = p.heartbeat(t + 30_000) {
                out.push(h.encode());
            }
        }
        out
    }

    fn stage1(committed: i64, n: usize) -> PartitionWorker {
        PartitionWorker::with_role(
            plan_start(Some(committed), Some(0), 0, n as i64),
            Settings::default(),
            &Role::Cluster {
                topic: "signals".into(),
                partials: Some(DeriveSettings::default()),
                sources: None,
            },
            4,
        )
    }

    /// The partials of live records from `from` on (offset, partial).
    fn partials_of(w: &mut PartitionWorker, msgs: &[Vec<u8>]) -> Vec<(usize, Partial)> {
        let mut out = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let step = w.on_message(i as i64, Some(m));
            let ps = w.take_partials();
            if !matches!(step, Step::Live(_)) {
                assert!(ps.is_empty(), "offset {i}: partials of a rehydrated record");
            }
            out.extend(ps.into_iter().map(|p| (i, p)));
        }
        out
    }

    #[test]
    fn stage_one_derives_partials_and_a_new_owner_derives_the_same_from_its_boundary() {
        use crate::fleet::{KeyStatus, PartialKind};
        let msgs = rate_limited("c7", 12);
        let n = msgs.len();
        let oracle = partials_of(&mut stage1(0, n), &msgs);
        let failing: Vec<&Partial> = oracle
            .iter()
            .map(|(_, p)| p)
            .filter(|p| p.status == Some(KeyStatus::Failing))
            .collect();
        assert!(
            failing
                .iter()
                .any(|p| p.key == "ratelimit:github.com/acme" && p.cluster == "c7"),
            "{failing:?}"
        );
        assert!(oracle
            .iter()
            .any(|(_, p)| p.kind == PartialKind::Inventory && p.key == "git:github.com/acme/apps"));
        let ticks: Vec<&Partial> = oracle
            .iter()
            .map(|(_, p)| p)
            .filter(|p| p.kind == PartialKind::Tick)
            .collect();
        assert!(
            ticks.len() >= 12,
            "a tick per 30 s of event time: {}",
            ticks.len()
        );
        assert!(ticks.iter().all(|t| t.src.as_deref() == Some("signals/4")));
        for cut in 0..=n {
            let got = partials_of(&mut stage1(cut as i64, n), &msgs);
            let want: Vec<(usize, Partial)> =
                oracle.iter().filter(|(i, _)| *i >= cut).cloned().collect();
            assert_eq!(got, want, "cut at {cut}");
        }
        // Without partials on, none.
        let mut w = worker(Some(0), n);
        assert!(partials_of(&mut w, &msgs).is_empty());
    }

    fn stage2(committed: i64, n: usize) -> PartitionWorker {
        PartitionWorker::with_role(
            plan_start(Some(committed), Some(0), 0, n as i64),
            Settings::default(),
            &Role::Fleet { idle_ms: 120_000 },
            0,
        )
    }

    #[test]
    fn stage_two_rebuilds_before_its_boundary_and_emits_what_the_first_owner_emitted_after() {
        // The partials of 5 rate-limited clusters, interleaved.
        let mut per: Vec<Vec<Partial>> = Vec::new();
        for c in 0..5 {
            let msgs = rate_limited(&format!("c{c}"), 12);
            per.push(
                partials_of(&mut stage1(0, msgs.len()), &msgs)
                    .into_iter()
                    .map(|(_, p)| p)
                    .collect(),
            );
        }
        let longest = per.iter().map(Vec::len).max().unwrap();
        let mut stream: Vec<Vec<u8>> = Vec::new();
        for i in 0..longest {
            for p in &per {
                if let Some(x) = p.get(i) {
                    stream.push(x.encode());
                }
            }
        }
        let n = stream.len();
        let oracle = run(&mut stage2(0, n), &stream, 0);
        let fired = ids(&oracle);
        assert!(!fired.is_empty(), "5 clusters rate-limited on one org fire");
        let distinct: std::collections::BTreeSet<&String> =
            fired.iter().map(|(id, _, _)| id).collect();
        // ratelimit:github.com/acme only: the host-wide key names that one org.
        assert_eq!(distinct.len(), 1, "{fired:?}");
        for cut in (0..=n).step_by(7) {
            let mut w = stage2(cut as i64, n);
            let got = run(&mut w, &stream, 0);
            let mut first = stage2(0, n);
            let mut tail = Vec::new();
            for (i, m) in stream.iter().enumerate() {
                if let Step::Live(o) = first.on_message(i as i64, Some(m)) {
                    if i >= cut {
                        tail.extend(o);
                    }
                }
            }
            assert_eq!(ids(&got), ids(&tail), "cut at {cut}");
        }
        // A record that is not a partial is poison when live.
        let mut w = stage2(0, 3);
        assert!(matches!(w.on_message(0, Some(b"{}")), Step::Poison(_)));
        assert!(matches!(
            w.on_message(1, Some(&rate_limited("x", 1)[0])),
            Step::Poison(_)
        ));
    }
}
