//! `central:` of a pipeline file: the signals topic `fluxsight central` consumes, its
//! consumer group, the rebuild lookback and the dead-letter topic (docs/fleet.md).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::parse::time::parse_go_duration_ms;
use crate::sinks::kafka::DEFAULT_SIGNALS_TOPIC;
use crate::sinks::ssrf::{self, Allow};
use crate::spec_error::SpecError;

/// Default consumer group of `central`.
pub const DEFAULT_GROUP: &str = "fluxsight-central";
/// Default dead-letter topic: signals that do not decode, with the reason in a header.
pub const DEFAULT_DLQ_TOPIC: &str = "fluxsight.signals.dlq.v1";
/// Default rebuild lookback W: state is rebuilt from the last 6 h of each partition.
pub const DEFAULT_LOOKBACK_MS: u64 = 6 * 3_600_000;
/// Default `session.timeout.ms` (librdkafka's own default).
pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 45_000;
/// Default `auto.commit.interval.ms` (librdkafka's own default).
pub const DEFAULT_COMMIT_INTERVAL_MS: u64 = 5_000;

/// `central:` as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CentralSection {
    /// `host:port[,host:port…]` of the Kafka cluster the sidecars publish to. Required
    /// by `fluxsight central`.
    #[serde(default)]
    pub brokers: Option<Spanned<String>>,
    /// The signals topic (default `fluxsight.signals.v1`).
    #[serde(default)]
    pub topic: Option<String>,
    /// Consumer group (default `fluxsight-central`); every replica uses the same.
    #[serde(default)]
    pub group: Option<String>,
    /// Rebuild lookback W, a duration (default `6h`): on assignment a partition's state
    /// is rebuilt from the records of the last W (at least from its committed offset).
    /// Longer than the longest pattern window.
    #[serde(default)]
    pub lookback: Option<Spanned<String>>,
    /// Dead-letter topic of signals that do not decode (default
    /// `fluxsight.signals.dlq.v1`): the original bytes and key, a
    /// `fluxsight_dlq_reason` header.
    #[serde(default)]
    pub dlq_topic: Option<String>,
    /// librdkafka `session.timeout.ms` as a duration (default `45s`): how long a
    /// silent member keeps its partitions.
    #[serde(default)]
    pub session_timeout: Option<Spanned<String>>,
    /// librdkafka `auto.commit.interval.ms` as a duration (default `5s`): bounds the
    /// duplicates after a crash (outputs of records after the last commit are sent again).
    #[serde(default)]
    pub commit_interval: Option<Spanned<String>>,
    /// Stall watchdog, a duration (default `60s`): a partition with lag whose next
    /// offset does not move for this long is reported stalled
    /// (`fluxsight_central_partition_stalled`, a warning in the log).
    #[serde(default)]
    pub stall_after: Option<Spanned<String>>,
    /// Extra librdkafka properties of the consumer and the dead-letter producer
    /// (non-secret), e.g. `security.protocol`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// Hosts exempt from the SSRF guard (as for a Kafka sink's `allow_hosts`).
    #[serde(default)]
    pub allow_hosts: Vec<String>,
}

/// `central:` checked.
#[derive(Debug, Clone, PartialEq)]
pub struct CentralSettings {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    pub lookback_ms: u64,
    pub dlq_topic: String,
    pub session_timeout_ms: u64,
    pub commit_interval_ms: u64,
    pub stall_after_ms: u64,
    pub properties: BTreeMap<String, String>,
}

impl CentralSection {
    /// Checks the section; `None` (with no error) when it names no brokers: the file is
    /// then not a `central` file (`fluxsight central` says so).
    pub fn settings(
        &self,
        file: &str,
        text: &str,
    ) -> Result<Option<CentralSettings>, Vec<SpecError>> {
        let mut errs = Vec::new();
        let mut dur = |v: &Option<Spanned<String>>, field: &str, def: u64| match v {
            None => def,
            Some(v) => match parse_go_duration_ms(&v.value) {
                Some(ms) if ms > 0 => ms,
                _ => {
                    let message = format!("'{}' is not a duration above 0s", v.value);
                    errs.push(SpecError::at_value(
                        file,
                        text,
                        &format!("central.{field}"),
                        v,
                        message,
                    ));
                    def
                }
            },
        };
        let lookback_ms = dur(&self.lookback, "lookback", DEFAULT_LOOKBACK_MS);
        let session_timeout_ms = dur(
            &self.session_timeout,
            "session_timeout",
            DEFAULT_SESSION_TIMEOUT_MS,
        );
        let commit_interval_ms = dur(
            &self.commit_interval,
            "commit_interval",
            DEFAULT_COMMIT_INTERVAL_MS,
        );
        let stall_after_ms = dur(
            &self.stall_after,
            "stall_after",
            crate::telemetry::central::DEFAULT_STALL_AFTER_MS,
        );
        for (field, v) in [
            ("topic", &self.topic),
            ("group", &self.group),
            ("dlq_topic", &self.dlq_topic),
        ] {
            if v.as_deref().is_some_and(|t| t.trim().is_empty()) {
                errs.push(SpecError::at(
                    file,
                    text,
                    &format!("central.{field}"),
                    "must not be empty",
                ));
            }
        }
        for key in self.properties.keys() {
            if key.contains("password")
                || key.contains("secret")
                || key.contains("sasl.oauthbearer")
            {
                errs.push(SpecError::at(
                    file,
                    text,
                    &format!("central.properties.{key}"),
                    "secret properties are not taken from the pipeline file",
                ));
            }
        }
        let brokers = match &self.brokers {
            None => None,
            Some(b) if b.value.trim().is_empty() => {
                errs.push(SpecError::at_value(
                    file,
                    text,
                    "central.brokers",
                    b,
                    "must not be empty",
                ));
                None
            }
            Some(b) => {
                if let Err(why) = ssrf::check_brokers(&b.value, &Allow::new(&self.allow_hosts)) {
                    errs.push(SpecError::at_value(
                        file,
                        text,
                        "central.brokers",
                        b,
                        ssrf::refusal("brokers", why),
                    ));
                }
                Some(b.value.clone())
            }
        };
        if !errs.is_empty() {
            return Err(errs);
        }
        let or = |v: &Option<String>, d: &str| v.clone().unwrap_or_else(|| d.to_string());
        Ok(brokers.map(|brokers| CentralSettings {
            brokers,
            topic: or(&self.topic, DEFAULT_SIGNALS_TOPIC),
            group: or(&self.group, DEFAULT_GROUP),
            lookback_ms,
            dlq_topic: or(&self.dlq_topic, DEFAULT_DLQ_TOPIC),
            session_timeout_ms,
            commit_interval_ms,
            stall_after_ms,
            properties: self.properties.clone(),
        }))
    }
}
