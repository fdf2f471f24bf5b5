//! Load generator for `scripts/latency.sh`: live-pipeline latency from record in to
//! finding out, on loopback (issue 6: p99 ≤ 50 ms at 10,000 records/s).
//!
//! It POSTs Flux event payloads to a running `fluxsight run` receiver at a fixed total
//! rate over several keep-alive connections: background events (successful reconciles of
//! a fixed set of objects, which change no finding) and, every `--trigger-every`
//! records, a trigger: a forbidden error about a Kustomization never seen before, which
//! makes `rbac_denied` fire on its first record. It also serves the webhook the pipeline
//! delivers findings to, and takes the time from just before a trigger's POST to the
//! arrival of the finding naming that trigger's object. Prints the achieved rate, the
//! latency percentiles and how many triggers got no finding.
//!
//! Usage: latency_load --target http://127.0.0.1:P/events --listen 127.0.0.1:Q
//!        [--rate 10000] [--seconds 30] [--warmup 5] [--trigger-every 100]
//!        [--connections 16] [--objects 1000]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;

const TRIGGER_NS: &str = "latency";

#[derive(Clone)]
struct Args {
    target: String,
    listen: SocketAddr,
    rate: u64,
    seconds: u64,
    warmup: u64,
    trigger_every: u64,
    connections: u64,
    objects: u64,
}

fn parse_args() -> Args {
    let mut a = Args {
        target: String::new(),
        listen: "127.0.0.1:0".parse().expect("literal address"),
        rate: 10_000,
        seconds: 30,
        warmup: 5,
        trigger_every: 100,
        connections: 16,
        objects: 1_000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.chunks(2);
    for pair in &mut it {
        let [k, v] = pair else {
            usage(&format!("{} needs a value", pair[0]))
        };
        let num = || {
            v.parse::<u64>()
                .unwrap_or_else(|_| usage(&format!("bad {k}")))
        };
        match k.as_str() {
            "--target" => a.target = v.clone(),
            "--listen" => a.listen = v.parse().unwrap_or_else(|_| usage("bad --listen")),
            "--rate" => a.rate = num().max(1),
            "--seconds" => a.seconds = num().max(1),
            "--warmup" => a.warmup = num(),
            "--trigger-every" => a.trigger_every = num().max(1),
            "--connections" => a.connections = num().max(1),
            "--objects" => a.objects = num().max(1),
            _ => usage(&format!("unknown flag {k}")),
        }
    }
    if a.target.is_empty() {
        usage("--target is required");
    }
    a
}

fn usage(why: &str) -> ! {
    eprintln!("latency_load: {why}");
    eprintln!(
        "usage: latency_load --target URL --listen ADDR [--rate N] [--seconds N] [--warmup N] \
         [--trigger-every N] [--connections N] [--objects N]"
    );
    std::process::exit(2)
}

fn rfc3339_now() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    fluxsight::parse::time::format_rfc3339_ms(ms)
}

/// A Flux event payload as notification-controller receives it.
fn payload(ns: &str, name: &str, severity: &str, reason: &str, message: &str) -> String {
    serde_json::json!({
        "involvedObject": {
            "kind": "Kustomization", "namespace": ns, "name": name,
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        },
        "severity": severity,
        "timestamp": rfc3339_now(),
        "message": message,
        "reason": reason,
        "reportingController": "kustomize-controller",
        "reportingInstance": "kustomize-controller-7f5c6d8b9-x2x8q",
        "metadata": {"revision": "main@sha1:4f2c3bd62fbd0cbc7a1b3b0f5e1c6a7d8e9f0a1b"},
    })
    .to_string()
}

fn trigger(seq: u64) -> (String, String) {
    let name = format!("lat-{seq}");
    let msg = format!(
        "ConfigMap/other/settings dry-run failed (Forbidden): configmaps \"settings\" is \
         forbidden: User \"system:serviceaccount:{TRIGGER_NS}:{name}\" cannot patch resource \
         \"configmaps\" in API group \"\" in the namespace \"other\""
    );
    let body = payload(TRIGGER_NS, &name, "error", "ReconciliationFailed", &msg);
    (name, body)
}

fn background(seq: u64, objects: u64) -> String {
    let i = seq % objects;
    payload(
        &format!("team-{}", i % 20),
        &format!("app-{i}"),
        "info",
        "ReconciliationSucceeded",
        "Reconciliation finished in 1.2s, next run in 10m0s",
    )
}

#[derive(Default)]
struct Shared {
    /// Trigger object name → when its POST started (measured triggers only).
    sent: Mutex<HashMap<String, Instant>>,
    latencies_us: Mutex<Vec<u64>>,
    findings: AtomicU64,
}

/// The webhook: every finding (one object, or an array with `max_batch > 1`) naming a
/// trigger object closes that trigger's measurement.
async fn hook(State(sh): State<Arc<Shared>>, body: Bytes) -> &'static str {
    let now = Instant::now();
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return "ok";
    };
    let items = match v {
        serde_json::Value::Array(a) => a,
        other => vec![other],
    };
    for it in items {
        sh.findings.fetch_add(1, Ordering::Relaxed);
        let subject = it.get("subject").or_else(|| it.pointer("/data/subject"));
        let Some(name) = subject.and_then(|s| s.get("name")).and_then(|n| n.as_str()) else {
            continue;
        };
        let started = sh.sent.lock().ok().and_then(|mut m| m.remove(name));
        if let (Some(t0), Ok(mut l)) = (started, sh.latencies_us.lock()) {
            l.push(now.duration_since(t0).as_micros() as u64);
        }
    }
    "ok"
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let shared = Arc::new(Shared::default());
    let app = Router::new()
        .route("/", post(hook))
        .route("/{*path}", post(hook))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .unwrap_or_else(|e| usage(&format!("cannot listen on {}: {e}", args.listen)));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let client = fluxsight::tls::http_client_builder()
        .pool_max_idle_per_host(args.connections as usize)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client");
    let seq = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let total = args.seconds + args.warmup;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs(args.warmup);
    let end = start + Duration::from_secs(total);
    let per_conn = Duration::from_secs_f64(args.connections as f64 / args.rate as f64);
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let (client, seq, errors, sh, a) = (
            client.clone(),
            seq.clone(),
            errors.clone(),
            shared.clone(),
            args.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Staggered start, then a fixed schedule: a slow response delays the next
            // POST of this connection only, and the schedule catches up afterwards.
            let offset = per_conn.mul_f64(c as f64 / a.connections as f64);
            let mut next = tokio::time::Instant::now() + offset;
            loop {
                tokio::time::sleep_until(next).await;
                next += per_conn;
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let body = if n % a.trigger_every == a.trigger_every - 1 {
                    let (name, body) = trigger(n);
                    if now >= measure_from {
                        if let Ok(mut m) = sh.sent.lock() {
                            m.insert(name, Instant::now());
                        }
                    }
                    body
                } else {
                    background(n, a.objects)
                };
                let ok = client
                    .post(&a.target)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let sent_secs = start.elapsed().as_secs_f64();
    let sent = seq.load(Ordering::Relaxed);
    // Findings still in flight get a moment to arrive.
    let grace = Instant::now() + Duration::from_secs(5);
    while Instant::now() < grace && shared.sent.lock().is_ok_and(|m| !m.is_empty()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut lat = shared
        .latencies_us
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    lat.sort_unstable();
    let missing = shared.sent.lock().map(|m| m.len()).unwrap_or(0);
    println!(
        "sent {sent} records in {sent_secs:.1} s ({:.0} records/s, target {}), {} errors, \
         {} findings received",
        sent as f64 / sent_secs,
        args.rate,
        errors.load(Ordering::Relaxed),
        shared.findings.load(Ordering::Relaxed)
    );
    println!(
        "latency record in -> finding out over {} triggers (after {} s warm-up): \
         p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  missing {missing}",
        lat.len(),
        args.warmup,
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
        percentile(&lat, 100.0),
    );
}
