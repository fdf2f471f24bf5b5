//! An API server that does not answer (issue 20): `run` with a kubeconfig naming a
//! closed loopback port keeps running for 30 s and logs at most 10 lines, the first
//! naming the server and the kube context; `/readyz` stays false and
//! `fluxsight_kube_connect_failures_total` counts the failed requests.
//!
//! Takes about 30 s: the back-off steps it checks are whole seconds long.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;
use common::{free_port, http_get, metric, tempdir, BIN};

/// How long the binary runs against the closed port.
const RUN_FOR: Duration = Duration::from_secs(30);
/// The acceptance bound on log lines over [`RUN_FOR`].
const MAX_LOG_LINES: usize = 10;
const FAILURES: &str = "fluxsight_kube_connect_failures_total";

/// A kubeconfig whose one context names `https://127.0.0.1:<port>`, where nothing listens.
fn closed_port_kubeconfig(path: &Path) -> String {
    let server = format!("https://127.0.0.1:{}", free_port());
    std::fs::write(
        path,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster: {{server: '{server}'}}\ncontexts:\n- name: laptop\n  context: {{cluster: gone, user: dev}}\ncurrent-context: laptop\nusers:\n- name: dev\n  user: {{}}\n"),
    )
    .unwrap();
    server
}

#[test]
fn an_unreachable_api_server_is_logged_once_per_back_off_step() {
    let dir = tempdir("kube-unreachable");
    let kubeconfig = dir.join("kubeconfig");
    let server = closed_port_kubeconfig(&kubeconfig);
    let health = free_port();
    let mut child = Command::new(BIN)
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("FLUXSIGHT_LOG")
        .env("HOME", &dir)
        .args(["--log-format", "json", "run", "--listen", "127.0.0.1:0"])
        .arg("--health-listen")
        .arg(format!("127.0.0.1:{health}"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let (pipe, lines) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            for l in BufReader::new(pipe).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        })
    };
    std::thread::sleep(RUN_FOR);
    let still_running = child.try_wait().unwrap().is_none();
    let ready = http_get(health, "/readyz").map(|(code, _)| code);
    let failures = metric(health, FAILURES);
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap();
    let lines = stderr.lock().unwrap().clone();
    let all = lines.join("\n");
    // Log events are the JSON lines (a start-up banner, if any, is plain text).
    let logs: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();

    assert!(still_running, "fluxsight gave up on the cluster:\n{all}");
    assert_ne!(ready, Some(200), "ready while the cluster is unreachable");
    assert!(ready.is_some(), "/readyz did not answer:\n{all}");
    assert!(failures > 0, "{FAILURES} is {failures}");
    assert!(
        !logs.is_empty() && logs.len() <= MAX_LOG_LINES,
        "{} log lines in {RUN_FOR:?}:\n{all}",
        logs.len()
    );
    let first = &logs[0];
    assert_eq!(first["level"], "error", "{first}");
    let text = first.to_string();
    assert!(
        text.contains(&server),
        "the first line names {server}: {first}"
    );
    assert!(
        text.contains("laptop"),
        "the first line names the context: {first}"
    );
    // Then one WARN per back-off step, each naming the server again.
    let warns: Vec<&serde_json::Value> =
        logs[1..].iter().filter(|l| l["level"] == "warn").collect();
    assert!(warns.len() >= 2, "back-off steps are logged:\n{all}");
    assert!(
        warns.iter().all(|w| w.to_string().contains(&server)),
        "{all}"
    );
    assert!(
        !all.contains("kube_client"),
        "kube's own per-request errors are not logged:\n{all}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
