//! The metrics of `fluxsight central` (docs/fleet.md): per assigned partition of the
//! signals topic, and the member's counters. Written by the consumer thread about once
//! a second, read by the exposition; exported only by a process that runs `central`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

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

/// What `central` publishes.
#[derive(Debug, Default)]
pub struct CentralStats {
    active: AtomicBool,
    partitions: Mutex<Vec<PartitionGauges>>,
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
    /// Publishes the partitions owned now (and turns the metrics on).
    pub fn set_partitions(&self, p: Vec<PartitionGauges>) {
        self.active.store(true, Ordering::Relaxed);
        *self.partitions.lock().unwrap_or_else(|e| e.into_inner()) = p;
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
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, v) in [
            (M_CENTRAL_DLQ, "Signals that did not decode, sent to the dead-letter topic", ld(&self.dead_lettered)),
            (M_CENTRAL_SUPPRESSED, "Outputs of records before a partition's committed offset (rebuild), not emitted", ld(&self.suppressed)),
            (M_CENTRAL_ASSIGNED, "Partitions assigned to this member", ld(&self.assigned)),
            (M_CENTRAL_REVOKED, "Partitions revoked from this member (committed, then dropped)", ld(&self.revoked)),
            (M_CENTRAL_LOST, "Partitions this member lost (session timeout; dropped, nothing committed or emitted)", ld(&self.lost)),
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
