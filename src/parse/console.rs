//! zap console encoding (`--log-encoding=console`, catalog §1.5): tab-separated columns
//! with a trailing JSON object of key/values.
//!
//! Owns: the column grammar. Key/values are read by the shared zap extraction, so a
//! console line gives the same record as the JSON line it renders.
//!
//! Invariant: the time and level columns win over same-named keys in the trailing JSON.

use nom::{
    bytes::complete::take_till1,
    character::complete::char,
    combinator::{map_opt, rest},
    IResult, Parser,
};
use serde_json::Value;

use super::time::parse_ts;
use super::zap::{key, LogFields};
use super::{json_depth_exceeds, ParseContext, ParseError, MAX_JSON_DEPTH};
use crate::record::{Format, Level, Record, TsMs};

/// Field holding a caller column (`file.go:12`) when the encoder was configured with one.
const CALLER_FIELD: &str = "caller";

/// Removes ANSI colour sequences (`\x1b[34mINFO\x1b[0m`, zap's colour level encoder).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_esc = false;
    for c in s.chars() {
        match (in_esc, c) {
            (false, '\u{1b}') => in_esc = true,
            (false, c) => out.push(c),
            (true, c) if c.is_ascii_alphabetic() => in_esc = false,
            (true, _) => {}
        }
    }
    out
}

fn ts_column(i: &str) -> IResult<&str, TsMs> {
    map_opt(take_till1(|c| c == '\t'), parse_ts).parse(i)
}

fn level_column(i: &str) -> IResult<&str, Level> {
    map_opt(take_till1(|c| c == '\t'), |s: &str| {
        Level::from_loose(&strip_ansi(s))
    })
    .parse(i)
}

/// A logger column: one word such as `setup`, `runtime`, `controller.gitrepository`.
fn is_logger_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
}

fn is_caller(s: &str) -> bool {
    is_logger_name(s) && s.contains(".go:")
}

/// Parses one envelope-free line; `NotThisFormat` when it is not this form.
///
/// Grammar:
/// ```text
/// line    = ts TAB LEVEL TAB [logger TAB] [caller TAB] msg [TAB json]
/// ts      = ISO-8601 (any offset) | epoch seconds
/// LEVEL   = INFO | ERROR | DEBUG | TRACE | LEVEL(-2) | …   (possibly ANSI-coloured)
/// logger  = 1*(ALNUM | '.' | '-' | '_' | '/')
/// json    = '{' … '}'                                       (serde, zap's spaced style)
/// ```
pub fn parse(line: &str, ctx: &ParseContext) -> Result<Record, ParseError> {
    match parse_tabbed(line, ctx) {
        Err(ParseError::NotThisFormat) if !line.contains('\t') => match spaced_to_tabs(line) {
            Some(tabbed) => parse_tabbed(&tabbed, ctx),
            None => Err(ParseError::NotThisFormat),
        },
        other => other,
    }
}

/// True when `line` is a console line (tabs, or columns of 2+ spaces as pasted from a
/// terminal); used by the envelope stripper to leave its timestamp alone.
pub fn looks_like(line: &str) -> bool {
    let head = |l: &str| {
        let parsed: IResult<&str, _> = (ts_column, char('\t'), level_column, char('\t')).parse(l);
        parsed.is_ok()
    };
    head(line) || (!line.contains('\t') && spaced_to_tabs(line).is_some_and(|t| head(&t)))
}

/// A console line whose tabs became spaces (copied from a terminal or an issue): columns
/// are separated by runs of 2+ spaces up to the trailing JSON. `None` when the line does
/// not start with `<ts>  <LEVEL>  `.
fn spaced_to_tabs(line: &str) -> Option<String> {
    if !line.bytes().next().is_some_and(|c| c.is_ascii_digit()) {
        return None;
    }
    let ts_end = line.find("  ")?;
    let after_ts = line.get(ts_end..)?.trim_start_matches(' ');
    let level_end = after_ts.find("  ")?;
    let (json_at, body) = match after_ts.find("  {") {
        Some(j) => (Some(j), after_ts.get(..j)?),
        None => (None, after_ts),
    };
    if level_end > body.len() && json_at.is_some() {
        return None;
    }
    let mut out = String::with_capacity(line.len());
    out.push_str(line.get(..ts_end)?);
    let mut cols = body.split("  ").map(str::trim).filter(|c| !c.is_empty());
    for c in cols.by_ref() {
        out.push('\t');
        out.push_str(c);
    }
    if let Some(j) = json_at {
        out.push('\t');
        out.push_str(after_ts.get(j..)?.trim());
    }
    Some(out)
}

fn parse_tabbed(line: &str, _ctx: &ParseContext) -> Result<Record, ParseError> {
    let parsed: IResult<&str, (TsMs, char, Level, char, &str)> =
        (ts_column, char('\t'), level_column, char('\t'), rest).parse(line);
    let (_, (ts, _, level, _, body)) = parsed.map_err(|_| ParseError::NotThisFormat)?;
    let (body, json) = match body.rsplit_once('\t') {
        Some((head, tail)) if tail.trim_start().starts_with('{') => match trailing_json(tail) {
            Some(m) => (head, Some(m)),
            None => (body, None),
        },
        _ => (body, None),
    };
    let mut columns: Vec<&str> = body.splitn(3, '\t').collect();
    let mut logger = None;
    let mut caller = None;
    if columns.len() > 1 && is_caller(columns.first().copied().unwrap_or("")) {
        caller = Some(columns.remove(0));
    } else if columns.len() > 1 && is_logger_name(columns.first().copied().unwrap_or("")) {
        logger = Some(columns.remove(0));
        if columns.len() > 1 && is_caller(columns.first().copied().unwrap_or("")) {
            caller = Some(columns.remove(0));
        }
    }
    let msg = columns.join("\t");
    let mut f = LogFields::default();
    if let Some(m) = &json {
        for (k, v) in m {
            if k != key::TS && k != key::LEVEL {
                f.push(k, v);
            }
        }
    }
    if let Some(l) = logger {
        f.push(key::LOGGER, &Value::String(l.to_string()));
    }
    f.push(key::MSG, &Value::String(msg));
    let mut rec = f.finish(Format::ZapConsole);
    rec.ts = Some(ts);
    rec.level = Some(level);
    if let Some(c) = caller {
        rec.fields.push((CALLER_FIELD.to_string(), c.to_string()));
    }
    Ok(rec)
}

fn trailing_json(s: &str) -> Option<serde_json::Map<String, Value>> {
    if json_depth_exceeds(s.as_bytes(), MAX_JSON_DEPTH) {
        return None;
    }
    match serde_json::from_str::<Value>(s.trim()).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::time::format_rfc3339_ms;

    fn p(line: &str) -> Record {
        parse(line, &ParseContext::default()).unwrap()
    }

    #[test]
    fn reconcile_line_with_spaced_json() {
        let r = p("2026-08-01T10:00:00.123Z\tINFO\tReconciliation finished in 2.3s, next run in 10m0s\t{\"controller\": \"kustomization\", \"controllerGroup\": \"kustomize.toolkit.fluxcd.io\", \"controllerKind\": \"Kustomization\", \"Kustomization\": {\"name\":\"apps\",\"namespace\":\"flux-system\"}, \"namespace\": \"flux-system\", \"name\": \"apps\", \"reconcileID\": \"1c2d\", \"revision\": \"main@sha1:1eabc9a41ca088515cab83f1cce49eb43e84b67f\"}");
        assert_eq!(r.format, Format::ZapConsole);
        assert_eq!(
            r.ts.map(format_rfc3339_ms).as_deref(),
            Some("2026-08-01T10:00:00.123Z")
        );
        assert_eq!(r.level, Some(Level::Info));
        assert_eq!(r.msg, "Reconciliation finished in 2.3s, next run in 10m0s");
        assert_eq!(
            r.object.unwrap().to_string(),
            "Kustomization/flux-system/apps"
        );
        assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
        assert_eq!(r.reconcile_id.as_deref(), Some("1c2d"));
    }

    #[test]
    fn logger_column_and_no_json() {
        let r = p("2026-08-01T10:00:00.123+0200\tINFO\tsetup\tstarting manager");
        assert_eq!(r.logger.as_deref(), Some("setup"));
        assert_eq!(r.msg, "starting manager");
        assert_eq!(
            r.ts.map(format_rfc3339_ms).as_deref(),
            Some("2026-08-01T08:00:00.123Z")
        );
        let r = p("2026-08-01T10:00:00.123Z\tERROR\truntime\tfailed to renew lease\t{\"error\": \"context deadline exceeded\"}");
        assert_eq!(r.logger.as_deref(), Some("runtime"));
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.error.as_deref(), Some("context deadline exceeded"));
        let r = p("2026-08-01T10:00:00.123Z\tLEVEL(-2)\tjust a message");
        assert_eq!(
            (r.level, r.msg.as_str()),
            (Some(Level::Trace), "just a message")
        );
    }

    #[test]
    fn error_line_and_colour() {
        let r = p("2026-08-01T10:01:00.456Z\t\u{1b}[31mERROR\u{1b}[0m\tReconciler error\t{\"controllerKind\": \"GitRepository\", \"GitRepository\": {\"name\": \"flux-system\", \"namespace\": \"flux-system\"}, \"name\": \"flux-system\", \"namespace\": \"flux-system\", \"error\": \"failed to checkout\"}");
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.msg, "Reconciler error");
        assert_eq!(r.error.as_deref(), Some("failed to checkout"));
        assert_eq!(r.controller.as_deref(), Some("source-controller"));
    }

    #[test]
    fn spaces_instead_of_tabs() {
        let r = p("2020-06-18T10:04:48.756+0200    ERROR   controller-runtime.controller   Reconciler error        {\"controller\": \"gitrepository\", \"request\": \"flux-system/podinfo\", \"error\": \"x  y\"}");
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.logger.as_deref(), Some("controller-runtime.controller"));
        assert_eq!(r.msg, "Reconciler error");
        assert_eq!(r.error.as_deref(), Some("x  y"));
        assert_eq!(
            r.object.unwrap().to_string(),
            "GitRepository/flux-system/podinfo"
        );
        let r = p("1.6836474195594983e+09  INFO  Starting workers  {\"controllerKind\": \"Bucket\", \"worker count\": 2}");
        assert_eq!(r.msg, "Starting workers");
        assert_eq!(r.controller.as_deref(), Some("source-controller"));
        assert!(parse("2025-01-01T00:00:00Z  some  text", &ParseContext::default()).is_err());
    }

    #[test]
    fn bad_trailing_json_stays_in_message() {
        let r = p("2026-08-01T10:00:00.123Z\tINFO\ta message\t{not json");
        assert_eq!(r.msg, "a message\t{not json");
    }

    #[test]
    fn refuses_other_lines() {
        for line in [
            "2026-08-01T10:00:00.123Z INFO x",
            "x\tINFO\ty",
            "2026-08-01T10:00:00Z\tNOPE\tx",
            "",
        ] {
            assert!(parse(line, &ParseContext::default()).is_err(), "{line}");
        }
    }
}
