//! `type: kafka` sink (being implemented).

use super::config::KafkaConfig;
use super::Sink;

/// Builds the sink (build step: reads secrets, prepares clients).
pub fn build(cfg: &KafkaConfig) -> Result<Box<dyn Sink>, String> {
    Err(format!(
        "sink '{}': type kafka is not available in this build yet",
        cfg.name
    ))
}
