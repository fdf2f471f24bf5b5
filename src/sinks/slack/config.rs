//! `type: slack`: the section and its validation (one delivery mode, webhook `url` or
//! `token` + `channel`, and the settings of that mode only).

use serde::Deserialize;

use crate::sinks::chat::{self, StepSpec};
use crate::sinks::config::{Ctx, SecretRef};
use crate::sinks::endpoint::HttpEndpoint;

/// Default minimum time between two requests (Slack's limit per webhook).
pub const DEFAULT_MIN_INTERVAL_MS: u64 = 1000;

/// `type: slack`: Block Kit messages through an incoming webhook (`url`) or the Web API
/// with a bot token (`token` + `channel`: one thread per incident, updates in place).
/// Exactly one of `url` and `token`.
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    pub name: String,
    /// The incoming-webhook URL: a secret, so `{env: …}` or `{file: …}` only. Webhooks
    /// cannot edit: a finding is posted when it first fires, when its severity changes,
    /// when it resolves, and again after `repeat_interval`; other updates are coalesced.
    #[serde(default)]
    pub url: Option<SecretRef>,
    /// Bot token (`xoxb-…`, scope `chat:write`): a secret, `{env: …}` or `{file: …}`
    /// only. The first firing is posted (`chat.postMessage`), updates edit it
    /// (`chat.update`), and the thread gets a reply when the severity rises, the blast
    /// radius grows by `thread_step`, or the finding resolves.
    #[serde(default)]
    pub token: Option<SecretRef>,
    /// Channel of bot-token mode: an id (`C0123ABCD`) or a name (`#alerts`); the bot
    /// must be a member. Required with `token`, refused with `url`.
    #[serde(default)]
    pub channel: Option<String>,
    /// Web API base URL of bot-token mode (default `https://slack.com/api/`; tests and
    /// Slack-compatible servers).
    #[serde(default)]
    pub api_url: Option<String>,
    /// Bot-token mode: growth of the blast radius (impacted objects) since the last
    /// notification that earns a threaded reply: a count (`5`) or a share (`50%`, the
    /// default; at least one object).
    #[serde(default)]
    pub thread_step: Option<StepSpec>,
    /// Webhook mode: re-notify a firing finding whose updates were coalesced this often,
    /// measured in finding time (default `4h`).
    #[serde(default)]
    pub repeat_interval: Option<String>,
    /// Timeout, CA file, SSRF exemptions, headers, pacing (default `1s`).
    #[serde(flatten)]
    pub http: HttpEndpoint,
}

impl SlackConfig {
    /// Validates the section of the sink at `base` (`sinks[2]`).
    pub fn check(&self, cx: &mut Ctx<'_>, base: &str) {
        self.http.check(cx, base, DEFAULT_MIN_INTERVAL_MS);
        let webhook_only = "belongs to webhook mode (url), not to token mode";
        let token_only = "belongs to token mode (token + channel); an incoming webhook posts to its own channel and cannot edit";
        match (&self.url, &self.token) {
            (Some(_), Some(_)) => cx.err(
                &format!("{base}.token"),
                "url and token exclude each other: url for an incoming webhook, token + channel for the Web API",
            ),
            (None, None) => cx.err(
                &format!("{base}.url"),
                "a slack sink needs url (incoming webhook) or token + channel (Web API)",
            ),
            (Some(_), None) => {
                for (set, field) in [
                    (self.channel.is_some(), "channel"),
                    (self.api_url.is_some(), "api_url"),
                    (self.thread_step.is_some(), "thread_step"),
                ] {
                    if set {
                        cx.err(&format!("{base}.{field}"), token_only);
                    }
                }
                cx.dur(
                    &self.repeat_interval,
                    &format!("{base}.repeat_interval"),
                    chat::DEFAULT_REPEAT_INTERVAL_MS,
                );
            }
            (None, Some(_)) => {
                if self.channel.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    cx.err(
                        &format!("{base}.channel"),
                        "token mode needs the channel to post to",
                    );
                }
                if self.repeat_interval.is_some() {
                    cx.err(&format!("{base}.repeat_interval"), webhook_only);
                }
                if let Some(u) = &self.api_url {
                    cx.url(u, &format!("{base}.api_url"), Some(&self.http.allow()));
                }
                if let Some(Err(e)) = self.thread_step.as_ref().map(|s| s.parse()) {
                    cx.err(&format!("{base}.thread_step"), e);
                }
            }
        }
    }
}
