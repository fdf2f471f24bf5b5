//! The `fluxsight` command line. `anyhow` lives here only.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fluxsight::classify::Classifier;
use fluxsight::pipeline::classify::classify_reader;

#[derive(Parser)]
#[command(name = "fluxsight", version, about = "Log-and-event stream processor for Flux")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and classify every line; one JSON row per line (stdin when no file or `-`).
    Classify {
        /// Input files; `-` is stdin.
        files: Vec<String>,
    },
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
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fluxsight: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run_classify(mut files: Vec<String>) -> anyhow::Result<ExitCode> {
    if files.is_empty() {
        files.push("-".into());
    }
    let classifier = Classifier::builtin();
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    for f in &files {
        if f == "-" {
            classify_reader(f, io::stdin().lock(), &classifier, &mut out)?;
        } else {
            let file = match File::open(f) {
                Ok(file) => file,
                Err(e) => {
                    eprintln!("fluxsight: {f}: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            classify_reader(f, BufReader::with_capacity(1 << 16, file), &classifier, &mut out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
