//! Multi-line forms through the decoder: every line gets exactly one row, the form's
//! record lands on its carrier line, cut-off forms are read as far as they go.

use crate::classify::Classifier;
use crate::pipeline::classify::classify_reader;
use crate::record::Class;
use serde_json::Value;

/// `fluxsight classify` rows of `text`, as JSON values.
pub(crate) fn rows(text: &str) -> Vec<Value> {
    let classifier = Classifier::builtin();
    let mut out = Vec::new();
    classify_reader("paste", text.as_bytes(), &classifier, &mut out).expect("classify");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("row is JSON"))
        .collect()
}

/// Asserts one row per line (line numbers 1..=n in order) and returns the rows.
pub(crate) fn one_row_per_line(text: &str) -> Vec<Value> {
    let rows = rows(text);
    let numbers: Vec<u64> = rows.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=text.lines().count() as u64).collect();
    assert_eq!(numbers, expected, "one row per line for:\n{text}");
    rows
}

fn s<'a>(r: &'a Value, k: &str) -> &'a str {
    r[k].as_str().unwrap_or("")
}

const KS_YAML: &str = "\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: apps
status:
  conditions:
  - lastTransitionTime: \"2024-03-01T10:00:00Z\"
    message: 'Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo status: ''InProgress'']'
    reason: HealthCheckFailed
    status: \"False\"
    type: Ready
";

#[test]
fn yaml_document_is_read_like_its_json_form() {
    let rows = one_row_per_line(KS_YAML);
    assert_eq!(s(&rows[0], "format"), "k8s_object");
    assert_eq!(s(&rows[0], "kind"), "Kustomization");
    assert_eq!(s(&rows[0], "namespace"), "apps");
    assert_eq!(s(&rows[0], "class"), Class::HealthCheckFailed.as_str());
    for r in &rows[1..] {
        assert_eq!(s(r, "format"), "continuation");
        assert_eq!(r["carrier_line"], 1);
    }
}

#[test]
fn multi_document_stream_and_list() {
    let text = format!(
        "---\n{KS_YAML}---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: source.toolkit.fluxcd.io/v1\n  kind: GitRepository\n  metadata:\n    name: a\n    namespace: flux-system\n- apiVersion: source.toolkit.fluxcd.io/v1\n  kind: GitRepository\n  metadata:\n    name: b\n    namespace: flux-system\n"
    );
    let rows = rows(&text);
    let carriers: Vec<(u64, &str, &str)> = rows
        .iter()
        .filter(|r| s(r, "format") != "continuation")
        .map(|r| (r["line"].as_u64().unwrap(), s(r, "kind"), s(r, "name")))
        .collect();
    let second = 1 + KS_YAML.lines().count() as u64 + 1;
    assert_eq!(
        carriers,
        vec![
            (1, "Kustomization", "podinfo"),
            (second, "GitRepository", "a"),
            (second, "GitRepository", "b"),
        ]
    );
}

#[test]
fn pretty_json_event_and_following_log_line() {
    let text = r#"{
  "apiVersion": "v1",
  "kind": "Event",
  "involvedObject": {
    "kind": "GitRepository",
    "name": "flux-system",
    "namespace": "flux-system"
  },
  "reason": "GitOperationFailed",
  "message": "failed to checkout and determine revision: unable to clone 'https://github.com/org/repo': authentication required",
  "type": "Warning"
}
{"level":"info","ts":"2024-03-01T10:05:00.000Z","msg":"Reconciliation finished in 1s, next run in 10m0s","controller":"kustomization","name":"x","namespace":"y"}
"#;
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[0], "format"), "k8s_event");
    assert_eq!(s(&rows[0], "class"), "git_auth_failed");
    assert_eq!(rows[11]["carrier_line"], 1);
    assert_eq!(s(&rows[12], "format"), "zap_json");
}

#[test]
fn cut_off_documents_are_read_as_far_as_they_go() {
    let json = "[\n  {\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Event\",\n    \"involvedObject\": {\"kind\": \"HelmRelease\", \"name\": \"web\", \"namespace\": \"apps\"},\n    \"reason\": \"UpgradeFailed\",\n    \"message\": \"Helm upgrade failed: another operation (install/upgrade/rollback) is in progress\",\n    \"type\": \"Warning\",\n    \"lastTimestamp\": \"2024-03-01T1";
    let rows = one_row_per_line(json);
    assert_eq!(s(&rows[0], "name"), "web");
    assert_eq!(s(&rows[0], "class"), "helm_release_failed");

    let yaml = KS_YAML.replace(
        "    type: Ready\n",
        "    type: Ready\n    observedGeneration: \"3\n",
    );
    let rows = one_row_per_line(&yaml);
    assert_eq!(s(&rows[0], "class"), "health_check_failed");
}

#[test]
fn a_cut_log_line_does_not_swallow_the_lines_after_it() {
    let text = "{\"level\":\"error\",\"msg\":\"trunc\n{\"level\":\"info\",\"ts\":\"2024-03-01T10:05:00.000Z\",\"msg\":\"Reconciliation finished in 1s, next run in 10m0s\"}\n";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[1], "format"), "zap_json");
    // A cut pretty document ends at the next column-0 line that cannot continue it.
    let text = "{\n  \"kind\": \"Event\",\nI0720 17:12:45.512169       1 leaderelection.go:243] attempting to acquire leader lease flux-system/source-controller-leader-election...\n";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[1], "format"), "continuation");
    assert_eq!(s(&rows[2], "format"), "klog");
}

#[test]
fn yaml_ends_at_a_line_that_is_not_yaml() {
    let text = format!(
        "{KS_YAML}2024-03-01T10:05:00.000Z info Kustomization/podinfo.apps - Reconciliation finished in 1s, next run in 10m0s\n"
    );
    let rows = one_row_per_line(&text);
    let last = rows.last().unwrap();
    assert_eq!(s(last, "format"), "flux_cli");
    assert_eq!(s(&rows[0], "kind"), "Kustomization");
}

#[test]
fn yaml_that_is_not_a_kubernetes_document_is_text_on_its_first_line() {
    let rows = one_row_per_line("kind: values\nreplicas: 2\nimage:\n  tag: 1.2.3\n");
    assert_eq!(s(&rows[0], "format"), "text");
    assert_eq!(s(&rows[1], "format"), "continuation");
}

#[test]
fn pretty_printed_exports_unwrap_their_controller_lines() {
    let zap = r#"{"level":"error","ts":"2026-12-06T09:12:04.318Z","msg":"Reconciler error","controller":"gitrepository","controllerKind":"GitRepository","GitRepository":{"name":"shop","namespace":"team-a"},"namespace":"team-a","name":"shop","error":"unable to clone 'https://github.com/acme/shop.git': authentication required"}"#;
    let cloud = format!(
        "[\n  {{\n    \"jsonPayload\": {zap},\n    \"resource\": {{\"labels\": {{\"namespace_name\": \"flux-system\", \"pod_name\": \"source-controller-6c8f9d7b54-q2wzx\", \"container_name\": \"manager\"}}}},\n    \"timestamp\": \"2026-12-06T09:12:04.318422Z\"\n  }}\n]\n"
    );
    let es = format!(
        "{{\n  \"took\": 3,\n  \"hits\": {{\n    \"hits\": [\n      {{\"_index\": \"logs\", \"_source\": {{\"log\": {}, \"kubernetes\": {{\"namespace_name\": \"flux-system\", \"pod_name\": \"source-controller-6c8f9d7b54-q2wzx\", \"container_name\": \"manager\"}}}}}}\n    ]\n  }}\n}}\n",
        serde_json::to_string(zap).unwrap()
    );
    let loki = format!(
        "{{\n  \"status\": \"success\",\n  \"data\": {{\n    \"resultType\": \"streams\",\n    \"result\": [\n      {{\"stream\": {{\"namespace\": \"flux-system\", \"pod\": \"source-controller-6c8f9d7b54-q2wzx\", \"container\": \"manager\"}}, \"values\": [[\"1796548324318000000\", {}]]}}\n    ]\n  }}\n}}\n",
        serde_json::to_string(zap).unwrap()
    );
    for (name, text) in [("cloud", cloud), ("es", es), ("loki", loki)] {
        let rows = one_row_per_line(&text);
        let r = &rows[0];
        assert_eq!(s(r, "class"), "git_auth_failed", "{name}: {r}");
        assert_eq!(s(r, "controller"), "source-controller", "{name}");
        assert_eq!(s(r, "name"), "shop", "{name}");
        assert!(!s(r, "envelope").is_empty(), "{name}: envelope named");
    }
}

#[test]
fn a_json_line_wrapped_by_the_paste_is_joined_and_a_cut_one_is_not() {
    let wrapped = "{\"level\":\"error\",\"ts\":\"2020-11-09T13:55:26.336Z\",\"msg\":\"Reconciler error\",\"controller\":\"kustomization\",\"name\":\"infra-m\nonitoring\",\"namespace\":\"flux\",\"error\":\"unable to clone 'https://github.com/a/b': authentication required\"}\n";
    let rows = one_row_per_line(wrapped);
    assert_eq!(s(&rows[0], "format"), "zap_json");
    assert_eq!(s(&rows[0], "name"), "infra-monitoring");
    assert_eq!(s(&rows[0], "class"), "git_auth_failed");
    assert_eq!(rows[1]["carrier_line"], 1);
    // A long line cut off by the log store, then a whole line: both read on their own.
    let cut = "{\"level\":\"error\",\"ts\":\"2020-11-09T13:55:26.336Z\",\"msg\":\"Reconciler error\",\"error\":\"unable to clone: authentic\n{\"level\":\"info\",\"ts\":\"2024-03-01T10:05:00.000Z\",\"msg\":\"Reconciliation finished in 1s, next run in 10m0s\"}\n";
    let rows = one_row_per_line(cut);
    assert_eq!(s(&rows[0], "format"), "text");
    assert_eq!(s(&rows[1], "format"), "zap_json");
}

#[test]
fn the_status_part_of_an_object_pasted_alone() {
    let text = "$ kubectl get hr web -n apps -o yaml\n  status:\n    conditions:\n    - message: 'HelmChart ''apps/apps-web'' is not ready: latest generation of object has not been reconciled'\n      reason: SourceNotReady\n      status: \"False\"\n      type: Ready\n";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[1], "format"), "k8s_object");
    assert_eq!(s(&rows[1], "kind"), "HelmRelease");
    assert_eq!(s(&rows[1], "name"), "web");
    assert_eq!(s(&rows[1], "class"), "source_not_ready");
    let pod = "containerStatuses:\n- name: manager\n  restartCount: 7\n  lastState:\n    terminated:\n      exitCode: 137\n      reason: OOMKilled\n";
    let rows = one_row_per_line(pod);
    assert_eq!(s(&rows[0], "class"), "oom_killed");
}

#[test]
fn html_entities_of_a_web_page_paste_are_read_as_quotes() {
    let rows = one_row_per_line("2021-08-02T09:13:34.237Z info Kustomization/flux-system.flux-system - Source &#39;GitRepository/flux-system&#39; not found\n");
    assert_eq!(
        s(&rows[0], "message"),
        "Source 'GitRepository/flux-system' not found"
    );
    assert_eq!(s(&rows[0], "class"), "source_not_ready");
}

#[test]
fn an_events_row_pasted_alone_is_an_event() {
    let rows = one_row_per_line("Warning  NotificationDispatchFailed  11m (x14 over 2d3h)  notification-controller  failed to send notification for Kustomization/tenant/apps: postMessage failed: failed to execute request: context deadline exceeded\n  Normal   Progressing   31m   kustomize-controller  Deployment/shop/checkout configured\nWarning: this is prose, not a row\n");
    assert_eq!(s(&rows[0], "format"), "events_table");
    assert_eq!(s(&rows[0], "reason"), "NotificationDispatchFailed");
    assert_eq!(s(&rows[0], "controller"), "notification-controller");
    assert_eq!(s(&rows[0], "class"), "notification_failed");
    assert_eq!(s(&rows[1], "format"), "events_table");
    assert_eq!(s(&rows[2], "format"), "text");
}
