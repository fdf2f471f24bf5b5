//! The first hour of a new user (issue 20): input mistakes are named and exit 2 in every
//! command that reads files, `run` says at start-up what it follows, where it listens and
//! whether the receiver checks signatures, and an unsigned receiver is not put on the
//! network by accident. Runs the real binary.
//!
//! Every run here binds loopback ports picked at random, except where the default
//! address itself is under test; `KUBERNETES_SERVICE_HOST` is removed (or set) so the
//! in-cluster default never depends on where the tests run.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{free_port, incident_log, tempdir, BIN};

/// The environment variable that marks a process as running in a cluster.
const IN_CLUSTER_ENV: &str = "KUBERNETES_SERVICE_HOST";
/// Longest a test waits for a run that should end by itself.
const EXIT_LIMIT: Duration = Duration::from_secs(20);

/// `fluxsight <args>` outside a cluster, no stdin.
fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove(IN_CLUSTER_ENV)
        .env_remove("FLUXSIGHT_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Waits for `child` to exit within `limit` (killed and reported otherwise); its output
/// and how long it ran.
fn finish(mut child: Child, limit: Duration, started: Instant) -> (Output, Duration) {
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().ok();
            let out = child.wait_with_output().unwrap();
            panic!(
                "fluxsight still running after {limit:?}; stderr: {}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    (child.wait_with_output().unwrap(), took)
}

fn run_to_exit(c: &mut Command) -> Output {
    let started = Instant::now();
    finish(c.spawn().unwrap(), EXIT_LIMIT, started).0
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `run` on loopback ports without the cluster, plus `extra`.
fn live(port: u16, extra: &[&str]) -> Command {
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec![
        "run",
        "--no-kube",
        "--listen",
        &listen,
        "--health-listen",
        "none",
    ];
    args.extend_from_slice(extra);
    cmd(&args)
}

/// A small log file of three controller start-up lines.
fn small_log(dir: &Path) -> PathBuf {
    let p = dir.join("small.log");
    let line = |i: u32| {
        format!(
            "{{\"level\":\"info\",\"ts\":\"2026-12-06T08:00:0{i}.000Z\",\"msg\":\"starting manager\",\"logger\":\"setup\"}}\n"
        )
    };
    std::fs::write(&p, (0..3).map(line).collect::<String>()).unwrap();
    p
}

#[test]
fn run_with_a_missing_input_exits_2_within_a_second_naming_it() {
    let dir = tempdir("first-hour-missing");
    let missing = dir.join("nope.log");
    let started = Instant::now();
    let child = live(free_port(), &["--input", missing.to_str().unwrap()])
        .spawn()
        .unwrap();
    let (out, took) = finish(child, Duration::from_secs(10), started);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}: {err}");
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    // `record` shares the inputs of `run`: the same mistake, the same answer.
    let to = dir.join("capture.log");
    let out = run_to_exit(&mut cmd(&[
        "record",
        "--to",
        to.to_str().unwrap(),
        "--no-kube",
        "--input",
        missing.to_str().unwrap(),
    ]));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
}

#[test]
fn a_directory_input_is_named_and_exits_2_in_every_command() {
    let dir = tempdir("first-hour-dir");
    let input = dir.join("logs");
    std::fs::create_dir_all(&input).unwrap();
    let d = input.to_str().unwrap();
    let to = dir.join("capture.log");
    let port = free_port();
    let cases: Vec<(&str, Command)> = vec![
        ("classify", cmd(&["classify", d])),
        ("replay", cmd(&["replay", d])),
        ("run", live(port, &["--input", d])),
        (
            "record",
            cmd(&[
                "record",
                "--to",
                to.to_str().unwrap(),
                "--no-kube",
                "--input",
                d,
            ]),
        ),
        ("validate", cmd(&["validate", d])),
    ];
    for (name, mut c) in cases {
        let out = run_to_exit(&mut c);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(d), "{name} does not name {d}: {err}");
        assert!(
            err.to_lowercase().contains("is a directory"),
            "{name}: {err}"
        );
    }
}

#[test]
fn the_banner_names_sources_listen_address_and_signature_state_on_stderr_only() {
    let dir = tempdir("first-hour-banner");
    let input = small_log(&dir);
    let port = free_port();
    let out = run_to_exit(&mut live(
        port,
        &["--no-follow", "--input", input.to_str().unwrap()],
    ));
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("fluxsight {}", env!("CARGO_PKG_VERSION"))),
        "{err}"
    );
    assert!(err.contains(input.to_str().unwrap()), "{err}");
    assert!(err.contains("kube: off"), "{err}");
    assert!(err.contains("config: none"), "{err}");
    let listen = err
        .lines()
        .find(|l| l.contains(&format!("listen: 127.0.0.1:{port}")))
        .unwrap_or_else(|| panic!("no listen line: {err}"));
    assert!(listen.contains("signature not required"), "{listen}");
    // stdout is the data stream: nothing of the banner there.
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("listen"), "{stdout}");

    // With a receiver key, the banner says signatures are required, names the
    // pipeline's sinks by name and type, and never prints the key.
    let key = "first-hour-receiver-key";
    let pipeline = dir.join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "receiver:\n  hmac_secret: {{env: FIRST_HOUR_KEY}}\nsinks:\n  - name: archive\n    type: file\n    path: {}\n",
            dir.join("findings.jsonl").display()
        ),
    )
    .unwrap();
    let out = run_to_exit(
        live(
            port,
            &[
                "--no-follow",
                "--config",
                pipeline.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
            ],
        )
        .env("FIRST_HOUR_KEY", key),
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(pipeline.to_str().unwrap()), "{err}");
    assert!(err.contains("archive (file)"), "{err}");
    let listen = err
        .lines()
        .find(|l| l.contains(&format!("listen: 127.0.0.1:{port}")))
        .unwrap_or_else(|| panic!("no listen line: {err}"));
    assert!(listen.contains("signature required"), "{listen}");
    assert!(!err.contains(key), "{err}");
}

#[test]
fn outside_a_cluster_the_default_address_is_loopback() {
    let dir = tempdir("first-hour-default");
    let input = small_log(&dir);
    // The default port may be taken on the test machine: the banner is printed before
    // the bind, so it is checked whatever the exit.
    let out = run_to_exit(&mut cmd(&[
        "run",
        "--no-kube",
        "--no-follow",
        "--input",
        input.to_str().unwrap(),
    ]));
    let err = text(&out.stderr);
    assert!(err.contains("listen: 127.0.0.1:9797"), "{err}");
    assert!(err.contains("health: 127.0.0.1:9440"), "{err}");
    assert!(!err.contains("0.0.0.0"), "{err}");
}

#[test]
fn an_unsigned_receiver_on_a_non_loopback_address_needs_allow_unsigned() {
    let dir = tempdir("first-hour-unsigned");
    let input = small_log(&dir);
    let port = free_port();
    let listen = format!("0.0.0.0:{port}");
    let base = [
        "run",
        "--no-kube",
        "--no-follow",
        "--health-listen",
        "none",
        "--listen",
        &listen,
        "--input",
        input.to_str().unwrap(),
    ];
    let out = run_to_exit(&mut cmd(&base));
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for hint in [
        listen.as_str(),
        "receiver.hmac_secret",
        "127.0.0.1",
        "--allow-unsigned",
    ] {
        assert!(err.contains(hint), "no '{hint}': {err}");
    }

    let mut allowed = base.to_vec();
    allowed.push("--allow-unsigned");
    let out = run_to_exit(&mut cmd(&allowed));
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warning = err
        .lines()
        .find(|l| l.contains("warning") && l.contains(&listen))
        .unwrap_or_else(|| panic!("no warning naming {listen}: {err}"));
    assert!(warning.contains("unsigned"), "{warning}");

    // In a cluster the default address is 0.0.0.0, so the same rule applies to it.
    let out = run_to_exit(
        cmd(&[
            "run",
            "--no-kube",
            "--no-follow",
            "--health-listen",
            "none",
            "--input",
            input.to_str().unwrap(),
        ])
        .env(IN_CLUSTER_ENV, "10.0.0.1"),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("0.0.0.0:9797"), "{err}");
}

#[test]
fn wait_for_input_starts_then_follows_the_file_once_it_is_created() {
    let dir = tempdir("first-hour-wait");
    let later = dir.join("later.log");
    let mut child = live(
        free_port(),
        &[
            "--wait-for-input",
            "--clock",
            "record",
            "--input",
            later.to_str().unwrap(),
        ],
    )
    .spawn()
    .unwrap();
    // Findings arrive on stdout as they fire; a thread hands them over line by line.
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "run --wait-for-input exited while its input was missing"
    );
    std::fs::copy(incident_log(), &later).unwrap();
    let finding = rx.recv_timeout(EXIT_LIMIT);
    child.kill().ok();
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    let finding = finding.unwrap_or_else(|_| panic!("no finding from {later:?}: {err}"));
    let v: serde_json::Value = serde_json::from_str(&finding).unwrap();
    assert!(v.get("pattern").is_some(), "{finding}");
    let waits = err
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(later.to_str().unwrap()))
        .count();
    assert_eq!(waits, 1, "one warning naming the input expected: {err}");
    assert!(err.contains("waiting for the input to appear"), "{err}");
}
