//! The metrics of `fluxsight central` (docs/fleet.md): per assigned partition of the
//! signals topic, and the member's counters. Written by the consumer thread about once
//! a second, read by the exposition; exported only by a process that runs `central`.
//!
//! The stall watchdog (`fleet-scale.md` §6 "Watchdogs") lives here too: a partition
//! whose next offset has not moved for `central.stall_after` while it has lag (or while
//! the consumer thread itself published nothing for that long: a thread stuck in a sink
//! or a broker call) is *stalled*: `fluxsight_central_partition_stalled 1`, judged at
//! every scrape (so a stuck consumer thread is seen while it is stuck), and a warning in
//! the log plus `fluxsight_central_partition_stalls` once per episode when the consumer
//! thread publishes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::DescriptorEncoder;

use super::{counter, gauge, l, Labels};

pub const M_PARTITION_OWNED: &str = "fluxsight_central_partition_owned";
pub const M_PARTITION_LAG: &str = "fluxsight_central_partition_lag";
pub const M_PARTITION_IDLE: &str = "fluxsight_central_partition_idle_seconds";
pub const M_PARTITION_REBUILD: &str = "fluxsight_central_partition_rebuild_seconds";
pub const M_PARTITION_REHYDRATING: &str = "fluxsight_central_partition_rehydrating";
pub const M_PARTITION_STATE_COMPLETE: &str = "fluxsight_central_partition_state_complete";
pub const M_PARTITION_OFFSET: &str = "fluxsight_central_partition_next_offset";
pub const M_CENTRAL_DLQ: &str = "fluxsight_central_dead_lettered";
pub const M_CENTRAL_SUPPRESSED: &str = "fluxsight_central_rehydrate_outputs_suppressed";
pub const M_CENTRAL_ASSIGNED: &str = "fluxsight_central_partitions_assigned";
pub const M_CENTRAL_REVOKED: &str = "fluxsight_central_partitions_revoked";
pub const M_CENTRAL_LOST: &str = "fluxsight_central_partitions_lost";
pub const M_PARTITION_STALLED: &str = "fluxsight_central_partition_stalled";
pub const M_CENTRAL_STALLS: &str = "fluxsight_central_partition_stalls";

/// Default of `central.stall_after`: no progress with lag for this long is a stall.
pub const DEFAULT_STALL_AFTER_MS: u64 = 60_000;
pub const M_FLEET_PARTIALS: &str = "fluxsight_central_fleet_partials_published";
pub const M_FLEET_TICKS: &str = "fluxsight_central_fleet_ticks_published";
pub const M_FLEET_FAILED: &str = "fluxsight_central_fleet_partials_failed";
pub const M_FLEET_LATE: &str = "fluxsight_central_fleet_partials_late";
pub const M_FLEET_FIRING: &str = "fluxsight_central_fleet_findings_firing";

/// One assigned partition, as last published.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionGauges {
    pub topic: String,
    pub partition: i32,
    /// High watermark − next offset (records not yet read; `None`: not known).
    pub lag: Option<i64>,
    /// Seconds since the last record or heartbeat read from it.
    pub idle_seconds: f64,
    /// Seconds from assignment to the emit boundary (so far, while rehydrating).
    pub rebuild_seconds: f64,
    pub rehydrating: bool,
    pub state_complete: bool,
    pub next_offset: i64,
}

/// When a partition's next offset last moved, and whether its stall was reported.
#[derive(Debug, Clone, Copy)]
struct Progress {
    next_offset: i64,
    since: Instant,
    reported: bool,
}

/// The stall watchdog's memory: per (topic, partition), and the last publish.
#[derive(Debug, Default)]
struct Watchdog {
    progress: BTreeMap<(String, i32), Progress>,
    published: Option<Instant>,
}

/// What `central` publishes.
#[derive(Debug, Default)]
pub struct CentralStats {
    active: AtomicBool,
    partitions: Mutex<Vec<PartitionGauges>>,
    watchdog: Mutex<Watchdog>,
    /// `central.stall_after` in ms (0: the default, [`DEFAULT_STALL_AFTER_MS`]).
    stall_after_ms: AtomicU64,
    /// Stall episodes reported (a partition with lag that stopped moving).
    pub stalls: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub suppressed: AtomicU64,
    pub assigned: AtomicU64,
    pub revoked: AtomicU64,
    pub lost: AtomicU64,
    /// Stage 1: status and inventory partials the partials topic acknowledged.
    pub partials_published: AtomicU64,
    /// Stage 1: watermark ticks acknowledged.
    pub ticks_published: AtomicU64,
    /// Stage 1: partials not acknowledged (the record's offset is then withheld).
    pub partials_failed: AtomicU64,
    /// Stage 2: partials older than their TTL on arrival (ignored), owned partitions.
    pub partials_late: AtomicU64,
    /// Stage 2: fleet findings firing in the owned partitions.
    pub fleet_firing: AtomicU64,
}

impl CentralStats {
    /// Sets the stall watchdog's threshold (`central.stall_after`).
    pub fn set_stall_after(&self, d: Duration) {
        self.stall_after_ms
            .store(d.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    fn stall_after(&self) -> Duration {
        match self.stall_after_ms.load(Ordering::Relaxed) {
            0 => Duration::from_millis(DEFAULT_STALL_AFTER_MS),
            ms => Duration::from_millis(ms),
        }
    }

    /// Publishes the partitions owned now (and turns the metrics on); runs the stall
    /// watchdog: a partition with lag whose next offset has not moved for
    /// `stall_after` is logged (once per episode) and counted.
    pub fn set_partitions(&self, p: Vec<PartitionGauges>) {
        self.set_partitions_at(p, Instant::now());
    }

    fn set_partitions_at(&self, p: Vec<PartitionGauges>, now: Instant) {
        self.active.store(true, Ordering::Relaxed);
        let limit = self.stall_after();
        {
            let mut w = self.watchdog.lock().unwrap_or_else(|e| e.into_inner());
            // The consumer thread published nothing for longer than the limit: it was
            // stuck (a sink, a broker call) and its partitions were not read meanwhile.
            if let Some(gap) = w.published.map(|t| now.saturating_duration_since(t)) {
                if gap > limit && !w.progress.is_empty() {
                    self.stalls.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        stuck_s = gap.as_secs_f64(),
                        stall_after_s = limit.as_secs_f64(),
                        partitions = w.progress.len(),
                        "consumer thread stuck: its partitions were stalled"
                    );
                }
            }
            w.published = Some(now);
            let mut next = BTreeMap::new();
            for g in &p {
                let key = (g.topic.clone(), g.partition);
                let mut pr = match w.progress.get(&key) {
                    Some(pr) if pr.next_offset == g.next_offset => *pr,
                    Some(pr) => {
                        if pr.reported {
                            tracing::info!(topic = %g.topic, partition = g.partition, next_offset = g.next_offset, stalled_s = now.saturating_duration_since(pr.since).as_secs_f64(), "partition moving again");
                        }
                        Progress {
                            next_offset: g.next_offset,
                            since: now,
                            reported: false,
                        }
                    }
                    None => Progress {
                        next_offset: g.next_offset,
                        since: now,
                        reported: false,
                    },
                };
                let frozen = now.saturating_duration_since(pr.since);
                if !pr.reported && frozen > limit && g.lag.is_some_and(|l| l > 0) {
                    pr.reported = true;
                    self.stalls.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(topic = %g.topic, partition = g.partition, lag = g.lag, next_offset = g.next_offset, frozen_s = frozen.as_secs_f64(), stall_after_s = limit.as_secs_f64(), "partition stalled: lag and no progress");
                }
                next.insert(key, pr);
            }
            w.progress = next;
        }
        *self.partitions.lock().unwrap_or_else(|e| e.into_inner()) = p;
    }

    /// The partitions stalled at `now`: next offset frozen past `stall_after` while the
    /// partition has lag, or while the consumer thread has published nothing for that
    /// long (stuck: its lag is not known then, its partitions are not read either).
    fn stalled_at(&self, now: Instant) -> BTreeMap<(String, i32), bool> {
        let limit = self.stall_after();
        let lags: BTreeMap<(String, i32), Option<i64>> = self
            .partitions()
            .into_iter()
            .map(|g| ((g.topic, g.partition), g.lag))
            .collect();
        let w = self.watchdog.lock().unwrap_or_else(|e| e.into_inner());
        let stuck = w
            .published
            .is_some_and(|t| now.saturating_duration_since(t) > limit);
        w.progress
            .iter()
            .map(|(k, pr)| {
                let frozen = now.saturating_duration_since(pr.since) > limit;
                let lag = lags.get(k).copied().flatten().is_some_and(|l| l > 0);
                (k.clone(), frozen && (lag || stuck))
            })
            .collect()
    }

    pub fn partitions(&self) -> Vec<PartitionGauges> {
        self.partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(super) fn encode(&self, enc: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if !self.active.load(Ordering::Relaxed) {
            return Ok(());
        }
        let parts = self.partitions();
        let labels = |p: &PartitionGauges| -> Labels {
            l(&[("topic", &p.topic), ("partition", &p.partition.to_string())])
        };
        let series = |f: &dyn Fn(&PartitionGauges) -> Option<f64>| -> Vec<(Labels, f64)> {
            parts
                .iter()
                .filter_map(|p| f(p).map(|v| (labels(p), v)))
                .collect()
        };
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        let stalled = self.stalled_at(Instant::now());
        gauge(
            enc,
            M_PARTITION_OWNED,
            "Partitions of the signals topic this member owns (1 each)",
            &series(&|_| Some(1.0)),
        )?;
        gauge(
            enc,
            M_PARTITION_LAG,
            "Records of the partition not yet read (high watermark - next offset)",
            &series(&|p| p.lag.map(|x| x as f64)),
        )?;
        gauge(
            enc,
            M_PARTITION_IDLE,
            "Seconds since the last record or heartbeat read from the partition",
            &series(&|p| Some(p.idle_seconds)),
        )?;
        gauge(enc, M_PARTITION_REBUILD, "Seconds the partition's state took to rebuild up to its committed offset (so far, while rehydrating)", &series(&|p| Some(p.rebuild_seconds)))?;
        gauge(
            enc,
            M_PARTITION_REHYDRATING,
            "1 while the partition rebuilds state before its committed offset (emitting nothing)",
            &series(&|p| Some(b(p.rehydrating))),
        )?;
        gauge(enc, M_PARTITION_STATE_COMPLETE, "0 when retention removed records the rebuild lookback needs (findings carry state_complete=false)", &series(&|p| Some(b(p.state_complete))))?;
        gauge(
            enc,
            M_PARTITION_OFFSET,
            "One past the last record of the partition read",
            &series(&|p| Some(p.next_offset as f64)),
        )?;
        gauge(
            enc,
            M_PARTITION_STALLED,
            "1 while the partition has lag (or the consumer thread is stuck) and its next offset has not moved for central.stall_after",
            &series(&|p| {
                Some(b(stalled
                    .get(&(p.topic.clone(), p.partition))
                    .copied()
                    .unwrap_or(false)))
            }),
        )?;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, v) in [
            (M_CENTRAL_DLQ, "Signals that did not decode, sent to the dead-letter topic", ld(&self.dead_lettered)),
            (M_CENTRAL_SUPPRESSED, "Outputs of records before a partition's committed offset (rebuild), not emitted", ld(&self.suppressed)),
            (M_CENTRAL_ASSIGNED, "Partitions assigned to this member", ld(&self.assigned)),
            (M_CENTRAL_REVOKED, "Partitions revoked from this member (committed, then dropped)", ld(&self.revoked)),
            (M_CENTRAL_LOST, "Partitions this member lost (session timeout; dropped, nothing committed or emitted)", ld(&self.lost)),
            (M_CENTRAL_STALLS, "Stall episodes: a partition with lag whose next offset did not move for central.stall_after", ld(&self.stalls)),
            (M_FLEET_PARTIALS, "Fleet status and inventory partials published to the partials topic (stage 1)", ld(&self.partials_published)),
            (M_FLEET_TICKS, "Watermark ticks published to the partials topic's partitions (stage 1)", ld(&self.ticks_published)),
            (M_FLEET_FAILED, "Partials the partials topic did not acknowledge (stage 1; offsets withheld)", ld(&self.partials_failed)),
        ] {
            counter(enc, name, help, &[(vec![], v)])?;
        }
        gauge(
            enc,
            M_FLEET_LATE,
            "Partials older than their TTL on arrival, ignored, in the partitions owned now (stage 2)",
            &[(vec![], ld(&self.partials_late) as f64)],
        )?;
        gauge(
            enc,
            M_FLEET_FIRING,
            "Fleet findings firing in the partitions owned now (stage 2)",
            &[(vec![], ld(&self.fleet_firing) as f64)],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(partition: i32, next_offset: i64, lag: Option<i64>) -> PartitionGauges {
        PartitionGauges {
            topic: "t".into(),
            partition,
            lag,
            idle_seconds: 0.0,
            rebuild_seconds: 0.0,
            rehydrating: false,
            state_complete: true,
            next_offset,
        }
    }

    #[test]
    fn a_partition_with_lag_that_stops_moving_is_stalled_once_per_episode() {
        let s = CentralStats::default();
        s.set_stall_after(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        // p0 moves, p1 is frozen with lag, p2 is frozen without lag (a quiet partition).
        s.set_partitions_at(
            vec![g(0, 5, Some(3)), g(1, 7, Some(9)), g(2, 4, Some(0))],
            at(0),
        );
        s.set_partitions_at(
            vec![g(0, 9, Some(3)), g(1, 7, Some(9)), g(2, 4, Some(0))],
            at(5),
        );
        assert_eq!(
            s.stalls.load(Ordering::Relaxed),
            0,
            "not past stall_after yet"
        );
        s.set_partitions_at(
            vec![g(0, 12, Some(3)), g(1, 7, Some(9)), g(2, 4, Some(0))],
            at(11),
        );
        assert_eq!(s.stalls.load(Ordering::Relaxed), 1, "p1 stalled");
        let st = s.stalled_at(at(11));
        assert!(!st[&("t".to_string(), 0)], "moving");
        assert!(st[&("t".to_string(), 1)], "lag and frozen");
        assert!(
            !st[&("t".to_string(), 2)],
            "frozen without lag: quiet, not stalled"
        );
        // Still frozen: the episode is reported once.
        s.set_partitions_at(
            vec![g(0, 13, Some(3)), g(1, 7, Some(9)), g(2, 4, Some(0))],
            at(12),
        );
        assert_eq!(s.stalls.load(Ordering::Relaxed), 1);
        // It moves: over; frozen again later: a second episode.
        s.set_partitions_at(vec![g(1, 8, Some(9))], at(13));
        assert!(!s.stalled_at(at(13))[&("t".to_string(), 1)]);
        s.set_partitions_at(vec![g(1, 8, Some(9))], at(18));
        s.set_partitions_at(vec![g(1, 8, Some(9))], at(24));
        assert_eq!(s.stalls.load(Ordering::Relaxed), 2);
        // Revoked partitions are forgotten.
        assert_eq!(s.stalled_at(at(24)).len(), 1);
    }

    #[test]
    fn a_consumer_thread_that_stops_publishing_stalls_its_partitions() {
        let s = CentralStats::default();
        s.set_stall_after(Duration::from_secs(10));
        let t0 = Instant::now();
        // Lag not known (no statistics yet), quiet partition.
        s.set_partitions_at(vec![g(0, 5, None), g(1, 0, Some(0))], t0);
        let st = s.stalled_at(t0 + Duration::from_secs(9));
        assert!(st.values().all(|x| !x), "not yet: {st:?}");
        // Nothing published for 11 s: the thread is stuck; its partitions are not read.
        let st = s.stalled_at(t0 + Duration::from_secs(11));
        assert!(st.values().all(|x| *x), "stuck thread: {st:?}");
        // The thread publishes again: the episode is counted.
        s.set_partitions_at(
            vec![g(0, 9, None), g(1, 0, Some(0))],
            t0 + Duration::from_secs(12),
        );
        assert_eq!(s.stalls.load(Ordering::Relaxed), 1);
        assert!(s
            .stalled_at(t0 + Duration::from_secs(12))
            .values()
            .all(|x| !x));
    }

    #[test]
    fn the_stalled_gauge_is_exported_per_partition() {
        let t = std::sync::Arc::new(crate::telemetry::Telemetry::new());
        t.central.set_partitions(vec![g(3, 1, Some(2))]);
        let text = t.encode();
        assert!(
            text.contains("fluxsight_central_partition_stalled{topic=\"t\",partition=\"3\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("\nfluxsight_central_partition_stalls_total 0\n"),
            "{text}"
        );
    }
}
