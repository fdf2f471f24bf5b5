//! Correlator throughput at 1k / 100k / 1M distinct keys, and end-to-end replay of a
//! generated mix, on deterministic inputs (`fluxsight_testkit::gen`, seed 11).
//!
//! `correlate_records`: (1M keys only with `FLUXSIGHT_BENCH_1M=1`) pre-decoded, pre-classified records (a 100k-record template
//! set from the generator) fed to a fresh `Correlator` per iteration; record `j` is
//! about key `j % K` (its own kind, namespace `t<k % 500>`, name `o<k>`) at a time
//! that advances 100 ms per record, so the state sees exactly K distinct objects. The
//! loop includes one `ObjectRef` clone per record to set the key.
//! `replay`: `pipeline::replay` over a 50k-line `--mix all` corpus into a sink
//! (decode + classify + correlate + render), lines/s and bytes/s.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Settings};
use fluxsight::parse::LineDecoder;
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::record::{ObjectRef, Record};
use fluxsight_testkit::gen::{mixed, GenConfig, Mix};

const TEMPLATES: u64 = 100_000;
const REPLAY_LINES: u64 = 50_000;

fn templates() -> Vec<Record> {
    let buf = mixed(&GenConfig {
        lines: TEMPLATES,
        tenants: 100,
        objects: 10_000,
        seed: 11,
        failure_rate: 0.05,
        mix: Mix::Current,
        ..GenConfig::default()
    });
    let classifier = Classifier::builtin();
    let mut d = LineDecoder::new(None);
    let mut out = Vec::with_capacity(TEMPLATES as usize);
    for l in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        for mut r in d.decode(l) {
            classifier.classify(&mut r);
            out.push(r);
        }
    }
    out
}

/// The object of key `k`: its kind is the kind of the template it is first fed with.
fn keys(templates: &[Record], k: usize) -> Vec<ObjectRef> {
    (0..k)
        .map(|i| {
            let kind = templates[i % templates.len()]
                .object
                .as_ref()
                .map_or("Kustomization", |o| o.kind.as_str());
            ObjectRef::new(kind, format!("t{}", i % 500), format!("o{i}"))
        })
        .collect()
}

fn feed(templates: &mut [Record], keys: &[ObjectRef], n: usize) -> usize {
    let mut c = Correlator::new(Settings::default());
    let t0 = 1_772_442_000_000i64;
    let mut out = 0;
    for j in 0..n {
        let t = &mut templates[j % templates.len()];
        if t.object.is_some() {
            t.object = Some(keys[j % keys.len()].clone());
        }
        t.ts = Some(t0 + 100 * j as i64);
        c.on_record(t);
        out += c.drain().len();
    }
    c.finish();
    out + c.drain().len() + black_box(c.state_sizes().0)
}

fn benches(c: &mut Criterion) {
    let mut tpl = templates();
    let mut g = c.benchmark_group("correlate_records");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .sampling_mode(SamplingMode::Flat);
    // At 1M keys one iteration takes minutes on a small machine (≈210 s on 2 shared
    // cores at the time of writing), so that size is opt-in: FLUXSIGHT_BENCH_1M=1.
    let mut sizes = vec![1_000usize, 100_000];
    if std::env::var_os("FLUXSIGHT_BENCH_1M").is_some() {
        sizes.push(1_000_000);
    }
    for k in sizes {
        let ks = keys(&tpl, k);
        let n = k.max(tpl.len());
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("keys_{k}"), |b| b.iter(|| feed(&mut tpl, &ks, n)));
    }
    g.finish();
    drop(tpl);

    let corpus = mixed(&GenConfig {
        lines: REPLAY_LINES,
        tenants: 100,
        objects: 2_000,
        seed: 11,
        failure_rate: 0.05,
        mix: Mix::All,
        ..GenConfig::default()
    });
    let classifier = Classifier::builtin();
    let run = || {
        let mut corr = Correlator::new(Settings::default());
        let mut em = Emitter::new(std::io::sink(), ReplayOptions::default());
        let inputs = vec![("gen.log".to_string(), corpus.as_slice())];
        replay(inputs, &classifier, &mut corr, &mut em, 10_000).expect("replay");
        em.stats.findings_emitted
    };
    let mut g = c.benchmark_group("replay");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(REPLAY_LINES));
    g.bench_function("mix_all_lines", |b| b.iter(run));
    g.throughput(Throughput::Bytes(corpus.len() as u64));
    g.bench_function("mix_all_bytes", |b| b.iter(run));
    g.finish();
}

criterion_group!(correlate, benches);
criterion_main!(correlate);
