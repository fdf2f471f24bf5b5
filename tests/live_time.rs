//! Live time on old input (issue 20): `run` fed a capture whose timestamps are months
//! behind the wall clock handles it in event time, as `replay` does.
//!
//! - `run --no-kube --no-follow --input <capture>` ends with the same findings (ids and
//!   final status) as `replay <capture>`, for the demo sample and other captures;
//! - following an old file, the wall clock moving on never resolves what it fired;
//! - live text output prints the detailed block (as `replay --output text`) when a
//!   finding first fires.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{tempdir, wait_until, BIN};

/// Captures whose timestamps are far in the past: the bundled demo, a post-mortem
/// export and golden cases whose live result differed from replay under the wall clock.
const CAPTURES: [&str; 6] = [
    "samples/demo/incident.log",
    "samples/postmortem/cloud-logging.json",
    "tests/golden/lifecycle_resolved/input.log",
    "tests/golden/guilty_tenant_fires/input.log",
    "tests/golden/dependency_cycle_fires/input.log",
    "tests/golden/stalled_reconciliation_fires/input.log",
];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A private copy of `path` (a followed file's checkpoint must not carry over between
/// tests).
fn copy_of(path: &str, tag: &str) -> PathBuf {
    let dir = tempdir(tag);
    let to = dir.join(Path::new(path).file_name().unwrap());
    std::fs::copy(repo(path), &to).unwrap();
    to
}

/// The last status of every finding in native JSON lines, by id.
fn final_set(stdout: &str) -> BTreeMap<String, String> {
    let mut set = BTreeMap::new();
    for line in stdout.lines().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] == "finding" {
            set.insert(
                v["id"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            );
        }
    }
    set
}

fn run_args(input: &Path) -> Vec<String> {
    [
        "run",
        "--no-kube",
        "--listen",
        "127.0.0.1:0",
        "--health-listen",
        "none",
        "--input",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([input.display().to_string()])
    .collect()
}

#[test]
fn no_follow_run_of_an_old_capture_ends_with_the_findings_of_replay() {
    for (i, capture) in CAPTURES.iter().enumerate() {
        let replay = Command::new(BIN)
            .args(["replay", &repo(capture).display().to_string()])
            .output()
            .unwrap();
        assert!(replay.status.success(), "replay {capture}");
        let want = final_set(&String::from_utf8_lossy(&replay.stdout));
        assert!(!want.is_empty(), "{capture}: replay finds something");

        let input = copy_of(capture, &format!("live-time-a{i}"));
        let run = Command::new(BIN)
            .args(run_args(&input))
            .arg("--no-follow")
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "run {capture}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let got = final_set(&String::from_utf8_lossy(&run.stdout));
        assert_eq!(got, want, "{capture}: run --no-follow against replay");
    }
}

/// Lines of a child's stdout, collected as they come until it closes.
fn collect_lines(
    child: &mut std::process::Child,
) -> (Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let out = child.stdout.take().unwrap();
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

/// How long the wall clock runs on after an old file is read (before the change, the
/// demo's findings resolved about 9 s after it was read).
const FOLLOW_AFTER_READ: Duration = Duration::from_secs(15);

#[test]
fn following_an_old_file_never_resolves_by_the_wall_clock() {
    let input = copy_of("samples/demo/incident.log", "live-time-b");
    let mut child = Command::new(BIN)
        .args(run_args(&input))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, reader) = collect_lines(&mut child);
    let both = || final_set(&lines.lock().unwrap().join("\n")).len() == 2;
    let fired = wait_until(Duration::from_secs(60), both);
    // The file is read: the wall clock goes on with no new record.
    let read_at = Instant::now();
    while fired && read_at.elapsed() < FOLLOW_AFTER_READ {
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    let out = lines.lock().unwrap().join("\n");
    assert!(fired, "both findings of the demo fire:\n{out}");
    // Not once, not even resolved and fired again.
    let resolved: Vec<String> = out
        .lines()
        .filter(|l| l.contains(r#""status":"resolved""#))
        .map(|l| final_set(l).into_keys().collect())
        .collect();
    assert!(
        resolved.is_empty(),
        "nothing resolves while no record arrives; resolved: {resolved:?}"
    );
}

#[test]
fn live_text_prints_the_detailed_block_when_a_finding_first_fires() {
    let capture = "samples/demo/incident.log";
    let replay = Command::new(BIN)
        .args(["replay", "--output", "text"])
        .arg(repo(capture))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&replay.stdout).to_string();
    let input = copy_of(capture, "live-time-c");
    let run = Command::new(BIN)
        .args(run_args(&input))
        .args(["--no-follow", "--output", "text"])
        .output()
        .unwrap();
    assert!(run.status.success());
    let live = String::from_utf8_lossy(&run.stdout).to_string();
    // The details of replay's report that do not change with the count (next step,
    // root cause, impacted) are printed live too, in the block under the headline.
    let details: Vec<&str> = report
        .lines()
        .filter(|l| {
            ["    next step: ", "    root cause: ", "    impacted: "]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect();
    assert!(details.len() >= 2, "{report}");
    for d in &details {
        assert!(live.contains(d), "live text lacks {d:?}:\n{live}");
    }
    let lines: Vec<&str> = live.lines().collect();
    let heads: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("[FIRING]"))
        .collect();
    assert!(!heads.is_empty(), "{live}");
    // The first headline of each finding opens its block.
    let first = heads[0];
    assert!(
        lines
            .get(first + 1)
            .is_some_and(|l| l.starts_with("    since ")),
        "block under {:?}:\n{live}",
        lines[first]
    );
}
