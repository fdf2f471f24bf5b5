//! `type: googlechat` (alias `gchat`): Google Chat incoming-webhook messages, one
//! `cardsV2` card per delivery (`render::gchat`), every message about one finding in one
//! thread.
//!
//! Threading: the body carries `thread.threadKey` (the finding id) and the sink adds
//! `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD` to the URL, so the first
//! message of a finding starts a thread and its updates and resolution reply in it
//! (without the option, Google Chat ignores the key and starts a new thread each time).
//!
//! Pacing: `min_interval()` (default 1s: Google Chat allows one write per second per
//! space). Errors: 429 retryable after `Retry-After`; 5xx retryable; other 4xx permanent
//! and dead-lettered with the start of Google's error body.
//!
//! Invariant: the webhook URL is a secret (`key` and `token` query parameters): read
//! once at build from `{env}`/`{file}`, never logged, never part of an error.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;

use super::config::GoogleChatConfig;
use super::http;
use super::ssrf::Allow;
use super::{BoxFut, Delivery, Sink, SinkError};
use crate::render::gchat::message;

/// Default minimum time between two messages.
pub const DEFAULT_MIN_INTERVAL_MS: u64 = 1000;
/// The query parameter that makes `thread.threadKey` reply in an existing thread.
pub const REPLY_OPTION_PARAM: &str = "messageReplyOption";
pub const REPLY_OPTION: &str = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD";

pub struct GoogleChatSink {
    client: reqwest::Client,
    url: reqwest::Url,
    min_interval: Duration,
}

// Hand-written: the webhook URL is the credential.
impl std::fmt::Debug for GoogleChatSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleChatSink")
            .field("url", &http::url_for_logs(&self.url))
            .field("min_interval", &self.min_interval)
            .finish()
    }
}

/// Builds the sink (build step: reads the webhook URL secret, prepares the client).
pub fn build(cfg: &GoogleChatConfig) -> Result<Box<dyn Sink>, String> {
    Ok(Box::new(GoogleChatSink::new(cfg)?))
}

/// The webhook URL with the thread reply option (an option already in the URL wins).
fn threaded(mut url: reqwest::Url) -> reqwest::Url {
    if !url.query_pairs().any(|(k, _)| k == REPLY_OPTION_PARAM) {
        url.query_pairs_mut()
            .append_pair(REPLY_OPTION_PARAM, REPLY_OPTION);
    }
    url
}

impl GoogleChatSink {
    pub fn new(cfg: &GoogleChatConfig) -> Result<Self, String> {
        let name = &cfg.name;
        let url = cfg
            .url
            .resolve()
            .map_err(|e| format!("sink '{name}': url: {e}"))?;
        let allow = Allow::new(&cfg.allow_hosts);
        let url = http::parse_url(name, "url", url.trim(), &allow)?;
        let timeout = http::duration_or(&cfg.timeout, http::DEFAULT_TIMEOUT_MS);
        Ok(GoogleChatSink {
            client: http::client(name, timeout, cfg.ca_file.as_deref(), &allow)?,
            url: threaded(url),
            min_interval: http::duration_or(&cfg.min_interval, DEFAULT_MIN_INTERVAL_MS),
        })
    }
}

impl Sink for GoogleChatSink {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_option_is_added_once_and_keeps_the_credentials() {
        let u =
            reqwest::Url::parse("https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t")
                .unwrap();
        let t = threaded(u);
        assert_eq!(
            t.query(),
            Some("key=k&token=t&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD")
        );
        assert_eq!(threaded(t.clone()), t);
    }
}
