//! End-to-end acknowledgement of source positions, in the manner of Vector's end-to-end
//! acknowledgements: a source may checkpoint a position only once the pipeline has
//! consumed every line before it and everything those lines produced is safe (in every
//! sink's spool, or in a persisted router group).
//!
//! A source that checkpoints (a followed file, a Kubernetes log stream or watch) holds a
//! [`Tracker`]: each line it hands over gets an [`Ack`] (its cell and a sequence number),
//! and the tracker remembers the position that line ends at. The pipeline commits the
//! highest sequence number of a batch once the batch's outputs are safe
//! ([`AckCell::commit`]); the source's checkpoint writer then asks the tracker which
//! position is committed ([`Tracker::committed`]) and saves that one, never its read
//! position.
//!
//! Invariant: one cell per ordered stream. Lines of one cell reach the pipeline in the
//! order their sequence numbers were issued (one task sends them, over one FIFO channel),
//! so committing sequence `n` means every line up to `n` was consumed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::record::TsMs;

/// What the pipeline has committed for one stream: the highest sequence number whose
/// outputs are safe, and the newest record time seen up to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    pub seq: u64,
    pub ts: Option<TsMs>,
}

/// Shared between a source and the pipeline.
#[derive(Debug, Default)]
pub struct AckCell {
    committed: Mutex<Committed>,
}

impl AckCell {
    /// Marks every line up to `seq` safe; `ts` is the newest record time among them.
    /// Never moves back.
    pub fn commit(&self, seq: u64, ts: Option<TsMs>) {
        let mut c = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        if seq >= c.seq {
            c.seq = seq;
        }
        if let Some(t) = ts {
            c.ts = Some(c.ts.map_or(t, |o| o.max(t)));
        }
    }

    pub fn committed(&self) -> Committed {
        *self.committed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The acknowledgement handle a line carries through the pipeline.
#[derive(Debug, Clone)]
pub struct Ack {
    pub cell: Arc<AckCell>,
    pub seq: u64,
    /// Re-read after a restart only to rebuild the correlator's windows: whatever it
    /// produces was delivered before the restart (see `follow`'s lookback).
    pub rebuild: bool,
}

/// Source side: positions handed out and not committed yet, oldest first. Its length is
/// bounded by the lines in flight (the pipeline's bounded channels).
#[derive(Debug)]
pub struct Tracker<P> {
    cell: Arc<AckCell>,
    next: u64,
    pending: VecDeque<(u64, P)>,
}

impl<P> Default for Tracker<P> {
    fn default() -> Self {
        Tracker {
            cell: Arc::new(AckCell::default()),
            next: 0,
            pending: VecDeque::new(),
        }
    }
}

impl<P> Tracker<P> {
    /// The ack of a line that ends at position `p`.
    pub fn issue(&mut self, p: P) -> Ack {
        self.next += 1;
        self.pending.push_back((self.next, p));
        Ack {
            cell: self.cell.clone(),
            seq: self.next,
            rebuild: false,
        }
    }

    /// The newest committed position (`None`: nothing new committed since the last
    /// call) and the newest record time committed so far.
    pub fn committed(&mut self) -> (Option<P>, Option<TsMs>) {
        let c = self.cell.committed();
        let mut last = None;
        while self.pending.front().is_some_and(|(s, _)| *s <= c.seq) {
            last = self.pending.pop_front().map(|(_, p)| p);
        }
        (last, c.ts)
    }

    /// Every position committed since the last call, oldest first.
    pub fn take_committed(&mut self) -> Vec<P> {
        let c = self.cell.committed();
        let mut out = Vec::new();
        while self.pending.front().is_some_and(|(s, _)| *s <= c.seq) {
            if let Some((_, p)) = self.pending.pop_front() {
                out.push(p);
            }
        }
        out
    }

    /// Lines handed out and not committed yet.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Forgets positions not committed (the stream restarts from a new origin, such as
    /// a rotated file's successor): their lines are still acknowledged through the cell,
    /// but no longer move this tracker.
    pub fn reset_pending(&mut self) {
        self.pending.clear();
    }
}

/// The acks of one batch: per cell, the highest sequence number and newest record time.
#[derive(Debug, Default)]
pub struct BatchAcks {
    marks: Vec<(Arc<AckCell>, u64, Option<TsMs>)>,
}

impl BatchAcks {
    /// Adds a line's ack with the newest time of the records it produced.
    pub fn add(&mut self, ack: Ack, ts: Option<TsMs>) {
        // Few streams per batch: a linear scan beats hashing.
        if let Some(m) = self.marks.iter_mut().find(|m| Arc::ptr_eq(&m.0, &ack.cell)) {
            m.1 = m.1.max(ack.seq);
            if let Some(t) = ts {
                m.2 = Some(m.2.map_or(t, |o| o.max(t)));
            }
            return;
        }
        self.marks.push((ack.cell, ack.seq, ts));
    }

    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }

    /// Commits every stream of the batch (its outputs are safe).
    pub fn commit(self) {
        for (cell, seq, ts) in self.marks {
            cell.commit(seq, ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_position_follows_the_pipeline_not_the_reader() {
        let mut t: Tracker<u64> = Tracker::default();
        let a1 = t.issue(10);
        let a2 = t.issue(20);
        let _a3 = t.issue(30);
        assert_eq!(t.committed(), (None, None), "nothing consumed yet");
        let mut b = BatchAcks::default();
        b.add(a1, Some(5));
        b.add(a2, Some(7));
        b.commit();
        assert_eq!(t.committed(), (Some(20), Some(7)));
        assert_eq!(t.committed(), (None, Some(7)), "no new commit");
        assert_eq!(t.in_flight(), 1);
    }
}
