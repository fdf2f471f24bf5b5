//! The one zap parser on generated lines of all five layouts since 2020 (what each layout
//! says reaches the record; the JSON-line and `Value`-tree ways in agree, odd and
//! malformed lines included) and on every JSON line of the committed fixture inputs
//! (tests/golden, tests/fixtures, tests/real_world, samples/), against `fixtures.digest`,
//! first blessed from the two paths this parser replaced (`zap/fast.rs` and the `Value`
//! path) after a differential test showed them equal to it.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::Value;

use super::{from_json, parse_line, Line};
use crate::parse::message::controller_for_kind;
use crate::parse::time::format_rfc3339_ms;
use crate::parse::{json_depth_exceeds, ParseContext, ParseError, MAX_JSON_DEPTH};
use crate::record::Level;

/// The line way in agrees with the `Value`-tree way in, which the dispatch takes for
/// documents that may be Kubernetes ones and console, logfmt and klog take always.
fn ways_in_agree(line: &str) -> Result<(), TestCaseError> {
    if json_depth_exceeds(line.as_bytes(), MAX_JSON_DEPTH) {
        return Ok(());
    }
    let got = parse_line(line);
    match serde_json::from_str::<Value>(line) {
        Err(_) => prop_assert!(
            matches!(got, Err(ParseError::Malformed(_))),
            "malformed {line}: {got:?}"
        ),
        Ok(Value::Object(obj)) => match got {
            Ok(Line::MayBeKubernetes) => {
                prop_assert!(
                    super::K8S_KEYS.iter().any(|k| obj.contains_key(*k)),
                    "{line}"
                )
            }
            Ok(Line::Record(r)) => prop_assert_eq!(
                Ok(r),
                from_json(&obj, &ParseContext::default()),
                "line: {}",
                line
            ),
            Ok(Line::NotLogLine) => prop_assert_eq!(
                from_json(&obj, &ParseContext::default()),
                Err(ParseError::NotThisFormat)
            ),
            Err(e) => prop_assert!(false, "valid JSON refused: {e:?} {line}"),
        },
        Ok(_) => prop_assert!(matches!(got, Ok(Line::NotLogLine)), "{line}: {got:?}"),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// generated lines

/// (Kind, controller key, API group) of the kinds the layouts name, plus one unknown.
const KINDS: &[(&str, &str, &str)] = &[
    ("GitRepository", "gitrepository", "source.toolkit.fluxcd.io"),
    ("OCIRepository", "ocirepository", "source.toolkit.fluxcd.io"),
    ("HelmChart", "helmchart", "source.toolkit.fluxcd.io"),
    ("Bucket", "bucket", "source.toolkit.fluxcd.io"),
    (
        "Kustomization",
        "kustomization",
        "kustomize.toolkit.fluxcd.io",
    ),
    ("HelmRelease", "helmrelease", "helm.toolkit.fluxcd.io"),
    (
        "ImageRepository",
        "imagerepository",
        "image.toolkit.fluxcd.io",
    ),
    ("Alert", "alert", "notification.toolkit.fluxcd.io"),
    ("Widget", "widget", "example.com"),
];

/// The inside of a JSON string literal: plain text and every escape form, now and then a
/// lone surrogate (malformed: both paths must refuse it alike).
fn text() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        8 => "[a-zA-Z0-9 ./:_@-]{0,12}",
        1 => Just(r#"\""#.to_string()),
        1 => Just(r"\\".to_string()),
        1 => Just(r"\n".to_string()),
        1 => Just(r"\u00e9".to_string()),
        1 => Just(r"\ud83d\ude00".to_string()),
        1 => Just("é ü".to_string()),
        1 => Just(r"\/".to_string()),
        1 => prop_oneof![Just(r"\ud800"), Just(r"\udc00"), Just("\u{1}")].prop_map(String::from),
    ];
    prop::collection::vec(seg, 0..4).prop_map(|v| v.concat())
}

fn lit(s: &str) -> String {
    format!("\"{s}\"")
}

fn ts() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(lit("2026-08-01T10:00:00.123Z")),
        Just(lit("2020-07-09T13:40:00.000+0300")),
        Just(lit("2025-11-10T17:00:00.123+03:00")),
        Just(lit("1762783200.123")),
        Just("1594302000.1234".to_string()),
        Just("1594302000".to_string()),
        Just(lit("not a time")),
        Just("true".to_string()),
        Just("-5e400".to_string()),
    ]
}

fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("info"),
        Just("error"),
        Just("debug"),
        Just("warn"),
        Just("Level(-2)"),
        Just("bogus"),
    ]
    .prop_map(lit)
}

/// Any JSON value, the odd ones included.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => text().prop_map(|s| lit(&s)),
        1 => Just("null".to_string()),
        1 => any::<bool>().prop_map(|b| b.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => Just("18446744073709551615".to_string()),
        1 => Just("123456789012345678901234567890".to_string()),
        1 => Just("1e999".to_string()),
        1 => Just("-0.0".to_string()),
        1 => Just("2.50".to_string()),
        1 => Just(r#"[1,"a",{"b":[]}]"#.to_string()),
        1 => (text(), text()).prop_map(|(n, ns)| format!(r#"{{"name":"{n}","namespace":"{ns}"}}"#)),
        1 => Just(r#"{"name":7,"deep":{"x":[1,{"y":"z"}]}}"#.to_string()),
    ]
}

/// An `error`/`err` value: message, event reason token, all-caps, null, compound.
fn error_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => text().prop_map(|s| lit(&s)),
        1 => Just(lit("GitOperationFailed")),
        1 => Just(lit("EOF")),
        1 => Just(lit("")),
        1 => Just("null".to_string()),
        1 => Just("false".to_string()),
        1 => Just("42".to_string()),
        1 => Just(r#"{"b":[1,2],"a":"x\u00e9","a":"y"}"#.to_string()),
        1 => Just(r#"[1,"two",{"z":null}]"#.to_string()),
    ]
}

/// An `output` change set: per-object actions or grouped lists.
fn output_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"Deployment/apps/podinfo":"configured","Service/apps/podinfo":"unchanged","Namespace/apps":"created"}"#.to_string()),
        Just(r#"{"configured":["Deployment/apps/b","Deployment/apps/a",3],"deleted":["ConfigMap/apps/c"],"configured":["Deployment/apps/z"]}"#.to_string()),
        Just(r#"{"b/x":"created","a/x":"deleted","a/x":"created"}"#.to_string()),
        Just(r#""not an object""#.to_string()),
    ]
}

/// The keys of one of the five layouts (catalog §1.3) for `kind` `ns`/`name`.
fn layout(which: u8, kind: (&str, &str, &str), ns: &str, name: &str) -> Vec<(String, String)> {
    let (k, ctl, group) = kind;
    let mut camel = k.to_string();
    camel[..1].make_ascii_lowercase();
    let obj = format!(r#"{{"name":"{name}","namespace":"{ns}"}}"#);
    let kv = |a: &str, b: String| (a.to_string(), b);
    match which {
        // (a) 2020: `controllers.<Kind>` or controller-runtime + `request`
        0 => vec![
            kv("logger", lit(&format!("controllers.{k}"))),
            kv("request", lit(&format!("{ns}/{name}"))),
        ],
        1 => vec![
            kv("logger", lit("controller-runtime.controller")),
            kv("controller", lit(ctl)),
            kv("request", lit(&format!("{ns}/{name}"))),
        ],
        // (b) late 2020
        2 => vec![
            kv("logger", lit("controller")),
            kv("controller", lit(ctl)),
            kv("reconcilerGroup", lit(group)),
            kv("reconcilerKind", lit(k)),
            kv("name", lit(name)),
            kv("namespace", lit(ns)),
        ],
        // (c) 2021–22, key with a space
        3 => vec![
            kv("logger", lit(&format!("controller.{ctl}"))),
            kv("reconciler group", lit(group)),
            kv("reconciler kind", lit(k)),
            kv("name", lit(name)),
            kv("namespace", lit(ns)),
        ],
        // (d) v0.34 lower-camel kind key
        4 => vec![
            kv("controller", lit(ctl)),
            kv("controllerGroup", lit(group)),
            kv("controllerKind", lit(k)),
            kv(&camel, obj),
            kv("namespace", lit(ns)),
            kv("name", lit(name)),
        ],
        // (e) current
        _ => vec![
            kv("controller", lit(ctl)),
            kv("controllerGroup", lit(group)),
            kv("controllerKind", lit(k)),
            kv(k, obj),
            kv("reconcileID", lit("3f6c0d8e-1111-4a4a-9b9b-222233334444")),
        ],
    }
}

/// Keys every layout may carry besides its object keys, the special ones included.
const EXTRA_KEYS: &[&str] = &[
    "msg",
    "message",
    "level",
    "lvl",
    "ts",
    "time",
    "t",
    "timestamp",
    "logger",
    "controller",
    "controllerKind",
    "reconcilerKind",
    "name",
    "namespace",
    "request",
    "reconcileID",
    "revision",
    "reason",
    "duration",
    "stacktrace",
    "caller",
    "source",
    "kind",
    "GitRepository",
    "eventInvolvedObject",
    "apiVersion",
    "object",
    "involvedObject",
    "k\\u0065y",
    "api\\u0056ersion",
    "",
];

prop_compose! {
    fn zap_line()(
        which in 0u8..6,
        kind in prop::sample::select(KINDS),
        ns in text(),
        name in text(),
        lvl in level(),
        when in ts(),
        msg in text(),
        err in prop::option::of((prop::sample::select(&["error", "err"][..]), error_value())),
        dur in prop::option::of(prop_oneof![
            Just("30".to_string()), Just(lit("1.5s")), Just("-1".to_string()), Just(lit("bogus"))]),
        out in prop::option::of(output_value()),
        extra in prop::collection::vec((prop::sample::select(EXTRA_KEYS), value()), 0..4),
        drop_head in 0usize..4,
        shuffle in any::<bool>(),
        cut in prop::option::of(any::<prop::sample::Index>()),
        tail in prop_oneof![8 => Just(""), 1 => Just("  "), 1 => Just(" trailing"), 1 => Just(",")],
    ) -> String {
        let mut kvs = vec![
            ("level".to_string(), lvl),
            ("ts".to_string(), when),
            ("msg".to_string(), lit(&msg)),
        ];
        // now and then none of msg/level/ts, or only some: not a log line
        let head = drop_head.min(kvs.len());
        kvs.drain(..head);
        kvs.extend(layout(which, kind, &ns, &name));
        if let Some((k, v)) = err {
            kvs.push((k.to_string(), v));
        }
        if let Some(d) = dur {
            kvs.push(("duration".to_string(), d));
        }
        if let Some(o) = out {
            kvs.push(("output".to_string(), o));
        }
        kvs.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
        if shuffle {
            kvs.reverse();
            let third = kvs.len() / 3;
            kvs.rotate_left(third);
        }
        let body: Vec<String> = kvs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let mut line = format!("{{{}}}{tail}", body.join(","));
        if let Some(at) = cut {
            let at = at.index(line.len());
            if line.is_char_boundary(at) {
                line.truncate(at);
            }
        }
        line
    }
}

/// Flux kinds the model checks: each names its controller.
const FLUX_KINDS: &[&str] = &[
    "GitRepository",
    "OCIRepository",
    "HelmChart",
    "Bucket",
    "Kustomization",
    "HelmRelease",
    "ImageRepository",
    "Alert",
];

/// What a generated layout line says, as the record must show it.
#[derive(Debug, Clone)]
struct Said {
    line: String,
    object: String,
    controller: &'static str,
    level: Level,
    ts: &'static str,
    msg: String,
    /// (error, reason) from the `error` key.
    error: (Option<String>, Option<String>),
    caller: Option<String>,
}

/// (JSON value, record time) of the timestamp forms of zap's encoders.
const TIMES: &[(&str, &str)] = &[
    (r#""2026-08-01T10:00:00.123Z""#, "2026-08-01T10:00:00.123Z"),
    (
        r#""2020-07-09T13:40:00.000+0300""#,
        "2020-07-09T10:40:00.000Z",
    ),
    (
        r#""2025-11-10T17:00:00.123+03:00""#,
        "2025-11-10T14:00:00.123Z",
    ),
    ("1594302000.1234", "2020-07-09T13:40:00.123Z"),
];

const LEVELS: &[(&str, Level)] = &[
    ("info", Level::Info),
    ("error", Level::Error),
    ("debug", Level::Debug),
    ("Level(-2)", Level::Trace),
];

prop_compose! {
    fn layout_line()(
        which in 0u8..6,
        kind in prop::sample::select(FLUX_KINDS),
        ns in "[a-z][a-z0-9-]{0,11}",
        name in "[a-z][a-z0-9.-]{0,15}",
        (lvl, level) in prop::sample::select(LEVELS),
        (when, ts) in prop::sample::select(TIMES),
        msg in "[A-Za-z][A-Za-z0-9 ,.:'/-]{0,40}",
        err in 0u8..4,
        caller in prop::option::of("[a-z]{1,8}\\.go:[0-9]{1,4}"),
        rotate in 0usize..12,
    ) -> Said {
        let mut camel = kind.to_string();
        camel[..1].make_ascii_lowercase();
        let ctl = kind.to_ascii_lowercase();
        let mut kvs = vec![
            ("level".to_string(), lit(lvl)),
            ("ts".to_string(), when.to_string()),
            ("msg".to_string(), lit(&msg)),
        ];
        kvs.extend(layout(which, (kind, &ctl, "toolkit.fluxcd.io"), &ns, &name));
        let error = match err {
            0 => (None, None),
            1 => {
                kvs.push(("error".into(), lit("unable to clone: EOF")));
                (Some("unable to clone: EOF".to_string()), None)
            }
            2 => {
                kvs.push(("error".into(), lit("GitOperationFailed")));
                (None, Some("GitOperationFailed".to_string()))
            }
            _ => {
                kvs.push(("error".into(), r#"{"op":"get","codes":[1,2]}"#.to_string()));
                (Some(r#"{"codes":[1,2],"op":"get"}"#.to_string()), None)
            }
        };
        if let Some(c) = &caller {
            kvs.push(("caller".into(), lit(c)));
        }
        // key order carries no meaning
        let at = rotate % kvs.len();
        kvs.rotate_left(at);
        let body: Vec<String> = kvs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        Said {
            line: format!("{{{}}}", body.join(",")),
            object: format!("{kind}/{ns}/{name}"),
            controller: controller_for_kind(kind).expect("a Flux kind"),
            level,
            ts,
            msg,
            error,
            caller,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_layout_reaches_the_record(said in layout_line()) {
        let Ok(Line::Record(r)) = parse_line(&said.line) else {
            return Err(TestCaseError::fail(format!("no record: {}", said.line)));
        };
        let line = &said.line;
        prop_assert_eq!(r.object.as_ref().map(|o| o.to_string()), Some(said.object), "{}", line);
        prop_assert_eq!(r.controller.as_deref(), Some(said.controller), "{}", line);
        prop_assert_eq!(r.level, Some(said.level), "{}", line);
        let ts = r.ts.map(format_rfc3339_ms);
        prop_assert_eq!(ts.as_deref(), Some(said.ts), "{}", line);
        prop_assert_eq!(&r.msg, &said.msg, "{}", line);
        prop_assert_eq!((r.error.clone(), r.reason.clone()), said.error, "{}", line);
        prop_assert_eq!(r.field("caller"), said.caller.as_deref(), "{}", line);
        ways_in_agree(line)?;
    }

    #[test]
    fn line_and_value_ways_in_agree(line in zap_line()) {
        ways_in_agree(&line)?;
    }
}

// ---------------------------------------------------------------------------------------
// committed fixtures

/// Fixture trees, relative to the crate root.
const FIXTURE_DIRS: [&str; 4] = [
    "tests/golden",
    "tests/fixtures",
    "tests/real_world",
    "samples",
];

/// Per fixture input file: how many JSON candidates it holds and the digest of what
/// [`parse_line`] makes of them; first blessed from the two paths the one parser replaced.
/// `FLUXSIGHT_BLESS=1` rewrites it after a deliberate change.
const DIGEST_FILE: &str = "src/parse/zap/fixtures.digest";

/// The environment variable that regenerates every golden file of the crate.
const BLESS_ENV: &str = "FLUXSIGHT_BLESS";

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The JSON candidates of one fixture line: the line itself, the text from each `{`
/// (envelope prefixes: CRI, `kubectl logs --prefix`, console), and a docker `log` value.
fn candidates(line: &str) -> Vec<String> {
    let mut out = vec![line.trim().to_string()];
    out.extend(
        line.match_indices('{')
            .map(|(i, _)| line[i..].trim().to_string()),
    );
    if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(line.trim()) {
        if let Some(inner) = m.get("log").and_then(Value::as_str) {
            out.push(inner.trim().to_string());
        }
    }
    out
}

/// Every fixture file (path relative to the crate root, sorted) with its JSON candidates.
fn fixture_candidates() -> Vec<(String, Vec<String>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for d in FIXTURE_DIRS {
        files(&root.join(d), &mut all);
    }
    all.sort();
    all.iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let cands: Vec<String> = text
                .lines()
                .filter(|l| l.contains('{'))
                .flat_map(candidates)
                .collect();
            let rel = path.strip_prefix(root).unwrap_or(path);
            (!cands.is_empty()).then(|| (rel.display().to_string(), cands))
        })
        .collect()
}

/// Inputs only: outputs (golden expectations, chat payloads) change with the renderers and
/// would tie this digest to them.
fn is_input(path: &str) -> bool {
    path.ends_with(".log") || path.ends_with(".cases") || path.starts_with("samples/")
}

/// FNV-1a, 64 bits: stable across Rust releases, unlike `DefaultHasher`.
fn fnv1a(acc: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(acc, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The digest file's text: `<candidates> <digest> <path>` per fixture file.
fn digest_text(parse: impl Fn(&str) -> Result<Line, ParseError>) -> String {
    let mut out = String::from(
        "# zap::parse_line over every JSON candidate of the fixture trees: count, FNV-1a of the\n\
         # Debug rendering of each result, path. Written by FLUXSIGHT_BLESS=1 cargo test --lib zap\n",
    );
    for (path, cands) in fixture_candidates()
        .into_iter()
        .filter(|(p, _)| is_input(p))
    {
        let digest = cands.iter().fold(FNV_OFFSET, |h, c| {
            fnv1a(h, format!("{:?}\n", parse(c)).as_bytes())
        });
        out.push_str(&format!("{} {digest:016x} {path}\n", cands.len()));
    }
    out
}

#[test]
fn fixture_lines_ways_in_agree() {
    let mut checked = 0usize;
    for (path, cands) in fixture_candidates() {
        for c in cands {
            if let Err(e) = ways_in_agree(&c) {
                panic!("{path}: {e}");
            }
            checked += 1;
        }
    }
    // the four trees hold thousands of JSON lines; a handful means they moved
    assert!(checked > 5000, "only {checked} fixture JSON lines found");
}

#[test]
fn fixtures_parse_as_blessed() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DIGEST_FILE);
    let now = digest_text(parse_line);
    if std::env::var_os(BLESS_ENV).is_some() {
        std::fs::write(&path, &now).expect("digest written");
        return;
    }
    let blessed = std::fs::read_to_string(&path).expect("fixtures.digest is committed");
    let rows = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    let (want, got) = (rows(&blessed), rows(&now));
    let differ: Vec<&String> = got.iter().filter(|r| !want.contains(r)).collect();
    let gone: Vec<&String> = want.iter().filter(|r| !got.contains(r)).collect();
    assert!(
        differ.is_empty() && gone.is_empty(),
        "zap records of fixture files changed (rerun with {BLESS_ENV}=1 after a deliberate change):\n now: {differ:#?}\n blessed: {gone:#?}"
    );
    assert!(
        got.len() > 50,
        "only {} fixture files with JSON lines",
        got.len()
    );
}
