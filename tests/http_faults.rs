//! Fault tests of HTTP delivery, each counting deliveries at the receiver at the end
//! (unique `X-Fluxsight-Delivery-Id`s; at least once: every expected id arrives ≥ 1 time):
//! 500s then 200, 429 with `Retry-After`, a receiver that hangs past the timeout, a
//! permanent 400 (dead letter, no endless retries), and fluxsight killed with SIGKILL
//! mid-delivery, then `fluxsight drain`.

mod common;
mod http_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{incident_log, spool_ids, tempdir, BIN};
use fluxsight::sinks::config::WebhookConfig;
use fluxsight::sinks::{webhook, Delivery};
use http_support::{audit, finding, run_worker, webhook_config, Fault, Receiver};

fn config(url: String, timeout: &str) -> WebhookConfig {
    let mut c = webhook_config("hook", url);
    c.http.timeout = Some(timeout.into());
    c
}

fn deliveries(n: u64) -> Vec<Delivery> {
    (0..n)
        .map(|i| {
            if i % 3 == 2 {
                Delivery::Audit(Box::new(audit(i)))
            } else {
                Delivery::Finding(Box::new(finding(i, &format!("app-{i}"), "auth failed")))
            }
        })
        .collect()
}

fn ids(ds: &[Delivery]) -> BTreeSet<String> {
    ds.iter().map(Delivery::delivery_id).collect()
}

fn assert_all_arrived(rx: &Receiver, expected: &BTreeSet<String>) {
    let got = rx.accepted_ids();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|id| !got.contains_key(*id))
        .collect();
    assert!(missing.is_empty(), "lost deliveries: {missing:?}");
    let dups = got.values().filter(|n| **n > 1).count();
    eprintln!(
        "{} expected, {} unique arrived, {} arrived more than once",
        expected.len(),
        got.len(),
        dups
    );
}

fn gaps_ms(rx: &Receiver) -> Vec<u128> {
    rx.seen()
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at).as_millis())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_then_success() {
    let rx = Receiver::start(None).await;
    rx.script([
        Fault::Status(500, "boom"),
        Fault::Status(502, "bad gateway"),
        Fault::Status(503, "unavailable"),
    ]);
    let sink = webhook::build(&config(rx.url("/"), "2s")).unwrap();
    let ds = deliveries(4);
    let expected = ids(&ds);
    let stats = run_worker(sink, ds, None, Duration::from_secs(10)).await;
    eprintln!("request gaps (ms): {:?}", gaps_ms(&rx));
    assert_eq!(rx.seen().len(), 7, "3 failures + 4 deliveries");
    assert_eq!(stats.retried, 3);
    assert_eq!(stats.sent, 4);
    assert_all_arrived(&rx, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_waits_for_retry_after() {
    let rx = Receiver::start(None).await;
    rx.script([Fault::TooMany(1)]);
    let sink = webhook::build(&config(rx.url("/"), "2s")).unwrap();
    let ds = deliveries(3);
    let expected = ids(&ds);
    run_worker(sink, ds, None, Duration::from_secs(10)).await;
    let seen = rx.seen();
    assert_eq!(seen[0].status, 429);
    let gap = seen[1].at.duration_since(seen[0].at);
    eprintln!("retry after 429 (Retry-After: 1): {} ms", gap.as_millis());
    assert!(gap >= Duration::from_millis(950), "{gap:?}");
    assert_eq!(
        seen[0].header("x-fluxsight-delivery-id"),
        seen[1].header("x-fluxsight-delivery-id"),
        "the rejected delivery is the one retried"
    );
    assert_all_arrived(&rx, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_receiver_times_out_and_is_retried() {
    let rx = Receiver::start(None).await;
    // Each hanging request would hold 30 s; the sink gives up after 1 s.
    rx.script([
        Fault::Hang(Duration::from_secs(30)),
        Fault::Hang(Duration::from_secs(30)),
    ]);
    let sink = webhook::build(&config(rx.url("/"), "1s")).unwrap();
    let ds = deliveries(3);
    let expected = ids(&ds);
    let t = Instant::now();
    let stats = run_worker(sink, ds, None, Duration::from_secs(15)).await;
    let took = t.elapsed();
    eprintln!(
        "hanging receiver: delivered after {} ms, request gaps (ms): {:?}",
        took.as_millis(),
        gaps_ms(&rx)
    );
    assert!(took >= Duration::from_secs(2), "two 1 s timeouts: {took:?}");
    assert!(
        took < Duration::from_secs(10),
        "not stuck on the hang: {took:?}"
    );
    assert_eq!(stats.retried, 2);
    assert_all_arrived(&rx, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_rejection_is_dead_lettered_once() {
    let rx = Receiver::start(None).await;
    rx.set_steady(Some(Fault::Status(400, "invalid_payload")));
    let dir = tempdir("http-faults-dl");
    let dl = dir.join("dead-letter").join("hook.jsonl");
    let sink = webhook::build(&config(rx.url("/"), "2s")).unwrap();
    let ds = deliveries(2);
    let expected = ids(&ds);
    let stats = run_worker(sink, ds, Some(dl.clone()), Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.seen().len(), 2, "one attempt each, no retries");
    assert_eq!(stats.dead_lettered, 2);
    assert_eq!(stats.retried, 0);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&dl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let mut dead = BTreeSet::new();
    for l in &lines {
        assert_eq!(l["sink"], "test");
        assert_eq!(l["reason"], "http 400: invalid_payload");
        let d: Delivery = serde_json::from_value(l["delivery"].clone()).unwrap();
        dead.insert(d.delivery_id());
    }
    assert_eq!(dead, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- SIGKILL of the real binary mid-delivery, then `fluxsight drain` ----

/// A pipeline delivering everything to one webhook with a disk spool.
fn write_pipeline(dir: &Path, url: &str) -> PathBuf {
    let hook = format!("  - name: hook\n    type: webhook\n    url: {url}\n    timeout: 2s\n");
    common::write_pipeline(dir, "kill-test", &hook, "30s")
}

async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run fluxsight")
    })
    .await
    .unwrap()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Ids a clean replay of the incident delivers, checked against the count of findings
/// and audit records `fluxsight replay --audit` prints.
async fn reference_ids(tag: &str) -> BTreeSet<String> {
    let rx = Receiver::start(None).await;
    let dir = tempdir(&format!("http-faults-ref-{tag}"));
    let pipeline = write_pipeline(&dir, &rx.url("/ref"));
    let out = run(vec![
        "replay".into(),
        "--config".into(),
        s(&pipeline),
        s(&incident_log()),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: BTreeSet<String> = rx.accepted_ids().into_keys().collect();

    let plain = dir.join("plain.yaml");
    std::fs::write(&plain, "cluster: kill-test\n").unwrap();
    let out = run(vec![
        "replay".into(),
        "--audit".into(),
        "--config".into(),
        s(&plain),
        s(&incident_log()),
    ])
    .await;
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert_eq!(
        ids.len(),
        printed,
        "one delivery per finding update and audit record"
    );
    assert!(
        ids.len() >= 5,
        "the incident yields deliveries: {}",
        ids.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_delivery_then_drain_loses_nothing() {
    let expected = reference_ids("slow").await;

    // 1. A slow receiver: kill fluxsight once a couple of deliveries got through.
    let rx = Receiver::start(None).await;
    // 600 ms per request: 17 deliveries take ~10 s, far longer than the replay needs to
    // spool them (1–4 s for a debug build on a busy machine).
    rx.set_steady(Some(Fault::Slow(Duration::from_millis(600))));
    let dir = tempdir("http-faults-slow");
    let pipeline = write_pipeline(&dir, &rx.url("/slow"));
    let mut child = Command::new(BIN)
        .args(["replay", "--config", &s(&pipeline), &s(&incident_log())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once the replay has produced (spooled) everything and a couple of deliveries
    // got through: the rest are in flight or waiting.
    let spool = dir.join("state").join("spool").join("hook");
    let t = Instant::now();
    while spool_ids(&spool).len() < expected.len() {
        assert!(t.elapsed() < Duration::from_secs(20), "spool never filled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "replay spooled everything after {} ms",
        t.elapsed().as_millis()
    );
    rx.wait_accepted(2, Duration::from_secs(20)).await;
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed: {status:?}");
    let before = rx.accepted_ids().len();
    eprintln!("killed after {before} of {} deliveries", expected.len());
    assert!(before < expected.len(), "the kill came mid-delivery");
    let spooled: BTreeSet<String> = spool_ids(&spool).into_iter().collect();
    assert_eq!(
        spooled, expected,
        "the spool holds exactly the replay's deliveries"
    );

    // 2. The receiver recovers; `drain` delivers what the spool holds.
    rx.set_steady(None);
    let out = run(vec!["drain".into(), "--config".into(), s(&pipeline)]).await;
    eprintln!("drain: {}", String::from_utf8_lossy(&out.stderr).trim());
    assert!(out.status.success(), "drain left a backlog");
    assert_all_arrived(&rx, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_receiver_down_then_drain_loses_nothing() {
    let expected = reference_ids("down").await;

    // A port with nothing listening: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempdir("http-faults-down");
    let url = format!("http://127.0.0.1:{port}/down");
    let pipeline = write_pipeline(&dir, &url);
    let mut child = Command::new(BIN)
        .args(["replay", "--config", &s(&pipeline), &s(&incident_log())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once every delivery is in the spool (the write-ahead log), while the worker
    // is retrying against the refused port.
    let spool = dir.join("state").join("spool").join("hook");
    let t = Instant::now();
    while spool_ids(&spool).len() < expected.len() {
        assert!(t.elapsed() < Duration::from_secs(20), "spool never filled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let spooled: BTreeSet<String> = spool_ids(&spool).into_iter().collect();
    assert_eq!(
        spooled, expected,
        "the spool holds exactly the replay's deliveries"
    );

    // The receiver comes up on that port; drain delivers the spool.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("rebind the port");
    let rx = Receiver::serve(listener, None);
    let out = run(vec!["drain".into(), "--config".into(), s(&pipeline)]).await;
    eprintln!("drain: {}", String::from_utf8_lossy(&out.stderr).trim());
    assert!(out.status.success());
    assert_all_arrived(&rx, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}
