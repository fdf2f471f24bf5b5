//! Files and stdin as live sources: read to the end (and, with `follow`, keep reading
//! appended lines like `tail -F`).
//!
//! Following keeps the file open between polls. Rotation by rename (a new inode at the
//! path) drains the old file to its end before switching to the new one from its start;
//! a file shorter than the position read (copytruncate) is read again from its start.
//! A followed file's position (inode, byte offset of the last whole line handed to the
//! pipeline) is checkpointed to `<dir>/file-<hash>.pos` every second and at exit, so a
//! restart resumes where the last run stopped.
//!
//! Invariant: the position only advances after the line was handed to the pipeline, so a
//! restart re-reads at most the last second (at least once). What cannot be recovered,
//! and is said so in README's fault matrix: with copytruncate, lines written between the
//! rotator's copy and its truncation; and lines a writer appended to a file after our
//! last checkpoint when the file was also rotated away while fluxsight was down.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::kube::checkpoint::line_hash;
use super::{LineTx, SourceLine, SourceTask};
use crate::parse::MAX_LINE_BYTES;
use crate::pipeline::classify::controller_hint_from_path;
use crate::telemetry::SourceStats;

/// How often a followed file is polled for new lines, rotation and truncation.
const POLL: Duration = Duration::from_millis(250);
/// How often a changed position is written.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// Read buffer of a followed file (large: one blocking read per buffer).
const READ_BUF: usize = 256 << 10;

/// A file (or `-` for stdin) read once, or followed; `positions` is the checkpoint
/// directory of followed files (`None`: always start at the beginning).
pub fn file_source(path: String, follow: bool, positions: Option<PathBuf>) -> SourceTask {
    Box::new(move |tx, cancel, telemetry| {
        Box::pin(async move {
            let name = format!("file:{path}");
            let out = Out {
                tx,
                stream: Arc::from(name.as_str()),
                controller: controller_hint_from_path(&path),
                stats: telemetry.source(&name),
            };
            if path == "-" {
                read_stdin(&out, &cancel).await;
                return;
            }
            let ckpt = positions
                .filter(|_| follow)
                .map(|d| PositionFile::new(&d, &path));
            let mut f = Followed::new(PathBuf::from(&path), ckpt, follow);
            f.run(&out, &cancel).await;
            f.save();
        })
    })
}

/// Where lines go.
struct Out {
    tx: LineTx,
    stream: Arc<str>,
    controller: Option<String>,
    stats: Arc<SourceStats>,
}

impl Out {
    /// Hands one line to the pipeline; `false` when the pipeline is gone.
    async fn send(&self, bytes: Vec<u8>) -> bool {
        self.stats.lines.fetch_add(1, Ordering::Relaxed);
        self.tx
            .send(SourceLine {
                stream: self.stream.clone(),
                bytes,
                controller: self.controller.clone(),
            })
            .await
            .is_ok()
    }
}

async fn read_stdin(out: &Out, cancel: &CancellationToken) {
    let mut r = BufReader::new(tokio::io::stdin());
    let mut buf = Vec::new();
    out.stats.synced.store(true, Ordering::Relaxed);
    loop {
        buf.clear();
        let n = tokio::select! {
            _ = cancel.cancelled() => break,
            r = read_capped(&mut r, &mut buf) => r,
        };
        match n {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if !out.send(std::mem::take(&mut buf)).await {
                    break;
                }
            }
        }
    }
}

/// The checkpointed position of one followed file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    inode: u64,
    /// Bytes of whole lines handed to the pipeline.
    offset: u64,
}

/// `<dir>/file-<hash of the path>.pos`, written atomically (temporary file + rename).
struct PositionFile {
    path: PathBuf,
    saved: Option<Position>,
}

impl PositionFile {
    fn new(dir: &Path, followed: &str) -> Self {
        let path = dir.join(format!("file-{:016x}.pos", line_hash(followed.as_bytes())));
        let saved = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        PositionFile { path, saved }
    }

    fn save(&mut self, p: Position) {
        if self.saved == Some(p) {
            return;
        }
        let tmp = self.path.with_extension("pos.tmp");
        let res = (|| {
            if let Some(d) = self.path.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(&tmp, serde_json::to_vec(&p).unwrap_or_default())?;
            std::fs::rename(&tmp, &self.path)
        })();
        match res {
            Ok(()) => self.saved = Some(p),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "file position not written; a restart may re-read lines")
            }
        }
    }
}

/// The open file being followed.
struct Open {
    reader: BufReader<tokio::fs::File>,
    pos: Position,
    /// Bytes of an unfinished last line read so far (kept in `Followed::line`).
    partial: u64,
}

struct Followed {
    path: PathBuf,
    follow: bool,
    ckpt: Option<PositionFile>,
    open: Option<Open>,
    line: Vec<u8>,
    last_save: Instant,
}

enum Step {
    /// Read to the end; nothing changed at the path.
    Idle,
    /// The pipeline is gone or the token fired.
    Stop,
}

impl Followed {
    fn new(path: PathBuf, ckpt: Option<PositionFile>, follow: bool) -> Self {
        Followed {
            path,
            follow,
            ckpt,
            open: None,
            line: Vec::new(),
            last_save: Instant::now(),
        }
    }

    async fn run(&mut self, out: &Out, cancel: &CancellationToken) {
        loop {
            if self.open.is_none() {
                self.open = self.reopen(out).await;
            }
            if self.open.is_some() {
                if let Step::Stop = self.read_to_end(out, cancel).await {
                    return;
                }
                if self.follow && self.check_path(out, cancel).await.is_none() {
                    return;
                }
            }
            out.stats.synced.store(true, Ordering::Relaxed);
            if !self.follow {
                return;
            }
            if self.last_save.elapsed() >= SAVE_EVERY {
                self.save();
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Opens the file at the path: at the checkpoint when it is the same file, else at
    /// its start.
    async fn reopen(&mut self, out: &Out) -> Option<Open> {
        let mut f = match tokio::fs::File::open(&self.path).await {
            Ok(f) => f,
            Err(_) => {
                out.stats.errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let meta = f.metadata().await.ok()?;
        let inode = ino_of(&meta);
        let saved = self.ckpt.as_ref().and_then(|c| c.saved);
        let offset = match saved {
            Some(p) if p.inode == inode && p.offset <= meta.len() => p.offset,
            _ => 0,
        };
        if offset > 0 && f.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
            return None;
        }
        self.line.clear();
        Some(Open {
            reader: BufReader::with_capacity(READ_BUF, f),
            pos: Position { inode, offset },
            partial: 0,
        })
    }

    /// Reads and sends every whole line up to the current end of the file.
    async fn read_to_end(&mut self, out: &Out, cancel: &CancellationToken) -> Step {
        let Some(o) = self.open.as_mut() else {
            return Step::Idle;
        };
        loop {
            let n = tokio::select! {
                _ = cancel.cancelled() => return Step::Stop,
                r = read_capped(&mut o.reader, &mut self.line) => r,
            };
            match n {
                Ok(0) => return Step::Idle,
                Ok(n) => {
                    o.partial += n as u64;
                    if self.line.last() != Some(&b'\n') && self.follow {
                        // Unfinished last line: keep it and wait for the rest.
                        continue;
                    }
                    o.pos.offset += std::mem::take(&mut o.partial);
                    if !out.send(std::mem::take(&mut self.line)).await {
                        return Step::Stop;
                    }
                }
                Err(_) => {
                    out.stats.errors.fetch_add(1, Ordering::Relaxed);
                    return Step::Idle;
                }
            }
        }
    }

    /// After reading to the end: notices rotation (drains the old file, then switches)
    /// and truncation (reads again from the start). `None` when told to stop.
    async fn check_path(&mut self, out: &Out, cancel: &CancellationToken) -> Option<()> {
        let o = self.open.as_mut()?;
        let Ok(meta) = tokio::fs::metadata(&self.path).await else {
            // Renamed away and not re-created yet: keep the old file until it is.
            return Some(());
        };
        if ino_of(&meta) != o.pos.inode {
            // The writer may have appended to the old file between our last read and
            // the rename: drain it, including an unfinished last line.
            if let Step::Stop = self.read_to_end(out, cancel).await {
                return None;
            }
            if !self.line.is_empty() && !out.send(std::mem::take(&mut self.line)).await {
                return None;
            }
            out.stats.restarts.fetch_add(1, Ordering::Relaxed);
            self.open = None;
            if let Some(c) = self.ckpt.as_mut() {
                // The new file starts at 0 whatever the old checkpoint said.
                c.saved = None;
            }
            self.open = self.reopen(out).await;
        } else if meta.len() < o.pos.offset + o.partial {
            out.stats.restarts.fetch_add(1, Ordering::Relaxed);
            o.reader.seek(std::io::SeekFrom::Start(0)).await.ok()?;
            o.pos.offset = 0;
            o.partial = 0;
            self.line.clear();
        }
        Some(())
    }

    fn save(&mut self) {
        self.last_save = Instant::now();
        if let (Some(c), Some(o)) = (self.ckpt.as_mut(), self.open.as_ref()) {
            c.save(o.pos);
        }
    }
}

#[cfg(unix)]
fn ino_of(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.ino()
}

#[cfg(not(unix))]
fn ino_of(_m: &std::fs::Metadata) -> u64 {
    0
}

/// Reads one line (up to and including `\n`), keeping at most `MAX_LINE_BYTES + 1`
/// bytes of it; returns the bytes consumed.
async fn read_capped<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE_BYTES + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
    }
}
