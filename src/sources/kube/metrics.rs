//! Scrape of each controller pod's Prometheus endpoint (`:8080/metrics`) on an interval.
//!
//! Owns: keeping only the series fluxsight reads (memory, workqueue depth, reconcile
//! durations and counts, API client requests) and making each sample self-describing:
//! a `pod` label (so the controller is known) and a millisecond timestamp (the scrape
//! time) are added when missing. Lines go out on stream `metrics/<pod>`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::logs::PodIps;
use super::send_line;
use crate::parse::controller_hint_from_path;
use crate::sources::LineTx;
use crate::telemetry::Telemetry;

/// Name of the scrape source in telemetry.
pub const METRICS_SOURCE: &str = "metrics";

/// Series kept (prefix match on the sample name).
const KEEP: &[&str] = &[
    "process_resident_memory_bytes",
    "workqueue_depth",
    "gotk_reconcile_duration_seconds_",
    "controller_runtime_reconcile_total",
    "controller_runtime_reconcile_errors_total",
    "rest_client_requests_total",
];

/// Rewrites one exposition line for `pod` at `ts_ms`; `None` for lines not kept.
pub fn rewrite(line: &str, pod: &str, ts_ms: i64) -> Option<String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    if !KEEP.iter().any(|k| name.starts_with(k)) {
        return None;
    }
    let (labels, rest) = if line[name_end..].starts_with('{') {
        let close = line.rfind('}')?;
        (&line[name_end + 1..close], line[close + 1..].trim())
    } else {
        ("", line[name_end..].trim())
    };
    let mut out = String::with_capacity(line.len() + pod.len() + 24);
    out.push_str(name);
    out.push('{');
    out.push_str(labels);
    if !labels.contains("pod=\"") {
        if !labels.is_empty() && !labels.ends_with(',') {
            out.push(',');
        }
        out.push_str("pod=\"");
        out.push_str(pod);
        out.push('"');
    }
    out.push_str("} ");
    out.push_str(rest);
    if rest.split_whitespace().count() < 2 {
        out.push(' ');
        out.push_str(&ts_ms.to_string());
    }
    Some(out)
}

/// Scrapes every known controller pod each `interval` until `cancel` fires.
pub async fn scrape_loop(
    ips: PodIps,
    port: u16,
    interval: Duration,
    tx: LineTx,
    cancel: CancellationToken,
    telemetry: Arc<Telemetry>,
) {
    let stats = telemetry.source(METRICS_SOURCE);
    stats.synced.store(true, Ordering::Relaxed);
    let client = match crate::tls::http_client_builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "metrics scrape disabled");
            return;
        }
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let pods: Vec<(String, String)> = ips
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (pod, ip) in pods {
            let url = format!("http://{ip}:{port}/metrics");
            let body = tokio::select! {
                _ = cancel.cancelled() => return,
                r = async { client.get(&url).send().await?.error_for_status()?.text().await } => r,
            };
            let body = match body {
                Ok(b) => b,
                Err(e) => {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%pod, error = %e, "metrics scrape failed");
                    continue;
                }
            };
            let now = crate::time::now_ms();
            let stream: Arc<str> = Arc::from(format!("{METRICS_SOURCE}/{pod}").as_str());
            // The pipeline registers every stream it sees; a scrape has no list to
            // finish, so its stream is synced once it answered. Unmarked, the first
            // scrape that lands before /readyz is asked holds readiness forever.
            telemetry
                .source(&stream)
                .synced
                .store(true, Ordering::Relaxed);
            let hint = controller_hint_from_path(&pod);
            for l in body.lines() {
                if let Some(out) = rewrite(l, &pod, now) {
                    stats.lines.fetch_add(1, Ordering::Relaxed);
                    if !send_line(&tx, &stream, out.into_bytes(), hint.clone(), None).await {
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_kept_series() {
        let p = "source-controller-7d9f8c6b5-x2x7k";
        assert_eq!(
            rewrite("workqueue_depth{name=\"gitrepository\"} 3", p, 1000).as_deref(),
            Some("workqueue_depth{name=\"gitrepository\",pod=\"source-controller-7d9f8c6b5-x2x7k\"} 3 1000")
        );
        assert_eq!(
            rewrite("process_resident_memory_bytes 1.5e+08", p, 7).as_deref(),
            Some("process_resident_memory_bytes{pod=\"source-controller-7d9f8c6b5-x2x7k\"} 1.5e+08 7")
        );
        assert_eq!(
            rewrite(
                "rest_client_requests_total{code=\"200\",pod=\"x\"} 5 99",
                p,
                7
            )
            .as_deref(),
            Some("rest_client_requests_total{code=\"200\",pod=\"x\"} 5 99")
        );
        assert_eq!(rewrite("go_goroutines 12", p, 7), None);
        assert_eq!(rewrite("# HELP workqueue_depth x", p, 7), None);
    }
}
