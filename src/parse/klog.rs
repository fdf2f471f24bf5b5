//! klog text lines (client-go leader election, throttling, …) as printed by controllers
//! before March 2023 (catalog §1.4), in the plain and the structured form.
//!
//! Owns: the klog header grammar and severity letters. Structured key/values are read by
//! the shared zap extraction.
//!
//! Invariant: klog prints no year; the time is set only when the decoder knows the year
//! (`ParseContext::year_hint`) — a 1970 date is never invented.

use nom::{
    bytes::complete::{tag, take_till1, take_while_m_n},
    character::complete::{char, digit1, one_of, space0, space1},
    combinator::{map_res, opt},
    sequence::preceded,
    IResult, Parser,
};

use super::logfmt::{fields_from_pairs, pairs, quoted};
use super::time::days_from_civil;
use super::zap::LogFields;
use super::{ParseContext, ParseError};
use crate::record::{Format, Level, Record, TsMs};

/// Field holding the source file of the log call.
const CALLER_FIELD: &str = "caller";

/// The header of a klog line.
struct Header<'a> {
    severity: char,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
    /// Source file of the log call (`leaderelection.go`).
    source: &'a str,
}

fn num2(i: &str) -> IResult<&str, i64> {
    map_res(
        take_while_m_n(2, 2, |c: char| c.is_ascii_digit()),
        str::parse,
    )
    .parse(i)
}

/// Grammar:
/// ```text
/// line    = severity MM DD ' ' hh ':' mm ':' ss ['.' 1*DIGIT] 1*SP thread 1*SP file ':' line "]" [' '] message
/// severity= 'I' | 'W' | 'E' | 'F'
/// message = quoted *(1*SP key '=' value)     -- structured form
///         | *CHAR                            -- plain form
/// ```
fn header(i: &str) -> IResult<&str, Header<'_>> {
    let (i, (severity, month, day, _, hour, _, minute, _, second)) = (
        one_of("IWEF"),
        num2,
        num2,
        char(' '),
        num2,
        char(':'),
        num2,
        char(':'),
        num2,
    )
        .parse(i)?;
    let (i, frac) = opt(preceded(char('.'), digit1)).parse(i)?;
    let (i, (_, _thread, _, file, _, _line_no, _, _)) = (
        space1,
        digit1,
        space1,
        take_till1(|c: char| c == ':' || c == ' ' || c == ']'),
        char(':'),
        digit1,
        tag("]"),
        space0,
    )
        .parse(i)?;
    let millis = frac
        .map(|f: &str| {
            f.bytes()
                .chain(std::iter::repeat(b'0'))
                .take(3)
                .fold(0i64, |acc, b| {
                    acc * 10 + i64::from(b.wrapping_sub(b'0') % 10)
                })
        })
        .unwrap_or(0);
    Ok((
        i,
        Header {
            severity,
            month,
            day,
            hour,
            minute,
            second,
            millis,
            source: file,
        },
    ))
}

fn level_of(severity: char) -> Level {
    match severity {
        'I' => Level::Info,
        'W' => Level::Warning,
        _ => Level::Error,
    }
}

fn timestamp(h: &Header<'_>, year: Option<i64>) -> Option<TsMs> {
    let year = year?;
    let days = days_from_civil(year, h.month, h.day);
    Some(((days * 86400 + h.hour * 3600 + h.minute * 60 + h.second) * 1000) + h.millis)
}

/// The structured form: `"msg text" key="value" key2=3`.
fn structured(text: &str) -> Option<LogFields> {
    let (after, msg) = quoted(text).ok()?;
    let mut f = if after.trim().is_empty() {
        LogFields::default()
    } else {
        let (_, kv) = preceded(space1, pairs).parse(after).ok()?;
        fields_from_pairs(&kv)
    };
    f.push(
        super::zap::key::MSG,
        &serde_json::Value::String(msg.into_owned()),
    );
    Some(f)
}

/// Parses one klog line; `NotThisFormat` when it is not this form.
///
/// Grammar: see [`header`].
pub fn parse(line: &str, ctx: &ParseContext) -> Result<Record, ParseError> {
    let (text, h) = header(line).map_err(|_| ParseError::NotThisFormat)?;
    let valid = (1..=12).contains(&h.month)
        && (1..=31).contains(&h.day)
        && h.hour < 24
        && h.minute < 60
        && h.second < 61;
    if !valid {
        return Err(ParseError::NotThisFormat);
    }
    let mut rec = match structured(text) {
        Some(f) => f.finish(Format::Klog),
        None => Record {
            format: Format::Klog,
            msg: text.to_string(),
            ..Default::default()
        },
    };
    rec.level = Some(level_of(h.severity));
    rec.ts = timestamp(&h, ctx.year_hint);
    if !h.source.is_empty() {
        // klog prints `file.go:123`; the file alone names the caller
        rec.fields
            .push((CALLER_FIELD.to_string(), h.source.to_string()));
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::time::format_rfc3339_ms;

    #[test]
    fn plain_line_with_year_hint() {
        let ctx = ParseContext {
            year_hint: Some(2021),
            ..Default::default()
        };
        let r = parse("I0720 17:12:45.512169       1 leaderelection.go:243] attempting to acquire leader lease flux-system/source-controller-leader-election...", &ctx).unwrap();
        assert_eq!(r.format, Format::Klog);
        assert_eq!(r.level, Some(Level::Info));
        assert_eq!(
            r.ts.map(format_rfc3339_ms).as_deref(),
            Some("2021-07-20T17:12:45.512Z")
        );
        assert_eq!(
            r.msg,
            "attempting to acquire leader lease flux-system/source-controller-leader-election..."
        );
        assert_eq!(r.field("caller"), Some("leaderelection.go"));
    }

    #[test]
    fn no_year_no_time() {
        let r = parse("E0426 19:25:26.399750 6 leaderelection.go:325] error retrieving resource lock flux-system/kustomize-controller-leader-election: leases.coordination.k8s.io is forbidden", &ParseContext::default()).unwrap();
        assert_eq!(r.ts, None);
        assert_eq!(r.level, Some(Level::Error));
        let r = parse("W0101 00:00:00 1 x.go:1] ", &ParseContext::default()).unwrap();
        assert_eq!(r.level, Some(Level::Warning));
        assert_eq!(r.msg, "");
        let r = parse("F0101 00:00:00.1 1 x.go:1]bye", &ParseContext::default()).unwrap();
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.msg, "bye");
    }

    #[test]
    fn structured_form() {
        let r = parse(r#"I0720 17:12:45.512169       1 request.go:601] "Waited for request due to client-side throttling" delay="1.2s" err="rate: Wait(n=1) would exceed""#, &ParseContext::default()).unwrap();
        assert_eq!(r.msg, "Waited for request due to client-side throttling");
        assert_eq!(r.error.as_deref(), Some("rate: Wait(n=1) would exceed"));
        assert_eq!(r.field("delay"), Some("1.2s"));
        let r = parse(
            r#"I0720 17:12:45.5 1 a.go:1] "just \"quoted\"""#,
            &ParseContext::default(),
        )
        .unwrap();
        assert_eq!(r.msg, "just \"quoted\"");
        // a quote that does not start a structured message stays plain
        let r = parse(
            r#"I0720 17:12:45.5 1 a.go:1] "a" b c"#,
            &ParseContext::default(),
        )
        .unwrap();
        assert_eq!(r.msg, r#""a" b c"#);
    }

    #[test]
    fn refuses_other_lines() {
        for line in [
            "I1320 17:12:45.5 1 a.go:1] x",
            "Info 17:12",
            "I0720 17:12:45.5 a.go:1] x",
            "",
            "I0720",
        ] {
            assert!(parse(line, &ParseContext::default()).is_err(), "{line}");
        }
    }
}
