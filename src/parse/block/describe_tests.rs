//! `kubectl describe` blocks through the decoder: the described object classifies like
//! its JSON form on the `Name:` line, Events rows become Events about it, every other
//! line is a continuation, and the block ends where describe output ends.

use serde_json::Value;

use super::super::tests::{one_row_per_line, rows};
use super::{camel, cells, rfc1123z_ms, split_key};
use crate::parse::time::parse_ts;

fn s<'a>(r: &'a Value, k: &str) -> &'a str {
    r[k].as_str().unwrap_or("")
}

/// Rows that carry a record (not continuations): (line, format, kind, name, class).
fn carriers(rows: &[Value]) -> Vec<(u64, &str, &str, &str, &str)> {
    rows.iter()
        .filter(|r| s(r, "format") != "continuation")
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                s(r, "format"),
                s(r, "kind"),
                s(r, "name"),
                s(r, "class"),
            )
        })
        .collect()
}

pub(crate) const KS_DESCRIBE: &str = "\
Name:         podinfo
Namespace:    apps
Labels:       kustomize.toolkit.fluxcd.io/name=apps
              kustomize.toolkit.fluxcd.io/namespace=flux-system
Annotations:  <none>
API Version:  kustomize.toolkit.fluxcd.io/v1
Kind:         Kustomization
Metadata:
  Creation Timestamp:  2024-03-01T09:00:00Z
  Finalizers:
    finalizers.fluxcd.io
  Generation:        2
  Resource Version:  12345
  UID:               2e7d7c92-a9a0-42ef-8104-ea5d9c3bb9c7
Spec:
  Interval:  10m
  Path:      ./apps
  Prune:     true
  Source Ref:
    Kind:  GitRepository
    Name:  podinfo
  Timeout:  5m
Status:
  Conditions:
    Last Transition Time:  2024-03-01T10:00:00Z
    Message:               Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo
                           status: 'InProgress']
    Observed Generation:   2
    Reason:                HealthCheckFailed
    Status:                False
    Type:                  Ready
  Last Applied Revision:   main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f
  Observed Generation:     2
Events:
  Type     Reason             Age                From                  Message
  ----     ------             ----               ----                  -------
  Warning  HealthCheckFailed  2m (x4 over 20m)   kustomize-controller  Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo
                                                                       status: 'InProgress']
  Normal   Progressing        20m                kustomize-controller  Deployment/apps/podinfo configured
";

#[test]
fn kustomization_describe_reads_like_its_json_form() {
    let rows = one_row_per_line(KS_DESCRIBE);
    let obj = &rows[0];
    assert_eq!(s(obj, "format"), "describe");
    assert_eq!(s(obj, "kind"), "Kustomization");
    assert_eq!(s(obj, "name"), "podinfo");
    assert_eq!(s(obj, "namespace"), "apps");
    assert_eq!(s(obj, "controller"), "kustomize-controller");
    assert_eq!(s(obj, "class"), "health_check_failed");
    assert_eq!(s(obj, "reason"), "HealthCheckFailed");
    assert_eq!(s(obj, "ts"), "2024-03-01T10:00:00.000Z");
    assert_eq!(
        s(obj, "revision"),
        "main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f"
    );
    // The wrapped condition message joins its value.
    assert!(
        s(obj, "message").ends_with("[Deployment/apps/podinfo status: 'InProgress']"),
        "{}",
        s(obj, "message")
    );
    let c = carriers(&rows);
    assert_eq!(c.len(), 3, "{c:?}");
    let warn_line = 1 + KS_DESCRIBE
        .lines()
        .position(|l| l.starts_with("  Warning"))
        .unwrap() as u64;
    assert_eq!(c[1].0, warn_line);
    let warn = &rows[warn_line as usize - 1];
    assert_eq!(s(warn, "format"), "describe");
    assert_eq!(s(warn, "kind"), "Kustomization");
    assert_eq!(s(warn, "name"), "podinfo");
    assert_eq!(s(warn, "namespace"), "apps");
    assert_eq!(s(warn, "reason"), "HealthCheckFailed");
    assert_eq!(s(warn, "controller"), "kustomize-controller");
    assert_eq!(s(warn, "class"), "health_check_failed");
    assert_eq!(s(warn, "severity"), "warning");
    assert!(s(warn, "message").ends_with("status: 'InProgress']"));
    // The wrapped message line continues the row, not the object.
    assert_eq!(rows[warn_line as usize]["carrier_line"], warn_line);
    assert_eq!(s(&rows[warn_line as usize + 1], "reason"), "Progressing");
    for r in rows.iter().filter(|r| s(r, "format") == "continuation") {
        let carrier = r["carrier_line"].as_u64().unwrap();
        assert!(carrier == 1 || carrier == warn_line, "{r}");
    }
}

const POD_DESCRIBE: &str = "\
Name:             source-controller-5cc54c757c-ccwz8
Namespace:        flux-system
Priority:         0
Service Account:  source-controller
Node:             my-node/10.0.10.11
Start Time:       Mon, 02 Nov 2020 13:57:18 +0000
Labels:           app=source-controller
                  pod-template-hash=5cc54c757c
Annotations:      prometheus.io/port: 8080
                  prometheus.io/scrape: true
Status:           Running
IP:               10.0.10.12
IPs:
  IP:           10.0.10.12
Controlled By:  ReplicaSet/source-controller-5cc54c757c
Containers:
  manager:
    Container ID:  containerd://6b4a1a89311360cb832fe1d540b4f4cb96c9b8a6591fb01349390ffcdfc99b90
    Image:         ghcr.io/fluxcd/source-controller:v1.2.4
    Ports:         9090/TCP, 8080/TCP
    Args:
      --events-addr=http://notification-controller.flux-system.svc.cluster.local./
      --watch-all-namespaces=true
      --storage-path=/data
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       OOMKilled
      Exit Code:    137
      Started:      Mon, 02 Nov 2020 14:20:01 +0000
      Finished:     Mon, 02 Nov 2020 14:25:17 +0000
    Ready:          False
    Restart Count:  5
    Limits:
      cpu:     1
      memory:  1Gi
    Environment:
      RUNTIME_NAMESPACE:  flux-system (v1:metadata.namespace)
    Mounts:
      /data from data (rw)
Conditions:
  Type              Status
  Initialized       True
  Ready             False
QoS Class:                   Burstable
Node-Selectors:              kubernetes.io/os=linux
Tolerations:                 node.kubernetes.io/not-ready:NoExecute op=Exists for 300s
                             node.kubernetes.io/unreachable:NoExecute op=Exists for 300s
Events:
  Type     Reason   Age                  From     Message
  ----     ------   ----                 ----     -------
  Warning  BackOff  3m (x25 over 1h)     kubelet  Back-off restarting failed container manager in pod source-controller-5cc54c757c-ccwz8_flux-system(1b2c)
";

#[test]
fn pod_describe_reads_like_the_pod_json() {
    let rows = one_row_per_line(POD_DESCRIBE);
    let pod = &rows[0];
    assert_eq!(s(pod, "format"), "describe");
    assert_eq!(s(pod, "kind"), "Pod");
    assert_eq!(s(pod, "name"), "source-controller-5cc54c757c-ccwz8");
    assert_eq!(s(pod, "namespace"), "flux-system");
    assert_eq!(s(pod, "controller"), "source-controller");
    assert_eq!(s(pod, "class"), "oom_killed");
    assert_eq!(s(pod, "reason"), "OOMKilled");
    // The newest instant the Pod shows: the last termination's finish.
    assert_eq!(s(pod, "ts"), "2020-11-02T14:25:17.000Z");
    let backoff = rows.last().unwrap();
    assert_eq!(s(backoff, "format"), "describe");
    assert_eq!(s(backoff, "kind"), "Pod");
    assert_eq!(s(backoff, "reason"), "BackOff");
    assert_eq!(s(backoff, "controller"), "source-controller");
}

#[test]
fn restarts_without_oom_classify_as_controller_restarted() {
    let text = POD_DESCRIBE
        .replace("OOMKilled", "Error")
        .replace("137", "1");
    let rows = one_row_per_line(&text);
    assert_eq!(s(&rows[0], "class"), "controller_restarted");
}

#[test]
fn several_describes_one_after_another() {
    let second = KS_DESCRIBE
        .replace("podinfo", "web")
        .replace("Events:\n", "Events:  <none>\n");
    let second: String = second
        .lines()
        .take_while(|l| !l.starts_with("Events:"))
        .chain(["Events:  <none>"])
        .map(|l| format!("{l}\n"))
        .collect();
    // kubectl separates objects with a blank line; also accept them back to back.
    for sep in ["\n", ""] {
        let text = format!("{KS_DESCRIBE}{sep}{second}");
        let rows = one_row_per_line(&text);
        let objects: Vec<(u64, &str)> = rows
            .iter()
            .filter(|r| s(r, "format") == "describe" && s(r, "reason") != "Progressing")
            .filter(|r| r["line"] == 1 || s(r, "name") == "web")
            .map(|r| (r["line"].as_u64().unwrap(), s(r, "name")))
            .collect();
        let web_line = KS_DESCRIBE.lines().count() as u64 + 1 + sep.len() as u64;
        assert_eq!(
            objects,
            vec![(1, "podinfo"), (web_line, "web")],
            "sep {sep:?}"
        );
        let last = rows.last().unwrap();
        assert_eq!(s(last, "format"), "continuation");
        assert_eq!(last["carrier_line"], web_line);
    }
}

#[test]
fn kind_comes_from_the_command_line_when_not_printed() {
    let text = "$ kubectl describe helmrelease web -n apps\nName:         web\nNamespace:    apps\nStatus:\n  Conditions:\n    Message:  Helm upgrade failed: another operation (install/upgrade/rollback) is in progress\n    Reason:   UpgradeFailed\n    Status:   False\n    Type:     Ready\nEvents:       <none>\n";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[0], "format"), "command");
    assert_eq!(s(&rows[1], "kind"), "HelmRelease");
    assert_eq!(s(&rows[1], "name"), "web");
    assert_eq!(s(&rows[1], "controller"), "helm-controller");
    assert_eq!(s(&rows[1], "class"), "helm_release_failed");
}

#[test]
fn block_ends_at_a_column0_line_that_is_not_a_key() {
    let text = format!(
        "{KS_DESCRIBE}2024-03-01T10:05:00.000Z info Kustomization/podinfo.apps - Reconciliation finished in 1s, next run in 10m0s\n"
    );
    let rows = one_row_per_line(&text);
    assert_eq!(s(rows.last().unwrap(), "format"), "flux_cli");
    assert_eq!(s(&rows[0], "kind"), "Kustomization");
}

#[test]
fn a_cut_off_block_is_read_as_far_as_it_goes() {
    let cut: String = KS_DESCRIBE
        .lines()
        .take(26)
        .map(|l| format!("{l}\n"))
        .collect();
    let rows = one_row_per_line(&cut);
    assert_eq!(s(&rows[0], "kind"), "Kustomization");
    assert_eq!(s(&rows[0], "name"), "podinfo");
    assert_eq!(s(&rows[0], "format"), "describe");
    // Cut in the middle of a line too.
    let half = &KS_DESCRIBE[..KS_DESCRIBE.find("Reason:   ").unwrap() + 12];
    let rows = one_row_per_line(half);
    assert_eq!(s(&rows[0], "namespace"), "apps");
}

#[test]
fn prose_with_a_name_is_not_a_block_without_title_case_keys_after_it() {
    // `Name:` alone starts a block; the next non-key column-0 line ends it.
    let first = one_row_per_line("Name: x\nthe rest of a message\n");
    assert_eq!(s(&first[0], "format"), "describe");
    assert_eq!(s(&first[1], "format"), "text");
    // Lower-case and sentence keys never start one.
    let other = rows("name: x\nError: something failed\n");
    assert!(other.iter().all(|r| s(r, "format") != "describe"));
}

#[test]
fn keys_values_and_cells() {
    assert_eq!(camel("Last Transition Time"), "lastTransitionTime");
    assert_eq!(camel("API Version"), "apiVersion");
    assert_eq!(camel("UID"), "uid");
    assert_eq!(camel("Image ID"), "imageID");
    assert_eq!(camel("manager"), "manager");
    assert_eq!(camel("f:metadata"), "f:metadata");
    assert_eq!(split_key("    f:metadata:"), Some(("f:metadata", "", 15)));
    assert_eq!(
        split_key("    Liveness:  http-get http://:8080/healthz"),
        Some(("Liveness", "http-get http://:8080/healthz", 15))
    );
    assert_eq!(split_key("      --log-level=info"), None);
    assert_eq!(split_key("      /data from data (rw)"), None);
    let c: Vec<&str> = cells("  Warning  Failed  2m (x4 over 20m)  kubelet  a  b")
        .into_iter()
        .map(|c| c.1)
        .collect();
    assert_eq!(
        c,
        ["Warning", "Failed", "2m (x4 over 20m)", "kubelet", "a", "b"]
    );
    assert_eq!(
        rfc1123z_ms("Mon, 02 Nov 2020 13:57:18 +0100"),
        parse_ts("2020-11-02T12:57:18Z")
    );
    assert_eq!(rfc1123z_ms("Mon, 02 Nov 2020 13:57:18"), None);
}

#[test]
fn events_without_a_header_and_with_wide_text() {
    let text = "Name:         flux-system\nNamespace:    flux-system\nKind:         GitRepository\nEvents:\n  Warning  GitOperationFailed  1m  source-controller  認証に失敗しました 🚫 authentication required\n  Normal   NewArtifact         5s  source-controller  stored artifact for commit 'fix: 修正'\n";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[4], "reason"), "GitOperationFailed");
    assert_eq!(s(&rows[4], "class"), "git_auth_failed");
    assert!(s(&rows[4], "message").starts_with("認証に失敗しました 🚫"));
    assert_eq!(s(&rows[5], "reason"), "NewArtifact");
    assert_eq!(s(&rows[5], "name"), "flux-system");
}

/// The row of `text`'s first line without the fields that name the form and the line.
fn first_row_facts(text: &str) -> serde_json::Map<String, Value> {
    let mut row = rows(text)[0].as_object().unwrap().clone();
    for k in ["file", "line", "format"] {
        row.remove(k);
    }
    row
}

#[test]
fn the_described_object_classifies_exactly_like_its_json_form() {
    let ks = r#"{"apiVersion":"kustomize.toolkit.fluxcd.io/v1","kind":"Kustomization","metadata":{"name":"podinfo","namespace":"apps","creationTimestamp":"2024-03-01T09:00:00Z","generation":2},"spec":{"interval":"10m","path":"./apps","prune":true,"sourceRef":{"kind":"GitRepository","name":"podinfo"},"timeout":"5m"},"status":{"conditions":[{"lastTransitionTime":"2024-03-01T10:00:00Z","message":"Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']","observedGeneration":2,"reason":"HealthCheckFailed","status":"False","type":"Ready"}],"lastAppliedRevision":"main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f","observedGeneration":2}}"#;
    assert_eq!(first_row_facts(KS_DESCRIBE), first_row_facts(ks));
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"source-controller-5cc54c757c-ccwz8","namespace":"flux-system","labels":{"app":"source-controller"}},"status":{"phase":"Running","startTime":"2020-11-02T13:57:18Z","containerStatuses":[{"name":"manager","ready":false,"restartCount":5,"state":{"waiting":{"reason":"CrashLoopBackOff"}},"lastState":{"terminated":{"reason":"OOMKilled","exitCode":137,"startedAt":"2020-11-02T14:20:01Z","finishedAt":"2020-11-02T14:25:17Z"}}}]}}"#;
    assert_eq!(first_row_facts(POD_DESCRIBE), first_row_facts(pod));
}

#[test]
fn a_described_pod_names_its_controller_and_node() {
    let text = include_str!("../../../tests/fixtures/classify/describe_pod.log");
    let mut d = crate::parse::LineDecoder::new(None);
    let mut recs: Vec<crate::record::Record> =
        text.lines().flat_map(|l| d.decode(l.as_bytes())).collect();
    recs.extend(d.finish());
    let pod = recs
        .iter()
        .find_map(|r| r.pod_info())
        .expect("the Pod of the describe block");
    let owner = pod.owner.as_ref().expect("Controlled By");
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("ReplicaSet", "source-controller-5cc54c757c", true)
    );
    assert_eq!(
        pod.node_name.as_deref(),
        Some("ip-10-0-10-11.eu-west-1.compute.internal")
    );
    assert_eq!(pod.containers[0].last_terminated_exit_code, Some(137));
}
