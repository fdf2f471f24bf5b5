//! Rebuilding Flux object → workload → ReplicaSet → Pods → Events/status → PVC from
//! what the store holds, and picking the cause (report-and-workload-rca.md §2.3, §2.5).
//!
//! Owns: the links (`ownerRef` by uid or owner name, `name` prefix, restricted to the
//! health-check window), the per-Pod earliest blocked stage, and the choice of the
//! cause covering the most unavailable replicas (ties: the earliest stage). Does not
//! own: the finding (`super`), the matcher (`classify::workload`).
//!
//! Invariant: a pure function of the store and its arguments; iteration is over
//! ordered maps, so the result is deterministic.

use std::collections::BTreeMap;

use crate::classify::workload::{Cause, Stage};
use crate::correlate::finding::{ChainLink, WorkloadEvidence};
use crate::record::{Class, ObjectInfo, ObjectRef, OwnerRef, TsMs};

use super::store::{with_prefix, KeptEvent, Store};

/// Most evidence entries kept per cause.
const EVIDENCE_PER_CAUSE: usize = 5;
/// Node Events this long before the window still count (a node OOM kills later).
const NODE_SLACK_MS: TsMs = 10 * 60_000;

/// The part of time name-only links are restricted to.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: TsMs,
    pub end: TsMs,
}

impl Window {
    fn has(&self, t: TsMs) -> bool {
        t >= self.start && t <= self.end
    }
}

/// A cause and the Pods (or replicas) it covers.
#[derive(Debug, Clone)]
pub struct Found {
    pub cause: Cause,
    pub pods: u64,
    pub evidence: Vec<WorkloadEvidence>,
    /// The Pod (or ReplicaSet, PVC, Node) the first evidence is about, with its link.
    pub tail: Vec<ChainLink>,
}

/// What is known about one workload.
#[derive(Debug, Clone)]
pub struct View {
    pub workload: ObjectRef,
    /// From the workload (not the Flux object) down.
    pub chain: Vec<ChainLink>,
    pub desired: Option<i64>,
    pub updated: Option<i64>,
    pub available: Option<i64>,
    /// Causes, the chosen one first.
    pub found: Vec<Found>,
    /// Any document or Event of the workload, its ReplicaSets or Pods was seen.
    pub known: bool,
    /// Events or Pod status were seen (else: expired, or never collected).
    pub saw_pods_or_events: bool,
    /// Some link was made by name only.
    pub name_only: bool,
}

fn link(object: &ObjectRef, uid: Option<&String>, how: &str) -> ChainLink {
    ChainLink {
        object: object.clone(),
        uid: uid.cloned(),
        link: how.to_string(),
    }
}

/// How `child` (owner `owner`, name `name`) hangs off `parent`: `ownerRef` when its
/// controller owner is the parent (same uid when both are known), `name` when only its
/// name says so (`<parent>-…`), `None` otherwise.
fn child_link(
    owner: Option<&OwnerRef>,
    name: &str,
    parent: &ObjectRef,
    parent_uid: Option<&String>,
    ordinal: bool,
) -> Option<&'static str> {
    if let Some(o) = owner {
        if o.kind == parent.kind.as_str() && o.name == parent.name.as_str() {
            return match (o.uid.as_ref(), parent_uid) {
                (Some(a), Some(b)) if a != b => None,
                _ => Some("ownerRef"),
            };
        }
        return None;
    }
    let rest = name.strip_prefix(parent.name.as_str())?.strip_prefix('-')?;
    let ok = if ordinal {
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())
    } else {
        !rest.is_empty()
    };
    ok.then_some("name")
}

fn evidence_of_event(e: &KeptEvent) -> WorkloadEvidence {
    WorkloadEvidence {
        source: "event".into(),
        reason: e.reason.clone(),
        event_type: e.event_type.clone(),
        reporter: e.reporter.clone(),
        involved_object: e.involved.clone(),
        uid: e.uid.clone(),
        record_class: e.class,
        message: e.message.clone(),
        count: e.count,
        first_seen: e.first,
        last_seen: Some(e.last),
    }
}

fn evidence_of_status(
    o: &ObjectRef,
    uid: Option<&String>,
    reason: &str,
    msg: String,
    seen: TsMs,
    class: Class,
) -> WorkloadEvidence {
    WorkloadEvidence {
        source: "status".into(),
        reason: reason.to_string(),
        event_type: None,
        reporter: None,
        involved_object: o.clone(),
        uid: uid.cloned(),
        record_class: class,
        message: msg,
        count: None,
        first_seen: None,
        last_seen: Some(seen),
    }
}

/// One candidate cause with its evidence and chain tail.
struct Candidate {
    cause: Cause,
    evidence: WorkloadEvidence,
    tail: Vec<ChainLink>,
}

/// The earliest stage wins; within a stage a specific cause over a generic one.
fn best(cands: Vec<Candidate>) -> Option<Candidate> {
    cands
        .into_iter()
        .min_by_key(|c| (c.cause.stage, !c.cause.specific))
}

/// Events about `o` that belong to the object of uid `uid` (a recreated object of the
/// same name has another uid); when `in_window`, only those inside `win`.
fn events_for<'a>(
    store: &'a Store,
    o: &ObjectRef,
    uid: Option<&'a String>,
    win: Option<Window>,
) -> impl Iterator<Item = &'a KeptEvent> + 'a {
    store.events_of(o).filter(move |e| {
        let same = match (e.uid.as_ref(), uid) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        same && win.is_none_or(|w| w.has(e.last) || e.first.is_some_and(|f| w.has(f)))
    })
}

/// Status text of a Pod's cause for evidence.
fn status_text(c: &Cause) -> String {
    c.params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the view of workload `w` for a failure inside `win`.
pub fn view(store: &Store, w: &ObjectRef, win: Window) -> View {
    let doc = store.workloads.get(w);
    let info: Option<&ObjectInfo> = doc.map(|d| &*d.info);
    let uid = info.and_then(|i| i.uid.as_ref());
    let wl = info.and_then(|i| i.workload.as_deref());
    let mut v = View {
        workload: w.clone(),
        chain: Vec::new(),
        desired: wl.and_then(|x| x.desired),
        updated: wl.and_then(|x| x.updated),
        available: wl.and_then(|x| x.available),
        found: Vec::new(),
        known: doc.is_some(),
        saw_pods_or_events: false,
        name_only: false,
    };
    // The controllers of the Pods: a Deployment's current ReplicaSet, else the
    // workload itself.
    let mut controllers: Vec<(ObjectRef, Option<String>, &'static str)> = Vec::new();
    let mut create: Vec<Candidate> = Vec::new();
    if w.kind == "Deployment" {
        let prefix = format!("{}-", w.name);
        let mut rs: Vec<(&ObjectRef, &ObjectInfo, TsMs, &'static str)> =
            with_prefix(&store.workloads, "ReplicaSet", &w.namespace, &prefix)
                .filter_map(|(k, d)| {
                    let l = child_link(d.info.owner.as_ref(), &k.name, w, uid, false)?;
                    Some((k, &*d.info, d.seen, l))
                })
                .collect();
        let want = wl.and_then(|x| x.revision.clone());
        rs.sort_by_key(|(k, i, seen, _)| {
            let rev = i.workload.as_ref().and_then(|x| x.revision.clone());
            (want.is_some() && rev == want, *seen, (*k).clone())
        });
        if let Some((k, i, _, l)) = rs.last() {
            controllers.push(((*k).clone(), i.uid.clone(), l));
        }
        // Events of ReplicaSets known only from Events (no document).
        if controllers.is_empty() {
            let by_events = with_prefix(&store.events, "ReplicaSet", &w.namespace, &prefix)
                .filter(|(k, _)| child_link(None, &k.name, w, None, false).is_some())
                .max_by_key(|(_, r)| r.back().map_or(TsMs::MIN, |e| e.last));
            if let Some((k, _)) = by_events {
                controllers.push((k.clone(), None, "name"));
            }
        }
    }
    if controllers.is_empty() {
        controllers.push((w.clone(), uid.cloned(), ""));
    }
    // Create stage: FailedCreate Events, ReplicaFailure conditions.
    for (c, c_uid, c_link) in &controllers {
        let win_if_name = (*c_link == "name").then_some(win);
        for e in events_for(store, c, c_uid.as_ref(), win_if_name) {
            v.known = true;
            v.saw_pods_or_events = true;
            let mut tail = Vec::new();
            if c != w {
                tail.push(link(c, c_uid.as_ref(), c_link));
            }
            create.push(Candidate {
                cause: e.cause.clone(),
                evidence: evidence_of_event(e),
                tail,
            });
        }
        let docs = [store.workloads.get(c), doc];
        for d in docs.into_iter().flatten() {
            if let Some(cond) = d
                .info
                .condition("ReplicaFailure")
                .filter(|c| c.status == "True")
            {
                if let Some(cause) =
                    crate::classify::workload::event_cause("FailedCreate", &cond.message)
                {
                    create.push(Candidate {
                        cause,
                        evidence: evidence_of_status(
                            c,
                            c_uid.as_ref(),
                            "ReplicaFailure",
                            cond.message.clone(),
                            d.seen,
                            d.class,
                        ),
                        tail: Vec::new(),
                    });
                }
            }
        }
        if c != w {
            v.known |= store.workloads.contains_key(c) || store.events.contains_key(c);
        }
    }
    // Pods: documents, and Pods known only from their Events.
    let ordinal = w.kind == "StatefulSet";
    let mut pods: BTreeMap<ObjectRef, (Option<String>, &'static str, &'static str)> =
        BTreeMap::new();
    for (c, c_uid, _) in &controllers {
        let prefix = format!("{}-", c.name);
        for (k, d) in with_prefix(&store.pods, "Pod", &c.namespace, &prefix) {
            if let Some(l) = child_link(d.info.owner.as_ref(), &k.name, c, c_uid.as_ref(), ordinal)
            {
                if l == "name" && !(win.has(d.seen) || any_event_in(store, k, win)) {
                    continue;
                }
                pods.insert(k.clone(), (d.info.uid.clone(), l, "doc"));
            }
        }
        for (k, _) in with_prefix(&store.events, "Pod", &c.namespace, &prefix) {
            if pods.contains_key(k) {
                continue;
            }
            if child_link(None, &k.name, c, None, ordinal).is_some() && any_event_in(store, k, win)
            {
                pods.insert(k.clone(), (None, "name", "events"));
            }
        }
    }
    // Per Pod: its earliest blocked stage.
    let mut per_pod: Vec<(ObjectRef, Candidate)> = Vec::new();
    for (p, (p_uid, p_link, _)) in &pods {
        v.known = true;
        v.saw_pods_or_events = true;
        if *p_link == "name" {
            v.name_only = true;
        }
        let pdoc = store.pods.get(p);
        let pod_link = link(p, p_uid.as_ref(), p_link);
        let mut cands: Vec<Candidate> = Vec::new();
        if let Some(d) = pdoc {
            for c in d.pod_causes().iter().cloned() {
                let text = status_text(&c);
                cands.push(Candidate {
                    evidence: evidence_of_status(
                        p,
                        p_uid.as_ref(),
                        c.subclass,
                        text,
                        d.seen,
                        d.class,
                    ),
                    cause: c,
                    tail: vec![pod_link.clone()],
                });
            }
        }
        let w_if_name = (*p_link == "name").then_some(win);
        for e in events_for(store, p, p_uid.as_ref(), w_if_name) {
            cands.push(Candidate {
                cause: e.cause.clone(),
                evidence: evidence_of_event(e),
                tail: vec![pod_link.clone()],
            });
        }
        // Node pressure on the Pod's node around the window.
        if let Some(node) = pdoc.and_then(|d| d.info.node_name.as_ref()) {
            for e in store.node_events.get(node).into_iter().flatten() {
                if e.last >= win.start - NODE_SLACK_MS && e.last <= win.end {
                    cands.push(Candidate {
                        cause: e.cause.clone(),
                        evidence: evidence_of_event(e),
                        tail: vec![pod_link.clone(), link(&e.involved, None, "node")],
                    });
                }
            }
        }
        // Its PVCs: claims, StatefulSet templates, a claim the scheduler named.
        let mut claims: Vec<String> = pdoc.map(|d| d.info.claim_names.clone()).unwrap_or_default();
        if ordinal {
            if let Some(ord) = p.name.rsplit('-').next() {
                for t in wl.map(|x| x.claim_templates.as_slice()).unwrap_or(&[]) {
                    claims.push(format!("{t}-{}-{ord}", w.name));
                }
            }
        }
        claims.extend(
            cands
                .iter()
                .filter_map(|c| c.cause.param("pvc").map(str::to_string)),
        );
        claims.sort();
        claims.dedup();
        for claim in claims {
            let pvc = ObjectRef::new("PersistentVolumeClaim", p.namespace.clone(), claim);
            let pvc_uid = store.pvcs.get(&pvc).and_then(|d| d.info.uid.clone());
            for e in events_for(store, &pvc, pvc_uid.as_ref(), None) {
                cands.push(Candidate {
                    cause: e.cause.clone(),
                    evidence: evidence_of_event(e),
                    tail: vec![pod_link.clone(), link(&pvc, pvc_uid.as_ref(), "claim")],
                });
            }
        }
        // A Pod waiting for an unbound PVC is blocked by whatever blocks the PVC.
        if cands.iter().any(|c| c.cause.stage == Stage::Volume) {
            cands.retain(|c| c.cause.subclass != "unbound_pvc");
        }
        if let Some(b) = best(cands) {
            per_pod.push((p.clone(), b));
        }
    }
    // Group Pods by cause; the create stage covers the replicas never created.
    let mut groups: BTreeMap<(Stage, &'static str), Found> = BTreeMap::new();
    for (_, c) in per_pod {
        let key = (c.cause.stage, c.cause.subclass);
        let g = groups.entry(key).or_insert_with(|| Found {
            cause: c.cause.clone(),
            pods: 0,
            evidence: Vec::new(),
            tail: c.tail.clone(),
        });
        g.pods += 1;
        // A specific cause's parameters replace a generic one's, never the reverse.
        if c.cause.specific && !g.cause.specific {
            g.cause = c.cause.clone();
            g.tail = c.tail.clone();
        }
        push_evidence(&mut g.evidence, c.evidence);
    }
    if let Some(c) = best_all(create) {
        let missing = v
            .desired
            .map(|d| (d - pods.len() as i64).max(1) as u64)
            .unwrap_or(1);
        let key = (c.0.cause.stage, c.0.cause.subclass);
        let mut f = Found {
            cause: c.0.cause.clone(),
            pods: missing,
            evidence: Vec::new(),
            tail: c.0.tail.clone(),
        };
        for e in c.1 {
            push_evidence(&mut f.evidence, e);
        }
        groups.insert(key, f);
    }
    if groups.is_empty() {
        if let Some(d) = doc {
            let stalled = d
                .info
                .condition("Progressing")
                .filter(|c| c.status == "False" && c.reason == "ProgressDeadlineExceeded");
            let (sub, ev) = match stalled {
                Some(c) => (
                    "progress_deadline_exceeded",
                    Some(evidence_of_status(
                        w,
                        uid,
                        &c.reason,
                        c.message.clone(),
                        d.seen,
                        d.class,
                    )),
                ),
                None => ("no_evidence", None),
            };
            let unavailable = match (v.desired, v.available) {
                (Some(d), Some(a)) => (d - a).max(0) as u64,
                _ => 0,
            };
            groups.insert(
                (Stage::None, sub),
                Found {
                    cause: Cause {
                        stage: Stage::None,
                        subclass: sub,
                        params: Vec::new(),
                        specific: true,
                    },
                    pods: unavailable,
                    evidence: ev.into_iter().collect(),
                    tail: Vec::new(),
                },
            );
        }
    }
    let mut found: Vec<Found> = groups.into_values().collect();
    // Most Pods first; ties: the earliest stage (the map's order, kept by a stable sort).
    found.sort_by_key(|f| std::cmp::Reverse(f.pods));
    v.found = found;
    if let Some(f) = v.found.first() {
        v.chain = f.tail.clone();
        // The ReplicaSet between the workload and its Pods.
        if let Some((c, c_uid, l)) = controllers.first() {
            if c != w && !v.chain.iter().any(|x| x.object == *c) {
                v.chain.insert(0, link(c, c_uid.as_ref(), l));
            }
        }
    }
    v.name_only |= v.chain.iter().any(|l| l.link == "name");
    v
}

/// The earliest create-stage candidate and every create-stage evidence.
fn best_all(cands: Vec<Candidate>) -> Option<(Candidate, Vec<WorkloadEvidence>)> {
    let evidence: Vec<WorkloadEvidence> = cands.iter().map(|c| c.evidence.clone()).collect();
    best(cands).map(|b| (b, evidence))
}

fn push_evidence(list: &mut Vec<WorkloadEvidence>, e: WorkloadEvidence) {
    if list.len() < EVIDENCE_PER_CAUSE
        && !list
            .iter()
            .any(|x| x.message == e.message && x.involved_object == e.involved_object)
    {
        list.push(e);
    }
}

fn any_event_in(store: &Store, o: &ObjectRef, win: Window) -> bool {
    store
        .events_of(o)
        .any(|e| win.has(e.last) || e.first.is_some_and(|f| win.has(f)))
}
