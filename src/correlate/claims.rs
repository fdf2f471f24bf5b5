//! Root-cause grouping: claims (ARCHITECTURE.md "Root causes group symptoms").
//!
//! A root finding *claims* the objects it explains: a host's network or rate-limit
//! finding its sources and their consumers, an auth finding its source and consumers,
//! a failing or missing source its consumers, an OOM cascade the failures after it, a
//! failing dependency its waiters. Every symptom pattern (stalled, slow, drift and
//! loops, the source-failure root itself) asks [`Shared::claimed`] before it fires,
//! and a symptom's own failures are attached to the root's `impacted` entry
//! ([`Shared::group_symptom`]) instead.
//!
//! Owns: the claim order ([`ClaimRank`]), the claim map's updates and symptom
//! attachment. Does not own the root detectors themselves (each family declares the
//! ranks it grants: `detector::Detector::claims`; the source-failure root is the
//! graph family's).
//!
//! Invariant: a claim is only replaced by a root of equal or higher rank while the
//! claiming finding fires; a claim whose finding stopped firing explains nothing, so
//! the symptom can surface on its own (or stay quiet if it recovered).

use std::collections::BTreeMap;

use super::finding::ImpactDetail;
use super::objects::parse_kind_ns_name;
use super::pattern_id::PatternId;
use super::shared::Shared;
use crate::record::{Class, ObjectRef, TsMs};

/// Which root explains an object when several could, lowest first. A claim is kept
/// against any lower-ranked claim: OOM cascade > host rate limit > host network >
/// source auth > source failure > dependency > workload > the object's own finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClaimRank {
    /// A per-object pattern of the object itself (build, health check, …).
    Own,
    /// `workload_failure`: the workload cause below the object's health check.
    Workload,
    /// `dependency_blocked` / `dependency_cycle` over `dependsOn` edges.
    Dependency,
    /// `dependency_blocked` whose subject is a failing or missing source.
    SourceFailure,
    SourceAuth,
    HostNetwork,
    HostRateLimit,
    OomCascade,
}

/// Kinds a consumer takes its artifact from (`spec.sourceRef`, chart sources).
const SOURCE_KINDS: &[&str] = &[
    "GitRepository",
    "OCIRepository",
    "HelmRepository",
    "HelmChart",
    "Bucket",
];

pub(crate) fn is_source_kind(kind: &str) -> bool {
    SOURCE_KINDS.contains(&kind)
}

/// The rank of a claim by the finding of (`pattern`, `subject`).
pub(crate) fn claim_rank(pattern: PatternId, subject: &ObjectRef) -> ClaimRank {
    match pattern {
        PatternId::OomCascade => ClaimRank::OomCascade,
        PatternId::RateLimitExhaustion => ClaimRank::HostRateLimit,
        PatternId::NetworkDegradation => ClaimRank::HostNetwork,
        PatternId::GitAuthFailure => ClaimRank::SourceAuth,
        PatternId::DependencyBlocked if is_source_kind(&subject.kind) => ClaimRank::SourceFailure,
        PatternId::DependencyBlocked | PatternId::DependencyCycle => ClaimRank::Dependency,
        PatternId::WorkloadFailure => ClaimRank::Workload,
        _ => ClaimRank::Own,
    }
}

/// What a pattern's findings do in root-cause grouping, for people (`fluxsight explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// A root cause: its findings claim the objects they explain, at these ranks
    /// (`dependency_blocked` ranks by its subject: a source or a `dependsOn` target).
    Root {
        ranks: &'static [ClaimRank],
        /// What it claims.
        claims: &'static str,
    },
    /// A symptom: quiet while a root claims its object (the object's failures go to the
    /// root's `impacted` entry); surfaces when the root resolves and it still fails.
    Symptom,
    /// About its subject's own failure: kept, not grouped, whatever claims the object.
    Own,
}

/// The grouping role of `pattern` (ARCHITECTURE.md "Root causes group symptoms"): the
/// ranks are [`claim_rank`]'s, the symptoms those whose detectors ask for a claim
/// before they fire.
pub fn grouping(pattern: PatternId) -> Grouping {
    const SOURCE_OR_DEPENDENCY: &[ClaimRank] = &[ClaimRank::SourceFailure, ClaimRank::Dependency];
    let root = |ranks, claims| Grouping::Root { ranks, claims };
    match pattern {
        PatternId::OomCascade => root(
            &[ClaimRank::OomCascade],
            "the failures that follow the controller's OOM kill",
        ),
        PatternId::RateLimitExhaustion => root(
            &[ClaimRank::HostRateLimit],
            "the host's sources and the objects that consume them",
        ),
        PatternId::NetworkDegradation => root(
            &[ClaimRank::HostNetwork],
            "the host's sources and the objects that consume them",
        ),
        PatternId::GitAuthFailure => root(
            &[ClaimRank::SourceAuth],
            "its source and the objects that consume it",
        ),
        PatternId::DependencyBlocked => root(
            SOURCE_OR_DEPENDENCY,
            "about a failing or missing source: its consumers that wait on it \
             (source_not_ready); about a dependsOn target: the objects waiting on it",
        ),
        PatternId::DependencyCycle => root(
            &[ClaimRank::Dependency],
            "the objects waiting on each other in the cycle",
        ),
        PatternId::WorkloadFailure => root(
            &[ClaimRank::Workload],
            "the Kustomization or HelmRelease whose health check or Helm wait timed out on \
             the workload (its health_check_failure / helm_release_failure)",
        ),
        PatternId::StalledReconciliation
        | PatternId::SlowReconciliation
        | PatternId::DriftDetected
        | PatternId::ReconcileLoop => Grouping::Symptom,
        _ => Grouping::Own,
    }
}

/// The source a consumer's failure names: `Source 'GitRepository/ns/name' not found`,
/// `HelmChart 'ns/name' is not ready`, `could not get Source object:
/// GitRepository.source.toolkit.fluxcd.io "name" not found`, or an artifact URL
/// `…/gitrepository/ns/name/….tar.gz`. The bool says the source does not exist.
pub(crate) fn source_in_message(msg: &str, of: &ObjectRef) -> Option<(ObjectRef, bool)> {
    let not_found = |rest: &str| rest.trim_start().starts_with("not found");
    if let Some(i) = msg.find("Source '") {
        let rest = &msg[i + 8..];
        let j = rest.find('\'')?;
        let o = parse_kind_ns_name(&rest[..j])?;
        let o = if o.namespace.is_empty() {
            ObjectRef::new(o.kind, of.namespace.clone(), o.name)
        } else {
            o
        };
        return is_source_kind(&o.kind).then(|| (o, not_found(&rest[j + 1..])));
    }
    for kind in SOURCE_KINDS {
        // `GitRepository.source.toolkit.fluxcd.io "name" not found`
        let api = format!("{kind}.source.toolkit.fluxcd.io \"");
        if let Some(i) = msg.find(&api) {
            let rest = &msg[i + api.len()..];
            let j = rest.find('"')?;
            let o = ObjectRef::new(*kind, of.namespace.clone(), &rest[..j]);
            return Some((o, not_found(&rest[j + 1..])));
        }
        // `HelmChart 'ns/name' is not ready`
        let quoted = format!("{kind} '");
        if let Some(i) = msg.find(&quoted) {
            let rest = &msg[i + quoted.len()..];
            let j = rest.find('\'')?;
            let (ns, name) = rest[..j]
                .split_once('/')
                .unwrap_or((&of.namespace, &rest[..j]));
            let o = ObjectRef::new(*kind, ns, name);
            return Some((o, not_found(&rest[j + 1..])));
        }
        // source-controller's artifact URL: `/<kind lower-case>/<ns>/<name>/`
        let path = format!("/{}/", kind.to_ascii_lowercase());
        if let Some(i) = msg.find(&path) {
            let mut it = msg[i + path.len()..].split('/');
            if let (Some(ns), Some(name), Some(_)) = (it.next(), it.next(), it.next()) {
                if !ns.is_empty() && !name.is_empty() {
                    return Some((ObjectRef::new(*kind, ns, name), false));
                }
            }
        }
    }
    None
}

impl Shared {
    /// A claim by the root finding (`pattern`, `subject`) on `o`. An existing claim
    /// whose finding still fires and outranks this one is kept.
    pub(crate) fn claim(&mut self, o: &ObjectRef, pattern: PatternId, subject: &ObjectRef) {
        if let Some((p, s)) = self.claims.get(o) {
            let keep = (*p != pattern || s != subject)
                && self.findings.is_firing(*p, s)
                && claim_rank(*p, s) > claim_rank(pattern, subject);
            if keep {
                return;
            }
        }
        if !self.claims.contains_key(o) && self.claims.len() >= self.caps.objects {
            self.trim_claims();
        }
        self.claims.insert(o.clone(), (pattern, subject.clone()));
    }

    /// Claims whose root finding no longer fires explain nothing; drop those, then (if
    /// still full) the highest-ordered tenth, so the map stays under `caps.objects`.
    fn trim_claims(&mut self) {
        let before = self.claims.len();
        let findings = &self.findings;
        self.claims.retain(|_, (p, s)| findings.is_firing(*p, s));
        let cap = self.caps.objects.max(1);
        if self.claims.len() >= cap {
            let mut keys: Vec<ObjectRef> = self.claims.keys().cloned().collect();
            keys.sort_unstable();
            let keep = cap - (cap / 10).max(1);
            for k in keys.into_iter().skip(keep) {
                self.claims.remove(&k);
            }
        }
        self.evictions.claims += (before - self.claims.len()) as u64;
    }

    /// True when a firing root finding explains `o`.
    pub(crate) fn claimed(&self, o: &ObjectRef) -> bool {
        self.root_of(o).is_some()
    }

    /// The firing finding that claims `o`, with its rank.
    pub(crate) fn root_of(&self, o: &ObjectRef) -> Option<(PatternId, &ObjectRef, ClaimRank)> {
        let (p, s) = self.claims.get(o)?;
        self.findings
            .is_firing(*p, s)
            .then(|| (*p, s, claim_rank(*p, s)))
    }

    /// True when a firing root other than `o`'s own finding, ranked above `rank`,
    /// explains `o`.
    pub(crate) fn claimed_above(&self, o: &ObjectRef, rank: ClaimRank) -> bool {
        self.root_of(o).is_some_and(|(_, _, r)| r > rank)
    }

    /// The root that explains a failure of `o` that has no pattern of its own: `o`'s
    /// claim, or else the claim on the source `o` consumes (a source that cannot
    /// fetch makes its consumers fail too).
    fn symptom_root(&self, o: &ObjectRef) -> Option<(PatternId, ObjectRef)> {
        let above_own = |(p, s, r): (PatternId, &ObjectRef, ClaimRank)| {
            (r > ClaimRank::Own && s != o).then(|| (p, s.clone()))
        };
        if let Some(root) = self.root_of(o).and_then(above_own) {
            return Some(root);
        }
        let src = self.objects.get(o)?.source_ref.as_ref()?;
        self.root_of(src).and_then(above_own)
    }

    /// Attaches a failure of `o` (one without a per-object pattern: a source that is
    /// not ready, a fetch error) to the root finding that explains it: `o` is listed
    /// in the root's `impacted` with its own evidence and claimed by it, so it raises
    /// no finding of its own. Does not refresh the root's evidence time: a symptom
    /// does not keep its root open.
    pub(crate) fn group_symptom(&mut self, o: &ObjectRef, ts: TsMs, class: Class, message: &str) {
        let Some((pattern, subject)) = self.symptom_root(o) else {
            return;
        };
        let tenant = self.tenant_of(o);
        let seed = self.impact_seed(o).unwrap_or_else(|| ImpactDetail {
            object: o.clone(),
            count: 1,
            first_failed: ts,
            last_failed: ts,
            class,
            message: message.to_string(),
        });
        if let Some(f) = self.findings.update(pattern, &subject) {
            f.add_impact(seed);
            f.add_tenant(&tenant);
        }
        self.claim(o, pattern, &subject);
    }

    /// `o`'s own failures since it began failing (count, first and last failure),
    /// for its `impacted` entry; `None` when it is not failing, or failing for a
    /// cause of its own (a per-object pattern) that the root does not explain.
    pub(crate) fn impact_seed(&self, o: &ObjectRef) -> Option<ImpactDetail> {
        let s = self.objects.get(o)?;
        let since = s.failing_since?;
        let last = s.attempts.back()?;
        if super::objects::has_own_pattern(last.class) {
            return None;
        }
        Some(ImpactDetail {
            object: o.clone(),
            count: s.attempts_in(last.ts, last.ts - since, |_| true).max(1),
            first_failed: since,
            last_failed: last.ts,
            class: last.class,
            message: last.message.clone(),
        })
    }

    /// Notes the source a consumer's `source_not_ready` failure names (a consumer
    /// known only from logs has no `sourceRef` snapshot) and whether it is missing.
    pub(crate) fn note_source_of(&mut self, o: &ObjectRef, msg: &str, ts: TsMs) {
        let Some((src, missing)) = source_in_message(msg, o) else {
            return;
        };
        let known = self.objects.get(o).and_then(|s| s.source_ref.clone());
        if known.is_none() {
            self.obj_mut(o, ts).source_ref = Some(src.clone());
            self.add_consumer(&src, o);
        }
        if missing && known.as_ref().is_none_or(|k| *k == src) {
            self.obj_mut(&src, ts).missing_at = Some(ts);
        }
    }
}

/// The tenant named most often (ties: the first in sort order); `None` when empty.
pub(crate) fn most_affected<'a>(tenants: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut n: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tenants.filter(|t| !t.is_empty()) {
        *n.entry(t).or_default() += 1;
    }
    let max = n.values().copied().max()?;
    n.into_iter()
        .find(|(_, c)| *c == max)
        .map(|(t, _)| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(name: &str) -> ObjectRef {
        ObjectRef::new("Kustomization", "apps", name)
    }

    #[test]
    fn sources_named_by_consumers() {
        let (o, missing) =
            source_in_message("Source 'GitRepository/apps/fleet' not found", &ks("a")).unwrap();
        assert_eq!(o, ObjectRef::new("GitRepository", "apps", "fleet"));
        assert!(missing);
        let (o, missing) = source_in_message(
            "could not get Source object: GitRepository.source.toolkit.fluxcd.io \"fleet\" not found",
            &ks("a"),
        )
        .unwrap();
        assert_eq!(o, ObjectRef::new("GitRepository", "apps", "fleet"));
        assert!(missing);
        let (o, missing) =
            source_in_message("HelmChart 'apps/apps-redis' is not ready: x", &ks("a")).unwrap();
        assert_eq!(o, ObjectRef::new("HelmChart", "apps", "apps-redis"));
        assert!(!missing);
        let (o, _) = source_in_message(
            "failed to download archive: GET http://source-controller.flux-system.svc.cluster.local./gitrepository/alpha/monorepo/abc.tar.gz: dial tcp",
            &ks("a"),
        )
        .unwrap();
        assert_eq!(o, ObjectRef::new("GitRepository", "alpha", "monorepo"));
        assert!(
            source_in_message("Source artifact not found, retrying in 30s", &ks("a")).is_none()
        );
    }

    #[test]
    fn grouping_agrees_with_the_claim_ranks() {
        let subject = ObjectRef::new("Kustomization", "ns", "app");
        for &p in PatternId::ALL {
            match grouping(p) {
                Grouping::Root { ranks, .. } => {
                    assert!(ranks.contains(&claim_rank(p, &subject)), "{p}");
                    assert!(!ranks.contains(&ClaimRank::Own), "{p}");
                }
                Grouping::Symptom | Grouping::Own => {
                    assert_eq!(claim_rank(p, &subject), ClaimRank::Own, "{p}")
                }
            }
        }
        let source = ObjectRef::new("GitRepository", "ns", "repo");
        assert_eq!(
            claim_rank(PatternId::DependencyBlocked, &source),
            ClaimRank::SourceFailure
        );
    }

    #[test]
    fn claim_order() {
        let host = ObjectRef::new("Host", "", "github.com");
        let repo = ObjectRef::new("GitRepository", "apps", "fleet");
        let order = [
            claim_rank(PatternId::BuildFailure, &ks("a")),
            claim_rank(
                PatternId::WorkloadFailure,
                &ObjectRef::new("Deployment", "apps", "web"),
            ),
            claim_rank(PatternId::DependencyBlocked, &ks("a")),
            claim_rank(PatternId::DependencyBlocked, &repo),
            claim_rank(PatternId::GitAuthFailure, &repo),
            claim_rank(PatternId::NetworkDegradation, &host),
            claim_rank(PatternId::RateLimitExhaustion, &host),
            claim_rank(
                PatternId::OomCascade,
                &ObjectRef::new("Deployment", "flux-system", "source-controller"),
            ),
        ];
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    }

    #[test]
    fn a_lower_root_does_not_take_a_claim_while_the_higher_fires() {
        use crate::correlate::Settings;
        use crate::record::Severity;
        let mut c = Shared::new(
            Settings::default(),
            crate::correlate::state::Caps::default(),
        );
        let host = ObjectRef::new("Host", "", "github.com");
        let repo = ObjectRef::new("GitRepository", "apps", "fleet");
        c.findings.upsert(
            PatternId::NetworkDegradation,
            &host,
            Severity::Warning,
            0,
            600_000,
        );
        c.claim(&repo, PatternId::NetworkDegradation, &host);
        c.findings.upsert(
            PatternId::GitAuthFailure,
            &repo,
            Severity::Error,
            1,
            600_000,
        );
        c.claim(&repo, PatternId::GitAuthFailure, &repo);
        let root = |c: &Shared| c.root_of(&repo).map(|(p, _, _)| p);
        assert_eq!(root(&c), Some(PatternId::NetworkDegradation));
        assert!(c.claimed_above(&repo, ClaimRank::SourceAuth));
        // The host recovered: its claim explains nothing, the auth root takes over.
        c.findings.resolve(PatternId::NetworkDegradation, &host, 2);
        assert_eq!(root(&c), None);
        c.claim(&repo, PatternId::GitAuthFailure, &repo);
        assert_eq!(root(&c), Some(PatternId::GitAuthFailure));
    }

    #[test]
    fn most_affected_tenant() {
        assert_eq!(
            most_affected(["b", "a", "b", "c"].into_iter()).as_deref(),
            Some("b")
        );
        assert_eq!(most_affected(["c", "a"].into_iter()).as_deref(), Some("a"));
        assert_eq!(most_affected(std::iter::empty()), None);
    }
}
