//! logfmt lines (`ts=… level=info msg="…" key=value`), and the key/value pair grammar
//! shared with klog's structured form.
//!
//! Owns: the pair grammar and Go-style unescaping of quoted values. Field meaning (level,
//! time, message, error, object keys) is the zap extraction ([`LogFields`]), so a logfmt
//! line and a zap JSON line with the same keys give the same record.
//!
//! Invariant: a line is claimed only when every token is a `key=value` pair and one of
//! `msg`, `message`, `level`, `lvl` is present, so prose containing an `=` stays text.

use std::borrow::Cow;

use nom::{
    branch::alt,
    bytes::complete::{escaped, is_not, take_till, take_till1},
    character::complete::{anychar, char, none_of, space0, space1},
    combinator::{eof, map, opt, verify},
    multi::separated_list1,
    sequence::{delimited, separated_pair, terminated},
    IResult, Parser,
};
use serde_json::Value;

use super::zap::{key, LogFields};
use super::{ParseContext, ParseError};
use crate::record::{Format, Record};

/// Keys of which at least one must be present for a line to be logfmt.
const CLAIM_KEYS: &[&str] = &[key::MSG, key::MESSAGE, key::LEVEL, key::LVL];

/// Undoes Go `strconv.Quote`-style escapes (`\"`, `\\`, `\n`, `\t`, `\r`, `\uXXXX`);
/// unknown escapes are kept as written.
pub(crate) fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                let code = (hex.len() == 4)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten();
                match code.and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// A double-quoted Go string; returns its unescaped content.
pub(crate) fn quoted(i: &str) -> IResult<&str, Cow<'_, str>> {
    map(
        delimited(
            char('"'),
            opt(escaped(none_of("\\\""), '\\', anychar)),
            char('"'),
        ),
        |s: Option<&str>| unescape(s.unwrap_or("")),
    )
    .parse(i)
}

fn pair(i: &str) -> IResult<&str, (&str, Cow<'_, str>)> {
    separated_pair(
        is_not(" \t=\""),
        char('='),
        alt((
            quoted,
            map(
                verify(take_till(|c: char| c == ' ' || c == '\t'), |s: &str| {
                    !s.starts_with('"')
                }),
                Cow::Borrowed,
            ),
        )),
    )
    .parse(i)
}

/// Grammar:
/// ```text
/// pairs  = pair *(1*SP pair) *SP EOF
/// pair   = key '=' (quoted | bare)
/// key    = 1*(not SP / TAB / '=' / '"')
/// quoted = '"' *(escape | not '"' / '\') '"'
/// bare   = *(not SP / TAB)
/// ```
pub(crate) fn pairs(i: &str) -> IResult<&str, Vec<(&str, Cow<'_, str>)>> {
    terminated(separated_list1(space1, pair), terminated(space0, eof)).parse(i)
}

/// Feeds key/value pairs into the shared zap extraction.
pub(crate) fn fields_from_pairs(pairs: &[(&str, Cow<'_, str>)]) -> LogFields {
    let mut f = LogFields::default();
    for (k, v) in pairs {
        f.push(k, &Value::String(v.to_string()));
    }
    f
}

/// Parses one envelope-free line; `NotThisFormat` when it is not this form.
///
/// Grammar: see [`pairs`]; `ts`/`time`/`t`, `level`/`lvl`, `msg`/`message`, `error`/`err`
/// and the zap object keys (`controllerKind`, `name`, `namespace`, …) are understood.
pub fn parse(line: &str, _ctx: &ParseContext) -> Result<Record, ParseError> {
    let first = take_till1::<_, _, nom::error::Error<&str>>(|c: char| c == '=' || c == ' ')(line);
    if !matches!(first, Ok((rest, _)) if rest.starts_with('=')) {
        return Err(ParseError::NotThisFormat);
    }
    let (_, kv) = pairs(line.trim()).map_err(|_| ParseError::NotThisFormat)?;
    if !kv.iter().any(|(k, _)| CLAIM_KEYS.contains(k)) {
        return Err(ParseError::NotThisFormat);
    }
    Ok(fields_from_pairs(&kv).finish(Format::Logfmt))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::time::format_rfc3339_ms;
    use crate::record::Level;

    fn p(line: &str) -> Result<Record, ParseError> {
        parse(line, &ParseContext::default())
    }

    #[test]
    fn full_line() {
        let r = p(r#"ts=2025-11-10T14:00:00.123Z level=error msg="Reconciliation failed after 1.2s, next try in 1m0s" controllerKind=Kustomization name=apps namespace=flux-system revision=main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f error="kustomize build failed: \"x\" not found\n""#).unwrap();
        assert_eq!(r.format, Format::Logfmt);
        assert_eq!(
            r.ts.map(format_rfc3339_ms).as_deref(),
            Some("2025-11-10T14:00:00.123Z")
        );
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.msg, "Reconciliation failed after 1.2s, next try in 1m0s");
        assert_eq!(
            r.error.as_deref(),
            Some("kustomize build failed: \"x\" not found\n")
        );
        assert_eq!(
            r.object.unwrap().to_string(),
            "Kustomization/flux-system/apps"
        );
        assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
        assert!(r.revision.is_some());
    }

    #[test]
    fn aliases() {
        let r =
            p(r#"time="2025-11-10 14:00:00Z" lvl=warn message="hello world" err=boom extra="""#)
                .unwrap();
        assert_eq!(r.level, Some(Level::Warning));
        assert_eq!(r.msg, "hello world");
        assert_eq!(r.error.as_deref(), Some("boom"));
        assert!(r.ts.is_some());
        assert_eq!(r.field("extra"), Some(""));
        let r = p("t=1762783200.5 level=info msg=started controller=gitrepository name=podinfo namespace=default").unwrap();
        assert_eq!(r.ts, Some(1_762_783_200_500));
        assert_eq!(
            r.object.unwrap().to_string(),
            "GitRepository/default/podinfo"
        );
    }

    #[test]
    fn refuses_prose_and_other_forms() {
        for line in [
            "the value of level=3 is bad",
            "a=1 b=2",
            r#"msg="unterminated"#,
            "I0720 17:12:45.512169 1 x.go:1] level=info",
            "=x msg=y",
            "",
        ] {
            assert_eq!(p(line).err(), Some(ParseError::NotThisFormat), "{line}");
        }
    }

    #[test]
    fn unescapes() {
        assert_eq!(unescape(r#"a\"b\\c\u00e9\q\"#), "a\"b\\cé\\q\\");
        assert_eq!(unescape(r"\u12"), "\\u12");
    }
}
