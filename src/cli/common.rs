//! What the commands share: the one pipeline-file loader, how its errors are reported,
//! the one per-sink summary printed on exit, and the text colours. Owns no command; the
//! invariant is that every command reading a pipeline file goes through [`load_file`]
//! (directly or through [`load`]), so they all accept and reject the same files.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal};
use std::path::Path;
use std::process::ExitCode;

use fluxsight::config::{LiveSection, LoadPipeline};
use fluxsight::correlate::spec::{PatternSet, Settings, SpecError};
use fluxsight::render::colour::Palette;
use fluxsight::sinks::config::DeliveryPlan;
use fluxsight::sinks::stats::StatsSnapshot;

use super::args::ColorWhen;

/// Exit code of a usage or configuration error.
pub const USAGE: u8 = 2;

/// Field name a [`SpecError`] gives a file that cannot be read at all.
const WHOLE_FILE_FIELD: &str = "(file)";

/// A pipeline file (and patterns directory), loaded and checked.
pub struct Pipeline {
    pub settings: Settings,
    pub plan: DeliveryPlan,
    pub live: LiveSection,
}

/// Why a pipeline could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Read { file: String, source: io::Error },
    /// The patterns directory or the file is not valid, every error with its place.
    #[error("invalid configuration")]
    Invalid(Vec<SpecError>),
}

impl LoadError {
    /// Every error as a [`SpecError`] (a file that cannot be read at all is line 0 of
    /// field `(file)`): how `replay`, `drain`, `patterns` and `validate` report it.
    pub fn into_spec_errors(self) -> Vec<SpecError> {
        match self {
            LoadError::Read { file, source } => vec![SpecError {
                file,
                line: 0,
                column: 0,
                field: WHOLE_FILE_FIELD.into(),
                message: source.to_string(),
            }],
            LoadError::Invalid(errs) => errs,
        }
    }

    /// Prints the error as `run` and `record` have always shown it (a read failure as
    /// `fluxsight: FILE: error`) and gives the usage exit code.
    pub fn report_live(self) -> ExitCode {
        match self {
            e @ LoadError::Read { .. } => {
                eprintln!("fluxsight: {e}");
                ExitCode::from(USAGE)
            }
            LoadError::Invalid(errs) => config_error(&errs),
        }
    }

    /// Prints every error as a [`SpecError`] line and gives the usage exit code.
    pub fn report(self) -> ExitCode {
        config_error(&self.into_spec_errors())
    }
}

/// The patterns of `dir` (the built-in set when `None`) and the pipeline file at
/// `config` (the defaults when `None`).
pub fn load(patterns: Option<&Path>, config: Option<&Path>) -> Result<Pipeline, LoadError> {
    let set = match patterns {
        Some(dir) => PatternSet::from_dir(dir).map_err(LoadError::Invalid)?,
        None => PatternSet::builtin(),
    };
    match config {
        None => Ok(Pipeline {
            settings: Settings {
                patterns: set,
                ..Settings::default()
            },
            plan: DeliveryPlan::default(),
            live: LiveSection::default(),
        }),
        Some(path) => load_file(path, set),
    }
}

/// Reads and checks one pipeline file against the pattern set `set` (raw and validated
/// steps: no I/O beyond reading it).
pub fn load_file(path: &Path, set: PatternSet) -> Result<Pipeline, LoadError> {
    let file = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(source) => return Err(LoadError::Read { file, source }),
    };
    let (settings, plan, live) =
        Settings::pipeline_full(&text, &file, set).map_err(LoadError::Invalid)?;
    Ok(Pipeline {
        settings,
        plan,
        live,
    })
}

/// Prints every configuration error on stderr; the usage exit code.
pub fn config_error(errs: &[SpecError]) -> ExitCode {
    for e in errs {
        eprintln!("fluxsight: {e}");
    }
    ExitCode::from(USAGE)
}

/// Prints `message` as a usage error on stderr; the usage exit code.
pub fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("fluxsight: {message}");
    ExitCode::from(USAGE)
}

/// The per-sink summary every delivering command prints on exit.
pub fn print_sink_stats(stats: &BTreeMap<String, StatsSnapshot>) {
    for (sink, s) in stats {
        eprintln!(
            "fluxsight: sink {sink}: sent {} retried {} spooled {} dead-lettered {} dropped {} backlog {} dead-letter-failed {}",
            s.sent, s.retried, s.spooled, s.dead_lettered, s.dropped, s.backlog, s.dead_letter_failed
        );
    }
}

/// The text findings' colours: `--color`, else a terminal on stdout and no `NO_COLOR`
/// (set and not empty, as no-color.org defines it).
pub fn palette(when: ColorWhen) -> Palette {
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
