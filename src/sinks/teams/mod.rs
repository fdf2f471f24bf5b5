//! `type: teams`: Microsoft Teams messages through a Workflows webhook (Power Automate
//! "When a Teams webhook request is received"), one Adaptive Card per notified update
//! (`render::teams`), coalesced by the shared webhook chat loop (`chat_webhook`).
//!
//! Errors: 429 is retryable after `Retry-After`; 5xx retryable; other 4xx permanent and
//! dead-lettered with the start of the response body (`http::check_response`). A
//! Workflows webhook answers 202 when it accepted the request, which is success.
//!
//! Invariant: the webhook URL is a secret (its query carries the flow's signature): read
//! once at build from `{env}`/`{file}`, never logged, never part of an error.

pub mod config;

use std::path::Path;

use crate::render::teams::message;
use crate::sinks::chat_webhook::{self, WebhookChat};
use crate::sinks::config::TeamsConfig;
use crate::sinks::Sink;

/// The sink with its chat state under `state_dir` (`None`: in memory).
pub fn sink(cfg: &TeamsConfig, state_dir: Option<&Path>) -> Result<WebhookChat, String> {
    chat_webhook::from_config("teams", cfg, message, |u| u, state_dir)
}

/// Builds the sink with its chat state in memory.
pub fn build(cfg: &TeamsConfig) -> Result<Box<dyn Sink>, String> {
    build_with_state(cfg, None)
}

/// Builds the sink with its chat state under `state_dir`.
pub fn build_with_state(
    cfg: &TeamsConfig,
    state_dir: Option<&Path>,
) -> Result<Box<dyn Sink>, String> {
    Ok(Box::new(sink(cfg, state_dir)?))
}
