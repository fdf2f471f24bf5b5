//! Wall-clock and calendar helpers every layer may use: the current time, RFC 3339
//! formatting, Go durations.
//!
//! Owns: [`now_ms`] (the one place that reads the system clock as epoch milliseconds),
//! the proleptic Gregorian calendar, formatting as RFC 3339 UTC with milliseconds, and
//! Go `time.Duration.String()` values (config durations such as `repeat_interval: 1h`).
//! Does not own: parsing timestamps out of log lines (`parse::time`, nom grammars).
//!
//! Invariant: at the bottom of the module tree (tests/layers.rs): imports only
//! `record`. Pure functions that never panic, except [`now_ms`], which reads the clock;
//! the correlator never calls it (time is passed in).

use crate::record::TsMs;

/// Milliseconds since the Unix epoch, now; 0 if the clock is before 1970.
pub fn now_ms() -> TsMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as TsMs)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// RFC 3339 UTC with milliseconds: `2025-11-10T14:00:00.123Z`.
pub fn format_rfc3339_ms(ts: TsMs) -> String {
    let secs = ts.div_euclid(1000);
    let ms = ts.rem_euclid(1000);
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        y,
        m,
        d,
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        ms
    )
}

/// [`format_rfc3339_ms`] appended to a byte buffer, without `core::fmt` for years
/// 0..=9999 (the same bytes; other years go through `format_rfc3339_ms`).
pub fn write_rfc3339_ms(out: &mut Vec<u8>, ts: TsMs) {
    let secs = ts.div_euclid(1000);
    let ms = ts.rem_euclid(1000);
    let days = secs.div_euclid(86400);
    let sod = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        out.extend_from_slice(format_rfc3339_ms(ts).as_bytes());
        return;
    }
    let dig = |v: i64| b'0' + v.rem_euclid(10) as u8;
    let (h, mi, s) = (sod / 3600, (sod / 60) % 60, sod % 60);
    out.extend_from_slice(&[
        dig(y / 1000),
        dig(y / 100),
        dig(y / 10),
        dig(y),
        b'-',
        dig(m / 10),
        dig(m),
        b'-',
        dig(d / 10),
        dig(d),
        b'T',
        dig(h / 10),
        dig(h),
        b':',
        dig(mi / 10),
        dig(mi),
        b':',
        dig(s / 10),
        dig(s),
        b'.',
        dig(ms / 100),
        dig(ms / 10),
        dig(ms),
        b'Z',
    ]);
}

/// Year of an instant (for klog lines, which print none).
pub fn year_of(ts: TsMs) -> i64 {
    civil_from_days(ts.div_euclid(1000).div_euclid(86400)).0
}

/// Parses a Go `time.Duration.String()` value (`1h2m3.5s`, `250ms`, `1.25s`, `500µs`,
/// `10m0s`) into milliseconds. `0` alone is accepted.
pub fn parse_go_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut total = 0f64;
    let mut any = false;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let v: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let mult = match unit {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1000.0,
            "ms" => 1.0,
            "us" | "µs" | "μs" => 0.001,
            "ns" => 0.000_001,
            _ => return None,
        };
        total += v * mult;
        any = true;
    }
    if !any || !total.is_finite() || total > 1e15 {
        return None;
    }
    Some(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_matches_format() {
        let mut cases = vec![
            0,
            -1,
            999,
            1000,
            -62_167_219_200_000,
            -62_167_219_200_001,
            253_402_300_799_999,
            253_402_300_800_000,
            1_762_783_200_123,
            i64::MIN,
            i64::MAX,
        ];
        let mut x: i64 = 0x1234_5678_9abc;
        for _ in 0..2000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            cases.push(x % 400_000_000_000_000);
            cases.push(x);
        }
        for ts in cases {
            let mut out = Vec::new();
            write_rfc3339_ms(&mut out, ts);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format_rfc3339_ms(ts),
                "{ts}"
            );
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration_ms("1.25s"), Some(1250));
        assert_eq!(parse_go_duration_ms("10m0s"), Some(600_000));
        assert_eq!(parse_go_duration_ms("1h0m0s"), Some(3_600_000));
        assert_eq!(parse_go_duration_ms("67.047568ms"), Some(67));
        assert_eq!(parse_go_duration_ms("500µs"), Some(1));
        assert_eq!(parse_go_duration_ms("2m30.5s"), Some(150_500));
        assert_eq!(parse_go_duration_ms("abc"), None);
        assert_eq!(parse_go_duration_ms("5x"), None);
    }

    #[test]
    fn now_is_after_2025() {
        // 2025-01-01T00:00:00Z: a clock read, not a constant 0.
        assert!(now_ms() > 1_735_689_600_000);
    }
}
