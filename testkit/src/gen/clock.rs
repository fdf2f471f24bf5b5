//! Timestamp renderings the generated forms use (zap ISO-8601 with offsets, RFC 3339
//! with seconds / ms / µs / ns, klog headers, epoch seconds).
//!
//! Invariant: pure functions of their arguments; written straight into the output
//! buffer, no intermediate `String`.

use std::io::Write;

use fluxsight::record::TsMs;

/// Date and time of day of an instant (UTC).
struct Civil {
    y: i64,
    mo: i64,
    d: i64,
    h: i64,
    mi: i64,
    s: i64,
    ms: i64,
}

fn civil(ts: TsMs) -> Civil {
    let secs = ts.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    Civil {
        y,
        mo,
        d,
        h: sod / 3600,
        mi: (sod / 60) % 60,
        s: sod % 60,
        ms: ts.rem_euclid(1000),
    }
}

fn date_time(out: &mut Vec<u8>, c: &Civil) {
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.y, c.mo, c.d, c.h, c.mi, c.s
    );
}

/// `2026-03-02T09:00:00Z`
pub fn secs(out: &mut Vec<u8>, ts: TsMs) {
    date_time(out, &civil(ts));
    out.push(b'Z');
}

/// `2026-03-02T09:00:00.123Z` (zap ISO8601 in a UTC pod).
pub fn millis(out: &mut Vec<u8>, ts: TsMs) {
    let c = civil(ts);
    date_time(out, &c);
    let _ = write!(out, ".{:03}Z", c.ms);
}

/// `2026-03-02T12:00:00.123+0300` (zap ISO8601 in a pod with a local zone).
pub fn millis_offset(out: &mut Vec<u8>, ts: TsMs, offset_min: i64) {
    let c = civil(ts + offset_min * 60_000);
    date_time(out, &c);
    let sign = if offset_min < 0 { '-' } else { '+' };
    let o = offset_min.abs();
    let _ = write!(out, ".{:03}{}{:02}{:02}", c.ms, sign, o / 60, o % 60);
}

/// `2026-03-02T09:00:00.123456Z` (events.k8s.io `eventTime`).
pub fn micros(out: &mut Vec<u8>, ts: TsMs, sub_ms_us: u64) {
    let c = civil(ts);
    date_time(out, &c);
    let _ = write!(out, ".{:03}{:03}Z", c.ms, sub_ms_us % 1000);
}

/// `2026-03-02T09:00:00.123456789Z` (kubectl `--timestamps`, CRI, docker).
pub fn nanos(out: &mut Vec<u8>, ts: TsMs, sub_ms_ns: u64) {
    let c = civil(ts);
    date_time(out, &c);
    let _ = write!(out, ".{:03}{:06}Z", c.ms, sub_ms_ns % 1_000_000);
}

/// `0302 09:00:00.123456` — the klog header after the severity letter.
pub fn klog(out: &mut Vec<u8>, ts: TsMs, sub_ms_us: u64) {
    let c = civil(ts);
    let _ = write!(
        out,
        "{:02}{:02} {:02}:{:02}:{:02}.{:03}{:03}",
        c.mo,
        c.d,
        c.h,
        c.mi,
        c.s,
        c.ms,
        sub_ms_us % 1000
    );
}

/// `1772442000.1234567` — epoch seconds as zap's epoch encoder printed them in 2020.
pub fn epoch(out: &mut Vec<u8>, ts: TsMs, sub_ms: u64) {
    let _ = write!(
        out,
        "{}.{:03}{:04}",
        ts.div_euclid(1000),
        ts.rem_euclid(1000),
        sub_ms % 10_000
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn renders_match_parser_time() {
        let ts = 1_772_442_000_123;
        assert_eq!(s(|o| millis(o, ts)), "2026-03-02T09:00:00.123Z");
        assert_eq!(s(|o| millis(o, ts)), fluxsight::time::format_rfc3339_ms(ts));
        assert_eq!(
            s(|o| millis_offset(o, ts, 180)),
            "2026-03-02T12:00:00.123+0300"
        );
        assert_eq!(
            s(|o| nanos(o, ts, 456_789)),
            "2026-03-02T09:00:00.123456789Z"
        );
        assert_eq!(s(|o| klog(o, ts, 456)), "0302 09:00:00.123456");
        assert_eq!(s(|o| secs(o, ts)), "2026-03-02T09:00:00Z");
        // Leap day and year boundary.
        let leap = fluxsight::time::days_from_civil(2028, 2, 29) * 86_400_000;
        assert_eq!(s(|o| secs(o, leap)), "2028-02-29T00:00:00Z");
        let nye = fluxsight::time::days_from_civil(2026, 12, 31) * 86_400_000 + 86_399_999;
        assert_eq!(s(|o| millis(o, nye)), "2026-12-31T23:59:59.999Z");
    }
}
