//! `fluxsight central`'s installs: `deploy/central` (kustomize) and the chart with
//! `central.enabled`. A StatefulSet of ≥ 3 members with pod security, resources and
//! probes on the health port, started as `fluxsight central --config` with a central
//! file `fluxsight validate` accepts, its client id the pod name (downward API), its
//! spool on a per-member volume, a headless Service, a PodDisruptionBudget, and no
//! Kubernetes API access: no token mounted, no RBAC bound to its ServiceAccount.

use super::*;
use crate::helm::Chart;

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/fluxsight");

/// Every fluxsight container of every StatefulSet.
fn central_pods(objects: &[Value]) -> Vec<FluxsightPod<'_>> {
    fluxsight_pods_of(objects, "StatefulSet")
}

fn words(c: &Value, ptr: &str) -> Vec<String> {
    c.pointer(ptr)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn selects(selector: Option<&Value>, labels: &Value) -> bool {
    selector
        .and_then(Value::as_object)
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The central file of one member: passes `fluxsight validate`, names brokers, serves
/// the probes' port, keeps its spool on the member's own writable volume and drains
/// within the grace period.
fn check_central_file(objects: &[Value], fp: &FluxsightPod) -> Vec<String> {
    let c = fp.container;
    let ns = str_at(fp.workload, "/metadata/namespace");
    let mut argv = words(c, "/command");
    argv.extend(words(c, "/args"));
    let mut errs = Vec::new();
    if argv.get(1).map(String::as_str) != Some("central") {
        errs.push(format!("not started as `fluxsight central`: {argv:?}"));
    }
    let after = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1))
            .cloned()
    };
    // client.id = the pod's name, from the downward API.
    let env_pod_name = c
        .pointer("/env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| {
            str_at(e, "/name") == "POD_NAME"
                && str_at(e, "/valueFrom/fieldRef/fieldPath") == "metadata.name"
        });
    if after("--client-id").as_deref() != Some("$(POD_NAME)") || !env_pod_name {
        errs.push("--client-id must be $(POD_NAME), POD_NAME from metadata.name".into());
    }
    let Some(config) = after("--config") else {
        errs.push(format!("started without --config: {argv:?}"));
        return errs;
    };
    let Some((mount, key)) = mount_of(c, &config) else {
        errs.push(format!("{config} is not on a mounted volume"));
        return errs;
    };
    let cm_name = volume(fp.pod, str_at(mount, "/name"))
        .map(|v| str_at(v, "/configMap/name"))
        .unwrap_or("");
    let cm = objects.iter().find(|o| {
        str_at(o, "/kind") == "ConfigMap"
            && str_at(o, "/metadata/name") == cm_name
            && str_at(o, "/metadata/namespace") == ns
    });
    let Some((cm, text)) =
        cm.and_then(|cm| Some((cm, cm.pointer(&format!("/data/{key}"))?.as_str()?)))
    else {
        errs.push(format!(
            "ConfigMap {ns}/{cm_name} with key {key} is not in the build"
        ));
        return errs;
    };
    errs.extend(validate_pipeline(text, &format!("ConfigMap {cm_name}")));
    errs.extend(check_config_rollout(cm, fp, ConfigRollout::NewPod));
    let file = load_docs(text, "central").ok().and_then(|mut d| d.pop());
    let file = file.unwrap_or(Value::Null);
    if str_at(&file, "/central/brokers").is_empty() {
        errs.push("the central file names no central.brokers".into());
    }
    let health = str_at(&file, "/health_listen");
    match health_port(c) {
        Some(p) if health.ends_with(&format!(":{p}")) => {}
        p => errs.push(format!("health_listen '{health}', the probes target {p:?}")),
    }
    let templates: Vec<&str> = fp
        .workload
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| str_at(t, "/metadata/name"))
        .collect();
    let state = str_at(&file, "/delivery/state_dir");
    match mount_of(c, state) {
        Some((m, _)) if m.get("readOnly") != Some(&Value::Bool(true)) => {
            if !templates.contains(&str_at(m, "/name")) {
                errs.push(format!(
                    "state dir {state} is not on a volumeClaimTemplate (each member needs its own spool)"
                ));
            }
        }
        _ => errs.push(format!("state dir '{state}' is not on a writable volume")),
    }
    let (shutdown, grace) = shutdown_and_grace(&file, fp);
    if duration_secs(shutdown).is_none_or(|s| s >= grace) {
        errs.push(format!(
            "terminationGracePeriodSeconds {grace} leaves no time to leave the group after delivery.shutdown_timeout {shutdown}"
        ));
    }
    errs
}

/// Every check of a build that runs `central`.
pub fn check_central_build(objects: &[Value]) -> Vec<String> {
    let mut errs = Vec::new();
    let pods = central_pods(objects);
    if pods.is_empty() {
        errs.push("no StatefulSet runs a fluxsight container".into());
    }
    for fp in &pods {
        let w = fp.workload;
        let name = str_at(w, "/metadata/name");
        let ns = str_at(w, "/metadata/namespace");
        let labels = w
            .pointer("/spec/template/metadata/labels")
            .unwrap_or(&Value::Null);
        let mut found = check_container(fp.pod, fp.container);
        if w.pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            < 3
        {
            found.push("fewer than 3 replicas: one death leaves a single member".into());
        }
        let ports: Vec<i64> = fp
            .container
            .pointer("/ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("containerPort")?.as_i64())
            .collect();
        if ports != [health_port(fp.container).unwrap_or(-1)] {
            found.push(format!(
                "central serves only its health port (named {HEALTH_PORT_NAME}), exposes {ports:?}"
            ));
        }
        found.extend(check_central_file(objects, fp));
        // Headless Service named by serviceName.
        let svc_name = str_at(w, "/spec/serviceName");
        let headless = objects.iter().any(|s| {
            str_at(s, "/kind") == "Service"
                && str_at(s, "/metadata/name") == svc_name
                && str_at(s, "/metadata/namespace") == ns
                && str_at(s, "/spec/clusterIP") == "None"
                && selects(s.pointer("/spec/selector"), labels)
        });
        if !headless {
            found.push(format!(
                "no headless Service {svc_name} selects the members"
            ));
        }
        let replicas = w
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let pdb = objects.iter().any(|p| {
            str_at(p, "/kind") == "PodDisruptionBudget"
                && str_at(p, "/metadata/namespace") == ns
                && selects(p.pointer("/spec/selector/matchLabels"), labels)
                && (p.pointer("/spec/maxUnavailable").and_then(Value::as_i64) == Some(1)
                    || p.pointer("/spec/minAvailable")
                        .and_then(Value::as_i64)
                        .is_some_and(|m| m == replicas - 1))
        });
        if !pdb {
            found.push("no PodDisruptionBudget keeps all but one member up".into());
        }
        // No Kubernetes API: no token, nothing bound to its ServiceAccount.
        let sa = fp
            .pod
            .get("serviceAccountName")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let sa_obj = objects.iter().find(|o| {
            str_at(o, "/kind") == "ServiceAccount"
                && str_at(o, "/metadata/name") == sa
                && str_at(o, "/metadata/namespace") == ns
        });
        let no_token = |v: Option<&Value>| {
            v.and_then(|v| v.get("automountServiceAccountToken")) == Some(&Value::Bool(false))
        };
        if sa_obj.is_none() {
            found.push(format!("its ServiceAccount {sa} is not in the build"));
        }
        if !no_token(Some(fp.pod)) || !no_token(sa_obj) {
            found.push(format!(
                "automountServiceAccountToken must be false on the pod and on ServiceAccount {sa}"
            ));
        }
        for b in objects
            .iter()
            .filter(|o| matches!(str_at(o, "/kind"), "RoleBinding" | "ClusterRoleBinding"))
        {
            let binds = b
                .pointer("/subjects")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|s| {
                    str_at(s, "/kind") == "ServiceAccount"
                        && str_at(s, "/name") == sa
                        && str_at(s, "/namespace") == ns
                });
            if binds {
                found.push(format!(
                    "{} {} binds central's ServiceAccount: it needs no RBAC",
                    str_at(b, "/kind"),
                    str_at(b, "/metadata/name")
                ));
            }
        }
        errs.extend(
            found
                .into_iter()
                .map(|e| format!("StatefulSet {name}: {e}")),
        );
    }
    errs
}

fn deploy_central() -> Vec<Value> {
    kustomize::render(&Path::new(DEPLOY).join("central"))
        .unwrap()
        .objects
}

fn chart_central(values: &Value) -> (BTreeMap<String, String>, Vec<Value>) {
    let c = Chart::load(Path::new(CHART)).unwrap();
    let rendered = c.render(values, "fluxsight").unwrap();
    let objs = rendered
        .iter()
        .filter(|(f, _)| f.ends_with(".yaml"))
        .flat_map(|(f, text)| load_docs(text, f).unwrap())
        .collect();
    (rendered, objs)
}

const BROKERS: &str = "kafka-kafka-bootstrap.kafka.svc:9092";

#[test]
fn deploy_central_renders_a_statefulset_that_passes_and_needs_no_rbac() {
    let objs = deploy_central();
    let mut errs = check_central_build(&objs);
    errs.extend(check_kinds(&objs));
    let rbac: Vec<String> = objs
        .iter()
        .filter(|o| {
            matches!(
                str_at(o, "/kind"),
                "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
            )
        })
        .map(|o| format!("{} {}", str_at(o, "/kind"), str_at(o, "/metadata/name")))
        .collect();
    assert!(rbac.is_empty(), "deploy/central has RBAC: {rbac:?}");
    assert!(errs.is_empty(), "deploy/central:\n  {}", errs.join("\n  "));
    let sts = find(&objs, "StatefulSet", "fluxsight-central");
    assert_eq!(sts.pointer("/spec/replicas"), Some(&json!(3)));
    assert_eq!(
        str_at(sts, "/spec/template/spec/containers/0/image"),
        "ghcr.io/fluxsight/fluxsight:0.1.0"
    );
}

#[test]
fn chart_central_mode_renders_the_same_statefulset_and_file() {
    let values = json!({"central": {"enabled": true, "brokers": BROKERS}});
    let (rendered, objs) = chart_central(&values);
    let mut errs = check_central_build(&objs);
    errs.extend(check_kinds(&objs));
    errs.extend(check_rbac_rules(&objs));
    assert!(errs.is_empty(), "chart (central):\n  {}", errs.join("\n  "));
    // The standalone Deployment is still rendered and still passes.
    errs.extend(check_build(
        &objs,
        &dockerfile_entrypoint(),
        ConfigRollout::NewPod,
    ));
    assert!(
        errs.is_empty(),
        "chart (central + standalone):\n  {}",
        errs.join("\n  ")
    );
    // The checksum is that of the rendered ConfigMap.
    let sts = find(&objs, "StatefulSet", "fluxsight-central");
    use sha2::Digest;
    let want = sha2::Sha256::digest(rendered["central-configmap.yaml"].as_bytes());
    assert_eq!(
        str_at(sts, "/spec/template/metadata/annotations/checksum~1config"),
        want.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    // deploy/central and the chart's defaults agree: the file, the pod, the claims.
    let kust = deploy_central();
    let file = |objs: &[Value], cm: &str| -> Value {
        let cm = objs
            .iter()
            .find(|o| {
                str_at(o, "/kind") == "ConfigMap" && str_at(o, "/metadata/name").starts_with(cm)
            })
            .unwrap();
        load_docs(str_at(cm, "/data/central.yaml"), "central").unwrap()[0].clone()
    };
    assert_eq!(
        file(&objs, "fluxsight-central"),
        file(&kust, "fluxsight-central"),
        "chart and deploy/central central files differ"
    );
    let k = find(&kust, "StatefulSet", "fluxsight-central");
    for ptr in [
        "/spec/replicas",
        "/spec/serviceName",
        "/spec/podManagementPolicy",
        "/spec/selector",
        "/spec/template/spec/securityContext",
        "/spec/template/spec/automountServiceAccountToken",
        "/spec/template/spec/terminationGracePeriodSeconds",
        "/spec/template/spec/containers/0/command",
        "/spec/template/spec/containers/0/env",
        "/spec/template/spec/containers/0/ports",
        "/spec/template/spec/containers/0/livenessProbe",
        "/spec/template/spec/containers/0/readinessProbe",
        "/spec/template/spec/containers/0/resources",
        "/spec/template/spec/containers/0/securityContext",
        "/spec/template/spec/containers/0/volumeMounts",
        "/spec/volumeClaimTemplates",
    ] {
        assert_eq!(sts.pointer(ptr), k.pointer(ptr), "{ptr} differs");
    }
    for (kind, name) in [
        ("Service", "fluxsight-central"),
        ("PodDisruptionBudget", "fluxsight-central"),
    ] {
        assert_eq!(
            find(&objs, kind, name)["spec"],
            find(&kust, kind, name)["spec"]
        );
    }
    // Off by default; on without brokers it refuses to render.
    let (_, off) = chart_central(&json!({}));
    assert!(!off.iter().any(|o| str_at(o, "/kind") == "StatefulSet"));
    let c = Chart::load(Path::new(CHART)).unwrap();
    let err = c
        .render(&json!({"central": {"enabled": true}}), "fluxsight")
        .map(|_| ())
        .unwrap_err();
    assert!(err.contains("central.brokers"), "{err}");
}

#[test]
fn central_check_flags_rbac_a_token_a_single_member_and_no_spool_volume() {
    let mut objs = deploy_central();
    assert!(check_central_build(&objs).is_empty());
    for o in objs.iter_mut() {
        match str_at(o, "/kind") {
            "StatefulSet" => {
                o["spec"]["replicas"] = json!(1);
                o["spec"]["template"]["spec"]["automountServiceAccountToken"] = json!(true);
                o["spec"]["volumeClaimTemplates"] = json!([]);
            }
            "PodDisruptionBudget" => o["spec"]["maxUnavailable"] = json!(3),
            _ => {}
        }
    }
    objs.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "central-reader", "namespace": "fluxsight"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "fluxsight-central", "namespace": "fluxsight"}]
    }));
    let errs = check_central_build(&objs).join("\n");
    for want in [
        "fewer than 3 replicas",
        "automountServiceAccountToken must be false",
        "is not on a volumeClaimTemplate",
        "no PodDisruptionBudget",
        "RoleBinding central-reader binds central's ServiceAccount",
    ] {
        assert!(errs.contains(want), "missing `{want}` in:\n{errs}");
    }
}
