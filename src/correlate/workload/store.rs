//! What the workload detector remembers: the latest status document of each workload,
//! ReplicaSet, Pod and PVC, and small rings of the Events that name a cause.
//!
//! Owns: [`Store`] and its caps. Does not own: what a cause is
//! (`classify::workload`) or how objects link (`chain`).
//!
//! Invariant: bounded. Every map holds at most [`Store::cap`] keys (the least recently
//! seen tenth goes first, counted in `evicted`), every ring [`EVENTS_PER_OBJECT`]
//! Events; Events older than the Event TTL and documents older than the status TTL
//! are pruned at each tick. Only Events with a cause are kept (benign ones cost
//! nothing), so memory scales with failing objects, not with the cluster.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rustc_hash::FxHashMap;

use std::cell::OnceCell;

use crate::classify::workload::{event_cause, pod_causes, Cause};
use crate::record::{Class, Detail, ObjectInfo, ObjectRef, PodInfo, Record, Sym, TsMs};

/// Most cause-bearing Events kept per involved object.
pub const EVENTS_PER_OBJECT: usize = 8;

/// Label groups the Flux controllers put on what they apply
/// (`<group>/name`, `<group>/namespace`): Kustomizations', HelmReleases'.
pub const KUSTOMIZE_LABEL: &str = "kustomize.toolkit.fluxcd.io";
pub const HELM_LABEL: &str = "helm.toolkit.fluxcd.io";

/// A Flux object as a workload's labels name it: (label group, namespace, name).
pub type OwnerKey = (&'static str, Box<str>, Box<str>);

/// The value of label `<group>/<key>`.
pub fn label<'a>(labels: &'a [(String, String)], group: &str, key: &str) -> Option<&'a str> {
    labels
        .iter()
        .find(|(a, _)| a.strip_prefix(group).and_then(|r| r.strip_prefix('/')) == Some(key))
        .map(|(_, v)| v.as_str())
}

/// Default cap of each map (workloads, Pods, PVCs, objects with Events, nodes).
pub const DEFAULT_CAP: usize = 4_096;

/// Kinds whose documents and Events the store keeps.
pub const WORKLOAD_KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
];

/// True for the records the workload family keeps: workload, Pod and PVC documents,
/// and Events about them or about Nodes.
pub fn is_workload_record(rec: &Record) -> bool {
    let Some(o) = &rec.object else {
        return false;
    };
    let kind = o.kind.as_str();
    let kind_ok = kind == "Pod"
        || kind == "PersistentVolumeClaim"
        || WORKLOAD_KINDS.contains(&kind)
        || (kind == "Node" && matches!(rec.detail, Detail::Event(_)));
    kind_ok
        && matches!(
            rec.detail,
            Detail::Event(_) | Detail::Pod(_) | Detail::Object(_)
        )
}

/// One kept Event, verbatim.
#[derive(Debug, Clone)]
pub struct KeptEvent {
    pub involved: ObjectRef,
    pub uid: Option<String>,
    pub reason: String,
    pub message: String,
    pub event_type: Option<String>,
    pub reporter: Option<String>,
    pub count: Option<u64>,
    pub first: Option<TsMs>,
    pub last: TsMs,
    pub cause: Cause,
    /// The record's own class (taxonomy §1), for finding evidence.
    pub class: Class,
}

/// A status document and when it was last seen.
#[derive(Debug, Clone)]
pub struct Doc<T> {
    /// Boxed: the maps' nodes then hold a pointer per slot, not a whole document (a
    /// B-tree node has 11 slots, most of them often empty).
    pub info: Box<T>,
    pub seen: TsMs,
    /// The record's class (a failing Pod's status class).
    pub class: Class,
    /// The causes a Pod's status shows (`classify::workload::pod_causes`), worked out
    /// the first time a chain looks at the Pod, not at every evaluation.
    pub causes: OnceCell<Vec<Cause>>,
}

impl Doc<PodInfo> {
    /// The causes this Pod's status shows.
    pub fn pod_causes(&self) -> &[Cause] {
        self.causes.get_or_init(|| pod_causes(&self.info))
    }
}

/// The workload detector's memory.
#[derive(Debug)]
pub struct Store {
    pub cap: usize,
    /// Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs.
    pub workloads: BTreeMap<ObjectRef, Doc<ObjectInfo>>,
    pub pods: BTreeMap<ObjectRef, Doc<PodInfo>>,
    pub pvcs: BTreeMap<ObjectRef, Doc<ObjectInfo>>,
    /// Cause-bearing Events by involved object (Pods, workloads, PVCs).
    pub events: BTreeMap<ObjectRef, VecDeque<KeptEvent>>,
    /// Node Events (SystemOOM, OOMKilling) by node name.
    pub node_events: BTreeMap<String, VecDeque<KeptEvent>>,
    /// Workload keys by the Flux object their labels name, so the workloads of a
    /// release are found without a walk over every workload. A superset: read through
    /// [`Store::labelled`], which checks each against `workloads`; swept at `prune`
    /// and when it outgrows twice the cap.
    by_owner: FxHashMap<OwnerKey, BTreeSet<ObjectRef>>,
    by_owner_entries: usize,
    pub evicted: u64,
}

impl Default for Store {
    fn default() -> Self {
        Store::with_cap(DEFAULT_CAP)
    }
}

impl Store {
    pub fn with_cap(cap: usize) -> Self {
        Store {
            cap: cap.max(1),
            workloads: BTreeMap::new(),
            pods: BTreeMap::new(),
            pvcs: BTreeMap::new(),
            events: BTreeMap::new(),
            node_events: BTreeMap::new(),
            by_owner: FxHashMap::default(),
            by_owner_entries: 0,
            evicted: 0,
        }
    }

    /// Keys held over all maps, and Events over all rings.
    pub fn counts(&self) -> (usize, usize) {
        let keys = self.workloads.len()
            + self.pods.len()
            + self.pvcs.len()
            + self.events.len()
            + self.node_events.len();
        let events = self.events.values().map(VecDeque::len).sum::<usize>()
            + self.node_events.values().map(VecDeque::len).sum::<usize>();
        (keys, events)
    }

    /// Takes one workload-side record at `ts`. True when it changed what is known.
    pub fn ingest(&mut self, rec: &Record, ts: TsMs) -> bool {
        let Some(o) = rec.object.clone() else {
            return false;
        };
        match &rec.detail {
            Detail::Pod(p) => {
                if p.watch_type.as_deref() == Some("DELETED") {
                    return self.pods.remove(&o).is_some();
                }
                let cap = self.cap;
                // A Pod links to its controller by ownerRef or name, never by labels:
                // they are not kept (a chart's Pod carries a dozen).
                let mut info = (**p).clone();
                info.labels = Vec::new();
                let doc = (info, rec.class);
                insert(&mut self.pods, cap, &mut self.evicted, o, doc, ts);
                true
            }
            Detail::Object(info) => {
                let deleted = info.watch_type.as_deref() == Some("DELETED");
                let cap = self.cap;
                let map = if o.kind == "PersistentVolumeClaim" {
                    &mut self.pvcs
                } else {
                    &mut self.workloads
                };
                if deleted {
                    return map.remove(&o).is_some();
                }
                // Of the labels, only Flux's own say who applied the workload.
                let mut info = (**info).clone();
                info.labels
                    .retain(|(k, _)| k.contains(".toolkit.fluxcd.io/"));
                info.labels.shrink_to_fit();
                let owned = o.kind != "PersistentVolumeClaim" && !info.labels.is_empty();
                if owned {
                    for group in [KUSTOMIZE_LABEL, HELM_LABEL] {
                        let ns = label(&info.labels, group, "namespace");
                        let name = label(&info.labels, group, "name");
                        if let (Some(ns), Some(name)) = (ns, name) {
                            let key = (group, ns.into(), name.into());
                            if self.by_owner.entry(key).or_default().insert(o.clone()) {
                                self.by_owner_entries += 1;
                            }
                        }
                    }
                }
                insert(map, cap, &mut self.evicted, o, (info, rec.class), ts);
                if self.by_owner_entries > 2 * cap {
                    self.sweep_owners();
                }
                true
            }
            Detail::Event(e) => {
                let reason = rec.reason.as_deref().unwrap_or("");
                let Some(cause) = event_cause(reason, &rec.msg) else {
                    return false;
                };
                let kept = KeptEvent {
                    involved: o.clone(),
                    uid: e.involved_uid.clone(),
                    reason: reason.to_string(),
                    message: rec.msg.clone(),
                    event_type: e.event_type.clone(),
                    reporter: e.reporter.clone(),
                    count: e.count,
                    first: e.first_ms,
                    last: e.last_ms.unwrap_or(ts),
                    cause,
                    class: rec.class,
                };
                let cap = self.cap;
                if o.kind == "Node" {
                    let key = o.name.to_string();
                    push_event(&mut self.node_events, cap, &mut self.evicted, key, kept);
                } else {
                    push_event(&mut self.events, cap, &mut self.evicted, o, kept);
                }
                true
            }
            _ => false,
        }
    }

    /// Drops Events last seen more than `event_ttl` ago and documents not seen for
    /// `status_ttl`.
    pub fn prune(&mut self, now: TsMs, event_ttl: i64, status_ttl: i64) {
        self.events.retain(|_, r| {
            r.retain(|e| now - e.last <= event_ttl);
            !r.is_empty()
        });
        self.node_events.retain(|_, r| {
            r.retain(|e| now - e.last <= event_ttl);
            !r.is_empty()
        });
        self.workloads.retain(|_, d| now - d.seen <= status_ttl);
        self.pods.retain(|_, d| now - d.seen <= status_ttl);
        self.pvcs.retain(|_, d| now - d.seen <= status_ttl);
        self.sweep_owners();
    }

    /// Drops owner-index entries whose workload is gone.
    fn sweep_owners(&mut self) {
        let workloads = &self.workloads;
        let mut n = 0;
        self.by_owner.retain(|_, set| {
            set.retain(|k| workloads.contains_key(k));
            n += set.len();
            !set.is_empty()
        });
        self.by_owner_entries = n;
    }

    /// The workloads whose `group` labels name `namespace`/`name` now, in key order
    /// (the order of `workloads`).
    pub fn labelled<'a>(
        &'a self,
        group: &'static str,
        namespace: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a ObjectRef> + 'a {
        let key: OwnerKey = (group, namespace.into(), name.into());
        self.by_owner
            .get(&key)
            .into_iter()
            .flatten()
            .filter(move |k| {
                self.workloads.get(*k).is_some_and(|d| {
                    label(&d.info.labels, group, "namespace") == Some(namespace)
                        && label(&d.info.labels, group, "name") == Some(name)
                })
            })
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.workloads.is_empty()
            && self.pods.is_empty()
            && self.pvcs.is_empty()
            && self.events.is_empty()
            && self.node_events.is_empty()
    }

    /// Events about `o`.
    pub fn events_of(&self, o: &ObjectRef) -> impl Iterator<Item = &KeptEvent> {
        self.events.get(o).into_iter().flatten()
    }
}

/// Entries of `map` about a `kind` in `ns` whose name starts with `prefix`, by a
/// range of the ordered keys (kind, namespace, name): no walk over the whole map.
pub fn with_prefix<'a, V>(
    map: &'a BTreeMap<ObjectRef, V>,
    kind: &'a str,
    ns: &'a Sym,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a ObjectRef, &'a V)> + 'a {
    let start = ObjectRef::new(kind, ns.clone(), prefix);
    map.range(start..).take_while(move |(k, _)| {
        k.kind == kind && k.namespace == *ns && k.name.starts_with(prefix)
    })
}

/// Inserts under the cap: when full, the least recently seen tenth goes.
fn insert<T>(
    map: &mut BTreeMap<ObjectRef, Doc<T>>,
    cap: usize,
    evicted: &mut u64,
    k: ObjectRef,
    (info, class): (T, Class),
    ts: TsMs,
) {
    if !map.contains_key(&k) && map.len() >= cap {
        let mut ages: Vec<(TsMs, ObjectRef)> =
            map.iter().map(|(k, d)| (d.seen, k.clone())).collect();
        ages.sort_unstable();
        let n = (cap / 10).max(1);
        for (_, k) in ages.into_iter().take(n) {
            map.remove(&k);
            *evicted += 1;
        }
    }
    let seen = map.get(&k).map_or(ts, |d| d.seen.max(ts));
    map.insert(
        k,
        Doc {
            info: Box::new(info),
            seen,
            class,
            causes: OnceCell::new(),
        },
    );
}

/// Adds an Event to its object's ring: the same reason and message updates the kept
/// one (count, last), a new one pushes out the oldest past [`EVENTS_PER_OBJECT`].
fn push_event<K: Ord + Clone>(
    map: &mut BTreeMap<K, VecDeque<KeptEvent>>,
    cap: usize,
    evicted: &mut u64,
    k: K,
    e: KeptEvent,
) {
    if !map.contains_key(&k) && map.len() >= cap {
        let mut ages: Vec<(TsMs, K)> = map
            .iter()
            .map(|(k, r)| (r.back().map_or(TsMs::MIN, |e| e.last), k.clone()))
            .collect();
        ages.sort_unstable();
        let n = (cap / 10).max(1);
        for (_, k) in ages.into_iter().take(n) {
            if let Some(r) = map.remove(&k) {
                *evicted += r.len() as u64;
            }
        }
    }
    let ring = map.entry(k).or_default();
    if let Some(x) = ring
        .iter_mut()
        .find(|x| x.reason == e.reason && x.message == e.message && x.uid == e.uid)
    {
        x.count = e.count.or(x.count);
        x.class = e.class;
        x.last = x.last.max(e.last);
        x.first = match (x.first, e.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        return;
    }
    if ring.len() >= EVENTS_PER_OBJECT {
        ring.pop_front();
        *evicted += 1;
    }
    ring.push_back(e);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{EventInfo, Format};

    fn event(pod: &str, i: usize, ts: TsMs) -> Record {
        Record {
            ts: Some(ts),
            format: Format::K8sEvent,
            object: Some(ObjectRef::new("Pod", "shop", pod)),
            reason: Some("Failed".into()),
            msg: format!("Failed to pull image \"ghcr.io/acme/web:v{i}\": not found"),
            detail: Detail::Event(Box::new(EventInfo {
                last_ms: Some(ts),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[test]
    fn rings_and_maps_stay_under_their_caps() {
        let mut s = Store::with_cap(50);
        for i in 0..1_000 {
            s.ingest(&event(&format!("web-{}", i % 200), i, i as TsMs), i as TsMs);
        }
        assert!(s.events.len() <= 50, "{}", s.events.len());
        assert!(s.events.values().all(|r| r.len() <= EVENTS_PER_OBJECT));
        assert!(s.evicted > 0);
    }

    #[test]
    fn benign_events_are_not_kept_and_old_ones_expire() {
        let mut s = Store::default();
        let mut pulling = event("web-1", 0, 1_000);
        pulling.reason = Some("Pulling".into());
        assert!(!s.ingest(&pulling, 1_000));
        assert!(s.ingest(&event("web-1", 1, 1_000), 1_000));
        assert!(
            s.ingest(&event("web-1", 1, 2_000), 2_000),
            "same Event again"
        );
        assert_eq!(s.counts(), (1, 1));
        s.prune(1_000 + 3_600_001 + 1_000, 3_600_000, 6 * 3_600_000);
        assert_eq!(s.counts(), (0, 0));
    }
}
