//! The HTTP section every HTTP sink shares (webhook, Slack, Teams, Google Chat,
//! Alertmanager): request timeout, extra CA certificates, SSRF exemptions, extra headers
//! and pacing, declared, defaulted and validated once, and flattened into each kind's
//! raw config (`#[serde(flatten)] http: HttpEndpoint`).
//!
//! Owns: [`HttpEndpoint`], its validation ([`HttpEndpoint::check`]) and the client it
//! builds ([`HttpEndpoint::client`]). Does not own a kind's URL (its meaning, secrecy
//! and default differ per kind) or its mode rules (Slack's webhook or token mode).
//!
//! Invariant: a header that looks like a credential is accepted only by reference
//! (`{env: NAME}` / `{file: PATH}`); header values never reach an error text.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::http;
use super::secret::plaintext_secret_message;
use super::ssrf::Allow;
use crate::sinks::config::{Ctx, HeaderValue};

/// The HTTP settings of an HTTP sink (flattened into its section: written as plain keys
/// of the sink, `timeout: 5s`, not under a sub-key).
#[derive(Debug, Clone, PartialEq, Deserialize, Default)]
pub struct HttpEndpoint {
    /// Request timeout, connect included (default `10s`).
    #[serde(default)]
    pub timeout: Option<String>,
    /// PEM file of extra CA certificates to trust in addition to the system roots
    /// (tests, proxies; default none).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Host names or IP literals exempt from the SSRF guard (link-local, cloud metadata,
    /// unspecified and multicast destinations are refused otherwise; loopback and private
    /// ranges are always allowed). Default none.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
    /// Extra request headers; credential headers (`Authorization`, names containing
    /// `token`, `secret`, `key`, `password`, `auth`, …) must use `{env: NAME}` or
    /// `{file: PATH}`. Default none.
    #[serde(default)]
    pub headers: BTreeMap<String, HeaderValue>,
    /// Minimum time between two requests (default: the kind's, see
    /// [`HttpEndpoint::min_interval_or`]; `1s` for Slack and the webhook chats, whose
    /// receivers throttle, none for webhook and Alertmanager).
    #[serde(default)]
    pub min_interval: Option<String>,
}

impl HttpEndpoint {
    /// The SSRF guard's exemptions.
    pub fn allow(&self) -> Allow {
        Allow::new(&self.allow_hosts)
    }

    /// The request timeout (already validated).
    pub fn timeout(&self) -> Duration {
        http::duration_or(&self.timeout, http::DEFAULT_TIMEOUT_MS)
    }

    /// The pacing interval (already validated), `default_ms` when unset.
    pub fn min_interval_or(&self, default_ms: u64) -> Duration {
        http::duration_or(&self.min_interval, default_ms)
    }

    /// Builds the sink's client (build step: reads `ca_file` and header secrets): the
    /// timeout, the extra CA certificates, the SSRF guard, and the extra headers on every
    /// request (a header the sink sets itself, such as `Content-Type`, wins).
    pub fn client(&self, sink: &str) -> Result<reqwest::Client, String> {
        let headers = http::resolve_headers(sink, &self.headers)?;
        http::client(
            sink,
            self.timeout(),
            self.ca_file.as_deref(),
            &self.allow(),
            headers,
        )
    }

    /// Validates the section of the sink at `base` (`sinks[2]`); `min_interval_ms` is
    /// the kind's default pacing.
    pub fn check(&self, cx: &mut Ctx<'_>, base: &str, min_interval_ms: u64) {
        cx.dur(
            &self.min_interval,
            &format!("{base}.min_interval"),
            min_interval_ms,
        );
        cx.dur(
            &self.timeout,
            &format!("{base}.timeout"),
            http::DEFAULT_TIMEOUT_MS,
        );
        for (h, v) in &self.headers {
            let field = format!("{base}.headers.{h}");
            match v {
                HeaderValue::Plain(_) if is_credential_header(h) => {
                    let message = plaintext_secret_message(&field);
                    cx.err(&field, message)
                }
                HeaderValue::Secret(r) => {
                    if let Some(message) = r.problem(&field) {
                        cx.err(&field, message)
                    }
                }
                HeaderValue::Plain(p) if p.chars().any(|c| c.is_control() && c != '\t') => cx.err(
                    &field,
                    "control characters (CR, LF, …) are not allowed in header values",
                ),
                _ => {}
            }
        }
    }
}

/// Header names that carry credentials and so must come from a secret reference.
fn is_credential_header(name: &str) -> bool {
    let l = name.to_ascii_lowercase();
    l == "authorization"
        || l == "proxy-authorization"
        || l == "cookie"
        || ["token", "secret", "key", "password", "auth"]
            .iter()
            .any(|w| l.contains(w))
}

#[cfg(test)]
mod tests {
    use crate::sinks::config::{validate, SinkConfig};

    #[derive(serde::Deserialize)]
    struct File {
        sinks: Vec<SinkConfig>,
    }

    /// Every HTTP kind takes the one section and reports its errors with the same text
    /// at its own fields: a bad `timeout` and `min_interval`, a credential header in
    /// plain text. (Before, webhook and Alertmanager refused `min_interval`, Slack and the
    /// chats `headers`: each kind had its own copy of the fields.)
    #[test]
    fn every_http_kind_takes_and_checks_the_one_section() {
        let urls = [
            ("webhook", "url: http://127.0.0.1:1/x"),
            ("alertmanager", "url: http://127.0.0.1:1"),
            ("slack", "url: {env: FLUXSIGHT_UNSET}"),
            ("teams", "url: {env: FLUXSIGHT_UNSET}"),
            ("googlechat", "url: {env: FLUXSIGHT_UNSET}"),
        ];
        for (kind, url) in urls {
            let text = format!(
                "sinks:\n  - name: s\n    type: {kind}\n    {url}\n    timeout: 5x\n    min_interval: 1q\n    headers: {{X-Api-Key: plain}}\n    ca_file: /ca.pem\n    allow_hosts: [metadata]\n"
            );
            let file: File = serde_saphyr::from_str(&text).expect(kind);
            let errs = validate(file.sinks, Vec::new(), None, "p", &text).unwrap_err();
            let got: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
            assert_eq!(
                got,
                [
                    "p:6:19: sinks[0].min_interval: '1q' is not a duration such as 30s or 5m",
                    "p:5:14: sinks[0].timeout: '5x' is not a duration such as 30s or 5m",
                    "p:7:26: sinks[0].headers.X-Api-Key: sinks[0].headers.X-Api-Key holds a secret: write {env: NAME} or {file: PATH}",
                ],
                "{kind}"
            );
        }
    }
}
