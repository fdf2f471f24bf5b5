//! `fluxsight run`: the live pipeline. Sources, each with its own bounded line channel,
//! merged as streams (`live/inputs.rs`: round-robin, and each source's end is seen) →
//! the decode task (`live/decode.rs`: decode per stream, classify; batches of the lines
//! queued; a source's unfinished forms complete when it ends) → bounded batch channel →
//! the pipeline loop (correlate on wall-clock time) → stdout and the sinks. The two
//! stages run on different cores; each keeps the order of what it is given.
//!
//! Shutdown flows downstream with the data: the cancellation token stops the sources
//! and the HTTP server; when every sender is gone the decode task drains the line
//! channels and ends, the pipeline loop drains the batches, emits what changed, flushes
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
//! Clock (see `live/clock.rs`): `Clock::Auto` (default) follows the records' own time
//! while the input runs more than [`BEHIND_AFTER_MS`] behind the wall clock (a backlog,
//! a file of old logs) and the wall clock once it has caught up; a `--no-follow` run
//! whose input is behind ends as `replay` does, so both give the same findings.
//! `Clock::Wall` and `Clock::Record` fix one time for the whole run. The router and the
//! sinks see the correlator's time. Batches with no dated record, before any dated one,
//! wait (at most `MAX_WAITING_BATCHES`, or until the next tick) for `Auto` to decide.
//!
//! Signals (docs/fleet.md): with a signals sink, every record the correlator reads
//! (rebuild lines excepted: they were published before the restart) is published with
//! the correlator's clock, and a heartbeat with that clock follows batches and ticks
//! once per interval; both are in the spools before the batch is acknowledged.
//!
//! Stdout (see [`crate::pipeline::emit`], shared with `replay`): findings, and audit
//! records with `--audit`, in the chosen schema; in text, the detailed block of `replay
//! --output text` when a finding first fires, fires again or resolves, one line for each
//! update in between, and the number of audit records at the end.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::correlate::{Correlator, Output, Settings, Status};
use crate::pipeline::deliver::{DeliverError, SinkSet};
use crate::pipeline::emit::OutputEmitter;
use crate::pipeline::reload::{spawn_triggers, Reloader, Trigger};
use crate::record::{Record, TsMs};
use crate::render::finding::OutputFormat;
use crate::server::api::ApiSettings;
use crate::server::findings::FindingsView;
use crate::server::{self, ReceiverConfig};
use crate::sinks::config::DeliveryPlan;
use crate::sinks::stats::StatsSnapshot;
use crate::sources::ack::BatchAcks;
use crate::sources::SourceTask;
use crate::telemetry::Telemetry;
use crate::time::now_ms;

mod clock;
mod decode;
mod inputs;
mod lookups;
pub use clock::{Clock, Drift, LiveClock, BEHIND_AFTER_MS};
use inputs::Inputs;
use lookups::LookupRunner;
pub use lookups::LookupSource;

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
    /// Time of its newest dated record.
    newest: Option<TsMs>,
}

/// Batches of undated records kept while `Clock::Auto` waits for a dated one to decide
/// what drives time (past it, undated input is taken as live).
const MAX_WAITING_BATCHES: usize = BATCH_CHANNEL;

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
        .flat_map(|p| KEYS.iter().filter_map(move |k| p.declared_ms(k)))
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
    /// The findings API on `listen` (`/api/v1/findings`) and what its view holds.
    pub api: ApiSettings,
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
    /// Targeted lookups of the workloads a failed health check names (`None`: no
    /// cluster; the correlator's requests are dropped).
    pub lookups: Option<LookupSource>,
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
            telemetry.reloads.record(true, now_ms(), true);
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
    // One bounded channel per source, merged by the decode stage.
    let mut inputs = Inputs::default();
    let mut tasks = Vec::new();
    // `--no-follow`: when every input has been read, the run ends (the receiver would
    // otherwise keep the line channel open for ever).
    let running = Arc::new(std::sync::atomic::AtomicUsize::new(sources.len()));
    for s in sources {
        let fut = s(inputs.source(), cancel.clone(), telemetry.clone());
        let (running, cancel, stop) = (running.clone(), cancel.clone(), opts.stop_when_inputs_end);
        tasks.push(tokio::spawn(async move {
            fut.await;
            if running.fetch_sub(1, Ordering::SeqCst) == 1 && stop {
                cancel.cancel();
            }
        }));
    }
    // The findings the API serves: kept by the correlator loop below, read by the server.
    let view = opts
        .api
        .enabled
        .then(|| Arc::new(FindingsView::new(opts.api.limits)));
    if let Some(bound) = bound {
        let (t, c, cfg, tx2, v) = (
            telemetry.clone(),
            cancel.clone(),
            opts.receiver.clone(),
            inputs.source(),
            view.clone(),
        );
        tasks.push(tokio::spawn(async move {
            if let Err(e) = server::serve_bound(bound, t, tx2, cfg, v, c).await {
                tracing::error!(error = %e, "http server failed");
            }
        }));
    }
    // Capacity 1: a reload asked for while one is pending is the same reload.
    let (reload_tx, mut reload_rx) = mpsc::channel::<Trigger>(1);
    tasks.push(spawn_triggers(
        opts.config_path.clone(),
        reload_tx,
        cancel.clone(),
    ));

    // Stage 1, its own task (so on another core than the correlator): decoding and
    // classification, in batches of the lines already queued. Order is kept per source.
    // Both hops are bounded, so a slow correlator slows the sources.
    let (btx, mut brx) = mpsc::channel::<Batch>(BATCH_CHANNEL);
    let decode = tokio::spawn(decode::run(inputs, btx, telemetry.clone()));

    // Stage 2, here: correlation, emission and delivery.
    let mut stage = Stage {
        correlator: Correlator::new(settings),
        clock: LiveClock::new(opts.clock, BEHIND_AFTER_MS),
        summary: LiveSummary::default(),
        withholding: false,
        waiting: Vec::new(),
        stdout: opts
            .stdout
            .map(|f| OutputEmitter::stream(f, opts.audit_to_stdout, opts.text_palette)),
        view,
    };
    let (lr_tx, mut lr_rx) = mpsc::channel(lookups::RESULT_CHANNEL);
    let runner = opts.lookups.map(|l| {
        let lookups =
            crate::sources::kube::lookup::Lookups::new(l.client, l.settings, telemetry.clone());
        LookupRunner::new(Arc::new(lookups), lr_tx)
    });
    let mut ticker = tokio::time::interval(opts.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut input_ended = false;
    loop {
        tokio::select! {
            batch = brx.recv() => {
                let Some(batch) = batch else {
                    input_ended = true;
                    break;
                };
                if let Some(drift) = stage.clock.observe(batch.newest, now_ms()) {
                    log_drift(drift);
                }
                if stage.clock.undecided() && stage.waiting.len() < MAX_WAITING_BATCHES {
                    stage.waiting.push(batch);
                    continue;
                }
                stage.release_waiting(&mut sinks, &telemetry).await;
                stage.batch(batch, &mut sinks, &telemetry).await;
                stage.ask_lookups(runner.as_ref());
            }
            _ = ticker.tick() => {
                // Undated input and a tick without a dated record since: it is live.
                stage.release_waiting(&mut sinks, &telemetry).await;
                stage.tick(&mut sinks, &telemetry).await;
                stage.ask_lookups(runner.as_ref());
            }
            Some(result) = lr_rx.recv() => {
                stage.lookup_result(result, &mut sinks, &telemetry).await;
            }
            Some(trigger) = reload_rx.recv() => {
                if let Some(r) = reloader.as_mut() {
                    // A rejected file is logged and counted by `reload`; the running
                    // config simply goes on.
                    if r.reload(trigger, &mut stage.correlator, &mut sinks, &telemetry).is_ok() {
                        publish_gauges(&telemetry, &stage.correlator);
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
        stage.release_waiting(&mut sinks, &telemetry).await;
        // A recording read to its end (`--no-follow`, or any end with `--clock record`)
        // is judged at its last record's time, as `replay` does.
        let recording_ended =
            input_ended && (opts.clock == Clock::Record || opts.stop_when_inputs_end);
        stage.end(recording_ended, &mut sinks, &telemetry).await;
    }
    stage.finish_stdout();
    publish_gauges(&telemetry, &stage.correlator);
    let mut summary = stage.summary;
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

/// A lag as people read it: days for old captures (`279d19h`), else `1h5m` / `12m0s`.
fn lag_text(lag_ms: i64) -> String {
    const DAY_MS: i64 = 86_400_000;
    if lag_ms >= 2 * DAY_MS {
        format!("{}d{}h", lag_ms / DAY_MS, (lag_ms % DAY_MS) / 3_600_000)
    } else {
        crate::correlate::vars::human_ms(lag_ms)
    }
}

/// Logs a change of what drives time (once per change, not per batch).
fn log_drift(drift: Drift) {
    match drift {
        Drift::Behind { lag_ms } => tracing::warn!(
            lag = %lag_text(lag_ms),
            lag_secs = lag_ms / 1_000,
            "input runs behind the wall clock; time follows the records' own until it catches up"
        ),
        Drift::CaughtUp => {
            tracing::info!("input caught up with the wall clock; the wall clock drives time")
        }
    }
}

/// The correlator loop's state: the correlator, its clock and what was emitted.
struct Stage {
    correlator: Correlator,
    clock: LiveClock,
    summary: LiveSummary,
    /// Once a batch's outputs could not be made safe, no later batch is acknowledged
    /// either (acknowledging a later line would pass over the unsafe one).
    withholding: bool,
    /// Undated batches waiting for `Clock::Auto` to decide (see [`MAX_WAITING_BATCHES`]).
    waiting: Vec<Batch>,
    /// Findings and audit records on stdout (`None`: `--output none`).
    stdout: Option<OutputEmitter>,
    /// The findings API's view (`None`: `api.enabled: false`).
    view: Option<Arc<FindingsView>>,
}

impl Stage {
    /// Correlates one batch, emits and delivers what changed, then acknowledges it
    /// once its outputs are safe.
    async fn batch(&mut self, batch: Batch, sinks: &mut SinkSet, telemetry: &Telemetry) {
        // The wall clock, when it drives, is read once per batch; a record never moves
        // it back. Collecting and routing what changed runs once per batch instead of
        // once per line.
        if let Some(now) = self.clock.wall_drives(now_ms()) {
            self.correlator.on_time(now);
        }
        self.summary.lines += batch.lines;
        self.summary.records += batch.records.len() as u64;
        let signals = sinks.wants_signals();
        for (rec, rebuild) in batch.records.iter().zip(&batch.rebuild) {
            if signals && !*rebuild {
                sinks.signal_record(rec, self.correlator.now());
            }
            self.correlator.on_record(rec);
            if *rebuild {
                // Not delivered again, but the view starts empty after a restart: what
                // the rebuild knows again is the current state.
                let rebuilt = self.correlator.drain();
                self.keep(&rebuilt, telemetry);
                let n = rebuilt.len() as u64;
                self.summary.suppressed += n;
                telemetry.rebuild_suppressed.fetch_add(n, Ordering::Relaxed);
            }
        }
        if let (true, Some(now)) = (signals, self.correlator.now()) {
            sinks.signal_time(now);
        }
        let out = self.correlator.drain();
        let mut safe = sinks.flush_signals().await;
        if !out.is_empty() {
            self.emit(&out, telemetry);
            let now = self.clock.now(now_ms(), self.correlator.now());
            safe = sinks.deliver_since(&out, now, batch.read_at).await;
            if let (true, Some(at)) = (safe, batch.read_at) {
                telemetry.pipeline_latency.observe(at.elapsed());
            }
        }
        safe &= sinks.persist_router();
        self.withholding |= !safe;
        if self.withholding {
            self.summary.withheld += 1;
            telemetry.ack_withheld.fetch_add(1, Ordering::Relaxed);
        } else {
            batch.acks.commit();
        }
    }

    /// Starts the lookups the correlator asked for (dropped without a cluster).
    fn ask_lookups(&mut self, runner: Option<&LookupRunner>) {
        let asked = self.correlator.take_lookups();
        if let Some(r) = runner {
            r.start(asked);
        }
    }

    /// What a lookup fetched: correlated at once, and what changed emitted and
    /// delivered as after a tick.
    async fn lookup_result(
        &mut self,
        result: crate::correlate::workload::LookupResult,
        sinks: &mut SinkSet,
        telemetry: &Telemetry,
    ) {
        self.correlator.lookup_result(result);
        let now = self.clock.now(now_ms(), self.correlator.now());
        let out = self.correlator.drain();
        if !out.is_empty() {
            self.emit(&out, telemetry);
            sinks.deliver(&out, now).await;
        }
    }

    /// The batches that waited for the clock to decide, in order, under what it decided
    /// (the wall clock when no dated record came: undated input is live).
    async fn release_waiting(&mut self, sinks: &mut SinkSet, telemetry: &Telemetry) {
        if self.waiting.is_empty() {
            return;
        }
        self.clock.decide_wall();
        for batch in std::mem::take(&mut self.waiting) {
            self.batch(batch, sinks, telemetry).await;
        }
    }

    /// Time-driven checks: the wall clock advances the correlator only when it drives.
    async fn tick(&mut self, sinks: &mut SinkSet, telemetry: &Telemetry) {
        let wall = now_ms();
        if let Some(now) = self.clock.wall_drives(wall) {
            self.correlator.on_time(now);
        }
        let now = self.clock.now(wall, self.correlator.now());
        let out = self.correlator.drain();
        if !out.is_empty() {
            self.emit(&out, telemetry);
            sinks.deliver(&out, now).await;
        }
        publish_gauges(telemetry, &self.correlator);
        if let Some(view) = &self.view {
            view.expire(wall);
        }
        if let Some(t) = self.correlator.now() {
            sinks.signal_time(t);
            sinks.flush_signals().await;
        }
        sinks.tick(now).await;
        sinks.persist_router();
    }

    /// The end of the run: a recording read to its end is finished in its own time (as
    /// `replay`); with the wall clock driving, time advances to it; input still behind
    /// but not ended (a signal) is left as it is, to go on at the next start.
    async fn end(&mut self, recording_ended: bool, sinks: &mut SinkSet, telemetry: &Telemetry) {
        match self.clock.wall_drives(now_ms()) {
            Some(now) => self.correlator.on_time(now),
            None if recording_ended => self.correlator.finish(),
            None => {}
        }
        let out = self.correlator.drain();
        if !out.is_empty() {
            self.emit(&out, telemetry);
            let now = self.clock.now(now_ms(), self.correlator.now());
            sinks.deliver(&out, now).await;
        }
    }

    /// Counts the findings of `out` and writes it on stdout through the emitter
    /// `replay` shares. A failed write is logged (stdout is the user's view, not a
    /// delivery path with a spool).
    fn emit(&mut self, out: &[Output], telemetry: &Telemetry) {
        self.keep(out, telemetry);
        let findings = out
            .iter()
            .filter(|o| matches!(o, Output::Finding(_)))
            .count() as u64;
        self.summary.findings += findings;
        telemetry
            .findings_emitted
            .fetch_add(findings, Ordering::Relaxed);
        let Some(stdout) = self.stdout.as_mut() else {
            return;
        };
        let mut lock = std::io::stdout().lock();
        let written = out
            .iter()
            .try_for_each(|o| stdout.write(&mut lock, o))
            .and_then(|()| lock.flush());
        if let Err(e) = written {
            tracing::warn!(error = %e, "writing findings to stdout failed");
        }
    }

    /// Keeps the findings of `out` in the findings API's view (at wall time: a resolved
    /// finding stays for the retention from when it was seen resolved).
    fn keep(&self, out: &[Output], telemetry: &Telemetry) {
        if let Some(view) = &self.view {
            let dropped = view.apply(out, now_ms());
            telemetry
                .findings_view_dropped
                .fetch_add(dropped, Ordering::Relaxed);
        }
    }

    /// The end of stdout output (in text with `--audit`, the number of audit records).
    fn finish_stdout(&mut self) {
        let Some(stdout) = self.stdout.as_mut() else {
            return;
        };
        let mut lock = std::io::stdout().lock();
        if let Err(e) = stdout.finish(&mut lock).and_then(|()| lock.flush()) {
            tracing::warn!(error = %e, "writing findings to stdout failed");
        }
    }
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

#[cfg(test)]
mod tests {
    use super::lag_text;

    #[test]
    fn old_lags_read_in_days() {
        assert_eq!(lag_text(24_180_304_000), "279d20h");
        assert_eq!(lag_text(3_900_000), "1h5m");
        assert_eq!(lag_text(47 * 3_600_000), "47h0m");
    }
}
