//! The Kubernetes API emulator (`emulator.py`, Python stdlib only) and a `fluxsight`
//! process driven against it, shared by the end-to-end tests (`kube_e2e`, `kubeconfig`).
//!
//! Without `python3` the emulator tests are skipped, except under `CI`, where they fail.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{free_port, http_get, wait_until, BIN};

/// The source-controller pod the emulator seeds in `flux-system`.
pub const SC_POD: &str = "source-controller-6d5c8b7f9-abcde";
/// Its log stream's source name on `/metrics`.
pub const SC_STREAM: &str = "pod/flux-system/source-controller-6d5c8b7f9-abcde/manager";
pub const GITREPO: [&str; 3] = ["source.toolkit.fluxcd.io", "v1", "gitrepositories"];
/// The correlator counts records closer than 2 s as one attempt.
pub const ATTEMPT_GAP: Duration = Duration::from_millis(2100);

/// The emulator process; killed on drop.
pub struct Emulator {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pub port: u16,
}

impl Emulator {
    /// `None` when python3 is missing (outside CI).
    pub fn start() -> Option<Emulator> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kube_emulator/emulator.py");
        let child = Command::new("python3")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                if std::env::var_os("CI").is_some() {
                    panic!("python3 is needed for the Kubernetes emulator (scripts/install-test-deps.sh): {e}");
                }
                eprintln!("skipping: python3 not available: {e}");
                return None;
            }
        };
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let v: Value = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("emulator did not start: {e}: {first:?}"));
        let port = v["port"].as_u64().unwrap() as u16;
        Some(Emulator {
            child,
            stdin,
            stdout,
            port,
        })
    }

    /// The emulator, failing the test when python3 is missing (tests that must not pass
    /// without it).
    pub fn require() -> Emulator {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kube_emulator/emulator.py");
        if let Err(e) = Command::new("python3").arg("--version").output() {
            panic!(
                "python3 is needed for the Kubernetes emulator {} (scripts/install-test-deps.sh): {e}",
                script.display()
            );
        }
        Emulator::start().expect("python3 runs the Kubernetes emulator")
    }

    /// Stores `object` under resource `key` (`[group, version, plural]`).
    pub fn apply(&mut self, key: [&str; 3], object: Value) {
        self.cmd(json!({"op": "apply", "key": key, "object": object}));
    }

    /// Every request for `resource` (e.g. `pods`) answers 403 Forbidden.
    pub fn forbid(&mut self, resource: &str) {
        self.cmd(json!({"op": "forbid", "resource": resource}));
    }

    /// Each list or get of `resource` waits `seconds` before answering (0: none).
    pub fn delay(&mut self, resource: &str, seconds: f64) {
        self.cmd(json!({"op": "delay", "resource": resource, "seconds": seconds}));
    }

    /// `stats`: lists, watches, requests, `by_resource`, `queries`, `max_in_flight`.
    pub fn stats(&mut self) -> Value {
        self.cmd(json!({"op": "stats"}))
    }

    pub fn cmd(&mut self, c: Value) -> Value {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], json!(true), "emulator command {c} failed: {v}");
        v
    }

    pub fn log(&mut self, lines: &[String]) {
        self.cmd(json!({"op": "log", "pod": SC_POD, "lines": lines}));
    }

    pub fn lists(&mut self, resource: &str) -> u64 {
        self.cmd(json!({"op": "stats"}))["lists"][resource]
            .as_u64()
            .unwrap_or(0)
    }

    /// Requests served so far (any path).
    pub fn requests(&mut self) -> u64 {
        self.cmd(json!({"op": "stats"}))["requests"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Lists and watches of pods per namespace: which namespace a run reads.
    pub fn pod_namespaces(&mut self) -> Value {
        self.cmd(json!({"op": "stats"}))["pod_namespaces"].clone()
    }

    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let p = dir.join("kubeconfig.yaml");
        std::fs::write(
            &p,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n    server: http://127.0.0.1:{}\ncontexts:\n- name: emu\n  context: {{cluster: emu, user: emu}}\ncurrent-context: emu\nusers:\n- name: emu\n  user: {{}}\n",
                self.port
            ),
        )
        .unwrap();
        p
    }
}

/// A kubeconfig with two contexts, `alpha` (current) on `a` and `beta` on `b`.
pub fn two_context_kubeconfig(path: &Path, a: u16, b: u16) {
    std::fs::write(
        path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: cluster-a\n  cluster:\n    server: http://127.0.0.1:{a}\n- name: cluster-b\n  cluster:\n    server: http://127.0.0.1:{b}\ncontexts:\n- name: alpha\n  context: {{cluster: cluster-a, user: dev}}\n- name: beta\n  context: {{cluster: cluster-b, user: dev}}\ncurrent-context: alpha\nusers:\n- name: dev\n  user: {{}}\n"
        ),
    )
    .unwrap();
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fluxsight process; killed on drop. Stdout lines arrive on `lines` with the instant
/// they were read.
pub struct Fluxsight {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
    seen: Vec<(Instant, String)>,
}

impl Fluxsight {
    pub fn start(args: &[&str], kubeconfig: &Path) -> Fluxsight {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("KUBECONFIG", kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST");
        Fluxsight::spawn(cmd)
    }

    /// Starts `cmd` (the binary with its arguments and environment) with stdout read
    /// line by line.
    pub fn spawn(mut cmd: Command) -> Fluxsight {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("fluxsight starts");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                let Ok(l) = l else { break };
                if tx.send((Instant::now(), l)).is_err() {
                    break;
                }
            }
        });
        Fluxsight {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// The first stdout line containing `needle`, waiting up to `limit`.
    pub fn wait_stdout(&mut self, needle: &str, limit: Duration) -> Option<(Instant, String)> {
        let end = Instant::now() + limit;
        loop {
            if let Some(x) = self.seen.iter().find(|(_, l)| l.contains(needle)) {
                return Some(x.clone());
            }
            let left = end.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(x) => self.seen.push(x),
                Err(_) => return None,
            }
        }
    }

    pub fn sigterm(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits for exit up to `limit`; the exit status, or `None` on timeout.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// `fluxsight run --config pipeline` against the emulator of `kubeconfig`, on a free
/// listen port (no health listener), once `/readyz` answers 200 (within 90 s).
pub fn run_ready(pipeline: &Path, kubeconfig: &Path) -> (Fluxsight, u16) {
    let listen = free_port();
    let addr = format!("127.0.0.1:{listen}");
    let config = pipeline.to_str().unwrap();
    let args = [
        "run",
        "--config",
        config,
        "--listen",
        &addr,
        "--health-listen",
        "none",
    ];
    let fx = Fluxsight::start(&args, kubeconfig);
    assert!(
        wait_until(Duration::from_secs(90), || http_get(listen, "/readyz")
            .is_some_and(|(c, _)| c == 200)),
        "fluxsight never became ready: {:?}",
        http_get(listen, "/readyz")
    );
    (fx, listen)
}

impl Drop for Fluxsight {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rfc3339_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Whole seconds, as the API server's metav1.Time prints them.
    let text = fluxsight::parse::time::format_rfc3339_ms(ms - ms.rem_euclid(1000));
    text.replace(".000Z", "Z")
}

pub fn failing_repo(name: &str, ns: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"url": format!("https://github.com/example/{name}"), "interval": "1m"},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "GitOperationFailed",
            "message": "failed to checkout and determine revision: unable to clone: authentication required",
            "lastTransitionTime": rfc3339_now()}]}
    })
}
