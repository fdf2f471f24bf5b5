//! The causal graph: nodes (objects) and edges (what blocks what) laid out in fixed
//! ranks by kind, source → Kustomization / HelmRelease (by dependsOn depth) → workload
//! → Pod, each rank ordered by one barycenter pass, drawn as plain SVG shapes.
//!
//! Owns: building a finding's nodes and edges ([`finding_graph`]) and the layout of any
//! nodes and edges ([`layout`]): a workload chain (workload → ReplicaSet → Pod) is more
//! nodes and edges handed to the same function. Does not own: the SVG markup (the
//! report template draws [`GraphView`]).
//!
//! Invariant: integer coordinates computed from the nodes' order and ranks only, so the
//! same graph always draws the same bytes.

use std::collections::BTreeMap;

use crate::correlate::{ObjectView, Status};
use crate::record::ObjectRef;

use super::data::FindingHistory;
use super::text::{clip, status_word};

/// What a node stands for in the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The root cause (outlined).
    Root,
    /// The root cause of a resolved finding (outlined, in the resolved colour).
    RootResolved,
    /// A grouped symptom (greyed).
    Symptom,
    /// Context: a source or dependency named by the objects (plain).
    Context,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::RootResolved => "root resolved",
            Role::Symptom => "symptom",
            Role::Context => "context",
        }
    }
}

/// A node to lay out.
#[derive(Debug, Clone)]
pub struct GNode {
    pub object: ObjectRef,
    /// Status in words (`FAILING`, `BLOCKED: source_not_ready`, …).
    pub status: String,
    pub role: Role,
}

/// An edge `from` → `to` (indices into the nodes): `from` explains or feeds `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GEdge {
    pub from: usize,
    pub to: usize,
}

/// A drawn node.
#[derive(Debug, Clone)]
pub struct NodeBox {
    pub x: i64,
    pub y: i64,
    pub kind: String,
    pub name: String,
    pub status: String,
    pub role: &'static str,
    /// Full reference for the tooltip.
    pub full: String,
}

/// A drawn edge (SVG path data, numbers only).
#[derive(Debug, Clone)]
pub struct EdgePath {
    pub d: String,
}

/// A laid-out graph, ready for the template.
#[derive(Debug, Clone)]
pub struct GraphView {
    /// Unique in the page (derived from the finding id).
    pub id: String,
    pub title: String,
    pub desc: String,
    pub width: i64,
    pub height: i64,
    /// Size of every node box.
    pub node_w: i64,
    pub node_h: i64,
    pub nodes: Vec<NodeBox>,
    pub edges: Vec<EdgePath>,
    /// Symptoms not drawn (over [`MAX_GRAPH_SYMPTOMS`]).
    pub more: usize,
}

pub const NODE_W: i64 = 236;
pub const NODE_H: i64 = 50;
const COL_W: i64 = 286;
const ROW_H: i64 = 66;
const PAD: i64 = 10;
/// Most symptoms drawn per graph; the rest are counted under it.
pub const MAX_GRAPH_SYMPTOMS: usize = 24;

/// The rank a kind starts at, left to right.
pub fn kind_rank(kind: &str) -> u32 {
    match kind {
        "GitRepository" | "OCIRepository" | "HelmRepository" | "Bucket" | "Host" | "Namespace" => 0,
        "HelmChart" | "ExternalArtifact" => 1,
        "Kustomization" | "HelmRelease" => 2,
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" => 4,
        "ReplicaSet" | "PersistentVolumeClaim" => 5,
        "Pod" => 6,
        _ => 2,
    }
}

/// The nodes and edges of one finding: its subject (root) and root cause, its impacted
/// objects (symptoms), linked by dependsOn and sourceRef where those are known, else
/// straight to the root.
pub fn finding_graph(
    h: &FindingHistory,
    objects: &BTreeMap<ObjectRef, &ObjectView>,
) -> (Vec<GNode>, Vec<GEdge>, usize) {
    let f = &h.finding;
    let mut nodes: Vec<GNode> = Vec::new();
    let mut index: BTreeMap<ObjectRef, usize> = BTreeMap::new();
    fn add(
        nodes: &mut Vec<GNode>,
        index: &mut BTreeMap<ObjectRef, usize>,
        o: &ObjectRef,
        status: String,
        role: Role,
    ) -> usize {
        *index.entry(o.clone()).or_insert_with(|| {
            nodes.push(GNode {
                object: o.clone(),
                status,
                role,
            });
            nodes.len() - 1
        })
    }
    let root_status = match &f.root_cause {
        Some(rc) => format!("{}: {}", status_word(f.status), rc.class.as_str()),
        None => format!("{}: {}", status_word(f.status), f.pattern),
    };
    let root_role = if f.status == Status::Resolved {
        Role::RootResolved
    } else {
        Role::Root
    };
    let root = add(&mut nodes, &mut index, &f.subject, root_status, root_role);
    let mut edges = Vec::new();
    if let Some(rc) = &f.root_cause {
        if rc.object != f.subject {
            let c = add(
                &mut nodes,
                &mut index,
                &rc.object,
                format!("CAUSE: {}", rc.class.as_str()),
                root_role,
            );
            edges.push(GEdge { from: c, to: root });
        }
    }
    let detail: BTreeMap<&ObjectRef, _> = f.impact.iter().map(|d| (&d.object, d)).collect();
    let shown = f.impacted.len().min(MAX_GRAPH_SYMPTOMS);
    for o in &f.impacted[..shown] {
        let status = match detail.get(o) {
            Some(d) => format!("BLOCKED: {} ×{}", d.class.as_str(), d.count),
            None if f.status == Status::Resolved => "WAS BLOCKED".to_string(),
            None => "BLOCKED".to_string(),
        };
        add(&mut nodes, &mut index, o, status, Role::Symptom);
    }
    // Links the objects state themselves: dependsOn and sourceRef among the nodes;
    // a symptom with none of its own hangs off the root.
    for (i, node) in nodes.iter().enumerate() {
        if i == root || node.role != Role::Symptom {
            continue;
        }
        let mut linked = false;
        if let Some(v) = objects.get(&node.object) {
            for p in v.depends_on.iter().chain(v.source_ref.iter()) {
                if let Some(&j) = index.get(p) {
                    if j != i {
                        edges.push(GEdge { from: j, to: i });
                        linked = true;
                    }
                }
            }
        }
        if !linked {
            edges.push(GEdge { from: root, to: i });
        }
    }
    // A workload diagnosis: its chain from the Flux object down (workload →
    // ReplicaSet → Pods → PVC/Node), each link under the nearest earlier link of
    // another kind; the Pods the cause covers carry it.
    if let Some(w) = &f.workload {
        let mut placed: Vec<(usize, &str)> = Vec::new();
        for link in &w.chain {
            let covered = link.object.kind.as_str() == "Pod"
                && w.evidence.iter().any(|e| e.involved_object == link.object);
            let status = if link.object == w.cause.workload {
                format!("{}: {}", status_word(f.status), w.cause.class)
            } else if covered {
                format!("CAUSE: {}", w.cause.subclass)
            } else {
                format!("via {}", link.link)
            };
            let i = add(&mut nodes, &mut index, &link.object, status, Role::Context);
            let parent = placed
                .iter()
                .rev()
                .find(|(_, kind)| *kind != link.object.kind.as_str())
                .map(|(j, _)| *j);
            if let Some(j) = parent {
                if j != i {
                    // The chain says which way it runs (the Flux object applies the
                    // workload): it replaces a symptom's fallback edge from the root.
                    edges.retain(|e| !(e.from == i && e.to == j));
                    edges.push(GEdge { from: j, to: i });
                }
            }
            placed.push((i, link.object.kind.as_str()));
        }
    }
    // The root's own source, when the root is a consumer and its source is known.
    if let Some(src) = objects.get(&f.subject).and_then(|v| v.source_ref.clone()) {
        if !index.contains_key(&src) {
            let s = add(
                &mut nodes,
                &mut index,
                &src,
                "source".to_string(),
                Role::Context,
            );
            edges.push(GEdge { from: s, to: root });
        }
    }
    edges.sort();
    edges.dedup();
    (nodes, edges, f.impacted.len() - shown)
}

/// Lays `nodes` and `edges` out: ranks from [`kind_rank`] pushed right along edges
/// (so a dependsOn chain takes one column per step), then one barycenter pass orders
/// each column by the mean row of its predecessors.
pub fn layout(
    id: &str,
    title: &str,
    desc: &str,
    nodes: &[GNode],
    edges: &[GEdge],
    more: usize,
) -> GraphView {
    let n = nodes.len();
    let mut rank: Vec<u32> = nodes.iter().map(|g| kind_rank(&g.object.kind)).collect();
    // Longest-path relaxation, bounded by the node count (a cycle stops there).
    for _ in 0..n {
        let mut changed = false;
        for e in edges {
            if e.from < n && e.to < n && rank[e.to] <= rank[e.from] {
                rank[e.to] = rank[e.from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut distinct: Vec<u32> = rank.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let col: Vec<usize> = rank
        .iter()
        .map(|r| distinct.binary_search(r).unwrap_or(0))
        .collect();
    let mut columns: Vec<Vec<usize>> = vec![Vec::new(); distinct.len()];
    for (i, c) in col.iter().enumerate() {
        columns[*c].push(i);
    }
    let mut row = vec![0f64; n];
    for (c, column) in columns.iter_mut().enumerate() {
        if c > 0 {
            let mut keyed: Vec<(i64, usize)> = column
                .iter()
                .map(|&i| {
                    let preds: Vec<f64> = edges
                        .iter()
                        .filter(|e| e.to == i && e.from < n && col[e.from] < c)
                        .map(|e| row[e.from])
                        .collect();
                    let bary = if preds.is_empty() {
                        f64::MAX / 4.0
                    } else {
                        preds.iter().sum::<f64>() / preds.len() as f64
                    };
                    // Scaled to an integer so the sort is total and stable.
                    ((bary * 1000.0) as i64, i)
                })
                .collect();
            keyed.sort();
            *column = keyed.into_iter().map(|(_, i)| i).collect();
        }
        for (r, &i) in column.iter().enumerate() {
            row[i] = r as f64;
        }
    }
    let rows = columns.iter().map(Vec::len).max().unwrap_or(1).max(1) as i64;
    let height = PAD * 2 + rows * ROW_H - (ROW_H - NODE_H);
    let width = PAD * 2 + columns.len().max(1) as i64 * COL_W - (COL_W - NODE_W);
    let pos = |i: usize| -> (i64, i64) {
        let c = col[i] as i64;
        let len = columns[col[i]].len() as i64;
        // Each column centred vertically.
        let top = PAD + (rows - len) * ROW_H / 2;
        (PAD + c * COL_W, top + row[i] as i64 * ROW_H)
    };
    let boxes = nodes
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let (x, y) = pos(i);
            let kind_ns = if g.object.namespace.is_empty() {
                g.object.kind.to_string()
            } else {
                format!("{} {}", g.object.kind, g.object.namespace)
            };
            NodeBox {
                x,
                y,
                kind: clip(&kind_ns, 30),
                name: clip(&g.object.name, 28),
                status: clip(&g.status, 31),
                role: g.role.as_str(),
                full: format!("{} — {}", g.object, g.status),
            }
        })
        .collect();
    let paths = edges
        .iter()
        .filter(|e| e.from < n && e.to < n)
        .map(|e| {
            let (x1, y1) = pos(e.from);
            let (x2, y2) = pos(e.to);
            let (sx, sy) = (x1 + NODE_W, y1 + NODE_H / 2);
            let (tx, ty) = (x2, y2 + NODE_H / 2);
            let mid = (sx + tx) / 2;
            EdgePath {
                d: format!("M{sx} {sy}C{mid} {sy} {mid} {ty} {tx} {ty}"),
            }
        })
        .collect();
    GraphView {
        id: id.to_string(),
        title: title.to_string(),
        desc: desc.to_string(),
        width,
        height,
        node_w: NODE_W,
        node_h: NODE_H,
        nodes: boxes,
        edges: paths,
        more,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(kind: &str, name: &str, role: Role) -> GNode {
        GNode {
            object: ObjectRef::new(kind, "ns", name),
            status: "x".into(),
            role,
        }
    }

    #[test]
    fn a_workload_chain_hangs_under_its_flux_object() {
        use crate::correlate::finding::{ChainLink, Finding, WorkloadCauseInfo, WorkloadDiagnosis};
        let ks = ObjectRef::new("Kustomization", "shop", "checkout");
        let deploy = ObjectRef::new("Deployment", "shop", "web");
        let rs = ObjectRef::new("ReplicaSet", "shop", "web-7d9f4c8b6");
        let pods = [
            ObjectRef::new("Pod", "shop", "web-7d9f4c8b6-a"),
            ObjectRef::new("Pod", "shop", "web-7d9f4c8b6-b"),
        ];
        let link = |o: &ObjectRef, l: &str| ChainLink {
            object: o.clone(),
            uid: None,
            link: l.into(),
        };
        let mut f = Finding::example(crate::correlate::PatternId::WorkloadFailure, deploy.clone());
        f.impacted = vec![ks.clone()];
        let w = WorkloadDiagnosis {
            flux_object: ks.clone(),
            flux_message: "health check failed".into(),
            chain: vec![
                link(&ks, "flux"),
                link(&deploy, "label"),
                link(&rs, "ownerRef"),
                link(&pods[0], "ownerRef"),
                link(&pods[1], "ownerRef"),
            ],
            cause: WorkloadCauseInfo {
                stage: "image".into(),
                class: "image_pull_failed".into(),
                subclass: "tag_or_image_not_found".into(),
                params: BTreeMap::new(),
                workload: deploy.clone(),
                pods_in_class: 2,
                text: "image not found".into(),
            },
            others: Vec::new(),
            desired: Some(2),
            updated: Some(2),
            available: Some(0),
            coverage: "full".into(),
            coverage_reasons: Vec::new(),
            evidence: Vec::new(),
        };
        f.workload = Some(Box::new(w));
        let h = FindingHistory {
            finding: f,
            emissions: Vec::new(),
            evidence: Vec::new(),
            evidence_omitted: 0,
        };
        let (nodes, edges, _) = finding_graph(&h, &BTreeMap::new());
        let at = |o: &ObjectRef| nodes.iter().position(|n| &n.object == o).unwrap();
        let has = |a: &ObjectRef, b: &ObjectRef| {
            edges.contains(&GEdge {
                from: at(a),
                to: at(b),
            })
        };
        assert!(has(&ks, &deploy) && !has(&deploy, &ks), "{edges:?}");
        assert!(has(&deploy, &rs));
        assert!(has(&rs, &pods[0]) && has(&rs, &pods[1]) && !has(&pods[0], &pods[1]));
        assert_eq!(nodes[at(&deploy)].role, Role::Root);
    }

    #[test]
    fn ranks_follow_kind_then_depends_on() {
        let nodes = vec![
            node("Kustomization", "b", Role::Symptom),
            node("GitRepository", "src", Role::Root),
            node("Kustomization", "a", Role::Symptom),
            node("Pod", "p", Role::Symptom),
        ];
        let edges = vec![
            GEdge { from: 1, to: 2 },
            GEdge { from: 2, to: 0 },
            GEdge { from: 0, to: 3 },
        ];
        let g = layout("g", "t", "d", &nodes, &edges, 0);
        let xs: Vec<i64> = g.nodes.iter().map(|b| b.x).collect();
        // source, then a, then b (depends on a), then the Pod.
        assert!(xs[1] < xs[2] && xs[2] < xs[0] && xs[0] < xs[3], "{xs:?}");
        assert_eq!(g.edges.len(), 3);
    }

    #[test]
    fn barycenter_orders_a_column_by_its_parents() {
        let nodes = vec![
            node("GitRepository", "s1", Role::Root),
            node("GitRepository", "s2", Role::Root),
            node("Kustomization", "of-s2", Role::Symptom),
            node("Kustomization", "of-s1", Role::Symptom),
        ];
        let edges = vec![GEdge { from: 0, to: 3 }, GEdge { from: 1, to: 2 }];
        let g = layout("g", "t", "d", &nodes, &edges, 0);
        assert!(g.nodes[3].y < g.nodes[2].y, "of-s1 sits level with s1");
        // Same input, same bytes.
        let again = layout("g", "t", "d", &nodes, &edges, 0);
        assert_eq!(format!("{:?}", g), format!("{:?}", again));
    }

    #[test]
    fn a_cycle_does_not_hang() {
        let nodes = vec![
            node("Kustomization", "a", Role::Root),
            node("Kustomization", "b", Role::Symptom),
        ];
        let edges = vec![GEdge { from: 0, to: 1 }, GEdge { from: 1, to: 0 }];
        let g = layout("g", "t", "d", &nodes, &edges, 0);
        assert_eq!(g.nodes.len(), 2);
    }
}
