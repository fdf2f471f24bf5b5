//! Real message shapes of report-and-workload-rca.md §2.2, one per sub-class.

use super::*;
use crate::record::{Condition, ContainerInfo, PodInfo};

fn ev(reason: &str, msg: &str) -> Cause {
    event_cause(reason, msg).unwrap_or_else(|| panic!("no cause for {reason}: {msg}"))
}

fn is(c: &Cause, stage: Stage, sub: &str) {
    assert_eq!((c.stage, c.subclass), (stage, sub), "{c:?}");
}

#[test]
fn every_rule_compiles() {
    for r in RULES {
        Regex::new(r.regex).unwrap_or_else(|e| panic!("{}: {e}", r.regex));
    }
    assert_eq!(COMPILED.each.len(), RULES.len());
}

#[test]
fn create_refused() {
    let c = ev(
        "FailedCreate",
        r#"Error creating: pods "web-7d9f4c8b6-" is forbidden: exceeded quota: compute-quota, requested: limits.cpu=500m, used: limits.cpu=2, limited: limits.cpu=2"#,
    );
    is(&c, Stage::Create, "quota_exceeded");
    assert_eq!(c.param("quota"), Some("compute-quota"));
    assert_eq!(c.param("limited"), Some("limits.cpu=2"));
    let c = ev(
        "FailedCreate",
        r#"Error creating: pods "web-7d9f4c8b6-abcde" is forbidden: failed quota: mem-quota: must specify limits.memory for: web; requests.memory for: web"#,
    );
    is(&c, Stage::Create, "quota_requires_limits");
    assert_eq!(c.param("quota"), Some("mem-quota"));
    let c = ev(
        "FailedCreate",
        r#"Error creating: pods "web-x" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi"#,
    );
    is(&c, Stage::Create, "limit_range");
    assert_eq!(c.param("limit"), Some("1Gi"));
    let c = ev(
        "FailedCreate",
        r#"Error creating: pods "web-x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "web" must set securityContext.allowPrivilegeEscalation=false)"#,
    );
    is(&c, Stage::Create, "pod_security");
    assert_eq!(c.param("policy"), Some("restricted:latest"));
    let c = ev(
        "FailedCreate",
        r#"Error creating: admission webhook "validate.kyverno.svc-fail" denied the request: policy Pod/shop/web-x for resource violation: require-labels"#,
    );
    is(&c, Stage::Create, "admission_webhook");
    assert_eq!(c.param("webhook"), Some("validate.kyverno.svc-fail"));
    let c = ev(
        "FailedCreate",
        r#"Error creating: pods "web-x" is forbidden: ValidatingAdmissionPolicy 'no-latest' with binding 'no-latest-binding' denied request: image tag latest is not allowed"#,
    );
    is(&c, Stage::Create, "admission_policy");
    assert_eq!(c.param("policy"), Some("no-latest"));
    let c = ev(
        "FailedCreate",
        r#"Error creating: pods "db-0" is forbidden: error looking up service account shop/db: serviceaccount "db" not found"#,
    );
    is(&c, Stage::Create, "service_account_missing");
    assert_eq!(c.param("service_account"), Some("db"));
}

#[test]
fn unschedulable() {
    let c = ev("FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.");
    is(&c, Stage::Schedule, "insufficient_cpu");
    assert_eq!(c.param("nodes"), Some("3"));
    is(
        &ev(
            "FailedScheduling",
            "0/5 nodes are available: 5 Insufficient memory.",
        ),
        Stage::Schedule,
        "insufficient_memory",
    );
    is(
        &ev(
            "FailedScheduling",
            "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
        ),
        Stage::Schedule,
        "insufficient_resource",
    );
    is(
        &ev(
            "FailedScheduling",
            "0/2 nodes are available: 2 Too many pods.",
        ),
        Stage::Schedule,
        "too_many_pods",
    );
    let c = ev("FailedScheduling", "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.");
    is(&c, Stage::Schedule, "untolerated_taint");
    assert_eq!(
        c.param("taint"),
        Some("node-role.kubernetes.io/control-plane:")
    );
    let c = ev("FailedScheduling", "0/3 nodes are available: 3 node(s) had taint {dedicated: gpu}, that the pod didn't tolerate.");
    assert_eq!(c.param("taint"), Some("dedicated: gpu"));
    is(
        &ev(
            "FailedScheduling",
            "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector.",
        ),
        Stage::Schedule,
        "affinity_mismatch",
    );
    is(
        &ev(
            "FailedScheduling",
            "0/2 nodes are available: 2 node(s) were unschedulable.",
        ),
        Stage::Schedule,
        "nodes_cordoned",
    );
    let c = ev(
        "FailedScheduling",
        r#"0/3 nodes are available: persistentvolumeclaim "data-db-0" not found."#,
    );
    is(&c, Stage::Schedule, "unbound_pvc");
    assert_eq!(c.param("pvc"), Some("data-db-0"));
    is(&ev("FailedScheduling", "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."), Stage::Schedule, "unbound_pvc");
}

#[test]
fn volumes() {
    let c = ev(
        "ProvisioningFailed",
        r#"storageclass.storage.k8s.io "fast-ssd" not found"#,
    );
    is(&c, Stage::Volume, "storage_class_missing");
    assert_eq!(c.param("storage_class"), Some("fast-ssd"));
    let c = ev(
        "ProvisioningFailed",
        r#"failed to provision volume with StorageClass "gp3": rpc error: code = ResourceExhausted desc = quota exceeded"#,
    );
    is(&c, Stage::Volume, "provisioner_error");
    assert_eq!(c.param("storage_class"), Some("gp3"));
    is(
        &ev(
            "FailedAttachVolume",
            r#"Multi-Attach error for volume "pvc-0a1b" Volume is already exclusively attached to one node and can't be attached to another"#,
        ),
        Stage::Volume,
        "multi_attach",
    );
    is(
        &ev(
            "FailedAttachVolume",
            r#"AttachVolume.Attach failed for volume "pvc-0a1b" : rpc error: code = Internal desc = timeout"#,
        ),
        Stage::Volume,
        "attach_failed",
    );
    let c = ev(
        "FailedMount",
        r#"MountVolume.SetUp failed for volume "tls" : secret "web-tls" not found"#,
    );
    is(&c, Stage::Volume, "mount_secret_missing");
    assert_eq!(c.param("secret"), Some("web-tls"));
    assert_eq!(c.param("volume"), Some("tls"));
    is(
        &ev(
            "FailedMount",
            r#"MountVolume.SetUp failed for volume "cfg" : configmap "web-config" not found"#,
        ),
        Stage::Volume,
        "mount_configmap_missing",
    );
    is(&ev("FailedMount", "MountVolume.SetUp failed for volume \"logs\" : hostPath type check failed: /var/log/app is not a directory"), Stage::Volume, "mount_hostpath");
    is(&ev("FailedMount", "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data kube-api-access-x]: timed out waiting for the condition"), Stage::Volume, "mount_failed");
}

#[test]
fn image_pulls() {
    let c = ev(
        "Failed",
        r#"Failed to pull image "ghcr.io/acme/web:v1.4.3": rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/acme/web:v1.4.3": failed to resolve reference "ghcr.io/acme/web:v1.4.3": ghcr.io/acme/web:v1.4.3: not found"#,
    );
    is(&c, Stage::Image, "tag_or_image_not_found");
    assert_eq!(c.param("image"), Some("ghcr.io/acme/web:v1.4.3"));
    is(
        &ev(
            "Failed",
            r#"Failed to pull image "registry.example.com/app:1": rpc error: code = Unknown desc = Error response from daemon: manifest for registry.example.com/app:1 not found: manifest unknown: manifest unknown"#,
        ),
        Stage::Image,
        "tag_or_image_not_found",
    );
    is(
        &ev(
            "Failed",
            r#"Failed to pull image "acme/private:1": rpc error: code = Unknown desc = Error response from daemon: pull access denied for acme/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"#,
        ),
        Stage::Image,
        "registry_auth",
    );
    is(
        &ev(
            "Failed",
            r#"Failed to pull image "ghcr.io/acme/web:v1": rpc error: code = Unknown desc = failed to pull and unpack image "ghcr.io/acme/web:v1": failed to resolve reference "ghcr.io/acme/web:v1": failed to authorize: failed to fetch anonymous token: unexpected status: 403 Forbidden"#,
        ),
        Stage::Image,
        "registry_auth",
    );
    is(
        &ev(
            "Failed",
            r#"Failed to pull image "registry.corp:5000/web:1": rpc error: code = Unknown desc = failed to pull and unpack image "registry.corp:5000/web:1": failed to resolve reference "registry.corp:5000/web:1": failed to do request: Head "https://registry.corp:5000/v2/web/manifests/1": dial tcp 10.0.0.5:5000: i/o timeout"#,
        ),
        Stage::Image,
        "registry_unreachable",
    );
    let c = ev(
        "Failed",
        r#"Failed to pull image "acme/web:1": rpc error: code = Unknown desc = no matching manifest for linux/arm64/v8 in the manifest list entries"#,
    );
    is(&c, Stage::Image, "platform_mismatch");
    assert_eq!(c.param("platform"), Some("linux/arm64/v8"));
    is(
        &ev(
            "InspectFailed",
            r#"Failed to apply default image tag "ghcr.io/Acme/web:v1": couldn't parse image reference "ghcr.io/Acme/web:v1": invalid reference format: repository name must be lowercase"#,
        ),
        Stage::Image,
        "invalid_image_name",
    );
    is(
        &ev(
            "ErrImageNeverPull",
            r#"Container image "web:dev" is not present with pull policy of Never"#,
        ),
        Stage::Image,
        "never_pull_missing",
    );
    let generic = ev("Failed", "Error: ErrImagePull");
    is(&generic, Stage::Image, "pull_failed");
    assert!(!generic.specific);
    let backoff = ev(
        "BackOff",
        r#"Back-off pulling image "ghcr.io/acme/web:v1.4.3""#,
    );
    is(&backoff, Stage::Image, "pull_failed");
    assert_eq!(backoff.param("image"), Some("ghcr.io/acme/web:v1.4.3"));
}

#[test]
fn config_crash_node_probe_and_rollout() {
    let c = ev("Failed", r#"Error: configmap "web-config" not found"#);
    is(&c, Stage::Config, "configmap_missing");
    assert_eq!(c.param("configmap"), Some("web-config"));
    is(
        &ev("Failed", r#"Error: secret "db-credentials" not found"#),
        Stage::Config,
        "secret_missing",
    );
    is(
        &ev(
            "Failed",
            "Error: couldn't find key DB_HOST in ConfigMap shop/web-config",
        ),
        Stage::Config,
        "key_missing",
    );
    let c = ev("BackOff", "Back-off restarting failed container web in pod web-7d9f4c8b6-x2x7k_shop(5c1a9f1e-1111-2222-3333-444455556666)");
    is(&c, Stage::Crash, "crash_loop");
    assert_eq!(c.param("container"), Some("web"));
    is(
        &ev(
            "Failed",
            "Error: failed to create containerd task: exec: \"/app\": permission denied",
        ),
        Stage::Crash,
        "start_error",
    );
    let c = ev(
        "SystemOOM",
        "(combined from similar events): System OOM encountered, victim process: java, pid: 48213",
    );
    is(&c, Stage::Node, "system_oom");
    assert_eq!(c.param("process"), Some("java"));
    is(
        &ev(
            "OOMKilling",
            "Out of memory: Killed process 48213 (java) total-vm:5242880kB, anon-rss:4194304kB",
        ),
        Stage::Node,
        "system_oom",
    );
    is(
        &ev(
            "Evicted",
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi.",
        ),
        Stage::Node,
        "evicted",
    );
    let c = ev(
        "Unhealthy",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
    );
    is(&c, Stage::Probe, "readiness");
    assert_eq!(
        c.param("output"),
        Some("HTTP probe failed with statuscode: 503")
    );
    is(&ev("Unhealthy", "Liveness probe failed: Get \"http://10.0.0.9:8080/healthz\": context deadline exceeded"), Stage::Probe, "liveness");
    is(
        &ev(
            "ProgressDeadlineExceeded",
            r#"ReplicaSet "web-7d9f4c8b6" has timed out progressing."#,
        ),
        Stage::None,
        "progress_deadline_exceeded",
    );
}

#[test]
fn benign_reasons_are_no_cause() {
    for (r, m) in [
        ("Pulling", r#"Pulling image "ghcr.io/acme/web:v1.4.3""#),
        (
            "Pulled",
            r#"Successfully pulled image "ghcr.io/acme/web:v1.4.3" in 1.2s"#,
        ),
        ("Scheduled", "Successfully assigned shop/web-x to node-2"),
        (
            "WaitForFirstConsumer",
            "waiting for first consumer to be created before binding",
        ),
        ("Created", "Created container web"),
        ("Started", "Started container web"),
        ("SomethingNew", "anything"),
    ] {
        assert_eq!(event_cause(r, m), None, "{r}");
    }
}

fn container(name: &str) -> ContainerInfo {
    ContainerInfo {
        name: name.into(),
        image: Some("ghcr.io/acme/web:v1.4.3".into()),
        ..Default::default()
    }
}

#[test]
fn pod_status_causes() {
    let oom = PodInfo {
        containers: vec![ContainerInfo {
            waiting_reason: Some("CrashLoopBackOff".into()),
            last_terminated_reason: Some("OOMKilled".into()),
            last_terminated_exit_code: Some(137),
            restart_count: 4,
            memory_limit: Some("128Mi".into()),
            ..container("web")
        }],
        ..Default::default()
    };
    let c = &pod_causes(&oom)[0];
    is(c, Stage::Crash, "oom_killed");
    assert_eq!(c.param("limit"), Some("128Mi"));
    assert_eq!(c.param("exit_code"), Some("137"));
    let exit = PodInfo {
        containers: vec![ContainerInfo {
            waiting_reason: Some("CrashLoopBackOff".into()),
            last_terminated_reason: Some("Error".into()),
            last_terminated_exit_code: Some(2),
            restart_count: 4,
            ..container("web")
        }],
        ..Default::default()
    };
    let c = &pod_causes(&exit)[0];
    is(c, Stage::Crash, "exit_code");
    assert_eq!(c.param("exit_code"), Some("2"));
    let pull = PodInfo {
        containers: vec![ContainerInfo {
            waiting_reason: Some("ImagePullBackOff".into()),
            waiting_message: Some(r#"Back-off pulling image "ghcr.io/acme/web:v1.4.3""#.into()),
            ..container("web")
        }],
        ..Default::default()
    };
    let c = &pod_causes(&pull)[0];
    is(c, Stage::Image, "pull_failed");
    assert_eq!(c.param("image"), Some("ghcr.io/acme/web:v1.4.3"));
    let config = PodInfo {
        containers: vec![ContainerInfo {
            waiting_reason: Some("CreateContainerConfigError".into()),
            waiting_message: Some(r#"configmap "web-config" not found"#.into()),
            ..container("web")
        }],
        ..Default::default()
    };
    is(&pod_causes(&config)[0], Stage::Config, "configmap_missing");
    let pending = PodInfo {
        conditions: vec![Condition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            reason: "Unschedulable".into(),
            message: "0/3 nodes are available: 3 Insufficient memory.".into(),
            last_transition_ms: None,
        }],
        ..Default::default()
    };
    is(
        &pod_causes(&pending)[0],
        Stage::Schedule,
        "insufficient_memory",
    );
    let evicted = PodInfo {
        status_reason: Some("Evicted".into()),
        status_message: Some("The node was low on resource: ephemeral-storage. ".into()),
        ..Default::default()
    };
    let c = &pod_causes(&evicted)[0];
    is(c, Stage::Node, "evicted");
    assert_eq!(c.param("resource"), Some("ephemeral-storage"));
    assert!(pod_causes(&PodInfo::default()).is_empty());
}

#[test]
fn descriptions_name_the_parameters() {
    let c = ev(
        "Failed",
        r#"Failed to pull image "ghcr.io/acme/web:v1.4.3": rpc error: code = NotFound desc = failed to pull and unpack image "ghcr.io/acme/web:v1.4.3": failed to resolve reference "ghcr.io/acme/web:v1.4.3": ghcr.io/acme/web:v1.4.3: not found"#,
    );
    assert_eq!(describe(&c), "image ghcr.io/acme/web:v1.4.3 not found");
    let c = ev(
        "ProvisioningFailed",
        r#"storageclass.storage.k8s.io "fast-ssd" not found"#,
    );
    assert_eq!(describe(&c), "StorageClass fast-ssd not found");
}

#[test]
fn generic_subclasses_are_the_ones_only_generic_rules_give() {
    assert!(is_generic("pull_failed"));
    assert!(!is_generic("tag_or_image_not_found"));
    assert!(!is_generic("no_such_subclass"), "unknown is not generic");
}
