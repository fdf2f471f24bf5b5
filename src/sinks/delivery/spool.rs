//! The per-sink queue: a write-ahead, append-only, checksummed disk spool (or a bounded
//! in-memory queue when no state directory is configured).
//!
//! Disk layout under `<state_dir>/spool/<sink>/`: segment files `seg-<n>.log` of records
//! `len: u32 LE | crc32: u32 LE | payload (JSON of Delivery)`, and `cursor` holding the
//! position of the first unacknowledged record. The cursor file has two 32-byte slots
//! (`"FSC1" | seq: u64 | segment: u64 | offset: u64 | crc32: u32`, little-endian); each
//! write overwrites the older slot in place and the valid slot with the higher `seq` wins,
//! so a torn write leaves the previous cursor and, once the file exists, moving the cursor
//! needs no new disk block: a full disk cannot stop it (acks then still reach the disk, and
//! a restart does not re-send what was acknowledged while the disk was full). The file is
//! created whole (write + rename) by the first cursor write; an older `<segment> <offset>`
//! text cursor is read and replaced.
//!
//! What each fsync policy guarantees (a crash or SIGKILL of fluxsight alone loses nothing
//! under any of them: the data is in the page cache):
//! - `always`: an append returns only once the record is fsynced; a new segment file, the
//!   cursor rename and the removal of delivered segments are followed by an fsync of the
//!   spool directory. A power cut loses nothing the producer was told is queued, and
//!   re-sends nothing acknowledged.
//! - `interval` (default, 1s): appends are fsynced at most that often, so a power cut can
//!   lose the last interval of appends not yet delivered. The data behind the cursor is
//!   fsynced before the cursor moves past it, and new segments and the cursor rename are
//!   followed by a directory fsync, so the cursor never points past data a power cut lost.
//! - `never`: no fsync (except of a full segment when the next one starts); the OS
//!   decides. After a power cut anything not yet written back may be missing.
//!
//! An fsync that fails stops progress instead of being ignored: the append is cut back and
//! reported (the caller waits, as for a full disk), and `ack` acknowledges nothing (the
//! worker retries). A cursor that cannot be written only means a restart re-sends what was
//! delivered since ([`SpoolError::Cursor`]); nothing pending is lost by it.
//!
//! Invariant: a record is removed only by `ack` after delivery; on open, everything after
//! the cursor is delivered again (at least once). A torn record at a segment's tail (crash
//! mid-write) is detected by length/CRC, counted and truncated away. A failed append
//! (ENOSPC, EDQUOT) is cut back to the last whole record at once, and the caller waits
//! for room instead of dropping (see `worker::SinkHandle::submit`): once the sink drains
//! the spool, the segment is replaced by an empty one and the space is free again.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
#[cfg(test)]
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
#[cfg(test)]
use std::sync::Arc;
use std::time::Instant;

use crate::sinks::config::FsyncPolicy;
use crate::sinks::Delivery;

/// Largest segment before rolling to the next one.
pub const SEGMENT_BYTES: u64 = 16 << 20;
/// Largest accepted record.
pub const MAX_RECORD_BYTES: u32 = 16 << 20;
/// File holding the cursor, and its temporary name while it is replaced.
const CURSOR_FILE: &str = "cursor";
const CURSOR_TMP: &str = "cursor.tmp";
/// One slot of the cursor file, and its tag.
const CURSOR_SLOT: usize = 32;
const CURSOR_MAGIC: &[u8; 4] = b"FSC1";
/// A drained spool whose segment grew past this starts a fresh segment, so acknowledged
/// bytes go back to the file system without waiting for the 16 MiB roll.
pub const RECLAIM_BYTES: u64 = 1 << 20;

/// Position just after a record: acknowledging it moves the cursor here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub segment: u64,
    pub offset: u64,
}

/// Why a push was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool full ({0} bytes)")]
    Full(u64),
    #[error("spool i/o: {0}")]
    Io(#[from] io::Error),
    #[error("encode: {0}")]
    Encode(String),
    /// `ack` took effect in memory but the cursor file could not be written: nothing is
    /// lost, a restart re-sends what was acknowledged since the last cursor written.
    #[error("spool cursor not written (a restart re-sends what was delivered since): {0}")]
    Cursor(io::Error),
}

/// Counters of a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolCounters {
    pub appended: u64,
    pub acked: u64,
    pub corrupt: u64,
    pub bytes: u64,
}

/// The queue a sink worker reads from.
pub enum Queue {
    Memory(MemQueue),
    Disk(DiskSpool),
}

impl Queue {
    /// Appends a delivery; returns the position that acknowledges it.
    pub fn push(&mut self, d: &Delivery) -> Result<Pos, SpoolError> {
        match self {
            Queue::Memory(q) => q.push(d.clone()),
            Queue::Disk(s) => s.append(d),
        }
    }

    /// Up to `n` unacknowledged deliveries from the head, without removing them.
    pub fn peek(&mut self, n: usize) -> Result<Vec<(Pos, Delivery)>, SpoolError> {
        match self {
            Queue::Memory(q) => Ok(q.peek(n)),
            Queue::Disk(s) => s.peek(n),
        }
    }

    /// Acknowledges everything up to and including the record ending at `pos`.
    pub fn ack(&mut self, pos: Pos) -> Result<(), SpoolError> {
        match self {
            Queue::Memory(q) => {
                q.ack(pos);
                Ok(())
            }
            Queue::Disk(s) => s.ack(pos),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Queue::Memory(q) => q.items.len(),
            Queue::Disk(s) => s.pending,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn counters(&self) -> SpoolCounters {
        match self {
            Queue::Memory(q) => q.counters,
            Queue::Disk(s) => s.counters,
        }
    }

    /// The fsync policy (a memory queue has nothing to sync).
    pub fn fsync_policy(&self) -> FsyncPolicy {
        match self {
            Queue::Memory(_) => FsyncPolicy::Never,
            Queue::Disk(s) => s.fsync,
        }
    }

    /// Syncs to disk when the policy says it is due (or `force`).
    pub fn sync(&mut self, force: bool) -> Result<(), SpoolError> {
        match self {
            Queue::Memory(_) => Ok(()),
            Queue::Disk(s) => s.sync(force),
        }
    }
}

/// In-memory queue (no state directory): bounded; `push` fails when full so the caller
/// can apply back-pressure or count the drop.
pub struct MemQueue {
    items: VecDeque<(Pos, Delivery)>,
    next: u64,
    cap: usize,
    counters: SpoolCounters,
}

impl MemQueue {
    pub fn new(cap: usize) -> Self {
        MemQueue {
            items: VecDeque::new(),
            next: 0,
            cap: cap.max(1),
            counters: SpoolCounters::default(),
        }
    }

    fn push(&mut self, d: Delivery) -> Result<Pos, SpoolError> {
        if self.items.len() >= self.cap {
            return Err(SpoolError::Full(self.cap as u64));
        }
        self.next += 1;
        let pos = Pos {
            segment: 0,
            offset: self.next,
        };
        self.items.push_back((pos, d));
        self.counters.appended += 1;
        Ok(pos)
    }

    fn peek(&self, n: usize) -> Vec<(Pos, Delivery)> {
        self.items.iter().take(n).cloned().collect()
    }

    fn ack(&mut self, pos: Pos) {
        while self.items.front().is_some_and(|(p, _)| *p <= pos) {
            self.items.pop_front();
            self.counters.acked += 1;
        }
    }
}

/// The disk spool of one sink.
pub struct DiskSpool {
    dir: PathBuf,
    writer: File,
    write_pos: Pos,
    /// Read position (next record to load into `ahead`).
    read_pos: Pos,
    cursor: Pos,
    /// The cursor last written to the cursor file.
    persisted: Pos,
    /// The two-slot cursor file, once it exists (overwritten in place), and the sequence
    /// number of its newest slot.
    cursor_file: Option<File>,
    cursor_seq: u64,
    /// Everything before this position is fsynced.
    synced: Pos,
    ahead: VecDeque<(Pos, Delivery)>,
    read_ahead: usize,
    pending: usize,
    max_bytes: u64,
    fsync: FsyncPolicy,
    last_sync: Instant,
    /// When the cursor file was last written (`interval` writes it at most that often).
    last_cursor_write: Instant,
    /// The last cursor write failed (retried a second later).
    cursor_failing: bool,
    dirty: bool,
    /// An append failed since the last reclaim: reclaim as soon as the spool is drained.
    starved: bool,
    /// The segment at `write_pos` could not be created by a reclaim: create it first.
    reopen: bool,
    counters: SpoolCounters,
    #[cfg(test)]
    probe: Arc<SyncProbe>,
}

/// Test seam: refuses fsyncs on demand and counts directory syncs, so the unit tests can
/// prove what an fsync failure stops and that directories are synced.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct SyncProbe {
    /// Every fsync fails (EIO-like) while set.
    pub fail: AtomicBool,
    /// fsyncs refused so far.
    pub refused: AtomicU64,
    /// Directory fsyncs done so far.
    pub dir_syncs: AtomicU64,
}

fn seg_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:010}.log"))
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut v: Vec<u64> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// Makes the entries of `dir` (new files, renames, removals) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` and its missing parents, then syncs the parent of each directory created,
/// so that the new entries survive a power cut.
pub(crate) fn create_dir_synced(dir: &Path) -> io::Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .filter(|d| !d.as_os_str().is_empty())
        .take_while(|d| !d.exists())
        .collect();
    fs::create_dir_all(dir)?;
    for d in missing {
        match d.parent() {
            Some(p) if !p.as_os_str().is_empty() => sync_dir(p)?,
            _ => sync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

/// The cursor file's content: the newest valid slot with its sequence number, or an
/// older text cursor (sequence 0). `None` when missing or unreadable (everything kept is
/// delivered again: at least once).
fn read_cursor(dir: &Path) -> Option<(u64, Pos)> {
    parse_cursor(&fs::read(dir.join(CURSOR_FILE)).ok()?)
}

fn parse_cursor(bytes: &[u8]) -> Option<(u64, Pos)> {
    // A text cursor is at most 41 bytes.
    if bytes.len() == 2 * CURSOR_SLOT {
        return bytes
            .chunks_exact(CURSOR_SLOT)
            .filter_map(decode_slot)
            .max_by_key(|(seq, _)| *seq);
    }
    let s = std::str::from_utf8(bytes).ok()?;
    let mut it = s.split_whitespace();
    Some((
        0,
        Pos {
            segment: it.next()?.parse().ok()?,
            offset: it.next()?.parse().ok()?,
        },
    ))
}

fn encode_slot(seq: u64, pos: Pos) -> [u8; CURSOR_SLOT] {
    let mut b = [0u8; CURSOR_SLOT];
    b[..4].copy_from_slice(CURSOR_MAGIC);
    b[4..12].copy_from_slice(&seq.to_le_bytes());
    b[12..20].copy_from_slice(&pos.segment.to_le_bytes());
    b[20..28].copy_from_slice(&pos.offset.to_le_bytes());
    let crc = crc32fast::hash(&b[..28]);
    b[28..].copy_from_slice(&crc.to_le_bytes());
    b
}

fn decode_slot(b: &[u8]) -> Option<(u64, Pos)> {
    let word = |r: std::ops::Range<usize>| u64::from_le_bytes(b[r].try_into().unwrap_or([0; 8]));
    if b.len() != CURSOR_SLOT
        || !b.starts_with(CURSOR_MAGIC)
        || crc32fast::hash(&b[..28]).to_le_bytes() != b[28..32]
    {
        return None;
    }
    Some((
        word(4..12),
        Pos {
            segment: word(12..20),
            offset: word(20..28),
        },
    ))
}

/// Reads one record at the reader's position. `Ok(None)` at a clean end; `Err` on a torn
/// or corrupt record.
fn read_record(r: &mut impl Read) -> Result<Option<(u64, Vec<u8>)>, ()> {
    let mut head = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match r.read(&mut head[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(()),
            Ok(n) => got += n,
            Err(_) => return Err(()),
        }
    }
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_RECORD_BYTES {
        return Err(());
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).map_err(|_| ())?;
    if crc32fast::hash(&payload) != crc {
        return Err(());
    }
    Ok(Some((8 + u64::from(len), payload)))
}

impl DiskSpool {
    /// Opens (or creates) the spool in `dir`, recovering what a previous run left.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        fsync: FsyncPolicy,
        read_ahead: usize,
    ) -> Result<Self, SpoolError> {
        let syncs = fsync != FsyncPolicy::Never;
        if syncs {
            create_dir_synced(dir)?;
        } else {
            fs::create_dir_all(dir)?;
        }
        let segs = list_segments(dir)?;
        let stored = read_cursor(dir);
        let mut cursor = stored.map(|(_, p)| p).unwrap_or(Pos {
            segment: segs.first().copied().unwrap_or(1),
            offset: 0,
        });
        // A two-slot cursor file is overwritten in place from now on; a missing, older
        // or unreadable one is replaced whole by the first cursor write.
        let cursor_file = match stored {
            Some((seq, _)) if seq > 0 => OpenOptions::new()
                .read(true)
                .write(true)
                .open(dir.join(CURSOR_FILE))
                .ok()
                .map(|f| (f, seq)),
            _ => None,
        };
        let cursor_seq = cursor_file.as_ref().map_or(0, |(_, seq)| *seq);
        let cursor_file = cursor_file.map(|(f, _)| f);
        if !segs.contains(&cursor.segment) {
            // Only delivered segments are deleted: a missing one held nothing pending
            // (a reclaim interrupted before its cursor was written).
            cursor.offset = 0;
        }
        let mut counters = SpoolCounters::default();
        // Validate every segment from the cursor on; truncate a torn tail.
        let mut pending = 0usize;
        let mut bytes = 0u64;
        let mut last = Pos {
            segment: cursor.segment.max(1),
            offset: 0,
        };
        for &n in segs.iter().filter(|&&n| n >= cursor.segment) {
            let path = seg_path(dir, n);
            let f = File::open(&path)?;
            let mut r = BufReader::new(f);
            let mut off = 0u64;
            let start = if n == cursor.segment {
                cursor.offset
            } else {
                0
            };
            loop {
                match read_record(&mut r) {
                    Ok(Some((sz, _))) => {
                        off += sz;
                        if off > start {
                            pending += 1;
                            bytes += sz;
                        }
                    }
                    Ok(None) => break,
                    Err(()) => {
                        counters.corrupt += 1;
                        OpenOptions::new().write(true).open(&path)?.set_len(off)?;
                        break;
                    }
                }
            }
            last = Pos {
                segment: n,
                offset: off,
            };
        }
        // Segments wholly before the cursor were delivered.
        for &n in segs.iter().filter(|&&n| n < cursor.segment) {
            if let Err(e) = fs::remove_file(seg_path(dir, n)) {
                tracing::warn!(dir = %dir.display(), segment = n, error = %e, "spool: delivered segment not removed");
            }
        }
        let writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(seg_path(dir, last.segment))?;
        if syncs {
            // What a crashed run left may still be only in the page cache: make it durable
            // before acks rely on it, with the segment's directory entry.
            writer.sync_data()?;
            sync_dir(dir)?;
        }
        counters.bytes = bytes;
        Ok(DiskSpool {
            dir: dir.to_path_buf(),
            writer,
            write_pos: last,
            read_pos: cursor,
            cursor,
            persisted: cursor,
            cursor_file,
            cursor_seq,
            synced: last,
            ahead: VecDeque::new(),
            read_ahead: read_ahead.max(1),
            pending,
            max_bytes,
            fsync,
            last_sync: Instant::now(),
            last_cursor_write: Instant::now(),
            cursor_failing: false,
            dirty: false,
            starved: false,
            reopen: false,
            counters,
            #[cfg(test)]
            probe: Arc::default(),
        })
    }

    fn append(&mut self, d: &Delivery) -> Result<Pos, SpoolError> {
        let payload = serde_json::to_vec(d).map_err(|e| SpoolError::Encode(e.to_string()))?;
        if payload.len() as u64 > u64::from(MAX_RECORD_BYTES) {
            return Err(SpoolError::Encode(format!(
                "record of {} bytes",
                payload.len()
            )));
        }
        let sz = 8 + payload.len() as u64;
        if self.counters.bytes + sz > self.max_bytes {
            return Err(SpoolError::Full(self.max_bytes));
        }
        if self.reopen {
            self.writer = self.open_segment(self.write_pos.segment)?;
            self.reopen = false;
        }
        if self.write_pos.offset + sz > SEGMENT_BYTES && self.write_pos.offset > 0 {
            self.fsync(&self.writer)?;
            let next = self.write_pos.segment + 1;
            self.writer = self.open_segment(next)?;
            self.write_pos = Pos {
                segment: next,
                offset: 0,
            };
            self.synced = self.write_pos;
        }
        let mut buf = Vec::with_capacity(sz as usize);
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        buf.extend_from_slice(&payload);
        if let Err(e) = self.writer.write_all(&buf) {
            // A short write leaves part of a record: cut it off so that the next append
            // starts on a record boundary and the reader is not stuck on a torn record.
            self.starved = true;
            if let Err(t) = self.writer.set_len(self.write_pos.offset) {
                tracing::error!(dir = %self.dir.display(), error = %t, "spool: cannot cut a failed append back; the next start truncates it");
            }
            return Err(e.into());
        }
        self.write_pos.offset += sz;
        self.pending += 1;
        self.counters.appended += 1;
        self.counters.bytes += sz;
        self.dirty = true;
        if let Err(e) = self.sync(false) {
            // Not durable, so not accepted: the caller waits and retries (as for a full
            // disk), and the record is cut off so that the retry does not store it twice.
            self.write_pos.offset -= sz;
            self.pending -= 1;
            self.counters.appended -= 1;
            self.counters.bytes -= sz;
            if let Err(t) = self.writer.set_len(self.write_pos.offset) {
                tracing::error!(dir = %self.dir.display(), error = %t, "spool: cannot cut an unsynced append back; it may be delivered twice");
            }
            return Err(e);
        }
        Ok(self.write_pos)
    }

    fn sync(&mut self, force: bool) -> Result<(), SpoolError> {
        if self.dirty {
            let due = match self.fsync {
                FsyncPolicy::Always => true,
                FsyncPolicy::Interval(ms) => {
                    force || self.last_sync.elapsed().as_millis() as u64 >= ms
                }
                FsyncPolicy::Never => false,
            };
            if due {
                self.sync_now()?;
            }
        }
        // A cursor left in memory by a lazy ack (`interval`) is written once due.
        if self.cursor != self.persisted && (force || !self.cursor_lazy()) {
            if self.fsync != FsyncPolicy::Never && self.cursor > self.synced {
                self.sync_now()?;
            }
            match self.write_cursor() {
                Ok(()) => self.remove_delivered(),
                // Only the restart point lags (a restart re-sends what it passed); the
                // spool goes on, so a full disk can still drain and free space. Tried
                // again an interval later.
                Err(e) if !force => {
                    self.last_cursor_write = Instant::now();
                    if !self.cursor_failing {
                        tracing::warn!(dir = %self.dir.display(), error = %e, "spool cursor not written; a restart re-sends what was acknowledged since the last one");
                    }
                    self.cursor_failing = true;
                }
                Err(e) => return Err(SpoolError::Cursor(e)),
            }
        }
        Ok(())
    }

    /// Under `interval`, the cursor is written at most once per interval (each write is
    /// a data fsync, a file fsync and a directory fsync): an ack in between only moves
    /// it in memory. A crash then re-delivers at most the last interval of acknowledged
    /// deliveries (at least once); nothing is lost.
    fn cursor_lazy(&self) -> bool {
        match self.fsync {
            FsyncPolicy::Interval(ms) => (self.last_cursor_write.elapsed().as_millis() as u64) < ms,
            _ => false,
        }
    }

    fn sync_now(&mut self) -> Result<(), SpoolError> {
        self.fsync(&self.writer)?;
        self.last_sync = Instant::now();
        self.dirty = false;
        self.synced = self.write_pos;
        Ok(())
    }

    /// Loads records after `read_pos` into the read-ahead buffer.
    fn fill(&mut self) -> Result<(), SpoolError> {
        while self.ahead.len() < self.read_ahead {
            if self.read_pos >= self.write_pos && self.read_pos.segment >= self.write_pos.segment {
                break;
            }
            let path = seg_path(&self.dir, self.read_pos.segment);
            let mut f = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if self.read_pos.segment < self.write_pos.segment {
                        self.read_pos = Pos {
                            segment: self.read_pos.segment + 1,
                            offset: 0,
                        };
                        continue;
                    }
                    break;
                }
                Err(e) => return Err(e.into()),
            };
            f.seek(SeekFrom::Start(self.read_pos.offset))?;
            let mut r = BufReader::new(f);
            let mut progressed = false;
            while self.ahead.len() < self.read_ahead {
                match read_record(&mut r) {
                    Ok(Some((sz, payload))) => {
                        self.read_pos.offset += sz;
                        progressed = true;
                        match serde_json::from_slice::<Delivery>(&payload) {
                            Ok(d) => self.ahead.push_back((self.read_pos, d)),
                            Err(_) => {
                                // Valid checksum, undecodable payload (older version):
                                // skip it but keep it counted.
                                self.counters.corrupt += 1;
                                self.pending = self.pending.saturating_sub(1);
                            }
                        }
                    }
                    Ok(None) | Err(()) => break,
                }
            }
            if !progressed {
                if self.read_pos.segment < self.write_pos.segment {
                    self.read_pos = Pos {
                        segment: self.read_pos.segment + 1,
                        offset: 0,
                    };
                } else {
                    break;
                }
            }
        }
        Ok(())
    }

    fn peek(&mut self, n: usize) -> Result<Vec<(Pos, Delivery)>, SpoolError> {
        if self.ahead.len() < n {
            self.writer.flush()?;
            self.fill()?;
        }
        Ok(self.ahead.iter().take(n).cloned().collect())
    }

    fn ack(&mut self, pos: Pos) -> Result<(), SpoolError> {
        // What the ack covers, worked out before anything changes: a failed fsync below
        // must leave all of it pending.
        let (mut covered, mut cursor, mut freed) = (0usize, self.cursor, 0u64);
        for (p, _) in self.ahead.iter().take_while(|(p, _)| *p <= pos) {
            let prev = if p.segment == cursor.segment {
                cursor.offset
            } else {
                0
            };
            freed += p.offset.saturating_sub(prev);
            cursor = *p;
            covered += 1;
        }
        // A durable cursor past data that is not durable would skip that data after a
        // power cut. A lazy ack (see `cursor_lazy`) writes no cursor, so needs no sync.
        let lazy = self.cursor_lazy() && cursor.segment == self.persisted.segment;
        if !lazy && self.fsync != FsyncPolicy::Never && cursor > self.synced {
            self.sync_now()?;
        }
        self.ahead.drain(..covered);
        self.cursor = cursor;
        self.pending = self.pending.saturating_sub(covered);
        self.counters.acked += covered as u64;
        self.counters.bytes = self.counters.bytes.saturating_sub(freed);
        if let Err(e) = self.reclaim_if_drained() {
            tracing::warn!(dir = %self.dir.display(), error = %e, "spool: delivered segment not removed");
        }
        // A reclaimed segment moves the cursor to the next one: always written.
        let must = !lazy || self.cursor.segment != self.persisted.segment;
        if self.cursor != self.persisted && must {
            if lazy && self.fsync != FsyncPolicy::Never && self.cursor > self.synced {
                self.sync_now()?;
            }
            self.write_cursor().map_err(SpoolError::Cursor)?;
        }
        self.remove_delivered();
        Ok(())
    }

    /// Writes the cursor: in place into the older slot of the cursor file (fsynced), or,
    /// the first time, the whole file atomically (write, fsync, rename, directory fsync).
    fn write_cursor(&mut self) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let syncs = self.fsync != FsyncPolicy::Never;
        let seq = self.cursor_seq + 1;
        let slot = encode_slot(seq, self.cursor);
        let at = (seq % 2) as usize * CURSOR_SLOT;
        if let Some(f) = &self.cursor_file {
            f.write_all_at(&slot, at as u64)?;
            if syncs {
                self.fsync(f)?;
            }
        } else {
            let tmp = self.dir.join(CURSOR_TMP);
            let mut whole = [0u8; 2 * CURSOR_SLOT];
            whole[at..at + CURSOR_SLOT].copy_from_slice(&slot);
            {
                let mut f = File::create(&tmp)?;
                f.write_all(&whole)?;
                if syncs {
                    self.fsync(&f)?;
                }
            }
            let path = self.dir.join(CURSOR_FILE);
            fs::rename(&tmp, &path)?;
            if syncs {
                self.fsync_dir()?;
            }
            self.cursor_file = OpenOptions::new().read(true).write(true).open(&path).ok();
        }
        self.cursor_seq = seq;
        self.persisted = self.cursor;
        self.last_cursor_write = Instant::now();
        self.cursor_failing = false;
        Ok(())
    }

    /// Removes segments the written cursor has passed. Best effort: they hold nothing
    /// pending, and a leftover is removed by a later ack or the next start.
    fn remove_delivered(&mut self) {
        if self.persisted.segment >= self.write_pos.segment {
            return;
        }
        let mut doomed = match list_segments(&self.dir) {
            Ok(segs) => segs
                .into_iter()
                .filter(|&n| n < self.persisted.segment)
                .collect(),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "spool: cannot list segments");
                Vec::new()
            }
        };
        if self.persisted.offset > 0
            && self.read_pos.segment > self.persisted.segment
            && self.ahead.is_empty()
        {
            // Everything in the cursor's segment is acknowledged.
            doomed.push(self.persisted.segment);
        }
        let mut removed = false;
        for n in doomed {
            match fs::remove_file(seg_path(&self.dir, n)) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(dir = %self.dir.display(), segment = n, error = %e, "spool: delivered segment not removed");
                }
            }
        }
        if removed {
            self.sync_dir_after_removal();
        }
    }

    /// Under `always`, a removed segment must stay removed after a power cut.
    fn sync_dir_after_removal(&self) {
        if self.fsync == FsyncPolicy::Always {
            if let Err(e) = self.fsync_dir() {
                tracing::warn!(dir = %self.dir.display(), error = %e, "spool: directory fsync after a removal failed; a power cut may bring a delivered segment back (nothing is re-sent: the cursor is past it)");
            }
        }
    }

    /// Replaces a fully acknowledged segment by an empty next one (positions stay
    /// monotonic), so its blocks go back to the file system.
    fn reclaim_if_drained(&mut self) -> Result<(), SpoolError> {
        let drained = self.pending == 0
            && self.ahead.is_empty()
            && self.cursor == self.write_pos
            && self.read_pos == self.write_pos;
        if !drained
            || self.write_pos.offset == 0
            || !(self.starved || self.write_pos.offset >= RECLAIM_BYTES)
        {
            return Ok(());
        }
        let old = self.write_pos.segment;
        let next = Pos {
            segment: old + 1,
            offset: 0,
        };
        let created = self.open_segment(next.segment);
        // On a full disk the old segment's blocks may be what creating the next needs.
        let removed = fs::remove_file(seg_path(&self.dir, old));
        if removed.is_ok() {
            self.sync_dir_after_removal();
        }
        let created = created.or_else(|_| self.open_segment(next.segment));
        self.write_pos = next;
        self.read_pos = next;
        self.cursor = next;
        self.synced = next;
        self.counters.bytes = 0;
        self.starved = false;
        self.dirty = false;
        match created {
            Ok(f) => {
                self.writer = f;
                self.reopen = false;
            }
            // Never append to the deleted file: the next append creates the segment.
            Err(_) => self.reopen = true,
        }
        removed.map_err(SpoolError::from)
    }

    /// Every fsync of the spool goes through here (the test seam).
    fn fsync(&self, f: &File) -> io::Result<()> {
        #[cfg(test)]
        if self.probe.fail.load(Ordering::SeqCst) {
            self.probe.refused.fetch_add(1, Ordering::SeqCst);
            return Err(io::Error::other("injected fsync failure"));
        }
        f.sync_data()
    }

    /// The probe of this spool (unit tests).
    #[cfg(test)]
    pub(crate) fn probe(&self) -> Arc<SyncProbe> {
        self.probe.clone()
    }

    /// Opens (creating) segment `n`; its directory entry is synced unless `never`.
    fn open_segment(&self, n: u64) -> io::Result<File> {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(seg_path(&self.dir, n))?;
        if self.fsync != FsyncPolicy::Never {
            self.fsync_dir()?;
        }
        Ok(f)
    }

    fn fsync_dir(&self) -> io::Result<()> {
        #[cfg(test)]
        {
            self.probe.dir_syncs.fetch_add(1, Ordering::SeqCst);
            if self.probe.fail.load(Ordering::SeqCst) {
                self.probe.refused.fetch_add(1, Ordering::SeqCst);
                return Err(io::Error::other("injected fsync failure"));
            }
        }
        sync_dir(&self.dir)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::correlate::AuditRecord;
    use crate::record::{ChangeSet, ObjectRef};

    /// A delivery with a distinct timestamp (shared with the worker's tests).
    pub(crate) fn audit(n: i64) -> Delivery {
        Delivery::Audit(Box::new(AuditRecord {
            ts: n,
            cluster: "c".into(),
            controller: None,
            action: "revision_applied".into(),
            subject: ObjectRef::new("Kustomization", "ns", format!("k{n}")),
            tenant: "ns".into(),
            source: None,
            source_url: None,
            revision: None,
            commit: None,
            changes: ChangeSet::default(),
            outcome: "success".into(),
            message: String::new(),
        }))
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fluxsight-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn survives_reopen_and_acks() {
        let dir = tmpdir("reopen");
        {
            let mut s =
                Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 4).unwrap());
            for i in 0..10 {
                s.push(&audit(i)).unwrap();
            }
            let b = s.peek(3).unwrap();
            assert_eq!(b.len(), 3);
            s.ack(b[2].0).unwrap();
            assert_eq!(s.len(), 7);
        }
        let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 4).unwrap());
        assert_eq!(s.len(), 7);
        let mut seen = Vec::new();
        loop {
            let b = s.peek(4).unwrap();
            if b.is_empty() {
                break;
            }
            for (_, d) in &b {
                if let Delivery::Audit(a) = d {
                    seen.push(a.ts);
                }
            }
            s.ack(b.last().unwrap().0).unwrap();
        }
        assert_eq!(seen, (3..10).collect::<Vec<_>>());
        let _ = fs::remove_dir_all(&dir);
    }

    /// Drains `n` deliveries one ack at a time, returning their timestamps.
    fn drain_one_by_one(s: &mut Queue, n: usize) -> Vec<i64> {
        let mut seen = Vec::new();
        for _ in 0..n {
            let b = s.peek(1).unwrap();
            if let Some((pos, Delivery::Audit(a))) = b.first() {
                seen.push(a.ts);
                s.ack(*pos).unwrap();
            }
        }
        seen
    }

    #[test]
    fn cursor_is_overwritten_in_place_and_a_torn_slot_falls_back() {
        let dir = tmpdir("cursor-slots");
        let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 4).unwrap());
        for i in 0..6 {
            s.push(&audit(i)).unwrap();
        }
        assert_eq!(drain_one_by_one(&mut s, 3), vec![0, 1, 2]);
        let path = dir.join(CURSOR_FILE);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 2 * CURSOR_SLOT, "two slots");
        let (seq, third) = parse_cursor(&bytes).unwrap();
        assert_eq!(seq, 3, "one sequence number per cursor write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ino = fs::metadata(&path).unwrap().ino();
            drain_one_by_one(&mut s, 1);
            assert_eq!(
                fs::metadata(&path).unwrap().ino(),
                ino,
                "later writes reuse the file (no new block needed on a full disk)"
            );
        }
        drop(s);
        // The newest slot (seq 4, holding the 4th ack) is torn: the previous one wins.
        let mut bytes = fs::read(&path).unwrap();
        let newest = 0; // seq 4 lives in slot 4 % 2 = 0
        bytes[newest + 13] ^= 0xff;
        fs::write(&path, &bytes).unwrap();
        assert_eq!(parse_cursor(&bytes), Some((3, third)));
        let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 4).unwrap());
        assert_eq!(
            drain_one_by_one(&mut s, 3),
            vec![3, 4, 5],
            "re-sent from the previous cursor (at least once)"
        );
        drop(s);
        let s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 4).unwrap());
        assert_eq!(s.len(), 0, "the slot written after the torn one is read");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_older_text_cursor_is_read_and_replaced() {
        let dir = tmpdir("cursor-text");
        let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 4).unwrap());
        for i in 0..4 {
            s.push(&audit(i)).unwrap();
        }
        let second = s.peek(2).unwrap()[1].0;
        drop(s);
        fs::write(
            dir.join(CURSOR_FILE),
            format!("{} {}", second.segment, second.offset),
        )
        .unwrap();
        let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 4).unwrap());
        assert_eq!(s.len(), 2, "the text cursor is honoured");
        assert_eq!(drain_one_by_one(&mut s, 1), vec![2]);
        drop(s);
        let bytes = fs::read(dir.join(CURSOR_FILE)).unwrap();
        assert_eq!(bytes.len(), 2 * CURSOR_SLOT, "replaced by the slot format");
        let s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 4).unwrap());
        assert_eq!(s.len(), 1);
        assert_eq!(parse_cursor(b"garbage"), None);
        assert_eq!(parse_cursor(&[0u8; 2 * CURSOR_SLOT]), None, "no valid slot");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn torn_tail_is_truncated_and_counted() {
        let dir = tmpdir("torn");
        {
            let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Never, 4).unwrap());
            for i in 0..3 {
                s.push(&audit(i)).unwrap();
            }
        }
        let seg = seg_path(&dir, 1);
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 5)
            .unwrap();
        let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Never, 4).unwrap());
        assert_eq!(s.counters().corrupt, 1);
        assert_eq!(s.len(), 2);
        s.push(&audit(9)).unwrap();
        let b = s.peek(10).unwrap();
        assert_eq!(b.len(), 3);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn full_spool_refuses() {
        let dir = tmpdir("full");
        let mut s = Queue::Disk(DiskSpool::open(&dir, 600, FsyncPolicy::Never, 4).unwrap());
        let mut n = 0;
        while s.push(&audit(n)).is_ok() {
            n += 1;
        }
        assert!(n >= 1);
        assert!(matches!(s.push(&audit(99)), Err(SpoolError::Full(_))));
        let b = s.peek(100).unwrap();
        s.ack(b.last().unwrap().0).unwrap();
        assert!(s.push(&audit(100)).is_ok(), "acking frees space");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn drained_spool_starts_a_fresh_segment() {
        let dir = tmpdir("reclaim");
        let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 30, FsyncPolicy::Never, 64).unwrap());
        let mut n = 0;
        while !fs::metadata(seg_path(&dir, 1)).is_ok_and(|m| m.len() >= RECLAIM_BYTES) {
            s.push(&audit(n)).unwrap();
            n += 1;
        }
        loop {
            let b = s.peek(64).unwrap();
            let Some((last, _)) = b.last() else { break };
            s.ack(*last).unwrap();
        }
        assert!(!seg_path(&dir, 1).exists(), "the delivered segment is gone");
        assert_eq!(fs::metadata(seg_path(&dir, 2)).unwrap().len(), 0);
        assert_eq!(s.counters().bytes, 0);
        s.push(&audit(1000)).unwrap();
        drop(s);
        let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 30, FsyncPolicy::Never, 64).unwrap());
        let b = s.peek(10).unwrap();
        assert_eq!(b.len(), 1, "only the record after the reclaim is pending");
        assert!(matches!(&b[0].1, Delivery::Audit(a) if a.ts == 1000));
        let _ = fs::remove_dir_all(&dir);
    }

    fn ts_of(q: &mut Queue) -> Vec<i64> {
        q.peek(1000)
            .unwrap()
            .iter()
            .filter_map(|(_, d)| match d {
                Delivery::Audit(a) => Some(a.ts),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn failed_append_fsync_is_reported_and_cut_back() {
        let dir = tmpdir("append-fsync");
        let spool = DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 16).unwrap();
        let probe = spool.probe();
        let mut s = Queue::Disk(spool);
        s.push(&audit(0)).unwrap();
        let len = fs::metadata(seg_path(&dir, 1)).unwrap().len();
        probe.fail.store(true, Ordering::SeqCst);
        assert!(
            matches!(s.push(&audit(1)), Err(SpoolError::Io(_))),
            "an append that cannot be synced is refused"
        );
        assert_eq!(s.len(), 1, "the refused append is not pending");
        assert_eq!(
            fs::metadata(seg_path(&dir, 1)).unwrap().len(),
            len,
            "the unsynced record is cut back, so the caller's retry does not duplicate it"
        );
        probe.fail.store(false, Ordering::SeqCst);
        s.push(&audit(2)).unwrap();
        drop(s);
        let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 16).unwrap());
        assert_eq!(ts_of(&mut s), vec![0, 2]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn ack_never_moves_the_cursor_past_unsynced_data() {
        let dir = tmpdir("ack-fsync");
        // An interval so long that appends are never synced on their own, and acks are
        // lazy: the cursor moves in memory and is written once due (here: forced).
        let spool = DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Interval(3_600_000), 16).unwrap();
        let probe = spool.probe();
        let mut s = Queue::Disk(spool);
        for i in 0..3 {
            s.push(&audit(i)).unwrap();
        }
        probe.fail.store(true, Ordering::SeqCst);
        let b = s.peek(3).unwrap();
        s.ack(b[2].0).unwrap();
        assert_eq!(s.len(), 0, "acknowledged in memory");
        assert!(
            !dir.join("cursor").exists(),
            "no cursor written by a lazy ack"
        );
        assert!(
            s.sync(true).is_err(),
            "writing the cursor reports the failed fsync"
        );
        assert!(!dir.join("cursor").exists(), "no cursor past unsynced data");
        probe.fail.store(false, Ordering::SeqCst);
        s.sync(true).unwrap();
        drop(s);
        let s = Queue::Disk(DiskSpool::open(&dir, 1 << 20, FsyncPolicy::Always, 16).unwrap());
        assert_eq!(
            s.len(),
            0,
            "the cursor was written once the data was synced"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn always_syncs_the_directory_after_renames_and_removals() {
        for (policy, name) in [
            (FsyncPolicy::Always, "always"),
            (FsyncPolicy::Never, "never"),
        ] {
            let dir = tmpdir(&format!("dirsync-{name}"));
            // Filled without fsyncs (fast), then reopened under the policy tested: past
            // RECLAIM_BYTES, the ack that drains the spool also creates the next segment
            // and removes the delivered one.
            let mut s = Queue::Disk(DiskSpool::open(&dir, 1 << 30, FsyncPolicy::Never, 1).unwrap());
            let mut n = 0;
            while !fs::metadata(seg_path(&dir, 1)).is_ok_and(|m| m.len() >= RECLAIM_BYTES) {
                s.push(&audit(n)).unwrap();
                n += 1;
            }
            drop(s);
            let spool = DiskSpool::open(&dir, 1 << 30, policy, 100_000).unwrap();
            let probe = spool.probe();
            let dir_syncs = || probe.dir_syncs.load(Ordering::SeqCst);
            let mut s = Queue::Disk(spool);
            let b = s.peek(1).unwrap();
            s.ack(b[0].0).unwrap();
            let plain_ack = dir_syncs();
            let b = s.peek(100_000).unwrap();
            assert_eq!(b.len() as i64, n - 1);
            s.ack(b.last().unwrap().0).unwrap();
            let reclaiming_ack = dir_syncs() - plain_ack;
            assert!(!seg_path(&dir, 1).exists(), "the delivered segment is gone");
            if policy == FsyncPolicy::Always {
                assert_eq!(plain_ack, 1, "the new cursor file's rename is synced");
                assert!(
                    reclaiming_ack >= 2,
                    "new segment and removal synced (the cursor is overwritten in place): \
                     {reclaiming_ack}"
                );
            } else {
                assert_eq!((plain_ack, reclaiming_ack), (0, 0), "never: the OS decides");
            }
            let _ = fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn memory_queue_is_bounded() {
        let mut q = Queue::Memory(MemQueue::new(2));
        q.push(&audit(1)).unwrap();
        q.push(&audit(2)).unwrap();
        assert!(q.push(&audit(3)).is_err());
        let b = q.peek(5).unwrap();
        q.ack(b[0].0).unwrap();
        assert_eq!(q.len(), 1);
    }
}
