//! zap JSON log lines of the Flux controllers, every layout since 2020.

use serde_json::{Map, Value};

use super::{ParseContext, ParseError};
use crate::record::Record;

/// Builds a record from a parsed zap JSON object; `NotThisFormat` when it is not a log line.
pub fn from_json(_obj: &Map<String, Value>, _ctx: &ParseContext) -> Result<Record, ParseError> {
    Err(ParseError::NotThisFormat)
}
