//! The section of the webhook chats (`type: teams`, `type: googlechat`) and its
//! validation: one struct, since both kinds take the same settings.

use serde::Deserialize;

use crate::sinks::chat;
use crate::sinks::config::{Ctx, SecretRef};
use crate::sinks::endpoint::HttpEndpoint;

/// Default minimum time between two messages (Google Chat allows one write per second
/// per space; Teams Workflows throttle bursts).
pub const DEFAULT_MIN_INTERVAL_MS: u64 = 1000;

/// `type: teams` (Microsoft Teams Workflows webhook, "When a Teams webhook request is
/// received", Adaptive Card messages) and `type: googlechat` (alias `gchat`; Google Chat
/// incoming webhook, `cardsV2` messages, one thread per finding): incoming webhooks
/// without an edit API, so updates are coalesced (`sinks::chat_webhook`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatWebhookConfig {
    pub name: String,
    /// The webhook URL (a Workflows URL carries a signature, a Google Chat URL `key` and
    /// `token` parameters): a secret, so `{env: …}` or `{file: …}` only.
    pub url: SecretRef,
    /// Post a firing finding again when it has not been notified for this long and is
    /// still updated (default `4h`).
    #[serde(default)]
    pub repeat_interval: Option<String>,
    /// Timeout, CA file, SSRF exemptions, headers, pacing (default `1s`).
    #[serde(flatten)]
    pub http: HttpEndpoint,
}

impl ChatWebhookConfig {
    /// Validates the section of the sink at `base` (`sinks[2]`).
    pub fn check(&self, cx: &mut Ctx<'_>, base: &str) {
        self.http.check(cx, base, DEFAULT_MIN_INTERVAL_MS);
        cx.dur(
            &self.repeat_interval,
            &format!("{base}.repeat_interval"),
            chat::DEFAULT_REPEAT_INTERVAL_MS,
        );
    }
}
