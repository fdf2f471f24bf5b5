//! `fluxsight-gen`, the generator binary the scripts run (it was `fluxsight gen`): its
//! output is exactly the library's stream for the same flags (defaults included: the
//! fixed start time and one-day span that make bench corpora reproducible), and bad
//! flags are usage errors (exit 2, the message naming the flag).

use std::process::{Command, Output};

use fluxsight_testkit::gen::{mixed, GenConfig, Mix};

const BIN: &str = env!("CARGO_BIN_EXE_fluxsight-gen");

fn gen(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run fluxsight-gen")
}

#[test]
fn the_binary_writes_the_library_stream_for_its_flags() {
    let out = gen(&["--lines", "3000", "--mix", "current", "--seed", "7"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = mixed(&GenConfig {
        lines: 3_000,
        tenants: 20,
        objects: 1_000,
        seed: 7,
        failure_rate: 0.05,
        mix: Mix::Current,
        // The binary's defaults: 2026-03-02T09:00:00Z over one day.
        start_ms: 1_772_442_000_000,
        span_ms: 86_400_000,
        avg_bytes: 400,
        sweep: false,
    });
    assert!(
        out.stdout == want,
        "fluxsight-gen output differs from gen::mixed"
    );
    let again = gen(&["--lines", "3000", "--mix", "current", "--seed", "7"]);
    assert!(again.stdout == out.stdout, "same seed, different bytes");
}

#[test]
fn bad_flags_are_usage_errors_naming_the_flag() {
    for (args, flag) in [
        (&["--mix", "bogus"][..], "--mix"),
        (&["--rate", "0"], "--rate"),
        (&["--start", "yesterday"], "--start"),
        (&["--span", "long"], "--span"),
        (&["--failure-rate", "1.5"], "--failure-rate"),
    ] {
        let out = gen(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("fluxsight-gen: {flag}:")),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?} wrote output");
    }
}
