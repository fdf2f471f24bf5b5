//! `type: kafka`: the section and its validation.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::DEFAULT_MESSAGE_TIMEOUT_MS;
use crate::signal::DEFAULT_HEARTBEAT_MS;
use crate::sinks::config::{BodyFormat, Ctx, SecretRef};
use crate::sinks::ssrf::{self, Allow};

/// `type: kafka`: idempotent producer, CloudEvents binary mode.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub name: String,
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// Topic for findings (default `fluxsight.findings.v1`).
    #[serde(default)]
    pub findings_topic: Option<String>,
    /// Topic for audit records (default `fluxsight.audit.v1`).
    #[serde(default)]
    pub audit_topic: Option<String>,
    /// Body format (default `ocsf`; `ecs` or `native`).
    #[serde(default)]
    pub format: Option<BodyFormat>,
    /// Publish signals for `fluxsight central` (docs/fleet.md): every classified,
    /// redacted record and a heartbeat per `heartbeat_interval`, keyed by cluster, with
    /// event time as the record timestamp. A signals sink gets findings and audit
    /// records only from a route that names them (`match: {type: …}`). Default false.
    #[serde(default)]
    pub signals: bool,
    /// Topic of signals (default `fluxsight.signals.v1`; with `signals: true` only).
    #[serde(default)]
    pub signals_topic: Option<String>,
    /// Time between two heartbeats, a duration (default `10s`; with `signals: true`
    /// only).
    #[serde(default)]
    pub heartbeat_interval: Option<String>,
    /// `plaintext` (default), `ssl`, `sasl_plaintext`, `sasl_ssl`.
    #[serde(default)]
    pub security_protocol: Option<String>,
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    #[serde(default)]
    pub sasl_username: Option<SecretRef>,
    #[serde(default)]
    pub sasl_password: Option<SecretRef>,
    /// CA file for TLS.
    #[serde(default)]
    pub ssl_ca_location: Option<String>,
    /// `zstd`, `lz4`, `snappy`, `gzip` or `none` (default `lz4`).
    #[serde(default)]
    pub compression: Option<String>,
    /// librdkafka `message.timeout.ms` as a duration (default `5m`).
    #[serde(default)]
    pub message_timeout: Option<String>,
    /// Extra librdkafka properties (non-secret).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Host names or IP literals exempt from the SSRF guard (link-local, cloud metadata,
    /// unspecified and multicast destinations are refused otherwise; loopback and private
    /// ranges are always allowed). Default none.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
}

impl KafkaConfig {
    /// Validates the section of the sink at `base` (`sinks[2]`).
    pub fn check(&self, cx: &mut Ctx<'_>, base: &str) {
        let brokers = format!("{base}.brokers");
        if self.brokers.trim().is_empty() {
            cx.err(&brokers, "must not be empty");
        } else if let Err(why) = ssrf::check_brokers(&self.brokers, &Allow::new(&self.allow_hosts))
        {
            cx.err(&brokers, ssrf::refusal("brokers", why));
        }
        if let Some(p) = &self.security_protocol {
            if !matches!(
                p.as_str(),
                "plaintext" | "ssl" | "sasl_plaintext" | "sasl_ssl"
            ) {
                cx.err(
                    &format!("{base}.security_protocol"),
                    format!("'{p}' is not one of plaintext, ssl, sasl_plaintext, sasl_ssl"),
                );
            }
        }
        if let Some(BodyFormat::Text | BodyFormat::Cloudevents) = self.format {
            cx.err(
                &format!("{base}.format"),
                "kafka bodies are ocsf, ecs or native (CloudEvents attributes go in ce_* headers)",
            );
        }
        cx.dur(
            &self.message_timeout,
            &format!("{base}.message_timeout"),
            DEFAULT_MESSAGE_TIMEOUT_MS,
        );
        self.check_signals(cx, base);
        for key in self.properties.keys() {
            if key.contains("password")
                || key.contains("secret")
                || key.contains("sasl.oauthbearer")
            {
                cx.err(
                    &format!("{base}.properties.{key}"),
                    "secret properties must use sasl_password / sasl_username references",
                );
            }
        }
    }

    /// The signals fields: meaningful only with `signals: true`.
    fn check_signals(&self, cx: &mut Ctx<'_>, base: &str) {
        if !self.signals {
            for (key, set) in [
                ("signals_topic", self.signals_topic.is_some()),
                ("heartbeat_interval", self.heartbeat_interval.is_some()),
            ] {
                if set {
                    cx.err(&format!("{base}.{key}"), "needs signals: true");
                }
            }
            return;
        }
        if self
            .signals_topic
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            cx.err(&format!("{base}.signals_topic"), "must not be empty");
        }
        let field = format!("{base}.heartbeat_interval");
        if cx.dur(&self.heartbeat_interval, &field, DEFAULT_HEARTBEAT_MS) == 0 {
            cx.err(&field, "must be above 0s");
        }
    }

    /// The heartbeat interval of a signals sink in ms (`None`: not a signals sink).
    pub fn heartbeat_ms(&self) -> Option<u64> {
        self.signals.then(|| {
            self.heartbeat_interval
                .as_deref()
                .and_then(crate::time::parse_go_duration_ms)
                .unwrap_or(DEFAULT_HEARTBEAT_MS)
        })
    }
}
