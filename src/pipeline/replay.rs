//! `fluxsight replay`: the whole pipeline over recorded input, with the records' own
//! timestamps as the clock (contracts.md §3).
//!
//! Files are merged in timestamp order; a bounded reorder buffer (`lateness`) absorbs
//! lines that are out of order within a file, and ties are broken by line content, so
//! shuffling lines within the lateness window gives the same findings.
//!
//! Signals (docs/fleet.md): with a signals sink (or a tap, [`Emitter::with_signal_tap`])
//! every record the correlator reads is published with the clock it is read at, and a
//! heartbeat follows whenever record time has moved past the interval: fed to a
//! correlator in the same order, they give the same findings.
//!
//! A progress hook ([`Emitter::with_progress`]) sees the counters every
//! [`PROGRESS_EVERY_RECORDS`] records and once at the end; it is how the command line
//! draws its progress line without the replay reading a clock.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Read, Write};

use crate::classify::Classifier;
use crate::correlate::{Correlator, Output};
use crate::parse::controller_hint_from_path;
use crate::parse::{LineDecoder, MAX_LINE_BYTES};
use crate::pipeline::deliver::Deliverer;
use crate::pipeline::emit::OutputEmitter;
use crate::pipeline::parallel::{default_threads, with_pool, ChunkWork, OrderedDecode, Pool};
use crate::pipeline::progress::ReplayProgress;
use crate::pipeline::report::ReportCollector;
use crate::record::{Format, Record, TsMs};
use crate::render::colour::Palette;
use crate::render::finding::OutputFormat;
use crate::signal::{Signal, SignalProducer};
use crate::sources::chunks::{read_ahead, Chunk, ChunkFeed, Chunks};

/// Replay options.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub format: OutputFormat,
    pub audit: bool,
    /// Out-of-order tolerance in ms.
    pub lateness_ms: i64,
    /// Clock for inputs that show no timestamp at all when no input does (a pasted table
    /// replayed alone): `replay` passes the newest modification time of its files; `None`
    /// is the epoch.
    pub undated_ms: Option<TsMs>,
    /// Styling of the text report (`format: Text`); plain unless stdout is a terminal.
    pub palette: Palette,
    /// Threads decoding the inputs (`0`: decoded on the replaying thread).
    pub threads: usize,
    /// Bytes of input per chunk handed to a decode thread, shared by the inputs.
    pub chunk_bytes: usize,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            format: OutputFormat::Native,
            audit: false,
            lateness_ms: 10_000,
            undated_ms: None,
            palette: Palette::Plain,
            threads: default_threads(),
            chunk_bytes: CHUNK_BYTES,
        }
    }
}

/// Counters of one replay.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplayStats {
    pub lines: u64,
    pub records: u64,
    pub findings_emitted: u64,
    pub audit_emitted: u64,
}

struct Item {
    ts: TsMs,
    key: u64,
    seq: u64,
    rec: Record,
    at: SourcePos,
}

/// Where a record was read: the input's index in the replay and the 1-based line whose
/// decoding returned it (for the post-mortem report's evidence sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SourcePos {
    pub input: u32,
    pub line: u64,
}

impl PartialEq for Item {
    fn eq(&self, o: &Self) -> bool {
        (self.ts, self.key, self.seq) == (o.ts, o.key, o.seq)
    }
}
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Item {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ts, self.key, self.seq).cmp(&(o.ts, o.key, o.seq))
    }
}

/// A stable tie-breaker from line content: FxHash, which reads the line a word at a
/// time (FNV-1a, a multiply per byte, was 4.6 % of a replay).
fn content_key(b: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(b);
    h.finish()
}

/// Decodes and classifies a chunk for replay: each record with its line's tie-break key
/// and line number; continuation placeholders dropped (replay reads the form's records,
/// not its lines).
pub struct ReplayWork;

impl ChunkWork for ReplayWork {
    type Out = Vec<(u64, u64, Record)>;
    type State = LineDecoder;

    fn run(&self, decoder: &mut LineDecoder, chunk: &Chunk, classifier: &Classifier) -> Self::Out {
        let mut out = Vec::with_capacity(chunk.lines as usize);
        for (i, line) in chunk.lines().enumerate() {
            let key = content_key(line);
            let at = chunk.lines_before + i as u64 + 1;
            for mut rec in decoder.decode(line) {
                if rec.format == Format::Continuation {
                    continue;
                }
                classifier.classify(&mut rec);
                out.push((key, at, rec));
            }
        }
        out
    }
}

/// One input: its lines decoded and classified (on the pool when there is one), in file
/// order.
pub struct RecordStream<'p, 'env, R> {
    chunks: ChunkFeed<R>,
    decode: OrderedDecode<'p, 'env, ReplayWork>,
    classifier: &'env Classifier,
    /// Every chunk of the input was handed in.
    read_all: bool,
    pending: std::collections::VecDeque<(u64, u64, Record)>,
    /// This input's index among the replay's inputs.
    input: u32,
    last_ts: Option<TsMs>,
    pub lines_read: u64,
    /// The input ended and the decoder's held form was drained.
    ended: bool,
    /// Time of the records before the input's first timestamp: that first timestamp, or
    /// [`UNDATED`] when the input has none.
    lead_ts: Option<TsMs>,
}

impl<'p, 'env, R: Read> RecordStream<'p, 'env, R> {
    /// `chunk_bytes`: the size inputs are cut to for the pool.
    pub fn new(
        name: &str,
        index: u32,
        input: R,
        pool: Option<&'p Pool<'env>>,
        classifier: &'env Classifier,
        chunk_bytes: usize,
    ) -> Self {
        let chunks = ChunkFeed::Here(Chunks::new(input, chunk_bytes, MAX_LINE_BYTES + 1));
        Self::from_feed(name, index, chunks, pool, classifier)
    }

    /// A stream over chunks read elsewhere (ahead, on a reader thread).
    pub fn from_feed(
        name: &str,
        index: u32,
        chunks: ChunkFeed<R>,
        pool: Option<&'p Pool<'env>>,
        classifier: &'env Classifier,
    ) -> Self {
        RecordStream {
            chunks,
            decode: OrderedDecode::new(
                pool,
                &ReplayWork,
                classifier,
                controller_hint_from_path(name),
            ),
            classifier,
            read_all: false,
            pending: Default::default(),
            input: index,
            last_ts: None,
            lines_read: 0,
            ended: false,
            lead_ts: None,
        }
    }

    /// Next record with its effective time and tie-break key.
    ///
    /// A record without a timestamp takes the last one its input showed. Records before
    /// the input's first timestamp take that first one (read ahead up to
    /// [`MAX_UNDATED_AHEAD`] records); an input with no timestamp at all (a pasted table,
    /// a describe block) is a snapshot taken after what the other inputs recorded, so it
    /// sorts after them and the correlator reads it at its current time.
    fn next(&mut self) -> io::Result<Option<(TsMs, u64, SourcePos, Record)>> {
        loop {
            if let Some((_, _, front)) = self.pending.front() {
                let undated_lead = front.ts.is_none() && self.last_ts.is_none();
                if undated_lead && self.lead_ts.is_none() {
                    while !self.ended
                        && self.pending.len() < MAX_UNDATED_AHEAD
                        && self.pending.back().is_none_or(|(_, _, r)| r.ts.is_none())
                    {
                        self.fill()?;
                    }
                    self.lead_ts = Some(
                        self.pending
                            .iter()
                            .take(MAX_UNDATED_AHEAD)
                            .find_map(|(_, _, r)| r.ts)
                            .unwrap_or(UNDATED),
                    );
                }
                let Some((key, line, mut rec)) = self.pending.pop_front() else {
                    continue;
                };
                let ts = match rec.ts {
                    Some(t) => {
                        self.last_ts = Some(t);
                        t
                    }
                    None => {
                        let t = self.last_ts.or(self.lead_ts).unwrap_or(UNDATED);
                        // The correlator reads it at its input's time (contracts.md §3);
                        // an input with no time at all is read at the correlator's.
                        if t != UNDATED {
                            rec.ts = Some(t);
                        }
                        t
                    }
                };
                let at = SourcePos {
                    input: self.input,
                    line,
                };
                return Ok(Some((ts, key, at, rec)));
            }
            if self.ended {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Takes the next chunk's records (or, at the end of input, the decoder's held form)
    /// into `pending`, keeping the pool's chunks in flight.
    fn fill(&mut self) -> io::Result<()> {
        loop {
            if !self.read_all && (self.decode.wants() || self.decode.idle()) {
                match self.chunks.next_chunk()? {
                    Some(chunk) => {
                        if let Some(done) = self.decode.push(chunk) {
                            self.taken(done);
                            return Ok(());
                        }
                        continue;
                    }
                    None => self.read_all = true,
                }
            }
            if let Some(done) = self.decode.take() {
                self.taken(done);
                return Ok(());
            }
            // A document or table row still being assembled at the end of input.
            self.ended = true;
            let key = self.lines_read;
            for mut rec in self.decode.state().finish() {
                self.classifier.classify(&mut rec);
                let line = rec.at_line.unwrap_or(self.lines_read);
                self.pending.push_back((key, line, rec));
            }
            return Ok(());
        }
    }

    fn taken(&mut self, (records, lines): (Vec<(u64, u64, Record)>, u64)) {
        self.lines_read += lines;
        self.pending.extend(records);
    }
}

/// Most records read ahead to date the records before an input's first timestamp.
const MAX_UNDATED_AHEAD: usize = 10_000;
/// Merge time of records from an input that shows no timestamp: after every dated one.
const UNDATED: TsMs = TsMs::MAX;

/// Records between two calls of the progress hook: often enough for a line redrawn a few
/// times a second at any realistic rate, rare enough to cost nothing per record.
pub const PROGRESS_EVERY_RECORDS: u64 = 4_096;

/// What a replay reports its progress to.
pub type ProgressHook = Box<dyn FnMut(ReplayProgress) + Send>;

/// Where a signal tap hands the signals it makes.
pub type SignalHook = Box<dyn FnMut(Signal) + Send>;

/// Writes findings and audit records as they are emitted (through the
/// [`OutputEmitter`] `run` shares), and hands them to the pipeline's sinks when it has
/// any.
pub struct Emitter<W: Write> {
    out: W,
    opts: ReplayOptions,
    stdout: OutputEmitter,
    deliverer: Option<Deliverer>,
    progress: Option<ProgressHook>,
    /// What the post-mortem report collects (`--report`), when asked for.
    report: Option<ReportCollector>,
    /// Signals made beside the sinks' (tests, measurements).
    tap: Option<(SignalProducer, SignalHook)>,
    pub stats: ReplayStats,
    /// Per-sink delivery counters after `finish`.
    pub sink_stats: std::collections::BTreeMap<String, crate::sinks::stats::StatsSnapshot>,
}

impl<W: Write> Emitter<W> {
    pub fn new(out: W, opts: ReplayOptions) -> Self {
        Emitter {
            out,
            stdout: OutputEmitter::report(opts.format, opts.audit, opts.palette),
            opts,
            deliverer: None,
            progress: None,
            report: None,
            tap: None,
            stats: ReplayStats::default(),
            sink_stats: Default::default(),
        }
    }

    /// Also delivers every output through `d` (routes, storm control, sinks).
    pub fn with_deliverer(mut self, d: Deliverer) -> Self {
        self.deliverer = Some(d);
        self
    }

    /// Also reports progress to `hook` (every [`PROGRESS_EVERY_RECORDS`] records, and
    /// once with `done` at the end of the replay).
    pub fn with_progress(mut self, hook: ProgressHook) -> Self {
        self.progress = Some(hook);
        self
    }

    /// Also collects what the post-mortem report needs (every record seen and every
    /// output), without changing what is written.
    pub fn with_report(mut self, collector: ReportCollector) -> Self {
        self.report = Some(collector);
        self
    }

    /// Also makes signals with `producer` and hands each to `hook`, as a signals sink
    /// would get them (without a sink: tests and measurements).
    pub fn with_signal_tap(mut self, producer: SignalProducer, hook: SignalHook) -> Self {
        self.tap = Some((producer, hook));
        self
    }

    /// A record about to be read by the correlator, whose clock is `now`.
    fn signal_record(&mut self, rec: &Record, now: Option<TsMs>) {
        if let Some(d) = self.deliverer.as_mut().filter(|d| d.wants_signals()) {
            d.signal_record(rec, now);
        }
        if let Some((p, hook)) = self.tap.as_mut() {
            hook(p.record(rec, now));
        }
    }

    /// The correlator's clock after a record.
    fn signal_time(&mut self, now: TsMs) {
        if let Some(d) = self.deliverer.as_mut().filter(|d| d.wants_signals()) {
            d.signal_time(now);
        }
        if let Some((p, hook)) = self.tap.as_mut() {
            if let Some(s) = p.heartbeat(now) {
                hook(s);
            }
        }
    }

    /// The report collector, once the replay is done.
    pub fn take_report(&mut self) -> Option<ReportCollector> {
        self.report.take()
    }

    fn report_progress(&mut self, lines: u64, done: bool) {
        if let Some(hook) = self.progress.as_mut() {
            hook(ReplayProgress {
                lines,
                records: self.stats.records,
                done,
            });
        }
    }

    /// Emits outputs produced at record time `now`.
    pub fn emit_at(&mut self, outputs: Vec<Output>, now: Option<TsMs>) -> io::Result<()> {
        if let Some(r) = self.report.as_mut() {
            for o in &outputs {
                r.on_output(o, now);
            }
        }
        if let (Some(d), Some(now)) = (self.deliverer.as_mut(), now) {
            if outputs.is_empty() {
                d.tick(now);
            } else {
                d.deliver(&outputs, now);
            }
        }
        self.emit(outputs)
    }

    pub fn emit(&mut self, outputs: Vec<Output>) -> io::Result<()> {
        for o in &outputs {
            if let Output::Finding(_) = o {
                self.stats.findings_emitted += 1;
            }
            self.stdout.write(&mut self.out, o)?;
        }
        self.stats.audit_emitted = self.stdout.audit_records();
        Ok(())
    }

    /// Like `finish`, also returning the per-sink delivery counters.
    pub fn finish_with_sinks(
        mut self,
    ) -> io::Result<std::collections::BTreeMap<String, crate::sinks::stats::StatsSnapshot>> {
        if let Some(d) = self.deliverer.take() {
            self.sink_stats = d.finish();
        }
        let stats = std::mem::take(&mut self.sink_stats);
        self.finish()?;
        Ok(stats)
    }

    /// Writes the text report (text format), drains the sinks and flushes.
    pub fn finish(mut self) -> io::Result<ReplayStats> {
        if let Some(d) = self.deliverer.take() {
            self.sink_stats = d.finish();
        }
        self.stdout.finish(&mut self.out)?;
        self.out.flush()?;
        Ok(self.stats)
    }
}

/// A record without a timestamp is read at the correlator's time; before any input gave
/// one, that time is the undated clock.
fn date_undated(correlator: &mut Correlator, rec: &Record, undated_ms: Option<TsMs>) {
    if rec.ts.is_none() && correlator.now().is_none() {
        correlator.on_time(undated_ms.unwrap_or(0));
    }
}

/// Replays `inputs` through `correlator`, writing to `emitter`; inputs are decoded on
/// `emitter`'s `threads` worker threads (none: on this one).
///
/// With worker threads, each input is also read on a thread of its own, a few chunks
/// ahead, so the replaying thread (the correlator's) only takes decoded records.
pub fn replay<R: Read + Send, W: Write>(
    inputs: Vec<(String, R)>,
    classifier: &Classifier,
    correlator: &mut Correlator,
    emitter: &mut Emitter<W>,
    lateness_ms: i64,
) -> io::Result<()> {
    let (threads, chunk_bytes) = (emitter.opts.threads, emitter.opts.chunk_bytes);
    with_pool(threads, |pool| {
        let chunk_bytes = (chunk_bytes / inputs.len().max(1)).max(MIN_CHUNK_BYTES.min(chunk_bytes));
        std::thread::scope(|scope| {
            let mut streams = Vec::with_capacity(inputs.len());
            for (i, (name, r)) in inputs.into_iter().enumerate() {
                let chunks = Chunks::new(r, chunk_bytes, MAX_LINE_BYTES + 1);
                let feed = match pool {
                    Some(_) => read_ahead(scope, chunks, READ_AHEAD_CHUNKS)?,
                    None => ChunkFeed::Here(chunks),
                };
                streams.push(RecordStream::from_feed(
                    &name, i as u32, feed, pool, classifier,
                ));
            }
            merge(streams, correlator, emitter, lateness_ms)
        })
    })
}

/// Bytes of input per chunk handed to a decode thread, shared by the inputs of a replay.
/// Each worker holds about one chunk and its decoded records: 256 KiB cost ~4.4 MiB of
/// peak RSS per worker; 64 KiB keeps a 2-thread replay of the 1,000-object generated
/// day at 32 MiB and was faster too (docs/performance.md).
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks a reader thread holds ready beside the one it is reading: one is enough to
/// keep the decode threads fed, and each more costs a chunk buffer of peak RSS.
const READ_AHEAD_CHUNKS: usize = 1;
/// Smallest chunk, however many inputs: smaller ones would cost more in hand-off than
/// they save in memory.
const MIN_CHUNK_BYTES: usize = 16 * 1024;

/// Merges the streams in time order through the reorder buffer into the correlator.
fn merge<R: Read, W: Write>(
    mut streams: Vec<RecordStream<'_, '_, R>>,
    correlator: &mut Correlator,
    emitter: &mut Emitter<W>,
    lateness_ms: i64,
) -> io::Result<()> {
    let mut heads: Vec<Option<(TsMs, u64, SourcePos, Record)>> = Vec::with_capacity(streams.len());
    for s in streams.iter_mut() {
        heads.push(s.next()?);
    }
    let mut buf: BinaryHeap<Reverse<Item>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut watermark = i64::MIN;
    loop {
        // The input whose head is earliest.
        let pick = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|(ts, _, _, _)| (*ts, i)))
            .min();
        let Some((_, i)) = pick else { break };
        if let Some((ts, key, at, rec)) = heads[i].take() {
            watermark = watermark.max(ts);
            seq += 1;
            buf.push(Reverse(Item {
                ts,
                key,
                seq,
                rec,
                at,
            }));
        }
        heads[i] = streams[i].next()?;
        while buf
            .peek()
            .is_some_and(|Reverse(it)| it.ts <= watermark.saturating_sub(lateness_ms))
        {
            if let Some(Reverse(it)) = buf.pop() {
                feed(correlator, emitter, &it.rec, it.at, &streams)?;
            }
        }
    }
    while let Some(Reverse(it)) = buf.pop() {
        feed(correlator, emitter, &it.rec, it.at, &streams)?;
    }
    correlator.finish();
    emitter.emit_at(correlator.drain(), correlator.now())?;
    emitter.stats.lines = lines_read(&streams);
    emitter.report_progress(emitter.stats.lines, true);
    Ok(())
}

/// One record through the correlator, its outputs to the emitter.
fn feed<R, W: Write>(
    correlator: &mut Correlator,
    emitter: &mut Emitter<W>,
    rec: &Record,
    at: SourcePos,
    streams: &[RecordStream<'_, '_, R>],
) -> io::Result<()> {
    emitter.stats.records += 1;
    if let Some(r) = emitter.report.as_mut() {
        r.on_record(rec, at);
    }
    if emitter.stats.records.is_multiple_of(PROGRESS_EVERY_RECORDS) {
        emitter.report_progress(lines_read(streams), false);
    }
    date_undated(correlator, rec, emitter.opts.undated_ms);
    emitter.signal_record(rec, correlator.now());
    correlator.on_record(rec);
    if let Some(now) = correlator.now() {
        emitter.signal_time(now);
    }
    emitter.emit_at(correlator.drain(), correlator.now())
}

fn lines_read<R>(streams: &[RecordStream<'_, '_, R>]) -> u64 {
    streams.iter().map(|s| s.lines_read).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::PatternId;
    use crate::correlate::Settings;

    /// Findings (pattern, first_seen) of replaying `inputs` with `undated_ms`.
    fn findings(inputs: Vec<(&str, &str)>, undated_ms: Option<TsMs>) -> Vec<(String, String)> {
        let classifier = Classifier::builtin();
        let mut correlator = Correlator::new(Settings::default());
        let mut out = Vec::new();
        let opts = ReplayOptions {
            undated_ms,
            ..ReplayOptions::default()
        };
        let mut emitter = Emitter::new(&mut out, opts);
        let inputs = inputs
            .into_iter()
            .map(|(n, t)| (n.to_string(), t.as_bytes()))
            .collect();
        replay(inputs, &classifier, &mut correlator, &mut emitter, 10_000).unwrap();
        emitter.finish().unwrap();
        let mut v: Vec<(String, String)> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|f| {
                (
                    f["pattern"].as_str().unwrap_or("").to_string(),
                    f["first_seen"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        v.dedup();
        v
    }

    const TABLE: &str = "NAMESPACE  NAME                  READY  MESSAGE\nteam-a     gitrepository/shop    False  failed to checkout and determine revision: unable to clone 'https://github.com/acme/shop.git': dial tcp: lookup github.com on 10.96.0.10:53: no such host\nteam-b     gitrepository/bill    False  failed to checkout and determine revision: unable to clone 'https://github.com/acme/bill.git': dial tcp: lookup github.com on 10.96.0.10:53: no such host\nteam-c     gitrepository/search  False  failed to checkout and determine revision: unable to clone 'https://github.com/acme/search.git': dial tcp: lookup github.com on 10.96.0.10:53: no such host\n";

    #[test]
    fn an_undated_snapshot_alone_is_read_at_the_undated_clock() {
        let f = findings(vec![("get.txt", TABLE)], Some(1_796_547_600_000));
        assert_eq!(
            f,
            vec![(
                PatternId::NetworkDegradation.to_string(),
                "2026-12-06T09:00:00.000Z".to_string()
            )]
        );
    }

    #[test]
    fn an_undated_snapshot_sorts_after_the_dated_inputs() {
        let log = "{\"level\":\"info\",\"ts\":\"2026-12-06T08:00:00.000Z\",\"msg\":\"starting manager\",\"logger\":\"setup\"}\n{\"level\":\"info\",\"ts\":\"2026-12-06T09:30:00.000Z\",\"msg\":\"starting manager\",\"logger\":\"setup\"}\n";
        // The table's rows are read at the end of the log, not at the epoch (where the
        // correlator had no clock and dropped them) nor at its start.
        let f = findings(vec![("get.txt", TABLE), ("src.log", log)], None);
        assert_eq!(
            f,
            vec![(
                PatternId::NetworkDegradation.to_string(),
                "2026-12-06T09:30:00.000Z".to_string()
            )]
        );
    }

    #[test]
    fn the_progress_hook_sees_counts_then_done() {
        use std::sync::{Arc, Mutex};
        let line = "{\"level\":\"info\",\"ts\":\"2026-12-06T08:00:00.000Z\",\"msg\":\"starting manager\",\"logger\":\"setup\"}\n";
        let n = PROGRESS_EVERY_RECORDS * 2 + 5;
        let text = line.repeat(n as usize);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook_seen = Arc::clone(&seen);
        let mut out = Vec::new();
        let mut emitter = Emitter::new(&mut out, ReplayOptions::default())
            .with_progress(Box::new(move |p| hook_seen.lock().unwrap().push(p)));
        let mut correlator = Correlator::new(Settings::default());
        let inputs = vec![("a.log".to_string(), text.as_bytes())];
        replay(
            inputs,
            &Classifier::builtin(),
            &mut correlator,
            &mut emitter,
            0,
        )
        .unwrap();
        let seen = seen.lock().unwrap().clone();
        let records: Vec<u64> = seen.iter().map(|p| p.records).collect();
        assert_eq!(
            records,
            vec![PROGRESS_EVERY_RECORDS, PROGRESS_EVERY_RECORDS * 2, n]
        );
        assert!(seen[..2].iter().all(|p| !p.done && p.lines >= p.records));
        assert_eq!(
            seen[2],
            ReplayProgress {
                lines: n,
                records: n,
                done: true
            }
        );
    }

    #[test]
    fn lines_before_the_first_timestamp_take_it() {
        let text = format!(
            "{TABLE}{{\"level\":\"info\",\"ts\":\"2026-12-06T07:00:00.000Z\",\"msg\":\"starting manager\",\"logger\":\"setup\"}}\n"
        );
        let f = findings(vec![("mixed.txt", &text)], None);
        assert_eq!(f[0].1, "2026-12-06T07:00:00.000Z");
    }
}
