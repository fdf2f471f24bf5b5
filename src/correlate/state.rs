//! Keyed, windowed state: per object, per controller, per provider host.
//!
//! Invariant: every map has a hard cap and every per-key deque a length cap, so memory
//! stays bounded whatever the input; evictions are counted in [`Caps`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasher;

use rustc_hash::FxHashMap;

use crate::record::{Class, ObjectRef, TsMs};

/// Hard limits on state size.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub objects: usize,
    pub controllers: usize,
    pub hosts: usize,
    pub tenants_per_controller: usize,
    /// Per-key event history length.
    pub history: usize,
    /// Samples per metric series.
    pub samples: usize,
    /// Findings kept (firing and recently resolved); resolved ones go first.
    pub findings: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            objects: 100_000,
            controllers: 64,
            hosts: 4_096,
            tenants_per_controller: 10_000,
            history: 64,
            samples: 1_024,
            findings: 50_000,
        }
    }
}

/// Eviction counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evictions {
    pub objects: u64,
    pub hosts: u64,
    pub tenants: u64,
    pub controllers: u64,
    /// Source → consumers entries (sources, or consumer edges of forgotten objects).
    pub consumers: u64,
    /// Root-cause claims on symptom objects.
    pub claims: u64,
    /// Per-controller per-object work entries (the lightest go first).
    pub object_runs: u64,
    /// Findings dropped from the table (resolved first, then the least recently seen).
    pub findings: u64,
    /// Audit de-duplication entries.
    pub audit: u64,
    /// Workload documents and Events (the least recently seen first), and lookups
    /// dropped from a queue never drained.
    pub workloads: u64,
}

/// Entry counts of every keyed structure of the correlator (see
/// `Correlator::state_counts`); each stays at or under its cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Workload, Pod and PVC documents and objects with kept Events.
    pub workload_keys: usize,
    /// Kept cause-bearing Events over every ring.
    pub workload_events: usize,
    /// Pending workload failures and remembered inventories.
    pub workload_pending: usize,
    /// Workloads rate-limited plus lookups queued.
    pub lookups: usize,
    pub objects: usize,
    pub controllers: usize,
    pub hosts: usize,
    pub findings: usize,
    /// Sources with a consumer set.
    pub consumer_sources: usize,
    /// Consumer edges over all sources.
    pub consumer_edges: usize,
    pub claims: usize,
    pub failing: usize,
    pub waiting: usize,
    pub recent_failures: usize,
    pub audit: usize,
    /// Largest per-controller `object_runs` map.
    pub object_runs_max: usize,
    /// Largest tenant map of one work bucket.
    pub tenants_max: usize,
}

impl StateCounts {
    /// Each count with its name (the `map` label of `fluxsight_state_entries`).
    pub fn named(&self) -> [(&'static str, u64); 13] {
        [
            ("objects", self.objects as u64),
            ("controllers", self.controllers as u64),
            ("hosts", self.hosts as u64),
            ("findings", self.findings as u64),
            ("consumer_sources", self.consumer_sources as u64),
            ("consumer_edges", self.consumer_edges as u64),
            ("claims", self.claims as u64),
            ("failing", self.failing as u64),
            ("waiting", self.waiting as u64),
            ("recent_failures", self.recent_failures as u64),
            ("audit", self.audit as u64),
            ("object_runs_max", self.object_runs_max as u64),
            ("tenants_max", self.tenants_max as u64),
        ]
    }
}

impl Evictions {
    /// Each count with its name (the `map` label of `fluxsight_state_evictions_total`).
    pub fn named(&self) -> [(&'static str, u64); 9] {
        [
            ("objects", self.objects),
            ("hosts", self.hosts),
            ("tenants", self.tenants),
            ("controllers", self.controllers),
            ("consumers", self.consumers),
            ("claims", self.claims),
            ("object_runs", self.object_runs),
            ("findings", self.findings),
            ("audit", self.audit),
        ]
    }
}

/// A failure attempt of an object.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub ts: TsMs,
    pub class: Class,
    pub message: String,
    pub controller: Option<String>,
    /// Occurrences this attempt stands for: 1, or a pasted Events row's `(xN over …)`
    /// count (a snapshot shows how often it happened, not when).
    pub occurrences: u64,
}

/// One apply that changed cluster objects.
#[derive(Debug, Clone)]
pub struct Apply {
    pub ts: TsMs,
    pub revision: Option<String>,
    /// True when the revision was already applied before (no new commit).
    pub same_revision: bool,
    pub changed: Vec<String>,
    /// A retry: made while the object was failing, or its run failed afterwards
    /// (health check, apply error). Retries re-apply the same objects; they are not
    /// drift.
    pub retry: bool,
    /// The run's outcome is known (a success, a failure, or no failure within
    /// `reconcile_loop.confirm_after`); only confirmed applies count as drift.
    pub confirmed: bool,
}

/// What we know about one Flux object.
#[derive(Debug, Clone, Default)]
pub struct ObjState {
    /// The controller that reconciles the object's kind, looked up once.
    pub controller: Option<&'static str>,
    pub last_seen: TsMs,
    pub interval_ms: Option<u64>,
    pub depends_on: Vec<ObjectRef>,
    pub source_ref: Option<ObjectRef>,
    /// Set with [`ObjState::set_url`], which keeps `url_host` in step.
    pub url: Option<String>,
    /// The provider host `url` names (`host_of`), looked up once when the URL is set
    /// instead of once per object on every rate-limit check.
    pub url_host: Option<String>,
    pub service_account: Option<String>,
    pub artifact_size: Option<u64>,
    pub chart: Option<String>,
    pub suspended: bool,
    pub stalled: bool,
    pub last_success: Option<TsMs>,
    /// First failure since the last success.
    pub failing_since: Option<TsMs>,
    pub attempts: VecDeque<Attempt>,
    /// Last time a dependency_not_ready record was seen.
    pub waiting_at: Option<TsMs>,
    /// When a consumer last reported this object (a source) as not found; cleared by
    /// any record about the object itself.
    pub missing_at: Option<TsMs>,
    pub last_revision: Option<String>,
    pub applied_revisions: VecDeque<String>,
    pub applies: VecDeque<Apply>,
    pub durations: VecDeque<u64>,
    pub slow: VecDeque<(TsMs, u64)>,
    /// Reconcile runs observed (successes and failures), for tenant shares.
    pub runs: VecDeque<TsMs>,
}

impl ObjState {
    /// Sets the source URL and the host it names. Called through [`Shared::set_url`]
    /// (`super::shared::Shared`), which keeps the host index in step.
    pub(super) fn set_url(&mut self, url: &str) {
        if self.url.as_deref() != Some(url) {
            self.url_host = super::sources::host_of(url);
            self.url = Some(url.to_string());
        }
    }

    /// The last failure attempt, if the object is failing now.
    pub fn current_failure(&self) -> Option<&Attempt> {
        self.failing_since?;
        self.attempts.back()
    }

    /// Distinct attempts of `classes` within `window` before `now`, deduped so the
    /// log line, the `Reconciler error` line and the Event of one attempt count once.
    pub fn attempts_in(&self, now: TsMs, window: i64, pred: impl Fn(Class) -> bool) -> u64 {
        // Records within ATTEMPT_DEDUPE_MS of each other are one attempt (a log line and
        // its Event); the group counts the most occurrences any of them stands for.
        let mut n = 0;
        let mut last: Option<TsMs> = None;
        let mut group = 0;
        for a in self
            .attempts
            .iter()
            .filter(|a| now - a.ts <= window && pred(a.class))
        {
            if last.is_none_or(|l| a.ts - l > ATTEMPT_DEDUPE_MS) {
                n += group;
                group = 0;
                last = Some(a.ts);
            }
            group = group.max(a.occurrences.max(1));
        }
        n + group
    }

    pub fn median_duration(&self) -> Option<u64> {
        if self.durations.is_empty() {
            return None;
        }
        let mut v: Vec<u64> = self.durations.iter().copied().collect();
        v.sort_unstable();
        Some(v[v.len() / 2])
    }
}

/// Records of one attempt closer than this are one attempt.
pub const ATTEMPT_DEDUPE_MS: i64 = 2_000;

/// Work a tenant caused a controller in one bucket.
#[derive(Debug, Clone, Copy, Default)]
pub struct Work {
    pub runs: f64,
    pub duration_ms: f64,
    pub errors: f64,
    pub bytes: f64,
}

impl Work {
    pub fn add(&mut self, o: &Work) {
        self.runs += o.runs;
        self.duration_ms += o.duration_ms;
        self.errors += o.errors;
        self.bytes += o.bytes;
    }
}

/// Length of one tenant-work bucket.
pub const BUCKET_MS: i64 = 300_000;

/// What we know about one controller.
#[derive(Debug, Clone, Default)]
pub struct CtrlState {
    pub namespace: String,
    pub ooms: VecDeque<TsMs>,
    pub restarts: VecDeque<(TsMs, String)>,
    pub restart_count: u64,
    pub memory: VecDeque<(TsMs, f64)>,
    pub queue: VecDeque<(TsMs, f64)>,
    pub rate_limited_at: Option<TsMs>,
    /// Tenant work in time buckets: (bucket start, tenant → work).
    pub work: VecDeque<(TsMs, FxHashMap<String, Work>)>,
    /// Per object work (for "heaviest objects").
    pub object_runs: FxHashMap<ObjectRef, Work>,
}

impl CtrlState {
    /// Adds `w` to `o`'s work, evicting the lightest tenth of the map when it is full:
    /// the heaviest objects are the ones a guilty-tenant finding names.
    pub fn add_object_work(&mut self, o: &ObjectRef, w: &Work, cap: usize, ev: &mut Evictions) {
        if let Some(x) = self.object_runs.get_mut(o) {
            x.add(w);
            return;
        }
        if self.object_runs.len() >= cap.max(1) {
            let drop_n = (cap / 10).max(1).min(self.object_runs.len());
            let mut by_weight: Vec<(f64, &ObjectRef)> =
                self.object_runs.iter().map(|(k, v)| (v.runs, k)).collect();
            by_weight.select_nth_unstable_by(drop_n - 1, |a, b| {
                a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1))
            });
            let victims: Vec<ObjectRef> = by_weight[..drop_n]
                .iter()
                .map(|(_, k)| (*k).clone())
                .collect();
            for k in victims {
                self.object_runs.remove(&k);
            }
            ev.object_runs += drop_n as u64;
        }
        self.object_runs.insert(o.clone(), *w);
    }

    pub fn add_work(&mut self, ts: TsMs, tenant: &str, w: Work, caps: &Caps, ev: &mut Evictions) {
        let b = ts - ts.rem_euclid(BUCKET_MS);
        if self.work.back().is_none_or(|(s, _)| *s < b) {
            self.work.push_back((b, FxHashMap::default()));
            while self.work.len() > 48 {
                self.work.pop_front();
            }
        }
        // Out-of-order records land in the newest bucket: bounded lateness makes the
        // error at most one bucket.
        if let Some((_, m)) = self.work.back_mut() {
            if m.len() >= caps.tenants_per_controller && !m.contains_key(tenant) {
                ev.tenants += 1;
                return;
            }
            m.entry(tenant.to_string()).or_default().add(&w);
        }
    }

    /// Tenant work summed over buckets newer than `now - window`.
    pub fn work_since(&self, now: TsMs, window: i64) -> FxHashMap<&str, Work> {
        let mut out: FxHashMap<&str, Work> = FxHashMap::default();
        for (b, m) in &self.work {
            if *b + BUCKET_MS > now - window {
                for (t, w) in m {
                    out.entry(t.as_str()).or_default().add(w);
                }
            }
        }
        out
    }
}

/// Failures seen against one provider host.
#[derive(Debug, Clone, Default)]
pub struct HostState {
    pub last_seen: TsMs,
    pub rate_limited: HostWindow,
    pub network: HostWindow,
    /// (window generation, record time) of the last full update of this host's
    /// rate-limit / network finding (sources, tenants, shares, claims).
    pub rate_full: Option<(u64, TsMs)>,
    pub network_full: Option<(u64, TsMs)>,
}

/// Most failures a host window holds; the oldest go first beyond it.
pub const HOST_WINDOW_CAP: usize = 4096;

/// Failures of many objects against one host inside a sliding window, kept
/// incrementally: a failure costs a few ordered-map steps, however full the window, where
/// a walk over the window per failure made a rate-limit storm cost O(window) per line.
#[derive(Debug, Clone, Default)]
pub struct HostWindow {
    /// (time, object, counted as a distinct attempt) in arrival order.
    entries: VecDeque<(TsMs, ObjectRef, bool)>,
    /// The sources in the window, in order: their entries' times and the time of their
    /// last counted attempt.
    sources: BTreeMap<ObjectRef, SourceTimes>,
    attempts: u64,
    /// Bumped whenever a source joins or leaves the window.
    generation: u64,
}

#[derive(Debug, Clone, Default)]
struct SourceTimes {
    times: VecDeque<TsMs>,
    counted: TsMs,
}

impl HostWindow {
    /// Adds a failure of `obj` at `ts`, then drops entries older than `window` before
    /// `ts` and the oldest beyond [`HOST_WINDOW_CAP`]. Returns whether it begins a new
    /// attempt: the object's previous failure is more than [`ATTEMPT_DEDUPE_MS`] old.
    ///
    /// An entry counts as a distinct attempt when the object's last counted one is
    /// more than [`ATTEMPT_DEDUPE_MS`] older (decided when it arrives).
    pub fn push(&mut self, ts: TsMs, obj: &ObjectRef, window: i64) -> bool {
        let (new_attempt, counted) = match self.sources.get_mut(obj) {
            Some(s) => {
                let new = s.times.back().is_none_or(|t| ts - t > ATTEMPT_DEDUPE_MS);
                let counted = ts - s.counted > ATTEMPT_DEDUPE_MS;
                if counted {
                    s.counted = ts;
                }
                s.times.push_back(ts);
                (new, counted)
            }
            None => {
                self.sources.insert(
                    obj.clone(),
                    SourceTimes {
                        times: VecDeque::from([ts]),
                        counted: ts,
                    },
                );
                self.generation += 1;
                (true, true)
            }
        };
        self.attempts += counted as u64;
        self.entries.push_back((ts, obj.clone(), counted));
        while self.entries.len() > HOST_WINDOW_CAP
            || self
                .entries
                .front()
                .is_some_and(|(t, _, _)| ts - t > window)
        {
            self.pop_front();
        }
        new_attempt
    }

    fn pop_front(&mut self) {
        let Some((_, obj, counted)) = self.entries.pop_front() else {
            return;
        };
        self.attempts -= counted as u64;
        if let Some(s) = self.sources.get_mut(&obj) {
            s.times.pop_front();
            if s.times.is_empty() {
                self.sources.remove(&obj);
                self.generation += 1;
            }
        }
    }

    /// Distinct attempts in the window.
    pub fn attempts(&self) -> u64 {
        self.attempts
    }

    /// Time of the oldest failure in the window.
    pub fn first(&self) -> Option<TsMs> {
        self.entries.front().map(|(t, _, _)| *t)
    }

    /// The objects with a failure in the window, in order.
    pub fn sources(&self) -> impl Iterator<Item = &ObjectRef> {
        self.sources.keys()
    }

    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Time of `obj`'s oldest failure in the window.
    pub fn first_of(&self, obj: &ObjectRef) -> Option<TsMs> {
        self.sources.get(obj).and_then(|s| s.times.front().copied())
    }

    /// Changes whenever the set of sources changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Pushes onto a deque, dropping the oldest beyond `cap`.
pub fn push_capped<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    q.push_back(v);
    while q.len() > cap {
        q.pop_front();
    }
}

/// Evicts the least recently seen tenth of `map` when it exceeds `cap`.
/// Ties are broken by key so eviction is deterministic.
pub fn evict_oldest<K: Clone + Ord + std::hash::Hash, V, S: BuildHasher>(
    map: &mut HashMap<K, V, S>,
    cap: usize,
    last_seen: impl Fn(&V) -> TsMs,
) -> u64 {
    if map.len() <= cap {
        return 0;
    }
    let drop_n = (map.len() - cap).max(cap / 10).max(1).min(map.len());
    // Partition instead of sorting, and clone only the victims: with a million keys
    // streaming through, this runs every `cap / 10` inserts.
    let mut ages: Vec<(TsMs, &K)> = map.iter().map(|(k, v)| (last_seen(v), k)).collect();
    ages.select_nth_unstable(drop_n - 1);
    let victims: Vec<K> = ages[..drop_n].iter().map(|(_, k)| (*k).clone()).collect();
    for k in victims {
        map.remove(&k);
    }
    drop_n as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_pasted_count_is_that_many_attempts_and_a_group_counts_its_largest() {
        let at = |ts: TsMs, occurrences: u64| Attempt {
            ts,
            class: Class::HealthCheckFailed,
            message: String::new(),
            controller: None,
            occurrences,
        };
        let mut s = ObjState::default();
        // The snapshot and the Events row `(x3 over 36m)` of one describe paste.
        s.attempts.extend([at(1_000, 1), at(1_000, 3)]);
        assert_eq!(s.attempts_in(1_000, 60_000, |_| true), 3);
        // A later, separate attempt adds one.
        s.attempts.push_back(at(1_000 + 10 * ATTEMPT_DEDUPE_MS, 1));
        assert_eq!(
            s.attempts_in(1_000 + 10 * ATTEMPT_DEDUPE_MS, 3_600_000, |_| true),
            4
        );
    }

    proptest! {
        /// The incremental window agrees with a recomputation over the whole history:
        /// the entries within `window` of the newest, their distinct sources, each
        /// source's oldest time, and the attempts (an entry counts when its object's
        /// previous counted entry is more than ATTEMPT_DEDUPE_MS older).
        #[test]
        fn host_window_matches_a_recomputation(
            steps in proptest::collection::vec((0i64..3_000, 0usize..6), 1..400),
        ) {
            let window = 20_000;
            let objs: Vec<ObjectRef> = (0..6)
                .map(|i| ObjectRef::new("GitRepository", "t", format!("o{i}")))
                .collect();
            let mut w = HostWindow::default();
            let mut hist: Vec<(TsMs, usize, bool)> = Vec::new();
            let mut last_counted: Vec<Option<TsMs>> = vec![None; 6];
            let mut ts = 0;
            let mut gen_seen = w.generation();
            let mut sources_before: Vec<ObjectRef> = Vec::new();
            for (gap, o) in steps {
                ts += gap;
                let prev = hist.iter().rev().find(|(_, x, _)| *x == o).map(|(t, _, _)| *t);
                let counted = last_counted[o].is_none_or(|l| ts - l > ATTEMPT_DEDUPE_MS);
                if counted {
                    last_counted[o] = Some(ts);
                }
                hist.push((ts, o, counted));
                let new = w.push(ts, &objs[o], window);
                prop_assert_eq!(new, prev.is_none_or(|p| ts - p > ATTEMPT_DEDUPE_MS));
                let live: Vec<&(TsMs, usize, bool)> =
                    hist.iter().filter(|(t, _, _)| ts - t <= window).collect();
                prop_assert_eq!(w.len(), live.len());
                prop_assert_eq!(w.attempts(), live.iter().filter(|e| e.2).count() as u64);
                prop_assert_eq!(w.first(), live.first().map(|e| e.0));
                let mut srcs: Vec<usize> = live.iter().map(|e| e.1).collect();
                srcs.sort();
                srcs.dedup();
                let got: Vec<ObjectRef> = w.sources().cloned().collect();
                let want: Vec<ObjectRef> = srcs.iter().map(|&i| objs[i].clone()).collect();
                prop_assert_eq!(&got, &want);
                for &i in &srcs {
                    let f = live.iter().find(|e| e.1 == i).map(|e| e.0);
                    prop_assert_eq!(w.first_of(&objs[i]), f);
                }
                // The generation moves exactly when the set of sources does.
                prop_assert_eq!(w.generation() != gen_seen, got != sources_before);
                gen_seen = w.generation();
                sources_before = got;
            }
        }
    }

    #[test]
    fn host_window_keeps_at_most_its_cap() {
        let mut w = HostWindow::default();
        let o = ObjectRef::new("GitRepository", "t", "o");
        for i in 0..(HOST_WINDOW_CAP as i64 + 100) {
            w.push(i, &o, i64::MAX / 2);
        }
        assert_eq!(w.len(), HOST_WINDOW_CAP);
        assert_eq!(w.first(), Some(100));
        assert_eq!(w.first_of(&o), Some(100));
    }
}
