//! `type: teams`: Microsoft Teams messages through a Workflows webhook (Power Automate
//! "When a Teams webhook request is received"), one Adaptive Card per delivery
//! (`render::teams`).
//!
//! Pacing: `min_interval()` (default 1s) per webhook. Errors: 429 is retryable after
//! `Retry-After`; 5xx retryable; other 4xx permanent and dead-lettered with the start of
//! the response body (`http::check_response`). A Workflows webhook answers 202 when it
//! accepted the request, which is success.
//!
//! Invariant: the webhook URL is a secret (its query carries the flow's signature): read
//! once at build from `{env}`/`{file}`, never logged, never part of an error.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;

use super::config::TeamsConfig;
use super::http;
use super::ssrf::Allow;
use super::{BoxFut, Delivery, Sink, SinkError};
use crate::render::teams::message;

/// Default minimum time between two messages.
pub const DEFAULT_MIN_INTERVAL_MS: u64 = 1000;

pub struct TeamsSink {
    client: reqwest::Client,
    url: reqwest::Url,
    min_interval: Duration,
}

// Hand-written: the webhook URL is the credential.
impl std::fmt::Debug for TeamsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeamsSink")
            .field("url", &http::url_for_logs(&self.url))
            .field("min_interval", &self.min_interval)
            .finish()
    }
}

/// Builds the sink (build step: reads the webhook URL secret, prepares the client).
pub fn build(cfg: &TeamsConfig) -> Result<Box<dyn Sink>, String> {
    Ok(Box::new(TeamsSink::new(cfg)?))
}

impl TeamsSink {
    pub fn new(cfg: &TeamsConfig) -> Result<Self, String> {
        let name = &cfg.name;
        let url = cfg
            .url
            .resolve()
            .map_err(|e| format!("sink '{name}': url: {e}"))?;
        let allow = Allow::new(&cfg.allow_hosts);
        let url = http::parse_url(name, "url", url.trim(), &allow)?;
        let timeout = http::duration_or(&cfg.timeout, http::DEFAULT_TIMEOUT_MS);
        Ok(TeamsSink {
            client: http::client(name, timeout, cfg.ca_file.as_deref(), &allow)?,
            url,
            min_interval: http::duration_or(&cfg.min_interval, DEFAULT_MIN_INTERVAL_MS),
        })
    }
}

impl Sink for TeamsSink {
    fn send<'a>(&'a mut self, batch: &'a [Delivery]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            for d in batch {
                let body = serde_json::to_vec(&message(d))
                    .map_err(|e| SinkError::permanent(format!("encode: {e}")))?;
                let resp = self
                    .client
                    .post(self.url.clone())
                    .header(CONTENT_TYPE, "application/json; charset=utf-8")
                    .body(body)
                    .send()
                    .await
                    .map_err(http::transport_error)?;
                http::check_response(resp).await?;
            }
            Ok(())
        })
    }

    /// One message per send: pacing is per message.
    fn max_batch(&self) -> usize {
        1
    }

    fn min_interval(&self) -> Option<Duration> {
        Some(self.min_interval)
    }
}
