//! Keyed, windowed state: per object, per controller, per provider host.
//!
//! Invariant: every map has a hard cap and every per-key deque a length cap, so memory
//! stays bounded whatever the input; evictions are counted in [`Caps`].

use std::collections::{HashMap, VecDeque};
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
}

/// Entry counts of every keyed structure of the correlator (see
/// `Correlator::state_counts`); each stays at or under its cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
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

/// A failure attempt of an object.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub ts: TsMs,
    pub class: Class,
    pub message: String,
    pub controller: Option<String>,
}

/// One apply that changed cluster objects.
#[derive(Debug, Clone)]
pub struct Apply {
    pub ts: TsMs,
    pub revision: Option<String>,
    /// True when the revision was already applied before (no new commit).
    pub same_revision: bool,
    pub changed: Vec<String>,
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
    pub last_revision: Option<String>,
    pub applied_revisions: VecDeque<String>,
    pub applies: VecDeque<Apply>,
    pub durations: VecDeque<u64>,
    pub slow: VecDeque<(TsMs, u64)>,
    /// Reconcile runs observed (successes and failures), for tenant shares.
    pub runs: VecDeque<TsMs>,
}

impl ObjState {
    /// Sets the source URL and the host it names.
    pub fn set_url(&mut self, url: &str) {
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
        let mut n = 0;
        let mut last: Option<TsMs> = None;
        for a in self
            .attempts
            .iter()
            .filter(|a| now - a.ts <= window && pred(a.class))
        {
            if last.is_none_or(|l| a.ts - l > ATTEMPT_DEDUPE_MS) {
                n += 1;
                last = Some(a.ts);
            }
        }
        n
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
    pub rate_limited: VecDeque<(TsMs, ObjectRef)>,
    pub network: VecDeque<(TsMs, ObjectRef, String)>,
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
