//! TODO: klog parser.

use super::{ParseContext, ParseError};
use crate::record::Record;

/// Parses one envelope-free line; `NotThisFormat` when it is not this form.
pub fn parse(_line: &str, _ctx: &ParseContext) -> Result<Record, ParseError> {
    Err(ParseError::NotThisFormat)
}
