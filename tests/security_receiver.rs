//! The event receiver (`POST /events`) against hostile clients, over real loopback TCP:
//! HMAC (good, bad, missing, truncated, timestamped), replay window, body size limit,
//! rate limits with `Retry-After`, slow headers and bodies (slowloris), connection caps
//! (global and per client address).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fluxsight::parse::time::format_rfc3339_ms;
use fluxsight::server::limit::Rates;
use fluxsight::server::signature::{self, sign, sign_timestamped};
use fluxsight::server::{serve_on, ReceiverConfig};
use fluxsight::sources::SourceLine;
use fluxsight::telemetry::{Refusal, Telemetry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A reqwest client with fluxsight's rustls crypto provider installed (reqwest is built
/// with `rustls-no-provider`; a plain `reqwest::Client::new()` would panic).
fn http() -> reqwest::Client {
    fluxsight::tls::http_client_builder()
        .build()
        .expect("http client")
}

const KEY: &[u8] = b"receiver-key";

struct Receiver {
    addr: SocketAddr,
    lines: mpsc::Receiver<SourceLine>,
    cancel: CancellationToken,
    client: reqwest::Client,
    telemetry: Arc<Telemetry>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Receiver {
    async fn start(cfg: ReceiverConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, lines) = mpsc::channel(64);
        let cancel = CancellationToken::new();
        let telemetry = Telemetry::new();
        tokio::spawn(serve_on(
            listener,
            telemetry.clone(),
            tx,
            cfg,
            cancel.clone(),
        ));
        Receiver {
            addr,
            lines,
            cancel,
            client: http(),
            telemetry,
        }
    }

    async fn post(&self, body: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut rb = self
            .client
            .post(format!("http://{}/events", self.addr))
            .body(body.to_string());
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb.send().await.unwrap()
    }

    fn forwarded(&mut self) -> usize {
        let mut n = 0;
        while self.lines.try_recv().is_ok() {
            n += 1;
        }
        n
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn event(ts_ms: i64, message: &str) -> String {
    serde_json::json!({
        "involvedObject": {"kind": "GitRepository", "namespace": "flux-system", "name": "podinfo"},
        "severity": "error", "timestamp": format_rfc3339_ms(ts_ms), "message": message,
        "reason": "GitOperationFailed", "reportingController": "source-controller",
    })
    .to_string()
}

fn rates(
    client_rate: f64,
    client_burst: f64,
    global_rate: f64,
    global_burst: f64,
) -> ReceiverConfig {
    ReceiverConfig {
        rates: Rates {
            client_rate,
            client_burst,
            global_rate,
            global_burst,
        },
        ..Default::default()
    }
}

fn signed() -> ReceiverConfig {
    ReceiverConfig {
        hmac_key: Some(KEY.to_vec()),
        ..Default::default()
    }
}

#[tokio::test]
async fn hmac_good_bad_missing_and_truncated() {
    let mut r = Receiver::start(signed()).await;
    let body = event(now_ms(), "auth failed");
    let good = sign(KEY, &[body.as_bytes()]);
    let bad = sign(b"wrong-key", &[body.as_bytes()]);
    let truncated = &good[..good.len() - 2];
    for (sig, want) in [
        (Some(bad.as_str()), 401),
        (None, 401),
        (Some(truncated), 401),
        (Some("sha256="), 401),
        (Some("sha1=00"), 401),
        (Some(good.as_str()), 202),
    ] {
        let headers: Vec<(&str, &str)> = sig.map(|s| ("x-signature", s)).into_iter().collect();
        let resp = r.post(&body, &headers).await;
        assert_eq!(resp.status().as_u16(), want, "signature {sig:?}");
    }
    assert_eq!(r.forwarded(), 1, "only the well-signed request goes on");
}

#[tokio::test]
async fn replays_are_refused_outside_the_window_and_deduplicated_inside() {
    let mut r = Receiver::start(signed()).await;
    let body = event(now_ms(), "auth failed");
    let sig = sign(KEY, &[body.as_bytes()]);
    for _ in 0..3 {
        let resp = r.post(&body, &[("x-signature", &sig)]).await;
        assert_eq!(resp.status().as_u16(), 202);
    }
    assert_eq!(
        r.forwarded(),
        1,
        "a replay inside the window is acknowledged, not forwarded"
    );

    let stale = event(now_ms() - 16 * 60_000, "auth failed");
    let sig = sign(KEY, &[stale.as_bytes()]);
    let resp = r.post(&stale, &[("x-signature", &sig)]).await;
    assert_eq!(resp.status().as_u16(), 401, "signed but 16 minutes old");
    assert_eq!(r.forwarded(), 0);
}

#[tokio::test]
async fn timestamped_signatures_are_accepted_and_bound_to_their_time() {
    let mut r = Receiver::start(signed()).await;
    let body = event(now_ms(), "x");
    let now = (now_ms() / 1000) as u64;
    let ts = now.to_string();
    let sig = sign_timestamped(KEY, now, body.as_bytes());
    let h = [
        (signature::TIMESTAMP_HEADER, ts.as_str()),
        (signature::TIMESTAMPED_SIGNATURE_HEADER, sig.as_str()),
    ];
    assert_eq!(r.post(&body, &h).await.status().as_u16(), 202);
    let old = (now - 3600).to_string();
    let sig_old = sign_timestamped(KEY, now - 3600, body.as_bytes());
    let h = [
        (signature::TIMESTAMP_HEADER, old.as_str()),
        (signature::TIMESTAMPED_SIGNATURE_HEADER, sig_old.as_str()),
    ];
    assert_eq!(r.post(&body, &h).await.status().as_u16(), 401);
    assert_eq!(r.forwarded(), 1);
}

#[tokio::test]
async fn unsigned_receiver_accepts_payloads_and_rejects_non_events() {
    let mut r = Receiver::start(ReceiverConfig::default()).await;
    assert_eq!(
        r.post(&event(0, "old is fine"), &[])
            .await
            .status()
            .as_u16(),
        202
    );
    assert_eq!(r.post("{\"a\":1}", &[]).await.status().as_u16(), 400);
    assert_eq!(r.forwarded(), 1);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let mut r = Receiver::start(ReceiverConfig {
        body_limit: 1024,
        ..Default::default()
    })
    .await;
    let big = event(now_ms(), &"a".repeat(2000));
    assert_eq!(r.post(&big, &[]).await.status().as_u16(), 413);
    assert_eq!(r.forwarded(), 0);
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let mut r = Receiver::start(rates(0.5, 3.0, 1000.0, 1000.0)).await;
    let body = event(now_ms(), "x");
    for _ in 0..3 {
        assert_eq!(r.post(&body, &[]).await.status().as_u16(), 202);
    }
    let resp = r.post(&body, &[]).await;
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "retry-after {retry}");
    assert_eq!(r.forwarded(), 3);
    // The other endpoints are not limited (Prometheus keeps scraping).
    let m = r
        .client
        .get(format!("http://{}/metrics", r.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(m.status().as_u16(), 200);
}

#[tokio::test]
async fn global_rate_limit_spans_clients() {
    let r = Receiver::start(rates(1000.0, 1000.0, 0.1, 2.0)).await;
    let body = event(now_ms(), "x");
    let mut codes = Vec::new();
    for _ in 0..3 {
        // A fresh client (and connection) per request.
        let c = http();
        let resp = c
            .post(format!("http://{}/events", r.addr))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        codes.push(resp.status().as_u16());
    }
    assert_eq!(codes, [202, 202, 429]);
}

fn quick() -> ReceiverConfig {
    ReceiverConfig {
        read_timeout: Duration::from_millis(500),
        header_timeout: Duration::from_millis(500),
        ..Default::default()
    }
}

/// Reads until EOF or error; returns what arrived and how long it took.
async fn read_to_close(s: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let start = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut buf)).await;
    (String::from_utf8_lossy(&buf).into_owned(), start.elapsed())
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let r = Receiver::start(quick()).await;
    let mut s = TcpStream::connect(r.addr).await.unwrap();
    s.write_all(b"POST /events HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Never finish the headers: the server must close within the read timeout.
    let (_, took) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

#[tokio::test]
async fn slow_bodies_get_408() {
    let mut r = Receiver::start(quick()).await;
    let mut s = TcpStream::connect(r.addr).await.unwrap();
    s.write_all(
        b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"involvedObject\"",
    )
    .await
    .unwrap();
    let (resp, took) = read_to_close(&mut s, Duration::from_secs(5)).await;
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(r.forwarded(), 0);
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed() {
    let r = Arc::new(
        Receiver::start(ReceiverConfig {
            max_connections: 2,
            read_timeout: Duration::from_secs(30),
            ..Default::default()
        })
        .await,
    );
    let _held: Vec<TcpStream> = vec![
        TcpStream::connect(r.addr).await.unwrap(),
        TcpStream::connect(r.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(r.addr).await.unwrap();
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (resp, took) = read_to_close(&mut third, Duration::from_secs(5)).await;
    assert!(resp.is_empty(), "served beyond the cap: {resp}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    drop(_held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ok = http()
        .get(format!("http://{}/healthz", r.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ok.status().as_u16(),
        200,
        "a slot frees when a connection closes"
    );
}

#[tokio::test]
async fn connections_beyond_the_per_ip_cap_are_closed_and_counted() {
    let r = Receiver::start(ReceiverConfig {
        max_connections_per_ip: 3,
        header_timeout: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(r.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fourth = TcpStream::connect(r.addr).await.unwrap();
    let _ = fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let (resp, took) = read_to_close(&mut fourth, Duration::from_secs(5)).await;
    assert!(resp.is_empty(), "served beyond the per-address cap: {resp}");
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    assert_eq!(r.telemetry.refused(Refusal::ReceiverPerIp), 1);
    assert_eq!(r.telemetry.refused(Refusal::ReceiverFull), 0);
    // The counter is on /metrics once a place is free again.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = http()
        .get(format!("http://{}/metrics", r.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(
            "fluxsight_connections_refused_total{listener=\"receiver\",reason=\"max_connections_per_ip\"} 1"
        ),
        "{text}"
    );
}
