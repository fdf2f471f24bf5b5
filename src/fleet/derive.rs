//! Stage 1's side of fleet findings: the partials one cluster's correlator gives
//! ([`ClusterPartials`]), and the watermark ticks of one stage-1 source ([`Ticks`]).
//! Sans-IO: fed after each signal with the cluster's correlator and its outputs; the
//! partition worker (`pipeline::central::partition`) publishes what it returns.
//!
//! Which findings map to which fleet keys (docs/fleet.md "Stage 2"):
//! - `rate_limit_exhaustion` (subject: the host) → `ratelimit-host:<host>` and
//!   `ratelimit:<host>/<org>` for each org of the impacted sources' URLs on that host;
//! - `git_auth_failure`, a source's `dependency_blocked` (a failing source) and a
//!   source's `stalled_reconciliation` → the source's key (`git:`, `helm:`, `oci:`);
//! - `helm_release_failure` → `chart:<repo>/<name>@<version>` of the HelmRelease.
//!
//! Inventory: every source URL the cluster's correlator holds (`object_views`, and
//! snapshots' `spec.url`) gives its source key and its `ratelimit:` / `ratelimit-host:`
//! keys; every HelmRelease chart its `chart:` key.
//!
//! Invariants:
//! - **A function of the signal stream.** Partials depend on the records, heartbeats
//!   and findings of the cluster only (event time, ordered maps), so a new owner that
//!   rebuilds a partition derives the same partials as the one before.
//! - **Bounded.** At most [`MAX_OBJECTS`] objects and [`MAX_FINDINGS`] failing
//!   findings per cluster are remembered.

use std::collections::{BTreeMap, BTreeSet};

use crate::classify::redact::redact;
use crate::correlate::{Correlator, Finding, Output, PatternId, Status};
use crate::record::{ObjectRef, Record, TsMs};

use super::partial::{normalise_url, FleetKey, KeyKind, KeyStatus, Partial};

/// Default refresh of failing statuses and inventory (event time).
pub const DEFAULT_REFRESH_MS: i64 = 5 * 60_000;
/// Default watermark tick interval (event time).
pub const DEFAULT_TICK_MS: i64 = 30_000;
/// Default idleness: a cluster (stage 1) or a tick source (stage 2) whose clock is this
/// far behind the newest no longer holds the watermark back.
pub const DEFAULT_IDLE_MS: i64 = 2 * 60_000;
/// Objects remembered per cluster (URLs, charts).
pub const MAX_OBJECTS: usize = 20_000;
/// Failing findings remembered per cluster.
pub const MAX_FINDINGS: usize = 5_000;
/// Longest `sample` text.
pub const MAX_SAMPLE: usize = 300;

const SOURCE_KINDS: [&str; 3] = ["GitRepository", "HelmRepository", "OCIRepository"];

/// How stage 1 derives partials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeriveSettings {
    pub refresh_ms: i64,
    pub tick_ms: i64,
    pub idle_ms: i64,
}

impl Default for DeriveSettings {
    fn default() -> Self {
        DeriveSettings {
            refresh_ms: DEFAULT_REFRESH_MS,
            tick_ms: DEFAULT_TICK_MS,
            idle_ms: DEFAULT_IDLE_MS,
        }
    }
}

/// A chart a HelmRelease (or HelmChart) installs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChartUse {
    chart: String,
    version: Option<String>,
    source: Option<ObjectRef>,
}

/// A firing stage-1 finding's share of the cluster's statuses.
#[derive(Debug, Clone)]
struct Contribution {
    pattern: String,
    keys: Vec<FleetKey>,
    since: TsMs,
    count: u64,
    sample: Option<String>,
}

/// The partials of one cluster.
#[derive(Debug)]
pub struct ClusterPartials {
    cluster: String,
    settings: DeriveSettings,
    urls: BTreeMap<ObjectRef, String>,
    charts: BTreeMap<ObjectRef, ChartUse>,
    failing: BTreeMap<String, Contribution>,
    /// Keys last published as failing.
    sent_failing: BTreeSet<FleetKey>,
    /// Keys published in inventory since the last refresh.
    used_sent: BTreeSet<FleetKey>,
    next_refresh: Option<TsMs>,
}

fn grid_after(t: TsMs, step: i64) -> TsMs {
    let step = step.max(1);
    t.div_euclid(step) * step + step
}

/// URLs quoted in a message (`unable to clone 'https://…'`).
fn urls_in(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '(' | ')'))
        .filter(|t| {
            ["https://", "http://", "ssh://", "oci://"]
                .iter()
                .any(|s| t.starts_with(s))
        })
        .map(|t| t.trim_end_matches([',', '.', ':', ';']))
}

impl ClusterPartials {
    pub fn new(cluster: &str, settings: DeriveSettings) -> Self {
        ClusterPartials {
            cluster: cluster.to_string(),
            settings,
            urls: BTreeMap::new(),
            charts: BTreeMap::new(),
            failing: BTreeMap::new(),
            sent_failing: BTreeSet::new(),
            used_sent: BTreeSet::new(),
            next_refresh: None,
        }
    }

    /// After one signal of the cluster: the record it carried (`None`: a heartbeat),
    /// its correlator (already fed) and the outputs it gave, at the cluster's time
    /// `now`. The partials to publish, in a deterministic order.
    pub fn after(
        &mut self,
        rec: Option<&Record>,
        c: &Correlator,
        outputs: &[Output],
        now: TsMs,
    ) -> Vec<Partial> {
        let mut out = Vec::new();
        if let Some(r) = rec {
            self.observe(r, now, &mut out);
        }
        let mut views: Option<BTreeMap<ObjectRef, String>> = None;
        let mut touched: BTreeSet<FleetKey> = BTreeSet::new();
        for o in outputs {
            let Output::Finding(f) = o else { continue };
            match f.status {
                Status::Firing => {
                    let keys = self.keys_of(f, c, &mut views);
                    if keys.is_empty() {
                        continue;
                    }
                    if !self.failing.contains_key(&f.id) && self.failing.len() >= MAX_FINDINGS {
                        continue;
                    }
                    if let Some(old) = self.failing.get(&f.id) {
                        touched.extend(old.keys.iter().cloned());
                    }
                    touched.extend(keys.iter().cloned());
                    let sample = f
                        .evidence
                        .last()
                        .map(|e| crate::correlate::vars::truncate(&redact(&e.message), MAX_SAMPLE));
                    self.failing.insert(
                        f.id.clone(),
                        Contribution {
                            pattern: f.pattern.clone(),
                            keys,
                            since: f.first_seen,
                            count: f.count,
                            sample,
                        },
                    );
                }
                Status::Resolved => {
                    if let Some(old) = self.failing.remove(&f.id) {
                        touched.extend(old.keys);
                    }
                }
            }
        }
        for k in touched {
            let now_failing = self.status_of(&k, now);
            match (now_failing, self.sent_failing.contains(&k)) {
                (Some(p), _) => {
                    // Failing (new, or its evidence changed): upsert.
                    self.sent_failing.insert(k.clone());
                    if self.used_sent.insert(k.clone()) {
                        out.push(Partial::inventory(&k, &self.cluster, now));
                    }
                    out.push(p);
                }
                (None, true) => {
                    self.sent_failing.remove(&k);
                    out.push(Partial::status(&k, &self.cluster, now, KeyStatus::Ok));
                }
                (None, false) => {}
            }
        }
        let due = *self
            .next_refresh
            .get_or_insert_with(|| grid_after(now, self.settings.refresh_ms));
        if now >= due {
            self.next_refresh = Some(grid_after(now, self.settings.refresh_ms));
            self.refresh(c, now, &mut out);
        }
        out
    }

    /// The keys the cluster uses now (inventory).
    pub fn used(&self, c: &Correlator) -> BTreeSet<FleetKey> {
        let mut urls = self.urls.clone();
        for v in c.object_views() {
            if let Some(u) = v.url {
                urls.entry(v.object).or_insert(u);
            }
        }
        let mut keys = BTreeSet::new();
        for (o, u) in &urls {
            keys.extend(url_keys(&o.kind, u));
        }
        for ch in self.charts.values() {
            let repo = ch
                .source
                .as_ref()
                .and_then(|s| urls.get(s))
                .map(String::as_str);
            keys.extend(FleetKey::chart(repo, &ch.chart, ch.version.as_deref()));
        }
        keys
    }

    fn refresh(&mut self, c: &Correlator, now: TsMs, out: &mut Vec<Partial>) {
        let used = self.used(c);
        let failing: Vec<FleetKey> = self.sent_failing.iter().cloned().collect();
        self.used_sent.clear();
        for k in used.iter().chain(failing.iter()) {
            if self.used_sent.insert(k.clone()) {
                out.push(Partial::inventory(k, &self.cluster, now));
            }
        }
        for k in failing {
            if let Some(p) = self.status_of(&k, now) {
                out.push(p);
            }
        }
    }

    /// Remembers a snapshot's URL or chart; a key used for the first time is
    /// published at once.
    fn observe(&mut self, r: &Record, now: TsMs, out: &mut Vec<Partial>) {
        let (Some(o), Some(info)) = (r.object.as_ref(), r.object_info()) else {
            return;
        };
        let room = |n: usize, has: bool| has || n < MAX_OBJECTS;
        let mut new_keys = Vec::new();
        if let Some(u) = info.url.as_deref().filter(|u| !u.is_empty()) {
            if SOURCE_KINDS.contains(&&*o.kind)
                && self.urls.get(o).map(String::as_str) != Some(u)
                && room(self.urls.len(), self.urls.contains_key(o))
            {
                self.urls.insert(o.clone(), u.to_string());
                new_keys.extend(url_keys(&o.kind, u));
            }
        }
        if let Some(chart) = info.chart.as_deref().filter(|c| !c.is_empty()) {
            if matches!(&*o.kind, "HelmRelease" | "HelmChart") {
                let use_ = ChartUse {
                    chart: chart.to_string(),
                    version: info.chart_version.clone(),
                    source: info.source_ref.clone(),
                };
                if self.charts.get(o) != Some(&use_)
                    && room(self.charts.len(), self.charts.contains_key(o))
                {
                    let repo = use_
                        .source
                        .as_ref()
                        .and_then(|s| self.urls.get(s))
                        .map(String::as_str);
                    new_keys.extend(FleetKey::chart(repo, &use_.chart, use_.version.as_deref()));
                    self.charts.insert(o.clone(), use_);
                }
            }
        }
        for k in new_keys {
            if self.used_sent.insert(k.clone()) {
                out.push(Partial::inventory(&k, &self.cluster, now));
            }
        }
    }

    fn url_of(
        &self,
        o: &ObjectRef,
        c: &Correlator,
        views: &mut Option<BTreeMap<ObjectRef, String>>,
    ) -> Option<String> {
        if let Some(u) = self.urls.get(o) {
            return Some(u.clone());
        }
        let v = views.get_or_insert_with(|| {
            c.object_views()
                .into_iter()
                .filter_map(|v| v.url.map(|u| (v.object, u)))
                .collect()
        });
        v.get(o).cloned()
    }

    /// The fleet keys a firing stage-1 finding makes failing.
    fn keys_of(
        &self,
        f: &Finding,
        c: &Correlator,
        views: &mut Option<BTreeMap<ObjectRef, String>>,
    ) -> Vec<FleetKey> {
        let Some(p) = PatternId::parse(&f.pattern) else {
            return Vec::new();
        };
        let mut keys = BTreeSet::new();
        match p {
            PatternId::RateLimitExhaustion => {
                let host = f.subject.name.to_ascii_lowercase();
                keys.insert(FleetKey::rate_limit_host(&host));
                let mut urls: Vec<String> = f
                    .impacted
                    .iter()
                    .filter(|o| SOURCE_KINDS.contains(&&*o.kind))
                    .filter_map(|o| self.url_of(o, c, views))
                    .collect();
                urls.extend(
                    f.evidence
                        .iter()
                        .flat_map(|e| urls_in(&e.message).map(str::to_string)),
                );
                for u in urls {
                    if normalise_url(&u).is_some_and(|n| n.host == host) {
                        keys.extend(FleetKey::rate_limit_org(&u));
                    }
                }
            }
            PatternId::GitAuthFailure
            | PatternId::DependencyBlocked
            | PatternId::StalledReconciliation
                if SOURCE_KINDS.contains(&&*f.subject.kind) =>
            {
                let url = self.url_of(&f.subject, c, views).or_else(|| {
                    f.evidence
                        .iter()
                        .rev()
                        .find_map(|e| urls_in(&e.message).next().map(str::to_string))
                });
                if let Some(u) = url {
                    keys.extend(FleetKey::source(&f.subject.kind, &u));
                }
            }
            PatternId::HelmReleaseFailure => {
                if let Some(ch) = self.charts.get(&f.subject) {
                    let repo = ch.source.as_ref().and_then(|s| self.url_of(s, c, views));
                    keys.extend(FleetKey::chart(
                        repo.as_deref(),
                        &ch.chart,
                        ch.version.as_deref(),
                    ));
                }
            }
            _ => {}
        }
        keys.into_iter().collect()
    }

    /// The failing status of `k` from every firing finding that maps to it.
    fn status_of(&self, k: &FleetKey, now: TsMs) -> Option<Partial> {
        let mut p: Option<Partial> = None;
        let mut orgs = BTreeSet::new();
        for (id, c) in &self.failing {
            if !c.keys.contains(k) {
                continue;
            }
            if k.kind == KeyKind::RateLimitHost {
                orgs.extend(
                    c.keys
                        .iter()
                        .filter(|o| o.kind == KeyKind::RateLimit)
                        .map(|o| o.body.clone()),
                );
            }
            let q = p.get_or_insert_with(|| {
                let mut q = Partial::status(k, &self.cluster, now, KeyStatus::Failing);
                q.since = Some(c.since);
                q.pattern = Some(c.pattern.clone());
                q.finding = Some(id.clone());
                q
            });
            if c.since < q.since.unwrap_or(TsMs::MAX) {
                q.since = Some(c.since);
                q.pattern = Some(c.pattern.clone());
                q.finding = Some(id.clone());
            }
            q.count = Some(q.count.unwrap_or(0).max(c.count));
            if c.sample.is_some() {
                q.sample = c.sample.clone();
            }
        }
        if let Some(q) = &mut p {
            q.orgs = orgs.into_iter().collect();
        }
        p
    }
}

/// The keys a source URL gives: its own, its org's and its host's rate-limit keys.
fn url_keys(kind: &str, url: &str) -> Vec<FleetKey> {
    let mut v = Vec::new();
    if !SOURCE_KINDS.contains(&kind) {
        return v;
    }
    v.extend(FleetKey::source(kind, url));
    v.extend(FleetKey::rate_limit_org(url));
    if let Some(n) = normalise_url(url) {
        v.push(FleetKey::rate_limit_host(&n.host));
    }
    v
}

/// The watermark ticks of one stage-1 source (a signals partition): its watermark is
/// the oldest clock among its clusters that are not idle (behind the newest by more
/// than `idle_ms`), and a tick is due each time it crosses the `tick_ms` grid.
#[derive(Debug)]
pub struct Ticks {
    src: String,
    settings: DeriveSettings,
    next: Option<TsMs>,
    of: Option<u32>,
}

impl Ticks {
    pub fn new(src: &str, settings: DeriveSettings) -> Self {
        Ticks {
            src: src.to_string(),
            settings,
            next: None,
            of: None,
        }
    }

    /// Ticks that say how many sources there are (`Partial::of`).
    pub fn of(mut self, sources: Option<u32>) -> Self {
        self.of = sources;
        self
    }

    pub fn src(&self) -> &str {
        &self.src
    }

    /// The tick due after the clusters' clocks moved to `clocks`, if any.
    pub fn after(&mut self, clocks: impl Iterator<Item = TsMs> + Clone) -> Option<Partial> {
        let newest = clocks.clone().max()?;
        let wm = clocks
            .filter(|t| newest - t <= self.settings.idle_ms)
            .min()?;
        let due = *self.next.get_or_insert(wm);
        if wm < due {
            return None;
        }
        self.next = Some(grid_after(wm, self.settings.tick_ms));
        let mut t = Partial::tick(&self.src, wm);
        t.of = self.of;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::Settings;
    use crate::record::{Class, Detail, ObjectInfo};

    fn snapshot(name: &str, url: &str, t: TsMs) -> Record {
        Record {
            ts: Some(t),
            object: Some(ObjectRef::new("GitRepository", "flux-system", name)),
            class: Class::ObjectState,
            detail: Detail::Object(Box::new(ObjectInfo {
                url: Some(url.into()),
                ..ObjectInfo::default()
            })),
            ..Record::default()
        }
    }

    fn rate_limited(name: &str, url: &str, t: TsMs) -> Record {
        Record {
            ts: Some(t),
            controller: Some("source-controller".into()),
            object: Some(ObjectRef::new("GitRepository", "flux-system", name)),
            msg: "Reconciler error".into(),
            error: Some(format!("failed to checkout and determine revision: unable to clone '{url}': unexpected client error: unexpected requesting \"{url}/info/refs?service=git-upload-pack\" status code: 429")),
            class: Class::RateLimited,
            severity: Class::RateLimited.default_severity(),
            ..Record::default()
        }
    }

    fn run(cluster: &str, recs: &[Record]) -> Vec<Partial> {
        let mut c = Correlator::new(Settings {
            cluster: cluster.into(),
            ..Settings::default()
        });
        let mut d = ClusterPartials::new(cluster, DeriveSettings::default());
        let mut out = Vec::new();
        for r in recs {
            c.on_record(r);
            let o = c.drain();
            out.extend(d.after(Some(r), &c, &o, r.ts.unwrap()));
        }
        out
    }

    #[test]
    fn a_rate_limited_cluster_reports_its_org_and_host_failing_and_its_inventory() {
        let t0 = 1_767_000_000_000;
        let mut recs = vec![
            snapshot("app", "https://github.com/acme/app", t0),
            snapshot("lib", "ssh://git@github.com/acme/lib.git", t0 + 1),
        ];
        for i in 0..8 {
            recs.push(rate_limited(
                "app",
                "https://github.com/acme/app",
                t0 + 60_000 * (i + 1),
            ));
        }
        let ps = run("c1", &recs);
        let inv: BTreeSet<String> = ps
            .iter()
            .filter(|p| p.kind == super::super::partial::PartialKind::Inventory)
            .map(|p| p.key.clone())
            .collect();
        assert!(inv.contains("git:github.com/acme/app"), "{inv:?}");
        assert!(inv.contains("git:github.com/acme/lib"), "{inv:?}");
        assert!(inv.contains("ratelimit:github.com/acme"), "{inv:?}");
        let failing: Vec<&Partial> = ps
            .iter()
            .filter(|p| p.status == Some(KeyStatus::Failing))
            .collect();
        let keys: BTreeSet<&str> = failing.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains("ratelimit:github.com/acme"), "{keys:?}");
        assert!(keys.contains("ratelimit-host:github.com"), "{keys:?}");
        let p = failing
            .iter()
            .find(|p| p.key == "ratelimit:github.com/acme")
            .unwrap();
        assert_eq!(p.cluster, "c1");
        assert_eq!(
            p.pattern.as_deref(),
            Some(PatternId::RateLimitExhaustion.as_str())
        );
        assert!(p.finding.is_some() && p.since.is_some());
        assert!(p.sample.as_deref().unwrap_or("").contains("429"));
        let h = failing
            .iter()
            .find(|p| p.key == "ratelimit-host:github.com")
            .unwrap();
        assert_eq!(h.orgs, ["github.com/acme"]);
        // The same stream gives the same partials.
        assert_eq!(ps, run("c1", &recs));
    }

    #[test]
    fn ticks_follow_the_oldest_live_clock_on_a_grid() {
        let mut t = Ticks::new("s/0", DeriveSettings::default());
        assert_eq!(t.after([1_000].into_iter()).map(|p| p.t), Some(1_000));
        assert!(t.after([20_000].into_iter()).is_none());
        assert_eq!(
            t.after([30_000, 45_000].into_iter()).map(|p| p.t),
            Some(30_000)
        );
        // A cluster far behind (idle) does not hold the watermark.
        assert!(
            t.after([70_000, 1_000].into_iter()).is_none(),
            "69 s behind: live"
        );
        assert_eq!(
            t.after([200_000, 1_000].into_iter()).map(|p| p.t),
            Some(200_000)
        );
        assert_eq!(t.src(), "s/0");
    }
}
