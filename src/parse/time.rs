//! Timestamps in log lines: parsing ISO-8601 / RFC 3339 and epoch seconds.
//!
//! Owns: ISO-8601 / RFC 3339 (any offset, `T` or space, any fraction) and epoch
//! seconds. Does not own: the calendar, RFC 3339 formatting and Go durations, which the
//! whole crate uses and which live in [`crate::time`] (re-exported here).
//! Pure functions; never panics on any input.

use nom::{
    branch::alt,
    bytes::complete::{take_while, take_while_m_n},
    character::complete::{char, one_of},
    combinator::{map_res, opt},
    IResult, Parser,
};

use crate::record::TsMs;
// The calendar, RFC 3339 formatting and Go durations are crate-wide (`crate::time`);
// re-exported here because the parsers and older callers name them from `parse::time`.
pub use crate::time::{
    days_from_civil, format_rfc3339_ms, parse_go_duration_ms, write_rfc3339_ms, year_of,
};

fn digits_n(n: usize) -> impl Fn(&str) -> IResult<&str, i64> {
    move |i| {
        map_res(
            take_while_m_n(n, n, |c: char| c.is_ascii_digit()),
            |s: &str| s.parse::<i64>(),
        )
        .parse(i)
    }
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
    fn epoch_round_trip() {
        for t in [0i64, 1_000, 1_762_783_200_000, 4_102_444_800_000] {
            assert_eq!(parse_ts(&format_rfc3339_ms(t)), Some(t));
        }
    }
}
