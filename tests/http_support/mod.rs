//! Test support for the HTTP sinks: a real HTTP receiver (axum on 127.0.0.1, ephemeral
//! port) that plays a webhook receiver or Slack, with scripted faults, HMAC
//! verification and a record of every request; plus finding fixtures and a worker
//! runner.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use fluxsight::correlate::finding::{Evidence, RootCause};
use fluxsight::correlate::{AuditRecord, Finding, Status};
use fluxsight::record::{Class, ObjectRef, Severity};
use fluxsight::sinks::config::{BodyFormat, HttpEndpoint, MaybeSecret, WebhookConfig};
use fluxsight::sinks::spool::{MemQueue, Queue};
use fluxsight::sinks::stats::StatsSnapshot;
use fluxsight::sinks::worker::{spawn, WorkerConfig};
use fluxsight::sinks::{Delivery, Sink};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What the receiver does with the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and body.
    Status(u16, &'static str),
    /// 429 with `Retry-After: <secs>`.
    TooMany(u64),
    /// Sleep this long before answering 200 (longer than the client's timeout).
    Hang(Duration),
    /// Sleep, then answer 200 (a slow but working receiver).
    Slow(Duration),
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    /// Request path and query.
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Status answered (0 while hanging).
    pub status: u16,
    /// `X-Signature` verified with the shared key (None: no key configured).
    pub signature_ok: Option<bool>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("body is JSON")
    }
}

#[derive(Default)]
pub struct Shared {
    pub seen: Mutex<Vec<Seen>>,
    pub script: Mutex<VecDeque<Fault>>,
    /// Fault applied to every request once the script is empty.
    pub steady: Mutex<Option<Fault>>,
    pub hmac_key: Option<Vec<u8>>,
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    started: Instant,
}

impl Receiver {
    /// Starts on the current tokio runtime.
    pub async fn start(hmac_key: Option<&[u8]>) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        Self::serve(listener, hmac_key)
    }

    pub fn serve(listener: tokio::net::TcpListener, hmac_key: Option<&[u8]>) -> Receiver {
        let addr = listener.local_addr().unwrap();
        Self::serve_on(listener, addr, hmac_key)
    }

    /// Starts an HTTPS receiver with the test certificate for 127.0.0.1 (signed by
    /// `tests/fixtures/tls/ca.pem`).
    pub async fn start_tls(hmac_key: Option<&[u8]>) -> Receiver {
        let inner = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = inner.local_addr().unwrap();
        let listener = TlsListener {
            inner,
            acceptor: tls_acceptor(),
        };
        Self::serve_on(listener, addr, hmac_key)
    }

    fn serve_on<L>(listener: L, addr: SocketAddr, hmac_key: Option<&[u8]>) -> Receiver
    where
        L: axum::serve::Listener<Addr = SocketAddr>,
    {
        let shared = Arc::new(Shared {
            hmac_key: hmac_key.map(<[u8]>::to_vec),
            ..Shared::default()
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Receiver {
            addr,
            shared,
            stop: Some(tx),
            started: Instant::now(),
        }
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Queues faults answered to the next requests, in order.
    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.script.lock().unwrap().extend(faults);
    }

    pub fn set_steady(&self, f: Option<Fault>) {
        *self.shared.steady.lock().unwrap() = f;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Requests answered 2xx.
    pub fn accepted(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| (200..300).contains(&s.status))
            .collect()
    }

    /// `X-Fluxsight-Delivery-Id` → how many times it was accepted.
    pub fn accepted_ids(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for s in self.accepted() {
            let id = s
                .header("x-fluxsight-delivery-id")
                .expect("delivery id header");
            *m.entry(id).or_insert(0) += 1;
        }
        m
    }

    /// Waits until `n` requests were accepted (or panics after `limit`).
    pub async fn wait_accepted(&self, n: usize, limit: Duration) {
        let t = Instant::now();
        while self.accepted().len() < n {
            assert!(
                t.elapsed() < limit,
                "only {} of {n} accepted after {limit:?}",
                self.accepted().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

fn verify(key: &[u8], headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(sig) = headers.get("x-signature").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // `<algo>=<hex>` (Flux generic-hmac); only sha256 is produced by fluxsight.
    let Some(("sha256", hex)) = sig.split_once('=') else {
        return false;
    };
    let Some(expected) = unhex(hex) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(body);
    // Constant-time comparison.
    mac.verify_slice(&expected).is_ok()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

async fn handle(
    State(st): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = {
        let next = st.script.lock().unwrap().pop_front();
        next.or_else(|| st.steady.lock().unwrap().clone())
    };
    let signature_ok = st.hmac_key.as_ref().map(|k| verify(k, &headers, &body));
    let idx = {
        let mut seen = st.seen.lock().unwrap();
        seen.push(Seen {
            at: Instant::now(),
            uri: uri.to_string(),
            headers: headers.clone(),
            body: body.clone(),
            status: 0,
            signature_ok,
        });
        seen.len() - 1
    };
    let set_status = |code: u16| st.seen.lock().unwrap()[idx].status = code;
    if signature_ok == Some(false) {
        set_status(401);
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    match fault {
        None => {
            set_status(200);
            (StatusCode::OK, "ok").into_response()
        }
        Some(Fault::Status(code, text)) => {
            set_status(code);
            (StatusCode::from_u16(code).unwrap(), text).into_response()
        }
        Some(Fault::TooMany(secs)) => {
            set_status(429);
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                "rate_limited",
            )
                .into_response()
        }
        Some(Fault::Hang(d)) => {
            // The client gives up first; whatever is answered later is not a delivery.
            tokio::time::sleep(d).await;
            set_status(599);
            (StatusCode::OK, "too late").into_response()
        }
        Some(Fault::Slow(d)) => {
            tokio::time::sleep(d).await;
            set_status(200);
            (StatusCode::OK, "ok").into_response()
        }
    }
}

/// Path of a TLS fixture file.
pub fn tls_fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(tls_fixture("server.pem"))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_fixture("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// A TCP listener that completes the TLS handshake before handing connections to axum.
struct TlsListener {
    inner: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = axum::serve::Listener::accept(&mut self.inner).await;
            // A client that rejects our certificate fails the handshake: keep serving.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A firing finding with the given object name and message (hostile values welcome).
pub fn finding(i: u64, name: &str, message: &str) -> Finding {
    let subject = ObjectRef::new("GitRepository", "team-a-prod", name);
    let ts = 1_767_268_800_000 + i as i64 * 1000;
    Finding {
        id: format!("fs-test-{i:04}"),
        pattern: "git_auth_failure".into(),
        status: Status::Firing,
        severity: Severity::Error,
        title: "Repeated Git authentication failures".into(),
        summary: format!("{} auth failures for {name}: {message}", 3 + i),
        cluster: "test-cluster".into(),
        tenant: "team-a".into(),
        tenants: vec!["team-a".into()],
        subject: subject.clone(),
        root_cause: Some(RootCause {
            object: subject.clone(),
            class: Class::GitAuthFailed,
            message: message.into(),
        }),
        impacted: vec![ObjectRef::new("Kustomization", "team-a-prod", name)],
        impact: Vec::new(),
        first_seen: ts - 60_000,
        last_seen: ts,
        count: 3 + i,
        evidence: vec![Evidence {
            ts: Some(ts),
            controller: Some("source-controller".into()),
            class: Class::GitAuthFailed,
            message: message.into(),
        }],
        labels: [("team".to_string(), name.to_string())].into(),
        remediation: "Check the Git credentials secret".into(),
        last_counted: ts,
        emission: 1,
        rule: Default::default(),
        workload: None,
        text_pending: Default::default(),
    }
}

pub fn audit(i: u64) -> AuditRecord {
    AuditRecord {
        ts: 1_767_268_800_000 + i as i64 * 1000,
        cluster: "test-cluster".into(),
        controller: Some("kustomize-controller".into()),
        action: "revision_applied".into(),
        subject: ObjectRef::new("Kustomization", "team-a-prod", format!("app-{i}")),
        tenant: "team-a".into(),
        source: Some(ObjectRef::new("GitRepository", "flux-system", "repo")),
        source_url: None,
        revision: Some(format!("main@sha1:{:040x}", 0x731f_7ead_dfb6_af01_u64 + i)),
        commit: Some(format!("{:040x}", 0x731f_7ead_dfb6_af01_u64 + i)),
        changes: Default::default(),
        outcome: "success".into(),
        message: "applied".into(),
    }
}

/// Runs `deliveries` through the real worker (memory queue) until all are acknowledged
/// or `limit` passes; returns the sink's counters.
pub async fn run_worker(
    sink: Box<dyn Sink>,
    deliveries: Vec<Delivery>,
    dead_letter: Option<std::path::PathBuf>,
    limit: Duration,
) -> StatsSnapshot {
    let cfg = WorkerConfig {
        retry_initial_ms: 50,
        retry_max_ms: 500,
        dead_letter,
    };
    let (h, join) = spawn("test", sink, Queue::Memory(MemQueue::new(64)), cfg);
    for d in deliveries {
        h.submit(d).await;
    }
    h.close();
    if tokio::time::timeout(limit, join).await.is_err() {
        h.abort();
        panic!("worker did not drain within {limit:?}");
    }
    h.stats().snapshot()
}

/// A webhook sink config: native bodies, a 2 s timeout, nothing else set.
pub fn webhook_config(name: &str, url: String) -> WebhookConfig {
    WebhookConfig {
        name: name.into(),
        url: MaybeSecret::Plain(url),
        format: BodyFormat::Native,
        hmac_secret: None,
        max_batch: None,
        http: HttpEndpoint {
            timeout: Some("2s".into()),
            ..Default::default()
        },
    }
}

/// Every string inside a JSON value (Slack payload checks).
pub fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value;
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}
