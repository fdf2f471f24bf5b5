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
use fluxsight::pipeline::report::{DigestHandle, DigestReader, ReportCollector, ReportMeta};
use fluxsight::render::colour::Palette;
use fluxsight::render::finding::OutputFormat;
use fluxsight::render::report::ReportFormat;
use fluxsight::sources::file::open_input;

use super::args::{CorrelateArgs, ReportArgs};
use super::common::{self, print_sink_stats, usage};

/// The capture `fluxsight demo` replays, shipped in the binary.
const DEMO_CAPTURE: &str = include_str!("../../samples/demo/incident.log");

/// The name `-` reads stdin.
const STDIN: &str = "-";

/// Buffer of each input file and of stdout: large enough that a replay makes few
/// system calls per megabyte.
const IO_BUFFER: usize = 1 << 16;

/// A named input stream.
type Input = (String, Box<dyn BufRead + Send>);

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
    report: &ReportArgs,
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
    let mut inputs = match open_inputs(&files) {
        Ok(i) => i,
        Err(e) => return Ok(usage(e)),
    };
    let plan = match &report.report {
        Some(path) => {
            let (wrapped, handles) = digesting(inputs);
            inputs = wrapped;
            Some(ReportPlan {
                path: path.clone(),
                format: report.report_format.into(),
                names: files.clone(),
                handles,
                config: effective_config(args, &pipeline.settings),
            })
        }
        None => None,
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
    replay_to_stdout(inputs, pipeline.settings, opts, deliverer, plan)
}

/// What `--report` asked for, and the digests of the inputs being read.
struct ReportPlan {
    path: std::path::PathBuf,
    format: ReportFormat,
    names: Vec<String>,
    handles: Vec<DigestHandle>,
    config: Vec<(String, String)>,
}

/// Each input wrapped so its SHA-256 is taken as the replay reads it.
fn digesting(inputs: Vec<Input>) -> (Vec<Input>, Vec<DigestHandle>) {
    let mut handles = Vec::new();
    let wrapped = inputs
        .into_iter()
        .map(|(name, r)| {
            let (d, h) = DigestReader::new(r);
            handles.push(h);
            (name, Box::new(d) as Box<dyn BufRead + Send>)
        })
        .collect();
    (wrapped, handles)
}

/// The effective configuration for the report's appendix: cluster, repeat interval,
/// where the patterns came from, the config file and its pattern overrides.
fn effective_config(args: &CorrelateArgs, settings: &Settings) -> Vec<(String, String)> {
    let mut v = vec![
        ("cluster".to_string(), settings.cluster.clone()),
        (
            "repeat_interval".to_string(),
            fluxsight::correlate::vars::human_ms(settings.repeat_interval_ms as i64),
        ),
        (
            "patterns".to_string(),
            args.patterns
                .as_ref()
                .map_or("built-in".to_string(), |p| p.display().to_string()),
        ),
    ];
    if let Some(path) = &args.config {
        v.push(("config".to_string(), path.display().to_string()));
        // Read again only to list its overrides; it was validated by the load above.
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(doc) = serde_saphyr::from_str::<serde_json::Value>(&text) {
                if let Some(pats) = doc.get("patterns").and_then(|p| p.as_object()) {
                    for (id, params) in pats {
                        if let Some(params) = params.as_object() {
                            for (k, val) in params {
                                v.push((format!("patterns.{id}.{k}"), val.to_string()));
                            }
                        }
                    }
                }
                if let Some(t) = doc.get("tenants") {
                    v.push(("tenants".to_string(), t.to_string()));
                }
            }
        }
    }
    v.sort();
    v
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
    replay_to_stdout(inputs, Settings::default(), opts, None, None)
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

fn replay_to_stdout<R: BufRead + Send>(
    inputs: Vec<(String, R)>,
    settings: Settings,
    opts: ReplayOptions,
    deliverer: Option<Deliverer>,
    report: Option<ReportPlan>,
) -> anyhow::Result<ExitCode> {
    let classifier = Classifier::builtin();
    let cluster = settings.cluster.clone();
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
    if let Some(plan) = &report {
        emitter = emitter.with_report(ReportCollector::new(plan.names.clone()));
    }
    replay(inputs, &classifier, &mut correlator, &mut emitter, lateness)?;
    let lines = emitter.stats.lines;
    let collector = emitter.take_report();
    let stats = emitter.finish_with_sinks()?;
    print_sink_stats(&stats);
    if let (Some(plan), Some(collector)) = (report, collector) {
        let meta = ReportMeta {
            version: env!("CARGO_PKG_VERSION").to_string(),
            cluster,
            config: plan.config,
            inputs: plan
                .names
                .iter()
                .zip(&plan.handles)
                .map(|(n, h)| h.info(n))
                .collect(),
            lines,
        };
        let data = collector.finish(&correlator, meta);
        let page = fluxsight::render::report::render(&data, plan.format);
        if let Err(e) = std::fs::write(&plan.path, page) {
            eprintln!("fluxsight: --report {}: {e}", plan.path.display());
            return Ok(ExitCode::FAILURE);
        }
    }
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
