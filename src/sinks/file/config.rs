//! `type: file`: the section and its validation.

use serde::Deserialize;

use crate::sinks::config::{BodyFormat, Ctx};

/// `type: file`: JSON lines with size-based rotation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub name: String,
    /// Output path; rotated files get `.1`, `.2`, … suffixes.
    pub path: String,
    /// Body format (default `native`; not `text`).
    #[serde(default)]
    pub format: BodyFormat,
    /// Rotate when the file exceeds this many bytes (default 100 MiB).
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Rotated files kept (default 5).
    #[serde(default)]
    pub max_files: Option<u32>,
}

impl FileConfig {
    /// Validates the section of the sink at `base` (`sinks[2]`).
    pub fn check(&self, cx: &mut Ctx<'_>, base: &str) {
        if self.path.is_empty() {
            cx.err(&format!("{base}.path"), "must not be empty");
        }
        cx.machine_format(base, self.format);
    }
}
