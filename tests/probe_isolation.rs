//! The probes are isolated from the receiver's clients, and a listen address that
//! cannot be bound stops `fluxsight run` (exit 1) instead of leaving it running without
//! probes, metrics or receiver. Runs the real binary on loopback ports chosen free here.
//!
//! The isolation test fills the receiver's connection cap with idle connections, re-opened
//! as soon as the server closes them, for [`FLOOD_FOR`], while a dedicated thread probes
//! `/healthz` on the health port like kubelet does (a new connection per probe). Every
//! probe must answer 200 within [`PROBE_DEADLINE`] (the acceptance bound of issue 19).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

const BIN: &str = env!("CARGO_BIN_EXE_fluxsight");
/// Idle connections held against the receiver (its cap is 256).
const IDLE_CONNECTIONS: usize = 300;
/// How long the receiver is flooded while the probes run.
const FLOOD_FOR: Duration = Duration::from_secs(30);
/// Each probe must answer within this.
const PROBE_DEADLINE: Duration = Duration::from_millis(100);
/// Between two probes.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// How long fluxsight may take to start serving, or to exit on a bind failure.
const START_TIMEOUT: Duration = Duration::from_secs(15);

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn tmp_file(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("probe-isolation-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// `fluxsight run --no-kube` on an input file (followed, so it keeps running); its
/// stderr goes to a file (a pipe nobody reads could fill and stall it): see [`stderr`].
fn fluxsight(listen: SocketAddr, health: SocketAddr, config: Option<&PathBuf>) -> Child {
    let input = tmp_file("input.log", "");
    let err = std::fs::File::create(stderr_path(listen)).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["run", "--no-kube", "--output", "none", "--input"])
        .arg(&input)
        .arg("--listen")
        .arg(listen.to_string())
        .arg("--health-listen")
        .arg(health.to_string())
        .env("FLUXSIGHT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(err);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.spawn().unwrap()
}

fn stderr_path(listen: SocketAddr) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "probe-isolation-{}-{}.stderr",
        std::process::id(),
        listen.port()
    ))
}

/// What the fluxsight listening on `listen` wrote on stderr.
fn stderr(listen: SocketAddr) -> String {
    std::fs::read_to_string(stderr_path(listen)).unwrap_or_default()
}

/// Kills the child when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        // Already gone is fine: the test only needs it stopped.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One GET on a fresh connection: (status line, time to the full answer).
fn get(addr: SocketAddr, path: &str, timeout: Duration) -> (String, Duration) {
    let start = Instant::now();
    let answer = (|| -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_nodelay(true)?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"
        )?;
        let mut body = String::new();
        s.read_to_string(&mut body)?;
        Ok(body)
    })();
    let took = start.elapsed();
    match answer {
        Ok(body) => (body, took),
        Err(e) => (format!("error: {e}"), took),
    }
}

fn wait_until_serving(addr: SocketAddr, listen: SocketAddr, child: &mut Child) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let (answer, _) = get(addr, "/healthz", Duration::from_secs(1));
        if answer.starts_with("HTTP/1.1 200") {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "fluxsight exited ({status}) before serving {addr}: {}",
                stderr(listen)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{addr} did not answer /healthz: {answer}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Holds `n` idle connections to `addr` until `stop`, opening a new one whenever the
/// server closes one (at accept beyond the cap, or after the header timeout).
async fn flood(addr: SocketAddr, n: usize, stop: Arc<AtomicBool>) -> u64 {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            let mut opened = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                opened += 1;
                let mut buf = [0u8; 64];
                // Hold it, idle, until the server closes it or the flood ends.
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
                        Err(_) => continue,
                        Ok(Ok(n)) if n > 0 => continue,
                        Ok(_) => break,
                    }
                }
            }
            opened
        }));
    }
    let mut opened = 0;
    for t in tasks {
        opened += t.await.unwrap();
    }
    opened
}

fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn healthz_answers_while_the_receiver_is_flooded_with_idle_connections() {
    let (listen, health) = (free_port(), free_port());
    // Every connection comes from 127.0.0.1: lift the per-address cap so the flood fills
    // the receiver's global cap, as clients from many addresses would.
    let config = tmp_file(
        "pipeline.yaml",
        "receiver:\n  max_connections_per_ip: 1000\n",
    );
    let mut child = fluxsight(listen, health, Some(&config));
    wait_until_serving(health, listen, &mut child);
    let child = Running(child);

    let stop = Arc::new(AtomicBool::new(false));
    let flood_stop = stop.clone();
    let flooder = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(flood(listen, IDLE_CONNECTIONS, flood_stop))
    });
    // Let the flood fill the cap before probing.
    std::thread::sleep(Duration::from_secs(1));

    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let end = Instant::now() + FLOOD_FOR;
    while Instant::now() < end {
        let (answer, took) = get(health, "/healthz", Duration::from_secs(2));
        if !answer.starts_with("HTTP/1.1 200") || took > PROBE_DEADLINE {
            failures.push(format!("{took:?}: {}", answer.lines().next().unwrap_or("")));
        }
        latencies.push(took);
        std::thread::sleep(PROBE_EVERY);
    }
    let (metrics, _) = get(health, "/metrics", Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let opened = flooder.join().unwrap();
    drop(child);

    latencies.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    let max = latencies[latencies.len() - 1];
    eprintln!(
        "probes: {} over {FLOOD_FOR:?}, max {max:?}, p99 {p99:?}; flood opened {opened} connections",
        latencies.len()
    );
    let full = metric(
        &metrics,
        "fluxsight_connections_refused_total{listener=\"receiver\",reason=\"max_connections\"}",
    );
    assert!(
        full > 0,
        "the flood never filled the receiver's cap, so it proves nothing:\n{metrics}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} probes failed or took over {PROBE_DEADLINE:?}: {:?}",
        failures.len(),
        latencies.len(),
        &failures[..failures.len().min(10)]
    );
}

/// Runs fluxsight until it exits (at most [`START_TIMEOUT`]): its status and stderr.
fn run_to_exit(mut child: Child, listen: SocketAddr) -> (ExitStatus, String) {
    let deadline = Instant::now() + START_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("fluxsight kept running on an address in use");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, stderr(listen))
}

#[test]
fn a_receiver_address_in_use_is_fatal() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (status, err) = run_to_exit(fluxsight(addr, free_port(), None), addr);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("fluxsight: cannot listen on {addr} (receiver): ")),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("address already in use"),
        "{err}"
    );
}

#[test]
fn a_health_address_in_use_is_fatal() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let listen = free_port();
    let (status, err) = run_to_exit(fluxsight(listen, addr, None), listen);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("fluxsight: cannot listen on {addr} (health): ")),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("address already in use"),
        "{err}"
    );
}
