//! Fault-matrix cells not covered by the per-sink and per-source suites (README "Fault
//! matrix" lists every cell and its test):
//!
//! - Slack and Alertmanager sinks under 5xx, 429 with `Retry-After` and a hanging
//!   receiver (the webhook's cells are in `http_faults.rs`);
//! - DNS failure of webhook, Slack and Alertmanager URLs: spooled, retried, delivered by
//!   `fluxsight drain` once the name points somewhere that answers;
//! - a full disk spool, by its size cap and by a real ENOSPC (a 64 KiB tmpfs; root only):
//!   the pipeline waits, nothing is dropped, everything arrives once the sink recovers;
//! - SIGKILL of `fluxsight run` following a file, then a restart: the file is resumed at
//!   its checkpoint and the spool left behind is delivered by the new run;
//! - rotation of a followed file by rename and by copytruncate;
//! - end-to-end acknowledgement (`ack`): kills under backlog, SIGTERM inside
//!   `group_wait`, `--no-follow` with the receiver, a second instance, SIGTERM on a full
//!   disk, copytruncate while writing.

#[path = "fault_matrix/ack.rs"]
mod ack;
mod common;
mod http_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    auth_line, free_port, incident_log, info_line, metric, source_lines, spool_ids, tempdir,
    wait_until, write_pipeline, BIN,
};
use fluxsight::sinks::config::{
    AlertmanagerConfig, BodyFormat, FsyncPolicy, HttpEndpoint, MaybeSecret, SecretRef, SlackConfig,
    WebhookConfig,
};
use fluxsight::sinks::spool::{DiskSpool, Queue};
use fluxsight::sinks::worker::{spawn, WorkerConfig};
use fluxsight::sinks::{alertmanager, slack, webhook, Delivery, Sink};
use http_support::{finding, run_worker, Fault, Receiver};

/// The correlator counts records closer than 2 s as one attempt.
const ATTEMPT_GAP: Duration = Duration::from_millis(2100);

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn findings(n: u64, message: &str) -> Vec<Delivery> {
    (0..n)
        .map(|i| Delivery::Finding(Box::new(finding(i, &format!("app-{i}"), message))))
        .collect()
}

// ---- Slack and Alertmanager under receiver faults ----

fn http_sink(kind: &str, url: &str) -> Box<dyn Sink> {
    match kind {
        "slack" => {
            let var = format!("FLUXSIGHT_FAULT_SLACK_{}", free_port());
            std::env::set_var(&var, url);
            slack::build(&SlackConfig {
                name: "slack".into(),
                url: Some(SecretRef::Env(var)),
                http: HttpEndpoint {
                    min_interval: Some("10ms".into()),
                    timeout: Some("1s".into()),
                    ..Default::default()
                },
                ..Default::default()
            })
            .unwrap()
        }
        "alertmanager" => alertmanager::build(&AlertmanagerConfig {
            name: "am".into(),
            url: MaybeSecret::Plain(url.into()),
            repost_interval: None,
            labels: Default::default(),
            generator_url: None,
            runbook_base_url: None,
            http: HttpEndpoint {
                timeout: Some("1s".into()),
                ..Default::default()
            },
        })
        .unwrap(),
        _ => webhook::build(&WebhookConfig {
            name: "hook".into(),
            url: MaybeSecret::Plain(url.into()),
            format: BodyFormat::Native,
            hmac_secret: None,
            max_batch: None,
            http: HttpEndpoint {
                timeout: Some("1s".into()),
                ..Default::default()
            },
        })
        .unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_and_alertmanager_retry_5xx_429_and_hangs() {
    let cells: [(&str, Vec<Fault>); 3] = [
        (
            "5xx",
            vec![
                Fault::Status(500, "boom"),
                Fault::Status(503, "unavailable"),
            ],
        ),
        ("429", vec![Fault::TooMany(1)]),
        ("hang", vec![Fault::Hang(Duration::from_secs(30))]),
    ];
    for kind in ["slack", "alertmanager"] {
        for (name, faults) in &cells {
            let rx = Receiver::start(None).await;
            rx.script(faults.clone());
            let sink = http_sink(kind, &rx.url("/"));
            let t = Instant::now();
            let stats = run_worker(
                sink,
                findings(2, "auth failed"),
                None,
                Duration::from_secs(20),
            )
            .await;
            let took = t.elapsed();
            eprintln!("{kind} × {name}: {stats:?} in {} ms", took.as_millis());
            assert_eq!(stats.sent, 2, "{kind} × {name}: every delivery accepted");
            assert_eq!(stats.retried as usize, faults.len(), "{kind} × {name}");
            assert_eq!(stats.dropped + stats.dead_lettered, 0, "{kind} × {name}");
            assert!(!rx.accepted().is_empty(), "{kind} × {name}");
            if *name == "429" {
                let seen = rx.seen();
                let gap = seen[1].at.duration_since(seen[0].at);
                assert!(
                    gap >= Duration::from_millis(950),
                    "{kind}: Retry-After: 1 honoured: {gap:?}"
                );
            }
        }
    }
}

// ---- DNS failure: spooled, retried, drained once the name resolves ----

/// A pipeline with a webhook, a Slack (URL from the environment) and an Alertmanager sink.
fn http_pipeline(dir: &Path, hook: &str, am: &str, shutdown: &str) -> PathBuf {
    let sinks = format!(
        "  - name: hook\n    type: webhook\n    url: {hook}\n    timeout: 2s\n\
         \x20 - name: chat\n    type: slack\n    url: {{env: FLUXSIGHT_FAULT_SLACK_URL}}\n    timeout: 2s\n    min_interval: 10ms\n\
         \x20 - name: am\n    type: alertmanager\n    url: {am}\n    timeout: 2s\n"
    );
    write_pipeline(dir, "dns-test", &sinks, shutdown)
}

fn fluxsight(args: &[&str], slack_url: &str) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("FLUXSIGHT_FAULT_SLACK_URL", slack_url)
        .stdin(Stdio::null())
        .output()
        .expect("run fluxsight")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_failure_spools_http_sinks_and_drain_delivers() {
    let dir = tempdir("fault-dns");
    // `.invalid` never resolves (RFC 6761).
    let cfg = http_pipeline(
        &dir,
        "http://hook.x.invalid/in",
        "http://am.x.invalid:9093",
        "2s",
    );
    let (c, i) = (s(&cfg), s(&incident_log()));
    let out = tokio::task::spawn_blocking(move || {
        fluxsight(
            &["replay", "--config", &c, &i],
            "http://chat.x.invalid/services/T/B/x",
        )
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("replay against unresolvable names: {}", stderr.trim());
    let spool = |sink: &str| -> BTreeSet<String> {
        spool_ids(&dir.join("state/spool").join(sink))
            .into_iter()
            .collect()
    };
    let pending: Vec<(&str, BTreeSet<String>)> = ["hook", "chat", "am"]
        .iter()
        .map(|k| (*k, spool(k)))
        .collect();
    for (sink, ids) in &pending {
        assert!(!ids.is_empty(), "{sink}: deliveries kept in the spool");
    }
    assert!(
        stderr.contains("delivery failed, retrying"),
        "retried: {stderr}"
    );
    let dropped: Vec<&str> = stderr
        .split("dropped ")
        .skip(1)
        .filter_map(|t| t.split_whitespace().next())
        .collect();
    assert!(
        !dropped.is_empty() && dropped.iter().all(|n| *n == "0"),
        "nothing dropped: {stderr}"
    );

    // The names now lead to receivers that answer: drain delivers every spooled record.
    let (hook, chat, am) = (
        Receiver::start(None).await,
        Receiver::start(None).await,
        Receiver::start(None).await,
    );
    let cfg = http_pipeline(&dir, &hook.url("/in"), &am.url(""), "20s");
    let (c, chat_url) = (s(&cfg), chat.url("/services/T/B/x"));
    let out = tokio::task::spawn_blocking(move || fluxsight(&["drain", "--config", &c], &chat_url))
        .await
        .unwrap();
    eprintln!("drain: {}", String::from_utf8_lossy(&out.stderr).trim());
    assert!(out.status.success(), "drain left a backlog");
    let got: BTreeSet<String> = hook.accepted_ids().into_keys().collect();
    assert_eq!(got, pending[0].1, "webhook: every spooled delivery arrived");
    // Slack coalesces the updates of one finding (`sinks::chat`): at most one message
    // per spooled delivery; the drain's success says every one was acknowledged.
    let messages = chat.accepted().len();
    assert!(
        messages > 0 && messages <= pending[1].1.len(),
        "slack: {messages} messages for {} deliveries",
        pending[1].1.len()
    );
    assert!(!am.accepted().is_empty(), "alertmanager: alerts posted");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- A full disk spool: back-pressure, nothing dropped ----

/// Submits `n` deliveries to a webhook sink whose receiver fails until the spool in
/// `dir` (`cap` bytes) refuses more; checks that the submitter waits, then recovers.
async fn spool_full_case(dir: &Path, cap: u64, n: u64) {
    let rx = Receiver::start(None).await;
    rx.set_steady(Some(Fault::Status(503, "down")));
    let queue =
        Queue::Disk(DiskSpool::open(&dir.join("spool"), cap, FsyncPolicy::Never, 64).unwrap());
    let cfg = WorkerConfig {
        retry_initial_ms: 50,
        retry_max_ms: 200,
        dead_letter: None,
    };
    let (h, join) = spawn("hook", http_sink("webhook", &rx.url("/")), queue, cfg);
    // Large bodies fill the spool quickly.
    let ds = findings(n, &"x".repeat(1500));
    let expected: BTreeSet<String> = ds.iter().map(Delivery::delivery_id).collect();
    let submitted = Arc::new(AtomicUsize::new(0));
    let (h2, sub2) = (h.clone(), submitted.clone());
    let producer = tokio::spawn(async move {
        for d in ds {
            h2.submit(d).await;
            sub2.fetch_add(1, Ordering::SeqCst);
        }
    });
    let t = Instant::now();
    while h.stats().snapshot().blocked == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the spool never filled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stuck = submitted.load(Ordering::SeqCst);
    let st = h.stats().snapshot();
    eprintln!("spool full after {stuck} of {n} deliveries: {st:?}");
    assert!(stuck < n as usize, "the producer waits for room");
    assert_eq!(st.dropped, 0, "nothing dropped while full");

    rx.set_steady(None);
    tokio::time::timeout(Duration::from_secs(30), producer)
        .await
        .expect("the producer resumes once the sink drains the spool")
        .unwrap();
    h.close();
    tokio::time::timeout(Duration::from_secs(30), join)
        .await
        .expect("worker drains")
        .unwrap();
    let st = h.stats().snapshot();
    eprintln!("after recovery: {st:?}");
    assert_eq!(st.dropped, 0);
    assert_eq!(st.sent, n);
    let got: BTreeSet<String> = rx.accepted_ids().into_keys().collect();
    assert_eq!(got, expected, "every delivery arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_at_its_size_cap_blocks_then_delivers_everything() {
    let dir = tempdir("fault-spool-cap");
    spool_full_case(&dir, 24 << 10, 60).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A real ENOSPC: the spool on a 64 KiB tmpfs. Needs root to mount; skipped otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spool_on_a_full_disk_blocks_then_delivers_everything() {
    let dir = tempdir("fault-enospc");
    let Some(_disk) = common::Tmpfs::mount(&dir, "64k", "spool_on_a_full_disk") else {
        return;
    };
    spool_full_case(&dir, 1 << 30, 150).await;
}

// ---- SIGKILL of `fluxsight run`, restart from the checkpoint and the spool ----

struct Run(Child);

impl Run {
    fn start(cfg: &Path, input: &Path, port: u16) -> Run {
        let child = Command::new(BIN)
            .args(["run", "--no-kube", "--output", "none", "--config"])
            .arg(cfg)
            .arg("--input")
            .arg(input)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            // Several runs at once: the default health port would be bound twice.
            .args(["--health-listen", "none"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start fluxsight run");
        Run(child)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A receiver on `port` (a webhook sink's URL that was down until now).
fn serve_hook(rt: &tokio::runtime::Runtime, port: u16) -> Receiver {
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        Receiver::serve(l, None)
    })
}

fn append(path: &Path, lines: &[String]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn infos(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| info_line(&format!("{tag}-{i:04}")))
        .collect()
}

fn count(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

#[test]
fn run_sigkilled_and_restarted_resumes_file_and_spool() {
    let dir = tempdir("fault-kill-run");
    let input = dir.join("source-controller.log");
    let out = dir.join("findings.jsonl");
    let hook_port = free_port(); // nothing listens during the first run
    let sinks = format!(
        "  - name: file\n    type: file\n    path: {}\n\
         \x20 - name: hook\n    type: webhook\n    url: http://127.0.0.1:{hook_port}/in\n    timeout: 1s\n",
        out.display()
    );
    let cfg = write_pipeline(&dir, "kill-test", &sinks, "10s");
    let stream = format!("file:{}", input.display());
    std::fs::write(&input, "").unwrap();

    let port = free_port();
    let mut run1 = Run::start(&cfg, &input, port);
    append(&input, &infos("before", 200));
    for a in 1..=3 {
        if a > 1 {
            std::thread::sleep(ATTEMPT_GAP);
        }
        append(&input, &[auth_line("payments-config", "payments", a)]);
    }
    assert!(
        wait_until(Duration::from_secs(20), || count(&out, "git_auth_failure")
            >= 1),
        "no finding in the file sink"
    );
    assert_eq!(source_lines(port, &stream), 203);
    // The webhook is down: its copy waits in the spool. Let the position be saved (1 s).
    let hook_spool = dir.join("state/spool/hook");
    assert!(wait_until(Duration::from_secs(5), || !spool_ids(
        &hook_spool
    )
    .is_empty()));
    std::thread::sleep(Duration::from_millis(1500));
    run1.0.kill().unwrap(); // SIGKILL
    run1.0.wait().unwrap();
    let emitted = count(&out, "git_auth_failure");
    let pending: BTreeSet<String> = spool_ids(&hook_spool).into_iter().collect();

    // Written while fluxsight is down, then a restart with the webhook up.
    append(&input, &infos("after", 50));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let hook = serve_hook(&rt, hook_port);
    let port2 = free_port();
    let mut run2 = Run::start(&cfg, &input, port2);
    assert!(
        wait_until(Duration::from_secs(20), || source_lines(port2, &stream)
            >= 50),
        "new lines not read after the restart"
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            let got: BTreeSet<String> = hook.accepted_ids().into_keys().collect();
            pending.is_subset(&got)
        }),
        "the spool left by the killed run was not delivered"
    );
    std::thread::sleep(Duration::from_millis(1000));
    // The restart re-reads the lookback before the checkpoint (all 203 lines here: they
    // are minutes old) to rebuild the correlator's windows, then the 50 new lines.
    assert_eq!(
        source_lines(port2, &stream),
        253,
        "the restart resumed at the checkpoint's rebuild point"
    );
    assert!(
        metric(port2, "fluxsight_rebuild_outputs_suppressed_total") >= 1,
        "the finding rebuilt from the re-read lines is not delivered again"
    );
    assert_eq!(
        metric(port2, "fluxsight_sink_dropped_total{sink=\"hook\"}"),
        0
    );
    // No re-read, so no second emission of the finding.
    assert_eq!(
        count(&out, "git_auth_failure"),
        emitted,
        "finding emitted again"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &run2.0.id().to_string()])
        .status();
    let _ = run2.0.wait();
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Rotation of a followed file ----

#[test]
fn followed_file_rotation_by_rename_and_copytruncate() {
    let dir = tempdir("fault-rotate");
    let (renamed, truncated) = (dir.join("a.log"), dir.join("b.log"));
    append(&renamed, &infos("a1", 100));
    append(&truncated, &infos("b1", 100));
    let port = free_port();
    let mut run = Command::new(BIN)
        .args(["run", "--no-kube", "--output", "none"])
        .arg("--input")
        .arg(&renamed)
        .arg("--input")
        .arg(&truncated)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--health-listen", "none"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (sa, sb) = (
        format!("file:{}", renamed.display()),
        format!("file:{}", truncated.display()),
    );
    assert!(wait_until(Duration::from_secs(20), || source_lines(
        port, &sa
    ) == 100
        && source_lines(port, &sb) == 100));

    // logrotate `create`: the writer appends its last lines, the file is renamed, a new
    // one takes its name.
    append(&renamed, &infos("a2", 20));
    std::fs::rename(&renamed, dir.join("a.log.1")).unwrap();
    append(&renamed, &infos("a3", 30));
    // logrotate `copytruncate`: copied, truncated in place, written from the start.
    std::fs::copy(&truncated, dir.join("b.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&truncated, &infos("b2", 30));

    let ok = wait_until(Duration::from_secs(10), || {
        source_lines(port, &sa) >= 150 && source_lines(port, &sb) >= 130
    });
    std::thread::sleep(Duration::from_millis(800));
    let (a, b) = (source_lines(port, &sa), source_lines(port, &sb));
    let restarts = |s: &str| {
        metric(
            port,
            &format!("fluxsight_source_restarts_total{{source=\"{s}\"}}"),
        )
    };
    let (ra, rb) = (restarts(&sa), restarts(&sb));
    let truncs = metric(
        port,
        &format!("fluxsight_source_truncations_total{{source=\"{sb}\"}}"),
    );
    let _ = run.kill();
    let _ = run.wait();
    assert!(ok, "rename: {a} of 150 lines; copytruncate: {b} of 130");
    assert_eq!(a, 150, "rename: every line once (old file drained first)");
    assert_eq!(b, 130, "copytruncate: every line once");
    assert!(ra >= 1 && rb >= 1, "rotations counted: {ra} {rb}");
    assert_eq!(truncs, 1, "the copytruncate counted as a truncation");
    let _ = std::fs::remove_dir_all(&dir);
}
