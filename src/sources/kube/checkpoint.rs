//! Source positions: per log stream the last timestamp seen and the hashes of the lines
//! at that timestamp, per watch the newest resourceVersion; persisted atomically
//! (write to a temporary file, fsync, rename) every few seconds and at shutdown.
//!
//! Owns: deduplication of log lines across reconnects and restarts. The API resumes a
//! log at `sinceTime` with second precision, so a resumed stream repeats lines; a line
//! is admitted when its timestamp is newer than the last one seen, or equal to it with
//! content not seen yet. A restarted container's previous instance is read once; its
//! lines are admitted when their hash is not among the recently seen lines.
//!
//! Two views: the read cursors (deduplication while running) advance as lines are read;
//! what is saved is the committed view, which advances only when the pipeline commits a
//! line end to end (its records consumed, its outputs safe in every sink's spool; see
//! [`crate::sources::ack`]), one tracker per log stream and per watch.
//!
//! Invariant: a saved position never passes a line whose outputs are not safe, so a
//! restart re-reads at most what was not yet committed (at-least-once, never a gap the
//! API could still serve).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::sources::ack::{Ack, Tracker};

/// File name of the checkpoint inside its directory.
pub const CHECKPOINT_FILE: &str = "kube-checkpoint.json";
/// Recent line hashes kept per stream (to drop what a previous-container read repeats).
const RECENT: usize = 4096;
/// Most hashes kept for one timestamp (lines sharing a timestamp are rare).
const SAME_TS: usize = 1024;
/// Most streams remembered; the oldest positions go first.
const MAX_STREAMS: usize = 10_000;

/// A log line timestamp in nanoseconds since the epoch.
pub type Nanos = i128;

/// FNV-1a: stable across builds, so hashes in a checkpoint stay valid after an upgrade.
pub fn line_hash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The RFC 3339 timestamp `kubectl logs --timestamps` puts before a line, and the rest.
pub fn split_timestamp(line: &[u8]) -> Option<(Nanos, &[u8])> {
    let sp = memchr::memchr(b' ', line)?;
    let ts = std::str::from_utf8(&line[..sp]).ok()?;
    let t: k8s_openapi::jiff::Timestamp = ts.parse().ok()?;
    Some((t.as_nanosecond(), &line[sp + 1..]))
}

/// Position of one log stream.
#[derive(Debug, Default, Clone)]
pub struct LogCursor {
    /// Newest timestamp admitted.
    pub last: Option<Nanos>,
    /// Hashes of the lines admitted at `last`.
    at_last: HashSet<u64>,
    recent: VecDeque<u64>,
    recent_set: HashSet<u64>,
}

impl LogCursor {
    /// Whether a followed line is new; records it when it is.
    pub fn admit(&mut self, line: &[u8]) -> bool {
        let h = line_hash(line);
        match split_timestamp(line) {
            // No timestamp: nothing to order by; only an exact recent repeat is dropped.
            None => self.admit_unordered(h),
            Some((ts, _)) => {
                match self.last {
                    Some(l) if ts < l => return false,
                    Some(l) if ts == l => {
                        if !self.at_last.insert(h) {
                            return false;
                        }
                        if self.at_last.len() > SAME_TS {
                            self.at_last.clear();
                            self.at_last.insert(h);
                        }
                    }
                    _ => {
                        self.last = Some(ts);
                        self.at_last.clear();
                        self.at_last.insert(h);
                    }
                }
                self.remember(h);
                true
            }
        }
    }

    /// Whether a line read from a previous container instance was not seen yet.
    pub fn admit_previous(&mut self, line: &[u8]) -> bool {
        self.admit_unordered(line_hash(line))
    }

    fn admit_unordered(&mut self, h: u64) -> bool {
        if self.recent_set.contains(&h) {
            return false;
        }
        self.remember(h);
        true
    }

    fn remember(&mut self, h: u64) {
        if self.recent_set.insert(h) {
            self.recent.push_back(h);
            if self.recent.len() > RECENT {
                if let Some(old) = self.recent.pop_front() {
                    self.recent_set.remove(&old);
                }
            }
        }
    }

    /// `sinceTime` to resume from (whole seconds, as the API takes it).
    /// Truncated, never rounded up: kube rounds `sinceTime` to the nearest second, which
    /// would skip the lines of the last half second.
    pub fn since(&self) -> Option<k8s_openapi::jiff::Timestamp> {
        let n = self.last?;
        let secs = (n.div_euclid(1_000_000_000)) as i64;
        k8s_openapi::jiff::Timestamp::from_second(secs).ok()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoredStream {
    /// Nanoseconds since the epoch of the last line (a string: JSON numbers lose bits).
    last_ns: String,
    hashes: Vec<u64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    #[serde(default)]
    streams: BTreeMap<String, StoredStream>,
    #[serde(default)]
    watches: BTreeMap<String, String>,
}

/// The committed position of one log stream.
#[derive(Debug, Default)]
struct AckedStream {
    /// Per line handed over: its timestamp and hash (`None`: no timestamp).
    tracker: Tracker<Option<(Nanos, u64)>>,
    last: Option<Nanos>,
    at_last: HashSet<u64>,
}

impl AckedStream {
    fn apply(&mut self) {
        for (ts, h) in self.tracker.take_committed().into_iter().flatten() {
            match self.last {
                Some(l) if ts < l => {}
                Some(l) if ts == l => {
                    if self.at_last.len() < SAME_TS {
                        self.at_last.insert(h);
                    }
                }
                _ => {
                    self.last = Some(ts);
                    self.at_last.clear();
                    self.at_last.insert(h);
                }
            }
        }
    }
}

/// The committed resourceVersion of one watch.
#[derive(Debug, Default)]
struct AckedWatch {
    tracker: Tracker<String>,
    rv: Option<String>,
}

/// The committed view (what is saved).
#[derive(Debug, Default)]
struct Acked {
    streams: BTreeMap<String, AckedStream>,
    watches: BTreeMap<String, AckedWatch>,
}

/// All source positions, shared by the Kubernetes sources.
#[derive(Debug, Default)]
pub struct Checkpoints {
    path: Option<PathBuf>,
    streams: Mutex<BTreeMap<String, LogCursor>>,
    watches: Mutex<BTreeMap<String, String>>,
    acked: Mutex<Acked>,
}

/// Errors reading or writing the checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("checkpoint {path}: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
}

impl Checkpoints {
    /// Positions kept in memory only.
    pub fn in_memory() -> Self {
        Checkpoints::default()
    }

    /// Loads the checkpoint of `dir` (empty when there is none yet).
    pub fn load(dir: &Path) -> Result<Self, CheckpointError> {
        let path = dir.join(CHECKPOINT_FILE);
        let p = path.display().to_string();
        std::fs::create_dir_all(dir).map_err(|source| CheckpointError::Io {
            path: p.clone(),
            source,
        })?;
        let stored: Stored = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|source| CheckpointError::Json { path: p, source })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Stored::default(),
            Err(source) => return Err(CheckpointError::Io { path: p, source }),
        };
        let mut acked = Acked::default();
        let streams = stored
            .streams
            .into_iter()
            .map(|(k, s)| {
                let mut c = LogCursor {
                    last: s.last_ns.parse().ok(),
                    ..LogCursor::default()
                };
                for &h in &s.hashes {
                    c.at_last.insert(h);
                    c.remember(h);
                }
                acked.streams.insert(
                    k.clone(),
                    AckedStream {
                        last: c.last,
                        at_last: s.hashes.into_iter().collect(),
                        ..AckedStream::default()
                    },
                );
                (k, c)
            })
            .collect();
        for (k, rv) in &stored.watches {
            acked.watches.insert(
                k.clone(),
                AckedWatch {
                    rv: Some(rv.clone()),
                    ..AckedWatch::default()
                },
            );
        }
        Ok(Checkpoints {
            path: Some(path),
            streams: Mutex::new(streams),
            watches: Mutex::new(stored.watches),
            acked: Mutex::new(acked),
        })
    }

    /// Runs `f` on the cursor of `stream`.
    pub fn with_stream<T>(&self, stream: &str, f: impl FnOnce(&mut LogCursor) -> T) -> T {
        let mut m = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if !m.contains_key(stream) && m.len() >= MAX_STREAMS {
            // Forget the stream that has been quiet longest.
            if let Some(k) = m.iter().min_by_key(|(_, c)| c.last).map(|(k, _)| k.clone()) {
                m.remove(&k);
            }
        }
        f(m.entry(stream.to_string()).or_default())
    }

    /// The ack of a log line of `stream` handed to the pipeline (`None` when positions
    /// are kept in memory only: nothing to commit).
    pub fn ack_log(&self, stream: &str, line: &[u8]) -> Option<Ack> {
        self.path.as_ref()?;
        let pos = split_timestamp(line).map(|(ts, _)| (ts, line_hash(line)));
        let mut a = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        if !a.streams.contains_key(stream) && a.streams.len() >= MAX_STREAMS {
            // Forget an idle stream that has been quiet longest.
            if let Some(k) = a
                .streams
                .iter()
                .filter(|(_, s)| s.tracker.in_flight() == 0)
                .min_by_key(|(_, s)| s.last)
                .map(|(k, _)| k.clone())
            {
                a.streams.remove(&k);
            }
        }
        Some(
            a.streams
                .entry(stream.to_string())
                .or_default()
                .tracker
                .issue(pos),
        )
    }

    /// The ack of a watch event at resourceVersion `rv` handed to the pipeline.
    pub fn ack_watch(&self, name: &str, rv: &str) -> Option<Ack> {
        self.path.as_ref()?;
        let mut a = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            a.watches
                .entry(name.to_string())
                .or_default()
                .tracker
                .issue(rv.to_string()),
        )
    }

    /// Lines handed over and not committed yet, over every stream and watch.
    pub fn in_flight(&self) -> usize {
        let a = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        a.streams
            .values()
            .map(|s| s.tracker.in_flight())
            .sum::<usize>()
            + a.watches
                .values()
                .map(|w| w.tracker.in_flight())
                .sum::<usize>()
    }

    /// The newest resourceVersion of watch `name`.
    pub fn watch_rv(&self, name: &str) -> Option<String> {
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    pub fn set_watch_rv(&self, name: &str, rv: &str) {
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), rv.to_string());
    }

    /// Writes the checkpoint (no-op when kept in memory only).
    pub fn save(&self) -> Result<(), CheckpointError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let stored = {
            let mut a = self.acked.lock().unwrap_or_else(|e| e.into_inner());
            for s in a.streams.values_mut() {
                s.apply();
            }
            for w in a.watches.values_mut() {
                // Listed objects come in no particular order: keep the newest.
                for rv in w.tracker.take_committed() {
                    if w.rv.as_ref().is_none_or(|old| !rv_not_newer(&rv, old)) {
                        w.rv = Some(rv);
                    }
                }
            }
            Stored {
                streams: a
                    .streams
                    .iter()
                    .filter_map(|(k, c)| {
                        Some((
                            k.clone(),
                            StoredStream {
                                last_ns: c.last?.to_string(),
                                hashes: c.at_last.iter().copied().collect(),
                            },
                        ))
                    })
                    .collect(),
                watches: a
                    .watches
                    .iter()
                    .filter_map(|(k, w)| Some((k.clone(), w.rv.clone()?)))
                    .collect(),
            }
        };
        let p = path.display().to_string();
        let bytes = serde_json::to_vec(&stored).map_err(|source| CheckpointError::Json {
            path: p.clone(),
            source,
        })?;
        let tmp = path.with_extension("json.tmp");
        let io = |source| CheckpointError::Io {
            path: p.clone(),
            source,
        };
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&bytes).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(())
    }
}

/// Compares two resourceVersions when both are numbers (etcd's are; the API calls them
/// opaque, so anything else compares as "not older").
pub fn rv_not_newer(rv: &str, than: &str) -> bool {
    match (rv.parse::<u64>(), than.parse::<u64>()) {
        (Ok(a), Ok(b)) => a <= b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_drops_repeats_and_keeps_new_lines() {
        let mut c = LogCursor::default();
        let a = b"2026-03-02T10:20:38.1Z first";
        let b = b"2026-03-02T10:20:38.2Z second";
        let b2 = b"2026-03-02T10:20:38.2Z second twin";
        assert!(c.admit(a));
        assert!(c.admit(b));
        // Resumed at the whole second: the API repeats both.
        assert!(!c.admit(a));
        assert!(!c.admit(b));
        // Same timestamp, other content: new.
        assert!(c.admit(b2));
        assert!(c.admit(b"2026-03-02T10:20:39Z third"));
        assert_eq!(c.since().unwrap().to_string(), "2026-03-02T10:20:39Z");
        // Late in the second: truncated, never rounded up past unread lines.
        assert!(c.admit(b"2026-03-02T10:20:39.900000000+00:00 fourth"));
        assert_eq!(c.since().unwrap().to_string(), "2026-03-02T10:20:39Z");
        // A previous-container read: seen lines dropped, unseen ones kept.
        assert!(!c.admit_previous(a));
        assert!(c.admit_previous(b"2026-03-02T10:20:37Z lost before the crash"));
    }

    #[test]
    fn saved_positions_are_the_committed_ones_not_the_read_ones() {
        let dir = std::env::temp_dir().join(format!("fluxsight-ckpt-ack-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = Checkpoints::load(&dir).unwrap();
        let l1 = b"2026-03-02T10:20:38Z one";
        let l2 = b"2026-03-02T10:20:40Z two";
        assert!(c.with_stream("s", |x| x.admit(l1)));
        let a1 = c.ack_log("s", l1).unwrap();
        assert!(c.with_stream("s", |x| x.admit(l2)));
        let _a2 = c.ack_log("s", l2).unwrap();
        let w = c.ack_watch("watch/Event", "7").unwrap();
        c.set_watch_rv("watch/Event", "7");
        // Read but not committed: nothing saved yet.
        c.save().unwrap();
        let r = Checkpoints::load(&dir).unwrap();
        assert!(r.with_stream("s", |x| x.since()).is_none());
        assert_eq!(r.watch_rv("watch/Event"), None);
        // The pipeline commits the first line and the watch event.
        a1.cell.commit(a1.seq, None);
        w.cell.commit(w.seq, None);
        c.save().unwrap();
        let r = Checkpoints::load(&dir).unwrap();
        assert_eq!(
            r.with_stream("s", |x| x.since()).unwrap().to_string(),
            "2026-03-02T10:20:38Z"
        );
        assert!(
            !r.with_stream("s", |x| x.admit(l1)),
            "committed line not re-sent"
        );
        assert!(
            r.with_stream("s", |x| x.admit(l2)),
            "uncommitted line read again"
        );
        assert_eq!(r.watch_rv("watch/Event").as_deref(), Some("7"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn saved_and_loaded() {
        let dir = std::env::temp_dir().join(format!("fluxsight-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = Checkpoints::load(&dir).unwrap();
        c.with_stream("pod/ns/p/c", |c| c.admit(b"2026-03-02T10:20:38.5Z x"));
        let a = c
            .ack_log("pod/ns/p/c", b"2026-03-02T10:20:38.5Z x")
            .unwrap();
        a.cell.commit(a.seq, None);
        c.set_watch_rv("watch/Event", "42");
        let w = c.ack_watch("watch/Event", "42").unwrap();
        w.cell.commit(w.seq, None);
        c.save().unwrap();
        let c2 = Checkpoints::load(&dir).unwrap();
        assert!(!c2.with_stream("pod/ns/p/c", |c| c.admit(b"2026-03-02T10:20:38.5Z x")));
        assert!(c2.with_stream("pod/ns/p/c", |c| c.admit(b"2026-03-02T10:20:38.5Z y")));
        assert_eq!(c2.watch_rv("watch/Event").as_deref(), Some("42"));
        assert!(rv_not_newer("41", "42") && !rv_not_newer("43", "42"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
