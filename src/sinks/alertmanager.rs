//! `type: alertmanager` sink (being implemented).

use super::config::AlertmanagerConfig;
use super::Sink;

/// Builds the sink (build step: reads secrets, prepares clients).
pub fn build(cfg: &AlertmanagerConfig) -> Result<Box<dyn Sink>, String> {
    Err(format!(
        "sink '{}': type alertmanager is not available in this build yet",
        cfg.name
    ))
}
