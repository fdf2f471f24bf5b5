//! What chat sinks receive (issue 21), against a local HTTP server playing Slack:
//! - default routing by kind of sink: with no routes, Slack gets findings and no audit
//!   records, while a file sink in the same pipeline keeps every audit record; a route
//!   with `match: {type: audit}` (or the older `kinds: [audit]`) delivers them to Slack;
//! - a storm of 200 findings in one window is one digest post, a handful are posted one
//!   by one;
//! - `fluxsight validate` lists what each sink receives;
//! - a plain-text value in any secret field exits 2, names the field, and appears in no
//!   output of `validate`, `replay --config` or `run --config`.

mod http_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use fluxsight::config::LoadPipeline;
use fluxsight::correlate::spec::{PatternSet, Settings};
use fluxsight::correlate::Output;
use fluxsight::pipeline::deliver::Deliverer;
use http_support::{finding, Receiver};
use serde_json::Value;

/// The capture: 12 `revision_applied` audit records and an incident of 5 findings.
const CAPTURE: &str = "samples/demo/incident.log";
/// Audit records the capture gives (`fluxsight replay --audit` of it).
const CAPTURE_AUDIT_RECORDS: usize = 12;
const SLACK_PATH: &str = "/services/T000/B000/XXX";

fn workdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fluxsight-chat-routing-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fluxsight"))
}

/// Runs `fluxsight replay --config <pipeline> CAPTURE` with the Slack URL in the
/// environment (blocking, off the runtime that serves the receiver).
async fn replay(pipeline: PathBuf, var: &'static str, url: String) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        bin()
            .args(["replay", "--config"])
            .arg(&pipeline)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(CAPTURE))
            .env(var, url)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// The Slack posts' fallback texts.
fn texts(r: &Receiver) -> Vec<String> {
    r.accepted()
        .iter()
        .map(|s| s.json()["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Audit messages start with the action ("revision applied: …").
fn is_audit(text: &str) -> bool {
    text.starts_with("revision applied")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_routes_slack_gets_findings_only_and_the_file_sink_keeps_audit() {
    let slack = Receiver::start(None).await;
    let dir = workdir("default");
    let audit_file = dir.join("all.jsonl");
    let pipeline = dir.join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        format!(
            "sinks:\n  - name: slack-ops\n    type: slack\n    url: {{env: FLUXSIGHT_TEST_CHAT_DEFAULT}}\n    min_interval: 10ms\n  - name: archive\n    type: file\n    path: {}\n",
            audit_file.display()
        ),
    )
    .unwrap();
    let out = replay(
        pipeline,
        "FLUXSIGHT_TEST_CHAT_DEFAULT",
        slack.url(SLACK_PATH),
    )
    .await;
    assert!(out.status.success(), "{out:?}");
    let posts = texts(&slack);
    assert!(!posts.is_empty(), "the incident reached Slack");
    let audit: Vec<&String> = posts.iter().filter(|t| is_audit(t)).collect();
    assert!(audit.is_empty(), "audit records in Slack: {audit:?}");
    // Every post is a finding (a fallback text opens with its severity).
    for t in &posts {
        assert!(
            ["[INFO]", "[WARNING]", "[ERROR]", "[CRITICAL]"]
                .iter()
                .any(|s| t.starts_with(s)),
            "{t}"
        );
    }
    let archived = std::fs::read_to_string(&audit_file).unwrap();
    let types: Vec<String> = archived
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].to_string())
        .collect();
    let n_audit = types.iter().filter(|t| *t == "\"audit\"").count();
    assert_eq!(n_audit, CAPTURE_AUDIT_RECORDS, "{archived}");
    assert!(types.iter().any(|t| t == "\"finding\""), "{archived}");
    // At most one message per finding, plus one per severity change and its resolution:
    // counted from every update the file sink archived.
    let mut per_id: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for l in archived.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["type"] == "finding" {
            per_id
                .entry(v["id"].to_string())
                .or_default()
                .push((v["severity"].to_string(), v["status"].to_string()));
        }
    }
    let updates: usize = per_id.values().map(Vec::len).sum();
    let allowed: usize = per_id
        .values()
        .map(|u| {
            let changes = u.windows(2).filter(|w| w[0].0 != w[1].0).count();
            let resolved = u.iter().any(|(_, st)| st == "\"resolved\"");
            1 + changes + usize::from(resolved)
        })
        .sum();
    assert!(
        posts.len() <= allowed && updates > allowed,
        "{} posts for {} findings ({updates} updates, {allowed} allowed): {posts:#?}",
        posts.len(),
        per_id.len()
    );
}

/// A route asking for audit delivers it to Slack; `type` and the older `kinds` agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_audit_route_delivers_audit_to_slack() {
    for (case, matcher) in [("type", "{type: audit}"), ("kinds", "{kinds: [audit]}")] {
        let slack = Receiver::start(None).await;
        let dir = workdir(case);
        let pipeline = dir.join("pipeline.yaml");
        std::fs::write(
            &pipeline,
            format!(
                "sinks:\n  - name: slack-ops\n    type: slack\n    url: {{env: FLUXSIGHT_TEST_CHAT_AUDIT}}\n    min_interval: 10ms\nroutes:\n  - name: changes\n    match: {matcher}\n    sinks: [slack-ops]\n"
            ),
        )
        .unwrap();
        let out = replay(pipeline, "FLUXSIGHT_TEST_CHAT_AUDIT", slack.url(SLACK_PATH)).await;
        assert!(out.status.success(), "{case}: {out:?}");
        let posts = texts(&slack);
        let audit = posts.iter().filter(|t| is_audit(t)).count();
        assert_eq!(audit, CAPTURE_AUDIT_RECORDS, "{case}: {posts:?}");
        // The route asked for audit only: no finding reached Slack.
        assert_eq!(audit, posts.len(), "{case}: {posts:?}");
    }
}

/// Delivers `n` distinct firing findings one second apart (all inside the default 30s
/// window of chat sinks) to a Slack sink of a pipeline without routes.
async fn storm(n: u64, var: &'static str) -> Vec<Value> {
    let slack = Receiver::start(None).await;
    std::env::set_var(var, slack.url(SLACK_PATH));
    let text = format!(
        "sinks:\n  - name: slack-ops\n    type: slack\n    url: {{env: {var}}}\n    min_interval: 10ms\n"
    );
    let (_, plan) =
        Settings::pipeline_from_text(&text, "storm.yaml", PatternSet::builtin()).unwrap();
    tokio::task::spawn_blocking(move || {
        let mut d = Deliverer::start(&plan).unwrap();
        for i in 0..n {
            let f = finding(i % 25, &format!("repo-{i}"), "authentication required");
            let mut f = f;
            f.id = format!("fs-storm-{i:04}");
            f.tenant = format!("team-{}", i % 7);
            let at = f.last_seen;
            d.deliver(&[Output::Finding(Box::new(f))], at);
        }
        d.finish();
    })
    .await
    .unwrap();
    slack.accepted().iter().map(|s| s.json()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_findings_in_one_window_are_one_digest() {
    let posts = storm(200, "FLUXSIGHT_TEST_CHAT_STORM").await;
    assert_eq!(posts.len(), 1, "{posts:?}");
    let text = posts[0]["text"].as_str().unwrap();
    assert!(text.contains("digest: 200 findings"), "{text}");
    let blocks = posts[0]["blocks"].to_string();
    // Counts by pattern and tenant, and the way to the rest.
    assert!(
        blocks.contains("git_auth_failure") && blocks.contains("×200"),
        "{blocks}"
    );
    assert!(
        blocks.contains("team-0") && blocks.contains("×29"),
        "{blocks}"
    );
    assert!(blocks.contains("fluxsight replay"), "{blocks}");
    assert!(blocks.contains("Top 5 of 200"), "{blocks}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_findings_in_one_window_are_posted_one_by_one() {
    let posts = storm(4, "FLUXSIGHT_TEST_CHAT_FEW").await;
    assert_eq!(posts.len(), 4, "{posts:?}");
    assert!(posts
        .iter()
        .all(|p| !p["text"].as_str().unwrap().contains("digest")));
}

#[test]
fn validate_lists_what_each_sink_receives() {
    let dir = workdir("validate");
    let pipeline = dir.join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        "sinks:\n  - name: slack-ops\n    type: slack\n    url: {env: SLACK_URL}\n  - name: siem\n    type: webhook\n    url: http://127.0.0.1:1/x\n  - name: pager\n    type: alertmanager\n    url: http://127.0.0.1:9093\nroutes:\n  - name: ops\n    match: {severity_min: warning}\n    sinks: [slack-ops, siem, pager]\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&pipeline).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for line in [
        "sink slack-ops (slack): findings (severity >= warning via route 'ops', digest above 10 in a 30s window); audit: no",
        "sink siem (webhook): findings (severity >= warning via route 'ops'); audit (all via route 'ops')",
        "sink pager (alertmanager): findings (severity >= warning via route 'ops'); audit: no",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }
}

/// Secret values planted in each secret field: (field path, pipeline text).
fn planted() -> Vec<(&'static str, String, &'static str)> {
    let slack = |v: &str| format!("sinks:\n  - name: s\n    type: slack\n    url: {v}\n");
    let hook = |extra: &str| {
        format!("sinks:\n  - name: h\n    type: webhook\n    url: http://127.0.0.1:1/x\n{extra}")
    };
    let kafka = |extra: &str| {
        format!("sinks:\n  - name: k\n    type: kafka\n    brokers: 127.0.0.1:9092\n{extra}")
    };
    vec![
        (
            "sinks[0].url",
            slack("http://hooks.example/services/T000/B000/PLANTED0SLACK"),
            "PLANTED0SLACK",
        ),
        (
            "sinks[0].hmac_secret",
            hook("    hmac_secret: PLANTED1HMAC\n"),
            "PLANTED1HMAC",
        ),
        (
            "sinks[0].headers.Authorization",
            hook("    headers:\n      Authorization: Bearer PLANTED2HEADER\n"),
            "PLANTED2HEADER",
        ),
        (
            "sinks[0].sasl_username",
            kafka("    sasl_username: PLANTED3USER\n"),
            "PLANTED3USER",
        ),
        (
            "sinks[0].sasl_password",
            kafka("    sasl_password: PLANTED4PASS\n"),
            "PLANTED4PASS",
        ),
        (
            "receiver.hmac_secret",
            "receiver:\n  hmac_secret: PLANTED5RECEIVER\n".to_string(),
            "PLANTED5RECEIVER",
        ),
        (
            "sinks[0].headers.X-Api-Token",
            "sinks:\n  - name: am\n    type: alertmanager\n    url: http://127.0.0.1:9093\n    headers:\n      X-Api-Token: PLANTED6TOKEN\n".to_string(),
            "PLANTED6TOKEN",
        ),
        (
            "sinks[0].token",
            "sinks:\n  - name: s\n    type: slack\n    channel: C1\n    token: xoxb-PLANTED7BOT\n".to_string(),
            "PLANTED7BOT",
        ),
        (
            "sinks[0].url",
            "sinks:\n  - name: t\n    type: teams\n    url: https://example.test/workflows?sig=PLANTED8TEAMS\n".to_string(),
            "PLANTED8TEAMS",
        ),
        (
            "sinks[0].url",
            "sinks:\n  - name: g\n    type: googlechat\n    url: https://chat.googleapis.com/v1/spaces/A?key=PLANTED9GCHAT\n".to_string(),
            "PLANTED9GCHAT",
        ),
    ]
}

#[test]
fn a_plaintext_secret_exits_2_names_the_field_and_is_never_printed() {
    let dir = workdir("secrets");
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join(CAPTURE);
    for (i, (field, text, secret)) in planted().into_iter().enumerate() {
        let path = dir.join(format!("planted-{i}.yaml"));
        std::fs::write(&path, &text).unwrap();
        let runs: [Vec<&std::ffi::OsStr>; 3] = [
            vec!["validate".as_ref(), path.as_os_str()],
            vec![
                "replay".as_ref(),
                "--config".as_ref(),
                path.as_os_str(),
                capture.as_os_str(),
            ],
            vec![
                "run".as_ref(),
                "--no-kube".as_ref(),
                "--no-follow".as_ref(),
                "--output".as_ref(),
                "none".as_ref(),
                "--config".as_ref(),
                path.as_os_str(),
                "--input".as_ref(),
                capture.as_os_str(),
            ],
        ];
        for args in runs {
            let out = bin().args(&args).output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let what = format!("{args:?}: {stderr}");
            assert_eq!(out.status.code(), Some(2), "{what}");
            assert!(
                stderr.contains(&format!(
                    "{field} holds a secret: write {{env: NAME}} or {{file: PATH}}"
                )),
                "{what}"
            );
            let line = text
                .lines()
                .position(|l| l.contains(secret))
                .map(|n| n + 1)
                .unwrap();
            assert!(
                stderr.contains(&format!("{}:{line}:", path.display())),
                "file and line: {what}"
            );
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "secret printed: {what}"
            );
        }
    }
}
