//! Per-sink delivery counters, shared between the worker and the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::sinks::spool::Queue;

/// Upper bounds (ms) of the delivery-latency histogram buckets.
pub const LATENCY_BUCKETS_MS: [u64; 10] = [5, 10, 25, 50, 100, 250, 1000, 5000, 30_000, 300_000];

/// Why a delivery was dropped (the `reason` label of `fluxsight_sink_dropped_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The record could not be encoded for the spool.
    Unencodable,
    /// Abandoned at the shutdown deadline while waiting for room. In `run` its lines are
    /// not acknowledged, so the next start produces it again.
    ShutdownDeadline,
    /// Left in a memory queue (no `state_dir`) at shutdown.
    MemoryQueueAtShutdown,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [
        DropReason::Unencodable,
        DropReason::ShutdownDeadline,
        DropReason::MemoryQueueAtShutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Unencodable => "unencodable",
            DropReason::ShutdownDeadline => "shutdown_deadline",
            DropReason::MemoryQueueAtShutdown => "memory_queue_at_shutdown",
        }
    }
}

/// Counters of one sink. All monotonic except `backlog`.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Deliveries accepted by the receiver.
    pub sent: AtomicU64,
    /// Send attempts that failed and were retried.
    pub retried: AtomicU64,
    /// Deliveries that had to wait in the spool because the sink was failing or behind.
    pub spooled: AtomicU64,
    /// Deliveries the receiver rejected permanently (written to the dead-letter file).
    pub dead_lettered: AtomicU64,
    /// Rejected deliveries whose dead-letter write failed, counted per attempt: they stay
    /// in the spool, unacknowledged, and the write is retried with back-off.
    pub dead_letter_failed: AtomicU64,
    /// Deliveries lost: unencodable, or abandoned at a shutdown deadline while waiting
    /// for room in the queue.
    pub dropped: AtomicU64,
    /// `dropped` by [`DropReason`] (same order as `DropReason::ALL`).
    pub dropped_by: [AtomicU64; DropReason::ALL.len()],
    /// Times the pipeline had to wait for room in this sink's queue (back-pressure).
    pub blocked: AtomicU64,
    /// Deliveries waiting now.
    pub backlog: AtomicU64,
    /// Bytes of unacknowledged records in the disk spool now (0 for a memory queue).
    pub spool_bytes: AtomicU64,
    /// Latency histogram (enqueue → accepted): counts per bucket, then +Inf.
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    pub latency_sum_ms: AtomicU64,
    /// End-to-end histogram (the first line of the producing batch read → accepted),
    /// same buckets; only deliveries whose origin is known (see `SinkHandle::submit_since`).
    pub end_to_end_buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    pub end_to_end_sum_ms: AtomicU64,
}

/// Index of the bucket of `ms` in [`LATENCY_BUCKETS_MS`] (the last index is `+Inf`).
fn bucket_of(ms: u64) -> usize {
    LATENCY_BUCKETS_MS
        .iter()
        .position(|b| ms <= *b)
        .unwrap_or(LATENCY_BUCKETS_MS.len())
}

/// A plain copy of the counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub sent: u64,
    pub retried: u64,
    pub spooled: u64,
    pub dead_lettered: u64,
    pub dead_letter_failed: u64,
    pub dropped: u64,
    pub blocked: u64,
    pub backlog: u64,
}

impl SinkStats {
    /// Counts `n` deliveries dropped for `reason`.
    pub fn drop_for(&self, reason: DropReason, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        self.dropped_by[reason as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// Updates the gauges from the queue.
    pub fn set_queue(&self, q: &Queue) {
        self.backlog.store(q.len() as u64, Ordering::Relaxed);
        self.spool_bytes
            .store(q.counters().bytes, Ordering::Relaxed);
    }

    pub fn observe_latency(&self, ms: u64) {
        self.latency_buckets[bucket_of(ms)].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    pub fn observe_end_to_end(&self, ms: u64) {
        self.end_to_end_buckets[bucket_of(ms)].fetch_add(1, Ordering::Relaxed);
        self.end_to_end_sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            sent: self.sent.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            spooled: self.spooled.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            dead_letter_failed: self.dead_letter_failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            blocked: self.blocked.load(Ordering::Relaxed),
            backlog: self.backlog.load(Ordering::Relaxed),
        }
    }
}
