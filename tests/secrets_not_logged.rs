//! Secrets come only from the environment or files, and never reach a log or stdout:
//! the binary runs with every kind of secret configured (Slack webhook URL, webhook URL
//! with credentials, HMAC keys, credential headers, Alertmanager URL, Kafka SASL, the
//! receiver key), every sink failing (so errors are logged and retried), debug logging
//! on, and log lines that carry a credential; neither stdout nor stderr may contain one.
//! Also: `Debug` of the sinks prints no secret.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fluxsight::sinks::config::{HttpEndpoint, MaybeSecret, SecretRef, SlackConfig, WebhookConfig};
use fluxsight::sinks::slack::SlackSink;
use fluxsight::sinks::webhook::WebhookSink;

const SLACK_TOKEN: &str = "S1ackPathT0kenQwerty";
const WEBHOOK_PASS: &str = "W3bhookPassZxcvb";
const HMAC_KEY: &str = "Hm4cKeyAsdfgh";
const HEADER_TOKEN: &str = "H3aderT0kenPoiuy";
const AM_PASS: &str = "Am9assLkjhg";
const AM_KEY: &str = "AmApiKey8Mnbvc";
const SASL_PASS: &str = "Sas1PassWertz";
const RECEIVER_KEY: &str = "Rec3iverKeyYxcvb";
const LOG_SECRET: &str = "L0gLinePassUiop";

const SECRETS: [&str; 9] = [
    SLACK_TOKEN,
    WEBHOOK_PASS,
    HMAC_KEY,
    HEADER_TOKEN,
    AM_PASS,
    AM_KEY,
    SASL_PASS,
    RECEIVER_KEY,
    LOG_SECRET,
];

fn pipeline(dir: &std::path::Path) -> String {
    let file = |name: &str, value: &str| {
        let p = dir.join(name);
        std::fs::write(&p, format!("{value}\n")).unwrap();
        p.display().to_string()
    };
    format!(
        r#"cluster: leak-test
listen: 127.0.0.1:0
receiver:
  hmac_secret: {{env: FT_RECEIVER_KEY}}
sinks:
  - name: slack
    type: slack
    url: {{env: FT_SLACK_URL}}
  - name: hook
    type: webhook
    url: {{env: FT_HOOK_URL}}
    hmac_secret: {{file: {hmac}}}
    headers:
      Authorization: {{env: FT_HEADER}}
  - name: am
    type: alertmanager
    url: {{env: FT_AM_URL}}
    headers:
      X-Api-Key: {{file: {am_key}}}
  - name: kafka
    type: kafka
    brokers: 127.0.0.1:1
    security_protocol: sasl_plaintext
    sasl_mechanism: PLAIN
    sasl_username: {{env: FT_SASL_USER}}
    sasl_password: {{env: FT_SASL_PASS}}
    message_timeout: 2s
delivery:
  retry_initial: 100ms
  retry_max: 300ms
  shutdown_timeout: 3s
"#,
        hmac = file("hmac", HMAC_KEY),
        am_key = file("am-key", AM_KEY),
    )
}

/// Source-controller errors with a credential in them, enough to fire a finding.
fn input() -> String {
    (0..5)
        .map(|i| {
            serde_json::json!({
                "level": "error", "ts": format!("2026-03-02T10:0{i}:00.000Z"),
                "msg": "Reconciler error", "controller": "gitrepository",
                "controllerGroup": "source.toolkit.fluxcd.io", "controllerKind": "GitRepository",
                "GitRepository": {"name": "billing", "namespace": "payments"},
                "namespace": "payments", "name": "billing",
                "error": format!("failed to checkout and determine revision: unable to clone 'https://ci:{LOG_SECRET}@github.com/acme/billing.git': authentication required"),
            })
            .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn a_run_with_every_secret_configured_prints_none() {
    let dir = std::env::temp_dir().join(format!("fluxsight-secrets-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("pipeline.yaml");
    std::fs::write(&config, pipeline(&dir)).unwrap();
    let logs = dir.join("source-controller.log");
    std::fs::write(&logs, input()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        // Any free port, no health port: a fixed one may be taken (binding is fatal).
        .args(["run", "--no-kube", "--no-follow", "--audit"])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--health-listen",
            "none",
            "--config",
        ])
        .arg(&config)
        .arg("--input")
        .arg(&logs)
        .env("RUST_LOG", "debug")
        .env(
            "FT_SLACK_URL",
            format!("http://127.0.0.1:1/services/T0/B0/{SLACK_TOKEN}"),
        )
        .env(
            "FT_HOOK_URL",
            format!("http://ci:{WEBHOOK_PASS}@127.0.0.1:1/hook"),
        )
        .env("FT_HEADER", format!("Bearer {HEADER_TOKEN}"))
        .env("FT_AM_URL", format!("http://am:{AM_PASS}@127.0.0.1:1"))
        .env("FT_SASL_USER", "fluxsight")
        .env("FT_SASL_PASS", SASL_PASS)
        .env("FT_RECEIVER_KEY", RECEIVER_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Live mode runs until a signal: let the sinks fail and retry for a while first.
    std::thread::sleep(Duration::from_secs(4));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The run did the work the secrets could leak through.
    assert!(
        stdout.contains("git_auth_failure"),
        "no finding: {stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("delivery failed, retrying"),
        "no sink error logged: {stderr}"
    );
    for s in SECRETS {
        assert!(!stdout.contains(s), "{s} on stdout:\n{stdout}");
        assert!(!stderr.contains(s), "{s} on stderr:\n{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sink_debug_output_holds_no_secret() {
    std::env::set_var(
        "FT_DEBUG_SLACK",
        format!("https://hooks.slack.com/services/T0/B0/{SLACK_TOKEN}"),
    );
    let slack = SlackSink::new(&SlackConfig {
        name: "s".into(),
        url: Some(SecretRef::Env("FT_DEBUG_SLACK".into())),
        http: HttpEndpoint::default(),
        ..Default::default()
    })
    .unwrap();
    std::env::set_var("FT_DEBUG_HMAC", HMAC_KEY);
    std::env::set_var("FT_DEBUG_HEADER", HEADER_TOKEN);
    let hook = WebhookSink::new(&WebhookConfig {
        name: "w".into(),
        url: MaybeSecret::Plain(format!("https://hooks.example.com/in?token={WEBHOOK_PASS}")),
        format: Default::default(),
        hmac_secret: Some(SecretRef::Env("FT_DEBUG_HMAC".into())),
        max_batch: None,
        http: HttpEndpoint {
            headers: [(
                "Authorization".to_string(),
                fluxsight::sinks::config::HeaderValue::Secret(SecretRef::Env(
                    "FT_DEBUG_HEADER".into(),
                )),
            )]
            .into(),
            ..Default::default()
        },
    })
    .unwrap();
    let text = format!("{slack:?} {hook:?} {slack:#?} {hook:#?}");
    for s in SECRETS {
        assert!(!text.contains(s), "{s} in {text}");
    }
    assert!(
        text.contains("hooks.slack.com") && text.contains("hooks.example.com"),
        "{text}"
    );
}
