//! Targeted lookups of a failing workload (`sources::kube::lookup`) against the
//! Kubernetes API emulator (`tests/kube_emulator/emulator.py`): a Deployment `shop/web`
//! whose three Pods cannot pull `ghcr.io/acme/web:v1.4.3`, among many Pods and Events
//! that are not its own.
//!
//! Checks: the lookup returns the Deployment, its current and previous ReplicaSet, its
//! Pods and their Events and nothing else; every Pod list carried the workload's label
//! selector and every Event list a field selector (counted by the emulator); the request
//! count is small and equals what the lookup reports; a second lookup inside the
//! interval asks nothing; with `pods` (or `events`) forbidden the rest still comes back,
//! `denied` names the resource, and the Pods' Events are still found; every line
//! decodes as a Kubernetes object or Event of the right kind. These tests need python3
//! and fail without it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use fluxsight::parse::LineDecoder;
use fluxsight::record::{Detail, Format, Record};
use fluxsight::sources::kube::connect::{self, ClusterEnv, ClusterOptions};
use fluxsight::sources::kube::lookup::{Fetched, Lookups, Outcome, WorkloadTarget};
use fluxsight::sources::kube::{Cluster, LookupSettings};
use fluxsight::telemetry::{LookupResult, Telemetry};
use serde_json::{json, Value};

mod common;
mod kube_emulator;
use common::tempdir;
use kube_emulator::Emulator;

const DEPLOY: [&str; 3] = ["apps", "v1", "deployments"];
const RS: [&str; 3] = ["apps", "v1", "replicasets"];
const PODS: [&str; 3] = ["", "v1", "pods"];
const EVENTS: [&str; 3] = ["", "v1", "events"];

const IMAGE: &str = "ghcr.io/acme/web:v1.4.3";
const CUR_RS: &str = "web-7d9f8c6b5";
const PREV_RS: &str = "web-5c4b3a291";
const OLD_RS: &str = "web-66f5d8b4c";
const WEB_PODS: [&str; 3] = [
    "web-7d9f8c6b5-a1b2c",
    "web-7d9f8c6b5-d3e4f",
    "web-7d9f8c6b5-g5h6i",
];

fn pull_failure() -> String {
    format!(
        "Failed to pull image \"{IMAGE}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{IMAGE}\": failed to resolve reference \"{IMAGE}\": {IMAGE}: not found"
    )
}

fn owner(kind: &str, name: &str, ns: &str) -> Value {
    json!([{"apiVersion": "apps/v1", "kind": kind, "name": name,
            "uid": format!("uid-{ns}-{name}"), "controller": true, "blockOwnerDeletion": true}])
}

fn replicaset(name: &str, revision: &str, hash: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": "shop",
            "labels": {"app": "web", "pod-template-hash": hash},
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": owner("Deployment", "web", "shop"),
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]},
        "spec": {"replicas": if name == CUR_RS { 3 } else { 0 },
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": hash}}},
        "status": {"replicas": if name == CUR_RS { 3 } else { 0 }}
    })
}

fn failing_pod(name: &str, i: usize) -> Value {
    let (reason, message) = if i == 0 {
        ("ErrImagePull", pull_failure())
    } else {
        (
            "ImagePullBackOff",
            format!("Back-off pulling image \"{IMAGE}\""),
        )
    };
    json!({
        "metadata": {"name": name, "namespace": "shop",
            "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": owner("ReplicaSet", CUR_RS, "shop")},
        "spec": {"containers": [{"name": "web", "image": IMAGE}]},
        "status": {"phase": "Pending", "containerStatuses": [{
            "name": "web", "ready": false, "restartCount": 0, "image": IMAGE, "imageID": "",
            "state": {"waiting": {"reason": reason, "message": message}}}]}
    })
}

fn other_pod(ns: &str, name: &str, app: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": ns, "labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "c", "ready": true,
            "restartCount": 0, "image": "busybox", "imageID": "", "state": {"running": {}}}]}
    })
}

#[allow(clippy::too_many_arguments)]
fn event(
    ns: &str,
    name: &str,
    kind: &str,
    obj: &str,
    reason: &str,
    typ: &str,
    message: &str,
    last: &str,
) -> Value {
    json!({
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {"kind": kind, "namespace": ns, "name": obj,
            "uid": format!("uid-{ns}-{obj}"), "apiVersion": if kind == "Pod" { "v1" } else { "apps/v1" }},
        "reason": reason, "message": message, "type": typ,
        "source": {"component": if kind == "Pod" { "kubelet" } else { "deployment-controller" }},
        "firstTimestamp": "2026-12-07T10:00:00Z", "lastTimestamp": last, "count": 4
    })
}

/// `shop/web` failing to pull its image, plus 30 healthy `api` Pods, a `web-debug`
/// Pod and two `app=web` Pods the Deployment does not control in `shop`, 40 Pods in
/// `payments`, and a same-named Pod with its Event in `staging`.
fn seed(emu: &mut Emulator) {
    emu.apply(
        DEPLOY,
        json!({
            "metadata": {"name": "web", "namespace": "shop",
                "labels": {"kustomize.toolkit.fluxcd.io/name": "apps",
                           "kustomize.toolkit.fluxcd.io/namespace": "flux-system"},
                "annotations": {"deployment.kubernetes.io/revision": "3"},
                "managedFields": [{"manager": "kustomize-controller", "operation": "Apply"}]},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": IMAGE}]}}},
            "status": {"replicas": 3, "unavailableReplicas": 3, "conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                 "message": "Deployment does not have minimum availability."},
                {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                 "message": format!("ReplicaSet \"{CUR_RS}\" is progressing.")}]}
        }),
    );
    emu.apply(RS, replicaset(CUR_RS, "3", "7d9f8c6b5"));
    emu.apply(RS, replicaset(PREV_RS, "2", "5c4b3a291"));
    emu.apply(RS, replicaset(OLD_RS, "1", "66f5d8b4c"));
    for (i, p) in WEB_PODS.iter().enumerate() {
        emu.apply(PODS, failing_pod(p, i));
        emu.apply(
            EVENTS,
            event(
                "shop",
                &format!("{p}.pull"),
                "Pod",
                p,
                "Failed",
                "Warning",
                &pull_failure(),
                "2026-12-07T10:04:00Z",
            ),
        );
        emu.apply(
            EVENTS,
            event(
                "shop",
                &format!("{p}.backoff"),
                "Pod",
                p,
                "BackOff",
                "Normal",
                &format!("Back-off pulling image \"{IMAGE}\""),
                "2026-12-07T10:05:00Z",
            ),
        );
    }
    emu.apply(
        EVENTS,
        event(
            "shop",
            "web.scaled",
            "Deployment",
            "web",
            "ScalingReplicaSet",
            "Normal",
            &format!("Scaled up replica set {CUR_RS} to 3"),
            "2026-12-07T10:00:00Z",
        ),
    );
    emu.apply(
        EVENTS,
        event(
            "shop",
            &format!("{CUR_RS}.created"),
            "ReplicaSet",
            CUR_RS,
            "SuccessfulCreate",
            "Normal",
            &format!("Created pod: {}", WEB_PODS[0]),
            "2026-12-07T10:00:01Z",
        ),
    );
    for i in 0..30 {
        let name = format!("api-6b7c8d9e0f-{i:05}");
        emu.apply(PODS, other_pod("shop", &name, "api"));
        emu.apply(
            EVENTS,
            event(
                "shop",
                &format!("{name}.started"),
                "Pod",
                &name,
                "Started",
                "Normal",
                "Started container c",
                "2026-12-07T10:03:00Z",
            ),
        );
    }
    emu.apply(PODS, other_pod("shop", "web-debug", "web-debug"));
    emu.apply(
        EVENTS,
        event(
            "shop",
            "web-debug.started",
            "Pod",
            "web-debug",
            "Started",
            "Normal",
            "Started container c",
            "2026-12-07T10:03:00Z",
        ),
    );
    // Selected by `app=web` but not this Deployment's: a bare Pod, and a Pod of a
    // ReplicaSet older than the two kept.
    emu.apply(PODS, other_pod("shop", "web-manual", "web"));
    let mut stale = other_pod("shop", "web-66f5d8b4c-zzzzz", "web");
    stale["metadata"]["ownerReferences"] = owner("ReplicaSet", OLD_RS, "shop");
    emu.apply(PODS, stale);
    for i in 0..40 {
        emu.apply(
            PODS,
            other_pod("payments", &format!("ledger-{i}"), "ledger"),
        );
    }
    // The same names in another namespace: none of it is shop's.
    emu.apply(PODS, other_pod("staging", WEB_PODS[0], "web"));
    emu.apply(
        EVENTS,
        event(
            "staging",
            "staging.pull",
            "Pod",
            WEB_PODS[0],
            "Failed",
            "Warning",
            "Failed to pull image \"ghcr.io/acme/web:v0.0.1\": unauthorized",
            "2026-12-07T10:06:00Z",
        ),
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client of the emulator, through the kubeconfig search `run` uses.
fn cluster(rt: &tokio::runtime::Runtime, emu: &Emulator) -> Cluster {
    fluxsight::tls::install_crypto_provider();
    // One directory per emulator: the tests run in parallel in one process.
    let dir = tempdir(&format!("kube-lookup-{}", emu.port));
    let opts = ClusterOptions {
        kubeconfig: Some(emu.kubeconfig(&dir)),
        context: None,
    };
    rt.block_on(async {
        let found = connect::load(&opts, &ClusterEnv::default())
            .await
            .expect("kubeconfig loads");
        fluxsight::sources::kube::client(found)
            .await
            .expect("client")
    })
}

/// A runner with the default limits but `interval`, and its telemetry.
fn lookups(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    interval: Duration,
) -> (Lookups, Arc<Telemetry>) {
    let settings = LookupSettings {
        interval,
        ..LookupSettings::default()
    };
    let telemetry = Telemetry::new();
    (
        Lookups::new(cluster(rt, emu).client, settings, telemetry.clone()),
        telemetry,
    )
}

fn web() -> WorkloadTarget {
    WorkloadTarget::new("Deployment", "shop", "web")
}

/// Each line decoded by the project's decoder: one record per line, a Kubernetes
/// object or Event (never text).
fn decode(docs: &[String]) -> Vec<Record> {
    let mut dec = LineDecoder::new(None);
    let mut out = Vec::new();
    for d in docs {
        let recs = dec.decode(d.as_bytes());
        assert_eq!(recs.len(), 1, "one record per line: {d}");
        let r = recs.into_iter().next().unwrap();
        assert!(
            matches!(r.format, Format::K8sObject | Format::K8sEvent),
            "not decoded as a Kubernetes document ({:?}): {d}",
            r.format
        );
        out.push(r);
    }
    assert!(dec.finish().is_empty());
    out
}

/// `(kind, namespace, name)` of every object line, from its JSON.
fn objects(f: &Fetched) -> BTreeSet<(String, String, String)> {
    f.docs
        .iter()
        .map(|d| {
            let v: Value = serde_json::from_str(d).expect("each line is JSON");
            assert_eq!(v["type"], "ADDED", "{d}");
            let o = &v["object"];
            assert!(
                o["metadata"].get("managedFields").is_none(),
                "managedFields stripped: {d}"
            );
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

fn of_kind(objs: &BTreeSet<(String, String, String)>, kind: &str) -> BTreeSet<String> {
    objs.iter()
        .filter(|(k, _, _)| k == kind)
        .map(|(_, _, n)| n.clone())
        .collect()
}

fn names(xs: &[&str]) -> BTreeSet<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

/// The emulator's query log since `from`.
fn queries(emu: &mut Emulator, from: usize) -> Vec<Value> {
    emu.stats()["queries"].as_array().unwrap()[from..].to_vec()
}

fn query_count(emu: &mut Emulator) -> usize {
    emu.stats()["queries"].as_array().unwrap().len()
}

#[test]
fn lookup_fetches_the_workload_its_replicasets_pods_and_their_events_only() {
    let mut emu = Emulator::require();
    seed(&mut emu);
    let rt = runtime();
    let (lk, telemetry) = lookups(&rt, &emu, Duration::from_secs(60));
    let before = query_count(&mut emu);
    let got = rt
        .block_on(lk.lookup(&web()))
        .fetched()
        .expect("a workload is looked up");
    assert_eq!(got.result(), LookupResult::Ok, "{got:?}");
    assert!(
        got.denied.is_empty() && got.errors.is_empty() && got.not_found.is_empty(),
        "{got:?}"
    );
    let objs = objects(&got);
    assert!(
        objs.iter().all(|(_, ns, _)| ns == "shop"),
        "only shop's objects: {objs:?}"
    );
    assert_eq!(of_kind(&objs, "Deployment"), names(&["web"]));
    assert_eq!(of_kind(&objs, "ReplicaSet"), names(&[CUR_RS, PREV_RS]));
    assert_eq!(of_kind(&objs, "Pod"), names(&WEB_PODS));
    let mut want_events: Vec<String> = WEB_PODS
        .iter()
        .flat_map(|p| [format!("{p}.pull"), format!("{p}.backoff")])
        .collect();
    want_events.push("web.scaled".into());
    want_events.push(format!("{CUR_RS}.created"));
    let want_events: BTreeSet<String> = want_events.into_iter().collect();
    assert_eq!(of_kind(&objs, "Event"), want_events);
    // Per object, newest first: a Pod's BackOff (10:05) before its Failed (10:04).
    let order: Vec<String> = got
        .docs
        .iter()
        .filter(|d| d.contains(&format!("\"name\":\"{}.", WEB_PODS[0])))
        .map(|d| {
            let v: Value = serde_json::from_str(d).unwrap();
            v["object"]["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        order,
        [
            format!("{}.backoff", WEB_PODS[0]),
            format!("{}.pull", WEB_PODS[0])
        ]
    );

    // Requests: few, each one by name or by selector, and what the lookup reports.
    let qs = queries(&mut emu, before);
    assert_eq!(qs.len() as u32, got.requests, "{qs:#?}");
    assert!(got.requests <= 10, "{} requests: {qs:#?}", got.requests);
    for q in &qs {
        assert_eq!(q["namespace"], "shop", "{q}");
        match (q["resource"].as_str().unwrap(), q["verb"].as_str().unwrap()) {
            ("pods" | "replicasets", "list") => {
                assert_eq!(q["labelSelector"], "app=web", "{q}");
                assert_eq!(q["limit"], 50, "{q}");
            }
            ("events", "list") => {
                let f = q["fieldSelector"].as_str().unwrap_or_default();
                assert!(f.contains("involvedObject.name="), "{q}");
            }
            ("deployments", "get") => assert_eq!(q["name"], "web"),
            other => panic!("unexpected request {other:?}: {q}"),
        }
    }
    let by = &emu.stats()["by_resource"];
    assert_eq!(by["pods"]["list"], 1, "{by}");
    assert_eq!(by["pods"]["get"], 0, "{by}");
    assert_eq!(
        by["events"]["list"], 6,
        "the workload, 2 ReplicaSets, 3 Pods: {by}"
    );

    // Decoded by the project's decoder as Kubernetes documents of the right kinds.
    let recs = decode(&got.docs);
    let kind_of = |r: &Record| r.object.as_ref().map(|o| o.kind.to_string());
    let pods: Vec<&Record> = recs
        .iter()
        .filter(|r| kind_of(r).as_deref() == Some("Pod") && r.format == Format::K8sObject)
        .collect();
    assert_eq!(pods.len(), 3);
    for p in &pods {
        let Detail::Pod(info) = &p.detail else {
            panic!("a Pod record carries Pod details: {p:?}");
        };
        let waiting = info.containers[0].waiting_reason.as_deref();
        assert!(
            matches!(waiting, Some("ErrImagePull" | "ImagePullBackOff")),
            "{info:?}"
        );
    }
    let events: Vec<&Record> = recs
        .iter()
        .filter(|r| r.format == Format::K8sEvent)
        .collect();
    assert_eq!(events.len(), want_events.len());
    let pulls = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("Failed") && e.msg.contains("Failed to pull image"))
        .count();
    assert_eq!(pulls, 3);
    for k in ["Deployment", "ReplicaSet"] {
        assert!(
            recs.iter()
                .any(|r| r.format == Format::K8sObject && kind_of(r).as_deref() == Some(k)),
            "a {k} record"
        );
    }

    // Inside the interval: dropped, counted, no request.
    let before = query_count(&mut emu);
    assert_eq!(
        rt.block_on(lk.lookup(&web())),
        Outcome::Skipped(LookupResult::Duplicate)
    );
    // The kind as someone else spelled it is the same workload.
    assert_eq!(
        rt.block_on(lk.lookup(&WorkloadTarget::new("deployment", "shop", "web"))),
        Outcome::Skipped(LookupResult::Duplicate)
    );
    // Not a workload: nothing asked.
    assert_eq!(
        rt.block_on(lk.lookup(&WorkloadTarget::new("HelmRelease", "shop", "web"))),
        Outcome::Skipped(LookupResult::NotWorkload)
    );
    assert_eq!(
        query_count(&mut emu),
        before,
        "no request after the first lookup"
    );
    let text = telemetry.encode();
    for (result, n) in [("ok", 1), ("duplicate", 2), ("not_workload", 1)] {
        let series = format!("fluxsight_lookups_total{{result=\"{result}\"}} {n}\n");
        assert!(text.contains(&series), "{series} in {text}");
    }
    let series = format!("fluxsight_lookup_requests_total {}\n", got.requests);
    assert!(text.contains(&series), "{series} in {text}");
}

#[test]
fn forbidden_pods_leave_the_rest_and_the_pods_events() {
    let mut emu = Emulator::require();
    seed(&mut emu);
    emu.forbid("pods");
    let rt = runtime();
    let (lk, telemetry) = lookups(&rt, &emu, Duration::from_secs(60));
    let got = rt.block_on(lk.lookup(&web())).fetched().unwrap();
    assert_eq!(got.denied, ["pods"], "{got:?}");
    assert_eq!(got.result(), LookupResult::Denied);
    assert!(got.errors.is_empty(), "{got:?}");
    let objs = objects(&got);
    assert!(of_kind(&objs, "Pod").is_empty());
    assert_eq!(of_kind(&objs, "Deployment"), names(&["web"]));
    assert_eq!(of_kind(&objs, "ReplicaSet"), names(&[CUR_RS, PREV_RS]));
    let evs = of_kind(&objs, "Event");
    for p in WEB_PODS {
        assert!(evs.contains(&format!("{p}.pull")), "{evs:?}");
    }
    assert!(evs.contains("web.scaled"), "{evs:?}");
    assert!(
        !evs.iter()
            .any(|e| e.starts_with("api-") || e == "staging.pull" || e == "web-debug.started"),
        "only web's Events: {evs:?}"
    );
    decode(&got.docs);
    let by = &emu.stats()["by_resource"];
    assert_eq!(by["pods"]["list"], 1, "asked once, then not again: {by}");
    assert_eq!(by["pods"]["forbidden"], 1, "{by}");
    assert!(got.requests <= 10, "{got:?}");
    let text = telemetry.encode();
    assert!(
        text.contains("fluxsight_lookups_total{result=\"denied\"} 1"),
        "{text}"
    );
}

#[test]
fn forbidden_events_leave_the_objects() {
    let mut emu = Emulator::require();
    seed(&mut emu);
    emu.forbid("events");
    let rt = runtime();
    let (lk, _) = lookups(&rt, &emu, Duration::ZERO);
    let got = rt.block_on(lk.lookup(&web())).fetched().unwrap();
    assert_eq!(got.denied, ["events"], "{got:?}");
    let objs = objects(&got);
    assert_eq!(of_kind(&objs, "Pod"), names(&WEB_PODS));
    assert!(of_kind(&objs, "Event").is_empty());
    let by = &emu.stats()["by_resource"];
    assert_eq!(
        by["events"]["forbidden"], 1,
        "one 403, then no more asks: {by}"
    );
    // Interval 0: the same workload may be looked up again at once.
    assert!(rt.block_on(lk.lookup(&web())).fetched().is_some());
}

const STS: [&str; 3] = ["apps", "v1", "statefulsets"];
const PVCS: [&str; 3] = ["", "v1", "persistentvolumeclaims"];

/// A StatefulSet whose first Pod waits for a PVC that cannot be provisioned, and whose
/// second PVC does not exist yet: the PVCs come from the Pods' volumes and the
/// templates, a missing one is `not_found`, and the PVC's own Events are fetched.
#[test]
fn statefulset_lookup_follows_its_claims() {
    let mut emu = Emulator::require();
    emu.apply(
        STS,
        json!({
            "metadata": {"name": "db", "namespace": "shop"},
            "spec": {"replicas": 2, "selector": {"matchExpressions": [
                    {"key": "app", "operator": "In", "values": ["db"]}]},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"storageClassName": "fast"}}]},
            "status": {"replicas": 1, "readyReplicas": 0}
        }),
    );
    let mut pod = other_pod("shop", "db-0", "db");
    pod["metadata"]["ownerReferences"] = owner("StatefulSet", "db", "shop");
    pod["spec"]["volumes"] =
        json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]);
    pod["status"] = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
        "status": "False", "reason": "Unschedulable"}]});
    emu.apply(PODS, pod);
    // Selected by `app in (db)` but another StatefulSet's.
    let mut foreign = other_pod("shop", "db-old-0", "db");
    foreign["metadata"]["ownerReferences"] = owner("StatefulSet", "db-old", "shop");
    emu.apply(PODS, foreign);
    emu.apply(
        PVCS,
        json!({"metadata": {"name": "data-db-0", "namespace": "shop"},
            "spec": {"storageClassName": "fast"}, "status": {"phase": "Pending"}}),
    );
    let mut provisioning = event(
        "shop",
        "data-db-0.fail",
        "PersistentVolumeClaim",
        "data-db-0",
        "ProvisioningFailed",
        "Warning",
        "storageclass.storage.k8s.io \"fast\" not found",
        "2026-12-07T10:01:00Z",
    );
    provisioning["involvedObject"]["apiVersion"] = json!("v1");
    emu.apply(EVENTS, provisioning);
    emu.apply(
        EVENTS,
        event(
            "shop",
            "db-0.sched",
            "Pod",
            "db-0",
            "FailedScheduling",
            "Warning",
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
            "2026-12-07T10:01:30Z",
        ),
    );
    let rt = runtime();
    let (lk, _) = lookups(&rt, &emu, Duration::from_secs(60));
    let got = rt
        .block_on(lk.lookup(&WorkloadTarget::new("StatefulSet", "shop", "db")))
        .fetched()
        .unwrap();
    assert_eq!(got.result(), LookupResult::Ok, "{got:?}");
    assert_eq!(got.not_found, ["persistentvolumeclaims/shop/data-db-1"]);
    let objs = objects(&got);
    assert_eq!(of_kind(&objs, "StatefulSet"), names(&["db"]));
    assert_eq!(of_kind(&objs, "Pod"), names(&["db-0"]));
    assert_eq!(
        of_kind(&objs, "PersistentVolumeClaim"),
        names(&["data-db-0"])
    );
    assert_eq!(
        of_kind(&objs, "Event"),
        names(&["data-db-0.fail", "db-0.sched"])
    );
    let recs = decode(&got.docs);
    assert!(
        recs.iter()
            .any(|r| r.format == Format::K8sEvent
                && r.reason.as_deref() == Some("ProvisioningFailed"))
    );
    let qs = queries(&mut emu, 0);
    let pod_lists: Vec<&Value> = qs
        .iter()
        .filter(|q| q["resource"] == "pods" && q["verb"] == "list")
        .collect();
    assert_eq!(pod_lists.len(), 1);
    assert_eq!(pod_lists[0]["labelSelector"], "app in (db)");
    // GET sts, LIST pods, GET 2 PVCs, Events of the sts, the Pod and one PVC.
    assert_eq!(got.requests, 7, "{qs:#?}");
}

/// Four lookups asked at once run two at a time (the emulator sees at most two
/// requests in flight, and two); a lookup past its deadline keeps what it fetched.
#[test]
fn two_lookups_at_once_and_a_deadline_keeps_what_was_fetched() {
    let mut emu = Emulator::require();
    seed(&mut emu);
    emu.delay("deployments", 0.4);
    let rt = runtime();
    let (lk, telemetry) = lookups(&rt, &emu, Duration::from_secs(60));
    let targets: Vec<WorkloadTarget> = ["web", "a", "b", "c"]
        .iter()
        .map(|n| WorkloadTarget::new("Deployment", "shop", n))
        .collect();
    let outcomes = rt.block_on(futures::future::join_all(
        targets.iter().map(|t| lk.lookup(t)),
    ));
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Fetched(_))));
    assert_eq!(emu.stats()["max_in_flight"], 2, "two lookups at once");
    let missing = outcomes[1].clone().fetched().unwrap();
    assert_eq!(missing.not_found, ["deployments/shop/a"]);
    assert_eq!(missing.result(), LookupResult::Ok);

    emu.delay("deployments", 0.0);
    emu.delay("events", 3.0);
    let settings = LookupSettings {
        timeout: Duration::from_millis(800),
        ..LookupSettings::default()
    };
    let lk = Lookups::new(cluster(&rt, &emu).client, settings, telemetry.clone());
    let started = std::time::Instant::now();
    let got = rt.block_on(lk.lookup(&web())).fetched().unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert!(got.timed_out, "{got:?}");
    assert_eq!(got.result(), LookupResult::Timeout);
    let objs = objects(&got);
    assert_eq!(of_kind(&objs, "Pod"), names(&WEB_PODS), "kept: {objs:?}");
    assert!(of_kind(&objs, "Event").is_empty());
    let text = telemetry.encode();
    assert!(
        text.contains("fluxsight_lookups_total{result=\"timeout\"} 1"),
        "{text}"
    );
}

/// With the Deployment itself forbidden, its Pods' and ReplicaSets' Events are still
/// found, by the names the controllers generate (`web-<hash>-<suffix>`), and not a
/// `web-debug` Pod's.
#[test]
fn forbidden_workload_falls_back_to_events_by_generated_names() {
    let mut emu = Emulator::require();
    seed(&mut emu);
    emu.forbid("deployments");
    let rt = runtime();
    let (lk, _) = lookups(&rt, &emu, Duration::from_secs(60));
    let got = rt.block_on(lk.lookup(&web())).fetched().unwrap();
    assert_eq!(got.denied, ["deployments"], "{got:?}");
    let objs = objects(&got);
    assert!(objs.iter().all(|(k, _, _)| k == "Event"), "{objs:?}");
    let mut want: BTreeSet<String> = WEB_PODS
        .iter()
        .flat_map(|p| [format!("{p}.pull"), format!("{p}.backoff")])
        .collect();
    want.insert("web.scaled".into());
    want.insert(format!("{CUR_RS}.created"));
    assert_eq!(of_kind(&objs, "Event"), want);
    let qs = queries(&mut emu, 0);
    assert!(
        !qs.iter()
            .any(|q| q["resource"] == "pods" || q["resource"] == "replicasets"),
        "no Pod or ReplicaSet list without the workload's selector: {qs:#?}"
    );
    // GET deployment, Events of the Deployment, Pod Events, ReplicaSet Events.
    assert_eq!(got.requests, 4, "{qs:#?}");
    decode(&got.docs);
}

/// `enabled: false` and the per-minute cap drop requests before any is made.
#[test]
fn disabled_and_rate_limited_lookups_ask_nothing() {
    let mut emu = Emulator::require();
    seed(&mut emu);
    let rt = runtime();
    let telemetry = Telemetry::new();
    let off = LookupSettings {
        enabled: false,
        ..LookupSettings::default()
    };
    let lk = Lookups::new(cluster(&rt, &emu).client, off, telemetry.clone());
    assert_eq!(
        rt.block_on(lk.lookup(&web())),
        Outcome::Skipped(LookupResult::Disabled)
    );
    let one = LookupSettings {
        max_per_minute: 1,
        ..LookupSettings::default()
    };
    let lk = Lookups::new(cluster(&rt, &emu).client, one, telemetry.clone());
    let api = WorkloadTarget::new("Deployment", "shop", "api");
    assert!(rt.block_on(lk.lookup(&api)).fetched().is_some());
    let before = query_count(&mut emu);
    assert_eq!(
        rt.block_on(lk.lookup(&web())),
        Outcome::Skipped(LookupResult::RateLimited)
    );
    assert_eq!(query_count(&mut emu), before);
    let text = telemetry.encode();
    for r in ["disabled", "rate_limited"] {
        let series = format!("fluxsight_lookups_total{{result=\"{r}\"}} 1\n");
        assert!(text.contains(&series), "{series} in {text}");
    }
}
