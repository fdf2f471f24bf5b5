//! Small text helpers of the report: times in UTC, durations, status in words,
//! clipping, and the redaction every log-derived string passes before it is drawn.

use crate::classify::redact::redact;
use crate::correlate::Status;
use crate::record::TsMs;
use crate::time::format_rfc3339_ms;

/// A record time as `2026-12-06 09:00:00 UTC`.
pub fn utc(ts: TsMs) -> String {
    let s = format_rfc3339_ms(ts);
    // 2026-12-06T09:00:00.000Z → 2026-12-06 09:00:00 UTC
    match (s.get(..10), s.get(11..19)) {
        (Some(d), Some(t)) => format!("{d} {t} UTC"),
        _ => s,
    }
}

/// An optional time, or `—`.
pub fn utc_opt(ts: Option<TsMs>) -> String {
    ts.map(utc).unwrap_or_else(|| "—".to_string())
}

/// `HH:MM` of a time (axis labels).
pub fn hhmm(ts: TsMs) -> String {
    let s = format_rfc3339_ms(ts);
    s.get(11..16).unwrap_or("").to_string()
}

/// A duration in words: `2h 5m`, `12m 30s`, `45s`, `3d 4h`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, sec) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

/// Status in words (never colour alone).
pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Firing => "FAILING",
        Status::Resolved => "RESOLVED",
    }
}

/// At most `n` characters, with `…` when cut.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Log-derived text as drawn: secrets redacted (as on the SIEM path). HTML escaping is
/// the template's, never skipped.
pub fn clean(s: &str) -> String {
    redact(s).into_owned()
}

/// The page anchor of a finding.
pub fn anchor(finding_id: &str) -> String {
    let safe: String = finding_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("f-{safe}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_read_well() {
        assert_eq!(utc(1_796_547_600_000), "2026-12-06 09:00:00 UTC");
        assert_eq!(hhmm(1_796_547_600_000), "09:00");
        assert_eq!(duration(3_725_000), "1h 2m");
        assert_eq!(duration(90_000), "1m 30s");
        assert_eq!(duration(2 * 86_400_000 + 3_600_000), "2d 1h");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(anchor("ab12\"<x"), "f-ab12x");
    }

    #[test]
    fn clean_redacts_tokens() {
        let s = clean("auth failed: Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345");
        assert!(!s.contains("abcdefghijklmnopqrstuvwxyz012345"), "{s}");
    }
}
