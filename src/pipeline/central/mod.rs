//! `fluxsight central` (issue 18): a member of a consumer group over the signals topic
//! (stage 1, `central.stage: cluster`), correlating each partition's clusters as their
//! sidecars would and delivering the findings through the pipeline file's sinks and
//! routes; with `central.fleet:` it also publishes partials ([`KafkaPartials`]). Or a
//! member of the fleet group over the partials topic (stage 2, `stage: fleet`): the
//! same consumer, rebalance protocol, boundary, DLQ and delivery, its workers holding a
//! `FleetCorrelator` each (`partition::Role`).
//!
//! Owns: the consumer thread (the caller's thread: one rdkafka `BaseConsumer` polled
//! in a loop, its rebalance callback served inside `poll`, `sources::signals`), the
//! hand-off of each record to its partition's worker ([`partition`]), delivery of the
//! outputs (`SinkSet`, the same router, spool and workers as `run`) and the dead-letter
//! topic, the offsets stored once a record's outputs are safe, the zombie check, and
//! the metrics. Does not own: the rebalance protocol's offsets (`sources::signals`), the
//! correlation (`correlate`).
//!
//! Invariants:
//! - **At least once.** A record's offset is stored (and auto-committed within
//!   `commit_interval`) only after its outputs are in every sink's spool (or in the
//!   router's persisted groups) or, for a poison record, acknowledged by the
//!   dead-letter topic. A crash re-emits at most the outputs since the last commit, with
//!   the same ids and bytes.
//! - **One partition, one thread, in offset order.** Workers run inline on the
//!   consumer thread, so a revoke (which runs inside `poll`) always sees every record
//!   read so far processed and its offset stored: the commit in the callback is exact.
//! - **A zombie emits nothing.** A member that was stopped longer than half the
//!   session timeout (SIGSTOP, a stuck sink) holds its partitions, processing nothing,
//!   until the group had time to tell it whether it lost them.
//!
//! - **Partials before offsets.** With partials on, a live record's partials are
//!   acknowledged by the partials topic (awaited) before its offset is stored, like its
//!   findings: a crash re-derives and re-sends them (idempotent upserts downstream).

pub mod partition;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::Offset;
use tokio_util::sync::CancellationToken;

use crate::correlate::Settings;
use crate::fleet::{Partial, PartialKind};
use crate::pipeline::deliver::{DeliverError, SinkSet};
use crate::sinks::config::DeliveryPlan;
use crate::sinks::stats::StatsSnapshot;
use crate::sources::signals::config::Stage;
use crate::sources::signals::{
    consumer_config, dlq_config, partials_config, CentralSettings, GroupContext, PartitionOwner,
    H_DLQ_OFFSET, H_DLQ_PARTITION, H_DLQ_REASON, H_DLQ_TOPIC,
};
use crate::telemetry::central::PartitionGauges;
use crate::telemetry::Telemetry;
use crate::time::now_ms;

use partition::{Assignment, Role, Step};

/// How long `poll` waits for a record.
const POLL: Duration = Duration::from_millis(100);
/// How often metrics are published and storm-control timers run.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// How long shutdown waits for the revoke of every partition (commit included).
const LEAVE_TIMEOUT: Duration = Duration::from_secs(15);

/// Where stage 1 publishes the partials of its live records (`fleet-scale.md` §5.2).
pub trait PartialsSink {
    /// The partials of one live record of `partition`, in order: `true` once the
    /// status and inventory partials are safe (acknowledged). Ticks are best effort:
    /// the next one replaces a lost one.
    fn publish(&mut self, partition: i32, partials: &[Partial]) -> bool;
}

/// Partials off (no `central.fleet:`, or the fleet stage itself).
pub struct NoPartials;

impl PartialsSink for NoPartials {
    fn publish(&mut self, _: i32, _: &[Partial]) -> bool {
        true
    }
}

/// How often the partials topic's partition count is read again.
const METADATA_REFRESH: Duration = Duration::from_secs(60);

/// Partials to the partials topic through rdkafka (idempotent, `acks=all`): status and
/// inventory keyed by fleet key, each tick to every partition of the topic.
pub struct KafkaPartials {
    producer: FutureProducer,
    topic: String,
    handle: tokio::runtime::Handle,
    partitions: Option<(i32, Instant)>,
    telemetry: Arc<Telemetry>,
}

impl KafkaPartials {
    fn partition_count(&mut self) -> Option<i32> {
        if let Some((n, at)) = self.partitions {
            if at.elapsed() < METADATA_REFRESH {
                return Some(n);
            }
        }
        let md = self
            .producer
            .client()
            .fetch_metadata(Some(&self.topic), Duration::from_secs(10));
        match md {
            Ok(md) => {
                let n = md
                    .topics()
                    .iter()
                    .find(|t| t.name() == self.topic)
                    .map(|t| t.partitions().len() as i32)
                    .filter(|n| *n > 0);
                if let Some(n) = n {
                    self.partitions = Some((n, Instant::now()));
                } else {
                    tracing::warn!(topic = %self.topic, "partials topic has no partitions (yet)");
                }
                n.or(self.partitions.map(|p| p.0))
            }
            Err(e) => {
                tracing::warn!(topic = %self.topic, error = %e, "partials topic metadata");
                self.partitions.map(|p| p.0)
            }
        }
    }
}

impl PartialsSink for KafkaPartials {
    fn publish(&mut self, partition: i32, partials: &[Partial]) -> bool {
        if partials.is_empty() {
            return true;
        }
        let n = if partials.iter().any(|p| p.kind == PartialKind::Tick) {
            self.partition_count()
        } else {
            None
        };
        let mut sends = Vec::new();
        for p in partials {
            let bytes = p.encode();
            let key = p.kafka_key();
            let targets: Vec<Option<i32>> = match (p.kind, n) {
                (PartialKind::Tick, Some(n)) => (0..n).map(Some).collect(),
                (PartialKind::Tick, None) => Vec::new(),
                _ => vec![None],
            };
            for target in targets {
                let mut rec: FutureRecord<'_, str, [u8]> = FutureRecord::to(&self.topic)
                    .key(key.as_str())
                    .payload(bytes.as_slice())
                    .timestamp(p.t);
                if let Some(t) = target {
                    rec = rec.partition(t);
                }
                let tick = p.kind == PartialKind::Tick;
                match self.producer.send_result(rec) {
                    Ok(f) => sends.push((tick, Some(f))),
                    Err((e, _)) => {
                        // A failed enqueue counts as a failed delivery.
                        tracing::warn!(error = %e, "partial not queued");
                        sends.push((tick, None));
                    }
                }
            }
        }
        let results = self
            .handle
            .block_on(futures::future::join_all(sends.into_iter().map(
                |(tick, f)| async move {
                    match f {
                        Some(f) => (tick, matches!(f.await, Ok(Ok(_)))),
                        None => (tick, false),
                    }
                },
            )));
        let stats = &self.telemetry.central;
        let mut safe = true;
        for (tick, ok) in results {
            match (tick, ok) {
                (true, true) => stats.ticks_published.fetch_add(1, Ordering::Relaxed),
                (false, true) => stats.partials_published.fetch_add(1, Ordering::Relaxed),
                (true, false) => {
                    tracing::debug!(
                        partition,
                        "a tick was not acknowledged (the next replaces it)"
                    );
                    0
                }
                (false, false) => {
                    safe = false;
                    stats.partials_failed.fetch_add(1, Ordering::Relaxed)
                }
            };
        }
        if !safe {
            tracing::error!(partition, topic = %self.topic, "partials not acknowledged");
        }
        safe
    }
}

/// Options of a `central` run beyond the pipeline file.
#[derive(Debug, Clone)]
pub struct CentralOptions {
    /// Where `/metrics`, `/healthz` and `/readyz` listen (`None`: not served).
    pub health_listen: Option<SocketAddr>,
    /// The member's `client.id` (logs, group description).
    pub client_id: String,
}

/// Why `central` could not start.
#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    #[error(transparent)]
    Deliver(#[from] DeliverError),
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("runtime: {0}")]
    Runtime(String),
}

impl CentralError {
    /// 2 for what the user must change (see [`DeliverError::exit_code`]), else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            CentralError::Deliver(e) => e.exit_code(),
            CentralError::Kafka(_) | CentralError::Runtime(_) => 1,
        }
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct CentralSummary {
    pub sinks: BTreeMap<String, StatsSnapshot>,
    pub records: u64,
    pub dead_lettered: u64,
}

type GroupConsumer = BaseConsumer<GroupContext<Assignment>>;

/// Wall-clock facts of one assignment of a partition (the workers keep no clock).
struct PartitionClock {
    generation: u64,
    assigned: Instant,
    live_after: Option<Duration>,
    last_signal: Instant,
}

/// Runs `central` on the calling thread until `cancel` fires: joins the group, serves
/// the metrics, consumes, and on the way out leaves the group (revoke: commit) and
/// drains the sinks.
pub fn run_central(
    settings: Settings,
    plan: &DeliveryPlan,
    central: &CentralSettings,
    opts: CentralOptions,
    telemetry: Arc<Telemetry>,
    cancel: CancellationToken,
) -> Result<CentralSummary, CentralError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("fluxsight-central")
        .build()
        .map_err(|e| CentralError::Runtime(e.to_string()))?;
    let mut set = {
        let _guard = rt.enter();
        SinkSet::start(plan)?
    };
    for (name, h) in set.handles() {
        telemetry.register_sink(name, h.stats());
    }
    if let Some(addr) = opts.health_listen {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| CentralError::Runtime(format!("listen on {addr}: {e}")))?;
        let (t, c) = (telemetry.clone(), cancel.clone());
        rt.spawn(async move {
            if let Err(e) = crate::server::serve_health(listener, t, c).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        });
    }
    telemetry
        .central
        .set_stall_after(Duration::from_millis(central.stall_after_ms));
    let role = match (central.stage, &central.fleet) {
        (Stage::Fleet, f) => Role::Fleet {
            idle_ms: f
                .as_ref()
                .map_or(crate::fleet::derive::DEFAULT_IDLE_MS, |f| f.idle_ms as i64),
        },
        (Stage::Cluster, f) => Role::Cluster {
            topic: central.topic.clone(),
            partials: f.as_ref().map(|f| crate::fleet::DeriveSettings {
                refresh_ms: f.refresh_ms as i64,
                tick_ms: f.tick_ms as i64,
                idle_ms: f.idle_ms as i64,
            }),
            sources: None,
        },
    };
    let mut role = role;
    let partials: Box<dyn PartialsSink> = match (&mut role, &central.fleet) {
        (
            Role::Cluster {
                partials: Some(_),
                sources,
                ..
            },
            Some(f),
        ) => {
            let _guard = rt.enter();
            let producer: FutureProducer = partials_config(central, &opts.client_id)
                .create()
                .map_err(|e| CentralError::Kafka(e.to_string()))?;
            // The ticks announce how many signals partitions (tick sources) there are.
            *sources = producer
                .client()
                .fetch_metadata(Some(&central.topic), Duration::from_secs(10))
                .ok()
                .and_then(|md| {
                    md.topics()
                        .iter()
                        .find(|t| t.name() == central.topic)
                        .map(|t| t.partitions().len() as u32)
                })
                .filter(|n| *n > 0);
            tracing::info!(topic = %f.partials_topic, sources = ?sources, "publishing fleet partials");
            Box::new(KafkaPartials {
                producer,
                topic: f.partials_topic.clone(),
                handle: rt.handle().clone(),
                partitions: None,
                telemetry: telemetry.clone(),
            })
        }
        _ => Box::new(NoPartials),
    };
    let owner = Arc::new(Mutex::new(Assignment::with_role(settings, role)));
    let ctx = GroupContext {
        topic: central.topic.clone(),
        lookback_ms: central.lookback_ms,
        owner: owner.clone(),
        high_watermarks: Default::default(),
    };
    let consumer: GroupConsumer = consumer_config(central, &opts.client_id)
        .create_with_context(ctx)
        .map_err(|e| CentralError::Kafka(e.to_string()))?;
    let dlq: FutureProducer = {
        let _guard = rt.enter();
        dlq_config(central, &opts.client_id)
            .create()
            .map_err(|e| CentralError::Kafka(e.to_string()))?
    };
    consumer
        .subscribe(&[central.topic.as_str()])
        .map_err(|e| CentralError::Kafka(e.to_string()))?;
    tracing::info!(topic = %central.topic, group = %central.group, client_id = %opts.client_id, stage = ?central.stage, "central started");
    let mut member = Member {
        consumer: &consumer,
        owner: &owner,
        central,
        rt: &rt,
        set: &mut set,
        dlq: &dlq,
        telemetry: &telemetry,
        partials,
        clocks: BTreeMap::new(),
        summary: CentralSummary::default(),
        hold_until: None,
    };
    member.run(&cancel);
    member.leave();
    let summary = member.summary;
    drop(consumer);
    let _ = dlq.flush(Duration::from_secs(5));
    let sinks = rt.block_on(set.finish(true));
    rt.shutdown_timeout(Duration::from_millis(500));
    Ok(CentralSummary { sinks, ..summary })
}

/// The consumer thread's state.
struct Member<'a> {
    consumer: &'a GroupConsumer,
    owner: &'a Arc<Mutex<Assignment>>,
    central: &'a CentralSettings,
    rt: &'a tokio::runtime::Runtime,
    set: &'a mut SinkSet,
    dlq: &'a FutureProducer,
    telemetry: &'a Arc<Telemetry>,
    partials: Box<dyn PartialsSink>,
    clocks: BTreeMap<i32, PartitionClock>,
    summary: CentralSummary,
    /// A stall was seen: records are not processed (their partitions are read again
    /// from the same offset) until this instant, so a lost assignment is known first.
    hold_until: Option<Instant>,
}

impl Member<'_> {
    fn owner(&self) -> std::sync::MutexGuard<'_, Assignment> {
        self.owner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(&mut self, cancel: &CancellationToken) {
        let stall_limit = Duration::from_millis(self.central.session_timeout_ms / 2);
        let mut last_return = Instant::now();
        let mut housekeeping = Instant::now();
        while !cancel.is_cancelled() {
            let called = Instant::now();
            let msg = self.consumer.poll(POLL);
            let returned = Instant::now();
            // Stopped (SIGSTOP, a sink that blocked) inside poll or between two polls.
            let stall = (returned - called).max(called - last_return);
            last_return = returned;
            if stall > stall_limit {
                let hold = Duration::from_millis(self.central.session_timeout_ms / 3 * 2)
                    + Duration::from_secs(1);
                tracing::warn!(stalled_ms = stall.as_millis() as u64, hold_ms = hold.as_millis() as u64, "consumer thread stalled past half the session timeout: holding its partitions until the group answers");
                self.hold_until = Some(Instant::now() + hold);
            }
            match msg {
                Some(Ok(m)) => self.on_message(&m),
                Some(Err(e)) => tracing::warn!(error = %e, "consumer error"),
                None => {}
            }
            if housekeeping.elapsed() >= HOUSEKEEPING {
                housekeeping = Instant::now();
                if self.hold_until.is_some_and(|t| Instant::now() >= t) {
                    tracing::info!(owned = ?self.owner().owned(), "hold over: processing again");
                    self.hold_until = None;
                }
                self.rt.block_on(self.set.tick(now_ms()));
                self.publish();
            }
        }
    }

    fn on_message(&mut self, m: &rdkafka::message::BorrowedMessage<'_>) {
        let (p, offset) = (m.partition(), m.offset());
        let topic = self.central.topic.as_str();
        if self.hold_until.is_some() {
            // Read again once the hold is over (the seek drops what was fetched after).
            if let Err(e) =
                self.consumer
                    .seek(topic, p, Offset::Offset(offset), Duration::from_secs(5))
            {
                tracing::warn!(partition = p, offset, error = %e, "seek back during hold failed; dropping the partition's state");
                let mut owner = self.owner();
                owner.lost(p);
            }
            return;
        }
        let step = {
            let mut owner = self.owner();
            let Some(w) = owner.worker(p) else {
                // Not ours any more (revoked or lost between fetch and poll).
                return;
            };
            let was = w.rehydrating();
            w.set_wall(now_ms());
            let step = w.on_message(offset, m.payload());
            let partials = w.take_partials();
            let (gen, now_live) = (w.generation, was && !w.rehydrating());
            drop(owner);
            let clock = self.clock(p, gen);
            clock.last_signal = Instant::now();
            if now_live {
                clock.live_after = Some(clock.assigned.elapsed());
                tracing::info!(
                    partition = p,
                    rebuild_ms = clock.assigned.elapsed().as_millis() as u64,
                    "partition rebuilt: live"
                );
            }
            (step, partials)
        };
        let (step, partials) = step;
        let safe = match step {
            Step::Rehydrated => return,
            Step::Live(outputs) => {
                self.summary.records += 1;
                let delivered = outputs.is_empty() || {
                    self.rt.block_on(self.set.deliver(&outputs, now_ms()))
                        && self.set.persist_router()
                };
                delivered && self.partials.publish(p, &partials)
            }
            Step::Poison(reason) => self.dead_letter(m, &reason),
        };
        let mut owner = self.owner();
        let Some(w) = owner.worker(p) else { return };
        if !safe {
            tracing::error!(
                partition = p,
                offset,
                "outputs not safe: no offset stored from here on (the next owner re-reads)"
            );
            w.withhold();
            return;
        }
        if let Some(next) = w.mark_safe(offset) {
            drop(owner);
            if let Err(e) = self.consumer.store_offset(topic, p, next - 1) {
                tracing::debug!(partition = p, error = %e, "offset not stored");
            }
        }
    }

    fn clock(&mut self, p: i32, generation: u64) -> &mut PartitionClock {
        let c = self.clocks.entry(p).or_insert_with(|| PartitionClock {
            generation,
            assigned: Instant::now(),
            live_after: None,
            last_signal: Instant::now(),
        });
        if c.generation != generation {
            *c = PartitionClock {
                generation,
                assigned: Instant::now(),
                live_after: None,
                last_signal: Instant::now(),
            };
        }
        c
    }

    /// Sends a poison record to the dead-letter topic; `true` once acknowledged.
    fn dead_letter(&mut self, m: &rdkafka::message::BorrowedMessage<'_>, reason: &str) -> bool {
        let partition = m.partition().to_string();
        let offset = m.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: H_DLQ_REASON,
                value: Some(reason),
            })
            .insert(Header {
                key: H_DLQ_TOPIC,
                value: Some(m.topic()),
            })
            .insert(Header {
                key: H_DLQ_PARTITION,
                value: Some(&partition),
            })
            .insert(Header {
                key: H_DLQ_OFFSET,
                value: Some(&offset),
            });
        let payload = m.payload().unwrap_or_default();
        let mut rec: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&self.central.dlq_topic)
            .payload(payload)
            .headers(headers);
        if let Some(k) = m.key() {
            rec = rec.key(k);
        }
        if let Some(ts) = m.timestamp().to_millis() {
            rec = rec.timestamp(ts);
        }
        let sent = self
            .rt
            .block_on(self.dlq.send(rec, Duration::from_secs(30)));
        match sent {
            Ok(_) => {
                self.summary.dead_lettered += 1;
                self.telemetry
                    .central
                    .dead_lettered
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    partition = m.partition(),
                    offset = m.offset(),
                    reason,
                    "signal dead-lettered"
                );
                true
            }
            Err((e, _)) => {
                tracing::error!(partition = m.partition(), offset = m.offset(), error = %e, "dead-letter topic did not take the record");
                false
            }
        }
    }

    /// Per-partition gauges and the group counters.
    fn publish(&mut self) {
        let topic = self.central.topic.clone();
        let owner = self.owner();
        let owned: Vec<(i32, u64, bool, bool, i64, u64)> = owner
            .workers()
            .map(|(p, w)| {
                (
                    p,
                    w.generation,
                    w.rehydrating(),
                    w.plan().state_complete,
                    w.next_offset(),
                    w.counts.suppressed,
                )
            })
            .collect();
        let suppressed = owner.suppressed_before + owned.iter().map(|o| o.5).sum::<u64>();
        let (late, firing) = owner
            .workers()
            .filter_map(|(_, w)| w.fleet())
            .fold((0, 0), |(l, f), c| {
                (l + c.counts.late, f + c.firing().count() as u64)
            });
        let counts = owner.counts;
        drop(owner);
        let stats = &self.telemetry.central;
        stats.suppressed.store(suppressed, Ordering::Relaxed);
        stats.partials_late.store(late, Ordering::Relaxed);
        stats.fleet_firing.store(firing, Ordering::Relaxed);
        stats.assigned.store(counts.assigned, Ordering::Relaxed);
        stats.revoked.store(counts.revoked, Ordering::Relaxed);
        stats.lost.store(counts.lost, Ordering::Relaxed);
        self.clocks.retain(|p, _| owned.iter().any(|o| o.0 == *p));
        let mut gauges = Vec::new();
        for (p, gen, rehydrating, complete, next, _) in owned {
            let clock = self.clock(p, gen);
            let rebuild = clock.live_after.unwrap_or_else(|| {
                if rehydrating {
                    clock.assigned.elapsed()
                } else {
                    Duration::ZERO
                }
            });
            let idle = clock.last_signal.elapsed().as_secs_f64();
            // From librdkafka's statistics: no broker round trip on this thread.
            let lag = self
                .consumer
                .context()
                .high_watermarks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&p)
                .map(|high| (high - next).max(0));
            gauges.push(PartitionGauges {
                topic: topic.clone(),
                partition: p,
                lag,
                idle_seconds: idle,
                rebuild_seconds: rebuild.as_secs_f64(),
                rehydrating,
                state_complete: complete,
                next_offset: next,
            });
        }
        stats.set_partitions(gauges);
    }

    /// Leaves the group: unsubscribing revokes every partition (the callback commits
    /// them); polled until the assignment is empty or [`LEAVE_TIMEOUT`].
    fn leave(&mut self) {
        self.consumer.unsubscribe();
        let deadline = Instant::now() + LEAVE_TIMEOUT;
        while Instant::now() < deadline && !self.owner().owned().is_empty() {
            if let Some(Ok(m)) = self.consumer.poll(POLL) {
                // Read before the revoke: processed, so the commit covers it.
                self.on_message(&m);
            }
        }
        let left = self.owner().owned();
        if !left.is_empty() {
            tracing::warn!(partitions = ?left, "left the group without a revoke of every partition: the next owner re-emits from the last commit");
        }
        self.publish();
    }
}
