//! Decoding batch input on several threads, handed back in input order.
//!
//! `classify` and `replay` cut each input into chunks of whole lines
//! ([`crate::sources::chunks`]); a [`Pool`] of worker threads decodes and classifies a
//! chunk each, every chunk with a fresh [`LineDecoder`] that starts at the chunk's first
//! line, while the calling thread takes the results chunk by chunk, in order, and
//! correlates or prints them.
//!
//! Invariant: the records are exactly those one decoder reading the input whole gives.
//! A chunk's result is used only when the decoder that read everything before it
//! [`LineDecoder::continues_as_fresh`] (no multi-line form, CRI partial, command context
//! or needed year is carried across the cut); otherwise the calling thread decodes the
//! chunk again with that decoder. Logs cut anywhere; a pasted table or document that
//! spans a cut costs one chunk decoded twice.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Mutex};

use crate::classify::Classifier;
use crate::parse::LineDecoder;
use crate::sources::chunks::Chunk;

/// A unit of work for the pool.
type Job<'env> = Box<dyn FnOnce() + Send + 'env>;

/// Worker threads that run jobs borrowing from the caller's stack (`'env`).
pub struct Pool<'env> {
    jobs: mpsc::Sender<Job<'env>>,
    threads: usize,
}

impl<'env> Pool<'env> {
    /// Worker threads in the pool.
    pub fn threads(&self) -> usize {
        self.threads
    }

    fn submit(&self, job: Job<'env>) -> Result<(), Job<'env>> {
        self.jobs.send(job).map_err(|e| e.0)
    }
}

/// Runs `f` with a pool of `threads` workers (none when `threads` is 0: `f` gets `None`
/// and everything runs on the calling thread). The workers end when `f` returns.
pub fn with_pool<'env, T>(threads: usize, f: impl FnOnce(Option<&Pool<'env>>) -> T) -> T {
    if threads == 0 {
        return f(None);
    }
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Job<'env>>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("decode-{i}"))
                .spawn_scoped(s, move || loop {
                    // The lock is held only while waiting for the next job.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if spawned.is_err() {
                // No thread to be had: whatever started still serves the pool.
                tracing::warn!(threads = i, "could not start every decode thread");
                break;
            }
        }
        let pool = Pool { jobs: tx, threads };
        let out = f(Some(&pool));
        drop(pool);
        out
    })
}

/// Threads to decode on by default: one per core the process may use.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What a chunk's decoding carries from one line to the next: the decoder, and whatever
/// the work keeps beside it (rows held for a form still open).
pub trait DecodeState: Send {
    /// A state that starts after the first `lines_before` lines of an input.
    fn fresh(hint: Option<String>, lines_before: u64) -> Self;
    fn decoder(&self) -> &LineDecoder;
    fn decoder_mut(&mut self) -> &mut LineDecoder;
}

impl DecodeState for LineDecoder {
    fn fresh(hint: Option<String>, lines_before: u64) -> Self {
        LineDecoder::starting_after(hint, lines_before)
    }
    fn decoder(&self) -> &LineDecoder {
        self
    }
    fn decoder_mut(&mut self) -> &mut LineDecoder {
        self
    }
}

/// How one chunk is decoded, on a worker or on the calling thread.
pub trait ChunkWork: Sync {
    /// What the consumer takes from a chunk (records, rendered rows).
    type Out: Send;
    type State: DecodeState;
    /// Decodes `chunk` with `state`, which stands just before its first line. Whatever
    /// `state` holds back at the end (a form still open) is only there while its
    /// decoder does not continue as fresh.
    fn run(&self, state: &mut Self::State, chunk: &Chunk, classifier: &Classifier) -> Self::Out;
}

/// A chunk in flight: its bytes (kept to decode it again if need be) and its result.
struct InFlight<O, S> {
    chunk: Chunk,
    result: mpsc::Receiver<(O, S)>,
}

/// The chunks of one input, decoded ahead on the pool and taken back in order.
pub struct OrderedDecode<'p, 'env, W: ChunkWork> {
    pool: Option<&'p Pool<'env>>,
    work: &'env W,
    classifier: &'env Classifier,
    hint: Option<String>,
    /// The state after every chunk taken so far.
    state: W::State,
    inflight: VecDeque<InFlight<W::Out, W::State>>,
    /// Chunks kept in flight.
    ahead: usize,
    /// Chunks decoded a second time on the calling thread.
    pub redecoded: u64,
}

impl<'p, 'env, W: ChunkWork> OrderedDecode<'p, 'env, W> {
    pub fn new(
        pool: Option<&'p Pool<'env>>,
        work: &'env W,
        classifier: &'env Classifier,
        hint: Option<String>,
    ) -> Self {
        OrderedDecode {
            pool,
            work,
            classifier,
            state: W::State::fresh(hint.clone(), 0),
            hint,
            inflight: VecDeque::new(),
            ahead: pool.map_or(0, |p| p.threads() + 1),
            redecoded: 0,
        }
    }

    /// True when another chunk should be handed in before the next is taken.
    pub fn wants(&self) -> bool {
        self.inflight.len() < self.ahead
    }

    /// True when no chunk is in flight.
    pub fn idle(&self) -> bool {
        self.inflight.is_empty()
    }

    /// Hands in the next chunk of the input; without a pool it is decoded at once and
    /// returned (with its line count).
    pub fn push(&mut self, chunk: Chunk) -> Option<(W::Out, u64)> {
        let Some(pool) = self.pool else {
            let out = self.work.run(&mut self.state, &chunk, self.classifier);
            return Some((out, chunk.lines));
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let (work, classifier) = (self.work, self.classifier);
        let mut state = W::State::fresh(self.hint.clone(), chunk.lines_before);
        let job_chunk = chunk.clone();
        let job: Job<'env> = Box::new(move || {
            let out = work.run(&mut state, &job_chunk, classifier);
            // The receiver is gone only when the caller stopped early.
            tx.send((out, state)).ok();
        });
        if let Err(job) = pool.submit(job) {
            // The pool stopped: decode here, in order.
            job();
        }
        self.inflight.push_back(InFlight { chunk, result: rx });
        None
    }

    /// The result of the oldest chunk handed in (with its line count), as one decoder
    /// reading the input whole would give it; `None` when none is in flight.
    pub fn take(&mut self) -> Option<(W::Out, u64)> {
        let InFlight { chunk, result } = self.inflight.pop_front()?;
        let out = match result.recv() {
            Ok((out, mut state))
                if self
                    .state
                    .decoder()
                    .continues_as_fresh(state.decoder().read_without_year()) =>
            {
                state.decoder_mut().follow(self.state.decoder());
                self.state = state;
                out
            }
            // Something carried across the cut (or the worker died): decode it again
            // with the state that read everything before it.
            _ => {
                self.redecoded += 1;
                self.work.run(&mut self.state, &chunk, self.classifier)
            }
        };
        Some((out, chunk.lines))
    }

    /// The state after every chunk taken so far (to finish the input).
    pub fn state(&mut self) -> &mut W::State {
        &mut self.state
    }
}
