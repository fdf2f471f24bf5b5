//! fluxsight's own logs: human text (the default, coloured on a TTY) or one JSON object
//! per line with the key names of the Flux controllers' zap logs, so the same log
//! pipeline (and fluxsight itself) reads both.
//!
//! JSON line: `{"level":"info","ts":"2026-01-02T03:04:05.678Z","msg":"…","logger":"fluxsight.sinks.worker", <event fields>}`
//! - `level`: zap's names (`debug`, `info`, `warn`, `error`; `trace` below debug);
//! - `ts`: ISO-8601 UTC with milliseconds, as controller-runtime's production encoder;
//! - `logger`: the event's target, `::` written `.`;
//! - fields keep their names and JSON types (numbers, booleans; the rest as strings).
//!   A field named like a reserved key is written `field.<name>` so no key repeats.
//!
//! Owns: the format and installing the global subscriber. Invariant: one line per
//! event, always valid JSON whatever the field values (serde_json escapes them).

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Keys the JSON format writes itself.
const K_LEVEL: &str = "level";
const K_TS: &str = "ts";
const K_MSG: &str = "msg";
const K_LOGGER: &str = "logger";
const RESERVED: [&str; 4] = [K_LEVEL, K_TS, K_MSG, K_LOGGER];
/// tracing's name of an event's message.
const MESSAGE_FIELD: &str = "message";
/// Environment variable with the log filter (`RUST_LOG` syntax), default `warn`.
pub const LOG_FILTER_ENV: &str = "FLUXSIGHT_LOG";
/// The level of fluxsight's own events when [`LOG_FILTER_ENV`] is unset.
const DEFAULT_LEVEL: &str = "warn";
/// Always applied first, so a user's filter such as `info` or `debug` does not bring
/// them back: kube's client logs every failed request at ERROR (15 lines a second
/// against an unreachable server, none naming it), which `sources::kube::reach`
/// reports once per back-off step instead; tower and hyper log per connection. A user
/// who wants them names the target (`kube_client::client::builder=error`).
const QUIET_DEPENDENCIES: &str =
    "kube_client::client::builder=off,tower=error,hyper=error,hyper_util=error";

/// `--log-format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human text on stderr (coloured when stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per line with Flux's key names (`level`, `ts`, `msg`, `logger`).
    Json,
}

/// Installs the global subscriber writing to stderr, filtered by [`LOG_FILTER_ENV`].
pub fn install(format: LogFormat) {
    let user = std::env::var(LOG_FILTER_ENV).ok();
    let filter = tracing_subscriber::EnvFilter::try_new(filter_directives(user.as_deref()))
        .unwrap_or_else(|e| {
            eprintln!("fluxsight: {LOG_FILTER_ENV}: {e}; using {DEFAULT_LEVEL}");
            tracing_subscriber::EnvFilter::new(filter_directives(None))
        });
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.with_ansi(false).event_format(FluxJson).init(),
    }
}

/// The filter: [`QUIET_DEPENDENCIES`], then the user's directives (a later directive
/// for the same target replaces an earlier one), or [`DEFAULT_LEVEL`].
fn filter_directives(user: Option<&str>) -> String {
    let user = user.map(str::trim).filter(|u| !u.is_empty());
    format!("{QUIET_DEPENDENCIES},{}", user.unwrap_or(DEFAULT_LEVEL))
}

/// The events `f` logs through the installed filter's directives for `user`:
/// (level, message and fields as the text format writes them).
#[cfg(test)]
pub(crate) fn capture_with_filter(user: Option<&str>, f: impl FnOnce()) -> Vec<(String, String)> {
    let buf = Buf::default();
    let sub = tracing_subscriber::fmt()
        .with_writer(buf.clone())
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter_directives(user)))
        .finish();
    tracing::subscriber::with_default(sub, f);
    buf.text()
        .lines()
        .map(|l| {
            let l = l.trim_start();
            let (level, rest) = l.split_once(' ').unwrap_or((l, ""));
            (level.to_string(), rest.trim_start().to_string())
        })
        .collect()
}

/// An in-memory log writer for tests.
#[cfg(test)]
#[derive(Clone, Default)]
struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(test)]
impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[cfg(test)]
impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buf {
    type Writer = Buf;
    fn make_writer(&'a self) -> Buf {
        self.clone()
    }
}

/// [`capture_with_filter`] with every level of fluxsight's own events.
#[cfg(test)]
pub(crate) fn capture_for_test(f: impl FnOnce()) -> Vec<(String, String)> {
    capture_with_filter(Some("trace"), f)
}

/// The JSON event format (see the module doc).
#[derive(Debug, Default, Clone, Copy)]
pub struct FluxJson;

impl<S, N> FormatEvent<S, N> for FluxJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = crate::time::now_ms();
        writeln!(writer, "{}", json_line(event, now))
    }
}

/// One event as a JSON line (without the newline) at `now_ms`.
fn json_line(event: &Event<'_>, now_ms: i64) -> String {
    let meta = event.metadata();
    let mut fields = Fields::default();
    event.record(&mut fields);
    let mut out = String::with_capacity(128);
    out.push('{');
    push_pair(&mut out, K_LEVEL, &level_name(*meta.level()).into());
    push_pair(
        &mut out,
        K_TS,
        &crate::time::format_rfc3339_ms(now_ms).into(),
    );
    push_pair(&mut out, K_MSG, &fields.message.unwrap_or_default().into());
    push_pair(&mut out, K_LOGGER, &meta.target().replace("::", ".").into());
    for (k, v) in fields.rest {
        let key = if RESERVED.contains(&k) {
            format!("field.{k}")
        } else {
            k.to_string()
        };
        push_pair(&mut out, &key, &v);
    }
    out.push('}');
    out
}

fn push_pair(out: &mut String, key: &str, v: &serde_json::Value) {
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push_str(&serde_json::Value::from(key).to_string());
    out.push(':');
    out.push_str(&v.to_string());
}

/// zap's level names.
fn level_name(l: Level) -> &'static str {
    match l {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// An event's fields in the order recorded; the message apart.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    rest: Vec<(&'static str, serde_json::Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, v: serde_json::Value) {
        if field.name() == MESSAGE_FIELD {
            self.message = Some(match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.rest.push((field.name(), v));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(f: impl FnOnce()) -> Vec<serde_json::Value> {
        let buf = Buf::default();
        let sub = tracing_subscriber::fmt()
            .with_writer(buf.clone())
            .with_max_level(Level::TRACE)
            .event_format(FluxJson)
            .finish();
        tracing::subscriber::with_default(sub, f);
        buf.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect()
    }

    #[test]
    fn json_lines_use_flux_key_names_and_typed_fields() {
        let err = std::io::Error::other("disk \"full\"\nnow");
        let lines = capture(|| {
            tracing::warn!(sink = "hook", attempt = 3u64, ok = false, error = %err, "delivery failed, retrying");
            tracing::error!(msg = "shadow", level = 7, "reserved names");
        });
        assert_eq!(lines.len(), 2);
        let l = &lines[0];
        assert_eq!(l["level"], "warn");
        assert_eq!(l["msg"], "delivery failed, retrying");
        assert_eq!(l["logger"], "fluxsight.telemetry.logs.tests");
        assert_eq!(l["sink"], "hook");
        assert_eq!(l["attempt"], 3);
        assert_eq!(l["ok"], false);
        assert_eq!(l["error"], "disk \"full\"\nnow");
        let ts = l["ts"].as_str().unwrap();
        assert!(
            crate::parse::time::parse_ts(ts).is_some() && ts.ends_with('Z') && ts.len() == 24,
            "ISO-8601 UTC with ms: {ts}"
        );
        assert_eq!(lines[1]["msg"], "reserved names");
        assert_eq!(lines[1]["level"], "error");
        assert_eq!(lines[1]["field.msg"], "shadow");
        assert_eq!(lines[1]["field.level"], 7);
    }

    /// kube's per-request ERROR (one per failed request, no server named) is off
    /// by default and under a user's blanket level; fluxsight's own events and other
    /// kube warnings pass; naming the target brings it back.
    #[test]
    fn the_filter_silences_kube_per_request_errors_and_keeps_the_user_level() {
        let emit = || {
            tracing::error!(target: "kube_client::client::builder", "failed with error client error (Connect)");
            tracing::warn!(target: "hyper_util::client::legacy", "connection error");
            tracing::warn!(target: "kube_client::client", "eof in poll");
            tracing::error!(target: "fluxsight::sources::kube::reach", "unreachable");
            tracing::info!(target: "fluxsight::sources::kube::reach", "reachable again");
        };
        let msgs = |user| -> Vec<String> {
            capture_with_filter(user, emit)
                .into_iter()
                .map(|(_, m)| m)
                .collect()
        };
        assert_eq!(msgs(None), ["eof in poll", "unreachable"]);
        assert_eq!(
            msgs(Some("debug")),
            ["eof in poll", "unreachable", "reachable again"]
        );
        assert_eq!(
            msgs(Some("error,kube_client::client::builder=error")),
            ["failed with error client error (Connect)", "unreachable"]
        );
    }

    #[test]
    fn fluxsight_reads_its_own_json_logs_as_zap() {
        let lines = capture(|| tracing::error!(sink = "hook", "router state not written"));
        let line = lines[0].to_string();
        let rec = crate::parse::LineDecoder::new(None).decode(line.as_bytes());
        let rec = rec.first().expect("one record");
        assert_eq!(rec.format, crate::record::Format::ZapJson, "{rec:?}");
    }
}
