//! The HTTP endpoint of `fluxsight run`: `/metrics`, `/healthz`, `/readyz`, and the
//! receiver of Flux event payloads (`POST /events`, also `/`), so a notification-controller
//! `generic` / `generic-hmac` Provider can feed fluxsight directly.
//!
//! Invariants: bodies are size-limited (default 3 MiB, Flux's own limit); with an HMAC key
//! configured, a request without a valid `X-Signature: sha256=<hex>` (or `sha512=`) of the
//! exact body is refused with 401, compared in constant time; accepted payloads go into
//! the same bounded channel as every other source (back-pressure, never dropped).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};
use tokio_util::sync::CancellationToken;

use crate::sources::{LineTx, SourceLine};
use crate::telemetry::Telemetry;

/// Name of the receiver in source metrics.
pub const RECEIVER_SOURCE: &str = "receiver";
/// Default body limit (notification-controller's own).
pub const DEFAULT_BODY_LIMIT: usize = 3 << 20;

/// Receiver settings.
#[derive(Clone, Default)]
pub struct ReceiverConfig {
    /// HMAC key; `None` accepts unsigned payloads.
    pub hmac_key: Option<Vec<u8>>,
    pub body_limit: usize,
}

#[derive(Clone)]
struct AppState {
    telemetry: Arc<Telemetry>,
    tx: LineTx,
    cfg: ReceiverConfig,
}

/// Verifies `X-Signature: <algo>=<hex>` over `body` in constant time.
pub fn verify_signature(key: &[u8], header: Option<&str>, body: &[u8]) -> bool {
    let Some(h) = header else { return false };
    let Some((algo, hex)) = h.trim().split_once('=') else {
        return false;
    };
    let Some(sig) = decode_hex(hex) else {
        return false;
    };
    match algo.to_ascii_lowercase().as_str() {
        "sha256" => Hmac::<Sha256>::new_from_slice(key)
            .map(|mut m| {
                m.update(body);
                m.verify_slice(&sig).is_ok()
            })
            .unwrap_or(false),
        "sha512" => Hmac::<Sha512>::new_from_slice(key)
            .map(|mut m| {
                m.update(body);
                m.verify_slice(&sig).is_ok()
            })
            .unwrap_or(false),
        _ => false,
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 || s.len() > 256 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
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

async fn receive(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let stats = st.telemetry.source(RECEIVER_SOURCE);
    if let Some(key) = &st.cfg.hmac_key {
        let sig = headers.get("x-signature").and_then(|v| v.to_str().ok());
        if !verify_signature(key, sig, &body) {
            stats.errors.fetch_add(1, Ordering::Relaxed);
            return (StatusCode::UNAUTHORIZED, "invalid signature\n");
        }
    }
    let ok = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .is_some_and(|v| v.get("involvedObject").is_some_and(|o| o.is_object()));
    if !ok {
        stats.errors.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::BAD_REQUEST, "expected a Flux event payload\n");
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
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    (StatusCode::ACCEPTED, "accepted\n")
}

/// The router (exposed for tests).
pub fn router(telemetry: Arc<Telemetry>, tx: LineTx, cfg: ReceiverConfig) -> Router {
    let limit = if cfg.body_limit == 0 {
        DEFAULT_BODY_LIMIT
    } else {
        cfg.body_limit
    };
    telemetry
        .source(RECEIVER_SOURCE)
        .synced
        .store(true, Ordering::Relaxed);
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/events", post(receive))
        .route("/", post(receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(AppState { telemetry, tx, cfg })
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
    let app = router(telemetry, tx, cfg);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { cancel.cancelled().await })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let key = b"secret";
        let body = b"{\"a\":1}";
        let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
        m.update(body);
        let hex: String = m
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(verify_signature(key, Some(&format!("sha256={hex}")), body));
        assert!(!verify_signature(
            key,
            Some(&format!("sha256={hex}")),
            b"{\"a\":2}"
        ));
        assert!(!verify_signature(
            b"other",
            Some(&format!("sha256={hex}")),
            body
        ));
        assert!(!verify_signature(key, None, body));
        assert!(!verify_signature(key, Some("sha256=zz"), body));
        assert!(!verify_signature(key, Some("md5=00"), body));
    }
}
