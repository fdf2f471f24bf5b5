//! `fluxsight classify`: parse and classify every line, one JSON row per record.

use std::io::{self, BufRead, Write};

use crate::classify::Classifier;
use crate::parse::{message, LineDecoder, MAX_LINE_BYTES};
use crate::render::row::{render_row_into, RowScratch};
use crate::sources::file::BoundedLines;

/// Controller hint from a file name such as `source-controller.log` or
/// `kustomize-controller-6c9b8d7f5-abcde.log`.
pub fn controller_hint_from_path(path: &str) -> Option<String> {
    let base = path.rsplit('/').next().unwrap_or(path);
    message::controller_in_text(base).map(str::to_string)
}

/// Classifies every line of `input`, writing rows to `out`. Returns lines read.
pub fn classify_reader<R: BufRead, W: Write>(
    file: &str,
    input: R,
    classifier: &Classifier,
    out: &mut W,
) -> io::Result<u64> {
    let mut lines = BoundedLines::new(input, MAX_LINE_BYTES + 1);
    let mut decoder = LineDecoder::new(controller_hint_from_path(file));
    let mut n = 0;
    let mut row = Vec::with_capacity(1024);
    let mut scratch = RowScratch::default();
    while let Some(line) = lines.next_line()? {
        n += 1;
        let number = line.number;
        for mut rec in decoder.decode(line.bytes) {
            classifier.classify(&mut rec);
            row.clear();
            render_row_into(&mut row, &mut scratch, file, number, &rec);
            row.push(b'\n');
            out.write_all(&row)?;
        }
    }
    Ok(n)
}
