//! Files and stdin as live sources: read to the end (and, with `follow`, keep reading
//! appended lines like `tail -F`).
//!
//! Following keeps the file open between polls. Rotation by rename (a new inode at the
//! path) drains the old file to its end before switching to the new one from its start.
//! A truncation (copytruncate) is noticed by the size dropping below the position read,
//! or by the bytes before that position no longer being the line read there (a file
//! truncated and refilled within one poll); the rest of the old content is then read
//! from the rotated copy when one is still next to the file (`<name>.1`, `<name>-<date>`,
//! uncompressed), and the file is read again from its start. Truncations are counted
//! (`fluxsight_source_truncations_total`).
//!
//! Checkpoint (end-to-end acknowledged, see [`super::ack`]): `<dir>/file-<hash>.pos`
//! holds the position (inode, offset, and a fingerprint of the line that ends there) of
//! the last line whose records the pipeline consumed and whose outputs are safe in
//! every sink's spool, never merely the position read. It also holds `rebuild_from`, an
//! earlier offset: a restart reads again from there so that the correlator's windows
//! (counts towards a threshold, open findings) are rebuilt from the last `lookback` of
//! event time; what those re-read lines produce was delivered before and is not sent
//! again. A restart whose file was rotated away meanwhile finds it by inode (rename) or
//! by fingerprint (copytruncate) among the rotated files and reads its rest first.
//!
//! With `wait_for_input` (`run --wait-for-input`), a path that is not there yet is waited
//! for: one WARN naming it, then attempts at a growing interval (250 ms doubling to 5 s),
//! and the file is read (and followed) from its start once it appears. Until then the
//! source is not synced, so `/readyz` names it. Without it, the commands refuse a
//! missing input before starting (see [`super::file::open_input`]).
//!
//! Invariant: the checkpoint never passes a line whose outputs are not safe, so a crash
//! at any point re-reads (at least once) instead of losing. What cannot be recovered is
//! listed in README "Guarantees": with copytruncate, lines written between the rotator's
//! copy and its truncation; and rotated files already compressed or deleted.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::ack::{Ack, Tracker};
use super::kube::checkpoint::line_hash;
use super::{LineTx, SourceLine, SourceTask};
use crate::parse::controller_hint_from_path;
use crate::parse::MAX_LINE_BYTES;
use crate::record::TsMs;
use crate::telemetry::SourceStats;

/// How often a followed file is polled for new lines, rotation and truncation.
const POLL: Duration = Duration::from_millis(250);
/// How often a changed position is written.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// Read buffer of a followed file (large: one blocking read per buffer).
const READ_BUF: usize = 256 << 10;
/// Bytes at the end of a line that fingerprint a position.
const TAIL_BYTES: usize = 64;
/// Event time between two (time, offset) samples of the rebuild history.
const SAMPLE_EVERY_MS: TsMs = 10_000;
/// Most samples kept; past it every other one goes (the rebuild then starts earlier,
/// never later, than the lookback asks).
const MAX_SAMPLES: usize = 4096;
/// First wait for an input that is not there yet (`wait_for_input`).
const WAIT_FIRST: Duration = Duration::from_millis(250);
/// Longest wait between two attempts: a file created while fluxsight waits is read within
/// this, and a path that never appears costs one `open` per interval.
const WAIT_MAX: Duration = Duration::from_secs(5);
/// Suffixes of rotated files that are compressed (their rest cannot be read back).
const COMPRESSED: [&str; 6] = [".gz", ".bz2", ".xz", ".zst", ".z", ".lz4"];

/// How a file source reads and checkpoints.
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// Keep reading appended lines (`tail -F`) instead of stopping at the end.
    pub follow: bool,
    /// Checkpoint directory (`None`: always start at the beginning, nothing saved).
    pub positions: Option<PathBuf>,
    /// Event time re-read after a restart to rebuild the correlator's windows, ms.
    pub lookback_ms: TsMs,
    /// Wait (warning once, with growing back-off) for a path that is not there yet,
    /// instead of ending (or, following, polling silently).
    pub wait_for_input: bool,
}

/// A file (or `-` for stdin) read once, or followed.
pub fn file_source(path: String, opts: FileOptions) -> SourceTask {
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
            let ckpt = opts.positions.map(|d| PositionFile::new(&d, &path));
            let mut f = Followed::new(PathBuf::from(&path), ckpt, opts.follow, opts.lookback_ms);
            f.waiting = opts.wait_for_input.then(Waiting::default);
            f.run(&out, &cancel).await;
            // Lines still in the pipeline are committed while it drains; the last save
            // waits for them (bounded: the pipeline drains or is aborted).
            f.save_when_drained(&out, &cancel).await;
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
    async fn send(&self, bytes: Vec<u8>, ack: Option<Ack>) -> bool {
        self.stats.lines.fetch_add(1, Ordering::Relaxed);
        self.tx
            .send(SourceLine {
                stream: self.stream.clone(),
                bytes,
                controller: self.controller.clone(),
                ack,
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
                if !out.send(std::mem::take(&mut buf), None).await {
                    break;
                }
            }
        }
    }
}

/// A position in a file: the end of a whole line, with a fingerprint of that line's
/// last bytes (so a restart can tell the same content from a truncated-and-refilled
/// file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    inode: u64,
    /// Bytes of whole lines before this position.
    offset: u64,
    /// Hash of the last `tail_len` bytes before `offset`.
    #[serde(default)]
    tail: u64,
    /// 0: no fingerprint (checkpoints of older versions, overlong lines).
    #[serde(default)]
    tail_len: u32,
    /// Bumped at each truncation of the same inode: offsets compare within a generation.
    #[serde(default)]
    gen: u32,
}

impl Position {
    /// The position after a line of `consumed` bytes whose kept bytes are `line`.
    fn advance(&self, consumed: u64, line: &[u8]) -> Self {
        // An overlong line keeps only its first bytes: its end cannot be fingerprinted.
        let whole = line.len() as u64 == consumed;
        let t = &line[line.len().saturating_sub(TAIL_BYTES)..];
        Position {
            inode: self.inode,
            offset: self.offset + consumed,
            tail: if whole { line_hash(t) } else { 0 },
            tail_len: if whole { t.len() as u32 } else { 0 },
            gen: self.gen,
        }
    }

    /// Whether `self` and `o` are positions in one run of content (same file, no
    /// truncation between them).
    fn same_content(&self, o: &Position) -> bool {
        self.inode == o.inode && self.gen == o.gen
    }

    /// Whether the bytes before `offset` in `f` are still the ones fingerprinted.
    fn matches(&self, f: &std::fs::File) -> bool {
        if self.tail_len == 0 || self.offset == 0 {
            return true;
        }
        let n = self.tail_len as usize;
        let Some(at) = self.offset.checked_sub(n as u64) else {
            return false;
        };
        let mut buf = vec![0u8; n];
        read_exact_at(f, &mut buf, at).is_ok() && line_hash(&buf) == self.tail
    }
}

#[cfg(unix)]
fn read_exact_at(f: &std::fs::File, buf: &mut [u8], at: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, at)
}

#[cfg(not(unix))]
fn read_exact_at(_f: &std::fs::File, _buf: &mut [u8], _at: u64) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// What is saved: the committed position, where a restart starts reading to rebuild
/// state, and the newest record time committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    #[serde(flatten)]
    pos: Position,
    #[serde(default)]
    rebuild_from: Option<u64>,
    #[serde(default)]
    ts: Option<TsMs>,
}

/// `<dir>/file-<hash of the path>.pos`, written atomically (temporary file, fsync,
/// rename, directory fsync).
struct PositionFile {
    path: PathBuf,
    saved: Option<Saved>,
    failing: bool,
}

impl PositionFile {
    fn new(dir: &Path, followed: &str) -> Self {
        let path = dir.join(format!("file-{:016x}.pos", line_hash(followed.as_bytes())));
        let saved = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        PositionFile {
            path,
            saved,
            failing: false,
        }
    }

    fn save(&mut self, s: Saved) {
        if self.saved == Some(s) {
            return;
        }
        let tmp = self.path.with_extension("pos.tmp");
        let res = (|| {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let bytes = serde_json::to_vec(&s).map_err(std::io::Error::other)?;
            {
                use std::io::Write;
                let mut f = std::fs::File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_data()?;
            }
            std::fs::rename(&tmp, &self.path)?;
            std::fs::File::open(dir)?.sync_all()
        })();
        match res {
            Ok(()) => {
                self.saved = Some(s);
                if self.failing {
                    self.failing = false;
                    tracing::info!(path = %self.path.display(), "file position written again");
                }
            }
            Err(e) if !self.failing => {
                self.failing = true;
                tracing::error!(path = %self.path.display(), error = %e, "file position not written; a restart re-reads from the last one written");
            }
            Err(_) => {}
        }
    }
}

/// The open file being followed.
struct Open {
    reader: BufReader<tokio::fs::File>,
    /// End of the last whole line read.
    pos: Position,
    /// Bytes of an unfinished last line read so far (kept in `Followed::line`).
    partial: u64,
}

/// Committed positions and the (record time, offset) history that places the rebuild.
struct Committed {
    tracker: Tracker<Position>,
    pos: Option<Position>,
    /// Oldest first; the first entry (time `TsMs::MIN`) is where the history starts.
    samples: VecDeque<(TsMs, u64)>,
    lookback_ms: TsMs,
}

impl Committed {
    /// Takes what the pipeline committed; returns what to save.
    fn update(&mut self) -> Option<Saved> {
        let (pos, ts) = self.tracker.committed();
        // Lines re-read to rebuild state end before the resumed position: they never
        // move it back.
        let pos = pos.filter(|p| {
            self.pos
                .is_none_or(|o| !o.same_content(p) || p.offset >= o.offset)
        });
        if let Some(p) = pos {
            if self.pos.is_some_and(|o| !o.same_content(&p)) {
                // A new file (rotation) or the same file truncated: history starts over.
                self.samples.clear();
                self.samples.push_back((TsMs::MIN, 0));
            }
            self.pos = Some(p);
            if let Some(t) = ts {
                if self
                    .samples
                    .back()
                    .is_none_or(|&(st, _)| st == TsMs::MIN || t - st >= SAMPLE_EVERY_MS)
                {
                    self.samples.push_back((t, p.offset));
                }
            }
        }
        let p = self.pos?;
        let rebuild_from = match ts {
            Some(t) => {
                let horizon = t.saturating_sub(self.lookback_ms);
                // Keep only the newest sample at or before the horizon, and those after.
                while self.samples.len() > 1 && self.samples[1].0 <= horizon {
                    self.samples.pop_front();
                }
                if self.samples.len() > MAX_SAMPLES {
                    let thinned: VecDeque<_> = self.samples.iter().copied().step_by(2).collect();
                    self.samples = thinned;
                }
                self.samples.front().map(|&(_, o)| o.min(p.offset))
            }
            None => self.samples.front().map(|&(_, o)| o.min(p.offset)),
        };
        Some(Saved {
            pos: p,
            rebuild_from,
            ts,
        })
    }
}

struct Followed {
    path: PathBuf,
    follow: bool,
    ckpt: Option<PositionFile>,
    open: Option<Open>,
    line: Vec<u8>,
    last_save: Instant,
    committed: Committed,
    /// After a restart: lines ending at or before this position only rebuild state.
    rebuild_until: Option<Position>,
    /// When the rebuild re-read started, and its lines so far (logged once done).
    rebuild_started: Option<(Instant, u64)>,
    /// The start-up checkpoint was looked at (it applies to the first open only).
    resumed: bool,
    /// Waiting for the path to appear the first time (`wait_for_input`).
    waiting: Option<Waiting>,
}

/// The back-off of an input waited for.
struct Waiting {
    next: Duration,
    warned: bool,
}

impl Default for Waiting {
    fn default() -> Self {
        Waiting {
            next: WAIT_FIRST,
            warned: false,
        }
    }
}

impl Waiting {
    /// The wait before the next attempt; the first call warns, naming the path.
    fn next_delay(&mut self, path: &Path) -> Duration {
        if !self.warned {
            tracing::warn!(
                path = %path.display(),
                "waiting for the input to appear (--wait-for-input); retrying with growing back-off"
            );
            self.warned = true;
        }
        let d = self.next;
        self.next = (d * 2).min(WAIT_MAX);
        d
    }
}

enum Step {
    /// Read to the end; nothing changed at the path.
    Idle,
    /// The pipeline is gone or the token fired.
    Stop,
}

impl Followed {
    fn new(path: PathBuf, ckpt: Option<PositionFile>, follow: bool, lookback_ms: TsMs) -> Self {
        let saved = ckpt.as_ref().and_then(|c| c.saved);
        let mut samples = VecDeque::new();
        samples.push_back((TsMs::MIN, saved.and_then(|s| s.rebuild_from).unwrap_or(0)));
        Followed {
            path,
            follow,
            ckpt,
            open: None,
            line: Vec::new(),
            last_save: Instant::now(),
            committed: Committed {
                tracker: Tracker::default(),
                pos: saved.map(|s| s.pos),
                samples,
                lookback_ms,
            },
            rebuild_until: None,
            rebuild_started: None,
            resumed: false,
            waiting: None,
        }
    }

    async fn run(&mut self, out: &Out, cancel: &CancellationToken) {
        loop {
            if self.open.is_none() {
                self.open = self.reopen(out, cancel).await;
            }
            if self.open.is_none() {
                if let Some(w) = self.waiting.as_mut() {
                    // Not there yet: neither synced nor ended, with or without follow.
                    let delay = w.next_delay(&self.path);
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(delay) => continue,
                    }
                }
            } else {
                self.waiting = None;
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

    /// The ack of a line ending at `pos` (none without a checkpoint).
    fn ack(&mut self, pos: Position) -> Option<Ack> {
        self.ckpt.as_ref()?;
        let rebuild = self
            .rebuild_until
            .is_some_and(|r| r.same_content(&pos) && pos.offset <= r.offset);
        match (&mut self.rebuild_started, rebuild) {
            (Some((_, n)), true) => *n += 1,
            (Some((t, n)), false) => {
                tracing::info!(
                    path = %self.path.display(),
                    lines = *n,
                    ms = t.elapsed().as_millis() as u64,
                    "state rebuilt from the lookback; resuming after the checkpoint"
                );
                self.rebuild_started = None;
            }
            (None, _) => {}
        }
        let mut a = self.committed.tracker.issue(pos);
        a.rebuild = rebuild;
        Some(a)
    }

    /// Opens the file at the path. The first open after a start resumes from the
    /// checkpoint: at `rebuild_from` when it is the same content, after first reading
    /// the rest of the checkpointed file from a rotated copy when it is not.
    async fn reopen(&mut self, out: &Out, cancel: &CancellationToken) -> Option<Open> {
        let f = match super::file::open_input(&self.path) {
            Ok(f) => f,
            Err(_) => {
                out.stats.errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let meta = f.metadata().ok()?;
        let inode = ino_of(&meta);
        let saved = if self.resumed {
            None
        } else {
            self.ckpt.as_ref().and_then(|c| c.saved)
        };
        self.resumed = true;
        let mut offset = 0;
        let mut gen = 0;
        if let Some(s) = saved {
            if s.pos.inode == inode && s.pos.offset <= meta.len() && s.pos.matches(&f) {
                offset = s.rebuild_from.unwrap_or(s.pos.offset).min(s.pos.offset);
                gen = s.pos.gen;
                self.rebuild_until = Some(s.pos);
                if offset < s.pos.offset {
                    tracing::info!(
                        path = %self.path.display(),
                        checkpoint = s.pos.offset,
                        from = offset,
                        "resuming: re-reading the lookback before the checkpoint to rebuild state"
                    );
                    self.rebuild_started = Some((Instant::now(), 0));
                }
            } else if s.pos.offset > 0 {
                if s.pos.inode == inode {
                    gen = s.pos.gen.wrapping_add(1);
                }
                // Rotated (or truncated) while we were down: the rest of the old content
                // may still be in a rotated copy.
                if let Step::Stop = self.read_rest_of_copy(s.pos, inode, out, cancel).await {
                    return None;
                }
            }
        }
        let mut f = tokio::fs::File::from_std(f);
        if offset > 0 && f.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
            return None;
        }
        self.line.clear();
        Some(Open {
            reader: BufReader::with_capacity(READ_BUF, f),
            pos: Position {
                inode,
                offset,
                gen,
                ..Position::default()
            },
            partial: 0,
        })
    }

    /// Reads and sends every whole line up to the current end of the file.
    async fn read_to_end(&mut self, out: &Out, cancel: &CancellationToken) -> Step {
        let mut sent = 0u64;
        loop {
            let Some(o) = self.open.as_mut() else {
                return Step::Idle;
            };
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
                    o.pos = o.pos.advance(std::mem::take(&mut o.partial), &self.line);
                    let pos = o.pos;
                    let ack = self.ack(pos);
                    if !out.send(std::mem::take(&mut self.line), ack).await {
                        return Step::Stop;
                    }
                    // A long backlog (a restart, a big file) checkpoints as it goes, not
                    // only once caught up.
                    sent += 1;
                    if sent.is_multiple_of(256) && self.last_save.elapsed() >= SAVE_EVERY {
                        self.save();
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
    /// and truncation (reads the rest from the rotated copy, then the file again from
    /// its start). `None` when told to stop.
    async fn check_path(&mut self, out: &Out, cancel: &CancellationToken) -> Option<()> {
        let o = self.open.as_ref()?;
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
            if !self.line.is_empty() {
                let o = self.open.as_mut()?;
                o.pos = o.pos.advance(std::mem::take(&mut o.partial), &self.line);
                let pos = o.pos;
                let ack = self.ack(pos);
                if !out.send(std::mem::take(&mut self.line), ack).await {
                    return None;
                }
            }
            out.stats.restarts.fetch_add(1, Ordering::Relaxed);
            self.open = None;
            self.open = self.reopen(out, cancel).await;
            return Some(());
        }
        let pos = o.pos;
        let shorter = meta.len() < pos.offset + o.partial;
        // Same size or longer, but not the content read: truncated and refilled.
        let rewritten = !shorter
            && pos.offset > 0
            && !std::fs::File::open(&self.path).is_ok_and(|f| pos.matches(&f));
        if shorter || rewritten {
            out.stats.restarts.fetch_add(1, Ordering::Relaxed);
            out.stats.truncations.fetch_add(1, Ordering::Relaxed);
            self.line.clear();
            if let Step::Stop = self.read_rest_of_copy(pos, pos.inode, out, cancel).await {
                return None;
            }
            let o = self.open.as_mut()?;
            o.reader.seek(std::io::SeekFrom::Start(0)).await.ok()?;
            o.pos = Position {
                inode: pos.inode,
                gen: pos.gen.wrapping_add(1),
                ..Position::default()
            };
            o.partial = 0;
            self.rebuild_until = None;
        }
        Some(())
    }

    /// Reads, from a rotated copy of the file next to it, what follows `pos`: the copy
    /// is the file whose inode is `pos.inode` (renamed) or, for a copytruncate, whose
    /// bytes before `pos.offset` are the line read there. Compressed copies are skipped.
    async fn read_rest_of_copy(
        &mut self,
        pos: Position,
        current_inode: u64,
        out: &Out,
        cancel: &CancellationToken,
    ) -> Step {
        let Some(copy) = find_copy(&self.path, pos, current_inode) else {
            return Step::Idle;
        };
        let Ok(mut f) = tokio::fs::File::open(&copy).await else {
            return Step::Idle;
        };
        if f.seek(std::io::SeekFrom::Start(pos.offset)).await.is_err() {
            return Step::Idle;
        }
        tracing::info!(copy = %copy.display(), offset = pos.offset, "reading the rest of a rotated file");
        let mut r = BufReader::with_capacity(READ_BUF, f);
        let mut line = Vec::new();
        let mut at = pos;
        loop {
            line.clear();
            let n = tokio::select! {
                _ = cancel.cancelled() => return Step::Stop,
                r = read_capped(&mut r, &mut line) => r,
            };
            match n {
                Ok(0) | Err(_) => return Step::Idle,
                Ok(n) => {
                    at = at.advance(n as u64, &line);
                    let ack = self.ack(at);
                    if !out.send(std::mem::take(&mut line), ack).await {
                        return Step::Stop;
                    }
                }
            }
        }
    }

    fn save(&mut self) {
        self.last_save = Instant::now();
        if let Some(s) = self.committed.update() {
            if let Some(c) = self.ckpt.as_mut() {
                c.save(s);
            }
        }
    }

    /// The last save at exit: waits (polling) until the pipeline committed every line
    /// handed over, is gone, or the token fires (then a short grace for what it still
    /// commits while draining).
    async fn save_when_drained(&mut self, out: &Out, cancel: &CancellationToken) {
        if self.ckpt.is_none() {
            return;
        }
        loop {
            self.save();
            if self.committed.tracker.in_flight() == 0
                || cancel.is_cancelled()
                || out.tx.is_closed()
            {
                break;
            }
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        // After the token fired the pipeline may still commit what it drains.
        let until = Instant::now() + Duration::from_millis(200);
        while self.committed.tracker.in_flight() > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.save();
        }
        self.save();
    }
}

/// The rotated copy of `path` that continues `pos`: same inode (renamed), or same bytes
/// before `pos.offset` (copied), not compressed; the newest when several match.
fn find_copy(path: &Path, pos: Position, current_inode: u64) -> Option<PathBuf> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = path.file_name()?.to_str()?;
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let rotated = name.len() > base.len()
            && name.starts_with(base)
            && matches!(name.as_bytes()[base.len()], b'.' | b'-' | b'_');
        if !rotated || COMPRESSED.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let p = e.path();
        let Ok(f) = std::fs::File::open(&p) else {
            continue;
        };
        let Ok(m) = f.metadata() else { continue };
        let ino = ino_of(&m);
        let same = if ino == pos.inode && ino != current_inode {
            true
        } else {
            ino != current_inode && m.len() >= pos.offset && pos.tail_len > 0 && pos.matches(&f)
        };
        if !same || m.len() < pos.offset {
            continue;
        }
        let mtime = m.modified().unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(t, _)| mtime > *t) {
            best = Some((mtime, p));
        }
    }
    best.map(|(_, p)| p)
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
