//! Tables through the decoder: one row per line, each row read as the JSON document it
//! stands for, wrapped messages joined, tables ended where their rows end.

use super::super::tests::one_row_per_line;
use serde_json::Value;

fn s<'a>(r: &'a Value, k: &str) -> &'a str {
    r[k].as_str().unwrap_or("")
}

/// (format, kind, namespace, name, class) of a row.
fn facts(r: &Value) -> (&str, &str, &str, &str, &str) {
    (
        s(r, "format"),
        s(r, "kind"),
        s(r, "namespace"),
        s(r, "name"),
        s(r, "class"),
    )
}

#[test]
fn kubectl_get_flux_kind_with_namespaces() {
    let text = "\
$ kubectl get ks -A
NAMESPACE     NAME          AGE   READY   STATUS
flux-system   flux-system   33d   True    Applied revision: main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f
apps          podinfo       2d    False   Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']
";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[0], "format"), "command");
    assert_eq!(s(&rows[1], "format"), "table_header");
    assert_eq!(
        facts(&rows[2]),
        (
            "table",
            "Kustomization",
            "flux-system",
            "flux-system",
            "object_state"
        )
    );
    assert_eq!(s(&rows[2], "controller"), "kustomize-controller");
    assert_eq!(
        facts(&rows[3]),
        (
            "table",
            "Kustomization",
            "apps",
            "podinfo",
            "health_check_failed"
        )
    );
    assert!(s(&rows[3], "message").starts_with("Health check failed after 5m0s"));
}

#[test]
fn flux_get_all_sections_with_tabs_kind_prefix_revision_and_suspend() {
    // `flux get all -A` pads each cell, then writes a tab (and a trailing one on rows).
    let text = "\
NAMESPACE  \tNAME                     \tREVISION          \tSUSPENDED\tREADY\tMESSAGE                                     
flux-system\tgitrepository/flux-system\tmain@sha1:489d0f70\tFalse    \tFalse\tfailed to checkout and determine revision: unable to clone 'https://github.com/org/repo': authentication required\t

NAMESPACE  \tNAME                \tREVISION          \tSUSPENDED\tREADY\tMESSAGE                                   
flux-system\tkustomization/apps  \tmain@sha1:489d0f70\tTrue     \tTrue \tApplied revision: main@sha1:489d0f70\t
apps       \thelmrelease/podinfo \t6.5.4             \tFalse    \tTrue \tHelm upgrade succeeded for release apps/podinfo.v3 with chart podinfo@6.5.4\t
";
    let rows = one_row_per_line(text);
    let got: Vec<_> = rows.iter().map(facts).collect();
    assert_eq!(
        got,
        vec![
            ("table_header", "", "", "", "info_other"),
            (
                "table",
                "GitRepository",
                "flux-system",
                "flux-system",
                "git_auth_failed"
            ),
            ("blank", "", "", "", "info_other"),
            ("table_header", "", "", "", "info_other"),
            ("table", "Kustomization", "flux-system", "apps", "suspended"),
            ("table", "HelmRelease", "apps", "podinfo", "object_state"),
        ]
    );
    assert_eq!(s(&rows[1], "revision"), "main@sha1:489d0f70");
    assert_eq!(s(&rows[1], "controller"), "source-controller");
    assert_eq!(s(&rows[5], "revision"), "6.5.4");
    assert_eq!(s(&rows[5], "controller"), "helm-controller");
}

#[test]
fn old_flux_column_order_and_a_repeated_header_without_blank_line() {
    let text = "\
NAME                     \tREADY\tMESSAGE                                                        \tREVISION                                     \tSUSPENDED 
gitrepository/flux-system\tTrue \tFetched revision: main/50a0edd79cd0710b1ce48dfe6aad5cd745075514\tmain/50a0edd79cd0710b1ce48dfe6aad5cd745075514\tFalse    \t
NAME                     \tREADY\tMESSAGE                                                        \tREVISION                                     \tSUSPENDED 
kustomization/apps       \tFalse\tdependency 'flux-system/infra' is not ready                    \t                                             \tFalse    \t
";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[0], "format"), "table_header");
    assert_eq!(s(&rows[1], "kind"), "GitRepository");
    assert_eq!(
        s(&rows[1], "revision"),
        "main/50a0edd79cd0710b1ce48dfe6aad5cd745075514"
    );
    assert_eq!(s(&rows[2], "format"), "table_header");
    assert_eq!(
        facts(&rows[3]),
        ("table", "Kustomization", "", "apps", "dependency_not_ready")
    );
}

#[test]
fn pods_table_reads_container_states_like_the_pod_json() {
    let text = "\
$ kubectl get pods -n flux-system
NAME                                       READY   STATUS             RESTARTS      AGE
source-controller-7d9f8c6b5-x2x7k          0/1     OOMKilled          5 (2m ago)    10m
source-controller-7d9f8c6b5-x2x7k          0/1     CrashLoopBackOff   6 (12s ago)   11m
kustomize-controller-5db6bfc56d-cqwzh      1/1     Running            0             98s
helm-controller-779b58df6b-f4lmj           1/1     Running            3 (1h ago)    2d
";
    let rows = one_row_per_line(text);
    let pod = "source-controller-7d9f8c6b5-x2x7k";
    assert_eq!(
        facts(&rows[2]),
        ("table", "Pod", "flux-system", pod, "oom_killed")
    );
    assert_eq!(s(&rows[2], "controller"), "source-controller");
    assert_eq!(s(&rows[2], "reason"), "OOMKilled");
    assert_eq!(
        facts(&rows[3]),
        ("table", "Pod", "flux-system", pod, "controller_restarted")
    );
    assert_eq!(s(&rows[3], "reason"), "CrashLoopBackOff");
    assert_eq!(s(&rows[4], "class"), "object_state");
    assert_eq!(s(&rows[4], "controller"), "kustomize-controller");
    assert_eq!(s(&rows[5], "class"), "controller_restarted");
}

#[test]
fn kubectl_get_events_all_namespaces() {
    let text = "\
NAMESPACE     LAST SEEN   TYPE      REASON               OBJECT                         MESSAGE
flux-system   2m          Warning   GitOperationFailed   gitrepository/flux-system      failed to checkout and determine revision: unable to clone 'ssh://git@github.com/org/repo': ssh: handshake failed: knownhosts: key mismatch
apps          5m          Normal    Progressing          kustomization/podinfo          Deployment/apps/podinfo configured
flux-system   30s         Warning   BackOff              pod/source-controller-7d9f8c6b5-x2x7k   Back-off restarting failed container manager in pod source-controller-7d9f8c6b5-x2x7k_flux-system
";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[0], "format"), "table_header");
    assert_eq!(
        facts(&rows[1]),
        (
            "events_table",
            "GitRepository",
            "flux-system",
            "flux-system",
            "git_auth_failed"
        )
    );
    assert_eq!(s(&rows[1], "reason"), "GitOperationFailed");
    assert_eq!(s(&rows[1], "level"), "warning");
    assert_eq!(
        facts(&rows[2]),
        (
            "events_table",
            "Kustomization",
            "apps",
            "podinfo",
            "revision_applied"
        )
    );
    assert_eq!(s(&rows[2], "level"), "info");
    // A ragged row (the OBJECT cell overflows its column) still splits right.
    assert_eq!(s(&rows[3], "kind"), "Pod");
    assert_eq!(s(&rows[3], "controller"), "source-controller");
    assert_eq!(s(&rows[3], "reason"), "BackOff");
}

#[test]
fn flux_events_with_repeat_counts_and_single_space_gaps() {
    let text = "\
$ flux events -n flux-system
LAST SEEN               TYPE    REASON                  OBJECT                          MESSAGE
53m (x20 over 19h)      Normal  ArtifactUpToDate        HelmChart/flux-system-ww-gitops artifact up-to-date with remote revision: '4.0.14'
60m                     Warning ReconciliationFailed    Kustomization/flux-system       kustomize build failed: accumulating resources: accumulation err='accumulating resources from './apps': open /tmp/kustomization-123/apps: no such file or directory'
";
    let rows = one_row_per_line(text);
    assert_eq!(
        facts(&rows[2]),
        (
            "events_table",
            "HelmChart",
            "flux-system",
            "flux-system-ww-gitops",
            "reconcile_succeeded"
        )
    );
    assert_eq!(
        s(&rows[2], "message"),
        "artifact up-to-date with remote revision: '4.0.14'"
    );
    assert_eq!(
        facts(&rows[3]),
        (
            "events_table",
            "Kustomization",
            "flux-system",
            "flux-system",
            "build_failed"
        )
    );
}

#[test]
fn wide_events_with_empty_cells_source_and_cjk_message() {
    // Columns after MESSAGE are placed by rune count: the CJK message is 2 bytes wider
    // per char than it is long.
    let text = "\
LAST SEEN   TYPE      REASON              OBJECT                  SUBOBJECT   SOURCE                 MESSAGE                               FIRST SEEN   COUNT   NAME
2m          Warning   HealthCheckFailed   kustomization/podinfo               kustomize-controller   健康检查失败 health check failed 🚀          1h           12      podinfo.17b2c3d4e5f6a7b8
";
    let rows = one_row_per_line(text);
    let r = &rows[1];
    assert_eq!(
        facts(r),
        (
            "events_table",
            "Kustomization",
            "",
            "podinfo",
            "health_check_failed"
        )
    );
    assert_eq!(s(r, "message"), "健康检查失败 health check failed 🚀");
    assert_eq!(s(r, "controller"), "kustomize-controller");
}

#[test]
fn wrapped_message_lines_continue_their_row() {
    let text = "\
NAME      AGE   READY   STATUS
podinfo   2d    False   Health check failed after 5m0s: timeout waiting for:
                        [Deployment/apps/podinfo status: 'InProgress']
infra     2d    True    Applied revision: main@sha1:1eabc9a4
";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[1], "format"), "table");
    assert_eq!(
        s(&rows[1], "message"),
        "Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']"
    );
    assert_eq!(s(&rows[1], "class"), "health_check_failed");
    assert_eq!(s(&rows[2], "format"), "continuation");
    assert_eq!(rows[2]["carrier_line"], 2);
    assert_eq!(s(&rows[3], "name"), "infra");
    // No command above: the kind is unknown, the row is still a table record.
    assert_eq!(s(&rows[3], "kind"), "");
}

#[test]
fn rows_without_a_header_stay_text() {
    let text = "\
flux-system   podinfo   2d    False   Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo status: 'InProgress']
flux-system\tgitrepository/flux-system\tmain@sha1:489d0f70\tFalse\tFalse\tunable to clone 'https://github.com/org/repo': authentication required
";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[0], "format"), "text");
    assert_eq!(s(&rows[0], "class"), "health_check_failed");
    assert_eq!(s(&rows[1], "format"), "text");
    assert_eq!(s(&rows[1], "class"), "git_auth_failed");
}

#[test]
fn a_line_that_is_no_row_ends_the_table() {
    let text = "\
NAME      AGE   READY   STATUS
podinfo   2d    True    Applied revision: main@sha1:1eabc9a4
2024-03-01T10:05:00.000Z info Kustomization/podinfo.apps - Reconciliation finished in 1s, next run in 10m0s
I ran it again and it still fails
";
    let rows = one_row_per_line(text);
    assert_eq!(s(&rows[1], "format"), "table");
    assert_eq!(s(&rows[2], "format"), "flux_cli");
    assert_eq!(s(&rows[3], "format"), "text");
}

#[test]
fn a_table_cut_off_mid_row_is_read_as_far_as_it_goes() {
    let text = "\
$ kubectl get hr -n apps
NAME      AGE   READY   STATUS
podinfo   2d    False   Helm upgrade failed: another operation (install/upgrade/rollback) is in progress
web       1d    Fal";
    let rows = one_row_per_line(text);
    assert_eq!(
        facts(&rows[2]),
        (
            "table",
            "HelmRelease",
            "apps",
            "podinfo",
            "helm_release_failed"
        )
    );
    // `Fal` is no READY value: the cut line is not a row.
    assert_eq!(s(&rows[3], "format"), "text");
    let rows = one_row_per_line("NAME      AGE   READY   STATUS\npodinfo   2d    False");
    assert_eq!(s(&rows[1], "format"), "table");
    assert_eq!(s(&rows[1], "name"), "podinfo");
}

#[test]
fn ragged_rows_snap_to_the_nearest_column() {
    let text = "\
NAMESPACE     NAME          AGE   READY   STATUS
flux-system  flux-system   33d  False    unable to clone 'https://github.com/org/repo': authentication required
apps            podinfo        2d     True   Applied revision: main@sha1:1eabc9a4
";
    let rows = one_row_per_line(text);
    assert_eq!(
        facts(&rows[1]),
        ("table", "", "flux-system", "flux-system", "git_auth_failed")
    );
    assert_eq!(
        facts(&rows[2]),
        ("table", "", "apps", "podinfo", "object_state")
    );
}

#[test]
fn rows_classify_exactly_as_their_json_forms() {
    let table = "\
NAMESPACE   LAST SEEN   TYPE      REASON        OBJECT                  MESSAGE
apps        5m          Warning   BuildFailed   Kustomization/podinfo   kustomize build failed: map[string]interface {}(nil): yaml: unmarshal errors
";
    let json = r#"{"apiVersion":"v1","kind":"Event","involvedObject":{"kind":"Kustomization","name":"podinfo","namespace":"apps"},"type":"Warning","reason":"BuildFailed","message":"kustomize build failed: map[string]interface {}(nil): yaml: unmarshal errors"}"#;
    let row = &one_row_per_line(table)[1];
    let doc = &one_row_per_line(json)[0];
    for k in [
        "kind",
        "namespace",
        "name",
        "reason",
        "message",
        "level",
        "class",
        "severity",
    ] {
        assert_eq!(row[k], doc[k], "{k}");
    }

    let table = "\
NAME      AGE   READY   STATUS
podinfo   2d    False   dependency 'apps/infra' is not ready
";
    let json = r#"{"apiVersion":"","kind":"","metadata":{"name":"podinfo"},"status":{"conditions":[{"type":"Ready","status":"False","message":"dependency 'apps/infra' is not ready"}]}}"#;
    let row = &one_row_per_line(table)[1];
    let doc = &one_row_per_line(json)[0];
    for k in ["name", "message", "level", "class", "severity"] {
        assert_eq!(row[k], doc[k], "{k}");
    }
}
