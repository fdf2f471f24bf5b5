//! `fluxsight completions` and `fluxsight man`: the CLI's own documentation, generated
//! from the clap types in [`super::args`] (so it cannot drift from `--help`).

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use super::args::Cli;

/// The binary's name in completion scripts.
const BIN: &str = "fluxsight";

/// `fluxsight completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, BIN, &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `fluxsight man [--out-dir DIR]`.
pub fn man(out_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
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
