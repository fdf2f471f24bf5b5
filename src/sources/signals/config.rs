//! `central:` of a pipeline file: the signals topic `fluxsight central` consumes, its
//! consumer group, the rebuild lookback and the dead-letter topic (docs/fleet.md);
//! `stage:` (which of the two roles the process runs) and `fleet:` (the partials topic
//! of fleet findings: stage 1 publishes to it, stage 2 consumes it).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::fleet::derive::{DEFAULT_IDLE_MS, DEFAULT_REFRESH_MS, DEFAULT_TICK_MS};
use crate::fleet::partial::DEFAULT_PARTIALS_TOPIC;
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
/// Default consumer group of the fleet stage.
pub const DEFAULT_FLEET_GROUP: &str = "fluxsight-fleet";
/// Default dead-letter topic of the fleet stage: partials that do not decode.
pub const DEFAULT_FLEET_DLQ_TOPIC: &str = "fluxsight.fleet-partials.dlq.v1";
/// Default rebuild lookback W₂ of the fleet stage: 2 × refresh + TTL, rounded up.
pub const DEFAULT_FLEET_LOOKBACK_MS: u64 = 30 * 60_000;

/// Which role a `central` process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stage {
    /// Stage 1 (`cluster`, the default): signals → per-cluster findings (and partials
    /// when `fleet:` is set).
    #[default]
    Cluster,
    /// Stage 2 (`fleet`): partials → fleet findings.
    Fleet,
}

/// `central.fleet:` as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    /// The partials topic (default `fluxsight.fleet-partials.v1`).
    #[serde(default)]
    pub partials_topic: Option<String>,
    /// Stage 1: a failing status and the inventory are sent again this often (event
    /// time, default `5m`).
    #[serde(default)]
    pub refresh: Option<Spanned<String>>,
    /// Stage 1: a watermark tick goes to every partials partition this often (event
    /// time, default `30s`).
    #[serde(default)]
    pub tick_interval: Option<Spanned<String>>,
    /// A cluster (stage 1) or a stage-1 source (stage 2) whose clock is this far behind
    /// the newest no longer holds the watermark back (default `2m`).
    #[serde(default)]
    pub idle_timeout: Option<Spanned<String>>,
}

/// `central.fleet:` checked.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetSettings {
    pub partials_topic: String,
    pub refresh_ms: u64,
    pub tick_ms: u64,
    pub idle_ms: u64,
}

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
    /// `cluster` (default: per-cluster findings from signals) or `fleet` (fleet
    /// findings from partials; group `fluxsight-fleet`, lookback `30m`).
    #[serde(default)]
    pub stage: Option<Spanned<String>>,
    /// Fleet findings: the partials topic and its timing. With `stage: cluster`, its
    /// presence turns partials on.
    #[serde(default)]
    pub fleet: Option<FleetSection>,
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
    pub stage: Stage,
    /// Stage 1: publish partials (`None`: off). Stage 2: always set.
    pub fleet: Option<FleetSettings>,
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
        let stage = match &self.stage {
            None => Stage::Cluster,
            Some(v) => match v.value.as_str() {
                "cluster" => Stage::Cluster,
                "fleet" => Stage::Fleet,
                other => {
                    errs.push(SpecError::at_value(
                        file,
                        text,
                        "central.stage",
                        v,
                        format!("'{other}' is not a stage: cluster or fleet"),
                    ));
                    Stage::Cluster
                }
            },
        };
        let fleet_stage = stage == Stage::Fleet;
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
        let lookback_ms = dur(
            &self.lookback,
            "lookback",
            if fleet_stage {
                DEFAULT_FLEET_LOOKBACK_MS
            } else {
                DEFAULT_LOOKBACK_MS
            },
        );
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
        let fleet_section = match (&self.fleet, fleet_stage) {
            (Some(f), _) => Some(f.clone()),
            (None, true) => Some(FleetSection::default()),
            (None, false) => None,
        };
        let fleet = fleet_section.map(|f| FleetSettings {
            partials_topic: f
                .partials_topic
                .clone()
                .unwrap_or_else(|| DEFAULT_PARTIALS_TOPIC.to_string()),
            refresh_ms: dur(&f.refresh, "fleet.refresh", DEFAULT_REFRESH_MS as u64),
            tick_ms: dur(
                &f.tick_interval,
                "fleet.tick_interval",
                DEFAULT_TICK_MS as u64,
            ),
            idle_ms: dur(
                &f.idle_timeout,
                "fleet.idle_timeout",
                DEFAULT_IDLE_MS as u64,
            ),
        });
        if fleet_stage && self.topic.is_some() {
            errs.push(SpecError::at(
                file,
                text,
                "central.topic",
                "the fleet stage reads the partials topic: set central.fleet.partials_topic instead",
            ));
        }
        if self
            .fleet
            .as_ref()
            .and_then(|f| f.partials_topic.as_deref())
            .is_some_and(|t| t.trim().is_empty())
        {
            errs.push(SpecError::at(
                file,
                text,
                "central.fleet.partials_topic",
                "must not be empty",
            ));
        }
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
        let (topic, group, dlq) = match (stage, &fleet) {
            (Stage::Fleet, Some(f)) => (
                f.partials_topic.clone(),
                or(&self.group, DEFAULT_FLEET_GROUP),
                or(&self.dlq_topic, DEFAULT_FLEET_DLQ_TOPIC),
            ),
            _ => (
                or(&self.topic, DEFAULT_SIGNALS_TOPIC),
                or(&self.group, DEFAULT_GROUP),
                or(&self.dlq_topic, DEFAULT_DLQ_TOPIC),
            ),
        };
        Ok(brokers.map(|brokers| CentralSettings {
            brokers,
            topic,
            group,
            lookback_ms,
            dlq_topic: dlq,
            session_timeout_ms,
            commit_interval_ms,
            stall_after_ms,
            properties: self.properties.clone(),
            stage,
            fleet,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> Result<Option<CentralSettings>, Vec<SpecError>> {
        #[derive(Deserialize)]
        struct File {
            central: CentralSection,
        }
        let f: File = serde_saphyr::from_str(yaml).expect("yaml");
        f.central.settings("p.yaml", yaml)
    }

    #[test]
    fn the_fleet_stage_reads_the_partials_topic_with_its_own_defaults() {
        let s = settings("central:\n  brokers: 127.0.0.1:9092\n  stage: fleet\n")
            .unwrap()
            .unwrap();
        assert_eq!(s.stage, Stage::Fleet);
        assert_eq!(s.topic, DEFAULT_PARTIALS_TOPIC);
        assert_eq!(s.group, DEFAULT_FLEET_GROUP);
        assert_eq!(s.dlq_topic, DEFAULT_FLEET_DLQ_TOPIC);
        assert_eq!(s.lookback_ms, DEFAULT_FLEET_LOOKBACK_MS);
        let f = s.fleet.unwrap();
        assert_eq!(
            (f.refresh_ms, f.tick_ms, f.idle_ms),
            (300_000, 30_000, 120_000)
        );
        // Stage 1 without fleet: no partials; with it, partials on its topic.
        let s = settings("central:\n  brokers: 127.0.0.1:9092\n")
            .unwrap()
            .unwrap();
        assert_eq!((s.stage, s.fleet.is_none()), (Stage::Cluster, true));
        assert_eq!(s.group, DEFAULT_GROUP);
        let s = settings(
            "central:\n  brokers: 127.0.0.1:9092\n  fleet:\n    partials_topic: p.v1\n    tick_interval: 10s\n",
        )
        .unwrap()
        .unwrap();
        let f = s.fleet.unwrap();
        assert_eq!((f.partials_topic.as_str(), f.tick_ms), ("p.v1", 10_000));
        assert_eq!(s.topic, DEFAULT_SIGNALS_TOPIC);
    }

    #[test]
    fn a_wrong_stage_or_fleet_field_names_file_line_and_field() {
        let e = settings("central:\n  brokers: 127.0.0.1:9092\n  stage: global\n").unwrap_err();
        let t = e[0].to_string();
        assert!(
            t.starts_with("p.yaml:3:") && t.contains("central.stage") && t.contains("'global'"),
            "{t}"
        );
        let e = settings("central:\n  brokers: 127.0.0.1:9092\n  fleet:\n    refresh: soon\n")
            .unwrap_err();
        let t = e[0].to_string();
        assert!(
            t.starts_with("p.yaml:4:") && t.contains("central.fleet.refresh"),
            "{t}"
        );
        let e = settings("central:\n  brokers: 127.0.0.1:9092\n  stage: fleet\n  topic: x\n")
            .unwrap_err();
        assert!(e[0].to_string().contains("central.topic"), "{}", e[0]);
    }
}
