//! Envelopes around log lines: `kubectl logs --timestamps`, `kubectl logs --prefix`, CRI
//! and docker json-file, and the log-store exports of [`super::export`] (Cloud Logging,
//! Loki, Elasticsearch, CloudWatch, Datadog). Removed (possibly stacked) before the inner
//! line is parsed.
//!
//! Owns: recognising and removing wrappers, and the facts they carry (time, pod,
//! namespace, container, stream, CRI partial flag). Does not own: joining CRI partial chunks (the
//! decoder keeps that state) or parsing the inner line.
//!
//! Invariant: [`strip`] never fails and never panics; a line that is not wrapped comes back
//! unchanged. A `flux logs` line (`<ts> <level> <Kind>/<name>.<ns> - <msg>`) and a zap
//! console line (`<ts>\t<LEVEL>\t…`) start with a timestamp too, but are lines, not
//! envelopes: they are never stripped.

use std::borrow::Cow;
use std::ops::Range;

use nom::{
    branch::alt,
    bytes::complete::{tag, take_till1},
    character::complete::{char, one_of},
    combinator::{eof, map, map_opt, opt, rest, value},
    sequence::delimited,
    IResult, Parser,
};
use serde::Deserialize;

use super::time::iso8601;
use crate::record::{Envelope, TsMs};

/// Most envelopes removed from one line (`[pod/…] <ts> {docker json}` is three; an export
/// around those, or CloudWatch around a Container Insights document, adds two).
const MAX_STACK: usize = 6;

/// A line with its envelopes removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stripped<'a> {
    /// The inner line.
    pub inner: Cow<'a, [u8]>,
    /// The outermost envelope removed, if any.
    pub envelope: Option<Envelope>,
    /// Time the envelope carried.
    pub ts: Option<TsMs>,
    /// Pod named by `--prefix` or an export's labels.
    pub pod: Option<String>,
    /// The pod's namespace, from an export's labels (not the namespace of the object a
    /// controller line is about).
    pub namespace: Option<String>,
    pub container: Option<String>,
    /// `stdout` / `stderr` (CRI, docker).
    pub stream: Option<String>,
    /// A CRI `P` chunk: the text continues on the next line.
    pub partial: bool,
}

/// One removed envelope.
pub(super) struct Layer {
    pub(super) kind: Envelope,
    pub(super) ts: Option<TsMs>,
    pub(super) pod: Option<String>,
    pub(super) namespace: Option<String>,
    pub(super) container: Option<String>,
    pub(super) stream: Option<String>,
    pub(super) partial: bool,
    pub(super) inner: Inner,
}

/// Where the inner line is: a sub-range of the input, or decoded text (docker, exports).
pub(super) enum Inner {
    Range(Range<usize>),
    Owned(Vec<u8>),
}

impl Layer {
    pub(super) fn new(kind: Envelope, inner: Inner) -> Self {
        Layer {
            kind,
            ts: None,
            pod: None,
            namespace: None,
            container: None,
            stream: None,
            partial: false,
            inner,
        }
    }
}

/// Removes every envelope around `line`. Never fails: a line without one comes back as is.
///
/// Grammar (tried in this order at each level, up to [`MAX_STACK`] levels):
/// ```text
/// export     = see `super::export` (Cloud Logging, Loki, Elasticsearch, CloudWatch,
///              Datadog); tried before docker and before cri
/// docker     = '{' … '"log":' string … ('"stream"' | '"time"') … '}'   (serde, not nom)
/// prefix     = "[pod/" pod '/' container ']' [' '] line
/// cri        = rfc3339 ' ' ("stdout" | "stderr") ' ' ('F' | 'P') (' ' line | EOF)
/// timestamps = rfc3339 ' ' line        -- unless the whole line is a `flux logs` line
/// rfc3339    = YYYY-MM-DD 'T' hh:mm:ss[.frac] ('Z' | ±hh:mm)   -- no spaces, offset required
/// ```
pub fn strip(line: &[u8]) -> Stripped<'_> {
    let mut out = Stripped {
        inner: Cow::Borrowed(line),
        ..Default::default()
    };
    for _ in 0..MAX_STACK {
        let Some(layer) = peel(&out.inner) else {
            break;
        };
        out.envelope = out.envelope.or(Some(layer.kind));
        out.ts = out.ts.or(layer.ts);
        out.pod = out.pod.or(layer.pod);
        out.namespace = out.namespace.or(layer.namespace);
        out.container = out.container.or(layer.container);
        out.stream = out.stream.or(layer.stream);
        out.partial |= layer.partial;
        out.inner = match (out.inner, layer.inner) {
            (Cow::Borrowed(b), Inner::Range(r)) => Cow::Borrowed(b.get(r).unwrap_or_default()),
            (Cow::Owned(v), Inner::Range(r)) => Cow::Owned(v.get(r).unwrap_or_default().to_vec()),
            (_, Inner::Owned(v)) => Cow::Owned(v),
        };
        if out.partial {
            // the rest of a partial chunk is raw text; its envelopes belong to the joined line
            break;
        }
    }
    out
}

/// Removes the outermost envelope of `line`, if any.
fn peel(line: &[u8]) -> Option<Layer> {
    match line.first()? {
        // exports first: a Fluent Bit document has the docker keys too, plus its labels
        b'{' => super::export::json(line).or_else(|| docker(line)),
        b'[' => prefix(line),
        b'0'..=b'9' => super::export::loki_text(line)
            .or_else(|| super::export::cloudwatch_row(line))
            .or_else(|| cri(line))
            .or_else(|| timestamps(line)),
        _ => None,
    }
}

pub(super) fn offset_of(line: &[u8], rest: &[u8]) -> Range<usize> {
    line.len().saturating_sub(rest.len())..line.len()
}

/// An RFC 3339 timestamp token with a `T` and an explicit offset, as kubectl and CRI
/// print them.
pub(super) fn rfc3339(i: &[u8]) -> IResult<&[u8], TsMs> {
    map_opt(take_till1(|c| c == b' ' || c == b'\t'), |tok: &[u8]| {
        let s = std::str::from_utf8(tok).ok()?;
        let has_t = s
            .as_bytes()
            .get(10)
            .is_some_and(|c| *c == b'T' || *c == b't');
        let has_offset = s.ends_with(['Z', 'z'])
            || s.get(s.len().saturating_sub(6)..)
                .is_some_and(|o| o.starts_with(['+', '-']) && o.as_bytes().get(3) == Some(&b':'));
        match iso8601(s) {
            Ok(("", ts)) if has_t && has_offset => Some(ts),
            _ => None,
        }
    })
    .parse(i)
}

fn prefix(line: &[u8]) -> Option<Layer> {
    let name = || take_till1(|c| c == b'/' || c == b']' || c == b' ');
    let parsed: IResult<&[u8], (&[u8], &[u8])> = map(
        (
            tag("[pod/"),
            name(),
            char('/'),
            name(),
            char(']'),
            opt(char(' ')),
        ),
        |(_, pod, _, container, _, _)| (pod, container),
    )
    .parse(line);
    let (rest, (pod, container)) = parsed.ok()?;
    let mut l = Layer::new(Envelope::Prefix, Inner::Range(offset_of(line, rest)));
    l.pod = Some(String::from_utf8_lossy(pod).into_owned());
    l.container = Some(String::from_utf8_lossy(container).into_owned());
    Some(l)
}

fn cri(line: &[u8]) -> Option<Layer> {
    let parsed: IResult<&[u8], (TsMs, &[u8], char)> = map(
        (
            rfc3339,
            delimited(char(' '), alt((tag("stdout"), tag("stderr"))), char(' ')),
            one_of("FP"),
            alt((value((), char(' ')), value((), eof))),
        ),
        |(ts, stream, tag, _)| (ts, stream, tag),
    )
    .parse(line);
    let (rest, (ts, stream, tag)) = parsed.ok()?;
    let mut l = Layer::new(Envelope::Cri, Inner::Range(offset_of(line, rest)));
    l.ts = Some(ts);
    l.stream = Some(String::from_utf8_lossy(stream).into_owned());
    l.partial = tag == 'P';
    Some(l)
}

fn timestamps(line: &[u8]) -> Option<Layer> {
    let parsed: IResult<&[u8], (TsMs, char, &[u8])> = (rfc3339, char(' '), rest).parse(line);
    let (_, (ts, _, inner)) = parsed.ok()?;
    let looks_like_line = |s: &str| super::flux_cli::looks_like(s) || super::console::looks_like(s);
    if std::str::from_utf8(line).is_ok_and(looks_like_line) {
        return None;
    }
    let mut l = Layer::new(Envelope::Timestamps, Inner::Range(offset_of(line, inner)));
    l.ts = Some(ts);
    Some(l)
}

#[derive(Deserialize)]
struct DockerLine {
    log: String,
    stream: Option<String>,
    time: Option<String>,
    /// Present only in log lines that merely carry a `log` key.
    msg: Option<serde::de::IgnoredAny>,
    level: Option<serde::de::IgnoredAny>,
}

fn docker(line: &[u8]) -> Option<Layer> {
    // cheap refusal of zap and Kubernetes JSON before a full parse
    static LOG_KEY: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
        std::sync::OnceLock::new();
    LOG_KEY
        .get_or_init(|| memchr::memmem::Finder::new(b"\"log\""))
        .find(line)?;
    if super::json_depth_exceeds(line, super::MAX_JSON_DEPTH) {
        return None;
    }
    let d: DockerLine = serde_json::from_slice(line).ok()?;
    if (d.stream.is_none() && d.time.is_none()) || d.msg.is_some() || d.level.is_some() {
        return None;
    }
    let mut text = d.log.into_bytes();
    while let [.., b'\n' | b'\r'] = text.as_slice() {
        text.pop();
    }
    let mut l = Layer::new(Envelope::Docker, Inner::Owned(text));
    l.ts = d.time.as_deref().and_then(super::time::parse_ts);
    l.stream = d.stream;
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::time::format_rfc3339_ms;

    fn ts(s: &Stripped<'_>) -> String {
        s.ts.map(format_rfc3339_ms).unwrap_or_default()
    }

    const ZAP: &str = r#"{"level":"info","ts":"2025-11-10T15:19:00.000Z","msg":"starting manager","logger":"setup"}"#;

    #[test]
    fn no_envelope() {
        for line in [ZAP, "plain text", "", "[not a prefix] x", "2025 is a year"] {
            let s = strip(line.as_bytes());
            assert_eq!(s.envelope, None, "{line}");
            assert_eq!(&*s.inner, line.as_bytes());
        }
    }

    #[test]
    fn kubectl_timestamps() {
        let line = format!("2025-11-10T15:19:00.123456789Z {ZAP}");
        let s = strip(line.as_bytes());
        assert_eq!(s.envelope, Some(Envelope::Timestamps));
        assert_eq!(ts(&s), "2025-11-10T15:19:00.123Z");
        assert_eq!(&*s.inner, ZAP.as_bytes());
        let s = strip(b"2025-11-10T18:19:00.5+03:00 I0720 17:12:45.512169       1 x.go:1] hi");
        assert_eq!(ts(&s), "2025-11-10T15:19:00.500Z");
        assert!(s.inner.starts_with(b"I0720"));
    }

    #[test]
    fn flux_logs_and_console_lines_are_not_envelopes() {
        for line in [
            "2025-01-22T14:07:30.686Z error Kustomization/secrets.flux-system - Reconciliation failed after 67.047568ms, next try in 1m0s decryption failed",
            "2025-01-22T14:07:30.686Z info GitRepository/flux-system.flux-system - stored artifact for commit 'x' ",
            "2025-01-22T14:07:30.686Z info Kustomization - Starting EventSource ",
            "2025-01-22T14:07:30.686Z\tINFO\tReconciliation finished in 2.3s\t{\"name\": \"apps\"}",
            "2020-06-18T10:04:48.756+0200    ERROR   controller-runtime.controller   Reconciler error        {\"request\": \"a/b\"}",
        ] {
            let s = strip(line.as_bytes());
            assert_eq!(s.envelope, None, "{line}");
        }
        // but `--timestamps` around a flux-logs-looking line still strips the outer one
        let s = strip(b"2025-01-22T14:07:31.000Z 2025-01-22T14:07:30.686Z\tINFO\tx");
        assert_eq!(s.envelope, Some(Envelope::Timestamps));
        assert!(s.inner.starts_with(b"2025-01-22T14:07:30.686Z\tINFO"));
    }

    #[test]
    fn kubectl_prefix_stacked() {
        let line =
            format!("[pod/source-controller-7d9f8c6b5-x2x7k/manager] 2025-11-10T15:19:00.1Z {ZAP}");
        let s = strip(line.as_bytes());
        assert_eq!(s.envelope, Some(Envelope::Prefix));
        assert_eq!(s.pod.as_deref(), Some("source-controller-7d9f8c6b5-x2x7k"));
        assert_eq!(s.container.as_deref(), Some("manager"));
        assert_eq!(ts(&s), "2025-11-10T15:19:00.100Z");
        assert_eq!(&*s.inner, ZAP.as_bytes());
        let s = strip(b"[pod/helm-controller-0/manager]");
        assert_eq!(s.envelope, Some(Envelope::Prefix));
        assert!(s.inner.is_empty());
    }

    #[test]
    fn cri() {
        let line = format!("2025-11-10T15:19:00.000000001Z stderr F {ZAP}");
        let s = strip(line.as_bytes());
        assert_eq!(s.envelope, Some(Envelope::Cri));
        assert_eq!(s.stream.as_deref(), Some("stderr"));
        assert!(!s.partial);
        assert_eq!(&*s.inner, ZAP.as_bytes());
        let s = strip(br#"2025-11-10T15:19:00Z stdout P {"level":"in"#);
        assert!(s.partial);
        assert_eq!(&*s.inner, br#"{"level":"in"#);
        let s = strip(b"2025-11-10T15:19:00Z stdout F");
        assert_eq!(s.envelope, Some(Envelope::Cri));
        assert!(s.inner.is_empty());
    }

    #[test]
    fn docker() {
        let line = serde_json::json!({"log": format!("{ZAP}\n"), "stream": "stderr", "time": "2025-11-10T15:19:00.987654321Z"}).to_string();
        let s = strip(line.as_bytes());
        assert_eq!(s.envelope, Some(Envelope::Docker));
        assert_eq!(s.stream.as_deref(), Some("stderr"));
        assert_eq!(ts(&s), "2025-11-10T15:19:00.987Z");
        assert_eq!(&*s.inner, ZAP.as_bytes());
        // docker around kubectl-style text stacks too
        let line = r#"{"log":"[pod/a/b] hello\n","stream":"stdout","time":"2025-11-10T15:19:00Z"}"#;
        let s = strip(line.as_bytes());
        assert_eq!(
            (s.envelope, s.pod.as_deref()),
            (Some(Envelope::Docker), Some("a"))
        );
        assert_eq!(&*s.inner, b"hello");
        // a zap line with a `log` key is not a docker envelope
        let s = strip(br#"{"level":"info","msg":"x","log":"y","time":"2025-11-10T15:19:00Z"}"#);
        assert_eq!(s.envelope, None);
    }

    #[test]
    fn never_panics_on_garbage() {
        for line in [
            &b"[pod/"[..],
            b"[pod/a/",
            b"2025-11-10T15:19:00Z",
            b"2025-11-10T15:19:00Z ",
            b"\xff\xfe[",
            b"{\"log\":",
            b"9999-99-99T99:99:99Z x",
            "2025-11-10T15:19:00Z \u{e9}".as_bytes(),
        ] {
            let _ = strip(line);
        }
    }
}
