//! Replays every committed fuzz input through the harness the fuzzer ran it with
//! (`fluxsight_testkit::fuzzing`): crash inputs in `fuzz/regressions/<target>/` (each one a bug
//! that was fixed) and the seed corpus in `fuzz/seeds/<target>/`. Adding a file adds a
//! case. Also checks that every harness has a cargo-fuzz target file and seeds.

use std::fs;
use std::path::{Path, PathBuf};

use fluxsight_testkit::fuzzing::{harness, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// `(target, file)` for every file under `fuzz/<kind>/<target>/`.
fn inputs(kind: &str) -> Vec<(String, PathBuf)> {
    let root = fuzz_dir().join(kind);
    let mut out = Vec::new();
    let Ok(dirs) = fs::read_dir(&root) else {
        return out;
    };
    for dir in dirs.flatten().filter(|d| d.path().is_dir()) {
        let target = dir.file_name().to_string_lossy().into_owned();
        for file in fs::read_dir(dir.path()).expect("read dir").flatten() {
            out.push((target.clone(), file.path()));
        }
    }
    out.sort();
    out
}

fn replay(kind: &str) -> usize {
    let cases = inputs(kind);
    for (target, path) in &cases {
        let run = harness(target)
            .unwrap_or_else(|| panic!("{}: no harness named {target}", path.display()));
        let data = fs::read(path).expect("read input");
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panic!("{} fails again (target {target})", path.display());
        }
    }
    cases.len()
}

#[test]
fn crash_inputs_stay_fixed() {
    replay("regressions");
}

#[test]
fn seed_corpus_runs_clean() {
    assert!(replay("seeds") > 0, "no seeds under fuzz/seeds");
}

#[test]
fn every_harness_has_a_target_and_seeds() {
    for (name, _) in TARGETS {
        let target = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        assert!(target.is_file(), "missing {}", target.display());
        let seeds = fuzz_dir().join("seeds").join(name);
        assert!(seeds.is_dir(), "missing {}", seeds.display());
    }
}
