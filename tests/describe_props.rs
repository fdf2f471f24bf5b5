//! Property tests for `kubectl describe` blocks: input built from the pieces of the
//! describe grammar (keys at every depth, wrapped values, list items, Events headers,
//! rows and wrapped messages, blank lines, command lines, wide Unicode, log lines in
//! between), shuffled, repeated and cut at any byte. `classify_reader` never panics and
//! writes exactly one row per input line, in order, each continuation pointing at an
//! earlier-or-same line that has a record of its own, and a leading `Name:` line carries
//! a `describe` record.

use fluxsight::classify::Classifier;
use fluxsight::pipeline::classify::classify_reader;
use proptest::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;

/// Lines of the describe grammar, real shapes from Flux issue threads.
const PIECES: &[&str] = &[
    "Name:         podinfo",
    "Name:             source-controller-5cc54c757c-ccwz8",
    "Namespace:    apps",
    "Labels:       app=source-controller",
    "              pod-template-hash=5cc54c757c",
    "Annotations:  <none>",
    "API Version:  kustomize.toolkit.fluxcd.io/v1",
    "Kind:         Kustomization",
    "Kind:         HelmRelease",
    "Metadata:",
    "  Creation Timestamp:  2024-03-01T09:00:00Z",
    "  Finalizers:",
    "    finalizers.fluxcd.io",
    "Spec:",
    "  Interval:  10m",
    "  Source Ref:",
    "    Kind:  GitRepository",
    "    Name:  podinfo",
    "Status:",
    "Status:           Running",
    "  Conditions:",
    "    Last Transition Time:  2024-03-01T10:00:00Z",
    "    Message:               Health check failed after 5m0s: timeout waiting for: [Deployment/apps/podinfo",
    "                           status: 'InProgress']",
    "    Reason:                HealthCheckFailed",
    "    Status:                False",
    "    Type:                  Ready",
    "  Last Applied Revision:   main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f",
    "Containers:",
    "  manager:",
    "    State:          Waiting",
    "      Reason:       CrashLoopBackOff",
    "    Last State:     Terminated",
    "      Reason:       OOMKilled",
    "      Exit Code:    137",
    "      Finished:     Mon, 02 Nov 2020 14:25:17 +0000",
    "    Restart Count:  5",
    "    Args:",
    "      --storage-path=/data",
    "Start Time:       Mon, 02 Nov 2020 13:57:18 +0000",
    "QoS Class:                   Burstable",
    "Events:",
    "Events:  <none>",
    "  Type     Reason             Age                From                  Message",
    "  ----     ------             ----               ----                  -------",
    "  Warning  HealthCheckFailed  2m (x4 over 20m)   kustomize-controller  Health check failed after 5m0s",
    "                                                                       status: 'InProgress'",
    "  Normal   Progressing  20m  kustomize-controller  認証に失敗しました 🚫 configured",
    "  Warning  BackOff  3m (x25 over 1h)  kubelet",
    "    Message:  メッセージ 🙂",
    "",
    "$ kubectl describe ks podinfo -n apps",
    "kubectl describe pod source-controller-5cc54c757c-ccwz8 -n flux-system",
    "2024-03-01T10:05:00.000Z info Kustomization/podinfo.apps - Reconciliation finished in 1s, next run in 10m0s",
    "Error: something failed",
    "some text that is not a key",
    "apiVersion: v1",
    "{",
];

/// Line numbers `classify_reader` gives for `input` (split on `\n`, a last line without
/// one counts).
fn line_count(input: &[u8]) -> u64 {
    let nl = input.iter().filter(|b| **b == b'\n').count() as u64;
    nl + u64::from(!input.is_empty() && !input.ends_with(b"\n"))
}

/// The built-in classifier, built once: compiling its rule table is most of a case's time.
fn classifier() -> &'static Classifier {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    CLASSIFIER.get_or_init(Classifier::builtin)
}

fn check(input: &[u8]) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    classify_reader("props", input, classifier(), &mut out).expect("classify");
    let rows: Vec<Value> = String::from_utf8(out)
        .expect("utf-8 rows")
        .lines()
        .map(|l| serde_json::from_str(l).expect("row is JSON"))
        .collect();
    let numbers: Vec<u64> = rows.iter().map(|r| r["line"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=line_count(input)).collect();
    prop_assert_eq!(
        &numbers,
        &expected,
        "one row per line for {:?}",
        String::from_utf8_lossy(input)
    );
    // A `Name:` line at the top always starts a describe block carrying the object.
    if input.starts_with(b"Name:") {
        prop_assert_eq!(&rows[0]["format"], "describe");
    }
    for r in &rows {
        if let Some(c) = r["carrier_line"].as_u64() {
            let line = r["line"].as_u64().unwrap();
            prop_assert!(c <= line, "carrier after its line: {}", r);
            let carrier = &rows[c as usize - 1];
            prop_assert!(
                carrier["format"] != "continuation",
                "carrier is a continuation: {}",
                r
            );
        }
    }
    Ok(())
}

fn block_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(0..PIECES.len(), 0..60),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(picks, cut, do_cut)| {
            let mut text = String::new();
            for i in picks {
                text.push_str(PIECES[i]);
                text.push('\n');
            }
            let mut bytes = text.into_bytes();
            if do_cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        })
}

/// A real block repeated, with one line replaced by random bytes.
fn corrupted_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        1usize..4,
        any::<prop::sample::Index>(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(|(times, at, junk)| {
            let block: String = PIECES[..45].iter().map(|l| format!("{l}\n")).collect();
            let mut lines: Vec<Vec<u8>> = block
                .repeat(times)
                .lines()
                .map(|l| l.as_bytes().to_vec())
                .collect();
            let i = at.index(lines.len());
            lines[i] = junk.into_iter().filter(|b| *b != b'\n').collect();
            lines.join(&b'\n')
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn describe_pieces_give_one_row_per_line(input in block_strategy()) {
        check(&input)?;
    }

    #[test]
    fn corrupted_describes_give_one_row_per_line(input in corrupted_strategy()) {
        check(&input)?;
    }
}

#[test]
fn deep_indentation_and_huge_blocks_stay_bounded() {
    // Every line one space deeper than the last: nesting is capped, no stack overflow.
    let mut text = String::from("Name:  deep\n");
    for i in 1..5_000 {
        text.push_str(&" ".repeat(i));
        text.push_str("K:\n");
    }
    check(text.as_bytes()).unwrap();
    // Many Events rows.
    let mut text = String::from("Name:  many\nKind:  Kustomization\nEvents:\n");
    for _ in 0..5_000 {
        text.push_str(
            "  Normal  Progressing  1m  kustomize-controller  Deployment/apps/podinfo configured\n",
        );
    }
    check(text.as_bytes()).unwrap();
}
