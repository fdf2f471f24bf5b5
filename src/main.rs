//! The `fluxsight` command line. `anyhow` lives here only.

use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use fluxsight::classify::Classifier;
use fluxsight::config::LoadPipeline;
use fluxsight::correlate::spec::{PatternSet, Settings, SpecError};
use fluxsight::correlate::Correlator;
use fluxsight::pipeline::banner::{Banner, Listening, Signature, SourceInfo};
use fluxsight::pipeline::classify::classify_reader;
use fluxsight::pipeline::deliver::Deliverer;
use fluxsight::pipeline::examples::run_examples;
use fluxsight::pipeline::progress::ProgressMeter;
use fluxsight::pipeline::replay::{replay, Emitter, ReplayOptions};
use fluxsight::render::colour::Palette;
use fluxsight::render::finding::OutputFormat;
use fluxsight::sinks::config::DeliveryPlan;
use fluxsight::sources::file::open_input;
use fluxsight::telemetry::logs::LogFormat;

/// The capture `fluxsight demo` replays, shipped in the binary.
const DEMO_CAPTURE: &str = include_str!("../samples/demo/incident.log");

#[derive(Parser)]
#[command(
    name = "fluxsight",
    version,
    about = "Log-and-event stream processor for Flux"
)]
struct Cli {
    /// Colour the text findings: `auto` on a terminal unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    color: ColorWhen,
    #[command(subcommand)]
    command: Command,
    /// Format of fluxsight's own logs on stderr: text, or JSON with the Flux
    /// controllers' key names (level, ts, msg, logger). Filter: FLUXSIGHT_LOG.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// When the text findings are coloured.
#[derive(Clone, Copy, ValueEnum)]
enum ColorWhen {
    /// On a terminal, unless the NO_COLOR environment variable is set and not empty.
    Auto,
    /// Always, also into a pipe (`| less -R`).
    Always,
    /// Never.
    Never,
}

/// Findings output of `replay` and `demo`.
#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// fluxsight's own finding schema, one JSON object per line.
    Native,
    /// OCSF 1.x Detection Finding, one JSON object per line.
    Ocsf,
    /// Elastic Common Schema alert document, one JSON object per line.
    Ecs,
    /// A human summary of the findings at the end of input.
    Text,
}

impl From<FormatArg> for OutputFormat {
    fn from(f: FormatArg) -> OutputFormat {
        match f {
            FormatArg::Native => OutputFormat::Native,
            FormatArg::Ocsf => OutputFormat::Ocsf,
            FormatArg::Ecs => OutputFormat::Ecs,
            FormatArg::Text => OutputFormat::Text,
        }
    }
}

/// Findings output of `run` on stdout.
#[derive(Clone, Copy, ValueEnum)]
enum RunFormatArg {
    /// fluxsight's own finding schema, one JSON object per line.
    Native,
    /// OCSF 1.x Detection Finding, one JSON object per line.
    Ocsf,
    /// Elastic Common Schema alert document, one JSON object per line.
    Ecs,
    /// One human line per finding change.
    Text,
    /// Nothing on stdout (findings go to the pipeline's sinks only).
    None,
}

impl RunFormatArg {
    fn format(self) -> Option<OutputFormat> {
        match self {
            RunFormatArg::Native => Some(OutputFormat::Native),
            RunFormatArg::Ocsf => Some(OutputFormat::Ocsf),
            RunFormatArg::Ecs => Some(OutputFormat::Ecs),
            RunFormatArg::Text => Some(OutputFormat::Text),
            RunFormatArg::None => None,
        }
    }
}

#[derive(clap::Args, Clone)]
struct CorrelateArgs {
    /// Output format.
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = FormatArg::Native)]
    output: FormatArg,
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

/// Which cluster and which namespace `run` and `record` read, as in every kube tool.
#[derive(clap::Args, Clone, Default)]
struct KubeArgs {
    /// Kubeconfig file (default: KUBECONFIG, in-cluster, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// Namespace where Flux runs (default: the pipeline file's kubernetes.namespace,
    /// else RUNTIME_NAMESPACE, else flux-system).
    #[arg(short = 'n', long, value_name = "NS")]
    namespace: Option<String>,
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
        /// Output format.
        #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = FormatArg::Text)]
        output: FormatArg,
        /// Also write audit records.
        #[arg(long)]
        audit: bool,
    },
    /// Run live: follow inputs (and, in a cluster, the Flux controllers), serve
    /// /metrics, /healthz, /readyz and the Flux event receiver, deliver to the sinks.
    Run {
        /// Pipeline file (sinks, routes, thresholds, listen address, receiver).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Files to follow (`-` = stdin), in addition to the cluster sources.
        #[arg(long = "input")]
        inputs: Vec<String>,
        /// Read inputs to their end and stop instead of following them.
        #[arg(long)]
        no_follow: bool,
        /// Receiver listen address, also serving /metrics, /healthz, /readyz (overrides
        /// the pipeline file; default 127.0.0.1:9797, in a cluster 0.0.0.0:9797).
        #[arg(long)]
        listen: Option<String>,
        /// Address of /healthz, /readyz and /metrics alone, for the probes (overrides the
        /// pipeline file; default 127.0.0.1:9440, in a cluster 0.0.0.0:9440; `none` turns
        /// it off).
        #[arg(long)]
        health_listen: Option<String>,
        /// Start even though the receiver listens on an address other than loopback with
        /// no `receiver.hmac_secret`, accepting unsigned events from any host that reaches it.
        #[arg(long)]
        allow_unsigned: bool,
        /// Wait for `--input` files that do not exist yet (warning once, retrying with
        /// growing back-off) instead of exiting 2.
        #[arg(long)]
        wait_for_input: bool,
        /// Findings on stdout.
        #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = RunFormatArg::Native)]
        output: RunFormatArg,
        /// Also write audit records on stdout.
        #[arg(long)]
        audit: bool,
        /// Do not connect to the Kubernetes API (only `--input` files and the receiver).
        #[arg(long)]
        no_kube: bool,
        /// Clock of the correlator, routing and sinks: `auto` (the records' own time
        /// while the input runs more than 2 min behind the wall clock, e.g. a file of old
        /// logs or a backlog, then the wall clock once caught up; a `--no-follow` run of
        /// old input ends with the findings `replay` gives), `wall` (always the wall
        /// clock) or `record` (always the records' own time, as `replay`).
        #[arg(long, default_value = "auto", value_parser = fluxsight::pipeline::live::Clock::NAMES)]
        clock: String,
        /// Event time re-read after a restart to rebuild correlation state: a Go
        /// duration or `all` (from the start of the file). Default with `--clock auto|wall`:
        /// the longest window or resolve time of any pattern (2h built in); with
        /// `--clock record`: `all`, so a restarted post-mortem gives the same findings
        /// as an uninterrupted one.
        #[arg(long)]
        rebuild_lookback: Option<String>,
        #[command(flatten)]
        kube: KubeArgs,
    },
    /// Write the live input (controller logs, watch events, metrics, `--input` files) to
    /// a file that `fluxsight replay` reads back; stops on SIGTERM/SIGINT.
    Record {
        /// Capture file to write.
        #[arg(long, value_name = "FILE", required_unless_present = "output")]
        to: Option<PathBuf>,
        /// Deprecated spelling of `--to`, kept for one release (it read as a format).
        #[arg(long, value_name = "FILE", hide = true, conflicts_with = "to")]
        output: Option<PathBuf>,
        /// Pipeline file (its `kubernetes:` section).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Files to follow (`-` = stdin), in addition to the cluster sources.
        #[arg(long = "input")]
        inputs: Vec<String>,
        /// Read inputs to their end and stop instead of following them.
        #[arg(long)]
        no_follow: bool,
        /// Wait for `--input` files that do not exist yet instead of exiting 2.
        #[arg(long)]
        wait_for_input: bool,
        /// Do not connect to the Kubernetes API.
        #[arg(long)]
        no_kube: bool,
        #[command(flatten)]
        kube: KubeArgs,
    },
    /// Deliver what is left in the sinks' spools (after a crash or kill) and exit.
    Drain {
        /// Pipeline file with the sinks and `delivery.state_dir`.
        #[arg(long)]
        config: PathBuf,
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
    /// Print a shell completion script, e.g. `fluxsight completions bash >
    /// /etc/bash_completion.d/fluxsight`.
    Completions {
        /// Shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per subcommand with `--out-dir`.
    Man {
        /// Directory for fluxsight.1 and fluxsight-<subcommand>.1 (packagers install
        /// these under share/man/man1).
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
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
    /// Time of the first line (RFC 3339); with --rate, now.
    #[arg(long)]
    start: Option<String>,
    /// Time covered by the lines (Go duration); with --rate, lines / rate.
    #[arg(long)]
    span: Option<String>,
    /// Write in real time at this many lines/s, each line stamped with the time it is
    /// written (a live load for `run`: `gen --rate 50000 | fluxsight run --input -`).
    #[arg(long)]
    rate: Option<f64>,
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
    fluxsight::telemetry::logs::install(cli.log_format);
    let palette = palette(cli.color);
    let result = match cli.command {
        Command::Classify { files } => run_classify(files),
        Command::Replay { files, args } => run_replay(files, &args, palette),
        Command::Demo { output, audit } => run_demo(output.into(), audit, palette),
        Command::Drain { config } => run_drain(&config),
        Command::Run {
            config,
            inputs,
            no_follow,
            listen,
            health_listen,
            allow_unsigned,
            wait_for_input,
            output,
            audit,
            no_kube,
            clock,
            rebuild_lookback,
            kube,
        } => run_live_cmd(
            config.as_deref(),
            LiveInputs::new(inputs, (no_follow, wait_for_input), no_kube, kube),
            ListenArgs {
                listen,
                health_listen,
                allow_unsigned,
            },
            (output, palette),
            audit,
            &clock,
            rebuild_lookback.as_deref(),
            cli.log_format,
        ),
        Command::Record {
            to,
            output,
            config,
            inputs,
            no_follow,
            wait_for_input,
            no_kube,
            kube,
        } => {
            if output.is_some() {
                eprintln!("fluxsight: warning: record --output FILE is deprecated and goes in the next release; use --to FILE");
            }
            match to.or(output) {
                Some(to) => run_record(
                    &to,
                    config.as_deref(),
                    LiveInputs::new(inputs, (no_follow, wait_for_input), no_kube, kube),
                    cli.log_format,
                ),
                // clap requires one of them; kept as a usage error should that change.
                None => {
                    eprintln!("fluxsight: record: --to FILE is required");
                    Ok(ExitCode::from(2))
                }
            }
        }
        Command::Validate { patterns, files } => run_validate(patterns.as_deref(), &files),
        Command::Patterns { action, dir } => run_patterns(action, dir.as_deref()),
        Command::Gen(args) => run_gen(&args),
        Command::Completions { shell } => run_completions(shell),
        Command::Man { out_dir } => run_man(out_dir.as_deref()),
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
    load_pipeline(patterns, config).map(|(s, _)| s)
}

fn load_pipeline(
    patterns: Option<&Path>,
    config: Option<&Path>,
) -> Result<(Settings, DeliveryPlan), Vec<SpecError>> {
    let set = match patterns {
        Some(dir) => PatternSet::from_dir(dir)?,
        None => PatternSet::builtin(),
    };
    match config {
        None => Ok((
            Settings {
                patterns: set,
                ..Settings::default()
            },
            DeliveryPlan::default(),
        )),
        Some(path) => {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| {
                vec![SpecError {
                    file: file.clone(),
                    line: 0,
                    column: 0,
                    field: "(file)".into(),
                    message: e.to_string(),
                }]
            })?;
            Settings::pipeline_from_text(&text, &file, set)
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
            let file = open_input(Path::new(f)).map_err(|e| e.to_string())?;
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

fn run_replay(
    mut files: Vec<String>,
    args: &CorrelateArgs,
    palette: Palette,
) -> anyhow::Result<ExitCode> {
    if files.is_empty() {
        files.push("-".into());
    }
    let Some(lateness) = fluxsight::parse::time::parse_go_duration_ms(&args.lateness) else {
        eprintln!(
            "fluxsight: --lateness: '{}' is not a duration",
            args.lateness
        );
        return Ok(ExitCode::from(2));
    };
    let (settings, plan) = match load_pipeline(args.patterns.as_deref(), args.config.as_deref()) {
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
        format: args.output.into(),
        audit: args.audit,
        lateness_ms: lateness as i64,
        undated_ms: newest_mtime_ms(&files),
        palette,
    };
    let deliverer = if plan.is_empty() {
        None
    } else {
        match Deliverer::start(&plan) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("fluxsight: {e}");
                return Ok(ExitCode::from(e.exit_code()));
            }
        }
    };
    replay_to_stdout(inputs, settings, opts, deliverer)
}

/// Newest modification time of the named files (not stdin), in ms: the clock of a
/// pasted snapshot that shows no time of its own.
fn newest_mtime_ms(files: &[String]) -> Option<i64> {
    files
        .iter()
        .filter(|f| f.as_str() != "-")
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
    let out = BufWriter::with_capacity(1 << 16, io::stdout());
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

/// The per-sink summary every delivering command prints on exit.
fn print_sink_stats(
    stats: &std::collections::BTreeMap<String, fluxsight::sinks::stats::StatsSnapshot>,
) {
    for (sink, s) in stats {
        eprintln!(
            "fluxsight: sink {sink}: sent {} retried {} spooled {} dead-lettered {} dropped {} backlog {} dead-letter-failed {}",
            s.sent, s.retried, s.spooled, s.dead_lettered, s.dropped, s.backlog, s.dead_letter_failed
        );
    }
}

fn run_demo(format: OutputFormat, audit: bool, palette: Palette) -> anyhow::Result<ExitCode> {
    let inputs = vec![("incident.log".to_string(), DEMO_CAPTURE.as_bytes())];
    let opts = ReplayOptions {
        format,
        audit,
        palette,
        ..ReplayOptions::default()
    };
    replay_to_stdout(inputs, Settings::default(), opts, None)
}

/// What `run` and `record` read.
struct LiveInputs {
    inputs: Vec<String>,
    follow: bool,
    /// `--wait-for-input`.
    wait: bool,
    no_kube: bool,
    kube: KubeArgs,
}

impl LiveInputs {
    /// The input flags `run` and `record` share.
    fn new(
        inputs: Vec<String>,
        (no_follow, wait): (bool, bool),
        no_kube: bool,
        kube: KubeArgs,
    ) -> Self {
        LiveInputs {
            inputs,
            follow: !no_follow,
            wait,
            no_kube,
            kube,
        }
    }

    /// The `--input` checks `replay` makes, before anything starts: a path that cannot
    /// be read is a usage error (exit 2) naming it, unless `--wait-for-input` waits for
    /// it to appear; a directory is one always.
    fn check(&self) -> Result<(), ExitCode> {
        for path in self.inputs.iter().filter(|p| p.as_str() != "-") {
            match open_input(Path::new(path)) {
                Ok(_) => {}
                Err(e) if self.wait && e.may_appear() => {}
                Err(e) if e.may_appear() => {
                    eprintln!("fluxsight: {e}; pass --wait-for-input to wait for it");
                    return Err(ExitCode::from(2));
                }
                Err(e) => {
                    eprintln!("fluxsight: {e}");
                    return Err(ExitCode::from(2));
                }
            }
        }
        Ok(())
    }

    /// The banner lines of the `--input` sources.
    fn describe(&self) -> Vec<SourceInfo> {
        self.inputs
            .iter()
            .map(|p| SourceInfo::input(p, self.follow, self.wait))
            .collect()
    }
}

/// Where `run` listens, as given on the command line.
struct ListenArgs {
    listen: Option<String>,
    health_listen: Option<String>,
    /// `--allow-unsigned`.
    allow_unsigned: bool,
}

#[allow(clippy::too_many_arguments)]
fn run_live_cmd(
    config: Option<&Path>,
    inputs: LiveInputs,
    listen_args: ListenArgs,
    (output, text_palette): (RunFormatArg, Palette),
    audit: bool,
    clock: &str,
    rebuild_lookback: Option<&str>,
    log_format: LogFormat,
) -> anyhow::Result<ExitCode> {
    let stdout = output.format();
    use fluxsight::pipeline::live::{rebuild_lookback_ms, run_live, Clock, LiveOptions};
    let follow = inputs.follow;
    let Some(clock) = Clock::parse(clock) else {
        eprintln!(
            "fluxsight: --clock: '{clock}' is not one of {}",
            Clock::NAMES.join(", ")
        );
        return Ok(ExitCode::from(2));
    };
    if let Err(code) = inputs.check() {
        return Ok(code);
    }
    let (settings, plan, live) = match config {
        None => (
            Settings::default(),
            DeliveryPlan::default(),
            Default::default(),
        ),
        Some(path) => {
            let file = path.display().to_string();
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("fluxsight: {file}: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            match Settings::pipeline_full(&text, &file, PatternSet::builtin()) {
                Ok(x) => x,
                Err(e) => return Ok(config_error(&e)),
            }
        }
    };
    let hmac_key = match &live.receiver.hmac_secret {
        None => None,
        Some(s) => match s.resolve() {
            Ok(k) => Some(k.into_bytes()),
            Err(e) => {
                eprintln!("fluxsight: receiver.hmac_secret: {e}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let listening = match resolve_listening(
        listen_args,
        (live.listen, live.health_listen),
        hmac_key.is_some(),
    ) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let lookback_ms = match rebuild_lookback {
        // A recording is finite and must give the same answer every time: its state is
        // rebuilt from the start of the file. Live, the patterns' windows suffice.
        None if clock == Clock::Record => i64::MAX,
        None => rebuild_lookback_ms(&settings),
        Some("all") => i64::MAX,
        Some(s) => match fluxsight::parse::time::parse_go_duration_ms(s) {
            Some(d) => d as i64,
            None => {
                eprintln!("fluxsight: --rebuild-lookback: '{s}' is not a duration");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let opts = LiveOptions {
        listen: Some(listening.listen),
        health_listen: listening.health,
        receiver: live.receiver.settings(hmac_key),
        stdout,
        text_palette,
        audit_to_stdout: audit,
        tick: std::time::Duration::from_secs(1),
        clock,
        stop_when_inputs_end: !follow,
        config_path: config.map(Path::to_path_buf),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let stdout_sink = stdout
        .and(output.to_possible_value())
        .map(|v| format!("stdout (--output {})", v.get_name()));
    let banner = Banner {
        command: "run",
        config: config.map(Path::to_path_buf),
        sources: Vec::new(),
        sinks: stdout_sink
            .into_iter()
            .chain(
                plan.sinks
                    .iter()
                    .map(|s| format!("{} ({})", s.name(), s.type_name())),
            )
            .collect(),
        listening: Some(listening),
        capture: None,
    };
    let announce = |sources| {
        Banner { sources, ..banner }.emit(log_format == LogFormat::Text);
    };
    let sources = match live_sources(&rt, inputs, lookback_ms, live.kubernetes, announce) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let telemetry = fluxsight::telemetry::Telemetry::new();
    let summary = rt.block_on(async {
        spawn_signal_handler(cancel.clone());
        run_live(settings, &plan, sources, opts, telemetry, cancel).await
    });
    // A sink stuck in blocking I/O must not hold the exit past the shutdown deadline.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    match summary {
        Ok(s) => {
            print_sink_stats(&s.sinks);
            if s.suppressed > 0 || s.withheld > 0 {
                eprintln!(
                    "fluxsight: rebuild outputs not re-sent {}; batches left unacknowledged {}",
                    s.suppressed, s.withheld
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        // A state directory another process holds or a sink the configuration cannot
        // build exits 2; runtime failures (an address that cannot be bound, a spool
        // that cannot be opened) exit 1.
        Err(e) => {
            eprintln!("fluxsight: {e}");
            Ok(ExitCode::from(e.exit_code()))
        }
    }
}

/// The addresses of `run`: the flag, else the pipeline file, else the default (loopback
/// outside a cluster). An unsigned receiver on an address other than loopback is refused
/// (exit 2) unless `--allow-unsigned`: a laptop's receiver must not take events from the
/// network by accident (SECURITY.md, "Unsigned receiver").
fn resolve_listening(
    args: ListenArgs,
    (file_listen, file_health): (Option<String>, Option<String>),
    has_hmac_key: bool,
) -> Result<Listening, ExitCode> {
    use fluxsight::server::{default_listens, exposes_unsigned, in_cluster, parse_optional_listen};
    let (default_listen, default_health) = default_listens(in_cluster());
    let listen = args
        .listen
        .or(file_listen)
        .unwrap_or_else(|| default_listen.into());
    let Ok(addr) = listen.parse() else {
        eprintln!("fluxsight: --listen: '{listen}' is not an address such as {default_listen}");
        return Err(ExitCode::from(2));
    };
    let health_listen = args
        .health_listen
        .or(file_health)
        .unwrap_or_else(|| default_health.into());
    let Ok(health) = parse_optional_listen(&health_listen) else {
        eprintln!(
            "fluxsight: --health-listen: '{health_listen}' is not an address such as {default_health}, nor none"
        );
        return Err(ExitCode::from(2));
    };
    let signature = match (has_hmac_key, exposes_unsigned(addr, has_hmac_key)) {
        (true, _) => Signature::Required,
        (false, false) => Signature::NotRequired,
        (false, true) if args.allow_unsigned => Signature::AllowedUnsigned,
        (false, true) => {
            eprintln!(
                "fluxsight: the receiver on {addr} would accept unsigned events from any host that reaches it; \
                 set receiver.hmac_secret in the pipeline file (Flux generic-hmac Provider), \
                 listen on loopback (--listen 127.0.0.1:{port}), \
                 or pass --allow-unsigned to accept them anyway",
                port = addr.port()
            );
            return Err(ExitCode::from(2));
        }
    };
    Ok(Listening {
        listen: addr,
        health,
        signature,
    })
}

/// First signal: cancel (drain and exit); second signal: exit now.
fn spawn_signal_handler(c: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::warn!("shutdown signal received; draining (a second signal forces exit)");
        c.cancel();
        wait_for_signal().await;
        eprintln!("fluxsight: second signal: exiting now");
        std::process::exit(1);
    });
}

/// The sources of `run` and `record`: `--input` files, and the cluster unless
/// `--no-kube`. `announce` gets their banner lines once they are known, before the
/// cluster is first contacted (which may wait on a server that does not answer). A
/// cluster configuration that is missing or broken is a usage error (exit 2; only a
/// warning when none exists and files were given); a checkpoint that cannot be read is a
/// runtime failure (exit 1); a cluster that does not answer is waited for by the
/// Kubernetes sources (logged per back-off step, `/readyz` false).
fn live_sources(
    rt: &tokio::runtime::Runtime,
    inputs: LiveInputs,
    lookback_ms: i64,
    mut kube: fluxsight::sources::kube::KubeSettings,
    announce: impl FnOnce(Vec<SourceInfo>),
) -> Result<Vec<fluxsight::sources::SourceTask>, ExitCode> {
    use fluxsight::sources::follow::{file_source, FileOptions};
    use fluxsight::sources::kube::config::RUNTIME_NAMESPACE_ENV;
    use fluxsight::sources::kube::{client, cluster_config, kube_source, Checkpoints};
    let mut described = inputs.describe();
    let LiveInputs {
        inputs,
        follow,
        wait,
        no_kube,
        kube: args,
    } = inputs;
    let has_inputs = !inputs.is_empty();
    let mut sources: Vec<fluxsight::sources::SourceTask> = inputs
        .into_iter()
        .map(|p| {
            let opts = FileOptions {
                follow,
                positions: kube.checkpoint_dir.as_ref().map(PathBuf::from),
                lookback_ms,
                wait_for_input: wait,
            };
            file_source(p, opts)
        })
        .collect();
    if no_kube {
        described.push(SourceInfo::KubeOff { why: "--no-kube" });
        announce(described);
        return Ok(sources);
    }
    let opts = fluxsight::sources::kube::ClusterOptions {
        kubeconfig: args.kubeconfig,
        context: args.context,
    };
    let found = match rt.block_on(cluster_config(&opts)) {
        Ok(c) => c,
        Err(e) if e.is_missing() && has_inputs => {
            eprintln!("fluxsight: warning: {e}; following --input only");
            described.push(SourceInfo::KubeOff {
                why: "no cluster configuration found",
            });
            announce(described);
            return Ok(sources);
        }
        Err(e) if e.is_missing() => {
            eprintln!("fluxsight: {e}; pass --kubeconfig, set KUBECONFIG, run inside the cluster, or pass --no-kube");
            return Err(ExitCode::from(2));
        }
        Err(e) => {
            eprintln!("fluxsight: {e}");
            return Err(ExitCode::from(2));
        }
    };
    let runtime_ns = std::env::var(RUNTIME_NAMESPACE_ENV).ok();
    kube.resolve_namespace(args.namespace.as_deref(), runtime_ns.as_deref());
    tracing::info!(
        server = %found.config.cluster_url,
        source = %found.source,
        context = found.context.as_deref().unwrap_or("-"),
        namespace = %kube.namespace,
        "cluster configuration loaded"
    );
    // Local state first: it fails fast, where the probe below may wait.
    let ckpt = match &kube.checkpoint_dir {
        None => Checkpoints::in_memory(),
        Some(dir) => match Checkpoints::load(Path::new(dir)) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("fluxsight: {e}");
                return Err(ExitCode::from(1));
            }
        },
    };
    described.push(SourceInfo::Kube {
        context: found.context.clone(),
        server: found.config.cluster_url.to_string(),
        namespace: kube.namespace.clone(),
    });
    announce(described);
    let client = match rt.block_on(client(found)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fluxsight: {e}");
            return Err(ExitCode::from(2));
        }
    };
    sources.push(kube_source(client, kube, std::sync::Arc::new(ckpt)));
    Ok(sources)
}

fn run_record(
    output: &Path,
    config: Option<&Path>,
    inputs: LiveInputs,
    log_format: LogFormat,
) -> anyhow::Result<ExitCode> {
    if let Err(code) = inputs.check() {
        return Ok(code);
    }
    let kube = match config {
        None => Default::default(),
        Some(path) => {
            let file = path.display().to_string();
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("fluxsight: {file}: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            match Settings::pipeline_full(&text, &file, PatternSet::builtin()) {
                Ok((_, _, live)) => live.kubernetes,
                Err(e) => return Ok(config_error(&e)),
            }
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // `record` writes every line as read: no pipeline commits them, so no checkpoint
    // lookback applies (positions advance only when committed; see sources::ack).
    let announce = |sources| {
        Banner {
            command: "record",
            config: config.map(Path::to_path_buf),
            sources,
            sinks: Vec::new(),
            listening: None,
            capture: Some(output.to_path_buf()),
        }
        .emit(log_format == LogFormat::Text);
    };
    let sources = match live_sources(&rt, inputs, 0, kube, announce) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let telemetry = fluxsight::telemetry::Telemetry::new();
    let n = rt.block_on(async {
        spawn_signal_handler(cancel.clone());
        fluxsight::pipeline::capture::run_capture(sources, output, telemetry, cancel).await
    });
    match n {
        Ok(n) => {
            eprintln!("fluxsight: recorded {n} lines to {}", output.display());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("fluxsight: {}: {e}", output.display());
            Ok(ExitCode::from(1))
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn run_drain(config: &Path) -> anyhow::Result<ExitCode> {
    let (_, plan) = match load_pipeline(None, Some(config)) {
        Ok(s) => s,
        Err(e) => return Ok(config_error(&e)),
    };
    if plan.settings.state_dir.is_none() {
        eprintln!(
            "fluxsight: {}: delivery.state_dir: drain needs a state directory",
            config.display()
        );
        return Ok(ExitCode::from(2));
    }
    let d = match Deliverer::start(&plan) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("fluxsight: {e}");
            return Ok(ExitCode::from(e.exit_code()));
        }
    };
    let stats = d.finish();
    let left: u64 = stats.values().map(|s| s.backlog).sum();
    print_sink_stats(&stats);
    Ok(if left == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
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
    let wall_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    };
    if let Some(r) = a.rate {
        if !(r.is_finite() && r > 0.0) {
            return usage(format!("--rate: {r} is not a positive number of lines/s"));
        }
    }
    let start_ms = match (&a.start, a.rate) {
        (Some(s), _) => match fluxsight::parse::time::parse_ts(s) {
            Some(t) => t,
            None => return usage(format!("--start: '{s}' is not an RFC 3339 time")),
        },
        (None, Some(_)) => wall_ms(),
        (None, None) => fluxsight::parse::time::parse_ts("2026-03-02T09:00:00Z").unwrap_or(0),
    };
    let span_ms = match (&a.span, a.rate) {
        (Some(s), _) => match fluxsight::parse::time::parse_go_duration_ms(s) {
            Some(d) => d as i64,
            None => return usage(format!("--span: '{s}' is not a duration")),
        },
        (None, Some(r)) => (a.lines as f64 * 1000.0 / r) as i64,
        (None, None) => 24 * 3_600_000,
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

/// Checks pattern and pipeline files (raw and validated steps, no I/O beyond reading
/// them): one `ok: FILE` line on stdout per file that passed, every error on stderr,
/// exit 2 if any failed.
fn run_validate(patterns: Option<&Path>, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut errs = Vec::new();
    let set = match patterns {
        Some(dir) => match PatternSet::from_dir(dir) {
            Ok(s) => {
                for f in PatternSet::files_in(dir).unwrap_or_default() {
                    println!("ok: {}", f.display());
                }
                s
            }
            Err(e) => {
                errs.extend(e);
                PatternSet::builtin()
            }
        },
        None => {
            let set = PatternSet::builtin();
            println!("ok: {} built-in patterns", set.iter().count());
            set
        }
    };
    for f in files {
        let file = f.display().to_string();
        match std::fs::read_to_string(f) {
            Ok(text) => match Settings::pipeline_from_text(&text, &file, set.clone()) {
                Ok((_, plan)) => {
                    println!("ok: {file}");
                    for line in fluxsight::sinks::config::describe(&plan) {
                        println!("{file}: {line}");
                    }
                }
                Err(e) => errs.extend(e),
            },
            Err(e) => errs.push(SpecError {
                file,
                line: 0,
                column: 0,
                field: "(file)".into(),
                message: e.to_string(),
            }),
        }
    }
    if !errs.is_empty() {
        return Ok(config_error(&errs));
    }
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

/// The text findings' colours: `--color`, else a terminal on stdout and no `NO_COLOR`
/// (set and not empty, as no-color.org defines it).
fn palette(when: ColorWhen) -> Palette {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let colour = match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => !no_color && io::stdout().is_terminal(),
    };
    if colour {
        Palette::Ansi
    } else {
        Palette::Plain
    }
}

/// The replay progress line on stderr (the caller checked it is a terminal): the replay
/// passes counters, the clock is read here.
fn progress_line() -> fluxsight::pipeline::replay::ProgressHook {
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

fn run_completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "fluxsight", &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn run_man(out_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cmd = Cli::command();
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        }
        None => {
            let mut out = io::stdout().lock();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
