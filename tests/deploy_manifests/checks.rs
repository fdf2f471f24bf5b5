//! What a rendered `deploy/` build must satisfy. Each check returns the problems it
//! found (empty = fine), so the negative tests can show that a bad manifest is caught.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::kustomize::{image_name, str_at};

/// The only verbs fluxsight's roles may grant.
pub const READ_VERBS: &[&str] = &["get", "list", "watch"];

/// One resource fluxsight may read.
pub struct Grant {
    pub group: &'static str,
    pub resource: &'static str,
    /// Verbs the ServiceAccount must have on it (anywhere).
    pub needs: &'static [&'static str],
    /// Verbs a ClusterRoleBinding may grant on it (cluster-wide); the rest only in
    /// fluxsight's namespace (a Role).
    pub cluster_wide: &'static [&'static str],
}

const fn all(group: &'static str, resource: &'static str) -> Grant {
    Grant {
        group,
        resource,
        needs: READ_VERBS,
        cluster_wide: READ_VERBS,
    }
}

/// get/list: what a workload lookup asks (sources::kube::lookup::READS).
const LOOKUP_VERBS: &[&str] = &["get", "list"];

const fn lookup(group: &'static str, resource: &'static str) -> Grant {
    Grant {
        group,
        resource,
        needs: LOOKUP_VERBS,
        cluster_wide: LOOKUP_VERBS,
    }
}

/// Exactly what fluxsight may read, and where.
pub const EXPECTED_GRANTS: &[Grant] = &[
    // Watched in flux-system (the controllers), read anywhere by workload lookups.
    Grant {
        group: "",
        resource: "pods",
        needs: READ_VERBS,
        cluster_wide: LOOKUP_VERBS,
    },
    // The controllers' logs only: an application's output may carry its secrets.
    Grant {
        group: "",
        resource: "pods/log",
        needs: &["get"],
        cluster_wide: &[],
    },
    all("", "events"),
    all("events.k8s.io", "events"),
    all("source.toolkit.fluxcd.io", "gitrepositories"),
    all("source.toolkit.fluxcd.io", "ocirepositories"),
    all("source.toolkit.fluxcd.io", "helmrepositories"),
    all("source.toolkit.fluxcd.io", "helmcharts"),
    all("source.toolkit.fluxcd.io", "buckets"),
    all("kustomize.toolkit.fluxcd.io", "kustomizations"),
    all("helm.toolkit.fluxcd.io", "helmreleases"),
    all("image.toolkit.fluxcd.io", "imagerepositories"),
    all("image.toolkit.fluxcd.io", "imagepolicies"),
    all("image.toolkit.fluxcd.io", "imageupdateautomations"),
    all("notification.toolkit.fluxcd.io", "alerts"),
    all("notification.toolkit.fluxcd.io", "providers"),
    all("notification.toolkit.fluxcd.io", "receivers"),
    lookup("apps", "deployments"),
    lookup("apps", "replicasets"),
    lookup("apps", "statefulsets"),
    lookup("apps", "daemonsets"),
    lookup("batch", "jobs"),
    lookup("batch", "cronjobs"),
    lookup("", "persistentvolumeclaims"),
];

/// fluxsight's listen port (receiver, also metrics and probes).
pub const FLUXSIGHT_PORT: i64 = 9797;
/// Name of fluxsight's health port (`health_listen`), which the probes must target: on
/// the receiver's port, its clients could starve them.
pub const HEALTH_PORT_NAME: &str = "healthz";
/// Ports of the Flux controllers a sidecar must not take.
pub const CONTROLLER_PORTS: &[i64] = &[8080, 9440, 9090, 9292];
/// Kinds fluxsight's own objects (label `app.kubernetes.io/part-of: fluxsight`) may have.
pub const FLUXSIGHT_KINDS: &[&str] = &[
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Service",
    "NetworkPolicy",
    "Deployment",
    "StatefulSet",
    "PodDisruptionBudget",
    "ServiceMonitor",
    "PodMonitor",
    "PrometheusRule",
    "Provider",
    "Alert",
];
/// Where fluxsight's objects are labelled.
pub const PART_OF_PTR: &str = "/metadata/labels/app.kubernetes.io~1part-of";

fn list<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn strs<'a>(v: &'a Value, ptr: &str) -> Vec<&'a str> {
    list(v, ptr).iter().filter_map(Value::as_str).collect()
}

fn id(o: &Value) -> String {
    let ns = str_at(o, "/metadata/namespace");
    let name = str_at(o, "/metadata/name");
    if ns.is_empty() {
        format!("{}/{name}", str_at(o, "/kind"))
    } else {
        format!("{}/{ns}/{name}", str_at(o, "/kind"))
    }
}

/// Every Role and ClusterRole: no wildcard, no verb beyond get/list/watch, no
/// non-resource URLs, no aggregation.
pub fn check_rbac_rules(objects: &[Value]) -> Vec<String> {
    let mut errs = Vec::new();
    for o in objects {
        if !matches!(str_at(o, "/kind"), "Role" | "ClusterRole") {
            continue;
        }
        if o.get("aggregationRule").is_some() {
            errs.push(format!(
                "{}: aggregationRule grants whatever is aggregated",
                id(o)
            ));
        }
        for (i, r) in list(o, "/rules").iter().enumerate() {
            for field in ["apiGroups", "resources", "verbs", "resourceNames"] {
                if strs(r, &format!("/{field}"))
                    .iter()
                    .any(|s| s.contains('*'))
                {
                    errs.push(format!("{}: rules[{i}].{field} has a wildcard", id(o)));
                }
            }
            if r.get("nonResourceURLs").is_some() {
                errs.push(format!("{}: rules[{i}] grants nonResourceURLs", id(o)));
            }
            for v in strs(r, "/verbs") {
                if !READ_VERBS.contains(&v) {
                    errs.push(format!("{}: rules[{i}] grants verb `{v}`", id(o)));
                }
            }
        }
    }
    errs
}

/// What the ServiceAccount `ns/sa` is granted by the bindings in `objects`: exactly
/// [`EXPECTED_GRANTS`], each with the verbs it needs, and cluster-wide (a
/// ClusterRoleBinding) no verb beyond its `cluster_wide` ones.
pub fn check_grants(objects: &[Value], ns: &str, sa: &str) -> Vec<String> {
    let mut errs = Vec::new();
    type Granted = BTreeMap<(String, String), BTreeSet<String>>;
    let mut granted: Granted = BTreeMap::new();
    let mut cluster: Granted = BTreeMap::new();
    for b in objects {
        let kind = str_at(b, "/kind");
        if !matches!(kind, "RoleBinding" | "ClusterRoleBinding") {
            continue;
        }
        let binds_sa = list(b, "/subjects").iter().any(|s| {
            str_at(s, "/kind") == "ServiceAccount"
                && str_at(s, "/name") == sa
                && str_at(s, "/namespace") == ns
        });
        if !binds_sa {
            continue;
        }
        if kind == "RoleBinding" && str_at(b, "/metadata/namespace") != ns {
            errs.push(format!("{}: binds {ns}/{sa} outside its namespace", id(b)));
        }
        let (ref_kind, ref_name) = (str_at(b, "/roleRef/kind"), str_at(b, "/roleRef/name"));
        let role = objects.iter().find(|r| {
            str_at(r, "/kind") == ref_kind
                && str_at(r, "/metadata/name") == ref_name
                && (ref_kind == "ClusterRole"
                    || str_at(r, "/metadata/namespace") == str_at(b, "/metadata/namespace"))
        });
        let Some(role) = role else {
            errs.push(format!(
                "{}: roleRef {ref_kind}/{ref_name} is not in the build",
                id(b)
            ));
            continue;
        };
        for r in list(role, "/rules") {
            for g in strs(r, "/apiGroups") {
                for res in strs(r, "/resources") {
                    let key = (g.to_string(), res.to_string());
                    let verbs = strs(r, "/verbs").into_iter().map(str::to_string);
                    if kind == "ClusterRoleBinding" {
                        cluster
                            .entry(key.clone())
                            .or_default()
                            .extend(verbs.clone());
                    }
                    granted.entry(key).or_default().extend(verbs);
                }
            }
        }
    }
    let expected = |g: &str, r: &str| {
        EXPECTED_GRANTS
            .iter()
            .find(|e| e.group == g && e.resource == r)
    };
    for (g, r) in granted.keys() {
        if expected(g, r).is_none() {
            errs.push(format!(
                "{ns}/{sa} may read `{r}` in group `{g}`: not in the allowed list"
            ));
        }
    }
    for ((g, r), verbs) in &cluster {
        let Some(e) = expected(g, r) else { continue };
        for v in verbs {
            if !e.cluster_wide.contains(&v.as_str()) {
                errs.push(format!(
                    "{ns}/{sa} may `{v}` `{r}` in group `{g}` cluster-wide: only in its namespace"
                ));
            }
        }
    }
    for e in EXPECTED_GRANTS {
        let (g, r) = (e.group, e.resource);
        match granted.get(&(g.to_string(), r.to_string())) {
            None => errs.push(format!("{ns}/{sa} cannot read `{r}` in group `{g}`")),
            Some(v) => {
                for n in e.needs {
                    if !v.contains(*n) {
                        errs.push(format!("{ns}/{sa} lacks `{n}` on `{r}` in group `{g}`"));
                    }
                }
            }
        }
    }
    errs
}

/// A fluxsight container found in a workload.
pub struct FluxsightPod<'a> {
    pub workload: &'a Value,
    pub pod: &'a Value,
    pub container: &'a Value,
}

/// Is this container fluxsight (by name or image)?
pub fn is_fluxsight(c: &Value) -> bool {
    str_at(c, "/name") == "fluxsight" || image_name(str_at(c, "/image")).ends_with("/fluxsight")
}

/// Every fluxsight container (init containers too) of every Deployment.
pub fn fluxsight_pods(objects: &[Value]) -> Vec<FluxsightPod<'_>> {
    fluxsight_pods_of(objects, "Deployment")
}

/// Every fluxsight container (init containers too) of every workload of `kind`.
pub fn fluxsight_pods_of<'a>(objects: &'a [Value], kind: &str) -> Vec<FluxsightPod<'a>> {
    let mut out = Vec::new();
    for w in objects.iter().filter(|o| str_at(o, "/kind") == kind) {
        let Some(pod) = w.pointer("/spec/template/spec") else {
            continue;
        };
        for c in list(pod, "/containers")
            .iter()
            .chain(list(pod, "/initContainers"))
        {
            if is_fluxsight(c) {
                out.push(FluxsightPod {
                    workload: w,
                    pod,
                    container: c,
                });
            }
        }
    }
    out
}

/// A security setting from the container, else from the pod.
fn effective<'a>(pod: &'a Value, c: &'a Value, ptr: &str) -> Option<&'a Value> {
    c.pointer(&format!("/securityContext{ptr}"))
        .or_else(|| pod.pointer(&format!("/securityContext{ptr}")))
}

/// Pod security of one fluxsight container, its resources and probes.
pub fn check_container(pod: &Value, c: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let who = format!("container {}", str_at(c, "/name"));
    let t = Value::Bool(true);
    let f = Value::Bool(false);
    let must = [
        ("/runAsNonRoot", Some(&t), "runAsNonRoot: true"),
        ("/runAsUser", Some(&Value::from(65532)), "runAsUser: 65532"),
        (
            "/seccompProfile/type",
            Some(&Value::from("RuntimeDefault")),
            "seccompProfile RuntimeDefault",
        ),
    ];
    for (ptr, want, what) in must {
        if effective(pod, c, ptr) != want {
            errs.push(format!("{who}: needs {what} (container or pod)"));
        }
    }
    let container_only = [
        (
            "/readOnlyRootFilesystem",
            &t,
            "readOnlyRootFilesystem: true",
        ),
        (
            "/allowPrivilegeEscalation",
            &f,
            "allowPrivilegeEscalation: false",
        ),
    ];
    for (ptr, want, what) in container_only {
        if c.pointer(&format!("/securityContext{ptr}")) != Some(want) {
            errs.push(format!("{who}: needs {what}"));
        }
    }
    if c.pointer("/securityContext/privileged") == Some(&t) {
        errs.push(format!("{who}: privileged"));
    }
    if strs(c, "/securityContext/capabilities/drop") != ["ALL"] {
        errs.push(format!("{who}: needs capabilities.drop [ALL]"));
    }
    if !list(c, "/securityContext/capabilities/add").is_empty() {
        errs.push(format!("{who}: adds capabilities"));
    }
    for ptr in [
        "/resources/requests/cpu",
        "/resources/requests/memory",
        "/resources/limits/memory",
    ] {
        if c.pointer(ptr).is_none() {
            errs.push(format!("{who}: needs {}", &ptr[1..].replace('/', ".")));
        }
    }
    let health = health_port(c);
    // A sidecar's readiness is its pod's: a readinessProbe there would take the host
    // controller out of its Services whenever fluxsight is not ready. It gets a
    // startupProbe instead (liveness waits for it, readiness is "running").
    let probes: &[(&str, &str)] = if is_sidecar(pod) {
        if c.get("readinessProbe").is_some() {
            errs.push(format!(
                "{who}: a sidecar must have no readinessProbe (it would make the host controller's pod unready)"
            ));
        }
        &[("livenessProbe", "/healthz"), ("startupProbe", "/healthz")]
    } else {
        &[("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")]
    };
    for &(probe, path) in probes {
        if str_at(c, &format!("/{probe}/httpGet/path")) != path {
            errs.push(format!("{who}: {probe} must GET {path}"));
        }
        let port = c.pointer(&format!("/{probe}/httpGet/port"));
        let target = port.and_then(|p| resolve_port(c, p));
        if health.is_none() || target != health || target == Some(FLUXSIGHT_PORT) {
            errs.push(format!(
                "{who}: {probe} must target the health port (named {HEALTH_PORT_NAME}), not {target:?}"
            ));
        }
    }
    errs
}

/// Does the pod run another container besides fluxsight (a host controller)?
pub fn is_sidecar(pod: &Value) -> bool {
    list(pod, "/containers")
        .iter()
        .chain(list(pod, "/initContainers"))
        .any(|c| !is_fluxsight(c))
}

/// A sidecar never takes its host controller out of the host's Services. Kubernetes'
/// rules, modelled: a pod is Ready only when every container (and native sidecar) is; a
/// container with a readinessProbe is ready when it passes, one without when it runs; a
/// Service publishes an endpoint of a pod that is not Ready only with
/// `publishNotReadyAddresses`. Two failures of fluxsight are played: it runs but its
/// `/readyz` fails (sources not synced, API server away), and it crash-loops (not
/// running, so not ready whatever its probes). Each of the host's Services (those that
/// select the pod and forward to none of fluxsight's ports) must keep its endpoint.
pub fn check_never_degrades(objects: &[Value], fp: &FluxsightPod) -> Vec<String> {
    if !is_sidecar(fp.pod) {
        return Vec::new();
    }
    let ns = str_at(fp.workload, "/metadata/namespace");
    let labels = fp
        .workload
        .pointer("/spec/template/metadata/labels")
        .unwrap_or(&Value::Null);
    let own_ports: Vec<i64> = list(fp.container, "/ports")
        .iter()
        .filter_map(|p| p.get("containerPort")?.as_i64())
        .collect();
    let host_services: Vec<&Value> = objects
        .iter()
        .filter(|s| {
            str_at(s, "/kind") == "Service"
                && str_at(s, "/metadata/namespace") == ns
                && labels_match(s.pointer("/spec/selector").unwrap_or(&Value::Null), labels)
                && !list(s, "/spec/ports").iter().any(|p| {
                    let t = p.get("targetPort").or_else(|| p.get("port"));
                    t.and_then(|t| resolve_port(fp.container, t))
                        .is_some_and(|n| own_ports.contains(&n))
                })
        })
        .collect();
    if host_services.is_empty() {
        return vec![
            "no Service of the host controller is in the build, so its endpoints cannot be checked"
                .into(),
        ];
    }
    let scenarios = [
        (
            "its /readyz fails",
            fp.container.get("readinessProbe").is_none(),
        ),
        ("it crash-loops", false),
    ];
    let mut errs = Vec::new();
    for (what, fluxsight_ready) in scenarios {
        if fluxsight_ready {
            continue;
        }
        for s in &host_services {
            if s.pointer("/spec/publishNotReadyAddresses") != Some(&Value::Bool(true)) {
                errs.push(format!(
                    "{} loses its endpoint when fluxsight {what} (pod unready, no publishNotReadyAddresses)",
                    id(s)
                ));
            }
        }
    }
    errs
}

/// The container's port named [`HEALTH_PORT_NAME`].
pub fn health_port(c: &Value) -> Option<i64> {
    resolve_port(c, &Value::from(HEALTH_PORT_NAME))
}

/// A port number or a named port of `c`, as a number.
pub fn resolve_port(c: &Value, port: &Value) -> Option<i64> {
    match port {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => list(c, "/ports")
            .iter()
            .find(|p| str_at(p, "/name") == name)
            .and_then(|p| p.get("containerPort")?.as_i64()),
        _ => None,
    }
}

/// fluxsight exposes 9797 and its health port, a sidecar takes no Flux controller
/// port, and no two containers of the pod share a port.
pub fn check_ports(pod: &Value, c: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let own: Vec<i64> = list(c, "/ports")
        .iter()
        .filter_map(|p| p.get("containerPort")?.as_i64())
        .collect();
    let expected: Vec<i64> = [Some(FLUXSIGHT_PORT), health_port(c)]
        .into_iter()
        .flatten()
        .collect();
    if own != expected || expected.len() != 2 {
        errs.push(format!(
            "fluxsight must expose exactly port {FLUXSIGHT_PORT} and a health port named {HEALTH_PORT_NAME}, has {own:?}"
        ));
    }
    let sidecar = list(pod, "/containers").len() > 1;
    for p in own.iter().filter(|_| sidecar) {
        if CONTROLLER_PORTS.contains(p) {
            errs.push(format!("fluxsight port {p} is a Flux controller port"));
        }
    }
    let mut seen = BTreeSet::new();
    for other in list(pod, "/containers") {
        for p in list(other, "/ports")
            .iter()
            .filter_map(|p| p.get("containerPort")?.as_i64())
        {
            if !seen.insert(p) {
                errs.push(format!("port {p} is used by two containers of the pod"));
            }
        }
    }
    errs
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    let Some(sel) = selector.as_object() else {
        return false;
    };
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A Service in the pod's namespace selects it and forwards to 9797.
pub fn check_service(objects: &[Value], ns: &str, labels: &Value, c: &Value) -> Vec<String> {
    let ok = objects.iter().any(|s| {
        str_at(s, "/kind") == "Service"
            && str_at(s, "/metadata/namespace") == ns
            && labels_match(s.pointer("/spec/selector").unwrap_or(&Value::Null), labels)
            && list(s, "/spec/ports").iter().any(|p| {
                let target = p.get("targetPort").or_else(|| p.get("port"));
                target.and_then(|t| resolve_port(c, t)) == Some(FLUXSIGHT_PORT)
            })
    });
    if ok {
        Vec::new()
    } else {
        vec![format!(
            "no Service in {ns} selects the fluxsight pod on port {FLUXSIGHT_PORT}"
        )]
    }
}

fn rule_port_numbers(rule: &Value) -> Vec<i64> {
    list(rule, "/ports")
        .iter()
        .filter_map(|p| p.get("port")?.as_i64())
        .collect()
}

/// A NetworkPolicy selects the pod and admits 9797 only from selected namespaces; an
/// egress policy leaves DNS and the API server reachable.
pub fn check_network_policy(objects: &[Value], ns: &str, labels: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let policies: Vec<&Value> = objects
        .iter()
        .filter(|p| {
            str_at(p, "/kind") == "NetworkPolicy"
                && str_at(p, "/metadata/namespace") == ns
                && labels_match(
                    p.pointer("/spec/podSelector/matchLabels")
                        .unwrap_or(&Value::Null),
                    labels,
                )
        })
        .collect();
    if policies.is_empty() {
        return vec![format!(
            "no NetworkPolicy in {ns} selects the fluxsight pod"
        )];
    }
    let mut admits = false;
    for p in &policies {
        let types = strs(p, "/spec/policyTypes");
        for (i, rule) in list(p, "/spec/ingress").iter().enumerate() {
            let ports = rule_port_numbers(rule);
            if ports.is_empty() {
                errs.push(format!("{}: ingress[{i}] admits every port", id(p)));
            }
            if !ports.contains(&FLUXSIGHT_PORT) {
                continue;
            }
            admits |= types.contains(&"Ingress");
            let from = list(rule, "/from");
            let narrow = !from.is_empty()
                && from.iter().all(|peer| {
                    peer.get("ipBlock").is_none()
                        && peer
                            .pointer("/namespaceSelector/matchLabels")
                            .and_then(Value::as_object)
                            .is_some_and(|m| !m.is_empty())
                });
            if !narrow {
                errs.push(format!(
                    "{}: ingress[{i}] admits {FLUXSIGHT_PORT} from anywhere",
                    id(p)
                ));
            }
        }
        if types.contains(&"Egress") {
            let egress: Vec<i64> = list(p, "/spec/egress")
                .iter()
                .flat_map(rule_port_numbers)
                .collect();
            for needed in [53, 443] {
                if !egress.contains(&needed) {
                    errs.push(format!("{}: egress does not allow port {needed}", id(p)));
                }
            }
        }
    }
    if !admits {
        errs.push(format!(
            "no Ingress NetworkPolicy admits port {FLUXSIGHT_PORT} to fluxsight"
        ));
    }
    errs
}

/// Objects labelled as fluxsight's have only the expected kinds.
pub fn check_kinds(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| o.pointer(PART_OF_PTR).and_then(Value::as_str) == Some("fluxsight"))
        .filter(|o| !FLUXSIGHT_KINDS.contains(&str_at(o, "/kind")))
        .map(|o| format!("{}: kind not expected in fluxsight's manifests", id(o)))
        .collect()
}
