//! `flux logs` CLI output lines (flux2 `cmd/flux/logs.go`).
//!
//! Owns: the line template
//! `{{.Timestamp}} {{.Level}} {{or .Kind .ControllerKind}}{{if .Name}}/{{.Name}}.{{.Namespace}}{{end}} - {{.Message}} {{.Error}}`
//! and splitting the printed message from the error the CLI glued to it.
//! Does not own: facts inside the message text (see `message`).
//!
//! Invariant: the object reference is `Kind/name.namespace`; Kubernetes names may contain
//! dots but namespaces may not, so the namespace is what follows the last dot.

use nom::{
    bytes::complete::{tag, take_till1, take_while},
    character::complete::char,
    combinator::{map_opt, opt, rest},
    IResult, Parser,
};

use super::message::{canonical_kind, controller_for_kind};
use super::time::iso8601;
use super::zap::is_reason_token;
use super::{ParseContext, ParseError};
use crate::record::{Format, Level, ObjectRef, Record, TsMs};

/// The fixed part of a line: time, level, object text, message-and-error text.
struct Head<'a> {
    ts: TsMs,
    level: Level,
    kind: &'a str,
    name_ns: Option<&'a str>,
    text: &'a str,
}

fn timestamp(i: &str) -> IResult<&str, TsMs> {
    map_opt(take_till1(|c| c == ' '), |tok: &str| match iso8601(tok) {
        Ok(("", ts)) => Some(ts),
        _ => None,
    })
    .parse(i)
}

/// Level words as the CLI prints them (`info`, `error`, `debug`, `trace`, `Level(-2)`);
/// single letters are refused so ordinary text does not match.
fn level(i: &str) -> IResult<&str, Level> {
    map_opt(take_till1(|c| c == ' '), |w: &str| {
        if w.len() >= 4 {
            Level::from_loose(w)
        } else {
            None
        }
    })
    .parse(i)
}

/// Grammar:
/// ```text
/// line    = ts ' ' level ' ' [kind] ['/' name_ns] " - " text
/// kind    = ALPHA *ALNUM
/// name_ns = 1*(not ' ')          -- `name.namespace`, split at the last '.'
/// text    = message [' ' error]  -- the CLI prints "{{.Message}} {{.Error}}"
/// ```
fn head(i: &str) -> IResult<&str, Head<'_>> {
    let (i, (ts, _, level, _)) = (timestamp, char(' '), level, char(' ')).parse(i)?;
    let (i, kind) = take_while(|c: char| c.is_ascii_alphanumeric())(i)?;
    let (i, name_ns) = opt((char('/'), take_till1(|c| c == ' '))).parse(i)?;
    let (i, (_, text)) = (tag(" - "), rest).parse(i)?;
    Ok((
        i,
        Head {
            ts,
            level,
            kind,
            name_ns: name_ns.map(|(_, n)| n),
            text,
        },
    ))
}

/// True when `line` has the shape of a `flux logs` line (used to keep the envelope
/// stripper from taking its timestamp for a `kubectl --timestamps` prefix).
pub fn looks_like(line: &str) -> bool {
    head(line).is_ok()
}

/// Messages the controllers log with an error attached, so the rest is the error.
const MESSAGES_WITH_ERROR: &[&str] = &[
    "Reconciler error",
    "reconciliation stalled",
    "unable to record event",
    "failed to dispatch notification",
    "failed to send notification",
    "problem running manager",
    "unable to start manager",
    "failed to update status",
    "failed to patch",
    "Reconciliation failed",
];

/// Event reason suffixes of eventLogf lines, whose `error` key holds the reason.
const REASON_SUFFIXES: &[&str] = &[
    "Failed",
    "Succeeded",
    "Error",
    "NotReady",
    "NotFound",
    "Invalid",
    "Denied",
    "UpToDate",
    "Artifact",
    "Stalled",
];

/// (message, error, reason) from the text after ` - `.
fn split_text(text: &str) -> (String, Option<String>, Option<String>) {
    if text.ends_with(' ') {
        // "{{.Message}} {{.Error}}" with an empty error
        return (text.trim_end().to_string(), None, None);
    }
    let text = text.trim_end();
    // `Reconciliation failed after 67ms, next try in 1m0s <error>`
    if let Some(rest) = text
        .strip_prefix("Reconciliation failed after ")
        .and_then(|r| r.find("next try in ").map(|i| (r, i)))
        .and_then(|(r, i)| r.get(i + "next try in ".len()..))
    {
        let end = rest.find(' ').unwrap_or(rest.len());
        let cut = text.len() - rest.len() + end;
        let (msg, err) = (
            text.get(..cut).unwrap_or(text),
            text.get(cut..).unwrap_or(""),
        );
        let err = err.trim();
        return (
            msg.to_string(),
            (!err.is_empty()).then(|| err.to_string()),
            None,
        );
    }
    for m in MESSAGES_WITH_ERROR {
        if let Some(err) = text.strip_prefix(m).and_then(|r| r.strip_prefix(' ')) {
            return (m.to_string(), Some(err.trim().to_string()), None);
        }
    }
    if let Some((msg, last)) = text.rsplit_once(' ') {
        if is_reason_token(last) && REASON_SUFFIXES.iter().any(|s| last.ends_with(s)) {
            return (msg.trim_end().to_string(), None, Some(last.to_string()));
        }
    }
    (text.to_string(), None, None)
}

/// Parses one `flux logs` line; `NotThisFormat` when it is not this form.
///
/// Grammar: see [`head`]:
/// `ts ' ' level ' ' [Kind] ['/' name '.' namespace] " - " message [' ' error]`.
pub fn parse(line: &str, _ctx: &ParseContext) -> Result<Record, ParseError> {
    let (_, h) = head(line).map_err(|_| ParseError::NotThisFormat)?;
    let (msg, error, reason) = split_text(h.text);
    let kind = canonical_kind(h.kind).unwrap_or(h.kind);
    let object = h.name_ns.and_then(|nn| {
        let (name, ns) = nn.rsplit_once('.').unwrap_or((nn, ""));
        (!kind.is_empty() && !name.is_empty()).then(|| ObjectRef::new(kind, ns, name))
    });
    Ok(Record {
        format: Format::FluxCli,
        ts: Some(h.ts),
        level: Some(h.level),
        controller: controller_for_kind(kind).map(str::to_string),
        object,
        msg,
        error,
        reason,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::time::format_rfc3339_ms;

    fn p(line: &str) -> Record {
        parse(line, &ParseContext::default()).unwrap()
    }

    #[test]
    fn failed_reconciliation_splits_error() {
        let r = p("2025-01-22T14:07:30.686Z error Kustomization/secrets.flux-system - Reconciliation failed after 67.047568ms, next try in 1m0s decryption failed for 'basic-auth': Failed to get the data key required to decrypt the SOPS file.");
        assert_eq!(r.format, Format::FluxCli);
        assert_eq!(
            r.ts.map(format_rfc3339_ms).as_deref(),
            Some("2025-01-22T14:07:30.686Z")
        );
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(
            r.object.unwrap().to_string(),
            "Kustomization/flux-system/secrets"
        );
        assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
        assert_eq!(
            r.msg,
            "Reconciliation failed after 67.047568ms, next try in 1m0s"
        );
        assert_eq!(
            r.error.as_deref(),
            Some("decryption failed for 'basic-auth': Failed to get the data key required to decrypt the SOPS file.")
        );
    }

    #[test]
    fn info_line_with_empty_error() {
        let r = p("2025-01-22T14:07:30.686+01:00 info GitRepository/flux-system.flux-system - stored artifact for commit 'Merge pull request #1' ");
        assert_eq!(
            r.ts.map(format_rfc3339_ms).as_deref(),
            Some("2025-01-22T13:07:30.686Z")
        );
        assert_eq!(r.msg, "stored artifact for commit 'Merge pull request #1'");
        assert_eq!(r.error, None);
        assert_eq!(r.controller.as_deref(), Some("source-controller"));
    }

    #[test]
    fn dotted_names_and_kind_only() {
        let r = p("2025-01-22T14:07:30.686Z info HelmRelease/my.app.apps - release in-sync with desired state ");
        assert_eq!(r.object.unwrap().to_string(), "HelmRelease/apps/my.app");
        let r = p("2025-01-22T14:07:30.686Z info Kustomization - Starting workers ");
        assert_eq!(r.object, None);
        assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
        let r = p("2025-01-22T14:07:30.686Z info  - starting manager ");
        assert_eq!((r.object, r.controller), (None, None));
        assert_eq!(r.msg, "starting manager");
    }

    #[test]
    fn reconciler_error_and_reason() {
        let r = p("2025-01-22T14:07:30.686Z error GitRepository/podinfo.default - Reconciler error failed to checkout and determine revision: unable to clone");
        assert_eq!(r.msg, "Reconciler error");
        assert_eq!(
            r.error.as_deref(),
            Some("failed to checkout and determine revision: unable to clone")
        );
        let r = p("2025-01-22T14:07:30.686Z error GitRepository/podinfo.default - failed to checkout and determine revision: unable to clone GitOperationFailed");
        assert_eq!(r.reason.as_deref(), Some("GitOperationFailed"));
        assert_eq!(
            r.msg,
            "failed to checkout and determine revision: unable to clone"
        );
        let r = p("2025-01-22T14:07:30.686Z Level(-2) Kustomization/a.b - trace things");
        assert_eq!(r.level, Some(Level::Trace));
        assert_eq!(r.msg, "trace things");
    }

    #[test]
    fn refuses_other_lines() {
        for line in [
            "2025-01-22T14:07:30.686Z some text - with a dash",
            "2025-01-22T14:07:30.686Z\tINFO\tmsg",
            "I0720 17:12:45.512169 1 x.go:1] hi",
            "",
            "2025-01-22T14:07:30.686Z info Kustomization/a.b",
        ] {
            assert!(parse(line, &ParseContext::default()).is_err(), "{line}");
        }
    }
}
