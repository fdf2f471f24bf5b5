//! Config reload of `fluxsight run`, driving the binary: a good config taken on SIGHUP
//! and on a ConfigMap-style `..data` symlink swap, a bad config rejected (logged as JSON
//! with its error, counted) while the old one keeps delivering, and a finding firing
//! before a reload updated and resolved after it (correlator state carried over, the
//! rebuilt sink's config in effect).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{auth_line, free_port, metric, tempdir, wait_until, BIN};

const RELOAD_OK: &str = "fluxsight_config_reloads_total{result=\"success\"}";
const RELOAD_FAILED: &str = "fluxsight_config_reloads_total{result=\"failure\"}";
const LAST_OK: &str = "fluxsight_config_last_reload_successful";

/// A pipeline file: cluster `cluster`, one file sink `out` writing to `out`.
fn pipeline(dir: &Path, cluster: &str, out: &Path) -> String {
    format!(
        "cluster: {cluster}\nrepeat_interval: 1s\nsinks:\n  - name: out\n    type: file\n    path: {}\n\
         delivery:\n  state_dir: {}\n  retry_initial: 50ms\n  retry_max: 500ms\n  shutdown_timeout: 5s\n",
        out.display(),
        dir.join("state").display()
    )
}

struct Run {
    child: Child,
    port: u16,
    stderr: PathBuf,
}

impl Run {
    fn start(dir: &Path, config: &Path, input: &Path) -> Run {
        let port = free_port();
        let stderr = dir.join("stderr.log");
        let child = Command::new(BIN)
            .args([
                "--log-format",
                "json",
                "run",
                "--no-kube",
                "--output",
                "none",
            ])
            .arg("--config")
            .arg(config)
            .arg("--input")
            .arg(input)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--health-listen", "none"])
            .env("FLUXSIGHT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let up = wait_until(Duration::from_secs(20), || {
            common::http_get(port, "/healthz").is_some()
        });
        assert!(up, "fluxsight did not start: {}", read(&stderr));
        Run {
            child,
            port,
            stderr,
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn metric(&self, series: &str) -> u64 {
        metric(self.port, series)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.child.kill().ok();
        }
        self.child.wait().ok();
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn append(path: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// A source-controller success of `ns/repo` (resolves its auth failure).
fn stored_line(repo: &str, ns: &str) -> String {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    format!(
        r#"{{"level":"info","ts":{ts:.3},"msg":"stored artifact for commit 'fix auth'","controller":"gitrepository","controllerGroup":"source.toolkit.fluxcd.io","controllerKind":"GitRepository","GitRepository":{{"name":"{repo}","namespace":"{ns}"}},"namespace":"{ns}","name":"{repo}","reconcileID":"ok-{repo}"}}"#
    )
}

/// The findings of `pattern` a file sink wrote.
fn findings(out: &Path, pattern: &str) -> Vec<serde_json::Value> {
    read(out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["pattern"] == pattern)
        .collect()
}

/// The correlator counts records closer than 2 s as one attempt.
const ATTEMPT_GAP: Duration = Duration::from_millis(2100);

/// Three failed attempts of `team-a/<repo>`, far enough apart to fire
/// `git_auth_failure` (`min_attempts: 3`).
fn fail_repo(input: &Path, repo: &str) {
    for a in 1..=3 {
        if a > 1 {
            std::thread::sleep(ATTEMPT_GAP);
        }
        append(input, &[auth_line(repo, "team-a", a)]);
    }
}

/// Waits for a `git_auth_failure` finding with `status` in `out`; its id.
fn wait_finding(out: &Path, status: &str, run: &Run) -> String {
    let mut id = String::new();
    let seen = wait_until(Duration::from_secs(20), || {
        match findings(out, "git_auth_failure")
            .into_iter()
            .find(|f| f["status"] == status)
        {
            Some(f) => {
                id = f["id"].as_str().unwrap_or_default().to_string();
                true
            }
            None => false,
        }
    });
    assert!(
        seen,
        "no {status} git_auth_failure in {}: {}\nstderr: {}",
        out.display(),
        read(out),
        read(&run.stderr)
    );
    id
}

#[test]
fn sighup_reload_rebuilds_the_changed_sink_and_keeps_the_firing_finding() {
    let dir = tempdir("reload-hup");
    let (input, cfg) = (dir.join("in.log"), dir.join("pipeline.yaml"));
    let (out_a, out_b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    std::fs::write(&input, "").unwrap();
    std::fs::write(&cfg, pipeline(&dir, "before", &out_a)).unwrap();
    let run = Run::start(&dir, &cfg, &input);
    assert_eq!(
        run.metric(LAST_OK),
        1,
        "the start-up load counts as a success"
    );

    fail_repo(&input, "app");
    let id = wait_finding(&out_a, "firing", &run);

    // Same sink name, new path: the sink is rebuilt; the cluster name changes too.
    std::fs::write(&cfg, pipeline(&dir, "after", &out_b)).unwrap();
    run.signal("-HUP");
    assert!(
        wait_until(Duration::from_secs(10), || run.metric(RELOAD_OK) == 1),
        "no successful reload: {}",
        read(&run.stderr)
    );
    assert_eq!(run.metric(RELOAD_FAILED), 0);

    // The finding that fired before the reload resolves after it, delivered through
    // the new sink config with the new settings: the correlator's state carried over.
    append(&input, &[stored_line("app", "team-a")]);
    let resolved_id = wait_finding(&out_b, "resolved", &run);
    assert_eq!(resolved_id, id, "the same finding, not a new one");
    // A finding keeps the cluster it was opened with; one opened after the reload
    // carries the new settings.
    fail_repo(&input, "web");
    assert!(
        wait_until(Duration::from_secs(20), || findings(
            &out_b,
            "git_auth_failure"
        )
        .iter()
        .any(|f| f["subject"]["name"] == "web" && f["cluster"] == "after")),
        "no finding with the reloaded cluster name: {}",
        read(&out_b)
    );
    assert!(
        findings(&out_a, "git_auth_failure")
            .iter()
            .all(|f| f["status"] == "firing"),
        "nothing after the reload went to the old path"
    );
    let log = read(&run.stderr);
    let reloaded = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["msg"] == "config reloaded")
        .unwrap_or_else(|| panic!("no JSON 'config reloaded' log line: {log}"));
    assert_eq!(reloaded["level"], "info");
    assert_eq!(reloaded["sinks_rebuilt"], "out");
    assert!(reloaded["ts"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(reloaded["logger"]
        .as_str()
        .is_some_and(|l| l.starts_with("fluxsight.")));
}

/// A ConfigMap volume: `<dir>/cm/pipeline.yaml` → `..data/pipeline.yaml`, `..data` →
/// a timestamped directory, swapped atomically by renaming a new `..data` link.
#[cfg(unix)]
fn configmap_publish(cm: &Path, version: &str, text: &str) {
    use std::os::unix::fs::symlink;
    let data = cm.join(version);
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("pipeline.yaml"), text).unwrap();
    let tmp = cm.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(version, &tmp).unwrap();
    std::fs::rename(&tmp, cm.join("..data")).unwrap();
    let link = cm.join("pipeline.yaml");
    if std::fs::symlink_metadata(&link).is_err() {
        symlink("..data/pipeline.yaml", &link).unwrap();
    }
}

#[cfg(unix)]
#[test]
fn file_change_reload_rejects_a_bad_config_and_takes_a_good_configmap_swap() {
    let dir = tempdir("reload-file");
    let cm = dir.join("cm");
    let input = dir.join("in.log");
    let (out_a, out_b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    std::fs::write(&input, "").unwrap();
    configmap_publish(&cm, "..v1", &pipeline(&dir, "one", &out_a));
    let cfg = cm.join("pipeline.yaml");
    let run = Run::start(&dir, &cfg, &input);

    fail_repo(&input, "app");
    let id = wait_finding(&out_a, "firing", &run);

    // A bad config (unknown field) is rejected with its error; the old one runs on.
    let bad = pipeline(&dir, "two", &out_b).replace("repeat_interval: 1s", "repeat_intervall: 1s");
    configmap_publish(&cm, "..v2", &bad);
    assert!(
        wait_until(Duration::from_secs(10), || run.metric(RELOAD_FAILED) == 1),
        "bad config not counted: {}",
        read(&run.stderr)
    );
    assert_eq!(run.metric(RELOAD_OK), 0);
    assert_eq!(run.metric(LAST_OK), 0);
    let log = read(&run.stderr);
    let rejected = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| {
            v["level"] == "error" && v["msg"].as_str().is_some_and(|m| m.contains("rejected"))
        })
        .unwrap_or_else(|| panic!("no JSON error line for the rejected config: {log}"));
    let err = rejected["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("repeat_intervall"),
        "the error names the field: {err}"
    );
    assert_eq!(rejected["trigger"], "file_changed");

    // Still delivering with the old config: a second failing repo fires into a.jsonl.
    fail_repo(&input, "web");
    assert!(
        wait_until(Duration::from_secs(20), || findings(
            &out_a,
            "git_auth_failure"
        )
        .iter()
        .any(|f| f["subject"]["name"] == "web")),
        "old config stopped delivering: {}",
        read(&out_a)
    );
    assert!(
        !out_b.exists(),
        "the rejected config's sink was never started"
    );

    // A good config published by a `..data` swap is taken.
    configmap_publish(&cm, "..v3", &pipeline(&dir, "three", &out_b));
    assert!(
        wait_until(Duration::from_secs(10), || run.metric(RELOAD_OK) == 1),
        "good config not reloaded: {}",
        read(&run.stderr)
    );
    assert_eq!(run.metric(LAST_OK), 1);
    append(&input, &[stored_line("app", "team-a")]);
    assert_eq!(wait_finding(&out_b, "resolved", &run), id);
}

/// A minimal HTTP receiver on `port` answering 200 to every request; the bodies.
fn serve_http(port: u16) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{BufRead, BufReader, Read};
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let got = bodies.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0u8; len];
            if r.read_exact(&mut body).is_ok() {
                got.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    bodies
}

#[test]
fn a_rebuilt_sink_delivers_the_backlog_spooled_under_its_old_config() {
    let dir = tempdir("reload-backlog");
    let (input, cfg) = (dir.join("in.log"), dir.join("pipeline.yaml"));
    std::fs::write(&input, "").unwrap();
    let hook = |port: u16| {
        format!(
            "cluster: c\nsinks:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1:{port}/in\n    timeout: 1s\n\
             delivery:\n  state_dir: {}\n  retry_initial: 50ms\n  retry_max: 30s\n  shutdown_timeout: 5s\n",
            dir.join("state").display()
        )
    };
    // Nothing listens on the first port: the finding waits in the spool, with a long
    // back-off (30 s) the reload must not wait out.
    let (dead, live) = (free_port(), free_port());
    std::fs::write(&cfg, hook(dead)).unwrap();
    let run = Run::start(&dir, &cfg, &input);
    fail_repo(&input, "app");
    let backlog = "fluxsight_sink_backlog{sink=\"hook\"}";
    assert!(
        wait_until(Duration::from_secs(20), || run.metric(backlog) >= 1
            && run.metric("fluxsight_sink_retried_total{sink=\"hook\"}") >= 2),
        "no spooled backlog: {}",
        read(&run.stderr)
    );
    let bodies = serve_http(live);
    std::fs::write(&cfg, hook(live)).unwrap();
    run.signal("-HUP");
    assert!(
        wait_until(Duration::from_secs(10), || bodies
            .lock()
            .unwrap()
            .iter()
            .any(|b| b.contains("git_auth_failure"))),
        "the spooled finding did not reach the new URL: {}",
        read(&run.stderr)
    );
    assert_eq!(run.metric(RELOAD_OK), 1);
    assert!(wait_until(Duration::from_secs(5), || run.metric(backlog) == 0));
}
