//! No credential reaches any sink: secret-bearing log lines, Kubernetes Events and Flux
//! objects go through the whole pipeline (decode → classify → correlate), and every
//! output a sink can send is rendered (classify rows, native / OCSF / ECS / text findings,
//! audit records, Slack messages for findings, groups and audit records, Alertmanager
//! alerts, webhook bodies in every format including CloudEvents, Kafka keys, `ce_*`
//! headers and values). The secret's bytes must appear in none of them, for each of the
//! credential shapes below, generated fresh for every case.

use std::collections::BTreeMap;

use fluxsight::classify::Classifier;
use fluxsight::correlate::{AuditRecord, Correlator, Finding, Settings};
use fluxsight::parse::time::format_rfc3339_ms;
use fluxsight::parse::LineDecoder;
use fluxsight::render::{finding as render, row, slack};
use fluxsight::signal::{SignalProducer, DEFAULT_HEARTBEAT_MS};
use fluxsight::sinks::alertmanager::AlertMapper;
use fluxsight::sinks::body::{items, render_item};
use fluxsight::sinks::config::BodyFormat;
use fluxsight::sinks::kafka::signal_record;
use fluxsight::sinks::{kafka, Delivery, Group};
use proptest::prelude::*;

const T0: i64 = 1_780_000_000_000;

/// A token body with a digit, alphanumeric only (its bytes are the same in every
/// output encoding: JSON, mrkdwn, headers).
fn body(min: usize, max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9]{{{},{}}}", min - 1, max - 1))
        .unwrap()
        .prop_map(|s| format!("9{s}"))
}

fn upper(len: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Z0-9]{{{}}}", len - 1))
        .unwrap()
        .prop_map(|s| format!("9{s}"))
}

/// (text carrying the credential, the secret part that must never be output).
fn credential() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        // URLs with credentials.
        body(8, 30).prop_map(|p| (format!("https://deploy:{p}@github.com/org/repo.git"), p)),
        body(20, 40).prop_map(|t| (format!("https://{t}@gitlab.com/org/repo.git"), t)),
        body(8, 30).prop_map(|p| (format!("https://registry.example.com/token?service=x&password={p}"), p)),
        body(20, 40).prop_map(|p| (format!("https://api.example.com/v1?access_token={p}&page=2"), p)),
        // Headers.
        body(20, 60).prop_map(|t| (format!("Authorization: Bearer {t}"), t)),
        body(12, 40).prop_map(|t| (format!("Authorization: Basic {t}=="), t)),
        // JSON fields.
        body(6, 30).prop_map(|t| (format!("{{\"password\":\"{t}\",\"user\":\"bob\"}}"), t)),
        body(6, 30).prop_map(|t| (format!("{{\"client_secret\": \"{t}\"}}"), t)),
        // PEM blocks.
        body(16, 64).prop_map(|t| (
            format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{t}\n{t}\n-----END OPENSSH PRIVATE KEY-----"),
            t
        )),
        // Cloud keys.
        upper(16).prop_map(|t| (format!("AKIA{t}"), t)),
        body(40, 40).prop_map(|t| (format!("aws_secret_access_key = {t}"), t)),
        body(40, 64).prop_map(|t| (
            format!("{{\"type\":\"service_account\",\"project_id\":\"p\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\n{t}\\n-----END PRIVATE KEY-----\\n\"}}"),
            t
        )),
        body(40, 86).prop_map(|t| (
            format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={t}==;EndpointSuffix=core.windows.net"),
            t
        )),
        body(30, 44).prop_map(|t| (
            format!("https://acct.blob.core.windows.net/flux?sv=2022-11-02&sr=c&sig={t}%3D&se=2026-01-01"),
            t
        )),
        body(35, 35).prop_map(|t| (format!("AIza{t}"), t)),
        // Forges.
        (prop::sample::select(vec!["ghp_", "gho_", "ghs_"]), body(36, 36))
            .prop_map(|(p, t)| (format!("{p}{t}"), t)),
        body(60, 82).prop_map(|t| (format!("github_pat_{t}"), t)),
        body(20, 20).prop_map(|t| (format!("glpat-{t}"), t)),
        // Slack.
        body(24, 40).prop_map(|t| (format!("xoxb-{t}"), t)),
        body(24, 24).prop_map(|t| (
            format!("https://hooks.slack.com/services/T0123ABCD/B0123ABCD/{t}"),
            t
        )),
        // JWTs, kubeconfig.
        (body(10, 30), body(10, 40), body(20, 43))
            .prop_map(|(a, b, c)| (format!("eyJ{a}.eyJ{b}.{c}"), format!("{b}.{c}"))),
        body(40, 80).prop_map(|t| (format!("client-key-data: LS0t{t}"), t)),
        body(20, 60).prop_map(|t| (format!("users:\n- name: ci\n  user:\n    token: {t}"), t)),
        // age / SOPS.
        upper(58).prop_map(|t| (format!("AGE-SECRET-KEY-1{t}"), t)),
        // API-key headers, Stripe, Azure and AWS shapes (issue 19).
        prop_oneof![
            (prop::sample::select(API_KEY_FORMS.to_vec()), body(8, 40))
                .prop_map(|(form, t)| (form.replace(SECRET, &t), t)),
            (prop::sample::select(STRIPE_PREFIXES.to_vec()), body(24, 99))
                .prop_map(|(p, t)| (format!("charge failed for key {p}{t}"), t)),
            (prop::sample::select(CLOUD_FORMS.to_vec()), body(30, 64))
                .prop_map(|(form, t)| (form.replace(SECRET, &t), t)),
            (upper(16), body(8, 8)).prop_map(|(k, d)| (
                format!("https://b.s3.amazonaws.com/o?X-Amz-Credential=ASIA{k}%2F{d}%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=1"),
                format!("{k}%2F{d}")
            )),
        ],
    ]
}

/// Where [`API_KEY_FORMS`] and [`CLOUD_FORMS`] put the generated secret.
const SECRET: &str = "{SECRET}";

/// `X-Api-Key` / `api-key` headers in any case, `:` or `=`, quoted or not.
const API_KEY_FORMS: &[&str] = &[
    "X-Api-Key: {SECRET}",
    "x-api-key={SECRET}",
    "X-API-KEY:{SECRET}",
    "api-key: {SECRET}",
    "apikey = {SECRET}",
    "X-Api-Key: \"{SECRET}\"",
    "{\"x-api-key\": \"{SECRET}\"}",
    "{'X-Api-Key': '{SECRET}'}",
    "header map[Accept:[*/*] X-Api-Key:[{SECRET}]]",
];

const STRIPE_PREFIXES: &[&str] = &["sk_live_", "sk_test_", "rk_live_", "pk_live_"];

/// Azure and AWS credential shapes beyond the ones listed above.
const CLOUD_FORMS: &[&str] = &[
    "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey={SECRET}=",
    "Ocp-Apim-Subscription-Key: {SECRET}",
    "aws_secret_access_key={SECRET}",
    "https://b.s3.amazonaws.com/o?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={SECRET}&X-Amz-Date=1",
    "https://b.s3.amazonaws.com/o?X-Amz-Security-Token={SECRET}&X-Amz-Date=1",
    "X-Amz-Security-Token: {SECRET}",
];

/// Flux output that carries `cred` in every place a tenant's text can reach: a
/// source-controller error log line (repeated until git_auth_failure fires), a Warning
/// Event, the GitRepository's Ready condition, and its `spec.url` when it is a URL.
fn input(cred: &str) -> Vec<String> {
    let url = if cred.starts_with("https://") {
        cred.to_string()
    } else {
        "https://github.com/acme/billing.git".into()
    };
    let failure = format!(
        "failed to checkout and determine revision: unable to clone '{url}': authentication required: {cred}"
    );
    let mut lines = vec![serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "billing", "namespace": "payments", "generation": 1},
        "spec": {"interval": "1m0s", "url": url, "ref": {"branch": "main"}},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "GitOperationFailed",
            "message": failure, "lastTransitionTime": format_rfc3339_ms(T0)}]},
    })
    .to_string()];
    for i in 0..6 {
        let ts = format_rfc3339_ms(T0 + i * 60_000);
        lines.push(
            serde_json::json!({
                "level": "error", "ts": ts, "msg": "Reconciler error",
                "controller": "gitrepository", "controllerGroup": "source.toolkit.fluxcd.io",
                "controllerKind": "GitRepository",
                "GitRepository": {"name": "billing", "namespace": "payments"},
                "namespace": "payments", "name": "billing", "reconcileID": format!("r{i}"),
                "error": failure,
            })
            .to_string(),
        );
        lines.push(
            serde_json::json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": format!("billing.{i}"), "namespace": "payments"},
                "involvedObject": {"kind": "GitRepository", "namespace": "payments", "name": "billing",
                    "apiVersion": "source.toolkit.fluxcd.io/v1"},
                "reason": "GitOperationFailed", "message": failure, "type": "Warning",
                "lastTimestamp": ts, "source": {"component": "source-controller"},
            })
            .to_string(),
        );
    }
    lines
}

struct Outputs {
    findings: Vec<Finding>,
    audits: Vec<AuditRecord>,
    /// Every rendered byte a sink could send.
    text: String,
}

fn classifier() -> &'static Classifier {
    static C: std::sync::OnceLock<Classifier> = std::sync::OnceLock::new();
    C.get_or_init(Classifier::builtin)
}

fn run(lines: &[String]) -> Outputs {
    let classifier = classifier();
    let mut decoder = LineDecoder::new(None);
    let mut correlator = Correlator::new(Settings::default());
    let mut text = String::new();
    let mut findings = Vec::new();
    let mut audits = Vec::new();
    // Signals (docs/fleet.md) carry every record to `fluxsight central`.
    let mut signals = SignalProducer::new("c", DEFAULT_HEARTBEAT_MS);
    for (n, line) in lines.iter().enumerate() {
        for mut rec in decoder.decode(line.as_bytes()) {
            classifier.classify(&mut rec);
            text.push_str(&row::render_row("in.log", n as u64 + 1, &rec));
            let k = signal_record(&signals.record(&rec, correlator.now()), "signals");
            text.push_str(&k.key);
            text.push_str(&String::from_utf8_lossy(&k.value));
            for (_, v) in &k.headers {
                text.push_str(v);
            }
            correlator.on_record(&rec);
        }
        collect(correlator.drain(), &mut findings, &mut audits);
    }
    correlator.finish();
    collect(correlator.drain(), &mut findings, &mut audits);
    for f in &findings {
        render_finding(f, &mut text);
    }
    let group = Delivery::Group(Box::new(Group {
        route: "ops".into(),
        key: "ops/pattern=git_auth_failure".into(),
        labels: BTreeMap::from([("pattern".to_string(), "git_auth_failure".to_string())]),
        findings: findings.clone(),
    }));
    render_delivery(&group, &mut text);
    text.push_str(&render::text_report(&findings));
    for a in &audits {
        render_delivery(&Delivery::Audit(Box::new(a.clone())), &mut text);
    }
    Outputs {
        findings,
        audits,
        text,
    }
}

fn collect(
    out: Vec<fluxsight::correlate::Output>,
    findings: &mut Vec<Finding>,
    audits: &mut Vec<AuditRecord>,
) {
    for o in out {
        match o {
            fluxsight::correlate::Output::Finding(f) => findings.push(*f),
            fluxsight::correlate::Output::Audit(a) => audits.push(*a),
        }
    }
}

fn render_finding(f: &Finding, text: &mut String) {
    for v in [render::native(f), render::ocsf(f, true), render::ecs(f)] {
        text.push_str(&v.to_string());
    }
    text.push_str(&render::text_line(f));
    let alert = AlertMapper::default().alert(f, T0 + 3_600_000);
    text.push_str(&serde_json::to_string(&alert).unwrap());
    render_delivery(&Delivery::Finding(Box::new(f.clone())), text);
}

/// What the Slack, webhook and Kafka sinks send for one delivery.
fn render_delivery(d: &Delivery, text: &mut String) {
    text.push_str(&slack::message(d).to_string());
    for item in items(d) {
        for fmt in [
            BodyFormat::Native,
            BodyFormat::Ocsf,
            BodyFormat::Ecs,
            BodyFormat::Cloudevents,
        ] {
            text.push_str(&render_item(&item, fmt).to_string());
        }
    }
    for fmt in [BodyFormat::Ocsf, BodyFormat::Ecs, BodyFormat::Native] {
        for r in kafka::records(d, fmt, "findings", "audit") {
            text.push_str(&r.key);
            for (k, v) in &r.headers {
                text.push_str(&format!("{k}={v}\n"));
            }
            text.push_str(&String::from_utf8_lossy(&r.value));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn no_credential_reaches_any_sink((cred, secret) in credential()) {
        let out = run(&input(&cred));
        prop_assert!(
            out.findings.iter().any(|f| f.pattern == "git_auth_failure"),
            "the pipeline must produce the finding the secret could leak into"
        );
        prop_assert!(
            out.text.contains("[REDACTED]"),
            "the credential reached the outputs and was redacted"
        );
        prop_assert!(
            !out.text.contains(&secret),
            "secret {} of {:?} leaked: …{}…",
            secret,
            cred,
            out.text
                .find(&secret)
                .map(|i| &out.text[i.saturating_sub(120)..(i + secret.len() + 40).min(out.text.len())])
                .unwrap_or("")
        );
        let _ = out.audits;
    }
}

/// Each issue-19 shape once, with a fixed secret, through the whole pipeline: the
/// property above samples shapes, this makes sure none is skipped.
#[test]
fn every_new_shape_is_redacted_end_to_end() {
    let secret = "9Zq4Wv7Xk2Lm8Np3Rs6Tu1Vw5Yx0Ab";
    let mut shapes: Vec<String> = API_KEY_FORMS
        .iter()
        .chain(CLOUD_FORMS)
        .map(|f| f.replace(SECRET, secret))
        .collect();
    shapes.extend(
        STRIPE_PREFIXES
            .iter()
            .map(|p| format!("stripe {p}{secret}")),
    );
    for cred in shapes {
        let out = run(&input(&cred));
        assert!(
            out.findings.iter().any(|f| f.pattern == "git_auth_failure"),
            "no finding for {cred:?}"
        );
        assert!(!out.text.contains(secret), "{cred:?} leaked");
        assert!(
            !out.text.contains("[REDACTED]]") || cred.contains("map["),
            "stray bracket for {cred:?}"
        );
    }
}

/// Renderers redact again (the last stage before a sink): a finding or audit record
/// built with raw credentials, as a future detector bug might, still leaks nothing.
#[test]
fn renderers_redact_what_reaches_them_unredacted() {
    let secret = "9hunter2hunter2hunter2";
    let cred = format!("https://ci:{secret}@git.example.com/x password={secret}");
    let mut out = run(&input("authentication required"));
    let mut f = out.findings.pop().expect("a finding");
    f.summary = cred.clone();
    f.title = cred.clone();
    f.remediation = cred.clone();
    if let Some(e) = f.evidence.first_mut() {
        e.message = cred.clone();
    }
    let mut text = String::new();
    render_finding(&f, &mut text);
    assert!(!text.contains(secret), "{text}");
    let audit = AuditRecord {
        message: cred.clone(),
        source_url: Some(cred.clone()),
        ..out.audits.pop().unwrap_or_else(|| sample_audit(&f))
    };
    let mut text = String::new();
    render_delivery(&Delivery::Audit(Box::new(audit)), &mut text);
    assert!(!text.contains(secret), "{text}");
}

fn sample_audit(f: &Finding) -> AuditRecord {
    AuditRecord {
        ts: T0,
        cluster: "c".into(),
        controller: Some("kustomize-controller".into()),
        action: "revision_applied".into(),
        subject: f.subject.clone(),
        tenant: f.tenant.clone(),
        source: Some(f.subject.clone()),
        source_url: None,
        revision: Some("main@sha1:8604bd847b2769c6c1e8111cc8209b17abc67e81".into()),
        commit: Some("8604bd847b2769c6c1e8111cc8209b17abc67e81".into()),
        changes: Default::default(),
        outcome: "success".into(),
        message: String::new(),
    }
}
