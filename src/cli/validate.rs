//! `fluxsight validate` and `fluxsight patterns`: checking pattern and pipeline files,
//! listing the patterns and running their examples. Owns no checking itself (that is
//! the raw → validated steps of `fluxsight::correlate::spec` through
//! [`super::common::load_file`]); nothing here does I/O beyond reading the files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fluxsight::classify::Classifier;
use fluxsight::correlate::spec::PatternSet;
use fluxsight::pipeline::examples::run_examples;

use super::args::PatternsAction;
use super::common::{self, config_error};

/// Checks pattern and pipeline files (raw and validated steps, no I/O beyond reading
/// them): one `ok: FILE` line on stdout per file that passed, every error on stderr,
/// exit 2 if any failed.
pub fn validate(patterns: Option<&Path>, files: &[PathBuf]) -> anyhow::Result<ExitCode> {
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
        match common::load_file(f, set.clone()) {
            Ok(p) => {
                let file = f.display();
                println!("ok: {file}");
                for line in fluxsight::sinks::config::describe(&p.plan) {
                    println!("{file}: {line}");
                }
            }
            Err(e) => errs.extend(e.into_spec_errors()),
        }
    }
    if !errs.is_empty() {
        return Ok(config_error(&errs));
    }
    Ok(ExitCode::SUCCESS)
}

/// `fluxsight patterns [list|test]`.
pub fn patterns(action: Option<PatternsAction>, dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let settings = match common::load(dir, None) {
        Ok(p) => p.settings,
        Err(e) => return Ok(e.report()),
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
