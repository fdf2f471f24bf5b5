//! The state every detector family shares, and its bookkeeping.
//!
//! Owns: [`Shared`]: settings and caps, per-object state and the sets that index it
//! (failing, waiting, objects with open applies), the consumer map (source → objects
//! that take its artifact), recent failures (cascade attribution), the claim map
//! (`claims` keeps its updates), the finding table, audit state, eviction counters
//! and the output queue. Does not own: any family's own state (hosts:
//! `sources::SourceHealth`; controllers: `controllers::ControllerHealth`) or pattern
//! logic.
//!
//! Invariant: every map here is capped by [`Caps`] and each eviction is counted; the
//! sets `failing`, `waiting` and `open_applies` only name objects present in
//! `objects`.

use std::collections::{BTreeSet, VecDeque};

use rustc_hash::{FxHashMap, FxHashSet};

use super::finding::{Evidence, FindingTable};
use super::pattern_id::PatternId;
use super::state::{self, Caps, Evictions, ObjState};
use super::{audit, vars, Output, Settings, Status};
use crate::parse::message::CONTROLLERS;
use crate::record::{Class, ObjectRef, TsMs};

/// How long a failure stays in [`Shared::recent_failures`] (3h): longer than any
/// cascade window.
const RECENT_FAILURE_KEEP_MS: i64 = 3 * 3_600_000;

/// Most failures kept in [`Shared::recent_failures`].
pub(crate) const RECENT_FAILURES_CAP: usize = 10_000;

/// Most consumers listed for one source.
const CONSUMERS_PER_SOURCE: usize = 10_000;

/// Most consumers [`Shared::consumers_of`] walks to.
const CONSUMERS_WALK_CAP: usize = 1000;

/// A recent failure anywhere, for cascade attribution.
#[derive(Debug, Clone)]
pub(crate) struct RecentFailure {
    pub ts: TsMs,
    pub object: ObjectRef,
    pub class: Class,
    pub controller: Option<String>,
    pub message: String,
    /// Which of the Flux controllers (`parse::message::CONTROLLERS`, bit i) the message
    /// names as a host (`source-controller.`): looked up once here, not per tick.
    pub mentions: u8,
}

impl RecentFailure {
    pub fn new(
        ts: TsMs,
        object: ObjectRef,
        class: Class,
        controller: Option<String>,
        message: String,
    ) -> Self {
        let mut mentions = 0u8;
        if message.contains("-controller.") || message.contains("source-watcher.") {
            for (i, c) in CONTROLLERS.iter().enumerate() {
                let at = message
                    .match_indices(c)
                    .any(|(j, _)| message.as_bytes().get(j + c.len()) == Some(&b'.'));
                if at {
                    mentions |= 1 << i;
                }
            }
        }
        RecentFailure {
            ts,
            object,
            class,
            controller,
            message,
            mentions,
        }
    }

    /// True when the message names controller `c` as a host (`<c>.`).
    pub fn mentions_host(&self, c: &str) -> bool {
        match CONTROLLERS.iter().position(|k| *k == c) {
            Some(i) => self.mentions & (1 << i) != 0,
            None => self.message.contains(&format!("{c}.")),
        }
    }
}

/// Failures in arrival order, with a count of adjacent pairs out of time order: while
/// that is 0 (always in replay, whose input is merged by time) a time range is found by
/// binary search instead of a walk over every kept failure.
#[derive(Default)]
pub(crate) struct RecentFailures {
    items: VecDeque<RecentFailure>,
    inversions: usize,
}

impl RecentFailures {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Appends `f`, dropping the oldest beyond `cap`.
    pub fn push(&mut self, f: RecentFailure, cap: usize) {
        if self.items.back().is_some_and(|b| f.ts < b.ts) {
            self.inversions += 1;
        }
        self.items.push_back(f);
        while self.items.len() > cap {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) -> Option<RecentFailure> {
        let f = self.items.pop_front()?;
        if self.items.front().is_some_and(|n| n.ts < f.ts) {
            self.inversions -= 1;
        }
        Some(f)
    }

    /// Drops failures from the front while `old` says so.
    pub fn prune_front(&mut self, old: impl Fn(&RecentFailure) -> bool) {
        while self.items.front().is_some_and(&old) {
            self.pop_front();
        }
    }

    /// Every failure at or after `from`, in arrival order (the same as a filter over
    /// all of them, without the walk when they are in time order).
    pub fn since(&self, from: TsMs) -> impl Iterator<Item = &RecentFailure> {
        let start = if self.inversions == 0 {
            self.items.partition_point(|f| f.ts < from)
        } else {
            0
        };
        self.items.range(start..).filter(move |f| f.ts >= from)
    }
}

/// What all detector families read and write.
pub(crate) struct Shared {
    pub settings: Settings,
    pub caps: Caps,
    pub objects: FxHashMap<ObjectRef, ObjState>,
    /// Counts changes to what an object's artifact load is computed from (the
    /// objects themselves, their interval, artifact size and runs): a memo of the
    /// loads stays good while it holds (`controllers::memory_hogs`).
    pub load_gen: u64,
    /// Provider host → the objects whose URL names it (`ObjState::url_host`), so a
    /// host's request shares walk its sources, not every object. Kept in step by
    /// [`Shared::set_url`], eviction and [`Shared::forget`].
    pub by_host: FxHashMap<String, FxHashSet<ObjectRef>>,
    /// source → objects that consume it (from `spec.sourceRef`, chart sources).
    pub consumers: FxHashMap<ObjectRef, BTreeSet<ObjectRef>>,
    /// Edges in `consumers`, kept so the cap check is O(1).
    pub consumer_edges: usize,
    /// Objects failing now (for time-driven checks without scanning every object).
    pub failing: BTreeSet<ObjectRef>,
    /// Objects waiting for a dependency (`dependency_*`).
    pub waiting: BTreeSet<ObjectRef>,
    /// Objects with applies whose run has no known outcome yet (drift is judged once
    /// it has: `objects::ObjectPatterns::confirm_applies`).
    pub open_applies: BTreeSet<ObjectRef>,
    pub recent_failures: RecentFailures,
    /// object → (pattern, subject) of the root finding that explains it (`claims`).
    pub claims: FxHashMap<ObjectRef, (PatternId, ObjectRef)>,
    pub findings: FindingTable,
    pub audit: audit::AuditState,
    pub evictions: Evictions,
    pub out: Vec<Output>,
}

impl Shared {
    pub fn new(settings: Settings, caps: Caps) -> Self {
        let findings = FindingTable::new(&settings.cluster, settings.repeat_interval_ms);
        Shared {
            settings,
            caps,
            objects: FxHashMap::default(),
            load_gen: 0,
            by_host: FxHashMap::default(),
            consumers: FxHashMap::default(),
            consumer_edges: 0,
            failing: BTreeSet::new(),
            waiting: BTreeSet::new(),
            open_applies: BTreeSet::new(),
            recent_failures: RecentFailures::default(),
            claims: FxHashMap::default(),
            findings,
            audit: audit::AuditState::default(),
            evictions: Evictions::default(),
            out: Vec::new(),
        }
    }

    /// Emits what changed in the finding table (with the RBAC audit mirror).
    pub fn collect(&mut self, now: TsMs, force: bool) {
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

    /// Forgets failures too old to attribute and objects no longer failing.
    pub fn prune(&mut self, now: TsMs) {
        self.recent_failures
            .prune_front(|f| now - f.ts > RECENT_FAILURE_KEEP_MS);
        let objects = &self.objects;
        self.failing
            .retain(|o| objects.get(o).is_some_and(|s| s.failing_since.is_some()));
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

    pub(crate) fn obj_mut(&mut self, o: &ObjectRef, ts: TsMs) -> &mut ObjState {
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
                self.by_host.retain(|_, set| {
                    set.retain(|o| objects.contains_key(o));
                    !set.is_empty()
                });
            }
            self.load_gen += 1;
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

    /// Sets the source URL of `o` (and the host it names), keeping [`Shared::by_host`]
    /// in step.
    pub(crate) fn set_url(&mut self, o: &ObjectRef, ts: TsMs, url: &str) {
        let s = self.obj_mut(o, ts);
        let old = s.url_host.clone();
        s.set_url(url);
        if s.url_host == old {
            return;
        }
        let new = s.url_host.clone();
        self.unindex_host(o, old.as_deref());
        if let Some(h) = new {
            self.by_host.entry(h).or_default().insert(o.clone());
        }
    }

    fn unindex_host(&mut self, o: &ObjectRef, host: Option<&str>) {
        let Some(h) = host else { return };
        if let Some(set) = self.by_host.get_mut(h) {
            set.remove(o);
            if set.is_empty() {
                self.by_host.remove(h);
            }
        }
    }

    /// Forgets a deleted object.
    pub(crate) fn forget(&mut self, o: &ObjectRef) {
        if let Some(s) = self.objects.remove(o) {
            self.unindex_host(o, s.url_host.as_deref());
            self.load_gen += 1;
        }
        self.failing.remove(o);
        self.waiting.remove(o);
        self.open_applies.remove(o);
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
        if set.len() < CONSUMERS_PER_SOURCE && set.insert(obj.clone()) {
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

    /// Consumers of `source`, transitively through HelmCharts.
    pub(crate) fn consumers_of(&self, source: &ObjectRef) -> Vec<ObjectRef> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut stack = vec![source.clone()];
        while let Some(s) = stack.pop() {
            if let Some(cs) = self.consumers.get(&s) {
                for c in cs {
                    if seen.insert(c.clone()) {
                        out.push(c.clone());
                        stack.push(c.clone());
                    }
                }
            }
            if out.len() > CONSUMERS_WALK_CAP {
                break;
            }
        }
        out
    }

    /// The last `n` failures of `obj` as finding evidence, oldest first.
    pub(crate) fn evidence_of(&self, obj: &ObjectRef, n: usize) -> Vec<Evidence> {
        self.objects
            .get(obj)
            .map(|s| {
                s.attempts
                    .iter()
                    .rev()
                    .take(n)
                    .rev()
                    .map(|a| Evidence {
                        ts: Some(a.ts),
                        controller: a.controller.clone(),
                        class: a.class,
                        message: a.message.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(sh: &Shared) -> Vec<(String, Vec<String>)> {
        let mut v: Vec<(String, Vec<String>)> = sh
            .by_host
            .iter()
            .map(|(h, set)| {
                let mut names: Vec<String> = set.iter().map(|o| o.name.to_string()).collect();
                names.sort();
                (h.clone(), names)
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn recent_failures_since_matches_a_full_walk_in_and_out_of_order() {
        let fail = |ts: TsMs| {
            RecentFailure::new(
                ts,
                repo(&format!("r{ts}")),
                Class::SourceNotReady,
                None,
                String::new(),
            )
        };
        let walk = |r: &RecentFailures, from: TsMs| -> Vec<TsMs> {
            r.items
                .iter()
                .filter(|f| f.ts >= from)
                .map(|f| f.ts)
                .collect()
        };
        let since =
            |r: &RecentFailures, from: TsMs| -> Vec<TsMs> { r.since(from).map(|f| f.ts).collect() };
        // In order, then one late arrival, then the cap and pruning push it out again.
        let mut r = RecentFailures::default();
        for ts in [10, 20, 20, 30, 40] {
            r.push(fail(ts), 6);
        }
        assert_eq!(r.inversions, 0);
        assert_eq!(since(&r, 20), vec![20, 20, 30, 40]);
        r.push(fail(15), 6);
        assert_eq!(r.inversions, 1);
        for from in [0, 15, 16, 20, 41] {
            assert_eq!(since(&r, from), walk(&r, from), "from {from}");
        }
        r.push(fail(50), 6); // drops 10
        r.prune_front(|f| f.ts < 45); // drops 20, 20, 30, 40 and the late 15
        assert_eq!(r.inversions, 0, "the late one left: {:?}", walk(&r, 0));
        assert_eq!(since(&r, 0), vec![50]);
        // A late arrival at the front edge: popping it clears the inversion.
        let mut r = RecentFailures::default();
        r.push(fail(30), 2);
        r.push(fail(10), 2);
        assert_eq!(r.inversions, 1);
        r.push(fail(40), 2);
        assert_eq!((r.inversions, since(&r, 0)), (0, vec![10, 40]));
    }

    fn repo(name: &str) -> ObjectRef {
        ObjectRef::new("GitRepository", "apps", name)
    }

    #[test]
    fn host_index_follows_urls_evictions_and_deletes() {
        let caps = Caps {
            objects: 3,
            ..Caps::default()
        };
        let mut sh = Shared::new(Settings::default(), caps);
        sh.set_url(&repo("a"), 1, "https://github.com/acme/a");
        sh.set_url(&repo("b"), 2, "https://github.com/acme/b");
        sh.set_url(&repo("c"), 3, "ssh://git@gitlab.com/acme/c");
        assert_eq!(
            hosts(&sh),
            vec![
                ("github.com".into(), vec!["a".into(), "b".into()]),
                ("gitlab.com".into(), vec!["c".into()]),
            ]
        );
        // A new URL on another host moves the object.
        sh.set_url(&repo("b"), 4, "https://gitlab.com/acme/b");
        assert_eq!(
            hosts(&sh),
            vec![
                ("github.com".into(), vec!["a".into()]),
                ("gitlab.com".into(), vec!["b".into(), "c".into()]),
            ]
        );
        // A fourth object evicts the oldest (a): its host goes with it.
        sh.set_url(&repo("d"), 5, "https://bitbucket.org/acme/d");
        assert!(!sh.objects.contains_key(&repo("a")));
        assert_eq!(
            hosts(&sh),
            vec![
                ("bitbucket.org".into(), vec!["d".into()]),
                ("gitlab.com".into(), vec!["b".into(), "c".into()]),
            ]
        );
        sh.forget(&repo("d"));
        sh.forget(&repo("b"));
        assert_eq!(hosts(&sh), vec![("gitlab.com".into(), vec!["c".into()])]);
    }
}
