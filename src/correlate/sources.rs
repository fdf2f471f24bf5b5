//! Source-side detectors: `git_auth_failure`, `rate_limit_exhaustion`,
//! `network_degradation`, and the provider host of a failure.

use std::collections::{BTreeMap, BTreeSet};

use super::claims::{most_affected, ClaimRank};
use super::finding::{Evidence, ImpactDetail};
use super::pattern_id::PatternId;
use super::{vars, Correlator};
use crate::record::{Class, ObjectRef, Record, TsMs};

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

impl Correlator {
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
            if out.len() > 1000 {
                break;
            }
        }
        out
    }

    fn evidence_of(&self, obj: &ObjectRef, n: usize) -> Vec<Evidence> {
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

    pub(super) fn detect_auth(&mut self, obj: &ObjectRef, ts: TsMs) {
        let pat = self.settings.patterns.shared(PatternId::GitAuthFailure);
        let Some(s) = self.objects.get(obj) else {
            return;
        };
        let n = s.attempts_in(ts, pat.ms("window"), |c| c == Class::GitAuthFailed);
        let already = self.findings.is_firing(PatternId::GitAuthFailure, obj);
        if n < pat.n("min_attempts") && !already {
            return;
        }
        let consumers = self.consumers_of(obj);
        let seeds: Vec<ImpactDetail> = consumers
            .iter()
            .filter_map(|c| self.impact_seed(c))
            .collect();
        let tenant = self.tenant_of(obj);
        let tenants: Vec<String> = consumers.iter().map(|c| self.tenant_of(c)).collect();
        let evidence = self.evidence_of(obj, 3);
        let url = s.url.clone();
        let first = s
            .attempts
            .iter()
            .find(|a| ts - a.ts <= pat.ms("window") && a.class == Class::GitAuthFailed)
            .map(|a| a.ts)
            .unwrap_or(ts);
        let f = self.findings.upsert(
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
            self.claim(&c, PatternId::GitAuthFailure, obj);
        }
        self.claim(obj, PatternId::GitAuthFailure, obj);
    }

    pub(super) fn detect_rate_limit(
        &mut self,
        rec: &Record,
        obj: &ObjectRef,
        ctrl: Option<&str>,
        ts: TsMs,
    ) {
        let msg = rec.message();
        let url = self.objects.get(obj).and_then(|s| s.url.clone());
        let Some(host) = host_of(&msg).or_else(|| url.as_deref().and_then(host_of)) else {
            return;
        };
        if let Some(c) = ctrl {
            self.ctrl_mut(c).rate_limited_at = Some(ts);
        }
        if url.is_none() {
            if let Some(u) = first_url(&msg) {
                self.obj_mut(obj, ts).set_url(&u);
            }
        }
        let pat = self
            .settings
            .patterns
            .shared(PatternId::RateLimitExhaustion);
        let window = pat.ms("window");
        self.touch_host(&host, ts);
        let Some(h) = self.hosts.get_mut(&host) else {
            return;
        };
        let new_attempt = h.rate_limited.push(ts, obj, window);
        let attempts = h.rate_limited.attempts();
        let first = h.rate_limited.first().unwrap_or(ts);
        let generation = h.rate_limited.generation();
        let subject = host_ref(&host);
        let already = self
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
        let shares = full.then(|| self.request_shares(&host, &sources));
        let evidence = self.evidence_of(obj, 1);
        let tenant_of: Vec<(ObjectRef, String)> = sources
            .iter()
            .map(|o| (o.clone(), self.tenant_of(o)))
            .collect();
        let f = self.findings.upsert(
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
            for c in self.consumers_of(&o) {
                self.claim(&c, PatternId::RateLimitExhaustion, &subject);
            }
            self.claim(&o, PatternId::RateLimitExhaustion, &subject);
        }
    }

    /// Per-tenant share of requests to `host`: polling rate (1/interval) of every known
    /// source on that host, or the observed runs when no interval is known.
    fn request_shares(&self, host: &str, limited: &BTreeSet<ObjectRef>) -> Shares {
        let mut per_tenant: BTreeMap<String, f64> = BTreeMap::new();
        let mut per_obj: Vec<(f64, ObjectRef, String)> = Vec::new();
        for (o, s) in &self.objects {
            let on_host = s.url_host.as_deref() == Some(host) || limited.contains(o);
            if !on_host {
                continue;
            }
            let rate = match s.interval_ms {
                Some(iv) if iv > 0 => 3_600_000.0 / iv as f64,
                _ => s.runs.len().max(1) as f64,
            };
            let t = self.tenant_of(o);
            *per_tenant.entry(t.clone()).or_default() += rate;
            per_obj.push((rate, o.clone(), t));
        }
        shares_from(per_tenant, per_obj)
    }

    pub(super) fn detect_network(&mut self, rec: &Record, obj: &ObjectRef, ts: TsMs) {
        let msg = rec.message();
        let url = self.objects.get(obj).and_then(|s| s.url.clone());
        let Some(host) = host_of(&msg).or_else(|| url.as_deref().and_then(host_of)) else {
            return;
        };
        if is_internal(&host) {
            return;
        }
        if url.is_none() {
            if let Some(u) = first_url(&msg) {
                self.obj_mut(obj, ts).set_url(&u);
            }
        }
        let pat = self.settings.patterns.shared(PatternId::NetworkDegradation);
        let window = pat.ms("window");
        self.touch_host(&host, ts);
        let Some(h) = self.hosts.get_mut(&host) else {
            return;
        };
        let new_attempt = h.network.push(ts, obj, window);
        let attempts = h.network.attempts();
        let first = h.network.first().unwrap_or(ts);
        let generation = h.network.generation();
        let subject = host_ref(&host);
        let already = self
            .findings
            .is_firing(PatternId::NetworkDegradation, &subject);
        if !already {
            let h = &self.hosts[&host];
            let persisting = || {
                h.network.sources().any(|o| {
                    let iv = self.objects.get(o).and_then(|s| s.interval_ms);
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
                .filter(|o| !self.claimed_above(o, ClaimRank::HostNetwork))
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
            .filter_map(|o| self.impact_seed(o))
            .collect();
        if !full && !self.claimed_above(obj, ClaimRank::HostNetwork) {
            seeds.extend(self.impact_seed(obj));
        }
        // Tenants of everything listed (sources and grouped consumers), for `tenants`
        // and the most affected one as `tenant`.
        let listed: Vec<ObjectRef> = if full {
            let mut v: Vec<ObjectRef> = self
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
        let tenants: Vec<String> = listed.iter().map(|o| self.tenant_of(o)).collect();
        let top = most_affected(tenants.iter().map(String::as_str));
        let evidence = self.evidence_of(obj, 1);
        let f = self.findings.upsert(
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
            for c in self.consumers_of(&o) {
                self.claim(&c, PatternId::NetworkDegradation, &subject);
            }
            self.claim(&o, PatternId::NetworkDegradation, &subject);
        }
    }

    /// A source on a host with a firing `network_degradation` succeeded: once no
    /// impacted source on that host is failing, the host has recovered.
    pub(super) fn resolve_recovered_host(&mut self, obj: &ObjectRef, ts: TsMs) {
        let Some(host) = self.objects.get(obj).and_then(|s| s.url_host.clone()) else {
            return;
        };
        let subject = host_ref(&host);
        let Some(f) = self
            .findings
            .get(PatternId::NetworkDegradation, &subject)
            .filter(|f| f.status == super::Status::Firing)
        else {
            return;
        };
        let still_failing = f.impacted.iter().any(|o| {
            self.objects.get(o).is_some_and(|s| {
                s.url_host.as_deref() == Some(host.as_str()) && s.failing_since.is_some()
            })
        });
        if !still_failing {
            self.findings
                .resolve(PatternId::NetworkDegradation, &subject, ts);
        }
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
