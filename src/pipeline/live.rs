//! `fluxsight run`: the live pipeline. Sources → bounded line channel → the decode task
//! (decode per stream, classify; batches of the lines queued) → bounded batch channel →
//! the pipeline loop (correlate on wall-clock time) → stdout and the sinks. The two
//! stages run on different cores; each keeps the order of what it is given.
//!
//! Shutdown flows downstream with the data: the cancellation token stops the sources
//! and the HTTP server; when every sender is gone the decode task drains the line
//! channel and ends, the pipeline loop drains the batches, emits what changed, and the
//! sinks drain and flush under the shutdown timeout.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::classify::Classifier;
use crate::correlate::{Correlator, Output, Settings, Status};
use crate::parse::LineDecoder;
use crate::pipeline::deliver::{DeliverError, SinkSet};
use crate::record::{Format, Record, TsMs};
use crate::render::finding::{self, OutputFormat};
use crate::server::{self, ReceiverConfig};
use crate::sinks::config::DeliveryPlan;
use crate::sinks::stats::StatsSnapshot;
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
}

/// Options of the live pipeline.
pub struct LiveOptions {
    /// Where the event receiver listens (it also serves `/metrics`, `/healthz`, `/readyz`).
    pub listen: Option<SocketAddr>,
    /// Where `/healthz`, `/readyz` and `/metrics` alone listen (`None` = not served apart).
    pub health_listen: Option<SocketAddr>,
    pub receiver: ReceiverConfig,
    /// Findings on stdout (`None` = quiet).
    pub stdout: Option<OutputFormat>,
    pub audit_to_stdout: bool,
    /// How often time-driven checks run.
    pub tick: Duration,
}

/// What a live run did.
#[derive(Debug, Default)]
pub struct LiveSummary {
    pub lines: u64,
    pub records: u64,
    pub findings: u64,
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
    // Bound before anything starts: an address that cannot be bound is fatal.
    let bound = match opts.listen {
        Some(addr) => Some(server::bind(addr, opts.health_listen).await?),
        None => None,
    };
    let mut sinks = SinkSet::start(plan)?;
    for (name, h) in sinks.handles() {
        telemetry.register_sink(name, h.stats());
    }
    let (tx, mut rx) = mpsc::channel::<SourceLine>(LINE_CHANNEL);
    let mut tasks = Vec::new();
    for s in sources {
        tasks.push(tokio::spawn(s(
            tx.clone(),
            cancel.clone(),
            telemetry.clone(),
        )));
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
            let mut batch = Batch::default();
            ingest.line(line, &telemetry, &mut batch);
            for _ in 1..BATCH_LINES {
                let Ok(line) = rx.try_recv() else { break };
                ingest.line(line, &telemetry, &mut batch);
            }
            telemetry
                .queue_depth
                .store(rx.len() as u64, Ordering::Relaxed);
            if btx.send(batch).await.is_err() {
                break;
            }
        }
    });

    // Stage 2, here: correlation, emission and delivery.
    let mut correlator = Correlator::new(settings);
    let mut summary = LiveSummary::default();
    let mut ticker = tokio::time::interval(opts.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stdout = std::io::stdout();
    loop {
        tokio::select! {
            batch = brx.recv() => {
                let Some(batch) = batch else { break };
                // Live: the clock is the wall clock, read once per batch; a record never
                // moves it back. Collecting and routing what changed runs once per
                // batch instead of once per line.
                correlator.on_time(wall_ms());
                summary.lines += batch.lines;
                summary.records += batch.records.len() as u64;
                for rec in &batch.records {
                    correlator.on_record(rec);
                }
                let out = correlator.drain();
                if !out.is_empty() {
                    emit(&out, &opts, &stdout, &mut summary, &telemetry);
                    sinks.deliver(&out, wall_ms()).await;
                }
            }
            _ = ticker.tick() => {
                let now = wall_ms();
                correlator.on_time(now);
                let out = correlator.drain();
                if !out.is_empty() {
                    emit(&out, &opts, &stdout, &mut summary, &telemetry);
                    sinks.deliver(&out, now).await;
                }
                publish_gauges(&telemetry, &correlator);
                sinks.tick(now).await;
            }
        }
    }
    // Input closed: sources are done. Emit what changed, then drain the sinks.
    let now = wall_ms();
    correlator.on_time(now);
    let out = correlator.drain();
    if !out.is_empty() {
        emit(&out, &opts, &stdout, &mut summary, &telemetry);
        sinks.deliver(&out, now).await;
    }
    publish_gauges(&telemetry, &correlator);
    let _ = decode.await;
    for t in tasks {
        let _ = t.await;
    }
    summary.sinks = sinks.finish(false).await;
    Ok(summary)
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
            if rec.format == Format::Partial {
                continue;
            }
            if rec.format == Format::Text {
                telemetry.parse_failures.fetch_add(1, Ordering::Relaxed);
            }
            self.classifier.classify(&mut rec);
            telemetry.records.fetch_add(1, Ordering::Relaxed);
            if let Some(ts) = rec.ts {
                stats.newest_ms.fetch_max(ts, Ordering::Relaxed);
            }
            batch.records.push(rec);
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
                let _ = writeln!(lock, "{}", finding::text_line(f));
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
