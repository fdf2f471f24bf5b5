//! The per-sink worker: reads batches from the sink's queue, sends them, retries
//! retryable failures with back-off, dead-letters permanent rejections, acknowledges
//! what was delivered, and drains on shutdown under a deadline.
//!
//! Invariant: the worker is the only reader of its queue; a batch is acknowledged only
//! after `Sink::send` returned `Ok` or after it was written (and, unless the spool's fsync
//! policy is `never`, fsynced) to the dead-letter file. A dead-letter write or an ack that
//! fails is retried with the back-off, never skipped: until it works the batch stays in
//! the queue and the worker takes nothing new. Each such failing condition is logged when
//! it starts (ERROR) and when it clears (INFO), not once per retry.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::sinks::config::FsyncPolicy;
use crate::sinks::retry::Backoff;
use crate::sinks::spool::{create_dir_synced, Pos, Queue, SpoolError};
use crate::sinks::stats::{DropReason, SinkStats};
use crate::sinks::{Delivery, Sink, SinkError};

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Dead-letter file (JSON lines); `None` logs rejected deliveries instead.
    pub dead_letter: Option<PathBuf>,
}

/// Why the worker could not finish with a batch.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("dead-letter file {}: {source}", path.display())]
    DeadLetter {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

struct Shared {
    name: String,
    queue: Mutex<Queue>,
    data: Notify,
    space: Notify,
    closing: AtomicBool,
    /// Hard stop: abandon retries now (deadline passed or second signal).
    abort: AtomicBool,
    /// The sink failed its last attempt.
    unhealthy: AtomicBool,
    stats: Arc<SinkStats>,
    /// Per queued delivery: when it was queued, and when the line that produced it was
    /// read (if the caller knew).
    enqueued: Mutex<VecDeque<(Pos, Instant, Option<Instant>)>>,
    /// A sink built from a reloaded config, taken by the worker between two sends.
    replacement: Mutex<Option<Box<dyn Sink>>>,
}

/// Handle used by the router to hand deliveries to one sink.
#[derive(Clone)]
pub struct SinkHandle {
    shared: Arc<Shared>,
}

/// What happened to a submitted delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    Queued,
    /// Record unencodable, or shutdown aborted while waiting for room: counted in
    /// `dropped`.
    Dropped,
}

impl SinkHandle {
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub fn stats(&self) -> Arc<SinkStats> {
        self.shared.stats.clone()
    }

    /// Queues a delivery. When the queue cannot take it (memory queue at capacity, disk
    /// spool at `spool_max_bytes`, or the disk itself full) this waits for the worker to
    /// make room: back-pressure on the pipeline and, through its bounded channel, on the
    /// sources, rather than a lost delivery. Only an unencodable record, or a shutdown
    /// deadline passing while waiting, drops (counted in `dropped`).
    pub async fn submit(&self, d: Delivery) -> Submitted {
        self.submit_since(d, None).await
    }

    /// [`SinkHandle::submit`] of a delivery produced from input read at `origin`: its
    /// end-to-end latency (origin → accepted) is observed too.
    pub async fn submit_since(&self, d: Delivery, origin: Option<Instant>) -> Submitted {
        let mut waited = false;
        loop {
            let res = {
                let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
                let behind = !q.is_empty() || self.shared.unhealthy.load(Ordering::Relaxed);
                let r = q.push(&d);
                if r.is_ok() && behind {
                    self.shared.stats.spooled.fetch_add(1, Ordering::Relaxed);
                }
                self.shared.stats.set_queue(&q);
                (r, matches!(&*q, Queue::Disk(_)))
            };
            match res {
                (Ok(pos), _) => {
                    let mut e = self
                        .shared
                        .enqueued
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    if e.len() < 100_000 {
                        e.push_back((pos, Instant::now(), origin));
                    }
                    drop(e);
                    self.shared.data.notify_one();
                    if waited {
                        tracing::info!(sink = %self.shared.name, "queue has room again");
                    }
                    return Submitted::Queued;
                }
                (Err(e @ (SpoolError::Full(_) | SpoolError::Io(_))), disk)
                    if !self.shared.abort.load(Ordering::Relaxed) =>
                {
                    if !waited {
                        waited = true;
                        self.shared.stats.blocked.fetch_add(1, Ordering::Relaxed);
                        if disk {
                            tracing::error!(sink = %self.shared.name, error = %e, "spool cannot take more; the pipeline waits until the sink drains it");
                        }
                    }
                    self.shared.data.notify_one();
                    let notified = self.shared.space.notified();
                    tokio::select! {
                        _ = notified => {}
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                (Err(e), _) => {
                    let reason = if self.shared.abort.load(Ordering::Relaxed)
                        && matches!(e, SpoolError::Full(_) | SpoolError::Io(_))
                    {
                        DropReason::ShutdownDeadline
                    } else {
                        DropReason::Unencodable
                    };
                    self.shared.stats.drop_for(reason, 1);
                    tracing::error!(sink = %self.shared.name, error = %e, reason = reason.as_str(), "delivery dropped");
                    return Submitted::Dropped;
                }
            }
        }
    }

    /// Asks the worker to drain what is queued and stop.
    pub fn close(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.data.notify_one();
    }

    /// Abandons retries at once (shutdown deadline or second signal). What is still in a
    /// disk spool is delivered after restart.
    pub fn abort(&self) {
        self.shared.abort.store(true, Ordering::SeqCst);
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.data.notify_one();
    }

    /// Hands the worker a sink built from a changed config: it flushes the old one and
    /// sends with the new one from its next batch on. The queue (and so the spooled
    /// backlog), the stats and a batch being retried stay: they go to the new sink.
    pub fn replace_sink(&self, sink: Box<dyn Sink>) {
        *self
            .shared
            .replacement
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(sink);
        self.shared.data.notify_one();
    }

    /// Deliveries waiting.
    pub fn backlog(&self) -> usize {
        self.shared.queue.lock().map(|q| q.len()).unwrap_or(0)
    }
}

/// Starts the worker of one sink on the current tokio runtime.
pub fn spawn(
    name: &str,
    sink: Box<dyn Sink>,
    queue: Queue,
    cfg: WorkerConfig,
) -> (SinkHandle, JoinHandle<()>) {
    let stats = Arc::new(SinkStats::default());
    stats.set_queue(&queue);
    let shared = Arc::new(Shared {
        name: name.to_string(),
        queue: Mutex::new(queue),
        data: Notify::new(),
        space: Notify::new(),
        closing: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        unhealthy: AtomicBool::new(false),
        stats,
        enqueued: Mutex::new(VecDeque::new()),
        replacement: Mutex::new(None),
    });
    let handle = SinkHandle {
        shared: shared.clone(),
    };
    let join = tokio::spawn(run(shared, sink, cfg));
    (handle, join)
}

fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

async fn run(shared: Arc<Shared>, mut sink: Box<dyn Sink>, cfg: WorkerConfig) {
    let mut backoff = Backoff::new(
        cfg.retry_initial_ms,
        cfg.retry_max_ms,
        seed_of(&shared.name),
    );
    let fsync = shared
        .queue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .fsync_policy();
    let mut settler = Settler::new(fsync);
    let mut last_send: Option<Instant> = None;
    let mut tick_every = sink.tick_interval();
    let mut next_tick = tick_every.map(|d| Instant::now() + d);
    loop {
        // What the receiver is done with is settled before anything new is taken.
        let had_unsettled = settler.unsettled.is_some();
        let settled = settler.settle(&shared, &cfg);
        if shared.abort.load(Ordering::SeqCst) {
            break;
        }
        if !settled {
            pause(&shared, backoff.next_delay(None)).await;
            continue;
        }
        if had_unsettled {
            backoff.reset();
        }
        let next = shared
            .replacement
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(next) = next {
            // The old sink may hold accepted records in its own buffers (Kafka's
            // producer queue, a file's writer): flushed before it is dropped.
            if let Err(e) = sink.flush().await {
                tracing::warn!(sink = %shared.name, error = %e, "flushing the replaced sink failed");
            }
            sink = next;
            backoff.reset();
            tick_every = sink.tick_interval();
            next_tick = tick_every.map(|d| Instant::now() + d);
            tracing::info!(sink = %shared.name, "sink rebuilt from the reloaded config");
        }
        if let (Some(t), Some(every)) = (next_tick, tick_every) {
            if Instant::now() >= t {
                if let Err(e) = sink.tick().await {
                    tracing::warn!(sink = %shared.name, error = %e, "periodic sink work failed");
                }
                next_tick = Some(Instant::now() + every);
            }
        }
        let batch = {
            let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            match q.sync(false) {
                Ok(()) => Some(q.peek(sink.max_batch().max(1))),
                Err(e) => {
                    settler.spool_log.fail(&shared.name, &e);
                    None
                }
            }
        };
        let Some(batch) = batch else {
            // Nothing is sent (so nothing acknowledged) while the spool cannot sync.
            pause(&shared, backoff.next_delay(None)).await;
            continue;
        };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(sink = %shared.name, error = %e, "spool read failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if batch.is_empty() {
            if shared.closing.load(Ordering::SeqCst) {
                break;
            }
            let notified = shared.data.notified();
            let wait = next_tick
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        if let (Some(min), Some(last)) = (sink.min_interval(), last_send) {
            let since = last.elapsed();
            if since < min {
                tokio::time::sleep(min - since).await;
            }
        }
        let last_pos = batch.last().map(|(p, _)| *p).unwrap_or_default();
        let deliveries: Vec<Delivery> = batch.into_iter().map(|(_, d)| d).collect();
        let result = sink.send(&deliveries).await;
        // Paced from the end of the previous send: the receiver then sees requests at
        // least `min_interval` apart even when one took long to arrive (connect, TLS).
        last_send = Some(Instant::now());
        match result {
            Ok(()) => {
                backoff.reset();
                shared.unhealthy.store(false, Ordering::Relaxed);
                shared
                    .stats
                    .sent
                    .fetch_add(deliveries.len() as u64, Ordering::Relaxed);
                drop_enqueued(&shared, last_pos, true);
                settler.unsettled = Some(Unsettled::Ack { last: last_pos });
            }
            Err(SinkError::Retryable {
                message,
                retry_after,
            }) => {
                shared.unhealthy.store(true, Ordering::Relaxed);
                shared.stats.retried.fetch_add(1, Ordering::Relaxed);
                let delay = backoff.next_delay(retry_after);
                if backoff.attempts() == 1 || backoff.attempts().is_multiple_of(10) {
                    tracing::warn!(sink = %shared.name, error = %message, attempt = backoff.attempts(), delay_ms = delay.as_millis() as u64, "delivery failed, retrying");
                }
                pause(&shared, delay).await;
            }
            Err(SinkError::Permanent { message }) => {
                tracing::error!(sink = %shared.name, error = %message, count = deliveries.len(), "delivery rejected permanently; dead-lettering");
                settler.unsettled = Some(Unsettled::DeadLetter {
                    batch: deliveries,
                    last: last_pos,
                    reason: message,
                });
            }
        }
    }
    finish(&shared, sink.as_mut(), &settler).await;
}

/// Work the receiver is done with that the queue has not acknowledged yet.
enum Unsettled {
    /// Rejected permanently: acknowledged only once written to the dead-letter file.
    DeadLetter {
        batch: Vec<Delivery>,
        last: Pos,
        reason: String,
    },
    /// Sent or dead-lettered: the queue's ack failed (the spool could not sync).
    Ack { last: Pos },
}

/// A failing condition, logged when it starts (ERROR: deliveries are held) and when it
/// clears (INFO), not on every retry.
struct Condition {
    failing: bool,
    failed: &'static str,
    recovered: &'static str,
}

impl Condition {
    const fn new(failed: &'static str, recovered: &'static str) -> Self {
        Condition {
            failing: false,
            failed,
            recovered,
        }
    }

    fn fail(&mut self, sink: &str, error: &dyn std::fmt::Display) {
        if !std::mem::replace(&mut self.failing, true) {
            tracing::error!(sink, error = %error, "{}", self.failed);
        }
    }

    fn ok(&mut self, sink: &str) {
        if std::mem::replace(&mut self.failing, false) {
            tracing::info!(sink, "{}", self.recovered);
        }
    }
}

/// Finishes batches the receiver is done with: the dead-letter write, then the ack.
struct Settler {
    unsettled: Option<Unsettled>,
    /// The spool's policy, also applied to the dead-letter file.
    fsync: FsyncPolicy,
    dead_letter_log: Condition,
    spool_log: Condition,
    cursor_log: Condition,
}

impl Settler {
    fn new(fsync: FsyncPolicy) -> Self {
        Settler {
            unsettled: None,
            fsync,
            dead_letter_log: Condition::new(
                "dead-letter write failed; rejected deliveries stay in the spool and the write is retried",
                "dead-letter file written again",
            ),
            spool_log: Condition::new(
                "spool cannot sync; nothing is acknowledged until it can",
                "spool syncs again",
            ),
            cursor_log: Condition::new(
                "spool cursor cannot be written; a restart re-sends what was delivered since",
                "spool cursor written again",
            ),
        }
    }

    /// Settles what is pending; false while a step still fails (retry after a back-off).
    fn settle(&mut self, shared: &Shared, cfg: &WorkerConfig) -> bool {
        while let Some(u) = self.unsettled.take() {
            match u {
                Unsettled::DeadLetter {
                    batch,
                    last,
                    reason,
                } => {
                    let n = batch.len() as u64;
                    if let Err(e) = dead_letter(cfg, self.fsync, &shared.name, &reason, &batch) {
                        shared
                            .stats
                            .dead_letter_failed
                            .fetch_add(n, Ordering::Relaxed);
                        self.dead_letter_log.fail(&shared.name, &e);
                        self.unsettled = Some(Unsettled::DeadLetter {
                            batch,
                            last,
                            reason,
                        });
                        return false;
                    }
                    self.dead_letter_log.ok(&shared.name);
                    shared.stats.dead_lettered.fetch_add(n, Ordering::Relaxed);
                    self.unsettled = Some(Unsettled::Ack { last });
                }
                Unsettled::Ack { last } => match acknowledge(shared, last) {
                    Ok(()) => {
                        self.spool_log.ok(&shared.name);
                        self.cursor_log.ok(&shared.name);
                    }
                    // Acknowledged; only the restart position lags behind.
                    Err(SpoolError::Cursor(e)) => {
                        self.spool_log.ok(&shared.name);
                        self.cursor_log.fail(&shared.name, &e);
                    }
                    Err(e) => {
                        self.spool_log.fail(&shared.name, &e);
                        self.unsettled = Some(Unsettled::Ack { last });
                        return false;
                    }
                },
            }
        }
        true
    }
}

/// Sleeps `delay`, waking early when the worker is aborted or handed a new sink (a
/// reload that fixes a failing sink's config takes effect at once, not after the
/// back-off).
async fn pause(shared: &Shared, delay: Duration) {
    let until = Instant::now() + delay;
    let replaced = || {
        shared
            .replacement
            .lock()
            .map(|r| r.is_some())
            .unwrap_or(false)
    };
    while Instant::now() < until && !shared.abort.load(Ordering::SeqCst) && !replaced() {
        tokio::time::sleep(
            until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100)),
        )
        .await;
    }
}

/// Shutdown: flush the sink, sync the spool, account for what a memory queue loses.
async fn finish(shared: &Shared, sink: &mut dyn Sink, settler: &Settler) {
    if let Err(e) = sink.flush().await {
        tracing::error!(sink = %shared.name, error = %e, "flush on shutdown failed");
    }
    let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = q.sync(true) {
        tracing::error!(sink = %shared.name, error = %e, "spool sync on shutdown failed; a power cut now can lose the last appends");
    }
    if settler.unsettled.is_some() {
        tracing::warn!(sink = %shared.name, "stopped while a dead-letter write or an ack was failing; those deliveries stay queued");
    }
    if let Queue::Memory(_) = &*q {
        let left = q.len() as u64;
        if left > 0 {
            shared
                .stats
                .drop_for(DropReason::MemoryQueueAtShutdown, left);
            tracing::error!(sink = %shared.name, count = left, "undelivered deliveries lost at shutdown (no state_dir)");
        }
    }
}

/// Acknowledges everything up to `pos` in the queue. On `Ok` or [`SpoolError::Cursor`]
/// the deliveries are gone from the queue; on any other error nothing changed.
fn acknowledge(shared: &Shared, pos: Pos) -> Result<(), SpoolError> {
    let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    let res = q.ack(pos);
    shared.stats.set_queue(&q);
    drop(q);
    if matches!(res, Ok(()) | Err(SpoolError::Cursor(_))) {
        drop_enqueued(shared, pos, false);
        shared.space.notify_waiters();
    }
    res
}

/// Forgets enqueue times up to `pos`, observing them as latencies when `accepted`.
fn drop_enqueued(shared: &Shared, pos: Pos, accepted: bool) {
    let mut e = shared.enqueued.lock().unwrap_or_else(|e| e.into_inner());
    while e.front().is_some_and(|(p, _, _)| *p <= pos) {
        if let Some((_, t, origin)) = e.pop_front() {
            if accepted {
                shared.stats.observe_latency(t.elapsed().as_millis() as u64);
                if let Some(o) = origin {
                    shared
                        .stats
                        .observe_end_to_end(o.elapsed().as_millis() as u64);
                }
            }
        }
    }
}

/// Appends a rejected batch to the dead-letter file as one write, fsynced (with the new
/// file's directory entry) unless the spool's policy is `never`. A failed write is cut back
/// to the file's previous length, so no torn line stays behind and the retry does not
/// duplicate lines.
fn dead_letter(
    cfg: &WorkerConfig,
    fsync: FsyncPolicy,
    sink: &str,
    reason: &str,
    deliveries: &[Delivery],
) -> Result<(), WorkerError> {
    let Some(path) = &cfg.dead_letter else {
        return Ok(());
    };
    let err = |source| WorkerError::DeadLetter {
        path: path.clone(),
        source,
    };
    let syncs = fsync != FsyncPolicy::Never;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        if syncs {
            create_dir_synced(dir).map_err(err)?;
        } else {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
    }
    let created = !path.exists();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    let before = f.metadata().map_err(err)?.len();
    let buf = dead_letter_lines(sink, reason, deliveries);
    let written = f.write_all(&buf).and_then(|()| {
        if syncs {
            f.sync_data()?;
            if created {
                File::open(dir.unwrap_or(Path::new(".")))?.sync_all()?;
            }
        }
        Ok(())
    });
    if let Err(e) = written {
        if f.metadata().is_ok_and(|m| m.len() > before) {
            if let Err(t) = f.set_len(before) {
                tracing::error!(sink, path = %path.display(), error = %t, "cannot cut a failed dead-letter write back; the file may end in a torn line");
            }
        }
        return Err(err(e));
    }
    Ok(())
}

/// The JSON lines of a dead-lettered batch.
fn dead_letter_lines(sink: &str, reason: &str, deliveries: &[Delivery]) -> Vec<u8> {
    let now = crate::time::now_ms();
    let ts = crate::time::format_rfc3339_ms(now);
    let reason = crate::classify::redact::redact(reason);
    let mut buf = Vec::new();
    for d in deliveries {
        let line = serde_json::json!({
            "ts": ts,
            "sink": sink,
            "reason": reason,
            "delivery": d,
        });
        buf.extend_from_slice(line.to_string().as_bytes());
        buf.push(b'\n');
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::config::FsyncPolicy;
    use crate::sinks::spool::tests::audit;
    use crate::sinks::spool::DiskSpool;
    use crate::sinks::BoxFut;

    /// Long enough for any retry loop here to make progress on a loaded CI machine; the
    /// tests wait for events, this only bounds a hang.
    const LIMIT: Duration = Duration::from_secs(30);

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("fluxsight-worker-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Answers every batch with `result` and records the delivery ids it was given.
    struct Scripted {
        result: Result<(), SinkError>,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl Sink for Scripted {
        fn send<'a>(&'a mut self, batch: &'a [Delivery]) -> BoxFut<'a, Result<(), SinkError>> {
            let mut seen = self.seen.lock().unwrap();
            seen.extend(batch.iter().map(Delivery::delivery_id));
            let r = self.result.clone();
            Box::pin(async move { r })
        }
    }

    fn fast_retries(dead_letter: Option<PathBuf>) -> WorkerConfig {
        WorkerConfig {
            retry_initial_ms: 5,
            retry_max_ms: 20,
            dead_letter,
        }
    }

    async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        let t = Instant::now();
        while !cond() {
            assert!(t.elapsed() < LIMIT, "timed out waiting for: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn unwritable_dead_letter_keeps_deliveries_in_the_spool_until_it_works() {
        let dir = tmpdir("dead-letter");
        let spool_dir = dir.join("spool");
        let dl = dir.join("dead-letter").join("hook.jsonl");
        std::fs::create_dir_all(dl.parent().unwrap()).unwrap();
        // /dev/full accepts the open and answers every write with ENOSPC.
        std::os::unix::fs::symlink("/dev/full", &dl).unwrap();
        let queue =
            Queue::Disk(DiskSpool::open(&spool_dir, 1 << 20, FsyncPolicy::Always, 16).unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Scripted {
            result: Err(SinkError::permanent("http 400: bad payload")),
            seen: seen.clone(),
        };
        let (h, join) = spawn(
            "hook",
            Box::new(sink),
            queue,
            fast_retries(Some(dl.clone())),
        );
        let ds: Vec<Delivery> = (0..3).map(audit).collect();
        for d in &ds {
            assert_eq!(h.submit(d.clone()).await, Submitted::Queued);
        }
        let stats = h.stats();
        wait_for("several failed dead-letter writes", || {
            stats.snapshot().dead_letter_failed >= 5
        })
        .await;
        let st = stats.snapshot();
        assert_eq!(
            st.dead_lettered, 0,
            "nothing counted as dead-lettered: {st:?}"
        );
        assert_eq!(
            h.backlog(),
            3,
            "every rejected delivery is still in the spool"
        );

        std::fs::remove_file(&dl).unwrap();
        wait_for("the spool drained", || h.backlog() == 0).await;
        h.close();
        tokio::time::timeout(LIMIT, join).await.unwrap().unwrap();
        let st = stats.snapshot();
        assert_eq!(st.dead_lettered, 3, "{st:?}");

        let text = std::fs::read_to_string(&dl).unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let d: Delivery = serde_json::from_value(v["delivery"].clone()).unwrap();
                d.delivery_id()
            })
            .collect();
        let want: Vec<String> = ds.iter().map(Delivery::delivery_id).collect();
        assert_eq!(
            ids, want,
            "each delivery dead-lettered exactly once, in order"
        );
        let reopened =
            Queue::Disk(DiskSpool::open(&spool_dir, 1 << 20, FsyncPolicy::Always, 16).unwrap());
        assert_eq!(reopened.len(), 0, "acknowledged once written");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn failed_spool_fsync_stops_the_ack() {
        let dir = tmpdir("fsync-ack");
        // Appends are never synced on their own, and acks are lazy (`interval`): the
        // cursor is written at shutdown, after a data fsync, or not at all.
        for fsync_ok_at_close in [true, false] {
            let spool_dir = dir.join(format!("spool-{fsync_ok_at_close}"));
            let spool =
                DiskSpool::open(&spool_dir, 1 << 20, FsyncPolicy::Interval(3_600_000), 16).unwrap();
            let probe = spool.probe();
            probe.fail.store(true, std::sync::atomic::Ordering::SeqCst);
            let seen = Arc::new(Mutex::new(Vec::new()));
            let sink = Scripted {
                result: Ok(()),
                seen: seen.clone(),
            };
            let (h, join) = spawn(
                "hook",
                Box::new(sink),
                Queue::Disk(spool),
                fast_retries(None),
            );
            let ds: Vec<Delivery> = (0..4).map(audit).collect();
            for d in &ds {
                assert_eq!(h.submit(d.clone()).await, Submitted::Queued);
            }
            wait_for("delivered", || h.backlog() == 0).await;
            assert!(
                !spool_dir.join("cursor").exists(),
                "no durable cursor past data that could not be synced"
            );
            probe
                .fail
                .store(!fsync_ok_at_close, std::sync::atomic::Ordering::SeqCst);
            h.close();
            tokio::time::timeout(LIMIT, join).await.unwrap().unwrap();
            let want: Vec<String> = ds.iter().map(Delivery::delivery_id).collect();
            assert_eq!(*seen.lock().unwrap(), want, "each delivery sent once");
            let reopened =
                Queue::Disk(DiskSpool::open(&spool_dir, 1 << 20, FsyncPolicy::Always, 16).unwrap());
            let left = if fsync_ok_at_close { 0 } else { 4 };
            assert_eq!(
                reopened.len(),
                left,
                "acknowledged durably only once the data was synced (else delivered again)"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
