//! The findings view: the latest state of every finding the live pipeline emitted, by
//! id, for the findings API (`server::api`) and anything else that shows the current
//! findings (the HTML live view reads the same view).
//!
//! Owns: keeping each finding's last emitted state, how long a resolved one stays
//! ([`ViewLimits::retention_ms`], measured from when the view saw it resolve), the cap on
//! what it holds ([`ViewLimits::max_findings`]: past it the oldest resolved finding is
//! dropped first, then the least recently updated firing one; every drop is counted by
//! the caller in `fluxsight_findings_view_dropped_total`), filtering ([`FindingsQuery`])
//! and the display order ([`display_order`]). Does not own: rendering (the API renders
//! with `render::finding::native`, which redacts) nor the correlator's own table.
//!
//! Why one `RwLock` around plain maps and not a `dashmap`: every read is a scan of the
//! whole view (filter, count `total`, sort), which wants one consistent snapshot, and
//! the cap needs a global order (oldest resolved first) that a sharded map cannot give
//! without a second index under another lock. Writes come once per correlator batch
//! that changed a finding (material changes only); reads come at human or polling rate.
//! The writer holds the lock for a few map updates; a reader holds it only to clone
//! `Arc`s of the matching findings and renders after releasing it.
//!
//! Invariants: at most `max_findings` entries; an entry's indexes (firing by update
//! order, resolved by resolution time) always agree with its status; a read never
//! returns a resolved finding older than the retention, even before the next write
//! expires it.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::correlate::finding::{Finding, Status};
use crate::correlate::Output;
use crate::record::{Severity, TsMs};

/// Default cap on the findings held.
pub const DEFAULT_MAX_FINDINGS: usize = 10_000;
/// Default time a resolved finding stays visible: 1 h.
pub const DEFAULT_RETENTION_MS: TsMs = 3_600_000;

/// How much the view holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewLimits {
    /// Findings held at most (at least 1).
    pub max_findings: usize,
    /// How long a resolved finding stays after the view saw it resolve, in ms.
    pub retention_ms: TsMs,
}

impl Default for ViewLimits {
    fn default() -> Self {
        ViewLimits {
            max_findings: DEFAULT_MAX_FINDINGS,
            retention_ms: DEFAULT_RETENTION_MS,
        }
    }
}

/// One finding's last state.
struct Entry {
    finding: Arc<Finding>,
    /// Update order: the firing index's key.
    seq: u64,
    /// When the view saw it resolved (its wall time, not the finding's).
    resolved_at: Option<TsMs>,
}

#[derive(Default)]
struct ViewState {
    by_id: HashMap<String, Entry>,
    /// Firing entries, least recently updated first.
    firing: BTreeSet<(u64, String)>,
    /// Resolved entries, oldest resolution first.
    resolved: BTreeSet<(TsMs, u64, String)>,
    seq: u64,
}

impl ViewState {
    fn unindex(&mut self, id: &str) -> Option<Entry> {
        let e = self.by_id.remove(id)?;
        match e.resolved_at {
            Some(at) => self.resolved.remove(&(at, e.seq, id.to_string())),
            None => self.firing.remove(&(e.seq, id.to_string())),
        };
        Some(e)
    }

    /// Stores `f`'s state; the number of other entries dropped for room.
    fn put(&mut self, f: Arc<Finding>, now: TsMs, max: usize) -> u64 {
        let id = f.id.clone();
        let previous = self.unindex(&id);
        self.seq += 1;
        let seq = self.seq;
        let resolved_at = match f.status {
            Status::Firing => None,
            // A finding re-emitted while resolved keeps the time it resolved at.
            Status::Resolved => Some(previous.and_then(|p| p.resolved_at).unwrap_or(now)),
        };
        match resolved_at {
            Some(at) => self.resolved.insert((at, seq, id.clone())),
            None => self.firing.insert((seq, id.clone())),
        };
        self.by_id.insert(
            id.clone(),
            Entry {
                finding: f,
                seq,
                resolved_at,
            },
        );
        let mut dropped = 0;
        while self.by_id.len() > max.max(1) {
            let victim = match self.resolved.iter().next() {
                Some((_, _, v)) => v.clone(),
                None => match self.firing.iter().find(|(_, v)| *v != id) {
                    Some((_, v)) => v.clone(),
                    None => break,
                },
            };
            self.unindex(&victim);
            dropped += 1;
        }
        dropped
    }

    /// Removes resolved entries past the retention.
    fn expire(&mut self, now: TsMs, retention: TsMs) {
        while let Some((at, _, id)) = self.resolved.iter().next().cloned() {
            if !expired(Some(at), now, retention) {
                break;
            }
            self.unindex(&id);
        }
    }
}

fn expired(resolved_at: Option<TsMs>, now: TsMs, retention: TsMs) -> bool {
    resolved_at.is_some_and(|at| at.saturating_add(retention) <= now)
}

/// The latest state of each finding, shared between the correlator loop (writer) and
/// the HTTP server (readers).
pub struct FindingsView {
    state: RwLock<ViewState>,
    limits: ViewLimits,
}

impl std::fmt::Debug for FindingsView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FindingsView")
            .field("len", &self.len())
            .field("limits", &self.limits)
            .finish()
    }
}

impl FindingsView {
    pub fn new(limits: ViewLimits) -> Self {
        FindingsView {
            state: RwLock::new(ViewState::default()),
            limits,
        }
    }

    pub fn limits(&self) -> ViewLimits {
        self.limits
    }

    // A panic elsewhere while holding the lock leaves whole maps behind (every update
    // is a few map operations): the view goes on with them.
    fn read(&self) -> RwLockReadGuard<'_, ViewState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, ViewState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the findings of `out` (audit records are not kept) at wall time `now`, and
    /// expires resolved findings past the retention; the number dropped for room.
    pub fn apply(&self, out: &[Output], now: TsMs) -> u64 {
        let mut findings = out
            .iter()
            .filter_map(|o| match o {
                Output::Finding(f) => Some(f),
                Output::Audit(_) => None,
            })
            .peekable();
        if findings.peek().is_none() {
            return 0;
        }
        let mut st = self.write();
        let mut dropped = 0;
        for f in findings {
            dropped += st.put(Arc::new((**f).clone()), now, self.limits.max_findings);
        }
        st.expire(now, self.limits.retention_ms);
        dropped
    }

    /// Stores one finding's state at wall time `now`; the number dropped for room.
    pub fn update(&self, f: Finding, now: TsMs) -> u64 {
        let mut st = self.write();
        let dropped = st.put(Arc::new(f), now, self.limits.max_findings);
        st.expire(now, self.limits.retention_ms);
        dropped
    }

    /// Removes resolved findings past the retention (the pipeline's tick calls it).
    pub fn expire(&self, now: TsMs) {
        let retention = self.limits.retention_ms;
        let due = self
            .read()
            .resolved
            .iter()
            .next()
            .is_some_and(|(at, _, _)| expired(Some(*at), now, retention));
        if due {
            self.write().expire(now, retention);
        }
    }

    /// Findings held (resolved ones past the retention included until the next write).
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The finding `id` at wall time `now`.
    pub fn get(&self, id: &str, now: TsMs) -> Option<Arc<Finding>> {
        let st = self.read();
        let e = st.by_id.get(id)?;
        (!expired(e.resolved_at, now, self.limits.retention_ms)).then(|| e.finding.clone())
    }

    /// The findings `q` selects at wall time `now`, in [`display_order`], at most
    /// `q.limit` of them, and how many matched in all.
    pub fn query(&self, q: &FindingsQuery, now: TsMs) -> (Vec<Arc<Finding>>, usize) {
        let mut hits: Vec<Arc<Finding>> = {
            let st = self.read();
            st.by_id
                .values()
                .filter(|e| !expired(e.resolved_at, now, self.limits.retention_ms))
                .filter(|e| q.matches(&e.finding))
                .map(|e| e.finding.clone())
                .collect()
        };
        let total = hits.len();
        hits.sort_by(|a, b| display_order(a, b));
        hits.truncate(q.limit);
        (hits, total)
    }
}

/// Firing first, then the most severe, then the most recently seen (then by id, so the
/// order is total).
pub fn display_order(a: &Finding, b: &Finding) -> Ordering {
    let firing = |f: &Finding| f.status == Status::Firing;
    firing(b)
        .cmp(&firing(a))
        .then_with(|| b.severity.cmp(&a.severity))
        .then_with(|| b.last_seen.cmp(&a.last_seen))
        .then_with(|| a.id.cmp(&b.id))
}

/// Default number of findings one query returns.
pub const DEFAULT_LIMIT: usize = 500;
/// Most findings one query may ask for.
pub const MAX_LIMIT: usize = 5_000;

/// Which findings a query selects: each list is "any of" (empty: no filter on it), and
/// all lists must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingsQuery {
    pub status: Vec<Status>,
    pub pattern: Vec<String>,
    /// The finding's `tenant` or any of its `tenants`.
    pub tenant: Vec<String>,
    /// The subject's namespace.
    pub namespace: Vec<String>,
    pub severity: Vec<Severity>,
    pub limit: usize,
}

impl Default for FindingsQuery {
    fn default() -> Self {
        FindingsQuery {
            status: Vec::new(),
            pattern: Vec::new(),
            tenant: Vec::new(),
            namespace: Vec::new(),
            severity: Vec::new(),
            limit: DEFAULT_LIMIT,
        }
    }
}

impl FindingsQuery {
    pub fn matches(&self, f: &Finding) -> bool {
        let any = |list: &[String], hit: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|v| hit(v))
        };
        (self.status.is_empty() || self.status.contains(&f.status))
            && (self.severity.is_empty() || self.severity.contains(&f.severity))
            && any(&self.pattern, &|p| f.pattern == p)
            && any(&self.namespace, &|n| *f.subject.namespace == *n)
            && any(&self.tenant, &|t| {
                f.tenant == t || f.tenants.iter().any(|x| x == t)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::PatternId;
    use crate::record::ObjectRef;

    fn finding(name: &str, status: Status, severity: Severity, last_seen: TsMs) -> Finding {
        Finding {
            status,
            severity,
            last_seen,
            tenant: "team".into(),
            tenants: vec!["team".into()],
            ..Finding::example(
                PatternId::BuildFailure,
                ObjectRef::new("Kustomization", "apps", name),
            )
        }
    }

    fn limits(max: usize, retention_ms: TsMs) -> ViewLimits {
        ViewLimits {
            max_findings: max,
            retention_ms,
        }
    }

    fn names(v: &[Arc<Finding>]) -> Vec<String> {
        v.iter().map(|f| f.subject.name.to_string()).collect()
    }

    #[test]
    fn keeps_the_latest_state_by_id() {
        let view = FindingsView::new(ViewLimits::default());
        view.update(finding("a", Status::Firing, Severity::Error, 1), 0);
        view.update(
            Finding {
                count: 7,
                ..finding("a", Status::Firing, Severity::Error, 5)
            },
            1,
        );
        assert_eq!(view.len(), 1);
        let id = finding("a", Status::Firing, Severity::Error, 1).id;
        let got = view.get(&id, 2).unwrap();
        assert_eq!((got.count, got.last_seen), (7, 5));
        assert!(view.get("0000000000000000", 2).is_none());
    }

    #[test]
    fn resolved_findings_stay_for_the_retention_then_go() {
        let view = FindingsView::new(limits(10, 1_000));
        let f = finding("a", Status::Resolved, Severity::Error, 1);
        let id = f.id.clone();
        view.update(f.clone(), 10_000);
        // Re-emitted while resolved: the retention still counts from the first time.
        view.update(f, 10_500);
        assert!(view.get(&id, 10_999).is_some());
        // Reads hide it at once, before any write expires it.
        assert!(view.get(&id, 11_000).is_none());
        assert_eq!(view.query(&FindingsQuery::default(), 11_000).1, 0);
        assert_eq!(view.len(), 1);
        view.expire(11_000);
        assert_eq!(view.len(), 0);
        // A firing finding never expires.
        view.update(finding("b", Status::Firing, Severity::Error, 1), 0);
        view.expire(TsMs::MAX);
        assert_eq!(view.len(), 1);
    }

    #[test]
    fn a_resolved_finding_that_fires_again_is_firing_and_kept() {
        let view = FindingsView::new(limits(10, 1_000));
        view.update(finding("a", Status::Resolved, Severity::Error, 1), 0);
        view.update(finding("a", Status::Firing, Severity::Error, 2), 500);
        view.expire(5_000);
        let (items, total) = view.query(&FindingsQuery::default(), 5_000);
        assert_eq!(total, 1);
        assert_eq!(items[0].status, Status::Firing);
    }

    #[test]
    fn the_cap_drops_the_oldest_resolved_first_then_the_stalest_firing() {
        let view = FindingsView::new(limits(3, 3_600_000));
        assert_eq!(
            view.update(finding("f1", Status::Firing, Severity::Error, 1), 0),
            0
        );
        view.update(finding("r1", Status::Resolved, Severity::Error, 1), 10);
        view.update(finding("r2", Status::Resolved, Severity::Error, 1), 20);
        // Full: a fourth drops r1 (oldest resolved), though f1 is older.
        assert_eq!(
            view.update(finding("f2", Status::Firing, Severity::Error, 1), 30),
            1
        );
        let all = |v: &FindingsView| {
            let mut n = names(&v.query(&FindingsQuery::default(), 40).0);
            n.sort();
            n
        };
        assert_eq!(all(&view), ["f1", "f2", "r2"]);
        assert_eq!(
            view.update(finding("f3", Status::Firing, Severity::Error, 1), 40),
            1
        );
        assert_eq!(all(&view), ["f1", "f2", "f3"]);
        // No resolved one left: the least recently updated firing one goes. f1 was
        // updated after f2, so f2 is the stalest.
        view.update(finding("f1", Status::Firing, Severity::Error, 2), 50);
        assert_eq!(
            view.update(finding("f4", Status::Firing, Severity::Error, 1), 60),
            1
        );
        assert_eq!(all(&view), ["f1", "f3", "f4"]);
        assert_eq!(view.len(), 3);
    }

    #[test]
    fn order_is_firing_then_severity_then_newest() {
        let view = FindingsView::new(ViewLimits::default());
        view.update(
            finding("res-crit", Status::Resolved, Severity::Critical, 9),
            0,
        );
        view.update(finding("warn-new", Status::Firing, Severity::Warning, 9), 0);
        view.update(finding("err-old", Status::Firing, Severity::Error, 1), 0);
        view.update(finding("err-new", Status::Firing, Severity::Error, 5), 0);
        view.update(finding("res-info", Status::Resolved, Severity::Info, 9), 0);
        let (items, total) = view.query(&FindingsQuery::default(), 0);
        assert_eq!(total, 5);
        assert_eq!(
            names(&items),
            ["err-new", "err-old", "warn-new", "res-crit", "res-info"]
        );
        let q = FindingsQuery {
            limit: 2,
            ..FindingsQuery::default()
        };
        let (items, total) = view.query(&q, 0);
        assert_eq!(
            (names(&items), total),
            (vec!["err-new".into(), "err-old".into()], 5)
        );
    }

    #[test]
    fn filters_are_any_of_within_a_list_and_all_across_lists() {
        let view = FindingsView::new(ViewLimits::default());
        view.update(finding("a", Status::Firing, Severity::Error, 1), 0);
        view.update(
            Finding {
                tenant: "shop".into(),
                tenants: vec!["shop".into(), "team".into()],
                ..Finding::example(
                    PatternId::GitAuthFailure,
                    ObjectRef::new("GitRepository", "flux-system", "repo"),
                )
            },
            0,
        );
        let count = |q: FindingsQuery| view.query(&q, 0).1;
        let q = FindingsQuery::default;
        assert_eq!(count(q()), 2);
        assert_eq!(
            count(FindingsQuery {
                namespace: vec!["flux-system".into()],
                ..q()
            }),
            1
        );
        // A tenant matches the blamed one and every affected one.
        assert_eq!(
            count(FindingsQuery {
                tenant: vec!["team".into()],
                ..q()
            }),
            2
        );
        assert_eq!(
            count(FindingsQuery {
                tenant: vec!["shop".into()],
                ..q()
            }),
            1
        );
        assert_eq!(
            count(FindingsQuery {
                pattern: vec!["git_auth_failure".into(), "build_failure".into()],
                status: vec![Status::Firing],
                ..q()
            }),
            2
        );
        assert_eq!(
            count(FindingsQuery {
                pattern: vec!["git_auth_failure".into()],
                namespace: vec!["apps".into()],
                ..q()
            }),
            0
        );
        assert_eq!(
            count(FindingsQuery {
                status: vec![Status::Resolved],
                ..q()
            }),
            0
        );
        assert_eq!(
            count(FindingsQuery {
                severity: vec![Severity::Warning],
                ..q()
            }),
            0
        );
    }

    #[test]
    fn apply_keeps_findings_and_skips_audit_records() {
        let view = FindingsView::new(limits(1, 1_000));
        let out = vec![
            Output::Finding(Box::new(finding("a", Status::Firing, Severity::Error, 1))),
            Output::Finding(Box::new(finding("b", Status::Firing, Severity::Error, 1))),
        ];
        // Cap 1: the second drops the first.
        assert_eq!(view.apply(&out, 0), 1);
        assert_eq!(names(&view.query(&FindingsQuery::default(), 0).0), ["b"]);
        assert_eq!(view.apply(&[], 0), 0);
    }
}
