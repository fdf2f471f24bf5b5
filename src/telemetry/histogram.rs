//! Latency histograms as Prometheus exposes them: fixed buckets counted with atomics on
//! the hot path, encoded at scrape time as `_bucket{le}` / `_sum` / `_count`, so
//! `histogram_quantile()` works on them.
//!
//! Owns: the bucket layout of fluxsight's own latencies and their encoding. Invariant:
//! bucket counts are kept per bucket (not cumulative) and made cumulative by the encoder;
//! an observation lands in exactly one bucket (the last one is `+Inf`).

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

/// Upper bounds (ms) of the pipeline latency buckets: a batch usually takes well under a
/// millisecond from the decode stage to the spools; a full spool (back-pressure) can hold
/// it for seconds or minutes.
pub const PIPELINE_LATENCY_BUCKETS_MS: [u64; 12] =
    [1, 2, 5, 10, 25, 50, 100, 250, 1000, 5000, 30_000, 300_000];

/// A histogram of durations: counts per bucket of [`PIPELINE_LATENCY_BUCKETS_MS`], then
/// `+Inf`, and the sum in microseconds (sub-millisecond batches would sum to 0 in ms).
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    counts: [AtomicU64; PIPELINE_LATENCY_BUCKETS_MS.len() + 1],
    sum_us: AtomicU64,
}

impl LatencyHistogram {
    pub fn observe(&self, d: std::time::Duration) {
        let us = d.as_micros().min(u128::from(u64::MAX)) as u64;
        let i = PIPELINE_LATENCY_BUCKETS_MS
            .iter()
            .position(|b| us <= b * 1000)
            .unwrap_or(PIPELINE_LATENCY_BUCKETS_MS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot::from_ms_buckets(
            &PIPELINE_LATENCY_BUCKETS_MS,
            &self.counts,
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

/// A histogram read for one scrape: `(upper bound in seconds, count in that bucket)`,
/// the last bound `+Inf`, and the sum in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
}

impl HistogramSnapshot {
    /// From per-bucket counters whose bounds are in milliseconds (`counts` has one more
    /// entry than `bounds_ms`: the `+Inf` bucket).
    pub fn from_ms_buckets(bounds_ms: &[u64], counts: &[AtomicU64], sum: f64) -> Self {
        let buckets = bounds_ms
            .iter()
            .map(|b| *b as f64 / 1000.0)
            .chain(std::iter::once(f64::INFINITY))
            .zip(counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        HistogramSnapshot { buckets, sum }
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|(_, n)| n).sum()
    }
}

/// fluxsight records no exemplars; the encoder still needs their type.
type NoExemplars = std::collections::HashMap<
    usize,
    prometheus_client::metrics::exemplar::Exemplar<Vec<(String, String)>, f64>,
>;

/// Encodes one histogram family; `series` pairs label sets with their snapshot.
pub fn histogram(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(Vec<(String, String)>, HistogramSnapshot)],
) -> Result<(), std::fmt::Error> {
    if series.is_empty() {
        return Ok(());
    }
    let mut me = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in series {
        let no_exemplars: Option<&NoExemplars> = None;
        if labels.is_empty() {
            return me.encode_histogram(h.sum, h.count(), &h.buckets, no_exemplars);
        }
        me.encode_family(labels)?
            .encode_histogram(h.sum, h.count(), &h.buckets, no_exemplars)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_observation_lands_in_one_bucket_and_the_sum() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(7));
        h.observe(Duration::from_secs(3600));
        let s = h.snapshot();
        assert_eq!(s.count(), 3);
        assert_eq!(s.buckets[0], (0.001, 1));
        assert_eq!(s.buckets[3], (0.01, 1), "7 ms is in the le=0.01 bucket");
        assert_eq!(s.buckets.last(), Some(&(f64::INFINITY, 1)));
        assert!((s.sum - 3600.0073).abs() < 1e-6, "{}", s.sum);
    }
}
