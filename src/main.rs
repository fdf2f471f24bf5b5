//! The `fluxsight` command line. `anyhow` lives here only.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fluxsight::classify::Classifier;
use fluxsight::correlate::spec::{PatternSet, Settings, SpecError};
use fluxsight::correlate::Correlator;
use fluxsight::pipeline::classify::classify_reader;
use fluxsight::pipeline::examples::run_examples;
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::render::finding::OutputFormat;

/// The capture `fluxsight demo` replays, shipped in the binary.
const DEMO_CAPTURE: &str = include_str!("../samples/demo/incident.log");

#[derive(Parser)]
#[command(
    name = "fluxsight",
    version,
    about = "Log-and-event stream processor for Flux"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct CorrelateArgs {
    /// Output format: native, ocsf, ecs or text.
    #[arg(long, default_value = "native")]
    output: String,
    /// Also write audit records.
    #[arg(long)]
    audit: bool,
    /// Directory of pattern files replacing the built-in ones of the same id.
    #[arg(long)]
    patterns: Option<PathBuf>,
    /// Config file: cluster name, tenant mapping, threshold overrides.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Out-of-order tolerance, e.g. 10s.
    #[arg(long, default_value = "10s")]
    lateness: String,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and classify every line; one JSON row per line (stdin when no file or `-`).
    Classify {
        /// Input files; `-` is stdin.
        files: Vec<String>,
    },
    /// Run the whole pipeline over recorded input using the records' own timestamps.
    Replay {
        /// Input files; `-` is stdin. Merged in timestamp order.
        files: Vec<String>,
        #[command(flatten)]
        args: CorrelateArgs,
    },
    /// Replay the incident capture shipped with fluxsight and print a summary.
    Demo {
        /// Output format (default text).
        #[arg(long, default_value = "text")]
        output: String,
        /// Also write audit records.
        #[arg(long)]
        audit: bool,
    },
    /// Check pattern and config files; exit 2 naming file, line and field on error.
    Validate {
        /// Pattern directory to check (default: the built-in set).
        #[arg(long)]
        patterns: Option<PathBuf>,
        /// Config files to check.
        files: Vec<PathBuf>,
    },
    /// Write deterministic generated Flux traffic (benches, load and memory tests).
    Gen(GenArgs),
    /// List patterns, or run every pattern file's examples.
    Patterns {
        #[command(subcommand)]
        action: Option<PatternsAction>,
        /// Pattern directory (default: the built-in set).
        #[arg(long, global = true)]
        dir: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
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
    /// Time of the first line (RFC 3339).
    #[arg(long, default_value = "2026-03-02T09:00:00Z")]
    start: String,
    /// Time covered by the lines (Go duration).
    #[arg(long, default_value = "24h")]
    span: String,
    /// Target mean line length in bytes.
    #[arg(long, default_value_t = 400)]
    avg_bytes: usize,
}

#[derive(Subcommand)]
enum PatternsAction {
    /// List every pattern with its severity and description.
    List,
    /// Run every pattern file's examples; exit 1 if any fails.
    Test,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Classify { files } => run_classify(files),
        Command::Replay { files, args } => run_replay(files, &args),
        Command::Demo { output, audit } => run_demo(&output, audit),
        Command::Validate { patterns, files } => run_validate(patterns.as_deref(), &files),
        Command::Patterns { action, dir } => run_patterns(action, dir.as_deref()),
        Command::Gen(args) => run_gen(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fluxsight: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn config_error(errs: &[SpecError]) -> ExitCode {
    for e in errs {
        eprintln!("fluxsight: {e}");
    }
    ExitCode::from(2)
}

fn load_settings(
    patterns: Option<&Path>,
    config: Option<&Path>,
) -> Result<Settings, Vec<SpecError>> {
    let set = match patterns {
        Some(dir) => PatternSet::from_dir(dir)?,
        None => PatternSet::builtin(),
    };
    match config {
        None => Ok(Settings {
            patterns: set,
            ..Settings::default()
        }),
        Some(path) => {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| {
                vec![SpecError {
                    file: file.clone(),
                    line: 0,
                    field: "(file)".into(),
                    message: e.to_string(),
                }]
            })?;
            Settings::from_config_text(&text, &file, set)
        }
    }
}

/// A named input stream.
type Input = (String, Box<dyn BufRead>);

fn open_inputs(files: &[String]) -> Result<Vec<Input>, String> {
    let mut v: Vec<Input> = Vec::new();
    for f in files {
        if f == "-" {
            v.push((f.clone(), Box::new(BufReader::new(io::stdin()))));
        } else {
            let file = File::open(f).map_err(|e| format!("{f}: {e}"))?;
            v.push((f.clone(), Box::new(BufReader::with_capacity(1 << 16, file))));
        }
    }
    Ok(v)
}

fn run_classify(mut files: Vec<String>) -> anyhow::Result<ExitCode> {
    if files.is_empty() {
        files.push("-".into());
    }
    let classifier = Classifier::builtin();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let inputs = match open_inputs(&files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("fluxsight: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    for (name, r) in inputs {
        classify_reader(&name, r, &classifier, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn run_replay(mut files: Vec<String>, args: &CorrelateArgs) -> anyhow::Result<ExitCode> {
    if files.is_empty() {
        files.push("-".into());
    }
    let Some(format) = OutputFormat::parse(&args.output) else {
        eprintln!(
            "fluxsight: --output: '{}' is not one of native, ocsf, ecs, text",
            args.output
        );
        return Ok(ExitCode::from(2));
    };
    let Some(lateness) = fluxsight::parse::time::parse_go_duration_ms(&args.lateness) else {
        eprintln!(
            "fluxsight: --lateness: '{}' is not a duration",
            args.lateness
        );
        return Ok(ExitCode::from(2));
    };
    let settings = match load_settings(args.patterns.as_deref(), args.config.as_deref()) {
        Ok(s) => s,
        Err(e) => return Ok(config_error(&e)),
    };
    let inputs = match open_inputs(&files) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("fluxsight: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let opts = ReplayOptions {
        format,
        audit: args.audit,
        lateness_ms: lateness as i64,
    };
    replay_to_stdout(inputs, settings, opts)
}

fn replay_to_stdout<R: BufRead>(
    inputs: Vec<(String, R)>,
    settings: Settings,
    opts: ReplayOptions,
) -> anyhow::Result<ExitCode> {
    let classifier = Classifier::builtin();
    let mut correlator = Correlator::new(settings);
    let stdout = io::stdout();
    let out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let lateness = opts.lateness_ms;
    let mut emitter = Emitter::new(out, opts);
    replay(inputs, &classifier, &mut correlator, &mut emitter, lateness)?;
    emitter.finish()?;
    Ok(ExitCode::SUCCESS)
}

fn run_demo(output: &str, audit: bool) -> anyhow::Result<ExitCode> {
    let Some(format) = OutputFormat::parse(output) else {
        eprintln!("fluxsight: --output: '{output}' is not one of native, ocsf, ecs, text");
        return Ok(ExitCode::from(2));
    };
    let inputs = vec![("incident.log".to_string(), DEMO_CAPTURE.as_bytes())];
    let opts = ReplayOptions {
        format,
        audit,
        ..ReplayOptions::default()
    };
    replay_to_stdout(inputs, Settings::default(), opts)
}

fn run_gen(a: &GenArgs) -> anyhow::Result<ExitCode> {
    use fluxsight::gen::{GenConfig, Generator, Mix};
    let usage = |m: String| {
        eprintln!("fluxsight: {m}");
        Ok(ExitCode::from(2))
    };
    let Some(mix) = Mix::parse(&a.mix) else {
        return usage(format!("--mix: '{}' is not one of current, all", a.mix));
    };
    let Some(start_ms) = fluxsight::parse::time::parse_ts(&a.start) else {
        return usage(format!("--start: '{}' is not an RFC 3339 time", a.start));
    };
    let Some(span_ms) = fluxsight::parse::time::parse_go_duration_ms(&a.span) else {
        return usage(format!("--span: '{}' is not a duration", a.span));
    };
    if !(0.0..=1.0).contains(&a.failure_rate) {
        return usage(format!(
            "--failure-rate: {} is not in 0..=1",
            a.failure_rate
        ));
    }
    let cfg = GenConfig {
        lines: a.lines,
        tenants: a.tenants.max(1),
        objects: a.objects.max(1),
        seed: a.seed,
        failure_rate: a.failure_rate,
        mix,
        start_ms,
        span_ms: span_ms as i64,
        avg_bytes: a.avg_bytes,
        sweep: false,
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match Generator::new(cfg).run(&mut out) {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // A closed pipe (`| head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
    }
}

fn run_validate(patterns: Option<&Path>, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut errs = Vec::new();
    let set = match patterns {
        Some(dir) => match PatternSet::from_dir(dir) {
            Ok(s) => s,
            Err(e) => {
                errs.extend(e);
                PatternSet::builtin()
            }
        },
        None => PatternSet::builtin(),
    };
    for f in files {
        let file = f.display().to_string();
        match std::fs::read_to_string(f) {
            Ok(text) => {
                if let Err(e) = Settings::from_config_text(&text, &file, set.clone()) {
                    errs.extend(e);
                }
            }
            Err(e) => errs.push(SpecError {
                file,
                line: 0,
                field: "(file)".into(),
                message: e.to_string(),
            }),
        }
    }
    if !errs.is_empty() {
        return Ok(config_error(&errs));
    }
    println!(
        "ok: {} patterns, {} config files",
        set.iter().count(),
        files.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn run_patterns(action: Option<PatternsAction>, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let settings = match load_settings(dir, None) {
        Ok(s) => s,
        Err(e) => return Ok(config_error(&e)),
    };
    match action.unwrap_or(PatternsAction::List) {
        PatternsAction::List => {
            for p in settings.patterns.iter() {
                println!(
                    "{:<26} {:<8} {}",
                    p.spec.id, p.spec.severity, p.spec.description
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PatternsAction::Test => {
            let classifier = Classifier::builtin();
            let results = run_examples(&settings, &classifier);
            let failed = results.iter().filter(|r| !r.ok).count();
            for r in &results {
                println!(
                    "{} {:<26} {:<40} {}",
                    if r.ok { "ok  " } else { "FAIL" },
                    r.pattern,
                    r.name,
                    r.detail
                );
            }
            println!("{} passed, {} failed", results.len() - failed, failed);
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
