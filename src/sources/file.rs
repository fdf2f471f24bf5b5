//! Line reading from files and stdin with a hard cap on line length.
//!
//! Invariant: memory per reader is bounded by the cap, whatever the input; an overlong
//! line keeps its first `cap` bytes (marked truncated) and its tail is discarded.

use std::io::{self, BufRead};

/// Reads `\n`-terminated lines, keeping at most `cap` bytes of each.
pub struct BoundedLines<R> {
    inner: R,
    cap: usize,
    buf: Vec<u8>,
    line_no: u64,
}

/// One line as read.
pub struct Line<'a> {
    /// 1-based line number.
    pub number: u64,
    pub bytes: &'a [u8],
    /// True when the line was longer than the cap.
    pub truncated: bool,
}

impl<R: BufRead> BoundedLines<R> {
    pub fn new(inner: R, cap: usize) -> Self {
        BoundedLines {
            inner,
            cap,
            buf: Vec::new(),
            line_no: 0,
        }
    }

    /// The next line, or `None` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let mut truncated = false;
        let mut saw_any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            saw_any = true;
            let (take, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = self.cap.saturating_sub(self.buf.len());
            let keep = take.min(room);
            self.buf.extend_from_slice(&chunk[..keep]);
            if keep < take && !(done && keep + 1 == take) {
                truncated = true;
            }
            self.inner.consume(take);
            if done {
                break;
            }
        }
        if !saw_any {
            return Ok(None);
        }
        self.line_no += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        }
        Ok(Some(Line {
            number: self.line_no,
            bytes: &self.buf,
            truncated,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_caps() {
        let data = b"one\ntwo-long-line\n\nlast";
        let mut r = BoundedLines::new(&data[..], 5);
        let mut got = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            got.push((l.number, l.bytes.to_vec(), l.truncated));
        }
        assert_eq!(
            got,
            vec![
                (1, b"one".to_vec(), false),
                (2, b"two-l".to_vec(), true),
                (3, b"".to_vec(), false),
                (4, b"last".to_vec(), false),
            ]
        );
    }
}
