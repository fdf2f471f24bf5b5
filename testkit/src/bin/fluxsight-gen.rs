//! `fluxsight-gen`: deterministic generated Flux traffic for benches, load and memory
//! tests (scripts/bench.sh, mem-check.sh, soak.sh). Owns the flag checks and the wall
//! clock of `--rate`; the generator itself is [`fluxsight_testkit::gen`] (the same seed
//! gives byte-identical output). It was `fluxsight gen` until the test kits left the
//! shipped binary: same flags, same output.

use std::io;
use std::process::ExitCode;

use clap::Parser;
use fluxsight::parse::time::{parse_go_duration_ms, parse_ts};
use fluxsight::record::TsMs;
use fluxsight_testkit::gen::{GenConfig, Generator, Mix};

/// Name in error messages.
const NAME: &str = "fluxsight-gen";
/// Exit code of a usage error (as clap's own and the `fluxsight` CLI's).
const USAGE: u8 = 2;
/// Time of the first line without `--start` or `--rate`: fixed, so that output is
/// reproducible.
const DEFAULT_START: &str = "2026-03-02T09:00:00Z";
/// Time covered without `--span` or `--rate`: one day.
const DEFAULT_SPAN_MS: i64 = 24 * 3_600_000;

/// Write deterministic generated Flux traffic (benches, load and memory tests).
#[derive(Parser)]
#[command(name = "fluxsight-gen", version)]
struct GenArgs {
    /// Lines to write.
    #[arg(long, default_value_t = 100_000)]
    lines: u64,
    /// Tenants (namespaces).
    #[arg(long, default_value_t = 20)]
    tenants: u32,
    /// Flux objects.
    #[arg(long, default_value_t = 1_000)]
    objects: u32,
    /// PRNG seed; the same seed gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Fraction of objects in a failure mode (0..=1).
    #[arg(long, default_value_t = 0.05)]
    failure_rate: f64,
    /// `current` (mostly current zap JSON) or `all` (every form and layout).
    #[arg(long, default_value = "all")]
    mix: String,
    /// Time of the first line (RFC 3339); with --rate, now.
    #[arg(long)]
    start: Option<String>,
    /// Time covered by the lines (Go duration); with --rate, lines / rate.
    #[arg(long)]
    span: Option<String>,
    /// Write in real time at this many lines/s, each line stamped with the time it is
    /// written (a live load for `run`: `fluxsight-gen --rate 50000 | fluxsight run
    /// --input -`).
    #[arg(long)]
    rate: Option<f64>,
    /// Target mean line length in bytes.
    #[arg(long, default_value_t = 400)]
    avg_bytes: usize,
}

fn main() -> ExitCode {
    match gen(&GenArgs::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            ExitCode::from(1)
        }
    }
}

/// A usage error: the message on stderr, exit code [`USAGE`].
fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("{NAME}: {message}");
    ExitCode::from(USAGE)
}

/// The checked flags as a [`GenConfig`], or the usage error to exit with.
fn config(a: &GenArgs, wall_ms: fn() -> TsMs) -> Result<GenConfig, ExitCode> {
    let Some(mix) = Mix::parse(&a.mix) else {
        return Err(usage(format!(
            "--mix: '{}' is not one of current, all",
            a.mix
        )));
    };
    if let Some(r) = a.rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(usage(format!(
                "--rate: {r} is not a positive number of lines/s"
            )));
        }
    }
    let start_ms = match (&a.start, a.rate) {
        (Some(s), _) => match parse_ts(s) {
            Some(t) => t,
            None => return Err(usage(format!("--start: '{s}' is not an RFC 3339 time"))),
        },
        (None, Some(_)) => wall_ms(),
        (None, None) => parse_ts(DEFAULT_START).unwrap_or(0),
    };
    let span_ms = match (&a.span, a.rate) {
        (Some(s), _) => match parse_go_duration_ms(s) {
            Some(d) => d as i64,
            None => return Err(usage(format!("--span: '{s}' is not a duration"))),
        },
        (None, Some(r)) => (a.lines as f64 * 1000.0 / r) as i64,
        (None, None) => DEFAULT_SPAN_MS,
    };
    if !(0.0..=1.0).contains(&a.failure_rate) {
        return Err(usage(format!(
            "--failure-rate: {} is not in 0..=1",
            a.failure_rate
        )));
    }
    Ok(GenConfig {
        lines: a.lines,
        tenants: a.tenants.max(1),
        objects: a.objects.max(1),
        seed: a.seed,
        failure_rate: a.failure_rate,
        mix,
        start_ms,
        span_ms,
        avg_bytes: a.avg_bytes,
        sweep: false,
    })
}

fn gen(a: &GenArgs) -> io::Result<ExitCode> {
    let wall_ms = fluxsight::time::now_ms;
    let cfg = match config(a, wall_ms) {
        Ok(cfg) => cfg,
        Err(code) => return Ok(code),
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let generator = Generator::new(cfg);
    let written = match a.rate {
        Some(_) => generator.run_paced(&mut out, wall_ms, |ms| {
            std::thread::sleep(std::time::Duration::from_millis(ms))
        }),
        None => generator.run(&mut out),
    };
    match written {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // A closed pipe (`| head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e),
    }
}
