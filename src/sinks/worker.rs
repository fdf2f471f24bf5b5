//! The per-sink worker: reads batches from the sink's queue, sends them, retries
//! retryable failures with back-off, dead-letters permanent rejections, acknowledges
//! what was delivered, and drains on shutdown under a deadline.
//!
//! Invariant: the worker is the only reader of its queue; a batch is acknowledged only
//! after `Sink::send` returned `Ok` or after it was written to the dead-letter file.

use std::collections::VecDeque;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::retry::Backoff;
use super::spool::{Pos, Queue, SpoolError};
use super::stats::SinkStats;
use super::{Delivery, Sink, SinkError};

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Dead-letter file (JSON lines); `None` logs rejected deliveries instead.
    pub dead_letter: Option<PathBuf>,
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
    enqueued: Mutex<VecDeque<(Pos, Instant)>>,
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
                        e.push_back((pos, Instant::now()));
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
                    self.shared.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(sink = %self.shared.name, error = %e, "delivery dropped");
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
    let mut last_send: Option<Instant> = None;
    let tick_every = sink.tick_interval();
    let mut next_tick = tick_every.map(|d| Instant::now() + d);
    loop {
        if shared.abort.load(Ordering::SeqCst) {
            break;
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
            let _ = q.sync(false);
            q.peek(sink.max_batch().max(1))
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
        let deliveries: Vec<Delivery> = batch.iter().map(|(_, d)| d.clone()).collect();
        let last_pos = batch.last().map(|(p, _)| *p).unwrap_or_default();
        let result = sink.send(&deliveries).await;
        // Paced from the end of the previous send: the receiver then sees requests at
        // least `min_interval` apart even when one took long to arrive (connect, TLS).
        last_send = Some(Instant::now());
        match result {
            Ok(()) => {
                backoff.reset();
                shared.unhealthy.store(false, Ordering::Relaxed);
                acknowledge(&shared, last_pos, deliveries.len() as u64, true);
            }
            Err(SinkError::Retryable {
                message,
                retry_after,
            }) => {
                shared.unhealthy.store(true, Ordering::Relaxed);
                shared.stats.retried.fetch_add(1, Ordering::Relaxed);
                let delay = backoff.next_delay(retry_after);
                if backoff.attempts() == 1 || backoff.attempts() % 10 == 0 {
                    tracing::warn!(sink = %shared.name, error = %message, attempt = backoff.attempts(), delay_ms = delay.as_millis() as u64, "delivery failed, retrying");
                }
                let until = Instant::now() + delay;
                while Instant::now() < until && !shared.abort.load(Ordering::SeqCst) {
                    tokio::time::sleep(
                        until
                            .saturating_duration_since(Instant::now())
                            .min(Duration::from_millis(100)),
                    )
                    .await;
                }
            }
            Err(SinkError::Permanent { message }) => {
                tracing::error!(sink = %shared.name, error = %message, count = deliveries.len(), "delivery rejected permanently; dead-lettered");
                dead_letter(&cfg, &shared.name, &message, &deliveries);
                shared
                    .stats
                    .dead_lettered
                    .fetch_add(deliveries.len() as u64, Ordering::Relaxed);
                acknowledge(&shared, last_pos, deliveries.len() as u64, false);
            }
        }
    }
    if let Err(e) = sink.flush().await {
        tracing::error!(sink = %shared.name, error = %e, "flush on shutdown failed");
    }
    let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    let _ = q.sync(true);
    if let Queue::Memory(_) = &*q {
        let left = q.len() as u64;
        if left > 0 {
            shared.stats.dropped.fetch_add(left, Ordering::Relaxed);
            tracing::error!(sink = %shared.name, count = left, "undelivered deliveries lost at shutdown (no state_dir)");
        }
    }
}

fn acknowledge(shared: &Shared, pos: Pos, n: u64, sent: bool) {
    let mut q = shared.queue.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = q.ack(pos) {
        tracing::error!(sink = %shared.name, error = %e, "spool cursor update failed");
    }
    shared.stats.set_queue(&q);
    drop(q);
    if sent {
        shared.stats.sent.fetch_add(n, Ordering::Relaxed);
        let mut e = shared.enqueued.lock().unwrap_or_else(|e| e.into_inner());
        while e.front().is_some_and(|(p, _)| *p <= pos) {
            if let Some((_, t)) = e.pop_front() {
                shared.stats.observe_latency(t.elapsed().as_millis() as u64);
            }
        }
    } else {
        let mut e = shared.enqueued.lock().unwrap_or_else(|e| e.into_inner());
        while e.front().is_some_and(|(p, _)| *p <= pos) {
            e.pop_front();
        }
    }
    shared.space.notify_waiters();
}

fn dead_letter(cfg: &WorkerConfig, sink: &str, reason: &str, deliveries: &[Delivery]) {
    let Some(path) = &cfg.dead_letter else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) else {
        tracing::error!(sink, path = %path.display(), "cannot open dead-letter file");
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    for d in deliveries {
        let line = serde_json::json!({
            "ts": crate::parse::time::format_rfc3339_ms(now),
            "sink": sink,
            "reason": crate::classify::redact::redact(reason),
            "delivery": d,
        });
        let _ = writeln!(f, "{line}");
    }
}
