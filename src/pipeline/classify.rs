//! `fluxsight classify`: parse and classify every line, one JSON row per record.

use std::collections::VecDeque;
use std::io::{self, BufRead, Write};

use crate::classify::Classifier;
use crate::parse::{LineDecoder, MAX_LINE_BYTES};
use crate::record::{Format, Record};
use crate::render::row::{render_row_into, RowScratch};
use crate::sources::file::BoundedLines;

/// Sources name it too, so it lives in `parse` (below them); re-exported for callers of
/// this path.
pub use crate::parse::controller_hint_from_path;

/// Classifies every line of `input`, writing rows to `out`. Returns lines read.
///
/// Rows come out in line order, one per line (several for a List). The lines of a
/// multi-line form are held until the form is complete, so the line that carries its
/// record gets that record instead of its placeholder.
pub fn classify_reader<R: BufRead, W: Write>(
    file: &str,
    input: R,
    classifier: &Classifier,
    out: &mut W,
) -> io::Result<u64> {
    let mut lines = BoundedLines::new(input, MAX_LINE_BYTES + 1);
    let mut decoder = LineDecoder::new(controller_hint_from_path(file));
    let mut rows = RowWriter {
        file,
        held: VecDeque::new(),
        row: Vec::with_capacity(1024),
        scratch: RowScratch::default(),
    };
    let mut n = 0;
    while let Some(line) = lines.next_line()? {
        n += 1;
        let recs = decoder.decode(line.bytes);
        rows.place(line.number, recs, classifier);
        rows.flush_before(decoder.held_from(), out)?;
    }
    rows.place(n, decoder.finish(), classifier);
    rows.flush_before(None, out)?;
    Ok(n)
}

/// Rows waiting for the multi-line form that holds their line to complete.
struct RowWriter<'a> {
    file: &'a str,
    /// (line number, its records), in line order.
    held: VecDeque<(u64, Vec<Record>)>,
    row: Vec<u8>,
    scratch: RowScratch,
}

impl RowWriter<'_> {
    /// Files the records decoded at line `number`: each under the line it belongs to.
    /// A form's record replaces the continuation placeholder of its carrier line.
    fn place(&mut self, number: u64, recs: Vec<Record>, classifier: &Classifier) {
        for mut rec in recs {
            classifier.classify(&mut rec);
            let at = rec.at_line.unwrap_or(number);
            let slot = match self.held.iter().position(|(l, _)| *l == at) {
                Some(i) => &mut self.held[i].1,
                None => {
                    // Lines arrive in order; a line not held yet is the current one (or
                    // one already printed, when a form outlived the hold: keep it here).
                    let i = self.held.partition_point(|(l, _)| *l < at);
                    self.held.insert(i, (at, Vec::new()));
                    &mut self.held[i].1
                }
            };
            if rec.format != Format::Continuation {
                slot.retain(|r| r.format != Format::Continuation);
            }
            slot.push(rec);
        }
    }

    /// Writes the rows of lines before `held_from` (all of them when `None`).
    fn flush_before<W: Write>(&mut self, held_from: Option<u64>, out: &mut W) -> io::Result<()> {
        while let Some((line, _)) = self.held.front() {
            if held_from.is_some_and(|h| *line >= h) {
                break;
            }
            let Some((line, recs)) = self.held.pop_front() else {
                break;
            };
            for rec in &recs {
                self.row.clear();
                render_row_into(&mut self.row, &mut self.scratch, self.file, line, rec);
                self.row.push(b'\n');
                out.write_all(&self.row)?;
            }
        }
        Ok(())
    }
}
