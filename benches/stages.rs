//! Throughput of each pipeline stage — decode, classify, correlate, render — and of the
//! whole replay, at 1k and 100k distinct keys, with the scaling of the threaded stages
//! over 1 and 2 decode threads (issue 15; how to run and read: docs/benchmarks.md).
//!
//! Input: one deterministic generated corpus per key count (`fluxsight_testkit::gen`,
//! seed 11, `--mix all`, [`LINES`] lines over an hour). `objects = keys` with `sweep`
//! on visits the objects in order, so every key the generator writes about is touched;
//! the same lines and span at both sizes mean the two differ only in how many distinct
//! objects the state holds. Setup decodes, classifies and correlates each corpus once
//! and checks the key count (a generator change that stopped reaching the keys fails
//! here instead of measuring something else).
//!
//! Groups (every id ends in the key count, `keys_1k` / `keys_100k`):
//! - `decode`: `LineDecoder::decode` over the corpus lines, one thread.
//! - `classify`: `Classifier::classify` over the decoded records, one thread.
//! - `decode_classify`: `pipeline::classify::classify_chunked` (decode, classify and the
//!   `fluxsight classify` row rendering) into a sink, `threads_1`, `threads_2` (decode
//!   workers).
//! - `correlate`: a fresh `Correlator` fed the classified records in input order; single
//!   threaded by design (a sans-IO state machine, one owner of the per-key state).
//!   `keys_1m` is opt-in (`FLUXSIGHT_BENCH_1M=1`): the 100k corpus's records re-keyed
//!   over 1M objects, since generating a 1M-object corpus would dominate the run.
//! - `render/<format>`: native JSON, text line, OCSF, ECS of the findings the correlate
//!   stage emits for that corpus (taken once in setup).
//! - `replay`: `pipeline::replay::replay` end to end into a sink, `threads_1`,
//!   `threads_2`.
//!
//! Throughput is `Elements`: records (decoded records without continuation placeholders,
//! what replay counts), findings for `render`.

use std::collections::HashSet;
use std::hint::black_box;
use std::io::{self, Write};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};

use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Finding, Output, Settings};
use fluxsight::parse::LineDecoder;
use fluxsight::pipeline::classify::{classify_chunked, CHUNK_BYTES as CLASSIFY_CHUNK_BYTES};
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::record::{Format, ObjectRef, Record};
use fluxsight::render::colour::Palette;
use fluxsight::render::finding::{ecs, native, ocsf, text_line_in};
use fluxsight_testkit::gen::{mixed, GenConfig, Mix};

/// Lines per corpus, at every key count: 10 % over the largest count, so a sweep
/// reaches every object even though some lines (metrics, plain text) name none. A
/// replay at 100k keys is the longest iteration (about 10 s in release on 2 shared
/// cores when this was written), so more lines would mostly lengthen the run.
const LINES: u64 = 110_000;
/// Time the lines cover, ms: an hour, so 100k objects log at a rate a cluster of that
/// size reaches (a day would have each object speak once, and the correlator's periodic
/// checks, one per 30 s of record time, would outweigh the records).
const SPAN_MS: i64 = 3_600_000;
/// Distinct objects per corpus (`GenConfig::objects`).
const KEY_COUNTS: [u32; 2] = [1_000, 100_000];
/// The opt-in correlator size (`FLUXSIGHT_BENCH_1M=1`).
const KEYS_1M: usize = 1_000_000;
/// Decode threads of the threaded stages (`--threads N`): workers beside the calling
/// thread. 0 (all on the calling thread) is left out: the `decode`, `classify` and
/// `correlate` groups are the one-thread figures, and a 100k-key replay costs seconds.
const THREADS: [usize; 2] = [1, 2];
const SEED: u64 = 11;
/// Reorder window of the replay, ms (the CLI default `--lateness 10s`).
const LATENESS_MS: i64 = 10_000;
/// Share of the keys a corpus must touch for its id to name that key count. About 2 %
/// of the modelled objects never show up in a record, however long the sweep (98.2 %
/// of 100k at 110k lines, 98.3 % at 115k), so the bound is not 1.
const MIN_KEY_COVERAGE: f64 = 0.97;
/// Time between the records of the re-keyed 1M run, ms.
const REKEYED_STEP_MS: i64 = 100;

/// One key count's input, decoded and correlated once.
struct Fixture {
    /// `keys_1k` / `keys_100k`.
    id: String,
    corpus: Vec<u8>,
    /// Decoded and classified, continuation placeholders dropped, in input order.
    records: Vec<Record>,
    findings: Vec<Finding>,
}

impl Fixture {
    fn new(keys: u32) -> Fixture {
        let corpus = mixed(&GenConfig {
            lines: LINES,
            tenants: 100,
            objects: keys,
            seed: SEED,
            failure_rate: 0.05,
            mix: Mix::All,
            sweep: true,
            span_ms: SPAN_MS,
            ..GenConfig::default()
        });
        let records = decode_classify(&corpus, &Classifier::builtin());
        let distinct = records
            .iter()
            .filter_map(|r| r.object.as_ref())
            .collect::<HashSet<_>>()
            .len();
        assert!(
            distinct as f64 >= MIN_KEY_COVERAGE * f64::from(keys),
            "the corpus for {keys} keys names only {distinct} distinct objects"
        );
        let findings = correlate(&records)
            .into_iter()
            .filter_map(|o| match o {
                Output::Finding(f) => Some(*f),
                Output::Audit(_) => None,
            })
            .collect::<Vec<_>>();
        assert!(!findings.is_empty(), "no findings for {keys} keys");
        // What the ids measure, printed once beside criterion's report.
        eprintln!(
            "{}: {LINES} lines, {} bytes, {} records, {distinct} distinct objects, {} findings",
            key_id(keys as usize),
            corpus.len(),
            records.len(),
            findings.len()
        );
        Fixture {
            id: key_id(keys as usize),
            corpus,
            records,
            findings,
        }
    }

    fn records(&self) -> Throughput {
        Throughput::Elements(self.records.len() as u64)
    }
}

fn key_id(keys: usize) -> String {
    match keys {
        k if k >= 1_000_000 && k.is_multiple_of(1_000_000) => format!("keys_{}m", k / 1_000_000),
        k if k >= 1_000 && k.is_multiple_of(1_000) => format!("keys_{}k", k / 1_000),
        k => format!("keys_{k}"),
    }
}

fn lines(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    buf.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

fn is_record(r: &Record) -> bool {
    r.format != Format::Continuation
}

fn decode(buf: &[u8]) -> usize {
    let mut d = LineDecoder::new(None);
    let mut n = 0;
    for l in lines(buf) {
        n += black_box(d.decode(l))
            .iter()
            .filter(|r| is_record(r))
            .count();
    }
    n + d.finish().len()
}

fn decode_classify(buf: &[u8], c: &Classifier) -> Vec<Record> {
    let mut d = LineDecoder::new(None);
    let mut out = Vec::new();
    for l in lines(buf) {
        out.extend(d.decode(l).into_iter().filter(is_record));
    }
    out.extend(d.finish().into_iter().filter(is_record));
    for r in &mut out {
        c.classify(r);
    }
    out
}

fn classify(records: &mut [Record], c: &Classifier) -> usize {
    let mut failures = 0;
    for r in records.iter_mut() {
        c.classify(r);
        failures += usize::from(r.class.is_failure());
    }
    failures
}

fn correlate(records: &[Record]) -> Vec<Output> {
    let mut c = Correlator::new(Settings::default());
    let mut out = Vec::new();
    for r in records {
        c.on_record(r);
        out.append(&mut c.drain());
    }
    c.finish();
    out.append(&mut c.drain());
    out
}

/// `n` records, record `j` a copy of template `j % len` about key `j % keys` (its own
/// kind, namespace `t<k % 500>`, name `o<k>`) at a time 100 ms after the previous, so
/// the state sees `keys` distinct objects. One `ObjectRef` clone per record is in the
/// loop.
fn correlate_rekeyed(templates: &mut [Record], keys: &[ObjectRef], n: usize) -> usize {
    let mut c = Correlator::new(Settings::default());
    let t0 = GenConfig::default().start_ms;
    let mut out = 0;
    for j in 0..n {
        let t = &mut templates[j % templates.len()];
        if t.object.is_some() {
            t.object = Some(keys[j % keys.len()].clone());
        }
        t.ts = Some(t0 + REKEYED_STEP_MS * j as i64);
        c.on_record(t);
        out += c.drain().len();
    }
    c.finish();
    out + c.drain().len() + black_box(c.state_sizes().0)
}

fn rekeyed_keys(templates: &[Record], k: usize) -> Vec<ObjectRef> {
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

fn replay_once(corpus: &[u8], c: &Classifier, threads: usize) -> u64 {
    let opts = ReplayOptions {
        threads,
        ..ReplayOptions::default()
    };
    let mut corr = Correlator::new(Settings::default());
    let mut em = Emitter::new(io::sink(), opts);
    let inputs = vec![("gen.log".to_string(), corpus)];
    replay(inputs, c, &mut corr, &mut em, LATENESS_MS).expect("replay into a sink");
    em.stats.records
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sampling_mode(SamplingMode::Flat);
}

fn bench_decode(c: &mut Criterion, fx: &[Fixture]) {
    let mut g = c.benchmark_group("decode");
    configure(&mut g);
    for f in fx {
        g.throughput(f.records());
        g.bench_function(&f.id, |b| b.iter(|| decode(&f.corpus)));
    }
    g.finish();
}

fn bench_classify(c: &mut Criterion, fx: &mut [Fixture], cl: &Classifier) {
    let mut g = c.benchmark_group("classify");
    configure(&mut g);
    for f in fx.iter_mut() {
        g.throughput(f.records());
        // Classifying sets only the class and severity, from the other fields, so the
        // same records can be classified again every iteration.
        g.bench_function(&f.id, |b| b.iter(|| classify(&mut f.records, cl)));
    }
    g.finish();
}

fn bench_decode_classify(c: &mut Criterion, fx: &[Fixture], cl: &Classifier) {
    let mut g = c.benchmark_group("decode_classify");
    configure(&mut g);
    for f in fx {
        g.throughput(f.records());
        for threads in THREADS {
            let id = BenchmarkId::new(&f.id, format!("threads_{threads}"));
            g.bench_function(id, |b| {
                b.iter(|| {
                    let mut out = io::sink();
                    classify_chunked(
                        "gen.log",
                        f.corpus.as_slice(),
                        cl,
                        &mut out,
                        threads,
                        CLASSIFY_CHUNK_BYTES,
                    )
                    .expect("classify into a sink");
                    out.flush().expect("flush a sink")
                })
            });
        }
    }
    g.finish();
}

fn bench_correlate(c: &mut Criterion, fx: &mut [Fixture]) {
    let mut g = c.benchmark_group("correlate");
    configure(&mut g);
    for f in fx.iter() {
        g.throughput(f.records());
        g.bench_function(&f.id, |b| b.iter(|| correlate(&f.records).len()));
    }
    // At 1M keys one iteration takes minutes on a small machine (≈210 s on 2 shared
    // cores when it was measured), so that size is opt-in.
    if std::env::var_os("FLUXSIGHT_BENCH_1M").is_some() {
        if let Some(f) = fx.last_mut() {
            let keys = rekeyed_keys(&f.records, KEYS_1M);
            let n = KEYS_1M.max(f.records.len());
            g.throughput(Throughput::Elements(n as u64));
            g.bench_function(key_id(KEYS_1M), |b| {
                b.iter(|| correlate_rekeyed(&mut f.records, &keys, n))
            });
        }
    }
    g.finish();
}

/// One way of writing a finding.
type Render = fn(&Finding, &mut Vec<u8>);

fn render_native(f: &Finding, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, &native(f)).expect("json into a Vec");
    out.push(b'\n');
}

fn render_text(f: &Finding, out: &mut Vec<u8>) {
    out.extend_from_slice(text_line_in(f, Palette::Plain).as_bytes());
    out.push(b'\n');
}

fn render_ocsf(f: &Finding, out: &mut Vec<u8>) {
    // The emitter's own rule when each id is seen once: created on the first emission.
    serde_json::to_writer(&mut *out, &ocsf(f, f.emission <= 1)).expect("json into a Vec");
    out.push(b'\n');
}

fn render_ecs(f: &Finding, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, &ecs(f)).expect("json into a Vec");
    out.push(b'\n');
}

const RENDERS: [(&str, Render); 4] = [
    ("native", render_native),
    ("text", render_text),
    ("ocsf", render_ocsf),
    ("ecs", render_ecs),
];

fn bench_render(c: &mut Criterion, fx: &[Fixture]) {
    let mut g = c.benchmark_group("render");
    configure(&mut g);
    for f in fx {
        g.throughput(Throughput::Elements(f.findings.len() as u64));
        for (name, render) in RENDERS {
            let mut buf = Vec::new();
            g.bench_function(BenchmarkId::new(name, &f.id), |b| {
                b.iter(|| {
                    buf.clear();
                    for finding in &f.findings {
                        render(finding, &mut buf);
                    }
                    buf.len()
                })
            });
        }
    }
    g.finish();
}

fn bench_replay(c: &mut Criterion, fx: &[Fixture], cl: &Classifier) {
    let mut g = c.benchmark_group("replay");
    configure(&mut g);
    for f in fx {
        g.throughput(f.records());
        for threads in THREADS {
            let id = BenchmarkId::new(&f.id, format!("threads_{threads}"));
            g.bench_function(id, |b| b.iter(|| replay_once(&f.corpus, cl, threads)));
        }
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let classifier = Classifier::builtin();
    let mut fx: Vec<Fixture> = KEY_COUNTS.iter().map(|&k| Fixture::new(k)).collect();
    bench_decode(c, &fx);
    bench_classify(c, &mut fx, &classifier);
    bench_decode_classify(c, &fx, &classifier);
    bench_correlate(c, &mut fx);
    bench_render(c, &fx);
    bench_replay(c, &fx, &classifier);
}

criterion_group!(stages, benches);
criterion_main!(stages);
