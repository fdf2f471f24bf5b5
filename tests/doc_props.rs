//! Property tests for multi-line documents (YAML, pretty-printed JSON) and command lines:
//! random mixes of document lines, cut documents and log lines never panic, and
//! `fluxsight classify` prints exactly one row per input line, in line order, with every
//! `continuation` row pointing at an earlier-or-same line that carries a record.

use fluxsight::classify::Classifier;
use fluxsight::pipeline::classify::classify_reader;
use proptest::prelude::*;
use serde_json::Value;

/// Lines of real documents and neighbours, cut and shuffled by the strategies.
const PIECES: &[&str] = &[
    "---",
    "...",
    "apiVersion: kustomize.toolkit.fluxcd.io/v1",
    "apiVersion: v1",
    "kind: Kustomization",
    "kind: List",
    "items:",
    "- apiVersion: source.toolkit.fluxcd.io/v1",
    "  kind: GitRepository",
    "metadata:",
    "  name: podinfo",
    "  namespace: apps",
    "status:",
    "  conditions:",
    "  - message: 'Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo status: ''InProgress'']'",
    "    reason: HealthCheckFailed",
    "    status: \"False\"",
    "    type: Ready",
    "    message: |",
    "      multi",
    "{",
    "[",
    "[{",
    "}",
    "]",
    "},",
    "  \"kind\": \"Event\",",
    "  \"involvedObject\": {",
    "    \"kind\": \"GitRepository\", \"name\": \"a\", \"namespace\": \"b\"",
    "  },",
    "  \"message\": \"unable to clone: authentication required\",",
    "  \"message\": \"cut here",
    "  \"type\": \"Warning\"",
    "$ kubectl get kustomization podinfo -n apps -o yaml",
    "flux get all -A",
    "```",
    "",
    "   ",
    "{\"level\":\"error\",\"ts\":\"2024-03-01T10:00:00Z\",\"msg\":\"Reconciler error\",\"error\":\"i/o timeout\"}",
    "{\"level\":\"error\",\"msg\":\"cut",
    "I0720 17:12:45.512169       1 leaderelection.go:243] attempting to acquire leader lease",
    "2025-01-22T14:07:30.686Z error Kustomization/secrets.flux-system - Reconciliation failed",
    "  ✗ 中文 emoji 🚀 wide",
];

fn input() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => (0..PIECES.len()).prop_map(|i| PIECES[i].to_string()),
        // a piece cut at any char
        1 => ((0..PIECES.len()), any::<prop::sample::Index>()).prop_map(|(i, cut)| {
            let chars: Vec<char> = PIECES[i].chars().collect();
            chars[..cut.index(chars.len() + 1)].iter().collect()
        }),
        // random printable text
        1 => "[ -~{}\\[\\]:\"'\t中🚀]{0,40}",
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| {
        let mut s = v.join("\n");
        s.push('\n');
        s
    })
}

fn classifier() -> &'static Classifier {
    static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    C.get_or_init(Classifier::builtin)
}

fn check(text: &str) {
    let mut out = Vec::new();
    classify_reader("p", text.as_bytes(), classifier(), &mut out).expect("classify");
    let out = String::from_utf8(out).expect("utf-8 rows");
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("row is JSON"))
        .collect();
    let lines = text.lines().count() as u64;
    // Lines with several records (a List) repeat their number; every line has a row.
    let mut numbers: Vec<u64> = rows.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] <= w[1]),
        "rows in line order"
    );
    numbers.dedup();
    assert_eq!(numbers, (1..=lines).collect::<Vec<_>>(), "one row per line");
    for r in &rows {
        if r["format"] == "continuation" {
            let carrier = r["carrier_line"].as_u64().expect("carrier_line");
            assert!(carrier <= r["line"].as_u64().unwrap());
            assert!(
                rows.iter()
                    .any(|c| c["line"] == carrier && c["format"] != "continuation"),
                "carrier line {carrier} has a record"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn documents_keep_one_row_per_line(text in input()) {
        check(&text);
    }
}

#[test]
fn a_document_longer_than_the_block_limit_is_cut_and_read() {
    let mut text = String::from("{\n  \"items\": [\n");
    let line = "    \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\n";
    while text.len() < (1 << 20) + 4096 {
        text.push_str(line);
    }
    text.push_str("  ]\n}\n");
    check(&text);
}
