//! `type: webhook` sink (being implemented).

use super::config::WebhookConfig;
use super::Sink;

/// Builds the sink (build step: reads secrets, prepares clients).
pub fn build(cfg: &WebhookConfig) -> Result<Box<dyn Sink>, String> {
    Err(format!(
        "sink '{}': type webhook is not available in this build yet",
        cfg.name
    ))
}
