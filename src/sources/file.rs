//! Input files as every command opens them, and line reading from files and stdin with a
//! hard cap on line length.
//!
//! [`open_input`] is the one check of a named input (`classify`, `replay`, `run --input`,
//! `record --input`): a missing, unreadable or directory path is an [`InputError`] that
//! names it, which the commands report as a usage error (exit 2) before reading anything.
//!
//! Invariant: memory per reader is bounded by the cap, whatever the input; an overlong
//! line keeps its first `cap` bytes (marked truncated) and its tail is discarded.

use std::fs::File;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};

/// Why a named input cannot be read; the text names the path.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: no such file", path.display())]
    Missing { path: PathBuf },
    /// `File::open` succeeds on a directory on Linux and only the first read fails
    /// (EISDIR), which would report neither the path nor the mistake.
    #[error("{}: is a directory; name the log files in it", path.display())]
    Directory { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
}

impl InputError {
    /// A path that may still appear (`run --wait-for-input` waits for it); a directory
    /// never becomes a log file.
    pub fn may_appear(&self) -> bool {
        !matches!(self, InputError::Directory { .. })
    }
}

/// Opens a named input file for reading, refusing directories.
pub fn open_input(path: &Path) -> Result<File, InputError> {
    let unreadable = |source: io::Error| match source.kind() {
        io::ErrorKind::NotFound => InputError::Missing {
            path: path.to_path_buf(),
        },
        _ => InputError::Unreadable {
            path: path.to_path_buf(),
            source,
        },
    };
    let file = File::open(path).map_err(unreadable)?;
    if file.metadata().map_err(unreadable)?.is_dir() {
        return Err(InputError::Directory {
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

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

    #[test]
    fn inputs_that_cannot_be_read_name_their_path() {
        let dir = std::env::temp_dir().join(format!("fluxsight-open-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = open_input(&dir).unwrap_err();
        assert!(matches!(e, InputError::Directory { .. }) && !e.may_appear());
        assert!(e
            .to_string()
            .starts_with(&format!("{}: is a directory", dir.display())));
        let missing = dir.join("nope.log");
        let e = open_input(&missing).unwrap_err();
        assert!(matches!(e, InputError::Missing { .. }) && e.may_appear());
        assert_eq!(
            e.to_string(),
            format!("{}: no such file", missing.display())
        );
        let file = dir.join("ok.log");
        std::fs::write(&file, "line\n").unwrap();
        assert!(open_input(&file).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
