//! Log-store exports: controller lines as they come back out of the store the cluster
//! ships them to. Each form is one more envelope layer for [`super::envelope::strip`]:
//! the inner line is handed on (and may itself be wrapped: a CRI line in a
//! `textPayload`, a Container Insights document in a CloudWatch `@message`), and the
//! export's labels give the pod, its namespace and container, and the time.
//!
//! Owns: recognising each export form and mapping its labels. Does not own: parsing the
//! inner line, or pretty-printed multi-line exports (one JSON object or one text row per
//! input line only).
//!
//! Invariant: cheap refusal. A JSON line is parsed into a `Value` only when it contains
//! one of the distinctive keys in [`KEYS`] (a memmem scan per key), so an ordinary zap
//! line is still parsed once, by the zap parser. Nothing here fails a line: an
//! unrecognised shape is `None` and the line goes on unchanged.
//!
//! Grammar (one line each; `…` = other keys, in any order):
//! ```text
//! cloud_logging = '{' … ("jsonPayload": object | "textPayload": string)
//!                   [ "resource": {"labels": {namespace_name, pod_name, container_name}} ]
//!                   [ "timestamp": rfc3339 ] [ "labels": {"k8s-pod/app": …} ] … '}'
//! loki_text     = rfc3339 ' ' '{' [label {',' ' '* label}] '}' ' '+ line      -- logcli
//! label         = ident '=' go_quoted_string
//! loki_json     = '{' "labels": {namespace, pod, container, …}, "line": string
//!                   [ "timestamp": rfc3339 | epoch_ns_string ] … '}'         -- logcli jsonl
//! elasticsearch = '{' … "_source": document … '}'  |  document
//! document      = '{' … ("log" | "message"): string,
//!                   "kubernetes": ( {namespace_name, pod_name, container_name}     -- Fluent Bit
//!                                 | {namespace, pod: {name}, container: {name}} )  -- Filebeat/ECS
//!                   [ "@timestamp" | "time" ] … '}'
//! cloudwatch    = '{' … "@message": (string | object) [ "@timestamp" ]
//!                   [ "@logStream": … "containers." pod '_' ns '_' container '-' id ".log" ] … '}'
//! cloudwatch_row = cw_ts (',' | '\t') message [(',' | '\t') log_stream …]   -- CSV/TSV download
//! cw_ts         = YYYY-MM-DD ' ' hh:mm:ss.mmm                          -- UTC, fixed width
//! datadog       = '{' … "message": string, ("tags": (["k:v", …] | "k:v,k:v") | "attributes": object)
//!                   [ "timestamp" | "date" ] … '}'      -- no zap "msg" key
//!               | '{' … "attributes": datadog … '}'     -- logs API v2 event
//! tags          = kube_namespace | pod_name | kube_container_name (| container_name)
//! ```
//! A Datadog `message` next to parsed zap `attributes` (`level`, `logger`, `controller`,
//! …) becomes a zap line again: the attributes plus `"msg": message`.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::envelope::{offset_of, rfc3339, Inner, Layer};
use super::time::{epoch_f64, parse_ts};
use crate::record::Envelope;

/// Keys one of which every JSON export form carries (quoted, so values rarely match).
const KEYS: [&str; 7] = [
    "\"jsonPayload\"",
    "\"textPayload\"",
    "\"_source\"",
    "\"kubernetes\"",
    "\"@message\"",
    "\"line\"",
    "\"attributes\"",
];
/// Datadog keeps the Kubernetes labels only in `tags`.
const KEY_TAGS: &str = "\"tags\"";

/// Zap keys that mark Datadog `attributes` as a parsed controller line.
const ZAP_KEYS: [&str; 5] = ["level", "logger", "controller", "controllerKind", "error"];

const DD_NAMESPACE: [&str; 2] = ["kube_namespace", "namespace"];
const DD_POD: [&str; 2] = ["pod_name", "kube_pod_name"];
const DD_CONTAINER: [&str; 2] = ["kube_container_name", "container_name"];

/// One SIMD substring finder per key. Every key starts with `"`, the commonest byte of
/// a JSON line, and several continue like common zap keys (`"l`, `"t`): an Aho-Corasick
/// scan verified a candidate at almost every key of every line (+16 % instructions on
/// `classify`), where memmem's rare-byte search skips through the line.
fn prefilter() -> &'static [memchr::memmem::Finder<'static>] {
    static FINDERS: OnceLock<Vec<memchr::memmem::Finder<'static>>> = OnceLock::new();
    FINDERS.get_or_init(|| {
        KEYS.iter()
            .copied()
            .chain([KEY_TAGS])
            .map(memchr::memmem::Finder::new)
            .collect()
    })
}

/// One JSON export entry per line, any form in the module grammar.
pub(super) fn json(line: &[u8]) -> Option<Layer> {
    if !prefilter().iter().any(|f| f.find(line).is_some()) {
        return None;
    }
    if super::json_depth_exceeds(line, super::MAX_JSON_DEPTH) {
        return None;
    }
    let v: Value = serde_json::from_slice(line).ok()?;
    let obj = v.as_object()?;
    cloud_logging(obj)
        .or_else(|| loki_json(obj))
        .or_else(|| cloudwatch(obj))
        .or_else(|| elasticsearch(obj))
        .or_else(|| datadog(obj))
}

/// The text of an inner line: a string without its trailing newline, or an object
/// re-serialised (a structured payload is the controller's JSON line).
fn inner_text(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.trim_end_matches(['\n', '\r']).as_bytes().to_vec()),
        Value::Object(_) => Some(v.to_string().into_bytes()),
        _ => None,
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn owned(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_owned)
}

fn ts_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::String(s) => parse_ts(s),
        Value::Number(n) => epoch_f64(n.as_f64()?),
        _ => None,
    }
}

fn layer(kind: Envelope, inner: &Value) -> Option<Layer> {
    Some(Layer::new(kind, Inner::Owned(inner_text(inner)?)))
}

fn cloud_logging(obj: &Map<String, Value>) -> Option<Layer> {
    let payload = obj.get("jsonPayload").or_else(|| obj.get("textPayload"))?;
    let mut l = layer(Envelope::CloudLogging, payload)?;
    let resource = obj.get("resource");
    let labels = |k| resource.and_then(|r| str_at(r, &["labels", k]));
    l.namespace = owned(labels("namespace_name"));
    l.pod = owned(labels("pod_name"));
    l.container = owned(labels("container_name"));
    l.ts = ts_of(obj.get("timestamp")).or_else(|| ts_of(obj.get("receiveTimestamp")));
    Some(l)
}

fn loki_json(obj: &Map<String, Value>) -> Option<Layer> {
    let labels = obj.get("labels")?.as_object()?;
    let mut l = layer(Envelope::Loki, obj.get("line")?)?;
    let label = |k: &str| owned(labels.get(k).and_then(Value::as_str));
    l.namespace = label("namespace");
    l.pod = label("pod");
    l.container = label("container");
    l.ts = ts_of(obj.get("timestamp"));
    Some(l)
}

fn cloudwatch(obj: &Map<String, Value>) -> Option<Layer> {
    let mut l = layer(Envelope::Cloudwatch, obj.get("@message")?)?;
    l.ts = ts_of(obj.get("@timestamp"));
    if let Some((pod, ns, container)) = obj
        .get("@logStream")
        .and_then(Value::as_str)
        .and_then(container_log_name)
    {
        (l.pod, l.namespace, l.container) = (Some(pod), Some(ns), Some(container));
    }
    Some(l)
}

/// `…containers.<pod>_<namespace>_<container>-<container id>.log`, the kubelet's log file
/// name that Fluent Bit and the CloudWatch agent use as the stream name.
fn container_log_name(stream: &str) -> Option<(String, String, String)> {
    let name = stream.rsplit("containers.").next()?;
    let name = name.strip_suffix(".log").unwrap_or(name);
    let mut parts = name.split('_');
    let (pod, ns, rest) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || pod.is_empty() || ns.is_empty() {
        return None;
    }
    let container = rest.rsplit_once('-').map_or(rest, |(c, _)| c);
    Some((pod.into(), ns.into(), container.into()))
}

fn elasticsearch(obj: &Map<String, Value>) -> Option<Layer> {
    let doc = match obj.get("_source") {
        Some(Value::Object(src)) => src,
        Some(_) => return None,
        None => obj,
    };
    let k8s = doc.get("kubernetes")?;
    // ECS documents have a `log` object (file, offset) beside the `message` text
    let text = doc
        .get("log")
        .filter(|v| v.is_string())
        .or_else(|| doc.get("message"))?;
    let mut l = layer(Envelope::Elasticsearch, text)?;
    l.namespace =
        owned(str_at(k8s, &["namespace_name"])).or_else(|| owned(str_at(k8s, &["namespace"])));
    l.pod = owned(str_at(k8s, &["pod_name"])).or_else(|| owned(str_at(k8s, &["pod", "name"])));
    l.container = owned(str_at(k8s, &["container_name"]))
        .or_else(|| owned(str_at(k8s, &["container", "name"])));
    l.ts = ts_of(doc.get("@timestamp")).or_else(|| ts_of(doc.get("time")));
    l.stream = owned(doc.get("stream").and_then(Value::as_str));
    Some(l)
}

fn datadog(obj: &Map<String, Value>) -> Option<Layer> {
    if obj.contains_key("msg") {
        return None;
    }
    let message = match obj.get("message") {
        Some(Value::String(m)) => m,
        // logs API v2: the event proper sits under `attributes`
        _ => return datadog(obj.get("attributes")?.as_object()?),
    };
    let tags = tags(obj.get("tags"));
    let attrs = obj.get("attributes").and_then(Value::as_object);
    if tags.is_empty() && attrs.is_none() {
        return None;
    }
    let inner = match attrs {
        Some(a) if !message.starts_with('{') && ZAP_KEYS.iter().any(|k| a.contains_key(*k)) => {
            let mut line = a.clone();
            line.insert("msg".into(), Value::String(message.clone()));
            Value::Object(line).to_string().into_bytes()
        }
        _ => message.trim_end_matches(['\n', '\r']).as_bytes().to_vec(),
    };
    let mut l = Layer::new(Envelope::Datadog, Inner::Owned(inner));
    let tag = |keys: &[&str]| {
        tags.iter()
            .find(|(k, _)| keys.contains(k))
            .and_then(|(_, v)| owned(Some(v)))
    };
    l.namespace = tag(&DD_NAMESPACE);
    l.pod = tag(&DD_POD);
    l.container = tag(&DD_CONTAINER);
    l.ts = ts_of(obj.get("timestamp")).or_else(|| ts_of(obj.get("date")));
    Some(l)
}

/// Datadog tags, as an array of `k:v` or one comma-separated string.
fn tags(v: Option<&Value>) -> Vec<(&str, &str)> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|t| t.split_once(':'))
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .filter_map(|t| t.trim().split_once(':'))
            .collect(),
        _ => Vec::new(),
    }
}

/// Separators of the CloudWatch Logs Insights table downloads (CSV and TSV).
const CW_SEPARATORS: [u8; 2] = [b',', b'\t'];
/// `YYYY-MM-DD hh:mm:ss.mmm`, the only time layout Logs Insights prints.
const CW_TS_LEN: usize = 23;

/// A Logs Insights CSV/TSV row: `@timestamp sep @message [sep @logStream [sep …]]`, with
/// `@timestamp` first as the default query (`fields @timestamp, @message, @logStream`)
/// puts it. CSV fields may be quoted (`""` inside); TSV fields never are. The header row
/// (`@timestamp,@message`) is text and stays so.
pub(super) fn cloudwatch_row(line: &[u8]) -> Option<Layer> {
    // cheap refusal: the fixed-width time, then a separator (a zap console line has a
    // `T` and an offset, so it never matches)
    let sep = *line.get(CW_TS_LEN)?;
    if !CW_SEPARATORS.contains(&sep) || line.get(10) != Some(&b' ') {
        return None;
    }
    let ts_text = std::str::from_utf8(&line[..CW_TS_LEN]).ok()?;
    if !ts_text
        .bytes()
        .all(|c| c.is_ascii_digit() || b"-: .".contains(&c))
    {
        return None;
    }
    let ts = parse_ts(ts_text)?;
    let mut rest = &line[CW_TS_LEN + 1..];
    let (message, used) = csv_field(rest, sep)?;
    rest = rest.get(used + 1..).unwrap_or_default();
    let stream = csv_field(rest, sep).map(|(f, _)| f);
    let mut l = Layer::new(Envelope::Cloudwatch, Inner::Owned(message));
    l.ts = Some(ts);
    if let Some((pod, ns, container)) = stream
        .as_deref()
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(container_log_name)
    {
        (l.pod, l.namespace, l.container) = (Some(pod), Some(ns), Some(container));
    }
    Some(l)
}

/// One CSV/TSV field at the start of `b`: its text and the bytes used (separator not
/// included). `None` for an unterminated quoted field.
fn csv_field(b: &[u8], sep: u8) -> Option<(Vec<u8>, usize)> {
    if sep == b',' && b.first() == Some(&b'"') {
        let mut out = Vec::new();
        let mut i = 1;
        loop {
            match (b.get(i)?, b.get(i + 1)) {
                (b'"', Some(b'"')) => {
                    out.push(b'"');
                    i += 2;
                }
                (b'"', _) => return Some((out, i + 1)),
                (c, _) => {
                    out.push(*c);
                    i += 1;
                }
            }
        }
    }
    let end = memchr::memchr(sep, b).unwrap_or(b.len());
    Some((b[..end].to_vec(), end))
}

/// logcli's default output: `<ts> {label="v", …} <line>`.
pub(super) fn loki_text(line: &[u8]) -> Option<Layer> {
    // cheap refusal: the labels open right after the first space
    let sp = memchr::memchr(b' ', line)?;
    if line.get(sp + 1) != Some(&b'{') {
        return None;
    }
    let (_, ts) = rfc3339(line).ok()?;
    let labels = &line[sp + 2..];
    let (pairs, used) = loki_labels(labels)?;
    let mut rest = &labels[used..];
    if !rest.is_empty() && rest[0] != b' ' {
        return None;
    }
    while let [b' ', r @ ..] = rest {
        rest = r;
    }
    let mut l = Layer::new(Envelope::Loki, Inner::Range(offset_of(line, rest)));
    l.ts = Some(ts);
    for (k, v) in pairs {
        match k {
            b"namespace" => l.namespace = Some(v),
            b"pod" => l.pod = Some(v),
            b"container" => l.container = Some(v),
            _ => {}
        }
    }
    Some(l)
}

/// One logcli label: its name and unquoted value.
type LokiLabel<'a> = (&'a [u8], String);

/// `label {',' ' '* label} '}'` after the `{`: the pairs and the bytes used, `}` included.
/// At least one label is required (logcli prints `{}` never, and a bare `{` is more
/// likely JSON after a `--timestamps` time).
fn loki_labels(b: &[u8]) -> Option<(Vec<LokiLabel<'_>>, usize)> {
    let mut pairs = Vec::new();
    let mut i = 0;
    loop {
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        let start = i;
        while b
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            i += 1;
        }
        let key = &b[start..i];
        if key.is_empty() || key[0].is_ascii_digit() || b.get(i) != Some(&b'=') {
            return None;
        }
        let (value, used) = go_quoted(b.get(i + 1..)?)?;
        pairs.push((key, value));
        i += 1 + used;
        match b.get(i)? {
            b',' => i += 1,
            b'}' => return Some((pairs, i + 1)),
            _ => return None,
        }
    }
}

/// A Go `%q` string at the start of `b`: the unescaped text and the bytes used.
fn go_quoted(b: &[u8]) -> Option<(String, usize)> {
    if b.first() != Some(&b'"') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = 1;
    loop {
        match *b.get(i)? {
            b'"' => return Some((String::from_utf8_lossy(&out).into_owned(), i + 1)),
            b'\\' => {
                let c = *b.get(i + 1)?;
                out.push(match c {
                    b'n' => b'\n',
                    b't' => b'\t',
                    other => other,
                });
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::envelope::{strip, Stripped};
    use crate::parse::time::format_rfc3339_ms;
    use crate::record::Envelope;

    const ZAP: &str = r#"{"level":"error","ts":"2026-08-01T10:01:00.000Z","msg":"Reconciliation failed after 1.2s, next try in 1m0s","controller":"kustomization","controllerKind":"Kustomization","Kustomization":{"name":"apps","namespace":"apps"},"namespace":"apps","name":"apps"}"#;
    const POD: &str = "kustomize-controller-5f7b9c4d8-h2k9q";

    fn facts(s: &Stripped<'_>) -> (Option<Envelope>, String, String, String, String) {
        (
            s.envelope,
            s.pod.clone().unwrap_or_default(),
            s.namespace.clone().unwrap_or_default(),
            s.container.clone().unwrap_or_default(),
            s.ts.map(format_rfc3339_ms).unwrap_or_default(),
        )
    }

    fn want(kind: Envelope, ts: &str) -> (Option<Envelope>, String, String, String, String) {
        (
            Some(kind),
            POD.into(),
            "flux-system".into(),
            "manager".into(),
            ts.into(),
        )
    }

    #[test]
    fn cloud_logging_json_and_text_payload() {
        let zap: serde_json::Value = serde_json::from_str(ZAP).unwrap();
        let entry = serde_json::json!({"insertId":"x1","jsonPayload": zap,
            "resource":{"type":"k8s_container","labels":{"project_id":"p","namespace_name":"flux-system","pod_name":POD,"container_name":"manager"}},
            "timestamp":"2026-08-01T10:01:00.5Z","severity":"ERROR","labels":{"k8s-pod/app":"kustomize-controller"}});
        let line = entry.to_string();
        let s = strip(line.as_bytes());
        assert_eq!(
            facts(&s),
            want(Envelope::CloudLogging, "2026-08-01T10:01:00.500Z")
        );
        let inner: serde_json::Value = serde_json::from_slice(&s.inner).unwrap();
        assert_eq!(inner, zap);
        // a CRI line inside textPayload: both layers come off
        let entry = serde_json::json!({"textPayload": format!("2026-08-01T10:01:00.1Z stderr F {ZAP}\n"),
            "resource":{"labels":{"namespace_name":"flux-system","pod_name":POD,"container_name":"manager"}},
            "timestamp":"2026-08-01T10:01:00.5Z"});
        let entry = entry.to_string();
        let s = strip(entry.as_bytes());
        assert_eq!(s.stream.as_deref(), Some("stderr"));
        assert_eq!(&*s.inner, ZAP.as_bytes());
    }

    #[test]
    fn loki_text_and_json() {
        let line = format!("2026-08-01T10:01:00.5Z {{container=\"manager\", namespace=\"flux-system\", pod=\"{POD}\"}}   {ZAP}");
        let s = strip(line.as_bytes());
        assert_eq!(facts(&s), want(Envelope::Loki, "2026-08-01T10:01:00.500Z"));
        assert_eq!(&*s.inner, ZAP.as_bytes());
        let line = serde_json::json!({"labels":{"container":"manager","namespace":"flux-system","pod":POD},"line":ZAP,"timestamp":"2026-08-01T10:01:00.5Z"}).to_string();
        let s = strip(line.as_bytes());
        assert_eq!(facts(&s), want(Envelope::Loki, "2026-08-01T10:01:00.500Z"));
        assert_eq!(&*s.inner, ZAP.as_bytes());
        // `--timestamps` around a zap line is not a Loki row
        let line = format!("2026-08-01T10:01:00.5Z {ZAP}");
        let s = strip(line.as_bytes());
        assert_eq!(s.envelope, Some(Envelope::Timestamps));
    }

    #[test]
    fn elasticsearch_fluent_bit_and_filebeat() {
        let hit = serde_json::json!({"_index":"logs-2026.08.01","_id":"a","_source":{"@timestamp":"2026-08-01T10:01:00.500Z","log":format!("{ZAP}\n"),"stream":"stderr",
            "kubernetes":{"pod_name":POD,"namespace_name":"flux-system","container_name":"manager"}}});
        let hit = hit.to_string();
        let s = strip(hit.as_bytes());
        assert_eq!(
            facts(&s),
            want(Envelope::Elasticsearch, "2026-08-01T10:01:00.500Z")
        );
        assert_eq!(&*s.inner, ZAP.as_bytes());
        let ecs = serde_json::json!({"@timestamp":"2026-08-01T10:01:00.500Z","message":ZAP,"log":{"offset":1024},
            "kubernetes":{"namespace":"flux-system","pod":{"name":POD},"container":{"name":"manager"}}});
        let ecs = ecs.to_string();
        let s = strip(ecs.as_bytes());
        assert_eq!(
            facts(&s),
            want(Envelope::Elasticsearch, "2026-08-01T10:01:00.500Z")
        );
        assert_eq!(&*s.inner, ZAP.as_bytes());
    }

    #[test]
    fn cloudwatch_container_insights_two_layers() {
        let doc = serde_json::json!({"log":format!("{ZAP}\n"),"stream":"stderr","time":"2026-08-01T10:01:00.1Z",
            "kubernetes":{"pod_name":POD,"namespace_name":"flux-system","container_name":"manager","host":"ip-10-0-1-1"}});
        let row = serde_json::json!({"@timestamp":"2026-08-01 10:01:00.500","@message":doc.to_string(),
            "@logStream":format!("ip-10-0-1-1.ec2.internal-application.var.log.containers.{POD}_flux-system_manager-0123abcd.log")});
        let row = row.to_string();
        let s = strip(row.as_bytes());
        assert_eq!(
            facts(&s),
            want(Envelope::Cloudwatch, "2026-08-01T10:01:00.500Z")
        );
        assert_eq!(&*s.inner, ZAP.as_bytes());
    }

    #[test]
    fn cloudwatch_csv_and_tsv_rows() {
        let stream = format!("ip-10-0-1-17.internal-application.var.log.containers.{POD}_flux-system_manager-0123abcd.log");
        let csv = format!(
            "2026-08-01 10:01:00.500,\"{}\",{stream}",
            ZAP.replace('"', "\"\"")
        );
        let s = strip(csv.as_bytes());
        assert_eq!(
            facts(&s),
            want(Envelope::Cloudwatch, "2026-08-01T10:01:00.500Z")
        );
        assert_eq!(&*s.inner, ZAP.as_bytes());
        let tsv = format!("2026-08-01 10:01:00.500\t{ZAP}\t{stream}");
        let s = strip(tsv.as_bytes());
        assert_eq!(
            facts(&s),
            want(Envelope::Cloudwatch, "2026-08-01T10:01:00.500Z")
        );
        assert_eq!(&*s.inner, ZAP.as_bytes());
        // header row, unterminated quote and zap console lines are not rows
        for line in [
            "@timestamp,@message",
            "2026-08-01 10:01:00.500,\"{\"\"level",
            "2026-08-01T10:01:00.500Z\tINFO\tReconciliation finished in 2.3s",
            "2020-06-18T10:04:48.756+0200\tERROR\tcontroller-runtime.controller",
        ] {
            assert_ne!(
                strip(line.as_bytes()).envelope,
                Some(Envelope::Cloudwatch),
                "{line}"
            );
        }
    }

    #[test]
    fn datadog_tags_and_attributes() {
        let line = serde_json::json!({"date":"2026-08-01T10:01:00.500Z","service":"kustomize-controller","message":ZAP,
            "tags":["env:prod","kube_namespace:flux-system",format!("pod_name:{POD}"),"kube_container_name:manager"]});
        let line = line.to_string();
        let s = strip(line.as_bytes());
        assert_eq!(
            facts(&s),
            want(Envelope::Datadog, "2026-08-01T10:01:00.500Z")
        );
        assert_eq!(&*s.inner, ZAP.as_bytes());
        // parsed attributes become a zap line again, under the v2 API wrapper
        let line = serde_json::json!({"id":"AQ","type":"log","attributes":{"timestamp":1785578460500u64,"message":"Reconciliation failed after 1.2s, next try in 1m0s",
            "tags":format!("kube_namespace:flux-system,pod_name:{POD},kube_container_name:manager"),
            "attributes":{"level":"error","controllerKind":"Kustomization","name":"apps","namespace":"apps"}}});
        let line = line.to_string();
        let s = strip(line.as_bytes());
        assert_eq!(s.envelope, Some(Envelope::Datadog));
        assert_eq!(s.pod.as_deref(), Some(POD));
        let inner: serde_json::Value = serde_json::from_slice(&s.inner).unwrap();
        assert_eq!(
            inner["msg"],
            "Reconciliation failed after 1.2s, next try in 1m0s"
        );
        assert_eq!(inner["level"], "error");
    }

    #[test]
    fn ordinary_lines_are_not_exports() {
        for line in [
            ZAP,
            r#"{"level":"info","msg":"x","tags":["a"],"line":3}"#,
            r#"{"kind":"Pod","metadata":{"labels":{"app":"x"}}}"#,
            "2026-08-01T10:01:00Z {not labels} x",
            "2026-08-01T10:01:00Z {a=\"b\"",
            r#"{"jsonPayload":3}"#,
        ] {
            let s = strip(line.as_bytes());
            assert!(
                !matches!(
                    s.envelope,
                    Some(
                        Envelope::CloudLogging
                            | Envelope::Loki
                            | Envelope::Elasticsearch
                            | Envelope::Cloudwatch
                            | Envelope::Datadog
                    )
                ),
                "{line}"
            );
        }
    }
}
