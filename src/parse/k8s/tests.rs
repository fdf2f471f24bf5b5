//! Unit tests over realistic one-line documents of every form the module reads.

use serde_json::{Map, Value};

use super::*;
use crate::parse::time::parse_ts;
use crate::record::{Detail, Level, ObjectInfo, PodInfo};

fn parse(line: &str) -> Vec<Record> {
    let v: Value = serde_json::from_str(line).expect("test json");
    let obj = v.as_object().expect("object");
    assert!(looks_like(obj), "looks_like refused {line}");
    from_json(obj, &ParseContext::default()).expect("parsed")
}

fn one(line: &str) -> Record {
    let mut recs = parse(line);
    assert_eq!(recs.len(), 1);
    recs.remove(0)
}

fn ts(s: &str) -> Option<TsMs> {
    parse_ts(s)
}

fn obj_info(r: &Record) -> &ObjectInfo {
    r.object_info().expect("object detail")
}

fn pod_info(r: &Record) -> &PodInfo {
    r.pod_info().expect("pod detail")
}

fn oref(kind: &str, ns: &str, name: &str) -> Option<ObjectRef> {
    Some(ObjectRef::new(kind, ns, name))
}

const CORE_EVENT: &str = r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"apps.17e2b3c4d5","namespace":"flux-system","annotations":{"kustomize.toolkit.fluxcd.io/revision":"main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f","kustomize.toolkit.fluxcd.io/originRevision":"v1@sha1:aaaa"},"creationTimestamp":"2025-11-10T14:00:00Z"},"involvedObject":{"kind":"Kustomization","namespace":"flux-system","name":"apps","uid":"1","apiVersion":"kustomize.toolkit.fluxcd.io/v1"},"reason":"HealthCheckFailed","message":"health check failed after 5m0s: timeout waiting for: [Deployment/apps/web status: 'InProgress']","type":"Warning","source":{"component":"kustomize-controller"},"count":4,"firstTimestamp":"2025-11-10T14:00:00Z","lastTimestamp":"2025-11-10T14:15:00Z","eventTime":null,"reportingComponent":"kustomize-controller","reportingInstance":""}"#;

#[test]
fn core_v1_event() {
    let r = one(CORE_EVENT);
    assert_eq!(r.format, Format::K8sEvent);
    assert_eq!(r.object, oref("Kustomization", "flux-system", "apps"));
    assert_eq!(r.reason.as_deref(), Some("HealthCheckFailed"));
    assert!(r.msg.starts_with("health check failed after 5m0s"));
    assert_eq!(r.level, Some(Level::Warning));
    assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
    assert_eq!(r.ts, ts("2025-11-10T14:15:00Z"));
    assert_eq!(
        r.revision.as_deref(),
        Some("main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f")
    );
    assert!(r.pod.is_none());
    let e = r.event_info().unwrap();
    assert_eq!(e.count, Some(4));
    assert_eq!(e.event_type.as_deref(), Some("Warning"));
    assert_eq!(e.reporter.as_deref(), Some("kustomize-controller"));
    assert_eq!(e.first_ms, ts("2025-11-10T14:00:00Z"));
    assert_eq!(e.last_ms, ts("2025-11-10T14:15:00Z"));
    assert_eq!(e.metadata.len(), 2);
}

#[test]
fn normal_event_is_info_and_ts_takes_the_latest_instant() {
    let r = one(
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"podinfo.1","namespace":"flux-system","creationTimestamp":"2025-11-10T14:12:11Z"},"involvedObject":{"kind":"GitRepository","namespace":"flux-system","name":"podinfo"},"reason":"NewArtifact","message":"stored artifact for commit 'bump'","type":"Normal","source":{"component":"source-controller"},"count":1,"firstTimestamp":"2025-11-10T14:12:10Z","lastTimestamp":"2025-11-10T14:12:10Z"}"#,
    );
    assert_eq!(r.level, Some(Level::Info));
    assert_eq!(r.controller.as_deref(), Some("source-controller"));
    assert_eq!(r.ts, ts("2025-11-10T14:12:11Z"));
    assert!(r.revision.is_none());
}

#[test]
fn kubelet_backoff_event_names_the_controller_from_the_pod() {
    let r = one(
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"source-controller-6c01ce105-nbz8n.c2d0","namespace":"flux-system","annotations":{},"creationTimestamp":"2025-11-10T14:43:25Z"},"involvedObject":{"kind":"Pod","namespace":"flux-system","name":"source-controller-6c01ce105-nbz8n","apiVersion":"v1","fieldPath":"spec.containers{manager}"},"reason":"BackOff","message":"Back-off restarting failed container manager in pod source-controller-6c01ce105-nbz8n_flux-system(5619b3be)","type":"Warning","source":{"component":"kubelet","host":"node-4"},"count":3,"firstTimestamp":"2025-11-10T14:43:25Z","lastTimestamp":"2025-11-10T14:45:25Z","reportingComponent":"kubelet","reportingInstance":"node-4"}"#,
    );
    assert_eq!(r.controller.as_deref(), Some("source-controller"));
    assert_eq!(r.pod.as_deref(), Some("source-controller-6c01ce105-nbz8n"));
    assert_eq!(
        r.object,
        oref("Pod", "flux-system", "source-controller-6c01ce105-nbz8n")
    );
    assert_eq!(r.reason.as_deref(), Some("BackOff"));
    assert_eq!(r.ts, ts("2025-11-10T14:45:25Z"));
    assert_eq!(r.field("field_path"), Some("spec.containers{manager}"));
    assert_eq!(r.event_info().unwrap().reporter.as_deref(), Some("kubelet"));
}

#[test]
fn kubelet_killing_and_unhealthy_events() {
    let killing = one(
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"helm-controller-5d9c7b6c4-q2w3e.1","namespace":"flux-system"},"involvedObject":{"kind":"Pod","namespace":"flux-system","name":"helm-controller-5d9c7b6c4-q2w3e","fieldPath":"spec.containers{manager}"},"reason":"Killing","message":"Container manager failed liveness probe, will be restarted","type":"Normal","source":{"component":"kubelet"},"count":1,"firstTimestamp":"2025-11-10T15:00:00Z","lastTimestamp":"2025-11-10T15:00:00Z"}"#,
    );
    assert_eq!(killing.controller.as_deref(), Some("helm-controller"));
    assert_eq!(killing.level, Some(Level::Info));
    let unhealthy = one(
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"x.2","namespace":"flux-system"},"involvedObject":{"kind":"Pod","namespace":"flux-system","name":"notification-controller-7f5cd7fdb8-abcde"},"reason":"Unhealthy","message":"Liveness probe failed: Get \"http://10.244.0.9:9440/healthz\": context deadline exceeded","type":"Warning","source":{"component":"kubelet"},"count":5,"lastTimestamp":"2025-11-10T15:01:00Z"}"#,
    );
    assert_eq!(
        unhealthy.controller.as_deref(),
        Some("notification-controller")
    );
    assert_eq!(unhealthy.level, Some(Level::Warning));
    assert_eq!(unhealthy.reason.as_deref(), Some("Unhealthy"));
    // A kubelet event about some other Pod names no controller.
    let other = one(
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"x.3","namespace":"apps"},"involvedObject":{"kind":"Pod","namespace":"apps","name":"web-5d9c7b6c4-q2w3e"},"reason":"BackOff","message":"Back-off pulling image","type":"Warning","source":{"component":"kubelet"}}"#,
    );
    assert!(other.controller.is_none());
}

#[test]
fn node_oom_killing_event_names_the_killed_controller() {
    let r = one(
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"node-4.b193","namespace":"default","annotations":{},"creationTimestamp":"2025-11-10T14:40:00Z"},"involvedObject":{"kind":"Node","name":"node-4","uid":"342e","apiVersion":"v1"},"reason":"OOMKilling","message":"Memory cgroup out of memory: Killed process 46585 (source-controller) total-vm:2048000kB, anon-rss:1048576kB, file-rss:0kB, shmem-rss:0kB, UID:65534 pgtables:3000kB oom_score_adj:999","type":"Warning","source":{"component":"kernel-monitor"},"count":1,"firstTimestamp":"2025-11-10T14:40:00Z","lastTimestamp":"2025-11-10T14:40:00Z","reportingComponent":"kernel-monitor"}"#,
    );
    assert_eq!(r.object, oref("Node", "default", "node-4"));
    assert_eq!(r.field("event_namespace"), Some("default"));
    assert_eq!(r.controller.as_deref(), Some("source-controller"));
    assert_eq!(r.reason.as_deref(), Some("OOMKilling"));
    assert_eq!(r.level, Some(Level::Warning));
    assert!(r.pod.is_none());
    let other = one(
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"n"},"involvedObject":{"kind":"Node","name":"node-4"},"reason":"OOMKilling","message":"Memory cgroup out of memory: Killed process 1 (java","type":"Warning"}"#,
    );
    assert!(other.controller.is_none());
}

#[test]
fn events_k8s_io_v1_event() {
    let r = one(
        r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"podinfo.18","namespace":"apps","creationTimestamp":"2025-11-10T14:00:00Z","annotations":{"helm.toolkit.fluxcd.io/revision":"6.5.0","helm.toolkit.fluxcd.io/token":"abc"}},"eventTime":"2025-11-10T14:00:01.123456Z","series":{"count":7,"lastObservedTime":"2025-11-10T14:30:00.500000Z"},"reportingController":"helm-controller","reportingInstance":"helm-controller-5d9c7b6c4-q2w3e","action":"","reason":"UpgradeFailed","regarding":{"kind":"HelmRelease","namespace":"apps","name":"podinfo","apiVersion":"helm.toolkit.fluxcd.io/v2"},"note":"Helm upgrade failed for release apps/podinfo with chart podinfo@6.5.0: context deadline exceeded","type":"Warning","deprecatedCount":2,"deprecatedFirstTimestamp":null,"deprecatedLastTimestamp":null}"#,
    );
    assert_eq!(r.format, Format::K8sEvent);
    assert_eq!(r.object, oref("HelmRelease", "apps", "podinfo"));
    assert!(r.msg.starts_with("Helm upgrade failed"));
    assert_eq!(r.controller.as_deref(), Some("helm-controller"));
    assert_eq!(r.pod.as_deref(), Some("helm-controller-5d9c7b6c4-q2w3e"));
    assert_eq!(r.revision.as_deref(), Some("6.5.0"));
    assert_eq!(r.level, Some(Level::Warning));
    assert_eq!(r.ts, ts("2025-11-10T14:30:00.500Z"));
    let e = r.event_info().unwrap();
    assert_eq!(e.count, Some(7));
    assert_eq!(e.first_ms, ts("2025-11-10T14:00:01.123Z"));
    assert_eq!(e.last_ms, ts("2025-11-10T14:30:00.500Z"));
}

#[test]
fn events_k8s_io_v1_deprecated_fields() {
    let r = one(
        r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"a"},"regarding":{"kind":"GitRepository","namespace":"flux-system","name":"flux-system"},"note":"failed to checkout","reason":"GitOperationFailed","type":"Warning","deprecatedSource":{"component":"source-controller"},"deprecatedCount":3,"deprecatedFirstTimestamp":"2025-11-10T14:00:00Z","deprecatedLastTimestamp":"2025-11-10T14:05:00Z"}"#,
    );
    assert_eq!(r.controller.as_deref(), Some("source-controller"));
    assert_eq!(r.event_info().unwrap().count, Some(3));
    assert_eq!(r.ts, ts("2025-11-10T14:05:00Z"));
}

#[test]
fn watch_events_wrap_any_object() {
    let line = format!(r#"{{"type":"MODIFIED","object":{CORE_EVENT}}}"#);
    let r = one(&line);
    assert_eq!(r.format, Format::K8sEvent);
    assert_eq!(r.field(FIELD_WATCH_TYPE), Some("MODIFIED"));
    assert_eq!(r.object, oref("Kustomization", "flux-system", "apps"));

    let r = one(
        r#"{"type":"DELETED","object":{"apiVersion":"source.toolkit.fluxcd.io/v1","kind":"GitRepository","metadata":{"name":"old","namespace":"flux-system","resourceVersion":"99"},"spec":{"interval":"1m0s","url":"https://github.com/x/y"}}}"#,
    );
    assert_eq!(r.format, Format::K8sObject);
    assert_eq!(obj_info(&r).watch_type.as_deref(), Some("DELETED"));
    assert_eq!(obj_info(&r).resource_version.as_deref(), Some("99"));

    let r = one(
        r#"{"type":"ADDED","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"source-controller-bcfd62bee-md7nt","namespace":"flux-system"},"status":{"phase":"Pending"}}}"#,
    );
    assert_eq!(pod_info(&r).watch_type.as_deref(), Some("ADDED"));

    let r = one(
        r#"{"type":"BOOKMARK","object":{"kind":"Kustomization","apiVersion":"kustomize.toolkit.fluxcd.io/v1","metadata":{"resourceVersion":"12345","annotations":{"k8s.io/initial-events-end":"true"}}}}"#,
    );
    assert_eq!(r.format, Format::K8sObject);
    assert!(r.object.is_none());
    assert_eq!(r.field("kind"), Some("Kustomization"));
    assert_eq!(obj_info(&r).watch_type.as_deref(), Some("BOOKMARK"));
    assert_eq!(obj_info(&r).resource_version.as_deref(), Some("12345"));

    let r = one(
        r#"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (2)","reason":"Expired","code":410}}"#,
    );
    assert_eq!(r.level, Some(Level::Error));
    assert_eq!(r.reason.as_deref(), Some("Expired"));
    assert_eq!(r.msg, "too old resource version: 1 (2)");
}

const OOM_POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"source-controller-6c01ce105-nbz8n","namespace":"flux-system","labels":{"app":"source-controller","app.kubernetes.io/part-of":"flux"},"creationTimestamp":"2025-11-10T13:00:00Z"},"status":{"phase":"Running","containerStatuses":[{"name":"manager","ready":false,"restartCount":2,"image":"ghcr.io/fluxcd/source-controller:v1.6.0","state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 20s restarting failed container"}},"lastState":{"terminated":{"reason":"OOMKilled","exitCode":137,"finishedAt":"2025-11-10T14:43:20Z","startedAt":"2025-11-10T14:40:20Z"}}}]}}"#;

#[test]
fn pod_with_oom_and_crashloop() {
    let r = one(OOM_POD);
    assert_eq!(r.format, Format::K8sObject);
    assert_eq!(
        r.object,
        oref("Pod", "flux-system", "source-controller-6c01ce105-nbz8n")
    );
    assert_eq!(r.controller.as_deref(), Some("source-controller"));
    assert_eq!(r.pod.as_deref(), Some("source-controller-6c01ce105-nbz8n"));
    assert_eq!(r.reason.as_deref(), Some("OOMKilled"));
    assert_eq!(r.level, Some(Level::Warning));
    assert_eq!(
        r.msg,
        "container manager waiting: CrashLoopBackOff, last terminated: OOMKilled (exit code 137), restarts 2"
    );
    assert_eq!(r.ts, ts("2025-11-10T14:43:20Z"));
    let p = pod_info(&r);
    assert_eq!(p.phase.as_deref(), Some("Running"));
    let c = &p.containers[0];
    assert_eq!(c.name, "manager");
    assert!(!c.ready);
    assert_eq!(c.restart_count, 2);
    assert_eq!(c.waiting_reason.as_deref(), Some("CrashLoopBackOff"));
    assert_eq!(c.last_terminated_reason.as_deref(), Some("OOMKilled"));
    assert_eq!(c.last_terminated_exit_code, Some(137));
    assert_eq!(c.last_terminated_finished_ms, ts("2025-11-10T14:43:20Z"));
    assert_eq!(
        c.image.as_deref(),
        Some("ghcr.io/fluxcd/source-controller:v1.6.0")
    );
}

#[test]
fn pod_running_after_oom_and_healthy_pod() {
    let r = one(
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"source-controller-6c01ce105-nbz8n","namespace":"flux-system","labels":{"app":"source-controller"}},"status":{"phase":"Running","containerStatuses":[{"name":"manager","ready":true,"restartCount":3,"state":{"running":{"startedAt":"2025-11-10T14:50:00Z"}},"lastState":{"terminated":{"reason":"OOMKilled","exitCode":137,"finishedAt":"2025-11-10T14:49:40Z"}}}]}}"#,
    );
    assert_eq!(r.reason.as_deref(), Some("OOMKilled"));
    assert_eq!(
        r.msg,
        "container manager last terminated: OOMKilled (exit code 137), restarts 3"
    );
    assert_eq!(r.ts, ts("2025-11-10T14:50:00Z"));
    let r = one(
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kustomize-controller-063be4d79-c85wg","namespace":"flux-system","labels":{"app":"kustomize-controller"}},"status":{"phase":"Running","containerStatuses":[{"name":"manager","ready":true,"restartCount":0,"image":"ghcr.io/fluxcd/kustomize-controller:v1.6.0","state":{"running":{"startedAt":"2025-11-10T14:00:00Z"}}}]}}"#,
    );
    assert_eq!(r.level, Some(Level::Info));
    assert!(r.reason.is_none());
    assert_eq!(r.msg, "Running: 1/1 containers ready");
    assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
}

#[test]
fn pod_controller_from_app_label_and_terminated_error() {
    let r = one(
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"flux-helm-abc","namespace":"flux-system","labels":{"app":"helm-controller"}},"status":{"phase":"Failed","containerStatuses":[{"name":"manager","ready":false,"restartCount":0,"state":{"terminated":{"exitCode":1,"reason":"Error","finishedAt":"2025-11-10T14:00:05Z"}}}]}}"#,
    );
    assert_eq!(r.controller.as_deref(), Some("helm-controller"));
    assert_eq!(r.level, Some(Level::Error));
    assert_eq!(r.reason.as_deref(), Some("Error"));
    assert_eq!(
        r.msg,
        "container manager terminated: Error (exit code 1), restarts 0"
    );
}

#[test]
fn kustomization_failing_with_depends_on() {
    let r = one(
        r#"{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"apps","namespace":"tenant-a","generation":3,"resourceVersion":"4381484","labels":{"team":"a"},"creationTimestamp":"2025-11-01T00:00:00Z"},"spec":{"interval":"5m0s","retryInterval":"1m","timeout":"3m0s","path":"./apps","prune":true,"suspend":false,"serviceAccountName":"tenant-a","dependsOn":[{"name":"infra"},{"name":"crds","namespace":"flux-system"},{"namespace":"x"}],"sourceRef":{"kind":"GitRepository","name":"fleet"}},"status":{"observedGeneration":2,"conditions":[{"type":"Reconciling","status":"True","reason":"ProgressingWithRetry","message":"Detecting drift","lastTransitionTime":"2025-11-10T14:10:00Z"},{"type":"Ready","status":"False","reason":"BuildFailed","message":"kustomize build failed: accumulating resources","lastTransitionTime":"2025-11-10T14:12:00Z"}],"lastAppliedRevision":"main@sha1:b40104d0ba43efdec323d15d42c43062afc8148b","lastAttemptedRevision":"main@sha1:c7ad7d04d8b1600c0f91d5d0982a394621b61e4a"}}"#,
    );
    assert_eq!(r.format, Format::K8sObject);
    assert_eq!(r.object, oref("Kustomization", "tenant-a", "apps"));
    assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
    assert_eq!(r.level, Some(Level::Warning));
    assert_eq!(r.reason.as_deref(), Some("BuildFailed"));
    assert_eq!(r.msg, "kustomize build failed: accumulating resources");
    assert_eq!(r.ts, ts("2025-11-10T14:12:00Z"));
    assert_eq!(
        r.revision.as_deref(),
        Some("main@sha1:b40104d0ba43efdec323d15d42c43062afc8148b")
    );
    let o = obj_info(&r);
    assert_eq!(o.api_version, "kustomize.toolkit.fluxcd.io/v1");
    assert_eq!(o.generation, Some(3));
    assert_eq!(o.observed_generation, Some(2));
    assert_eq!(o.resource_version.as_deref(), Some("4381484"));
    assert_eq!(o.interval_ms, Some(300_000));
    assert_eq!(o.retry_interval_ms, Some(60_000));
    assert_eq!(o.timeout_ms, Some(180_000));
    assert!(!o.suspend);
    assert_eq!(
        o.depends_on,
        vec![
            ObjectRef::new("Kustomization", "tenant-a", "infra"),
            ObjectRef::new("Kustomization", "flux-system", "crds"),
        ]
    );
    assert_eq!(o.source_ref, oref("GitRepository", "tenant-a", "fleet"));
    assert_eq!(o.service_account.as_deref(), Some("tenant-a"));
    assert_eq!(o.conditions.len(), 2);
    assert_eq!(
        o.last_attempted_revision.as_deref(),
        Some("main@sha1:c7ad7d04d8b1600c0f91d5d0982a394621b61e4a")
    );
    assert_eq!(o.labels, vec![("team".to_string(), "a".to_string())]);
}

#[test]
fn stalled_wins_over_ready() {
    let r = one(
        r#"{"apiVersion":"helm.toolkit.fluxcd.io/v2","kind":"HelmRelease","metadata":{"name":"podinfo","namespace":"apps","generation":1},"spec":{"interval":"10m","chart":{"spec":{"chart":"podinfo","version":"6.5.*","sourceRef":{"kind":"HelmRepository","name":"podinfo","namespace":"flux-system"}}},"install":{"remediation":{"retries":3}}},"status":{"conditions":[{"type":"Ready","status":"False","reason":"UpgradeFailed","message":"Helm upgrade failed","lastTransitionTime":"2025-11-10T14:00:00Z"},{"type":"Stalled","status":"True","reason":"RetriesExceeded","message":"Failed to upgrade after 4 attempt(s)","lastTransitionTime":"2025-11-10T14:20:00Z"}],"history":[{"chartName":"podinfo","chartVersion":"6.5.4","status":"failed"},{"chartVersion":"6.5.3","status":"superseded"}],"lastAttemptedRevision":"6.5.4","failures":2,"installFailures":0,"upgradeFailures":4}}"#,
    );
    assert_eq!(r.controller.as_deref(), Some("helm-controller"));
    assert_eq!(r.reason.as_deref(), Some("RetriesExceeded"));
    assert_eq!(r.msg, "Failed to upgrade after 4 attempt(s)");
    assert_eq!(r.level, Some(Level::Warning));
    assert_eq!(r.revision.as_deref(), Some("6.5.4"));
    assert_eq!(r.ts, ts("2025-11-10T14:20:00Z"));
    let o = obj_info(&r);
    assert_eq!(o.chart.as_deref(), Some("podinfo"));
    assert_eq!(o.chart_version.as_deref(), Some("6.5.*"));
    assert_eq!(
        o.source_ref,
        oref("HelmRepository", "flux-system", "podinfo")
    );
    assert_eq!(o.failures, Some(6));
}

#[test]
fn helmrelease_chart_ref_and_helmchart() {
    let r = one(
        r#"{"apiVersion":"helm.toolkit.fluxcd.io/v2","kind":"HelmRelease","metadata":{"name":"web","namespace":"apps"},"spec":{"interval":"5m","chartRef":{"kind":"OCIRepository","name":"web-chart"}},"status":{"conditions":[{"type":"Ready","status":"True","reason":"UpgradeSucceeded","message":"Helm upgrade succeeded for release apps/web.v4 with chart web@1.2.3","lastTransitionTime":"2025-11-10T14:00:00Z"}]}}"#,
    );
    assert_eq!(
        obj_info(&r).source_ref,
        oref("OCIRepository", "apps", "web-chart")
    );
    assert_eq!(r.level, Some(Level::Info));
    assert_eq!(r.reason.as_deref(), Some("UpgradeSucceeded"));
    let r = one(
        r#"{"apiVersion":"source.toolkit.fluxcd.io/v1","kind":"HelmChart","metadata":{"name":"apps-podinfo","namespace":"flux-system"},"spec":{"chart":"podinfo","version":"6.x","interval":"5m0s","sourceRef":{"kind":"HelmRepository","name":"podinfo"},"reconcileStrategy":"ChartVersion"},"status":{"observedGeneration":1,"conditions":[{"type":"Ready","status":"True","reason":"ChartPullSucceeded","message":"pulled 'podinfo' chart with version '6.5.4'","lastTransitionTime":"2025-11-10T14:00:00Z"}],"artifact":{"revision":"6.5.4","size":14000,"digest":"sha256:abc"}}}"#,
    );
    assert_eq!(r.controller.as_deref(), Some("source-controller"));
    assert_eq!(r.revision.as_deref(), Some("6.5.4"));
    let o = obj_info(&r);
    assert_eq!(o.chart.as_deref(), Some("podinfo"));
    assert_eq!(o.chart_version.as_deref(), Some("6.x"));
    assert_eq!(o.artifact_size, Some(14000));
    assert_eq!(
        o.source_ref,
        oref("HelmRepository", "flux-system", "podinfo")
    );
}

#[test]
fn source_kinds() {
    for (kind, url_key, url) in [
        (
            "GitRepository",
            "url",
            "https://github.com/fluxcd/flux2-kustomize-helm-example",
        ),
        (
            "OCIRepository",
            "url",
            "oci://ghcr.io/stefanprodan/manifests/podinfo",
        ),
        (
            "HelmRepository",
            "url",
            "https://stefanprodan.github.io/podinfo",
        ),
        ("Bucket", "endpoint", "minio.minio.svc:9000"),
    ] {
        let line = format!(
            r#"{{"apiVersion":"source.toolkit.fluxcd.io/v1","kind":"{kind}","metadata":{{"name":"src","namespace":"flux-system","generation":2}},"spec":{{"interval":"1m0s","{url_key}":"{url}","suspend":true}},"status":{{"observedGeneration":2,"conditions":[{{"type":"Ready","status":"False","reason":"AuthenticationFailed","message":"failed to get secret 'flux-system/creds'","lastTransitionTime":"2025-11-10T14:00:00Z"}},{{"type":"FetchFailed","status":"True","reason":"AuthenticationFailed","message":"x","lastTransitionTime":"2025-11-10T14:00:01Z"}}],"artifact":{{"revision":"sha256:0123","size":10}}}}}}"#
        );
        let r = one(&line);
        assert_eq!(r.object, oref(kind, "flux-system", "src"), "{kind}");
        assert_eq!(r.controller.as_deref(), Some("source-controller"), "{kind}");
        assert_eq!(r.reason.as_deref(), Some("AuthenticationFailed"));
        assert_eq!(r.level, Some(Level::Warning));
        assert_eq!(r.revision.as_deref(), Some("sha256:0123"));
        assert_eq!(r.ts, ts("2025-11-10T14:00:01Z"));
        let o = obj_info(&r);
        assert_eq!(o.url.as_deref(), Some(url));
        assert!(o.suspend);
        assert_eq!(o.interval_ms, Some(60_000));
    }
}

#[test]
fn image_and_notification_kinds() {
    let cases = [
        (
            r#"{"apiVersion":"image.toolkit.fluxcd.io/v1beta2","kind":"ImageRepository","metadata":{"name":"podinfo","namespace":"flux-system"},"spec":{"image":"ghcr.io/stefanprodan/podinfo","interval":"5m"},"status":{"conditions":[{"type":"Ready","status":"True","reason":"Succeeded","message":"successful scan: found 42 tags","lastTransitionTime":"2025-11-10T14:00:00Z"}],"lastScanResult":{"tagCount":42}}}"#,
            "ImageRepository",
            "image-reflector-controller",
        ),
        (
            r#"{"apiVersion":"image.toolkit.fluxcd.io/v1beta2","kind":"ImagePolicy","metadata":{"name":"podinfo","namespace":"flux-system"},"spec":{"imageRepositoryRef":{"name":"podinfo"},"policy":{"semver":{"range":"5.0.x"}}},"status":{"latestImage":"ghcr.io/stefanprodan/podinfo:5.0.3","conditions":[{"type":"Ready","status":"True","reason":"Succeeded","message":"Latest image tag for 'ghcr.io/stefanprodan/podinfo' resolved to 5.0.3","lastTransitionTime":"2025-11-10T14:00:00Z"}]}}"#,
            "ImagePolicy",
            "image-reflector-controller",
        ),
        (
            r#"{"apiVersion":"image.toolkit.fluxcd.io/v1beta2","kind":"ImageUpdateAutomation","metadata":{"name":"flux-system","namespace":"flux-system"},"spec":{"interval":"30m","sourceRef":{"name":"flux-system"},"git":{"push":{"branch":"main"}}},"status":{"lastPushCommit":"b2f1a9e","conditions":[{"type":"Ready","status":"False","reason":"GitOperationFailed","message":"failed to push to remote","lastTransitionTime":"2025-11-10T14:00:00Z"}]}}"#,
            "ImageUpdateAutomation",
            "image-automation-controller",
        ),
        (
            r#"{"apiVersion":"notification.toolkit.fluxcd.io/v1beta3","kind":"Alert","metadata":{"name":"on-call","namespace":"flux-system"},"spec":{"providerRef":{"name":"slack"},"eventSeverity":"error","eventSources":[{"kind":"Kustomization","name":"*"}]}}"#,
            "Alert",
            "notification-controller",
        ),
        (
            r#"{"apiVersion":"notification.toolkit.fluxcd.io/v1beta3","kind":"Provider","metadata":{"name":"slack","namespace":"flux-system"},"spec":{"type":"slack","channel":"general","secretRef":{"name":"slack-url"}}}"#,
            "Provider",
            "notification-controller",
        ),
        (
            r#"{"apiVersion":"notification.toolkit.fluxcd.io/v1","kind":"Receiver","metadata":{"name":"github","namespace":"flux-system"},"spec":{"type":"github","resources":[{"kind":"GitRepository","name":"flux-system"}]},"status":{"conditions":[{"type":"Ready","status":"True","reason":"Succeeded","message":"Receiver initialized for path: /hook/abc","lastTransitionTime":"2025-11-10T14:00:00Z"}]}}"#,
            "Receiver",
            "notification-controller",
        ),
    ];
    for (line, kind, ctrl) in cases {
        let r = one(line);
        assert_eq!(
            r.object,
            oref(
                kind,
                "flux-system",
                r.object.as_ref().unwrap().name.as_str()
            )
        );
        assert_eq!(r.controller.as_deref(), Some(ctrl), "{kind}");
        assert_eq!(r.format, Format::K8sObject);
    }
    let policy = one(cases[1].0);
    assert_eq!(
        policy.revision.as_deref(),
        Some("ghcr.io/stefanprodan/podinfo:5.0.3")
    );
    assert_eq!(
        obj_info(&policy).source_ref,
        oref("ImageRepository", "flux-system", "podinfo")
    );
    let iua = one(cases[2].0);
    assert_eq!(
        obj_info(&iua).source_ref,
        oref("GitRepository", "flux-system", "flux-system")
    );
    assert_eq!(iua.level, Some(Level::Warning));
    let alert = one(cases[3].0);
    assert_eq!(alert.field("provider_ref"), Some("slack"));
    assert!(alert.reason.is_none());
    assert!(alert.ts.is_none());
    assert_eq!(
        obj_info(&one(cases[0].0)).url.as_deref(),
        Some("ghcr.io/stefanprodan/podinfo")
    );
}

#[test]
fn other_kinds_become_object_records() {
    let r = one(
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"source-controller","namespace":"flux-system","generation":4,"creationTimestamp":"2025-11-01T00:00:00Z"},"spec":{"replicas":1},"status":{"conditions":[{"type":"Available","status":"True","reason":"MinimumReplicasAvailable","message":"Deployment has minimum availability.","lastTransitionTime":"2025-11-10T14:00:00Z"}]}}"#,
    );
    assert_eq!(
        r.object,
        oref("Deployment", "flux-system", "source-controller")
    );
    assert_eq!(r.controller.as_deref(), Some("source-controller"));
    assert_eq!(r.ts, ts("2025-11-10T14:00:00Z"));
    let r = one(
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"tenant-a","creationTimestamp":"2025-11-01T00:00:00Z"}}"#,
    );
    assert_eq!(r.object, oref("Namespace", "", "tenant-a"));
    assert!(r.controller.is_none());
    assert_eq!(r.ts, ts("2025-11-01T00:00:00Z"));
}

#[test]
fn lists_expand_to_items() {
    let line = format!(
        r#"{{"apiVersion":"v1","kind":"List","metadata":{{"resourceVersion":""}},"items":[{OOM_POD},{CORE_EVENT},{{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{{"name":"a","namespace":"b"}}}},3,"x",null]}}"#
    );
    let recs = parse(&line);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0].object.as_ref().unwrap().kind, "Pod");
    assert_eq!(recs[1].format, Format::K8sEvent);
    assert_eq!(recs[2].object, oref("Kustomization", "b", "a"));

    // Typed lists: items without a kind take it from the List.
    let recs = parse(
        r#"{"apiVersion":"v1","kind":"PodList","items":[{"metadata":{"name":"helm-controller-1-a","namespace":"flux-system"},"status":{"phase":"Running"}},{"metadata":{"name":"x","namespace":"y"}}]}"#,
    );
    assert_eq!(recs.len(), 2);
    assert_eq!(
        recs[0].object,
        oref("Pod", "flux-system", "helm-controller-1-a")
    );
    assert_eq!(recs[0].controller.as_deref(), Some("helm-controller"));
    let recs = parse(
        r#"{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"KustomizationList","items":[{"metadata":{"name":"apps","namespace":"flux-system"},"spec":{"interval":"10m"}}]}"#,
    );
    assert_eq!(recs[0].object, oref("Kustomization", "flux-system", "apps"));
    assert_eq!(recs[0].controller.as_deref(), Some("kustomize-controller"));
    let recs = parse(
        r#"{"apiVersion":"v1","kind":"EventList","items":[{"metadata":{"name":"e"},"involvedObject":{"kind":"GitRepository","namespace":"a","name":"b"},"reason":"NewArtifact","type":"Normal"}]}"#,
    );
    assert_eq!(recs[0].format, Format::K8sEvent);

    // Empty list: still one k8s record, not text.
    let recs = parse(r#"{"apiVersion":"v1","kind":"List","items":[]}"#);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].format, Format::K8sObject);
    // Nested Lists are not expanded.
    let recs = parse(
        r#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}]}]}"#,
    );
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].object.as_ref().unwrap().kind, "List");
}

#[test]
fn list_is_capped() {
    let item = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}"#;
    let items = vec![item; MAX_LIST_ITEMS + 5].join(",");
    let line = format!(r#"{{"apiVersion":"v1","kind":"List","items":[{items}]}}"#);
    assert_eq!(parse(&line).len(), MAX_LIST_ITEMS);
}

#[test]
fn flux_event_payload() {
    let r = one(
        r#"{"involvedObject":{"kind":"Kustomization","namespace":"flux-system","name":"apps","uid":"7c3f","apiVersion":"kustomize.toolkit.fluxcd.io/v1","resourceVersion":"123"},"severity":"info","timestamp":"2026-08-01T10:00:00Z","message":"Reconciliation finished in 2.31s, next run in 10m0s","reason":"ReconciliationSucceeded","metadata":{"kustomize.toolkit.fluxcd.io/revision":"main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f","kustomize.toolkit.fluxcd.io/commit_status":"update"},"reportingController":"kustomize-controller","reportingInstance":"kustomize-controller-6c9b8d7f5-abcde"}"#,
    );
    assert_eq!(r.format, Format::FluxEvent);
    assert_eq!(r.object, oref("Kustomization", "flux-system", "apps"));
    assert_eq!(r.level, Some(Level::Info));
    assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
    assert_eq!(
        r.pod.as_deref(),
        Some("kustomize-controller-6c9b8d7f5-abcde")
    );
    assert_eq!(r.ts, ts("2026-08-01T10:00:00Z"));
    assert_eq!(r.reason.as_deref(), Some("ReconciliationSucceeded"));
    assert_eq!(
        r.revision.as_deref(),
        Some("main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f")
    );
    let e = r.event_info().unwrap();
    assert_eq!(e.event_type.as_deref(), Some("info"));
    assert_eq!(e.metadata.len(), 2);

    let r = one(
        r#"{"involvedObject":{"kind":"GitRepository","namespace":"flux-system","name":"podinfo"},"severity":"error","timestamp":"2026-08-01T10:00:00Z","message":"failed to checkout","reason":"GitOperationFailed","reportingController":"source-controller"}"#,
    );
    assert_eq!(r.level, Some(Level::Error));
    assert_eq!(r.controller.as_deref(), Some("source-controller"));
    assert!(r.pod.is_none());
}

#[test]
fn looks_like_refuses_log_lines() {
    for line in [
        r#"{"level":"info","ts":"2025-11-10T14:00:00Z","msg":"x","controller":"kustomization","kind":"Kustomization"}"#,
        r#"{"level":"error","msg":"x","type":"Warning","object":"apps"}"#,
        r#"{"type":"SOMETHING","object":{}}"#,
        r#"{"kind":3,"apiVersion":"v1"}"#,
        r#"{"involvedObject":"x"}"#,
    ] {
        let v: Value = serde_json::from_str(line).unwrap();
        assert!(!looks_like(v.as_object().unwrap()), "{line}");
    }
}

#[test]
fn wrong_types_never_panic() {
    let lines = [
        r#"{"apiVersion":"v1","kind":"Event","metadata":7,"involvedObject":{"kind":1,"name":[1]},"reason":{},"message":42,"type":null,"count":"x","firstTimestamp":5,"lastTimestamp":"not a time","eventTime":{}}"#,
        r#"{"apiVersion":"v1","kind":"Event","involvedObject":{}}"#,
        r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","regarding":"x","series":[],"deprecatedCount":-4}"#,
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":5,"labels":[]},"status":{"phase":3,"containerStatuses":{"a":1}}}"#,
        r#"{"apiVersion":"v1","kind":"Pod","status":{"containerStatuses":[1,"x",{"name":3,"ready":"maybe","restartCount":-1,"state":[],"lastState":{"terminated":{"exitCode":"x","finishedAt":1}}}]}}"#,
        r#"{"apiVersion":"v1","kind":"Pod","status":{"containerStatuses":[{"restartCount":18446744073709551615,"lastState":{"terminated":{"exitCode":99999999999999999999}}}]}}"#,
        r#"{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"generation":"x","labels":{"a":1}},"spec":{"interval":5,"dependsOn":"a","sourceRef":[],"suspend":"yes","timeout":"forever"},"status":{"conditions":[{"type":2},{},null,"x"],"artifact":5,"failures":-3}}"#,
        r#"{"apiVersion":"helm.toolkit.fluxcd.io/v2","kind":"HelmRelease","spec":{"chart":{"spec":"x"},"chartRef":{"name":1}},"status":{"history":"x","failures":18446744073709551615,"upgradeFailures":18446744073709551615}}"#,
        r#"{"apiVersion":"v1","kind":"List","items":{"a":1}}"#,
        r#"{"apiVersion":"v1","kind":"PodList","items":[[],{}]}"#,
        r#"{"involvedObject":{"name":"x"},"severity":5}"#,
        r#"{"involvedObject":{"name":"x"},"severity":"bogus","timestamp":"x","metadata":[],"reportingController":7}"#,
        r#"{"type":"ADDED","object":{"kind":[],"apiVersion":{}}}"#,
        r#"{"type":"BOOKMARK","object":{"metadata":4}}"#,
        r#"{"type":"ERROR","object":{"kind":"Status","status":5}}"#,
        r#"{"apiVersion":"v1","kind":"Event","involvedObject":{"kind":"Node","name":"n"},"reason":"OOMKilling","message":"Killed process )( (","type":"Warning"}"#,
        r#"{"apiVersion":"v1","kind":"Event","involvedObject":{"kind":"Node","name":"n"},"message":"Killed process 1 (source-controller"}"#,
    ];
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap();
        let obj: &Map<String, Value> = v.as_object().unwrap();
        if looks_like(obj) {
            let _ = from_json(obj, &ParseContext::default());
        }
    }
}

#[test]
fn big_arrays_are_capped() {
    let cond = r#"{"type":"X","status":"True","lastTransitionTime":"2025-11-10T14:00:00Z"}"#;
    let conds = vec![cond; 5000].join(",");
    let deps = vec![r#"{"name":"d"}"#; 5000].join(",");
    let line = format!(
        r#"{{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{{"name":"a","namespace":"b"}},"spec":{{"dependsOn":[{deps}]}},"status":{{"conditions":[{conds}]}}}}"#
    );
    let r = one(&line);
    assert_eq!(obj_info(&r).conditions.len(), MAX_ENTRIES);
    assert_eq!(obj_info(&r).depends_on.len(), MAX_ENTRIES);
    assert!(matches!(r.detail, Detail::Object(_)));
}

#[test]
fn controller_names() {
    assert_eq!(
        controller_from_pod("source-controller-7d9f8c6b5-x2x7k"),
        Some("source-controller")
    );
    assert_eq!(
        controller_from_pod("image-automation-controller-1-2"),
        Some("image-automation-controller")
    );
    assert_eq!(
        controller_from_pod("kustomize-controller"),
        Some("kustomize-controller")
    );
    assert_eq!(controller_from_pod("kustomize-controller-"), None);
    assert_eq!(controller_from_pod("my-source-controller-1"), None);
    assert_eq!(controller_for_kind("helmchart"), Some("source-controller"));
    assert_eq!(
        controller_for_kind("ImagePolicy"),
        Some("image-reflector-controller")
    );
    assert_eq!(controller_for_kind("Deployment"), None);
}

/// Every value at every path of every golden fixture document, swapped for each JSON
/// type in turn: parsing must never panic.
#[test]
fn every_field_with_every_wrong_type_never_panics() {
    fn paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let mut p = prefix.clone();
                    p.push(k.clone());
                    out.push(p.clone());
                    paths(child, p, out);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate().take(3) {
                    let mut p = prefix.clone();
                    p.push(i.to_string());
                    out.push(p.clone());
                    paths(child, p, out);
                }
            }
            _ => {}
        }
    }
    fn at<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
        path.iter().try_fold(v, |v, k| match v {
            Value::Object(m) => m.get_mut(k),
            Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        })
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/classify");
    let swaps = [
        Value::Null,
        Value::from(-5),
        Value::from(1e300),
        Value::from("x"),
        Value::Array(vec![]),
        Value::Object(Map::new()),
        Value::Bool(true),
    ];
    let mut docs = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !(name.starts_with("k8s_") && name.ends_with(".log")) {
            continue;
        }
        for line in std::fs::read_to_string(entry.path()).unwrap().lines() {
            let Ok(doc) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            docs += 1;
            let mut all = Vec::new();
            paths(&doc, Vec::new(), &mut all);
            for path in all.iter().take(400) {
                for swap in &swaps {
                    let mut d = doc.clone();
                    if let Some(slot) = at(&mut d, path) {
                        *slot = swap.clone();
                    }
                    if let Some(obj) = d.as_object() {
                        if looks_like(obj) {
                            let _ = from_json(obj, &ParseContext::default());
                        }
                    }
                }
            }
        }
    }
    assert!(docs > 30, "fixtures not found in {dir}");
}

// ---- what the workload root cause needs (uids, owners, replicas, PVCs, Pod facts) ----

const WEB_RS: &str = r#"{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-7d9f4c8b6","namespace":"shop","uid":"rs-uid-1","labels":{"app":"web","pod-template-hash":"7d9f4c8b6"},"annotations":{"deployment.kubernetes.io/revision":"4"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"dep-uid-1","controller":true,"blockOwnerDeletion":true}],"creationTimestamp":"2025-06-02T10:01:00Z"},"spec":{"replicas":3},"status":{"replicas":3,"fullyLabeledReplicas":3,"observedGeneration":1}}"#;

const EVICTED_POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-7d9f4c8b6-x2x7k","namespace":"shop","uid":"pod-uid-1","ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d9f4c8b6","uid":"rs-uid-1","controller":true}]},"spec":{"nodeName":"node-2","containers":[{"name":"web","image":"ghcr.io/acme/web:v1.4.3","resources":{"limits":{"memory":"256Mi"}}}],"volumes":[{"name":"data","persistentVolumeClaim":{"claimName":"web-data"}},{"name":"cfg","configMap":{"name":"web"}}]},"status":{"phase":"Failed","reason":"Evicted","message":"The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi.","conditions":[{"type":"PodScheduled","status":"False","reason":"Unschedulable","message":"0/3 nodes are available: 3 Insufficient cpu."}],"containerStatuses":[{"name":"web","ready":false,"restartCount":2,"image":"ghcr.io/acme/web:v1.4.3","state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 40s restarting failed container=web pod=web-7d9f4c8b6-x2x7k_shop(pod-uid-1)"}},"lastState":{"terminated":{"reason":"OOMKilled","exitCode":137,"finishedAt":"2025-06-02T10:03:00Z"}}}]}}"#;

#[test]
fn workload_facts_of_a_replicaset() {
    let r = one(WEB_RS);
    let o = obj_info(&r);
    assert_eq!(o.uid.as_deref(), Some("rs-uid-1"));
    let owner = o.owner.as_ref().unwrap();
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.name.as_str(),
            owner.uid.as_deref()
        ),
        ("Deployment", "web", Some("dep-uid-1"))
    );
    assert!(owner.controller);
    let w = o.workload.as_ref().unwrap();
    assert_eq!(
        (w.desired, w.ready, w.available),
        (Some(3), Some(0), Some(0))
    );
    assert_eq!(w.revision.as_deref(), Some("4"));
    assert_eq!(w.pod_template_hash.as_deref(), Some("7d9f4c8b6"));
}

#[test]
fn pvc_phase_and_class() {
    let r = one(
        r#"{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"data-db-0","namespace":"shop","uid":"pvc-1"},"spec":{"storageClassName":"fast-ssd","accessModes":["ReadWriteOnce"]},"status":{"phase":"Pending"}}"#,
    );
    let p = obj_info(&r).pvc.as_ref().unwrap();
    assert_eq!(p.phase.as_deref(), Some("Pending"));
    assert_eq!(p.storage_class.as_deref(), Some("fast-ssd"));
}

#[test]
fn pod_owner_node_claims_conditions_and_eviction() {
    let r = one(EVICTED_POD);
    let p = pod_info(&r);
    assert_eq!(p.uid.as_deref(), Some("pod-uid-1"));
    assert_eq!(p.owner.as_ref().unwrap().uid.as_deref(), Some("rs-uid-1"));
    assert_eq!(p.node_name.as_deref(), Some("node-2"));
    assert_eq!(p.claim_names, ["web-data"]);
    assert_eq!(p.status_reason.as_deref(), Some("Evicted"));
    assert!(p
        .status_message
        .as_deref()
        .unwrap()
        .starts_with("The node was low"));
    let sched = p
        .conditions
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(sched.status, "False");
    assert_eq!(
        sched.message,
        "0/3 nodes are available: 3 Insufficient cpu."
    );
    let c = &p.containers[0];
    assert_eq!(c.memory_limit.as_deref(), Some("256Mi"));
    assert!(c
        .waiting_message
        .as_deref()
        .unwrap()
        .starts_with("back-off 40s"));
    assert_eq!(c.last_terminated_exit_code, Some(137));
}

#[test]
fn event_uid_field_path_and_aggregation() {
    let r = one(
        r#"{"apiVersion":"v1","kind":"Event","metadata":{"name":"web-7d9f4c8b6-x2x7k.1","namespace":"shop"},"involvedObject":{"kind":"Pod","namespace":"shop","name":"web-7d9f4c8b6-x2x7k","uid":"pod-uid-1","fieldPath":"spec.containers{web}"},"reason":"Failed","message":"(combined from similar events): Failed to pull image \"ghcr.io/acme/web:v1.4.3\": not found","type":"Warning","source":{"component":"kubelet","host":"node-2"},"count":7,"firstTimestamp":"2025-06-02T10:01:05Z","lastTimestamp":"2025-06-02T10:05:00Z"}"#,
    );
    let e = r.event_info().unwrap();
    assert_eq!(e.involved_uid.as_deref(), Some("pod-uid-1"));
    assert_eq!(e.field_path.as_deref(), Some("spec.containers{web}"));
    assert!(e.combined);
    assert!(
        r.msg.starts_with("(combined from similar events): "),
        "msg stays verbatim"
    );
    let v1 = one(
        r#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"x","namespace":"shop"},"regarding":{"kind":"Pod","namespace":"shop","name":"p","uid":"u-2"},"reason":"FailedScheduling","note":"0/3 nodes are available: 3 Insufficient cpu.","type":"Warning","reportingController":"default-scheduler","eventTime":"2025-06-02T10:01:05.000000Z"}"#,
    );
    assert_eq!(
        v1.event_info().unwrap().involved_uid.as_deref(),
        Some("u-2")
    );
    assert!(!v1.event_info().unwrap().combined);
}
