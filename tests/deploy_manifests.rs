//! Renders every install path and checks what issues 5 and 16 ask of the manifests:
//! every kustomization under `deploy/` (adding one adds a case) with the small renderer
//! in `deploy_manifests/kustomize.rs`, the Helm chart (defaults and `mode: sidecar`) with
//! `deploy_manifests/helm.rs`, and the FluxInstance patch applied to Flux's
//! notification-controller. Checked on each: read-only RBAC with exactly the allowed
//! resources, pod security, resources and probes of every fluxsight container (a sidecar
//! has no readinessProbe, and fluxsight unready or crash-looping leaves the host's
//! Services their endpoint), a NetworkPolicy, a Service, a pipeline ConfigMap that
//! `fluxsight validate` accepts and whose edits reach the pod (hash suffix, checksum, or
//! reload), and the monitoring's rules and dashboard against the registered metrics.
//! `fluxsight central`'s StatefulSet (deploy/central, the chart's `central.enabled`) has
//! its own checks in `deploy_manifests/central.rs`.
//!
//! The checks return their problems, and the tests feed them bad manifests, so a check
//! that stopped working would show.

#[path = "deploy_manifests/central.rs"]
mod central;
#[path = "deploy_manifests/chart_tests.rs"]
mod chart_tests;
#[path = "deploy_manifests/checks.rs"]
mod checks;
#[path = "deploy_manifests/helm.rs"]
mod helm;
#[path = "deploy_manifests/kustomize.rs"]
mod kustomize;
#[path = "deploy_manifests/monitoring.rs"]
mod monitoring;
#[path = "deploy_manifests/schema.rs"]
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value};

use checks::*;
use kustomize::{load_docs, load_kustomization, render, str_at, KustKind};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
const BIN: &str = env!("CARGO_BIN_EXE_fluxsight");
/// `delivery.shutdown_timeout` when the pipeline does not set it.
const DEFAULT_SHUTDOWN_TIMEOUT: &str = "20s";
/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECS: u64 = 30;

/// Directories under `deploy/` holding a `kustomization.yaml`, sorted.
fn kustomization_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if name == "kustomization.yaml" {
                out.push(dir.clone());
            } else {
                assert!(
                    !matches!(name.as_str(), "kustomization.yml" | "Kustomization"),
                    "{}: name it kustomization.yaml so the test renders it",
                    p.display()
                );
            }
        }
    }
    out.sort();
    out
}

/// The Dockerfile's ENTRYPOINT (exec form).
fn dockerfile_entrypoint() -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(DEPLOY).join("Dockerfile")).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("deploy/Dockerfile has an ENTRYPOINT");
    serde_json::from_str(line).expect("ENTRYPOINT in exec (JSON) form")
}

fn duration_secs(s: &str) -> Option<u64> {
    fluxsight::parse::time::parse_go_duration_ms(s).map(|ms| ms.div_ceil(1000))
}

static TMP_SEQ: AtomicUsize = AtomicUsize::new(0);

/// Runs `fluxsight validate` on pipeline text; the problem if it fails.
fn validate_pipeline(text: &str, what: &str) -> Option<String> {
    let n = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("deploy-pipeline-{}-{n}.yaml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN)
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    (!out.status.success()).then(|| {
        format!(
            "{what}: fluxsight validate failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// The container's volume mount holding `path`, with the path inside the volume.
fn mount_of<'a>(c: &'a Value, path: &str) -> Option<(&'a Value, String)> {
    c.pointer("/volumeMounts")?
        .as_array()?
        .iter()
        .find_map(|m| {
            let mp = str_at(m, "/mountPath").trim_end_matches('/');
            if path == mp {
                Some((m, str_at(m, "/subPath").to_string()))
            } else {
                let rest = path.strip_prefix(mp)?.strip_prefix('/')?;
                Some((m, rest.to_string()))
            }
        })
}

fn volume<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    pod.pointer("/volumes")?
        .as_array()?
        .iter()
        .find(|v| str_at(v, "/name") == name)
}

/// The pipeline the container is started with: its ConfigMap text passes
/// `fluxsight validate`, listens on 9797, serves its health port where the probes
/// look (`--health-listen` before the pipeline's `health_listen`), keeps state on a
/// writable volume, drains within the grace period, and any secret file it names is
/// mounted.
fn check_pipeline(
    objects: &[Value],
    fp: &FluxsightPod,
    entrypoint: &[String],
    rollout: ConfigRollout,
) -> Vec<String> {
    let c = fp.container;
    let ns = str_at(fp.workload, "/metadata/namespace");
    let words = |ptr: &str| -> Option<Vec<String>> {
        let a = c.pointer(ptr)?.as_array()?;
        Some(
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )
    };
    let mut argv = words("/command").unwrap_or_else(|| entrypoint.to_vec());
    argv.extend(words("/args").unwrap_or_default());
    let Some(config) = argv
        .iter()
        .position(|a| a == "--config")
        .and_then(|i| argv.get(i + 1))
    else {
        return vec![format!("fluxsight is started without --config: {argv:?}")];
    };
    let Some((mount, key)) = mount_of(c, config) else {
        return vec![format!("{config} is not on a mounted volume")];
    };
    let vol = volume(fp.pod, str_at(mount, "/name"));
    let Some(cm_name) = vol
        .map(|v| str_at(v, "/configMap/name"))
        .filter(|n| !n.is_empty())
    else {
        return vec![format!("{config} is not mounted from a ConfigMap")];
    };
    let key = vol
        .and_then(|v| v.pointer("/configMap/items")?.as_array())
        .and_then(|items| items.iter().find(|i| str_at(i, "/path") == key))
        .map(|i| str_at(i, "/key").to_string())
        .unwrap_or(key);
    let cm = objects.iter().find(|o| {
        str_at(o, "/kind") == "ConfigMap"
            && str_at(o, "/metadata/name") == cm_name
            && str_at(o, "/metadata/namespace") == ns
    });
    let text = cm.and_then(|cm| cm.pointer(&format!("/data/{key}"))?.as_str());
    let (Some(cm), Some(text)) = (cm, text) else {
        return vec![format!(
            "ConfigMap {ns}/{cm_name} with key {key} is not in the build"
        )];
    };
    let mut errs: Vec<String> = validate_pipeline(text, &format!("ConfigMap {cm_name}"))
        .into_iter()
        .collect();
    errs.extend(check_config_rollout(cm, fp, rollout));
    let Ok(mut docs) = load_docs(text, "pipeline") else {
        return errs;
    };
    let pipeline = docs.pop().unwrap_or(Value::Null);
    let listen = pipeline
        .get("listen")
        .and_then(Value::as_str)
        .unwrap_or("0.0.0.0:9797");
    if !listen.ends_with(&format!(":{FLUXSIGHT_PORT}")) {
        errs.push(format!(
            "pipeline listens on {listen}, the pod exposes {FLUXSIGHT_PORT}"
        ));
    }
    let flag = argv.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--health-listen=")
            .map(str::to_string)
            .or_else(|| (a == "--health-listen").then(|| argv.get(i + 1).cloned())?)
    });
    let health = flag
        .or_else(|| Some(pipeline.get("health_listen")?.as_str()?.to_string()))
        .unwrap_or_else(|| fluxsight::server::DEFAULT_HEALTH_LISTEN.to_string());
    match health_port(c) {
        Some(port) if health.ends_with(&format!(":{port}")) => {}
        port => errs.push(format!(
            "fluxsight serves its health port on '{health}', the probes target {port:?}"
        )),
    }
    match pipeline
        .pointer("/delivery/state_dir")
        .and_then(Value::as_str)
    {
        None => errs.push("pipeline has no delivery.state_dir (checkpoints, spools)".into()),
        Some(dir) => match mount_of(c, dir) {
            Some((m, _)) if m.get("readOnly") != Some(&Value::Bool(true)) => {
                let v = volume(fp.pod, str_at(m, "/name")).unwrap_or(&Value::Null);
                if v.get("emptyDir").is_none() && v.get("persistentVolumeClaim").is_none() {
                    errs.push(format!("state dir {dir} is neither an emptyDir nor a PVC"));
                }
            }
            _ => errs.push(format!("state dir {dir} is not on a writable volume")),
        },
    }
    let (shutdown, grace) = shutdown_and_grace(&pipeline, fp);
    if duration_secs(shutdown).is_none_or(|s| s > grace) {
        errs.push(format!(
            "terminationGracePeriodSeconds {grace} is shorter than delivery.shutdown_timeout {shutdown}"
        ));
    }
    if let Some(file) = pipeline
        .pointer("/receiver/hmac_secret/file")
        .and_then(Value::as_str)
    {
        if mount_of(c, file).is_none() {
            errs.push(format!("receiver.hmac_secret file {file} is not mounted"));
        }
    }
    errs
}

/// How a pipeline edit reaches the running fluxsight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConfigRollout {
    /// A new pod: the ConfigMap's name carries kustomize's hash of its data, or the pod
    /// template a `checksum/config` annotation (Helm), so an edit rolls the pod out and
    /// a bad one leaves the old pod running.
    NewPod,
    /// A stable name, read again by fluxsight when the mounted file changes: the sidecar
    /// installed by the chart or the FluxInstance patch, where the pod template belongs
    /// to Flux and a config edit must not restart notification-controller.
    Reload,
}

/// The pipeline ConfigMap's name or the pod's checksum changes with its data.
/// A pipeline file's `delivery.shutdown_timeout` and its pod's
/// `terminationGracePeriodSeconds`, with their defaults.
fn shutdown_and_grace<'a>(file: &'a Value, fp: &FluxsightPod) -> (&'a str, u64) {
    let shutdown = file
        .pointer("/delivery/shutdown_timeout")
        .and_then(Value::as_str)
        .unwrap_or(DEFAULT_SHUTDOWN_TIMEOUT);
    let grace = fp
        .pod
        .get("terminationGracePeriodSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_GRACE_SECS);
    (shutdown, grace)
}

fn check_config_rollout(cm: &Value, fp: &FluxsightPod, rollout: ConfigRollout) -> Vec<String> {
    let name = str_at(cm, "/metadata/name");
    let data = cm
        .get("data")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let hashed = name
        .rsplit_once('-')
        .is_some_and(|(base, h)| h == kustomize::config_map_hash(base, &data));
    let checksum = str_at(
        fp.workload,
        "/spec/template/metadata/annotations/checksum~1config",
    );
    let checksummed = checksum.len() == 64 && checksum.bytes().all(|b| b.is_ascii_hexdigit());
    match rollout {
        ConfigRollout::NewPod if !hashed && !checksummed => vec![format!(
            "ConfigMap {name} has no hash suffix and the pod template no checksum/config: an edit would not reach the pod"
        )],
        _ => Vec::new(),
    }
}

/// Every check of one build (kustomize, or the chart's output).
fn check_build(objects: &[Value], entrypoint: &[String], rollout: ConfigRollout) -> Vec<String> {
    let mut errs = check_rbac_rules(objects);
    errs.extend(check_kinds(objects));
    let pods = fluxsight_pods(objects);
    if pods.is_empty() {
        errs.push("no Deployment runs a fluxsight container".into());
    }
    for fp in &pods {
        let ns = str_at(fp.workload, "/metadata/namespace");
        let sa = fp
            .pod
            .get("serviceAccountName")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let labels = fp
            .workload
            .pointer("/spec/template/metadata/labels")
            .unwrap_or(&Value::Null);
        let name = str_at(fp.workload, "/metadata/name");
        let found = [
            check_container(fp.pod, fp.container),
            check_ports(fp.pod, fp.container),
            check_grants(objects, ns, sa),
            check_service(objects, ns, labels, fp.container),
            check_network_policy(objects, ns, labels),
            check_pipeline(objects, fp, entrypoint, rollout),
            check_never_degrades(objects, fp),
        ];
        errs.extend(
            found
                .into_iter()
                .flatten()
                .map(|e| format!("Deployment {name}: {e}")),
        );
    }
    errs
}

#[test]
fn every_kustomization_under_deploy_renders_and_passes() {
    let root = Path::new(DEPLOY);
    let entrypoint = dockerfile_entrypoint();
    let dirs = kustomization_dirs(root);
    let mut failures = Vec::new();
    let mut builds = 0;
    let mut components = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    // (kind, name) → rules, and every pipeline ConfigMap: the standalone and the
    // sidecar install must not drift apart.
    let mut roles: BTreeMap<(String, String), Vec<(String, Value)>> = BTreeMap::new();
    let mut pipelines: Vec<(String, Value)> = Vec::new();
    for dir in &dirs {
        let case = dir.strip_prefix(root).unwrap().display().to_string();
        let kind = match load_kustomization(dir) {
            Ok((k, _)) => k,
            Err(e) => {
                failures.push(format!("{case}: {e}"));
                continue;
            }
        };
        let rendered = match render(dir) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{case}: render: {e}"));
                continue;
            }
        };
        used.extend(rendered.components.iter().cloned());
        for o in &rendered.objects {
            let k = str_at(o, "/kind");
            if matches!(k, "Role" | "ClusterRole") && o.pointer(PART_OF_PTR).is_some() {
                let key = (k.to_string(), str_at(o, "/metadata/name").to_string());
                roles
                    .entry(key)
                    .or_default()
                    .push((case.clone(), o["rules"].clone()));
            }
            if k == "ConfigMap" && str_at(o, "/metadata/name").starts_with("fluxsight-pipeline") {
                for text in o["data"].as_object().into_iter().flat_map(|d| d.values()) {
                    let v = load_docs(text.as_str().unwrap_or(""), &case).unwrap_or_default();
                    pipelines.push((case.clone(), json!(v)));
                }
            }
        }
        let runs_pods = rendered
            .objects
            .iter()
            .any(|o| str_at(o, "/kind") == "Deployment");
        let runs_central = rendered
            .objects
            .iter()
            .any(|o| str_at(o, "/kind") == "StatefulSet");
        let errs = match kind {
            // `fluxsight central` (deploy/central): a StatefulSet, no receiver, no RBAC.
            KustKind::Kustomization if runs_central => {
                let mut e = central::check_central_build(&rendered.objects);
                e.extend(check_kinds(&rendered.objects));
                e
            }
            KustKind::Kustomization if runs_pods => {
                builds += 1;
                check_build(&rendered.objects, &entrypoint, ConfigRollout::NewPod)
            }
            // Add-ons to an install (monitoring, Flux event routing): checked by kind
            // here, by content in their own tests.
            KustKind::Kustomization => check_kinds(&rendered.objects),
            KustKind::Component => {
                components.push(dir.canonicalize().unwrap());
                let mut e = check_rbac_rules(&rendered.objects);
                e.extend(check_kinds(&rendered.objects));
                e
            }
        };
        failures.extend(errs.into_iter().map(|e| format!("{case}: {e}")));
        eprintln!("deploy case {case}: {} objects", rendered.objects.len());
    }
    for c in &components {
        if !used.contains(c) {
            failures.push(format!(
                "{}: no kustomization under deploy/ uses this component, so its patches are unchecked",
                c.display()
            ));
        }
    }
    for ((kind, name), seen) in &roles {
        if seen.windows(2).any(|w| w[0].1 != w[1].1) {
            let cases: Vec<&str> = seen.iter().map(|(c, _)| c.as_str()).collect();
            failures.push(format!("{kind} {name} differs between {cases:?}"));
        }
    }
    if pipelines.windows(2).any(|w| w[0].1 != w[1].1) {
        let cases: Vec<&str> = pipelines.iter().map(|(c, _)| c.as_str()).collect();
        failures.push(format!(
            "the fluxsight-pipeline ConfigMaps differ between {cases:?}"
        ));
    }
    assert!(
        builds >= 2 && !components.is_empty(),
        "expected the standalone base, the sidecar component and its example under deploy/, found {dirs:?}"
    );
    assert!(
        failures.is_empty(),
        "deploy/ problems:\n  {}",
        failures.join("\n  ")
    );
}

const TELEMETRY_RS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/telemetry.rs");
const INSTALL_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/install.md");

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| str_at(o, "/kind") == kind && str_at(o, "/metadata/name") == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not in the build"))
}

/// The port names of the fluxsight container of the one fluxsight pod in `objects`.
fn fluxsight_port_names(objects: &[Value]) -> Vec<String> {
    let pods = fluxsight_pods(objects);
    assert_eq!(pods.len(), 1);
    pods[0].container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| str_at(p, "/name").to_string())
        .collect()
}

#[test]
fn monitoring_rules_and_dashboard_use_registered_metrics_and_reach_both_installs() {
    let registered = monitoring::registered_metrics(&read(TELEMETRY_RS));
    assert!(
        registered.contains("fluxsight_sink_backlog"),
        "{registered:?}"
    );
    let anchors = monitoring::anchors(&read(INSTALL_MD));
    let root = Path::new(DEPLOY);
    let mon = render(&root.join("monitoring")).unwrap().objects;
    let errs = monitoring::check_rules(&mon, &registered, &anchors);
    assert!(errs.is_empty(), "PrometheusRule:\n  {}", errs.join("\n  "));

    let dash_cm = mon
        .iter()
        .find(|o| str_at(o, "/metadata/name").starts_with("fluxsight-dashboard-"))
        .expect("the dashboard ConfigMap, hash-suffixed");
    assert_eq!(str_at(dash_cm, "/metadata/labels/grafana_dashboard"), "1");
    let dash: Value = serde_json::from_str(str_at(dash_cm, "/data/fluxsight.json"))
        .expect("dashboard.json is JSON");
    let errs = monitoring::check_dashboard(&dash, &registered);
    assert!(errs.is_empty(), "dashboard:\n  {}", errs.join("\n  "));

    // The ServiceMonitor selects the `fluxsight` Service of both installs, on a port it
    // has; each PodMonitor's port is a port of its fluxsight container.
    let standalone = render(&root.join("base")).unwrap().objects;
    let sidecar = render(&root.join("examples/flux-system")).unwrap().objects;
    let sm = find(&mon, "ServiceMonitor", "fluxsight");
    for build in [&standalone, &sidecar] {
        let svc = find(build, "Service", "fluxsight");
        let sel = sm["spec"]["selector"]["matchLabels"].as_object().unwrap();
        assert!(sel
            .iter()
            .all(|(k, v)| svc["metadata"]["labels"].get(k) == Some(v)));
        let port = str_at(sm, "/spec/endpoints/0/port");
        assert!(svc["spec"]["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| str_at(p, "/name") == port));
    }
    let pm = load_docs(&read(root.join("monitoring/podmonitor.yaml")), "podmonitor").unwrap();
    for (name, build) in [("fluxsight", &standalone), ("fluxsight-sidecar", &sidecar)] {
        let port = str_at(
            find(&pm, "PodMonitor", name),
            "/spec/podMetricsEndpoints/0/port",
        );
        assert!(
            fluxsight_port_names(build).iter().any(|p| p == port),
            "PodMonitor {name}: port {port}"
        );
    }

    // The generic-hmac Provider posts to the fluxsight Service's receiver.
    let ev = render(&root.join("flux-events")).unwrap().objects;
    let provider = find(&ev, "Provider", "fluxsight");
    assert_eq!(str_at(provider, "/spec/type"), "generic-hmac");
    assert!(!str_at(provider, "/spec/secretRef/name").is_empty());
    assert!(str_at(provider, "/spec/address").starts_with(&format!(
        "http://fluxsight.flux-system.svc.cluster.local:{FLUXSIGHT_PORT}/events"
    )));
    assert_eq!(
        str_at(find(&ev, "Alert", "fluxsight"), "/spec/providerRef/name"),
        "fluxsight"
    );
}

#[test]
fn monitoring_checks_flag_unknown_metrics_and_missing_alerts() {
    let registered = monitoring::registered_metrics(r#"const A: &str = "fluxsight_sink_sent";"#);
    assert_eq!(
        monitoring::unknown_metrics(
            "rate(fluxsight_sink_sent_total[5m]) / rate(fluxsight_sink_gone_total[5m])",
            &registered
        ),
        ["fluxsight_sink_gone_total"]
    );
    let rule = yaml(
        r#"
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: x}
spec:
  groups:
    - name: g
      rules:
        - alert: FluxsightDown
          expr: fluxsight_up == 0
          for: soon
          labels: {severity: page}
          annotations: {summary: s, runbook_url: 'https://x/docs/install.md#nowhere'}
"#,
    );
    let anchors = monitoring::anchors("# Install\n### FluxsightDown\n");
    assert!(anchors.contains("fluxsightdown"));
    let errs = monitoring::check_rules(&rule, &registered, &anchors).join("\n");
    for want in [
        "`fluxsight_up` is not a metric",
        "labels.severity",
        "no description annotation",
        "names no section",
        "`for: soon`",
        "no alert FluxsightSpoolBacklog",
    ] {
        assert!(errs.contains(want), "missing `{want}` in:\n{errs}");
    }
    let dash = json!({"uid": "u", "title": "t", "panels": [{"title": "p", "targets": [{"expr": "fluxsight_nope"}]}]});
    let errs = monitoring::check_dashboard(&dash, &registered).join("\n");
    assert!(
        errs.contains("datasource variable") && errs.contains("`fluxsight_nope`"),
        "{errs}"
    );
}

#[test]
fn bootstrap_example_matches_the_rendered_example() {
    let root = Path::new(DEPLOY).join("examples");
    let shown = std::fs::read_to_string(root.join("flux-system-kustomization.yaml")).unwrap();
    let shown = &load_docs(&shown, "example").unwrap()[0];
    let (_, rendered) = load_kustomization(&root.join("flux-system")).unwrap();
    assert_eq!(shown["resources"], rendered["resources"]);
    assert_eq!(shown["components"], json!(["fluxsight"]));
    assert_eq!(rendered["components"], json!(["../../components/sidecar"]));
}

#[test]
fn dockerfile_builds_locked_and_runs_as_nonroot() {
    let text = std::fs::read_to_string(Path::new(DEPLOY).join("Dockerfile")).unwrap();
    let last_stage = text.rsplit("\nFROM ").next().unwrap();
    assert!(text.contains("cargo build --release --locked"));
    // Multi-arch: the builder cross-compiles on the build platform for TARGETARCH; zlib
    // is static (no libz.so needed on the base).
    assert!(text.contains("FROM --platform=$BUILDPLATFORM "));
    assert!(text.contains("ARG TARGETARCH"));
    assert!(text.contains("LIBZ_SYS_STATIC=1"));
    assert!(last_stage
        .lines()
        .any(|l| l.trim() == "USER 65532:65532" || l.trim() == "USER 65532"));
    assert!(
        !last_stage.contains("RUN "),
        "the final stage runs nothing (no shell)"
    );
    assert_eq!(
        dockerfile_entrypoint(),
        [
            "/fluxsight",
            "run",
            "--config",
            "/etc/fluxsight/pipeline.yaml"
        ]
    );
    let ignore =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.dockerignore")).unwrap();
    for needed in [
        "!Cargo.lock",
        "!src/",
        "!patterns/",
        "!docs/patterns/",
        "!benches/",
        "!testkit/",
        "!samples/demo/",
    ] {
        assert!(
            ignore.lines().any(|l| l.trim() == needed),
            ".dockerignore keeps {needed}"
        );
    }
}

// ---- the checks catch bad manifests ----------------------------------------------

fn yaml(text: &str) -> Vec<Value> {
    load_docs(text, "snippet").unwrap()
}

const BAD_ROLE: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: too-much}
rules:
  - apiGroups: ["*"]
    resources: [pods]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, create, delete]
  - nonResourceURLs: ["/metrics"]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: too-much}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: too-much}
subjects: [{kind: ServiceAccount, name: fluxsight, namespace: flux-system}]
"#;

#[test]
fn rbac_check_flags_wildcards_and_write_verbs() {
    let errs = check_rbac_rules(&yaml(BAD_ROLE));
    let joined = errs.join("\n");
    assert!(
        joined.contains("rules[0].apiGroups has a wildcard"),
        "{joined}"
    );
    assert!(joined.contains("grants verb `create`"), "{joined}");
    assert!(joined.contains("grants verb `delete`"), "{joined}");
    assert!(joined.contains("nonResourceURLs"), "{joined}");
}

#[test]
fn grants_check_flags_extra_and_missing_resources() {
    let errs = check_grants(&yaml(BAD_ROLE), "flux-system", "fluxsight").join("\n");
    assert!(errs.contains("may read `secrets`"), "{errs}");
    assert!(errs.contains("cannot read `kustomizations`"), "{errs}");
    assert!(
        errs.contains("cannot read `replicasets` in group `apps`"),
        "{errs}"
    );
    let unbound = check_grants(&[], "flux-system", "fluxsight");
    assert_eq!(unbound.len(), EXPECTED_GRANTS.len());
}

const WIDE_ROLE: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: wide}
rules:
  - apiGroups: [""]
    resources: [pods, pods/log]
    verbs: [get, list, watch]
  - apiGroups: [apps]
    resources: [deployments]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: wide}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: wide}
subjects: [{kind: ServiceAccount, name: fluxsight, namespace: flux-system}]
"#;

#[test]
fn grants_check_flags_logs_and_watches_granted_cluster_wide() {
    let errs = check_grants(&yaml(WIDE_ROLE), "flux-system", "fluxsight").join("\n");
    for want in [
        "may `get` `pods/log` in group `` cluster-wide",
        "may `watch` `pods` in group `` cluster-wide",
        "may `watch` `deployments` in group `apps` cluster-wide",
    ] {
        assert!(errs.contains(want), "{want} in {errs}");
    }
    assert!(!errs.contains("may `get` `deployments`"), "{errs}");
}

/// Every install grants what a workload lookup reads (the resources the code asks for,
/// not a copy of the list), get and list cluster-wide, and never Secrets.
#[test]
fn every_install_grants_the_lookups_and_no_secrets() {
    let mut builds: Vec<(String, Vec<Value>)> = Vec::new();
    for dir in ["base", "examples/flux-system"] {
        let r = render(&Path::new(DEPLOY).join(dir)).unwrap();
        builds.push((dir.to_string(), r.objects));
    }
    builds.extend(chart_tests::rendered_installs());
    for (case, objs) in &builds {
        let mut wide: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for o in objs {
            let kind = str_at(o, "/kind");
            if !matches!(kind, "Role" | "ClusterRole") {
                continue;
            }
            for r in o["rules"].as_array().into_iter().flatten() {
                let strs = |k: &str| -> Vec<String> {
                    r[k].as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                };
                let resources = strs("resources");
                assert!(
                    !resources.iter().any(|r| r.starts_with("secrets")),
                    "{case}: {kind} {} grants secrets",
                    str_at(o, "/metadata/name")
                );
                if kind == "ClusterRole" {
                    for g in strs("apiGroups") {
                        for res in &resources {
                            wide.entry((g.clone(), res.clone()))
                                .or_default()
                                .extend(strs("verbs"));
                        }
                    }
                }
            }
        }
        for r in fluxsight::sources::kube::lookup::READS {
            let verbs = wide
                .get(&(r.group.to_string(), r.plural.to_string()))
                .unwrap_or_else(|| panic!("{case}: no ClusterRole grants {}", r.plural));
            for v in ["get", "list"] {
                assert!(
                    verbs.iter().any(|x| x == v),
                    "{case}: {v} on {} ({verbs:?})",
                    r.plural
                );
            }
        }
        assert!(
            !wide.contains_key(&("".to_string(), "pods/log".to_string())),
            "{case}: pods/log cluster-wide"
        );
    }
}

const BAD_DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: notification-controller, namespace: flux-system}
spec:
  template:
    metadata: {labels: {app: notification-controller}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532}
      containers:
        - name: manager
          ports: [{containerPort: 9090}]
        - name: fluxsight
          image: ghcr.io/fluxsight/fluxsight:0.1.0
          ports: [{containerPort: 9090, name: http}]
          securityContext:
            allowPrivilegeEscalation: true
            capabilities: {drop: [NET_RAW], add: [NET_ADMIN]}
          resources: {requests: {cpu: 50m}}
          livenessProbe: {httpGet: {path: /, port: http}}
          readinessProbe: {httpGet: {path: /readyz, port: http}}
"#;

#[test]
fn container_check_flags_missing_security_resources_and_probes() {
    let objs = yaml(BAD_DEPLOYMENT);
    let pods = fluxsight_pods(&objs);
    assert_eq!(pods.len(), 1);
    let errs = check_container(pods[0].pod, pods[0].container).join("\n");
    for want in [
        "seccompProfile RuntimeDefault",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "capabilities.drop [ALL]",
        "adds capabilities",
        "resources.requests.memory",
        "resources.limits.memory",
        "livenessProbe must GET /healthz",
        "startupProbe must GET /healthz",
        "a sidecar must have no readinessProbe",
        "livenessProbe must target the health port",
    ] {
        assert!(errs.contains(want), "missing `{want}` in:\n{errs}");
    }
    assert!(
        !errs.contains("runAsNonRoot"),
        "pod-level runAsNonRoot counts: {errs}"
    );
    let ports = check_ports(pods[0].pod, pods[0].container).join("\n");
    assert!(ports.contains("9090 is a Flux controller port"), "{ports}");
    assert!(ports.contains("used by two containers"), "{ports}");
}

#[test]
fn never_degrades_check_flags_a_host_service_that_follows_fluxsight_readiness() {
    let mut objs = yaml(BAD_DEPLOYMENT);
    let fp_errs = |objs: &[Value]| check_never_degrades(objs, &fluxsight_pods(objs)[0]).join("\n");
    assert!(
        fp_errs(&objs).contains("no Service of the host controller"),
        "a build without the host's Service cannot pass"
    );
    objs.extend(yaml(
        r#"
apiVersion: v1
kind: Service
metadata: {name: notification-controller, namespace: flux-system}
spec:
  selector: {app: notification-controller}
  ports: [{port: 80, targetPort: 9292}]
"#,
    ));
    let errs = fp_errs(&objs);
    assert!(errs.contains("Service/flux-system/notification-controller loses its endpoint when fluxsight its /readyz fails"), "{errs}");
    assert!(errs.contains("when fluxsight it crash-loops"), "{errs}");
    // Without its readinessProbe, only the crash loop still takes the pod out.
    let c = objs[0]
        .pointer_mut("/spec/template/spec/containers/1")
        .unwrap();
    c.as_object_mut().unwrap().remove("readinessProbe");
    let errs = fp_errs(&objs);
    assert!(
        !errs.contains("/readyz fails") && errs.contains("crash-loops"),
        "{errs}"
    );
    objs[1]["spec"]["publishNotReadyAddresses"] = json!(true);
    assert_eq!(fp_errs(&objs), "");
}

#[test]
fn config_map_hash_matches_kustomize() {
    // Vectors of kustomize's api/hasher tests (a ConfigMap without a name).
    let data = |pairs: &[(&str, &str)]| -> serde_json::Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect()
    };
    assert_eq!(kustomize::config_map_hash("", &data(&[])), "42745tchd9");
    assert_eq!(
        kustomize::config_map_hash("", &data(&[("one", "")])),
        "9g67k2htb6"
    );
    assert_eq!(
        kustomize::config_map_hash("", &data(&[("two", "2"), ("one", ""), ("three", "3")])),
        "f5h7t85m9b"
    );
}

#[test]
fn build_check_flags_open_network_policy_missing_service_and_bad_pipeline() {
    let mut objs = yaml(BAD_DEPLOYMENT);
    objs.extend(yaml(
        r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: open, namespace: flux-system}
spec:
  podSelector: {matchLabels: {app: notification-controller}}
  policyTypes: [Ingress, Egress]
  ingress:
    - ports: [{port: 9797}]
    - from: [{namespaceSelector: {}}]
  egress:
    - ports: [{port: 443}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: flux-system, labels: {app.kubernetes.io/part-of: fluxsight}}
"#,
    ));
    let labels = json!({"app": "notification-controller"});
    let np = check_network_policy(&objs, "flux-system", &labels).join("\n");
    assert!(np.contains("admits 9797 from anywhere"), "{np}");
    assert!(np.contains("ingress[1] admits every port"), "{np}");
    assert!(np.contains("egress does not allow port 53"), "{np}");
    let c = fluxsight_pods(&objs)[0].container.clone();
    assert_eq!(check_service(&objs, "flux-system", &labels, &c).len(), 1);
    assert_eq!(
        check_kinds(&objs).len(),
        1,
        "a Secret is not fluxsight's to ship"
    );

    // A pipeline that `fluxsight validate` refuses, a grace period shorter than the
    // drain, and a state dir that is not mounted.
    let mut objs = yaml(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: fluxsight, namespace: flux-system}
spec:
  template:
    spec:
      terminationGracePeriodSeconds: 5
      containers:
        - name: fluxsight
          volumeMounts: [{name: config, mountPath: /etc/fluxsight}]
      volumes: [{name: config, configMap: {name: fluxsight-pipeline}}]
"#,
    );
    objs.push(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "fluxsight-pipeline", "namespace": "flux-system"},
        "data": {"pipeline.yaml": "cluster: x\nbogus_field: 1\ndelivery:\n  state_dir: /var/lib/fluxsight\n"},
    }));
    let fp = &fluxsight_pods(&objs)[0];
    let errs =
        check_pipeline(&objs, fp, &dockerfile_entrypoint(), ConfigRollout::NewPod).join("\n");
    assert!(errs.contains("fluxsight validate failed"), "{errs}");
    assert!(errs.contains("bogus_field"), "{errs}");
    assert!(errs.contains("terminationGracePeriodSeconds 5"), "{errs}");
    assert!(errs.contains("not on a writable volume"), "{errs}");
    assert!(errs.contains("no hash suffix"), "{errs}");
}

#[test]
fn renderer_merges_containers_by_name_and_rejects_what_it_does_not_know() {
    let mut base = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "manager", "image": "a", "args": ["--x"]}],
        "volumes": [{"name": "temp", "emptyDir": {}}],
        "terminationGracePeriodSeconds": 10,
    }}}});
    let patch = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "fluxsight", "image": "b"}, {"name": "manager", "args": null}],
        "volumes": [{"name": "state", "emptyDir": {}}],
        "terminationGracePeriodSeconds": 30,
    }}}});
    kustomize::strategic_merge(&mut base, &patch, "").unwrap();
    let spec = &base["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0],
        json!({"name": "manager", "image": "a"})
    );
    assert_eq!(spec["containers"][1]["name"], "fluxsight");
    assert_eq!(spec["volumes"].as_array().unwrap().len(), 2);
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert!(kustomize::strategic_merge(&mut base, &json!({"$patch": "delete"}), "").is_err());
    assert_eq!(
        kustomize::image_name("ghcr.io/a/fluxsight:0.1.0"),
        "ghcr.io/a/fluxsight"
    );
    assert_eq!(
        kustomize::image_name("localhost:5000/fluxsight"),
        "localhost:5000/fluxsight"
    );

    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kust-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |k: &str| std::fs::write(dir.join("kustomization.yaml"), k).unwrap();
    write(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncommonLabels: {a: b}\n",
    );
    assert!(render(&dir)
        .unwrap_err()
        .contains("`commonLabels` is not supported"));
    write(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         patches:\n  - patch: '[{\"op\": \"remove\", \"path\": \"/spec\"}]'\n    target: {kind: Deployment}\n",
    );
    assert!(render(&dir).unwrap_err().contains("JSON 6902"));
    write(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
         configMapGenerator:\n  - name: x\n    literals: [a=b]\n    options: {immutable: true}\n",
    );
    assert!(render(&dir).unwrap_err().contains("option `immutable`"));
    std::fs::remove_dir_all(&dir).unwrap();
}
