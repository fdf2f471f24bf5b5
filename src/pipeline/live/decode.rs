//! The live pipeline's decode stage, its own task: lines taken from every source (see
//! [`super::inputs`]) are decoded with one decoder per stream and classified, in batches
//! of at most [`BATCH_LINES`], handed to the correlator loop over a bounded channel.
//!
//! Owns: the per-stream decoders, and finishing them: when a source ends, the forms its
//! streams still assemble (a document, a table, a `kubectl describe` block at the end of
//! a file) are complete, and go into the same batch as that source's last lines. Every
//! stream belongs to a source and every source's end is taken before the input ends, so
//! nothing is left to finish after that.
//!
//! Invariant: the order of one source's lines is kept (one task, one batch channel), and
//! a batch's acknowledgements cover exactly its lines.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

use super::inputs::{Inputs, SourceId, Taken};
use super::{Batch, BATCH_LINES, MAX_STREAMS};
use crate::classify::Classifier;
use crate::parse::LineDecoder;
use crate::record::{Format, Record, TsMs};
use crate::sources::SourceLine;
use crate::telemetry::{SourceStats, Telemetry};

/// Runs the decode stage until every source has ended (or the correlator is gone).
pub(super) async fn run(mut inputs: Inputs, btx: mpsc::Sender<Batch>, telemetry: Arc<Telemetry>) {
    let mut ingest = Ingest {
        classifier: Classifier::builtin(),
        decoders: HashMap::new(),
    };
    let mut taken = Vec::with_capacity(BATCH_LINES);
    while inputs.take(&mut taken, BATCH_LINES).await {
        let mut batch = Batch {
            read_at: Some(Instant::now()),
            ..Batch::default()
        };
        for t in taken.drain(..) {
            match t {
                Taken::Line(source, line) => ingest.line(source, line, &telemetry, &mut batch),
                Taken::Ended(source) => ingest.finish(source, &telemetry, &mut batch),
            }
        }
        telemetry
            .queue_depth
            .store(inputs.queued() as u64, Ordering::Relaxed);
        // A source that ended with nothing left to assemble gives an empty batch.
        if batch.lines == 0 && batch.records.is_empty() {
            continue;
        }
        if btx.send(batch).await.is_err() {
            return;
        }
    }
}

/// A stream's decoder, its telemetry entry and the source it belongs to.
struct StreamState {
    decoder: LineDecoder,
    stats: Arc<SourceStats>,
    source: SourceId,
}

/// Decoding and classification, one decoder per stream.
struct Ingest {
    classifier: Classifier,
    decoders: HashMap<Arc<str>, StreamState>,
}

impl Ingest {
    /// Decodes and classifies one source line into `batch`.
    fn line(
        &mut self,
        source: SourceId,
        line: SourceLine,
        telemetry: &Telemetry,
        batch: &mut Batch,
    ) {
        batch.lines += 1;
        let rebuild = line.ack.as_ref().is_some_and(|a| a.rebuild);
        let mut newest: Option<TsMs> = None;
        if !self.decoders.contains_key(&line.stream) && self.decoders.len() >= MAX_STREAMS {
            self.decoders.clear();
        }
        // The stream's decoder and its telemetry entry, looked up once per stream.
        let st = self
            .decoders
            .entry(line.stream.clone())
            .or_insert_with(|| StreamState {
                decoder: LineDecoder::new(line.controller.clone()),
                stats: telemetry.source(&line.stream),
                source,
            });
        for mut rec in st.decoder.decode(&line.bytes) {
            if matches!(rec.format, Format::Partial | Format::Continuation) {
                continue;
            }
            if rec.format == Format::Text {
                telemetry.parse_failures.fetch_add(1, Ordering::Relaxed);
            }
            self.classifier.classify(&mut rec);
            telemetry.records.fetch_add(1, Ordering::Relaxed);
            if let Some(ts) = rec.ts {
                st.stats.newest_ms.fetch_max(ts, Ordering::Relaxed);
                newest = Some(newest.map_or(ts, |n| n.max(ts)));
            }
            batch.records.push(rec);
            batch.rebuild.push(rebuild);
        }
        batch.newest = batch.newest.max(newest);
        if let Some(a) = line.ack {
            batch.acks.add(a, newest);
        }
    }

    /// A source ended: the records its streams' decoders still assemble; the decoders
    /// are dropped.
    fn finish(&mut self, source: SourceId, telemetry: &Telemetry, batch: &mut Batch) {
        // Stream order is the map's (arbitrary): a source's streams end at one instant.
        let ended: Vec<StreamState> = self
            .decoders
            .extract_if(|_, st| st.source == source)
            .map(|(_, st)| st)
            .collect();
        for mut st in ended {
            for rec in st.decoder.finish() {
                self.push_finished(rec, telemetry, batch);
            }
        }
    }

    fn push_finished(&mut self, mut rec: Record, telemetry: &Telemetry, batch: &mut Batch) {
        self.classifier.classify(&mut rec);
        telemetry.records.fetch_add(1, Ordering::Relaxed);
        batch.newest = batch.newest.max(rec.ts);
        batch.records.push(rec);
        batch.rebuild.push(false);
    }
}
