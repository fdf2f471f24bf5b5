//! `type: alertmanager`: the section and its validation.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{label, valid_label_name, AM_DEFAULT_RESOLVE_TIMEOUT_MS, DEFAULT_REPOST_MS};
use crate::sinks::config::{Ctx, MaybeSecret};
use crate::sinks::endpoint::HttpEndpoint;

/// Pacing of Alertmanager posts unless `min_interval` is set: none (the sink batches
/// alerts itself, and Alertmanager de-duplicates re-posts).
pub const DEFAULT_MIN_INTERVAL_MS: u64 = 0;

/// `type: alertmanager`: `POST /api/v2/alerts` (Alertmanager ≥ 0.16; API v1 is gone).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    pub name: String,
    /// Base URL, e.g. `http://alertmanager.monitoring:9093` (`/api/v2/alerts` is appended
    /// unless the URL already ends with it).
    pub url: MaybeSecret,
    /// Re-post firing alerts this often; must be below Alertmanager's `resolve_timeout`
    /// (5m by default), else alerts resolve between posts (default `1m`). Resolved
    /// alerts are re-posted at the same pace for 5 minutes.
    #[serde(default)]
    pub repost_interval: Option<String>,
    /// Extra static labels on every alert (low cardinality; valid label names; the
    /// sink's own labels `alertname`, `pattern`, `severity`, `cluster`, `tenant`,
    /// `namespace`, `kind`, `name` cannot be overridden).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Base of `generatorURL`: `{id}` is replaced by the finding id, otherwise `/<id>`
    /// is appended (default: no `generatorURL`).
    #[serde(default)]
    pub generator_url: Option<String>,
    /// Base URL of the pattern runbooks: every alert gets the annotation
    /// `runbook_url: <base>/<pattern>.md` (default: the repository's `docs/patterns`;
    /// set it to a mirror or an internal wiki that keeps the same page names).
    #[serde(default)]
    pub runbook_base_url: Option<String>,
    /// Timeout, CA file (default: system roots only), SSRF exemptions, headers, pacing.
    #[serde(flatten)]
    pub http: HttpEndpoint,
}

impl AlertmanagerConfig {
    /// Validates the section of the sink at `base` (`sinks[2]`).
    pub fn check(&self, cx: &mut Ctx<'_>, base: &str) {
        let field = format!("{base}.repost_interval");
        let repost = cx.dur(&self.repost_interval, &field, DEFAULT_REPOST_MS);
        if repost == 0 || repost >= AM_DEFAULT_RESOLVE_TIMEOUT_MS {
            cx.err(
                &field,
                "must be above 0 and below Alertmanager's resolve_timeout (5m by default), or firing alerts resolve between posts",
            );
        }
        for (k, v) in &self.labels {
            let field = format!("{base}.labels.{k}");
            if !valid_label_name(k) || k.starts_with("__") {
                cx.err(
                    &field,
                    format!("'{k}' is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)"),
                );
            } else if label::RESERVED.contains(&k.as_str()) {
                cx.err(&field, format!("'{k}' is set by the sink from the finding"));
            } else if v.is_empty() {
                cx.err(&field, "must not be empty");
            }
        }
        // Links for people to follow; fluxsight never fetches them.
        if let Some(g) = &self.generator_url {
            cx.url(g, &format!("{base}.generator_url"), None);
        }
        if let Some(g) = &self.runbook_base_url {
            cx.url(g, &format!("{base}.runbook_base_url"), None);
        }
        self.http.check(cx, base, DEFAULT_MIN_INTERVAL_MS);
        if let MaybeSecret::Plain(u) = &self.url {
            cx.url(u, &format!("{base}.url"), Some(&self.http.allow()));
        }
    }
}
