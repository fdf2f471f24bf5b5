//! Kubernetes objects: Events, watch events, Pods, Flux objects, Lists, Flux event payloads.

use serde_json::{Map, Value};

use super::{ParseContext, ParseError};
use crate::record::Record;

/// True when the JSON object is a Kubernetes document or a Flux event payload rather
/// than a log line.
pub fn looks_like(obj: &Map<String, Value>) -> bool {
    (obj.contains_key("kind") && obj.contains_key("apiVersion"))
        || obj.contains_key("involvedObject")
        || (obj.contains_key("type") && obj.contains_key("object"))
}

/// Builds the record(s) of one document (several for a `List`).
pub fn from_json(_obj: &Map<String, Value>, _ctx: &ParseContext) -> Result<Vec<Record>, ParseError> {
    Err(ParseError::NotThisFormat)
}
