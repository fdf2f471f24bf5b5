//! Facts inside message text and names: durations, revisions, object references,
//! controller names.

use crate::record::Record;

/// Fills typed fields a parser left empty from the message text.
pub fn enrich(_rec: &mut Record) {}

/// `source-controller-7d9f8c6b5-x2x7k` → `source-controller`.
pub fn controller_from_pod(_pod: &str) -> Option<&'static str> {
    None
}

/// The first Flux controller name found in `s` (file names, logger names).
pub fn controller_in_text(_s: &str) -> Option<&'static str> {
    None
}
