//! The live lookups seam: what the workload detector asks the Kubernetes side to fetch
//! after a health-check failure, and what comes back.
//!
//! Owns: [`Lookup`] (one request per named workload), [`LookupResult`] (the documents
//! fetched, already decoded into records, and the resources the API forbade) and
//! [`LookupLimiter`], which rate-limits requests per workload. Does not own the GETs
//! (the live source does them) nor their wiring (the pipeline): this module is pure,
//! no async, no I/O, so replay and the unit tests drive it with plain calls.
//!
//! Invariant: at most one [`Lookup`] per workload per `lookup_interval`; the queue of
//! pending lookups is capped ([`MAX_PENDING_LOOKUPS`], the oldest dropped and counted),
//! so a caller that never drains (replay) costs bounded memory.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use crate::record::{ObjectRef, Record, TsMs};

/// Most lookups queued for [`crate::correlate::Correlator::take_lookups`].
pub const MAX_PENDING_LOOKUPS: usize = 256;

/// Most workloads whose last lookup time is remembered for rate limiting.
pub const MAX_LIMITED_WORKLOADS: usize = 4_096;

/// A request to fetch one workload and what hangs off it (its ReplicaSets or Pods by
/// selector, their PVCs), made after `flux_object` failed its health check naming
/// `workload`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The Kustomization or HelmRelease whose health check named the workload.
    pub flux_object: ObjectRef,
    /// `kind/namespace/name` of the workload (Deployment, StatefulSet, DaemonSet, Job).
    pub workload: ObjectRef,
    /// When the lookup was asked for (correlator time).
    pub at: TsMs,
}

/// What a [`Lookup`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LookupResult {
    /// The workload the lookup was about.
    pub workload: ObjectRef,
    /// The fetched workload, ReplicaSet, Pod and PVC documents (and any Events),
    /// decoded by the caller into records (`parse::k8s`).
    pub records: Vec<Record>,
    /// Resources the API server forbade (`"pods"`, `"replicasets"`, …): the finding's
    /// coverage becomes partial (`rbac_forbidden`).
    pub denied: Vec<String>,
    /// When the result arrived (correlator time).
    pub at: TsMs,
}

/// Rate limit of lookups per workload, and the queue the caller drains.
#[derive(Debug, Default)]
pub struct LookupLimiter {
    last: FxHashMap<ObjectRef, TsMs>,
    queue: VecDeque<Lookup>,
    /// Lookups dropped because the queue was full (never drained).
    pub dropped: u64,
}

impl LookupLimiter {
    /// Queues a lookup of `workload` for `flux_object` at `at` unless one was asked for
    /// less than `interval_ms` ago. True when queued.
    pub fn ask(
        &mut self,
        flux_object: &ObjectRef,
        workload: &ObjectRef,
        at: TsMs,
        interval_ms: i64,
    ) -> bool {
        if self
            .last
            .get(workload)
            .is_some_and(|t| at - *t < interval_ms && at >= *t)
        {
            return false;
        }
        if !self.last.contains_key(workload) && self.last.len() >= MAX_LIMITED_WORKLOADS {
            // Forget the limits that have lapsed; if none has, the oldest.
            self.last.retain(|_, t| at - *t < interval_ms);
            if self.last.len() >= MAX_LIMITED_WORKLOADS {
                if let Some(k) = self
                    .last
                    .iter()
                    .min_by(|a, b| a.1.cmp(b.1).then_with(|| a.0.cmp(b.0)))
                    .map(|(k, _)| k.clone())
                {
                    self.last.remove(&k);
                }
            }
        }
        self.last.insert(workload.clone(), at);
        if self.queue.len() >= MAX_PENDING_LOOKUPS {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back(Lookup {
            flux_object: flux_object.clone(),
            workload: workload.clone(),
            at,
        });
        true
    }

    /// Takes every queued lookup, oldest first.
    pub fn take(&mut self) -> Vec<Lookup> {
        self.queue.drain(..).collect()
    }

    /// Workloads whose last lookup time is remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// Lookups queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks() -> ObjectRef {
        ObjectRef::new("Kustomization", "shop", "checkout")
    }

    fn web() -> ObjectRef {
        ObjectRef::new("Deployment", "shop", "web")
    }

    #[test]
    fn one_lookup_per_workload_per_interval() {
        let mut l = LookupLimiter::default();
        assert!(l.ask(&ks(), &web(), 1_000, 60_000));
        assert!(!l.ask(&ks(), &web(), 30_000, 60_000), "within the interval");
        let other = ObjectRef::new("Deployment", "shop", "api");
        assert!(l.ask(&ks(), &other, 30_000, 60_000), "another workload");
        assert!(l.ask(&ks(), &web(), 61_000, 60_000), "interval elapsed");
        let got = l.take();
        assert_eq!(
            got.iter()
                .map(|x| (x.workload.name.to_string(), x.at))
                .collect::<Vec<_>>(),
            [
                ("web".into(), 1_000),
                ("api".into(), 30_000),
                ("web".into(), 61_000)
            ]
        );
        assert_eq!(got[0].flux_object, ks());
        assert!(l.take().is_empty(), "drained");
    }

    #[test]
    fn an_undrained_queue_stays_bounded() {
        let mut l = LookupLimiter::default();
        for i in 0..(MAX_LIMITED_WORKLOADS + 100) {
            let w = ObjectRef::new("Deployment", "shop", format!("w{i}"));
            l.ask(&ks(), &w, i as i64, 60_000);
        }
        assert_eq!(l.queued(), MAX_PENDING_LOOKUPS);
        assert_eq!(
            l.dropped,
            (MAX_LIMITED_WORKLOADS + 100 - MAX_PENDING_LOOKUPS) as u64
        );
        assert!(l.len() <= MAX_LIMITED_WORKLOADS);
    }
}
