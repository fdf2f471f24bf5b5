//! `type: stdout`: the section and its validation (nothing beyond the shared fields).

use serde::Deserialize;

use crate::sinks::config::BodyFormat;

/// `type: stdout`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutConfig {
    pub name: String,
    /// Body format (default `native`; `text` for people).
    #[serde(default)]
    pub format: BodyFormat,
}
