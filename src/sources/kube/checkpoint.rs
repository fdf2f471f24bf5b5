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
//! Invariant: a position only advances after the line was handed to the pipeline, so a
//! restart re-reads at most what was not yet checkpointed (at-least-once, never a gap
//! the API could still serve).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

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
    let t = k8s_openapi::chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    let n = t.timestamp() as i128 * 1_000_000_000 + t.timestamp_subsec_nanos() as i128;
    Some((n, &line[sp + 1..]))
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
    pub fn since(&self) -> Option<k8s_openapi::chrono::DateTime<k8s_openapi::chrono::Utc>> {
        let n = self.last?;
        let secs = (n.div_euclid(1_000_000_000)) as i64;
        k8s_openapi::chrono::DateTime::from_timestamp(secs, 0)
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

/// All source positions, shared by the Kubernetes sources.
#[derive(Debug, Default)]
pub struct Checkpoints {
    path: Option<PathBuf>,
    streams: Mutex<BTreeMap<String, LogCursor>>,
    watches: Mutex<BTreeMap<String, String>>,
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
        let streams = stored
            .streams
            .into_iter()
            .map(|(k, s)| {
                let mut c = LogCursor {
                    last: s.last_ns.parse().ok(),
                    ..LogCursor::default()
                };
                for h in s.hashes {
                    c.at_last.insert(h);
                    c.remember(h);
                }
                (k, c)
            })
            .collect();
        Ok(Checkpoints {
            path: Some(path),
            streams: Mutex::new(streams),
            watches: Mutex::new(stored.watches),
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
        let stored = Stored {
            streams: self
                .streams
                .lock()
                .unwrap_or_else(|e| e.into_inner())
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
            watches: self
                .watches
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
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
        assert_eq!(c.since().unwrap().to_rfc3339(), "2026-03-02T10:20:39+00:00");
        // A previous-container read: seen lines dropped, unseen ones kept.
        assert!(!c.admit_previous(a));
        assert!(c.admit_previous(b"2026-03-02T10:20:37Z lost before the crash"));
    }

    #[test]
    fn saved_and_loaded() {
        let dir = std::env::temp_dir().join(format!("fluxsight-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let c = Checkpoints::load(&dir).unwrap();
        c.with_stream("pod/ns/p/c", |c| c.admit(b"2026-03-02T10:20:38.5Z x"));
        c.set_watch_rv("watch/Event", "42");
        c.save().unwrap();
        let c2 = Checkpoints::load(&dir).unwrap();
        assert!(!c2.with_stream("pod/ns/p/c", |c| c.admit(b"2026-03-02T10:20:38.5Z x")));
        assert!(c2.with_stream("pod/ns/p/c", |c| c.admit(b"2026-03-02T10:20:38.5Z y")));
        assert_eq!(c2.watch_rv("watch/Event").as_deref(), Some("42"));
        assert!(rv_not_newer("41", "42") && !rv_not_newer("43", "42"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
