//! Fast tests of the Kafka sink: the record mapping without a broker, and the producer
//! against librdkafka's in-process `MockCluster` (its own test seam). The real broker
//! runs in `tests/kafka_e2e.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

use super::*;
use crate::correlate::finding::finding_id;
use crate::correlate::PatternId;
use crate::correlate::{AuditRecord, Finding, Status};
use crate::record::{Class, Record, Severity};
use crate::signal::{SignalKind, SignalProducer};
use crate::sinks::config::SecretRef;
use crate::sinks::Group;

fn finding(name: &str, emission: u64) -> Finding {
    let subject = ObjectRef::new("Kustomization", "team-a", name);
    Finding {
        id: finding_id(PatternId::BuildFailure.as_str(), &subject),
        pattern: PatternId::BuildFailure.as_str().into(),
        status: Status::Firing,
        severity: Severity::Error,
        title: "kustomize build failed".into(),
        summary: String::new(),
        cluster: "prod-eu-1".into(),
        tenant: "team-a".into(),
        tenants: vec![],
        subject,
        root_cause: None,
        impacted: vec![],
        impact: Vec::new(),
        first_seen: 1_767_268_800_000,
        last_seen: 1_767_268_860_000,
        count: 2,
        evidence: vec![],
        labels: Default::default(),
        remediation: String::new(),
        last_counted: 0,
        emission,
        rule: Default::default(),
        workload: None,
        text_pending: Default::default(),
    }
}

fn audit() -> AuditRecord {
    AuditRecord {
        ts: 1_767_268_900_000,
        cluster: "prod-eu-1".into(),
        controller: Some("kustomize-controller".into()),
        action: "revision_applied".into(),
        subject: ObjectRef::new("Kustomization", "team-a", "apps"),
        tenant: "team-a".into(),
        source: None,
        source_url: None,
        revision: Some("main@sha1:0123456789abcdef0123456789abcdef01234567".into()),
        commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
        changes: Default::default(),
        outcome: "success".into(),
        message: "applied".into(),
    }
}

fn group() -> Delivery {
    Delivery::Group(Box::new(Group {
        route: "siem".into(),
        key: "siem/tenant=team-a".into(),
        labels: BTreeMap::new(),
        findings: vec![finding("apps", 1), finding("infra", 3)],
    }))
}

fn header<'a>(r: &'a KafkaRecord, name: &str) -> &'a str {
    r.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("header {name} missing"))
}

fn config(brokers: &str) -> KafkaConfig {
    KafkaConfig {
        name: "siem".into(),
        brokers: brokers.into(),
        findings_topic: None,
        audit_topic: None,
        format: None,
        signals: false,
        signals_topic: None,
        heartbeat_interval: None,
        security_protocol: None,
        sasl_mechanism: None,
        sasl_username: None,
        sasl_password: None,
        ssl_ca_location: None,
        compression: None,
        message_timeout: Some("2s".into()),
        properties: BTreeMap::new(),
        allow_hosts: Vec::new(),
    }
}

#[test]
fn control_characters_never_reach_a_header() {
    let mut g = group();
    if let Delivery::Group(g) = &mut g {
        g.findings[0].tenant = "team-a\r\nX-Injected: 1".into();
    }
    let recs = records(&g, BodyFormat::Ocsf, "f.v1", "a.v1");
    let t = header(&recs[0], H_TENANT);
    assert_eq!(t, "team-a%0D%0AX-Injected: 1");
    for r in &recs {
        assert!(r
            .headers
            .iter()
            .all(|(_, v)| !v.chars().any(char::is_control)));
    }
}

#[test]
fn metadata_brokers_are_refused_unless_allowed() {
    let e = client_config(&config("169.254.169.254:9092"))
        .err()
        .unwrap();
    assert!(e.contains("brokers") && e.contains("metadata"), "{e}");
    let mut c = config("169.254.169.254:9092");
    c.allow_hosts = vec!["169.254.169.254".into()];
    assert!(client_config(&c).is_ok());
}

#[test]
fn a_group_maps_to_one_record_per_finding_with_key_headers_and_ocsf() {
    let recs = records(&group(), BodyFormat::Ocsf, "f.v1", "a.v1");
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].topic, "f.v1");
    assert_eq!(recs[0].key, "prod-eu-1/team-a/Kustomization/apps");
    assert_eq!(recs[1].key, "prod-eu-1/team-a/Kustomization/infra");
    for r in &recs {
        for h in HEADERS {
            assert!(!header(r, h).is_empty(), "{h} empty");
        }
        assert_eq!(header(r, H_SPECVERSION), "1.0");
        assert_eq!(header(r, H_CONTENT_TYPE), "application/json");
        assert_eq!(header(r, H_SEVERITY), "error");
        assert_eq!(header(r, H_CLUSTER), "prod-eu-1");
        assert_eq!(header(r, H_SOURCE), "//fluxsight/prod-eu-1");
        let v: Value = serde_json::from_slice(&r.value).unwrap();
        assert_eq!(v["class_uid"], 2004);
        assert!(!v["finding_info"]["uid"].as_str().unwrap().is_empty());
    }
    assert_eq!(header(&recs[0], H_TYPE), "io.fluxsight.finding.created.v1");
    assert_eq!(header(&recs[1], H_TYPE), "io.fluxsight.finding.updated.v1");
    assert_eq!(header(&recs[0], H_SUBJECT), "team-a/Kustomization/apps");
    assert_eq!(header(&recs[0], H_TIME), "2026-01-01T12:01:00.000Z");
    let v: Value = serde_json::from_slice(&recs[1].value).unwrap();
    assert_eq!(
        (v["activity_id"].clone(), v["type_uid"].clone()),
        (2.into(), 200402.into())
    );
}

#[test]
fn audit_records_go_to_the_audit_topic_and_formats_are_selectable() {
    let d = Delivery::Audit(Box::new(audit()));
    let r = &records(&d, BodyFormat::Ocsf, "f", "a")[0];
    assert_eq!(r.topic, "a");
    assert_eq!(r.key, "prod-eu-1/team-a/Kustomization/apps");
    assert_eq!(header(r, H_ID), d.delivery_id());
    assert_eq!(header(r, H_SEVERITY), "info");
    let v: Value = serde_json::from_slice(&r.value).unwrap();
    assert_eq!(
        (v["class_uid"].clone(), v["type_uid"].clone()),
        (6003.into(), 600303.into())
    );
    let ecs: Value =
        serde_json::from_slice(&records(&d, BodyFormat::Ecs, "f", "a")[0].value).unwrap();
    assert!(ecs.get("ecs").is_some());
    let native: Value =
        serde_json::from_slice(&records(&group(), BodyFormat::Native, "f", "a")[0].value).unwrap();
    assert!(native.get("class_uid").is_none());
}

#[test]
fn config_refuses_guarantee_overrides_and_names_missing_secrets() {
    let mut c = config("127.0.0.1:9");
    c.properties.insert("acks".into(), "1".into());
    let e = client_config(&c).err().unwrap();
    assert!(e.contains("properties.acks"), "{e}");

    let mut c = config("127.0.0.1:9");
    c.security_protocol = Some("sasl_plaintext".into());
    c.sasl_mechanism = Some("PLAIN".into());
    c.sasl_username = Some(SecretRef::Env("FLUXSIGHT_TEST_KAFKA_USER_UNSET".into()));
    let e = client_config(&c).err().unwrap();
    assert!(
        e.contains("sasl_username") && e.contains("FLUXSIGHT_TEST_KAFKA_USER_UNSET"),
        "{e}"
    );

    if !cfg!(feature = "kafka-tls") {
        let mut c = config("127.0.0.1:9");
        c.security_protocol = Some("sasl_ssl".into());
        let e = client_config(&c).err().unwrap();
        assert!(e.contains("kafka-tls"), "{e}");
    }
}

#[test]
fn secrets_never_appear_in_errors_or_logs_of_the_config() {
    let dir = std::env::temp_dir().join(format!("fluxsight-kafka-secret-{}", std::process::id()));
    std::fs::write(&dir, "s3cr3t-value\n").unwrap();
    let mut c = config("127.0.0.1:9");
    c.security_protocol = Some("sasl_plaintext".into());
    c.sasl_mechanism = Some("PLAIN".into());
    c.sasl_username = Some(SecretRef::File(dir.display().to_string()));
    c.sasl_password = Some(SecretRef::File(dir.display().to_string()));
    c.compression = Some("no-such-codec".into());
    let e = client_config(&c).and_then(|cc| create_producer("siem", &cc).map(|_| ()));
    let _ = std::fs::remove_file(&dir);
    let e = e.expect_err("an unknown codec is refused");
    assert!(
        e.contains("compression.codec") && !e.contains("s3cr3t"),
        "{e}"
    );
}

#[test]
fn errors_about_the_record_are_permanent_transport_errors_retryable() {
    let big = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
    let timeout = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
    assert!(is_permanent(&big) && !is_permanent(&timeout));
    let recs = records(&group(), BodyFormat::Ocsf, "f", "a");
    assert!(matches!(
        summarize(&recs, &[(0, big.clone())]),
        SinkError::Permanent { .. }
    ));
    let mixed = summarize(&recs, &[(0, big), (1, timeout)]);
    assert!(matches!(mixed, SinkError::Retryable { .. }), "{mixed}");
}

/// Keys and headers of the first `want` records of `topic`.
fn consume(bootstrap: &str, topic: &str, want: usize) -> Vec<(String, Vec<(String, String)>)> {
    consume_all(bootstrap, topic, want)
        .into_iter()
        .map(|(key, _, headers, _)| (key, headers))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_cluster_receives_every_record_of_a_batch() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(DEFAULT_FINDINGS_TOPIC, 1, 1).unwrap();
    mock.create_topic(DEFAULT_AUDIT_TOPIC, 1, 1).unwrap();
    let bootstrap = mock.bootstrap_servers();
    let mut sink = KafkaSink::new(&config(&bootstrap)).unwrap();
    let batch = vec![group(), Delivery::Audit(Box::new(audit()))];
    sink.send(&batch).await.unwrap();
    sink.flush().await.unwrap();
    let b = bootstrap.clone();
    let (findings, audits) = tokio::task::spawn_blocking(move || {
        (
            consume(&b, DEFAULT_FINDINGS_TOPIC, 2),
            consume(&b, DEFAULT_AUDIT_TOPIC, 1),
        )
    })
    .await
    .unwrap();
    assert_eq!(findings.len(), 2);
    assert_eq!(audits.len(), 1);
    assert_eq!(findings[0].0, "prod-eu-1/team-a/Kustomization/apps");
    for (_, headers) in findings.iter().chain(&audits) {
        let names: Vec<&str> = headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, HEADERS.to_vec());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_broker_is_retryable_and_an_oversized_record_permanent() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(DEFAULT_FINDINGS_TOPIC, 1, 1).unwrap();
    let mut cfg = config(&mock.bootstrap_servers());
    cfg.message_timeout = Some("500ms".into());
    cfg.properties
        .insert("message.max.bytes".into(), "8000".into());
    cfg.properties
        .insert("reconnect.backoff.max.ms".into(), "200".into());
    let mut sink = KafkaSink::new(&cfg).unwrap();
    let mut big = finding("apps", 1);
    big.summary = "x".repeat(20_000);
    let e = sink
        .send(&[Delivery::Finding(Box::new(big))])
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Permanent { .. }), "{e}");

    mock.broker_down(1).unwrap();
    let e = sink
        .send(&[Delivery::Finding(Box::new(finding("apps", 1)))])
        .await
        .unwrap_err();
    assert!(matches!(e, SinkError::Retryable { .. }), "{e}");
    mock.broker_up(1).unwrap();
    // What the worker does: retry the batch until the broker is back.
    let batch = [Delivery::Finding(Box::new(finding("apps", 2)))];
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(e) = sink.send(&batch).await {
        assert!(matches!(e, SinkError::Retryable { .. }), "{e}");
        assert!(Instant::now() < deadline, "no recovery: {e}");
    }
    sink.flush().await.unwrap();
}

/// The CloudEvents Kafka binding maps every context attribute, extensions included, to
/// a `ce_<name>` header; SDKs (Go, Java, JS) read only those. The unprefixed routing
/// headers stay for one release so existing consumers keep working.
#[test]
fn extension_attributes_are_ce_prefixed_and_old_names_are_kept() {
    let recs = records(&group(), BodyFormat::Native, "f.v1", "a.v1");
    for r in &recs {
        assert_eq!(header(r, "ce_tenant"), "team-a");
        assert_eq!(header(r, "ce_cluster"), "prod-eu-1");
        assert_eq!(header(r, "ce_severity"), "error");
        assert_eq!(header(r, "tenant"), "team-a");
        assert_eq!(header(r, "cluster"), "prod-eu-1");
        assert_eq!(header(r, "severity"), "error");
        // Extension names follow the CloudEvents naming rule: [a-z0-9]{1,20}.
        for (k, _) in r.headers.iter().filter(|(k, _)| k.starts_with("ce_")) {
            let name = &k[3..];
            assert!(
                !name.is_empty()
                    && name.len() <= 20
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{k}"
            );
        }
    }
}

fn signals() -> Vec<Delivery> {
    let mut p = SignalProducer::new("prod-eu-1", 10_000);
    let rec = Record {
        ts: Some(1_767_268_800_123),
        object: Some(ObjectRef::new("GitRepository", "team-a", "app")),
        msg: "authentication required".into(),
        class: Class::GitAuthFailed,
        ..Record::default()
    };
    let first = p.record(&rec, None);
    let hb = p.heartbeat(1_767_268_801_000).unwrap();
    vec![
        Delivery::Signal(Box::new(first)),
        Delivery::Signal(Box::new(hb)),
    ]
}

#[test]
fn a_signal_is_keyed_by_cluster_and_stamped_with_event_time() {
    let d = signals();
    let Delivery::Signal(s) = &d[0] else {
        unreachable!()
    };
    let r = signal_record(s, "sig.v1");
    assert_eq!((r.topic.as_str(), r.key.as_str()), ("sig.v1", "prod-eu-1"));
    assert_eq!(r.timestamp, Some(1_767_268_800_123));
    let names: Vec<&str> = r.headers.iter().map(|(k, _)| *k).collect();
    assert_eq!(names, SIGNAL_HEADERS.to_vec());
    assert_eq!(header(&r, H_SIGNAL_SCHEMA), "fluxsight.signal/v1");
    assert_eq!(header(&r, H_SIGNAL_KIND), "record");
    assert_eq!(header(&r, H_SIGNAL_SEQ), "1");
    assert_eq!(Signal::decode(&r.value).unwrap(), **s);
    // Findings keep the producer's clock and their CloudEvents headers.
    assert!(records(&group(), BodyFormat::Ocsf, "f", "a")
        .iter()
        .all(|r| r.timestamp.is_none()));
}

/// One consumed record: key, timestamp, headers, value.
type Consumed = (String, Option<i64>, Vec<(String, String)>, Vec<u8>);

fn consume_all(bootstrap: &str, topic: &str, want: usize) -> Vec<Consumed> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fluxsight-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < want && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            let v = String::from_utf8_lossy(h.value.unwrap_or_default());
                            (h.key.to_string(), v.into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push((
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                m.timestamp().to_millis(),
                headers,
                m.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_cluster_receives_signals_with_key_timestamp_and_headers() {
    let mock = MockCluster::new(1).unwrap();
    mock.create_topic(DEFAULT_SIGNALS_TOPIC, 1, 1).unwrap();
    mock.create_topic(DEFAULT_FINDINGS_TOPIC, 1, 1).unwrap();
    let bootstrap = mock.bootstrap_servers();
    let mut cfg = config(&bootstrap);
    cfg.signals = true;
    let mut sink = KafkaSink::new(&cfg).unwrap();
    // A finding a route asked for goes to its own topic in the same batch.
    let mut batch = signals();
    batch.push(Delivery::Finding(Box::new(finding("apps", 1))));
    sink.send(&batch).await.unwrap();
    sink.flush().await.unwrap();
    let b = bootstrap.clone();
    let (sigs, findings) = tokio::task::spawn_blocking(move || {
        (
            consume_all(&b, DEFAULT_SIGNALS_TOPIC, 2),
            consume_all(&b, DEFAULT_FINDINGS_TOPIC, 1),
        )
    })
    .await
    .unwrap();
    assert_eq!((sigs.len(), findings.len()), (2, 1));
    let kinds: Vec<SignalKind> = sigs
        .iter()
        .map(|(_, _, _, v)| Signal::decode(v).unwrap().kind)
        .collect();
    assert_eq!(kinds, [SignalKind::Record, SignalKind::Heartbeat]);
    let stamps: Vec<Option<i64>> = sigs.iter().map(|(_, t, _, _)| *t).collect();
    assert_eq!(stamps, [Some(1_767_268_800_123), Some(1_767_268_801_000)]);
    for (key, _, headers, _) in &sigs {
        assert_eq!(key, "prod-eu-1");
        let h: BTreeMap<&str, &str> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(h[H_SIGNAL_SCHEMA], "fluxsight.signal/v1");
        assert_eq!(h.len(), SIGNAL_HEADERS.len());
    }
    assert_eq!(findings[0].0, "prod-eu-1/team-a/Kustomization/apps");
}
