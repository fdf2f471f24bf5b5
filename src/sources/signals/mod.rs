//! The signals topic as a source of `fluxsight central` (docs/fleet.md, reference
//! `fleet-scale.md` §6): one rdkafka `BaseConsumer` in a consumer group
//! (`cooperative-sticky`, auto commit of *stored* offsets only), its rebalance protocol,
//! and the dead-letter producer.
//!
//! Owns: the consumer's configuration, where an assigned partition starts
//! ([`plan_start`]: min(offset at now − W, committed), the emit boundary, whether the
//! rebuild can be complete), and the rebalance callback ([`GroupContext`]), which runs
//! inside `poll` on the polling thread and tells a [`PartitionOwner`] what it owns now.
//! Does not own what happens to a record (the partition workers in
//! `pipeline::central`) nor when an offset is stored (after the outputs of the record are
//! spooled, `pipeline::central`).
//!
//! Invariants:
//! - **Revoke commits, lost does not.** A voluntary revoke asks the owner for the next
//!   offset of each partition, stores it and commits it synchronously before the
//!   partitions go; a lost assignment (`assignment_lost()`: a session that timed out)
//!   drops them with no commit: they may already belong to another member.
//! - **Nothing before the boundary is emitted**: the owner gets the boundary (the
//!   committed offset, or the high watermark for a brand-new group) with the start.

pub mod config;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaResult;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

pub use config::{CentralSection, CentralSettings};

/// Broker round trips made inside the rebalance callback (committed offsets, offsets
/// for times, watermarks, the commit on revoke) give up after this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How often librdkafka reports its statistics (the high watermarks of the lag gauges).
const STATISTICS_INTERVAL_MS: u64 = 2_000;

/// Where an assigned partition starts and what it may emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StartPlan {
    /// First offset to read: min(offset at now − W, committed), not below the low
    /// watermark.
    pub start: i64,
    /// First offset whose outputs are emitted: the committed offset (a brand-new group:
    /// the high watermark). Records in `start..boundary` only rebuild state.
    pub boundary: i64,
    /// The rebuild sees the whole lookback: false when retention already removed records
    /// the lookback (or the committed offset) reaches.
    pub state_complete: bool,
    /// The group had no committed offset for the partition.
    pub new_in_group: bool,
}

/// The start of a partition (pure): `committed` offset (None: never committed),
/// `at_lookback` the first offset with a timestamp at or after now − W (None: no such
/// record), and the partition's low and high watermarks.
pub fn plan_start(
    committed: Option<i64>,
    at_lookback: Option<i64>,
    low: i64,
    high: i64,
) -> StartPlan {
    let low = low.max(0);
    let high = high.max(low);
    let boundary = committed.unwrap_or(high).max(low);
    let lookback = at_lookback.unwrap_or(high).clamp(low, high.max(low));
    // Records were removed when the partition no longer starts at 0; the rebuild is
    // whole only if a record older than the lookback survives (lookback > low), and the
    // committed offset itself is still there.
    let removed = low > 0;
    let state_complete = !removed || (lookback > low && committed.is_none_or(|c| c >= low));
    StartPlan {
        start: lookback.min(boundary),
        boundary,
        state_complete,
        new_in_group: committed.is_none(),
    }
}

/// What the consumer tells about ownership, from inside its rebalance callback. The
/// implementation decides nothing about offsets but the one to commit on revoke.
pub trait PartitionOwner: Send + 'static {
    /// `partition` is ours from `plan.start` on.
    fn assigned(&mut self, partition: i32, plan: StartPlan);
    /// `partition` goes to another member (voluntarily): the next offset to commit (one
    /// past the last record whose outputs are safe), `None` when nothing was processed.
    /// Its state is dropped.
    fn revoked(&mut self, partition: i32) -> Option<i64>;
    /// `partition` was lost (session timeout): drop it, commit and emit nothing.
    fn lost(&mut self, partition: i32);
}

/// The consumer's context: the rebalance protocol of `fleet-scale.md` §6.
pub struct GroupContext<O: PartitionOwner> {
    pub topic: String,
    pub lookback_ms: u64,
    pub owner: Arc<Mutex<O>>,
    /// High watermark per partition of `topic`, from librdkafka's statistics (no broker
    /// round trip on the consumer thread): the lag gauges.
    pub high_watermarks: Arc<Mutex<BTreeMap<i32, i64>>>,
}

impl<O: PartitionOwner> ClientContext for GroupContext<O> {
    fn stats(&self, statistics: rdkafka::Statistics) {
        let Some(t) = statistics.topics.get(&self.topic) else {
            return;
        };
        let mut hw = self
            .high_watermarks
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for (p, s) in &t.partitions {
            if *p >= 0 && s.hi_offset >= 0 {
                hw.insert(*p, s.hi_offset);
            }
        }
    }
}

impl<O: PartitionOwner> ConsumerContext for GroupContext<O> {
    fn rebalance(&self, c: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(c.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let fresh = self.on_assign(c, tpl);
                let r = if cooperative {
                    c.incremental_assign(tpl)
                } else {
                    c.assign(tpl)
                };
                if let Err(e) = r {
                    tracing::error!(error = %e, "assigning partitions failed");
                }
                // A brand-new group: the boundary (high watermark) becomes the group's
                // committed start at once, so a member that takes the partition over
                // later has a committed offset, never the high watermark of then.
                if fresh.count() > 0 {
                    if let Err(e) = c
                        .store_offsets(&fresh)
                        .and_then(|()| c.commit(&fresh, CommitMode::Sync))
                    {
                        tracing::warn!(error = %e, "committing the start of new partitions failed");
                    }
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.on_revoke(c, tpl);
                let r = if cooperative {
                    c.incremental_unassign(tpl)
                } else {
                    c.unassign()
                };
                if let Err(e) = r {
                    tracing::error!(error = %e, "unassigning partitions failed");
                }
            }
            other => {
                tracing::error!(error = ?other, "rebalance error");
                // librdkafka's own recovery for an error: drop the whole assignment.
                let owned = c.assignment().unwrap_or_default();
                self.drop_all(&owned);
                let _ = c.unassign();
            }
        }
    }
}

fn partitions(tpl: &TopicPartitionList, topic: &str) -> Vec<i32> {
    tpl.elements_for_topic(topic)
        .iter()
        .map(|e| e.partition())
        .collect()
}

fn offset_of(tpl: &TopicPartitionList, topic: &str, p: i32) -> Option<i64> {
    match tpl.find_partition(topic, p)?.offset() {
        Offset::Offset(o) if o >= 0 => Some(o),
        _ => None,
    }
}

impl<O: PartitionOwner> GroupContext<O> {
    fn owner(&self) -> std::sync::MutexGuard<'_, O> {
        self.owner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets each partition's start in `tpl` and hands the owner its plan; the
    /// partitions new to the group, at their boundary (to commit).
    fn on_assign(
        &self,
        c: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> TopicPartitionList {
        let topic = self.topic.as_str();
        let parts = partitions(tpl, topic);
        if parts.is_empty() {
            // A cooperative rebalance that adds nothing here (broker calls with an
            // empty list fail with an invalid argument).
            return TopicPartitionList::new();
        }
        let committed = retry(|| c.committed_offsets(tpl.clone(), CALL_TIMEOUT));
        let since = crate::time::now_ms() - self.lookback_ms as i64;
        // ListOffsets by timestamp: now − W, and the earliest (-2) and latest (-1)
        // offsets (the watermarks; `fetch_watermarks` fails on tansu 0.6).
        let list = |at: Offset| {
            let mut q = TopicPartitionList::new();
            for p in &parts {
                let _ = q.add_partition_offset(topic, *p, at);
            }
            retry(|| c.offsets_for_times(q.clone(), CALL_TIMEOUT))
        };
        let at_lookback = list(Offset::Offset(since));
        let lows = list(Offset::Beginning);
        let highs = list(Offset::End);
        let mut fresh = TopicPartitionList::new();
        for p in parts {
            let at =
                |l: &Option<TopicPartitionList>| l.as_ref().and_then(|t| offset_of(t, topic, p));
            let (low, high) = (at(&lows).unwrap_or(0), at(&highs).unwrap_or(0));
            let plan = match &committed {
                Some(cm) => plan_start(offset_of(cm, topic, p), at(&at_lookback), low, high),
                // The committed offset cannot be read: nothing before the high watermark
                // is emitted (history is not paged about), and the rebuild is partial.
                None => StartPlan {
                    state_complete: false,
                    ..plan_start(None, None, low, high)
                },
            };
            let _ = tpl.set_partition_offset(topic, p, Offset::Offset(plan.start));
            tracing::info!(
                partition = p,
                start = plan.start,
                boundary = plan.boundary,
                low,
                high,
                state_complete = plan.state_complete,
                new_in_group = plan.new_in_group,
                "partition assigned"
            );
            if plan.new_in_group && committed.is_some() {
                let _ = fresh.add_partition_offset(topic, p, Offset::Offset(plan.boundary));
            }
            self.owner().assigned(p, plan);
        }
        fresh
    }

    fn on_revoke(&self, c: &BaseConsumer<Self>, tpl: &TopicPartitionList) {
        let topic = self.topic.as_str();
        let parts = partitions(tpl, topic);
        if c.assignment_lost() {
            tracing::warn!(partitions = ?parts, "assignment lost: state dropped, nothing committed");
            let mut owner = self.owner();
            for p in parts {
                owner.lost(p);
            }
            return;
        }
        if parts.is_empty() {
            return;
        }
        let mut commit = TopicPartitionList::new();
        {
            let mut owner = self.owner();
            for p in &parts {
                if let Some(next) = owner.revoked(*p) {
                    let _ = commit.add_partition_offset(topic, *p, Offset::Offset(next));
                }
            }
        }
        if commit.count() == 0 {
            tracing::info!(partitions = ?parts, "partitions revoked: nothing new to commit");
        } else {
            // Stored first (the auto commit would take it too); the synchronous commit
            // makes the next owner's boundary exactly where this member stopped.
            let r = c
                .store_offsets(&commit)
                .and_then(|()| c.commit(&commit, CommitMode::Sync));
            match r {
                Ok(()) => tracing::info!(partitions = ?parts, "partitions revoked: committed"),
                Err(e) => {
                    tracing::warn!(partitions = ?parts, error = %e, "partitions revoked: commit failed (the next owner re-emits from the last commit)")
                }
            }
        }
    }

    fn drop_all(&self, tpl: &TopicPartitionList) {
        let mut owner = self.owner();
        for p in partitions(tpl, &self.topic) {
            owner.lost(p);
        }
    }
}

/// Three tries of a broker call (the coordinator may be settling during a rebalance).
fn retry<T>(mut f: impl FnMut() -> KafkaResult<T>) -> Option<T> {
    for attempt in 0..3 {
        match f() {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %e, attempt, "broker call in rebalance failed");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    None
}

/// The consumer's librdkafka configuration (fleet-scale.md §6).
pub fn consumer_config(s: &CentralSettings, client_id: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in &s.properties {
        c.set(k, v);
    }
    c.set("bootstrap.servers", s.brokers.trim())
        .set("client.id", client_id)
        .set("group.id", &s.group)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", s.commit_interval_ms.to_string())
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("session.timeout.ms", s.session_timeout_ms.to_string())
        .set("statistics.interval.ms", STATISTICS_INTERVAL_MS.to_string())
        .set(
            "heartbeat.interval.ms",
            (s.session_timeout_ms / 3).max(100).to_string(),
        );
    c
}

/// The dead-letter producer's configuration: idempotent, `acks=all`.
pub fn dlq_config(s: &CentralSettings, client_id: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in &s.properties {
        c.set(k, v);
    }
    c.set("bootstrap.servers", s.brokers.trim())
        .set("client.id", format!("{client_id}-dlq"))
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "30000");
    c
}

/// The partials producer's configuration (stage 1 with `central.fleet:`): idempotent,
/// `acks=all`, so a retried send never duplicates or reorders a key's partials.
pub fn partials_config(s: &CentralSettings, client_id: &str) -> ClientConfig {
    let mut c = dlq_config(s, client_id);
    c.set("client.id", format!("{client_id}-partials"))
        .set("linger.ms", "5");
    c
}

/// Header naming why a record went to the dead-letter topic.
pub const H_DLQ_REASON: &str = "fluxsight_dlq_reason";
/// Headers naming where it came from.
pub const H_DLQ_TOPIC: &str = "fluxsight_dlq_topic";
pub const H_DLQ_PARTITION: &str = "fluxsight_dlq_partition";
pub const H_DLQ_OFFSET: &str = "fluxsight_dlq_offset";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_taking_over_rebuilds_from_the_lookback_and_emits_from_the_commit() {
        // 1000 records, lookback lands at 400, committed 700.
        let p = plan_start(Some(700), Some(400), 0, 1000);
        assert_eq!((p.start, p.boundary, p.state_complete), (400, 700, true));
        // Committed behind the lookback: everything from the commit on, emitted.
        let p = plan_start(Some(100), Some(400), 0, 1000);
        assert_eq!((p.start, p.boundary), (100, 100));
    }

    #[test]
    fn a_brand_new_group_starts_at_the_high_watermark_without_paging_history() {
        let p = plan_start(None, Some(400), 0, 1000);
        assert_eq!((p.start, p.boundary, p.new_in_group), (400, 1000, true));
        // Nothing in the lookback at all (no record newer than now − W).
        let p = plan_start(None, None, 0, 1000);
        assert_eq!((p.start, p.boundary), (1000, 1000));
    }

    #[test]
    fn retention_shorter_than_the_lookback_leaves_the_state_incomplete() {
        // Records up to 500 removed; the oldest left is already inside the lookback.
        let p = plan_start(Some(800), Some(500), 500, 1000);
        assert_eq!((p.start, p.boundary, p.state_complete), (500, 800, false));
        // Removed, but a record older than the lookback survives: complete.
        let p = plan_start(Some(800), Some(600), 500, 1000);
        assert!(p.state_complete);
        // The committed offset itself was removed.
        let p = plan_start(Some(100), Some(600), 500, 1000);
        assert_eq!((p.start, p.boundary, p.state_complete), (500, 500, false));
    }
}
