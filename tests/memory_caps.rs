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

// ---- workload_failure (issue 17): its store, pending failures and lookups ----

mod counting {
    //! Live heap bytes allocated by the current thread: the correlator is one thread,
    //! so the change across feeding it is the state it keeps (other tests in this
    //! binary run on other threads and do not count here).
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        static LIVE: Cell<isize> = const { Cell::new(0) };
    }

    fn add(n: isize) {
        let _ = LIVE.try_with(|c| c.set(c.get() + n));
    }

    pub fn live() -> isize {
        LIVE.with(Cell::get)
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(l) };
            if !p.is_null() {
                add(l.size() as isize);
            }
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { System.dealloc(p, l) };
            add(-(l.size() as isize));
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, l, new) };
            if !q.is_null() {
                add(new as isize - l.size() as isize);
            }
            q
        }
    }
}

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// The documents and Events of failing workload `i` (Deployment, ReplicaSet, three
/// Pods in ImagePullBackOff with their `Failed` Events), and the health-check failure
/// of the Kustomization that names it, as `kubectl get -o json` and Flux print them.
fn workload_lines(i: usize) -> (Vec<String>, String) {
    let ns = format!("t{}", i % 50);
    let d = format!("web{i}");
    let rs = format!("{d}-7d9f4c8b6");
    let img = "ghcr.io/acme/web:v1";
    let mut out = vec![
        format!(
            r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{d}","namespace":"{ns}","uid":"d-{i}","annotations":{{"deployment.kubernetes.io/revision":"2"}}}},"spec":{{"replicas":3}},"status":{{"replicas":3,"updatedReplicas":3}}}}"#
        ),
        format!(
            r#"{{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{{"name":"{rs}","namespace":"{ns}","uid":"r-{i}","ownerReferences":[{{"kind":"Deployment","name":"{d}","uid":"d-{i}","controller":true}}],"creationTimestamp":"2025-06-02T10:00:10Z"}},"spec":{{"replicas":3}}}}"#
        ),
    ];
    for k in 0..3 {
        let p = format!("{rs}-abc{k}");
        out.push(format!(r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{p}","namespace":"{ns}","uid":"p-{i}-{k}","ownerReferences":[{{"kind":"ReplicaSet","name":"{rs}","uid":"r-{i}","controller":true}}],"creationTimestamp":"2025-06-02T10:00:20Z"}},"spec":{{"nodeName":"n1","containers":[{{"name":"web","image":"{img}"}}]}},"status":{{"phase":"Pending","containerStatuses":[{{"name":"web","ready":false,"restartCount":0,"state":{{"waiting":{{"reason":"ImagePullBackOff","message":"Back-off pulling image \"{img}\""}}}}}}]}}}}"#));
        out.push(format!(r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"{p}.1","namespace":"{ns}"}},"involvedObject":{{"kind":"Pod","namespace":"{ns}","name":"{p}","uid":"p-{i}-{k}"}},"reason":"Failed","message":"Failed to pull image \"{img}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{img}\": not found","type":"Warning","source":{{"component":"kubelet"}},"count":5,"firstTimestamp":"2025-06-02T10:00:30Z","lastTimestamp":"2025-06-02T10:03:20Z"}}"#));
    }
    let failure = format!(
        r#"{{"level":"error","ts":"2025-06-02T10:06:{:02}.000Z","msg":"Reconciliation failed after 5m1s, next try in 10m0s","controller":"kustomization","controllerKind":"Kustomization","Kustomization":{{"name":"k{i}","namespace":"{ns}"}},"namespace":"{ns}","name":"k{i}","error":"health check failed after 5m0s: timeout waiting for: [Deployment/{ns}/{d} status: 'InProgress']"}}"#,
        i % 60
    );
    (out, failure)
}

fn feed_lines<'a>(
    c: &mut Correlator,
    classifier: &Classifier,
    lines: impl Iterator<Item = &'a String>,
) -> usize {
    let mut findings = 0;
    let mut d = LineDecoder::new(None);
    for l in lines {
        for mut r in d.decode(l.as_bytes()) {
            classifier.classify(&mut r);
            c.on_record(&r);
        }
        findings += c
            .drain()
            .iter()
            .filter(|o| matches!(o, Output::Finding(f) if f.pattern == "workload_failure"))
            .count();
    }
    findings
}

#[test]
fn workload_state_of_1000_failing_workloads_fits_32_mib() {
    let classifier = Classifier::builtin();
    let mut c = Correlator::new(Settings::default());
    // Warm the lazily built tables (rule regexes) outside the measurement.
    let (warm, _) = workload_lines(usize::MAX / 2);
    feed_lines(&mut c, &classifier, warm.iter());
    let mut c = Correlator::new(Settings::default());
    let before = counting::live();
    let mut failures = Vec::new();
    let mut fired = 0;
    for i in 0..1_000 {
        let (docs, failure) = workload_lines(i);
        fired += feed_lines(&mut c, &classifier, docs.iter());
        failures.push(failure);
    }
    fired += feed_lines(&mut c, &classifier, failures.iter());
    drop(failures);
    let kept = counting::live() - before;
    let n = c.state_counts();
    eprintln!("workload state at 1,000 failing workloads: {kept} bytes; {n:?}");
    assert_eq!(fired, 1_000, "every failure names its cause");
    assert!(
        n.workload_keys >= 1_000 * 5,
        "the store holds them all: {n:?}"
    );
    assert!(
        kept < 32 << 20,
        "correlator state {kept} bytes at 1,000 failing workloads (goal: under 32 MiB)"
    );
}

#[test]
fn workload_state_stays_within_caps() {
    let classifier = Classifier::builtin();
    let caps = Caps {
        objects: 300,
        ..Caps::default()
    };
    let mut c = Correlator::with_caps(Settings::default(), caps);
    for i in 0..3_000 {
        let (docs, failure) = workload_lines(i);
        feed_lines(
            &mut c,
            &classifier,
            docs.iter().chain(std::iter::once(&failure)),
        );
        if i % 500 == 499 {
            let n = c.state_counts();
            // Five capped maps; rings of at most 8 Events per object.
            assert!(n.workload_keys <= 5 * caps.objects, "after {i}: {n:?}");
            assert!(
                n.workload_events <= 2 * caps.objects * 8,
                "after {i}: {n:?}"
            );
            assert!(n.workload_pending <= 1_000 + 4_096, "after {i}: {n:?}");
            assert!(n.lookups <= 256 + 4_096, "after {i}: {n:?}");
        }
    }
    assert!(c.evictions().workloads > 0, "{:?}", c.evictions());
    // Never drained (as in replay): the lookup queue is capped, the rest dropped and
    // counted.
    assert!(c.take_lookups().len() <= 256);
}
