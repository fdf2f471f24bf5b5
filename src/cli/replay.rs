//! `classify`, `replay` and `demo`: the batch commands over recorded input. Owns opening
//! the named inputs and the progress line on a terminal; the pipelines themselves are
//! `fluxsight::pipeline::{classify, replay}`. Nothing here reads a clock for the
//! findings: replay runs on the records' own time.

use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use fluxsight::classify::Classifier;
use fluxsight::correlate::spec::Settings;
use fluxsight::correlate::Correlator;
use fluxsight::pipeline::classify::{classify_chunked, CHUNK_BYTES};
use fluxsight::pipeline::deliver::Deliverer;
use fluxsight::pipeline::progress::ProgressMeter;
use fluxsight::pipeline::replay::{replay, Emitter, ProgressHook, ReplayOptions};
use fluxsight::render::colour::Palette;
use fluxsight::render::finding::OutputFormat;
use fluxsight::sources::file::open_input;

use super::args::CorrelateArgs;
use super::common::{self, print_sink_stats, usage};

/// The capture `fluxsight demo` replays, shipped in the binary.
const DEMO_CAPTURE: &str = include_str!("../../samples/demo/incident.log");

/// The name `-` reads stdin.
const STDIN: &str = "-";

/// Buffer of each input file and of stdout: large enough that a replay makes few
/// system calls per megabyte.
const IO_BUFFER: usize = 1 << 16;

/// A named input stream.
type Input = (String, Box<dyn BufRead>);

fn open_inputs(files: &[String]) -> Result<Vec<Input>, String> {
    let mut v: Vec<Input> = Vec::new();
    for f in files {
        if f == STDIN {
            v.push((f.clone(), Box::new(BufReader::new(io::stdin()))));
        } else {
            let file = open_input(Path::new(f)).map_err(|e| e.to_string())?;
            v.push((
                f.clone(),
                Box::new(BufReader::with_capacity(IO_BUFFER, file)),
            ));
        }
    }
    Ok(v)
}

/// `fluxsight classify`: one JSON row per line.
pub fn classify(mut files: Vec<String>, threads: usize) -> anyhow::Result<ExitCode> {
    if files.is_empty() {
        files.push(STDIN.into());
    }
    let classifier = Classifier::builtin();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(IO_BUFFER, stdout.lock());
    let inputs = match open_inputs(&files) {
        Ok(i) => i,
        Err(e) => return Ok(usage(e)),
    };
    for (name, r) in inputs {
        classify_chunked(&name, r, &classifier, &mut out, threads, CHUNK_BYTES)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `fluxsight replay`.
pub fn replay_files(
    mut files: Vec<String>,
    args: &CorrelateArgs,
    palette: Palette,
) -> anyhow::Result<ExitCode> {
    if files.is_empty() {
        files.push(STDIN.into());
    }
    let Some(lateness) = fluxsight::parse::time::parse_go_duration_ms(&args.lateness) else {
        return Ok(usage(format!(
            "--lateness: '{}' is not a duration",
            args.lateness
        )));
    };
    let pipeline = match common::load(args.patterns.as_deref(), args.config.as_deref()) {
        Ok(p) => p,
        Err(e) => return Ok(e.report()),
    };
    let inputs = match open_inputs(&files) {
        Ok(i) => i,
        Err(e) => return Ok(usage(e)),
    };
    let opts = ReplayOptions {
        format: args.output.into(),
        audit: args.audit,
        lateness_ms: lateness as i64,
        undated_ms: newest_mtime_ms(&files),
        palette,
        threads: args.threads.get(),
        ..ReplayOptions::default()
    };
    let deliverer = if pipeline.plan.is_empty() {
        None
    } else {
        match Deliverer::start(&pipeline.plan) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("fluxsight: {e}");
                return Ok(ExitCode::from(e.exit_code()));
            }
        }
    };
    replay_to_stdout(inputs, pipeline.settings, opts, deliverer)
}

/// `fluxsight demo`: the shipped incident capture, built-in settings, no sinks.
pub fn demo(format: OutputFormat, audit: bool, palette: Palette) -> anyhow::Result<ExitCode> {
    let inputs = vec![("incident.log".to_string(), DEMO_CAPTURE.as_bytes())];
    let opts = ReplayOptions {
        format,
        audit,
        palette,
        ..ReplayOptions::default()
    };
    replay_to_stdout(inputs, Settings::default(), opts, None)
}

/// Newest modification time of the named files (not stdin), in ms: the clock of a
/// pasted snapshot that shows no time of its own.
fn newest_mtime_ms(files: &[String]) -> Option<i64> {
    files
        .iter()
        .filter(|f| f.as_str() != STDIN)
        .filter_map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok())
        .filter_map(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .max()
}

fn replay_to_stdout<R: BufRead>(
    inputs: Vec<(String, R)>,
    settings: Settings,
    opts: ReplayOptions,
    deliverer: Option<Deliverer>,
) -> anyhow::Result<ExitCode> {
    let classifier = Classifier::builtin();
    let mut correlator = Correlator::new(settings);
    // Not locked for the whole run: a `type: stdout` sink writes to stdout too.
    let out = BufWriter::with_capacity(IO_BUFFER, io::stdout());
    let lateness = opts.lateness_ms;
    let mut emitter = Emitter::new(out, opts);
    if io::stderr().is_terminal() {
        emitter = emitter.with_progress(progress_line());
    }
    if let Some(d) = deliverer {
        emitter = emitter.with_deliverer(d);
    }
    replay(inputs, &classifier, &mut correlator, &mut emitter, lateness)?;
    let stats = emitter.finish_with_sinks()?;
    print_sink_stats(&stats);
    Ok(ExitCode::SUCCESS)
}

/// The replay progress line on stderr (the caller checked it is a terminal): the replay
/// passes counters, the clock is read here.
fn progress_line() -> ProgressHook {
    let start = std::time::Instant::now();
    let mut meter = ProgressMeter::new();
    Box::new(move |p| {
        if let Some(text) = meter.update(start.elapsed(), p) {
            // Best effort: a progress line that cannot be drawn loses no finding.
            let mut err = io::stderr().lock();
            if err.write_all(text.as_bytes()).is_ok() {
                err.flush().ok();
            }
        }
    })
}
