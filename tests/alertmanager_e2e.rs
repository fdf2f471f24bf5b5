//! End to end with a real Prometheus Alertmanager on loopback (STYLE.md habit 9).
//!
//! Each test starts its own `alertmanager` (config written here, free port, its own
//! storage dir, clustering off) whose only receiver is a `webhook_configs` entry pointing
//! at an axum server in this process, then drives fluxsight's alertmanager sink and
//! asserts on what Alertmanager notified (webhook payload version 4).
//!
//! Alertmanager comes from the Debian package `prometheus-alertmanager`, unpacked without
//! root into `.tools/alertmanager` by `scripts/alertmanager.sh install` (run by
//! `scripts/test.sh`) unless one is installed already. When it is missing and `CI` is set
//! the tests fail; elsewhere they run the script once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Json;
use serde_json::Value;

mod common;
use common::wait_until;

use fluxsight::config::LoadPipeline;
use fluxsight::correlate::finding::{finding_id, Finding, Status};
use fluxsight::correlate::spec::{PatternSet, Settings};
use fluxsight::correlate::Output;
use fluxsight::pipeline::deliver::Deliverer;
use fluxsight::record::{ObjectRef, Severity};

/// A reqwest client with fluxsight's rustls crypto provider installed (reqwest is built
/// with `rustls-no-provider`; a plain `reqwest::Client::new()` would panic).
fn http() -> reqwest::Client {
    fluxsight::tls::http_client_builder()
        .build()
        .expect("http client")
}

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Identity labels every alert carries (plus the static `source` label of the tests).
const IDENTITY: &[&str] = &[
    "alertname",
    "cluster",
    "kind",
    "name",
    "namespace",
    "pattern",
    "severity",
    "source",
    "tenant",
];

fn find_alertmanager() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("ALERTMANAGER_BIN") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("alertmanager"))
        .chain([
            PathBuf::from("/usr/bin/prometheus-alertmanager"),
            Path::new(ROOT).join(".tools/alertmanager/usr/bin/prometheus-alertmanager"),
        ])
        .find(|p| p.is_file())
}

/// The alertmanager binary, installing it once through the project script when allowed.
fn alertmanager_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = BIN.get_or_init(|| {
        if let Some(p) = find_alertmanager() {
            return Ok(p);
        }
        if std::env::var_os("CI").is_some() {
            return Err(
                "alertmanager is not installed: CI must run `scripts/alertmanager.sh install` \
                 (Debian package prometheus-alertmanager) before `cargo test`"
                    .into(),
            );
        }
        let script = Path::new(ROOT).join("scripts/alertmanager.sh");
        let out = Command::new(&script)
            .arg("install")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "alertmanager is not installed and `scripts/alertmanager.sh install` failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        find_alertmanager().ok_or_else(|| "alertmanager still not found after install".into())
    });
    match r {
        Ok(p) => p.clone(),
        Err(e) => panic!("{e}"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("fluxsight-am-{tag}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The local webhook receiver: stores every notification body.
struct Receiver {
    rt: tokio::runtime::Runtime,
    port: u16,
    notes: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let notes: Arc<Mutex<Vec<Value>>> = Arc::default();
        let app = axum::Router::new()
            .route(
                "/hook",
                post(
                    |State(s): State<Arc<Mutex<Vec<Value>>>>, Json(v): Json<Value>| async move {
                        s.lock().unwrap().push(v);
                        StatusCode::OK
                    },
                ),
            )
            .with_state(notes.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind receiver");
        let port = listener.local_addr().unwrap().port();
        rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { rt, port, notes }
    }

    fn notes(&self) -> Vec<Value> {
        self.notes.lock().unwrap().clone()
    }

    fn get_json(&self, url: &str) -> Option<Value> {
        self.rt.block_on(async {
            let r = http().get(url).send().await.ok()?;
            if !r.status().is_success() {
                return None;
            }
            r.json::<Value>().await.ok()
        })
    }
}

/// A running Alertmanager; killed and its storage removed on drop.
struct Alertmanager {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Alertmanager {
    fn start(rx: &Receiver, resolve_timeout: &str) -> Self {
        let bin = alertmanager_bin();
        let dir = temp_dir("am");
        let config = format!(
            r#"global:
  resolve_timeout: {resolve_timeout}
route:
  receiver: hook
  group_by: [alertname, tenant]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{}/hook
        send_resolved: true
"#,
            rx.port
        );
        fs::write(dir.join("alertmanager.yml"), config).unwrap();
        let log = fs::File::create(dir.join("alertmanager.log")).unwrap();
        let port = free_port();
        let child = Command::new(&bin)
            .arg(format!(
                "--config.file={}",
                dir.join("alertmanager.yml").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg("--cluster.listen-address=")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut am = Alertmanager { child, port, dir };
        let ready = format!("{}/-/ready", am.url());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if rx.rt.block_on(async {
                http()
                    .get(&ready)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }) {
                break;
            }
            if let Ok(Some(st)) = am.child.try_wait() {
                panic!("alertmanager exited ({st}):\n{}", am.log());
            }
            assert!(
                Instant::now() < deadline,
                "alertmanager not ready after 30s:\n{}",
                am.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("alertmanager.log")).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or("")
}

/// (alertname, tenant) of a notification's group.
fn group_of(n: &Value) -> (String, String) {
    (
        s(&n["groupLabels"], "alertname").to_string(),
        s(&n["groupLabels"], "tenant").to_string(),
    )
}

fn pipeline(dir: &Path, am: &Alertmanager, extra_route: &str) -> PathBuf {
    let p = dir.join("pipeline.yaml");
    fs::write(
        &p,
        format!(
            r#"cluster: e2e
sinks:
  - type: alertmanager
    name: am
    url: {}
    repost_interval: 2s
    labels:
      source: fluxsight-e2e
    generator_url: http://fluxsight.test/findings/{{id}}
routes:
  - name: alerts
    match:
      kinds: [finding]
    sinks: [am]
{extra_route}"#,
            am.url()
        ),
    )
    .unwrap();
    p
}

fn run_replay(config: &Path, capture: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .arg("replay")
        .arg("--config")
        .arg(config)
        .arg(capture)
        .output()
        .expect("run fluxsight replay");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "replay failed: {stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("sink am:"))
        .unwrap_or_else(|| panic!("no sink stats in: {stderr}"));
    assert!(
        line.contains("dead-lettered 0") && line.contains("dropped 0") && !line.contains("sent 0 "),
        "{line}"
    );
    stderr
}

/// Every notification: webhook payload v4, grouped by alertname/tenant, alerts with the
/// identity labels only (no revision, count or message) and the detail annotations.
fn check_notification(n: &Value) {
    assert_eq!(s(n, "version"), "4", "{n}");
    assert_eq!(s(n, "receiver"), "hook");
    let gl: BTreeSet<&str> = n["groupLabels"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(gl, BTreeSet::from(["alertname", "tenant"]), "{n}");
    for a in n["alerts"].as_array().unwrap() {
        let labels = a["labels"].as_object().unwrap();
        let names: Vec<&str> = labels.keys().map(String::as_str).collect();
        assert_eq!(names, IDENTITY, "label names of {a}");
        for (k, v) in labels {
            let v = v.as_str().unwrap();
            assert!(!v.contains("sha1:") && !v.contains(' '), "label {k}={v}");
        }
        assert_eq!(s(&a["labels"], "cluster"), "e2e");
        assert_eq!(s(&a["labels"], "source"), "fluxsight-e2e");
        let ann = &a["annotations"];
        for k in [
            "summary",
            "description",
            "title",
            "finding_id",
            "count",
            "first_seen",
            "runbook_url",
        ] {
            assert!(!s(ann, k).is_empty(), "annotation {k} missing in {a}");
        }
        assert!(
            !s(ann, "summary").contains('\n'),
            "summary is one line: {a}"
        );
        assert!(s(ann, "runbook_url")
            .ends_with(&format!("/docs/patterns/{}.md", s(&a["labels"], "pattern"))));
        assert!(s(ann, "count").parse::<u64>().unwrap() >= 1);
        assert_eq!(
            s(a, "generatorURL"),
            format!("http://fluxsight.test/findings/{}", s(ann, "finding_id"))
        );
    }
}

/// A capture replayed through the binary: Alertmanager groups the findings by
/// alertname/tenant and notifies the receiver with identity labels only; after a second
/// capture in which the failing GitRepository recovers, the resolution is notified.
#[test]
fn replay_groups_alerts_in_alertmanager_and_resolves_them() {
    let rx = Receiver::start();
    let am = Alertmanager::start(&rx, "5m");
    let dir = temp_dir("replay");
    // Group findings per tenant in fluxsight too, so `Delivery::Group` is exercised.
    let config = pipeline(
        &dir,
        &am,
        "    group_by: [tenant]\n    group_interval: 1m\n",
    );
    let incident = Path::new(ROOT).join("samples/demo/incident.log");
    run_replay(&config, &incident);

    let expected: BTreeSet<(String, String)> = [
        ("FluxGitAuthFailure", "payments"),
        ("FluxHelmReleaseFailure", "shop"),
    ]
    .iter()
    .map(|(a, t)| (a.to_string(), t.to_string()))
    .collect();
    let got_all = wait_until(Duration::from_secs(30), || {
        let seen: BTreeSet<_> = rx
            .notes()
            .iter()
            .filter(|n| s(n, "status") == "firing")
            .map(group_of)
            .collect();
        expected.is_subset(&seen)
    });
    assert!(
        got_all,
        "firing notifications missing; got {:#?}\nalertmanager log:\n{}",
        rx.notes(),
        am.log()
    );

    let notes = rx.notes();
    let mut last_by_group: BTreeMap<(String, String), &Value> = BTreeMap::new();
    for n in &notes {
        check_notification(n);
        last_by_group.insert(group_of(n), n);
    }
    // The Helm release's revision travels as an annotation.
    let helm = last_by_group[&("FluxHelmReleaseFailure".into(), "shop".into())];
    let a = &helm["alerts"][0];
    assert_eq!(s(&a["labels"], "severity"), "critical");
    assert_eq!(s(&a["labels"], "kind"), "HelmRelease");
    assert!(s(&a["annotations"], "revision").starts_with("3.1."), "{a}");
    assert!(
        notes.iter().all(|n| s(n, "status") == "firing"),
        "nothing resolved yet"
    );

    // The source recovers: the GitRepository stores an artifact again.
    let recovered = dir.join("recovered.log");
    let mut capture = fs::read_to_string(&incident).unwrap();
    capture.push_str(concat!(
        r#"{"level":"info","ts":"2026-03-02T12:01:00.000Z","msg":"stored artifact for commit 'Rotate deploy token'","#,
        r#""controller":"gitrepository","controllerGroup":"source.toolkit.fluxcd.io","controllerKind":"GitRepository","#,
        r#""GitRepository":{"name":"payments-config","namespace":"payments"},"namespace":"payments","name":"payments-config","#,
        r#""reconcileID":"0f0f0f0f-1e26-7c26-7ac1-2c7fec4f4355"}"#,
        "\n"
    ));
    fs::write(&recovered, capture).unwrap();
    run_replay(&config, &recovered);

    let resolved = || {
        rx.notes().into_iter().find(|n| {
            s(n, "status") == "resolved"
                && group_of(n) == ("FluxGitAuthFailure".into(), "payments".into())
        })
    };
    assert!(
        wait_until(Duration::from_secs(30), || resolved().is_some()),
        "no resolved notification; got {:#?}\nalertmanager log:\n{}",
        rx.notes(),
        am.log()
    );
    // With the clock of the second capture at 12:01 the Kustomizations waiting for the
    // source count as stalled: three findings that Alertmanager groups in one notification.
    let stalled_key = (
        "FluxStalledReconciliation".to_string(),
        "payments".to_string(),
    );
    let stalled_names = || -> BTreeSet<String> {
        rx.notes()
            .iter()
            .rfind(|n| s(n, "status") == "firing" && group_of(n) == stalled_key)
            .map(|n| {
                n["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| s(&a["labels"], "name").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let want: BTreeSet<String> = ["payments-app", "payments-config", "payments-workers"]
        .iter()
        .map(|x| x.to_string())
        .collect();
    assert!(
        wait_until(Duration::from_secs(30), || stalled_names() == want),
        "stalled group: {:?}; notes {:#?}",
        stalled_names(),
        rx.notes()
    );
    for n in rx.notes() {
        check_notification(&n);
    }
    let n = resolved().unwrap();
    let a = &n["alerts"][0];
    assert_eq!(s(a, "status"), "resolved");
    assert_eq!(s(&a["labels"], "name"), "payments-config");
    assert!(s(a, "endsAt").starts_with("2026-03-02T12:01:00"), "{a}");
    // The other findings still fire.
    let active = rx
        .get_json(&format!(
            "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
            am.url()
        ))
        .expect("alerts api");
    let firing: BTreeSet<&str> = active
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| s(&a["status"], "state") == "active")
        .map(|a| s(&a["labels"], "alertname"))
        .collect();
    assert!(firing.contains("FluxHelmReleaseFailure"), "{active}");
    assert!(!firing.contains("FluxGitAuthFailure"), "{active}");
    let _ = fs::remove_dir_all(&dir);
}

fn live_finding(name: &str, status: Status, first_seen: i64, last_seen: i64) -> Finding {
    let subject = ObjectRef::new("GitRepository", "team-a", name);
    Finding {
        id: finding_id("git_auth_failure", &subject),
        pattern: "git_auth_failure".into(),
        status,
        severity: Severity::Error,
        title: "Repeated Git authentication failures".into(),
        summary: "5 Git authentication failures: authentication required".into(),
        cluster: "e2e".into(),
        tenant: "team-a".into(),
        tenants: vec!["team-a".into()],
        subject,
        root_cause: None,
        impacted: Vec::new(),
        impact: Vec::new(),
        first_seen,
        last_seen,
        count: 5,
        evidence: Vec::new(),
        labels: BTreeMap::new(),
        remediation: "Rotate the deploy token".into(),
        last_counted: last_seen,
        emission: 1,
        rule: Default::default(),
        workload: None,
        text_pending: Default::default(),
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// With `resolve_timeout: 10s` a firing alert posted once would resolve after 10 s; the
/// sink re-posts it every 2 s, so it stays firing well past that. Once fluxsight stops
/// (no more re-posts) Alertmanager resolves it by timeout: the control that shows the
/// re-posting is what kept it alive.
#[test]
fn reposting_keeps_a_firing_alert_past_resolve_timeout() {
    let rx = Receiver::start();
    let am = Alertmanager::start(&rx, "10s");
    let dir = temp_dir("repost");
    let config = pipeline(&dir, &am, "");
    let text = fs::read_to_string(&config).unwrap();
    let (_, plan) =
        Settings::pipeline_from_text(&text, &config.display().to_string(), PatternSet::builtin())
            .expect("valid pipeline");
    let mut d = Deliverer::start(&plan).expect("deliverer");
    let now = wall_ms();
    let f = live_finding("tenant-repo", Status::Firing, now - 60_000, now);
    d.deliver(&[Output::Finding(Box::new(f))], now);
    assert!(
        wait_until(Duration::from_secs(20), || rx
            .notes()
            .iter()
            .any(|n| s(n, "status") == "firing")),
        "no firing notification; alertmanager log:\n{}",
        am.log()
    );
    let posted = Instant::now();
    // 18 s > resolve_timeout (10 s) + group_interval (2 s) + slack.
    while posted.elapsed() < Duration::from_secs(18) {
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            rx.notes().iter().all(|n| s(n, "status") == "firing"),
            "resolved while fluxsight was re-posting: {:#?}",
            rx.notes()
        );
    }
    let alerts = rx
        .get_json(&format!("{}/api/v2/alerts", am.url()))
        .expect("alerts api");
    let ours: Vec<&Value> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| s(&a["labels"], "name") == "tenant-repo")
        .collect();
    assert_eq!(ours.len(), 1, "{alerts}");
    assert_eq!(s(&ours[0]["status"], "state"), "active", "{alerts}");
    assert!(ours[0]["annotations"].get("revision").is_none());

    // Stop fluxsight: without re-posts the alert times out and resolves.
    let stats = d.finish();
    assert_eq!(stats["am"].dead_lettered, 0);
    let stopped = Instant::now();
    assert!(
        wait_until(Duration::from_secs(30), || rx
            .notes()
            .iter()
            .any(|n| s(n, "status") == "resolved")),
        "alert never resolved after re-posting stopped: {:#?}",
        rx.notes()
    );
    assert!(
        stopped.elapsed() >= Duration::from_secs(5),
        "resolved too early ({:?}): something other than the timeout resolved it",
        stopped.elapsed()
    );
    let _ = fs::remove_dir_all(&dir);
}
