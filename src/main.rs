//! The `fluxsight` command line: parses the arguments and dispatches to the command's
//! wiring in [`cli`]. `anyhow` lives in the binary only.

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::args::{Cli, Command};

/// mimalloc: per-thread heaps with cross-thread frees that do not take a global lock (the
/// decode workers allocate records the correlator thread frees; glibc's arenas made that
/// hand-off contend, see docs/performance.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Nothing is left to report to when stderr itself cannot be written.
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(cli::common::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    fluxsight::telemetry::logs::install(cli.log_format);
    let palette = cli::common::palette(cli.color);
    let result = match cli.command {
        Command::Classify { files, threads } => cli::replay::classify(files, threads.get()),
        Command::Replay {
            files,
            args,
            report,
        } => cli::replay::replay_files(files, &args, &report, palette),
        Command::Demo { output, audit } => cli::replay::demo(output.into(), audit, palette),
        Command::Run(args) => cli::live::run(args, palette, cli.log_format),
        Command::Record(args) => cli::live::record(args, cli.log_format),
        Command::Central(args) => cli::central::central(args),
        Command::Drain { config } => cli::drain::drain(&config),
        Command::Validate { patterns, files } => {
            cli::validate::validate(patterns.as_deref(), &files)
        }
        Command::Patterns { action, dir } => cli::validate::patterns(action, dir.as_deref()),
        Command::Get { resource } => match resource {
            cli::args::GetResource::Findings(args) => cli::get::findings(args),
        },
        Command::Explain(args) => cli::explain::explain(args),
        Command::Completions { shell } => cli::docs::completions(shell),
        Command::Man { out_dir } => cli::docs::man(out_dir.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fluxsight: {e:#}");
            ExitCode::from(1)
        }
    }
}
