//! Live workload root cause against the Kubernetes API emulator: `fluxsight run` sees
//! kustomize-controller report `health check failed … timeout waiting for:
//! [Deployment/shop/web status: 'InProgress']`, looks the Deployment up (targeted
//! GETs and selector lists, counted by the emulator: never a list of every Pod), and
//! emits a `workload_failure` finding naming the image that cannot be pulled. With
//! `pods` forbidden the finding says its coverage is partial (RBAC).
//!
//! The cause is seeded only in Pod status (the Pods' `containerStatuses` waiting reason
//! and message, no Events), which only a lookup reads: the Event watch streams Events,
//! and Pods are watched in `flux-system` alone.
//! These tests need python3 (skipped outside CI without it, failed under CI).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
mod kube_emulator;
use common::tempdir;
use kube_emulator::{run_ready, Emulator, Fluxsight};

const DEPLOY: [&str; 3] = ["apps", "v1", "deployments"];
const RS: [&str; 3] = ["apps", "v1", "replicasets"];
const PODS: [&str; 3] = ["", "v1", "pods"];
const KC_POD: &str = "kustomize-controller-7f8d9c6b5-fghij";
const IMAGE: &str = "ghcr.io/acme/web:v1.4.3";
const CUR_RS: &str = "web-7d9f8c6b5";

fn owner(kind: &str, name: &str) -> Value {
    json!([{"apiVersion": "apps/v1", "kind": kind, "name": name,
            "uid": format!("uid-shop-{name}"), "controller": true}])
}

/// `shop/web` (applied by Kustomization flux-system/apps) whose 3 Pods cannot pull
/// their image, plus 20 healthy Pods in `shop` and `other` that are not its own.
fn seed(emu: &mut Emulator) {
    emu.apply(
        DEPLOY,
        json!({
            "metadata": {"name": "web", "namespace": "shop",
                "labels": {"kustomize.toolkit.fluxcd.io/name": "apps",
                           "kustomize.toolkit.fluxcd.io/namespace": "flux-system"},
                "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": IMAGE}]}}},
            "status": {"replicas": 3, "updatedReplicas": 3, "unavailableReplicas": 3,
                "conditions": [{"type": "Available", "status": "False",
                    "reason": "MinimumReplicasUnavailable",
                    "message": "Deployment does not have minimum availability."}]}
        }),
    );
    emu.apply(
        RS,
        json!({
            "metadata": {"name": CUR_RS, "namespace": "shop",
                "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5"},
                "annotations": {"deployment.kubernetes.io/revision": "3"},
                "ownerReferences": owner("Deployment", "web")},
            "spec": {"replicas": 3,
                "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d9f8c6b5"}}},
            "status": {"replicas": 3}
        }),
    );
    for i in 0..3 {
        let (reason, message) = if i == 0 {
            (
                "ErrImagePull",
                format!("failed to pull and unpack image \"{IMAGE}\": failed to resolve reference \"{IMAGE}\": {IMAGE}: not found"),
            )
        } else {
            (
                "ImagePullBackOff",
                format!("Back-off pulling image \"{IMAGE}\""),
            )
        };
        emu.apply(
            PODS,
            json!({
                "metadata": {"name": format!("{CUR_RS}-p{i}xyz"), "namespace": "shop",
                    "labels": {"app": "web", "pod-template-hash": "7d9f8c6b5"},
                    "ownerReferences": owner("ReplicaSet", CUR_RS)},
                "spec": {"containers": [{"name": "web", "image": IMAGE}]},
                "status": {"phase": "Pending", "containerStatuses": [{
                    "name": "web", "ready": false, "restartCount": 0, "image": IMAGE,
                    "imageID": "", "state": {"waiting": {"reason": reason, "message": message}}}]}
            }),
        );
    }
    for (ns, n) in [("shop", 10), ("other", 10)] {
        for i in 0..n {
            emu.apply(
                PODS,
                json!({
                    "metadata": {"name": format!("api-{i}"), "namespace": ns,
                        "labels": {"app": "api"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                    "status": {"phase": "Running", "containerStatuses": [{"name": "c",
                        "ready": true, "restartCount": 0, "image": "busybox", "imageID": "",
                        "state": {"running": {}}}]}
                }),
            );
        }
    }
}

fn health_check_failure() -> String {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    format!(
        r#"{{"level":"error","ts":{ts},"msg":"Reconciliation failed after 5m1s, next try in 10m0s","controller":"kustomization","controllerGroup":"kustomize.toolkit.fluxcd.io","controllerKind":"Kustomization","Kustomization":{{"name":"apps","namespace":"flux-system"}},"namespace":"flux-system","name":"apps","reconcileID":"e2e-hc-1","revision":"main@sha1:ad714f0802bd7f032d6b1c0399228838466b4d5d","error":"health check failed after 5m0.00158s: timeout waiting for: [Deployment/shop/web status: 'InProgress']"}}"#
    )
}

/// A running `fluxsight run` against `emu`, ready, with the failure logged; the
/// instant the line was handed to the emulator.
fn run_and_fail(emu: &mut Emulator, tag: &str) -> (Fluxsight, Instant, Value) {
    let dir = tempdir(tag);
    let kc = emu.kubeconfig(&dir);
    let pipeline = dir.join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "kubernetes:\n  metrics_interval: 1h\n  metrics_port: {}\ndelivery:\n  state_dir: {}\n",
            emu.port,
            dir.join("state").display()
        ),
    )
    .unwrap();
    let (fx, _) = run_ready(&pipeline, &kc);
    let before = emu.cmd(json!({"op": "stats"}));
    let at = Instant::now();
    emu.cmd(json!({"op": "log", "pod": KC_POD, "lines": [health_check_failure()]}));
    (fx, at, before)
}

/// The `workload_failure` finding's native JSON, waiting up to 30 s.
fn workload_finding(fx: &mut Fluxsight, needle: &str) -> (Instant, Value) {
    let (t, line) = fx
        .wait_stdout(needle, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no workload_failure finding containing {needle:?}"));
    (t, serde_json::from_str(&line).expect("a JSON finding"))
}

/// Lists of `pods` after `before` (the query log), each with its label selector.
fn pod_lists_since(emu: &mut Emulator, before: &Value) -> Vec<Value> {
    let skip = before["queries"].as_array().map_or(0, Vec::len);
    let stats = emu.cmd(json!({"op": "stats"}));
    stats["queries"]
        .as_array()
        .unwrap()
        .iter()
        .skip(skip)
        .filter(|q| q["resource"] == "pods" && q["verb"] == "list")
        .cloned()
        .collect()
}

#[test]
fn health_check_failure_is_looked_up_and_named() {
    let mut emu = Emulator::require();
    seed(&mut emu);
    let (mut fx, logged, before) = run_and_fail(&mut emu, "wl-live");
    let (seen, f) = workload_finding(&mut fx, "\"pattern\":\"workload_failure\"");
    let latency = seen.duration_since(logged);
    // A figure, not a timing assertion (the wait above bounds it at 30 s).
    eprintln!("workload finding {latency:?} after the failure line was logged");
    let w = &f["workload"];
    assert_eq!(w["cause"]["stage"], "image", "{f}");
    assert!(
        f["title"].as_str().unwrap().contains(IMAGE),
        "title names the image: {f}"
    );
    assert_eq!(w["coverage"], "full", "{f}");
    let chain: Vec<String> = w["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}/{}",
                l["kind"].as_str().unwrap(),
                l["name"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        chain.contains(&"Deployment/web".to_string())
            && chain
                .iter()
                .any(|c| c.starts_with(&format!("Pod/{CUR_RS}-"))),
        "chain: {chain:?}"
    );
    // Targeted: the Deployment was fetched, and every Pod list carried a selector.
    let lists = pod_lists_since(&mut emu, &before);
    assert!(!lists.is_empty(), "no Pod list after the failure");
    for q in &lists {
        assert!(
            q["labelSelector"]
                .as_str()
                .is_some_and(|s| s.contains("app=web")),
            "a Pod list without the workload's selector: {q}"
        );
        assert_eq!(q["namespace"], "shop", "{q}");
    }
    let stats = emu.cmd(json!({"op": "stats"}));
    let gets = stats["by_resource"]["deployments"]["get"]
        .as_u64()
        .unwrap_or(0);
    assert!(gets >= 1, "the Deployment was not fetched: {stats}");
}

#[test]
fn forbidden_pods_make_the_finding_partial() {
    let mut emu = Emulator::require();
    seed(&mut emu);
    // Forbidden in the tenant's namespace only: the sidecar's own Pod watch in
    // flux-system still works (a cluster-wide denial would keep it from becoming ready).
    emu.forbid("pods/shop");
    // What the tenant's Events still say (Events are readable; Pods are not).
    let now = fluxsight::parse::time::format_rfc3339_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let pod = format!("{CUR_RS}-p0xyz");
    emu.apply(
        ["", "v1", "events"],
        json!({
            "metadata": {"name": format!("{pod}.181a2b3c"), "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": pod,
                "uid": format!("uid-shop-{pod}"), "apiVersion": "v1",
                "fieldPath": "spec.containers{web}"},
            "reason": "Failed", "type": "Warning",
            "message": format!("Failed to pull image \"{IMAGE}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{IMAGE}\": failed to resolve reference \"{IMAGE}\": {IMAGE}: not found"),
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": now, "lastTimestamp": now, "count": 4
        }),
    );
    let (mut fx, _, _) = run_and_fail(&mut emu, "wl-live-rbac");
    let (_, f) = workload_finding(&mut fx, "rbac_forbidden");
    assert_eq!(f["pattern"], "workload_failure", "{f}");
    let w = &f["workload"];
    assert_eq!(w["coverage"], "partial", "{f}");
    assert_eq!(
        w["cause"]["stage"], "image",
        "the Events still name the cause: {f}"
    );
    assert!(
        w["coverage_reasons"]
            .as_array()
            .is_some_and(|r| r.contains(&json!("rbac_forbidden"))),
        "coverage reasons: {}",
        w["coverage_reasons"]
    );
}
