//! Deterministic Flux traffic: the generator behind `fluxsight-gen`, the benches, load
//! tests and the memory tests.
//!
//! Owns: a model of a cluster (tenants, Flux objects with sources, dependencies and a
//! failure mix, the six controller pods) and writers for every input form of
//! contracts.md §1 — zap JSON in every layout since 2020, zap console, klog, logfmt,
//! `flux logs`, the four envelopes (CRI with partial chunks), Kubernetes Events (v1 and
//! events.k8s.io/v1), watch events, Pod and Flux object snapshots, Flux event payloads
//! and Prometheus samples. Wording follows `flux-catalog.md` §1–§5.
//! Does not own: parsing or classification; the output is only ever read back through
//! the normal decoder.
//!
//! Invariant: the output is a pure function of [`GenConfig`]: a small self-contained
//! PRNG (splitmix64), no clock, no hashing with random state, so the same seed gives
//! byte-identical output on every machine. Timestamps never decrease.
//!
//! Layout: `model` (objects, kinds, failure modes, message templates), `workload` (the
//! Deployments, StatefulSets and Jobs the Flux objects apply, their Pods and Events),
//! `forms` (one writer per input form), `clock` (timestamp renderings).

mod clock;
mod forms;
mod model;
mod workload;

use std::io::{self, Write};

pub use forms::Form;
pub use model::FailureMode;

use fluxsight::record::TsMs;

/// Which forms a generated stream contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Mostly current zap JSON, with Events, payloads, snapshots and metrics as a
    /// current cluster produces them.
    Current,
    /// Every form and layout of contracts.md §1, in realistic but broad proportions.
    All,
}

impl Mix {
    pub fn parse(s: &str) -> Option<Mix> {
        match s {
            "current" => Some(Mix::Current),
            "all" => Some(Mix::All),
            _ => None,
        }
    }
}

/// What to generate. Every field changes the output; nothing else does.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Physical lines to write.
    pub lines: u64,
    /// Tenants (namespaces holding Flux objects).
    pub tenants: u32,
    /// Flux objects in the modelled cluster.
    pub objects: u32,
    pub seed: u64,
    /// Fraction of objects (0..=1) in a failure mode.
    pub failure_rate: f64,
    pub mix: Mix,
    /// Time of the first line, ms since the epoch.
    pub start_ms: TsMs,
    /// Time between the first and the last line, ms.
    pub span_ms: i64,
    /// Target mean line length in bytes; long change sets make up for short lines.
    pub avg_bytes: usize,
    /// Visit objects in order (each once per `objects` object lines) instead of at
    /// random, so a stream of N ≥ M lines touches every object (memory tests).
    pub sweep: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            lines: 10_000,
            tenants: 20,
            objects: 200,
            seed: 1,
            failure_rate: 0.05,
            mix: Mix::All,
            // 2026-03-02T09:00:00Z
            start_ms: 1_772_442_000_000,
            span_ms: 86_400_000,
            avg_bytes: 400,
            sweep: false,
        }
    }
}

/// splitmix64: tiny, fast, and good enough for traffic shapes.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x6a09_e667_f3bc_c909)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// The splitmix64 finaliser, also used as a stateless hash of small integers.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stream of generated lines.
pub struct Generator {
    cfg: GenConfig,
    rng: Rng,
    cluster: model::Cluster,
    /// Physical lines written so far.
    written: u64,
    /// Next object of a sweep.
    next_obj: u64,
    /// Bytes the stream is short of `avg_bytes × lines` so far (negative when over).
    deficit: i64,
}

impl Generator {
    pub fn new(cfg: GenConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let cluster = model::Cluster::new(&cfg, &mut rng);
        Generator {
            cfg,
            rng,
            cluster,
            written: 0,
            next_obj: 0,
            deficit: 0,
        }
    }

    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    /// True once `lines` physical lines have been written.
    pub fn done(&self) -> bool {
        self.written >= self.cfg.lines
    }

    /// Time of the next line: spread evenly over the span, never decreasing.
    fn now(&self) -> TsMs {
        let n = self.cfg.lines.max(1) as i128;
        let off = (self.cfg.span_ms.max(0) as i128) * (self.written as i128) / n;
        self.cfg.start_ms + off as TsMs
    }

    /// Appends the next line(s) of the mix to `out` (a CRI partial pair is two lines);
    /// returns how many physical lines were written.
    pub fn write_next(&mut self, out: &mut Vec<u8>) -> u64 {
        let form = forms::pick(self.cfg.mix, &mut self.rng);
        let form = if form == Form::EnvCriPartial && self.cfg.lines - self.written < 2 {
            Form::EnvCri
        } else {
            form
        };
        self.write_form(form, out)
    }

    /// Appends one line (two for [`Form::EnvCriPartial`]) of `form` to `out`.
    pub fn write_form(&mut self, form: Form, out: &mut Vec<u8>) -> u64 {
        let start = out.len();
        let now = self.now();
        let pad = self.pad_budget();
        let n = forms::write(
            form,
            &mut forms::Ctx {
                rng: &mut self.rng,
                cluster: &mut self.cluster,
                now,
                pad,
                line_no: self.written,
                room: self.cfg.lines.saturating_sub(self.written),
                sweep: self.cfg.sweep.then_some(&mut self.next_obj),
            },
            out,
        );
        self.written += n;
        self.deficit += (self.cfg.avg_bytes as i64) * n as i64 - (out.len() - start) as i64;
        n
    }

    /// Extra bytes the next line may carry to keep the mean near `avg_bytes`.
    fn pad_budget(&self) -> usize {
        self.deficit.clamp(0, 16 * 1024) as usize
    }

    /// Writes the whole stream to `w`; returns the lines written.
    pub fn run<W: Write>(mut self, w: &mut W) -> io::Result<u64> {
        let mut buf = Vec::with_capacity(1 << 17);
        while !self.done() {
            self.write_next(&mut buf);
            if buf.len() >= 1 << 16 {
                w.write_all(&buf)?;
                buf.clear();
            }
        }
        w.write_all(&buf)?;
        w.flush()?;
        Ok(self.written)
    }
}

impl Generator {
    /// Writes the whole stream at the pace of its own timestamps: a line is written once
    /// `clock()` (ms since the epoch) has reached its time, so a stream started at now
    /// with `span = lines / rate` arrives at `rate` lines/s, stamped with the time it is
    /// written. A writer that falls behind (a full pipe) only delays lines: when it
    /// catches up, the lines that are due go out at once. `clock` and `sleep` are the
    /// caller's, so the generator itself never reads a clock and what it writes is
    /// still a pure function of the config. Returns the lines written.
    pub fn run_paced<W: Write>(
        mut self,
        w: &mut W,
        mut clock: impl FnMut() -> TsMs,
        mut sleep: impl FnMut(u64),
    ) -> io::Result<u64> {
        let mut buf = Vec::with_capacity(1 << 17);
        while !self.done() {
            let now = clock();
            // Everything due by now, in one write.
            while !self.done() && self.now() <= now && buf.len() < 1 << 20 {
                self.write_next(&mut buf);
            }
            if !buf.is_empty() {
                w.write_all(&buf)?;
                w.flush()?;
                buf.clear();
            }
            if !self.done() {
                let ahead = self.now() - clock();
                if ahead > 0 {
                    sleep(ahead.min(20) as u64);
                }
            }
        }
        w.flush()?;
        Ok(self.written)
    }
}

/// `n` lines of one form (a CRI partial pair counts two), as one newline-separated
/// buffer: the corpus the benches decode.
pub fn corpus(form: Form, n: u64, cfg: &GenConfig) -> Vec<u8> {
    let mut g = Generator::new(GenConfig {
        lines: n,
        ..cfg.clone()
    });
    let mut out = Vec::with_capacity(n as usize * cfg.avg_bytes.max(64));
    while !g.done() {
        let f = if form == Form::EnvCriPartial && g.cfg.lines - g.written < 2 {
            Form::EnvCri
        } else {
            form
        };
        g.write_form(f, &mut out);
    }
    out
}

/// The whole mix as one buffer.
pub fn mixed(cfg: &GenConfig) -> Vec<u8> {
    let mut out = Vec::with_capacity(cfg.lines as usize * cfg.avg_bytes.max(64));
    let _ = Generator::new(cfg.clone()).run(&mut out);
    out
}

#[cfg(test)]
mod tests;
