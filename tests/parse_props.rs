//! Property tests for the line decoder (contracts.md §1.4): whatever bytes arrive —
//! random, truncated real lines, invalid UTF-8, NUL bytes, deep nesting, huge lines,
//! envelopes around garbage, CRI partial chunks — `LineDecoder::decode` never panics and
//! always returns at least one record.

use fluxsight::parse::LineDecoder;
use proptest::prelude::*;

/// Realistic lines of every form; the strategies cut and corrupt them.
const REAL_LINES: &[&str] = &[
    r#"{"level":"info","ts":"2026-08-01T10:00:00.123Z","msg":"Reconciliation finished in 2.31s, next run in 10m0s","controller":"kustomization","controllerGroup":"kustomize.toolkit.fluxcd.io","controllerKind":"Kustomization","Kustomization":{"name":"apps","namespace":"flux-system"},"namespace":"flux-system","name":"apps","reconcileID":"3f6c","revision":"main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f"}"#,
    r#"{"level":"error","ts":"2020-07-15T11:19:45.031+0300","logger":"controller-runtime.controller","msg":"Reconciler error","controller":"gitrepository","request":"default/podinfo","error":"git clone error: ssh: handshake failed"}"#,
    r#"{"level":"info","ts":"2022-06-02T14:28:42.069Z","logger":"controller.kustomization","msg":"server-side apply completed","reconciler group":"kustomize.toolkit.fluxcd.io","reconciler kind":"Kustomization","name":"flux-addons","namespace":"flux-system","output":{"Deployment/addons/metrics-server":"configured"}}"#,
    r#"{"log":"{\"level\":\"info\",\"msg\":\"x\"}\n","stream":"stderr","time":"2025-11-10T15:19:00.111111111Z"}"#,
    "[pod/source-controller-7d9f8c6b5-x2x7k/manager] 2025-11-10T15:19:00.123456789Z {\"level\":\"info\",\"msg\":\"starting manager\",\"logger\":\"setup\"}",
    "2025-11-10T15:19:00.000000001Z stderr P {\"level\":\"error\",\"msg\":\"Reconciler",
    "2026-08-01T10:00:00.123Z\tINFO\tReconciliation finished in 2.3s, next run in 10m0s\t{\"controllerKind\": \"Kustomization\", \"name\": \"apps\", \"namespace\": \"flux-system\"}",
    "I0426 19:25:26.399750       6 leaderelection.go:243] attempting to acquire leader lease flux-system/source-controller-leader-election...",
    r#"I0720 17:12:45.512169       1 request.go:601] "Waited for request due to client-side throttling" delay="1.2s""#,
    r#"ts=2025-11-10T14:00:00.123Z level=info msg="Reconciliation finished in 1.5s" controllerKind=Kustomization name=apps namespace=flux-system"#,
    "2025-01-22T14:07:30.686Z error Kustomization/secrets.flux-system - Reconciliation failed after 67.047568ms, next try in 1m0s decryption failed for 'basic-auth': é ü",
    "Source 'GitRepository/flux-system/podinfo' not found, observed revision 'main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f'",
    "HelmChart 'flux-system/apps-podinfo' is not ready: Applied revision: main/1eabc9a41ca088515cab83f1cce49eb43e84b67f",
];

/// Envelope heads that put the decoder into each wrapper path before the garbage.
const HEADS: &[&str] = &[
    "",
    "[pod/helm-controller-0/manager] ",
    "2025-11-10T15:19:00Z ",
    "2025-11-10T15:19:00Z stdout P ",
    "2025-11-10T15:19:00Z stdout F ",
    "2025-01-22T14:07:30.686Z info Kustomization/a.b - ",
    "2026-08-01T10:00:00.123Z\tINFO\t",
    "I0720 17:12:45.5 1 a.go:1] \"",
    "ts=1 level=info msg=\"",
    "{\"log\":\"",
];

fn decode_ok(lines: &[Vec<u8>]) {
    let mut d = LineDecoder::new(Some("source-controller".into()));
    for l in lines {
        let recs = d.decode(l);
        assert!(
            !recs.is_empty(),
            "no record for {:?}",
            String::from_utf8_lossy(l)
        );
    }
}

fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // random bytes
        proptest::collection::vec(any::<u8>(), 0..512),
        // truncated real lines (byte cuts split UTF-8 characters too)
        (0..REAL_LINES.len(), any::<prop::sample::Index>()).prop_map(|(i, cut)| {
            let b = REAL_LINES[i].as_bytes();
            b[..cut.index(b.len() + 1)].to_vec()
        }),
        // real lines with random bytes (invalid UTF-8, NUL) spliced in
        (
            0..REAL_LINES.len(),
            any::<prop::sample::Index>(),
            proptest::collection::vec(
                prop_oneof![Just(0u8), Just(0xff), Just(0xc3), any::<u8>()],
                1..8
            )
        )
            .prop_map(|(i, at, junk)| {
                let mut b = REAL_LINES[i].as_bytes().to_vec();
                let at = at.index(b.len() + 1);
                b.splice(at..at, junk);
                b
            }),
        // an envelope head followed by garbage
        (
            0..HEADS.len(),
            proptest::collection::vec(any::<u8>(), 0..128)
        )
            .prop_map(|(h, tail)| {
                let mut b = HEADS[h].as_bytes().to_vec();
                b.extend(tail);
                b
            }),
        // deep nesting
        (1usize..4000, any::<bool>()).prop_map(|(n, arrays)| {
            if arrays {
                "[".repeat(n).into_bytes()
            } else {
                let mut s = "{\"a\":".repeat(n);
                s.push('1');
                s.push_str(&"}".repeat(n));
                s.into_bytes()
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics(line in line_strategy()) {
        decode_ok(&[line]);
    }

    #[test]
    fn decoder_state_survives_any_sequence(lines in proptest::collection::vec(line_strategy(), 1..8)) {
        decode_ok(&lines);
    }

    #[test]
    fn printable_text_never_panics(s in "\\PC{0,300}") {
        decode_ok(&[s.into_bytes()]);
    }
}

#[test]
fn ten_megabyte_lines() {
    let mb10 = 10 * 1024 * 1024;
    let mut plain = "Deployment/apps/podinfo configured 'x' ".repeat(mb10 / 38);
    plain.truncate(mb10);
    let nested = "[".repeat(mb10);
    let mut json = String::from(r#"{"level":"info","msg":""#);
    json.push_str(&"a".repeat(mb10));
    json.push_str("\"}");
    let cri_partial = format!("2025-11-10T15:19:00Z stdout P {}", "b".repeat(mb10));
    let lines = [
        plain.into_bytes(),
        nested.into_bytes(),
        json.into_bytes(),
        cri_partial.clone().into_bytes(),
        cri_partial.into_bytes(),
        b"2025-11-10T15:19:00Z stdout F end".to_vec(),
    ];
    decode_ok(&lines);
}

#[test]
fn nul_and_invalid_utf8() {
    decode_ok(&[
        b"\0\0\0".to_vec(),
        b"{\"level\":\"info\",\"msg\":\"a\0b\"}".to_vec(),
        b"\xff\xfe\xfd".to_vec(),
        b"[pod/a\xff/b] \xc3".to_vec(),
        b"2025-11-10T15:19:00Z stdout F \xe2\x82".to_vec(),
    ]);
}
