//! `type: slack` sink (being implemented).

use super::config::SlackConfig;
use super::Sink;

/// Builds the sink (build step: reads secrets, prepares clients).
pub fn build(cfg: &SlackConfig) -> Result<Box<dyn Sink>, String> {
    Err(format!(
        "sink '{}': type slack is not available in this build yet",
        cfg.name
    ))
}
