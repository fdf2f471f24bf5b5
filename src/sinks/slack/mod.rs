//! `type: slack`: Block Kit messages (`blocks` + `text` fallback), one thread per
//! incident.
//!
//! Two modes (exactly one is configured):
//! - incoming webhook (`url`): cannot edit, so a finding is posted when it first fires,
//!   when its severity changes, when it resolves, and again after `repeat_interval`;
//!   other updates are coalesced (skipped);
//! - Web API with a bot token (`token` + `channel`): the first firing is posted
//!   (`chat.postMessage`, its `ts` kept), updates edit that message (`chat.update`), and a
//!   reply goes to its thread (`thread_ts`) when the severity rises or the blast radius
//!   grows by `thread_step`; a resolution edits the header and replies in the thread.
//!
//! What to do with an update is decided by `sinks::chat` from per-finding state saved
//! under `<state_dir>/chat/<sink>.json` before the delivery is acknowledged, so a
//! restart keeps threading (the at-least-once argument is in `chat`). A group delivery
//! (route `group_by`) is one message and one thread; audit records are posted as they
//! come.
//!
//! Pacing: at most one request per `min_interval` (default 1s, Slack's limit per webhook
//! and for `chat.postMessage` per channel), measured from the end of the previous
//! request; the sink paces itself, so skipped updates cost no time.
//!
//! Errors: HTTP 429 is retryable after `Retry-After`; 5xx retryable; other 4xx
//! (`invalid_payload`, `channel_is_archived`, …) permanent, dead-lettered with Slack's
//! error string. The Web API answers errors with HTTP 200 and `{"ok":false,"error":…}`:
//! `ratelimited` and Slack's transient errors are retryable (honouring `Retry-After`),
//! the rest permanent; an edit of a message that is gone posts a new one.
//!
//! Invariant: the webhook URL and the token are secrets: read once at build from
//! `{env}`/`{file}`, never logged, never part of an error (transport errors are stripped
//! of the URL; the token travels in a sensitive header only).

pub mod config;

use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use crate::render::slack::{growth_reply, message, resolution_reply, severity_reply};
use crate::sinks::chat::{self, Decision, Escalation, LazyStore, MessageRef, Mode, Update};
use crate::sinks::config::SlackConfig;
use crate::sinks::http;
use crate::sinks::retry::parse_retry_after;
use crate::sinks::{BoxFut, Delivery, Sink, SinkError};
use crate::time::parse_go_duration_ms;

pub use config::DEFAULT_MIN_INTERVAL_MS;
/// Default Web API base URL.
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";
const POST_MESSAGE: &str = "chat.postMessage";
const UPDATE: &str = "chat.update";
const CT_JSON: &str = "application/json; charset=utf-8";
/// Web API errors worth a retry (Slack's documented transient errors).
const RETRYABLE_API_ERRORS: [&str; 6] = [
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];
/// `chat.update` errors meaning the message cannot be edited any more: post anew.
const GONE_API_ERRORS: [&str; 3] = [
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",
];

enum Transport {
    Webhook {
        url: reqwest::Url,
    },
    Api {
        base: reqwest::Url,
        auth: HeaderValue,
        channel: String,
    },
}

pub struct SlackSink {
    name: String,
    client: reqwest::Client,
    transport: Transport,
    mode: Mode,
    pacer: http::Pacer,
    /// The threads, saved in the state directory (in memory without one).
    store: LazyStore,
}

// Hand-written: the webhook URL and the token are credentials.
impl std::fmt::Debug for SlackSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let target = match &self.transport {
            Transport::Webhook { url } => http::url_for_logs(url),
            Transport::Api { base, .. } => format!("{base} (token [REDACTED])"),
        };
        f.debug_struct("SlackSink")
            .field("target", &target)
            .field("mode", &self.mode)
            .field("pacer", &self.pacer)
            .field("state", &self.store.path())
            .finish()
    }
}

/// Builds the sink with its threads in memory (build step: reads the secret, prepares
/// the client).
pub fn build(cfg: &SlackConfig) -> Result<Box<dyn Sink>, String> {
    Ok(Box::new(SlackSink::new(cfg)?))
}

/// Builds the sink with its threads saved under `state_dir` (when there is one).
pub fn build_with_state(
    cfg: &SlackConfig,
    state_dir: Option<&Path>,
) -> Result<Box<dyn Sink>, String> {
    let mut s = SlackSink::new(cfg)?;
    s.store = LazyStore::new(&cfg.name, state_dir);
    Ok(Box::new(s))
}

/// What one Web API call returned.
struct ApiReply {
    channel: Option<String>,
    ts: Option<String>,
}

impl SlackSink {
    pub fn new(cfg: &SlackConfig) -> Result<Self, String> {
        let name = &cfg.name;
        let allow = cfg.http.allow();
        let (transport, mode) = match (&cfg.url, &cfg.token) {
            (Some(url), None) => {
                let url = url
                    .resolve()
                    .map_err(|e| format!("sink '{name}': url: {e}"))?;
                let url = http::parse_url(name, "url", url.trim(), &allow)?;
                let repeat_ms = cfg
                    .repeat_interval
                    .as_deref()
                    .and_then(parse_go_duration_ms)
                    .unwrap_or(chat::DEFAULT_REPEAT_INTERVAL_MS);
                (Transport::Webhook { url }, Mode::Webhook { repeat_ms })
            }
            (None, Some(token)) => {
                let token = token
                    .resolve()
                    .map_err(|e| format!("sink '{name}': token: {e}"))?;
                let mut auth = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                    .map_err(|_| {
                        format!("sink '{name}': token: the value is not a valid header value")
                    })?;
                auth.set_sensitive(true);
                let mut base = cfg.api_url.as_deref().unwrap_or(DEFAULT_API_URL).to_string();
                if !base.ends_with('/') {
                    base.push('/');
                }
                let base = http::parse_url(name, "api_url", base.trim(), &allow)?;
                let channel = cfg
                    .channel
                    .clone()
                    .filter(|c| !c.trim().is_empty())
                    .ok_or_else(|| format!("sink '{name}': channel: required with token"))?;
                let step = match &cfg.thread_step {
                    Some(s) => s
                        .parse()
                        .map_err(|e| format!("sink '{name}': thread_step: {e}"))?,
                    None => chat::DEFAULT_THREAD_STEP,
                };
                (
                    Transport::Api {
                        base,
                        auth,
                        channel,
                    },
                    Mode::Threads { step },
                )
            }
            _ => {
                return Err(format!(
                    "sink '{name}': exactly one of url (incoming webhook) and token (Web API) is needed"
                ))
            }
        };
        Ok(SlackSink {
            name: name.clone(),
            client: cfg.http.client(name)?,
            transport,
            mode,
            pacer: http::Pacer::new(cfg.http.min_interval_or(DEFAULT_MIN_INTERVAL_MS)),
            store: LazyStore::new(name, None),
        })
    }

    /// Posts `body` to the incoming webhook.
    async fn webhook_post(&mut self, body: &Value) -> Result<(), SinkError> {
        let Transport::Webhook { url } = &self.transport else {
            return Err(SinkError::permanent("not an incoming-webhook sink"));
        };
        let url = url.clone();
        let bytes = encode(body)?;
        self.pacer.wait().await;
        let resp = self
            .client
            .post(url)
            .header(CONTENT_TYPE, CT_JSON)
            .body(bytes)
            .send()
            .await;
        self.pacer.sent();
        http::check_response(resp.map_err(http::transport_error)?).await
    }

    /// Calls Web API `method` with `body` (the channel is added).
    async fn api(&mut self, method: &str, mut body: Value) -> Result<ApiReply, SinkError> {
        let Transport::Api {
            base,
            auth,
            channel,
        } = &self.transport
        else {
            return Err(SinkError::permanent("not a Web API sink"));
        };
        let url = base
            .join(method)
            .map_err(|e| SinkError::permanent(format!("{method}: {e}")))?;
        if body.get("channel").is_none() {
            body["channel"] = Value::String(channel.clone());
        }
        let auth = auth.clone();
        let bytes = encode(&body)?;
        self.pacer.wait().await;
        let resp = self
            .client
            .post(url)
            .header(CONTENT_TYPE, CT_JSON)
            .header(AUTHORIZATION, auth)
            .body(bytes)
            .send()
            .await;
        self.pacer.sent();
        let resp = resp.map_err(http::transport_error)?;
        if !resp.status().is_success() {
            return Err(match http::check_response(resp).await {
                Err(e) => e,
                Ok(()) => SinkError::retryable(format!("{method}: unexpected answer")),
            });
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = resp.bytes().await.map_err(http::transport_error)?;
        api_reply(method, &bytes, retry_after)
    }

    /// Posts a new top-level message; its reference.
    async fn api_post(&mut self, body: Value) -> Result<MessageRef, SinkError> {
        let r = self.api(POST_MESSAGE, body).await?;
        let Transport::Api { channel, .. } = &self.transport else {
            unreachable!("api() succeeded")
        };
        Ok(MessageRef {
            channel: r.channel.unwrap_or_else(|| channel.clone()),
            ts: r.ts.ok_or_else(|| {
                SinkError::permanent(format!("{POST_MESSAGE}: no ts in the answer"))
            })?,
        })
    }

    /// Edits `m`; when Slack says it cannot be edited any more, posts it anew and returns
    /// the new reference.
    async fn api_edit(&mut self, m: &MessageRef, body: Value) -> Result<MessageRef, SinkError> {
        let mut edit = body.clone();
        edit["channel"] = Value::String(m.channel.clone());
        edit["ts"] = Value::String(m.ts.clone());
        match self.api(UPDATE, edit).await {
            Ok(_) => Ok(m.clone()),
            Err(SinkError::Permanent { message })
                if GONE_API_ERRORS.iter().any(|g| message.ends_with(g)) =>
            {
                tracing::warn!(sink = %self.name, error = %message, "the incident's message cannot be edited; posting a new one");
                self.api_post(body).await
            }
            Err(e) => Err(e),
        }
    }

    async fn api_reply(&mut self, m: &MessageRef, mut body: Value) -> Result<(), SinkError> {
        body["channel"] = Value::String(m.channel.clone());
        body["thread_ts"] = Value::String(m.ts.clone());
        self.api(POST_MESSAGE, body).await.map(|_| ())
    }

    /// Carries out `decision` for delivery `d`; the message it posted, if any.
    async fn carry_out(
        &mut self,
        d: &Delivery,
        u: &Update,
        decision: Decision,
        prev: Option<MessageRef>,
    ) -> Result<Option<MessageRef>, SinkError> {
        let body = message(d);
        if matches!(self.transport, Transport::Webhook { .. }) {
            if matches!(decision, Decision::Skip(_)) {
                return Ok(None);
            }
            // Post, Resolve (Edit and Reply are not decided for webhooks).
            self.webhook_post(&body).await?;
            return Ok(None);
        }
        let root = match (decision, prev) {
            (Decision::Skip(_), _) => return Ok(None),
            (Decision::Post, _) | (_, None) => return self.api_post(body).await.map(Some),
            (_, Some(m)) => m,
        };
        // Edits first: they are idempotent, so a retry after a failed reply repeats
        // nothing visible but the reply.
        let root = self.api_edit(&root, body).await?;
        let reply = match decision {
            Decision::Reply(Escalation::SeverityRose { from }) => {
                Some(severity_reply(d, from, u.severity))
            }
            Decision::Reply(Escalation::RadiusGrew { from }) => {
                Some(growth_reply(d, from, u.impacted))
            }
            Decision::Resolve => Some(resolution_reply(d)),
            _ => None,
        };
        if let Some(r) = reply {
            self.api_reply(&root, r).await?;
        }
        Ok(Some(root))
    }

    /// Delivers one item: decide, act, save the thread before acknowledging.
    async fn deliver(&mut self, d: &Delivery) -> Result<(), SinkError> {
        let Some(u) = Update::of(d) else {
            let body = message(d);
            return match self.transport {
                Transport::Webhook { .. } => self.webhook_post(&body).await,
                Transport::Api { .. } => self.api_post(body).await.map(|_| ()),
            };
        };
        // Update time, not a clock: replay decides as the live run did.
        let now = u.seen;
        let mode = self.mode;
        let prev = self.store.get()?.get(&u.key).cloned();
        let decision = chat::decide(prev.as_ref(), &u, now, mode);
        let posted = self
            .carry_out(
                d,
                &u,
                decision,
                prev.as_ref().and_then(|p| p.message.clone()),
            )
            .await?;
        if let Some(next) = chat::apply(prev.as_ref(), decision, &u, now, posted) {
            self.store.get()?.put(&u.key, next);
        }
        self.store.save()
    }
}

fn encode(v: &Value) -> Result<Vec<u8>, SinkError> {
    serde_json::to_vec(v).map_err(|e| SinkError::permanent(format!("encode: {e}")))
}

/// Classifies a Web API answer (HTTP 200): `ok: true`, or Slack's error string as a
/// retryable or permanent error.
fn api_reply(
    method: &str,
    body: &[u8],
    retry_after: Option<Duration>,
) -> Result<ApiReply, SinkError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        SinkError::permanent(format!("{method}: the answer is not a Slack API response"))
    })?;
    if v["ok"].as_bool() == Some(true) {
        let text = |k: &str| v[k].as_str().map(str::to_string);
        return Ok(ApiReply {
            channel: text("channel"),
            ts: text("ts"),
        });
    }
    let error = v["error"].as_str().unwrap_or("unknown_error");
    let error: String = error.chars().take(100).collect();
    let message = format!("{method}: {error}");
    if RETRYABLE_API_ERRORS.contains(&error.as_str()) {
        Err(SinkError::Retryable {
            message,
            retry_after,
        })
    } else {
        Err(SinkError::permanent(message))
    }
}

impl Sink for SlackSink {
    fn send<'a>(&'a mut self, batch: &'a [Delivery]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            // A save that failed last time goes first: the state must be on disk before
            // anything more is acknowledged.
            self.store.save()?;
            for d in batch {
                self.deliver(d).await?;
            }
            Ok(())
        })
    }

    /// One item per send: a failure retries that item alone.
    fn max_batch(&self) -> usize {
        1
    }

    // No `min_interval`: the sink paces its own requests, so skipped updates are free.
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_are_classified() {
        let ok = api_reply("m", br#"{"ok":true,"channel":"C1","ts":"1.2"}"#, None).unwrap();
        assert_eq!(ok.ts.as_deref(), Some("1.2"));
        assert_eq!(ok.channel.as_deref(), Some("C1"));
        let e = api_reply(
            "m",
            br#"{"ok":false,"error":"ratelimited"}"#,
            Some(Duration::from_secs(3)),
        )
        .err()
        .unwrap();
        assert_eq!(
            e,
            SinkError::Retryable {
                message: "m: ratelimited".into(),
                retry_after: Some(Duration::from_secs(3))
            }
        );
        let e = api_reply("m", br#"{"ok":false,"error":"channel_not_found"}"#, None)
            .err()
            .unwrap();
        assert_eq!(e, SinkError::permanent("m: channel_not_found"));
        assert!(matches!(
            api_reply("m", b"<html>", None),
            Err(SinkError::Permanent { .. })
        ));
    }
}
