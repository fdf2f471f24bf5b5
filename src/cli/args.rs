//! The command line's surface: every clap type, with the doc comments that are its help
//! texts, man page and completions. Owns no behaviour; each command family's wiring is in
//! its own file next to this one. The invariant: a change here changes `--help`, the man
//! page and the completions, so it is a change of the CLI.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use fluxsight::render::finding::OutputFormat;
use fluxsight::telemetry::logs::LogFormat;

#[derive(Parser)]
#[command(
    name = "fluxsight",
    version,
    about = "Log-and-event stream processor for Flux"
)]
pub struct Cli {
    /// Colour the text findings: `auto` on a terminal unless NO_COLOR is set.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
    #[command(subcommand)]
    pub command: Command,
    /// Format of fluxsight's own logs on stderr: text, or JSON with the Flux
    /// controllers' key names (level, ts, msg, logger). Filter: FLUXSIGHT_LOG.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// When the text findings are coloured.
#[derive(Clone, Copy, ValueEnum)]
pub enum ColorWhen {
    /// On a terminal, unless the NO_COLOR environment variable is set and not empty.
    Auto,
    /// Always, also into a pipe (`| less -R`).
    Always,
    /// Never.
    Never,
}

/// Findings output of `replay` and `demo`.
#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
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
pub enum RunFormatArg {
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
    pub fn format(self) -> Option<OutputFormat> {
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
pub struct CorrelateArgs {
    /// Output format.
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = FormatArg::Native)]
    pub output: FormatArg,
    /// Also write audit records.
    #[arg(long)]
    pub audit: bool,
    /// Directory of pattern files replacing the built-in ones of the same id.
    #[arg(long)]
    pub patterns: Option<PathBuf>,
    /// Config file: cluster name, tenant mapping, threshold overrides.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Out-of-order tolerance, e.g. 10s.
    #[arg(long, default_value = "10s")]
    pub lateness: String,
    #[command(flatten)]
    pub threads: ThreadsArg,
}

/// `replay --report`: a post-mortem page written at the end of the replay.
#[derive(clap::Args, Clone, Default)]
pub struct ReportArgs {
    /// Also write a self-contained post-mortem report to FILE at the end (stdout output
    /// is unchanged). See docs/report.md.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Form of the report: a single HTML page, or Markdown for pasting into an issue.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = ReportFormatArg::Html, requires = "report")]
    pub report_format: ReportFormatArg,
}

/// `--report-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormatArg {
    #[default]
    Html,
    Md,
}

impl From<ReportFormatArg> for fluxsight::render::report::ReportFormat {
    fn from(f: ReportFormatArg) -> Self {
        match f {
            ReportFormatArg::Html => fluxsight::render::report::ReportFormat::Html,
            ReportFormatArg::Md => fluxsight::render::report::ReportFormat::Markdown,
        }
    }
}

/// How many threads decode batch input.
#[derive(clap::Args, Clone, Copy)]
pub struct ThreadsArg {
    /// Threads decoding the input (default: one per core; 0 decodes on the main
    /// thread). Output is the same for any number.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

impl ThreadsArg {
    pub fn get(self) -> usize {
        self.threads
            .unwrap_or_else(fluxsight::pipeline::parallel::default_threads)
    }
}

/// Which cluster and which namespace `run` and `record` read, as in every kube tool.
#[derive(clap::Args, Clone, Default)]
pub struct KubeArgs {
    /// Kubeconfig file (default: KUBECONFIG, in-cluster, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace where Flux runs (default: the pipeline file's kubernetes.namespace,
    /// else RUNTIME_NAMESPACE, else flux-system).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Parse and classify every line; one JSON row per line (stdin when no file or `-`).
    Classify {
        /// Input files; `-` is stdin.
        files: Vec<String>,
        #[command(flatten)]
        threads: ThreadsArg,
    },
    /// Run the whole pipeline over recorded input using the records' own timestamps.
    Replay {
        /// Input files; `-` is stdin. Merged in timestamp order.
        files: Vec<String>,
        #[command(flatten)]
        args: CorrelateArgs,
        #[command(flatten)]
        report: ReportArgs,
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
    Run(RunArgs),
    /// Write the live input (controller logs, watch events, metrics, `--input` files) to
    /// a file that `fluxsight replay` reads back; stops on SIGTERM/SIGINT.
    Record(RecordArgs),
    /// Correlate the signals the sidecars publish (docs/fleet.md): a member of a Kafka
    /// consumer group, one correlator per assigned partition and cluster; findings go to
    /// the pipeline file's sinks. Stops on SIGTERM/SIGINT (committing its partitions).
    Central(CentralArgs),
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
    /// List patterns, or run every pattern file's examples.
    Patterns {
        #[command(subcommand)]
        action: Option<PatternsAction>,
        /// Pattern directory (default: the built-in set).
        #[arg(long, global = true)]
        dir: Option<PathBuf>,
    },
    /// Query a running fluxsight (`fluxsight run`) as `flux get` queries a cluster.
    Get {
        #[command(subcommand)]
        resource: GetResource,
    },
    /// Explain a pattern (what it means, its parameters, how it groups, its runbook) or
    /// a finding of a running fluxsight by its id (from `fluxsight get findings`).
    Explain(ExplainArgs),
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

#[derive(Subcommand)]
pub enum PatternsAction {
    /// List every pattern with its severity and description.
    List,
    /// Run every pattern file's examples; exit 1 if any fails.
    Test,
}

// The flags of `central`.
#[derive(clap::Args)]
pub struct CentralArgs {
    /// Pipeline file with a `central:` section (brokers, topic, group, lookback) and the
    /// `sinks:` / `routes:` findings go to.
    #[arg(long)]
    pub config: PathBuf,
    /// Where `/metrics`, `/healthz` and `/readyz` listen (default: the file's
    /// `health_listen`, else 127.0.0.1:9440 outside a cluster, 0.0.0.0:9440 inside);
    /// `none` turns them off.
    #[arg(long)]
    pub health_listen: Option<String>,
    /// The member's Kafka `client.id` (default `fluxsight-central-<hostname or pid>`).
    #[arg(long)]
    pub client_id: Option<String>,
}

// The flags of `run` (its about text is the `Command::Run` doc comment).
#[derive(clap::Args)]
pub struct RunArgs {
    /// Pipeline file (sinks, routes, thresholds, listen address, receiver).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Files to follow (`-` = stdin), in addition to the cluster sources.
    #[arg(long = "input")]
    pub inputs: Vec<String>,
    /// Read inputs to their end and stop instead of following them.
    #[arg(long)]
    pub no_follow: bool,
    /// Receiver listen address, also serving /metrics, /healthz, /readyz (overrides
    /// the pipeline file; default 127.0.0.1:9797, in a cluster 0.0.0.0:9797).
    #[arg(long)]
    pub listen: Option<String>,
    /// Address of /healthz, /readyz and /metrics alone, for the probes (overrides the
    /// pipeline file; default 127.0.0.1:9440, in a cluster 0.0.0.0:9440; `none` turns
    /// it off).
    #[arg(long)]
    pub health_listen: Option<String>,
    /// Start even though the receiver listens on an address other than loopback with
    /// no `receiver.hmac_secret`, accepting unsigned events from any host that reaches it.
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Wait for `--input` files that do not exist yet (warning once, retrying with
    /// growing back-off) instead of exiting 2.
    #[arg(long)]
    pub wait_for_input: bool,
    /// Findings on stdout.
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = RunFormatArg::Native)]
    pub output: RunFormatArg,
    /// Also write audit records on stdout.
    #[arg(long)]
    pub audit: bool,
    /// Do not connect to the Kubernetes API (only `--input` files and the receiver).
    #[arg(long)]
    pub no_kube: bool,
    /// Clock of the correlator, routing and sinks: `auto` (the records' own time
    /// while the input runs more than 2 min behind the wall clock, e.g. a file of old
    /// logs or a backlog, then the wall clock once caught up; a `--no-follow` run of
    /// old input ends with the findings `replay` gives), `wall` (always the wall
    /// clock) or `record` (always the records' own time, as `replay`).
    #[arg(long, default_value = "auto", value_parser = fluxsight::pipeline::live::Clock::NAMES)]
    pub clock: String,
    /// Event time re-read after a restart to rebuild correlation state: a Go
    /// duration or `all` (from the start of the file). Default with `--clock auto|wall`:
    /// the longest window or resolve time of any pattern (2h built in); with
    /// `--clock record`: `all`, so a restarted post-mortem gives the same findings
    /// as an uninterrupted one.
    #[arg(long)]
    pub rebuild_lookback: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

// The flags of `record` (its about text is the `Command::Record` doc comment).
#[derive(clap::Args)]
pub struct RecordArgs {
    /// Capture file to write.
    #[arg(long, value_name = "FILE", required_unless_present = "output")]
    pub to: Option<PathBuf>,
    /// Deprecated spelling of `--to`, kept for one release (it read as a format).
    #[arg(long, value_name = "FILE", hide = true, conflicts_with = "to")]
    pub output: Option<PathBuf>,
    /// Pipeline file (its `kubernetes:` section).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Files to follow (`-` = stdin), in addition to the cluster sources.
    #[arg(long = "input")]
    pub inputs: Vec<String>,
    /// Read inputs to their end and stop instead of following them.
    #[arg(long)]
    pub no_follow: bool,
    /// Wait for `--input` files that do not exist yet instead of exiting 2.
    #[arg(long)]
    pub wait_for_input: bool,
    /// Do not connect to the Kubernetes API.
    #[arg(long)]
    pub no_kube: bool,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Where a running fluxsight answers: its `listen` address.
#[derive(clap::Args, Clone)]
pub struct ServerArg {
    /// URL of a running fluxsight's listen address; in a cluster, forward it first with
    /// `kubectl -n flux-system port-forward deploy/fluxsight 9797`.
    #[arg(
        long,
        value_name = "URL",
        env = "FLUXSIGHT_SERVER",
        default_value = "http://127.0.0.1:9797"
    )]
    pub server: String,
}

/// What `get` lists.
#[derive(Subcommand)]
pub enum GetResource {
    /// The findings of a running fluxsight: firing first, then by severity, newest first.
    Findings(GetFindingsArgs),
}

/// Findings that `get findings` shows.
#[derive(Clone, Copy, ValueEnum)]
pub enum StatusArg {
    /// Only firing findings.
    Firing,
    /// Only resolved findings (they stay listed for `api.retention`, 1h by default).
    Resolved,
    /// Both, firing first.
    All,
}

/// Output of `get findings`.
#[derive(Clone, Copy, ValueEnum)]
pub enum GetFormatArg {
    /// Aligned columns, as `flux get`.
    Table,
    /// The API's items: native findings, a JSON array.
    Json,
    /// The same items as YAML.
    Yaml,
}

#[derive(clap::Args)]
pub struct GetFindingsArgs {
    /// Findings about objects in every namespace (and cluster-wide subjects: hosts,
    /// tenants).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Findings whose subject is in this namespace.
    #[arg(
        short = 'n',
        long,
        value_name = "NS",
        default_value = "flux-system",
        conflicts_with = "all_namespaces"
    )]
    pub namespace: String,
    /// Which findings by status.
    #[arg(long, value_enum, default_value_t = StatusArg::All)]
    pub status: StatusArg,
    /// Only this pattern (e.g. git_auth_failure).
    #[arg(long, value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// Only findings about this tenant (blamed or affected).
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = GetFormatArg::Table)]
    pub output: GetFormatArg,
    #[command(flatten)]
    pub server: ServerArg,
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// A pattern id (`fluxsight patterns` lists them) or a finding id.
    #[arg(value_name = "PATTERN_OR_FINDING_ID")]
    pub id: String,
    /// Pipeline file whose `patterns:` overrides to show next to the defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub server: ServerArg,
}
