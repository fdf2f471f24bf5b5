//! The rebuild benchmark of `fluxsight central` (issue 18; `reference/fleet-scale.md`
//! §7.14: with 600 k records per partition of lookback, taking over 6 partitions
//! rebuilds them within 20 s), driven by `scripts/central-bench.sh`, which builds, starts
//! the broker and generates the corpus.
//!
//! 1. Turns a corpus of log lines into signals as a sidecar publishes them (a replay
//!    with a signal tap), and produces the first `--per-partition` of them to each of
//!    `--partitions` partitions (one cluster per partition, `bench<p>`), event time as
//!    the record timestamp.
//! 2. **Rebuild.** Starts `fluxsight central` in a brand-new group: every partition's
//!    boundary is its high watermark, so the whole lookback rehydrates (what a member
//!    taking over a committed partition does). Reads
//!    `fluxsight_central_partition_rebuild_seconds` once no partition is rehydrating;
//!    the rebuild of the partitions is the largest (one consumer thread interleaves
//!    them), and records/s is their sum over it.
//! 3. **Live.** Another group whose committed offsets are set to 0 before it starts:
//!    every record is live (correlated and its outputs delivered to a file sink); the
//!    time from the first record read to the last is the live throughput.
//!
//! Prints one `result:` line per measure and the peak RSS of each run.
//!
//! Usage: central_bench --bootstrap HOST:PORT --bin FLUXSIGHT --input LINES_FILE
//!        [--partitions 6] [--per-partition 600000] [--work DIR] [--timeout-secs 900]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluxsight::classify::Classifier;
use fluxsight::correlate::{Correlator, Settings};
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::signal::{SignalProducer, DEFAULT_HEARTBEAT_MS};
use fluxsight::sinks::kafka::DEFAULT_SIGNALS_TOPIC;
use fluxsight::sources::signals::config::DEFAULT_DLQ_TOPIC;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

struct Args {
    bootstrap: String,
    bin: PathBuf,
    input: PathBuf,
    partitions: i32,
    per_partition: usize,
    work: PathBuf,
    timeout: Duration,
}

fn args() -> Args {
    let mut a: BTreeMap<String, String> = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        a.insert(k.trim_start_matches("--").to_string(), v);
    }
    let get = |k: &str| a.get(k).cloned();
    let need = |k: &str| get(k).unwrap_or_else(|| panic!("--{k} is required"));
    Args {
        bootstrap: need("bootstrap"),
        bin: need("bin").into(),
        input: need("input").into(),
        partitions: get("partitions").map_or(6, |v| v.parse().expect("--partitions")),
        per_partition: get("per-partition")
            .map_or(600_000, |v| v.parse().expect("--per-partition")),
        work: get("work").map_or_else(std::env::temp_dir, PathBuf::from),
        timeout: Duration::from_secs(
            get("timeout-secs").map_or(900, |v| v.parse().expect("--timeout-secs")),
        ),
    }
}

/// Every signal a sidecar of cluster `bench` publishes for `input`, encoded.
fn signals(input: &[u8]) -> Vec<(i64, String)> {
    let opts = ReplayOptions {
        threads: 0,
        ..ReplayOptions::default()
    };
    let tap = Arc::new(Mutex::new(Vec::new()));
    let t2 = tap.clone();
    let mut sink = std::io::sink();
    let mut emitter = Emitter::new(&mut sink, opts.clone()).with_signal_tap(
        SignalProducer::new("bench", DEFAULT_HEARTBEAT_MS),
        Box::new(move |s| {
            let text = String::from_utf8(s.encode()).expect("signals are JSON");
            t2.lock().unwrap().push((s.t, text));
        }),
    );
    let mut c = Correlator::new(Settings::default());
    replay(
        vec![("bench".to_string(), input)],
        &Classifier::builtin(),
        &mut c,
        &mut emitter,
        opts.lateness_ms,
    )
    .expect("replay of the corpus");
    emitter.finish().expect("replay flush");
    let v = std::mem::take(&mut *tap.lock().unwrap());
    v
}

fn create_topics(bootstrap: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topics = [
        NewTopic::new(
            DEFAULT_SIGNALS_TOPIC,
            partitions,
            TopicReplication::Fixed(1),
        ),
        NewTopic::new(DEFAULT_DLQ_TOPIC, 1, TopicReplication::Fixed(1)),
    ];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for r in rt
        .block_on(admin.create_topics(&topics, &opts))
        .expect("create topics")
    {
        if let Err((t, e)) = r {
            assert!(
                e == rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                "create topic {t}: {e}"
            );
        }
    }
}

/// Produces the first `n` signals to every partition, re-addressed to cluster
/// `bench<p>`; the records produced.
fn produce(bootstrap: &str, partitions: i32, sigs: &[(i64, String)]) -> u64 {
    let producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create()
        .expect("producer");
    let mut n = 0;
    for p in 0..partitions {
        let cluster = format!("bench{p}");
        let from = "\"cluster\":\"bench\"";
        let to = format!("\"cluster\":\"{cluster}\"");
        for (t, text) in sigs {
            let payload = text.replacen(from, &to, 1);
            let mut rec = BaseRecord::to(DEFAULT_SIGNALS_TOPIC)
                .partition(p)
                .key(cluster.as_bytes())
                .payload(payload.as_bytes())
                .timestamp(*t);
            loop {
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((e, r)) => {
                        assert!(
                            matches!(
                                e.rdkafka_error_code(),
                                Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                            ),
                            "produce: {e}"
                        );
                        rec = r;
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
            n += 1;
        }
    }
    producer
        .flush(Duration::from_secs(600))
        .expect("every record delivered");
    n
}

/// Sets `group`'s committed offset of every partition to `offset`.
fn commit_group(bootstrap: &str, group: &str, partitions: i32, offset: i64) {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("committer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(DEFAULT_SIGNALS_TOPIC, p, Offset::Offset(offset))
            .unwrap();
    }
    c.commit(&tpl, CommitMode::Sync)
        .expect("commit the group's offsets");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn metrics(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|x| x.1.to_string())
}

/// Partition → value of the per-partition series `name`.
fn series(body: &str, name: &str) -> BTreeMap<i32, f64> {
    let prefix = format!("{name}{{");
    body.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| {
            let p = l
                .split("partition=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse()
                .ok()?;
            let v = l.rsplit(' ').next()?.parse().ok()?;
            Some((p, v))
        })
        .collect()
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

struct Central {
    child: Child,
    port: u16,
}

impl Central {
    fn start(a: &Args, group: &str) -> Central {
        let dir = a.work.join(group);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let cfg = dir.join("central.yaml");
        std::fs::write(
            &cfg,
            format!(
                "central:\n  brokers: {}\n  group: {group}\n  lookback: 6h\n  session_timeout: 30s\nsinks:\n  - name: out\n    type: file\n    path: {}\ndelivery:\n  state_dir: {}\nhealth_listen: 127.0.0.1:{port}\n",
                a.bootstrap,
                dir.join("out.jsonl").display(),
                dir.join("state").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("central.log")).unwrap();
        let child = Command::new(&a.bin)
            .args(["central", "--config"])
            .arg(&cfg)
            .args(["--client-id", group])
            .env("FLUXSIGHT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start fluxsight central");
        Central { child, port }
    }

    fn stop(mut self) -> Option<f64> {
        let rss = peak_rss_mib(self.child.id());
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return rss;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        rss
    }
}

fn main() {
    let a = args();
    std::fs::create_dir_all(&a.work).unwrap();
    let started = Instant::now();
    let input = std::fs::read(&a.input).expect("read --input");
    let mut sigs = signals(&input);
    drop(input);
    assert!(
        sigs.len() >= a.per_partition,
        "the corpus gives {} signals, fewer than --per-partition {}: generate more lines",
        sigs.len(),
        a.per_partition
    );
    sigs.truncate(a.per_partition);
    let bytes: usize = sigs.iter().map(|s| s.1.len()).sum();
    eprintln!(
        "bench: {} signals per partition ({:.0} B each) from {} in {:.1} s",
        sigs.len(),
        bytes as f64 / sigs.len() as f64,
        a.input.display(),
        started.elapsed().as_secs_f64()
    );
    create_topics(&a.bootstrap, a.partitions);
    let t = Instant::now();
    let total = produce(&a.bootstrap, a.partitions, &sigs);
    let secs = t.elapsed().as_secs_f64();
    println!(
        "produced: {total} records ({} partitions x {}) in {secs:.1} s ({:.0} records/s)",
        a.partitions,
        sigs.len(),
        total as f64 / secs
    );
    drop(sigs);
    let per = a.per_partition as f64;

    // Rebuild: a brand-new group; everything up to the high watermark rehydrates.
    let c = Central::start(&a, "bench-rebuild");
    let t = Instant::now();
    let mut rebuilt = None;
    while t.elapsed() < a.timeout {
        std::thread::sleep(Duration::from_millis(250));
        let Some(body) = metrics(c.port) else {
            continue;
        };
        let owned = series(&body, "fluxsight_central_partition_owned");
        let rehydrating = series(&body, "fluxsight_central_partition_rehydrating");
        let next = series(&body, "fluxsight_central_partition_next_offset");
        let all_owned = owned.len() == a.partitions as usize;
        let done = all_owned
            && rehydrating.values().all(|v| *v == 0.0)
            && next.values().all(|n| *n >= per);
        if done {
            rebuilt = Some(series(&body, "fluxsight_central_partition_rebuild_seconds"));
            break;
        }
    }
    let wall = t.elapsed().as_secs_f64();
    let rss = c.stop();
    let Some(rebuild) = rebuilt else {
        println!("result: rebuild did not finish within {:?}", a.timeout);
        std::process::exit(1);
    };
    let max = rebuild.values().cloned().fold(0.0, f64::max);
    let records = per * a.partitions as f64;
    println!(
        "result: rebuild of {} partitions x {} records: {max:.2} s (slowest partition's rebuild_seconds; per partition {:?}); {:.0} records/s; {wall:.1} s from process start; peak RSS {:.1} MiB; target <= 20 s for 6 x 600000 on the 2-core machine: {}",
        a.partitions,
        a.per_partition,
        rebuild.values().map(|v| format!("{v:.2}")).collect::<Vec<_>>(),
        records / max.max(1e-9),
        rss.unwrap_or(0.0),
        if a.partitions == 6 && a.per_partition == 600_000 {
            if max <= 20.0 { "met" } else { "NOT met" }
        } else {
            "(not the target size)"
        }
    );

    // Live: committed at 0, so every record is live (correlated, outputs delivered).
    commit_group(&a.bootstrap, "bench-live", a.partitions, 0);
    let c = Central::start(&a, "bench-live");
    let t = Instant::now();
    let mut first: Option<Instant> = None;
    let mut last_done = None;
    while t.elapsed() < a.timeout {
        std::thread::sleep(Duration::from_millis(250));
        let Some(body) = metrics(c.port) else {
            continue;
        };
        let next = series(&body, "fluxsight_central_partition_next_offset");
        let rehydrating = series(&body, "fluxsight_central_partition_rehydrating");
        if first.is_none() && next.values().any(|n| *n > 0.0) {
            first = Some(Instant::now());
        }
        if rehydrating.values().any(|v| *v > 0.0) {
            println!("result: live run rehydrated (the group's commit at 0 was not taken): no live figure");
            break;
        }
        if next.len() == a.partitions as usize && next.values().all(|n| *n >= per) {
            last_done = Some(Instant::now());
            break;
        }
    }
    let rss = c.stop();
    match (first, last_done) {
        (Some(f), Some(l)) => {
            let secs = (l - f).as_secs_f64();
            println!(
                "result: live throughput: {records:.0} records in {secs:.2} s = {:.0} records/s per process (correlated, outputs to a file sink); peak RSS {:.1} MiB",
                records / secs.max(1e-9),
                rss.unwrap_or(0.0)
            );
        }
        _ => {
            println!("result: live run did not finish within {:?}", a.timeout);
            std::process::exit(1);
        }
    }
}
