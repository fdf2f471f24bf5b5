//! `fluxsight run`: the live pipeline. Sources → bounded line channel → the decode task
//! (decode per stream, classify; batches of the lines queued) → bounded batch channel →
//! the pipeline loop (correlate on wall-clock time) → stdout and the sinks. The two
//! stages run on different cores; each keeps the order of what it is given.
//!
//! Shutdown flows downstream with the data: the cancellation token stops the sources
//! and the HTTP server; when every sender is gone the decode task drains the line
//! channel and ends, the pipeline loop drains the batches, emits what changed, flushes
//! the router's pending groups into the spools, and the sinks drain and flush. The
//! whole shutdown ends by `shutdown_timeout` after the signal, whatever a sink or the
//! disk is doing: past it, the sinks are aborted, the rest stays in their spools, and
//! lines whose outputs were not safe are not acknowledged (read again at the next
//! start). With `stop_when_inputs_end` (`--no-follow`) the run ends, receiver included,
//! once every input has been read.
//!
//! End-to-end acknowledgement (see [`crate::sources::ack`]): after a batch's outputs are
//! queued in every sink's spool and the router's groups are persisted, the batch's lines
//! are committed to their sources, which only then checkpoint past them. Lines re-read
//! after a restart to rebuild the correlator's windows (`Ack::rebuild`) feed the
//! correlator but what they produce is not delivered again.
//!
//! Reload (see [`crate::pipeline::reload`]): SIGHUP or a change of the config file
//! asks the pipeline loop, between two batches, to validate and swap the config; the
//! correlator, its open findings and the sinks' spools carry over.
//!
//! Clock: `Clock::Wall` (default) drives time-driven checks with the wall clock;
//! `Clock::Record` uses the records' own time, as `replay` does, for recorded input fed
//! through the live path (post-mortems with checkpoints and sinks).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::classify::Classifier;
use crate::correlate::{Correlator, Output, Settings, Status};
use crate::parse::LineDecoder;
use crate::pipeline::deliver::{DeliverError, SinkSet};
use crate::pipeline::reload::{spawn_triggers, Reloader, Trigger};
use crate::record::{Format, Record, TsMs};
use crate::render::finding::{self, OutputFormat};
use crate::server::{self, ReceiverConfig};
use crate::sinks::config::DeliveryPlan;
use crate::sinks::stats::StatsSnapshot;
use crate::sources::ack::BatchAcks;
use crate::sources::{SourceLine, SourceTask, LINE_CHANNEL};
use crate::telemetry::{SourceStats, Telemetry};

/// Most per-stream decoders kept (one per pod/container log stream).
const MAX_STREAMS: usize = 10_000;
/// Most queued lines taken into one batch (bounds the time between two emissions).
const BATCH_LINES: usize = 512;
/// Decoded batches in flight between the decode stage and the correlator.
const BATCH_CHANNEL: usize = 16;

/// The decode stage's output: the records of up to [`BATCH_LINES`] lines, in order.
#[derive(Default)]
struct Batch {
    lines: u64,
    records: Vec<Record>,
    /// Per record: it comes from a line re-read only to rebuild state.
    rebuild: Vec<bool>,
    /// The batch's lines to acknowledge once its outputs are safe.
    acks: BatchAcks,
    /// When its first line was taken from the line channel (pipeline latency).
    read_at: Option<Instant>,
}

/// What drives the correlator's clock in live mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Clock {
    /// The wall clock (following a live cluster).
    #[default]
    Wall,
    /// The records' own timestamps (recorded input, like `replay`).
    Record,
}

impl Clock {
    pub fn parse(s: &str) -> Option<Clock> {
        match s {
            "wall" => Some(Clock::Wall),
            "record" => Some(Clock::Record),
            _ => None,
        }
    }
}

/// Event time re-read after a restart to rebuild the correlator's windows: the longest
/// window or resolve time of any pattern (a finding open at the crash is then known
/// again, and resolved, by the next run), capped at [`MAX_LOOKBACK_MS`].
pub fn rebuild_lookback_ms(settings: &Settings) -> TsMs {
    const KEYS: [&str; 8] = [
        "window",
        "resolve_after",
        "min_span",
        "min_duration",
        "min_failing",
        "waiting_within",
        "recent",
        "dedupe",
    ];
    settings
        .patterns
        .iter()
        .flat_map(|p| KEYS.iter().map(move |k| p.ms(k)))
        .max()
        .unwrap_or(0)
        .clamp(0, MAX_LOOKBACK_MS)
}

/// Longest rebuild lookback (a restart re-reads at most this much event time).
pub const MAX_LOOKBACK_MS: TsMs = 6 * 3_600_000;

/// Options of the live pipeline.
pub struct LiveOptions {
    /// Where the event receiver listens (it also serves `/metrics`, `/healthz`, `/readyz`).
    pub listen: Option<SocketAddr>,
    /// Where `/healthz`, `/readyz` and `/metrics` alone listen (`None` = not served apart).
    pub health_listen: Option<SocketAddr>,
    pub receiver: ReceiverConfig,
    /// Findings on stdout (`None` = quiet).
    pub stdout: Option<OutputFormat>,
    /// Styling of `stdout: Some(Text)`; plain unless stdout is a terminal.
    pub text_palette: crate::render::colour::Palette,
    pub audit_to_stdout: bool,
    /// How often time-driven checks run.
    pub tick: Duration,
    /// What drives the correlator's clock.
    pub clock: Clock,
    /// End the run (receiver included) once every source has ended (`--no-follow`).
    pub stop_when_inputs_end: bool,
    /// The pipeline file, reloaded on SIGHUP and when its content changes (`None`:
    /// built-in defaults, nothing to reload).
    pub config_path: Option<PathBuf>,
}

/// What a live run did.
#[derive(Debug, Default)]
pub struct LiveSummary {
    pub lines: u64,
    pub records: u64,
    pub findings: u64,
    /// Outputs of rebuild lines, not delivered again.
    pub suppressed: u64,
    /// Batches not acknowledged (their outputs were not safe by the shutdown deadline).
    pub withheld: u64,
    pub sinks: BTreeMap<String, StatsSnapshot>,
}

fn wall_ms() -> TsMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs sources until they end or `cancel` fires, then drains everything.
pub async fn run_live(
    settings: Settings,
    plan: &DeliveryPlan,
    sources: Vec<SourceTask>,
    opts: LiveOptions,
    telemetry: Arc<Telemetry>,
    cancel: CancellationToken,
) -> Result<LiveSummary, DeliverError> {
    // The state directory's lock first (a second instance is told who holds it), then
    // the listeners, before anything starts: an address that cannot be bound is fatal.
    let mut sinks = SinkSet::start(plan)?;
    let bound = match opts.listen {
        Some(addr) => Some(server::bind(addr, opts.health_listen).await?),
        None => None,
    };
    for (name, h) in sinks.handles() {
        telemetry.register_sink(name, h.stats());
    }
    // Before the listeners serve: the first scrape already shows the start-up load.
    let mut reloader = match &opts.config_path {
        Some(path) => Some(Reloader::new(path.clone(), &telemetry)),
        None => {
            telemetry.reloads.record(true, wall_ms(), true);
            None
        }
    };
    // The shutdown deadline: `shutdown_timeout` after the signal, the sinks are aborted
    // (a wait for room in a full spool gives up) and the loop below stops.
    let hard_stop = CancellationToken::new();
    let deadline = Arc::new(std::sync::Mutex::new(None::<Instant>));
    {
        let (cancel, hard_stop, deadline) = (cancel.clone(), hard_stop.clone(), deadline.clone());
        let (handles, timeout) = (sinks.abort_handles(), sinks.shutdown_timeout());
        tokio::spawn(async move {
            cancel.cancelled().await;
            let at = Instant::now() + timeout;
            *deadline.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
            tokio::time::sleep_until(at.into()).await;
            tracing::error!(
                timeout_ms = timeout.as_millis() as u64,
                "shutdown timeout reached; aborting delivery, the rest stays in the spools"
            );
            for h in &handles {
                h.abort();
            }
            hard_stop.cancel();
        });
    }
    let (tx, mut rx) = mpsc::channel::<SourceLine>(LINE_CHANNEL);
    let mut tasks = Vec::new();
    // `--no-follow`: when every input has been read, the run ends (the receiver would
    // otherwise keep the line channel open for ever).
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(sources.len()));
    for s in sources {
        let fut = s(tx.clone(), cancel.clone(), telemetry.clone());
        let (running, cancel, stop) = (running.clone(), cancel.clone(), opts.stop_when_inputs_end);
        tasks.push(tokio::spawn(async move {
            fut.await;
            if running.fetch_sub(1, Ordering::SeqCst) == 1 && stop {
                cancel.cancel();
            }
        }));
    }
    if let Some(bound) = bound {
        let (t, c, cfg, tx2) = (
            telemetry.clone(),
            cancel.clone(),
            opts.receiver.clone(),
            tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            if let Err(e) = server::serve_bound(bound, t, tx2, cfg, c).await {
                tracing::error!(error = %e, "http server failed");
            }
        }));
    }
    drop(tx);
    // Capacity 1: a reload asked for while one is pending is the same reload.
    let (reload_tx, mut reload_rx) = mpsc::channel::<Trigger>(1);
    tasks.push(spawn_triggers(
        opts.config_path.clone(),
        reload_tx,
        cancel.clone(),
    ));

    // Stage 1, its own task (so on another core than the correlator): decoding and
    // classification, in batches of the lines already queued. Order is kept: one task,
    // one channel. Both channels are bounded, so a slow correlator slows the sources.
    let (btx, mut brx) = mpsc::channel::<Batch>(BATCH_CHANNEL);
    let decode_telemetry = telemetry.clone();
    let decode = tokio::spawn(async move {
        let telemetry = decode_telemetry;
        let mut ingest = Ingest {
            classifier: Classifier::builtin(),
            decoders: HashMap::new(),
        };
        while let Some(line) = rx.recv().await {
            let mut batch = Batch {
                read_at: Some(Instant::now()),
                ..Batch::default()
            };
            ingest.line(line, &telemetry, &mut batch);
            for _ in 1..BATCH_LINES {
                let Ok(line) = rx.try_recv() else { break };
                ingest.line(line, &telemetry, &mut batch);
            }
            telemetry
                .queue_depth
                .store(rx.len() as u64, Ordering::Relaxed);
            if btx.send(batch).await.is_err() {
                return;
            }
        }
        // Every source ended (`--no-follow`, stdin closed): documents and table rows still
        // being assembled are complete now.
        let mut batch = Batch::default();
        ingest.finish(&telemetry, &mut batch);
        if !batch.records.is_empty() && btx.send(batch).await.is_err() {
            tracing::debug!("correlator gone before the last assembled records");
        }
    });

    // Stage 2, here: correlation, emission and delivery.
    let mut correlator = Correlator::new(settings);
    let mut summary = LiveSummary::default();
    let mut ticker = tokio::time::interval(opts.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stdout = std::io::stdout();
    // Once a batch's outputs could not be made safe, no later batch is acknowledged
    // either (acknowledging a later line would pass over the unsafe one).
    let mut withholding = false;
    let mut input_ended = false;
    loop {
        tokio::select! {
            batch = brx.recv() => {
                let Some(batch) = batch else {
                    input_ended = true;
                    break;
                };
                // Live: the clock is the wall clock, read once per batch; a record never
                // moves it back. Collecting and routing what changed runs once per
                // batch instead of once per line.
                if opts.clock == Clock::Wall {
                    correlator.on_time(wall_ms());
                }
                summary.lines += batch.lines;
                summary.records += batch.records.len() as u64;
                for (rec, rebuild) in batch.records.iter().zip(&batch.rebuild) {
                    correlator.on_record(rec);
                    if *rebuild {
                        let n = correlator.drain().len() as u64;
                        summary.suppressed += n;
                        telemetry.rebuild_suppressed.fetch_add(n, Ordering::Relaxed);
                    }
                }
                let out = correlator.drain();
                let mut safe = true;
                if !out.is_empty() {
                    emit(&out, &opts, &stdout, &mut summary, &telemetry);
                    let now = clock_now(&opts, &correlator);
                    safe = sinks.deliver_since(&out, now, batch.read_at).await;
                    if let (true, Some(at)) = (safe, batch.read_at) {
                        telemetry.pipeline_latency.observe(at.elapsed());
                    }
                }
                safe &= sinks.persist_router();
                withholding |= !safe;
                if withholding {
                    summary.withheld += 1;
                    telemetry.ack_withheld.fetch_add(1, Ordering::Relaxed);
                } else {
                    batch.acks.commit();
                }
            }
            _ = ticker.tick() => {
                let now = match opts.clock {
                    Clock::Wall => {
                        let now = wall_ms();
                        correlator.on_time(now);
                        now
                    }
                    Clock::Record => clock_now(&opts, &correlator),
                };
                let out = correlator.drain();
                if !out.is_empty() {
                    emit(&out, &opts, &stdout, &mut summary, &telemetry);
                    sinks.deliver(&out, now).await;
                }
                publish_gauges(&telemetry, &correlator);
                sinks.tick(now).await;
                sinks.persist_router();
            }
            Some(trigger) = reload_rx.recv() => {
                if let Some(r) = reloader.as_mut() {
                    // A rejected file is logged and counted by `reload`; the running
                    // config simply goes on.
                    if r.reload(trigger, &mut correlator, &mut sinks, &telemetry).is_ok() {
                        publish_gauges(&telemetry, &correlator);
                    }
                }
            }
            _ = hard_stop.cancelled() => break,
        }
    }
    // Input closed (sources are done), or the shutdown deadline passed. Emit what
    // changed, then drain the sinks.
    drop(brx);
    decode.abort();
    if !hard_stop.is_cancelled() {
        if opts.clock == Clock::Record {
            if input_ended {
                correlator.finish();
            }
        } else {
            correlator.on_time(wall_ms());
        }
        let out = correlator.drain();
        if !out.is_empty() {
            emit(&out, &opts, &stdout, &mut summary, &telemetry);
            sinks.deliver(&out, clock_now(&opts, &correlator)).await;
        }
    }
    publish_gauges(&telemetry, &correlator);
    // Sources save their last checkpoint once the pipeline is gone; the server ends
    // within its grace. Neither may hold the exit past the deadline.
    let by = deadline
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_else(|| Instant::now() + sinks.shutdown_timeout());
    for t in tasks {
        let left = by.saturating_duration_since(Instant::now());
        let abort = t.abort_handle();
        if tokio::time::timeout(left, t).await.is_err() {
            abort.abort();
        }
    }
    summary.sinks = sinks.finish_by(true, by).await;
    Ok(summary)
}

/// The router's time: the wall clock, or the correlator's record time.
fn clock_now(opts: &LiveOptions, correlator: &Correlator) -> TsMs {
    match opts.clock {
        Clock::Wall => wall_ms(),
        Clock::Record => correlator.now().unwrap_or_else(wall_ms),
    }
}

/// Decoding and classification, one decoder per stream.
struct Ingest {
    classifier: Classifier,
    decoders: HashMap<Arc<str>, (LineDecoder, Arc<SourceStats>)>,
}

impl Ingest {
    /// Decodes and classifies one source line into `batch`.
    fn line(&mut self, line: SourceLine, telemetry: &Telemetry, batch: &mut Batch) {
        batch.lines += 1;
        let rebuild = line.ack.as_ref().is_some_and(|a| a.rebuild);
        let mut newest: Option<TsMs> = None;
        if !self.decoders.contains_key(&line.stream) && self.decoders.len() >= MAX_STREAMS {
            self.decoders.clear();
        }
        // The stream's decoder and its telemetry entry, looked up once per stream.
        let (dec, stats) = self.decoders.entry(line.stream.clone()).or_insert_with(|| {
            (
                LineDecoder::new(line.controller.clone()),
                telemetry.source(&line.stream),
            )
        });
        for mut rec in dec.decode(&line.bytes) {
            if matches!(rec.format, Format::Partial | Format::Continuation) {
                continue;
            }
            if rec.format == Format::Text {
                telemetry.parse_failures.fetch_add(1, Ordering::Relaxed);
            }
            self.classifier.classify(&mut rec);
            telemetry.records.fetch_add(1, Ordering::Relaxed);
            if let Some(ts) = rec.ts {
                stats.newest_ms.fetch_max(ts, Ordering::Relaxed);
                newest = Some(newest.map_or(ts, |n| n.max(ts)));
            }
            batch.records.push(rec);
            batch.rebuild.push(rebuild);
        }
        if let Some(a) = line.ack {
            batch.acks.add(a, newest);
        }
    }

    /// The input ended: the records every stream's decoder still assembles.
    fn finish(&mut self, telemetry: &Telemetry, batch: &mut Batch) {
        for (dec, _) in self.decoders.values_mut() {
            for mut rec in dec.finish() {
                self.classifier.classify(&mut rec);
                telemetry.records.fetch_add(1, Ordering::Relaxed);
                batch.records.push(rec);
                batch.rebuild.push(false);
            }
        }
    }
}

fn emit(
    out: &[Output],
    opts: &LiveOptions,
    stdout: &std::io::Stdout,
    summary: &mut LiveSummary,
    telemetry: &Telemetry,
) {
    let mut lock = stdout.lock();
    for o in out {
        let v = match (o, opts.stdout) {
            (_, None) => None,
            (Output::Finding(f), Some(OutputFormat::Ocsf)) => {
                Some(finding::ocsf(f, f.emission <= 1))
            }
            (Output::Finding(f), Some(OutputFormat::Ecs)) => Some(finding::ecs(f)),
            (Output::Finding(f), Some(OutputFormat::Text)) => {
                let _ = writeln!(lock, "{}", finding::text_line_in(f, opts.text_palette));
                None
            }
            (Output::Finding(f), Some(_)) => Some(finding::native(f)),
            (Output::Audit(a), Some(_)) if opts.audit_to_stdout => Some(finding::audit_native(a)),
            (Output::Audit(_), _) => None,
        };
        if matches!(o, Output::Finding(_)) {
            summary.findings += 1;
            telemetry.findings_emitted.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(v) = v {
            let _ = writeln!(lock, "{v}");
        }
    }
    let _ = lock.flush();
}

/// The firing-findings gauge (per pattern and tenant) and the state sizes, set once per
/// tick: they are scraped every few seconds, and counting on every batch walked every
/// finding.
fn publish_gauges(telemetry: &Telemetry, correlator: &Correlator) {
    telemetry.set_state(
        &correlator.state_counts().named(),
        &correlator.evictions().named(),
    );
    let mut firing: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for f in correlator.firing() {
        if f.status == Status::Firing {
            *firing.entry((&f.pattern, &f.tenant)).or_default() += 1;
        }
    }
    telemetry.set_firing(
        firing
            .into_iter()
            .map(|((p, t), n)| ((p.to_string(), t.to_string()), n))
            .collect(),
    );
}
