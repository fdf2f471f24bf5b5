//! `type: webhook`: a generic HTTP POST of findings and audit records.
//!
//! Body: with `max_batch: 1` (default) one request per item (a group delivery becomes one
//! request per finding), the body being one JSON document in the configured format
//! (native, OCSF, ECS) or a CloudEvents structured-mode event
//! (`application/cloudevents+json; charset=UTF-8`). With `max_batch > 1` one request per
//! batch whose body is a JSON array of every item (`application/cloudevents-batch+json`
//! for CloudEvents).
//!
//! Headers: `X-Signature: sha256=<hex HMAC-SHA256(body)>` when `hmac_secret` is set (Flux
//! `generic-hmac` compatible: computed over the exact bytes sent), and with it
//! `X-Fluxsight-Timestamp: <unix seconds>` and `X-Fluxsight-Signature: sha256=<hex
//! HMAC-SHA256("<timestamp>.<body>")>`, which a receiver can use to refuse replays
//! (`server::signature::verify_timestamped`; the timestamp is of the attempt, so a retry
//! is signed anew). So that a receiver can
//! drop the duplicates at-least-once delivery produces, every request carries a stable
//! id, the same on every retry: on a single-item request `X-Fluxsight-Delivery-Id` and
//! `Idempotency-Key` are the item's id (= [`Delivery::delivery_id`] of a finding or audit
//! delivery = the CloudEvents `id`), and the items of a group delivery also carry
//! `X-Fluxsight-Group-Id` (the group's delivery id); a batch request carries the delivery
//! id when it holds one delivery, and an `Idempotency-Key` digest of its delivery ids
//! (the per-item ids are in the bodies). Extra headers from the config, secret values
//! resolved once at build.
//!
//! Invariant: secrets (URL, HMAC key, header values) are read at build only, marked
//! sensitive, and never appear in errors or logs.

pub mod config;

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::server::signature::{self, sign, sign_timestamped};
use crate::sinks::body::{ce_attributes, items, render_item};
use crate::sinks::config::{BodyFormat, WebhookConfig};
use crate::sinks::http;
use crate::sinks::{BoxFut, Delivery, Sink, SinkError};

/// Signature header (Flux `generic-hmac`).
pub const SIGNATURE_HEADER: &str = signature::SIGNATURE_HEADER;
/// Stable id of the delivery carried by a request.
pub const DELIVERY_ID_HEADER: &str = "x-fluxsight-delivery-id";
/// Delivery id of the group an item belongs to.
pub const GROUP_ID_HEADER: &str = "x-fluxsight-group-id";
/// Per-request idempotency key (IETF `Idempotency-Key` draft).
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";

const CT_JSON: &str = "application/json";
const CT_CE: &str = "application/cloudevents+json; charset=UTF-8";
const CT_CE_BATCH: &str = "application/cloudevents-batch+json; charset=UTF-8";

/// Largest `max_batch` accepted (bodies stay well under typical receiver limits).
const MAX_BATCH_LIMIT: usize = 1000;

/// One HTTP request to make: body bytes and its per-request headers.
struct Request {
    body: Vec<u8>,
    content_type: &'static str,
    delivery_id: Option<String>,
    group_id: Option<String>,
    idempotency_key: String,
}

pub struct WebhookSink {
    client: reqwest::Client,
    url: reqwest::Url,
    format: BodyFormat,
    hmac_key: Option<Vec<u8>>,
    /// Pacing of requests (`min_interval`; zero: none).
    min_interval: Duration,
    max_batch: usize,
}

// Hand-written so a secret can never be printed by `{:?}`: the URL shows only its host,
// the key only its presence (secret header values live in the client, marked sensitive).
impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &http::url_for_logs(&self.url))
            .field("format", &self.format)
            .field("hmac_key", &self.hmac_key.as_ref().map(|_| "[REDACTED]"))
            .field("min_interval", &self.min_interval)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

/// Builds the sink (build step: reads secrets, prepares the client).
pub fn build(cfg: &WebhookConfig) -> Result<Box<dyn Sink>, String> {
    Ok(Box::new(WebhookSink::new(cfg)?))
}

impl WebhookSink {
    pub fn new(cfg: &WebhookConfig) -> Result<Self, String> {
        let name = &cfg.name;
        let url_text = cfg
            .url
            .resolve()
            .map_err(|e| format!("sink '{name}': url: {e}"))?;
        let allow = cfg.http.allow();
        let url = http::parse_url(name, "url", url_text.trim(), &allow)?;
        let hmac_key = match &cfg.hmac_secret {
            None => None,
            Some(r) => {
                let k = r
                    .resolve()
                    .map_err(|e| format!("sink '{name}': hmac_secret: {e}"))?;
                if k.is_empty() {
                    return Err(format!("sink '{name}': hmac_secret: the secret is empty"));
                }
                Some(k.into_bytes())
            }
        };
        let client = cfg.http.client(name)?;
        let max_batch = cfg.max_batch.unwrap_or(1).clamp(1, MAX_BATCH_LIMIT);
        Ok(WebhookSink {
            client,
            url,
            format: cfg.format,
            hmac_key,
            min_interval: cfg.http.min_interval_or(config::DEFAULT_MIN_INTERVAL_MS),
            max_batch,
        })
    }

    fn content_type(&self, batch: bool) -> &'static str {
        match (self.format, batch) {
            (BodyFormat::Cloudevents, false) => CT_CE,
            (BodyFormat::Cloudevents, true) => CT_CE_BATCH,
            _ => CT_JSON,
        }
    }

    /// The requests a batch of deliveries turns into (see the module doc).
    fn requests(&self, batch: &[Delivery]) -> Result<Vec<Request>, SinkError> {
        let encode = |v: &Value| {
            serde_json::to_vec(v).map_err(|e| SinkError::permanent(format!("encode: {e}")))
        };
        if self.max_batch == 1 {
            let mut out = Vec::new();
            for d in batch {
                let group_id = matches!(d, Delivery::Group(_)).then(|| d.delivery_id());
                for item in items(d) {
                    let id = ce_attributes(&item).id;
                    out.push(Request {
                        body: encode(&render_item(&item, self.format))?,
                        content_type: self.content_type(false),
                        delivery_id: Some(id.clone()),
                        group_id: group_id.clone(),
                        idempotency_key: id,
                    });
                }
            }
            return Ok(out);
        }
        let mut docs = Vec::new();
        let mut digest = Sha256::new();
        for d in batch {
            digest.update(d.delivery_id().as_bytes());
            digest.update(b"\n");
            for item in items(d) {
                docs.push(render_item(&item, self.format));
            }
        }
        let single = batch.len() == 1;
        Ok(vec![Request {
            body: encode(&Value::Array(docs))?,
            content_type: self.content_type(true),
            delivery_id: single.then(|| batch[0].delivery_id()),
            group_id: None,
            idempotency_key: format!("batch-{}", &hex(&digest.finalize())[..32]),
        }])
    }

    fn signature(&self, body: &[u8]) -> Option<String> {
        Some(sign(self.hmac_key.as_ref()?, &[body]))
    }

    async fn post(&self, req: Request) -> Result<(), SinkError> {
        let mut rb = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, req.content_type)
            .header(IDEMPOTENCY_HEADER, http::header_text(&req.idempotency_key));
        // Ids embed group keys and tenants (tenant-influenced text): header_text keeps
        // CR/LF and other bytes that are not visible ASCII out of the header.
        if let Some(id) = req.delivery_id {
            rb = rb.header(DELIVERY_ID_HEADER, http::header_text(&id));
        }
        if let Some(id) = req.group_id {
            rb = rb.header(GROUP_ID_HEADER, http::header_text(&id));
        }
        if let (Some(sig), Some(key)) = (self.signature(&req.body), &self.hmac_key) {
            // Unix seconds, as the receiver's replay window expects.
            let now = crate::time::now_ms().max(0) as u64 / 1000;
            rb = rb
                .header(SIGNATURE_HEADER, sig)
                .header(signature::TIMESTAMP_HEADER, now)
                .header(
                    signature::TIMESTAMPED_SIGNATURE_HEADER,
                    sign_timestamped(key, now, &req.body),
                );
        }
        let resp = rb
            .body(req.body)
            .send()
            .await
            .map_err(http::transport_error)?;
        http::check_response(resp).await
    }
}

impl Sink for WebhookSink {
    fn send<'a>(&'a mut self, batch: &'a [Delivery]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            // Requests go one after another: a failure fails the whole batch, which the
            // worker retries from its first item (at least once).
            for req in self.requests(batch)? {
                self.post(req).await?;
            }
            Ok(())
        })
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn min_interval(&self) -> Option<Duration> {
        (!self.min_interval.is_zero()).then_some(self.min_interval)
    }
}

pub use signature::hex;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::config::{HeaderValue, MaybeSecret, SecretRef};

    fn cfg() -> WebhookConfig {
        WebhookConfig {
            name: "w".into(),
            url: MaybeSecret::Plain("http://127.0.0.1:9/hook".into()),
            format: BodyFormat::Native,
            hmac_secret: None,
            max_batch: None,
            http: Default::default(),
        }
    }

    #[test]
    fn hmac_matches_a_known_vector() {
        // RFC 4231 test case 2.
        std::env::set_var("FLUXSIGHT_TEST_WEBHOOK_KEY", "Jefe");
        let mut c = cfg();
        c.hmac_secret = Some(SecretRef::Env("FLUXSIGHT_TEST_WEBHOOK_KEY".into()));
        let s = WebhookSink::new(&c).unwrap();
        assert_eq!(
            s.signature(b"what do ya want for nothing?").unwrap(),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn build_errors_name_field_not_value() {
        let mut c = cfg();
        c.url = MaybeSecret::Secret(SecretRef::Env("FLUXSIGHT_TEST_UNSET_URL_VAR".into()));
        let e = WebhookSink::new(&c).err().unwrap();
        assert!(e.contains("sink 'w': url"), "{e}");
        std::env::set_var("FLUXSIGHT_TEST_BAD_HEADER", "top\nsecret-value");
        let mut c = cfg();
        c.http.headers.insert(
            "Authorization".into(),
            HeaderValue::Secret(SecretRef::Env("FLUXSIGHT_TEST_BAD_HEADER".into())),
        );
        let e = WebhookSink::new(&c).err().unwrap();
        assert!(e.contains("headers.Authorization"), "{e}");
        assert!(!e.contains("secret-value"), "{e}");
        let mut c = cfg();
        c.url = MaybeSecret::Plain("ftp://x/".into());
        assert!(WebhookSink::new(&c).is_err());
    }

    /// `min_interval` of the shared HTTP section paces a webhook through the worker
    /// when set; unset, a webhook is not paced (a SIEM collector takes bursts).
    #[test]
    fn min_interval_paces_only_when_set() {
        assert_eq!(WebhookSink::new(&cfg()).unwrap().min_interval(), None);
        let mut c = cfg();
        c.http.min_interval = Some("250ms".into());
        assert_eq!(
            WebhookSink::new(&c).unwrap().min_interval(),
            Some(Duration::from_millis(250))
        );
    }
}
