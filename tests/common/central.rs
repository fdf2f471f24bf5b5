//! `fluxsight central` members, their inputs and their oracle, for the multi-process
//! tests on tansu (`central_group.rs`): clusters made of dev captures (their signals as a
//! sidecar publishes them), the oracle (`fluxsight replay --config` per cluster, and the
//! sans-IO correlator for inputs a capture cannot express, such as heartbeats alone),
//! members started, killed and restarted, their `/metrics`, the group's committed
//! offsets. Used with `mod common;` and `#[path = "common/tansu.rs"] mod tansu;`:
//! `#[path = "common/central.rs"] mod central;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Output, Settings};
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::signal::{Signal, SignalKind, SignalProducer, DEFAULT_HEARTBEAT_MS};
use fluxsight::sinks::kafka::DEFAULT_SIGNALS_TOPIC;
use fluxsight::sources::signals::config::DEFAULT_GROUP;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::common::{free_port, http_get, BIN};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Prints an assertion the broker cannot support, and why (never silent).
pub fn skip(what: &str, why: &str) {
    eprintln!("SKIPPED ASSERTION: {what}: {why}");
}

/// The captures replayed as clusters: the bundled one and the shared dev scenarios.
pub fn captures() -> Vec<PathBuf> {
    let mut v = vec![root().join("samples/demo/incident.log")];
    let shared = root().join("../shared/samples/scenarios");
    if let Ok(rd) = std::fs::read_dir(&shared) {
        let mut s: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() < 700_000))
            .collect();
        s.sort();
        v.extend(s);
    }
    v
}

/// The signals a sidecar of `cluster` publishes for `input` (a replay with a tap).
pub fn signals_of(cluster: &str, input: &[u8]) -> Vec<Signal> {
    let opts = ReplayOptions {
        threads: 0,
        ..ReplayOptions::default()
    };
    let tap = Arc::new(Mutex::new(Vec::new()));
    let t2 = tap.clone();
    let mut sink = Vec::new();
    let mut emitter = Emitter::new(&mut sink, opts.clone()).with_signal_tap(
        SignalProducer::new(cluster, DEFAULT_HEARTBEAT_MS),
        Box::new(move |s| t2.lock().unwrap().push(s.clone())),
    );
    let mut c = Correlator::new(Settings::default());
    replay(
        vec![("in".to_string(), input)],
        &Classifier::builtin(),
        &mut c,
        &mut emitter,
        opts.lateness_ms,
    )
    .unwrap();
    emitter.finish().unwrap();
    let v = std::mem::take(&mut *tap.lock().unwrap());
    v
}

/// The sans-IO correlator of `cluster` fed `signals` as `central` feeds it (records to
/// `on_record`, heartbeats to `on_time`): the outputs drained after each signal.
pub fn stream_outputs(cluster: &str, signals: &[Signal]) -> Vec<Vec<Output>> {
    let mut c = Correlator::new(Settings {
        cluster: cluster.to_string(),
        ..Settings::default()
    });
    let mut out = Vec::with_capacity(signals.len());
    for s in signals {
        match s.kind {
            SignalKind::Record => {
                let rec = s.record().unwrap();
                if rec.ts.is_none() && c.now().is_none() {
                    c.on_time(s.t);
                }
                c.on_record(&rec);
            }
            SignalKind::Heartbeat => c.on_time(s.t),
        }
        out.push(c.drain());
    }
    out
}

/// How many outputs a stream of `signals` gives before the end-of-input flush.
pub fn streamed_outputs(cluster: &str, signals: &[Signal]) -> usize {
    stream_outputs(cluster, signals).iter().map(Vec::len).sum()
}

pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The oracle of one cluster: `fluxsight replay --config` with a file sink, its lines
/// up to what a stream gives (`n`); checked to be the whole output but the flush.
pub fn oracle(dir: &Path, cluster: &str, input: &Path, n: usize) -> Vec<String> {
    let out = dir.join(format!("oracle-{cluster}.jsonl"));
    let cfg = dir.join(format!("oracle-{cluster}.yaml"));
    std::fs::write(
        &cfg,
        format!(
            "cluster: {cluster}\nsinks:\n  - name: out\n    type: file\n    path: {}\n",
            out.display()
        ),
    )
    .unwrap();
    let st = Command::new(BIN)
        .args(["replay", "--config", cfg.to_str().unwrap()])
        .arg(input)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "replay of {}", input.display());
    let all = lines(&out);
    assert!(
        all.len() >= n,
        "{cluster}: replay wrote {} < {n}",
        all.len()
    );
    all[..n].to_vec()
}

/// One cluster of a test: its name, capture, signals and oracle lines.
pub struct Cluster {
    pub name: String,
    pub input: PathBuf,
    pub signals: Vec<Signal>,
    pub oracle: Vec<String>,
}

/// `n` clusters named `<prefix>NN`, the captures in turn.
pub fn clusters(dir: &Path, prefix: &str, n: usize) -> Vec<Cluster> {
    let caps = captures();
    (0..n)
        .map(|i| {
            let name = format!("{prefix}{i:02}");
            let input = caps[i % caps.len()].clone();
            let signals = signals_of(&name, &std::fs::read(&input).unwrap());
            let n = streamed_outputs(&name, &signals);
            let oracle = oracle(dir, &name, &input, n);
            Cluster {
                name,
                input,
                signals,
                oracle,
            }
        })
        .collect()
}

/// Round-robin over clusters: their signals interleaved as if published at once.
pub fn interleave(per_cluster: &[(String, Vec<Signal>)]) -> Vec<(String, Signal)> {
    let mut out = Vec::new();
    let longest = per_cluster.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    for i in 0..longest {
        for (c, s) in per_cluster {
            if let Some(x) = s.get(i) {
                out.push((c.clone(), x.clone()));
            }
        }
    }
    out
}

/// A producer of signals like a sidecar's (idempotent, `acks=all`).
pub struct Publisher {
    producer: FutureProducer,
    rt: tokio::runtime::Runtime,
    topic: String,
}

impl Publisher {
    pub fn new(bootstrap: &str) -> Publisher {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let producer: FutureProducer = {
            let _g = rt.enter();
            ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .set("linger.ms", "5")
                .create()
                .unwrap()
        };
        Publisher {
            producer,
            rt,
            topic: DEFAULT_SIGNALS_TOPIC.to_string(),
        }
    }

    /// Publishes `signals` (cluster, signal) in order, `per_tick` every 20 ms, calling
    /// `between` with the count sent after each tick; the partition of each cluster.
    pub fn publish(
        &self,
        signals: &[(String, Signal)],
        per_tick: usize,
        mut between: impl FnMut(usize),
    ) -> BTreeMap<String, i32> {
        let mut partition_of = BTreeMap::new();
        let mut sent = 0;
        for chunk in signals.chunks(per_tick.max(1)) {
            let sends: Vec<_> = chunk
                .iter()
                .map(|(cluster, s)| {
                    let bytes = s.encode();
                    let rec = FutureRecord::to(&self.topic)
                        .key(cluster.as_bytes())
                        .payload(&bytes)
                        .timestamp(s.t);
                    self.producer.send_result(rec).map_err(|(e, _)| e).unwrap()
                })
                .collect();
            for (f, (cluster, _)) in self
                .rt
                .block_on(futures::future::join_all(sends))
                .into_iter()
                .zip(chunk)
            {
                let d = f.expect("delivery future").expect("delivered");
                partition_of.insert(cluster.clone(), d.partition);
            }
            sent += chunk.len();
            between(sent);
            std::thread::sleep(Duration::from_millis(20));
        }
        partition_of
    }
}

/// One `fluxsight central` process: its file, output, log and metrics port.
pub struct Member {
    pub child: Option<Child>,
    pub name: String,
    pub cfg: PathBuf,
    pub out: PathBuf,
    pub log: PathBuf,
    pub port: u16,
    pub starts: usize,
}

impl Member {
    /// `extra` is more of `central:` (two-space indented lines, each ending in `\n`).
    pub fn start(dir: &Path, name: &str, bootstrap: &str, extra: &str) -> Member {
        let out = dir.join(format!("out-{name}.jsonl"));
        let cfg = dir.join(format!("central-{name}.yaml"));
        let state = dir.join(format!("state-{name}"));
        std::fs::write(
            &cfg,
            format!(
                "central:\n  brokers: {bootstrap}\n  session_timeout: 6s\n  commit_interval: 1s\n{extra}sinks:\n  - name: out\n    type: file\n    path: {}\ndelivery:\n  state_dir: {}\n",
                out.display(),
                state.display()
            ),
        )
        .unwrap();
        let mut m = Member {
            child: None,
            name: name.to_string(),
            cfg,
            out,
            log: dir.join(format!("central-{name}.log")),
            port: free_port(),
            starts: 0,
        };
        m.restart();
        m
    }

    /// Starts the process (again: same file, spool and output; the log is appended).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(BIN)
            .args(["central", "--config", self.cfg.to_str().unwrap()])
            .args(["--health-listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--client-id", &self.name])
            .env("FLUXSIGHT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .expect("start central");
        self.child = Some(child);
        self.starts += 1;
    }

    pub fn alive(&self) -> bool {
        self.child.is_some()
    }

    /// The member's `/metrics` text.
    pub fn metrics(&self) -> Option<String> {
        let (code, body) = http_get(self.port, "/metrics")?;
        (code == 200).then_some(body)
    }

    /// Per owned partition, the value of a per-partition gauge `name`.
    pub fn gauge(&self, name: &str) -> Option<BTreeMap<i32, f64>> {
        Some(partition_series(&self.metrics()?, name))
    }

    /// Partitions owned now (from `/metrics`).
    pub fn partitions(&self) -> Option<Vec<i32>> {
        self.gauge("fluxsight_central_partition_owned")
            .map(|m| m.into_keys().collect())
    }

    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status();
        }
    }

    pub fn kill9(&mut self) {
        self.signal("-KILL");
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// SIGTERM (leave the group, drain the sinks) and wait up to 30 s.
    pub fn stop(&mut self) {
        self.signal("-TERM");
        if let Some(mut c) = self.child.take() {
            let end = Instant::now() + Duration::from_secs(30);
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("{}: did not exit within 30 s of SIGTERM", self.name);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Delivers the spool of a dead member (`fluxsight drain`, as its pod would).
    pub fn drain(&self) {
        let st = Command::new(BIN)
            .args(["drain", "--config", self.cfg.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "drain of {}'s spool", self.name);
    }

    pub fn lines(&self) -> Vec<String> {
        lines(&self.out)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Per partition, the value of the series `name{…partition="p"…}` in `body`.
pub fn partition_series(body: &str, name: &str) -> BTreeMap<i32, f64> {
    let mut m = BTreeMap::new();
    let prefix = format!("{name}{{");
    for l in body.lines().filter(|l| l.starts_with(&prefix)) {
        let p = l
            .split("partition=\"")
            .nth(1)
            .and_then(|x| x.split('"').next())
            .and_then(|x| x.parse::<i32>().ok());
        let v = l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(p), Some(v)) = (p, v) {
            m.insert(p, v);
        }
    }
    m
}

/// Who owns which partition now: partition → members (from the live members' metrics).
pub fn owners(members: &[Member]) -> BTreeMap<i32, Vec<usize>> {
    let mut o: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (i, m) in members.iter().enumerate().filter(|(_, m)| m.alive()) {
        for p in m.partitions().unwrap_or_default() {
            o.entry(p).or_default().push(i);
        }
    }
    o
}

/// Every one of `partitions` owned by exactly one live member.
pub fn owned_once(o: &BTreeMap<i32, Vec<usize>>, partitions: i32) -> bool {
    o.len() == partitions as usize && o.values().all(|v| v.len() == 1)
}

/// Every member's output lines (raw, duplicates kept).
pub fn union(members: &[Member]) -> Vec<String> {
    members.iter().flat_map(Member::lines).collect()
}

/// Lines emitted more often than the oracle has them (the oracle as a multiset): each
/// is a finding or audit record (an id and a revision) sent twice.
pub fn duplicates(raw: &[String], oracle: &[String]) -> Vec<String> {
    let mut want: BTreeMap<&str, usize> = BTreeMap::new();
    for l in oracle {
        *want.entry(l).or_default() += 1;
    }
    let mut got: BTreeMap<&str, usize> = BTreeMap::new();
    for l in raw {
        *got.entry(l).or_default() += 1;
    }
    got.into_iter()
        .filter(|(l, n)| *n > want.get(l).copied().unwrap_or(0).max(1))
        .map(|(l, _)| l.to_string())
        .collect()
}

/// A reader of the group's committed offsets: a consumer with the group's id that never
/// subscribes (an OffsetFetch, no membership).
pub struct CommittedReader {
    consumer: BaseConsumer,
    partitions: i32,
}

impl CommittedReader {
    pub fn new(bootstrap: &str, partitions: i32) -> CommittedReader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", DEFAULT_GROUP)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        CommittedReader {
            consumer,
            partitions,
        }
    }

    /// Partition → committed offset (partitions never committed are absent); `None`
    /// when the broker did not answer.
    pub fn read(&self) -> Option<BTreeMap<i32, i64>> {
        let mut tpl = TopicPartitionList::new();
        for p in 0..self.partitions {
            tpl.add_partition(DEFAULT_SIGNALS_TOPIC, p);
        }
        let c = self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(5))
            .ok()?;
        Some(
            c.elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) if o >= 0 => Some((e.partition(), o)),
                    _ => None,
                })
                .collect(),
        )
    }
}

/// The `id` of a finding line (`None` for other lines).
pub fn finding_id(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    (v.get("type")?.as_str()? == "finding").then(|| v.get("id")?.as_str().map(str::to_string))?
}

/// (cluster, id) of every finding line.
pub fn finding_ids<'a>(
    lines: impl IntoIterator<Item = &'a String>,
) -> std::collections::BTreeSet<(String, String)> {
    lines
        .into_iter()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            (v.get("type")?.as_str()? == "finding").then(|| {
                Some((
                    v.get("cluster")?.as_str()?.to_string(),
                    v.get("id")?.as_str()?.to_string(),
                ))
            })?
        })
        .collect()
}

/// Partition → the members' ownership intervals `(member, from, to)`, from their logs
/// (`partition assigned`, `partitions revoked`, `assignment lost`; RFC 3339 UTC stamps,
/// compared as text; an interval still open ends at "~", after every stamp).
pub fn ownership(members: &[Member]) -> BTreeMap<i32, Vec<(String, String, String)>> {
    let mut out: BTreeMap<i32, Vec<(String, String, String)>> = BTreeMap::new();
    for m in members {
        let mut open: BTreeMap<i32, String> = BTreeMap::new();
        for l in m.log_text().lines() {
            let Some(ts) = l.split_whitespace().next() else {
                continue;
            };
            if l.contains("partition assigned ") {
                let p = l
                    .split("partition=")
                    .nth(1)
                    .and_then(|x| x.split_whitespace().next())
                    .and_then(|x| x.parse::<i32>().ok());
                if let Some(p) = p {
                    open.insert(p, ts.to_string());
                }
            } else if l.contains("partitions revoked") || l.contains("assignment lost") {
                let list = l
                    .split("partitions=[")
                    .nth(1)
                    .and_then(|x| x.split(']').next())
                    .unwrap_or("");
                for p in list.split(',').filter_map(|x| x.trim().parse::<i32>().ok()) {
                    if let Some(from) = open.remove(&p) {
                        out.entry(p)
                            .or_default()
                            .push((m.name.clone(), from, ts.to_string()));
                    }
                }
            } else if l.contains("central started") {
                // A restart: whatever the previous process held ended with it.
                for (p, from) in std::mem::take(&mut open) {
                    out.entry(p)
                        .or_default()
                        .push((m.name.clone(), from, ts.to_string()));
                }
            }
        }
        for (p, from) in open {
            out.entry(p)
                .or_default()
                .push((m.name.clone(), from, "~".to_string()));
        }
    }
    out
}

/// Partitions two members owned at the same time (by their logs), with who and when.
pub fn overlapping_ownership(members: &[Member]) -> BTreeMap<i32, Vec<String>> {
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (p, iv) in ownership(members) {
        for (i, a) in iv.iter().enumerate() {
            for b in &iv[i + 1..] {
                if a.0 != b.0 && a.1 < b.2 && b.1 < a.2 {
                    out.entry(p).or_default().push(format!(
                        "{} [{} .. {}] and {} [{} .. {}]",
                        a.0, a.1, a.2, b.0, b.1, b.2
                    ));
                }
            }
        }
    }
    out
}

/// The `cluster` of an output line.
pub fn cluster_of(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some(v.get("cluster")?.as_str()?.to_string())
}

/// Asserts no duplicate output, unless the broker gave a partition to two members at
/// once (tansu 0.6: see [`TANSU_OVERLAP`]); then every duplicate must come from such a
/// partition, and the skipped assertion is printed.
pub fn assert_no_duplicates(
    what: &str,
    members: &[Member],
    raw: &[String],
    expected: &[String],
    partition_of: &BTreeMap<String, i32>,
) {
    let dups = duplicates(raw, expected);
    let overlaps = overlapping_ownership(members);
    eprintln!(
        "{what}: {} duplicate lines; partitions owned by two members at once: {overlaps:#?}",
        dups.len()
    );
    if overlaps.is_empty() || dups.is_empty() {
        assert!(
            dups.is_empty(),
            "{what}: no (id, revision) emitted twice: {:#?}",
            &dups[..dups.len().min(5)]
        );
        return;
    }
    let unexplained: Vec<&String> = dups
        .iter()
        .filter(|l| {
            cluster_of(l)
                .and_then(|c| partition_of.get(&c).copied())
                .is_none_or(|p| !overlaps.contains_key(&p))
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "{what}: duplicates from partitions never owned twice: {:#?}",
        &unexplained[..unexplained.len().min(5)]
    );
    skip(
        &format!("{what}: zero duplicates"),
        &format!("{TANSU_OVERLAP}; here partitions {:?} were owned by two members at once, and the {} duplicate lines all come from them", overlaps.keys().collect::<Vec<_>>(), dups.len()),
    );
}

/// Why tansu 0.6 double-assigns partitions during a rebalance.
pub const TANSU_OVERLAP: &str = "tansu 0.6's classic group coordinator answers each JoinGroup at once (tansu-broker-0.6.0 src/coordinator/group/administrator.rs, `Inner<O, Forming>::join`: no join barrier waiting for the other members within the rebalance timeout), so the leader runs the cooperative-sticky assignor on members' stale metadata and gives a partition to a new member before its owner was told to revoke it; Kafka's coordinator waits for every member to rejoin with its owned partitions first";

/// A dead-letter topic's records from its start (partition 0): (value, reason header).
pub fn dlq_records(bootstrap: &str, topic: &str, group: &str) -> Vec<(Vec<u8>, String)> {
    use fluxsight::sources::signals::H_DLQ_REASON;
    use rdkafka::message::{Headers, Message};
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let reason = m
                .headers()
                .and_then(|h| {
                    h.iter()
                        .find(|h| h.key == H_DLQ_REASON)
                        .and_then(|h| h.value)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                })
                .unwrap_or_default();
            out.push((m.payload().unwrap_or_default().to_vec(), reason));
        }
    }
    out
}
