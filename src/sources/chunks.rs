//! Batch input cut into chunks of whole lines, for decoding on several threads.
//!
//! Owns: reading a file or stdin into `bytes::Bytes` chunks that end at line
//! boundaries. The read buffer is one `BytesMut`; a chunk is split off its front and
//! frozen, so the bytes read are handed to a decode worker without a copy, and the
//! worker's line slices point into them.
//!
//! Invariant: the lines a [`Chunks`] yields are exactly those [`super::file::BoundedLines`]
//! yields with the same cap: every line ends with `\n` in the chunk (one is added after a
//! last line that had none), an overlong line keeps its first `cap` bytes and its tail is
//! discarded, so memory per reader stays bounded by `cap` plus the chunk size.

use std::io::{self, Read};
use std::sync::mpsc;

use bytes::{Bytes, BytesMut};

/// Bytes read from the input at a time.
const READ_BYTES: usize = 64 * 1024;

/// Whole lines of an input, each ending with `\n`.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub data: Bytes,
    /// Lines of the input before this chunk.
    pub lines_before: u64,
    /// Lines in this chunk.
    pub lines: u64,
}

impl Chunk {
    /// The chunk's lines without their `\n`.
    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let mut rest: &[u8] = &self.data;
        std::iter::from_fn(move || {
            let i = memchr::memchr(b'\n', rest)?;
            let (line, tail) = rest.split_at(i);
            rest = &tail[1..];
            Some(line)
        })
    }
}

/// Reads an input into [`Chunk`]s of about `target` bytes.
pub struct Chunks<R> {
    inner: R,
    buf: BytesMut,
    target: usize,
    cap: usize,
    /// Start of the line being read in `buf`.
    line_start: usize,
    /// Complete lines in `buf`.
    complete: u64,
    lines_before: u64,
    /// Discarding the tail of an overlong line up to its newline.
    skipping: bool,
    eof: bool,
}

impl<R: Read> Chunks<R> {
    /// Chunks of about `target` bytes (at least one line each), lines cut to `cap` bytes.
    pub fn new(inner: R, target: usize, cap: usize) -> Self {
        Chunks {
            inner,
            buf: BytesMut::with_capacity(target.min(1 << 20) + READ_BYTES),
            target: target.max(1),
            cap: cap.max(1),
            line_start: 0,
            complete: 0,
            lines_before: 0,
            skipping: false,
            eof: false,
        }
    }

    /// The next chunk, or `None` at the end of the input.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        while !self.eof && (self.buf.len() < self.target || self.complete == 0) {
            // Read straight into the buffer's tail: the bytes are copied once, from
            // the kernel, and the chunk handed on is a slice of the same allocation.
            let old = self.buf.len();
            self.buf.resize(old + READ_BYTES, 0);
            let n = match self.inner.read(&mut self.buf[old..]) {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(old);
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(e);
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                self.eof = true;
                // A last line without a newline is still a line.
                if self.buf.len() > self.line_start || self.skipping {
                    self.buf.extend_from_slice(b"\n");
                    self.line_start = self.buf.len();
                    self.complete += 1;
                    self.skipping = false;
                }
                break;
            }
            if !self.take_in_place(old) {
                // An overlong line (or the tail of one) among them: cut it in a copy.
                let data = self.buf.split_off(old);
                self.absorb(&data);
            }
        }
        if self.complete == 0 {
            return Ok(None);
        }
        // At the last line end within `target` (or the first after it, for a long line).
        let cut = if self.line_start <= self.target {
            self.line_start
        } else {
            match memchr::memrchr(b'\n', &self.buf[..self.target]) {
                Some(i) => i + 1,
                None => memchr::memchr(b'\n', &self.buf[self.target..])
                    .map_or(self.line_start, |i| self.target + i + 1),
            }
        };
        let lines = if cut == self.line_start {
            self.complete
        } else {
            memchr::memchr_iter(b'\n', &self.buf[..cut]).count() as u64
        };
        let data = self.buf.split_to(cut).freeze();
        self.line_start -= cut;
        self.complete -= lines;
        let chunk = Chunk {
            data,
            lines_before: self.lines_before,
            lines,
        };
        self.lines_before += lines;
        Ok(Some(chunk))
    }

    /// Counts the lines of the bytes just read into `buf[from..]` when every one fits
    /// `cap` (nothing to cut); false, and nothing counted, when one does not.
    fn take_in_place(&mut self, from: usize) -> bool {
        if self.skipping {
            return false;
        }
        let data = &self.buf[from..];
        let mut cur = from - self.line_start;
        let mut last_nl = None;
        let mut lines = 0;
        for i in memchr::memchr_iter(b'\n', data) {
            if cur + i - last_nl.map_or(0, |l| l + 1) > self.cap {
                return false;
            }
            cur = 0;
            last_nl = Some(i);
            lines += 1;
        }
        let tail = data.len() - last_nl.map_or(0, |l| l + 1);
        if cur + tail > self.cap {
            return false;
        }
        if let Some(l) = last_nl {
            self.line_start = from + l + 1;
        }
        self.complete += lines;
        true
    }

    /// Appends read bytes, cutting overlong lines to `cap`.
    fn absorb(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.skipping {
                let Some(i) = memchr::memchr(b'\n', data) else {
                    return;
                };
                self.skipping = false;
                self.buf.extend_from_slice(b"\n");
                self.line_start = self.buf.len();
                self.complete += 1;
                data = &data[i + 1..];
                continue;
            }
            // Fast path: every line in `data` fits, so it is appended whole.
            let mut cur = self.buf.len() - self.line_start;
            let mut last_nl = None;
            let mut lines = 0;
            let mut fits = true;
            for i in memchr::memchr_iter(b'\n', data) {
                let len = cur + i - last_nl.map_or(0, |l| l + 1);
                if len > self.cap {
                    fits = false;
                    break;
                }
                cur = 0;
                last_nl = Some(i);
                lines += 1;
            }
            let tail = data.len() - last_nl.map_or(0, |l| l + 1);
            if fits && cur + tail <= self.cap {
                self.buf.extend_from_slice(data);
                if let Some(l) = last_nl {
                    self.line_start = self.buf.len() - (data.len() - l - 1);
                }
                self.complete += lines;
                return;
            }
            // Slow path, one line at a time: the first line that does not fit.
            let room = self.cap - (self.buf.len() - self.line_start);
            match memchr::memchr(b'\n', data) {
                Some(i) if i <= room => {
                    self.buf.extend_from_slice(&data[..=i]);
                    self.line_start = self.buf.len();
                    self.complete += 1;
                    data = &data[i + 1..];
                }
                Some(_) | None if data.len() <= room => {
                    self.buf.extend_from_slice(data);
                    return;
                }
                _ => {
                    self.buf.extend_from_slice(&data[..room]);
                    self.skipping = true;
                    data = &data[room..];
                }
            }
        }
    }
}

/// Where a reader takes its chunks: read here, on the caller's thread, or read ahead
/// on a thread of its own ([`read_ahead`]).
pub enum ChunkFeed<R> {
    Here(Chunks<R>),
    Ahead(mpsc::Receiver<io::Result<Chunk>>),
}

impl<R: Read> ChunkFeed<R> {
    /// The next chunk, or `None` at the end of the input.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        match self {
            ChunkFeed::Here(c) => c.next_chunk(),
            ChunkFeed::Ahead(rx) => match rx.recv() {
                Ok(Ok(c)) => Ok(Some(c)),
                Ok(Err(e)) => Err(e),
                // The reader ended after its last chunk (or its error).
                Err(_) => Ok(None),
            },
        }
    }
}

/// Reads `chunks` on a thread of `scope`, up to `depth` chunks ahead of the consumer.
/// The reader ends at the end of the input, at a read error (handed on in order), or
/// once the consumer dropped its feed.
pub fn read_ahead<'scope, R: Read + Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    mut chunks: Chunks<R>,
    depth: usize,
) -> io::Result<ChunkFeed<R>> {
    let (tx, rx) = mpsc::sync_channel(depth.max(1));
    std::thread::Builder::new()
        .name("read".into())
        .spawn_scoped(scope, move || loop {
            let next = chunks.next_chunk();
            let last = !matches!(next, Ok(Some(_)));
            let item = match next {
                Ok(Some(c)) => Ok(c),
                Ok(None) => return,
                Err(e) => Err(e),
            };
            if tx.send(item).is_err() || last {
                return;
            }
        })?;
    Ok(ChunkFeed::Ahead(rx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::file::BoundedLines;
    use proptest::prelude::*;

    /// Lines as `BoundedLines` reads them.
    fn bounded(data: &[u8], cap: usize) -> Vec<Vec<u8>> {
        let mut r = BoundedLines::new(data, cap);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l.bytes.to_vec());
        }
        out
    }

    /// Lines as `Chunks` reads them, checking the numbering of each chunk; reads in
    /// pieces of `read` bytes.
    fn chunked(data: &[u8], target: usize, cap: usize, read: usize) -> Vec<Vec<u8>> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut c = Chunks::new(Trickle(data, read), target, cap);
        let mut out = Vec::new();
        while let Some(ch) = c.next_chunk().unwrap() {
            assert_eq!(ch.lines_before, out.len() as u64);
            assert_eq!(ch.lines().count() as u64, ch.lines);
            assert!(ch.lines > 0 && ch.data.ends_with(b"\n"));
            assert!(
                ch.lines == 1 || ch.data.len() <= target,
                "chunk over target"
            );
            out.extend(ch.lines().map(<[u8]>::to_vec));
        }
        out
    }

    #[test]
    fn lines_match_bounded_lines() {
        let data = b"one\ntwo-long-line\n\nlast";
        assert_eq!(chunked(data, 4, 5, 3), bounded(data, 5));
        assert_eq!(chunked(data, 4, 5, 3)[1], b"two-l");
        assert_eq!(chunked(b"", 4, 5, 3), Vec::<Vec<u8>>::new());
        assert_eq!(chunked(b"\n", 4, 5, 3), vec![Vec::<u8>::new()]);
    }

    proptest! {
        #[test]
        fn any_input_gives_the_lines_bounded_lines_gives(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), Just(b'\r')], 0..300),
            target in 1usize..40,
            cap in 1usize..20,
            read in 1usize..50,
        ) {
            prop_assert_eq!(chunked(&data, target, cap, read), bounded(&data, cap));
        }
    }
}
