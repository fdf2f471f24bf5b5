//! `type: webhook`: the section and its validation.

use serde::Deserialize;

use crate::sinks::config::{BodyFormat, Ctx, MaybeSecret, SecretRef};
use crate::sinks::endpoint::HttpEndpoint;

/// Pacing of a webhook unless `min_interval` is set: none (a SIEM collector takes bursts).
pub const DEFAULT_MIN_INTERVAL_MS: u64 = 0;

/// `type: webhook`: generic HTTP POST.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    /// Receiver URL (plain, or `{env: …}` / `{file: …}` when it embeds a token).
    pub url: MaybeSecret,
    /// Body format (default `native`; `cloudevents` = structured mode).
    #[serde(default)]
    pub format: BodyFormat,
    /// HMAC-SHA256 key; the body signature goes in `X-Signature: sha256=<hex>` (Flux
    /// `generic-hmac` compatible).
    #[serde(default)]
    pub hmac_secret: Option<SecretRef>,
    /// Deliveries per request (default 1; >1 sends a JSON array).
    #[serde(default)]
    pub max_batch: Option<usize>,
    /// Timeout, CA file, SSRF exemptions, headers, pacing.
    #[serde(flatten)]
    pub http: HttpEndpoint,
}

impl WebhookConfig {
    /// Validates the section of the sink at `base` (`sinks[2]`).
    pub fn check(&self, cx: &mut Ctx<'_>, base: &str) {
        self.http.check(cx, base, DEFAULT_MIN_INTERVAL_MS);
        if let MaybeSecret::Plain(u) = &self.url {
            cx.url(u, &format!("{base}.url"), Some(&self.http.allow()));
        }
        cx.machine_format(base, self.format);
    }
}
