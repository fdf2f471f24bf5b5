//! Decoding on several threads gives exactly what one decoder reading the input whole
//! gives: `classify` rows and `replay` output are byte-identical for any number of
//! threads and any chunk size, including cuts inside tables, YAML and JSON documents,
//! describe blocks, CRI partial lines, after a command line and before a klog line's
//! year is known.

use std::fs;
use std::path::Path;

use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Settings};
use fluxsight::pipeline::classify::classify_chunked;
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use proptest::prelude::*;

/// Chunk sizes from one line per chunk to a few chunks per input.
const CHUNKS: [usize; 5] = [1, 17, 200, 1_500, 20_000];

fn classifier() -> &'static Classifier {
    static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    C.get_or_init(Classifier::builtin)
}

fn classify(input: &[u8], threads: usize, chunk: usize) -> String {
    let mut out = Vec::new();
    classify_chunked("input.log", input, classifier(), &mut out, threads, chunk).expect("classify");
    String::from_utf8(out).expect("utf-8 rows")
}

fn replayed(inputs: &[(&str, &[u8])], threads: usize, chunk: usize) -> String {
    let mut out = Vec::new();
    let opts = ReplayOptions {
        audit: true,
        threads,
        chunk_bytes: chunk,
        ..ReplayOptions::default()
    };
    let mut emitter = Emitter::new(&mut out, opts);
    let mut correlator = Correlator::new(Settings::default());
    let inputs = inputs.iter().map(|(n, b)| (n.to_string(), *b)).collect();
    replay(inputs, classifier(), &mut correlator, &mut emitter, 10_000).expect("replay");
    let stats = emitter.finish().expect("finish");
    format!(
        "{}lines {} records {}\n",
        String::from_utf8(out).unwrap(),
        stats.lines,
        stats.records
    )
}

/// Every file under `dir` ending in `suffix`, sorted.
fn files(dir: &str, suffix: &str) -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v = Vec::new();
    for e in walk(&root) {
        if e.to_string_lossy().ends_with(suffix) {
            v.push((e.display().to_string(), fs::read(&e).expect("read fixture")));
        }
    }
    v.sort();
    assert!(!v.is_empty(), "no {suffix} files under {dir}");
    v
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).expect("fixture dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The classify fixtures (every pasted form) and the golden incidents, one after the
/// other in one input.
fn corpus() -> Vec<u8> {
    let mut all = Vec::new();
    for (_, b) in files("tests/fixtures/classify", ".log")
        .into_iter()
        .chain(files("tests/golden", "input.log"))
    {
        all.extend_from_slice(&b);
        if !all.ends_with(b"\n") {
            all.push(b'\n');
        }
    }
    all
}

#[test]
fn classify_rows_are_the_same_for_any_threads_and_chunks() {
    let input = corpus();
    let whole = classify(&input, 0, usize::MAX / 2);
    assert!(whole.lines().count() > 1_000, "corpus too small");
    for chunk in CHUNKS {
        for threads in [0, 2] {
            let got = classify(&input, threads, chunk);
            assert!(
                got == whole,
                "threads {threads}, chunk {chunk}: rows differ from one decoder\n{}",
                first_difference(&whole, &got)
            );
        }
    }
}

#[test]
fn replay_output_is_the_same_for_any_threads_and_chunks() {
    let golden = files("tests/golden", "input.log");
    let inputs: Vec<(&str, &[u8])> = golden.iter().map(|(n, b)| (n.as_str(), &b[..])).collect();
    let pasted = corpus();
    let sets: [Vec<(&str, &[u8])>; 2] = [inputs, vec![("pasted.txt", &pasted[..])]];
    for set in &sets {
        let whole = replayed(set, 0, usize::MAX / 2);
        assert!(whole.contains("\"pattern\""), "no finding replayed");
        for chunk in CHUNKS {
            for threads in [1, 2] {
                let got = replayed(set, threads, chunk);
                assert!(
                    got == whole,
                    "threads {threads}, chunk {chunk}: replay differs\n{}",
                    first_difference(&whole, &got)
                );
            }
        }
    }
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  one decoder: {x}\n  chunked:     {y}", i + 1);
        }
    }
    format!(
        "lengths {} vs {} lines",
        a.lines().count(),
        b.lines().count()
    )
}

/// Lines whose meaning depends on the lines before them.
const POOL: &[&str] = &[
    r#"{"level":"error","ts":"2026-12-06T09:00:00.000Z","msg":"Reconciler error","controller":"gitrepository","GitRepository":{"name":"shop","namespace":"team-a"},"namespace":"team-a","name":"shop","error":"failed to checkout and determine revision: unable to clone 'https://github.com/acme/shop.git': authentication required"}"#,
    "I1206 09:00:01.000000       1 leaderelection.go:248] attempting to acquire leader lease flux-system/source-controller-leader-election...",
    "2026-12-06T09:00:02.000000000Z stdout P {\"level\":\"info\",\"ts\":\"2026-12-06T09:00:02.000Z\",",
    "2026-12-06T09:00:02.000000000Z stdout F \"msg\":\"artifact up-to-date\",\"controller\":\"gitrepository\"}",
    "$ flux get kustomizations -A",
    "$ kubectl describe kustomization apps -n flux-system",
    "NAMESPACE  NAME   REVISION  SUSPENDED  READY  MESSAGE",
    "team-a     apps   main@sha1:1234abcd  False  False  health check failed after 5m0s",
    "apiVersion: kustomize.toolkit.fluxcd.io/v1",
    "kind: Kustomization",
    "metadata:",
    "  name: apps",
    "  namespace: team-a",
    "status:",
    "  conditions:",
    "  - type: Ready",
    "    status: \"False\"",
    "    reason: HealthCheckFailed",
    "---",
    "{",
    "  \"kind\": \"Event\",",
    "  \"reason\": \"ReconciliationFailed\"",
    "}",
    "► annotating GitRepository shop in team-a namespace",
    "✗ failed to reconcile: timeout",
    "Events:",
    "  Type     Reason  Age   From                  Message",
    "  Warning  Failed  2m    kustomize-controller  health check failed",
    "",
    "plain words",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_mix_of_pasted_forms_classifies_the_same_chunked(
        picks in proptest::collection::vec(0..POOL.len(), 1..120),
        chunk in 1usize..400,
    ) {
        let mut input = Vec::new();
        for i in picks {
            input.extend_from_slice(POOL[i].as_bytes());
            input.push(b'\n');
        }
        let whole = classify(&input, 0, usize::MAX / 2);
        let got = classify(&input, 2, chunk);
        prop_assert!(got == whole, "chunk {}: {}", chunk, first_difference(&whole, &got));
    }
}

#[test]
fn a_klog_line_cut_from_the_line_that_gave_the_year_keeps_its_time() {
    let input = format!("{}\n{}\n{}\n", POOL[0], POOL[1], POOL[1]);
    let whole = classify(input.as_bytes(), 0, usize::MAX / 2);
    assert!(
        whole.contains(r#""format":"klog","ts":"2026-12-06T09:00:01.000Z""#),
        "{whole}"
    );
    assert_eq!(classify(input.as_bytes(), 2, 1), whole);
}

#[test]
fn a_table_cut_after_its_header_keeps_its_columns() {
    let input = format!("{}\n{}\n{}\n{}\n", POOL[4], POOL[6], POOL[7], POOL[7]);
    let whole = classify(input.as_bytes(), 0, usize::MAX / 2);
    assert!(whole.contains("health check failed"), "{whole}");
    assert_eq!(classify(input.as_bytes(), 2, 1), whole);
}
