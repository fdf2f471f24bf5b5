//! Classification: every record gets exactly one class of taxonomy.md §1.

pub mod redact;

use crate::record::Record;

/// The rule table, compiled.
#[derive(Debug, Default)]
pub struct Classifier {}

impl Classifier {
    /// The built-in rules from `patterns/classes.yaml`.
    pub fn builtin() -> Self {
        Classifier {}
    }

    /// Sets `rec.class` and `rec.severity`.
    pub fn classify(&self, _rec: &mut Record) {}
}
