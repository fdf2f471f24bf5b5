//! Live sources merged as streams (issue 15, "Deliver 3"): each source of `run` has its
//! own bounded channel, so the decode stage knows when ONE of them ends.
//!
//! - a multi-line form (a pasted `kubectl describe`) at the end of one input is complete,
//!   and correlated, as soon as that input ends, not when the whole run ends (here the
//!   run goes on because stdin is still open).
//!
//! Fair interleaving of a flooding source with a quiet one, and per-source
//! back-pressure, are tested next to the merge itself (`src/pipeline/live/inputs.rs`).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{tempdir, BIN};

/// Generous: the finding comes within a second or two once the input's form is complete;
/// before the fix it never came while stdin stayed open.
const FINDING_WITHIN: Duration = Duration::from_secs(20);

#[test]
fn a_form_at_the_end_of_one_input_is_correlated_when_that_input_ends() {
    let dir = tempdir("live-streams-form");
    // The describe block ends the file: nothing after it tells the decoder it is complete
    // but the end of the input.
    let input = dir.join("describe.log");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/postmortem_describe/input.log"),
        &input,
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args([
            "run",
            "--no-kube",
            "--no-follow",
            "--listen",
            "127.0.0.1:0",
            "--health-listen",
            "none",
            "--output",
            "native",
            "--input",
        ])
        .arg(&input)
        // A second input that stays open: the run goes on after the file ended.
        .args(["--input", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut finding = None;
    while let Ok(line) = rx.recv_timeout(FINDING_WITHIN) {
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v["pattern"] == "health_check_failure" {
            finding = Some(v);
            break;
        }
    }
    // Only now does the other input end (and with it the run).
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "run failed: {status}");
    let finding = finding.unwrap_or_else(|| {
        panic!(
            "no health_check_failure finding within {FINDING_WITHIN:?} of start while stdin \
             stayed open: the describe block ending describe.log was held until every input ended"
        )
    });
    assert_eq!(finding["subject"]["kind"], "Kustomization");
    assert_eq!(finding["subject"]["name"], "apps");
    std::fs::remove_dir_all(&dir).ok();
}
