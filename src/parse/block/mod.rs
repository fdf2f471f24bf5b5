//! Multi-line input: documents, tables and blocks that people paste or export, assembled
//! across lines and read through the same record builders as their one-line forms.
//!
//! Owns: the [`Block`] protocol (a block takes lines until it ends, then yields its
//! records), block detection, the command-line context (`$ kubectl get hr -A` names the
//! kind of the table below it) and the line bookkeeping that lets `classify` keep one
//! row per input line: a record that belongs to an earlier line says so
//! (`Record::at_line`), and a line that only continues a record gets a `continuation`
//! record pointing at the line that carries it (`Record::carrier_line`).
//! Does not own: what a document means (`k8s`), message facts (`message`).
//!
//! Forms: `doc` (YAML documents and pretty-printed JSON), `table` (`kubectl get` /
//! `flux get` tables, `kubectl get events` / `flux events`), `describe`
//! (`kubectl describe` blocks).
//!
//! Invariants: a block never holds more than [`MAX_BLOCK_BYTES`] or [`MAX_BLOCK_LINES`];
//! past either it ends and yields what it has. Every line a block takes yields exactly
//! one record for that line (its own or a continuation), so no line is lost.

pub mod command;
pub mod describe;
pub mod doc;
pub mod table;

use crate::record::{Format, Record};

pub use command::Command;

/// Largest document or block assembled; larger ones end there and are read as far as
/// they go (the same bound as one structured line).
pub const MAX_BLOCK_BYTES: usize = super::MAX_LINE_BYTES;
/// Most lines one block takes.
pub const MAX_BLOCK_LINES: u64 = 50_000;

/// What a block did with the line it was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The line is part of the block. `carrier`: the line whose record this line
    /// continues, or `None` when the block pushed a record for this line itself.
    /// `done`: the line completed the block, which has pushed all its records.
    Took { carrier: Option<u64>, done: bool },
    /// The block ended before this line; the line was not consumed and is offered
    /// to the other forms. Records of the block were pushed.
    Ended,
}

/// What the decoder knows about the input around a block.
#[derive(Debug, Default, Clone)]
pub struct Context {
    /// The last command line seen (`$ kubectl get hr -A`, `flux get all`).
    pub command: Option<Command>,
}

/// A multi-line form being assembled.
pub trait Block: std::fmt::Debug + Send {
    /// Offers line `no` (envelope removed, trailing newline removed, indentation kept).
    /// Records pushed to `out` carry `at_line` when they belong to an earlier line.
    fn feed(&mut self, line: &str, no: u64, ctx: &Context, out: &mut Vec<Record>) -> Step;
    /// The input ended (or the block grew too large): push what the block holds.
    fn finish(&mut self, ctx: &Context, out: &mut Vec<Record>);
    /// First line whose record the block has not pushed yet (rows from there on are
    /// held by callers that print in line order).
    fn held_from(&self) -> Option<u64>;
}

/// Starts a block at `line` when one of the multi-line forms begins there.
pub fn start(line: &str, no: u64, ctx: &Context) -> Option<Box<dyn Block>> {
    // JSON lines (most controller output) can only open a JSON document.
    if line.trim_start().starts_with('{') {
        return doc::start(line, no, ctx);
    }
    doc::start(line, no, ctx)
        .or_else(|| describe::start(line, no, ctx))
        .or_else(|| table::start(line, no, ctx))
}

/// The placeholder record of a line that continues the record at line `carrier`.
pub fn continuation(carrier: u64) -> Record {
    Record {
        format: Format::Continuation,
        carrier_line: Some(carrier),
        ..Default::default()
    }
}

/// Sets `at_line` on records that belong to line `no`, unless that is the current line.
pub fn attribute(recs: &mut [Record], no: u64, current: u64) {
    if no != current {
        for r in recs {
            r.at_line.get_or_insert(no);
        }
    }
}

/// Indentation width in characters (tabs count as one).
pub fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

#[cfg(test)]
mod tests;
