//! `type: kafka` sink: an idempotent librdkafka producer writing one record per finding
//! or audit record, CloudEvents binary mode (output-formats.md §4, §9), and with
//! `signals: true` one record per signal (docs/fleet.md).
//!
//! Owns: the mapping of a [`Delivery`] to Kafka records ([`records`]: topic, key,
//! `ce_*` headers including the `ce_tenant`/`ce_cluster`/`ce_severity` extensions,
//! their deprecated unprefixed copies, OCSF/ECS/native value; [`signal_record`]: key =
//! cluster, timestamp = event time, `fluxsight_*` headers), the producer settings
//! ([`client_config`]), and the classification of producer errors into
//! [`SinkError`]s. It does not own retries or the spool: the worker re-sends a failed
//! batch whole.
//!
//! Invariants:
//! - `send` returns `Ok` only after the broker acknowledged every record of the batch
//!   (`acks=all`, idempotent producer), so the worker's acknowledgement of the spool is
//!   never ahead of Kafka.
//! - `flush` must run before the sink is dropped: dropping a librdkafka producer purges
//!   its queue (STYLE.md habit 5). The worker calls it on shutdown.
//! - Secrets (SASL username and password) are resolved at build time, go only into the
//!   librdkafka configuration and are never logged; the configuration is never printed.

pub mod config;

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use crate::record::ObjectRef;
use crate::signal::{Signal, SCHEMA};
use crate::sinks::body::{ce_attributes, items, render_item, Item};
use crate::sinks::config::{BodyFormat, KafkaConfig};
use crate::sinks::ssrf::{self, Allow};
use crate::sinks::{BoxFut, Delivery, Sink, SinkError};
use crate::time::parse_go_duration_ms;

/// Topic of findings unless `findings_topic` says otherwise.
pub const DEFAULT_FINDINGS_TOPIC: &str = "fluxsight.findings.v1";
/// Topic of audit records unless `audit_topic` says otherwise.
pub const DEFAULT_AUDIT_TOPIC: &str = "fluxsight.audit.v1";
/// Topic of signals unless `signals_topic` says otherwise (fleet-scale.md §6).
pub const DEFAULT_SIGNALS_TOPIC: &str = "fluxsight.signals.v1";
/// Deliveries per `send`: enough to keep librdkafka's batches full, small enough that a
/// re-sent batch after an outage duplicates little.
pub const MAX_BATCH: usize = 256;
/// How long `flush` waits for in-flight records on shutdown.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `message.timeout.ms` (5 minutes), the time librdkafka keeps retrying a record
/// before it reports the record failed.
pub const DEFAULT_MESSAGE_TIMEOUT_MS: u64 = 300_000;
/// Consecutive failed batches after which the producer is replaced by a new one (new
/// producer id, connections and metadata). An idempotent producer whose broker lost its
/// producer state (seen with tansu's memory storage after a restart) otherwise times
/// out every record forever; replacing it is safe because `send` has awaited every
/// record of the failed batch, so the old producer holds nothing.
pub const RECREATE_AFTER_FAILURES: u32 = 3;
/// Default `compression.codec`.
pub const DEFAULT_COMPRESSION: &str = "lz4";

/// Header names (Kafka binding of CloudEvents: `ce_<attribute>`; routing hints).
pub const H_SPECVERSION: &str = "ce_specversion";
pub const H_ID: &str = "ce_id";
pub const H_SOURCE: &str = "ce_source";
pub const H_TYPE: &str = "ce_type";
pub const H_SUBJECT: &str = "ce_subject";
pub const H_TIME: &str = "ce_time";
pub const H_CONTENT_TYPE: &str = "content-type";
/// CloudEvents extension attributes: the Kafka binding maps every attribute,
/// extensions included, to `ce_<name>`, and CloudEvents SDKs read only those.
pub const H_CE_TENANT: &str = "ce_tenant";
pub const H_CE_CLUSTER: &str = "ce_cluster";
pub const H_CE_SEVERITY: &str = "ce_severity";
/// Unprefixed copies of the extension attributes, the only names 0.1 wrote. Deprecated:
/// kept for one release so consumers filtering on them keep working, then removed.
/// The binding lets other headers sit next to `ce_*` ones, so they do not break it.
pub const H_TENANT: &str = "tenant";
pub const H_CLUSTER: &str = "cluster";
pub const H_SEVERITY: &str = "severity";
/// Every header a record carries, in the order written.
pub const HEADERS: [&str; 13] = [
    H_SPECVERSION,
    H_ID,
    H_SOURCE,
    H_TYPE,
    H_SUBJECT,
    H_TIME,
    H_CONTENT_TYPE,
    H_CE_TENANT,
    H_CE_CLUSTER,
    H_CE_SEVERITY,
    H_TENANT,
    H_CLUSTER,
    H_SEVERITY,
];
/// Headers of a signal record: its schema (`fluxsight.signal/v1`), kind (`record` /
/// `heartbeat`) and the publisher's sequence number, readable without the value.
pub const H_SIGNAL_SCHEMA: &str = "fluxsight_schema";
pub const H_SIGNAL_KIND: &str = "fluxsight_kind";
pub const H_SIGNAL_SEQ: &str = "fluxsight_seq";
/// Every header a signal record carries, in the order written.
pub const SIGNAL_HEADERS: [&str; 4] =
    [H_SIGNAL_SCHEMA, H_SIGNAL_KIND, H_SIGNAL_SEQ, H_CONTENT_TYPE];
const CE_SPECVERSION: &str = "1.0";
const CONTENT_TYPE_JSON: &str = "application/json";

/// librdkafka properties that carry the delivery guarantee or a secret: `properties:`
/// may not set them (they have their own fields or are fixed).
const RESERVED_PROPERTIES: [&str; 12] = [
    "bootstrap.servers",
    "metadata.broker.list",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "max.in.flight.requests.per.connection",
    "max.in.flight",
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
];

/// One Kafka record, before it is handed to the producer.
#[derive(Debug, Clone, PartialEq)]
pub struct KafkaRecord {
    pub topic: String,
    /// `cluster/namespace/kind/name` of the subject.
    pub key: String,
    /// `(name, value)` in [`HEADERS`] order ([`SIGNAL_HEADERS`] for a signal).
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body (OCSF, ECS or native; a signal's wire form).
    pub value: Vec<u8>,
    /// The record timestamp, ms (a signal's event time); `None`: the producer's clock.
    pub timestamp: Option<i64>,
}

impl KafkaRecord {
    fn owned_headers(&self) -> OwnedHeaders {
        self.headers.iter().fold(
            OwnedHeaders::new_with_capacity(self.headers.len()),
            |h, (k, v)| {
                h.insert(Header {
                    key: k,
                    value: Some(v.as_bytes()),
                })
            },
        )
    }
}

/// The record key of an object: `cluster/namespace/kind/name` (namespace empty for
/// cluster-scoped objects), so updates of one object stay ordered in one partition.
pub fn record_key(cluster: &str, o: &ObjectRef) -> String {
    format!("{cluster}/{}/{}/{}", o.namespace, o.kind, o.name)
}

/// The records of one delivery: one per item (a group → one per finding).
pub fn records(
    d: &Delivery,
    fmt: BodyFormat,
    findings_topic: &str,
    audit_topic: &str,
) -> Vec<KafkaRecord> {
    items(d)
        .iter()
        .map(|item| {
            let (topic, cluster, subject, severity) = match item {
                Item::Finding(f) => (findings_topic, &f.cluster, &f.subject, f.severity.as_str()),
                Item::Audit(a) => (
                    audit_topic,
                    &a.cluster,
                    &a.subject,
                    // Mirrors the OCSF audit mapping: failures are high, the rest info.
                    if a.outcome == "success" {
                        "info"
                    } else {
                        "error"
                    },
                ),
            };
            let ce = ce_attributes(item);
            let value = serde_json::to_vec(&render_item(item, fmt)).unwrap_or_default();
            KafkaRecord {
                topic: topic.to_string(),
                key: record_key(cluster, subject),
                headers: vec![
                    (H_SPECVERSION, CE_SPECVERSION.to_string()),
                    (H_ID, ce.id),
                    (H_SOURCE, ce.source),
                    (H_TYPE, ce.type_),
                    (H_SUBJECT, ce.subject),
                    (H_TIME, ce.time),
                    (H_CONTENT_TYPE, CONTENT_TYPE_JSON.to_string()),
                    (H_CE_TENANT, ce.tenant.clone()),
                    (H_CE_CLUSTER, cluster.clone()),
                    (H_CE_SEVERITY, severity.to_string()),
                    (H_TENANT, ce.tenant),
                    (H_CLUSTER, cluster.clone()),
                    (H_SEVERITY, severity.to_string()),
                ]
                .into_iter()
                .map(|(k, v)| (k, header_value(v)))
                .collect(),
                value,
                timestamp: None,
            }
        })
        .collect()
}

/// The record of a signal: key = cluster id (one cluster's signals stay ordered in one
/// partition), timestamp = event time, the schema, kind and sequence number as headers.
pub fn signal_record(s: &Signal, topic: &str) -> KafkaRecord {
    KafkaRecord {
        topic: topic.to_string(),
        key: s.cluster.clone(),
        headers: vec![
            (H_SIGNAL_SCHEMA, SCHEMA.to_string()),
            (H_SIGNAL_KIND, s.kind.as_str().to_string()),
            (H_SIGNAL_SEQ, s.seq.to_string()),
            (H_CONTENT_TYPE, CONTENT_TYPE_JSON.to_string()),
        ],
        value: s.encode(),
        timestamp: Some(s.t),
    }
}

/// The records of one delivery for a sink with these topics.
fn delivery_records(d: &Delivery, sink: &KafkaSink) -> Vec<KafkaRecord> {
    match d {
        Delivery::Signal(s) => vec![signal_record(s, &sink.signals_topic)],
        _ => records(d, sink.format, &sink.findings_topic, &sink.audit_topic),
    }
}

/// A `ce_*` header value without control characters: consumers that copy Kafka headers
/// into HTTP headers or log lines must not receive a CR/LF from tenant-influenced text
/// (subjects, tenants). Each control character becomes `%XX`.
pub fn header_value(v: String) -> String {
    if !v.chars().any(char::is_control) {
        return v;
    }
    v.chars()
        .map(|c| {
            if c.is_control() {
                let mut b = [0u8; 4];
                c.encode_utf8(&mut b)
                    .bytes()
                    .map(|x| format!("%{x:02X}"))
                    .collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn needs_tls(protocol: &str) -> bool {
    matches!(protocol, "ssl" | "sasl_ssl")
}

/// The librdkafka configuration of a sink (resolves SASL secrets). The result holds
/// secrets: never log or print it.
pub fn client_config(cfg: &KafkaConfig) -> Result<ClientConfig, String> {
    let name = &cfg.name;
    let err = |m: String| format!("sink '{name}': {m}");
    let timeout_ms = match &cfg.message_timeout {
        Some(s) => parse_go_duration_ms(s)
            .ok_or_else(|| err(format!("message_timeout: '{s}' is not a duration")))?,
        None => DEFAULT_MESSAGE_TIMEOUT_MS,
    };
    ssrf::check_brokers(&cfg.brokers, &Allow::new(&cfg.allow_hosts))
        .map_err(|why| err(ssrf::refusal("brokers", why)))?;
    let protocol = cfg.security_protocol.as_deref().unwrap_or("plaintext");
    let mechanism = cfg.sasl_mechanism.as_deref();
    if !cfg!(feature = "kafka-tls")
        && (needs_tls(protocol) || mechanism.is_some_and(|m| m.starts_with("SCRAM")))
    {
        return Err(err(format!(
            "security_protocol {protocol} / sasl_mechanism {} needs TLS support: build fluxsight with --features kafka-tls (links OpenSSL)",
            mechanism.unwrap_or("-")
        )));
    }
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", cfg.brokers.trim())
        .set("client.id", format!("fluxsight-{name}"))
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set(
            "compression.codec",
            cfg.compression.as_deref().unwrap_or(DEFAULT_COMPRESSION),
        )
        .set("message.timeout.ms", timeout_ms.to_string())
        .set("security.protocol", protocol);
    if let Some(m) = mechanism {
        c.set("sasl.mechanism", m);
    }
    if let Some(u) = &cfg.sasl_username {
        c.set(
            "sasl.username",
            u.resolve()
                .map_err(|e| err(format!("sasl_username: {e}")))?,
        );
    }
    if let Some(p) = &cfg.sasl_password {
        c.set(
            "sasl.password",
            p.resolve()
                .map_err(|e| err(format!("sasl_password: {e}")))?,
        );
    }
    if let Some(ca) = &cfg.ssl_ca_location {
        c.set("ssl.ca.location", ca);
    }
    for (k, v) in &cfg.properties {
        if RESERVED_PROPERTIES.contains(&k.as_str()) {
            return Err(err(format!(
                "properties.{k}: set by fluxsight (delivery guarantee or its own field)"
            )));
        }
        c.set(k, v);
    }
    Ok(c)
}

/// The running sink.
pub struct KafkaSink {
    name: String,
    config: ClientConfig,
    producer: FutureProducer,
    findings_topic: String,
    audit_topic: String,
    signals_topic: String,
    format: BodyFormat,
    /// Batches failed in a row (reset by a delivered batch).
    failed_in_row: u32,
}

// Hand-written: `config` holds `sasl.password`.
impl std::fmt::Debug for KafkaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSink")
            .field("name", &self.name)
            .field("findings_topic", &self.findings_topic)
            .field("audit_topic", &self.audit_topic)
            .field("signals_topic", &self.signals_topic)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// Builds the sink (build step: reads secrets, creates the producer; connecting is lazy).
/// `send` and `flush` run on a tokio runtime (the sink worker's).
pub fn build(cfg: &KafkaConfig) -> Result<Box<dyn Sink>, String> {
    Ok(Box::new(KafkaSink::new(cfg)?))
}

fn create_producer(name: &str, c: &ClientConfig) -> Result<FutureProducer, String> {
    // librdkafka quotes a refused value, but the secrets (sasl.username/password)
    // accept any string, so they never appear in this error.
    c.create()
        .map_err(|e| format!("sink '{name}': kafka producer: {e}"))
}

impl KafkaSink {
    pub fn new(cfg: &KafkaConfig) -> Result<Self, String> {
        let config = client_config(cfg)?;
        let producer = create_producer(&cfg.name, &config)?;
        let s = KafkaSink {
            name: cfg.name.clone(),
            config,
            producer,
            findings_topic: cfg
                .findings_topic
                .clone()
                .unwrap_or_else(|| DEFAULT_FINDINGS_TOPIC.into()),
            audit_topic: cfg
                .audit_topic
                .clone()
                .unwrap_or_else(|| DEFAULT_AUDIT_TOPIC.into()),
            signals_topic: cfg
                .signals_topic
                .clone()
                .unwrap_or_else(|| DEFAULT_SIGNALS_TOPIC.into()),
            format: cfg.format.unwrap_or(BodyFormat::Ocsf),
            failed_in_row: 0,
        };
        tracing::info!(sink = %s.name, brokers = %cfg.brokers, findings_topic = %s.findings_topic,
            audit_topic = %s.audit_topic, signals = cfg.signals, signals_topic = %s.signals_topic, security_protocol = cfg.security_protocol.as_deref().unwrap_or("plaintext"),
            "kafka sink ready");
        Ok(s)
    }

    /// Hands every record to librdkafka, then waits for every delivery report.
    async fn send_batch(&mut self, batch: &[Delivery]) -> Result<(), SinkError> {
        let recs: Vec<KafkaRecord> = batch
            .iter()
            .flat_map(|d| delivery_records(d, self))
            .collect();
        let mut pending: Vec<(usize, DeliveryFuture)> = Vec::with_capacity(recs.len());
        let mut failures: Vec<(usize, KafkaError)> = Vec::new();
        'records: for (i, r) in recs.iter().enumerate() {
            let mut waited = Duration::ZERO;
            loop {
                let mut fr = FutureRecord::to(&r.topic)
                    .key(r.key.as_str())
                    .payload(r.value.as_slice())
                    .headers(r.owned_headers());
                if let Some(ts) = r.timestamp {
                    fr = fr.timestamp(ts);
                }
                match self.producer.send_result(fr) {
                    Ok(f) => {
                        pending.push((i, f));
                        break;
                    }
                    // The local queue is full: librdkafka drains it in the background.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                        if waited < Duration::from_secs(5) =>
                    {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        waited += Duration::from_millis(50);
                    }
                    Err((e, _)) => {
                        failures.push((i, e));
                        // Stop enqueueing; what is queued is still awaited below.
                        break 'records;
                    }
                }
            }
        }
        for (i, f) in pending {
            match f.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => failures.push((i, e)),
                Err(_) => failures.push((i, KafkaError::Canceled)),
            }
        }
        if failures.is_empty() {
            self.failed_in_row = 0;
            return Ok(());
        }
        self.failed_in_row += 1;
        let fatal = failures.iter().any(|(_, e)| is_fatal(e))
            || self.producer.client().fatal_error().is_some();
        if fatal || self.failed_in_row >= RECREATE_AFTER_FAILURES {
            // A fatal idempotence error, or a producer stuck on state the broker lost:
            // start a new producer for the retry.
            tracing::warn!(sink = %self.name, fatal, failed_in_row = self.failed_in_row, "replacing the kafka producer");
            match create_producer(&self.name, &self.config) {
                Ok(p) => {
                    self.producer = p;
                    self.failed_in_row = 0;
                }
                Err(e) => return Err(SinkError::retryable(e)),
            }
        }
        Err(summarize(&recs, &failures))
    }
}

fn is_fatal(e: &KafkaError) -> bool {
    e.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal)
}

/// Whether an error is about the record itself (retrying the same bytes cannot help).
pub fn is_permanent(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::BadMessage
                | RDKafkaErrorCode::UnsupportedForMessageFormat
        )
    )
}

/// One error for the batch: retryable if any record failed for a retryable reason (the
/// whole batch is re-sent: at least once), permanent only if every failure is.
fn summarize(recs: &[KafkaRecord], failures: &[(usize, KafkaError)]) -> SinkError {
    let (i, first) = &failures[0];
    let id = recs[*i]
        .headers
        .iter()
        .find(|(k, _)| *k == H_ID || *k == H_SIGNAL_SEQ)
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let message = format!(
        "kafka: {} of {} records failed; first: {first} (topic {}, ce_id {id})",
        failures.len(),
        recs.len(),
        recs[*i].topic
    );
    if failures.iter().all(|(_, e)| is_permanent(e)) {
        SinkError::permanent(message)
    } else {
        SinkError::retryable(message)
    }
}

impl Sink for KafkaSink {
    fn send<'a>(&'a mut self, batch: &'a [Delivery]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(self.send_batch(batch))
    }

    fn flush(&mut self) -> BoxFut<'_, Result<(), SinkError>> {
        let producer = self.producer.clone();
        let name = self.name.clone();
        Box::pin(async move {
            // librdkafka's flush blocks its thread: keep it off the async workers.
            let res = tokio::task::spawn_blocking(move || producer.flush(FLUSH_TIMEOUT))
                .await
                .map_err(|e| SinkError::retryable(format!("kafka flush: {e}")))?;
            res.map_err(|e| {
                tracing::error!(sink = %name, error = %e, "kafka flush did not complete; queued records may be lost");
                SinkError::retryable(format!("kafka flush: {e}"))
            })
        })
    }

    fn max_batch(&self) -> usize {
        MAX_BATCH
    }
}

#[cfg(test)]
mod tests;
