//! `type: slack`: Slack incoming-webhook messages (Block Kit `blocks` + `text` fallback).
//!
//! One message per delivery; a group delivery (route `group_by`) becomes one message
//! listing its findings (`render::slack`). Pacing: `min_interval()` (default 1s) makes the
//! worker send at most one message per interval per webhook, Slack's documented limit.
//! Errors: 429 is retryable after `Retry-After`; 5xx retryable; 400/403/404/410
//! (`invalid_payload`, `channel_not_found`, `channel_is_archived`, …) are permanent and
//! go to the dead-letter file with Slack's error string.
//!
//! Invariant: the webhook URL is a secret: read once at build from `{env}`/`{file}`,
//! never logged, never part of an error (transport errors are stripped of the URL).

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;

use super::config::SlackConfig;
use super::http;
use super::ssrf::Allow;
use super::{BoxFut, Delivery, Sink, SinkError};
use crate::render::slack::message;

/// Default minimum time between two messages.
pub const DEFAULT_MIN_INTERVAL_MS: u64 = 1000;

pub struct SlackSink {
    client: reqwest::Client,
    url: reqwest::Url,
    min_interval: Duration,
}

// Hand-written: the webhook URL is the credential.
impl std::fmt::Debug for SlackSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackSink")
            .field("url", &http::url_for_logs(&self.url))
            .field("min_interval", &self.min_interval)
            .finish()
    }
}

/// Builds the sink (build step: reads the webhook URL secret, prepares the client).
pub fn build(cfg: &SlackConfig) -> Result<Box<dyn Sink>, String> {
    Ok(Box::new(SlackSink::new(cfg)?))
}

impl SlackSink {
    pub fn new(cfg: &SlackConfig) -> Result<Self, String> {
        let name = &cfg.name;
        let url = cfg
            .url
            .resolve()
            .map_err(|e| format!("sink '{name}': url: {e}"))?;
        let allow = Allow::new(&cfg.allow_hosts);
        let url = http::parse_url(name, "url", url.trim(), &allow)?;
        let timeout = http::duration_or(&cfg.timeout, http::DEFAULT_TIMEOUT_MS);
        Ok(SlackSink {
            client: http::client(name, timeout, cfg.ca_file.as_deref(), &allow)?,
            url,
            min_interval: http::duration_or(&cfg.min_interval, DEFAULT_MIN_INTERVAL_MS),
        })
    }
}

impl Sink for SlackSink {
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
