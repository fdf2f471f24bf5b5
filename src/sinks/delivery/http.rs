//! HTTP plumbing shared by the HTTP sinks (webhook, Slack, Teams, Google Chat,
//! Alertmanager; their config section is `endpoint`): client construction (timeout,
//! extra CA certificates), secret-free error text, and response classification.
//!
//! Owns: turning a reqwest outcome into a [`SinkError`]. Does not own retrying (the
//! worker does) or body formats (`body`, `render::slack`).
//!
//! Invariant: no error text produced here contains the request URL (Slack webhook URLs
//! and many receiver URLs embed a token) or a header value; build errors name the sink
//! and the field, never the secret.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue as HttpHeaderValue};

use crate::sinks::config::HeaderValue;
use crate::sinks::retry::parse_retry_after;
use crate::sinks::ssrf::{self, Allow, GuardedResolver};
use crate::sinks::SinkError;
use crate::time::parse_go_duration_ms;

/// Default request timeout of HTTP sinks.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Bytes of an error response body kept for the error message (dead letters, logs).
const ERROR_BODY_BYTES: usize = 1024;
/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("fluxsight/", env!("CARGO_PKG_VERSION"));

/// Parses an optional duration field (already validated) with a default.
pub fn duration_or(v: &Option<String>, default_ms: u64) -> Duration {
    let ms = v
        .as_deref()
        .and_then(parse_go_duration_ms)
        .unwrap_or(default_ms);
    Duration::from_millis(ms)
}

/// Builds a client with `timeout` for the whole request, `headers` on every request
/// (unless the request sets them), and the extra CA certificates
/// of `ca_file` (PEM, one or more certificates) trusted in addition to the system's roots
/// (rustls-platform-verifier: `SSL_CERT_FILE`/`SSL_CERT_DIR` or the distribution bundle).
/// Names resolve through the SSRF guard ([`GuardedResolver`]) with `allow` exempt.
pub fn client(
    sink: &str,
    timeout: Duration,
    ca_file: Option<&str>,
    allow: &Allow,
    headers: HeaderMap,
) -> Result<reqwest::Client, String> {
    let mut b = crate::tls::http_client_builder()
        .default_headers(headers)
        .dns_resolver(Arc::new(GuardedResolver::new(allow.clone())))
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(USER_AGENT)
        // Redirects could forward the signed body or secret headers elsewhere.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("sink '{sink}': ca_file: cannot read {path}: {e}"))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("sink '{sink}': ca_file: {path}: not PEM certificates: {e}"))?;
        if certs.is_empty() {
            return Err(format!(
                "sink '{sink}': ca_file: {path}: no certificate found"
            ));
        }
        b = b.tls_certs_merge(certs);
    }
    b.build()
        .map_err(|e| format!("sink '{sink}': cannot create http client: {e}"))
}

/// Parses a receiver URL and checks its host against the SSRF guard. The error never
/// repeats the URL (it may hold a token).
pub fn parse_url(
    sink: &str,
    field: &str,
    url: &str,
    allow: &Allow,
) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url)
        .map_err(|e| format!("sink '{sink}': {field}: not a valid URL ({e})"))?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!("sink '{sink}': {field}: not an http(s) URL"));
    }
    ssrf::check_url(&u, allow)
        .map_err(|why| format!("sink '{sink}': {}", ssrf::refusal(field, why)))?;
    Ok(u)
}

/// A transport failure (connect, timeout, reset, body read): always retryable, and the
/// text never includes the URL.
pub fn transport_error(e: reqwest::Error) -> SinkError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect error"
    } else {
        "transport error"
    };
    let e = e.without_url();
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    SinkError::retryable(msg)
}

/// Classifies a response: 2xx is `Ok`, anything else becomes a [`SinkError`] carrying the
/// start of the body (Slack puts its error code there) and `Retry-After`.
pub async fn check_response(resp: reqwest::Response) -> Result<(), SinkError> {
    let status = resp.status();
    if status.is_success() {
        // Read the body so the connection can be reused; its content does not matter.
        let _ = resp.bytes().await;
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = match resp.bytes().await {
        Ok(b) => String::from_utf8_lossy(&b[..b.len().min(ERROR_BODY_BYTES)]).into_owned(),
        Err(_) => String::new(),
    };
    Err(SinkError::from_http_status(
        status.as_u16(),
        body.trim(),
        retry_after,
    ))
}

/// Resolves the configured extra headers; secret values are marked sensitive (hidden
/// from `Debug` output of the request).
pub fn resolve_headers(
    sink: &str,
    cfg: &BTreeMap<String, HeaderValue>,
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (k, v) in cfg {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| format!("sink '{sink}': headers.{k}: not a valid header name"))?;
        let (text, secret) = match v {
            HeaderValue::Plain(s) => (s.clone(), false),
            HeaderValue::Secret(r) => (
                r.resolve()
                    .map_err(|e| format!("sink '{sink}': headers.{k}: {e}"))?,
                true,
            ),
        };
        let mut value = HttpHeaderValue::from_str(text.trim()).map_err(|_| {
            format!("sink '{sink}': headers.{k}: the value is not a valid header value")
        })?;
        value.set_sensitive(secret);
        map.append(name, value);
    }
    Ok(map)
}

/// A destination as it may appear in `Debug` output or a log: scheme, host and port only
/// (user info, path and query of receiver URLs carry tokens: Slack webhook paths,
/// `?token=` parameters, `user:password@`).
pub fn url_for_logs(u: &reqwest::Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}/[REDACTED]", u.scheme()),
        (Some(h), None) => format!("{}://{h}/[REDACTED]", u.scheme()),
        _ => "[REDACTED]".into(),
    }
}

/// Text made safe for an HTTP header value: `%` and every byte outside visible ASCII
/// (CR, LF, NUL, space, non-ASCII) percent-encoded, as CloudEvents does for `ce-`
/// headers. Visible ASCII passes unchanged, so ordinary ids are untouched.
pub fn header_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_neutralises_line_breaks() {
        assert_eq!(header_text("route/tenant=a-1-2"), "route/tenant=a-1-2");
        let v = header_text("x\r\nSet-Cookie: a=b\u{0}é %");
        assert_eq!(v, "x%0D%0ASet-Cookie:%20a=b%00%C3%A9%20%25");
        assert!(HttpHeaderValue::from_str(&v).is_ok());
    }

    #[test]
    fn configured_header_values_with_line_breaks_are_refused() {
        let mut cfg = BTreeMap::new();
        cfg.insert(
            "X-Team".to_string(),
            HeaderValue::Plain("a\r\nX-Injected: 1".into()),
        );
        let e = resolve_headers("s", &cfg).unwrap_err();
        assert!(
            e.contains("headers.X-Team") && !e.contains("Injected"),
            "{e}"
        );
    }
}

/// A sink's own pacing: at most one request per `interval`. Chat sinks pace themselves
/// (instead of the worker's per-delivery `min_interval`) so that coalesced updates,
/// which send nothing, cost no time.
#[derive(Debug)]
pub struct Pacer {
    interval: Duration,
    last: Option<std::time::Instant>,
}

impl Pacer {
    pub fn new(interval: Duration) -> Self {
        Pacer {
            interval,
            last: None,
        }
    }

    /// Waits until `interval` passed since the previous request.
    pub async fn wait(&self) {
        if let Some(last) = self.last {
            let since = last.elapsed();
            if since < self.interval {
                tokio::time::sleep(self.interval - since).await;
            }
        }
    }

    /// Marks a request as made (its answer came, whatever it was).
    pub fn sent(&mut self) {
        self.last = Some(std::time::Instant::now());
    }
}
