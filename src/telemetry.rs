//! Self-observability: the metrics fluxsight exposes on `/metrics`, and the format of
//! its own logs ([`logs`]).
//!
//! Owns: metric names (constants below) and the shared [`Telemetry`] handle. Hot paths
//! bump atomics; the exposition is produced by a `prometheus-client` collector at
//! scrape time from snapshots (pipeline counters, per-source counters, per-sink stats,
//! latency histograms, config reloads, firing findings by pattern and tenant), as
//! OpenMetrics 1.0 or, for scrapers that ask for it, Prometheus text 0.0.4
//! ([`exposition`]).
//!
//! Metric names are an interface (dashboards, alerts): a metric never changes type
//! under its name. A latency once exported as a counter plus a `_sum` gauge is now a
//! histogram under a new name; the old pair stays, marked deprecated in its help text.

pub mod central;
pub mod exposition;
pub mod histogram;
pub mod logs;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::sinks::stats::{DropReason, SinkStats, LATENCY_BUCKETS_MS};
use exposition::Exposition;
use histogram::{histogram, HistogramSnapshot, LatencyHistogram};

pub const M_LINES: &str = "fluxsight_source_lines";
pub const M_LAG: &str = "fluxsight_source_lag_seconds";
pub const M_SOURCE_ERRORS: &str = "fluxsight_source_errors";
pub const M_SOURCE_RESTARTS: &str = "fluxsight_source_restarts";
pub const M_SOURCE_TRUNCATIONS: &str = "fluxsight_source_truncations";
pub const M_REBUILD_SUPPRESSED: &str = "fluxsight_rebuild_outputs_suppressed";
pub const M_ACK_PENDING: &str = "fluxsight_ack_uncommitted_batches";
pub const M_RECORDS: &str = "fluxsight_records";
pub const M_PARSE_FAILURES: &str = "fluxsight_parse_failures";
pub const M_QUEUE_DEPTH: &str = "fluxsight_queue_depth";
pub const M_DROPPED: &str = "fluxsight_dropped";
pub const M_FIRING: &str = "fluxsight_findings_firing";
pub const M_FINDINGS_EMITTED: &str = "fluxsight_findings_emitted";
/// Findings the findings API's view dropped for room (its `api.max_findings` cap).
pub const M_FINDINGS_VIEW_DROPPED: &str = "fluxsight_findings_view_dropped";
pub const M_STATE_ENTRIES: &str = "fluxsight_state_entries";
pub const M_STATE_EVICTIONS: &str = "fluxsight_state_evictions";
pub const M_CONNECTIONS_REFUSED: &str = "fluxsight_connections_refused";
pub const M_KUBE_CONNECT_FAILURES: &str = "fluxsight_kube_connect_failures";
pub const M_SINK_SENT: &str = "fluxsight_sink_sent";
pub const M_SINK_RETRIED: &str = "fluxsight_sink_retried";
pub const M_SINK_SPOOLED: &str = "fluxsight_sink_spooled";
pub const M_SINK_DEAD: &str = "fluxsight_sink_dead_lettered";
pub const M_SINK_DEAD_FAILED: &str = "fluxsight_sink_dead_letter_failed";
pub const M_SINK_DROPPED: &str = "fluxsight_sink_dropped";
pub const M_SINK_DROPPED_REASON: &str = "fluxsight_sink_dropped_reason";
pub const M_SINK_BACKLOG: &str = "fluxsight_sink_backlog";
pub const M_SINK_BLOCKED: &str = "fluxsight_sink_blocked";
pub const M_SINK_SPOOL_BYTES: &str = "fluxsight_sink_spool_bytes";
/// Deprecated (a gauge): use the [`M_SINK_DELIVERY_DURATION`] histogram's `_sum`.
pub const M_SINK_LATENCY_SUM: &str = "fluxsight_sink_delivery_latency_seconds_sum";
/// Deprecated (a counter): use the [`M_SINK_DELIVERY_DURATION`] histogram's `_count`.
pub const M_SINK_LATENCY_COUNT: &str = "fluxsight_sink_delivery_latency_seconds_count";
/// Histogram: a delivery's time from queued in the sink (spool) to accepted by it.
pub const M_SINK_DELIVERY_DURATION: &str = "fluxsight_sink_delivery_duration_seconds";
/// Histogram: a delivery's time from the first line of the batch that produced it read
/// to the sink accepting it (record-in → delivered).
pub const M_SINK_END_TO_END: &str = "fluxsight_sink_end_to_end_latency_seconds";
/// Histogram: a batch's time from its first line read to its outputs queued in every
/// sink's spool (record-in → queued; add the sink's delivery duration for delivered).
pub const M_PIPELINE_LATENCY: &str = "fluxsight_pipeline_latency_seconds";
/// Counter by `result`: workload lookups (see [`LookupResult`]).
pub const M_LOOKUPS: &str = "fluxsight_lookups";
/// Counter: Kubernetes API requests made by workload lookups.
pub const M_LOOKUP_REQUESTS: &str = "fluxsight_lookup_requests";
pub const M_CONFIG_RELOADS: &str = "fluxsight_config_reloads";
pub const M_CONFIG_LAST_RELOAD_SUCCESS: &str =
    "fluxsight_config_last_reload_success_timestamp_seconds";
pub const M_CONFIG_LAST_RELOAD_OK: &str = "fluxsight_config_last_reload_successful";

/// Counts by name (the `map` label of the state gauges).
type NamedCounts = Vec<(&'static str, u64)>;

/// Counters of one source (a log stream family, a watch, the receiver, …).
#[derive(Debug, Default)]
pub struct SourceStats {
    pub lines: AtomicU64,
    pub errors: AtomicU64,
    /// Reconnects and relists (a log stream re-opened, a watch listing again).
    pub restarts: AtomicU64,
    /// Followed files found truncated (copytruncate).
    pub truncations: AtomicU64,
    /// Event time of the newest record, ms (for lag).
    pub newest_ms: AtomicI64,
    /// The source has listed / caught up at least once.
    pub synced: AtomicBool,
}

/// The shared telemetry handle.
#[derive(Debug, Default)]
pub struct Telemetry {
    pub records: AtomicU64,
    pub parse_failures: AtomicU64,
    pub dropped: AtomicU64,
    pub queue_depth: AtomicU64,
    pub findings_emitted: AtomicU64,
    /// Findings dropped from the findings API's view for room (oldest resolved first).
    pub findings_view_dropped: AtomicU64,
    /// Outputs of lines re-read after a restart to rebuild state (delivered before the
    /// restart, so not sent again).
    pub rebuild_suppressed: AtomicU64,
    /// Batches whose outputs could not be made safe (shutdown deadline): their lines
    /// were not acknowledged and are read again at the next start.
    pub ack_withheld: AtomicU64,
    /// Requests to the Kubernetes API server that got no usable answer (refused,
    /// timed out, credentials rejected), every watch, log follower and probe counted.
    pub kube_connect_failures: AtomicU64,
    /// Connections closed at accept, per listener and reason (see [`Refusal`]).
    pub refused: [AtomicU64; Refusal::ALL.len()],
    /// Record-in → outputs queued in the spools, per batch that produced outputs.
    pub pipeline_latency: LatencyHistogram,
    /// Config reloads (SIGHUP, file change).
    pub reloads: ReloadStats,
    /// Targeted workload lookups (`sources::kube::lookup`).
    pub lookups: LookupStats,
    /// `fluxsight central`: per-partition gauges and group counters.
    pub central: central::CentralStats,
    sources: Mutex<BTreeMap<String, Arc<SourceStats>>>,
    sinks: Mutex<BTreeMap<String, Arc<SinkStats>>>,
    /// (pattern, tenant) → firing count.
    firing: Mutex<BTreeMap<(String, String), u64>>,
    /// The correlator's keyed state: (map, entries) and (map, evictions so far).
    state: Mutex<(NamedCounts, NamedCounts)>,
}

impl Telemetry {
    pub fn new() -> Arc<Self> {
        Arc::new(Telemetry::default())
    }

    /// The stats of source `name`, created on first use.
    pub fn source(&self, name: &str) -> Arc<SourceStats> {
        let mut m = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(name.to_string()).or_default().clone()
    }

    pub fn register_sink(&self, name: &str, stats: Arc<SinkStats>) {
        self.sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), stats);
    }

    /// Publishes the correlator's state sizes and eviction counts.
    pub fn set_state(&self, entries: &[(&'static str, u64)], evictions: &[(&'static str, u64)]) {
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) =
            (entries.to_vec(), evictions.to_vec());
    }

    pub fn set_firing(&self, firing: BTreeMap<(String, String), u64>) {
        *self.firing.lock().unwrap_or_else(|e| e.into_inner()) = firing;
    }

    /// Sources not yet synced (empty = ready).
    pub fn unsynced(&self) -> Vec<String> {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, s)| !s.synced.load(Ordering::Relaxed))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// A registry exposing this telemetry.
    pub fn registry(self: &Arc<Self>) -> Registry {
        let mut r = Registry::default();
        r.register_collector(Box::new(TelemetryCollector(self.clone())));
        r
    }

    /// The OpenMetrics exposition of everything.
    pub fn encode(self: &Arc<Self>) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; the collector's own encoding does not
        // either (only fmt::Write errors propagate).
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry()) {
            tracing::error!(error = %e, "metrics encoding failed");
        }
        out
    }

    /// The exposition in `format`.
    pub fn encode_as(self: &Arc<Self>, format: Exposition) -> String {
        match format {
            Exposition::OpenMetrics => self.encode(),
            Exposition::Text004 => exposition::to_text_004(&self.encode()),
        }
    }
}

/// Outcomes of config reloads.
#[derive(Debug, Default)]
pub struct ReloadStats {
    pub success: AtomicU64,
    pub failure: AtomicU64,
    /// Unix time (ms) of the last successful load (the start-up load counts), 0 = never.
    pub last_success_ms: AtomicI64,
    /// The last reload attempt failed (the running config is older than the file).
    pub last_failed: AtomicBool,
}

impl ReloadStats {
    /// Records the outcome of one load at `now_ms` (Unix time). `initial` is the
    /// start-up load: it sets the timestamp without counting a reload.
    pub fn record(&self, ok: bool, now_ms: i64, initial: bool) {
        if ok {
            if !initial {
                self.success.fetch_add(1, Ordering::Relaxed);
            }
            self.last_success_ms.store(now_ms, Ordering::Relaxed);
        } else {
            self.failure.fetch_add(1, Ordering::Relaxed);
        }
        self.last_failed.store(!ok, Ordering::Relaxed);
    }
}

/// How one requested workload lookup ended (the `result` label of [`M_LOOKUPS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupResult {
    /// Every request answered (404s included: a missing object is a fact).
    Ok,
    /// Some resource answered 403: what could be read was returned.
    Denied,
    /// Some request failed otherwise (transport, 5xx, decode); the rest was returned.
    Error,
    /// The lookup's deadline passed; what was fetched by then was returned.
    Timeout,
    /// The target is not a workload kind (a HelmRelease, a Kustomization, …).
    NotWorkload,
    /// The same workload was looked up less than the interval ago: dropped.
    Duplicate,
    /// The per-minute cap was reached: dropped.
    RateLimited,
    /// Lookups are turned off (`kubernetes.lookups.enabled: false`).
    Disabled,
}

impl LookupResult {
    pub const ALL: [LookupResult; 8] = [
        LookupResult::Ok,
        LookupResult::Denied,
        LookupResult::Error,
        LookupResult::Timeout,
        LookupResult::NotWorkload,
        LookupResult::Duplicate,
        LookupResult::RateLimited,
        LookupResult::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LookupResult::Ok => "ok",
            LookupResult::Denied => "denied",
            LookupResult::Error => "error",
            LookupResult::Timeout => "timeout",
            LookupResult::NotWorkload => "not_workload",
            LookupResult::Duplicate => "duplicate",
            LookupResult::RateLimited => "rate_limited",
            LookupResult::Disabled => "disabled",
        }
    }
}

/// Counters of the workload lookups.
#[derive(Debug, Default)]
pub struct LookupStats {
    pub by_result: [AtomicU64; LookupResult::ALL.len()],
    /// API requests made (GETs and LISTs, whatever their answer).
    pub requests: AtomicU64,
}

impl LookupStats {
    pub fn count(&self, r: LookupResult) {
        self.by_result[r as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Lookups that ended with `r` so far.
    pub fn get(&self, r: LookupResult) -> u64 {
        self.by_result[r as usize].load(Ordering::Relaxed)
    }
}

/// Why a connection was closed at accept, and on which listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The receiver's `max_connections` were all open.
    ReceiverFull,
    /// The client address had `max_connections_per_ip` open on the receiver.
    ReceiverPerIp,
    /// The health listener's own small cap was reached.
    HealthFull,
}

impl Refusal {
    pub const ALL: [Refusal; 3] = [
        Refusal::ReceiverFull,
        Refusal::ReceiverPerIp,
        Refusal::HealthFull,
    ];

    /// `(listener, reason)` labels of the metric.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            Refusal::ReceiverFull => ("receiver", "max_connections"),
            Refusal::ReceiverPerIp => ("receiver", "max_connections_per_ip"),
            Refusal::HealthFull => ("health", "max_connections"),
        }
    }
}

impl Telemetry {
    /// Counts one connection closed at accept.
    pub fn refuse(&self, why: Refusal) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections closed at accept for this reason so far.
    pub fn refused(&self, why: Refusal) -> u64 {
        self.refused[why as usize].load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct TelemetryCollector(Arc<Telemetry>);

type Labels = Vec<(String, String)>;

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Labels, u64)],
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(0u64);
    let mut me = enc.encode_descriptor(name, help, None, c.metric_type())?;
    for (labels, v) in series {
        if labels.is_empty() {
            return ConstCounter::new(*v).encode(me);
        }
        ConstCounter::new(*v).encode(me.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Labels, f64)],
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(0f64);
    let mut me = enc.encode_descriptor(name, help, None, g.metric_type())?;
    for (labels, v) in series {
        if labels.is_empty() {
            return ConstGauge::new(*v).encode(me);
        }
        ConstGauge::new(*v).encode(me.encode_family(labels)?)?;
    }
    Ok(())
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Collector for TelemetryCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let t = &self.0;
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed);
        counter(
            &mut enc,
            M_RECORDS,
            "Records parsed",
            &[(vec![], ld(&t.records))],
        )?;
        counter(
            &mut enc,
            M_PARSE_FAILURES,
            "Lines that no structured parser accepted (kept as text)",
            &[(vec![], ld(&t.parse_failures))],
        )?;
        counter(
            &mut enc,
            M_DROPPED,
            "Records dropped before correlation",
            &[(vec![], ld(&t.dropped))],
        )?;
        counter(
            &mut enc,
            M_FINDINGS_EMITTED,
            "Finding updates emitted",
            &[(vec![], ld(&t.findings_emitted))],
        )?;
        counter(
            &mut enc,
            M_FINDINGS_VIEW_DROPPED,
            "Findings dropped from the findings API's view for room (api.max_findings), oldest resolved first",
            &[(vec![], ld(&t.findings_view_dropped))],
        )?;
        counter(
            &mut enc,
            M_KUBE_CONNECT_FAILURES,
            "Kubernetes API requests that got no usable answer (the server unreachable or credentials rejected)",
            &[(vec![], ld(&t.kube_connect_failures))],
        )?;
        let refused: Vec<(Labels, u64)> = Refusal::ALL
            .iter()
            .map(|r| {
                let (listener, reason) = r.labels();
                (
                    l(&[("listener", listener), ("reason", reason)]),
                    t.refused(*r),
                )
            })
            .collect();
        counter(
            &mut enc,
            M_CONNECTIONS_REFUSED,
            "Connections closed at accept (connection caps)",
            &refused,
        )?;
        let lookups: Vec<(Labels, u64)> = LookupResult::ALL
            .iter()
            .map(|r| (l(&[("result", r.as_str())]), t.lookups.get(*r)))
            .collect();
        counter(
            &mut enc,
            M_LOOKUPS,
            "Lookups of failing workloads (Pods, ReplicaSets, PVCs, Events), by result",
            &lookups,
        )?;
        counter(
            &mut enc,
            M_LOOKUP_REQUESTS,
            "Kubernetes API requests made by workload lookups",
            &[(vec![], ld(&t.lookups.requests))],
        )?;
        gauge(
            &mut enc,
            M_QUEUE_DEPTH,
            "Records waiting between sources and the correlator",
            &[(l(&[("queue", "records")]), ld(&t.queue_depth) as f64)],
        )?;
        let now = crate::time::now_ms();
        let sources: Vec<(String, Arc<SourceStats>)> = t
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let lines: Vec<(Labels, u64)> = sources
            .iter()
            .map(|(n, s)| (l(&[("source", n)]), ld(&s.lines)))
            .collect();
        counter(&mut enc, M_LINES, "Lines read per source", &lines)?;
        let errs: Vec<(Labels, u64)> = sources
            .iter()
            .map(|(n, s)| (l(&[("source", n)]), ld(&s.errors)))
            .collect();
        counter(
            &mut enc,
            M_SOURCE_ERRORS,
            "Source errors (reconnects, watch errors)",
            &errs,
        )?;
        let restarts: Vec<(Labels, u64)> = sources
            .iter()
            .map(|(n, s)| (l(&[("source", n)]), ld(&s.restarts)))
            .collect();
        counter(
            &mut enc,
            M_SOURCE_RESTARTS,
            "Source reconnects and relists",
            &restarts,
        )?;
        let truncs: Vec<(Labels, u64)> = sources
            .iter()
            .map(|(n, s)| (l(&[("source", n)]), ld(&s.truncations)))
            .collect();
        counter(
            &mut enc,
            M_SOURCE_TRUNCATIONS,
            "Followed files found truncated in place (copytruncate)",
            &truncs,
        )?;
        counter(
            &mut enc,
            M_REBUILD_SUPPRESSED,
            "Outputs of lines re-read at start-up to rebuild correlation state, not sent again",
            &[(vec![], ld(&t.rebuild_suppressed))],
        )?;
        counter(
            &mut enc,
            M_ACK_PENDING,
            "Batches not acknowledged to their sources (outputs not safe by the shutdown deadline)",
            &[(vec![], ld(&t.ack_withheld))],
        )?;
        let lag: Vec<(Labels, f64)> = sources
            .iter()
            .filter_map(|(n, s)| {
                let t = s.newest_ms.load(Ordering::Relaxed);
                (t > 0).then(|| (l(&[("source", n)]), ((now - t).max(0) as f64) / 1000.0))
            })
            .collect();
        gauge(&mut enc, M_LAG, "Age of the newest record per source", &lag)?;
        let sinks: Vec<(String, Arc<SinkStats>)> = t
            .sinks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (name, help, f) in [
            (
                M_SINK_SENT,
                "Deliveries accepted by the sink",
                (|s: &SinkStats| s.sent.load(Ordering::Relaxed)) as fn(&SinkStats) -> u64,
            ),
            (
                M_SINK_RETRIED,
                "Failed send attempts retried",
                |s: &SinkStats| s.retried.load(Ordering::Relaxed),
            ),
            (
                M_SINK_SPOOLED,
                "Deliveries that waited in the spool",
                |s: &SinkStats| s.spooled.load(Ordering::Relaxed),
            ),
            (
                M_SINK_DEAD,
                "Deliveries rejected permanently (dead-lettered)",
                |s: &SinkStats| s.dead_lettered.load(Ordering::Relaxed),
            ),
            (
                M_SINK_DEAD_FAILED,
                "Rejected deliveries whose dead-letter write failed, per attempt (kept in the spool and retried)",
                |s: &SinkStats| s.dead_letter_failed.load(Ordering::Relaxed),
            ),
            (
                M_SINK_DROPPED,
                "Deliveries lost (unencodable, or abandoned at the shutdown deadline)",
                |s: &SinkStats| s.dropped.load(Ordering::Relaxed),
            ),
            (
                M_SINK_BLOCKED,
                "Times the pipeline waited for room in the sink's queue",
                |s: &SinkStats| s.blocked.load(Ordering::Relaxed),
            ),
            (
                M_SINK_LATENCY_COUNT,
                "Deprecated: use fluxsight_sink_delivery_duration_seconds_count. Deliveries with a measured latency",
                |s: &SinkStats| {
                    s.latency_buckets
                        .iter()
                        .map(|b| b.load(Ordering::Relaxed))
                        .sum()
                },
            ),
        ] {
            let series: Vec<(Labels, u64)> = sinks
                .iter()
                .map(|(n, s)| (l(&[("sink", n)]), f(s)))
                .collect();
            counter(&mut enc, name, help, &series)?;
        }
        let by_reason: Vec<(Labels, u64)> = sinks
            .iter()
            .flat_map(|(n, s)| {
                DropReason::ALL.iter().map(move |r| {
                    (
                        l(&[("sink", n), ("reason", r.as_str())]),
                        s.dropped_by[*r as usize].load(Ordering::Relaxed),
                    )
                })
            })
            .collect();
        counter(
            &mut enc,
            M_SINK_DROPPED_REASON,
            "Deliveries dropped, by reason (shutdown_deadline: in run, produced again at the next start)",
            &by_reason,
        )?;
        let sum: Vec<(Labels, f64)> = sinks
            .iter()
            .map(|(n, s)| {
                (
                    l(&[("sink", n)]),
                    s.latency_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0,
                )
            })
            .collect();
        gauge(
            &mut enc,
            M_SINK_LATENCY_SUM,
            "Deprecated: use fluxsight_sink_delivery_duration_seconds_sum. Sum of delivery latencies (enqueue to accepted)",
            &sum,
        )?;
        let durations: Vec<(Labels, HistogramSnapshot)> = sinks
            .iter()
            .map(|(n, s)| {
                let sum = s.latency_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0;
                let h = HistogramSnapshot::from_ms_buckets(
                    &LATENCY_BUCKETS_MS,
                    &s.latency_buckets,
                    sum,
                );
                (l(&[("sink", n)]), h)
            })
            .collect();
        histogram(
            &mut enc,
            M_SINK_DELIVERY_DURATION,
            "Time from a delivery queued in the sink's spool to the sink accepting it",
            &durations,
        )?;
        let e2e: Vec<(Labels, HistogramSnapshot)> = sinks
            .iter()
            .map(|(n, s)| {
                let sum = s.end_to_end_sum_ms.load(Ordering::Relaxed) as f64 / 1000.0;
                let h = HistogramSnapshot::from_ms_buckets(
                    &LATENCY_BUCKETS_MS,
                    &s.end_to_end_buckets,
                    sum,
                );
                (l(&[("sink", n)]), h)
            })
            .collect();
        histogram(
            &mut enc,
            M_SINK_END_TO_END,
            "Time from reading the line that produced a delivery to the sink accepting it",
            &e2e,
        )?;
        histogram(
            &mut enc,
            M_PIPELINE_LATENCY,
            "Time from a batch's first line read to its outputs queued in every sink's spool",
            &[(vec![], t.pipeline_latency.snapshot())],
        )?;
        let r = &t.reloads;
        counter(
            &mut enc,
            M_CONFIG_RELOADS,
            "Config reloads (SIGHUP or a change of the config file), by result",
            &[
                (l(&[("result", "success")]), ld(&r.success)),
                (l(&[("result", "failure")]), ld(&r.failure)),
            ],
        )?;
        let last = r.last_success_ms.load(Ordering::Relaxed);
        if last > 0 {
            gauge(
                &mut enc,
                M_CONFIG_LAST_RELOAD_SUCCESS,
                "Unix time of the last successful config load (start-up or reload)",
                &[(vec![], last as f64 / 1000.0)],
            )?;
            gauge(
                &mut enc,
                M_CONFIG_LAST_RELOAD_OK,
                "1 when the last config reload succeeded, 0 when the file on disk was rejected",
                &[(
                    vec![],
                    if r.last_failed.load(Ordering::Relaxed) {
                        0.0
                    } else {
                        1.0
                    },
                )],
            )?;
        }
        for (name, help, f) in [
            (
                M_SINK_BACKLOG,
                "Deliveries waiting per sink",
                (|s: &SinkStats| s.backlog.load(Ordering::Relaxed)) as fn(&SinkStats) -> u64,
            ),
            (
                M_SINK_SPOOL_BYTES,
                "Bytes of undelivered records in the sink's disk spool",
                |s: &SinkStats| s.spool_bytes.load(Ordering::Relaxed),
            ),
        ] {
            let series: Vec<(Labels, f64)> = sinks
                .iter()
                .map(|(n, s)| (l(&[("sink", n)]), f(s) as f64))
                .collect();
            gauge(&mut enc, name, help, &series)?;
        }
        let firing: Vec<(Labels, f64)> = t
            .firing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|((p, tn), v)| (l(&[("pattern", p), ("tenant", tn)]), *v as f64))
            .collect();
        gauge(
            &mut enc,
            M_FIRING,
            "Findings firing by pattern and tenant",
            &firing,
        )?;
        let (entries, evictions) = t.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let entries: Vec<(Labels, f64)> = entries
            .iter()
            .map(|(m, n)| (l(&[("map", m)]), *n as f64))
            .collect();
        gauge(
            &mut enc,
            M_STATE_ENTRIES,
            "Entries of the correlator's keyed state per map (each map is capped)",
            &entries,
        )?;
        let evictions: Vec<(Labels, u64)> = evictions
            .iter()
            .map(|(m, n)| (l(&[("map", m)]), *n))
            .collect();
        counter(
            &mut enc,
            M_STATE_EVICTIONS,
            "Entries evicted from the correlator's keyed state at its caps",
            &evictions,
        )?;
        t.central.encode(&mut enc)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::PatternId;

    #[test]
    fn exposition_contains_series() {
        let t = Telemetry::new();
        t.records.fetch_add(5, Ordering::Relaxed);
        t.source("logs").lines.fetch_add(3, Ordering::Relaxed);
        let s = Arc::new(SinkStats::default());
        s.sent.fetch_add(2, Ordering::Relaxed);
        s.dead_letter_failed.fetch_add(4, Ordering::Relaxed);
        t.register_sink("hook", s);
        t.set_state(&[("objects", 7)], &[("objects", 2)]);
        let mut f = BTreeMap::new();
        f.insert(
            (
                PatternId::GitAuthFailure.to_string(),
                "payments".to_string(),
            ),
            1,
        );
        t.set_firing(f);
        t.refuse(Refusal::ReceiverPerIp);
        t.kube_connect_failures.fetch_add(6, Ordering::Relaxed);
        t.lookups.count(LookupResult::Denied);
        t.lookups.count(LookupResult::Duplicate);
        t.lookups.count(LookupResult::Duplicate);
        t.lookups.requests.fetch_add(9, Ordering::Relaxed);
        let text = t.encode();
        assert!(
            text.contains("fluxsight_lookups_total{result=\"denied\"} 1")
                && text.contains("fluxsight_lookups_total{result=\"duplicate\"} 2")
                && text.contains("fluxsight_lookups_total{result=\"ok\"} 0")
                && text.contains("\nfluxsight_lookup_requests_total 9\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE fluxsight_kube_connect_failures counter")
                && text.contains("\nfluxsight_kube_connect_failures_total 6\n"),
            "{text}"
        );
        assert!(
            text.contains("fluxsight_connections_refused_total{listener=\"receiver\",reason=\"max_connections_per_ip\"} 1"),
            "{text}"
        );
        assert!(text.contains("fluxsight_records_total 5"), "{text}");
        assert!(
            text.contains("fluxsight_source_lines_total{source=\"logs\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("fluxsight_sink_sent_total{sink=\"hook\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("fluxsight_sink_dead_letter_failed_total{sink=\"hook\"} 4"),
            "{text}"
        );
        assert!(
            text.contains(
                "fluxsight_findings_firing{pattern=\"git_auth_failure\",tenant=\"payments\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("fluxsight_state_entries{map=\"objects\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("fluxsight_state_evictions_total{map=\"objects\"} 2"),
            "{text}"
        );
        assert_eq!(t.unsynced(), vec!["logs".to_string()]);
    }

    #[test]
    fn latencies_are_histograms_with_cumulative_buckets() {
        let t = Telemetry::new();
        let s = Arc::new(SinkStats::default());
        s.observe_latency(3);
        s.observe_latency(40);
        s.observe_latency(40);
        s.observe_latency(1_000_000);
        s.observe_end_to_end(20);
        t.register_sink("hook", s);
        t.pipeline_latency
            .observe(std::time::Duration::from_micros(1500));
        let text = t.encode();
        for line in [
            "# TYPE fluxsight_sink_delivery_duration_seconds histogram",
            "fluxsight_sink_delivery_duration_seconds_bucket{le=\"0.005\",sink=\"hook\"} 1",
            "fluxsight_sink_delivery_duration_seconds_bucket{le=\"0.025\",sink=\"hook\"} 1",
            "fluxsight_sink_delivery_duration_seconds_bucket{le=\"0.05\",sink=\"hook\"} 3",
            "fluxsight_sink_delivery_duration_seconds_bucket{le=\"300.0\",sink=\"hook\"} 3",
            "fluxsight_sink_delivery_duration_seconds_bucket{le=\"+Inf\",sink=\"hook\"} 4",
            "fluxsight_sink_delivery_duration_seconds_count{sink=\"hook\"} 4",
            "fluxsight_sink_delivery_duration_seconds_sum{sink=\"hook\"} 1000.083",
            "fluxsight_sink_end_to_end_latency_seconds_bucket{le=\"0.01\",sink=\"hook\"} 0",
            "fluxsight_sink_end_to_end_latency_seconds_bucket{le=\"0.025\",sink=\"hook\"} 1",
            "fluxsight_sink_end_to_end_latency_seconds_count{sink=\"hook\"} 1",
            "# TYPE fluxsight_pipeline_latency_seconds histogram",
            "fluxsight_pipeline_latency_seconds_bucket{le=\"0.001\"} 0",
            "fluxsight_pipeline_latency_seconds_bucket{le=\"0.002\"} 1",
            "fluxsight_pipeline_latency_seconds_count 1",
            // The deprecated pair keeps its names and types.
            "# TYPE fluxsight_sink_delivery_latency_seconds_sum gauge",
            "fluxsight_sink_delivery_latency_seconds_count_total{sink=\"hook\"} 4",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    }

    #[test]
    fn reload_metrics_count_results_and_time_the_last_success() {
        let t = Telemetry::new();
        let text = t.encode();
        assert!(
            !text.contains(M_CONFIG_LAST_RELOAD_SUCCESS),
            "no timestamp before any load"
        );
        t.reloads.record(true, 1_700_000_000_000, true);
        t.reloads.record(false, 1_700_000_100_000, false);
        let text = t.encode();
        for line in [
            "fluxsight_config_reloads_total{result=\"success\"} 0",
            "fluxsight_config_reloads_total{result=\"failure\"} 1",
            "fluxsight_config_last_reload_success_timestamp_seconds 1700000000.0",
            "fluxsight_config_last_reload_successful 0.0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        t.reloads.record(true, 1_700_000_200_000, false);
        let text = t.encode();
        assert!(text.contains("fluxsight_config_reloads_total{result=\"success\"} 1"));
        assert!(
            text.contains("fluxsight_config_last_reload_success_timestamp_seconds 1700000200.0")
        );
        assert!(text.contains("fluxsight_config_last_reload_successful 1.0"));
    }
}
