//! The Kubernetes side of the modelled Flux objects: the workloads each Kustomization
//! and HelmRelease applies (Deployments mostly, some StatefulSets, a few Jobs), their
//! ReplicaSets, Pods and PVCs, and the Events and status documents they produce
//! (report-and-workload-rca.md §2.2): the ordinary rollout Events of healthy workloads,
//! and for the workloads of a failing object (health-check or Helm timeout) the
//! Warning Events and container states of one blocked Pod-lifecycle stage.
//!
//! Owns: [`Workload`] and [`Cause`], [`build`], and the writers [`event`] (one Event)
//! and [`documents`] (a workload with its ReplicaSet, Pods and PVCs, or one Pod).
//! Does not own: the Flux side of the failure (`model`'s health-check message names
//! the failing workload).
//!
//! Invariant: a workload is a pure function of its object's key (the shared PRNG is not
//! touched), so `--mix current`, which never writes these forms, is unchanged. Names
//! follow Kubernetes: ReplicaSet `<deployment>-<pod-template-hash>`, Pod
//! `<replicaset>-<5 chars>`, `<statefulset>-<ordinal>` or `<job>-<5 chars>`, PVC
//! `<template>-<statefulset>-<ordinal>`. Every instant is at most the line's time. Pods
//! and Deployments are snapshots as of now (a condition changed at the line's time);
//! ReplicaSets, StatefulSets, Jobs and PVCs show only the instants they really carry
//! (creation, start, completion), so a reader that dates a document by its newest
//! instant sees them as old. A failing workload rolls out every 2 h (its ReplicaSet
//! and Pods are never older than that).

use std::io::Write;

use super::clock;
use super::forms::{js, kv, Ctx};
use super::model::{hex, kube_id, uuid, FailureMode, Kind, Obj};
use super::{mix64, Rng};
use fluxsight::record::TsMs;

const HOUR_MS: i64 = 3_600_000;

/// Workload kinds the generator models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WlKind {
    Deployment,
    StatefulSet,
    Job,
}

impl WlKind {
    pub fn name(self) -> &'static str {
        match self {
            WlKind::Deployment => "Deployment",
            WlKind::StatefulSet => "StatefulSet",
            WlKind::Job => "Job",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            WlKind::Job => "batch/v1",
            _ => "apps/v1",
        }
    }
}

/// Why a failing workload's Pods do not become available, by Pod-lifecycle stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// create: `FailedCreate`, ResourceQuota exceeded.
    Quota,
    /// schedule: `FailedScheduling`, untolerated taint.
    Taint,
    /// schedule: `FailedScheduling`, Insufficient cpu.
    InsufficientCpu,
    /// volume: `ProvisioningFailed`, StorageClass not found (StatefulSets).
    StorageClass,
    /// volume: `FailedMount`, Secret not found.
    MountSecret,
    /// image: `Failed` / `ErrImagePull` / `BackOff`, tag not found.
    ImageNotFound,
    /// config: `CreateContainerConfigError`, ConfigMap not found.
    ConfigMap,
    /// crash: `BackOff` restarting, last terminated `OOMKilled`.
    OomKilled,
    /// probe: `Unhealthy`.
    Probe,
}

const CAUSES: &[Cause] = &[
    Cause::Quota,
    Cause::Taint,
    Cause::InsufficientCpu,
    Cause::StorageClass,
    Cause::MountSecret,
    Cause::ImageNotFound,
    Cause::ImageNotFound,
    Cause::ConfigMap,
    Cause::OomKilled,
    Cause::OomKilled,
    Cause::Probe,
];

/// One workload applied by a Kustomization or HelmRelease.
#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: WlKind,
    /// Index of the Flux object that applies it.
    pub owner: usize,
    pub ns: String,
    pub name: String,
    pub container: String,
    pub image: String,
    pub replicas: u32,
    pub cause: Option<Cause>,
    pub uid: String,
    /// Hours between rollouts (a new ReplicaSet and new Pods); 2 for failing ones.
    pub rollout_h: i64,
    pub key: u64,
}

const SUFFIXES: &[&str] = &[
    "worker", "api", "cache", "consumer", "db", "metrics", "web", "migrate",
];
const REGISTRIES: &[&str] = &[
    "ghcr.io",
    "ghcr.io",
    "registry-1.docker.io",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "quay.io",
];
const NODES: &[&str] = &[
    "ip-10-0-12-34.eu-west-1.compute.internal",
    "ip-10-0-12-87.eu-west-1.compute.internal",
    "ip-10-0-13-5.eu-west-1.compute.internal",
    "ip-10-0-13-141.eu-west-1.compute.internal",
    "ip-10-0-14-22.eu-west-1.compute.internal",
    "ip-10-0-14-203.eu-west-1.compute.internal",
];

/// The workloads of every Kustomization and HelmRelease; sets each object's range.
/// The first workload of an object whose failure is a wait for workloads (health check,
/// Helm timeout) gets a cause.
pub fn build(objs: &mut [Obj]) -> Vec<Workload> {
    let mut out = Vec::new();
    for (i, o) in objs.iter_mut().enumerate() {
        if !matches!(o.kind, Kind::Kustomization | Kind::HelmRelease) {
            continue;
        }
        let h = mix64(o.key ^ 0x3c6e_f372_fe94_f82b);
        let n = match h % 10 {
            0..=5 => 1,
            6..=8 => 2,
            _ => 3,
        };
        let waits = matches!(o.failure, Some(FailureMode::Health | FailureMode::Helm));
        let start = out.len();
        for j in 0..n {
            let k = mix64(h ^ (j as u64 + 1).wrapping_mul(0x9e37_79b9));
            let cause = (j == 0 && waits).then(|| CAUSES[(k >> 7) as usize % CAUSES.len()]);
            let kind = match (cause, k % 100) {
                (Some(Cause::StorageClass), _) => WlKind::StatefulSet,
                (Some(Cause::Probe), _) => WlKind::Deployment,
                (_, 0..=79) => WlKind::Deployment,
                (_, 80..=94) => WlKind::StatefulSet,
                _ => WlKind::Job,
            };
            let name = if j == 0 {
                o.name.clone()
            } else {
                let s = SUFFIXES[(h as usize + j) % SUFFIXES.len()];
                format!("{}-{s}", o.name)
            };
            let word = o.name.rsplit_once('-').map_or(o.name.as_str(), |x| x.0);
            let team = o.repo.split('/').next().unwrap_or("acme");
            let image = format!(
                "{}/{team}/{}:v{}.{}.{}",
                REGISTRIES[(k >> 12) as usize % REGISTRIES.len()],
                name.replace(&o.name, word),
                1 + (k >> 16) % 4,
                (k >> 20) % 20,
                (k >> 24) % 10
            );
            out.push(Workload {
                kind,
                owner: i,
                ns: o.ns.clone(),
                container: name
                    .strip_prefix(&format!("{}-", o.name))
                    .unwrap_or(word)
                    .to_string(),
                name,
                image,
                replicas: match kind {
                    WlKind::Job => 1,
                    _ => 1 + (k >> 32) as u32 % 3,
                },
                cause,
                uid: uuid(k ^ 0x77),
                rollout_h: if cause.is_some() {
                    2
                } else {
                    [2, 4, 8, 12, 24][(k >> 40) as usize % 5]
                },
                key: k,
            });
        }
        o.workloads = start..out.len();
    }
    out
}

/// A workload's current rollout: its ReplicaSet (Deployments) and Pods at a time.
struct Rollout {
    /// When the rollout started (the ReplicaSet and Pods were created).
    start: TsMs,
    revision: u64,
    hash: String,
    rs_uid: String,
    /// Pod names and uids.
    pods: Vec<(String, String)>,
}

impl Workload {
    fn rollout(&self, now: TsMs) -> Rollout {
        let period = self.rollout_h * HOUR_MS;
        // Rollouts start at a workload's own minute of the hour.
        let off = (self.key % 3_000) as i64 * 1_000;
        let g = (now - off).div_euclid(period);
        let gk = self.key ^ (g as u64).wrapping_mul(0xa076_1d64_78bd_642f);
        let mut r = Rng::new(gk);
        let hash = kube_id(&mut r, 9 + (self.key % 2) as usize);
        let rs = format!("{}-{hash}", self.name);
        let pods = (0..self.replicas)
            .map(|i| {
                let name = match self.kind {
                    WlKind::Deployment => format!("{rs}-{}", kube_id(&mut r, 5)),
                    WlKind::StatefulSet => format!("{}-{i}", self.name),
                    WlKind::Job => format!("{}-{}", self.name, kube_id(&mut r, 5)),
                };
                (name, uuid(gk ^ u64::from(i + 1).wrapping_mul(0x51)))
            })
            .collect();
        Rollout {
            start: g * period + off,
            revision: 1 + (g as u64) % 97,
            hash,
            rs_uid: uuid(gk ^ 0x5e),
            pods,
        }
    }

    fn rs_name(&self, r: &Rollout) -> String {
        format!("{}-{}", self.name, r.hash)
    }

    /// The object that creates the Pods: `(kind, name, uid, controller)`.
    fn pod_owner(&self, r: &Rollout) -> (&'static str, String, String, &'static str) {
        match self.kind {
            WlKind::Deployment => (
                "ReplicaSet",
                self.rs_name(r),
                r.rs_uid.clone(),
                "replicaset-controller",
            ),
            WlKind::StatefulSet => (
                "StatefulSet",
                self.name.clone(),
                self.uid.clone(),
                "statefulset-controller",
            ),
            WlKind::Job => ("Job", self.name.clone(), self.uid.clone(), "job-controller"),
        }
    }

    fn node(&self, pod: usize) -> &'static str {
        NODES[mix64(self.key ^ pod as u64) as usize % NODES.len()]
    }

    fn quota_message(&self, r: &Rollout) -> String {
        let pods = match self.kind {
            WlKind::Deployment => format!("{}-", self.rs_name(r)),
            WlKind::StatefulSet => format!("{}-0", self.name),
            WlKind::Job => format!("{}-", self.name),
        };
        format!("pods \"{pods}\" is forbidden: exceeded quota: compute-quota, requested: limits.cpu=500m, used: limits.cpu=4, limited: limits.cpu=4")
    }

    fn configmap(&self) -> String {
        format!("{}-config", self.name)
    }

    fn secret(&self) -> String {
        format!("{}-tls", self.name)
    }
}

/// The workload the next line is about: a failing one a third of the time (a failing
/// Pod's Events repeat every few minutes, a healthy one's only at a rollout).
fn pick(cx: &mut Ctx<'_>) -> Option<usize> {
    let c = &*cx.cluster;
    if c.workloads.is_empty() {
        return None;
    }
    if !c.failing_workloads.is_empty() && cx.rng.chance(0.35) {
        let n = c.failing_workloads.len() as u64;
        return Some(c.failing_workloads[cx.rng.below(n) as usize]);
    }
    Some(cx.rng.below(c.workloads.len() as u64) as usize)
}

/// One Event: who it is about and what it says.
struct Ev {
    kind: &'static str,
    api_version: &'static str,
    name: String,
    uid: String,
    field_path: Option<String>,
    reason: &'static str,
    message: String,
    warning: bool,
    component: &'static str,
    host: Option<&'static str>,
}

impl Ev {
    fn new(
        kind: &'static str,
        name: String,
        uid: String,
        reason: &'static str,
        message: String,
        component: &'static str,
    ) -> Ev {
        Ev {
            kind,
            api_version: match kind {
                "Pod" | "PersistentVolumeClaim" | "Node" => "v1",
                "Job" => "batch/v1",
                _ => "apps/v1",
            },
            name,
            uid,
            field_path: None,
            reason,
            message,
            warning: false,
            component,
            host: None,
        }
    }

    fn warning(mut self) -> Ev {
        self.warning = true;
        self
    }

    /// A kubelet Event about container `c` of a Pod on `node`.
    fn kubelet(mut self, c: &str, node: &'static str) -> Ev {
        self.field_path = Some(format!("spec.containers{{{c}}}"));
        self.host = Some(node);
        self
    }
}

/// Appends one Event (`v1`, or `events.k8s.io/v1` one time in six) about a workload's
/// objects, or a Node's when none is modelled.
pub fn event(cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
    let Some(wi) = pick(cx) else {
        let node = *cx.rng.pick(NODES);
        let ev = Ev::new(
            "Node",
            node.to_string(),
            uuid(mix64(node.len() as u64)),
            "NodeReady",
            format!("Node {node} status is now: NodeReady"),
            "kubelet",
        );
        write_event(cx, "", &ev, 1, out);
        return;
    };
    let w = &cx.cluster.workloads[wi];
    let r = w.rollout(cx.now);
    let p = cx.rng.below(u64::from(w.replicas).max(1)) as usize;
    let (pod, pod_uid) = r.pods[p.min(r.pods.len() - 1)].clone();
    let node = w.node(p);
    let (c, img) = (w.container.clone(), w.image.clone());
    let pod_ev = |reason, msg: String, component| {
        Ev::new("Pod", pod.clone(), pod_uid.clone(), reason, msg, component)
    };
    let (okind, oname, ouid, octl) = w.pod_owner(&r);
    let roll = cx.rng.below(100);
    let ev = match w.cause {
        None => match (w.kind, roll) {
            (WlKind::Deployment, 0..=9) => Ev::new(
                "Deployment",
                w.name.clone(),
                w.uid.clone(),
                "ScalingReplicaSet",
                format!("Scaled up replica set {} to {}", w.rs_name(&r), w.replicas),
                "deployment-controller",
            ),
            (WlKind::Deployment | WlKind::Job, 10..=24) => Ev::new(
                okind,
                oname,
                ouid,
                "SuccessfulCreate",
                format!("Created pod: {pod}"),
                octl,
            ),
            (WlKind::StatefulSet, 0..=24) => Ev::new(
                okind,
                oname,
                ouid,
                "SuccessfulCreate",
                format!("create Pod {pod} in StatefulSet {} successful", w.name),
                octl,
            ),
            (WlKind::Job, 0..=9) => Ev::new(
                "Job",
                w.name.clone(),
                w.uid.clone(),
                "Completed",
                "Job completed".into(),
                "job-controller",
            ),
            (_, 25..=39) => pod_ev(
                "Scheduled",
                format!("Successfully assigned {}/{pod} to {node}", w.ns),
                "default-scheduler",
            ),
            (_, 40..=54) => {
                pod_ev("Pulling", format!("Pulling image \"{img}\""), "kubelet").kubelet(&c, node)
            }
            (_, 55..=69) => pod_ev(
                "Pulled",
                format!(
                    "Successfully pulled image \"{img}\" in {}.{:03}s ({}.{:03}s including waiting). Image size: {} bytes.",
                    1 + roll % 7,
                    cx.rng.below(1000),
                    2 + roll % 7,
                    cx.rng.below(1000),
                    8_000_000 + (w.key >> 20) % 90_000_000
                ),
                "kubelet",
            )
            .kubelet(&c, node),
            (_, 70..=84) => {
                pod_ev("Created", format!("Created container {c}"), "kubelet").kubelet(&c, node)
            }
            _ => pod_ev("Started", format!("Started container {c}"), "kubelet").kubelet(&c, node),
        },
        Some(Cause::Quota) => {
            if roll < 15 && w.kind == WlKind::Deployment {
                Ev::new(
                    "Deployment",
                    w.name.clone(),
                    w.uid.clone(),
                    "ScalingReplicaSet",
                    format!("Scaled up replica set {} to {}", w.rs_name(&r), w.replicas),
                    "deployment-controller",
                )
            } else {
                let msg = match w.kind {
                    WlKind::StatefulSet => format!(
                        "create Pod {}-0 in StatefulSet {} failed error: {}",
                        w.name,
                        w.name,
                        w.quota_message(&r)
                    ),
                    _ => format!("Error creating: {}", w.quota_message(&r)),
                };
                Ev::new(okind, oname, ouid, "FailedCreate", msg, octl).warning()
            }
        }
        Some(Cause::Taint) => pod_ev(
            "FailedScheduling",
            "0/6 nodes are available: 6 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling.".into(),
            "default-scheduler",
        )
        .warning(),
        Some(Cause::InsufficientCpu) => pod_ev(
            "FailedScheduling",
            "0/6 nodes are available: 6 Insufficient cpu. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod.".into(),
            "default-scheduler",
        )
        .warning(),
        Some(Cause::StorageClass) => {
            if roll < 60 {
                let claim = format!("data-{pod}");
                Ev::new(
                    "PersistentVolumeClaim",
                    claim.clone(),
                    uuid(mix64(w.key ^ 0xc1a1) ^ p as u64),
                    "ProvisioningFailed",
                    "storageclass.storage.k8s.io \"fast-ssd\" not found".into(),
                    "persistentvolume-controller",
                )
                .warning()
            } else {
                pod_ev(
                    "FailedScheduling",
                    "0/6 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling.".into(),
                    "default-scheduler",
                )
                .warning()
            }
        }
        Some(Cause::MountSecret) => {
            if roll < 15 {
                pod_ev(
                    "Scheduled",
                    format!("Successfully assigned {}/{pod} to {node}", w.ns),
                    "default-scheduler",
                )
            } else {
                let mut e = pod_ev(
                    "FailedMount",
                    format!(
                        "MountVolume.SetUp failed for volume \"tls\" : secret \"{}\" not found",
                        w.secret()
                    ),
                    "kubelet",
                )
                .warning();
                e.host = Some(node);
                e
            }
        }
        Some(Cause::ImageNotFound) => match roll {
            0..=14 => pod_ev("Pulling", format!("Pulling image \"{img}\""), "kubelet"),
            15..=49 => pod_ev(
                "Failed",
                format!("Failed to pull image \"{img}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": {img}: not found"),
                "kubelet",
            )
            .warning(),
            50..=64 => pod_ev("Failed", "Error: ErrImagePull".into(), "kubelet").warning(),
            65..=84 => pod_ev("BackOff", format!("Back-off pulling image \"{img}\""), "kubelet"),
            _ => pod_ev("Failed", "Error: ImagePullBackOff".into(), "kubelet").warning(),
        }
        .kubelet(&c, node),
        Some(Cause::ConfigMap) => match roll {
            0..=19 => pod_ev(
                "Pulled",
                format!("Container image \"{img}\" already present on machine"),
                "kubelet",
            ),
            _ => pod_ev(
                "Failed",
                format!("Error: configmap \"{}\" not found", w.configmap()),
                "kubelet",
            )
            .warning(),
        }
        .kubelet(&c, node),
        Some(Cause::OomKilled) => match roll {
            0..=9 => pod_ev(
                "Pulled",
                format!("Container image \"{img}\" already present on machine"),
                "kubelet",
            ),
            10..=19 => pod_ev("Created", format!("Created container {c}"), "kubelet"),
            20..=29 => pod_ev("Started", format!("Started container {c}"), "kubelet"),
            _ => pod_ev(
                "BackOff",
                format!(
                    "Back-off restarting failed container {c} in pod {pod}_{}({pod_uid})",
                    w.ns
                ),
                "kubelet",
            )
            .warning(),
        }
        .kubelet(&c, node),
        Some(Cause::Probe) => match roll {
            0..=69 => pod_ev(
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
                "kubelet",
            )
            .warning(),
            70..=89 => pod_ev(
                "Unhealthy",
                format!(
                    "Liveness probe failed: Get \"http://10.42.{}.{}:8080/healthz\": dial tcp 10.42.{}.{}:8080: connect: connection refused",
                    p + 1,
                    w.key % 250 + 2,
                    p + 1,
                    w.key % 250 + 2
                ),
                "kubelet",
            )
            .warning(),
            _ => pod_ev(
                "Killing",
                format!("Container {c} failed liveness probe, will be restarted"),
                "kubelet",
            ),
        }
        .kubelet(&c, node),
    };
    let count = if ev.warning {
        1 + cx.rng.below(30)
    } else {
        1 + cx.rng.below(2)
    };
    let ns = w.ns.clone();
    write_event(cx, &ns, &ev, count, out);
}

fn write_event(cx: &mut Ctx<'_>, ns: &str, ev: &Ev, count: u64, out: &mut Vec<u8>) {
    let ty = if ev.warning { "Warning" } else { "Normal" };
    // Repeats 30 s apart, never before the line's day began.
    let first = cx.now - (count as i64 - 1) * 30_000;
    let rv = (cx.rng.below(90_000_000) + 1_000_000).to_string();
    let name = format!("{}.{}", ev.name, hex(cx.rng.next_u64(), 16));
    let regarding = |out: &mut Vec<u8>| {
        out.extend_from_slice(b"{\"kind\":");
        js(out, ev.kind);
        if !ns.is_empty() {
            kv(out, "namespace", ns);
        }
        kv(out, "name", &ev.name);
        kv(out, "uid", &ev.uid);
        kv(out, "apiVersion", ev.api_version);
        if let Some(f) = &ev.field_path {
            kv(out, "fieldPath", f);
        }
        out.push(b'}');
    };
    let meta = |out: &mut Vec<u8>, rng: &mut Rng| {
        out.extend_from_slice(b"\"metadata\":{\"name\":");
        js(out, &name);
        kv(out, "namespace", if ns.is_empty() { "default" } else { ns });
        kv(out, "uid", &uuid(rng.next_u64()));
        kv(out, "resourceVersion", &rv);
        out.extend_from_slice(b",\"creationTimestamp\":\"");
        clock::secs(out, first);
        out.extend_from_slice(b"\"}");
    };
    if cx.rng.below(6) == 0 {
        out.extend_from_slice(b"{\"apiVersion\":\"events.k8s.io/v1\",\"kind\":\"Event\",");
        meta(out, cx.rng);
        out.extend_from_slice(b",\"eventTime\":\"");
        clock::micros(out, first, cx.rng.next_u64());
        out.push(b'"');
        if count > 1 {
            let _ = write!(
                out,
                ",\"series\":{{\"count\":{count},\"lastObservedTime\":\""
            );
            clock::micros(out, cx.now, cx.rng.next_u64());
            out.extend_from_slice(b"\"}");
        }
        kv(out, "reportingController", ev.component);
        kv(out, "reportingInstance", ev.host.unwrap_or(ev.component));
        kv(out, "action", action(ev.reason));
        kv(out, "reason", ev.reason);
        out.extend_from_slice(b",\"regarding\":");
        regarding(out);
        kv(out, "note", &ev.message);
        kv(out, "type", ty);
        out.push(b'}');
        return;
    }
    out.extend_from_slice(b"{\"apiVersion\":\"v1\",\"kind\":\"Event\",");
    meta(out, cx.rng);
    out.extend_from_slice(b",\"involvedObject\":");
    regarding(out);
    kv(out, "reason", ev.reason);
    kv(out, "message", &ev.message);
    out.extend_from_slice(b",\"source\":{\"component\":");
    js(out, ev.component);
    if let Some(h) = ev.host {
        kv(out, "host", h);
    }
    out.extend_from_slice(b"},\"firstTimestamp\":\"");
    clock::secs(out, first);
    out.extend_from_slice(b"\",\"lastTimestamp\":\"");
    clock::secs(out, cx.now);
    let _ = write!(out, "\",\"count\":{count}");
    kv(out, "type", ty);
    out.extend_from_slice(b",\"eventTime\":null");
    kv(out, "reportingComponent", ev.component);
    kv(out, "reportingInstance", ev.host.unwrap_or(""));
    out.push(b'}');
}

/// The `action` of an `events.k8s.io/v1` Event.
fn action(reason: &str) -> &'static str {
    match reason {
        "FailedScheduling" | "Scheduled" => "Scheduling",
        "Pulling" | "Pulled" | "Failed" | "BackOff" => "Pulling",
        "Created" | "Started" | "Killing" => "Starting",
        "FailedMount" => "Mounting",
        "ProvisioningFailed" => "Provisioning",
        "Unhealthy" => "Probing",
        "ScalingReplicaSet" => "Scaling",
        _ => "Creating",
    }
}

/// Appends workload documents, one per line, at most `cx.room` lines; returns how many.
/// Mostly a snapshot of one workload (the workload, its ReplicaSet, Pods and PVCs, as
/// `kubectl get deploy,rs,pods,pvc -o json` items or a watch resync), else one Pod
/// changing (a watch `MODIFIED` event).
pub fn documents(cx: &mut Ctx<'_>, out: &mut Vec<u8>) -> u64 {
    let Some(wi) = pick(cx) else {
        out.extend_from_slice(b"{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"default\",\"creationTimestamp\":\"");
        clock::secs(out, cx.now);
        out.extend_from_slice(b"\"},\"status\":{\"phase\":\"Active\"}}\n");
        return 1;
    };
    let w = cx.cluster.workloads[wi].clone();
    let r = w.rollout(cx.now);
    let room = cx.room.max(1);
    let has_pods = w.cause != Some(Cause::Quota);
    if has_pods && cx.rng.chance(0.4) {
        let p = cx.rng.below(r.pods.len() as u64) as usize;
        let watch = cx.rng.chance(0.5);
        if watch {
            out.extend_from_slice(b"{\"type\":\"MODIFIED\",\"object\":");
        }
        pod_doc(cx, &w, &r, p, out);
        if watch {
            out.push(b'}');
        }
        out.push(b'\n');
        return 1;
    }
    let mut n = 0;
    let line = |out: &mut Vec<u8>, n: &mut u64| {
        out.push(b'\n');
        *n += 1;
        *n < room
    };
    workload_doc(cx, &w, &r, out);
    if !line(out, &mut n) {
        return n;
    }
    if w.kind == WlKind::Deployment {
        replicaset_doc(cx, &w, &r, out);
        if !line(out, &mut n) {
            return n;
        }
    }
    if !has_pods {
        return n;
    }
    for p in 0..r.pods.len() {
        if w.kind == WlKind::StatefulSet {
            pvc_doc(cx, &w, &r, p, out);
            if !line(out, &mut n) {
                return n;
            }
        }
        pod_doc(cx, &w, &r, p, out);
        if !line(out, &mut n) {
            return n;
        }
    }
    n
}

fn labels(cx: &Ctx<'_>, w: &Workload, out: &mut Vec<u8>) {
    let o = &cx.cluster.objs[w.owner];
    out.extend_from_slice(b",\"labels\":{\"app.kubernetes.io/name\":");
    js(out, &w.name);
    if o.kind == Kind::HelmRelease {
        kv(out, "app.kubernetes.io/instance", &o.name);
        kv(out, "app.kubernetes.io/managed-by", "Helm");
        let version = w
            .image
            .rsplit(':')
            .next()
            .unwrap_or("")
            .trim_start_matches('v');
        kv(out, "helm.sh/chart", &format!("{}-{version}", o.chart));
        kv(out, "helm.toolkit.fluxcd.io/name", &o.name);
        kv(out, "helm.toolkit.fluxcd.io/namespace", &o.ns);
    } else {
        kv(out, "kustomize.toolkit.fluxcd.io/name", &o.name);
        kv(out, "kustomize.toolkit.fluxcd.io/namespace", &o.ns);
    }
    out.push(b'}');
}

/// `"metadata":{"name","namespace","uid","creationTimestamp"` (left open).
fn meta(out: &mut Vec<u8>, name: &str, ns: &str, uid: &str, created: TsMs) {
    out.extend_from_slice(b"\"metadata\":{\"name\":");
    js(out, name);
    kv(out, "namespace", ns);
    kv(out, "uid", uid);
    out.extend_from_slice(b",\"creationTimestamp\":\"");
    clock::secs(out, created);
    out.push(b'"');
}

fn cond(out: &mut Vec<u8>, first: bool, ty: &str, status: &str, reason: &str, msg: &str, at: TsMs) {
    if !first {
        out.push(b',');
    }
    out.extend_from_slice(b"{\"type\":");
    js(out, ty);
    kv(out, "status", status);
    if !reason.is_empty() {
        kv(out, "reason", reason);
    }
    if !msg.is_empty() {
        kv(out, "message", msg);
    }
    out.extend_from_slice(b",\"lastTransitionTime\":\"");
    clock::secs(out, at);
    out.extend_from_slice(b"\"}");
}

fn container_spec(w: &Workload, out: &mut Vec<u8>) {
    out.extend_from_slice(b"\"containers\":[{\"name\":");
    js(out, &w.container);
    kv(out, "image", &w.image);
    out.extend_from_slice(b",\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"256Mi\"},\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"}}");
    if w.cause == Some(Cause::ConfigMap) {
        let _ = write!(
            out,
            ",\"envFrom\":[{{\"configMapRef\":{{\"name\":\"{}\"}}}}]",
            w.configmap()
        );
    }
    if w.cause == Some(Cause::Probe) {
        out.extend_from_slice(
            b",\"readinessProbe\":{\"httpGet\":{\"path\":\"/readyz\",\"port\":8080}}",
        );
    }
    out.extend_from_slice(b"}]");
}

/// The workload's pod template `{"metadata":…,"spec":…}`.
fn template(w: &Workload, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"metadata\":{\"labels\":{\"app.kubernetes.io/name\":");
    js(out, &w.name);
    out.extend_from_slice(b"}},\"spec\":{");
    container_spec(w, out);
    out.extend_from_slice(b"}}");
}

fn workload_doc(cx: &mut Ctx<'_>, w: &Workload, r: &Rollout, out: &mut Vec<u8>) {
    let now = cx.now;
    let created = (now.div_euclid(86_400_000) - 1 - (w.key % 30) as i64) * 86_400_000;
    let n = i64::from(w.replicas);
    let ready = if w.cause.is_some() { 0 } else { n };
    let _ = write!(
        out,
        "{{\"apiVersion\":\"{}\",\"kind\":\"{}\",",
        w.kind.api_version(),
        w.kind.name()
    );
    meta(out, &w.name, &w.ns, &w.uid, created);
    let _ = write!(out, ",\"generation\":{}", r.revision);
    labels(cx, w, out);
    if w.kind == WlKind::Deployment {
        let _ = write!(
            out,
            ",\"annotations\":{{\"deployment.kubernetes.io/revision\":\"{}\"}}",
            r.revision
        );
    }
    out.extend_from_slice(b"},\"spec\":{");
    match w.kind {
        WlKind::Job => {
            out.extend_from_slice(b"\"parallelism\":1,\"completions\":1,\"backoffLimit\":6")
        }
        _ => {
            let _ = write!(out, "\"replicas\":{n}");
        }
    }
    out.extend_from_slice(b",\"selector\":{\"matchLabels\":{\"app.kubernetes.io/name\":");
    js(out, &w.name);
    out.extend_from_slice(b"}},\"template\":");
    template(w, out);
    if w.kind == WlKind::StatefulSet {
        let sc = if w.cause == Some(Cause::StorageClass) {
            "fast-ssd"
        } else {
            "gp3"
        };
        out.extend_from_slice(b",\"serviceName\":");
        js(out, &w.name);
        let _ = write!(out, ",\"volumeClaimTemplates\":[{{\"metadata\":{{\"name\":\"data\"}},\"spec\":{{\"storageClassName\":\"{sc}\",\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{{\"requests\":{{\"storage\":\"10Gi\"}}}}}}}}]");
    }
    out.extend_from_slice(b"},\"status\":{");
    let rs = w.rs_name(r);
    match w.kind {
        WlKind::Deployment => {
            let _ = write!(
                out,
                "\"observedGeneration\":{},\"replicas\":{n},\"updatedReplicas\":{n},\"readyReplicas\":{ready},\"availableReplicas\":{ready}",
                r.revision
            );
            if ready < n {
                let _ = write!(out, ",\"unavailableReplicas\":{}", n - ready);
            }
            out.extend_from_slice(b",\"conditions\":[");
            // A snapshot as of now: the newest condition changed at the line's time.
            if w.cause.is_none() {
                cond(
                    out,
                    true,
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                    r.start.max(now - HOUR_MS),
                );
                cond(
                    out,
                    false,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    &format!("ReplicaSet \"{rs}\" has successfully progressed."),
                    now,
                );
            } else {
                cond(
                    out,
                    true,
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                    r.start,
                );
                cond(
                    out,
                    false,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{rs}\" is progressing."),
                    now,
                );
                if w.cause == Some(Cause::Quota) {
                    cond(
                        out,
                        false,
                        "ReplicaFailure",
                        "True",
                        "FailedCreate",
                        &w.quota_message(r),
                        now,
                    );
                }
            }
            out.push(b']');
        }
        WlKind::StatefulSet => {
            let _ = write!(
                out,
                "\"observedGeneration\":{},\"replicas\":{n},\"readyReplicas\":{ready},\"currentReplicas\":{n},\"updatedReplicas\":{n},\"availableReplicas\":{ready},\"currentRevision\":\"{rs}\",\"updateRevision\":\"{rs}\",\"collisionCount\":0",
                r.revision
            );
        }
        WlKind::Job => {
            out.extend_from_slice(b"\"startTime\":\"");
            clock::secs(out, r.start);
            out.push(b'"');
            if w.cause.is_none() {
                let done = (r.start + 70_000).min(now);
                out.extend_from_slice(b",\"completionTime\":\"");
                clock::secs(out, done);
                out.extend_from_slice(b"\",\"succeeded\":1,\"ready\":0,\"conditions\":[");
                cond(
                    out,
                    true,
                    "Complete",
                    "True",
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                    done,
                );
                out.push(b']');
            } else {
                out.extend_from_slice(b",\"active\":1,\"ready\":0");
            }
        }
    }
    out.extend_from_slice(b"}}");
}

fn owner_ref(out: &mut Vec<u8>, api: &str, kind: &str, name: &str, uid: &str) {
    out.extend_from_slice(b",\"ownerReferences\":[{\"apiVersion\":");
    js(out, api);
    kv(out, "kind", kind);
    kv(out, "name", name);
    kv(out, "uid", uid);
    out.extend_from_slice(b",\"controller\":true,\"blockOwnerDeletion\":true}]");
}

fn replicaset_doc(cx: &mut Ctx<'_>, w: &Workload, r: &Rollout, out: &mut Vec<u8>) {
    let rs = w.rs_name(r);
    let n = w.replicas;
    out.extend_from_slice(b"{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",");
    meta(out, &rs, &w.ns, &r.rs_uid, r.start.min(cx.now));
    out.extend_from_slice(b",\"labels\":{\"app.kubernetes.io/name\":");
    js(out, &w.name);
    kv(out, "pod-template-hash", &r.hash);
    let _ = write!(
        out,
        "}},\"annotations\":{{\"deployment.kubernetes.io/desired-replicas\":\"{n}\",\"deployment.kubernetes.io/max-replicas\":\"{}\",\"deployment.kubernetes.io/revision\":\"{}\"}}",
        n + 1,
        r.revision
    );
    owner_ref(out, "apps/v1", "Deployment", &w.name, &w.uid);
    let _ = write!(out, "}},\"spec\":{{\"replicas\":{n},\"template\":");
    template(w, out);
    let (created, ready) = match w.cause {
        Some(Cause::Quota) => (0, 0),
        Some(_) => (n, 0),
        None => (n, n),
    };
    let _ = write!(
        out,
        "}},\"status\":{{\"replicas\":{created},\"fullyLabeledReplicas\":{created},\"readyReplicas\":{ready},\"availableReplicas\":{ready},\"observedGeneration\":1"
    );
    if w.cause == Some(Cause::Quota) {
        out.extend_from_slice(b",\"conditions\":[");
        cond(
            out,
            true,
            "ReplicaFailure",
            "True",
            "FailedCreate",
            &w.quota_message(r),
            cx.now,
        );
        out.push(b']');
    }
    out.extend_from_slice(b"}}");
}

fn pvc_doc(cx: &mut Ctx<'_>, w: &Workload, r: &Rollout, p: usize, out: &mut Vec<u8>) {
    let claim = format!("data-{}", r.pods[p].0);
    let bad = w.cause == Some(Cause::StorageClass);
    out.extend_from_slice(b"{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",");
    // Created with the first rollout it served; a snapshot as of now otherwise.
    meta(
        out,
        &claim,
        &w.ns,
        &uuid(mix64(w.key ^ 0xc1a1) ^ p as u64),
        if bad { r.start } else { cx.now - HOUR_MS },
    );
    out.extend_from_slice(b",\"labels\":{\"app.kubernetes.io/name\":");
    js(out, &w.name);
    out.extend_from_slice(b"}");
    if !bad {
        out.extend_from_slice(b",\"annotations\":{\"pv.kubernetes.io/bind-completed\":\"yes\",\"volume.kubernetes.io/storage-provisioner\":\"ebs.csi.aws.com\"}");
    }
    let sc = if bad { "fast-ssd" } else { "gp3" };
    let _ = write!(out, "}},\"spec\":{{\"accessModes\":[\"ReadWriteOnce\"],\"storageClassName\":\"{sc}\",\"resources\":{{\"requests\":{{\"storage\":\"10Gi\"}}}}");
    if !bad {
        let _ = write!(out, ",\"volumeName\":\"pvc-{}\"", uuid(w.key ^ p as u64));
    }
    let phase = if bad { "Pending" } else { "Bound" };
    let _ = write!(
        out,
        ",\"volumeMode\":\"Filesystem\"}},\"status\":{{\"phase\":\"{phase}\""
    );
    if !bad {
        out.extend_from_slice(
            b",\"accessModes\":[\"ReadWriteOnce\"],\"capacity\":{\"storage\":\"10Gi\"}",
        );
    }
    out.extend_from_slice(b"}}");
}

fn pod_doc(cx: &mut Ctx<'_>, w: &Workload, r: &Rollout, p: usize, out: &mut Vec<u8>) {
    let now = cx.now;
    let (pod, uid) = &r.pods[p];
    let (okind, oname, ouid, _) = w.pod_owner(r);
    let node = w.node(p);
    let created = r.start.min(now);
    out.extend_from_slice(b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",");
    meta(out, pod, &w.ns, uid, created);
    out.extend_from_slice(b",\"labels\":{\"app.kubernetes.io/name\":");
    js(out, &w.name);
    match w.kind {
        WlKind::Deployment => kv(out, "pod-template-hash", &r.hash),
        WlKind::StatefulSet => {
            kv(out, "apps.kubernetes.io/pod-index", &p.to_string());
            kv(out, "statefulset.kubernetes.io/pod-name", pod);
        }
        WlKind::Job => {
            kv(out, "batch.kubernetes.io/controller-uid", &w.uid);
            kv(out, "batch.kubernetes.io/job-name", &w.name);
        }
    }
    out.push(b'}');
    owner_ref(out, w.kind.api_version(), okind, &oname, &ouid);
    out.extend_from_slice(b"},\"spec\":{");
    container_spec(w, out);
    let unscheduled = matches!(
        w.cause,
        Some(Cause::Taint | Cause::InsufficientCpu | Cause::StorageClass)
    );
    if !unscheduled {
        kv(out, "nodeName", node);
    }
    match (w.kind, w.cause) {
        (WlKind::StatefulSet, _) => {
            let _ = write!(out, ",\"volumes\":[{{\"name\":\"data\",\"persistentVolumeClaim\":{{\"claimName\":\"data-{pod}\"}}}}]");
        }
        (_, Some(Cause::MountSecret)) => {
            let _ = write!(
                out,
                ",\"volumes\":[{{\"name\":\"tls\",\"secret\":{{\"secretName\":\"{}\"}}}}]",
                w.secret()
            );
        }
        _ => {}
    }
    if w.kind == WlKind::Job {
        out.extend_from_slice(b",\"restartPolicy\":\"Never\"");
    }
    out.extend_from_slice(b"},\"status\":{");
    let c = &w.container;
    let img = &w.image;
    let phase = match w.cause {
        None if w.kind == WlKind::Job => "Succeeded",
        None | Some(Cause::OomKilled | Cause::Probe) => "Running",
        _ => "Pending",
    };
    let _ = write!(out, "\"phase\":\"{phase}\",\"conditions\":[");
    // A snapshot as of now: its newest instant is the line's time.
    if unscheduled {
        let msg = if w.cause == Some(Cause::StorageClass) {
            "0/6 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling."
        } else if w.cause == Some(Cause::Taint) {
            "0/6 nodes are available: 6 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/6 nodes are available: 6 Preemption is not helpful for scheduling."
        } else {
            "0/6 nodes are available: 6 Insufficient cpu. preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod."
        };
        cond(
            out,
            true,
            "PodScheduled",
            "False",
            "Unschedulable",
            msg,
            now,
        );
        out.extend_from_slice(b"]}}");
        return;
    }
    cond(out, true, "PodScheduled", "True", "", "", created);
    let ready = w.cause.is_none() && w.kind != WlKind::Job;
    if ready {
        cond(out, false, "Ready", "True", "", "", now);
    } else {
        let reason = if w.kind == WlKind::Job && w.cause.is_none() {
            "PodCompleted"
        } else {
            "ContainersNotReady"
        };
        cond(
            out,
            false,
            "Ready",
            "False",
            reason,
            &format!("containers with unready status: [{c}]"),
            now,
        );
    }
    out.extend_from_slice(b"],\"hostIP\":\"10.0.12.34\",\"startTime\":\"");
    clock::secs(out, created);
    out.extend_from_slice(b"\",\"containerStatuses\":[{\"name\":");
    js(out, c);
    let restarts = match w.cause {
        Some(Cause::OomKilled) => 1 + ((now - created) / 300_000).max(0),
        Some(Cause::Probe) => (now - created) / 900_000,
        _ => 0,
    };
    let _ = write!(
        out,
        ",\"ready\":{ready},\"restartCount\":{restarts},\"image\":\"{img}\",\"started\":{},\"state\":",
        matches!(w.cause, None | Some(Cause::Probe)) && w.kind != WlKind::Job
    );
    let since = |out: &mut Vec<u8>, t: TsMs| {
        clock::secs(out, t.clamp(created, now));
    };
    match w.cause {
        None if w.kind == WlKind::Job => {
            out.extend_from_slice(
                b"{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\",\"startedAt\":\"",
            );
            since(out, created + 5_000);
            out.extend_from_slice(b"\",\"finishedAt\":\"");
            since(out, created + 65_000);
            out.extend_from_slice(b"\"}}");
        }
        None | Some(Cause::Probe) => {
            out.extend_from_slice(b"{\"running\":{\"startedAt\":\"");
            since(out, created + 8_000);
            out.extend_from_slice(b"\"}}");
        }
        Some(Cause::MountSecret) => {
            out.extend_from_slice(b"{\"waiting\":{\"reason\":\"ContainerCreating\"}}");
        }
        Some(Cause::ImageNotFound) => {
            out.extend_from_slice(b"{\"waiting\":{\"reason\":\"ImagePullBackOff\",\"message\":");
            js(out, &format!("Back-off pulling image \"{img}\""));
            out.extend_from_slice(b"}}");
        }
        Some(Cause::ConfigMap) => {
            out.extend_from_slice(
                b"{\"waiting\":{\"reason\":\"CreateContainerConfigError\",\"message\":",
            );
            js(out, &format!("configmap \"{}\" not found", w.configmap()));
            out.extend_from_slice(b"}}");
        }
        Some(Cause::OomKilled) => {
            out.extend_from_slice(b"{\"waiting\":{\"reason\":\"CrashLoopBackOff\",\"message\":");
            js(
                out,
                &format!(
                    "back-off 5m0s restarting failed container={c} pod={pod}_{}({uid})",
                    w.ns
                ),
            );
            out.extend_from_slice(b"}},\"lastState\":{\"terminated\":{\"exitCode\":137,\"reason\":\"OOMKilled\",\"startedAt\":\"");
            since(out, now - 95_000);
            out.extend_from_slice(b"\",\"finishedAt\":\"");
            since(out, now - 30_000);
            out.extend_from_slice(b"\"}}");
        }
        _ => out.extend_from_slice(b"{\"waiting\":{\"reason\":\"ContainerCreating\"}}"),
    }
    out.extend_from_slice(b"}]}}");
}
