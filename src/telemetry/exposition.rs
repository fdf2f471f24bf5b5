//! The two text formats `/metrics` can answer in, chosen from the scraper's `Accept`
//! header: OpenMetrics 1.0 (what Prometheus asks for first, and the default) and the
//! Prometheus text format 0.0.4 for scrapers that ask only for `text/plain`.
//!
//! Owns: content negotiation and the rewrite of the OpenMetrics text into 0.0.4.
//! Invariant: both formats carry the same series with the same sample names; only the
//! metadata lines differ (0.0.4 names a counter's family with its `_total` suffix and
//! has neither `# UNIT` nor `# EOF`).

use std::collections::BTreeSet;

/// `Content-Type` of an OpenMetrics 1.0 exposition.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of a Prometheus text format 0.0.4 exposition.
pub const TEXT_004_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The format of one `/metrics` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    OpenMetrics,
    Text004,
}

impl Exposition {
    /// The format for an `Accept` header: OpenMetrics unless the client lists
    /// `text/plain` (or a version-less wildcard ranked above it) and not
    /// `application/openmetrics-text` with a non-zero quality. No header: OpenMetrics.
    pub fn negotiate(accept: Option<&str>) -> Exposition {
        let Some(accept) = accept else {
            return Exposition::OpenMetrics;
        };
        let mut openmetrics = None::<f32>;
        let mut text = None::<f32>;
        for item in accept.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|v| v.parse::<f32>().ok())
                .unwrap_or(1.0);
            let slot = match media.as_str() {
                "application/openmetrics-text" => &mut openmetrics,
                "text/plain" => &mut text,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
        match (openmetrics, text) {
            (Some(om), Some(t)) if t > om => Exposition::Text004,
            (Some(om), _) if om > 0.0 => Exposition::OpenMetrics,
            (_, Some(t)) if t > 0.0 => Exposition::Text004,
            _ => Exposition::OpenMetrics,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Exposition::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Exposition::Text004 => TEXT_004_CONTENT_TYPE,
        }
    }
}

/// Rewrites an OpenMetrics exposition as Prometheus text 0.0.4: counter families are
/// named with their `_total` suffix in `# HELP`/`# TYPE`, `# UNIT` and `# EOF` go.
pub fn to_text_004(openmetrics: &str) -> String {
    let counters: BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + counters.len() * 16);
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        if let Some((prefix, rest)) = meta {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if counters.contains(name) {
                out.push_str(prefix);
                out.push_str(name);
                out.push_str("_total ");
                out.push_str(tail);
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_accept_header_gets_openmetrics() {
        // What Prometheus 2.x/3.x sends by default.
        let prom = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(Exposition::negotiate(Some(prom)), Exposition::OpenMetrics);
        assert_eq!(Exposition::negotiate(None), Exposition::OpenMetrics);
        assert_eq!(Exposition::negotiate(Some("*/*")), Exposition::OpenMetrics);
    }

    #[test]
    fn text_plain_only_gets_text_004() {
        assert_eq!(
            Exposition::negotiate(Some("text/plain;version=0.0.4")),
            Exposition::Text004
        );
        assert_eq!(
            Exposition::negotiate(Some("application/openmetrics-text;q=0.1, text/plain")),
            Exposition::Text004
        );
        assert_eq!(
            Exposition::negotiate(Some("application/openmetrics-text;q=0, text/plain;q=0.2")),
            Exposition::Text004
        );
    }

    #[test]
    fn text_004_names_counters_with_total_and_drops_eof() {
        let om = "# HELP x_records Records.\n# TYPE x_records counter\nx_records_total 5\n\
                  # HELP x_lat Lat.\n# TYPE x_lat histogram\nx_lat_sum 1.0\n# EOF\n";
        let t = to_text_004(om);
        assert_eq!(
            t,
            "# HELP x_records_total Records.\n# TYPE x_records_total counter\nx_records_total 5\n\
             # HELP x_lat Lat.\n# TYPE x_lat histogram\nx_lat_sum 1.0\n"
        );
    }
}
