//! Delivery wiring: router → per-sink workers on a tokio runtime, for the synchronous
//! pipelines (replay). Live mode uses the same pieces from async code.
//!
//! Shutdown flows downstream: `finish` flushes pending groups, closes every sink worker
//! (each drains its queue, then flushes), and waits up to the shutdown timeout; past it,
//! workers are aborted and what is left stays in the disk spool for the next start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::correlate::Output;
use crate::record::TsMs;
use crate::sinks::config::DeliveryPlan;
use crate::sinks::router::{Addressed, Router};
use crate::sinks::spool::{DiskSpool, MemQueue, Queue};
use crate::sinks::stats::StatsSnapshot;
use crate::sinks::worker::{spawn, SinkHandle, WorkerConfig};

/// Failure to start delivery (building a sink, opening a spool).
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("{0}")]
    Build(String),
    #[error("spool of sink '{sink}': {error}")]
    Spool { sink: String, error: String },
    #[error("runtime: {0}")]
    Runtime(String),
    /// A listen address of `fluxsight run` could not be bound.
    #[error(transparent)]
    Listen(#[from] crate::server::ServerError),
}

/// The running sinks of a pipeline and its router (async; needs a tokio runtime).
pub struct SinkSet {
    router: Router,
    handles: BTreeMap<String, SinkHandle>,
    joins: Vec<JoinHandle<()>>,
    shutdown_timeout: Duration,
}

impl SinkSet {
    /// Builds every sink of `plan` and starts its worker on the current runtime.
    pub fn start(plan: &DeliveryPlan) -> Result<Self, DeliverError> {
        let s = &plan.settings;
        let mut handles = BTreeMap::new();
        let mut joins = Vec::new();
        for cfg in &plan.sinks {
            let name = cfg.name().to_string();
            let sink = crate::sinks::build::build(cfg).map_err(DeliverError::Build)?;
            let (queue, dead_letter) = match &s.state_dir {
                Some(dir) => {
                    let dir = PathBuf::from(dir);
                    let spool = DiskSpool::open(
                        &dir.join("spool").join(&name),
                        s.spool_max_bytes,
                        s.fsync,
                        s.queue_capacity,
                    )
                    .map_err(|e| DeliverError::Spool {
                        sink: name.clone(),
                        error: e.to_string(),
                    })?;
                    (
                        Queue::Disk(spool),
                        Some(dir.join("dead-letter").join(format!("{name}.jsonl"))),
                    )
                }
                None => (Queue::Memory(MemQueue::new(s.queue_capacity)), None),
            };
            let wc = WorkerConfig {
                retry_initial_ms: s.retry_initial_ms,
                retry_max_ms: s.retry_max_ms,
                dead_letter,
            };
            let (h, j) = spawn(&name, sink, queue, wc);
            handles.insert(name, h);
            joins.push(j);
        }
        Ok(SinkSet {
            router: Router::new(plan.routes.clone()),
            handles,
            joins,
            shutdown_timeout: Duration::from_millis(s.shutdown_timeout_ms),
        })
    }

    /// The sink handles (for stats and metrics).
    pub fn handles(&self) -> &BTreeMap<String, SinkHandle> {
        &self.handles
    }

    async fn submit_all(&mut self, due: Vec<Addressed>) {
        for (sink, d) in due {
            if let Some(h) = self.handles.get(&sink) {
                h.submit(d).await;
            }
        }
    }

    /// Routes correlator outputs emitted at `now`.
    pub async fn deliver(&mut self, outputs: &[Output], now: TsMs) {
        let mut due = Vec::new();
        for o in outputs {
            due.extend(self.router.on_output(o, now));
        }
        due.extend(self.router.on_time(now));
        self.submit_all(due).await;
    }

    /// Advances storm-control timers.
    pub async fn tick(&mut self, now: TsMs) {
        if self.router.next_deadline().is_some_and(|t| t <= now) {
            let due = self.router.on_time(now);
            self.submit_all(due).await;
        }
    }

    pub fn stats(&self) -> BTreeMap<String, StatsSnapshot> {
        self.handles
            .iter()
            .map(|(n, h)| (n.clone(), h.stats().snapshot()))
            .collect()
    }

    /// Flushes pending groups, drains and closes every sink within the shutdown timeout;
    /// past it, workers are aborted and the rest stays in their spools.
    pub async fn finish(mut self, flush_groups: bool) -> BTreeMap<String, StatsSnapshot> {
        if flush_groups {
            let due = self.router.flush();
            self.submit_all(due).await;
        }
        for h in self.handles.values() {
            h.close();
        }
        let joins = std::mem::take(&mut self.joins);
        let timeout = self.shutdown_timeout;
        if tokio::time::timeout(timeout, futures_join_all(joins))
            .await
            .is_err()
        {
            tracing::error!(
                timeout_ms = timeout.as_millis() as u64,
                "sinks did not drain before the shutdown timeout; leaving the rest in their spools"
            );
            for h in self.handles.values() {
                h.abort();
            }
        }
        self.stats()
    }
}

/// Synchronous wrapper for the batch pipelines (replay, drain): owns a runtime.
pub struct Deliverer {
    rt: Runtime,
    set: SinkSet,
}

impl Deliverer {
    /// Builds every sink of `plan` and starts its worker.
    pub fn start(plan: &DeliveryPlan) -> Result<Self, DeliverError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("fluxsight-sink")
            .build()
            .map_err(|e| DeliverError::Runtime(e.to_string()))?;
        let set = {
            let _guard = rt.enter();
            SinkSet::start(plan)?
        };
        Ok(Deliverer { rt, set })
    }

    /// Routes correlator outputs emitted at `now` (record time in replay).
    pub fn deliver(&mut self, outputs: &[Output], now: TsMs) {
        self.rt.block_on(self.set.deliver(outputs, now));
    }

    /// Advances storm-control timers.
    pub fn tick(&mut self, now: TsMs) {
        self.rt.block_on(self.set.tick(now));
    }

    pub fn stats(&self) -> BTreeMap<String, StatsSnapshot> {
        self.set.stats()
    }

    /// Flushes pending groups, drains and closes every sink within the shutdown timeout.
    pub fn finish(self) -> BTreeMap<String, StatsSnapshot> {
        let Deliverer { rt, set } = self;
        let stats = rt.block_on(set.finish(true));
        rt.shutdown_timeout(Duration::from_secs(2));
        stats
    }
}

async fn futures_join_all(joins: Vec<JoinHandle<()>>) {
    for j in joins {
        let _ = j.await;
    }
}
