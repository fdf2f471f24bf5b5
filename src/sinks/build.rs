//! The build step of sinks: validated config → running sink (reads secrets, opens
//! files, creates clients). The only I/O of configuration.

use std::path::Path;

use super::config::SinkConfig;
use super::{alertmanager, file, gchat, kafka, slack, stdout, teams, webhook, Sink};

/// Builds one sink. Errors name the sink and what is wrong.
pub fn build(cfg: &SinkConfig) -> Result<Box<dyn Sink>, String> {
    match cfg {
        SinkConfig::Stdout(c) => Ok(Box::new(stdout::StdoutSink::new(c))),
        SinkConfig::File(c) => Ok(Box::new(file::FileSink::new(c))),
        SinkConfig::Webhook(c) => webhook::build(c),
        SinkConfig::Slack(c) => slack::build(c),
        SinkConfig::Teams(c) => teams::build(c),
        SinkConfig::GoogleChat(c) => gchat::build(c),
        SinkConfig::Alertmanager(c) => alertmanager::build(c),
        SinkConfig::Kafka(c) => kafka::build(c),
    }
}

/// Builds one sink whose own delivery state (chat threads) lives under `state_dir`
/// (`delivery.state_dir`; `None` keeps it in memory).
pub fn build_with_state(
    cfg: &SinkConfig,
    state_dir: Option<&Path>,
) -> Result<Box<dyn Sink>, String> {
    match cfg {
        SinkConfig::Slack(c) => slack::build_with_state(c, state_dir),
        SinkConfig::Teams(c) => teams::build_with_state(c, state_dir),
        SinkConfig::GoogleChat(c) => gchat::build_with_state(c, state_dir),
        other => build(other),
    }
}
