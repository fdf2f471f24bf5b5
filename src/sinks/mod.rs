//! Sinks: where findings and audit records go (stdout, file, webhook, Slack, Microsoft
//! Teams, Google Chat, Alertmanager, Kafka), with one shared delivery machinery.
//!
//! Owns: the [`Sink`] seam and [`SinkError`]. Each kind is a folder, `<kind>/mod.rs`
//! (the sink) and `<kind>/config.rs` (its raw section and the validation of its own
//! fields); [`config`] keeps the shared parts (the sink list and the dispatch to each
//! kind's check, names, secrets, routes, `delivery:`). The machinery every kind shares
//! is in [`delivery`] (worker, spool, retry, router, stats, bodies, the HTTP section
//! [`endpoint::HttpEndpoint`] and client, chat state, secrets, SSRF guard, lock),
//! re-exported here at the paths its users have always named (`sinks::spool`, …).
//!
//! Invariant: at least once. A delivery is appended to the sink's spool before the sink
//! sees it and acknowledged only after the sink accepted it (or after it was dead-lettered
//! as permanently rejected), so neither a receiver outage nor a crash of fluxsight loses
//! it. Duplicates are possible after a crash; every delivery carries stable ids
//! (finding id + status + last_seen) so receivers can de-duplicate.

pub mod alertmanager;
pub mod build;
pub mod config;
pub mod delivery;
pub mod file;
pub mod gchat;
pub mod kafka;
pub mod slack;
pub mod stdout;
pub mod teams;
pub mod webhook;

/// The shared machinery at the paths its users have always named (`sinks::spool`, …).
pub use delivery::{
    atomic, body, chat, chat_webhook, endpoint, http, lock, retry, router, secret, spool, ssrf,
    stats, worker,
};

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The delivery units and the digest live below `render` (see `crate::delivery`); these
/// re-exports keep the paths sinks and their users have always named.
pub use crate::delivery::{digest, Delivery, Group};

/// A boxed, sendable future (keeps [`Sink`] object-safe without extra crates).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a send failed, and whether trying again makes sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SinkError {
    /// 429, 5xx, timeouts, connection and broker transport errors.
    #[error("{message}")]
    Retryable {
        message: String,
        /// Server-requested delay (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The receiver rejected the payload (other 4xx, invalid config): retrying cannot help.
    #[error("{message}")]
    Permanent { message: String },
}

impl SinkError {
    pub fn retryable(message: impl Into<String>) -> Self {
        SinkError::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        SinkError::Permanent {
            message: message.into(),
        }
    }

    /// Classifies an HTTP status: 408/425/429/5xx retryable, other 4xx permanent.
    pub fn from_http_status(status: u16, body: &str, retry_after: Option<Duration>) -> Self {
        let message = format!(
            "http {status}: {}",
            body.chars().take(300).collect::<String>()
        );
        if status == 408 || status == 425 || status == 429 || status >= 500 {
            SinkError::Retryable {
                message,
                retry_after,
            }
        } else {
            SinkError::Permanent { message }
        }
    }
}

/// A destination. The worker calls `send` with batches of at most `max_batch()`
/// deliveries, in spool order; a batch is acknowledged only when `send` returns `Ok`.
pub trait Sink: Send {
    /// Delivers a batch. Partial delivery must be reported as an error (the whole batch is
    /// retried: at least once).
    fn send<'a>(&'a mut self, batch: &'a [Delivery]) -> BoxFut<'a, Result<(), SinkError>>;

    /// Flushes buffered output (Kafka: waits for every in-flight message).
    fn flush(&mut self) -> BoxFut<'_, Result<(), SinkError>> {
        Box::pin(async { Ok(()) })
    }

    /// Largest batch `send` accepts.
    fn max_batch(&self) -> usize {
        1
    }

    /// Minimum time between two `send` calls (Slack: 1 message per second per webhook).
    fn min_interval(&self) -> Option<Duration> {
        None
    }

    /// Periodic work independent of new deliveries (Alertmanager: re-post firing alerts
    /// before its resolve timeout). Called every `tick_interval()`.
    fn tick(&mut self) -> BoxFut<'_, Result<(), SinkError>> {
        Box::pin(async { Ok(()) })
    }

    fn tick_interval(&self) -> Option<Duration> {
        None
    }
}
