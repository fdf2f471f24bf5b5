//! The HTTP endpoint of `fluxsight run`: `/metrics`, `/healthz`, `/readyz`, and the
//! receiver of Flux event payloads (`POST /events`, also `/`), so a notification-controller
//! `generic` / `generic-hmac` Provider can feed fluxsight directly.
//!
//! Owns: the accept loop (HTTP/1.1 only), the receiver's limits and its signature check.
//! Does not own: parsing the payload (it enters the pipeline as one line, like any source).
//!
//! Invariants (each defended here, tested in `tests/security_receiver.rs`):
//! - at most `max_connections` connections at once (more are closed at accept); request
//!   headers must arrive within `read_timeout`, and so must the whole body (slowloris);
//! - `POST` rate: a token bucket per client address and a global one; a refused request
//!   gets 429 with `Retry-After` before its body is read;
//! - bodies are size-limited (default 3 MiB, Flux's own limit) → 413;
//! - with an HMAC key, a request without a valid `X-Signature: sha256=<hex>` (or
//!   `sha512=`) of the exact body, or a valid timestamped `X-Fluxsight-Signature`, is
//!   refused with 401 (constant-time comparison); a signed event whose own `timestamp` (or
//!   `X-Fluxsight-Timestamp`) is outside `replay_window` is refused, and the same signed
//!   payload seen twice inside the window is acknowledged but not forwarded again;
//! - accepted payloads go into the same bounded channel as every other source
//!   (back-pressure, never dropped).

pub mod limit;
pub mod signature;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::correlate::spec::SpecError;
use crate::parse::time::{parse_go_duration_ms, parse_ts};
use crate::sinks::config::SecretRef;
use crate::sources::{LineTx, SourceLine};
use crate::telemetry::{SourceStats, Telemetry};
use limit::{retry_after_secs, RateLimiter, Rates};
use signature::{
    verify_signature, verify_timestamped, ReplayCache, SIGNATURE_HEADER,
    TIMESTAMPED_SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

/// Name of the receiver in source metrics.
pub const RECEIVER_SOURCE: &str = "receiver";
/// Default body limit (notification-controller's own).
pub const DEFAULT_BODY_LIMIT: usize = 3 << 20;
/// Default time allowed for a request's headers, and again for its body.
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 10_000;
/// Default cap on open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default replay window of signed payloads.
pub const DEFAULT_REPLAY_WINDOW_MS: u64 = 15 * 60_000;
/// Default rates: Flux sends one request per event; a storm of a few hundred objects
/// failing at once stays under the burst.
pub const DEFAULT_RATES: Rates = Rates {
    client_rate: 100.0,
    client_burst: 500.0,
    global_rate: 500.0,
    global_burst: 2000.0,
};
/// Signed payloads remembered for replay detection.
const REPLAY_CACHE_CAP: usize = 100_000;
/// Longest wait for open connections to finish at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The `receiver:` section of a pipeline file.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSection {
    /// HMAC key of the `generic-hmac` Provider (`{env: …}` or `{file: …}`); without it
    /// unsigned payloads are accepted.
    #[serde(default)]
    pub hmac_secret: Option<SecretRef>,
    /// Largest accepted body in bytes (default 3 MiB).
    #[serde(default)]
    pub body_limit: Option<usize>,
    /// With `hmac_secret`: signed payloads whose timestamp is further than this from now
    /// are refused, and a payload seen twice within it is forwarded once (default `15m`;
    /// `0s` turns both off).
    #[serde(default)]
    pub replay_window: Option<String>,
    /// Requests per second per client address (default 100).
    #[serde(default)]
    pub client_rate: Option<f64>,
    /// Requests a client may send at once before its rate applies (default 500).
    #[serde(default)]
    pub client_burst: Option<u32>,
    /// Requests per second over all clients (default 500).
    #[serde(default)]
    pub global_rate: Option<f64>,
    /// Global burst (default 2000).
    #[serde(default)]
    pub global_burst: Option<u32>,
    /// Open connections at most (default 256); more are closed at once.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Time allowed for a request's headers, and again for its body (default `10s`).
    #[serde(default)]
    pub read_timeout: Option<String>,
}

impl ReceiverSection {
    /// Checks the section (pure); errors name the file, line and field.
    pub fn check(&self, file: &str, text: &str) -> Vec<SpecError> {
        let mut errs = Vec::new();
        let mut err = |key: &str, message: String| {
            errs.push(SpecError::at(
                file,
                text,
                &format!("receiver.{key}"),
                message,
            ));
        };
        for (key, v) in [
            ("replay_window", &self.replay_window),
            ("read_timeout", &self.read_timeout),
        ] {
            if let Some(s) = v {
                if parse_go_duration_ms(s).is_none() {
                    err(key, format!("'{s}' is not a duration such as 30s or 5m"));
                }
            }
        }
        for (key, v) in [
            ("client_rate", self.client_rate),
            ("global_rate", self.global_rate),
        ] {
            if v.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
                err(
                    key,
                    "must be a positive number of requests per second".into(),
                );
            }
        }
        for (key, v) in [
            ("client_burst", self.client_burst.map(|b| b as usize)),
            ("global_burst", self.global_burst.map(|b| b as usize)),
            ("max_connections", self.max_connections),
            ("body_limit", self.body_limit),
        ] {
            if v == Some(0) {
                err(key, "must be above 0".into());
            }
        }
        errs
    }

    /// The receiver settings (`hmac_key` already resolved by the build step).
    pub fn settings(&self, hmac_key: Option<Vec<u8>>) -> ReceiverConfig {
        let d = ReceiverConfig::default();
        let ms = |v: &Option<String>, default: u64| {
            Duration::from_millis(
                v.as_deref()
                    .and_then(parse_go_duration_ms)
                    .unwrap_or(default),
            )
        };
        ReceiverConfig {
            hmac_key,
            body_limit: self.body_limit.unwrap_or(d.body_limit),
            replay_window: ms(&self.replay_window, DEFAULT_REPLAY_WINDOW_MS),
            rates: Rates {
                client_rate: self.client_rate.unwrap_or(d.rates.client_rate),
                client_burst: self.client_burst.map_or(d.rates.client_burst, f64::from),
                global_rate: self.global_rate.unwrap_or(d.rates.global_rate),
                global_burst: self.global_burst.map_or(d.rates.global_burst, f64::from),
            },
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            read_timeout: ms(&self.read_timeout, DEFAULT_READ_TIMEOUT_MS),
        }
    }
}

/// Receiver settings.
#[derive(Clone)]
pub struct ReceiverConfig {
    /// HMAC key; `None` accepts unsigned payloads.
    pub hmac_key: Option<Vec<u8>>,
    pub body_limit: usize,
    /// Zero turns the timestamp check and replay detection off.
    pub replay_window: Duration,
    pub rates: Rates,
    pub max_connections: usize,
    pub read_timeout: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            hmac_key: None,
            body_limit: DEFAULT_BODY_LIMIT,
            replay_window: Duration::from_millis(DEFAULT_REPLAY_WINDOW_MS),
            rates: DEFAULT_RATES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            read_timeout: Duration::from_millis(DEFAULT_READ_TIMEOUT_MS),
        }
    }
}

impl std::fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("hmac_key", &self.hmac_key.as_ref().map(|_| "[REDACTED]"))
            .field("body_limit", &self.body_limit)
            .field("replay_window", &self.replay_window)
            .field("rates", &self.rates)
            .field("max_connections", &self.max_connections)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

#[derive(Clone)]
struct AppState {
    telemetry: Arc<Telemetry>,
    tx: LineTx,
    cfg: Arc<ReceiverConfig>,
    limiter: Arc<Mutex<RateLimiter>>,
    replays: Arc<Mutex<ReplayCache>>,
}

async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        st.telemetry.encode(),
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    let pending = st.telemetry.unsynced();
    if pending.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("waiting for: {}\n", pending.join(", ")),
        )
    }
}

fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn refuse(stats: &SourceStats, code: StatusCode, why: &'static str) -> Response {
    stats.errors.fetch_add(1, Ordering::Relaxed);
    (code, why).into_response()
}

/// Signature and replay checks of a signed receiver; `Ok(false)` = a replay to
/// acknowledge without forwarding.
fn check_signed(
    st: &AppState,
    key: &[u8],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<bool, &'static str> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let window = st.cfg.replay_window;
    let now = now_unix_ms();
    let stamped = header(TIMESTAMPED_SIGNATURE_HEADER);
    let signed = if stamped.is_some() {
        let w = if window.is_zero() {
            Duration::MAX
        } else {
            window
        };
        verify_timestamped(key, header(TIMESTAMP_HEADER), stamped, body, now / 1000, w)
    } else {
        verify_signature(key, header(SIGNATURE_HEADER), body)
    };
    if !signed {
        return Err("invalid signature\n");
    }
    if window.is_zero() {
        return Ok(true);
    }
    if stamped.is_none() {
        // Flux signs the body only; its `timestamp` field is what dates the event.
        let ts = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("timestamp")?.as_str().and_then(parse_ts));
        match ts {
            Some(t) if signature::within(t.max(0) as u64, now, window) => {}
            _ => return Err("event timestamp missing or outside the replay window\n"),
        }
    }
    let digest = signature::sign(key, &[body]);
    let fresh = st
        .replays
        .lock()
        .map(|mut c| c.first_time(digest.as_bytes(), Instant::now()))
        .unwrap_or(true);
    Ok(fresh)
}

async fn receive(State(st): State<AppState>, request: Request) -> Response {
    let stats = st.telemetry.source(RECEIVER_SOURCE);
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    // Without a peer address (a router driven directly) all callers share one bucket.
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
    let limited = st
        .limiter
        .lock()
        .map(|mut l| l.check(peer, Instant::now()))
        .unwrap_or(Ok(()));
    if let Err(wait) = limited {
        stats.errors.fetch_add(1, Ordering::Relaxed);
        let secs = retry_after_secs(wait).to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", secs)],
            "rate limit exceeded\n",
        )
            .into_response();
    }
    let body: Bytes = match tokio::time::timeout(
        st.cfg.read_timeout,
        axum::body::to_bytes(body, st.cfg.body_limit),
    )
    .await
    {
        Err(_) => return refuse(&stats, StatusCode::REQUEST_TIMEOUT, "body read timed out\n"),
        Ok(Err(_)) => {
            return refuse(
                &stats,
                StatusCode::PAYLOAD_TOO_LARGE,
                "body too large or unreadable\n",
            )
        }
        Ok(Ok(b)) => b,
    };
    if let Some(key) = &st.cfg.hmac_key {
        match check_signed(&st, key, &headers, &body) {
            Err(why) => return refuse(&stats, StatusCode::UNAUTHORIZED, why),
            Ok(false) => return (StatusCode::ACCEPTED, "duplicate\n").into_response(),
            Ok(true) => {}
        }
    }
    let ok = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .is_some_and(|v| v.get("involvedObject").is_some_and(|o| o.is_object()));
    if !ok {
        return refuse(
            &stats,
            StatusCode::BAD_REQUEST,
            "expected a Flux event payload\n",
        );
    }
    // One JSON document per line, like every other source.
    let line: Vec<u8> = body
        .iter()
        .map(|b| if *b == b'\n' { b' ' } else { *b })
        .collect();
    stats.lines.fetch_add(1, Ordering::Relaxed);
    let sent = st
        .tx
        .send(SourceLine {
            stream: Arc::from(RECEIVER_SOURCE),
            bytes: line,
            controller: None,
        })
        .await;
    if sent.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    (StatusCode::ACCEPTED, "accepted\n").into_response()
}

/// The router (exposed for tests). The per-client rate limit keys on the
/// [`ConnectInfo`] extension [`serve_on`] sets.
pub fn router(telemetry: Arc<Telemetry>, tx: LineTx, cfg: ReceiverConfig) -> Router {
    telemetry
        .source(RECEIVER_SOURCE)
        .synced
        .store(true, Ordering::Relaxed);
    let limiter = RateLimiter::new(cfg.rates, Instant::now());
    let replays = ReplayCache::new(cfg.replay_window, REPLAY_CACHE_CAP);
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/events", post(receive))
        .route("/", post(receive))
        .with_state(AppState {
            telemetry,
            tx,
            cfg: Arc::new(cfg),
            limiter: Arc::new(Mutex::new(limiter)),
            replays: Arc::new(Mutex::new(replays)),
        })
}

/// Serves until `cancel` fires.
pub async fn serve(
    addr: SocketAddr,
    telemetry: Arc<Telemetry>,
    tx: LineTx,
    cfg: ReceiverConfig,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    serve_on(listener, telemetry, tx, cfg, cancel).await
}

/// Serves on a bound listener until `cancel` fires, then lets open connections finish
/// their request (at most 5 s).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    telemetry: Arc<Telemetry>,
    tx: LineTx,
    cfg: ReceiverConfig,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    // u32: the shutdown wait takes all permits at once.
    let max = cfg.max_connections.clamp(1, u32::MAX as usize);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(cfg.read_timeout);
    let stats = telemetry.source(RECEIVER_SOURCE);
    let app = router(telemetry, tx, cfg);
    let slots = Arc::new(Semaphore::new(max));
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let app = app.clone();
        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            tower_service::Service::call(&mut app.clone(), req)
        });
        let conn = http.serve_connection(TokioIo::new(stream), svc);
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(max as u32)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_errors_name_the_field() {
        let text = "receiver:\n  read_timeout: soon\n  client_rate: 0\n  max_connections: 0\n";
        let s = ReceiverSection {
            read_timeout: Some("soon".into()),
            client_rate: Some(0.0),
            max_connections: Some(0),
            ..Default::default()
        };
        let errs = s.check("p.yaml", text);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "receiver.read_timeout",
                "receiver.client_rate",
                "receiver.max_connections"
            ]
        );
        assert_eq!(errs[0].line, 2);
        assert!(ReceiverSection::default().check("p", "").is_empty());
    }

    #[test]
    fn settings_apply_defaults_and_overrides() {
        let s = ReceiverSection {
            replay_window: Some("0s".into()),
            client_burst: Some(7),
            ..Default::default()
        }
        .settings(None);
        assert!(s.replay_window.is_zero());
        assert_eq!(s.rates.client_burst, 7.0);
        assert_eq!(s.body_limit, DEFAULT_BODY_LIMIT);
        let dbg = format!(
            "{:?}",
            ReceiverSection::default().settings(Some(b"k3y".to_vec()))
        );
        assert!(!dbg.contains("k3y") && !dbg.contains("107"), "{dbg}");
    }
}
