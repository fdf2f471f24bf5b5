//! Fleet findings end to end (docs/fleet.md "Stage 2", fleet-scale.md §7 items 7 and
//! 13) on a real Kafka-compatible broker (`tansu`, memory storage, loopback): two
//! `fluxsight central` members of stage 1 (signals → cluster findings + partials) and
//! two of stage 2 (`central.stage: fleet`, partials → fleet findings), fed the signals
//! of 200 fake clusters:
//!
//! - 40 clusters (spread over every signals partition) are rate-limited on
//!   `github.com/acme`, starting at staggered minutes: exactly one fleet finding
//!   (`fleet_rate_limit`, `ratelimit:github.com/acme`) names the 40, "40 of 200
//!   clusters that use it", also though the stage-2 member that emitted it first is
//!   SIGKILLed mid-window and restarted (the union of the members' outputs, one id);
//! - 2 clusters rate-limited on `gitlab.com/beta` fire their own cluster findings but
//!   give no fleet finding;
//! - determinism: the fleet finding's id equals the id an in-process run of the same
//!   signals (stage-1 worker → partials → fleet correlator) gives;
//! - a record on the partials topic that is not a partial goes to the fleet stage's
//!   dead-letter topic with a reason.

#[path = "common/central.rs"]
mod central;
mod common;
#[path = "common/tansu.rs"]
mod tansu;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use fluxsight::correlate::{Output, PatternId, Settings, Status};
use fluxsight::fleet::partial::DEFAULT_PARTIALS_TOPIC;
use fluxsight::fleet::{DeriveSettings, FleetCorrelator, Partial};
use fluxsight::pipeline::central::partition::{PartitionWorker, Role, Step};
use fluxsight::record::{Class, Detail, Format, ObjectInfo, ObjectRef, Record, TsMs};
use fluxsight::signal::{Signal, SignalProducer};
use fluxsight::sinks::kafka::DEFAULT_SIGNALS_TOPIC;
use fluxsight::sources::signals::config::{DEFAULT_DLQ_TOPIC, DEFAULT_FLEET_DLQ_TOPIC};
use fluxsight::sources::signals::plan_start;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::Value;

use central::Member;
use common::{tempdir, wait_until};
use tansu::{create_topics_with, free_port, Broker};

const SIGNAL_PARTITIONS: i32 = 8;
const PARTIAL_PARTITIONS: i32 = 4;
const CLUSTERS: usize = 200;
const MINUTES: i64 = 21;
const ACME_KEY: &str = "ratelimit:github.com/acme";

fn name(i: usize) -> String {
    format!("c{i:03}")
}

fn acme(i: usize) -> bool {
    i.is_multiple_of(5)
}

fn beta(i: usize) -> bool {
    i == 1 || i == 2
}

fn snapshot(repo: &str, url: &str, t: TsMs) -> Record {
    Record {
        ts: Some(t),
        format: Format::K8sObject,
        object: Some(ObjectRef::new("GitRepository", "flux-system", repo)),
        class: Class::ObjectState,
        detail: Detail::Object(Box::new(ObjectInfo {
            url: Some(url.into()),
            interval_ms: Some(60_000),
            ..ObjectInfo::default()
        })),
        ..Record::default()
    }
}

fn limited(repo: &str, url: &str, t: TsMs) -> Record {
    Record {
        ts: Some(t),
        controller: Some("source-controller".into()),
        object: Some(ObjectRef::new("GitRepository", "flux-system", repo)),
        msg: "Reconciler error".into(),
        error: Some(format!("failed to checkout and determine revision: unable to clone '{url}': unexpected client error: unexpected requesting \"{url}/info/refs?service=git-upload-pack\" status code: 429")),
        class: Class::RateLimited,
        severity: Class::RateLimited.default_severity(),
        ..Record::default()
    }
}

/// One cluster's signals over `MINUTES` from `t0`: its sources' snapshots, a heartbeat
/// every 30 s, and (acme clusters) a 429 from github.com/acme every minute from a
/// staggered start, (beta clusters) from gitlab.com/beta.
fn cluster_signals(i: usize, t0: TsMs) -> Vec<Signal> {
    let c = name(i);
    let mut p = SignalProducer::new(&c, 30_000);
    let app = format!("https://github.com/acme/app-{}", i % 7);
    let tools = "https://gitlab.com/beta/tools";
    let mut out = vec![p.record(&snapshot("apps", &app, t0), Some(t0))];
    if beta(i) {
        out.push(p.record(&snapshot("tools", tools, t0), Some(t0)));
    }
    let start = 2 + (i / 5) as i64 % 10;
    for s in 1..=(MINUTES * 6) {
        let t = t0 + s * 10_000 + i as i64;
        let minute = s / 6;
        if s % 6 == 0 {
            if acme(i) && minute >= start {
                out.push(p.record(&limited("apps", &app, t), Some(t)));
            }
            if beta(i) && minute >= 3 {
                out.push(p.record(&limited("tools", tools, t + 1), Some(t + 1)));
            }
        }
        out.extend(p.heartbeat(t + 2));
    }
    out
}

/// Every cluster's signals in event-time order (each cluster's own order kept).
fn fleet_signals(t0: TsMs) -> Vec<(String, Signal)> {
    let mut all: Vec<(String, Signal)> = (0..CLUSTERS)
        .flat_map(|i| {
            cluster_signals(i, t0)
                .into_iter()
                .map(move |s| (name(i), s))
        })
        .collect();
    all.sort_by_key(|(_, s)| s.t);
    all
}

/// The fleet findings of an in-process run: a stage-1 worker per signals partition
/// (cluster `i` in partition `i % SIGNAL_PARTITIONS`), their partials encoded and
/// decoded as on the wire, fed in arrival order to one fleet correlator (no broker).
fn in_process(signals: &[(String, Signal)]) -> Vec<fluxsight::correlate::Finding> {
    let n = signals.len() as i64;
    let mut s1: Vec<PartitionWorker> = (0..SIGNAL_PARTITIONS)
        .map(|p| {
            PartitionWorker::with_role(
                plan_start(Some(0), Some(0), 0, n),
                Settings::default(),
                &Role::Cluster {
                    topic: DEFAULT_SIGNALS_TOPIC.into(),
                    partials: Some(DeriveSettings::default()),
                    sources: Some(SIGNAL_PARTITIONS as u32),
                },
                p,
            )
        })
        .collect();
    let mut fleet = FleetCorrelator::new(Settings::default(), 120_000);
    let mut out = Vec::new();
    for (i, (cluster, s)) in signals.iter().enumerate() {
        let p: usize = cluster[1..].parse::<usize>().unwrap() % SIGNAL_PARTITIONS as usize;
        let step = s1[p].on_message(i as i64, Some(&s.encode()));
        assert!(matches!(step, Step::Live(_)));
        for p in s1[p].take_partials() {
            fleet.on_partial(&Partial::decode(&p.encode()).unwrap());
            for o in fleet.drain() {
                if let Output::Finding(f) = o {
                    out.push(*f);
                }
            }
        }
    }
    out
}

/// A `fluxsight central` member of stage 1 (`cluster`: publishes partials) or stage 2
/// (`fleet`).
fn member(dir: &Path, tag: &str, bootstrap: &str, stage: &str) -> Member {
    let extra = match stage {
        "fleet" => "  stage: fleet\n",
        _ => "  fleet: {}\n",
    };
    Member::start(dir, tag, bootstrap, extra)
}

/// Partitions a member owns now.
fn owned(m: &Member) -> BTreeSet<i32> {
    m.partitions().unwrap_or_default().into_iter().collect()
}

/// A member's output lines as JSON.
fn values(m: &Member) -> Vec<Value> {
    m.lines()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The value of an unlabelled series in a member's `/metrics` (0 when absent).
fn metric(m: &Member, series: &str) -> f64 {
    m.metrics()
        .and_then(|body| {
            body.lines()
                .find(|l| l.starts_with(series))
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        })
        .unwrap_or(0.0)
}

/// Every member's fleet and partition metrics and its log's warnings, for a failure.
fn dump<'a>(members: impl Iterator<Item = &'a Member>) -> String {
    let mut out = String::new();
    for m in members {
        out.push_str(&format!("== {}\n", m.log.display()));
        if let Some(body) = m.metrics() {
            for l in body.lines().filter(|l| {
                l.starts_with("fluxsight_central_fleet")
                    || l.starts_with("fluxsight_central_partition_next_offset")
            }) {
                out.push_str(l);
                out.push('\n');
            }
        }
        for l in m
            .log_text()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(20)
        {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn all_owned(members: &[Member], partitions: i32) -> bool {
    let mut seen: BTreeMap<i32, usize> = BTreeMap::new();
    for m in members.iter().filter(|m| m.alive()) {
        for p in owned(m) {
            *seen.entry(p).or_default() += 1;
        }
    }
    seen.len() == partitions as usize && seen.values().all(|n| *n == 1)
}

fn publish(bootstrap: &str, signals: &[(String, Signal)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for chunk in signals.chunks(500) {
        let sends: Vec<_> = chunk
            .iter()
            .map(|(cluster, s)| {
                let bytes = s.encode();
                producer
                    .send_result(
                        FutureRecord::to(DEFAULT_SIGNALS_TOPIC)
                            .key(cluster.as_bytes())
                            .payload(&bytes)
                            .timestamp(s.t),
                    )
                    .map_err(|(e, _)| e)
                    .unwrap()
            })
            .collect();
        for r in rt.block_on(futures::future::join_all(sends)) {
            r.expect("delivery future").expect("delivered");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Publishes one value to the partials topic (a poison record).
fn publish_raw(bootstrap: &str, key: &str, value: &[u8]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(
        producer.send(
            FutureRecord::to(DEFAULT_PARTIALS_TOPIC)
                .key(key)
                .payload(value),
            Duration::from_secs(10),
        ),
    )
    .map_err(|(e, _)| e)
    .expect("poison record delivered");
}

/// The fleet dead-letter topic's records: (value, reason header).
fn fleet_dlq(bootstrap: &str) -> Vec<(Vec<u8>, String)> {
    central::dlq_records(bootstrap, DEFAULT_FLEET_DLQ_TOPIC, "fleet-e2e-dlq")
}

/// The fleet findings (`pattern` fleet_*) among `lines`.
fn fleet_findings(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|v| v["type"] == "finding")
        .filter(|v| {
            v["pattern"]
                .as_str()
                .is_some_and(|p| p.starts_with("fleet_"))
        })
        .collect()
}

fn key_of(v: &Value) -> &str {
    v["subject"]["name"].as_str().unwrap_or("")
}

#[test]
fn forty_rate_limited_clusters_of_two_hundred_give_one_fleet_finding_across_a_kill() {
    let dir = tempdir("fleet-e2e");
    let broker = Broker::start(free_port(), dir.join("tansu.log"));
    let bootstrap = broker.bootstrap();
    create_topics_with(
        &bootstrap,
        &[
            (DEFAULT_SIGNALS_TOPIC, SIGNAL_PARTITIONS),
            (DEFAULT_PARTIALS_TOPIC, PARTIAL_PARTITIONS),
            (DEFAULT_DLQ_TOPIC, 1),
            (DEFAULT_FLEET_DLQ_TOPIC, 1),
        ],
    );
    let now = fluxsight::time::now_ms();
    let t0 = (now - 25 * 60_000) / 60_000 * 60_000;
    let signals = fleet_signals(t0);
    let acme_clusters: BTreeSet<String> = (0..CLUSTERS).filter(|i| acme(*i)).map(name).collect();
    assert_eq!(acme_clusters.len(), 40);

    // The in-process oracle: one fleet finding about github.com/acme naming the 40.
    let oracle = in_process(&signals);
    let oracle_ids: BTreeSet<(&str, String)> = oracle
        .iter()
        .map(|f| (f.id.as_str(), f.subject.name.to_string()))
        .collect();
    eprintln!("in-process fleet findings: {oracle_ids:?}");
    assert_eq!(
        oracle_ids.len(),
        1,
        "one fleet finding in process: {oracle_ids:?}"
    );
    let oracle_last = oracle.last().unwrap();
    assert_eq!(oracle_last.subject.name.to_string(), ACME_KEY);
    assert_eq!(oracle_last.count, 40);
    let oracle_id = oracle_last.id.clone();

    let mut s1: Vec<Member> = (0..2)
        .map(|i| member(&dir, &format!("s1-{i}"), &bootstrap, "cluster"))
        .collect();
    let mut s2: Vec<Member> = (0..2)
        .map(|i| member(&dir, &format!("s2-{i}"), &bootstrap, "fleet"))
        .collect();
    assert!(
        wait_until(Duration::from_secs(90), || all_owned(
            &s1,
            SIGNAL_PARTITIONS
        ) && all_owned(
            &s2,
            PARTIAL_PARTITIONS
        )),
        "both groups formed: stage 1 {:?}, stage 2 {:?}",
        s1.iter().map(owned).collect::<Vec<_>>(),
        s2.iter().map(owned).collect::<Vec<_>>()
    );

    // A poison record on the partials topic (another schema).
    publish_raw(
        &bootstrap,
        ACME_KEY,
        br#"{"schema":"fluxsight.partial/v0","kind":"status","t":1}"#,
    );

    // Part 1: up to minute 13 (about half of the acme clusters are failing).
    let cut = t0 + 13 * 60_000;
    let split = signals.partition_point(|(_, s)| s.t < cut);
    eprintln!("{} signals, {split} before minute 13", signals.len());
    publish(&bootstrap, &signals[..split]);
    let fired = wait_until(Duration::from_secs(120), || {
        s2.iter().any(|m| {
            fleet_findings(&values(m))
                .iter()
                .any(|v| key_of(v) == ACME_KEY)
        })
    });
    assert!(
        fired,
        "the fleet finding fired mid-window; members:\n{}",
        dump(s1.iter().chain(s2.iter()))
    );
    // Kill the stage-2 member that emitted it (the owner of the key's partition).
    let owner = (0..2)
        .find(|i| {
            fleet_findings(&values(&s2[*i]))
                .iter()
                .any(|v| key_of(v) == ACME_KEY)
        })
        .unwrap();
    let before: Vec<Value> = values(&s2[owner]);
    eprintln!(
        "stage-2 member {owner} emitted it ({} lines); SIGKILL",
        fleet_findings(&before).len()
    );
    s2[owner].kill9();

    // Part 2; the other member takes the dead one's partitions over (once the broker
    // ends its session), then the killed member comes back (a rebalance again).
    publish(&bootstrap, &signals[split..]);
    let other = 1 - owner;
    let taken = wait_until(Duration::from_secs(30), || {
        owned(&s2[other]).len() == PARTIAL_PARTITIONS as usize
    });
    eprintln!(
        "stage-2 member {other} owns every partials partition after the kill: {taken} (tansu ends a killed member's session late at times; the restart then takes them back)"
    );
    s2[owner].restart();
    let union = |s2: &[Member]| -> Vec<Value> { s2.iter().flat_map(values).collect() };
    let complete = wait_until(Duration::from_secs(240), || {
        fleet_findings(&union(&s2))
            .iter()
            .any(|v| key_of(v) == ACME_KEY && v["count"] == 40)
    });
    std::thread::sleep(Duration::from_secs(5));
    let lines = union(&s2);
    let fleet = fleet_findings(&lines);
    let ids: BTreeMap<&str, BTreeSet<&str>> = fleet.iter().fold(BTreeMap::new(), |mut m, v| {
        m.entry(key_of(v))
            .or_insert_with(BTreeSet::new)
            .insert(v["id"].as_str().unwrap_or(""));
        m
    });
    eprintln!(
        "stage 2: {} fleet finding lines (raw, both members); ids by key {ids:?}; complete: {complete}",
        fleet.len()
    );
    assert!(
        complete,
        "a fleet finding naming 40 clusters; stage-2 lines: {:#?}",
        fleet
            .iter()
            .map(|v| (v["id"].clone(), v["count"].clone(), v["status"].clone()))
            .collect::<Vec<_>>()
    );
    // Exactly one fleet finding (deduplicated by id), about github.com/acme.
    assert_eq!(ids.len(), 1, "only ratelimit:github.com/acme: {ids:?}");
    assert_eq!(ids[ACME_KEY].len(), 1, "one id across the kill: {ids:?}");
    let id = *ids[ACME_KEY].iter().next().unwrap();
    assert_eq!(id, oracle_id, "the same id as the in-process run");
    // Its last emission names the 40 clusters, "40 of 200".
    let last = fleet
        .iter()
        .filter(|v| key_of(v) == ACME_KEY)
        .max_by_key(|v| v["count"].as_u64().unwrap_or(0))
        .unwrap();
    assert_eq!(last["pattern"], PatternId::FleetRateLimit.as_str());
    assert_eq!(last["status"], "firing");
    assert_eq!(last["labels"]["share"], "40 of 200 clusters that use it");
    let named: BTreeSet<String> = last["labels"]["clusters"]
        .as_str()
        .unwrap()
        .split(", ")
        .map(str::to_string)
        .collect();
    assert_eq!(named, acme_clusters, "the 40 acme clusters, no other");
    let impacted: BTreeSet<String> = last["impacted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(impacted, acme_clusters);
    assert!(fleet.iter().all(|v| v["status"] == "firing"));
    // Whenever it fired, the whole inventory was in (the clock waited for every
    // stage-1 source): never "3 of 26".
    assert!(
        fleet
            .iter()
            .all(|v| v["labels"]["users"] == "200" && v["count"].as_u64().unwrap_or(0) >= 20),
        "{:?}",
        fleet
            .iter()
            .map(|v| v["labels"]["share"].clone())
            .collect::<Vec<_>>()
    );

    // Stage 1 found each cluster's own rate limit: 40 on github.com, 2 on gitlab.com
    // (below the fleet threshold: no fleet finding above).
    let s1_lines: Vec<Value> = s1.iter().flat_map(values).collect();
    let limited_on = |host: &str| -> BTreeSet<String> {
        s1_lines
            .iter()
            .filter(|v| v["pattern"] == PatternId::RateLimitExhaustion.as_str())
            .filter(|v| v["subject"]["name"] == host)
            .map(|v| v["cluster"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(limited_on("github.com"), acme_clusters);
    assert_eq!(limited_on("gitlab.com").len(), 2);
    let published: f64 = s1
        .iter()
        .map(|m| metric(m, "fluxsight_central_fleet_partials_published"))
        .sum();
    let ticks: f64 = s1
        .iter()
        .map(|m| metric(m, "fluxsight_central_fleet_ticks_published"))
        .sum();
    eprintln!("stage 1 published {published} partials and {ticks} ticks");
    assert!(published > 0.0 && ticks > 0.0);
    let firing: f64 = s2
        .iter()
        .map(|m| metric(m, "fluxsight_central_fleet_findings_firing"))
        .sum();
    assert_eq!(
        firing, 1.0,
        "one fleet finding firing in the owned partitions"
    );
    assert!(oracle.iter().all(|f| f.status == Status::Firing));

    // The poison record: in the fleet dead-letter topic with its reason.
    let dlq = fleet_dlq(&bootstrap);
    assert!(
        dlq.iter().any(
            |(v, reason)| v.windows(20).any(|w| w == b"fluxsight.partial/v0")
                && reason.contains("fluxsight.partial/v0")
        ),
        "the poison partial is dead-lettered with a reason: {:?}",
        dlq.iter().map(|(_, r)| r).collect::<Vec<_>>()
    );

    for m in s1.iter_mut().chain(s2.iter_mut()) {
        m.stop();
    }
    drop(broker);
}
