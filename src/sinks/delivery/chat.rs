//! Chat delivery state: one thread per incident for every chat sink (Slack, Teams,
//! Google Chat).
//!
//! Owns: the persisted per-notification state (last notified severity and blast radius,
//! time of the last post, the posted message's id, resolved or not), and the pure
//! decision [`decide`] of what a chat sink does with an update: post a new message, edit
//! the message in place, reply in its thread, resolve it, or skip. Does not own any
//! transport or message text (the sink and `render::slack` do).
//!
//! Keys: a finding's id; a route group's key for group deliveries (`render` shows a
//! group as one message, so it is one thread). Audit records carry no state: each is
//! posted as it comes.
//!
//! Time: `now` is passed in; sinks pass the update's own time (the record time of its
//! last evidence), so replay decides as a live run did and nothing reads a clock here.
//!
//! At least once: the sink decides when it is handed a delivery, i.e. after the worker
//! spooled it, and saves the state (temporary file, fsync, rename, directory fsync)
//! before the delivery is acknowledged. A crash after a post and before that save
//! replays the delivery from the spool with the old state: the message is posted once
//! more (at most once: the retry saves). A skip never loses a resolution: a resolution
//! is skipped only when the state already says resolved.
//!
//! Invariant: the state is bounded ([`DEFAULT_MAX_THREADS`]); when full, resolved
//! threads go first (oldest update first), then the oldest firing ones; every eviction
//! is counted and persisted with the state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::correlate::Status;
use crate::record::{Severity, TsMs};
use crate::sinks::{Delivery, SinkError};

/// Directory of chat state files under the state directory: `<state_dir>/chat/<sink>.json`.
pub const STATE_SUBDIR: &str = "chat";
/// Threads kept per sink.
pub const DEFAULT_MAX_THREADS: usize = 10_000;
/// Default growth of the blast radius that earns a threaded reply.
pub const DEFAULT_THREAD_STEP: Step = Step::Percent(50);
/// Default re-notification interval of a firing, coalesced finding (webhook mode).
pub const DEFAULT_REPEAT_INTERVAL_MS: u64 = 4 * 3_600_000;
/// Format version of the state file.
const STATE_VERSION: u32 = 1;

/// `thread_step` as written: a count (`5`) or a share of the last notified radius (`"50%"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StepSpec {
    Count(u64),
    Text(String),
}

impl StepSpec {
    /// The step, or why the value is not one.
    pub fn parse(&self) -> Result<Step, String> {
        let bad = |s: &str| format!("'{s}' is not a count such as 5 or a share such as 50%");
        match self {
            StepSpec::Count(0) => Err("must be at least 1".into()),
            StepSpec::Count(n) => Ok(Step::Count(*n)),
            StepSpec::Text(s) => {
                let t = s.trim();
                match t.strip_suffix('%') {
                    Some(p) => match p.trim().parse::<u32>() {
                        Ok(0) => Err("must be above 0%".into()),
                        Ok(p) => Ok(Step::Percent(p)),
                        Err(_) => Err(bad(s)),
                    },
                    None => match t.parse::<u64>() {
                        Ok(n) => StepSpec::Count(n).parse(),
                        Err(_) => Err(bad(s)),
                    },
                }
            }
        }
    }
}

/// How much the blast radius must grow, since the last notification, for a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// By this many impacted objects.
    Count(u64),
    /// By this share of the last notified radius (at least one object).
    Percent(u32),
}

impl Step {
    fn grew(self, from: usize, to: usize) -> bool {
        let need = match self {
            Step::Count(n) => n as usize,
            Step::Percent(p) => (from * p as usize).div_ceil(100),
        };
        to > from && to - from >= need.max(1)
    }
}

/// What a sink can do with a message once posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Messages can be edited and threaded (Slack Web API with a bot token).
    Threads { step: Step },
    /// Post only (incoming webhooks): updates are coalesced, re-notified per `repeat_ms`.
    Webhook { repeat_ms: u64 },
}

/// Why a thread gets a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escalation {
    SeverityRose { from: Severity },
    RadiusGrew { from: usize },
}

/// Why an update is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Older than what the state already holds (a replayed or out-of-order delivery).
    Stale,
    /// The same update again (at-least-once redelivery), or a second resolution.
    Duplicate,
    /// Webhook mode: no severity change, no resolution, repeat interval not reached.
    Coalesced,
}

/// What a chat sink does with one update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A new message (first firing; webhook mode: also severity change and repeat).
    Post,
    /// Update the message in place.
    Edit,
    /// Update the message in place and reply in its thread.
    Reply(Escalation),
    /// Mark resolved: edit the header and reply (threads), or post (webhook).
    Resolve,
    Skip(SkipReason),
}

/// The facts of an update that decisions depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Finding id, or group key.
    pub key: String,
    pub severity: Severity,
    /// Blast radius: impacted objects (a group: the sum over its firing findings, each
    /// counting at least itself).
    pub impacted: usize,
    pub resolved: bool,
    /// Time of the update (last evidence).
    pub seen: TsMs,
}

impl Update {
    /// The update a delivery carries; `None` for audit records and digests (no thread:
    /// each is posted as it comes, a digest being a one-off summary of a window).
    pub fn of(d: &Delivery) -> Option<Update> {
        match d {
            Delivery::Finding(f) => Some(Update {
                key: f.id.clone(),
                severity: f.severity,
                impacted: f.impacted.len(),
                resolved: f.status == Status::Resolved,
                seen: f.last_seen,
            }),
            Delivery::Group(g) => {
                let firing: Vec<_> = g
                    .findings
                    .iter()
                    .filter(|f| f.status == Status::Firing)
                    .collect();
                let severity = firing
                    .iter()
                    .map(|f| f.severity)
                    .max()
                    .or_else(|| g.findings.iter().map(|f| f.severity).max())
                    .unwrap_or_default();
                Some(Update {
                    key: format!("group:{}", g.key),
                    severity,
                    impacted: firing.iter().map(|f| f.impacted.len().max(1)).sum(),
                    resolved: firing.is_empty(),
                    seen: g.findings.iter().map(|f| f.last_seen).max().unwrap_or(0),
                })
            }
            Delivery::Audit(_) | Delivery::Digest(_) | Delivery::Signal(_) => None,
        }
    }
}

/// A posted message: enough to edit it and reply in its thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    /// Channel id as the chat service returned it (edits need the id, not the name).
    pub channel: String,
    /// Message id (Slack `ts`); also the thread's id.
    pub ts: String,
}

/// Persisted state of one thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadState {
    /// Severity last notified (posted or replied; lowered by edits).
    pub severity: Severity,
    /// Blast radius last notified (posted or replied; lowered by edits).
    pub impacted: usize,
    /// When the last post or reply went out (update time).
    pub last_post: TsMs,
    /// Time of the last update taken into account (duplicates and stale updates).
    pub last_seen: TsMs,
    /// The message posted (threads mode).
    pub message: Option<MessageRef>,
    pub resolved: bool,
}

/// Decides what to do with `u` given the thread's state (pure).
pub fn decide(prev: Option<&ThreadState>, u: &Update, now: TsMs, mode: Mode) -> Decision {
    let Some(p) = prev else {
        return Decision::Post;
    };
    if u.seen < p.last_seen {
        return Decision::Skip(SkipReason::Stale);
    }
    if u.seen == p.last_seen && u.resolved == p.resolved {
        return Decision::Skip(SkipReason::Duplicate);
    }
    match (p.resolved, u.resolved) {
        // Fired again after its resolution: a new incident, a new message.
        (true, false) => return Decision::Post,
        (true, true) => return Decision::Skip(SkipReason::Duplicate),
        (false, true) => return Decision::Resolve,
        (false, false) => {}
    }
    match mode {
        Mode::Threads { step } => {
            if p.message.is_none() {
                // Posted by an incoming webhook before a switch to a bot token.
                Decision::Post
            } else if u.severity > p.severity {
                Decision::Reply(Escalation::SeverityRose { from: p.severity })
            } else if step.grew(p.impacted, u.impacted) {
                Decision::Reply(Escalation::RadiusGrew { from: p.impacted })
            } else {
                Decision::Edit
            }
        }
        Mode::Webhook { repeat_ms } => {
            if u.severity != p.severity || now.saturating_sub(p.last_post) >= repeat_ms as i64 {
                Decision::Post
            } else {
                Decision::Skip(SkipReason::Coalesced)
            }
        }
    }
}

/// The state after `d` was carried out for `u` (`message`: the message a post created).
pub fn apply(
    prev: Option<&ThreadState>,
    d: Decision,
    u: &Update,
    now: TsMs,
    message: Option<MessageRef>,
) -> Option<ThreadState> {
    let notified = |message| ThreadState {
        severity: u.severity,
        impacted: u.impacted,
        last_post: now,
        last_seen: u.seen,
        message,
        resolved: u.resolved,
    };
    match (d, prev) {
        (Decision::Post, _) => Some(notified(message)),
        (Decision::Skip(SkipReason::Stale | SkipReason::Duplicate), _) => None,
        (_, None) => Some(notified(message)),
        (Decision::Reply(_), Some(p)) => Some(notified(message.or_else(|| p.message.clone()))),
        (Decision::Resolve, Some(p)) => Some(ThreadState {
            last_post: now,
            last_seen: u.seen,
            resolved: true,
            message: message.or_else(|| p.message.clone()),
            ..p.clone()
        }),
        (Decision::Edit | Decision::Skip(SkipReason::Coalesced), Some(p)) => Some(ThreadState {
            // What is shown now is the baseline for a later rise or growth.
            severity: p.severity.min(u.severity),
            impacted: p.impacted.min(u.impacted),
            last_seen: u.seen,
            // An edit of a message that was gone posted a new one.
            message: message.or_else(|| p.message.clone()),
            ..p.clone()
        }),
    }
}

/// Why chat state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("chat state {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("chat state {}: not a state file ({error})", path.display())]
    Parse { path: PathBuf, error: String },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    threads: BTreeMap<String, ThreadState>,
    evicted_resolved: u64,
    evicted_firing: u64,
}

/// The threads of one sink, in memory and (with a path) on disk.
#[derive(Debug)]
pub struct ChatStore {
    path: Option<PathBuf>,
    file: StateFile,
    cap: usize,
    /// Changed since the last successful [`ChatStore::save`].
    dirty: bool,
}

impl ChatStore {
    /// A store kept in memory only (no state directory: nothing survives a restart).
    pub fn in_memory() -> Self {
        ChatStore {
            path: None,
            file: StateFile::default(),
            cap: DEFAULT_MAX_THREADS,
            dirty: false,
        }
    }

    /// An empty store that saves to `path` (replacing an unreadable file there).
    pub fn fresh_at(path: &Path) -> Self {
        ChatStore {
            path: Some(path.to_path_buf()),
            ..Self::in_memory()
        }
    }

    /// The state file of sink `sink` under `state_dir`.
    pub fn path_for(state_dir: &Path, sink: &str) -> PathBuf {
        state_dir.join(STATE_SUBDIR).join(format!("{sink}.json"))
    }

    /// Reads the store at `path` (empty when the file does not exist yet).
    pub fn open(path: &Path) -> Result<Self, ChatError> {
        let file = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice::<StateFile>(&b).map_err(|e| ChatError::Parse {
                path: path.to_path_buf(),
                error: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StateFile::default(),
            Err(source) => {
                return Err(ChatError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        Ok(ChatStore {
            path: Some(path.to_path_buf()),
            file,
            cap: DEFAULT_MAX_THREADS,
            dirty: false,
        })
    }

    /// Most threads kept (tests use small caps).
    pub fn with_cap(mut self, cap: usize) -> Self {
        self.cap = cap.max(1);
        self
    }

    pub fn get(&self, key: &str) -> Option<&ThreadState> {
        self.file.threads.get(key)
    }

    pub fn len(&self) -> usize {
        self.file.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.file.threads.is_empty()
    }

    /// Threads evicted to stay within the cap: (resolved, firing).
    pub fn evicted(&self) -> (u64, u64) {
        (self.file.evicted_resolved, self.file.evicted_firing)
    }

    /// Stores the state of `key`, evicting to stay within the cap.
    pub fn put(&mut self, key: &str, state: ThreadState) {
        if !self.file.threads.contains_key(key) {
            while self.file.threads.len() >= self.cap {
                self.evict_one();
            }
        }
        self.file.threads.insert(key.to_string(), state);
        self.dirty = true;
    }

    fn evict_one(&mut self) {
        let oldest = |resolved: bool| {
            self.file
                .threads
                .iter()
                .filter(|(_, t)| t.resolved == resolved)
                .min_by_key(|(k, t)| (t.last_seen, (*k).clone()))
                .map(|(k, _)| k.clone())
        };
        if let Some(k) = oldest(true) {
            self.file.threads.remove(&k);
            self.file.evicted_resolved += 1;
        } else if let Some(k) = oldest(false) {
            // A later update of this finding posts a new message.
            self.file.threads.remove(&k);
            self.file.evicted_firing += 1;
        }
    }

    /// Whether changes wait to be saved.
    pub fn dirty(&self) -> bool {
        self.dirty && self.path.is_some()
    }

    /// Writes the state when it changed (temporary file, fsync, rename, directory fsync).
    pub fn save(&mut self) -> Result<(), ChatError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        self.file.version = STATE_VERSION;
        crate::sinks::atomic::write_json(path, &self.file).map_err(|source| ChatError::Io {
            path: path.clone(),
            source,
        })?;
        self.dirty = false;
        Ok(())
    }
}

/// A sink's chat state, read from its file at the first use, so a sink rebuilt by a
/// config reload reads what the sink it replaces saved last. An unreadable (corrupt)
/// file starts afresh with an ERROR: refusing to deliver until someone repairs it would
/// mute the channel, and new messages are the lesser harm.
#[derive(Debug)]
pub struct LazyStore {
    sink: String,
    path: Option<PathBuf>,
    store: Option<ChatStore>,
}

impl LazyStore {
    /// The state of sink `sink`, saved under `state_dir` when there is one.
    pub fn new(sink: &str, state_dir: Option<&Path>) -> Self {
        LazyStore {
            sink: sink.to_string(),
            path: state_dir.map(|d| ChatStore::path_for(d, sink)),
            store: None,
        }
    }

    /// Where the state is saved (`None`: in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The state, loaded at the first call.
    pub fn get(&mut self) -> Result<&mut ChatStore, SinkError> {
        if self.store.is_none() {
            let store = match &self.path {
                None => ChatStore::in_memory(),
                Some(p) => match ChatStore::open(p) {
                    Ok(s) => s,
                    Err(e @ ChatError::Parse { .. }) => {
                        tracing::error!(sink = %self.sink, error = %e, "chat state unreadable; starting afresh: updates of earlier findings post new messages");
                        ChatStore::fresh_at(p)
                    }
                    Err(e) => return Err(SinkError::retryable(e.to_string())),
                },
            };
            self.store = Some(store);
        }
        Ok(self.store.as_mut().expect("loaded above"))
    }

    /// Saves what changed; retryable on failure (nothing is acknowledged before it).
    pub fn save(&mut self) -> Result<(), SinkError> {
        self.get()?
            .save()
            .map_err(|e| SinkError::retryable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Decision::*;
    use Severity::*;

    const THREADS: Mode = Mode::Threads {
        step: DEFAULT_THREAD_STEP,
    };
    const HOOK: Mode = Mode::Webhook {
        repeat_ms: 3_600_000,
    };

    fn state(sev: Severity, impacted: usize, last_post: TsMs, resolved: bool) -> ThreadState {
        ThreadState {
            severity: sev,
            impacted,
            last_post,
            last_seen: last_post,
            message: Some(MessageRef {
                channel: "C1".into(),
                ts: "1.0".into(),
            }),
            resolved,
        }
    }

    fn upd(sev: Severity, impacted: usize, resolved: bool, seen: TsMs) -> Update {
        Update {
            key: "f".into(),
            severity: sev,
            impacted,
            resolved,
            seen,
        }
    }

    #[test]
    fn decision_table() {
        let firing3 = state(Warning, 3, 1_000, false);
        let resolved = state(Warning, 3, 1_000, true);
        let webhook_posted = ThreadState {
            message: None,
            ..firing3.clone()
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, Option<&ThreadState>, Update, Mode, Decision)> = vec![
            ("first firing posts", None, upd(Warning, 3, false, 1_000), THREADS, Post),
            ("first firing posts (webhook)", None, upd(Warning, 3, false, 1_000), HOOK, Post),
            ("resolution never seen firing posts", None, upd(Warning, 3, true, 1_000), HOOK, Post),
            ("small growth edits", Some(&firing3), upd(Warning, 4, false, 2_000), THREADS, Edit),
            ("growth by 50% replies", Some(&firing3), upd(Warning, 5, false, 2_000), THREADS,
                Reply(Escalation::RadiusGrew { from: 3 })),
            ("severity rise replies", Some(&firing3), upd(Critical, 3, false, 2_000), THREADS,
                Reply(Escalation::SeverityRose { from: Warning })),
            ("severity drop edits", Some(&firing3), upd(Info, 3, false, 2_000), THREADS, Edit),
            ("resolution resolves", Some(&firing3), upd(Warning, 3, true, 2_000), THREADS, Resolve),
            ("resolution with an unchanged time resolves", Some(&firing3), upd(Warning, 3, true, 1_000), HOOK, Resolve),
            ("second resolution skips", Some(&resolved), upd(Warning, 3, true, 3_000), THREADS,
                Skip(SkipReason::Duplicate)),
            ("refiring after resolution posts", Some(&resolved), upd(Warning, 3, false, 3_000), THREADS, Post),
            ("redelivered update skips", Some(&firing3), upd(Warning, 3, false, 1_000), THREADS,
                Skip(SkipReason::Duplicate)),
            ("older update skips", Some(&firing3), upd(Critical, 9, false, 500), THREADS,
                Skip(SkipReason::Stale)),
            ("webhook-posted thread is posted again with a token", Some(&webhook_posted),
                upd(Warning, 4, false, 2_000), THREADS, Post),
            ("webhook: growth coalesces", Some(&firing3), upd(Warning, 9, false, 2_000), HOOK,
                Skip(SkipReason::Coalesced)),
            ("webhook: severity change posts", Some(&firing3), upd(Error, 3, false, 2_000), HOOK, Post),
            ("webhook: severity drop posts", Some(&firing3), upd(Info, 3, false, 2_000), HOOK, Post),
            ("webhook: repeat interval re-notifies", Some(&firing3),
                upd(Warning, 3, false, 1_000 + 3_600_000), HOOK, Post),
            ("webhook: resolution posts", Some(&firing3), upd(Warning, 3, true, 2_000), HOOK, Resolve),
        ];
        for (name, prev, u, mode, want) in cases {
            assert_eq!(decide(prev, &u, u.seen, mode), want, "{name}");
        }
    }

    #[test]
    fn steps() {
        let s = |t: &str| StepSpec::Text(t.into()).parse();
        assert_eq!(s("50%"), Ok(Step::Percent(50)));
        assert_eq!(s("5"), Ok(Step::Count(5)));
        assert_eq!(StepSpec::Count(3).parse(), Ok(Step::Count(3)));
        assert!(s("0%").is_err() && s("x").is_err() && StepSpec::Count(0).parse().is_err());
        assert!(Step::Count(5).grew(3, 8) && !Step::Count(5).grew(3, 7));
        // 50% of 3 is 1.5: two more objects.
        assert!(Step::Percent(50).grew(3, 5) && !Step::Percent(50).grew(3, 4));
        assert!(
            Step::Percent(50).grew(0, 1),
            "from nothing, one object is growth"
        );
        assert!(!Step::Percent(50).grew(5, 5) && !Step::Percent(50).grew(5, 2));
    }

    #[test]
    fn growth_is_measured_from_the_last_notification() {
        // 3 → 4 (edit) → 5: the reply compares with 3, not with 4.
        let mut s = state(Warning, 3, 0, false);
        for (impacted, seen, want) in [
            (4, 10, Edit),
            (5, 20, Reply(Escalation::RadiusGrew { from: 3 })),
            (6, 30, Edit),
            (8, 40, Reply(Escalation::RadiusGrew { from: 5 })),
        ] {
            let u = upd(Warning, impacted, false, seen);
            let d = decide(Some(&s), &u, seen, THREADS);
            assert_eq!(d, want, "radius {impacted}");
            s = apply(Some(&s), d, &u, seen, None).unwrap();
            assert_eq!(s.message.as_ref().unwrap().ts, "1.0", "one thread");
        }
    }

    #[test]
    fn webhook_coalesces_until_the_repeat_interval_and_keeps_the_resolution() {
        let mut s: Option<ThreadState> = None;
        let mut posts = Vec::new();
        let updates = [
            upd(Warning, 3, false, 0),
            upd(Warning, 4, false, 1_000),
            upd(Warning, 5, false, 2_000),
            upd(Warning, 5, false, 3_700_000),
            upd(Warning, 6, false, 3_800_000),
            upd(Warning, 6, true, 3_900_000),
            upd(Warning, 6, true, 3_900_000),
        ];
        for u in &updates {
            let d = decide(s.as_ref(), u, u.seen, HOOK);
            if matches!(d, Post | Resolve) {
                posts.push((u.seen, d));
            }
            if let Some(n) = apply(s.as_ref(), d, u, u.seen, None) {
                s = Some(n);
            }
        }
        assert_eq!(
            posts,
            vec![(0, Post), (3_700_000, Post), (3_900_000, Resolve)]
        );
    }

    #[test]
    fn store_is_bounded_resolved_first_and_persists() {
        let dir = std::env::temp_dir().join(format!("fluxsight-chat-{}", std::process::id()));
        let path = ChatStore::path_for(&dir, "slack");
        let _ = std::fs::remove_file(&path);
        let mut st = ChatStore::open(&path).unwrap().with_cap(3);
        st.put("a", state(Warning, 1, 10, false));
        st.put("b", state(Warning, 1, 20, true));
        st.put("c", state(Warning, 1, 5, true));
        st.put("d", state(Warning, 1, 30, false));
        assert!(st.get("c").is_none(), "oldest resolved goes first");
        st.put("e", state(Warning, 1, 40, false));
        assert!(st.get("b").is_none(), "then the next resolved");
        st.put("f", state(Warning, 1, 50, false));
        assert!(st.get("a").is_none(), "then the oldest firing");
        assert_eq!(st.evicted(), (2, 1));
        assert!(st.dirty());
        st.save().unwrap();
        assert!(!st.dirty());
        let back = ChatStore::open(&path).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back.get("f"), st.get("f"));
        assert_eq!(back.evicted(), (2, 1));
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            ChatStore::open(&path),
            Err(ChatError::Parse { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
