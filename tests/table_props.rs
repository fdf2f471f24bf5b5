//! Property tests for pasted tables (`kubectl get`, `flux get`, pods, events): random and
//! truncated input built from the tables' own pieces never panics, and `classify` gives
//! exactly one row per input line, in order, whatever the mix of headers, rows, wrapped
//! lines, blanks, commands and cut-off lines.

use fluxsight::classify::Classifier;
use fluxsight::pipeline::classify::classify_reader;
use proptest::prelude::*;
use std::sync::OnceLock;

/// The built-in rules, compiled once for all cases.
fn classifier() -> &'static Classifier {
    static C: OnceLock<Classifier> = OnceLock::new();
    C.get_or_init(Classifier::builtin)
}

/// Headers of every table form, with spaces and with tabs.
const HEADERS: &[&str] = &[
    "NAMESPACE     NAME          AGE   READY   STATUS",
    "NAME      AGE   READY   STATUS",
    "NAMESPACE  \tNAME                     \tREVISION          \tSUSPENDED\tREADY\tMESSAGE",
    "NAME                     \tREADY\tMESSAGE   \tREVISION   \tSUSPENDED ",
    "NAME                                       READY   STATUS             RESTARTS      AGE",
    "NAMESPACE     LAST SEEN   TYPE      REASON               OBJECT                      MESSAGE",
    "LAST SEEN               TYPE    REASON                  OBJECT                          MESSAGE",
    "LAST SEEN   TYPE      REASON   OBJECT   SUBOBJECT   SOURCE   MESSAGE   FIRST SEEN   COUNT   NAME",
];

/// Rows, wrapped lines and the lines that end tables.
const PIECES: &[&str] = &[
    "flux-system   flux-system   33d   True    Applied revision: main@sha1:1eabc9a4",
    "apps          podinfo       2d    False   Health check failed after 5m0s: timeout waiting for:",
    "                                          [Deployment/apps/podinfo status: 'InProgress']",
    "podinfo   2d    Unknown Reconciliation in progress",
    "flux-system\tgitrepository/flux-system\tmain@sha1:489d0f70\tFalse    \tFalse\tunable to clone: authentication required\t",
    "gitrepository/flux-system\tTrue \tFetched revision: main/50a0edd7\tmain/50a0edd7\tFalse    \t",
    "\t\t\t\t\tcontinued message text",
    "source-controller-7d9f8c6b5-x2x7k          0/1     CrashLoopBackOff   5 (2m ago)    10m",
    "source-controller-7d9f8c6b5-x2x7k          0/1     OOMKilled          1 (5s ago)    1m",
    "flux-system   2m          Warning   GitOperationFailed   gitrepository/flux-system   failed to checkout",
    "53m (x20 over 19h)      Normal  ArtifactUpToDate        HelmChart/flux-system-podinfo artifact up-to-date",
    "2m          Warning   HealthCheckFailed   kustomization/podinfo               kustomize-controller   健康检查失败 🚀   1h   12   podinfo.17b2",
    "",
    "   ",
    "$ kubectl get hr -A",
    "flux get all",
    "kubectl get events -n apps -o wide",
    "I ran it again and it still fails",
    "2024-03-01T10:05:00.000Z info Kustomization/podinfo.apps - Reconciliation finished in 1s",
    "{\"level\":\"info\",\"msg\":\"x\"}",
];

/// One line: a header, a piece, a cut piece or header, or random text with table bytes.
fn line() -> impl Strategy<Value = String> {
    let all: Vec<&'static str> = HEADERS.iter().chain(PIECES).copied().collect();
    let cut_from = all.clone();
    prop_oneof![
        3 => prop::sample::select(HEADERS.to_vec()).prop_map(str::to_string),
        6 => prop::sample::select(all).prop_map(str::to_string),
        3 => (prop::sample::select(cut_from), any::<prop::sample::Index>()).prop_map(|(l, i)| {
            let chars: Vec<char> = l.chars().collect();
            chars[..i.index(chars.len() + 1)].iter().collect()
        }),
        2 => "[ \t]{0,12}[A-Za-z0-9/:()'.\\- \t健🚀]{0,60}",
    ]
}

fn classify(text: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    classify_reader("props", text.as_bytes(), classifier(), &mut out).expect("classify");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("row is JSON"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One row per input line, in order, for any mix of table pieces; the last line may
    /// be cut without a newline.
    #[test]
    fn one_row_per_line_in_order(lines in prop::collection::vec(line(), 0..40), newline_at_end in any::<bool>()) {
        let mut text = lines.join("\n");
        if newline_at_end && !text.is_empty() {
            text.push('\n');
        }
        let rows = classify(&text);
        let numbers: Vec<u64> = rows.iter().map(|r| r["line"].as_u64().unwrap()).collect();
        let expected: Vec<u64> = (1..=text.lines().count() as u64).collect();
        prop_assert_eq!(numbers, expected, "input:\n{}", text);
        // Every header line starts a table, whatever came before it.
        for (l, r) in text.lines().zip(&rows) {
            if HEADERS.contains(&l) {
                prop_assert_eq!(&r["format"], "table_header", "input:\n{}", text);
            }
        }
        // A continuation always points back at a row that carries a record.
        for r in &rows {
            if let Some(c) = r["carrier_line"].as_u64() {
                prop_assert!(c < r["line"].as_u64().unwrap());
                let carrier = &rows[(c - 1) as usize];
                prop_assert!(carrier["format"] != "continuation", "input:\n{}", text);
            }
        }
    }

    /// Arbitrary bytes after a header never panic and keep one row per line.
    #[test]
    fn garbage_under_a_header(header in prop::sample::select(HEADERS.to_vec()), body in prop::collection::vec(any::<u8>(), 0..400)) {
        let mut input = header.as_bytes().to_vec();
        input.push(b'\n');
        input.extend_from_slice(&body);
        let mut out = Vec::new();
        let n = classify_reader("props", &input[..], classifier(), &mut out).expect("classify");
        let rows = String::from_utf8(out).expect("utf-8");
        let numbers: Vec<u64> = rows
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["line"].as_u64().unwrap())
            .collect();
        prop_assert_eq!(numbers, (1..=n).collect::<Vec<u64>>());
    }
}
