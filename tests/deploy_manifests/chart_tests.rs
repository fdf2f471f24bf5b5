//! The Helm chart (`charts/fluxsight`), rendered with `helm.rs` for the default values
//! (standalone Deployment) and for `mode: sidecar`, and the FluxInstance example; each
//! output goes through the same checks as the kustomize builds.

use super::*;
use crate::helm::Chart;

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/charts/fluxsight");
const NAMESPACE: &str = "flux-system";

fn chart() -> Chart {
    Chart::load(Path::new(CHART)).unwrap()
}

/// Every object of a render (NOTES.txt is text, not manifests).
fn objects(rendered: &BTreeMap<String, String>) -> Vec<Value> {
    rendered
        .iter()
        .filter(|(f, _)| f.ends_with(".yaml"))
        .flat_map(|(f, text)| load_docs(text, f).unwrap())
        .collect()
}

/// Flux's notification-controller Deployment and Services (the bootstrap stand-in).
fn flux_objects() -> Vec<Value> {
    let text = read(Path::new(DEPLOY).join("examples/flux-system/gotk-components.yaml"));
    load_docs(&text, "gotk-components").unwrap()
}

fn schema() -> Value {
    serde_json::from_str(&read(Path::new(CHART).join("values.schema.json"))).unwrap()
}

fn pipeline_of(objs: &[Value]) -> Value {
    let cm = find(objs, "ConfigMap", "fluxsight-pipeline");
    load_docs(str_at(cm, "/data/pipeline.yaml"), "pipeline").unwrap()[0].clone()
}

fn base_pipeline() -> Value {
    load_docs(&read(Path::new(DEPLOY).join("base/pipeline.yaml")), "base").unwrap()[0].clone()
}

#[test]
fn chart_metadata_and_values_schema() {
    let meta = &load_docs(&read(Path::new(CHART).join("Chart.yaml")), "Chart.yaml").unwrap()[0];
    assert_eq!(str_at(meta, "/apiVersion"), "v2");
    assert_eq!(str_at(meta, "/name"), "fluxsight");
    assert_eq!(str_at(meta, "/type"), "application");
    let semver = regex::Regex::new(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$").unwrap();
    assert!(semver.is_match(str_at(meta, "/version")));
    assert_eq!(str_at(meta, "/appVersion"), env!("CARGO_PKG_VERSION"));
    for f in ["description", "home", "kubeVersion"] {
        assert!(
            !str_at(meta, &format!("/{f}")).is_empty(),
            "Chart.yaml needs {f}"
        );
    }
    let c = chart();
    let errs = schema::validate(&schema(), &c.values, "values");
    assert!(
        errs.is_empty(),
        "values.yaml vs values.schema.json: {errs:?}"
    );
    // The schema refuses what a typo would otherwise let through silently.
    let mut bad = c.values.clone();
    bad["mode"] = json!("daemonset");
    bad["serviceMonitor"]["enabeld"] = json!(true);
    bad["image"]["pullPolicy"] = json!(1);
    let errs = schema::validate(&schema(), &bad, "values").join("\n");
    assert!(
        errs.contains("values.mode: \"daemonset\" is not one of"),
        "{errs}"
    );
    assert!(errs.contains("unknown key `enabeld`"), "{errs}");
    assert!(
        errs.contains("values.image.pullPolicy: expected string"),
        "{errs}"
    );
}

#[test]
fn chart_standalone_renders_and_passes_every_check() {
    let c = chart();
    let rendered = c.render(&json!({}), NAMESPACE).unwrap();
    let objs = objects(&rendered);
    let mut errs = check_build(&objs, &dockerfile_entrypoint(), ConfigRollout::NewPod);
    errs.extend(check_rbac_rules(&objs));
    errs.extend(check_kinds(&objs));
    assert!(
        errs.is_empty(),
        "chart (defaults):\n  {}",
        errs.join("\n  ")
    );
    // The checksum is that of the rendered ConfigMap, as `helm template` computes it.
    let d = find(&objs, "Deployment", "fluxsight");
    let sum = str_at(d, "/spec/template/metadata/annotations/checksum~1config");
    use sha2::Digest;
    let want = sha2::Sha256::digest(rendered["configmap.yaml"].as_bytes());
    assert_eq!(
        sum,
        want.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    assert_eq!(
        pipeline_of(&objs),
        base_pipeline(),
        "chart and deploy/base pipelines differ"
    );
    // Monitoring is off by default and matches deploy/monitoring when on.
    assert!(!objs.iter().any(|o| str_at(o, "/kind") == "PrometheusRule"));
    let on = json!({"serviceMonitor": {"enabled": true}, "prometheusRule": {"enabled": true}, "dashboard": {"enabled": true}});
    let objs = objects(&c.render(&on, NAMESPACE).unwrap());
    let mon = render(&Path::new(DEPLOY).join("monitoring"))
        .unwrap()
        .objects;
    assert_eq!(
        find(&objs, "PrometheusRule", "fluxsight")["spec"],
        find(&mon, "PrometheusRule", "fluxsight")["spec"]
    );
    assert_eq!(
        find(&objs, "ServiceMonitor", "fluxsight")["spec"],
        find(&mon, "ServiceMonitor", "fluxsight")["spec"]
    );
    let dash: Value = serde_json::from_str(str_at(
        find(&objs, "ConfigMap", "fluxsight-dashboard"),
        "/data/fluxsight.json",
    ))
    .unwrap();
    let shipped: Value =
        serde_json::from_str(&read(Path::new(DEPLOY).join("monitoring/dashboard.json"))).unwrap();
    assert_eq!(
        dash, shipped,
        "chart and deploy/monitoring dashboards differ"
    );
}

/// Applies `(target, patch)` pairs to Flux's objects, then adds the chart's.
fn compose(patches: &[(Value, String)], chart_objs: Vec<Value>) -> Vec<Value> {
    let mut objs = flux_objects();
    for (target, patch) in patches {
        for doc in load_docs(patch, "patch").unwrap() {
            kustomize::apply_one_patch(Some(target), doc, &mut objs).unwrap();
        }
    }
    objs.extend(chart_objs);
    objs
}

fn sidecar_patches(c: &Chart) -> Vec<(Value, String)> {
    let v = json!({"mode": "sidecar"});
    vec![
        (
            json!({"kind": "Deployment", "name": "notification-controller"}),
            c.include("fluxsight.sidecarPatch", &v, NAMESPACE).unwrap(),
        ),
        (
            json!({"kind": "Service", "name": "notification-controller|webhook-receiver"}),
            c.include("fluxsight.servicesPatch", &v, NAMESPACE).unwrap(),
        ),
    ]
}

#[test]
fn chart_sidecar_mode_composes_with_flux_and_never_degrades_it() {
    let c = chart();
    let rendered = c.render(&json!({"mode": "sidecar"}), NAMESPACE).unwrap();
    let chart_objs = objects(&rendered);
    assert!(
        !chart_objs
            .iter()
            .any(|o| matches!(str_at(o, "/kind"), "Deployment" | "ServiceAccount")),
        "sidecar mode installs no workload of its own"
    );
    let objs = compose(&sidecar_patches(&c), chart_objs);
    let errs = check_build(&objs, &dockerfile_entrypoint(), ConfigRollout::Reload);
    assert!(errs.is_empty(), "chart (sidecar):\n  {}", errs.join("\n  "));
    let nc = find(&objs, "Deployment", "notification-controller");
    let fs = &fluxsight_pods(std::slice::from_ref(nc))[0];
    assert!(fs.container.get("readinessProbe").is_none());
    assert_eq!(pipeline_of(&objs), base_pipeline());
    // NOTES print the patches the test applied.
    let notes = &rendered["NOTES.txt"];
    assert!(notes.contains("publishNotReadyAddresses: true"), "{notes}");
    assert!(
        notes.contains("port: healthz") && !notes.contains("readinessProbe"),
        "{notes}"
    );
}

#[test]
fn fluxinstance_example_equals_the_chart_patch_and_never_degrades_flux() {
    let fi = load_docs(
        &read(Path::new(DEPLOY).join("examples/flux-operator/fluxinstance.yaml")),
        "fluxinstance",
    )
    .unwrap()
    .remove(0);
    assert_eq!(str_at(&fi, "/apiVersion"), "fluxcd.controlplane.io/v1");
    assert_eq!(str_at(&fi, "/kind"), "FluxInstance");
    let patches: Vec<(Value, String)> = fi["spec"]["kustomize"]["patches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["target"].clone(), str_at(p, "/patch").to_string()))
        .collect();
    let c = chart();
    let from_chart = sidecar_patches(&c);
    assert_eq!(patches.len(), from_chart.len());
    for ((t, p), (ct, cp)) in patches.iter().zip(&from_chart) {
        assert_eq!(t, ct);
        assert_eq!(
            load_docs(p, "fluxinstance patch").unwrap(),
            load_docs(cp, "chart patch").unwrap(),
            "the FluxInstance example and the chart's sidecar patch differ"
        );
    }
    let chart_objs = objects(&c.render(&json!({"mode": "sidecar"}), NAMESPACE).unwrap());
    let objs = compose(&patches, chart_objs);
    let errs = check_build(&objs, &dockerfile_entrypoint(), ConfigRollout::Reload);
    assert!(errs.is_empty(), "FluxInstance:\n  {}", errs.join("\n  "));
}

#[test]
fn helm_renderer_trims_branches_and_refuses_what_it_does_not_know() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: t\nversion: 1.0.0\nappVersion: \"2\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        "a: {b: x}\nlist: [1, 2]\non: false\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/_h.tpl"),
        "{{- define \"h\" -}}\nk: {{ .Values.a.b | quote }}\n{{- end }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/t.yaml"),
        "x:\n{{- if .Values.on }}\n  on: yes\n{{- else if eq .Values.a.b \"x\" }}\n  elif: {{ .Chart.AppVersion }}\n{{- else }}\n  off: 1\n{{- end }}\n  inc: {{- include \"h\" . | nindent 4 }}\n  l: {{- toYaml .Values.list | nindent 4 }}\n  d: {{ .Values.none | default \"dflt\" }}\n",
    )
    .unwrap();
    let c = Chart::load(&dir).unwrap();
    let out = &c.render(&json!({}), "ns").unwrap()["t.yaml"];
    assert_eq!(
        load_docs(out, "t").unwrap()[0],
        json!({"x": {"elif": 2, "inc": {"k": "x"}, "l": [1, 2], "d": "dflt"}}),
        "{out}"
    );
    let out = &c.render(&json!({"on": true}), "ns").unwrap()["t.yaml"];
    assert!(out.contains("on: yes") && !out.contains("elif"), "{out}");
    for bad in [
        "{{ range .Values.list }}{{ end }}",
        "{{ .Values.a | upper }}",
        "{{ if .Values.on }}",
    ] {
        std::fs::write(dir.join("templates/t.yaml"), bad).unwrap();
        let err = Chart::load(&dir).and_then(|c| c.render(&json!({}), "ns").map(|_| ()));
        assert!(err.is_err(), "{bad} must be refused");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The chart's objects for the default values and for `mode: sidecar`, named.
pub fn rendered_installs() -> Vec<(String, Vec<Value>)> {
    let c = chart();
    [
        ("chart", json!({})),
        ("chart (sidecar)", json!({"mode": "sidecar"})),
    ]
    .into_iter()
    .map(|(case, v)| (case.to_string(), objects(&c.render(&v, NAMESPACE).unwrap())))
    .collect()
}
