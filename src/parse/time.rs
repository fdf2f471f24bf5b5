//! Timestamps and Go durations: parsing and RFC 3339 rendering.
//!
//! Owns: ISO-8601 / RFC 3339 (any offset, `T` or space, any fraction), epoch seconds,
//! Go `time.Duration.String()` values, and formatting as RFC 3339 UTC with milliseconds.
//! Pure functions; never panics on any input.

use nom::{
    branch::alt,
    bytes::complete::{take_while, take_while_m_n},
    character::complete::{char, one_of},
    combinator::{map_res, opt},
    IResult, Parser,
};

use crate::record::TsMs;

fn digits_n(n: usize) -> impl Fn(&str) -> IResult<&str, i64> {
    move |i| {
        map_res(
            take_while_m_n(n, n, |c: char| c.is_ascii_digit()),
            |s: &str| s.parse::<i64>(),
        )
        .parse(i)
    }
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

/// Parses the fraction digits after `.`/`,` into milliseconds (truncating).
fn fraction_ms(frac: &str) -> i64 {
    let mut ms = 0i64;
    for (i, c) in frac.bytes().take(3).enumerate() {
        ms += i64::from(c - b'0') * [100, 10, 1][i];
    }
    ms
}

fn offset(i: &str) -> IResult<&str, i64> {
    alt((
        |i| {
            let (i, _) = one_of("Zz")(i)?;
            Ok((i, 0))
        },
        |i| {
            let (i, (sign, h, _, m)) =
                (one_of("+-"), digits_n(2), opt(char(':')), opt(digits_n(2))).parse(i)?;
            let secs = h * 3600 + m.unwrap_or(0) * 60;
            Ok((i, if sign == '-' { -secs } else { secs }))
        },
    ))
    .parse(i)
}

/// Grammar: `YYYY-MM-DD ('T'|'t'|' ') hh:mm[:ss[(.|,)frac]] [Z|±hh[:]mm|±hh]`.
/// Returns the remaining input and the instant in ms; offset absent = UTC.
pub fn iso8601(i: &str) -> IResult<&str, TsMs> {
    if let Some(r) = iso8601_common(i) {
        return Ok(r);
    }
    iso8601_grammar(i)
}

/// [`iso8601`] by the nom grammar alone, without the common-shape shortcut.
fn iso8601_grammar(i: &str) -> IResult<&str, TsMs> {
    let (i, (y, _, mo, _, d, _, h, _, mi)) = (
        digits_n(4),
        char('-'),
        digits_n(2),
        char('-'),
        digits_n(2),
        one_of("Tt "),
        digits_n(2),
        char(':'),
        digits_n(2),
    )
        .parse(i)?;
    let (i, sec) = opt((char(':'), digits_n(2))).parse(i)?;
    let (i, frac) = opt((one_of(".,"), take_while(|c: char| c.is_ascii_digit()))).parse(i)?;
    let (i, off) = opt(offset).parse(i)?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 24 || mi > 59 {
        return Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Verify,
        )));
    }
    let s = sec.map(|(_, s)| s).unwrap_or(0);
    let ms = frac.map(|(_, f)| fraction_ms(f)).unwrap_or(0);
    let days = days_from_civil(y, mo, d);
    let secs = days * 86400 + h * 3600 + mi * 60 + s - off.unwrap_or(0);
    Ok((i, secs * 1000 + ms))
}

/// [`iso8601`] without nom for the shape almost every log line prints,
/// `YYYY-MM-DD(T|t| )hh:mm:ss[(.|,)digits][Z|z]` with valid fields: the same remaining
/// input and instant. `None` for anything else (numeric offsets, no seconds, invalid
/// fields), which the grammar then handles.
fn iso8601_common(i: &str) -> Option<(&str, TsMs)> {
    let b = i.as_bytes();
    let d2 = |p: usize| -> Option<i64> {
        match (b.get(p), b.get(p + 1)) {
            (Some(x @ b'0'..=b'9'), Some(y @ b'0'..=b'9')) => {
                Some(i64::from(x - b'0') * 10 + i64::from(y - b'0'))
            }
            _ => None,
        }
    };
    let y = d2(0)? * 100 + d2(2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(13) != Some(&b':') {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(16) != Some(&b':') {
        return None;
    }
    let (mo, d, h, mi, s) = (d2(5)?, d2(8)?, d2(11)?, d2(14)?, d2(17)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 24 || mi > 59 {
        return None;
    }
    let mut p = 19;
    let mut ms = 0;
    if matches!(b.get(p), Some(b'.' | b',')) {
        p += 1;
        let start = p;
        while b.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        ms = fraction_ms(i.get(start..p)?);
    }
    match b.get(p) {
        Some(b'Z' | b'z') => p += 1,
        Some(b'+' | b'-') => return None,
        _ => {}
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86400 + h * 3600 + mi * 60 + s;
    Some((i.get(p..)?, secs * 1000 + ms))
}

/// Parses a whole timestamp string: ISO-8601 (any offset) or epoch seconds
/// (`1762783200.123`). Trailing garbage is refused.
pub fn parse_ts(s: &str) -> Option<TsMs> {
    let s = s.trim();
    if let Ok(("", t)) = iso8601(s) {
        return Some(t);
    }
    parse_epoch(s)
}

/// Epoch seconds (possibly fractional) → ms. Values above 1e11 are taken as ms already,
/// above 1e14 as µs, above 1e17 as ns (zap `epoch` / `nanos` encoders).
pub fn parse_epoch(s: &str) -> Option<TsMs> {
    let v: f64 = s.trim().parse().ok()?;
    epoch_f64(v)
}

pub fn epoch_f64(v: f64) -> Option<TsMs> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let ms = if v >= 1e17 {
        v / 1e6
    } else if v >= 1e14 {
        v / 1e3
    } else if v >= 1e11 {
        v
    } else {
        v * 1000.0
    };
    if ms > 4.0e15 {
        return None;
    }
    Some(ms.round() as i64)
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

    use super::iso8601_grammar as iso8601_nom;

    #[test]
    fn common_shape_matches_grammar() {
        for s in [
            "2025-11-10T14:00:00.123Z",
            "2025-11-10T14:00:00.123456789Z rest",
            "2025-11-10t14:00:00,5z",
            "2025-11-10 14:00:00",
            "2025-11-10T14:00:00.Z",
            "2025-11-10T14:00:00.123+03:00",
            "2025-11-10T14:00:00-0300",
            "2025-11-10T14:00Z",
            "2025-13-10T14:00:00Z",
            "2025-00-10T14:00:00Z",
            "2025-11-32T14:00:00Z",
            "2025-11-10T25:00:00Z",
            "2025-11-10T24:60:00Z",
            "2025-11-10T24:59:99Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999Zjunk",
            "2025-11-10T14:00:00.1é",
            "2025-11-10T14:00:00é",
            "2025-1-10T14:00:00Z",
            "２025-11-10T14:00:00Z",
            "",
            "2025-11-10T14:00:0",
        ] {
            assert_eq!(iso8601(s).ok(), iso8601_nom(s).ok(), "{s}");
            if let Some(r) = iso8601_common(s) {
                assert_eq!(Ok(r), iso8601_nom(s), "{s}");
            }
        }
    }

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
    fn iso_forms() {
        let z = parse_ts("2025-11-10T14:00:00.123Z").unwrap();
        assert_eq!(format_rfc3339_ms(z), "2025-11-10T14:00:00.123Z");
        assert_eq!(parse_ts("2025-11-10T17:00:00.123+0300"), Some(z));
        assert_eq!(parse_ts("2025-11-10T17:00:00.123+03:00"), Some(z));
        assert_eq!(parse_ts("2025-11-10T09:00:00.123456789-05:00"), Some(z));
        assert_eq!(parse_ts("2025-11-10 14:00:00.123Z"), Some(z));
        assert_eq!(parse_ts("2025-11-10T14:00:00Z"), Some(z - 123));
        assert_eq!(parse_ts("1762783200.123"), Some(z));
        assert_eq!(parse_ts("1762783200123"), Some(z));
        assert_eq!(parse_ts("2025-13-10T14:00:00Z"), None);
        assert_eq!(parse_ts("garbage"), None);
        assert_eq!(parse_ts(""), None);
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
    fn epoch_round_trip() {
        for t in [0i64, 1_000, 1_762_783_200_000, 4_102_444_800_000] {
            assert_eq!(parse_ts(&format_rfc3339_ms(t)), Some(t));
        }
    }
}
