//! Log-store exports (Cloud Logging, Loki, Elasticsearch, CloudWatch, Datadog) through the
//! line decoder: cut, corrupted and random versions of every form never panic and always
//! give a record (contracts.md §1.4), and a wrapped Flux failure classifies exactly like
//! the bare line, with pod, namespace and container taken from the export's labels.

use fluxsight::classify::Classifier;
use fluxsight::parse::envelope::strip;
use fluxsight::parse::LineDecoder;
use fluxsight::pipeline::classify::classify_reader;
use proptest::prelude::*;

/// Line 1 is a bare kustomize-controller failure; every further line wraps it.
const FAILURE: &str = include_str!("fixtures/classify/log_export_failure.log");
const FORMS: [&str; 5] = [
    include_str!("fixtures/classify/log_export_cloud_logging.log"),
    include_str!("fixtures/classify/log_export_loki.log"),
    include_str!("fixtures/classify/log_export_elasticsearch.log"),
    include_str!("fixtures/classify/log_export_cloudwatch.log"),
    include_str!("fixtures/classify/log_export_datadog.log"),
];
/// Heads that send the decoder into each export path before the garbage.
const HEADS: &[&str] = &[
    "{\"jsonPayload\":",
    "{\"textPayload\":\"",
    "{\"resource\":{\"labels\":{\"pod_name\":\"a\"}},\"textPayload\":\"",
    "2026-08-01T10:00:00Z {pod=\"",
    "2026-08-01T10:00:00Z {pod=\"a\", namespace=\"b\"} ",
    "{\"labels\":{\"pod\":\"a\"},\"line\":\"",
    "{\"_source\":{\"kubernetes\":{\"pod_name\":\"a\"},\"log\":\"",
    "{\"kubernetes\":{\"pod\":{\"name\":\"a\"}},\"message\":",
    "{\"@message\":\"{\\\"log\\\":\\\"",
    "{\"@logStream\":\"containers.a_b_c-1.log\",\"@message\":",
    "{\"tags\":[\"pod_name:a\"],\"message\":\"",
    "2026-08-01 10:00:00.000,\"",
    "2026-08-01 10:00:00.000\t",
    "{\"type\":\"log\",\"attributes\":{\"attributes\":{\"level\":1},\"message\":\"",
];
const KPOD: &str = "kustomize-controller-5f7b9c4d8-h2k9q";

fn real_lines() -> Vec<&'static str> {
    FORMS
        .iter()
        .chain([&FAILURE])
        .flat_map(|f| f.lines())
        .collect()
}

fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    let n = real_lines().len();
    prop_oneof![
        // truncated real exports (cuts split UTF-8 and escapes too)
        (0..n, any::<prop::sample::Index>()).prop_map(|(i, cut)| {
            let b = real_lines()[i].as_bytes();
            b[..cut.index(b.len() + 1)].to_vec()
        }),
        // real exports with junk spliced in
        (
            0..n,
            any::<prop::sample::Index>(),
            proptest::collection::vec(
                prop_oneof![Just(0u8), Just(0xff), Just(b'"'), Just(b'\\'), any::<u8>()],
                1..8
            )
        )
            .prop_map(|(i, at, junk)| {
                let mut b = real_lines()[i].as_bytes().to_vec();
                let at = at.index(b.len() + 1);
                b.splice(at..at, junk);
                b
            }),
        // an export head, then random bytes
        (
            0..HEADS.len(),
            proptest::collection::vec(any::<u8>(), 0..256)
        )
            .prop_map(|(h, tail)| {
                let mut b = HEADS[h].as_bytes().to_vec();
                b.extend(tail);
                b
            }),
        // exports nested in exports, cut anywhere
        (0..n, 0..n, any::<prop::sample::Index>()).prop_map(|(outer, inner, cut)| {
            let wrapped = serde_json::json!({
                "textPayload": real_lines()[inner],
                "resource": {"labels": {"pod_name": real_lines()[outer].get(..20).unwrap_or("")}},
            })
            .to_string()
            .into_bytes();
            wrapped[..cut.index(wrapped.len() + 1)].to_vec()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn exports_never_panic_and_always_give_a_record(
        lines in proptest::collection::vec(line_strategy(), 1..6)
    ) {
        let mut d = LineDecoder::new(None);
        for l in &lines {
            let recs = d.decode(l);
            prop_assert!(!recs.is_empty(), "no record for {:?}", String::from_utf8_lossy(l));
        }
    }
}

#[test]
fn wrapped_failure_classifies_like_the_bare_line() {
    let mut out = Vec::new();
    classify_reader(
        "f.log",
        FAILURE.as_bytes(),
        &Classifier::builtin(),
        &mut out,
    )
    .unwrap();
    let rows: Vec<serde_json::Value> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(rows.len(), FAILURE.lines().count());
    let bare = &rows[0];
    assert_eq!(bare["class"], "health_check_failed");
    assert!(bare.get("envelope").is_none());
    let same = [
        "class",
        "severity",
        "level",
        "kind",
        "namespace",
        "name",
        "message",
        "revision",
        "controller",
    ];
    for (i, row) in rows.iter().enumerate().skip(1) {
        assert!(
            row["envelope"].is_string(),
            "line {}: no envelope: {row}",
            i + 1
        );
        for k in same {
            assert_eq!(row[k], bare[k], "line {}: {k} differs: {row}", i + 1);
        }
    }
}

#[test]
fn pod_namespace_and_container_come_from_the_labels() {
    let mut d = LineDecoder::new(None);
    for (i, line) in FAILURE.lines().enumerate().skip(1) {
        let s = strip(line.as_bytes());
        let facts = (
            s.pod.as_deref(),
            s.namespace.as_deref(),
            s.container.as_deref(),
        );
        assert_eq!(
            facts,
            (Some(KPOD), Some("flux-system"), Some("manager")),
            "line {}",
            i + 1
        );
        assert!(s.ts.is_some(), "line {}: no export time", i + 1);
        let recs = d.decode(line.as_bytes());
        assert_eq!(recs[0].pod.as_deref(), Some(KPOD), "line {}", i + 1);
    }
}

#[test]
fn the_pod_label_alone_names_the_controller() {
    // a client-go klog line says nothing about which controller printed it
    let klog = "I0801 10:00:01.512169       1 request.go:697] Waited for 1.0456s due to client-side throttling";
    let bare = LineDecoder::new(None).decode(klog.as_bytes());
    assert_eq!(bare[0].controller, None);
    let wrapped = serde_json::json!({"textPayload": klog,
        "resource": {"labels": {"namespace_name": "flux-system", "pod_name": "image-reflector-controller-6d8b7c9f5-q8w2e", "container_name": "manager"}}})
    .to_string();
    let recs = LineDecoder::new(None).decode(wrapped.as_bytes());
    assert_eq!(
        recs[0].controller.as_deref(),
        Some("image-reflector-controller")
    );
}
