//! The Kafka sink against a real Kafka-compatible broker (`tansu`, memory storage) on
//! loopback: a replay of the demo capture delivered and read back by a consumer, and a
//! broker stopped mid-stream and restarted, a broker down from the start, and a bootstrap
//! name that does not resolve; signals (docs/fleet.md) of a replay spooled while the
//! broker is down and published once it is up.
//!
//! `tansu` is installed by `scripts/tansu.sh install` (run by `scripts/test.sh`). When it
//! is missing, these tests fail under CI (`CI` set) and install it otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fluxsight::classify::Classifier;
use fluxsight::config::LoadPipeline;
use fluxsight::correlate::spec::PatternSet;
use fluxsight::correlate::{Correlator, Output, Settings};
use fluxsight::parse::LineDecoder;
use fluxsight::pipeline::deliver::Deliverer;
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::record::TsMs;
use fluxsight::signal::{Signal, SignalKind, SignalProducer, DEFAULT_HEARTBEAT_MS};
use fluxsight::sinks::config::DeliveryPlan;
use fluxsight::sinks::kafka::{
    DEFAULT_AUDIT_TOPIC, DEFAULT_FINDINGS_TOPIC, DEFAULT_SIGNALS_TOPIC, HEADERS, H_CLUSTER, H_ID,
    H_SIGNAL_KIND, H_SIGNAL_SCHEMA, H_SIGNAL_SEQ, H_SUBJECT,
};
use fluxsight::sinks::Delivery;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

const CAPTURE: &str = "samples/demo/incident.log";
/// Partitions of the topics the tests create.
const PARTITIONS: i32 = 2;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[path = "common/tansu.rs"]
mod tansu;

use tansu::{create_topics_with, free_port, Broker};

fn create_topics(bootstrap: &str) {
    create_topics_with(
        bootstrap,
        &[
            (DEFAULT_FINDINGS_TOPIC, PARTITIONS),
            (DEFAULT_AUDIT_TOPIC, PARTITIONS),
            (DEFAULT_SIGNALS_TOPIC, PARTITIONS),
        ],
    );
}

/// One record read back.
#[derive(Debug)]
struct Got {
    key: String,
    headers: BTreeMap<String, String>,
    value: Value,
    /// The record timestamp (ms).
    timestamp: Option<i64>,
    /// The value's bytes.
    raw: Vec<u8>,
}

/// Reads `topic` (all partitions, from the beginning) until at least `min` records
/// arrived and the topic then stayed quiet for 2 s (so late duplicates are counted too),
/// or 60 s passed. Watermarks are not used: tansu 0.6 reports a high watermark that
/// counts record batches, not records.
fn consume(bootstrap: &str, topic: &str, min: usize) -> Vec<Got> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "fluxsight-e2e")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Instant::now();
    while Instant::now() < deadline && (out.len() < min || last.elapsed() < Duration::from_secs(2))
    {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                last = Instant::now();
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                let v = h.value.unwrap_or_default();
                                (h.key.to_string(), String::from_utf8_lossy(v).into_owned())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Got {
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    headers,
                    value: serde_json::from_slice(m.payload().unwrap_or_default())
                        .expect("value is JSON"),
                    timestamp: m.timestamp().to_millis(),
                    raw: m.payload().unwrap_or_default().to_vec(),
                });
            }
            Some(Err(e)) => eprintln!("consumer: {e}"),
            None => {}
        }
    }
    out
}

fn ptr<'a>(v: &'a Value, path: &str) -> &'a Value {
    v.pointer(path).unwrap_or(&Value::Null)
}

/// Every record: key `cluster/namespace/kind/name`, all `ce_*` and routing headers.
fn check_envelope(g: &Got) {
    for h in HEADERS {
        assert!(
            g.headers.get(h).is_some_and(|v| !v.is_empty()),
            "header {h} missing on {g:?}"
        );
    }
    assert_eq!(g.headers["ce_specversion"], "1.0");
    assert_eq!(g.headers["content-type"], "application/json");
    assert!(g.headers["ce_source"].starts_with("//fluxsight/"));
    // CloudEvents extensions as the Kafka binding names them; the unprefixed copies
    // (deprecated) carry the same values.
    for ext in ["tenant", "cluster", "severity"] {
        assert_eq!(g.headers[&format!("ce_{ext}")], g.headers[ext], "{ext}");
    }
    assert_eq!(
        g.key,
        format!("{}/{}", g.headers[H_CLUSTER], g.headers[H_SUBJECT]),
        "key is cluster/namespace/kind/name"
    );
    assert_eq!(g.key.split('/').count(), 4, "key {}", g.key);
    let r = ptr(&g.value, "/resources/0");
    let (ns, kind, name) = (
        r["namespace"].as_str().unwrap_or(""),
        r["type"].as_str().unwrap_or(""),
        r["name"].as_str().unwrap_or(""),
    );
    assert!(
        g.key.ends_with(&format!("/{ns}/{kind}/{name}")),
        "key {} names the OCSF resource {ns}/{kind}/{name}",
        g.key
    );
}

/// OCSF Detection Finding required fields (output-formats.md §1.2).
fn check_ocsf_finding(v: &Value) {
    assert_eq!(v["class_uid"], 2004, "{v}");
    assert_eq!(v["category_uid"], 2);
    let activity = v["activity_id"].as_i64().expect("activity_id");
    assert!([1, 2, 3].contains(&activity));
    assert_eq!(v["type_uid"].as_i64(), Some(200400 + activity));
    assert!(v["severity_id"]
        .as_i64()
        .is_some_and(|s| (0..=6).contains(&s) || s == 99));
    assert!(v["time"].as_i64().is_some_and(|t| t > 0), "time");
    assert!(ptr(v, "/metadata/version")
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert_eq!(ptr(v, "/metadata/product/name"), "fluxsight");
    assert!(ptr(v, "/finding_info/uid")
        .as_str()
        .is_some_and(|s| !s.is_empty()));
}

/// OCSF API Activity fields of an audit record (output-formats.md §1.5, §11).
fn check_ocsf_audit(v: &Value) {
    assert_eq!(v["class_uid"], 6003, "{v}");
    assert_eq!(v["category_uid"], 6);
    assert_eq!(v["activity_id"], 3);
    assert_eq!(v["type_uid"], 600303);
    assert!(v["severity_id"].as_i64().is_some());
    assert!(v["time"].as_i64().is_some_and(|t| t > 0));
    assert!(ptr(v, "/metadata/version").as_str().is_some());
    assert_eq!(ptr(v, "/metadata/product/name"), "fluxsight");
    assert!(ptr(v, "/actor/app_name").as_str().is_some());
    assert!(ptr(v, "/api/operation").as_str().is_some());
    assert!(ptr(v, "/src_endpoint/name").as_str().is_some());
    assert!(ptr(v, "/resources/0/name").as_str().is_some());
}

fn pipeline(dir: &Path, bootstrap: &str, delivery: &str) -> PathBuf {
    // KAFKA_DEBUG=eos,msg,topic turns on librdkafka's debug contexts (with RUST_LOG).
    let debug = std::env::var("KAFKA_DEBUG")
        .map(|d| format!("      debug: \"{d}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "cluster: e2e\n\
         sinks:\n  - name: siem\n    type: kafka\n    brokers: \"{bootstrap}\"\n    message_timeout: 2s\n    \
         properties:\n      reconnect.backoff.max.ms: \"500\"\n      linger.ms: \"5\"\n{debug}\
         routes:\n  - name: everything\n    sinks: [siem]\n\
         {delivery}"
    );
    let p = dir.join("pipeline.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fluxsight-kafka-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn count_by_id(got: &[Got]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for g in got {
        *m.entry(g.headers[H_ID].clone()).or_insert(0) += 1;
    }
    m
}

/// `RUST_LOG=fluxsight=debug,rdkafka=info` shows the sink worker and librdkafka logs.
fn trace() {
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

#[test]
fn replay_delivers_findings_and_audit_records_once_each() {
    let dir = tempdir("e2e");
    let broker = Broker::start(free_port(), dir.join("tansu.log"));
    create_topics(&broker.bootstrap());
    let cfg = pipeline(&dir, &broker.bootstrap(), "");
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .args(["replay", "--audit", "--config"])
        .arg(&cfg)
        .arg(root().join(CAPTURE))
        .output()
        .expect("run fluxsight replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed: {stderr}");
    // stdout: one native JSON line per finding update and per audit record.
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let audits_out = lines.iter().filter(|v| v["type"] == "audit").count();
    let findings_out = lines.len() - audits_out;
    assert!(
        findings_out > 0 && audits_out > 0,
        "capture yields both: {stderr}"
    );
    assert!(
        stderr.contains("dead-lettered 0 dropped 0 backlog 0"),
        "{stderr}"
    );

    let findings = consume(&broker.bootstrap(), DEFAULT_FINDINGS_TOPIC, findings_out);
    let audits = consume(&broker.bootstrap(), DEFAULT_AUDIT_TOPIC, audits_out);
    eprintln!(
        "e2e: replay emitted {findings_out} finding updates and {audits_out} audit records; \
         consumed {} and {}",
        findings.len(),
        audits.len()
    );
    for g in &findings {
        check_envelope(g);
        check_ocsf_finding(&g.value);
        assert!(g.headers["ce_type"].starts_with("io.fluxsight.finding."));
    }
    for g in &audits {
        check_envelope(g);
        check_ocsf_audit(&g.value);
        assert!(g.headers["ce_type"].starts_with("io.fluxsight.audit."));
    }
    let by_id = count_by_id(&findings);
    let dup: Vec<_> = by_id.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dup.is_empty(), "finding updates not exactly once: {dup:?}");
    assert_eq!(findings.len(), findings_out, "every finding update arrives");
    assert_eq!(audits.len(), audits_out, "every audit record arrives");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The correlator's outputs for the capture, in order, with their record times.
fn outputs(settings: Settings) -> Vec<(Vec<Output>, TsMs)> {
    let classifier = Classifier::builtin();
    let mut correlator = Correlator::new(settings);
    let mut decoder = LineDecoder::new(None);
    let f = std::fs::File::open(root().join(CAPTURE)).unwrap();
    let mut v = Vec::new();
    for line in BufReader::new(f).lines() {
        for mut rec in decoder.decode(line.unwrap().as_bytes()) {
            classifier.classify(&mut rec);
            correlator.on_record(&rec);
            let out = correlator.drain();
            if let (false, Some(now)) = (out.is_empty(), correlator.now()) {
                v.push((out, now));
            }
        }
    }
    correlator.finish();
    let out = correlator.drain();
    if let (false, Some(now)) = (out.is_empty(), correlator.now()) {
        v.push((out, now));
    }
    v
}

fn delivery_id(o: &Output) -> String {
    match o {
        Output::Finding(f) => Delivery::Finding(f.clone()).delivery_id(),
        Output::Audit(a) => Delivery::Audit(a.clone()).delivery_id(),
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn broker_stopped_mid_stream_and_restarted_loses_nothing() {
    trace();
    let dir = tempdir("fault");
    let mut broker = Broker::start(free_port(), dir.join("tansu.log"));
    create_topics(&broker.bootstrap());
    let delivery = format!(
        "delivery:\n  state_dir: \"{}\"\n  retry_initial: 50ms\n  retry_max: 1s\n  shutdown_timeout: 60s\n",
        dir.join("state").display()
    );
    let cfg = pipeline(&dir, &broker.bootstrap(), &delivery);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let (settings, plan) =
        Settings::pipeline_from_text(&text, &cfg.display().to_string(), PatternSet::builtin())
            .expect("pipeline is valid");
    let outs = outputs(settings);
    let all: Vec<String> = outs
        .iter()
        .flat_map(|(o, _)| o.iter().map(delivery_id))
        .collect();
    assert!(all.len() >= 4, "capture yields deliveries: {}", all.len());
    let half = outs.len() / 2;
    let first: usize = outs[..half].iter().map(|(o, _)| o.len()).sum();
    // (findings, audit records) in a slice of outputs: the least each topic must show.
    let per_topic = |outs: &[(Vec<Output>, TsMs)]| {
        let all = outs.iter().flat_map(|(o, _)| o);
        let audits = all.filter(|o| matches!(o, Output::Audit(_))).count();
        let total: usize = outs.iter().map(|(o, _)| o.len()).sum();
        (total - audits, audits)
    };

    let mut d = Deliverer::start(&plan).expect("start delivery");
    for (o, now) in &outs[..half] {
        d.deliver(o, *now);
    }
    wait_until("first half sent", Duration::from_secs(30), || {
        d.stats()["siem"].sent as usize >= first
    });
    // Memory storage: read what arrived before the broker goes away.
    let (f1, a1) = per_topic(&outs[..half]);
    let mut got = consume(&broker.bootstrap(), DEFAULT_FINDINGS_TOPIC, f1);
    got.extend(consume(&broker.bootstrap(), DEFAULT_AUDIT_TOPIC, a1));
    let before = got.len();

    broker.kill();
    for (o, now) in &outs[half..] {
        d.deliver(o, *now);
    }
    wait_until(
        "failed attempts while the broker is down",
        Duration::from_secs(30),
        || d.stats()["siem"].retried >= 2,
    );
    let down = d.stats()["siem"];
    assert!(down.backlog > 0, "deliveries wait in the spool: {down:?}");
    broker.restart();
    create_topics(&broker.bootstrap());
    let stats = d.finish()["siem"];
    eprintln!("fault: delivered before the outage {before} records; sink stats {stats:?}");
    assert_eq!(stats.backlog, 0, "spool drained after recovery: {stats:?}");
    assert_eq!(stats.dead_lettered + stats.dropped, 0, "{stats:?}");

    let rest = all.len() - first;
    let (f2, a2) = per_topic(&outs[half..]);
    got.extend(consume(&broker.bootstrap(), DEFAULT_FINDINGS_TOPIC, f2));
    got.extend(consume(&broker.bootstrap(), DEFAULT_AUDIT_TOPIC, a2));
    let received = count_by_id(&got);
    let missing: Vec<&String> = all
        .iter()
        .filter(|id| !received.contains_key(*id))
        .collect();
    let dups = got.len() - received.len();
    eprintln!(
        "fault: {} deliveries ({first} before the outage, {rest} during it); received {} records, \
         {} distinct, {dups} duplicates, {} missing",
        all.len(),
        got.len(),
        received.len(),
        missing.len()
    );
    assert!(missing.is_empty(), "lost deliveries: {missing:?}");
    let expected: BTreeSet<&String> = all.iter().collect();
    assert!(received.keys().all(|k| expected.contains(k)));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Delivers every output of the capture through a fresh [`Deliverer`] for `plan` and
/// waits until the sink has failed at least twice (the broker cannot be reached).
fn deliver_while_unreachable(plan: &DeliveryPlan, outs: &[(Vec<Output>, TsMs)]) -> Deliverer {
    let mut d = Deliverer::start(plan).expect("start delivery");
    for (o, now) in outs {
        d.deliver(o, *now);
    }
    wait_until(
        "failed attempts while the broker is unreachable",
        Duration::from_secs(60),
        || d.stats()["siem"].retried >= 2,
    );
    let st = d.stats()["siem"];
    assert_eq!(st.sent, 0, "{st:?}");
    assert_eq!(st.dropped, 0, "{st:?}");
    d
}

fn plan_for(dir: &Path, bootstrap: &str, shutdown: &str) -> DeliveryPlan {
    let delivery = format!(
        "delivery:\n  state_dir: \"{}\"\n  retry_initial: 50ms\n  retry_max: 1s\n  shutdown_timeout: {shutdown}\n",
        dir.join("state").display()
    );
    let cfg = pipeline(dir, bootstrap, &delivery);
    let text = std::fs::read_to_string(&cfg).unwrap();
    Settings::pipeline_from_text(&text, &cfg.display().to_string(), PatternSet::builtin())
        .expect("pipeline is valid")
        .1
}

/// Fault-matrix cells "Kafka broker down" (from the start, not only restarted) and
/// "DNS failure" (an unresolvable bootstrap name): everything waits in the spool and
/// arrives once the broker is reachable (down: same run; DNS: the next start, pointed at
/// a name that resolves, as `fluxsight drain` does).
#[test]
fn broker_down_from_start_and_unresolvable_bootstrap_lose_nothing() {
    trace();
    let (settings, _) =
        Settings::pipeline_from_text("cluster: e2e\n", "p", PatternSet::builtin()).expect("valid");
    let outs = outputs(settings);
    let all: BTreeSet<String> = outs
        .iter()
        .flat_map(|(o, _)| o.iter().map(delivery_id))
        .collect();
    let total: usize = outs.iter().map(|(o, _)| o.len()).sum();

    // 1. Nothing listens on the port until the deliveries have failed a while.
    let dir = tempdir("down-from-start");
    let port = free_port();
    let plan = plan_for(&dir, &format!("127.0.0.1:{port}"), "60s");
    let d = deliver_while_unreachable(&plan, &outs);
    assert_eq!(d.stats()["siem"].backlog as usize, total);
    let broker = Broker::start(port, dir.join("tansu.log"));
    create_topics(&broker.bootstrap());
    let stats = d.finish()["siem"];
    eprintln!("down from start: {stats:?}");
    assert_eq!(stats.backlog, 0, "spool drained once the broker is up");
    assert_eq!(stats.sent as usize, total);

    // 2. The bootstrap name does not resolve: kept in the spool across the shutdown.
    let dir2 = tempdir("dns");
    let plan = plan_for(&dir2, "kafka.x.invalid:9092", "2s");
    let d = deliver_while_unreachable(&plan, &outs);
    let stats = d.finish()["siem"];
    eprintln!("unresolvable bootstrap, at shutdown: {stats:?}");
    assert_eq!(
        stats.backlog as usize, total,
        "left in the spool: {stats:?}"
    );
    let plan = plan_for(&dir2, &broker.bootstrap(), "60s");
    let stats = Deliverer::start(&plan).expect("restart").finish()["siem"];
    eprintln!("unresolvable bootstrap, next start: {stats:?}");
    assert_eq!(stats.backlog, 0);
    assert_eq!(stats.sent as usize, total);

    // Both rounds arrived: every delivery id at least twice.
    let (f, a) = outs
        .iter()
        .flat_map(|(o, _)| o)
        .fold((0, 0), |(f, a), o| match o {
            Output::Audit(_) => (f, a + 1),
            Output::Finding(_) => (f + 1, a),
        });
    let mut got = consume(&broker.bootstrap(), DEFAULT_FINDINGS_TOPIC, 2 * f);
    got.extend(consume(&broker.bootstrap(), DEFAULT_AUDIT_TOPIC, 2 * a));
    let received = count_by_id(&got);
    let short: Vec<_> = all
        .iter()
        .filter(|id| received.get(*id).copied().unwrap_or(0) < 2)
        .collect();
    assert!(short.is_empty(), "lost deliveries: {short:?}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}

/// The signals a replay of the capture makes for cluster `e2e`, as a signals sink with
/// the default heartbeat gets them (same producer, same order).
fn expected_signals() -> Vec<Signal> {
    let got = std::sync::Arc::new(Mutex::new(Vec::new()));
    let tap = got.clone();
    let mut out = Vec::new();
    let mut emitter = Emitter::new(&mut out, ReplayOptions::default()).with_signal_tap(
        SignalProducer::new("e2e", DEFAULT_HEARTBEAT_MS),
        Box::new(move |s| tap.lock().unwrap().push(s)),
    );
    let mut correlator = Correlator::new(Settings::default());
    let input = std::fs::read(root().join(CAPTURE)).unwrap();
    let inputs = vec![("incident.log".to_string(), &input[..])];
    replay(
        inputs,
        &Classifier::builtin(),
        &mut correlator,
        &mut emitter,
        ReplayOptions::default().lateness_ms,
    )
    .unwrap();
    emitter.finish().unwrap();
    let v = std::mem::take(&mut *got.lock().unwrap());
    v
}

/// `fluxsight replay` with a signals sink while nothing listens: every signal waits in
/// the spool (the summary's backlog); the broker starts late and `fluxsight drain`
/// publishes them: each exactly once, keyed by the cluster, stamped with its event
/// time, in sequence order in its one partition, and identical to what the replay made.
#[test]
fn replay_signals_wait_in_the_spool_until_the_broker_starts() {
    trace();
    let want = expected_signals();
    assert!(
        want.len() > 100,
        "the capture gives signals: {}",
        want.len()
    );
    assert!(want.iter().any(|s| s.kind == SignalKind::Heartbeat));

    let dir = tempdir("signals");
    let port = free_port();
    let bootstrap = format!("127.0.0.1:{port}");
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(
        &cfg,
        format!(
            "cluster: e2e\n\
             sinks:\n  - name: fleet\n    type: kafka\n    brokers: \"{bootstrap}\"\n    message_timeout: 2s\n    \
             signals: true\n    properties:\n      reconnect.backoff.max.ms: \"500\"\n      linger.ms: \"5\"\n\
             delivery:\n  state_dir: \"{}\"\n  retry_initial: 50ms\n  retry_max: 1s\n  shutdown_timeout: 3s\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .args(["replay", "--config"])
        .arg(&cfg)
        .arg(root().join(CAPTURE))
        .output()
        .expect("run fluxsight replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed: {stderr}");
    assert!(
        stderr.contains("sent 0 ") && stderr.contains(&format!("backlog {}", want.len())),
        "every signal waits in the spool: {stderr}"
    );
    assert!(!out.stdout.is_empty(), "findings still go to stdout");

    let broker = Broker::start(port, dir.join("tansu.log"));
    create_topics(&broker.bootstrap());
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .args(["drain", "--config"])
        .arg(&cfg)
        .output()
        .expect("run fluxsight drain");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "drain failed: {stderr}");
    assert!(stderr.contains("backlog 0"), "{stderr}");

    let got = consume(&broker.bootstrap(), DEFAULT_SIGNALS_TOPIC, want.len());
    eprintln!(
        "signals: replay made {}, the broker holds {}",
        want.len(),
        got.len()
    );
    assert_eq!(got.len(), want.len(), "every signal arrives once");
    let mut last_seq = 0;
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.key, "e2e");
        assert_eq!(g.timestamp, Some(w.t), "timestamp is event time");
        assert_eq!(g.headers[H_SIGNAL_SCHEMA], "fluxsight.signal/v1");
        assert_eq!(g.headers[H_SIGNAL_KIND], w.kind.as_str());
        let seq: u64 = g.headers[H_SIGNAL_SEQ].parse().unwrap();
        assert!(seq > last_seq, "one partition keeps the cluster's order");
        last_seq = seq;
        assert_eq!(&Signal::decode(&g.raw).expect("a signal"), w);
    }
    // Findings and audit records went to no topic: the sink asked for signals only.
    assert!(consume(&broker.bootstrap(), DEFAULT_FINDINGS_TOPIC, 0).is_empty());

    // `fluxsight run` publishes the same records (in its own batches: heartbeats may
    // fall elsewhere, records read in arrival order).
    let live_cfg = dir.join("live.yaml");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("cluster: e2e", "cluster: e2e-live")
        .replace("/state", "/state-live");
    std::fs::write(&live_cfg, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .args(["run", "--no-follow", "--no-kube", "--clock", "record"])
        .args(["--health-listen", "none", "--listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--config")
        .arg(&live_cfg)
        .arg("--input")
        .arg(root().join(CAPTURE))
        .output()
        .expect("run fluxsight run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run failed: {stderr}");
    let records = |v: Vec<(String, TsMs)>| {
        let mut v = v;
        v.sort();
        v
    };
    let want_records = records(
        want.iter()
            .filter(|s| s.kind == SignalKind::Record)
            .map(|s| (serde_json::to_string(&s.r).unwrap(), s.t))
            .collect(),
    );
    let all = consume(
        &broker.bootstrap(),
        DEFAULT_SIGNALS_TOPIC,
        want.len() + want_records.len(),
    );
    let live: Vec<Signal> = all
        .iter()
        .filter(|g| g.key == "e2e-live")
        .map(|g| Signal::decode(&g.raw).unwrap())
        .collect();
    let live_records = records(
        live.iter()
            .filter(|s| s.kind == SignalKind::Record)
            .map(|s| (serde_json::to_string(&s.r).unwrap(), s.t))
            .collect(),
    );
    eprintln!(
        "signals: run published {} ({} records)",
        live.len(),
        live_records.len()
    );
    assert!(
        live_records == want_records,
        "run and replay publish the same records"
    );
    assert!(live.iter().any(|s| s.kind == SignalKind::Heartbeat));
    let _ = std::fs::remove_dir_all(&dir);
}
