//! Sources: where records come from — files and stdin (batch and follow), the HTTP
//! receiver for Flux event payloads, (live) the Kubernetes API, and the signals topic
//! `fluxsight central` consumes (`signals`: a consumer group, not a line source).
//!
//! Owns: reading input into lines with bounded memory. Does not parse: every source
//! hands raw lines (log lines, JSON documents) to the pipeline, which parses them with
//! one decoder per stream.
//!
//! Invariant: only sources watch the cancellation token; downstream stages drain when
//! their input closes. Each source's channel into the pipeline is bounded: when it is
//! full, that source waits (back-pressure), so nothing is dropped between source and
//! correlator. `run` gives every source a channel of its own (merged in
//! `pipeline::live::inputs`), so dropping its sender says the source has ended.

pub mod ack;
pub mod chunks;
pub mod file;
pub mod follow;
pub mod kube;
pub mod signals;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::sinks::BoxFut;
use crate::telemetry::Telemetry;

/// One raw line from a source.
#[derive(Debug, Clone)]
pub struct SourceLine {
    /// Stream identity (a pod/container log, a watch, a file): one decoder per stream.
    pub stream: Arc<str>,
    pub bytes: Vec<u8>,
    /// Controller known from where the line came from (pod name, file name).
    pub controller: Option<String>,
    /// End-to-end acknowledgement: sources that checkpoint positions advance them only
    /// when the pipeline commits this (see [`ack`]). `None`: nothing to checkpoint.
    pub ack: Option<ack::Ack>,
}

/// The sending side of a source's input channel.
pub type LineTx = mpsc::Sender<SourceLine>;

/// Capacity of one source's channel into the pipeline (`record` shares one among its
/// sources). When full, the source waits: a slow correlator slows reading instead of
/// losing lines.
pub const LINE_CHANNEL: usize = 8192;

/// A source ready to run: consumes the sender, stops when its input ends or the token
/// fires.
pub type SourceTask =
    Box<dyn FnOnce(LineTx, CancellationToken, Arc<Telemetry>) -> BoxFut<'static, ()> + Send>;
