//! The command line and the build as a user meets them (issue 16, Deliver 6): output
//! formats listed by `--help`, `record --to`, shell completions and man pages, colour
//! and the replay progress line only on a terminal, a statically linked zlib, and a
//! `rust-version` no locked dependency exceeds. Runs the real binary.
//!
//! The terminal cases run the binary under util-linux `script`, which gives it a
//! pseudo-terminal; without `script` they print why they skip.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use fluxsight_testkit::gen::{mixed, GenConfig, Mix};

const BIN: &str = env!("CARGO_BIN_EXE_fluxsight");
/// Start of an ANSI control sequence (CSI).
const CSI: &str = "\x1b[";
/// The subcommands every completion script and the man page must name.
const SUBCOMMANDS: [&str; 8] = [
    "replay",
    "classify",
    "run",
    "record",
    "completions",
    "man",
    "get",
    "explain",
];

fn fluxsight(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("run fluxsight")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmp_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{}-{name}", std::process::id()))
}

#[test]
fn help_lists_the_output_formats() {
    for (cmd, extra) in [("replay", None), ("demo", None), ("run", Some("none"))] {
        let out = fluxsight(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd} --help: {}", text(&out.stderr));
        let help = text(&out.stdout);
        assert!(help.contains("-o, --output"), "{cmd} --help:\n{help}");
        assert!(help.contains("Possible values"), "{cmd} --help:\n{help}");
        for v in ["native", "ocsf", "ecs", "text"].into_iter().chain(extra) {
            assert!(
                help.contains(&format!("- {v}:")),
                "{cmd} --help lacks {v}:\n{help}"
            );
        }
    }
    // `none` means something only for `run`.
    let replay = text(&fluxsight(&["replay", "--help"]).stdout);
    assert!(!replay.contains("- none:"), "{replay}");
}

#[test]
fn an_unknown_output_format_is_a_usage_error_naming_the_values() {
    let out = fluxsight(&["replay", "--output", "json", "-"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("'json'"), "{err}");
    assert!(err.contains("native") && err.contains("ocsf"), "{err}");
    let out = fluxsight(&["replay", "-o", "none", "-"]);
    assert_eq!(out.status.code(), Some(2), "none is for run only");
}

#[test]
fn short_output_flag_selects_the_format() {
    let out = fluxsight(&["demo", "-o", "ocsf"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let first = text(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let v: serde_json::Value = serde_json::from_str(&first).expect("json line");
    assert_eq!(v["class_uid"], 2004, "{first}");
}

fn input_file(name: &str) -> PathBuf {
    let p = tmp_path(name);
    let mut f = std::fs::File::create(&p).unwrap();
    for i in 0..3 {
        writeln!(
            f,
            "{{\"level\":\"info\",\"ts\":\"2026-12-06T08:00:0{i}.000Z\",\"msg\":\"starting manager\",\"logger\":\"setup\"}}"
        )
        .unwrap();
    }
    p
}

fn record(flag: &str, to: &Path, input: &Path) -> Output {
    fluxsight(&[
        "record",
        flag,
        to.to_str().unwrap(),
        "--no-kube",
        "--no-follow",
        "--input",
        input.to_str().unwrap(),
    ])
}

#[test]
fn record_writes_to_the_file_named_by_to() {
    let input = input_file("record-in.log");
    let to = tmp_path("record-to.log");
    let out = record("--to", &to, &input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("deprecated"),
        "{}",
        text(&out.stderr)
    );
    let written = std::fs::read_to_string(&to).unwrap();
    assert_eq!(written.lines().count(), 3, "{written}");
    // `--to` is what the help shows; the old spelling is hidden.
    let help = text(&fluxsight(&["record", "--help"]).stdout);
    assert!(help.contains("--to <FILE>"), "{help}");
    assert!(!help.contains("--output"), "{help}");
}

#[test]
fn record_output_still_works_for_one_release_with_a_warning() {
    let input = input_file("record-old-in.log");
    let to = tmp_path("record-old.log");
    let out = record("--output", &to, &input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("--output FILE is deprecated") && err.contains("--to"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&to).unwrap().lines().count(), 3);
    // A capture file is required, by either name.
    let out = fluxsight(&["record", "--no-kube"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn completions_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = fluxsight(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
        // Values of the format enum complete too (elvish and powershell scripts
        // complete flags and subcommands only).
        if ["bash", "zsh", "fish"].contains(&shell) {
            assert!(
                script.contains("ocsf"),
                "{shell} completions lack the output values"
            );
        }
    }
    let out = fluxsight(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_page_names_every_subcommand() {
    let out = fluxsight(&["man"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH fluxsight 1"),
        "{page}"
    );
    for sub in SUBCOMMANDS {
        assert!(page.contains(sub), "man page lacks {sub}");
    }
    // `--out-dir`: one page per subcommand, as packagers install them.
    let dir = tmp_path("man");
    std::fs::create_dir_all(&dir).unwrap();
    let out = fluxsight(&["man", "--out-dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for page in ["fluxsight.1", "fluxsight-replay.1", "fluxsight-record.1"] {
        let body = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(body.contains(".TH"), "{page} missing or empty");
    }
}

/// Runs `shell_cmd` on a pseudo-terminal (stdout and stderr both on it) with util-linux
/// `script` (Debian's essential bsdutils). Missing, the terminal cases fail: they must
/// not pass without having run.
fn on_tty(shell_cmd: &str, no_color: bool) -> Option<String> {
    let probe = Command::new("script").arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "util-linux `script` is needed for the terminal cases (apt-get install bsdutils)"
    );
    let mut c = Command::new("script");
    c.args(["-qec", shell_cmd, "/dev/null"])
        .stdin(Stdio::null())
        .env_remove("NO_COLOR");
    if no_color {
        c.env("NO_COLOR", "1");
    }
    let out = c.output().expect("run script");
    assert!(out.status.success(), "{shell_cmd}: {}", text(&out.stdout));
    Some(text(&out.stdout))
}

#[test]
fn text_findings_are_coloured_on_a_terminal_only() {
    let piped = fluxsight(&["demo"]);
    assert!(piped.status.success());
    let piped = text(&piped.stdout);
    assert!(piped.contains("[FIRING]"), "{piped}");
    assert!(!piped.contains(CSI), "colour on a pipe:\n{piped}");
    // `--color always` colours a pipe too (`| less -R`).
    let forced = text(&fluxsight(&["--color", "always", "demo"]).stdout);
    assert!(forced.contains(CSI), "{forced}");
    let Some(tty) = on_tty(&format!("{BIN} demo"), false) else {
        return;
    };
    assert!(tty.contains(CSI), "no colour on a terminal:\n{tty}");
    let no_color = on_tty(&format!("{BIN} demo"), true).unwrap_or_default();
    assert!(no_color.contains("[FIRING]"), "{no_color}");
    assert!(!no_color.contains(CSI), "NO_COLOR ignored:\n{no_color}");
}

/// A replay that lasts longer than the progress threshold by construction: its input
/// stalls for three seconds half-way (no timing bound is asserted).
#[test]
fn a_long_replay_shows_progress_on_a_terminal_only() {
    let input = tmp_path("progress.log");
    let corpus = mixed(&GenConfig {
        lines: 20_000,
        mix: Mix::Current,
        ..GenConfig::default()
    });
    std::fs::write(&input, corpus).unwrap();
    let path = input.display();
    let stalled = format!("(head -n 100 {path}; sleep 3; cat {path}) | {BIN} replay - >/dev/null");
    let piped = Command::new("sh").args(["-c", &stalled]).output().unwrap();
    assert!(piped.status.success(), "{}", text(&piped.stderr));
    assert!(
        !text(&piped.stderr).contains("lines read"),
        "progress on a pipe: {}",
        text(&piped.stderr)
    );
    let Some(tty) = on_tty(&stalled, false) else {
        return;
    };
    assert!(tty.contains("lines read"), "no progress line:\n{tty}");
    assert!(tty.contains("records/s"), "{tty}");
}

#[test]
fn zlib_is_linked_statically() {
    let Ok(out) = Command::new("ldd").arg(BIN).output() else {
        eprintln!("SKIP: ldd not installed; cannot list the binary's shared libraries");
        return;
    };
    let libs = text(&out.stdout);
    assert!(libs.contains("libc.so"), "ldd output unexpected:\n{libs}");
    assert!(
        !libs.contains("libz.so"),
        "zlib linked dynamically:\n{libs}"
    );
}

/// `major.minor[.patch]` as comparable numbers.
fn version(s: &str) -> (u64, u64, u64) {
    let mut it = s.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// The declared `rust-version` is at least every locked dependency's (docs/cli.md
/// "Minimum Rust version"): the packages `cargo metadata` resolves from Cargo.lock
/// for every platform, dev-dependencies included.
#[test]
fn rust_version_covers_every_locked_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let resolved: std::collections::HashSet<&str> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["id"].as_str())
        .collect();
    let packages = meta["packages"].as_array().unwrap();
    let declared = packages
        .iter()
        .find(|p| p["name"] == env!("CARGO_PKG_NAME"))
        .and_then(|p| p["rust_version"].as_str())
        .expect("Cargo.toml declares rust-version");
    let mut needs: Vec<(String, String)> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| resolved.contains(id)))
        .filter_map(|p| {
            let rv = p["rust_version"].as_str()?;
            let name = p["name"].as_str().unwrap_or("?");
            let version = p["version"].as_str().unwrap_or("?");
            Some((rv.to_string(), format!("{name} {version}")))
        })
        .collect();
    assert!(needs.len() > 100, "too few packages with a rust-version");
    needs.sort_by_key(|(rv, _)| version(rv));
    let (max, by) = needs.last().cloned().unwrap();
    let over: Vec<&(String, String)> = needs
        .iter()
        .filter(|(rv, _)| version(rv) > version(declared))
        .collect();
    println!("declared rust-version {declared}; highest locked dependency {max} ({by})");
    assert!(
        over.is_empty(),
        "rust-version {declared} is below what locked dependencies need: {over:?}"
    );
}

/// A pipeline with one file sink and `state_dir` at `state`.
fn pipeline_with_state_dir(name: &str, state: &Path) -> PathBuf {
    let out = tmp_path(&format!("{name}-out.jsonl"));
    let p = tmp_path(&format!("{name}.yaml"));
    std::fs::write(
        &p,
        format!(
            "sinks:\n  - name: f\n    type: file\n    path: {}\ndelivery:\n  state_dir: {}\n",
            out.display(),
            state.display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn a_state_dir_that_cannot_be_made_is_a_runtime_failure_and_a_bad_config_a_usage_error() {
    // `state_dir` below a regular file: the directory cannot be created (I/O, exit 1).
    let blocker = tmp_path("blocker");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let state = blocker.join("state");
    let cfg = pipeline_with_state_dir("io", &state);
    let input = input_file("exit-codes.log");
    for args in [
        vec![
            "replay",
            "--config",
            cfg.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
        vec!["drain", "--config", cfg.to_str().unwrap()],
    ] {
        let out = fluxsight(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("state_dir"),
            "{}",
            text(&out.stderr)
        );
    }
    // A sink type that does not exist: a configuration error (exit 2).
    let bad = tmp_path("bad.yaml");
    std::fs::write(&bad, "sinks:\n  - name: f\n    type: nosuch\n").unwrap();
    let out = fluxsight(&[
        "replay",
        "--config",
        bad.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}
