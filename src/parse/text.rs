//! Bare text: an error message pasted alone, a table row, anything unrecognised.

use super::ParseContext;
use crate::record::{Format, Record};

/// Always succeeds: the line becomes the message of a `text` record.
pub fn parse(line: &str, _ctx: &ParseContext) -> Record {
    Record {
        format: Format::Text,
        msg: line.to_string(),
        ..Default::default()
    }
}
