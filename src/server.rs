//! The HTTP endpoints of `fluxsight run`: the receiver of Flux event payloads
//! (`POST /events`, also `/`), so a notification-controller `generic` / `generic-hmac`
//! Provider can feed fluxsight directly, and `/metrics`, `/healthz`, `/readyz`.
//!
//! Two listeners, as the Flux controllers have: the main one (`listen`, 9797) serves the
//! receiver, the read-only findings API (`GET /api/v1/findings`, [`api`], over the
//! pipeline's [`findings::FindingsView`]) and, for compatibility, the probes and metrics; the health one
//! (`health_listen`, 9440) serves only the probes and metrics, with its own accept loop,
//! connection cap and header timeout, so clients of the receiver can never starve the
//! liveness probe (which would get the pod restarted).
//!
//! Owns: the default addresses (every interface in a cluster, loopback outside one: see
//! [`default_listens`], and [`exposes_unsigned`] for the rule `run` applies before
//! binding), binding both listeners ([`bind`]: a failure is fatal for the caller), the accept
//! loops (HTTP/1.1 only), the receiver's limits and its signature check. Does not own:
//! parsing the payload (it enters the pipeline as one line, like any source).
//!
//! Invariants (each defended here, tested in `tests/security_receiver.rs` and
//! `tests/probe_isolation.rs`):
//! - the health listener shares no connection slot, task or cap with the receiver;
//! - at most `max_connections` connections at once, and at most `max_connections_per_ip`
//!   from one client address (more are closed at accept and counted in
//!   `fluxsight_connections_refused_total`); request headers must arrive within
//!   `header_timeout`, and the whole body within `read_timeout` (slowloris);
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

pub mod api;
pub mod findings;
pub mod limit;
pub mod signature;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::parse::time::parse_ts;
use crate::sinks::config::SecretRef;
use crate::sources::{LineTx, SourceLine};
use crate::spec_error::SpecError;
use crate::telemetry::exposition::Exposition;
use crate::telemetry::{Refusal, SourceStats, Telemetry};
use crate::time::parse_go_duration_ms;
use limit::{retry_after_secs, ConnectionsPerIp, RateLimiter, Rates};
use serde_saphyr::Spanned;
use signature::{
    verify_signature, verify_timestamped, ReplayCache, SIGNATURE_HEADER,
    TIMESTAMPED_SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

/// Name of the receiver in source metrics.
pub const RECEIVER_SOURCE: &str = "receiver";
/// Default body limit (notification-controller's own).
pub const DEFAULT_BODY_LIMIT: usize = 3 << 20;
/// Default address of the receiver (and, for compatibility, the probes and metrics) in a
/// cluster, where the Service and the kubelet reach the pod on its own IP.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9797";
/// Default address of the probes and metrics in a cluster: the Flux controllers' health
/// port.
pub const DEFAULT_HEALTH_LISTEN: &str = "0.0.0.0:9440";
/// Default address of the receiver outside a cluster: a laptop's receiver is not put on
/// the network unless asked (`--listen`, `listen:`).
pub const LOCAL_LISTEN: &str = "127.0.0.1:9797";
/// Default address of the probes and metrics outside a cluster.
pub const LOCAL_HEALTH_LISTEN: &str = "127.0.0.1:9440";
/// Set by the kubelet in every pod's containers: its presence means "in a cluster" (the
/// same variable kube's in-cluster configuration reads).
pub const IN_CLUSTER_ENV: &str = "KUBERNETES_SERVICE_HOST";
/// `health_listen` value (as is an empty one) that turns the health listener off.
pub const LISTEN_NONE: &str = "none";
/// Default time allowed for a request's body.
pub const DEFAULT_READ_TIMEOUT_MS: u64 = 10_000;
/// Default time allowed for a request's headers (an idle connection is closed after it).
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 5_000;
/// Default cap on open connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default cap on open connections from one client address: Flux's notification-controller
/// keeps a few; one client cannot take the whole `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 32;
/// Connections the health listener serves at once: kubelet probes and a scraper or two.
const HEALTH_MAX_CONNECTIONS: usize = 16;
/// Header timeout of the health listener: probes send their request at once.
const HEALTH_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
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
    pub body_limit: Option<Spanned<usize>>,
    /// With `hmac_secret`: signed payloads whose timestamp is further than this from now
    /// are refused, and a payload seen twice within it is forwarded once (default `15m`;
    /// `0s` turns both off).
    #[serde(default)]
    pub replay_window: Option<Spanned<String>>,
    /// Requests per second per client address (default 100).
    #[serde(default)]
    pub client_rate: Option<Spanned<f64>>,
    /// Requests a client may send at once before its rate applies (default 500).
    #[serde(default)]
    pub client_burst: Option<Spanned<u32>>,
    /// Requests per second over all clients (default 500).
    #[serde(default)]
    pub global_rate: Option<Spanned<f64>>,
    /// Global burst (default 2000).
    #[serde(default)]
    pub global_burst: Option<Spanned<u32>>,
    /// Open connections at most (default 256); more are closed at once.
    #[serde(default)]
    pub max_connections: Option<Spanned<usize>>,
    /// Open connections at most from one client address (default 32); more are closed
    /// at once.
    #[serde(default)]
    pub max_connections_per_ip: Option<Spanned<usize>>,
    /// Time allowed for a request's headers; an idle connection is closed after it
    /// (default `5s`).
    #[serde(default)]
    pub header_timeout: Option<Spanned<String>>,
    /// Time allowed for a request's body (default `10s`).
    #[serde(default)]
    pub read_timeout: Option<Spanned<String>>,
}

/// A value's location without the value (errors name the value in their message).
fn unit<T>(s: &Spanned<T>) -> Spanned<()> {
    Spanned::new((), s.referenced, s.defined)
}

impl ReceiverSection {
    /// Checks the section (pure); errors name the file, line and field.
    pub fn check(&self, file: &str, text: &str) -> Vec<SpecError> {
        let mut errs = Vec::new();
        let field = "receiver.hmac_secret";
        if let Some(message) = self.hmac_secret.as_ref().and_then(|r| r.problem(field)) {
            errs.push(SpecError::at(file, text, field, message));
        }
        let mut err = |key: &str, at: &Spanned<()>, message: String| {
            let field = format!("receiver.{key}");
            errs.push(SpecError::at_value(file, text, &field, at, message));
        };
        for (key, v) in [
            ("replay_window", &self.replay_window),
            ("read_timeout", &self.read_timeout),
            ("header_timeout", &self.header_timeout),
        ] {
            if let Some(s) = v {
                if parse_go_duration_ms(&s.value).is_none() {
                    let message = format!("'{}' is not a duration such as 30s or 5m", s.value);
                    err(key, &unit(s), message);
                }
            }
        }
        for (key, v) in [
            ("client_rate", &self.client_rate),
            ("global_rate", &self.global_rate),
        ] {
            if let Some(r) = v
                .as_ref()
                .filter(|r| !(r.value.is_finite() && r.value > 0.0))
            {
                let message = "must be a positive number of requests per second";
                err(key, &unit(r), message.into());
            }
        }
        let count = |n: &Option<Spanned<usize>>| n.as_ref().map(|n| (n.value, unit(n)));
        let burst = |b: &Option<Spanned<u32>>| b.as_ref().map(|b| (b.value as usize, unit(b)));
        for (key, v) in [
            ("client_burst", burst(&self.client_burst)),
            ("global_burst", burst(&self.global_burst)),
            ("max_connections", count(&self.max_connections)),
            (
                "max_connections_per_ip",
                count(&self.max_connections_per_ip),
            ),
            ("body_limit", count(&self.body_limit)),
        ] {
            if let Some((0, at)) = v {
                err(key, &at, "must be above 0".into());
            }
        }
        errs
    }

    /// The receiver settings (`hmac_key` already resolved by the build step).
    pub fn settings(&self, hmac_key: Option<Vec<u8>>) -> ReceiverConfig {
        let d = ReceiverConfig::default();
        let ms = |v: &Option<Spanned<String>>, default: u64| {
            Duration::from_millis(
                v.as_ref()
                    .and_then(|s| parse_go_duration_ms(&s.value))
                    .unwrap_or(default),
            )
        };
        let or =
            |v: &Option<Spanned<usize>>, default: usize| v.as_ref().map_or(default, |s| s.value);
        ReceiverConfig {
            hmac_key,
            body_limit: or(&self.body_limit, d.body_limit),
            replay_window: ms(&self.replay_window, DEFAULT_REPLAY_WINDOW_MS),
            rates: Rates {
                client_rate: self
                    .client_rate
                    .as_ref()
                    .map_or(d.rates.client_rate, |s| s.value),
                client_burst: self
                    .client_burst
                    .as_ref()
                    .map_or(d.rates.client_burst, |s| f64::from(s.value)),
                global_rate: self
                    .global_rate
                    .as_ref()
                    .map_or(d.rates.global_rate, |s| s.value),
                global_burst: self
                    .global_burst
                    .as_ref()
                    .map_or(d.rates.global_burst, |s| f64::from(s.value)),
            },
            max_connections: or(&self.max_connections, d.max_connections),
            max_connections_per_ip: or(&self.max_connections_per_ip, d.max_connections_per_ip),
            header_timeout: ms(&self.header_timeout, DEFAULT_HEADER_TIMEOUT_MS),
            read_timeout: ms(&self.read_timeout, DEFAULT_READ_TIMEOUT_MS),
        }
    }
}

/// Whether this process runs in a Kubernetes pod ([`IN_CLUSTER_ENV`] set and not empty).
pub fn in_cluster() -> bool {
    std::env::var_os(IN_CLUSTER_ENV).is_some_and(|v| !v.is_empty())
}

/// The default `(listen, health_listen)`: every interface in a cluster, loopback outside.
pub fn default_listens(in_cluster: bool) -> (&'static str, &'static str) {
    if in_cluster {
        (DEFAULT_LISTEN, DEFAULT_HEALTH_LISTEN)
    } else {
        (LOCAL_LISTEN, LOCAL_HEALTH_LISTEN)
    }
}

/// Whether a receiver on `addr` would accept events from other hosts without checking
/// who sent them: no HMAC key and an address other than loopback. `run` refuses to
/// start so unless `--allow-unsigned` is given (SECURITY.md, "Unsigned receiver").
pub fn exposes_unsigned(addr: SocketAddr, has_hmac_key: bool) -> bool {
    !has_hmac_key && !addr.ip().is_loopback()
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
    pub max_connections_per_ip: usize,
    /// For a request's headers (and an idle connection).
    pub header_timeout: Duration,
    /// For a request's body.
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
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            header_timeout: Duration::from_millis(DEFAULT_HEADER_TIMEOUT_MS),
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
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("header_timeout", &self.header_timeout)
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

/// OpenMetrics 1.0 by default (what Prometheus asks for first); Prometheus text 0.0.4
/// to a scraper whose `Accept` prefers `text/plain`.
async fn metrics(State(telemetry): State<Arc<Telemetry>>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let format = Exposition::negotiate(accept);
    (
        [(axum::http::header::CONTENT_TYPE, format.content_type())],
        telemetry.encode_as(format),
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(telemetry): State<Arc<Telemetry>>) -> impl IntoResponse {
    let pending = telemetry.unsynced();
    if pending.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("waiting for: {}\n", pending.join(", ")),
        )
    }
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
    let now = crate::time::now_ms().max(0) as u64;
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
            ack: None,
        })
        .await;
    if sent.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    (StatusCode::ACCEPTED, "accepted\n").into_response()
}

/// `/metrics`, `/healthz` and `/readyz`: what both listeners serve.
fn probe_router(telemetry: Arc<Telemetry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(telemetry)
}

/// The main listener's router: the receiver and the probes (exposed for tests). The
/// per-client rate limit keys on the [`ConnectInfo`] extension [`serve_on`] sets.
pub fn router(telemetry: Arc<Telemetry>, tx: LineTx, cfg: ReceiverConfig) -> Router {
    telemetry
        .source(RECEIVER_SOURCE)
        .synced
        .store(true, Ordering::Relaxed);
    let limiter = RateLimiter::new(cfg.rates, Instant::now());
    let replays = ReplayCache::new(cfg.replay_window, REPLAY_CACHE_CAP);
    Router::new()
        .route("/events", post(receive))
        .route("/", post(receive))
        .with_state(AppState {
            telemetry: telemetry.clone(),
            tx,
            cfg: Arc::new(cfg),
            limiter: Arc::new(Mutex::new(limiter)),
            replays: Arc::new(Mutex::new(replays)),
        })
        .merge(probe_router(telemetry))
}

/// `health_listen` as written in a pipeline file or on the command line: `none` or empty
/// turns the health listener off.
pub fn parse_optional_listen(s: &str) -> Result<Option<SocketAddr>, std::net::AddrParseError> {
    let s = s.trim();
    if s.is_empty() || s == LISTEN_NONE {
        return Ok(None);
    }
    s.parse().map(Some)
}

/// Errors of the HTTP endpoints.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// An address could not be bound (in use, not local, no permission).
    #[error("cannot listen on {addr} ({role}): {error}")]
    Bind {
        addr: SocketAddr,
        /// Which listener: [`RECEIVER_ROLE`] or [`HEALTH_ROLE`].
        role: &'static str,
        error: std::io::Error,
    },
}

/// Names of the two listeners in errors and logs.
pub const RECEIVER_ROLE: &str = "receiver";
pub const HEALTH_ROLE: &str = "health";

/// Both listeners, bound; [`serve_bound`] serves them.
#[derive(Debug)]
pub struct Bound {
    main: TcpListener,
    health: Option<TcpListener>,
}

impl Bound {
    /// The main listener's address (the port the OS chose for port 0).
    pub fn main_addr(&self) -> std::io::Result<SocketAddr> {
        self.main.local_addr()
    }

    /// The health listener's address, if there is one.
    pub fn health_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.health.as_ref().map(TcpListener::local_addr)
    }
}

async fn bind_one(addr: SocketAddr, role: &'static str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| ServerError::Bind { addr, role, error })
}

/// Binds the main listener and the health one. Done before the pipeline starts: a
/// process that cannot serve its probes or receiver must fail, not run on without them.
pub async fn bind(main: SocketAddr, health: Option<SocketAddr>) -> Result<Bound, ServerError> {
    let main = bind_one(main, RECEIVER_ROLE).await?;
    let health = match health {
        Some(addr) => Some(bind_one(addr, HEALTH_ROLE).await?),
        None => None,
    };
    Ok(Bound { main, health })
}

/// Serves both listeners until `cancel` fires (see [`serve_on`] for the shutdown); the
/// main one also serves the findings API over `findings` when there is one.
pub async fn serve_bound(
    bound: Bound,
    telemetry: Arc<Telemetry>,
    tx: LineTx,
    cfg: ReceiverConfig,
    findings: Option<Arc<findings::FindingsView>>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    // Its own task: the probes never wait behind the receiver's accept loop.
    let health = bound
        .health
        .map(|listener| tokio::spawn(serve_health(listener, telemetry.clone(), cancel.clone())));
    let extra = findings.map(|view| api::routes(view, cfg.rates));
    let served = serve_main(bound.main, telemetry, tx, cfg, extra, cancel).await;
    if let Some(task) = health {
        task.await.map_err(std::io::Error::other)??;
    }
    served
}

/// Serves `/metrics`, `/healthz` and `/readyz` on the health listener until `cancel`
/// fires, under its own small cap.
pub async fn serve_health(
    listener: TcpListener,
    telemetry: Arc<Telemetry>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let limits = Limits {
        max: HEALTH_MAX_CONNECTIONS,
        per_ip: None,
        header_timeout: HEALTH_HEADER_TIMEOUT,
        full: Refusal::HealthFull,
    };
    let app = probe_router(telemetry.clone());
    accept_loop(listener, app, limits, telemetry, cancel).await
}

/// Serves the receiver (and the probes) on a bound listener until `cancel` fires, then
/// lets open connections finish their request (at most 5 s).
pub async fn serve_on(
    listener: TcpListener,
    telemetry: Arc<Telemetry>,
    tx: LineTx,
    cfg: ReceiverConfig,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    serve_main(listener, telemetry, tx, cfg, None, cancel).await
}

/// The main listener: the receiver, the probes and `extra` routes (the findings API),
/// all under the receiver's connection caps and header timeout.
async fn serve_main(
    listener: TcpListener,
    telemetry: Arc<Telemetry>,
    tx: LineTx,
    cfg: ReceiverConfig,
    extra: Option<Router>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let limits = Limits {
        max: cfg.max_connections,
        per_ip: Some(ConnectionsPerIp::new(cfg.max_connections_per_ip)),
        header_timeout: cfg.header_timeout,
        full: Refusal::ReceiverFull,
    };
    let mut app = router(telemetry.clone(), tx, cfg);
    if let Some(extra) = extra {
        app = app.merge(extra);
    }
    accept_loop(listener, app, limits, telemetry, cancel).await
}

/// The caps of one accept loop.
struct Limits {
    max: usize,
    per_ip: Option<Arc<ConnectionsPerIp>>,
    header_timeout: Duration,
    /// Counted when all `max` slots are taken.
    full: Refusal,
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    telemetry: Arc<Telemetry>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    // u32: the shutdown wait takes all permits at once.
    let max = limits.max.clamp(1, u32::MAX as usize);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
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
        // Per address first: one client's surplus is refused as such and never takes
        // a global slot. Dropping the stream closes it at once.
        let ip_slot = match &limits.per_ip {
            None => None,
            Some(table) => match table.try_open(peer.ip()) {
                Some(s) => Some(s),
                None => {
                    telemetry.refuse(Refusal::ReceiverPerIp);
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            telemetry.refuse(limits.full);
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
            let _slots = (slot, ip_slot);
            let mut conn = std::pin::pin!(conn);
            // A connection's own error (reset, timeout) concerns only that client.
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = cancel.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    // Not an error: the grace period only bounds how long shutdown waits.
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(max as u32)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `receiver:` section of `text`, as serde-saphyr reads it (with locations).
    fn section(text: &str) -> ReceiverSection {
        #[derive(Deserialize)]
        struct File {
            receiver: ReceiverSection,
        }
        serde_saphyr::from_str::<File>(text).unwrap().receiver
    }

    #[test]
    fn section_errors_name_the_field() {
        let text = "receiver:\n  read_timeout: soon\n  client_rate: 0\n  max_connections: 0\n";
        let errs = section(text).check("p.yaml", text);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "receiver.read_timeout",
                "receiver.client_rate",
                "receiver.max_connections"
            ]
        );
        let at: Vec<(usize, usize)> = errs.iter().map(|e| (e.line, e.column)).collect();
        assert_eq!(at, [(2, 17), (3, 16), (4, 20)]);
        assert!(ReceiverSection::default().check("p", "").is_empty());
    }

    #[test]
    fn new_limits_are_checked_and_applied() {
        let text = "receiver:\n  header_timeout: later\n  max_connections_per_ip: 0\n";
        let fields: Vec<String> = section(text)
            .check("p", text)
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["receiver.header_timeout", "receiver.max_connections_per_ip"]
        );
        let d = ReceiverSection::default().settings(None);
        assert_eq!(d.max_connections_per_ip, DEFAULT_MAX_CONNECTIONS_PER_IP);
        assert_eq!(d.header_timeout, Duration::from_secs(5));
        let set = section("receiver:\n  header_timeout: 2s\n  max_connections_per_ip: 4\n")
            .settings(None);
        assert_eq!(
            (set.header_timeout, set.max_connections_per_ip),
            (Duration::from_secs(2), 4)
        );
    }

    #[test]
    fn defaults_are_loopback_outside_a_cluster_and_unsigned_exposure_is_named() {
        let parse = |a: &str| a.parse::<SocketAddr>().unwrap();
        let (listen, health) = default_listens(false);
        assert!(parse(listen).ip().is_loopback() && parse(health).ip().is_loopback());
        assert_eq!(
            default_listens(true),
            (DEFAULT_LISTEN, DEFAULT_HEALTH_LISTEN)
        );
        assert_eq!(parse(listen).port(), parse(DEFAULT_LISTEN).port());
        assert!(exposes_unsigned(parse(DEFAULT_LISTEN), false));
        assert!(exposes_unsigned(parse("[::]:9797"), false));
        assert!(!exposes_unsigned(parse(DEFAULT_LISTEN), true));
        assert!(!exposes_unsigned(parse(LOCAL_LISTEN), false));
        assert!(!exposes_unsigned(parse("[::1]:9797"), false));
    }

    #[test]
    fn health_listen_none_or_empty_turns_it_off() {
        assert_eq!(parse_optional_listen(LISTEN_NONE), Ok(None));
        assert_eq!(parse_optional_listen(" "), Ok(None));
        assert_eq!(
            parse_optional_listen(DEFAULT_HEALTH_LISTEN),
            Ok(Some(SocketAddr::from(([0, 0, 0, 0], 9440))))
        );
        assert!(parse_optional_listen("9440").is_err());
    }

    #[test]
    fn settings_apply_defaults_and_overrides() {
        let s = section("receiver:\n  replay_window: 0s\n  client_burst: 7\n").settings(None);
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
