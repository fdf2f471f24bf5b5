//! `fluxsight gen`: deterministic generated Flux traffic for benches, load and memory
//! tests. Owns the flag checks and the wall clock of `--rate`; the generator itself is
//! `fluxsight::gen` (the same seed gives byte-identical output).

use std::io;
use std::process::ExitCode;

use fluxsight::gen::{GenConfig, Generator, Mix};
use fluxsight::parse::time::{parse_go_duration_ms, parse_ts};

use super::args::GenArgs;
use super::common::usage;

/// Time of the first line without `--start` or `--rate`: fixed, so that output is
/// reproducible.
const DEFAULT_START: &str = "2026-03-02T09:00:00Z";
/// Time covered without `--span` or `--rate`: one day.
const DEFAULT_SPAN_MS: i64 = 24 * 3_600_000;

/// `fluxsight gen`.
pub fn gen(a: &GenArgs) -> anyhow::Result<ExitCode> {
    let Some(mix) = Mix::parse(&a.mix) else {
        return Ok(usage(format!(
            "--mix: '{}' is not one of current, all",
            a.mix
        )));
    };
    let wall_ms = fluxsight::time::now_ms;
    if let Some(r) = a.rate {
        if !(r.is_finite() && r > 0.0) {
            return Ok(usage(format!(
                "--rate: {r} is not a positive number of lines/s"
            )));
        }
    }
    let start_ms = match (&a.start, a.rate) {
        (Some(s), _) => match parse_ts(s) {
            Some(t) => t,
            None => return Ok(usage(format!("--start: '{s}' is not an RFC 3339 time"))),
        },
        (None, Some(_)) => wall_ms(),
        (None, None) => parse_ts(DEFAULT_START).unwrap_or(0),
    };
    let span_ms = match (&a.span, a.rate) {
        (Some(s), _) => match parse_go_duration_ms(s) {
            Some(d) => d as i64,
            None => return Ok(usage(format!("--span: '{s}' is not a duration"))),
        },
        (None, Some(r)) => (a.lines as f64 * 1000.0 / r) as i64,
        (None, None) => DEFAULT_SPAN_MS,
    };
    if !(0.0..=1.0).contains(&a.failure_rate) {
        return Ok(usage(format!(
            "--failure-rate: {} is not in 0..=1",
            a.failure_rate
        )));
    }
    let cfg = GenConfig {
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
        Err(e) => Err(e.into()),
    }
}
