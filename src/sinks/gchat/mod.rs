//! `type: googlechat` (alias `gchat`): Google Chat incoming-webhook messages, one
//! `cardsV2` card per delivery (`render::gchat`), every message about one finding in one
//! thread.
//!
//! Threading: the body carries `thread.threadKey` (the finding id) and the sink adds
//! `messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD` to the URL, so the first
//! message of a finding starts a thread and its updates and resolution reply in it
//! (without the option, Google Chat ignores the key and starts a new thread each time).
//!
//! Updates are coalesced by the shared webhook chat loop (`chat_webhook`): a finding's
//! thread gets its first firing, severity changes and its resolution. Errors: 429
//! retryable after `Retry-After`; 5xx retryable; other 4xx permanent and dead-lettered
//! with the start of Google's error body.
//!
//! Invariant: the webhook URL is a secret (`key` and `token` query parameters): read
//! once at build from `{env}`/`{file}`, never logged, never part of an error.

pub mod config;

use std::path::Path;

use crate::render::gchat::message;
use crate::sinks::chat_webhook::{self, WebhookChat};
use crate::sinks::config::GoogleChatConfig;
use crate::sinks::Sink;

/// The query parameter that makes `thread.threadKey` reply in an existing thread.
pub const REPLY_OPTION_PARAM: &str = "messageReplyOption";
pub const REPLY_OPTION: &str = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD";

/// The webhook URL with the thread reply option (an option already in the URL wins).
fn threaded(mut url: reqwest::Url) -> reqwest::Url {
    if !url.query_pairs().any(|(k, _)| k == REPLY_OPTION_PARAM) {
        url.query_pairs_mut()
            .append_pair(REPLY_OPTION_PARAM, REPLY_OPTION);
    }
    url
}

/// The sink with its chat state under `state_dir` (`None`: in memory).
pub fn sink(cfg: &GoogleChatConfig, state_dir: Option<&Path>) -> Result<WebhookChat, String> {
    chat_webhook::from_config("googlechat", cfg, message, threaded, state_dir)
}

/// Builds the sink with its chat state in memory.
pub fn build(cfg: &GoogleChatConfig) -> Result<Box<dyn Sink>, String> {
    build_with_state(cfg, None)
}

/// Builds the sink with its chat state under `state_dir`.
pub fn build_with_state(
    cfg: &GoogleChatConfig,
    state_dir: Option<&Path>,
) -> Result<Box<dyn Sink>, String> {
    Ok(Box::new(sink(cfg, state_dir)?))
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
