//! Record-class rules: every rule's examples, every class with real message shapes
//! (a current and an older wording), benign lines that must stay benign, severities,
//! object snapshots, rule-file errors, and the shared scenario samples.

use std::collections::BTreeMap;
use std::path::Path;

use fluxsight::classify::redact::redact;
use fluxsight::classify::Classifier;
use fluxsight::record::{
    Class, Condition, ContainerInfo, Detail, EventInfo, Format, Level, MetricSample, ObjectInfo,
    ObjectRef, PodInfo, Record, Severity,
};

fn classifier() -> &'static Classifier {
    static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    C.get_or_init(Classifier::builtin)
}

fn obj(kind: &str) -> Option<ObjectRef> {
    Some(ObjectRef::new(kind, "apps", "web"))
}

/// A zap log line: `msg` plus optional `error` text.
fn log(level: Level, kind: &str, msg: &str, error: Option<&str>) -> Record {
    Record {
        format: Format::ZapJson,
        level: Some(level),
        object: obj(kind),
        msg: msg.into(),
        error: error.map(Into::into),
        ..Default::default()
    }
}

/// An "eventLogf" line: the parser moves `"error":"<Reason>"` into `reason`.
fn logf(level: Level, kind: &str, msg: &str, reason: &str) -> Record {
    Record {
        reason: Some(reason.into()),
        ..log(level, kind, msg, None)
    }
}

/// A Kubernetes Event.
fn event(type_: &str, reason: &str, kind: &str, msg: &str) -> Record {
    Record {
        format: Format::K8sEvent,
        object: obj(kind),
        reason: Some(reason.into()),
        msg: msg.into(),
        detail: Detail::Event(Box::new(EventInfo {
            event_type: Some(type_.into()),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn text(msg: &str) -> Record {
    Record {
        msg: msg.into(),
        ..Default::default()
    }
}

fn flux_object(kind: &str, suspend: bool, conditions: &[(&str, &str, &str, &str)]) -> Record {
    Record {
        format: Format::K8sObject,
        object: obj(kind),
        detail: Detail::Object(Box::new(ObjectInfo {
            suspend,
            conditions: conditions
                .iter()
                .map(|(t, s, r, m)| Condition {
                    type_: (*t).into(),
                    status: (*s).into(),
                    reason: (*r).into(),
                    message: (*m).into(),
                    last_transition_ms: None,
                })
                .collect(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn pod(c: ContainerInfo) -> Record {
    Record {
        format: Format::K8sObject,
        object: Some(ObjectRef::new(
            "Pod",
            "flux-system",
            "source-controller-6c01ce105-nbz8n",
        )),
        detail: Detail::Pod(Box::new(PodInfo {
            phase: Some("Running".into()),
            containers: vec![c],
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn classified(mut rec: Record) -> Record {
    classifier().classify(&mut rec);
    rec
}

fn cases() -> Vec<(Class, &'static str, Record)> {
    use Class::*;
    use Level::{Debug, Error, Info};
    let running = ContainerInfo {
        name: "manager".into(),
        ready: true,
        ..Default::default()
    };
    vec![
        // ------------------------------------------------------------ failures
        (GitAuthFailed, "go-git ssh, current", log(Error, "GitRepository", "Reconciler error", Some("failed to checkout and determine revision: unable to clone 'ssh://git@github.com/juliet/platform-jul': ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain"))),
        (GitAuthFailed, "pre-v0.35 wording", event("Warning", "GitOperationFailed", "GitRepository", "unable to clone 'https://github.com/org/private', error: authentication required")),
        (GitAuthFailed, "auth secret, v0.x", event("Warning", "AuthenticationFailed", "GitRepository", "auth secret error: Secret \"flux-system\" not found")),
        (GitAuthFailed, "OCI registry", logf(Error, "OCIRepository", "failed to pull artifact from 'oci://ghcr.io/org/manifests': GET https://ghcr.io/v2/org/manifests/manifests/latest: UNAUTHORIZED: authentication required", "OCIArtifactPullFailed")),
        (RateLimited, "go-git 429, current", logf(Error, "GitRepository", "failed to checkout and determine revision: unable to clone 'https://github.com/golf/svc-08': unexpected client error: unexpected requesting \"https://github.com/golf/svc-08/info/refs?service=git-upload-pack\" status code: 429", "GitOperationFailed")),
        (RateLimited, "GitHub App quota", event("Warning", "GitOperationFailed", "GitRepository", "failed to checkout and determine revision: unable to clone 'https://github.com/golf/svc-08': remote error: API rate limit exceeded for installation ID 123.")),
        (RateLimited, "GitHub 403 + rate limit", log(Error, "GitRepository", "Reconciler error", Some("failed to checkout and determine revision: unable to clone 'https://github.com/org/repo': unexpected client error: unexpected requesting \"https://github.com/org/repo/info/refs?service=git-upload-pack\" status code: 403 Forbidden: API rate limit exceeded"))),
        (RateLimited, "ACR 2023 (info level)", log(Info, "HelmRepository", "error logging into ACR error exchanging token: unexpected status code 429 from exchange request", None)),
        (NetworkError, "DNS timeout, current", logf(Error, "GitRepository", "failed to checkout and determine revision: unable to clone 'https://github.com/alpha/fleet-alp': Get \"https://github.com/alpha/fleet-alp/info/refs?service=git-upload-pack\": dial tcp: lookup github.com on 10.96.0.10:53: read udp 10.244.0.12:43511->10.96.0.10:53: i/o timeout", "GitOperationFailed")),
        (NetworkError, "v0.x wording", event("Warning", "error", "GitRepository", "unable to clone 'https://github.com/org/repo', error: Get \"https://github.com/org/repo/info/refs?service=git-upload-pack\": dial tcp: lookup github.com: no such host")),
        (NetworkError, "TLS", logf(Error, "HelmRepository", "failed to fetch Helm repository index: failed to cache index to temporary file: Get \"https://charts.example.com/index.yaml\": x509: certificate signed by unknown authority", "Failed")),
        (SourceFetchFailed, "missing ref, current", event("Warning", "GitOperationFailed", "GitRepository", "failed to checkout and determine revision: unable to clone 'https://github.com/org/repo': couldn't find remote ref \"refs/heads/mian\"")),
        (SourceFetchFailed, "v0.x wording", log(Error, "GitRepository", "Reconciler error", Some("unable to clone 'https://github.com/org/repo', error: couldn't find remote ref \"refs/heads/main\""))),
        (SourceFetchFailed, "chart pull", event("Warning", "ChartPullError", "HelmChart", "chart pull error: failed to get chart version for remote reference: no chart version found for podinfo-9.0.0")),
        (SourceNotReady, "archive download, current", log(Error, "Kustomization", "Reconciliation failed after 560.344866ms, next try in 5m0s", Some("failed to download archive: GET http://source-controller.flux-system.svc.cluster.local./gitrepository/foxtrot/fleet-fox/1a77e5e6.tar.gz: dial tcp 10.96.182.71:80: connect: connection refused"))),
        (SourceNotReady, "archive download event", event("Warning", "ArtifactFailed", "Kustomization", "failed to download archive: GET http://source-controller.flux-system.svc.cluster.local./gitrepository/foxtrot/fleet-fox/1a77e5e6.tar.gz: dial tcp 10.96.182.71:80: connect: connection refused")),
        (SourceNotReady, "helm ≤ v0.36", event("Normal", "error", "HelmRelease", "HelmChart 'flux-system/apps-web' is not ready")),
        (SourceNotReady, "kustomize info line", log(Info, "Kustomization", "Source artifact not found, retrying in 30s", None)),
        (DependencyNotReady, "kustomize, current", event("Normal", "DependencyNotReady", "Kustomization", "Dependencies do not meet ready condition, retrying in 30s")),
        (DependencyNotReady, "dependency text", log(Error, "Kustomization", "Reconciliation failed after 2ms, next try in 30s", Some("dependency 'flux-system/infra' is not ready"))),
        (DependencyNotReady, "helm ≤ v0.36", event("Normal", "info", "HelmRelease", "dependencies do not meet ready condition (dependency 'flux-system/infra' is not ready), retrying in 30s")),
        (HealthCheckFailed, "kstatus, current", event("Warning", "HealthCheckFailed", "Kustomization", "health check failed after 5m0.041s: timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']")),
        (HealthCheckFailed, "2021 wording", log(Error, "Kustomization", "Reconciliation failed after 2m0.1s, next try in 1m0s", Some("Health check failed after 2m0.0s, timeout waiting for: [Deployment/default/backend status: 'InProgress']"))),
        (BuildFailed, "kustomize, current", event("Warning", "BuildFailed", "Kustomization", "kustomize build failed: accumulating resources: accumulation err='accumulating resources from 'cert-manager.yaml': open /tmp/kustomization-1/infra/crds/cert-manager.yaml: no such file or directory'")),
        (BuildFailed, "2021 wording", log(Error, "Kustomization", "Reconciler error", Some("kustomize build failed: json: unknown field \"spec\""))),
        (ValidationFailed, "ssa, current", log(Error, "Kustomization", "Reconciliation failed after 1.2s, next try in 5m0s", Some("Deployment/apps/web dry-run failed (Invalid): Deployment.apps \"web\" is invalid: spec.selector: Invalid value: v1.LabelSelector{}: field is immutable"))),
        (ValidationFailed, "ssa < v0.33", log(Error, "Kustomization", "Reconciliation failed after 1.025864206s, next try in 1m0s", Some("ConfigMap/monitoring/grafana-dashboard-bucket_replicate dry-run failed, reason: Invalid, error: ConfigMap \"grafana-dashboard-bucket_replicate\" is invalid: metadata.name: Invalid value"))),
        (ValidationFailed, "kubectl era", log(Error, "Kustomization", "Reconciler error", Some("apply failed: error: error validating \"9a54.yaml\": error validating data: ValidationError(Deployment.spec): missing required field \"selector\""))),
        (ApplyConflict, "ssa conflict", event("Warning", "ReconciliationFailed", "Kustomization", "Deployment/apps/web dry-run failed (Conflict): Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas")),
        (ApplyConflict, "optimistic lock, older", log(Error, "Kustomization", "Reconciler error", Some("Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"))),
        (ApplyConflict, "helm drift", event("Warning", "DriftDetected", "HelmRelease", "Cluster state of release apps/web.v4 has drifted from the desired state:\nDeployment/apps/web changed")),
        (DecryptionFailed, "sops, BuildFailed reason", event("Warning", "BuildFailed", "Kustomization", "decryption failed for 'db-credentials': error decrypting sops tree: Error getting data key: 0 successful groups required, got 0 Failed to get the data key required to decrypt the SOPS file.")),
        (DecryptionFailed, "v0.x", log(Error, "Kustomization", "Reconciliation failed after 5ms, next try in 1m0s", Some("decryption secret error: Secret \"sops-age\" not found"))),
        (DecryptionFailed, "KMS access denied", log(Error, "Kustomization", "Reconciliation failed after 5ms, next try in 1m0s", Some("decryption failed for 'v1, Kind=Secret/db': cannot get sops data key: AccessDeniedException: User is not authorized to perform kms:Decrypt"))),
        (RbacForbidden, "ssa, current", event("Warning", "ReconciliationFailed", "Kustomization", "Deployment/golf/shared-proxy dry-run failed (Forbidden): deployments.apps \"shared-proxy\" is forbidden: User \"system:serviceaccount:india:india-reconciler\" cannot patch resource \"deployments\" in API group \"apps\" in the namespace \"golf\"")),
        (RbacForbidden, "ssa < v0.33", log(Error, "Kustomization", "Reconciliation failed after 5ms, next try in 1m0s", Some("Namespace/apps dry-run failed, reason: Forbidden, error: namespaces \"apps\" is forbidden: User \"system:serviceaccount:apps:flux\" cannot get resource \"namespaces\" in API group \"\" in the namespace \"apps\""))),
        (RbacForbidden, "ACL", event("Warning", "AccessDenied", "Kustomization", "can't access 'GitRepository/tenant-b/repo', cross-namespace references have been blocked")),
        (HelmReleaseFailed, "new engine", event("Warning", "UpgradeFailed", "HelmRelease", "Helm upgrade failed for release bravo/api-gateway with chart api-gateway@1.4.2: context deadline exceeded\n\nLast Helm logs:\n\nwaiting for 3 resources with timeout")),
        (HelmReleaseFailed, "≤ v0.36 reason error", event("Normal", "error", "HelmRelease", "reconciliation failed: Helm upgrade failed: another operation (install/upgrade/rollback) is in progress")),
        (HelmReleaseFailed, "≤ v0.36 retries", log(Error, "HelmRelease", "Reconciler error", Some("install retries exhausted"))),
        (HelmReleaseFailed, "stalled", log(Error, "HelmRelease", "Reconciler error", Some("exceeded maximum retries: cannot upgrade release"))),
        (NotificationFailed, "dispatch event", event("Warning", "NotificationDispatchFailed", "Alert", "failed to send notification for Kustomization/apps/web: postMessage failed: channel_not_found")),
        (NotificationFailed, "log line", log(Error, "Alert", "failed to send notification", Some("failed to post to slack: request failed with status code 404: no_service"))),
        (NotificationFailed, "sender side, pre-2025", log(Error, "Kustomization", "unable to record event", Some("POST http://notification-controller.flux-system.svc.cluster.local./ giving up after 5 attempt(s): unexpected status code 429"))),
        (ImageAutomationFailed, "IRC scan", logf(Error, "ImageRepository", "scan failed: GET https://registry.example.com/v2/app/tags/list: unexpected status code 500 Internal Server Error", "ReadOperationFailed")),
        (ImageAutomationFailed, "IAC policies", event("Warning", "UpdateFailed", "ImageUpdateAutomation", "failed to apply policies: template: missing value")),
        (ImageAutomationFailed, "IAC checkout", logf(Error, "ImageUpdateAutomation", "failed to checkout source: unable to clone 'https://github.com/org/fleet': couldn't find remote ref \"refs/heads/auto\"", "GitOperationFailed")),
        (StorageFailed, "archive", event("Warning", "ArchiveOperationFailed", "GitRepository", "unable to archive artifact to storage: write /data/gitrepository/x.tar.gz: no space left on device")),
        (StorageFailed, "gc", log(Error, "HelmChart", "Reconciler error", Some("garbage collection of artifacts failed: remove /data/helmchart/x: read-only file system"))),
        (OomKilled, "node event", event("Warning", "OOMKilling", "Node", "Memory cgroup out of memory: Killed process 28311 (source-controller) total-vm:2123456kB, anon-rss:1048576kB, file-rss:0kB, shmem-rss:0kB, UID:65534 pgtables:2468kB oom_score_adj:999")),
        (OomKilled, "pod lastState", pod(ContainerInfo { restart_count: 3, last_terminated_reason: Some("OOMKilled".into()), last_terminated_exit_code: Some(137), ..running.clone() })),
        (OomKilled, "pod exit 137", pod(ContainerInfo { restart_count: 1, last_terminated_reason: Some("Error".into()), last_terminated_exit_code: Some(137), ..running.clone() })),
        (OomKilled, "helm OOMWatch", log(Info, "", "Memory usage is near OOM (1.9GiB/2GiB), shutting down", None)),
        (ControllerRestarted, "kubelet BackOff", event("Warning", "BackOff", "Pod", "Back-off restarting failed container manager in pod source-controller-6c01ce105-nbz8n_flux-system(4f0e2c1a)")),
        (ControllerRestarted, "leader election", log(Error, "", "problem running manager", Some("leader election lost"))),
        (ControllerRestarted, "klog lease, 2021", log(Error, "", "failed to renew lease flux-system/5b6ca942.fluxcd.io: timed out waiting for the condition", None)),
        (ControllerRestarted, "pod crash loop", pod(ContainerInfo { ready: false, restart_count: 5, waiting_reason: Some("CrashLoopBackOff".into()), ..running.clone() })),
        (ErrorOther, "unknown error", log(Error, "Kustomization", "Reconciler error", Some("failed to update status: etcdserver: request timed out, possibly due to previous leader failure"))),
        (ErrorOther, "prune warning", event("Warning", "PruneFailed", "Kustomization", "unable to prune objects: \nConfigMap/apps/x: finalizer stuck")),
        (ControllerRestarted, "klog E line of a failing lease renewal", log(Error, "", "Failed to update lock: Put \"https://10.96.0.1:443/apis\": unexpected error", None)),
        // -------------------------------------------------------- informational
        (ReconcileSucceeded, "kustomize, current", log(Info, "Kustomization", "Reconciliation finished in 2.31s, next run in 10m0s", None)),
        (ReconcileSucceeded, "helm 2020 typo", log(Info, "HelmRelease", "reconcilation finished in 87.45015ms, next run in 30m0s", None)),
        (ReconcileSucceeded, "source heartbeat", log(Info, "GitRepository", "no changes since last reconciliation: observed revision 'main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f'", None)),
        (ReconcileSucceeded, "image scan, eventLogf", logf(Error, "ImageRepository", "successful scan: found 24 tags with checksum 3542168841", "Succeeded")),
        (ArtifactStored, "git, current", logf(Info, "GitRepository", "stored artifact for commit 'fix error handling'", "NewArtifact")),
        (ArtifactStored, "v0.x", event("Normal", "info", "GitRepository", "Fetched revision: master/0fa2f6c0b65eab3ba4b8a0e0a5c1d8b0b5e8c0ad")),
        (ArtifactStored, "helm index", event("Normal", "NewArtifact", "HelmRepository", "stored fetched index of 2.1 MiB from 'https://charts.bitnami.com/bitnami'")),
        (RevisionApplied, "ssa", log(Info, "Kustomization", "server-side apply completed", None)),
        (RevisionApplied, "v0.x event", event("Normal", "info", "Kustomization", "Applied revision: main/1eabc9a41ca088515cab83f1cce49eb43e84b67f")),
        (RevisionApplied, "helm new engine", event("Normal", "UpgradeSucceeded", "HelmRelease", "Helm upgrade succeeded for release apps/web.v5 with chart web@1.2.3")),
        (RevisionApplied, "helm ≤ v0.36", event("Normal", "info", "HelmRelease", "Helm upgrade succeeded")),
        (RevisionApplied, "change-set event", event("Normal", "Progressing", "Kustomization", "Deployment/hotel/db-0 configured\nHorizontalPodAutoscaler/hotel/db-0 configured")),
        (Progressing, "helm action", log(Info, "HelmRelease", "running 'upgrade' action with timeout of 5m0s", None)),
        (Progressing, "helm ≤ v0.36", event("Normal", "info", "HelmRelease", "Helm upgrade has started")),
        (Progressing, "Ready=Unknown object", flux_object("Kustomization", false, &[("Ready", "Unknown", "Progressing", "Reconciliation in progress")])),
        (Suspended, "source", log(Info, "GitRepository", "reconciliation is suspended for this object", None)),
        (Suspended, "kustomize / HelmChart", log(Info, "Kustomization", "Reconciliation is suspended for this object", None)),
        (Suspended, "object", flux_object("Kustomization", true, &[("Ready", "False", "BuildFailed", "kustomize build failed: x")])),
        (Lifecycle, "current", log(Info, "", "starting manager", None)),
        (Lifecycle, "klog 2021", log(Info, "", "attempting to acquire leader lease flux-system/5b6ca942.fluxcd.io...", None)),
        (Lifecycle, "lease acquired", log(Info, "", "successfully acquired lease flux-system/source-controller-leader-election", None)),
        (Metric, "sample", Record { detail: Detail::Metric(MetricSample { name: "workqueue_depth".into(), labels: vec![], value: 3.0 }), ..Default::default() }),
        (Metric, "format only", Record { format: Format::Metric, msg: "process_resident_memory_bytes 1.5e+08".into(), ..Default::default() }),
        (ObjectState, "ready kustomization", flux_object("Kustomization", false, &[("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:1eabc9a4")])),
        (ObjectState, "healthy pod", pod(running.clone())),
        (InfoOther, "dispatching", log(Info, "Alert", "dispatching event", None)),
        (InfoOther, "NC de-dup", log(Debug, "", "Discarding event, rate limiting duplicate events", None)),
        (InfoOther, "bare text", text("no secret reference is provided, trying to verify the image using keyless method")),
    ]
}

#[test]
fn every_class_has_real_shapes() {
    let mut failures = Vec::new();
    let mut per_class: BTreeMap<&str, usize> = BTreeMap::new();
    for (want, what, rec) in cases() {
        *per_class.entry(want.as_str()).or_default() += 1;
        let got = classified(rec.clone());
        if got.class != want {
            failures.push(format!(
                "{want} / {what}: got {} for {:?} {:?}",
                got.class, rec.msg, rec.error
            ));
        }
    }
    for c in Class::ALL {
        if per_class.get(c.as_str()).copied().unwrap_or(0) < 2 {
            failures.push(format!("class {c} has fewer than two cases"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn builtin_rule_examples_hold() {
    let failures = classifier().check_examples();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_builtin_rule_has_an_example() {
    let missing: Vec<_> = classifier()
        .rules()
        .iter()
        .filter(|r| r.examples.is_empty())
        .map(|r| r.id.clone())
        .collect();
    assert!(missing.is_empty(), "rules without examples: {missing:?}");
}

#[test]
fn benign_lines_never_get_a_failure_class() {
    use Level::Info;
    let benign = [
        event("Normal", "HealthCheckCanceled", "Kustomization", "Health checks canceled due to new reconciliation triggered by GitRepository/flux-system/flux-system"),
        log(Info, "Kustomization", "New reconciliation triggered, canceling health checks", None),
        log(Level::Debug, "", "Discarding event, rate limiting duplicate events", None),
        logf(Level::Error, "ImageRepository", "successful scan: found 24 tags with checksum 3542168841", "Succeeded"),
        logf(Level::Error, "ImageRepository", "next scan in 4m59.9s", "Succeeded"),
        logf(Level::Error, "ImageRepository", "no change in repository configuration since last scan, next scan in 5m0s", "Succeeded"),
        logf(Info, "GitRepository", "stored artifact for commit 'fix error handling'", "NewArtifact"),
        logf(Info, "GitRepository", "stored artifact for commit 'retry on 401 and i/o timeout'", "NewArtifact"),
        event("Normal", "NewArtifact", "GitRepository", "stored artifact for commit 'Revert \"failed: connection refused on 429\"'"),
        logf(Info, "GitRepository", "stored artifact for commit 'decryption failed for prod, is forbidden: User fixed'", "NewArtifact"),
        log(Info, "Kustomization", "Health check passed in 12.3s", None),
        event("Normal", "NoDriftDetected", "HelmRelease", "No drift detected against the cluster state"),
        log(Info, "", "successfully acquired lease flux-system/source-controller-leader-election", None),
        log(Info, "Kustomization", "Reconciliation finished in 429ms, next run in 10m0s", None),
        log(Info, "HelmRelease", "running 'upgrade' action with timeout of 5m0s", None),
        log(Info, "HelmRelease", "release is in a failed state: release with status 'failed'", None),
        event("Normal", "RollbackSucceeded", "HelmRelease", "Helm rollback to previous release apps/web.v3 with chart web@1.2.2 succeeded"),
        log(Info, "", "Waited for 1.04s due to client-side throttling, not priority and fairness, request: GET:https://10.96.0.1:443/api", None),
    ];
    for rec in benign {
        let got = classified(rec.clone());
        assert!(!got.class.is_failure(), "{:?} got {}", rec.msg, got.class);
        assert_eq!(got.severity, Severity::Info, "{:?}", rec.msg);
    }
}

#[test]
fn severities_follow_level_and_event_type() {
    use Level::{Error, Info};
    let rate = "failed to checkout and determine revision: unable to clone 'https://github.com/x/y': remote error: API rate limit exceeded for installation ID 1.";
    let cases = [
        (
            log(Error, "GitRepository", "Reconciler error", Some(rate)),
            Class::RateLimited,
            Severity::Error,
        ),
        (
            event("Warning", "GitOperationFailed", "GitRepository", rate),
            Class::RateLimited,
            Severity::Warning,
        ),
        (
            log(
                Info,
                "Kustomization",
                "Source artifact not found, retrying in 30s",
                None,
            ),
            Class::SourceNotReady,
            Severity::Warning,
        ),
        (
            event(
                "Normal",
                "DependencyNotReady",
                "Kustomization",
                "Dependencies do not meet ready condition, retrying in 30s",
            ),
            Class::DependencyNotReady,
            Severity::Info,
        ),
        (
            log(
                Error,
                "Kustomization",
                "Reconciliation failed after 1ms, next try in 30s",
                Some("dependency 'a/b' is not ready"),
            ),
            Class::DependencyNotReady,
            Severity::Info,
        ),
        (
            log(
                Info,
                "Kustomization",
                "Reconciliation finished in 2s, next run in 10m0s",
                None,
            ),
            Class::ReconcileSucceeded,
            Severity::Info,
        ),
        (
            log(Error, "", "Reconciler error", Some("weird")),
            Class::ErrorOther,
            Severity::Error,
        ),
        (
            event("Warning", "Whatever", "Kustomization", "weird"),
            Class::ErrorOther,
            Severity::Warning,
        ),
        (text("weird"), Class::InfoOther, Severity::Info),
    ];
    for (rec, class, sev) in cases {
        let got = classified(rec.clone());
        assert_eq!(
            (got.class, got.severity),
            (class, sev),
            "{:?} {:?}",
            rec.msg,
            rec.error
        );
    }
}

#[test]
fn failing_object_snapshots_get_their_failure_class() {
    let cases = [
        (flux_object("Kustomization", false, &[("Ready", "False", "BuildFailed", "decryption failed for 'db-credentials': error decrypting sops tree: Error getting data key: 0 successful groups required, got 0")]), Class::DecryptionFailed),
        (flux_object("HelmRelease", false, &[("Ready", "False", "UpgradeFailed", "Failed to upgrade after 4 attempt(s)"), ("Stalled", "True", "RetriesExceeded", "Failed to upgrade after 4 attempt(s)")]), Class::HelmReleaseFailed),
        (flux_object("GitRepository", false, &[("Ready", "False", "GitOperationFailed", "failed to checkout and determine revision: unable to clone 'https://github.com/x/y': unexpected client error: unexpected requesting \"https://github.com/x/y/info/refs?service=git-upload-pack\" status code: 429")]), Class::RateLimited),
        (flux_object("Kustomization", false, &[("Ready", "False", "DependencyNotReady", "dependency 'flux-system/infra' is not ready")]), Class::DependencyNotReady),
        (flux_object("Kustomization", false, &[("Ready", "False", "SomethingNew", "something odd")]), Class::ErrorOther),
        (flux_object("Kustomization", false, &[("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:1"), ("Reconciling", "True", "Progressing", "Building manifests for revision x")]), Class::Progressing),
    ];
    for (rec, want) in cases {
        let got = classified(rec);
        assert_eq!(got.class, want);
        if want.is_failure() && want != Class::DependencyNotReady {
            assert_eq!(got.severity, Severity::Warning);
        }
    }
}

#[test]
fn user_rule_files_report_file_line_and_field() {
    let unknown_field = "version: 1\nprecedence: [error_other]\nrules:\n  - id: a\n    class: error_other\n    fragmentz: [x]\n";
    let e = Classifier::from_yaml(unknown_field, "mine.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("mine.yaml:") && e.contains("fragmentz"),
        "{e}"
    );

    let unknown_class = "version: 1\nprecedence: [error_other]\nrules:\n  - id: a\n    class: errr\n    fragments: [x]\n";
    let e = Classifier::from_yaml(unknown_class, "mine.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("mine.yaml:5: field `class`"), "{e}");

    let bad_regex = "version: 1\nprecedence: [error_other]\nrules:\n  - id: a\n    class: error_other\n    fragments: [x]\n    regex: '(unclosed'\n";
    let e = Classifier::from_yaml(bad_regex, "mine.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("mine.yaml:7: field `regex`"), "{e}");

    let not_ranked = "version: 1\nprecedence: [info_other]\nrules:\n  - id: a\n    class: error_other\n    fragments: [x]\n";
    let e = Classifier::from_yaml(not_ranked, "mine.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field `class`") && e.contains("precedence"),
        "{e}"
    );

    let ok = "version: 1\nprecedence: [rate_limited, error_other]\nrules:\n  - id: quota\n    class: rate_limited\n    fragments: [Quota Exceeded]\n    examples: [\"QUOTA exceeded for org\"]\n";
    let c = Classifier::from_yaml(ok, "mine.yaml").unwrap();
    assert!(c.check_examples().is_empty());
    let mut rec = log(Level::Error, "", "quota exceeded for org", None);
    c.classify(&mut rec);
    assert_eq!(rec.class, Class::RateLimited);
}

/// A record logged by `speaker` (a zap `logger` name) about an object of `kind`.
fn spoken(logger: &str, controller: &str, kind: &str, msg: &str, error: Option<&str>) -> Record {
    Record {
        logger: (!logger.is_empty()).then(|| logger.into()),
        controller: Some(controller.into()),
        ..log(Level::Error, kind, msg, error)
    }
}

/// Who spoke (controller, object kind, logger, reason, call-site message) decides the
/// family before generic words such as `timeout`, `401` or `context deadline exceeded` do.
/// Shapes from fluxcd/notification-controller#489, #740, #965, #1227, flux2#718, #836,
/// #2067, #2309, #2132, kustomize-controller#785, flux2#1193, kustomize-controller#701/#709.
fn who_spoke_cases() -> Vec<(Class, &'static str, Record)> {
    use Class::*;
    const NC: &str = "notification-controller";
    const KC: &str = "kustomize-controller";
    vec![
        // ------------------------------------------------ notification dispatch
        (NotificationFailed, "NC 2023, involved object as reconciler kind", spoken("event-server", KC, "Kustomization", "failed to send notification", Some("postMessage failed: failed to execute request: context deadline exceeded"))),
        (NotificationFailed, "NC 2024, alert object", spoken("event-server", NC, "Alert", "failed to send notification", Some("postMessage failed: failed to execute request: context deadline exceeded"))),
        (NotificationFailed, "Alert event", event("Warning", "NotificationDispatchFailed", "Alert", "failed to send notification for Kustomization/tenant/apps: postMessage failed: failed to execute request: context deadline exceeded")),
        (NotificationFailed, "slack webhook i/o timeout", spoken("event-server", NC, "Alert", "failed to send notification", Some("failed to post to slack: Post \"https://hooks.slack.com/services/T0000/B0000/XXXXXXXX\": dial tcp 54.163.235.119:443: i/o timeout"))),
        (NotificationFailed, "only transport words, Provider object", spoken("", NC, "Provider", "Post \"https://hooks.slack.com/services/T0000/B0000/XXXXXXXX\": dial tcp 54.163.235.119:443: i/o timeout", None)),
        (NotificationFailed, "alertmanager giving up", spoken("event-server", NC, "Alert", "failed to send notification", Some("postMessage failed: failed to execute request: POST http://prometheus-stack-kube-prom-alertmanager.monitoring:9093/api/v2/alerts/ giving up after 1 attempt(s): context deadline exceeded"))),
        (NotificationFailed, "provider 401 is not a Git auth failure", event("Warning", "NotificationDispatchFailed", "Alert", "failed to send notification for Kustomization/apps/web: request failed with status code 401: invalid_auth")),
        (NotificationFailed, "sender side, notification-controller unreachable", spoken("", KC, "Kustomization", "unable to record event", Some("POST http://notification-controller.flux-system.svc.cluster.local./ giving up after 5 attempt(s): Post \"http://notification-controller.flux-system.svc.cluster.local./\": dial tcp 10.96.12.7:80: connect: connection refused"))),
        (RateLimited, "provider quota stays a rate limit", event("Warning", "NotificationDispatchFailed", "Alert", "failed to send notification for Kustomization/apps/web: request failed with status code 429: slow down")),
        (ControllerRestarted, "NC leader lease is the controller's lifecycle, not a dispatch", spoken("runtime", NC, "", "error retrieving resource lock flux-system/notification-controller-leader-election: Get \"https://10.96.0.1:443/apis/coordination.k8s.io/v1/namespaces/flux-system/leases/notification-controller-leader-election\": context deadline exceeded", None)),
        (NetworkError, "source fetch timeout stays network", logf(Level::Error, "GitRepository", "failed to checkout and determine revision: unable to clone 'https://github.com/org/repo': Get \"https://github.com/org/repo/info/refs?service=git-upload-pack\": dial tcp 140.82.121.4:443: i/o timeout", "GitOperationFailed")),
        // ------------------------------------------- artifact download from source-controller
        (SourceNotReady, "kustomize v0.x typo, 404", log(Level::Error, "Kustomization", "Reconciliation failed after 80.57592ms, next try in 5m0s", Some("faild to download artifact from http://source-controller.flux-system.svc.k8s-prod.local./gitrepository/flux-system/k8s-prod/687b5930bbe44638b9c5e377ac50e33afbb542b9.tar.gz, status: 404 Not Found"))),
        (SourceNotReady, "kustomize v0.x, i/o timeout", log(Level::Error, "Kustomization", "Reconciliation failed after 30.1s, next try in 10m0s", Some("failed to download artifact from http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/flux-system/c1de637b168d45b34eb10bf67ec516403be5b82a.tar.gz, error: Get \"http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/flux-system/c1de637b168d45b34eb10bf67ec516403be5b82a.tar.gz\": dial tcp 10.0.186.186:80: i/o timeout"))),
        (SourceNotReady, "kustomize v0.2x, retries exhausted", event("Warning", "error", "Kustomization", "failed to download artifact, error: GET http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/flux-system/437f3d5915f678979e0f607f30c88e3d353a1456.tar.gz giving up after 10 attempt(s): Get \"http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/flux-system/437f3d5915f678979e0f607f30c88e3d353a1456.tar.gz\": dial tcp 10.100.47.29:80: connect: connection refused")),
        (SourceNotReady, "helm ≤ v0.36", log(Level::Error, "HelmRelease", "reconciliation failed", Some("artifact 'http://source-controller.flux-system.svc.cluster.local./helmchart/flux-system/apps-podinfo/podinfo-6.0.0.tgz' download failed (status code: 404 Not Found)"))),
        (SourceNotReady, "cannot fetch artifact", log(Level::Error, "HelmRelease", "Reconciler error", Some("cannot fetch artifact 'http://source-controller.flux-system.svc.cluster.local./helmchart/apps/apps-web/web-1.2.3.tgz': context deadline exceeded"))),
        // --------------------------------------------- Secret rejected by the API server
        (ValidationFailed, "kustomize v0.18 badrequest", log(Level::Error, "Kustomization", "Reconciliation failed after 1.2s, next try in 10m0s", Some("Secret/kubernetes-dashboard/kubernetes-dashboard-csrf badrequest, error: data values must be of type string"))),
        (ValidationFailed, "kustomize 2023 internalerror", log(Level::Error, "Kustomization", "Reconciliation failed after 2.1s, next try in 10m0s", Some("Secret/chart-museum/chartmuseum internalerror, error: data values must be of type string"))),
        (ValidationFailed, "ssa Secret is invalid", event("Warning", "ReconciliationFailed", "Kustomization", "Secret/apps/registry dry-run failed (Invalid): Secret \"registry\" is invalid: data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": invalid character 'a' looking for beginning of value")),
        // -------------------------------------------------- health checks, every version
        (HealthCheckFailed, "2021 wording", log(Level::Error, "Kustomization", "Reconciliation failed after 1m9.694610129s, next try in 1m0s", Some("Health check timed out for [deployments.apps 'keycloak-operator/keycloak-operator']"))),
        (HealthCheckFailed, "2022 wording", log(Level::Error, "Kustomization", "Reconciliation failed after 2m0.013489487s, next try in 10m0s", Some("Health check failed after 2m0.013489487s, timeout waiting for: [HelmRelease/wpb-services/httpbin status: 'InProgress']"))),
        (HealthCheckFailed, "current wording", event("Warning", "HealthCheckFailed", "Kustomization", "Health check failed after 5m0s: timeout waiting for: [Deployment/apps/web status: 'InProgress']")),
        (HealthCheckFailed, "reason only, transport words", event("Warning", "HealthCheckFailed", "Kustomization", "context deadline exceeded")),
        (HealthCheckFailed, "waiting to become ready, as an error", log(Level::Error, "Kustomization", "Reconciliation failed after 5m0.1s, next try in 5m0s", Some("timed out waiting for Deployment/apps/web to become ready"))),
        (Progressing, "kustomize v0.x status", log(Level::Info, "Kustomization", "running health checks with a timeout of 9m30s", None)),
        (Progressing, "flux CLI waiting line", log(Level::Info, "Kustomization", "waiting for Kustomization reconciliation", None)),
        (Progressing, "health checks in progress", log(Level::Info, "Kustomization", "health checks in progress", None)),
    ]
}

#[test]
fn who_spoke_decides_before_generic_words() {
    let mut failures = Vec::new();
    for (want, what, rec) in who_spoke_cases() {
        let got = classified(rec.clone());
        if got.class != want {
            failures.push(format!(
                "{want} / {what}: got {} for {:?} {:?}",
                got.class, rec.msg, rec.error
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn emitter_errors_name_file_line_and_field() {
    let head =
        "version: 1\nprecedence: [notification_failed, network_error, error_other, info_other]\n";
    let rules = "rules:\n  - id: a\n    class: network_error\n    fragments: [x]\n";
    let cases = [
        ("emitters:\n  - id: e\n    kinds: [Alert]\n    family: notfication_failed\n    over: [network_error]\n", "mine.yaml:6: field `family`", "unknown class"),
        ("emitters:\n  - id: e\n    kinds: [Alert]\n    family: notification_failed\n    over: [info_other]\n", "mine.yaml:7: field `over`", "not a failure class"),
        ("emitters:\n  - id: e\n    kinds: [Alert]\n    family: notification_failed\n    over: [notification_failed]\n", "mine.yaml:7: field `over`", "own family"),
        ("emitters:\n  - id: e\n    family: notification_failed\n    over: [network_error]\n", "mine.yaml:4: field `emitters`", "at least one of"),
        ("emitters:\n  - id: e\n    kinds: [Alert]\n    family: rate_limited\n    over: [network_error]\n", "mine.yaml:6: field `family`", "not in `precedence`"),
        ("emitters:\n  - id: e\n    kinds: [Alert]\n    famly: notification_failed\n    over: [network_error]\n", "mine.yaml:", "famly"),
    ];
    for (emitters, prefix, needle) in cases {
        let text = format!("{head}{emitters}{rules}");
        let e = Classifier::from_yaml(&text, "mine.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(prefix) && e.contains(needle), "{e}");
    }
    // A valid scope changes the verdict only for its speaker.
    let ok = format!("{head}emitters:\n  - id: e\n    kinds: [Alert]\n    family: notification_failed\n    over: [network_error]\n{rules}");
    let c = Classifier::from_yaml(&ok, "mine.yaml").unwrap();
    let mut alert = log(Level::Error, "Alert", "x timed out", None);
    c.classify(&mut alert);
    assert_eq!(alert.class, Class::NotificationFailed);
    let mut other = log(Level::Error, "GitRepository", "x timed out", None);
    c.classify(&mut other);
    assert_eq!(other.class, Class::NetworkError);
}

/// Minimal reading of the shared scenario lines (zap JSON and Events) without the parsers,
/// so classification is checked against real lines while the parsers are being written.
fn scenario_record(line: &str) -> Option<Record> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    if let Some(msg) = s("msg") {
        let level = s("level").as_deref().and_then(Level::from_loose);
        let kind = s("controllerKind").unwrap_or_default();
        let error = s("error");
        // eventLogf: a bare PascalCase word in `error` is the event reason.
        let is_reason = error.as_deref().is_some_and(|e| {
            !e.contains(' ') && e.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        });
        let mut rec = log(level.unwrap_or(Level::Info), &kind, &msg, None);
        if is_reason {
            rec.reason = error;
        } else {
            rec.error = error;
        }
        return Some(rec);
    }
    if s("kind").as_deref() == Some("Event") {
        let kind = v
            .pointer("/involvedObject/kind")
            .and_then(|x| x.as_str())
            .unwrap_or("");
        return Some(event(
            &s("type").unwrap_or_default(),
            &s("reason").unwrap_or_default(),
            kind,
            &s("message").unwrap_or_default(),
        ));
    }
    None
}

fn scenario_dir() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples/scenarios");
    dir.is_dir().then_some(dir)
}

#[test]
fn healthy_scenario_has_no_failures_besides_its_fetch_errors() {
    let Some(dir) = scenario_dir() else { return };
    let input = std::fs::read_to_string(dir.join("healthy.log")).unwrap();
    for line in input.lines() {
        let Some(rec) = scenario_record(line) else {
            continue;
        };
        let got = classified(rec.clone());
        if rec.level == Some(Level::Info) && rec.format == Format::ZapJson {
            // Waiting on a dependency is logged at info and is not a failure of its own.
            assert!(
                !got.class.is_failure() || got.class == Class::DependencyNotReady,
                "{line}\n-> {}",
                got.class
            );
        }
        if got.class == Class::ErrorOther {
            panic!("unexplained error in healthy scenario: {line}");
        }
    }
}

#[test]
fn scenario_failures_are_all_explained() {
    let Some(dir) = scenario_dir() else { return };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "log") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let Some(rec) = scenario_record(line) else {
                continue;
            };
            let got = classified(rec);
            assert_ne!(got.class, Class::ErrorOther, "{}: {line}", path.display());
            *counts.entry(got.class.to_string()).or_default() += 1;
        }
    }
    eprintln!("scenario classes: {counts:?}");
}

#[test]
fn scenario_lines_carry_no_secrets() {
    let Some(dir) = scenario_dir() else { return };
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "log") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            assert!(
                matches!(redact(line), std::borrow::Cow::Borrowed(_)),
                "{line}"
            );
        }
    }
}

/// Throughput smoke check over real scenario lines (run with
/// `cargo test --release --test classify_rules -- --ignored --nocapture`).
#[test]
#[ignore]
fn classify_throughput() {
    let Some(dir) = scenario_dir() else { return };
    let mut recs = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "log") {
            let text = std::fs::read_to_string(&path).unwrap();
            recs.extend(text.lines().filter_map(scenario_record));
        }
    }
    let c = classifier();
    let rounds = 20;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        for r in recs.iter_mut() {
            c.classify(r);
        }
    }
    let per_sec = (recs.len() * rounds) as f64 / start.elapsed().as_secs_f64();
    let start = std::time::Instant::now();
    let mut changed = 0usize;
    for _ in 0..rounds {
        for r in &recs {
            changed += usize::from(matches!(redact(&r.msg), std::borrow::Cow::Owned(_)));
        }
    }
    let redact_per_sec = (recs.len() * rounds) as f64 / start.elapsed().as_secs_f64();
    eprintln!(
        "{} records: classify {:.2}M/s, redact {:.2}M/s ({changed} changed)",
        recs.len(),
        per_sec / 1e6,
        redact_per_sec / 1e6
    );
}
