//! Parse and classify throughput per input form, on deterministic generated corpora
//! (`fluxsight_testkit::gen`, seed 7, ≥100k lines per form).
//!
//! Groups: `decode_bytes` (bytes/s of `LineDecoder::decode`), `decode_lines` (lines/s of
//! the same work) and `decode_classify_lines` (decode + `Classifier::classify`, lines/s).
//! Keep runs short on small machines: `cargo bench --bench parse -- decode_bytes/zap`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use fluxsight::classify::Classifier;
use fluxsight::parse::LineDecoder;
use fluxsight_testkit::gen::{corpus, Form, GenConfig, Mix};

const LINES: u64 = 100_000;

fn config() -> GenConfig {
    GenConfig {
        tenants: 50,
        objects: 2_000,
        seed: 7,
        failure_rate: 0.05,
        mix: Mix::All,
        ..GenConfig::default()
    }
}

/// Every form with its corpus.
fn corpora() -> Vec<(Form, Vec<u8>)> {
    let cfg = config();
    Form::ALL
        .iter()
        .map(|&f| (f, corpus(f, LINES, &cfg)))
        .collect()
}

fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    buf.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

fn decode_all(buf: &[u8]) -> usize {
    let mut d = LineDecoder::new(None);
    let mut n = 0;
    for l in lines(buf) {
        n += black_box(d.decode(l)).len();
    }
    n
}

fn decode_classify_all(buf: &[u8], c: &Classifier) -> usize {
    let mut d = LineDecoder::new(None);
    let mut n = 0;
    for l in lines(buf) {
        for mut r in d.decode(l) {
            c.classify(&mut r);
            n += usize::from(r.class.is_failure());
            black_box(&r);
        }
    }
    n
}

fn configure(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sampling_mode(SamplingMode::Flat);
}

fn benches(c: &mut Criterion) {
    let corpora = corpora();
    let classifier = Classifier::builtin();

    let mut g = c.benchmark_group("decode_bytes");
    configure(&mut g);
    for (f, buf) in &corpora {
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(f.as_str(), |b| b.iter(|| decode_all(buf)));
    }
    g.finish();

    let mut g = c.benchmark_group("decode_lines");
    configure(&mut g);
    for (f, buf) in &corpora {
        g.throughput(Throughput::Elements(LINES));
        g.bench_function(f.as_str(), |b| b.iter(|| decode_all(buf)));
    }
    g.finish();

    let mut g = c.benchmark_group("decode_classify_lines");
    configure(&mut g);
    for (f, buf) in &corpora {
        g.throughput(Throughput::Elements(LINES));
        g.bench_function(f.as_str(), |b| {
            b.iter(|| decode_classify_all(buf, &classifier))
        });
    }
    g.finish();
}

criterion_group!(parse, benches);
criterion_main!(parse);
