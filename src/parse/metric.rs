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
    sequence::{delimited, pair, preceded, terminated},
    IResult, Parser,
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
    let (_, (name, labels, value, ts)) = all_consuming(sample)
        .parse(line)
        .map_err(|_| ParseError::NotThisFormat)?;
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
    let (i, labels) = match opt(labels).parse(i)? {
        (i, Some(l)) => (space0(i)?.0, l),
        (i, None) => (space1(i)?.0, Vec::new()),
    };
    let (i, value) = value(i)?;
    let (i, ts) = opt(preceded(space1, timestamp)).parse(i)?;
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
    )
    .parse(i)
}

fn label_name(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        take_while1(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))
    .parse(i)
}

fn labels(i: &str) -> IResult<&str, Vec<(String, String)>> {
    delimited(
        pair(char('{'), space0),
        terminated(
            separated_list0((space0, char(','), space0), label),
            opt(pair(space0, char(','))),
        ),
        pair(space0, char('}')),
    )
    .parse(i)
}

fn label(i: &str) -> IResult<&str, (String, String)> {
    let (i, (name, _, _, _, value)) =
        (label_name, space0, char('='), space0, label_value).parse(i)?;
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
    let (rest, text) = recognize(pair(opt(tag("-")), digit1)).parse(i)?;
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
        let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
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

    fn sample(r: &Record) -> &MetricSample {
        r.metric().expect("metric detail")
    }

    #[test]
    fn sample_with_labels_and_timestamp() {
        let r = p(r#"process_resident_memory_bytes{namespace="flux-system",pod="source-controller-7d9f8c6b5-x2x7k",container="manager"} 1.5e+08 1767268800000"#).unwrap();
        assert_eq!(r.format, Format::Metric);
        assert_eq!(r.ts, Some(1_767_268_800_000));
        assert_eq!(r.controller.as_deref(), Some("source-controller"));
        assert_eq!(r.pod.as_deref(), Some("source-controller-7d9f8c6b5-x2x7k"));
        let s = sample(&r);
        assert_eq!(s.name, "process_resident_memory_bytes");
        assert_eq!(s.value, 1.5e8);
        assert_eq!(s.label("container"), Some("manager"));
        assert_eq!(s.labels.len(), 3);
        assert_eq!(
            r.msg,
            r#"process_resident_memory_bytes{namespace="flux-system",pod="source-controller-7d9f8c6b5-x2x7k",container="manager"} 150000000"#
        );
        assert!(r.object.is_none());
        assert!(r.reason.is_none());
    }

    #[test]
    fn sample_without_labels_or_timestamp() {
        let r = p("go_goroutines 42").unwrap();
        assert_eq!(r.ts, None);
        assert_eq!(sample(&r).value, 42.0);
        assert!(sample(&r).labels.is_empty());
        assert_eq!(r.msg, "go_goroutines 42");
        let r = p("up{} 1 1762783200000  ").unwrap();
        assert_eq!(r.ts, Some(1_762_783_200_000));
        let r = p("namespace:rate5m:sum\t0.25").unwrap();
        assert_eq!(sample(&r).name, "namespace:rate5m:sum");
    }

    #[test]
    fn special_values() {
        assert!(sample(&p("x NaN").unwrap()).value.is_nan());
        assert_eq!(sample(&p("x +Inf").unwrap()).value, f64::INFINITY);
        assert_eq!(
            sample(&p("x -Inf 1762783200000").unwrap()).value,
            f64::NEG_INFINITY
        );
        assert_eq!(sample(&p("x -1.25e-3").unwrap()).value, -0.00125);
        assert_eq!(p("x{le=\"+Inf\"} +Inf").unwrap().msg, "x{le=\"+Inf\"} +Inf");
    }

    #[test]
    fn label_escapes_and_trailing_comma() {
        let r = p(r#"m{a="q\"uote",b="back\\slash",c="new\nline",d="odd\x",} 1"#).unwrap();
        let s = sample(&r);
        assert_eq!(s.label("a"), Some("q\"uote"));
        assert_eq!(s.label("b"), Some("back\\slash"));
        assert_eq!(s.label("c"), Some("new\nline"));
        assert_eq!(s.label("d"), Some("odd\\x"));
        let r = p(r#"m{ a = "1" , b="2" } 3"#).unwrap();
        assert_eq!(sample(&r).labels.len(), 2);
    }

    #[test]
    fn comments_are_metric_records_without_detail() {
        for line in [
            "# HELP workqueue_depth Current depth of workqueue",
            "# TYPE workqueue_depth gauge",
            "# EOF",
            "#",
        ] {
            let r = p(line).unwrap();
            assert_eq!(r.format, Format::Metric);
            assert!(r.msg.is_empty());
            assert_eq!(r.detail, Detail::None);
            assert!(r.reason.is_none());
        }
    }

    #[test]
    fn controller_from_labels() {
        let ctl = |l: &str| p(l).unwrap().controller;
        assert_eq!(
            ctl(r#"workqueue_depth{name="kustomization",controller="kustomization",pod="kustomize-controller-34110be0c-2cf8j"} 11 1762783200000"#).as_deref(),
            Some("kustomize-controller")
        );
        assert_eq!(
            ctl(
                r#"controller_runtime_reconcile_total{controller="gitrepository",result="error"} 7"#
            )
            .as_deref(),
            Some("source-controller")
        );
        assert_eq!(
            ctl(r#"controller_runtime_reconcile_errors_total{controller="helmrelease"} 2"#)
                .as_deref(),
            Some("helm-controller")
        );
        assert_eq!(
            ctl(r#"workqueue_adds_total{name="imageupdateautomation"} 3"#).as_deref(),
            Some("image-automation-controller")
        );
        assert_eq!(
            ctl(r#"rest_client_requests_total{code="429",method="GET",host="10.96.0.1:443",job="flux-system/notification-controller"} 5"#).as_deref(),
            Some("notification-controller")
        );
        assert_eq!(
            ctl(r#"go_goroutines{app="image-reflector-controller",container="manager"} 80"#)
                .as_deref(),
            Some("image-reflector-controller")
        );
        assert_eq!(ctl(r#"go_goroutines{container="manager"} 80"#), None);
        assert_eq!(ctl(r#"up{job="node-exporter"} 1"#), None);
    }

    #[test]
    fn gotk_series_name_their_object() {
        let r = p(r#"gotk_reconcile_duration_seconds_bucket{kind="Kustomization",name="apps",namespace="flux-system",exported_namespace="tenant-a",le="0.5"} 12 1762783200000"#).unwrap();
        assert_eq!(
            r.object,
            Some(ObjectRef::new("Kustomization", "tenant-a", "apps"))
        );
        assert_eq!(r.controller.as_deref(), Some("kustomize-controller"));
        let r = p(r#"gotk_reconcile_duration_seconds_sum{kind="GitRepository",name="podinfo",namespace="default"} 3.5"#).unwrap();
        assert_eq!(
            r.object,
            Some(ObjectRef::new("GitRepository", "default", "podinfo"))
        );
        assert_eq!(r.controller.as_deref(), Some("source-controller"));
        let r = p(r#"gotk_resource_info{customresource_kind="HelmRelease",name="web",exported_namespace="prod",ready="False"} 1"#).unwrap();
        assert_eq!(r.object, Some(ObjectRef::new("HelmRelease", "prod", "web")));
        // Non-gotk series carry no object even with a `name` label.
        assert!(p(r#"workqueue_depth{name="kustomization"} 1"#)
            .unwrap()
            .object
            .is_none());
    }

    #[test]
    fn refuses_text() {
        for line in [
            "error: something happened 42",
            "retries: 3",
            "Reconciliation finished in 1.25s, next run in 10m0s",
            "took 5s",
            "hello world",
            "go_goroutines",
            "go_goroutines 42 1762783200000 extra",
            "go_goroutines{a=\"1\"}",
            "m{a=\"unterminated} 1",
            "m{a=1} 1",
            "m {a=\"1\"} 1",
            "1abc 2",
            "x nan",
            "x inf",
            "x infinity",
            "level=info msg=\"x\"",
            "I0720 17:12:45.512169       1 leaderelection.go:243] attempting",
            "",
            "{\"a\":1}",
        ] {
            assert_eq!(p(line).unwrap_err(), ParseError::NotThisFormat, "{line:?}");
        }
    }

    #[test]
    fn odd_timestamps_keep_the_sample() {
        let r = p("x 1 -5").unwrap();
        assert_eq!(r.ts, None);
        let r = p("x 1 99999999999999999999999").unwrap();
        assert_eq!(r.ts, None);
        assert_eq!(sample(&r).value, 1.0);
    }

    #[test]
    fn long_label_sets_are_cut() {
        let long = "v".repeat(2000);
        let r = p(&format!("m{{a=\"{long}\",b=\"é\"}} 1")).unwrap();
        assert!(r.msg.len() <= MAX_MSG_BYTES + '…'.len_utf8());
        assert_eq!(sample(&r).label("a").map(str::len), Some(2000));
    }

    #[test]
    fn never_panics_on_fragments() {
        let base = r#"m{a="x\"y",b="\\"} 1.5e+08 1762783200000"#;
        for end in 0..=base.len() {
            if base.is_char_boundary(end) {
                let _ = p(&base[..end]);
            }
        }
        for junk in [
            "{", "}", "\"", "\\", "m{", "m{a", "m{a=", "m{a=\"", "m{a=\"\\", "m 1e", "m --1",
            "m ++1", "m 1.2.3",
        ] {
            let _ = p(junk);
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(line in "\\PC{0,200}") {
            let _ = p(&line);
        }

        #[test]
        fn metric_shaped_text_never_panics(
            name in "[a-z_:]{1,12}",
            body in "[a-z=\",{}\\ .0-9eE+-]{0,40}",
        ) {
            let _ = p(&format!("{name}{body}"));
            let _ = p(&format!("{name}{{{body}"));
        }
    }
}
