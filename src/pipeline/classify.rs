//! `fluxsight classify`: parse and classify every line, one JSON row per record.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use crate::classify::Classifier;
use crate::parse::{LineDecoder, MAX_LINE_BYTES};
use crate::pipeline::parallel::{with_pool, ChunkWork, DecodeState, OrderedDecode};
use crate::record::{Format, Record};
use crate::render::row::{render_row_into, RowScratch};
use crate::sources::chunks::{Chunk, Chunks};

/// Sources name it too, so it lives in `parse` (below them); re-exported for callers of
/// this path.
pub use crate::parse::controller_hint_from_path;

/// Classifies every line of `input`, writing rows to `out`, on this thread. Returns
/// lines read.
///
/// Rows come out in line order, one per line (several for a List). The lines of a
/// multi-line form are held until the form is complete, so the line that carries its
/// record gets that record instead of its placeholder.
pub fn classify_reader<R: Read, W: Write>(
    file: &str,
    input: R,
    classifier: &Classifier,
    out: &mut W,
) -> io::Result<u64> {
    classify_chunked(file, input, classifier, out, 0, CHUNK_BYTES)
}

/// [`classify_reader`] decoding on `threads` worker threads, the input cut into chunks
/// of about `chunk_bytes`; the rows are the same for any number of threads.
pub fn classify_chunked<R: Read, W: Write>(
    file: &str,
    input: R,
    classifier: &Classifier,
    out: &mut W,
    threads: usize,
    chunk_bytes: usize,
) -> io::Result<u64> {
    let work = ClassifyWork { file };
    with_pool(threads, |pool| {
        let mut chunks = Chunks::new(input, chunk_bytes, MAX_LINE_BYTES + 1);
        let mut decode =
            OrderedDecode::new(pool, &work, classifier, controller_hint_from_path(file));
        let mut read_all = false;
        let mut n = 0;
        loop {
            if !read_all && (decode.wants() || decode.idle()) {
                match chunks.next_chunk()? {
                    Some(chunk) => {
                        if let Some((rows, lines)) = decode.push(chunk) {
                            out.write_all(&rows)?;
                            n += lines;
                        }
                        continue;
                    }
                    None => read_all = true,
                }
            }
            match decode.take() {
                Some((rows, lines)) => {
                    out.write_all(&rows)?;
                    n += lines;
                }
                None => break,
            }
        }
        let state = decode.state();
        let recs = state.decoder.finish();
        let mut tail = Vec::new();
        state.rows.place(n, recs, classifier);
        state.rows.flush_before(None, file, &mut tail);
        out.write_all(&tail)?;
        Ok(n)
    })
}

/// Bytes of input per chunk handed to a decode thread.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Decodes, classifies and renders a chunk's rows.
struct ClassifyWork<'a> {
    file: &'a str,
}

/// The decoder and the rows it holds for a form still open.
struct ClassifyState {
    decoder: LineDecoder,
    rows: RowWriter,
}

impl DecodeState for ClassifyState {
    fn fresh(hint: Option<String>, lines_before: u64) -> Self {
        ClassifyState {
            decoder: LineDecoder::starting_after(hint, lines_before),
            rows: RowWriter::default(),
        }
    }
    fn decoder(&self) -> &LineDecoder {
        &self.decoder
    }
    fn decoder_mut(&mut self) -> &mut LineDecoder {
        &mut self.decoder
    }
}

impl ChunkWork for ClassifyWork<'_> {
    type Out = Vec<u8>;
    type State = ClassifyState;

    fn run(&self, state: &mut ClassifyState, chunk: &Chunk, classifier: &Classifier) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.data.len() * 2);
        for (i, line) in chunk.lines().enumerate() {
            let recs = state.decoder.decode(line);
            state
                .rows
                .place(chunk.lines_before + i as u64 + 1, recs, classifier);
            state
                .rows
                .flush_before(state.decoder.held_from(), self.file, &mut out);
        }
        out
    }
}

/// Rows waiting for the multi-line form that holds their line to complete.
#[derive(Default)]
struct RowWriter {
    /// (line number, its records), in line order.
    held: VecDeque<(u64, Vec<Record>)>,
    scratch: RowScratch,
}

impl RowWriter {
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
    fn flush_before(&mut self, held_from: Option<u64>, file: &str, out: &mut Vec<u8>) {
        while let Some((line, _)) = self.held.front() {
            if held_from.is_some_and(|h| *line >= h) {
                break;
            }
            let Some((line, recs)) = self.held.pop_front() else {
                break;
            };
            for rec in &recs {
                render_row_into(out, &mut self.scratch, file, line, rec);
                out.push(b'\n');
            }
        }
    }
}
