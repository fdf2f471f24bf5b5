//! The workload family through the correlator's public calls: records decoded from
//! real document shapes, the lookup seam, folding of the health-check finding.

use super::*;
use crate::classify::Classifier;
use crate::correlate::{Correlator, Output, Settings, Status};
use crate::parse::LineDecoder;

const KS: &str = "Kustomization/shop/checkout";
const HC: &str = r#"{"level":"error","ts":"2025-06-02T10:06:01.000Z","msg":"Reconciliation failed after 5m1s, next try in 10m0s","controller":"kustomization","controllerGroup":"kustomize.toolkit.fluxcd.io","controllerKind":"Kustomization","Kustomization":{"name":"checkout","namespace":"shop"},"namespace":"shop","name":"checkout","reconcileID":"d489","revision":"main@sha1:ad714f0802bd7f032d6b1c0399228838466b4d5d","error":"health check failed after 5m0.00158s: timeout waiting for: [Deployment/shop/web status: 'InProgress']"}"#;
const HC_LATER: &str = r#"{"level":"error","ts":"2025-06-02T10:06:31.000Z","msg":"Reconciliation failed after 5m1s, next try in 10m0s","controller":"kustomization","controllerGroup":"kustomize.toolkit.fluxcd.io","controllerKind":"Kustomization","Kustomization":{"name":"checkout","namespace":"shop"},"namespace":"shop","name":"checkout","reconcileID":"d490","error":"health check failed after 5m0.00158s: timeout waiting for: [Deployment/shop/web status: 'InProgress']"}"#;
const DEPLOY: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"shop","uid":"dep-1","annotations":{"deployment.kubernetes.io/revision":"2"},"labels":{"kustomize.toolkit.fluxcd.io/name":"checkout","kustomize.toolkit.fluxcd.io/namespace":"shop"},"creationTimestamp":"2025-06-02T09:00:00Z"},"spec":{"replicas":3},"status":{"replicas":3,"updatedReplicas":3,"unavailableReplicas":3,"conditions":[{"type":"Available","status":"False","reason":"MinimumReplicasUnavailable","message":"Deployment does not have minimum availability.","lastTransitionTime":"2025-06-02T10:01:00Z"}]}}"#;
const RS: &str = r#"{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-7d9f4c8b6","namespace":"shop","uid":"rs-1","labels":{"pod-template-hash":"7d9f4c8b6"},"annotations":{"deployment.kubernetes.io/revision":"2"},"ownerReferences":[{"kind":"Deployment","name":"web","uid":"dep-1","controller":true}],"creationTimestamp":"2025-06-02T10:01:00Z"},"spec":{"replicas":3},"status":{"replicas":3}}"#;
const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-7d9f4c8b6-x2x7k","namespace":"shop","uid":"pod-1","ownerReferences":[{"kind":"ReplicaSet","name":"web-7d9f4c8b6","uid":"rs-1","controller":true}],"creationTimestamp":"2025-06-02T10:01:00Z"},"spec":{"nodeName":"node-2","containers":[{"name":"web","image":"ghcr.io/acme/web:v1.4.3"}]},"status":{"phase":"Pending","containerStatuses":[{"name":"web","ready":false,"restartCount":0,"image":"ghcr.io/acme/web:v1.4.3","state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"ghcr.io/acme/web:v1.4.3\""}}}]}}"#;
const PULL_EVENT: &str = r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"web-7d9f4c8b6-x2x7k.1","namespace":"shop"},"involvedObject":{"kind":"Pod","namespace":"shop","name":"web-7d9f4c8b6-x2x7k","uid":"pod-1","fieldPath":"spec.containers{web}"},"reason":"Failed","message":"Failed to pull image \"ghcr.io/acme/web:v1.4.3\": rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/acme/web:v1.4.3\": failed to resolve reference \"ghcr.io/acme/web:v1.4.3\": ghcr.io/acme/web:v1.4.3: not found","type":"Warning","source":{"component":"kubelet","host":"node-2"},"count":6,"firstTimestamp":"2025-06-02T10:01:05Z","lastTimestamp":"2025-06-02T10:05:40Z"}"#;

fn records(lines: &[&str]) -> Vec<Record> {
    let cls = Classifier::builtin();
    let mut d = LineDecoder::new(None);
    let mut out = Vec::new();
    for l in lines {
        for mut r in d.decode(l.as_bytes()) {
            cls.classify(&mut r);
            out.push(r);
        }
    }
    out
}

fn feed(c: &mut Correlator, lines: &[&str]) {
    for r in records(lines) {
        c.on_record(&r);
    }
}

fn firing(c: &Correlator, pattern: PatternId) -> Vec<crate::correlate::Finding> {
    c.firing()
        .filter(|f| pattern.is(&f.pattern))
        .cloned()
        .collect()
}

#[test]
fn a_lookup_per_named_workload_rate_limited() {
    let mut c = Correlator::new(Settings::default());
    feed(&mut c, &[HC]);
    let l = c.take_lookups();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].workload, ObjectRef::new("Deployment", "shop", "web"));
    assert_eq!(l[0].flux_object.to_string(), KS);
    feed(&mut c, &[HC_LATER]);
    assert!(
        c.take_lookups().is_empty(),
        "30s later: inside lookup_interval"
    );
    // Nothing known about the workload: no workload finding, nothing claimed.
    assert!(firing(&c, PatternId::WorkloadFailure).is_empty());
}

#[test]
fn a_lookup_result_names_the_cause_at_once() {
    let mut c = Correlator::new(Settings::default());
    feed(&mut c, &[HC]);
    let l = c.take_lookups().remove(0);
    c.drain();
    c.lookup_result(LookupResult {
        workload: l.workload.clone(),
        records: records(&[DEPLOY, RS, POD]),
        denied: vec!["events".into()],
        at: l.at + 2_000,
    });
    let out = c.drain();
    let f = out
        .iter()
        .find_map(|o| match o {
            Output::Finding(f) if PatternId::WorkloadFailure.is(&f.pattern) => Some(f),
            _ => None,
        })
        .expect("workload_failure emitted by the lookup result, before any tick");
    let w = f.workload.as_ref().unwrap();
    assert_eq!(w.cause.stage, "image");
    assert_eq!(w.cause.workload, l.workload);
    assert_eq!(w.coverage, "partial");
    assert_eq!(w.coverage_reasons, ["rbac_forbidden"]);
    let links: Vec<(String, &str)> = w
        .chain
        .iter()
        .map(|x| (x.object.to_string(), x.link.as_str()))
        .collect();
    assert_eq!(
        links,
        [
            (KS.to_string(), "flux"),
            ("Deployment/shop/web".to_string(), "label"),
            ("ReplicaSet/shop/web-7d9f4c8b6".to_string(), "ownerRef"),
            ("Pod/shop/web-7d9f4c8b6-x2x7k".to_string(), "ownerRef"),
        ]
    );
    assert_eq!((w.desired, w.available), (Some(3), Some(0)));
}

#[test]
fn events_name_the_subclass_and_the_health_check_is_folded() {
    let mut c = Correlator::new(Settings::default());
    feed(&mut c, &[DEPLOY, RS, POD, PULL_EVENT, HC, HC_LATER]);
    let fs = firing(&c, PatternId::WorkloadFailure);
    assert_eq!(fs.len(), 1);
    let f = &fs[0];
    let w = f.workload.as_ref().unwrap();
    assert_eq!(
        (w.cause.stage.as_str(), w.cause.subclass.as_str()),
        ("image", "tag_or_image_not_found")
    );
    assert_eq!(w.cause.params["image"], "ghcr.io/acme/web:v1.4.3");
    assert_eq!(w.coverage, "full");
    assert!(w
        .evidence
        .iter()
        .any(|e| e.reason == "Failed" && e.count == Some(6)));
    assert_eq!(
        f.impacted[0].to_string(),
        KS,
        "the Flux object is the symptom"
    );
    assert!(
        firing(&c, PatternId::HealthCheckFailure).is_empty(),
        "folded under the workload root"
    );
    // Recovery of the Flux object resolves the root.
    feed(
        &mut c,
        &[
            r#"{"level":"info","ts":"2025-06-02T10:20:00.000Z","msg":"Reconciliation finished in 49.1s, next run in 10m0s","controller":"kustomization","controllerGroup":"kustomize.toolkit.fluxcd.io","controllerKind":"Kustomization","Kustomization":{"name":"checkout","namespace":"shop"},"namespace":"shop","name":"checkout","reconcileID":"0b46"}"#,
        ],
    );
    let all = c.findings();
    let wf = all
        .iter()
        .find(|f| PatternId::WorkloadFailure.is(&f.pattern))
        .unwrap();
    assert_eq!(wf.status, Status::Resolved);
}

#[test]
fn an_undrained_lookup_queue_and_the_store_stay_bounded() {
    let mut c = Correlator::new(Settings::default());
    let lines: Vec<String> = (0..1_200)
        .map(|i| {
            HC.replace("checkout", &format!("k{i}"))
                .replace("Deployment/shop/web", &format!("Deployment/shop/w{i}"))
        })
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    feed(&mut c, &refs);
    let n = c.state_counts();
    assert!(n.lookups <= lookup::MAX_PENDING_LOOKUPS + lookup::MAX_LIMITED_WORKLOADS);
    assert!(n.workload_pending <= MAX_PENDING);
    assert!(c.take_lookups().len() <= lookup::MAX_PENDING_LOOKUPS);
}

const KS_INVENTORY: &str = r#"{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"checkout","namespace":"shop"},"spec":{"interval":"10m0s","path":"./deploy","sourceRef":{"kind":"GitRepository","name":"shop-repo"}},"status":{"inventory":{"entries":[{"id":"shop_web_apps_Deployment","v":"v1"},{"id":"shop_web__Service","v":"v1"}]},"conditions":[{"type":"Ready","status":"True","reason":"ReconciliationSucceeded","message":"Applied revision: main@sha1:1","lastTransitionTime":"2025-06-02T09:00:00Z"}]}}"#;

#[test]
fn the_inventory_links_the_flux_object_to_its_workload() {
    let mut c = Correlator::new(Settings::default());
    let unlabelled = DEPLOY.replace(
        r#""labels":{"kustomize.toolkit.fluxcd.io/name":"checkout","kustomize.toolkit.fluxcd.io/namespace":"shop"},"#,
        "",
    );
    feed(
        &mut c,
        &[KS_INVENTORY, &unlabelled, RS, POD, PULL_EVENT, HC],
    );
    let f = &firing(&c, PatternId::WorkloadFailure)[0];
    let w = f.workload.as_ref().unwrap();
    assert_eq!(w.chain[1].link, "inventory");
}

#[test]
fn events_of_a_recreated_pod_of_the_same_name_do_not_count() {
    let mut c = Correlator::new(Settings::default());
    // The Event is about an earlier Pod of the same name (another uid).
    let stale = PULL_EVENT.replace(r#""uid":"pod-1""#, r#""uid":"pod-0""#);
    let running = POD.replace(
        r#"{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"ghcr.io/acme/web:v1.4.3\""}}"#,
        r#"{"running":{"startedAt":"2025-06-02T10:02:00Z"}}"#,
    );
    feed(&mut c, &[DEPLOY, RS, &running, &stale, HC, HC_LATER]);
    let f = &firing(&c, PatternId::WorkloadFailure)[0];
    let w = f.workload.as_ref().unwrap();
    assert_eq!(w.cause.stage, "none", "{:?}", w.cause);
}

#[test]
fn helm_new_wording_names_the_workloads() {
    let mut c = Correlator::new(Settings::default());
    let hr = r#"{"level":"error","ts":"2025-06-02T10:06:01.000Z","msg":"failed to run 'install' action","controller":"helmrelease","controllerGroup":"helm.toolkit.fluxcd.io","controllerKind":"HelmRelease","HelmRelease":{"name":"web","namespace":"shop"},"namespace":"shop","name":"web","error":"Helm install failed for release shop/web with chart web@1.4.3: timeout waiting for: [Deployment/shop/web status: 'InProgress']"}"#;
    feed(&mut c, &[DEPLOY, RS, POD, PULL_EVENT, hr]);
    let f = &firing(&c, PatternId::WorkloadFailure)[0];
    let w = f.workload.as_ref().unwrap();
    assert_eq!(w.flux_object, ObjectRef::new("HelmRelease", "shop", "web"));
    assert_eq!(w.cause.subclass, "tag_or_image_not_found");
    assert_eq!(c.take_lookups().len(), 1);
}

#[test]
fn helm_old_wording_links_by_release_labels_and_looks_them_up() {
    let mut c = Correlator::new(Settings::default());
    let labelled = DEPLOY.replace(
        r#""labels":{"kustomize.toolkit.fluxcd.io/name":"checkout","kustomize.toolkit.fluxcd.io/namespace":"shop"},"#,
        r#""labels":{"helm.toolkit.fluxcd.io/name":"shop-web","helm.toolkit.fluxcd.io/namespace":"shop"},"#,
    );
    let hr = r#"{"level":"error","ts":"2025-06-02T10:06:01.000Z","msg":"failed to run 'upgrade' action","controller":"helmrelease","controllerGroup":"helm.toolkit.fluxcd.io","controllerKind":"HelmRelease","HelmRelease":{"name":"shop-web","namespace":"shop"},"namespace":"shop","name":"shop-web","error":"Helm upgrade failed: timed out waiting for the condition"}"#;
    feed(&mut c, &[&labelled, RS, POD, PULL_EVENT, hr]);
    let f = &firing(&c, PatternId::WorkloadFailure)[0];
    let w = f.workload.as_ref().unwrap();
    assert_eq!(w.chain[1].link, "label");
    let l = c.take_lookups();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].workload, ObjectRef::new("Deployment", "shop", "web"));
}

#[test]
fn a_pods_owner_is_read_from_its_name_shape_only_when_unambiguous() {
    assert_eq!(
        owner_from_pod_name("web-7d9f8b6c4-x2x9k"),
        Some(("Deployment", "web"))
    );
    assert_eq!(
        owner_from_pod_name("podinfo-api-5b8c9d7f6d-qwz5t"),
        Some(("Deployment", "podinfo-api"))
    );
    assert_eq!(
        owner_from_pod_name("checkout-56-0"),
        Some(("StatefulSet", "checkout-56"))
    );
    assert_eq!(
        owner_from_pod_name("backup-28930000-4xk2p"),
        Some(("Job", "backup-28930000"))
    );
    // A Job's or a DaemonSet's Pod: `<name>-<5>` says not which.
    assert_eq!(owner_from_pod_name("monitoring-36-x7k2m"), None);
    assert_eq!(owner_from_pod_name("node-exporter-x7k2m"), None);
    assert_eq!(owner_from_pod_name("plain"), None);
    assert_eq!(owner_from_pod_name("-0"), None);
}
