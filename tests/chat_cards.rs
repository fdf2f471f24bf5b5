//! Microsoft Teams and Google Chat messages: golden payloads checked against the
//! documented card schemas, escaping of hostile input, size and widget limits, and the
//! two sinks end to end (`fluxsight replay` posting to a local HTTP server).
//!
//! Goldens: `tests/golden/chat/<chat>/<case>.json`; regenerate after review with
//! `FLUXSIGHT_BLESS=1 cargo test --test chat_cards`. Blessing still validates every
//! payload against its schema (`tests/schemas/teams/…`, `tests/schemas/googlechat/…`,
//! hand-written from the documentation, see `tests/schemas/README.md`).

mod http_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fluxsight::correlate::{Finding, Status};
use fluxsight::record::{ObjectRef, Severity};
use fluxsight::render::{gchat, teams};
use fluxsight::sinks::config::{
    GoogleChatConfig, HttpEndpoint, SecretRef, SinkConfig, TeamsConfig,
};
use fluxsight::sinks::{self, Delivery, Group};
use http_support::{finding, run_worker, strings, Fault, Receiver};
use serde_json::Value;

const TEAMS_SCHEMA: &str = include_str!("schemas/teams/adaptive-card-1.5.subset.schema.json");
const GCHAT_SCHEMA: &str = include_str!("schemas/googlechat/cardsv2.subset.schema.json");

/// The two chats: name (golden folder), renderer, schema.
type Render = fn(&Delivery) -> Value;
const CHATS: [(&str, Render, &str); 2] = [
    ("teams", teams::message, TEAMS_SCHEMA),
    ("googlechat", gchat::message, GCHAT_SCHEMA),
];

fn validator(schema: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(schema).expect("schema is JSON");
    jsonschema::draft202012::new(&schema).expect("schema compiles")
}

fn schema_errors(v: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    v.iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// A firing finding with 60 impacted objects (more than any chat lists).
fn firing_many_impacted() -> Finding {
    let mut f = finding(
        1,
        "podinfo",
        "authentication required: Invalid username or token",
    );
    f.impacted = (0..60)
        .map(|i| ObjectRef::new("Kustomization", "team-a-prod", format!("app-{i:02}")))
        .collect();
    f.evidence.push(f.evidence[0].clone());
    f
}

fn resolved() -> Finding {
    let mut f = finding(2, "billing", "authentication required");
    f.status = Status::Resolved;
    f.severity = Severity::Critical;
    f
}

/// A route group of 25 findings, every fifth resolved.
fn group() -> Group {
    Group {
        route: "oncall".into(),
        key: "oncall/tenant=team-a".into(),
        labels: [("tenant".to_string(), "team-a".to_string())].into(),
        findings: (0..25)
            .map(|i| {
                let mut f = finding(i + 10, &format!("app-{i:02}"), "authentication required");
                if i % 5 == 4 {
                    f.status = Status::Resolved;
                }
                f
            })
            .collect(),
    }
}

fn cases() -> Vec<(&'static str, Delivery)> {
    vec![
        (
            "firing_many_impacted",
            Delivery::Finding(Box::new(firing_many_impacted())),
        ),
        ("resolved", Delivery::Finding(Box::new(resolved()))),
        ("group", Delivery::Group(Box::new(group()))),
    ]
}

fn golden_path(chat: &str, case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/chat/{chat}/{case}.json"))
}

#[test]
fn payloads_match_goldens_and_validate_against_the_documented_schemas() {
    let bless = std::env::var_os("FLUXSIGHT_BLESS").is_some();
    let mut problems = Vec::new();
    for (chat, render, schema) in CHATS {
        let v = validator(schema);
        for (case, d) in cases() {
            let got = render(&d);
            for e in schema_errors(&v, &got) {
                problems.push(format!("{chat}/{case}: schema: {e}"));
            }
            let path = golden_path(chat, case);
            let pretty = serde_json::to_string_pretty(&got).unwrap() + "\n";
            if bless {
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, pretty).unwrap();
                continue;
            }
            match fs::read_to_string(&path) {
                Ok(want) if serde_json::from_str::<Value>(&want).ok() == Some(got.clone()) => {}
                Ok(_) => problems.push(format!(
                    "{chat}/{case}: differs from {} (FLUXSIGHT_BLESS=1 to regenerate after review); got:\n{pretty}",
                    path.display()
                )),
                Err(e) => problems.push(format!("{chat}/{case}: {}: {e}", path.display())),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The schemas are not vacuous: a card with an unknown element, a misspelt property, or
/// a widget with two data fields fails.
#[test]
fn schemas_reject_what_the_documentation_does_not_allow() {
    let t = validator(TEAMS_SCHEMA);
    let mut card = teams::message(&Delivery::Finding(Box::new(resolved())));
    assert!(schema_errors(&t, &card).is_empty());
    card["attachments"][0]["content"]["body"][0]["type"] = "Markdown".into();
    assert!(!schema_errors(&t, &card).is_empty(), "unknown element type");
    let mut card = teams::message(&Delivery::Finding(Box::new(resolved())));
    card["attachments"][0]["content"]["body"][1]["wrapp"] = true.into();
    assert!(!schema_errors(&t, &card).is_empty(), "misspelt property");

    let g = validator(GCHAT_SCHEMA);
    let mut msg = gchat::message(&Delivery::Finding(Box::new(resolved())));
    assert!(schema_errors(&g, &msg).is_empty());
    msg["cardsV2"][0]["card"]["sections"][0]["widgets"][0]["decoratedText"] =
        serde_json::json!({"text": "x"});
    assert!(!schema_errors(&g, &msg).is_empty(), "two data fields");
}

#[test]
fn long_lists_are_capped_with_a_count_of_the_rest() {
    let d = Delivery::Finding(Box::new(firing_many_impacted()));
    let t = teams::message(&d).to_string();
    assert!(t.contains("Impacted (60)") && t.contains("+40 more"), "{t}");
    assert!(t.contains("app-19") && !t.contains("app-20"), "20 listed");
    let g = gchat::message(&d).to_string();
    assert!(g.contains("Impacted (60)") && g.contains("+40 more"), "{g}");
    let d = Delivery::Group(Box::new(group()));
    assert!(teams::message(&d).to_string().contains("+5 more"));
    assert!(gchat::message(&d).to_string().contains("+5 more"));
}

#[test]
fn status_and_severity_head_the_card() {
    let f = Delivery::Finding(Box::new(firing_many_impacted()));
    let r = Delivery::Finding(Box::new(resolved()));
    let head = |v: &Value| v["attachments"][0]["content"]["body"][0]["items"][0]["text"].clone();
    assert_eq!(head(&teams::message(&f)), "FIRING · ERROR");
    assert_eq!(head(&teams::message(&r)), "RESOLVED · CRITICAL");
    let g = gchat::message(&r);
    let first = g["cardsV2"][0]["card"]["sections"][0]["widgets"][0]["textParagraph"]["text"]
        .as_str()
        .unwrap();
    assert!(first.contains("RESOLVED · CRITICAL"), "{first}");
    assert_eq!(g["thread"]["threadKey"], "fs-test-0002");
}

const EVIL: &str = "see [click](https://evil.example) <https://evil.example|click> **bold** \
    _it_ <at>admin</at> <users/all> <a href=\"https://evil.example\">x</a> & `code` # h";

fn hostile() -> Vec<Delivery> {
    let long = "<&>[*]`".repeat(20_000 / 7);
    let mut f = finding(1, EVIL, EVIL);
    f.impacted = (0..500)
        .map(|i| ObjectRef::new("Kustomization", EVIL, format!("{long}{i}")))
        .collect();
    f.summary = long.clone();
    f.remediation = long.clone();
    f.evidence = (0..50).map(|_| f.evidence[0].clone()).collect();
    for e in &mut f.evidence {
        e.message = long.clone();
    }
    let g = Group {
        route: EVIL.into(),
        key: EVIL.into(),
        labels: [("tenant".to_string(), EVIL.to_string())].into(),
        findings: (0..400)
            .map(|i| {
                let mut f = finding(i, &format!("{EVIL}{long}"), &long);
                f.title = format!("{EVIL}{long}");
                f
            })
            .collect(),
    };
    let mut a = http_support::audit(3);
    a.message = format!("{EVIL}{long}");
    vec![
        Delivery::Finding(Box::new(f)),
        Delivery::Group(Box::new(g)),
        Delivery::Audit(Box::new(a)),
    ]
}

/// Teams: no markdown link, emphasis or tag can come from input; the only URL is the
/// runbook button's; the payload stays below Teams' limit.
#[test]
fn teams_hostile_input_is_inert_and_within_limits() {
    let v = validator(TEAMS_SCHEMA);
    for d in hostile() {
        let p = teams::message(&d);
        let bytes = serde_json::to_vec(&p).unwrap().len();
        assert!(bytes <= teams::MAX_PAYLOAD_BYTES, "{bytes} bytes");
        assert!(
            schema_errors(&v, &p).is_empty(),
            "{:?}",
            schema_errors(&v, &p)
        );
        let card = &p["attachments"][0]["content"];
        let mut texts = Vec::new();
        strings(&card["body"], &mut texts);
        for t in &texts {
            for bad in ["[", "]", "**", "<", ">", "`", "://"] {
                assert!(!t.contains(bad), "{bad:?} survived in {t}");
            }
        }
        if let Some(a) = card["actions"].as_array() {
            for act in a {
                let url = act["url"].as_str().unwrap();
                assert!(url.starts_with("https://github.com/fluxsight/"), "{url}");
            }
        }
    }
}

/// The tags the Google Chat renderer writes itself; any other `<` is input.
const OWN_TAGS: [&str; 9] = [
    "<b>",
    "</b>",
    "<i>",
    "</i>",
    "<code>",
    "</code>",
    "<br>",
    "<font color=",
    "</font>",
];

/// Google Chat: card HTML has no tag or link from input, the text fallback has no
/// `<…>` link or mention syntax, limits hold.
#[test]
fn googlechat_hostile_input_is_inert_and_within_limits() {
    let v = validator(GCHAT_SCHEMA);
    for d in hostile() {
        let p = gchat::message(&d);
        let bytes = serde_json::to_vec(&p).unwrap().len();
        assert!(bytes <= gchat::MAX_PAYLOAD_BYTES, "{bytes} bytes");
        assert!(gchat::widget_count(&p) <= gchat::MAX_WIDGETS);
        assert!(
            schema_errors(&v, &p).is_empty(),
            "{:?}",
            schema_errors(&v, &p)
        );
        let text = p["text"].as_str().unwrap();
        assert!(!text.contains('<') && !text.contains('*'), "{text}");
        let card = &p["cardsV2"][0]["card"];
        let mut texts = Vec::new();
        strings(&card["header"], &mut texts);
        for t in &texts {
            assert!(
                !t.contains('<') && !t.contains('>') && !t.contains("://"),
                "{t}"
            );
        }
        let mut texts = Vec::new();
        strings(&card["sections"], &mut texts);
        for t in &texts {
            let mut rest = t.as_str();
            while let Some(i) = rest.find('<') {
                rest = &rest[i..];
                assert!(
                    OWN_TAGS.iter().any(|tag| rest.starts_with(tag)),
                    "input tag in {t}"
                );
                rest = &rest[1..];
            }
            assert!(!t.contains("://") || t.starts_with("https://github.com/fluxsight/"));
            for (i, _) in t.match_indices('&') {
                let r = &t[i..];
                assert!(
                    r.starts_with("&amp;") || r.starts_with("&lt;") || r.starts_with("&gt;"),
                    "bare & in {t}"
                );
            }
        }
    }
}

fn teams_config(var: &str, url: &str) -> TeamsConfig {
    std::env::set_var(var, url);
    TeamsConfig {
        name: "teams".into(),
        url: SecretRef::Env(var.into()),
        repeat_interval: None,
        http: HttpEndpoint {
            min_interval: Some("10ms".into()),
            timeout: Some("2s".into()),
            ..Default::default()
        },
    }
}

/// Throttled (429 with Retry-After) then accepted with 202, as a Workflows webhook does;
/// a 400 is final and dead-lettered with the body, never with the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_sink_retries_429_and_dead_letters_400_without_the_url() {
    let rx = Receiver::start(None).await;
    rx.script([Fault::TooMany(1), Fault::Status(202, "")]);
    let cfg = teams_config(
        "FLUXSIGHT_TEST_TEAMS_URL_429",
        &rx.url("/workflows/x?sig=s3cr3t"),
    );
    let sink = sinks::teams::build(&cfg).unwrap();
    let d = Delivery::Finding(Box::new(resolved()));
    let stats = run_worker(sink, vec![d.clone()], None, Duration::from_secs(10)).await;
    let seen = rx.seen();
    assert_eq!(
        seen.iter().map(|s| s.status).collect::<Vec<_>>(),
        [429, 202]
    );
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_millis(950));
    assert_eq!(stats.sent, 1);
    assert_eq!(seen[1].json(), teams::message(&d));

    let rx = Receiver::start(None).await;
    rx.set_steady(Some(Fault::Status(400, "BadRequest: invalid card")));
    let dir = std::env::temp_dir().join(format!("fluxsight-teams-dl-{}", std::process::id()));
    let dl = dir.join("teams.jsonl");
    let cfg = teams_config(
        "FLUXSIGHT_TEST_TEAMS_URL_400",
        &rx.url("/workflows/x?sig=s3cr3t"),
    );
    let sink = sinks::teams::build(&cfg).unwrap();
    let stats = run_worker(sink, vec![d], Some(dl.clone()), Duration::from_secs(10)).await;
    assert_eq!(rx.seen().len(), 1, "not retried");
    assert_eq!(stats.dead_lettered, 1);
    let text = fs::read_to_string(&dl).unwrap();
    assert!(
        text.contains("http 400: BadRequest: invalid card"),
        "{text}"
    );
    assert!(
        !text.contains("s3cr3t"),
        "the webhook URL is a secret: {text}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

/// The SSRF guard applies: a cloud metadata address is refused at build, without
/// echoing the URL.
#[test]
fn chat_sinks_refuse_metadata_addresses() {
    let url = "http://169.254.169.254/latest?token=s3cr3t";
    let e =
        sinks::teams::sink(&teams_config("FLUXSIGHT_TEST_TEAMS_URL_SSRF", url), None).unwrap_err();
    assert!(
        e.contains("sink 'teams': url") && !e.contains("s3cr3t"),
        "{e}"
    );
    std::env::set_var("FLUXSIGHT_TEST_GCHAT_URL_SSRF", url);
    let cfg = GoogleChatConfig {
        name: "gchat".into(),
        url: SecretRef::Env("FLUXSIGHT_TEST_GCHAT_URL_SSRF".into()),
        repeat_interval: None,
        http: HttpEndpoint::default(),
    };
    let e = sinks::gchat::sink(&cfg, None).unwrap_err();
    assert!(
        e.contains("sink 'gchat': url") && !e.contains("s3cr3t"),
        "{e}"
    );
}

#[test]
fn config_accepts_teams_googlechat_and_the_gchat_alias() {
    for (ty, want) in [
        ("teams", "teams"),
        ("googlechat", "googlechat"),
        ("gchat", "googlechat"),
    ] {
        let c: SinkConfig =
            serde_saphyr::from_str(&format!("type: {ty}\nname: x\nurl: {{env: X}}\n"))
                .unwrap_or_else(|e| panic!("{ty}: {e}"));
        assert_eq!(c.type_name(), want);
        assert!(c.is_chat(), "{ty} is a chat sink");
    }
    // A plaintext URL parses to a value-less marker that validation refuses.
    let plain: SinkConfig =
        serde_saphyr::from_str("type: teams\nname: x\nurl: https://example.test/hook\n").unwrap();
    let fields = plain.secret_fields();
    assert_eq!(fields.len(), 1);
    let problem = fields[0].1.problem("sinks[0].url");
    assert!(
        problem
            .as_deref()
            .is_some_and(|p| p.contains("holds a secret")),
        "a plaintext webhook URL is refused: {problem:?}"
    );
    assert!(
        !format!("{plain:?}").contains("example.test"),
        "the value is dropped"
    );
}

fn golden_case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{name}"))
}

/// `fluxsight replay` with a Teams and a Google Chat sink posts every finding of a
/// capture to both, as valid cards; Google Chat posts carry the finding id as thread key
/// and the reply option in the URL, and the secret URLs appear in no output.
#[test]
fn replay_posts_findings_to_teams_and_google_chat() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (teams_rx, gchat_rx) =
        rt.block_on(async { (Receiver::start(None).await, Receiver::start(None).await) });
    teams_rx.set_steady(Some(Fault::Status(202, "")));
    let dir = std::env::temp_dir().join(format!("fluxsight-chat-e2e-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let pipeline = dir.join("pipeline.yaml");
    fs::write(
        &pipeline,
        "cluster: default\nsinks:\n  - type: teams\n    name: teams\n    url: {env: FLUXSIGHT_E2E_TEAMS_URL}\n    min_interval: 10ms\n  - type: gchat\n    name: gchat\n    url: {env: FLUXSIGHT_E2E_GCHAT_URL}\n    min_interval: 10ms\n",
    )
    .unwrap();
    let case = golden_case("git_auth_failure_fires");
    let teams_url = teams_rx.url("/workflows/abc/triggers/manual/paths/invoke?sig=teams-s3cr3t");
    let gchat_url = gchat_rx.url("/v1/spaces/AAAA/messages?key=k&token=gchat-s3cr3t");
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .args(["replay", "--config"])
        .arg(&pipeline)
        .arg(case.join("input.log"))
        .env("FLUXSIGHT_E2E_TEAMS_URL", &teams_url)
        .env("FLUXSIGHT_E2E_GCHAT_URL", &gchat_url)
        .output()
        .expect("run fluxsight replay");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed: {stderr}");
    for secret in ["teams-s3cr3t", "gchat-s3cr3t"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} printed"
        );
    }
    let expected: Vec<Value> = fs::read_to_string(case.join("expected.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["type"] == "finding")
        .collect();
    assert!(!expected.is_empty());
    let ids: Vec<&str> = expected.iter().map(|v| v["id"].as_str().unwrap()).collect();
    // The capture's one incident is emitted twice (count 3, then 5) at one severity and
    // never resolves: webhook chats coalesce the update, so one post per finding.
    let mut distinct = ids.clone();
    distinct.dedup();
    assert!(
        distinct.len() < ids.len(),
        "the capture updates its finding"
    );

    let tv = validator(TEAMS_SCHEMA);
    let teams_posts = teams_rx.accepted();
    assert_eq!(
        teams_posts.len(),
        distinct.len(),
        "one Teams card per finding"
    );
    for p in &teams_posts {
        let body = p.json();
        assert!(schema_errors(&tv, &body).is_empty(), "{body}");
        assert!(p.uri.ends_with("sig=teams-s3cr3t"), "{}", p.uri);
        let footer = body.to_string();
        assert!(ids.iter().any(|id| footer.contains(id)), "{footer}");
    }

    let gv = validator(GCHAT_SCHEMA);
    let gchat_posts = gchat_rx.accepted();
    assert_eq!(
        gchat_posts.len(),
        distinct.len(),
        "one Google Chat message per finding"
    );
    for (p, id) in gchat_posts.iter().zip(&distinct) {
        let body = p.json();
        assert!(schema_errors(&gv, &body).is_empty(), "{body}");
        assert_eq!(body["thread"]["threadKey"], *id, "one thread per finding");
        assert!(
            p.uri.contains("token=gchat-s3cr3t")
                && p.uri
                    .ends_with("&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"),
            "{}",
            p.uri
        );
    }
    drop(rt);
    fs::remove_dir_all(&dir).unwrap();
}
