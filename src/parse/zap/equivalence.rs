//! Differential test: the one zap parser against the two paths it replaced (`old`), on
//! generated lines of all five layouts since 2020 and on every JSON line of the committed
//! fixtures (tests/golden, tests/fixtures, tests/real_world, samples/).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::Value;

use super::old;
use crate::parse::{json_depth_exceeds, ParseContext, ParseError, MAX_JSON_DEPTH};
use crate::record::Record;

/// The JSON-line dispatch as it is now.
fn new_line(line: &str) -> Result<Vec<Record>, ParseError> {
    crate::parse::parse_json_line(line, &ParseContext::default())
}

/// The JSON-line dispatch as it was (same depth guard in front).
fn old_line(line: &str) -> Result<Vec<Record>, ParseError> {
    if json_depth_exceeds(line.as_bytes(), MAX_JSON_DEPTH) {
        return Err(ParseError::Malformed("json nesting too deep"));
    }
    old::parse_json_line(line, &ParseContext::default())
}

/// Both dispatches agree, and so do the `Value`-tree entries (console's trailing JSON
/// goes through `from_json`, logfmt and klog through `push` with string values).
fn same(line: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(new_line(line), old_line(line), "line: {}", line);
    if json_depth_exceeds(line.as_bytes(), MAX_JSON_DEPTH) {
        return Ok(());
    }
    if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) {
        let ctx = ParseContext::default();
        prop_assert_eq!(
            super::from_json(&obj, &ctx),
            old::from_json(&obj, &ctx),
            "from_json: {}",
            line
        );
        let (mut new, mut was) = (super::LogFields::default(), super::LogFields::default());
        for (k, v) in &obj {
            let s = Value::String(v.as_str().map_or_else(|| v.to_string(), str::to_string));
            new.push(k, &s);
            was.old_push(k, &s);
        }
        let fmt = crate::record::Format::Logfmt;
        prop_assert_eq!(new.finish(fmt), was.finish(fmt), "pairs: {}", line);
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn one_parser_matches_both_old_paths(line in zap_line()) {
        same(&line)?;
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

/// Per fixture file: how many JSON candidates it holds and the digest of what
/// [`parse_line`](super::parse_line) makes of them, blessed from the two paths the one
/// parser replaced. `FLUXSIGHT_BLESS=1` rewrites it after a deliberate change.
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
fn digest_text(parse: impl Fn(&str) -> Result<super::Line, ParseError>) -> String {
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
fn one_parser_matches_both_old_paths_on_fixtures() {
    let mut checked = 0usize;
    for (path, cands) in fixture_candidates() {
        for c in cands {
            if let Err(e) = same(&c) {
                panic!("{path}: {e}");
            }
            checked += 1;
        }
    }
    // the four trees hold thousands of JSON lines; a handful means they moved
    assert!(checked > 5000, "only {checked} fixture JSON lines found");
}

/// `parse_line` as the two old paths answered (fast path, then the `Value` path).
fn old_parse_line(line: &str) -> Result<super::Line, ParseError> {
    use super::Line;
    match old::parse(line) {
        Err(()) => Err(ParseError::Malformed("json")),
        Ok(old::Fast::Record(r)) => Ok(Line::Record(r)),
        Ok(old::Fast::NotLogLine) => Ok(Line::NotLogLine),
        Ok(old::Fast::Fallback) => {
            let v: Value = serde_json::from_str(line).expect("the fast path validated it");
            let Some(obj) = v.as_object() else {
                return Ok(Line::NotLogLine);
            };
            if super::K8S_KEYS.iter().any(|k| obj.contains_key(*k)) {
                return Ok(Line::MayBeKubernetes);
            }
            match old::from_json(obj, &ParseContext::default()) {
                Ok(r) => Ok(Line::Record(r)),
                Err(ParseError::NotThisFormat) => Ok(Line::NotLogLine),
                Err(e) => Err(e),
            }
        }
    }
}

#[test]
fn bless_digest_from_old_paths() {
    if std::env::var_os("BLESS_FROM_OLD").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DIGEST_FILE);
        std::fs::write(path, digest_text(old_parse_line)).expect("digest written");
    }
}

#[test]
fn fixtures_parse_as_blessed() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DIGEST_FILE);
    let now = digest_text(super::parse_line);
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
