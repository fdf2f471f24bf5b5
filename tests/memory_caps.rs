//! Cardinality caps (issue 6): feeding over a million distinct keys leaves every keyed
//! structure of the correlator at or under its cap, and evictions are counted.
//!
//! Not timed. Records are decoded and classified once from a generated corpus
//! (`fluxsight_testkit::gen`), then re-keyed: record `j` is about its own object `o<j>` in
//! namespace `t<j % 500>`, its snapshot names its own source `src<j>` and depends on
//! `o<j-1>`, so objects, sources, consumer edges, claims and per-object work all see
//! over 1M distinct keys.

use fluxsight::classify::Classifier;
use fluxsight::correlate::state::{Caps, StateCounts};
use fluxsight::correlate::{Correlator, Output, Settings};
use fluxsight::parse::LineDecoder;
use fluxsight::record::{Class, Detail, ObjectRef, Record};
use fluxsight_testkit::gen::{mixed, GenConfig, Mix};

const KEYS: usize = 1_150_000;

fn templates() -> Vec<Record> {
    let buf = mixed(&GenConfig {
        lines: 20_000,
        tenants: 50,
        objects: 2_000,
        seed: 3,
        failure_rate: 0.3,
        mix: Mix::Current,
        ..GenConfig::default()
    });
    let classifier = Classifier::builtin();
    let mut d = LineDecoder::new(None);
    let mut out = Vec::new();
    for l in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        for mut r in d.decode(l) {
            classifier.classify(&mut r);
            // Host-level detectors (rate limit, network) rescan every object per record
            // while their finding fires (a known throughput gap, see issue 6); they add
            // no keyed family of their own beyond `hosts`, so they are left out to keep
            // this test quick in debug builds.
            if !matches!(r.class, Class::RateLimited | Class::NetworkError) {
                out.push(r);
            }
        }
    }
    out
}

fn rekey(t: &mut Record, j: usize, ts: i64) {
    t.ts = Some(ts);
    let ns = fluxsight::record::Sym::from(format!("t{}", j % 500));
    if let Some(o) = &mut t.object {
        o.namespace.clone_from(&ns);
        o.name = format!("o{j}").into();
    }
    if let Detail::Object(info) = &mut t.detail {
        if let Some(s) = &mut info.source_ref {
            s.namespace.clone_from(&ns);
            s.name = format!("src{j}").into();
        }
        info.depends_on = vec![ObjectRef::new(
            "Kustomization",
            ns,
            format!("o{}", j.saturating_sub(1)),
        )];
    }
}

fn assert_within(c: &StateCounts, caps: &Caps, at: usize) {
    let ctx = format!("after {at} records: {c:?}");
    assert!(c.objects <= caps.objects, "objects {ctx}");
    assert!(c.controllers <= caps.controllers, "controllers {ctx}");
    assert!(c.hosts <= caps.hosts, "hosts {ctx}");
    assert!(c.findings <= caps.findings, "findings {ctx}");
    assert!(c.consumer_sources <= caps.objects, "consumer sources {ctx}");
    assert!(c.consumer_edges <= caps.objects, "consumer edges {ctx}");
    assert!(c.claims <= caps.objects, "claims {ctx}");
    assert!(c.failing <= caps.objects, "failing {ctx}");
    assert!(c.waiting <= caps.objects, "waiting {ctx}");
    assert!(c.recent_failures <= 10_000, "recent failures {ctx}");
    assert!(c.audit <= 200_000, "audit {ctx}");
    assert!(c.object_runs_max <= caps.objects, "object runs {ctx}");
    assert!(
        c.tenants_max <= caps.tenants_per_controller,
        "tenants {ctx}"
    );
}

#[test]
fn a_million_distinct_keys_stay_within_caps() {
    let mut tpl = templates();
    let caps = Caps {
        objects: 5_000,
        hosts: 64,
        tenants_per_controller: 100,
        findings: 1_000,
        ..Caps::default()
    };
    let mut c = Correlator::with_caps(Settings::default(), caps);
    let t0 = 1_772_442_000_000i64;
    let mut emitted = 0usize;
    let mut max_findings = 0usize;
    let mut keyed = 0usize;
    for j in 0..KEYS {
        let n = tpl.len();
        let t = &mut tpl[j % n];
        rekey(t, j, t0 + 20 * j as i64);
        keyed += usize::from(t.object.is_some());
        c.on_record(t);
        emitted += c
            .drain()
            .iter()
            .filter(|o| matches!(o, Output::Finding(_)))
            .count();
        max_findings = max_findings.max(c.state_sizes().3);
        if j % 100_000 == 99_999 {
            assert_within(&c.state_counts(), &caps, j + 1);
        }
    }
    c.finish();
    c.drain();
    let counts = c.state_counts();
    assert_within(&counts, &caps, KEYS);

    // The caps were reached, not merely never approached (eviction frees a tenth).
    assert!(counts.objects >= caps.objects * 9 / 10, "{counts:?}");
    assert!(max_findings > caps.findings / 2, "{max_findings}");
    assert!(emitted > 0);

    // Evictions are counted for every capped family that overflowed.
    let ev = c.evictions();
    assert!(keyed >= 1_000_000, "{keyed} distinct keys fed");
    assert!(
        ev.objects as usize + counts.objects >= keyed * 9 / 10,
        "{keyed} keys: {ev:?}"
    );
    assert!(ev.consumers > 0, "{ev:?}");
    assert!(ev.findings > 0, "{ev:?}");
    assert!(ev.object_runs > 0, "{ev:?}");
    assert!(ev.tenants > 0, "{ev:?}");

    // The findings tables stay bounded as well.
    assert!(c.findings().len() <= caps.findings);
    assert!(c.firing().count() <= caps.findings);
    // The legacy tuple agrees with the detailed counts.
    let (o, ctl, h, f) = c.state_sizes();
    assert_eq!(
        (o, ctl, h, f),
        (
            counts.objects,
            counts.controllers,
            counts.hosts,
            counts.findings
        )
    );
}
