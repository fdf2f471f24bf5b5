//! `run` and `replay` write findings and audit records on stdout through one emitter
//! (issue 15: they had drifted, `run` wrote audit records as native JSON whatever
//! `--output` said, and in JSON among the text of `-o text`).
//!
//! - with `--audit -o ocsf|ecs|native`, the audit records `run --no-follow` writes for a
//!   capture are the lines `replay` writes for it, in the same schema;
//! - with `--audit -o text`, `run` writes no JSON and ends with the number of audit
//!   records, as `replay` does.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::BIN;

const CAPTURE: &str = "samples/demo/incident.log";

fn capture() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(CAPTURE)
        .display()
        .to_string()
}

/// Stdout of `fluxsight <args>`, which must succeed.
fn stdout(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Stdout of a `run` that reads the capture to its end, with `extra` flags.
fn run(extra: &[&str]) -> String {
    let input = capture();
    let mut args = vec![
        "run",
        "--no-kube",
        "--no-follow",
        "--listen",
        "127.0.0.1:0",
        "--health-listen",
        "none",
        "--input",
        &input,
    ];
    args.extend_from_slice(extra);
    stdout(&args)
}

fn replay(extra: &[&str]) -> String {
    let input = capture();
    let mut args = vec!["replay"];
    args.extend_from_slice(extra);
    args.push(&input);
    stdout(&args)
}

/// The lines `--audit` adds: the audit records.
fn audit_lines(with: &str, without: &str) -> BTreeSet<String> {
    let base: BTreeSet<&str> = without.lines().collect();
    with.lines()
        .filter(|l| !base.contains(l))
        .map(str::to_string)
        .collect()
}

#[test]
fn run_writes_audit_records_in_the_schema_replay_writes_them_in() {
    for format in ["native", "ocsf", "ecs"] {
        let want = audit_lines(
            &replay(&["-o", format, "--audit"]),
            &replay(&["-o", format]),
        );
        assert!(!want.is_empty(), "{format}: the capture has audit records");
        let got = audit_lines(&run(&["-o", format, "--audit"]), &run(&["-o", format]));
        assert_eq!(got, want, "-o {format} --audit: run and replay differ");
    }
}

#[test]
fn run_text_counts_audit_records_as_replay_does() {
    let got = run(&["-o", "text", "--audit"]);
    let json: Vec<&str> = got.lines().filter(|l| l.starts_with('{')).collect();
    assert!(json.is_empty(), "JSON in text output: {json:?}");
    let want = replay(&["-o", "text", "--audit"]);
    let count = |s: &str| {
        s.lines()
            .rfind(|l| l.starts_with("audit records: "))
            .map(str::to_string)
    };
    assert!(count(&want).is_some_and(|c| c != "audit records: 0"));
    assert_eq!(count(&got), count(&want));
}
