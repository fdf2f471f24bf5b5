//! Bare text: an error message pasted alone, a table row, anything unrecognised.
//!
//! Owns: picking a leading timestamp and level word off free text. Facts inside the text
//! (object references, revisions, durations) are found by `message::enrich`, which the
//! decoder runs on every record.
//!
//! Invariant: never fails; the message is never empty for a non-blank line (when nothing
//! follows a leading timestamp/level, the whole line is the message).

use nom::{
    branch::alt,
    bytes::complete::take_while1,
    character::complete::{char, space1},
    combinator::{eof, map_opt, opt, rest},
    sequence::{delimited, terminated},
    IResult, Parser,
};

use super::time::iso8601;
use super::ParseContext;
use crate::record::{Format, Level, Record, TsMs};

/// Level words accepted at the start of free text (case-insensitive).
const LEVEL_WORDS: &[&str] = &[
    "trace", "debug", "info", "warn", "warning", "error", "fatal", "panic",
];

fn level_word(i: &str) -> IResult<&str, Level> {
    map_opt(take_while1(|c: char| c.is_ascii_alphabetic()), |w: &str| {
        LEVEL_WORDS
            .iter()
            .any(|l| l.eq_ignore_ascii_case(w))
            .then(|| Level::from_loose(w))
            .flatten()
    })
    .parse(i)
}

/// `error`, `[ERROR]`, `ERROR:` followed by space.
fn level(i: &str) -> IResult<&str, Level> {
    terminated(
        alt((delimited(char('['), level_word, char(']')), level_word)),
        (opt(char(':')), space1),
    )
    .parse(i)
}

fn timestamp(i: &str) -> IResult<&str, TsMs> {
    // a timestamp glued to more text (`…Zabc`) is not a prefix
    terminated(iso8601, alt((space1, eof))).parse(i)
}

/// Grammar:
/// ```text
/// line = [ts 1*SP] [level [':'] 1*SP] message
/// ts   = ISO-8601 date-time (any offset, `T` or space)
/// level= word | '[' word ']'   -- trace, debug, info, warn(ing), error, fatal, panic
/// ```
fn head(i: &str) -> IResult<&str, (Option<TsMs>, Option<Level>, &str)> {
    let (i, ts) = opt(timestamp).parse(i)?;
    let (i, level) = opt(level).parse(i)?;
    let (i, msg) = rest(i)?;
    Ok((i, (ts, level, msg)))
}

/// Always succeeds: the line becomes the message of a `text` record.
pub fn parse(line: &str, _ctx: &ParseContext) -> Record {
    let (ts, level, msg) = match head(line) {
        Ok((_, parts)) => parts,
        Err(_) => (None, None, line),
    };
    let msg = msg.trim();
    Record {
        format: Format::Text,
        ts,
        level,
        msg: if msg.is_empty() { line.trim() } else { msg }.to_string(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::time::format_rfc3339_ms;

    fn p(line: &str) -> Record {
        parse(line, &ParseContext::default())
    }

    #[test]
    fn bare_message() {
        let r = p("kustomize build failed: accumulating resources: no such file");
        assert_eq!(r.format, Format::Text);
        assert_eq!(
            r.msg,
            "kustomize build failed: accumulating resources: no such file"
        );
        assert_eq!((r.ts, r.level), (None, None));
    }

    #[test]
    fn leading_timestamp_and_level() {
        let r =
            p("2025-11-10 14:00:00.123Z ERROR: unable to clone 'ssh://git@github.com/org/repo'");
        assert_eq!(
            r.ts.map(format_rfc3339_ms).as_deref(),
            Some("2025-11-10T14:00:00.123Z")
        );
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.msg, "unable to clone 'ssh://git@github.com/org/repo'");
        let r = p("[warn] something odd");
        assert_eq!(
            (r.level, r.msg.as_str()),
            (Some(Level::Warning), "something odd")
        );
        let r = p("information is power");
        assert_eq!((r.level, r.msg.as_str()), (None, "information is power"));
        let r = p("2025-11-10T14:00:00Z");
        assert_eq!(r.msg, "2025-11-10T14:00:00Z");
        assert!(r.ts.is_some());
    }

    #[test]
    fn odd_input() {
        for s in [
            "",
            " ",
            "é",
            "[",
            "[error",
            "2025-11-10T14:00:00Zé",
            "error",
        ] {
            let _ = p(s);
        }
        assert_eq!(p("error").msg, "error");
    }
}
