//! Fleet findings (issue 18, stage 2): one failure seen across many clusters, from the
//! partials stage 1 publishes (docs/fleet.md "Stage 2", reference `fleet-scale.md`
//! §5.2).
//!
//! Owns: the partial schema and fleet keys ([`partial`]), stage 1's derivation of
//! partials from a cluster's correlator ([`derive`]), and [`FleetCorrelator`], the
//! sans-IO stage-2 state machine of one partials partition: per fleet key, a map
//! cluster → (failing status, inventory) with a TTL, a clock from the stage-1 sources'
//! watermark ticks with an idleness timeout, and the fleet patterns `fleet_rate_limit`,
//! `fleet_source_failure`, `fleet_chart_failure` (their thresholds in
//! `patterns/fleet_*.yaml`, declared in [`FLEET_PARAMS`]). Does not own: Kafka (the
//! pipeline), the per-cluster correlation (`correlate`).
//!
//! Invariants:
//! - **No wall clock of its own.** Time is the minimum watermark of the live tick
//!   sources; with no tick source yet, the newest partial's time. A source is idle
//!   (no longer holds the clock back) when no tick of it arrived for the idle timeout
//!   of the caller's wall time ([`FleetCorrelator::on_partial_at`]; Flink's
//!   `withIdleness`), or, without a wall time (tests, examples), when its watermark is
//!   that far behind the newest. Keys whose partials changed are evaluated at the next
//!   tick even when the clock did not move (a lagging source's statuses count); a
//!   failing status counts once the clock reached its time (a fast source's statuses
//!   wait for the slower sources' inventory).
//! - **Idempotent.** A partial is an upsert of (key, cluster) as of its time: applying
//!   it twice, or an older one after a newer one, changes nothing; so duplicates of an
//!   at-least-once topic and a rebuild's replay are harmless.
//! - **Deterministic ids.** A fleet finding's id is a hash of (pattern, fleet key,
//!   incident start minute), the start being the earliest `since` among the clusters
//!   failing when it first fired: the same partials give the same ids on any owner.
//! - **Bounded.** [`MAX_KEYS`] keys per partition, [`MAX_CLUSTERS`] clusters per key;
//!   what does not fit is counted, not stored.

pub mod derive;
pub mod partial;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::correlate::detector::{count, duration, ratio, PatternParams};
use crate::correlate::finding::{Evidence, ImpactDetail, RuleMeta, MAX_EVIDENCE};
use crate::correlate::spec::{Pattern, Settings, DEFAULT_CLUSTER};
use crate::correlate::vars::render_text;
use crate::correlate::{Finding, Output, PatternId, Status};
use crate::record::{Class, ObjectRef, TsMs};

pub use derive::{ClusterPartials, DeriveSettings, Ticks};
pub use partial::{FleetKey, KeyKind, KeyStatus, Partial, PartialKind, PARTIAL_SCHEMA};

/// Fleet keys kept per partition.
pub const MAX_KEYS: usize = 50_000;
/// Clusters kept per fleet key.
pub const MAX_CLUSTERS: usize = 10_000;
/// Tick sources kept per partition.
pub const MAX_SOURCES: usize = 4_096;
/// Clusters named in a fleet finding's `clusters` label (the rest are counted).
pub const MAX_NAMED: usize = 50;
/// The `cluster` of fleet findings when the pipeline file names none.
pub const FLEET_CLUSTER: &str = "fleet";

/// The fleet patterns' parameters (`detector::PARAM_TABLES` includes this table).
pub const FLEET_PARAMS: &[PatternParams] = &[
    PatternParams {
        pattern: PatternId::FleetRateLimit,
        params: PARAMS,
    },
    PatternParams {
        pattern: PatternId::FleetSourceFailure,
        params: PARAMS,
    },
    PatternParams {
        pattern: PatternId::FleetChartFailure,
        params: PARAMS,
    },
];

const PARAMS: &[crate::correlate::detector::Param] = &[
    count("min_clusters", 3.0),
    ratio("min_ratio", 0.1),
    duration("ttl", 15.0 * 60_000.0),
    duration("update_interval", 60_000.0),
];

/// The fleet pattern of a key kind.
pub fn pattern_of(kind: KeyKind) -> PatternId {
    match kind {
        KeyKind::RateLimit | KeyKind::RateLimitHost => PatternId::FleetRateLimit,
        KeyKind::Git | KeyKind::Helm | KeyKind::Oci => PatternId::FleetSourceFailure,
        KeyKind::Chart => PatternId::FleetChartFailure,
    }
}

/// Whether `p` is a fleet pattern (fed partials, not records).
pub fn is_fleet_pattern(p: PatternId) -> bool {
    FLEET_PARAMS.iter().any(|pp| pp.pattern == p)
}

/// One cluster's facts about one key.
#[derive(Debug, Clone, Default)]
struct ClusterEntry {
    /// Failing as of `t` since `since`: (t, since, stage-1 pattern, finding, count,
    /// sample). `None`: ok or unknown.
    failing: Option<Failing>,
    /// The newest status time seen (failing or ok): an older partial changes nothing.
    status_t: Option<TsMs>,
    /// The newest inventory time.
    used_t: Option<TsMs>,
}

#[derive(Debug, Clone)]
struct Failing {
    /// The time of the first failing status of this episode (kept by refreshes).
    from: TsMs,
    t: TsMs,
    since: TsMs,
    pattern: Option<String>,
    finding: Option<String>,
    count: u64,
    sample: Option<String>,
    orgs: Vec<String>,
}

/// An open fleet finding.
#[derive(Debug, Clone)]
struct Incident {
    finding: Finding,
    emitted: BTreeSet<String>,
    last_emit: TsMs,
}

#[derive(Debug, Default)]
struct KeyState {
    clusters: BTreeMap<String, ClusterEntry>,
    incident: Option<Incident>,
}

/// What a fleet correlator counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FleetCounts {
    pub statuses: u64,
    pub inventory: u64,
    pub ticks: u64,
    /// Partials older than the TTL when they arrived (ignored).
    pub late: u64,
    /// Partials not kept for lack of room (keys, clusters or sources at their cap).
    pub dropped: u64,
}

/// The stage-2 correlator of one partials partition.
pub struct FleetCorrelator {
    settings: Settings,
    cluster: String,
    idle_ms: i64,
    keys: BTreeMap<FleetKey, KeyState>,
    /// Tick source → (watermark, wall time of its last tick when known).
    sources: BTreeMap<String, (TsMs, Option<i64>)>,
    /// Keys changed since their last evaluation.
    dirty: BTreeSet<FleetKey>,
    /// The wall time of the partial being read (`on_partial_at`).
    wall: Option<i64>,
    /// How many tick sources the ticks announce (`Partial::of`), and the wall time of
    /// the first tick: the clock waits for every source, or the idle timeout.
    expected_sources: usize,
    first_tick_wall: Option<i64>,
    newest_partial: Option<TsMs>,
    now: Option<TsMs>,
    out: Vec<Output>,
    pub counts: FleetCounts,
}

impl FleetCorrelator {
    /// `settings`: the pipeline file's patterns (fleet thresholds) and `cluster` (the
    /// fleet's name in findings; [`FLEET_CLUSTER`] when unset); `idle_ms`: a tick source
    /// this far behind the newest no longer holds the clock back.
    pub fn new(settings: Settings, idle_ms: i64) -> Self {
        let cluster = if settings.cluster == DEFAULT_CLUSTER {
            FLEET_CLUSTER.to_string()
        } else {
            settings.cluster.clone()
        };
        FleetCorrelator {
            settings,
            cluster,
            idle_ms,
            keys: BTreeMap::new(),
            sources: BTreeMap::new(),
            dirty: BTreeSet::new(),
            wall: None,
            expected_sources: 0,
            first_tick_wall: None,
            newest_partial: None,
            now: None,
            out: Vec::new(),
            counts: FleetCounts::default(),
        }
    }

    /// The clock (`None` before the first tick or partial).
    pub fn now(&self) -> Option<TsMs> {
        self.now
    }

    /// The outputs so far, in order.
    pub fn drain(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Every fleet finding firing now.
    pub fn firing(&self) -> impl Iterator<Item = &Finding> {
        self.keys
            .values()
            .filter_map(|k| k.incident.as_ref().map(|i| &i.finding))
    }

    fn pattern(&self, kind: KeyKind) -> Arc<Pattern> {
        self.settings.patterns.shared(pattern_of(kind))
    }

    /// Reads one partial (already decoded); idleness of tick sources by event time.
    pub fn on_partial(&mut self, p: &Partial) {
        self.wall = None;
        self.read(p);
    }

    /// Reads one partial that arrived at wall time `wall_ms` (the consumer's clock):
    /// a tick source is idle once no tick of it arrived for the idle timeout.
    pub fn on_partial_at(&mut self, p: &Partial, wall_ms: i64) {
        self.wall = Some(wall_ms);
        self.read(p);
    }

    fn read(&mut self, p: &Partial) {
        match p.kind {
            PartialKind::Tick => {
                self.counts.ticks += 1;
                let src = p.src.clone().unwrap_or_default();
                if !self.sources.contains_key(&src) && self.sources.len() >= MAX_SOURCES {
                    self.counts.dropped += 1;
                    return;
                }
                self.expected_sources = self
                    .expected_sources
                    .max(p.of.unwrap_or(0) as usize)
                    .min(MAX_SOURCES);
                if self.first_tick_wall.is_none() {
                    self.first_tick_wall = self.wall;
                }
                let e = self.sources.entry(src).or_insert((p.t, self.wall));
                e.0 = e.0.max(p.t);
                e.1 = self.wall.or(e.1);
                self.advance();
            }
            PartialKind::Status | PartialKind::Inventory => {
                let Some(key) = FleetKey::parse(&p.key) else {
                    self.counts.dropped += 1;
                    return;
                };
                self.newest_partial = Some(self.newest_partial.map_or(p.t, |n| n.max(p.t)));
                let ttl = self.pattern(key.kind).ms("ttl");
                if self.now.is_some_and(|n| p.t < n - ttl) {
                    self.counts.late += 1;
                    return;
                }
                if !self.keys.contains_key(&key) && self.keys.len() >= MAX_KEYS {
                    self.counts.dropped += 1;
                    return;
                }
                self.dirty.insert(key.clone());
                let ks = self.keys.entry(key).or_default();
                if !ks.clusters.contains_key(&p.cluster) && ks.clusters.len() >= MAX_CLUSTERS {
                    self.counts.dropped += 1;
                    return;
                }
                let e = ks.clusters.entry(p.cluster.clone()).or_default();
                if p.kind == PartialKind::Inventory {
                    self.counts.inventory += 1;
                    e.used_t = Some(e.used_t.map_or(p.t, |u| u.max(p.t)));
                } else {
                    self.counts.statuses += 1;
                    if e.status_t.is_some_and(|s| p.t < s) {
                        // Older than what we hold: an upsert changes nothing.
                    } else {
                        e.status_t = Some(p.t);
                        let from = e.failing.as_ref().map_or(p.t, |f| f.from.min(p.t));
                        e.failing = match p.status {
                            Some(KeyStatus::Failing) => Some(Failing {
                                from,
                                t: p.t,
                                since: p.since.unwrap_or(p.t).min(p.t),
                                pattern: p.pattern.clone(),
                                finding: p.finding.clone(),
                                count: p.count.unwrap_or(1),
                                sample: p.sample.clone(),
                                orgs: p.orgs.clone(),
                            }),
                            _ => None,
                        };
                    }
                }
                if self.sources.is_empty() {
                    // No tick source (yet): the partials' own time moves the clock.
                    self.advance();
                }
            }
        }
    }

    /// The clock from the tick sources (min over live ones), else the newest partial.
    fn advance(&mut self) {
        if self.sources.len() < self.expected_sources {
            // Not every source ticked yet: its partials may still be on their way.
            // Held until it does, or for the idle timeout of wall time.
            let waited = match (self.wall, self.first_tick_wall) {
                (Some(now), Some(first)) => now - first > self.idle_ms,
                _ => false,
            };
            if !waited {
                return;
            }
        }
        let target = if self.sources.is_empty() {
            self.newest_partial
        } else {
            let newest = self.sources.values().map(|s| s.0).max().unwrap_or(0);
            let live = |(wm, seen): &(TsMs, Option<i64>)| match (self.wall, seen) {
                (Some(now), Some(seen)) => now - seen <= self.idle_ms,
                _ => newest - wm <= self.idle_ms,
            };
            self.sources
                .values()
                .filter(|s| live(s))
                .map(|s| s.0)
                .min()
                // Every source idle: the newest one.
                .or(Some(newest))
        };
        match (target, self.now) {
            (Some(t), n) if n.is_none_or(|n| t > n) => self.on_time(t),
            (_, Some(now)) if !self.dirty.is_empty() => {
                // The clock stands (a lagging source holds it), but statuses changed.
                let keys: Vec<FleetKey> = std::mem::take(&mut self.dirty).into_iter().collect();
                for k in keys {
                    self.evaluate(&k, now);
                }
                self.keys
                    .retain(|_, s| !s.clusters.is_empty() || s.incident.is_some());
            }
            _ => {}
        }
    }

    /// Moves the clock to `now` (never back) and evaluates every key.
    pub fn on_time(&mut self, now: TsMs) {
        if self.now.is_some_and(|n| now <= n) {
            return;
        }
        self.now = Some(now);
        self.dirty.clear();
        let keys: Vec<FleetKey> = self.keys.keys().cloned().collect();
        for k in keys {
            self.evaluate(&k, now);
        }
        self.keys
            .retain(|_, s| !s.clusters.is_empty() || s.incident.is_some());
    }

    fn evaluate(&mut self, key: &FleetKey, now: TsMs) {
        let pat = self.pattern(key.kind);
        let ttl = pat.ms("ttl");
        let min_clusters = pat.n("min_clusters").max(1) as usize;
        let min_ratio = pat.p("min_ratio");
        let update_ms = pat.ms("update_interval");
        let Some(ks) = self.keys.get_mut(key) else {
            return;
        };
        for e in ks.clusters.values_mut() {
            if e.failing.as_ref().is_some_and(|f| f.t < now - ttl) {
                e.failing = None;
            }
            if e.used_t.is_some_and(|u| u < now - ttl) {
                e.used_t = None;
            }
            if e.status_t.is_some_and(|s| s < now - ttl) {
                e.status_t = None;
            }
        }
        ks.clusters
            .retain(|_, e| e.failing.is_some() || e.used_t.is_some() || e.status_t.is_some());
        // As of `now`: a status from a source ahead of the clock counts once the clock
        // reaches it (the slower sources' partials up to `now` are all in by then).
        let affected: BTreeMap<&String, &Failing> = ks
            .clusters
            .iter()
            .filter_map(|(c, e)| e.failing.as_ref().filter(|f| f.from <= now).map(|f| (c, f)))
            .collect();
        let inventory_known = ks.clusters.values().any(|e| e.used_t.is_some());
        let users = ks
            .clusters
            .values()
            .filter(|e| e.used_t.is_some() || e.failing.is_some())
            .count();
        let n = affected.len();
        // A host-wide rate limit that every failing cluster ties to the same one org
        // is that org's finding (`ratelimit:<host>/<org>`), not a second one.
        let one_org = key.kind == KeyKind::RateLimitHost && {
            let orgs: BTreeSet<&String> = affected.values().flat_map(|f| &f.orgs).collect();
            orgs.len() == 1 && affected.values().all(|f| !f.orgs.is_empty())
        };
        let fires = n >= min_clusters
            && !one_org
            && (!inventory_known || n as f64 >= min_ratio * users as f64);
        let names: BTreeSet<String> = affected.keys().map(|c| (*c).clone()).collect();
        let users_known = inventory_known.then_some(users);
        let refill = |f: &mut Finding| fill(f, &pat, key, &affected, users_known, now);
        match (&mut ks.incident, fires) {
            (None, true) => {
                let start = affected.values().map(|f| f.since).min().unwrap_or(now);
                let mut f = new_finding(pattern_of(key.kind), key, start, &self.cluster);
                refill(&mut f);
                self.out.push(Output::Finding(Box::new(f.clone())));
                ks.incident = Some(Incident {
                    finding: f,
                    emitted: names,
                    last_emit: now,
                });
            }
            (Some(inc), true) => {
                if inc.emitted != names && now - inc.last_emit >= update_ms {
                    refill(&mut inc.finding);
                    inc.finding.emission += 1;
                    inc.emitted = names;
                    inc.last_emit = now;
                    self.out
                        .push(Output::Finding(Box::new(inc.finding.clone())));
                }
            }
            (Some(inc), false) => {
                let mut f = inc.finding.clone();
                refill(&mut f);
                f.status = Status::Resolved;
                f.emission += 1;
                self.out.push(Output::Finding(Box::new(f)));
                ks.incident = None;
            }
            (None, false) => {}
        }
    }
}

/// The last state of every fleet finding that `input` (partials, one per line) gives
/// a fresh fleet correlator: what `fluxsight patterns test` checks a fleet pattern's
/// examples against. A line that is not a partial is an error naming it.
pub fn findings_for_partials(input: &str, settings: &Settings) -> Result<Vec<Finding>, String> {
    let mut c = FleetCorrelator::new(settings.clone(), derive::DEFAULT_IDLE_MS);
    let mut by_id: BTreeMap<String, Finding> = BTreeMap::new();
    for (n, line) in input
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let p = Partial::decode(line.as_bytes()).map_err(|e| format!("line {}: {e}", n + 1))?;
        c.on_partial(&p);
        for o in c.drain() {
            if let Output::Finding(f) = o {
                by_id.insert(f.id.clone(), *f);
            }
        }
    }
    Ok(by_id.into_values().collect())
}

/// `hash(pattern, fleet key, incident start minute)`: 16 hex digits.
pub fn fleet_finding_id(pattern: PatternId, key: &FleetKey, start: TsMs) -> String {
    let mut h = Sha256::new();
    h.update(pattern.as_str().as_bytes());
    h.update([0]);
    h.update(key.to_string().as_bytes());
    h.update([0]);
    h.update(start.div_euclid(60_000).to_string().as_bytes());
    let d = h.finalize();
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn new_finding(p: PatternId, key: &FleetKey, start: TsMs, cluster: &str) -> Finding {
    Finding {
        id: fleet_finding_id(p, key, start),
        pattern: p.as_str().to_string(),
        status: Status::Firing,
        severity: crate::record::Severity::Error,
        title: String::new(),
        summary: String::new(),
        cluster: cluster.to_string(),
        tenant: String::new(),
        tenants: Vec::new(),
        subject: ObjectRef::new("FleetKey", "", key.to_string().as_str()),
        root_cause: None,
        impacted: Vec::new(),
        impact: Vec::new(),
        first_seen: start,
        last_seen: start,
        count: 0,
        evidence: Vec::new(),
        labels: BTreeMap::new(),
        remediation: String::new(),
        rule: RuleMeta::default(),
        last_counted: start,
        emission: 1,
        workload: None,
        text_pending: Default::default(),
    }
}

/// The finding's facts from the clusters failing now: `count` (clusters), impacted
/// clusters with their stage-1 finding, evidence samples, labels and text.
fn fill(
    f: &mut Finding,
    pat: &Pattern,
    key: &FleetKey,
    affected: &BTreeMap<&String, &Failing>,
    users: Option<usize>,
    now: TsMs,
) {
    f.severity = pat.severity;
    f.count = affected.len() as u64;
    f.last_seen = now;
    f.last_counted = now;
    f.impacted = affected
        .keys()
        .map(|c| ObjectRef::new("Cluster", "", c.as_str()))
        .collect();
    f.impact = affected
        .iter()
        .map(|(c, x)| ImpactDetail {
            object: ObjectRef::new("Cluster", "", c.as_str()),
            count: x.count,
            first_failed: x.since,
            last_failed: x.t,
            class: Class::ErrorOther,
            message: match (&x.pattern, &x.finding) {
                (Some(p), Some(id)) => format!("{p} {id}: {}", x.sample.as_deref().unwrap_or("")),
                _ => x.sample.clone().unwrap_or_default(),
            },
        })
        .collect();
    // The newest samples, at most MAX_EVIDENCE, oldest first.
    let mut ev: Vec<(&String, &Failing)> = affected.iter().map(|(c, x)| (*c, *x)).collect();
    ev.sort_by_key(|(c, x)| (std::cmp::Reverse(x.t), (*c).clone()));
    ev.truncate(MAX_EVIDENCE);
    ev.reverse();
    f.evidence = ev
        .into_iter()
        .map(|(c, x)| Evidence {
            ts: Some(x.t),
            controller: None,
            class: Class::ErrorOther,
            message: format!("{c}: {}", x.sample.as_deref().unwrap_or("failing")),
        })
        .collect();
    let names: Vec<&str> = affected.keys().map(|c| c.as_str()).collect();
    let mut list = names
        .iter()
        .take(MAX_NAMED)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX_NAMED {
        list.push_str(&format!(" and {} more", names.len() - MAX_NAMED));
    }
    let n = affected.len();
    let mut l = BTreeMap::new();
    l.insert("fleet_key".to_string(), key.to_string());
    l.insert("fleet_target".to_string(), key.body.clone());
    l.insert("clusters".to_string(), list);
    l.insert("affected".to_string(), n.to_string());
    match users {
        Some(m) => {
            let m = m.max(n);
            l.insert("users".to_string(), m.to_string());
            l.insert(
                "share".to_string(),
                format!("{n} of {m} clusters that use it"),
            );
        }
        None => {
            l.insert("users".to_string(), "unknown".to_string());
            l.insert("share".to_string(), format!("{n} clusters"));
        }
    }
    f.labels = l;
    render_text(f, pat);
}

#[cfg(test)]
mod tests;
