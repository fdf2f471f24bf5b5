//! Controller logs: one follower per pod/container (stream `pod/<ns>/<pod>/<container>`),
//! started and stopped by the Pod watch as pods come and go.
//!
//! Owns: following with `timestamps=true`; waiting on the connection's shared back-off
//! ([`super::reach`]) while the API server does not answer; reconnecting with jittered
//! backoff when the stream ends (container exit, log rotation, the API closing it) and resuming at
//! `sinceTime`; dropping lines already seen (see [`super::checkpoint`]); reading a
//! restarted container's previous instance once (`previous=true`, `tailLines`).
//!
//! Invariant: a follower stops when its pod/container is gone or the token fires; its
//! position advances only after the line was handed to the pipeline.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use kube::runtime::watcher::Event;
use tokio_util::sync::CancellationToken;

use super::checkpoint::Checkpoints;
use super::reach::{is_connection_failure, Reachability};
use super::{jitter, send_line, KubeSettings};
use crate::parse::controller_hint_from_path;
use crate::parse::MAX_LINE_BYTES;
use crate::sources::LineTx;
use crate::telemetry::Telemetry;

/// First reconnect delay; doubles up to [`BACKOFF_MAX`], back to this after a stream
/// that delivered lines.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Pods known to the watch: name → pod IP (for the metrics scrape).
pub type PodIps = Arc<Mutex<BTreeMap<String, String>>>;

/// What followers need, shared.
#[derive(Clone)]
pub struct LogContext {
    pub api: Api<Pod>,
    pub tx: LineTx,
    pub telemetry: Arc<Telemetry>,
    pub ckpt: Arc<Checkpoints>,
    pub settings: Arc<KubeSettings>,
    /// The API server's shared reachability.
    pub reach: Arc<Reachability>,
}

/// Starts and stops followers from Pod watch events.
pub struct FollowerSet {
    cx: LogContext,
    cancel: CancellationToken,
    /// Stream id → (follower token, last restartCount).
    running: HashMap<String, (CancellationToken, i32)>,
    /// Streams of each pod (to stop them when the pod goes).
    pods: HashMap<String, Vec<String>>,
    pub ips: PodIps,
}

impl FollowerSet {
    pub fn new(cx: LogContext, cancel: CancellationToken) -> Self {
        FollowerSet {
            cx,
            cancel,
            running: HashMap::new(),
            pods: HashMap::new(),
            ips: Arc::default(),
        }
    }

    /// Applies one Pod watch event.
    pub fn on_event(&mut self, ev: &Event<Pod>) {
        match ev {
            Event::Init => {}
            Event::InitApply(p) | Event::Apply(p) => self.on_pod(p),
            Event::Delete(p) => {
                if let Some(name) = &p.metadata.name {
                    self.stop_pod(name);
                }
            }
            Event::InitDone => {}
        }
    }

    fn stop_pod(&mut self, name: &str) {
        for s in self.pods.remove(name).unwrap_or_default() {
            if let Some((t, _)) = self.running.remove(&s) {
                t.cancel();
            }
        }
        self.ips
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
    }

    fn on_pod(&mut self, p: &Pod) {
        let Some(name) = p.metadata.name.clone() else {
            return;
        };
        if !self.cx.settings.selects(p.metadata.labels.as_ref()) {
            return;
        }
        let ns = p
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| self.cx.settings.namespace.clone());
        let status = p.status.as_ref();
        if let Some(ip) = status.and_then(|s| s.pod_ip.clone()) {
            self.ips
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), ip);
        }
        let restarts: HashMap<String, i32> = status
            .and_then(|s| s.container_statuses.as_ref())
            .map(|cs| {
                cs.iter()
                    .map(|c| (c.name.clone(), c.restart_count))
                    .collect()
            })
            .unwrap_or_default();
        let containers: Vec<String> = p
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let mut streams = Vec::new();
        for c in containers {
            let id = format!("pod/{ns}/{name}/{c}");
            let rc = restarts.get(&c).copied().unwrap_or(0);
            match self.running.get_mut(&id) {
                Some((_, last)) => {
                    if rc > *last {
                        tokio::spawn(read_previous(
                            self.cx.clone(),
                            name.clone(),
                            c.clone(),
                            id.clone(),
                            self.cancel.clone(),
                        ));
                    }
                    *last = rc.max(*last);
                }
                None => {
                    let t = self.cancel.child_token();
                    tokio::spawn(follow(
                        self.cx.clone(),
                        name.clone(),
                        c.clone(),
                        id.clone(),
                        t.clone(),
                    ));
                    self.running.insert(id.clone(), (t, rc));
                }
            }
            streams.push(id);
        }
        self.pods.insert(name, streams);
    }

    /// Stops every follower (they also stop on the parent token).
    pub fn stop_all(&mut self) {
        for (_, (t, _)) in self.running.drain() {
            t.cancel();
        }
    }
}

/// Follows one container's log until `cancel` fires.
async fn follow(
    cx: LogContext,
    pod: String,
    container: String,
    id: String,
    cancel: CancellationToken,
) {
    let stats = cx.telemetry.source(&id);
    let stream: Arc<str> = Arc::from(id.as_str());
    let hint = controller_hint_from_path(&pod);
    let mut backoff = BACKOFF_MIN;
    let mut buf = Vec::new();
    loop {
        let lp = LogParams {
            container: Some(container.clone()),
            follow: true,
            timestamps: true,
            since_time: cx.ckpt.with_stream(&id, |c| c.since()),
            ..LogParams::default()
        };
        if !cx.reach.ready(&cancel).await {
            return;
        }
        let got = tokio::select! {
            _ = cancel.cancelled() => return,
            r = cx.api.log_stream(&pod, &lp) => r,
        };
        let mut delivered = false;
        match got {
            Err(e) if is_connection_failure(&e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                cx.reach.failed(&e);
                // The shared back-off paces the retry (the ready() above).
                continue;
            }
            Ok(reader) => {
                cx.reach.answered();
                stats.synced.store(true, Ordering::Relaxed);
                let mut reader = Box::pin(reader);
                loop {
                    buf.clear();
                    let n = tokio::select! {
                        _ = cancel.cancelled() => return,
                        r = read_line(&mut reader, &mut buf) => r,
                    };
                    match n {
                        Ok((0, _)) => break,
                        // A line cut off by the stream's end is read again on resume.
                        Ok((_, false)) => break,
                        Ok(_) => {
                            trim_eol(&mut buf);
                            if buf.is_empty() || !cx.ckpt.with_stream(&id, |c| c.admit(&buf)) {
                                continue;
                            }
                            delivered = true;
                            stats.lines.fetch_add(1, Ordering::Relaxed);
                            let ack = cx.ckpt.ack_log(&id, &buf);
                            if !send_line(&cx.tx, &stream, buf.clone(), hint.clone(), ack).await {
                                return;
                            }
                        }
                        Err(e) => {
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(stream = %id, error = %e, "log stream broke");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                cx.reach.answered();
                stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(stream = %id, error = %e, "log request failed");
            }
        }
        if delivered {
            backoff = BACKOFF_MIN;
        }
        stats.restarts.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(jitter(backoff)) => {}
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// Reads the last lines of a restarted container's previous instance, once.
async fn read_previous(
    cx: LogContext,
    pod: String,
    container: String,
    id: String,
    cancel: CancellationToken,
) {
    let stats = cx.telemetry.source(&id);
    let stream: Arc<str> = Arc::from(id.as_str());
    let hint = controller_hint_from_path(&pod);
    let lp = LogParams {
        container: Some(container),
        previous: true,
        timestamps: true,
        tail_lines: Some(cx.settings.previous_tail_lines),
        ..LogParams::default()
    };
    let reader = loop {
        if !cx.reach.ready(&cancel).await {
            return;
        }
        let got = tokio::select! {
            _ = cancel.cancelled() => return,
            r = cx.api.log_stream(&pod, &lp) => r,
        };
        match got {
            Ok(reader) => {
                cx.reach.answered();
                break reader;
            }
            Err(e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                if !is_connection_failure(&e) {
                    return;
                }
                cx.reach.failed(&e);
            }
        }
    };
    let mut reader = Box::pin(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = tokio::select! {
            _ = cancel.cancelled() => return,
            r = read_line(&mut reader, &mut buf) => r,
        };
        match n {
            Ok((0, _)) | Err(_) => return,
            Ok(_) => {
                trim_eol(&mut buf);
                if buf.is_empty() || !cx.ckpt.with_stream(&id, |c| c.admit_previous(&buf)) {
                    continue;
                }
                stats.lines.fetch_add(1, Ordering::Relaxed);
                let ack = cx.ckpt.ack_log(&id, &buf);
                if !send_line(&cx.tx, &stream, buf.clone(), hint.clone(), ack).await {
                    return;
                }
            }
        }
    }
}

fn trim_eol(buf: &mut Vec<u8>) {
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
}

/// One line, keeping at most `MAX_LINE_BYTES + 1` bytes of it; bytes consumed (0 at
/// the end), and whether the line was complete (ended by `\n`).
async fn read_line<R: futures::AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<(usize, bool)> {
    let mut consumed = 0;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok((consumed, false));
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE_BYTES + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume_unpin(take);
        consumed += take;
        if done {
            return Ok((consumed, true));
        }
    }
}
