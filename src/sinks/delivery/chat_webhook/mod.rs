//! The delivery loop shared by chat sinks that post to an incoming webhook without an
//! edit API (Microsoft Teams Workflows, Google Chat): one rendered message per notified
//! update, coalesced by [`chat::decide`] in webhook mode — a post on first firing, on a
//! severity change and on resolution, again after `repeat_interval`; other updates are
//! skipped. The per-finding state lives in the state directory ([`chat::LazyStore`]), so a
//! restart neither re-posts nor forgets a resolution.
//!
//! Pacing: the sink waits `min_interval` between its own requests (skipped updates cost
//! nothing). Errors: `http::check_response` (429 retryable after `Retry-After`, 5xx
//! retryable, other 4xx permanent).
//!
//! Invariant: the URL is a secret; it is never logged or part of an error.

use std::path::Path;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use crate::sinks::chat::{self, Decision, LazyStore, Mode, Update};
use crate::sinks::http;
use crate::sinks::{BoxFut, Delivery, Sink, SinkError};
use crate::time::parse_go_duration_ms;

mod config;

pub use config::{ChatWebhookConfig, DEFAULT_MIN_INTERVAL_MS};

/// Renders one delivery as the chat's JSON body.
pub type Render = fn(&Delivery) -> Value;

pub struct WebhookChat {
    kind: &'static str,
    client: reqwest::Client,
    url: reqwest::Url,
    render: Render,
    pacer: http::Pacer,
    repeat_ms: u64,
    store: LazyStore,
}

// Hand-written: the webhook URL is the credential.
impl std::fmt::Debug for WebhookChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChat")
            .field("kind", &self.kind)
            .field("url", &http::url_for_logs(&self.url))
            .field("pacer", &self.pacer)
            .field("repeat_ms", &self.repeat_ms)
            .field("state", &self.store.path())
            .finish()
    }
}

/// What a webhook chat sink is built from (the secret URL already resolved and checked).
pub struct Parts<'a> {
    pub kind: &'static str,
    pub name: &'a str,
    pub client: reqwest::Client,
    pub url: reqwest::Url,
    pub render: Render,
    pub min_interval: Duration,
    pub repeat_ms: u64,
    pub state_dir: Option<&'a Path>,
}

/// Builds a webhook chat sink from its config (build step: reads the URL secret, checks
/// it against the SSRF guard, prepares the client). `url_for` adapts the URL (Google
/// Chat's thread option); errors name the sink and never the URL.
pub fn from_config(
    kind: &'static str,
    cfg: &ChatWebhookConfig,
    render: Render,
    url_for: fn(reqwest::Url) -> reqwest::Url,
    state_dir: Option<&Path>,
) -> Result<WebhookChat, String> {
    let name = &cfg.name;
    let url = cfg
        .url
        .resolve()
        .map_err(|e| format!("sink '{name}': url: {e}"))?;
    let url = http::parse_url(name, "url", url.trim(), &cfg.http.allow())?;
    Ok(WebhookChat::new(Parts {
        kind,
        name,
        client: cfg.http.client(name)?,
        url: url_for(url),
        render,
        min_interval: cfg.http.min_interval_or(DEFAULT_MIN_INTERVAL_MS),
        repeat_ms: cfg
            .repeat_interval
            .as_deref()
            .and_then(parse_go_duration_ms)
            .unwrap_or(chat::DEFAULT_REPEAT_INTERVAL_MS),
        state_dir,
    }))
}

impl WebhookChat {
    pub fn new(p: Parts<'_>) -> Self {
        WebhookChat {
            kind: p.kind,
            client: p.client,
            url: p.url,
            render: p.render,
            pacer: http::Pacer::new(p.min_interval),
            repeat_ms: p.repeat_ms,
            store: LazyStore::new(p.name, p.state_dir),
        }
    }

    async fn post(&mut self, d: &Delivery) -> Result<(), SinkError> {
        let body = serde_json::to_vec(&(self.render)(d))
            .map_err(|e| SinkError::permanent(format!("encode: {e}")))?;
        self.pacer.wait().await;
        let resp = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body)
            .send()
            .await;
        self.pacer.sent();
        http::check_response(resp.map_err(http::transport_error)?).await
    }

    /// Decide, post if notified, save the state before the item is acknowledged.
    async fn deliver(&mut self, d: &Delivery) -> Result<(), SinkError> {
        let Some(u) = Update::of(d) else {
            return self.post(d).await;
        };
        // Update time, not a clock: replay decides as the live run did.
        let now = u.seen;
        let mode = Mode::Webhook {
            repeat_ms: self.repeat_ms,
        };
        let prev = self.store.get()?.get(&u.key).cloned();
        let decision = chat::decide(prev.as_ref(), &u, now, mode);
        if !matches!(decision, Decision::Skip(_)) {
            self.post(d).await?;
        }
        if let Some(next) = chat::apply(prev.as_ref(), decision, &u, now, None) {
            self.store.get()?.put(&u.key, next);
        }
        self.store.save()
    }
}

impl Sink for WebhookChat {
    fn send<'a>(&'a mut self, batch: &'a [Delivery]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            // A save that failed last time goes first: the state must be on disk before
            // anything more is acknowledged.
            self.store.save()?;
            for d in batch {
                self.deliver(d).await?;
            }
            Ok(())
        })
    }

    /// One item per send: a failure retries that item alone.
    fn max_batch(&self) -> usize {
        1
    }

    // No `min_interval`: the sink paces its own requests, so skipped updates are free.
}
