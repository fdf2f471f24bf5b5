//! Cluster configuration as in every kube tool, and the exit codes of `run` and `record`.
//!
//! Checks: with a kubeconfig of two contexts on two Kubernetes API emulators, `--context`
//! reads the chosen cluster only (its log lines and its finding, no request to the
//! other); `~/.kube/config` is read when `KUBECONFIG` is unset; the namespace where Flux
//! runs comes from `-n`, else `RUNTIME_NAMESPACE`; a missing or broken configuration
//! exits 2 naming every source tried, an unusable checkpoint exits 1, an unreachable
//! cluster is waited for, its first log line naming the server.
//!
//! The emulator tests are skipped without `python3`, except under `CI`, where they fail.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::json;

mod common;
mod kube_emulator;
use common::{auth_line, free_port, http_get, info_line, source_lines, tempdir, wait_until, BIN};
use kube_emulator::{
    failing_repo, two_context_kubeconfig, Emulator, Fluxsight, ATTEMPT_GAP, GITREPO, SC_POD,
    SC_STREAM,
};

/// Exit code of a runtime failure (I/O).
const RUNTIME_FAILURE: i32 = 1;
/// Exit code of a usage or configuration error.
const USAGE_ERROR: i32 = 2;

/// `fluxsight` with a clean kube environment: no `KUBECONFIG`, not in a pod, `HOME` set
/// to `home` (so the developer's own `~/.kube/config` is never read).
fn fluxsight(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env_remove("RUNTIME_NAMESPACE")
        .env("HOME", home);
    c
}

/// Runs to exit; fails the test if it runs longer than `limit`.
fn run_to_exit(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("fluxsight still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A kubeconfig with one context on a loopback port nothing listens on.
fn closed_port_kubeconfig(path: &Path) -> u16 {
    let port = free_port();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        format!("apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster: {{server: 'http://127.0.0.1:{port}'}}\ncontexts:\n- name: laptop\n  context: {{cluster: gone, user: dev}}\ncurrent-context: laptop\nusers:\n- name: dev\n  user: {{}}\n"),
    )
    .unwrap();
    port
}

fn run_args(listen: u16) -> Vec<String> {
    vec![
        "run".into(),
        "--listen".into(),
        format!("127.0.0.1:{listen}"),
        "--health-listen".into(),
        "none".into(),
    ]
}

/// A pipeline without the metrics scrape (the emulators share the scrape port).
fn quiet_pipeline(dir: &Path) -> String {
    let p = dir.join("pipeline.yaml");
    std::fs::write(&p, "kubernetes:\n  metrics_interval: 0s\n").unwrap();
    p.display().to_string()
}

#[test]
fn context_picks_the_cluster_it_names() {
    let (Some(mut a), Some(mut b)) = (Emulator::start(), Emulator::start()) else {
        return;
    };
    let dir = tempdir("kc-context");
    let kc = dir.join("kubeconfig.yaml");
    two_context_kubeconfig(&kc, a.port, b.port);
    for (emu, repo, ns) in [
        (&mut a, "alpha-config", "alpha"),
        (&mut b, "beta-config", "beta"),
    ] {
        emu.cmd(json!({"op": "apply", "key": GITREPO, "object": failing_repo(repo, ns)}));
    }
    let listen = free_port();
    let mut cmd = fluxsight(&dir);
    cmd.args(run_args(listen)).args([
        "--config",
        &quiet_pipeline(&dir),
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--context",
        "beta",
    ]);
    let mut fx = Fluxsight::spawn(cmd);
    assert!(
        wait_until(Duration::from_secs(60), || http_get(listen, "/readyz")
            .is_some_and(|(c, _)| c == 200)),
        "never ready on context beta"
    );
    // Both clusters' source-controllers log; only beta's lines and finding arrive.
    a.log(
        &(0..2)
            .map(|i| info_line(&format!("alpha-{i}")))
            .collect::<Vec<_>>(),
    );
    b.log(
        &(0..5)
            .map(|i| info_line(&format!("beta-{i}")))
            .collect::<Vec<_>>(),
    );
    for attempt in 1..=3 {
        if attempt > 1 {
            std::thread::sleep(ATTEMPT_GAP);
        }
        a.log(&[auth_line("alpha-config", "alpha", attempt)]);
        b.log(&[auth_line("beta-config", "beta", attempt)]);
    }
    let (_, finding) = fx
        .wait_stdout("\"git_auth_failure\"", Duration::from_secs(10))
        .expect("no finding from the beta cluster");
    assert!(finding.contains("beta-config"), "{finding}");
    assert!(
        wait_until(Duration::from_secs(5), || source_lines(listen, SC_STREAM)
            == 8),
        "beta's 5 + 3 lines not read: {}",
        source_lines(listen, SC_STREAM)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(source_lines(listen, SC_STREAM), 8, "alpha's lines read too");
    assert!(fx
        .wait_stdout("alpha-config", Duration::from_millis(200))
        .is_none());
    assert_eq!(a.requests(), 0, "the alpha cluster was contacted");
    assert!(b.requests() > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn home_kubeconfig_and_the_namespace_where_flux_runs() {
    let Some(mut emu) = Emulator::start() else {
        return;
    };
    let dir = tempdir("kc-home");
    // ~/.kube/config, current context: read without KUBECONFIG or any flag.
    let home_kc = dir.join(".kube/config");
    std::fs::create_dir_all(home_kc.parent().unwrap()).unwrap();
    std::fs::copy(emu.kubeconfig(&dir), &home_kc).unwrap();
    let pipeline = quiet_pipeline(&dir);
    let ready = |listen: u16| {
        wait_until(Duration::from_secs(60), || {
            http_get(listen, "/readyz").is_some_and(|(c, _)| c == 200)
        })
    };

    // The Deployment's RUNTIME_NAMESPACE is the default.
    let listen = free_port();
    let mut cmd = fluxsight(&dir);
    cmd.args(run_args(listen))
        .args(["--config", &pipeline])
        .env("RUNTIME_NAMESPACE", "tenant-flux");
    let fx = Fluxsight::spawn(cmd);
    assert!(ready(listen), "never ready from ~/.kube/config");
    let ns = emu.pod_namespaces();
    assert!(ns.get("tenant-flux").is_some(), "{ns}");
    assert!(ns.get("flux-system").is_none(), "{ns}");
    drop(fx);

    // -n wins over RUNTIME_NAMESPACE: the seeded controllers in flux-system are read.
    let listen = free_port();
    let mut cmd = fluxsight(&dir);
    cmd.args(run_args(listen))
        .args(["--config", &pipeline, "-n", "flux-system"])
        .env("RUNTIME_NAMESPACE", "tenant-flux");
    let _fx = Fluxsight::spawn(cmd);
    assert!(ready(listen));
    assert!(emu.pod_namespaces().get("flux-system").is_some());
    emu.cmd(json!({"op": "log", "pod": SC_POD, "lines": [info_line("home-1")]}));
    assert!(
        wait_until(Duration::from_secs(10), || source_lines(listen, SC_STREAM)
            == 1),
        "flux-system's controller not followed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_configuration_is_a_usage_error_naming_every_source() {
    let dir = tempdir("kc-none");
    for sub in [
        vec!["run", "--listen", "127.0.0.1:0", "--health-listen", "none"],
        vec!["record", "--output", "/dev/null"],
    ] {
        let mut cmd = fluxsight(&dir);
        cmd.args(&sub);
        let out = run_to_exit(cmd, Duration::from_secs(20));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(USAGE_ERROR), "{sub:?}: {err}");
        assert!(err.contains("KUBECONFIG (unset)"), "{err}");
        assert!(
            err.contains("in-cluster (KUBERNETES_SERVICE_HOST unset: not running in a pod)"),
            "{err}"
        );
        let home = dir.join(".kube/config");
        assert!(
            err.contains(&format!("{} (no such file)", home.display())),
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_or_missing_choice_is_a_usage_error() {
    let dir = tempdir("kc-usage");
    let kc = dir.join("kubeconfig.yaml");
    two_context_kubeconfig(&kc, free_port(), free_port());
    let cases: [(&[&str], &str); 3] = [
        (
            &["--kubeconfig", kc.to_str().unwrap(), "--context", "gamma"],
            "no context 'gamma' (contexts: alpha, beta)",
        ),
        (
            &["--kubeconfig", "/nonexistent/kubeconfig.yaml"],
            "/nonexistent/kubeconfig.yaml (--kubeconfig)",
        ),
        (&["--no-such-flag"], "--no-such-flag"),
    ];
    for (args, expect) in cases {
        let mut cmd = fluxsight(&dir);
        cmd.args(["run", "--listen", "127.0.0.1:0"]).args(args);
        let out = run_to_exit(cmd, Duration::from_secs(20));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(USAGE_ERROR), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An unreachable cluster is not a start-up failure: `run` keeps retrying (see
/// tests/kube_unreachable.rs for the back-off) and its first log line after the start-up
/// banner names the server of the kubeconfig that was chosen.
#[test]
fn an_unreachable_cluster_is_waited_for_and_named() {
    if Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token").exists() {
        eprintln!("skipping: a service account is mounted, in-cluster config would be used");
        return;
    }
    let dir = tempdir("kc-unreachable");
    let port = closed_port_kubeconfig(&dir.join(".kube/config"));
    // In a pod without a service account token: in-cluster fails and the home file is
    // used, so the cluster it names is the one reported.
    let mut cmd = fluxsight(&dir);
    cmd.args(["run", "--listen", "127.0.0.1:0", "--health-listen", "none"])
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    // The banner (text mode) comes first; the first log line follows it.
    let mut banner = String::new();
    let mut first = String::new();
    for _ in 0..40 {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut err, &mut line).unwrap() == 0 {
            break;
        }
        if line.contains("ERROR") || line.contains("WARN") {
            first = line;
            break;
        }
        banner.push_str(&line);
    }
    assert!(
        banner.contains(&format!("127.0.0.1:{port}")),
        "the banner names the cluster: {banner}"
    );
    let running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        first.contains(&format!("http://127.0.0.1:{port}/")) && first.contains("unreachable"),
        "{first}"
    );
    assert!(first.contains("laptop"), "names the context: {first}");
    assert!(running, "still retrying after the first failure");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unusable_checkpoint_is_a_runtime_failure() {
    let dir = tempdir("kc-ckpt");
    closed_port_kubeconfig(&dir.join(".kube/config"));
    // The checkpoint directory is a file: an I/O failure, not a configuration error.
    let blocker = dir.join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let pipeline = dir.join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        format!("kubernetes:\n  checkpoint_dir: {}\n", blocker.display()),
    )
    .unwrap();
    let mut cmd = fluxsight(&dir);
    cmd.args(["run", "--listen", "127.0.0.1:0", "--health-listen", "none"])
        .args(["--config", pipeline.to_str().unwrap()]);
    let out = run_to_exit(cmd, Duration::from_secs(30));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(RUNTIME_FAILURE), "{err}");
    assert!(err.contains("checkpoint"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
