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
}

/// Running delivery side of a pipeline.
pub struct Deliverer {
    rt: Runtime,
    router: Router,
    handles: BTreeMap<String, SinkHandle>,
    joins: Vec<JoinHandle<()>>,
    shutdown_timeout: Duration,
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
        let s = &plan.settings;
        let mut handles = BTreeMap::new();
        let mut joins = Vec::new();
        for cfg in &plan.sinks {
            let name = cfg.name().to_string();
            let sink = {
                let _guard = rt.enter();
                crate::sinks::build::build(cfg).map_err(DeliverError::Build)?
            };
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
            let _guard = rt.enter();
            let (h, j) = spawn(&name, sink, queue, wc);
            handles.insert(name, h);
            joins.push(j);
        }
        Ok(Deliverer {
            rt,
            router: Router::new(plan.routes.clone()),
            handles,
            joins,
            shutdown_timeout: Duration::from_millis(s.shutdown_timeout_ms),
        })
    }

    fn submit_all(&mut self, due: Vec<Addressed>) {
        for (sink, d) in due {
            if let Some(h) = self.handles.get(&sink) {
                let h = h.clone();
                self.rt.block_on(h.submit(d));
            }
        }
    }

    /// Routes correlator outputs emitted at `now` (record time in replay).
    pub fn deliver(&mut self, outputs: &[Output], now: TsMs) {
        let mut due = Vec::new();
        for o in outputs {
            due.extend(self.router.on_output(o, now));
        }
        due.extend(self.router.on_time(now));
        self.submit_all(due);
    }

    /// Advances storm-control timers.
    pub fn tick(&mut self, now: TsMs) {
        if self.router.next_deadline().is_some_and(|t| t <= now) {
            let due = self.router.on_time(now);
            self.submit_all(due);
        }
    }

    pub fn stats(&self) -> BTreeMap<String, StatsSnapshot> {
        self.handles
            .iter()
            .map(|(n, h)| (n.clone(), h.stats().snapshot()))
            .collect()
    }

    /// Flushes pending groups, drains and closes every sink within the shutdown timeout.
    pub fn finish(mut self) -> BTreeMap<String, StatsSnapshot> {
        let due = self.router.flush();
        self.submit_all(due);
        for h in self.handles.values() {
            h.close();
        }
        let joins = std::mem::take(&mut self.joins);
        let timeout = self.shutdown_timeout;
        let handles: Vec<SinkHandle> = self.handles.values().cloned().collect();
        self.rt.block_on(async move {
            let all = futures_join_all(joins);
            if tokio::time::timeout(timeout, all).await.is_err() {
                tracing::error!(timeout_ms = timeout.as_millis() as u64, "sinks did not drain before the shutdown timeout; leaving the rest in their spools");
                for h in &handles {
                    h.abort();
                }
            }
        });
        let stats = self.stats();
        self.rt.shutdown_timeout(Duration::from_secs(2));
        stats
    }
}

async fn futures_join_all(joins: Vec<JoinHandle<()>>) {
    for j in joins {
        let _ = j.await;
    }
}
