//! The live pipeline's inputs: one bounded channel per source (each `--input`, the
//! Kubernetes source, the event receiver), merged with tokio-stream's [`StreamMap`].
//!
//! Owns: giving each source its sender, taking lines for one batch fairly from every
//! source that has some, and telling the decode stage when one source has ended (every
//! sender of it dropped and its lines taken) so that the forms its streams still
//! assemble are finished then, not when the whole run ends.
//!
//! Why per source and not one shared channel: with one FIFO a source that floods (a
//! backlog of 100 k lines) puts a full channel (`LINE_CHANNEL` lines, 16 batches) ahead
//! of a quiet source's next line; [`StreamMap::next_many`] polls the sources round-robin,
//! so a quiet source's line is taken in the next batch. Back-pressure stays per source:
//! a full channel makes only its own source wait.
//!
//! Invariant: the lines of one source are taken in the order it sent them (one FIFO per
//! source), so a stream's acknowledgements (`sources::ack`) still commit in order, and an
//! end is reported only after every line of that source was taken.

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{StreamMap, StreamNotifyClose};

use crate::sources::{LineTx, SourceLine, LINE_CHANNEL};

/// Which source a line came from (the order sources were added).
pub type SourceId = usize;

/// What one take yields, in order: lines, and sources whose last line was taken.
#[derive(Debug)]
pub enum Taken {
    Line(SourceId, SourceLine),
    Ended(SourceId),
}

/// Every source's channel, merged.
#[derive(Default)]
pub struct Inputs {
    /// `StreamNotifyClose`: a source's end is an item of its own (`None`), taken as soon
    /// as its channel is closed and empty, even while every other source is idle.
    map: StreamMap<SourceId, StreamNotifyClose<ReceiverStream<SourceLine>>>,
    /// Sources not ended yet, with a handle that reads their queue length without
    /// keeping them open.
    open: Vec<(SourceId, mpsc::WeakSender<SourceLine>)>,
    next: SourceId,
    taken: Vec<(SourceId, Option<SourceLine>)>,
}

impl Inputs {
    /// A new source's sender: a channel of [`LINE_CHANNEL`] lines of its own.
    pub fn source(&mut self) -> LineTx {
        let (tx, rx) = mpsc::channel(LINE_CHANNEL);
        let id = self.next;
        self.next += 1;
        self.map
            .insert(id, StreamNotifyClose::new(ReceiverStream::new(rx)));
        self.open.push((id, tx.downgrade()));
        tx
    }

    /// Waits until some source has a line or ends, then takes up to `limit` items,
    /// round-robin across sources, into `out`. `false` once every source has ended (and
    /// that was taken).
    pub async fn take(&mut self, out: &mut Vec<Taken>, limit: usize) -> bool {
        // Unconstrained: each `recv` spends tokio's cooperative budget (128 per task
        // poll), which would cut batches to 128 lines; `limit` bounds the work instead.
        let n = tokio::task::unconstrained(self.map.next_many(&mut self.taken, limit)).await;
        for (id, item) in self.taken.drain(..) {
            out.push(match item {
                Some(line) => Taken::Line(id, line),
                None => {
                    self.open.retain(|(o, _)| *o != id);
                    Taken::Ended(id)
                }
            });
        }
        n > 0
    }

    /// Lines queued in the channels of sources still sending (a gauge: once a source
    /// has dropped its senders its last queued lines no longer count).
    pub fn queued(&self) -> usize {
        self.open
            .iter()
            .filter_map(|(_, w)| w.upgrade())
            .map(|tx| tx.max_capacity() - tx.capacity())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use crate::pipeline::live::BATCH_LINES;

    fn line(stream: &str, n: usize) -> SourceLine {
        SourceLine {
            stream: Arc::from(stream),
            bytes: n.to_string().into_bytes(),
            controller: None,
            ack: None,
        }
    }

    /// Waits (yielding to the sender tasks) until `n` lines are queued.
    async fn until_queued(inputs: &Inputs, n: usize) {
        while inputs.queued() < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_flooding_source_delays_a_quiet_ones_line_by_at_most_one_batch() {
        const FLOOD: usize = 100_000;
        let mut inputs = Inputs::default();
        let flood = inputs.source();
        let quiet = inputs.source();
        let writer = tokio::spawn(async move {
            for n in 0..FLOOD {
                flood.send(line("flood", n)).await.unwrap();
            }
        });
        // The flood fills its channel first (it waits there: back-pressure), then the
        // quiet source has one line to say.
        until_queued(&inputs, LINE_CHANNEL).await;
        // Sent from a task of its own: with one channel shared by every source (the old
        // design) the quiet source would wait behind the flood's full channel, and the
        // assertions below, not a deadlock, would say so.
        let said = tokio::spawn(async move { quiet.send(line("quiet", 0)).await.is_ok() });
        for _ in 0..1_000 {
            if said.is_finished() {
                break;
            }
            tokio::task::yield_now().await;
        }

        let mut batches = 0;
        let mut flood_seen = 0;
        let mut quiet_in_batch = None;
        let mut ended = Vec::new();
        let mut out = Vec::new();
        while inputs.take(&mut out, BATCH_LINES).await {
            batches += 1;
            assert!(out.len() <= BATCH_LINES, "a take is one batch");
            for t in out.drain(..) {
                match t {
                    Taken::Line(_, l) if &*l.stream == "quiet" => {
                        quiet_in_batch.get_or_insert(batches);
                    }
                    Taken::Line(_, l) => {
                        // One source's lines stay in the order they were sent.
                        assert_eq!(l.bytes, flood_seen.to_string().into_bytes());
                        flood_seen += 1;
                    }
                    Taken::Ended(id) => ended.push(id),
                }
            }
        }
        writer.await.unwrap();
        assert!(said.await.unwrap());
        assert_eq!(
            quiet_in_batch,
            Some(1),
            "the quiet line waited behind the flood's queued lines"
        );
        assert_eq!(flood_seen, FLOOD);
        assert_eq!(
            ended,
            vec![1, 0],
            "the quiet source ends first, then the flood"
        );
    }

    #[tokio::test]
    async fn each_source_is_bounded_by_its_own_channel() {
        let mut inputs = Inputs::default();
        let full = inputs.source();
        let other = inputs.source();
        let writer = tokio::spawn(async move {
            let mut sent = 0;
            while full.send(line("full", sent)).await.is_ok() {
                sent += 1;
            }
            sent
        });
        until_queued(&inputs, LINE_CHANNEL).await;
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        // Nothing taken: the flooding source waits at its channel's capacity, and another
        // source can still send without waiting.
        assert_eq!(inputs.queued(), LINE_CHANNEL);
        other
            .try_send(line("other", 0))
            .expect("another source is not held by the full one");
        drop(inputs);
        assert_eq!(writer.await.unwrap(), LINE_CHANNEL);
    }

    #[tokio::test]
    async fn an_end_is_reported_after_its_sources_last_line() {
        let mut inputs = Inputs::default();
        let a = inputs.source();
        let b = inputs.source();
        a.send(line("a", 0)).await.unwrap();
        a.send(line("a", 1)).await.unwrap();
        drop(a);
        let mut out = Vec::new();
        assert!(inputs.take(&mut out, 1).await);
        assert!(matches!(&out[..], [Taken::Line(0, _)]), "{out:?}");
        out.clear();
        assert!(inputs.take(&mut out, BATCH_LINES).await);
        assert!(
            matches!(&out[..], [Taken::Line(0, _), Taken::Ended(0)]),
            "{out:?}"
        );
        drop(b);
        out.clear();
        assert!(inputs.take(&mut out, BATCH_LINES).await);
        assert!(matches!(&out[..], [Taken::Ended(1)]), "{out:?}");
        out.clear();
        assert!(!inputs.take(&mut out, BATCH_LINES).await);
    }
}
