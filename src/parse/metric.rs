//! Prometheus text exposition samples (contracts.md §1.3): one sample per line, as a
//! scrape or a recorded dump writes them, with the timestamp in milliseconds.
//!
//! Owns: the sample grammar, label unescaping, and which controller and object a series
//! is about. Does not own: series arithmetic (rates, slopes) — that is the correlator's.
//!
//! Invariant: never claims ordinary text. A line is a sample only when a metric name is
//! immediately followed by `{` or by spaces and a number, and the grammar consumes the
//! whole line; `#` lines are accepted as comments.

use nom::{
    bytes::complete::{tag, take_while, take_while1},
    character::complete::{char, digit1, space0, space1},
    combinator::{all_consuming, opt, recognize, verify},
    multi::separated_list0,
    sequence::{delimited, pair, preceded, terminated, tuple},
    IResult,
};

use super::k8s::{controller_for_kind, controller_from_pod, known_controller};
use super::{ParseContext, ParseError};
use crate::record::{Detail, Format, MetricSample, ObjectRef, Record, TsMs};

/// Longest `msg` rendering of a sample, in bytes; longer label sets are cut.
const MAX_MSG_BYTES: usize = 512;

/// Latest sample timestamp accepted (year ~2096); beyond it `ts` is left unset.
const MAX_TS_MS: TsMs = 4_000_000_000_000;

/// Label names read for the controller and object of a series.
mod label {
    pub const POD: &str = "pod";
    pub const CONTROLLER: &str = "controller";
    pub const NAME: &str = "name";
    pub const KIND: &str = "kind";
    pub const NAMESPACE: &str = "namespace";
    pub const EXPORTED_NAMESPACE: &str = "exported_namespace";
    pub const CUSTOMRESOURCE_KIND: &str = "customresource_kind";
    /// Tried last, in this order; `container` is skipped when it is the generic `manager`.
    pub const FALLBACKS: [&str; 3] = ["job", "app", "container"];
}

/// Parses one envelope-free line; `NotThisFormat` when it is not this form.
///
/// Grammar (whitespace = spaces or tabs):
/// ```text
/// line      = comment | sample
/// comment   = "#" any*                                  (HELP, TYPE, anything else)
/// sample    = name ( labels ws* | ws+ ) value [ ws+ timestamp ] ws*  EOF
/// name      = [a-zA-Z_:] [a-zA-Z0-9_:]*
/// labels    = "{" ws* [ label ( ws* "," ws* label )* [ ws* "," ] ] ws* "}"
/// label     = lname ws* "=" ws* '"' ( [^"\\] | "\\" any )* '"'   (\" \\ \n unescaped)
/// lname     = [a-zA-Z_] [a-zA-Z0-9_]*
/// value     = Go float: digits, ".", exponent, or NaN | +Inf | -Inf
/// timestamp = ["-"] digits                               (milliseconds since the epoch)
/// ```
pub fn parse(line: &str, _ctx: &ParseContext) -> Result<Record, ParseError> {
    let line = line.trim();
    if line.starts_with('#') {
        return Ok(Record {
            format: Format::Metric,
            ..Default::default()
        });
    }
    let (_, (name, labels, value, ts)) =
        all_consuming(sample)(line).map_err(|_| ParseError::NotThisFormat)?;
    let sample = MetricSample {
        name: name.to_string(),
        labels,
        value,
    };
    Ok(Record {
        ts,
        format: Format::Metric,
        controller: controller_of(&sample).map(str::to_string),
        pod: sample.label(label::POD).map(str::to_string),
        object: object_of(&sample),
        msg: render(&sample),
        detail: Detail::Metric(sample),
        ..Default::default()
    })
}

type Sample<'a> = (&'a str, Vec<(String, String)>, f64, Option<TsMs>);

fn sample(i: &str) -> IResult<&str, Sample<'_>> {
    let (i, name) = metric_name(i)?;
    let (i, labels) = match opt(labels)(i)? {
        (i, Some(l)) => (space0(i)?.0, l),
        (i, None) => (space1(i)?.0, Vec::new()),
    };
    let (i, value) = value(i)?;
    let (i, ts) = opt(preceded(space1, timestamp))(i)?;
    let (i, _) = space0(i)?;
    Ok((i, (name, labels, value, ts.flatten())))
}

/// A metric name. One ending in `:` is refused: legal, but never exported, and it
/// would claim prose such as `retries: 3`.
fn metric_name(i: &str) -> IResult<&str, &str> {
    verify(
        recognize(pair(
            take_while1(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':'),
            take_while(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        )),
        |n: &str| !n.ends_with(':'),
    )(i)
}

fn label_name(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        take_while1(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))(i)
}

fn labels(i: &str) -> IResult<&str, Vec<(String, String)>> {
    delimited(
        pair(char('{'), space0),
        terminated(
            separated_list0(tuple((space0, char(','), space0)), label),
            opt(pair(space0, char(','))),
        ),
        pair(space0, char('}')),
    )(i)
}

fn label(i: &str) -> IResult<&str, (String, String)> {
    let (i, (name, _, _, _, value)) =
        tuple((label_name, space0, char('='), space0, label_value))(i)?;
    Ok((i, (name.to_string(), value)))
}

/// A double-quoted label value; `\"`, `\\` and `\n` are unescaped, any other escape is
/// kept as written.
fn label_value(i: &str) -> IResult<&str, String> {
    let (mut rest, _) = char('"')(i)?;
    let mut out = String::new();
    loop {
        let mut chars = rest.chars();
        match chars.next() {
            Some('"') => return Ok((chars.as_str(), out)),
            Some('\\') => {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(c @ ('"' | '\\')) => out.push(c),
                    Some(c) => {
                        out.push('\\');
                        out.push(c);
                    }
                    None => break,
                }
                rest = chars.as_str();
            }
            Some(c) => {
                out.push(c);
                rest = chars.as_str();
            }
            None => break,
        }
    }
    Err(nom::Err::Error(nom::error::Error::new(
        rest,
        nom::error::ErrorKind::Char,
    )))
}

/// A float as Go's `strconv.FormatFloat` writes it, or `NaN`, `+Inf`, `-Inf`.
fn value(i: &str) -> IResult<&str, f64> {
    let (rest, text) =
        take_while1(|c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))(i)?;
    let special = match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => None,
    };
    // Rust would also take `inf`, `nan`, `infinity` in any case; the exposition format
    // spells them one way, and anything else is more likely a word than a sample.
    let numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-' | b'e' | b'E'))
        && text.bytes().any(|b| b.is_ascii_digit());
    match special.or_else(|| numeric.then(|| text.parse().ok()).flatten()) {
        Some(v) => Ok((rest, v)),
        None => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Float,
        ))),
    }
}

/// Milliseconds since the epoch; `None` when out of range (the sample still parses).
fn timestamp(i: &str) -> IResult<&str, Option<TsMs>> {
    let (rest, text) = recognize(pair(opt(tag("-")), digit1))(i)?;
    let ms = text
        .parse::<i64>()
        .ok()
        .filter(|ms| (0..=MAX_TS_MS).contains(ms));
    Ok((rest, ms))
}

/// Which controller a series is about: its `pod`, the controller-runtime `controller`
/// label (a lower-case kind), a workqueue's `name`, a Flux metric's `kind`, then
/// `job`/`app`/`container`.
fn controller_of(s: &MetricSample) -> Option<&'static str> {
    let by_kind_or_name = |v: &str| controller_for_kind(v).or_else(|| known_controller(v));
    s.label(label::POD)
        .and_then(controller_from_pod)
        .or_else(|| s.label(label::CONTROLLER).and_then(by_kind_or_name))
        .or_else(|| {
            s.name
                .starts_with("workqueue_")
                .then(|| s.label(label::NAME).and_then(by_kind_or_name))
                .flatten()
        })
        .or_else(|| {
            s.name
                .starts_with("gotk_")
                .then(|| s.label(label::KIND).and_then(controller_for_kind))
                .flatten()
        })
        .or_else(|| {
            label::FALLBACKS.iter().find_map(|k| {
                let v = s.label(k).filter(|v| *v != "manager")?;
                // `job` is often `<namespace>/<podmonitor>`; the last segment names it.
                let last = v.rsplit('/').next().unwrap_or(v);
                known_controller(last).or_else(|| controller_from_pod(last))
            })
        })
}

/// The Flux object of a `gotk_*` series (`kind`, `name`, object `namespace`, which
/// Prometheus relabels to `exported_namespace`), or of kube-state-metrics'
/// `gotk_resource_info`.
fn object_of(s: &MetricSample) -> Option<ObjectRef> {
    if !s.name.starts_with("gotk_") {
        return None;
    }
    let kind = s
        .label(label::KIND)
        .or_else(|| s.label(label::CUSTOMRESOURCE_KIND))?;
    let name = s.label(label::NAME)?;
    let namespace = s
        .label(label::EXPORTED_NAMESPACE)
        .or_else(|| s.label(label::NAMESPACE))
        .unwrap_or_default();
    Some(ObjectRef::new(kind, namespace, name))
}

/// `name{k="v",…} value`, cut at [`MAX_MSG_BYTES`].
fn render(s: &MetricSample) -> String {
    let mut out = s.name.clone();
    if !s.labels.is_empty() {
        let labels: Vec<String> = s
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        out.push('{');
        out.push_str(&labels.join(","));
        out.push('}');
    }
    out.push(' ');
    out.push_str(&render_value(s.value));
    if out.len() > MAX_MSG_BYTES {
        let mut cut = MAX_MSG_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

fn render_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Record, ParseError> {
        parse(line, &ParseContext::default())
    }

    #[test]
    fn placeholder() {
        assert!(p("up 1").is_ok());
    }
}
