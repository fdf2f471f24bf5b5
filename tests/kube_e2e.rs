//! End-to-end: `fluxsight run` and `fluxsight record` against a Kubernetes API emulator
//! on loopback (`tests/kube_emulator/emulator.py`, Python stdlib only), pointed at with
//! a generated kubeconfig.
//!
//! Checks: a `git_auth_failure` finding on stdout within 2 s of the triggering log line;
//! cutting the log stream and the watches mid-run loses and duplicates nothing (counted
//! per injected line id); a 410 Gone on a watch leads to a new LIST; a restart resumes
//! from the checkpoint without re-reading; controller container restarts (OOMKilled, then
//! repeated errors) become controller_oom and controller_crashloop findings; SIGTERM with a finding in flight flushes the
//! file sink before exit, within the shutdown timeout; a capture replays.
//!
//! Without `python3` the tests are skipped, except under `CI`, where they fail.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
mod kube_emulator;
use common::{
    auth_line, free_port, http_get, info_line, metric, source_lines, tempdir, wait_until, BIN,
};
use kube_emulator::{failing_repo, run_ready, Emulator, Fluxsight, SC_POD, SC_STREAM};

const KC_POD: &str = "kustomize-controller-7f8d9c6b5-fghij";
use kube_emulator::{ATTEMPT_GAP, GITREPO};
const KS: [&str; 3] = ["kustomize.toolkit.fluxcd.io", "v1", "kustomizations"];

#[test]
fn live_run_against_emulator() {
    let Some(mut emu) = Emulator::start() else {
        return;
    };
    let dir = tempdir("e2e-run");
    let kc = emu.kubeconfig(&dir);
    let findings = dir.join("findings.jsonl");
    let pipeline = dir.join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "kubernetes:\n  metrics_interval: 1s\n  metrics_port: {}\n  checkpoint_interval: 500ms\nsinks:\n  - name: file\n    type: file\n    path: {}\ndelivery:\n  state_dir: {}\n  shutdown_timeout: 5s\n",
            emu.port,
            findings.display(),
            dir.join("state").display()
        ),
    )
    .unwrap();
    let (mut fx, listen) = run_ready(&pipeline, &kc);

    // Lines before, during and after a cut of the log stream: each counted exactly once.
    let ids: Vec<String> = (0..20).map(|i| format!("e2e-line-{i:04}")).collect();
    emu.log(&ids[..10].iter().map(|i| info_line(i)).collect::<Vec<_>>());
    assert!(wait_until(Duration::from_secs(10), || source_lines(
        listen, SC_STREAM
    ) == 10));
    emu.cmd(json!({"op": "cut_logs"}));
    emu.log(&ids[10..].iter().map(|i| info_line(i)).collect::<Vec<_>>());
    // Watches cut too; objects changed meanwhile arrive once after the resume.
    let ks_before = source_lines(listen, "watch/Kustomization");
    emu.cmd(json!({"op": "cut_watches"}));
    for i in 0..3 {
        emu.cmd(json!({"op": "apply", "key": KS, "object": {
            "metadata": {"name": "payments-app", "namespace": "payments"},
            "spec": {"interval": "10m", "path": format!("./rev{i}"), "prune": true,
                     "sourceRef": {"kind": "GitRepository", "name": "payments-config"}}}}));
    }
    let ok = wait_until(Duration::from_secs(10), || {
        source_lines(listen, SC_STREAM) >= 20
            && source_lines(listen, "watch/Kustomization") >= ks_before + 3
    });
    assert!(
        ok,
        "lost after the cut: {} of 20 lines, {} of {} Kustomization events; emulator {}",
        source_lines(listen, SC_STREAM),
        source_lines(listen, "watch/Kustomization"),
        ks_before + 3,
        emu.cmd(json!({"op": "stats"}))
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        source_lines(listen, SC_STREAM),
        20,
        "log lines duplicated after resume"
    );
    assert_eq!(
        source_lines(listen, "watch/Kustomization"),
        ks_before + 3,
        "watch events lost or duplicated after resume"
    );
    assert!(
        metric(
            listen,
            &format!("fluxsight_source_restarts_total{{source=\"{SC_STREAM}\"}}")
        ) >= 1
    );

    // Auth-failure incident: finding on stdout within 2 s of the triggering line.
    emu.cmd(json!({"op": "apply", "key": GITREPO, "object": failing_repo("payments-config", "payments")}));
    // Records of one attempt closer than 2 s count once: space the attempts.
    emu.log(&[auth_line("payments-config", "payments", 1)]);
    std::thread::sleep(ATTEMPT_GAP);
    emu.log(&[auth_line("payments-config", "payments", 2)]);
    std::thread::sleep(ATTEMPT_GAP);
    emu.log(&[auth_line("payments-config", "payments", 3)]);
    let trigger = Instant::now();
    let (at, line) = fx
        .wait_stdout("git_auth_failure", Duration::from_secs(10))
        .expect("no git_auth_failure finding on stdout");
    let latency = at.saturating_duration_since(trigger);
    eprintln!("git_auth_failure finding latency: {latency:?}");
    assert!(latency < Duration::from_secs(2), "finding took {latency:?}");
    assert!(line.contains("payments-config"), "{line}");
    assert!(
        line.contains("payments-app"),
        "consumers not impacted: {line}"
    );

    // 410 Gone on the GitRepository watch: a new LIST.
    let lists = emu.lists("gitrepositories");
    emu.cmd(json!({"op": "gone", "resource": "gitrepositories"}));
    assert!(
        wait_until(Duration::from_secs(15), || emu.lists("gitrepositories")
            > lists),
        "no relist after 410 Gone"
    );

    // Controller container restarts (restartCount bump on the Pod watch, lastState
    // terminated): OOMKilled → controller_oom; three restarts with exit errors →
    // controller_crashloop.
    emu.cmd(json!({"op": "restart_container", "pod": SC_POD}));
    let (_, oom) = fx
        .wait_stdout("\"controller_oom\"", Duration::from_secs(10))
        .expect("no controller_oom finding after an OOMKilled restart");
    assert!(oom.contains("source-controller"), "{oom}");
    // Exits two minutes apart (restarts closer than a minute count as one).
    for ago in [240, 120, 0] {
        emu.cmd(json!({"op": "restart_container", "pod": KC_POD, "reason": "Error", "ago_s": ago}));
    }
    let (_, crash) = fx
        .wait_stdout("\"controller_crashloop\"", Duration::from_secs(10))
        .expect("no controller_crashloop finding after three restarts");
    assert!(crash.contains("kustomize-controller"), "{crash}");

    // SIGTERM with a finding in flight: flushed to the file sink before exit.
    emu.cmd(
        json!({"op": "apply", "key": GITREPO, "object": failing_repo("infra-config", "infra")}),
    );
    for a in 1..=3 {
        if a > 1 {
            std::thread::sleep(ATTEMPT_GAP);
        }
        emu.log(&[auth_line("infra-config", "infra", a)]);
    }
    fx.wait_stdout("infra-config", Duration::from_secs(10))
        .expect("no finding for infra-config");
    fx.sigterm();
    let t0 = Instant::now();
    let status = fx
        .wait_exit(Duration::from_secs(8))
        .expect("no exit within the grace period");
    eprintln!("exit after SIGTERM in {:?}", t0.elapsed());
    assert!(status.success(), "{status:?}");
    let written = std::fs::read_to_string(&findings).unwrap_or_default();
    assert!(written.contains("payments-config"), "{written}");
    assert!(
        written.contains("infra-config"),
        "in-flight finding not flushed: {written}"
    );

    // Restart from the checkpoint: nothing re-read, new lines read once.
    assert!(dir.join("state/kube-checkpoint.json").exists());
    let listen2 = free_port();
    let addr2 = format!("127.0.0.1:{listen2}");
    let args2 = [
        "run",
        "--config",
        pipeline.to_str().unwrap(),
        "--listen",
        &addr2,
        "--health-listen",
        "none",
        "--output",
        "none",
    ];
    let _fx2 = Fluxsight::start(&args2, &kc);
    assert!(wait_until(Duration::from_secs(90), || http_get(
        listen2, "/readyz"
    )
    .is_some_and(|(c, _)| c == 200)));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        source_lines(listen2, SC_STREAM),
        0,
        "lines re-read after restart"
    );
    emu.log(
        &(0..5)
            .map(|i| info_line(&format!("e2e-after-{i}")))
            .collect::<Vec<_>>(),
    );
    assert!(wait_until(Duration::from_secs(10), || source_lines(
        listen2, SC_STREAM
    ) == 5));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(source_lines(listen2, SC_STREAM), 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn record_captures_each_line_once_and_replays() {
    let Some(mut emu) = Emulator::start() else {
        return;
    };
    let dir = tempdir("e2e-record");
    let kc = emu.kubeconfig(&dir);
    let cap = dir.join("capture.log");
    let pipeline = dir.join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "kubernetes:\n  metrics_interval: 1s\n  metrics_port: {}\n",
            emu.port
        ),
    )
    .unwrap();
    let args = [
        "record",
        "--config",
        pipeline.to_str().unwrap(),
        "--to",
        cap.to_str().unwrap(),
    ];
    let mut fx = Fluxsight::start(&args, &kc);
    let read = || std::fs::read_to_string(&cap).unwrap_or_default();
    assert!(wait_until(Duration::from_secs(90), || read()
        .contains("payments-infra")
        && read().contains("workqueue_depth")));
    let ids: Vec<String> = (0..30).map(|i| format!("rec-line-{i:04}")).collect();
    emu.log(&ids[..15].iter().map(|i| info_line(i)).collect::<Vec<_>>());
    assert!(wait_until(Duration::from_secs(10), || read().contains("rec-line-0014")));
    emu.cmd(json!({"op": "cut_logs"}));
    emu.cmd(json!({"op": "cut_watches"}));
    emu.log(&ids[15..].iter().map(|i| info_line(i)).collect::<Vec<_>>());
    emu.cmd(json!({"op": "apply", "key": GITREPO, "object": failing_repo("payments-config", "payments")}));
    for a in 1..=3 {
        if a > 1 {
            std::thread::sleep(ATTEMPT_GAP);
        }
        emu.log(&[auth_line("payments-config", "payments", a)]);
    }
    // An OOM-killed restart: the previous instance's last lines are read once; the
    // ones already followed are not repeated.
    let text = read();
    let seen = text
        .lines()
        .find(|l| l.contains("rec-line-0003"))
        .and_then(|l| l.split_once("] "))
        .map(|(_, rest)| rest.to_string())
        .expect("line 3 captured");
    let (seen_ts, seen_line) = seen.split_once(' ').unwrap();
    emu.cmd(json!({"op": "previous_log", "pod": SC_POD, "lines": [
        [seen_ts, seen_line],
        [seen_ts, info_line("rec-prev-lost")],
    ]}));
    emu.cmd(json!({"op": "restart_container", "pod": SC_POD}));
    assert!(
        wait_until(Duration::from_secs(10), || {
            let t = read();
            t.contains("rec-line-0029")
                && t.contains("rec-prev-lost")
                && t.contains("e2e-payments-config-3")
        }),
        "capture incomplete"
    );
    std::thread::sleep(Duration::from_millis(1500));
    fx.sigterm();
    assert!(fx
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    let text = read();
    for id in ids.iter().map(String::as_str).chain(["rec-prev-lost"]) {
        let n = text
            .lines()
            .filter(|l| l.contains(&format!("\"msg\":\"{id} ")))
            .count();
        assert_eq!(n, 1, "{id} captured {n} times");
    }
    // Watch events: every resourceVersion once (no relist happened).
    let mut rvs: BTreeMap<String, usize> = BTreeMap::new();
    for l in text.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(l).unwrap();
        let rv = v["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("")
            .to_string();
        *rvs.entry(format!("{}/{rv}", v["object"]["kind"]))
            .or_default() += 1;
    }
    assert!(
        rvs.values().all(|&n| n == 1),
        "watch events duplicated: {rvs:?}"
    );
    assert!(text.contains(&format!("[pod/{SC_POD}/manager] ")));

    let out = Command::new(BIN).arg("replay").arg(&cap).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("git_auth_failure"),
        "replay found nothing: {stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
