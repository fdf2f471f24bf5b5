//! Delivery wiring: router → per-sink workers on a tokio runtime, for the synchronous
//! pipelines (replay). Live mode uses the same pieces from async code.
//!
//! Shutdown flows downstream: `finish` flushes pending groups, closes every sink worker
//! (each drains its queue, then flushes), and waits up to the shutdown timeout; past it,
//! workers are aborted and what is left stays in the disk spool for the next start.
//!
//! Signals (docs/fleet.md): every sink that publishes them has its own
//! [`SignalProducer`] (sequence numbers, heartbeat schedule); the pipeline hands each
//! classified record and its clock to [`SinkSet::signal_record`] /
//! [`SinkSet::signal_time`], and [`SinkSet::flush_signals`] queues them in those sinks'
//! spools (not through the router: they are never grouped or held) before the lines
//! that gave them are acknowledged.
//!
//! Durability: with a `state_dir`, the router's storm-control groups are persisted to
//! `<state_dir>/router.json` ([`SinkSet::persist_router`]) before the pipeline
//! acknowledges the lines that fed them, and taken back at the next start (or by
//! `drain`, which flushes them into the spools and delivers them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use crate::correlate::spec::DEFAULT_CLUSTER;
use crate::correlate::Output;
use crate::record::{Record, TsMs};
use crate::signal::SignalProducer;
use crate::sinks::config::DeliveryPlan;
use crate::sinks::lock::LockError;
use crate::sinks::router::{Addressed, Router, RouterSnapshot};
use crate::sinks::spool::{DiskSpool, MemQueue, Queue};
use crate::sinks::stats::StatsSnapshot;
use crate::sinks::worker::{spawn, SinkHandle, Submitted, WorkerConfig};
use crate::sinks::Delivery;

/// Failure to start delivery (building a sink, opening a spool).
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    #[error("{0}")]
    Build(String),
    #[error("spool of sink '{sink}': {error}")]
    Spool { sink: String, error: String },
    #[error("runtime: {0}")]
    Runtime(String),
    #[error("{0}")]
    Locked(#[from] crate::sinks::lock::LockError),
    #[error("router state {path}: {error}")]
    RouterState { path: String, error: String },
    /// A listen address of `fluxsight run` could not be bound.
    #[error(transparent)]
    Listen(#[from] crate::server::ServerError),
}

impl DeliverError {
    /// The process exit code this error ends a command with (README "Exit codes"): 2 for
    /// what the user must change (a sink the configuration cannot build, a state
    /// directory another process holds), 1 for runtime failures (a spool or router state
    /// that cannot be read or written, an address that cannot be bound).
    pub fn exit_code(&self) -> u8 {
        match self {
            DeliverError::Build(_) | DeliverError::Locked(LockError::Held { .. }) => 2,
            DeliverError::Locked(LockError::Io { .. })
            | DeliverError::Spool { .. }
            | DeliverError::Runtime(_)
            | DeliverError::RouterState { .. }
            | DeliverError::Listen(_) => 1,
        }
    }
}

/// File of the persisted router groups inside the state directory.
pub const ROUTER_STATE_FILE: &str = "router.json";

/// The running sinks of a pipeline and its router (async; needs a tokio runtime).
pub struct SinkSet {
    router: Router,
    handles: BTreeMap<String, SinkHandle>,
    /// Every worker started, by sink name (a removed sink's worker stays until it has
    /// drained; shutdown waits for all).
    joins: Vec<(String, JoinHandle<()>)>,
    shutdown_timeout: Duration,
    /// `<state_dir>/router.json` (`None`: groups live in memory only).
    router_state: Option<PathBuf>,
    router_state_failing: bool,
    /// The plan running now (sinks and routes as last applied; delivery settings as
    /// started).
    plan: DeliveryPlan,
    /// The publisher of each signals sink, by sink name.
    signals: Vec<(String, SignalProducer)>,
    /// Signals made since the last [`SinkSet::flush_signals`].
    pending_signals: Vec<Addressed>,
    /// Held for the life of the set: one process per state directory.
    _lock: Option<crate::sinks::lock::StateDirLock>,
}

/// Signals made before they are queued: a replay queues them in batches this large.
pub const SIGNAL_BATCH: usize = 256;

/// The publishers of `plan`'s signals sinks; those in `keep` carry on (their sequence
/// numbers continue across a reload).
fn signal_producers(
    plan: &DeliveryPlan,
    mut keep: Vec<(String, SignalProducer)>,
) -> Vec<(String, SignalProducer)> {
    let cluster = match plan.cluster.as_str() {
        "" => DEFAULT_CLUSTER,
        c => c,
    };
    plan.sinks
        .iter()
        .filter_map(|cfg| {
            let ms = cfg.signals_heartbeat_ms()?;
            let name = cfg.name().to_string();
            let p = match keep.iter().position(|(n, _)| *n == name) {
                Some(i) => keep.swap_remove(i).1,
                None => SignalProducer::new(cluster, ms),
            };
            Some((name, p))
        })
        .collect()
}

impl SinkSet {
    /// Builds every sink of `plan` and starts its worker on the current runtime.
    pub fn start(plan: &DeliveryPlan) -> Result<Self, DeliverError> {
        let s = &plan.settings;
        let lock = match &s.state_dir {
            Some(d) => Some(crate::sinks::lock::StateDirLock::acquire(Path::new(d))?),
            None => None,
        };
        let mut handles = BTreeMap::new();
        let mut joins = Vec::new();
        for cfg in &plan.sinks {
            let state_dir = s.state_dir.as_deref().map(Path::new);
            let sink = crate::sinks::build::build_with_state(cfg, state_dir)
                .map_err(DeliverError::Build)?;
            let (h, j) = start_worker(cfg.name(), sink, s)?;
            handles.insert(cfg.name().to_string(), h);
            joins.push((cfg.name().to_string(), j));
        }
        let mut router = Router::new(plan.routes.clone());
        let router_state = s
            .state_dir
            .as_ref()
            .map(|d| PathBuf::from(d).join(ROUTER_STATE_FILE));
        if let Some(path) = &router_state {
            let snap = load_router_state(path)?;
            let held = snap.findings();
            let lost = router.restore(snap);
            if lost > 0 {
                tracing::warn!(count = lost, "findings held in storm-control groups of routes no longer configured were not restored");
            }
            if held > 0 {
                tracing::info!(findings = held - lost, "storm-control groups restored");
            }
        }
        Ok(SinkSet {
            router,
            handles,
            joins,
            shutdown_timeout: Duration::from_millis(s.shutdown_timeout_ms),
            router_state,
            router_state_failing: false,
            plan: plan.clone(),
            signals: signal_producers(plan, Vec::new()),
            pending_signals: Vec::new(),
            _lock: lock,
        })
    }

    /// Applies a reloaded plan (validate-then-swap: every new or changed sink is built
    /// first; if one fails nothing changes). Sinks whose config is unchanged keep running
    /// untouched; a changed sink gets its new sink object inside its running worker, so
    /// its queue (and spooled backlog) goes to the new config; a new sink starts with
    /// the running delivery settings; a removed one drains its queue and stops. Routes
    /// are swapped keeping the storm-control groups of the routes still named.
    /// `delivery:` settings (state directory, spool size, retries) apply at the next
    /// start only: they are reported in [`SinkChanges::restart_needed`].
    pub fn reconfigure(&mut self, plan: &DeliveryPlan) -> Result<SinkChanges, DeliverError> {
        // A sink removed by an earlier reload and named again: its old worker must be
        // gone before a new one opens the same spool (one reader per spool).
        for cfg in &plan.sinks {
            let name = cfg.name();
            let draining = !self.handles.contains_key(name)
                && self
                    .joins
                    .iter()
                    .any(|(n, j)| n == name && !j.is_finished());
            if draining {
                return Err(DeliverError::Build(format!(
                    "sink '{name}' was removed by an earlier reload and is still draining its queue; reload again once it has"
                )));
            }
        }
        let mut built = Vec::new();
        for cfg in &plan.sinks {
            let old = self.plan.sinks.iter().find(|o| o.name() == cfg.name());
            if old != Some(cfg) {
                let state_dir = self.plan.settings.state_dir.as_deref().map(Path::new);
                let sink = crate::sinks::build::build_with_state(cfg, state_dir)
                    .map_err(DeliverError::Build)?;
                built.push((cfg.name().to_string(), sink, old.is_some()));
            }
        }
        let mut changes = SinkChanges {
            restart_needed: self.plan.settings != plan.settings,
            ..SinkChanges::default()
        };
        for (name, sink, existed) in built {
            match self.handles.get(&name) {
                Some(h) if existed => {
                    h.replace_sink(sink);
                    changes.rebuilt.push(name);
                }
                _ => {
                    let (h, j) = start_worker(&name, sink, &self.plan.settings)?;
                    self.handles.insert(name.clone(), h);
                    self.joins.push((name.clone(), j));
                    changes.added.push(name);
                }
            }
        }
        let gone: Vec<String> = self
            .handles
            .keys()
            .filter(|n| !plan.sinks.iter().any(|c| c.name() == n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(h) = self.handles.remove(&name) {
                // Its join handle stays in `joins`: shutdown still waits for the drain.
                h.close();
                changes.removed.push(name);
            }
        }
        if self.plan.routes != plan.routes {
            self.router.mark_dirty();
            let snap = self.router.take_snapshot().unwrap_or_default();
            let mut router = Router::new(plan.routes.clone());
            changes.findings_of_dropped_routes = router.restore(snap);
            router.mark_dirty();
            self.router = router;
        }
        // A signals sink whose settings (or cluster) changed starts a new publisher
        // (sequence from 1).
        let same_cluster = self.plan.cluster == plan.cluster;
        let keep = std::mem::take(&mut self.signals)
            .into_iter()
            .filter(|(n, _)| same_cluster && !changes.rebuilt.contains(n))
            .collect();
        self.signals = signal_producers(plan, keep);
        let settings = self.plan.settings.clone();
        self.plan = plan.clone();
        // What runs keeps the delivery settings it started with.
        self.plan.settings = settings;
        Ok(changes)
    }

    /// The shutdown timeout of the pipeline file.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Writes the router's groups when they changed (temporary file, fsync, rename,
    /// directory fsync). `false` when they could not be written: the caller must then
    /// not acknowledge the lines that fed them.
    pub fn persist_router(&mut self) -> bool {
        let Some(path) = self.router_state.clone() else {
            return true;
        };
        let Some(snap) = self.router.take_snapshot() else {
            return !self.router_state_failing;
        };
        match crate::sinks::atomic::write_json(&path, &snap) {
            Ok(()) => {
                if self.router_state_failing {
                    tracing::info!(path = %path.display(), "router state written again");
                }
                self.router_state_failing = false;
                true
            }
            Err(e) => {
                if !self.router_state_failing {
                    tracing::error!(path = %path.display(), error = %e, "router state not written; lines feeding storm-control groups stay unacknowledged");
                }
                self.router_state_failing = true;
                // Try again at the next call even when nothing else changes.
                self.router.mark_dirty();
                false
            }
        }
    }

    /// Sink handles to abort from elsewhere (the shutdown deadline).
    pub fn abort_handles(&self) -> Vec<SinkHandle> {
        self.handles.values().cloned().collect()
    }

    /// The sink handles (for stats and metrics).
    pub fn handles(&self) -> &BTreeMap<String, SinkHandle> {
        &self.handles
    }

    /// Whether any sink publishes signals.
    pub fn wants_signals(&self) -> bool {
        !self.signals.is_empty()
    }

    /// The signal of one classified record, read by the correlator at `now` (its clock
    /// before the record), for every signals sink; queued by the next
    /// [`SinkSet::flush_signals`].
    pub fn signal_record(&mut self, rec: &Record, now: Option<TsMs>) {
        for (sink, p) in &mut self.signals {
            let s = p.record(rec, now);
            self.pending_signals
                .push((sink.clone(), Delivery::Signal(Box::new(s))));
        }
    }

    /// The clock moved to `now`: a heartbeat for every signals sink whose interval has
    /// passed; queued by the next [`SinkSet::flush_signals`].
    pub fn signal_time(&mut self, now: TsMs) {
        for (sink, p) in &mut self.signals {
            if let Some(s) = p.heartbeat(now) {
                self.pending_signals
                    .push((sink.clone(), Delivery::Signal(Box::new(s))));
            }
        }
    }

    /// Signals made and not yet queued.
    pub fn pending_signals(&self) -> usize {
        self.pending_signals.len()
    }

    /// Queues the signals made so far in their sinks' spools; `false` as for
    /// [`SinkSet::deliver`].
    pub async fn flush_signals(&mut self) -> bool {
        if self.pending_signals.is_empty() {
            return true;
        }
        let due = std::mem::take(&mut self.pending_signals);
        self.submit_all(due).await
    }

    /// Queues every delivery; `false` when one could not be queued (dropped at the
    /// shutdown deadline, or unencodable).
    async fn submit_all(&mut self, due: Vec<Addressed>) -> bool {
        self.submit_all_since(due, None).await
    }

    /// [`SinkSet::submit_all`] of deliveries produced from input read at `origin`.
    async fn submit_all_since(&mut self, due: Vec<Addressed>, origin: Option<Instant>) -> bool {
        let mut all = true;
        for (sink, d) in due {
            if let Some(h) = self.handles.get(&sink) {
                all &= h.submit_since(d, origin).await == Submitted::Queued;
            }
        }
        all
    }

    /// Routes correlator outputs emitted at `now`; `true` when everything they gave is
    /// queued in the sinks' spools (or held in the router's groups).
    pub async fn deliver(&mut self, outputs: &[Output], now: TsMs) -> bool {
        self.deliver_since(outputs, now, None).await
    }

    /// [`SinkSet::deliver`] of outputs produced from input read at `origin`: what is due
    /// at once carries it (end-to-end latency); what storm control releases later is
    /// measured from its release.
    pub async fn deliver_since(
        &mut self,
        outputs: &[Output],
        now: TsMs,
        origin: Option<Instant>,
    ) -> bool {
        let mut due = Vec::new();
        for o in outputs {
            due.extend(self.router.on_output(o, now));
        }
        let released = self.router.on_time(now);
        let direct = self.submit_all_since(due, origin).await;
        direct & self.submit_all(released).await
    }

    /// Advances storm-control timers; `false` as for [`SinkSet::deliver`].
    pub async fn tick(&mut self, now: TsMs) -> bool {
        if self.router.next_deadline().is_some_and(|t| t <= now) {
            let due = self.router.on_time(now);
            return self.submit_all(due).await;
        }
        true
    }

    pub fn stats(&self) -> BTreeMap<String, StatsSnapshot> {
        self.handles
            .iter()
            .map(|(n, h)| (n.clone(), h.stats().snapshot()))
            .collect()
    }

    /// Flushes pending groups, drains and closes every sink within the shutdown timeout;
    /// past it, workers are aborted and the rest stays in their spools.
    pub async fn finish(self, flush_groups: bool) -> BTreeMap<String, StatsSnapshot> {
        let by = std::time::Instant::now() + self.shutdown_timeout;
        self.finish_by(flush_groups, by).await
    }

    /// [`SinkSet::finish`] with the deadline given: past `by`, workers are aborted.
    pub async fn finish_by(
        mut self,
        flush_groups: bool,
        by: std::time::Instant,
    ) -> BTreeMap<String, StatsSnapshot> {
        self.flush_signals().await;
        if flush_groups {
            let due = self.router.flush();
            if self.submit_all(due).await {
                // Flushed into the spools: the groups' state (last sent) goes with them.
                self.persist_router();
            }
        }
        for h in self.handles.values() {
            h.close();
        }
        let joins = std::mem::take(&mut self.joins)
            .into_iter()
            .map(|(_, j)| j)
            .collect();
        let timeout = self.shutdown_timeout;
        let left = by.saturating_duration_since(std::time::Instant::now());
        if tokio::time::timeout(left, futures_join_all(joins))
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

/// What [`SinkSet::reconfigure`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SinkChanges {
    pub added: Vec<String>,
    pub rebuilt: Vec<String>,
    pub removed: Vec<String>,
    /// Findings held in storm-control groups of routes no longer configured (not
    /// notified by those routes).
    pub findings_of_dropped_routes: usize,
    /// The `delivery:` section changed: it applies at the next start.
    pub restart_needed: bool,
}

/// Opens the queue of sink `name` (its disk spool under the state directory, or a
/// memory queue) and starts its worker on the current runtime.
fn start_worker(
    name: &str,
    sink: Box<dyn crate::sinks::Sink>,
    s: &crate::sinks::config::DeliverySettings,
) -> Result<(SinkHandle, JoinHandle<()>), DeliverError> {
    let (queue, dead_letter) = match &s.state_dir {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let spool = DiskSpool::open(
                &dir.join("spool").join(name),
                s.spool_max_bytes,
                s.fsync,
                s.queue_capacity,
            )
            .map_err(|e| DeliverError::Spool {
                sink: name.to_string(),
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
    Ok(spawn(name, sink, queue, wc))
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
        self.flush_signals();
        self.rt.block_on(self.set.deliver(outputs, now));
    }

    /// Advances storm-control timers.
    pub fn tick(&mut self, now: TsMs) {
        self.rt.block_on(self.set.tick(now));
    }

    /// Whether any sink publishes signals.
    pub fn wants_signals(&self) -> bool {
        self.set.wants_signals()
    }

    /// See [`SinkSet::signal_record`]; queued in batches of [`SIGNAL_BATCH`].
    pub fn signal_record(&mut self, rec: &Record, now: Option<TsMs>) {
        self.set.signal_record(rec, now);
        if self.set.pending_signals() >= SIGNAL_BATCH {
            self.flush_signals();
        }
    }

    /// See [`SinkSet::signal_time`].
    pub fn signal_time(&mut self, now: TsMs) {
        self.set.signal_time(now);
    }

    /// Queues the signals made so far (see [`SinkSet::flush_signals`]).
    pub fn flush_signals(&mut self) {
        self.rt.block_on(self.set.flush_signals());
    }

    /// Persists the router's groups (see [`SinkSet::persist_router`]).
    pub fn persist_router(&mut self) -> bool {
        self.set.persist_router()
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

fn load_router_state(path: &Path) -> Result<RouterSnapshot, DeliverError> {
    let err = |e: String| DeliverError::RouterState {
        path: path.display().to_string(),
        error: e,
    };
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RouterSnapshot::default()),
        Err(e) => Err(err(e.to_string())),
    }
}

async fn futures_join_all(joins: Vec<JoinHandle<()>>) {
    for j in joins {
        let _ = j.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LoadPipeline;
    use crate::correlate::spec::{PatternSet, Settings};
    use crate::correlate::Finding;
    use crate::correlate::PatternId;
    use crate::record::ObjectRef;

    /// A file sink (stands for any findings sink), a SIEM Kafka sink and a signals Kafka
    /// sink; nothing connects (librdkafka connects lazily, the memory queue holds all).
    fn plan() -> DeliveryPlan {
        let dir = std::env::temp_dir().join(format!("fluxsight-sigroute-{}", std::process::id()));
        let text = format!(
            "cluster: c1\nsinks:\n  - name: out\n    type: file\n    path: {}\n  - name: siem\n    type: kafka\n    brokers: 127.0.0.1:9\n  - name: fleet\n    type: kafka\n    brokers: 127.0.0.1:9\n    signals: true\n",
            dir.join("out.jsonl").display()
        );
        Settings::pipeline_from_text(&text, "p.yaml", PatternSet::builtin())
            .unwrap()
            .1
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn signals_reach_signals_sinks_only_and_findings_never_reach_them() {
        let mut set = SinkSet::start(&plan()).unwrap();
        assert!(set.wants_signals());
        let rec = Record {
            ts: Some(1_000),
            msg: "m".into(),
            ..Record::default()
        };
        set.signal_record(&rec, None);
        set.signal_time(2_000);
        let to: Vec<&str> = set
            .pending_signals
            .iter()
            .map(|(s, _)| s.as_str())
            .collect();
        assert_eq!(to, ["fleet", "fleet"]);
        assert!(set
            .pending_signals
            .iter()
            .all(|(_, d)| matches!(d, Delivery::Signal(s) if s.cluster == "c1")));
        let finding = Output::Finding(Box::new(Finding::example(
            PatternId::GitAuthFailure,
            ObjectRef::new("GitRepository", "a", "b"),
        )));
        let audit = crate::sinks::delivery::router::tests::audit_output();
        let mut to: Vec<String> = [finding, audit]
            .iter()
            .flat_map(|o| set.router.on_output(o, 1_000))
            .map(|(s, _)| s)
            .collect();
        to.sort();
        assert_eq!(to, ["out", "out", "siem", "siem"]);
        assert!(set.flush_signals().await);
        assert_eq!(set.pending_signals(), 0);
        let stats = set.finish_by(false, Instant::now()).await;
        assert_eq!(stats["fleet"].dropped, 0);
    }
}
