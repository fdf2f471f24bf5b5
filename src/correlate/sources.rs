//! The source family ([`SourceHealth`]): `git_auth_failure`, `rate_limit_exhaustion`,
//! `network_degradation`, and the provider host of a failure.
//!
//! Owns: the per-host failure windows (`hosts`), the parameter table of its three
//! patterns, and the host and auth claims. Does not own: the consumers of a source
//! (shared) or the claim map's rules (`claims`).

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use super::claims::{most_affected, ClaimRank};
use super::detector::{count, duration, Consumes, Detector, PatternParams, TickPhase};
use super::finding::ImpactDetail;
use super::pattern_id::PatternId;
use super::shared::Shared;
use super::state::{self, Caps, Evictions, HostState};
use super::vars;
use crate::record::{Class, ObjectRef, Record, TsMs};

/// The source family: auth failures of a source, rate limits and network trouble of
/// a provider host.
#[derive(Default)]
pub(crate) struct SourceHealth {
    /// Provider host → its failure windows.
    pub hosts: FxHashMap<String, HostState>,
}

impl SourceHealth {
    /// The patterns this family emits and the parameters it reads (durations in ms).
    pub const PARAMS: &'static [PatternParams] = &[
        PatternParams {
            pattern: PatternId::GitAuthFailure,
            params: &[
                count("min_attempts", 3.0),
                duration("window", 900_000.0),
                duration("resolve_after", 600_000.0),
            ],
        },
        PatternParams {
            pattern: PatternId::RateLimitExhaustion,
            params: &[
                count("min_attempts", 5.0),
                duration("window", 900_000.0),
                duration("resolve_after", 900_000.0),
            ],
        },
        PatternParams {
            pattern: PatternId::NetworkDegradation,
            params: &[
                count("min_sources", 2.0),
                count("min_intervals", 2.0),
                count("min_attempts", 3.0),
                duration("window", 900_000.0),
                duration("resolve_after", 600_000.0),
            ],
        },
    ];
}

impl Detector for SourceHealth {
    fn name(&self) -> &'static str {
        "SourceHealth"
    }

    fn consumes(&self) -> Consumes {
        Consumes {
            classes: &[
                Class::GitAuthFailed,
                Class::RateLimited,
                Class::NetworkError,
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
        &[
            ClaimRank::SourceAuth,
            ClaimRank::HostNetwork,
            ClaimRank::HostRateLimit,
        ]
    }

    fn on_record(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        match rec.class {
            Class::GitAuthFailed => detect_auth(sh, obj, ts),
            Class::RateLimited => self.detect_rate_limit(sh, rec, obj, ts),
            Class::NetworkError => self.detect_network(sh, rec, obj, ts),
            _ => {}
        }
    }

    fn on_recovery(&mut self, sh: &mut Shared, _rec: &Record, obj: &ObjectRef, ts: TsMs) {
        self.resolve_recovered_host(sh, obj, ts);
        sh.findings.resolve(PatternId::GitAuthFailure, obj, ts);
    }

    fn on_tick(&mut self, sh: &mut Shared, _now: TsMs, phase: TickPhase) {
        if phase == TickPhase::Main {
            let ev = state::evict_oldest(&mut self.hosts, sh.caps.hosts, |h| h.last_seen);
            sh.evictions.hosts += ev;
        }
    }
}

/// The provider host a failure of `obj` talks to: named in the message, or the
/// host of the object's URL.
pub(crate) fn host_of_failure(sh: &Shared, rec: &Record, obj: &ObjectRef) -> Option<String> {
    let url = sh.objects.get(obj).and_then(|s| s.url.as_deref());
    host_of(&rec.message()).or_else(|| url.and_then(host_of))
}

/// The provider host a message or URL talks to (`github.com`), without user info or port.
pub fn host_of(text: &str) -> Option<String> {
    let lower = text;
    let mut best: Option<&str> = None;
    for scheme in ["https://", "http://", "ssh://", "oci://", "git://"] {
        if let Some(i) = lower.find(scheme) {
            let rest = &lower[i + scheme.len()..];
            let end = rest
                .find(['/', '\'', '"', ' ', '?', '`', ')', ']', '\\'])
                .unwrap_or(rest.len());
            let auth = &rest[..end];
            let host = auth.rsplit('@').next().unwrap_or(auth);
            if best.is_none() {
                best = Some(host);
            }
            break;
        }
    }
    if best.is_none() {
        // scp-like `git@github.com:org/repo`
        if let Some(i) = text.find("git@") {
            let rest = &text[i + 4..];
            let end = rest.find([':', '/', ' ', '\'']).unwrap_or(rest.len());
            best = Some(&rest[..end]);
        } else if let Some(i) = text.find("lookup ") {
            let rest = &text[i + 7..];
            let end = rest.find([' ', ':']).unwrap_or(rest.len());
            best = Some(&rest[..end]);
        }
    }
    let h = best?;
    let h = match h.rfind(':') {
        Some(i) if h[i + 1..].chars().all(|c| c.is_ascii_digit()) => &h[..i],
        _ => h,
    };
    let h = h.trim_end_matches('.').to_ascii_lowercase();
    if h.is_empty() || h.len() > 253 || !h.contains('.') && h != "localhost" {
        return None;
    }
    Some(h)
}

/// Cluster-internal hosts (source-controller's artifact server and other Services):
/// failures to reach them are the controller's fault, not the network's.
fn is_internal(host: &str) -> bool {
    host.ends_with(".svc") || host.contains(".svc.") || host.ends_with(".local")
}

fn share_pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn detect_auth(sh: &mut Shared, obj: &ObjectRef, ts: TsMs) {
    let pat = sh.settings.patterns.shared(PatternId::GitAuthFailure);
    let Some(s) = sh.objects.get(obj) else {
        return;
    };
    let n = s.attempts_in(ts, pat.ms("window"), |c| c == Class::GitAuthFailed);
    let already = sh.findings.is_firing(PatternId::GitAuthFailure, obj);
    if n < pat.n("min_attempts") && !already {
        return;
    }
    let consumers = sh.consumers_of(obj);
    let seeds: Vec<ImpactDetail> = consumers.iter().filter_map(|c| sh.impact_seed(c)).collect();
    let tenant = sh.tenant_of(obj);
    let tenants: Vec<String> = consumers.iter().map(|c| sh.tenant_of(c)).collect();
    let evidence = sh.evidence_of(obj, 3);
    let url = s.url.clone();
    let first = s
        .attempts
        .iter()
        .find(|a| ts - a.ts <= pat.ms("window") && a.class == Class::GitAuthFailed)
        .map(|a| a.ts)
        .unwrap_or(ts);
    let f = sh.findings.upsert(
        PatternId::GitAuthFailure,
        obj,
        pat.severity,
        ts,
        pat.ms("resolve_after") as u64,
    );
    if f.count == 0 {
        f.first_seen = f.first_seen.min(first);
    }
    f.note_attempt(ts, n);
    f.tenant = tenant.clone();
    f.add_tenant(&tenant);
    for t in &tenants {
        f.add_tenant(t);
    }
    for c in &consumers {
        f.add_impacted(c);
    }
    for d in seeds {
        f.add_impact(d);
    }
    if let Some(h) = url.as_deref().and_then(host_of) {
        f.labels.insert("host".into(), h);
    }
    for e in evidence {
        f.add_evidence(e);
    }
    vars::fill_text(f, &pat);
    for c in consumers {
        sh.claim(&c, PatternId::GitAuthFailure, obj);
    }
    sh.claim(obj, PatternId::GitAuthFailure, obj);
}

/// Per-tenant share of requests to `host`: polling rate (1/interval) of every known
/// source on that host, or the observed runs when no interval is known.
fn request_shares(sh: &Shared, host: &str, limited: &BTreeSet<ObjectRef>) -> Shares {
    let mut per_tenant: BTreeMap<String, f64> = BTreeMap::new();
    let mut per_obj: Vec<(f64, ObjectRef, String)> = Vec::new();
    let on_host = sh.by_host.get(host);
    let limited_elsewhere = limited
        .iter()
        .filter(|o| !on_host.is_some_and(|set| set.contains(*o)));
    for o in on_host.into_iter().flatten().chain(limited_elsewhere) {
        let Some(s) = sh.objects.get(o) else {
            continue;
        };
        let rate = match s.interval_ms {
            Some(iv) if iv > 0 => 3_600_000.0 / iv as f64,
            _ => s.runs.len().max(1) as f64,
        };
        let t = sh.tenant_of(o);
        *per_tenant.entry(t.clone()).or_default() += rate;
        per_obj.push((rate, o.clone(), t));
    }
    shares_from(per_tenant, per_obj)
}

impl SourceHealth {
    fn detect_rate_limit(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        let msg = rec.message();
        let url = sh.objects.get(obj).and_then(|s| s.url.clone());
        let Some(host) = host_of(&msg).or_else(|| url.as_deref().and_then(host_of)) else {
            return;
        };
        if url.is_none() {
            if let Some(u) = first_url(&msg) {
                sh.set_url(obj, ts, &u);
            }
        }
        let pat = sh.settings.patterns.shared(PatternId::RateLimitExhaustion);
        let window = pat.ms("window");
        self.touch_host(&host, ts, &sh.caps, &mut sh.evictions);
        let Some(h) = self.hosts.get_mut(&host) else {
            return;
        };
        let new_attempt = h.rate_limited.push(ts, obj, window);
        let attempts = h.rate_limited.attempts();
        let first = h.rate_limited.first().unwrap_or(ts);
        let generation = h.rate_limited.generation();
        let subject = host_ref(&host);
        let already = sh
            .findings
            .is_firing(PatternId::RateLimitExhaustion, &subject);
        if attempts < pat.n("min_attempts") && !already {
            return;
        }
        // Sources, tenants, shares and claims change only when the set of sources does
        // (or slowly, with polling intervals): recomputed then, and every
        // FULL_REFRESH_MS; in between a failure only counts and adds evidence.
        let h = self.hosts.get_mut(&host).expect("touched above");
        let full = !already || needs_full(h.rate_full, generation, ts);
        let sources: BTreeSet<ObjectRef> = if full {
            h.rate_full = Some((generation, ts));
            h.rate_limited.sources().cloned().collect()
        } else {
            BTreeSet::new()
        };
        let shares = full.then(|| request_shares(sh, &host, &sources));
        let evidence = sh.evidence_of(obj, 1);
        let tenant_of: Vec<(ObjectRef, String)> = sources
            .iter()
            .map(|o| (o.clone(), sh.tenant_of(o)))
            .collect();
        let f = sh.findings.upsert(
            PatternId::RateLimitExhaustion,
            &subject,
            pat.severity,
            ts,
            pat.ms("resolve_after") as u64,
        );
        f.note_host_attempt(attempts, first, new_attempt);
        for (o, t) in &tenant_of {
            f.add_impacted(o);
            f.add_tenant(t);
        }
        if let Some(shares) = shares {
            f.labels.insert("host".into(), host.clone());
            if let Some((t, share, heaviest)) = shares.top {
                f.tenant = t;
                f.labels.insert("share".into(), format!("{share:.2}"));
                f.labels.insert("share_pct".into(), share_pct(share));
                f.labels.insert("heaviest".into(), heaviest);
            }
            f.labels.insert("tenant_shares".into(), shares.rendered);
        }
        for e in evidence {
            f.add_evidence(e);
        }
        vars::fill_text(f, &pat);
        for (o, _) in tenant_of {
            for c in sh.consumers_of(&o) {
                sh.claim(&c, PatternId::RateLimitExhaustion, &subject);
            }
            sh.claim(&o, PatternId::RateLimitExhaustion, &subject);
        }
    }

    fn detect_network(&mut self, sh: &mut Shared, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        let msg = rec.message();
        let url = sh.objects.get(obj).and_then(|s| s.url.clone());
        let Some(host) = host_of(&msg).or_else(|| url.as_deref().and_then(host_of)) else {
            return;
        };
        if is_internal(&host) {
            return;
        }
        if url.is_none() {
            if let Some(u) = first_url(&msg) {
                sh.set_url(obj, ts, &u);
            }
        }
        let pat = sh.settings.patterns.shared(PatternId::NetworkDegradation);
        let window = pat.ms("window");
        self.touch_host(&host, ts, &sh.caps, &mut sh.evictions);
        let Some(h) = self.hosts.get_mut(&host) else {
            return;
        };
        let new_attempt = h.network.push(ts, obj, window);
        let attempts = h.network.attempts();
        let first = h.network.first().unwrap_or(ts);
        let generation = h.network.generation();
        let subject = host_ref(&host);
        let already = sh
            .findings
            .is_firing(PatternId::NetworkDegradation, &subject);
        if !already {
            let h = &self.hosts[&host];
            let persisting = || {
                h.network.sources().any(|o| {
                    let iv = sh.objects.get(o).and_then(|s| s.interval_ms);
                    let iv = iv.unwrap_or(60_000) as i64;
                    h.network
                        .first_of(o)
                        .is_some_and(|f| ts - f >= pat.p("min_intervals") as i64 * iv)
                })
            };
            let fire = attempts >= pat.n("min_attempts")
                && (h.network.source_count() as u64 >= pat.n("min_sources") || persisting());
            if !fire {
                return;
            }
        }
        // As for rate limits: the sources' part is recomputed when the set changes.
        let h = self.hosts.get_mut(&host).expect("touched above");
        let full = !already || needs_full(h.network_full, generation, ts);
        // Sources already explained by a higher root (rate limit, cascade) don't count.
        let unexplained: Vec<ObjectRef> = if full {
            let sources: Vec<ObjectRef> = h.network.sources().cloned().collect();
            sources
                .into_iter()
                .filter(|o| !sh.claimed_above(o, ClaimRank::HostNetwork))
                .collect()
        } else {
            Vec::new()
        };
        if full && unexplained.is_empty() && !already {
            return;
        }
        if full {
            if let Some(h) = self.hosts.get_mut(&host) {
                h.network_full = Some((generation, ts));
            }
        }
        // Each source's own failures for its `impacted` entry: all listed ones on a
        // full update, the failing one otherwise.
        let mut seeds: Vec<ImpactDetail> = unexplained
            .iter()
            .filter_map(|o| sh.impact_seed(o))
            .collect();
        if !full && !sh.claimed_above(obj, ClaimRank::HostNetwork) {
            seeds.extend(sh.impact_seed(obj));
        }
        // Tenants of everything listed (sources and grouped consumers), for `tenants`
        // and the most affected one as `tenant`.
        let listed: Vec<ObjectRef> = if full {
            let mut v: Vec<ObjectRef> = sh
                .findings
                .get(PatternId::NetworkDegradation, &subject)
                .filter(|_| already)
                .map(|f| f.impacted.clone())
                .unwrap_or_default();
            v.extend(unexplained.iter().cloned());
            v
        } else {
            Vec::new()
        };
        let tenants: Vec<String> = listed.iter().map(|o| sh.tenant_of(o)).collect();
        let top = most_affected(tenants.iter().map(String::as_str));
        let evidence = sh.evidence_of(obj, 1);
        let f = sh.findings.upsert(
            PatternId::NetworkDegradation,
            &subject,
            pat.severity,
            ts,
            pat.ms("resolve_after") as u64,
        );
        f.note_host_attempt(attempts, first, new_attempt);
        for o in &unexplained {
            f.add_impacted(o);
        }
        for d in seeds {
            f.add_impact(d);
        }
        for t in &tenants {
            f.add_tenant(t);
        }
        if let Some(t) = top {
            f.tenant = t;
        }
        f.labels.insert("host".into(), host.clone());
        for e in evidence {
            f.add_evidence(e);
        }
        vars::fill_text(f, &pat);
        // The sources and everything consuming them are symptoms of the host.
        for o in unexplained {
            for c in sh.consumers_of(&o) {
                sh.claim(&c, PatternId::NetworkDegradation, &subject);
            }
            sh.claim(&o, PatternId::NetworkDegradation, &subject);
        }
    }

    /// A source on a host with a firing `network_degradation` succeeded: once no
    /// impacted source on that host is failing, the host has recovered.
    fn resolve_recovered_host(&mut self, sh: &mut Shared, obj: &ObjectRef, ts: TsMs) {
        let Some(host) = sh.objects.get(obj).and_then(|s| s.url_host.clone()) else {
            return;
        };
        let subject = host_ref(&host);
        let Some(f) = sh
            .findings
            .get(PatternId::NetworkDegradation, &subject)
            .filter(|f| f.status == super::Status::Firing)
        else {
            return;
        };
        let still_failing = f.impacted.iter().any(|o| {
            sh.objects.get(o).is_some_and(|s| {
                s.url_host.as_deref() == Some(host.as_str()) && s.failing_since.is_some()
            })
        });
        if !still_failing {
            sh.findings
                .resolve(PatternId::NetworkDegradation, &subject, ts);
        }
    }

    /// Creates or refreshes a provider host's state, evicting the least recently seen
    /// tenth when a new host would exceed `caps.hosts`.
    fn touch_host(&mut self, host: &str, ts: TsMs, caps: &Caps, ev: &mut Evictions) {
        if !self.hosts.contains_key(host) && self.hosts.len() >= caps.hosts {
            let cap = caps.hosts.saturating_sub(1);
            ev.hosts += state::evict_oldest(&mut self.hosts, cap, |h| h.last_seen);
        }
        let h = self.hosts.entry(host.to_string()).or_default();
        h.last_seen = h.last_seen.max(ts);
    }
}

/// Result of a share computation.
pub(crate) struct Shares {
    /// (tenant, share 0..1, heaviest objects)
    pub top: Option<(String, f64, String)>,
    /// `tenant=NN%` pairs, largest first.
    pub rendered: String,
}

pub(crate) fn shares_from(
    per_tenant: BTreeMap<String, f64>,
    mut per_obj: Vec<(f64, ObjectRef, String)>,
) -> Shares {
    let total: f64 = per_tenant.values().sum();
    if total <= 0.0 {
        return Shares {
            top: None,
            rendered: String::new(),
        };
    }
    let mut v: Vec<(String, f64)> = per_tenant
        .into_iter()
        .map(|(t, x)| (t, x / total))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rendered = v
        .iter()
        .take(10)
        .map(|(t, s)| format!("{t}={}", share_pct(*s)))
        .collect::<Vec<_>>()
        .join(", ");
    let top = v
        .first()
        .map(|(t, s)| (t.clone(), *s, heaviest(&mut per_obj, t)));
    Shares { top, rendered }
}

/// "Kind/ns/name (N/h), …" for the three heaviest of `tenant`'s objects.
pub(crate) fn heaviest(per_obj: &mut [(f64, ObjectRef, String)], tenant: &str) -> String {
    let mut objs: Vec<(f64, &ObjectRef)> = per_obj
        .iter()
        .filter(|(_, _, ot)| ot == tenant)
        .map(|(x, o, _)| (*x, o))
        .collect();
    heaviest_of(&mut objs)
}

/// "Kind/ns/name (N/h), …" for the three heaviest of `objs` (load first, then the
/// reference, so ties are deterministic). Selects the three without sorting the rest.
pub(crate) fn heaviest_of(objs: &mut [(f64, &ObjectRef)]) -> String {
    let order = |a: &(f64, &ObjectRef), b: &(f64, &ObjectRef)| {
        b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1))
    };
    let n = objs.len().min(3);
    if objs.len() > n {
        objs.select_nth_unstable_by(n, order);
    }
    let top = &mut objs[..n];
    top.sort_by(order);
    top.iter()
        .map(|(x, o)| format!("{o} ({x:.0}/h)"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn host_ref(host: &str) -> ObjectRef {
    ObjectRef::new("Host", "", host)
}

fn first_url(msg: &str) -> Option<String> {
    for scheme in ["https://", "http://", "ssh://"] {
        if let Some(i) = msg.find(scheme) {
            let rest = &msg[i..];
            let end = rest.find(['\'', '"', ' ', '`']).unwrap_or(rest.len());
            return Some(rest[..end].to_string());
        }
    }
    None
}

/// How often a firing host finding's sources, tenants and shares are recomputed when
/// its set of sources has not changed (record time).
pub const FULL_REFRESH_MS: i64 = 30_000;

/// Whether a host finding last fully updated at `last` (window generation, time) needs
/// a full update now: the sources changed, the refresh interval passed, or time went
/// back (a late record).
fn needs_full(last: Option<(u64, TsMs)>, generation: u64, ts: TsMs) -> bool {
    last.is_none_or(|(g, t)| g != generation || ts < t || ts - t >= FULL_REFRESH_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            host_of("unable to clone 'https://github.com/a/b': x").as_deref(),
            Some("github.com")
        );
        assert_eq!(
            host_of("unable to clone 'ssh://git@github.com/a/b'").as_deref(),
            Some("github.com")
        );
        assert_eq!(
            host_of("https://user:tok@gitlab.example.com:8443/x").as_deref(),
            Some("gitlab.example.com")
        );
        assert_eq!(
            host_of("dial tcp: lookup github.com on 10.96.0.10:53: i/o timeout").as_deref(),
            Some("github.com")
        );
        assert_eq!(host_of("no url here"), None);
        assert!(is_internal(
            "source-controller.flux-system.svc.cluster.local"
        ));
    }
}
