//! One incident, one thread: the Slack sink against a local Slack Web API double
//! (records `chat.postMessage` / `chat.update`, answers with a `ts`) and, for
//! incoming-webhook mode, against the recording HTTP receiver.
//!
//! - bot token: a finding's updates are edits or threaded replies of ONE `ts`; replies
//!   only when the severity rises, the blast radius grows by the step, or it resolves;
//! - restart: the binary run twice on one state directory keeps the same thread;
//! - Slack API errors come with HTTP 200: `ratelimited` is retried after `Retry-After`,
//!   `channel_not_found` is dead-lettered;
//! - incoming webhook: a capture with one growing incident gives one message for its
//!   first firing and one for its resolution (coalescing), and a severity change posts.

mod common;
mod http_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use common::{tempdir, BIN};
use fluxsight::correlate::Status;
use fluxsight::record::{ObjectRef, Severity};
use fluxsight::sinks::chat::StepSpec;
use fluxsight::sinks::config::{validate, HttpEndpoint, SecretRef, SinkConfig, SlackConfig};
use fluxsight::sinks::{slack, Delivery};
use http_support::{finding, run_worker, Receiver};
use serde_json::{json, Value};

const TOKEN: &str = "xoxb-test-token-do-not-print";
const CHANNEL_ID: &str = "C0INCIDENTS";

/// One Web API call as the double saw it.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    body: Value,
    auth: Option<String>,
    /// `ok` of the answer.
    ok: bool,
    at: Instant,
}

#[derive(Default)]
struct ApiState {
    calls: Mutex<Vec<Call>>,
    /// Errors answered (with HTTP 200, as Slack does) to the next calls, in order.
    errors: Mutex<Vec<&'static str>>,
    next_ts: Mutex<u64>,
}

/// A Slack Web API double on 127.0.0.1: `POST /api/<method>`.
struct SlackApi {
    addr: std::net::SocketAddr,
    state: Arc<ApiState>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl SlackApi {
    async fn start() -> SlackApi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ApiState::default());
        let app = axum::Router::new()
            .route("/api/{method}", axum::routing::post(api))
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        SlackApi {
            addr,
            state,
            _stop: tx,
        }
    }

    fn base(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    /// Accepted calls of `method`.
    fn ok(&self, method: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.ok && c.method == method)
            .collect()
    }

    fn fail_next(&self, errors: &[&'static str]) {
        self.state.errors.lock().unwrap().extend(errors);
    }
}

async fn api(
    State(st): State<Arc<ApiState>>,
    UrlPath(method): UrlPath<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let error = {
        let mut e = st.errors.lock().unwrap();
        (!e.is_empty()).then(|| e.remove(0))
    };
    let mut call = Call {
        method: method.clone(),
        body: body.clone(),
        auth: auth.clone(),
        ok: false,
        at: Instant::now(),
    };
    let answer = if auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        json!({"ok": false, "error": "invalid_auth"})
    } else if let Some(err) = error {
        json!({"ok": false, "error": err})
    } else {
        match method.as_str() {
            "chat.postMessage" => {
                let mut n = st.next_ts.lock().unwrap();
                *n += 1;
                call.ok = true;
                json!({"ok": true, "channel": CHANNEL_ID, "ts": format!("1767268800.{:06}", *n)})
            }
            "chat.update" => {
                call.ok = true;
                json!({"ok": true, "channel": body["channel"], "ts": body["ts"]})
            }
            _ => json!({"ok": false, "error": "unknown_method"}),
        }
    };
    st.calls.lock().unwrap().push(call);
    let retry = [("retry-after", "1")];
    (StatusCode::OK, retry, Json(answer)).into_response()
}

/// A bot-token Slack config; the token comes from a test-unique environment variable.
fn bot_config(var: &str, api_url: &str, step: Option<&str>) -> SlackConfig {
    std::env::set_var(var, TOKEN);
    SlackConfig {
        name: "slack".into(),
        token: Some(SecretRef::Env(var.into())),
        channel: Some("#incidents".into()),
        api_url: Some(api_url.into()),
        thread_step: step.map(|s| StepSpec::Text(s.into())),
        http: HttpEndpoint {
            min_interval: Some("10ms".into()),
            timeout: Some("2s".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A finding of `impacted` objects at minute `minute`.
fn update(minute: i64, severity: Severity, impacted: usize, status: Status) -> Delivery {
    let mut f = finding(1, "fleet", "dial tcp: no such host");
    f.severity = severity;
    f.status = status;
    f.last_seen += minute * 60_000;
    f.impacted = (0..impacted)
        .map(|i| ObjectRef::new("Kustomization", "team-a-prod", format!("app-{i}")))
        .collect();
    Delivery::Finding(Box::new(f))
}

fn text_of(c: &Call) -> String {
    c.body.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_token_updates_are_edits_or_replies_of_one_ts() {
    let api = SlackApi::start().await;
    let cfg = bot_config("FLUXSIGHT_TEST_SLACK_TOKEN_THREAD", &api.base(), None);
    let sink = slack::build(&cfg).unwrap();
    let updates = vec![
        update(0, Severity::Warning, 3, Status::Firing),
        // +1 of 3: an edit only.
        update(1, Severity::Warning, 4, Status::Firing),
        // The same update again (at-least-once redelivery): nothing.
        update(1, Severity::Warning, 4, Status::Firing),
        // 3 → 5 since the last notification: ≥ 50%, a reply.
        update(2, Severity::Warning, 5, Status::Firing),
        // Severity rose: a reply.
        update(3, Severity::Critical, 5, Status::Firing),
        update(4, Severity::Critical, 6, Status::Firing),
        update(45, Severity::Critical, 6, Status::Resolved),
    ];
    let stats = run_worker(sink, updates, None, Duration::from_secs(15)).await;
    assert_eq!(stats.sent, 7);
    let posts = api.ok("chat.postMessage");
    let edits = api.ok("chat.update");
    let roots: Vec<&Call> = posts
        .iter()
        .filter(|c| c.body.get("thread_ts").is_none())
        .collect();
    assert_eq!(roots.len(), 1, "one top-level message: {posts:#?}");
    assert_eq!(roots[0].body["channel"], "#incidents");
    let ts = "1767268800.000001";
    let replies: Vec<&Call> = posts
        .iter()
        .filter(|c| c.body.get("thread_ts").is_some())
        .collect();
    assert_eq!(
        replies.len(),
        3,
        "radius grew, severity rose, resolved: {replies:#?}"
    );
    for r in &replies {
        assert_eq!(r.body["thread_ts"], ts, "replies in the incident's thread");
        assert_eq!(
            r.body["channel"], CHANNEL_ID,
            "the channel id Slack returned"
        );
    }
    assert!(text_of(replies[0]).contains("Blast radius grew from 3 to 5"));
    assert!(text_of(replies[1]).contains("Severity rose from warning to critical"));
    assert!(text_of(replies[2]).contains("Resolved"));
    // Every other update edits the same message: 4, 5, critical, 6, resolved.
    assert_eq!(edits.len(), 5, "{edits:#?}");
    for e in &edits {
        assert_eq!(e.body["ts"], ts);
        assert_eq!(e.body["channel"], CHANNEL_ID);
    }
    let last = text_of(edits.last().unwrap());
    assert!(
        last.contains("Resolved: "),
        "the header says resolved: {last}"
    );
    assert!(api.calls().iter().all(|c| c.ok), "{:#?}", api.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_with_http_200_are_retried_or_dead_lettered() {
    let api = SlackApi::start().await;
    api.fail_next(&["ratelimited"]);
    let cfg = bot_config("FLUXSIGHT_TEST_SLACK_TOKEN_RATE", &api.base(), None);
    let stats = run_worker(
        slack::build(&cfg).unwrap(),
        vec![update(0, Severity::Error, 1, Status::Firing)],
        None,
        Duration::from_secs(10),
    )
    .await;
    let calls = api.calls();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(!calls[0].ok && calls[1].ok);
    let gap = calls[1].at.duration_since(calls[0].at);
    assert!(
        gap >= Duration::from_millis(950),
        "Retry-After: 1 honoured: {gap:?}"
    );
    assert_eq!((stats.sent, stats.retried), (1, 1));

    let api = SlackApi::start().await;
    api.fail_next(&["channel_not_found"]);
    let dir = tempdir("slack-threading-dl");
    let dl = dir.join("slack.jsonl");
    let cfg = bot_config("FLUXSIGHT_TEST_SLACK_TOKEN_404", &api.base(), None);
    let stats = run_worker(
        slack::build(&cfg).unwrap(),
        vec![update(0, Severity::Error, 1, Status::Firing)],
        Some(dl.clone()),
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(api.calls().len(), 1, "not retried");
    assert_eq!(stats.dead_lettered, 1);
    let text = std::fs::read_to_string(&dl).unwrap();
    assert!(
        text.contains("chat.postMessage: channel_not_found"),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "the token is a secret: {text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_cannot_be_edited_is_posted_anew_and_threading_follows_it() {
    let api = SlackApi::start().await;
    let cfg = bot_config("FLUXSIGHT_TEST_SLACK_TOKEN_GONE", &api.base(), Some("1"));
    let dir = tempdir("slack-threading-gone");
    let sink = slack::build_with_state(&cfg, Some(&dir)).unwrap();
    run_worker(
        sink,
        vec![update(0, Severity::Warning, 1, Status::Firing)],
        None,
        Duration::from_secs(10),
    )
    .await;
    // Someone deleted the message.
    api.fail_next(&["message_not_found"]);
    let sink = slack::build_with_state(&cfg, Some(&dir)).unwrap();
    run_worker(
        sink,
        vec![
            update(1, Severity::Warning, 1, Status::Firing),
            update(2, Severity::Warning, 2, Status::Firing),
        ],
        None,
        Duration::from_secs(10),
    )
    .await;
    let posts = api.ok("chat.postMessage");
    assert_eq!(posts.len(), 3, "{posts:#?}");
    assert!(posts[1].body.get("thread_ts").is_none(), "posted anew");
    assert_eq!(posts[2].body["thread_ts"], "1767268800.000002");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- the binary, twice on one state directory ----

/// Lines of the golden capture with one network incident: 3, then 4, then 5 tenants
/// failing, then recovered (a warning throughout).
fn host_outage() -> Vec<String> {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/host_outage_recovers/input.log");
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn pipeline(dir: &Path, sink: &str) -> PathBuf {
    let p = dir.join("pipeline.yaml");
    std::fs::write(
        &p,
        format!(
            "cluster: test\nsinks:\n{sink}delivery:\n  state_dir: {}\n  retry_initial: 50ms\n  retry_max: 500ms\n  shutdown_timeout: 20s\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    p
}

fn fluxsight(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run fluxsight")
}

async fn replay(config: &Path, input: &Path, env: &[(&str, &str)]) -> String {
    let (c, i) = (config.display().to_string(), input.display().to_string());
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        fluxsight(&["replay", "--config", &c, &i], &env)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "replay failed: {stderr}");
    assert!(!stderr.contains(TOKEN), "token printed: {stderr}");
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_keeps_the_thread() {
    let api = SlackApi::start().await;
    let dir = tempdir("slack-threading-restart");
    let sink = format!(
        "  - name: chat\n    type: slack\n    token: {{env: FT_THREAD_TOKEN}}\n    channel: '#incidents'\n    api_url: {}\n    thread_step: 2\n    min_interval: 10ms\n    timeout: 2s\n",
        api.base()
    );
    let config = pipeline(&dir, &sink);
    let env = [("FT_THREAD_TOKEN", TOKEN)];
    let lines = host_outage();
    // Part 1 ends once the incident has fired; part 2 grows and resolves it.
    let cut = lines
        .iter()
        .position(|l| l.contains("2025-06-02T10:05:12"))
        .expect("the capture's fourth failure");
    let (part1, part2) = (dir.join("part1.log"), dir.join("part2.log"));
    std::fs::write(&part1, lines[..cut].join("\n") + "\n").unwrap();
    std::fs::write(&part2, lines[cut..].join("\n") + "\n").unwrap();

    replay(&config, &part1, &env).await;
    let first = api.ok("chat.postMessage");
    assert_eq!(first.len(), 1, "the first firing is posted: {first:#?}");
    // The double numbers its messages: the first is the incident's.
    let ts = "1767268800.000001";
    let state = dir.join("state/chat/chat.json");
    assert!(state.exists(), "the thread is saved in the state directory");

    replay(&config, &part2, &env).await;
    let posts = api.ok("chat.postMessage");
    let roots: Vec<&Call> = posts
        .iter()
        .filter(|c| c.body.get("thread_ts").is_none())
        .collect();
    let replies: Vec<&Call> = posts
        .iter()
        .filter(|c| c.body.get("thread_ts").is_some())
        .collect();
    let edits = api.ok("chat.update");
    eprintln!(
        "after the restart: {} roots, {} replies, {} edits",
        roots.len(),
        replies.len(),
        edits.len()
    );
    assert_eq!(roots.len(), 1, "no second top-level message: {roots:#?}");
    assert!(!edits.is_empty(), "updates edit the message");
    for e in &edits {
        assert_eq!(e.body["ts"], ts, "{e:?}");
    }
    assert!(!replies.is_empty(), "growth and resolution reply");
    for r in &replies {
        assert_eq!(r.body["thread_ts"], ts, "{r:?}");
    }
    assert!(
        replies.iter().any(|r| text_of(r).contains("Resolved")),
        "{replies:#?}"
    );
    assert!(api
        .calls()
        .iter()
        .all(|c| c.auth.as_deref() == Some(&format!("Bearer {TOKEN}"))));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_webhook_posts_first_firing_and_resolution_only() {
    let rx = Receiver::start(None).await;
    let dir = tempdir("slack-threading-webhook");
    let sink = "  - name: chat\n    type: slack\n    url: {env: FT_THREAD_HOOK}\n    min_interval: 10ms\n    timeout: 2s\n";
    let config = pipeline(&dir, sink);
    let input = dir.join("input.log");
    std::fs::write(&input, host_outage().join("\n") + "\n").unwrap();
    let url = rx.url("/services/T/B/hook-secret");
    replay(&config, &input, &[("FT_THREAD_HOOK", &url)]).await;
    let seen = rx.accepted();
    let texts: Vec<String> = seen
        .iter()
        .map(|s| s.json()["text"].as_str().unwrap_or("").to_string())
        .collect();
    eprintln!("webhook messages: {texts:#?}");
    // Updates 3 → 4 → 5 failing are coalesced: the first firing, then the resolution.
    let degradation: Vec<&String> = texts
        .iter()
        .filter(|t| t.to_lowercase().contains("network") || t.contains("degrad"))
        .collect();
    assert_eq!(
        texts.len(),
        2,
        "one message per finding plus its resolution: {texts:#?}"
    );
    assert_eq!(degradation.len(), 2, "{texts:#?}");
    assert!(!texts[0].contains("resolved"), "{}", texts[0]);
    assert!(texts[1].contains("resolved"), "{}", texts[1]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_webhook_posts_severity_changes() {
    let rx = Receiver::start(None).await;
    std::env::set_var("FLUXSIGHT_TEST_SLACK_HOOK_SEV", rx.url("/services/T/B/x"));
    let cfg = SlackConfig {
        name: "slack".into(),
        url: Some(SecretRef::Env("FLUXSIGHT_TEST_SLACK_HOOK_SEV".into())),
        http: HttpEndpoint {
            min_interval: Some("10ms".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let updates = vec![
        update(0, Severity::Warning, 1, Status::Firing),
        update(1, Severity::Warning, 9, Status::Firing),
        update(2, Severity::Critical, 9, Status::Firing),
        update(3, Severity::Critical, 12, Status::Firing),
        update(9, Severity::Critical, 12, Status::Resolved),
    ];
    let stats = run_worker(
        slack::build(&cfg).unwrap(),
        updates,
        None,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(stats.sent, 5, "every update acknowledged");
    let texts: Vec<String> = rx
        .accepted()
        .iter()
        .map(|s| s.json()["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert!(texts[0].starts_with("[WARNING]"), "{texts:?}");
    assert!(texts[1].starts_with("[CRITICAL]"), "{texts:?}");
    assert!(texts[2].contains("resolved"), "{texts:?}");
}

#[test]
fn exactly_one_of_url_and_token() {
    let check = |c: SlackConfig| -> Vec<String> {
        match validate(vec![SinkConfig::Slack(c)], vec![], None, "p.yaml", "") {
            Ok(_) => vec![],
            Err(es) => es.iter().map(|e| e.to_string()).collect(),
        }
    };
    let token = || Some(SecretRef::Env("T".into()));
    let url = || Some(SecretRef::Env("U".into()));
    let both = check(SlackConfig {
        name: "s".into(),
        url: url(),
        token: token(),
        channel: Some("#c".into()),
        ..Default::default()
    });
    assert!(
        both.iter()
            .any(|e| e.contains("sinks[0].token") && e.contains("exclude")),
        "{both:?}"
    );
    let neither = check(SlackConfig {
        name: "s".into(),
        ..Default::default()
    });
    assert!(
        neither.iter().any(|e| e.contains("sinks[0].url")),
        "{neither:?}"
    );
    let no_channel = check(SlackConfig {
        name: "s".into(),
        token: token(),
        ..Default::default()
    });
    assert!(
        no_channel.iter().any(|e| e.contains("sinks[0].channel")),
        "{no_channel:?}"
    );
    let bad_step = check(SlackConfig {
        name: "s".into(),
        token: token(),
        channel: Some("#c".into()),
        thread_step: Some(StepSpec::Text("lots".into())),
        ..Default::default()
    });
    assert!(
        bad_step.iter().any(|e| e.contains("sinks[0].thread_step")),
        "{bad_step:?}"
    );
    let webhook_with_channel = check(SlackConfig {
        name: "s".into(),
        url: url(),
        channel: Some("#c".into()),
        ..Default::default()
    });
    assert!(
        webhook_with_channel
            .iter()
            .any(|e| e.contains("sinks[0].channel")),
        "{webhook_with_channel:?}"
    );
    let fine = check(SlackConfig {
        name: "s".into(),
        token: token(),
        channel: Some("C1".into()),
        thread_step: Some(StepSpec::Count(5)),
        ..Default::default()
    });
    assert!(fine.is_empty(), "{fine:?}");
}

/// Teams and Google Chat post through incoming webhooks without an edit API, so they
/// coalesce as Slack's webhook mode does: the growing outage (3 → 4 → 5 failing
/// sources) is one post when it fires and one when it resolves, per chat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_and_google_chat_coalesce_updates_like_slack_webhooks() {
    for (ty, var) in [
        ("teams", "FT_THREAD_TEAMS"),
        ("googlechat", "FT_THREAD_GCHAT"),
    ] {
        let rx = Receiver::start(None).await;
        let dir = tempdir(&format!("chat-coalesce-{ty}"));
        let sink = format!(
            "  - name: chat\n    type: {ty}\n    url: {{env: {var}}}\n    min_interval: 10ms\n    timeout: 2s\n"
        );
        let config = pipeline(&dir, &sink);
        let input = dir.join("input.log");
        std::fs::write(&input, host_outage().join("\n") + "\n").unwrap();
        let url = rx.url("/hook?sig=chat-secret");
        replay(&config, &input, &[(var, &url)]).await;
        let bodies: Vec<String> = rx
            .accepted()
            .iter()
            .map(|s| s.json().to_string().to_lowercase())
            .collect();
        assert_eq!(
            bodies.len(),
            2,
            "{ty}: one post when the finding fires, one when it resolves: {bodies:#?}"
        );
        assert!(!bodies[0].contains("resolved"), "{ty}: {}", bodies[0]);
        assert!(bodies[1].contains("resolved"), "{ty}: {}", bodies[1]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
