//! The Slack sink against a local HTTP server playing Slack: escaping of hostile object
//! names and messages, Block Kit limits, 1 message/s pacing through the real worker,
//! `Retry-After` on 429, permanent errors dead-lettered.

mod http_support;

use std::time::{Duration, Instant};

use fluxsight::correlate::Status;
use fluxsight::sinks::config::{HeaderValue, HttpEndpoint, SecretRef, SlackConfig};
use fluxsight::sinks::{slack, Delivery, Group};
use http_support::{audit, finding, run_worker, strings, Fault, Receiver};
use serde_json::Value;

/// A Slack config whose URL comes from a (test-unique) environment variable.
fn config(var: &str, url: &str, min_interval: Option<&str>) -> SlackConfig {
    std::env::set_var(var, url);
    SlackConfig {
        name: "slack".into(),
        url: Some(SecretRef::Env(var.into())),
        http: HttpEndpoint {
            min_interval: min_interval.map(str::to_string),
            timeout: Some("2s".into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map(|s| s.chars().count()).unwrap_or(0)
}

/// Checks one Slack payload as Slack would, returning its total block text.
fn check_payload(p: &Value) -> usize {
    let text = p["text"].as_str().expect("text fallback");
    assert!(!text.is_empty() && text.chars().count() <= 40_000);
    let blocks = p["blocks"].as_array().expect("blocks");
    assert!(
        !blocks.is_empty() && blocks.len() <= 50,
        "{} blocks",
        blocks.len()
    );
    let mut total = 0;
    for b in blocks {
        match b["type"].as_str().unwrap() {
            "header" => {
                assert_eq!(b["text"]["type"], "plain_text");
                assert!(chars(&b["text"]["text"]) <= 150, "{b}");
                total += chars(&b["text"]["text"]);
            }
            "section" => {
                if let Some(t) = b.get("text") {
                    assert!(
                        chars(&t["text"]) <= 3000,
                        "section of {}",
                        chars(&t["text"])
                    );
                    total += chars(&t["text"]);
                }
                if let Some(f) = b.get("fields") {
                    let f = f.as_array().unwrap();
                    assert!(f.len() <= 10);
                    for x in f {
                        assert!(chars(&x["text"]) <= 2000);
                        total += chars(&x["text"]);
                    }
                }
            }
            "context" => {
                for e in b["elements"].as_array().unwrap() {
                    total += chars(&e["text"]);
                }
            }
            other => panic!("unexpected block type {other}"),
        }
    }
    assert!(total <= 12_000, "block text {total}");
    let mut all = Vec::new();
    strings(p, &mut all);
    for s in &all {
        // Nothing from the input survives as `<…>` control syntax: the renderer emits
        // no `<`/`>` of its own, so any would be an unescaped input character.
        assert!(!s.contains('<') && !s.contains('>'), "unescaped: {s}");
        let l = s.to_lowercase();
        for m in ["@here", "@channel", "@everyone", "<!here", "<!channel"] {
            assert!(!l.contains(m), "mass mention {m} survived: {s}");
        }
        // Entities are whole: every `&` starts one of the three.
        for (i, _) in s.match_indices('&') {
            let rest = &s[i..];
            assert!(
                rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;"),
                "bare & in {s}"
            );
        }
    }
    for b in blocks {
        let mut texts = Vec::new();
        strings(b, &mut texts);
        for t in texts {
            assert_eq!(t.matches('`').count() % 2, 0, "unbalanced code span: {t}");
        }
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_escaped_and_within_limits() {
    let rx = Receiver::start(None).await;
    let cfg = config(
        "FLUXSIGHT_TEST_SLACK_URL_HOSTILE",
        &rx.url("/services/T0/B0/x"),
        Some("10ms"),
    );
    let sink = slack::build(&cfg).unwrap();
    let long = "A&<b>`".repeat(10_000 / 6);
    let evil = "see <https://evil.example|click> & `rm -rf` <@U123> @here @Channel ```x``` </code>";
    let single = finding(1, "<!channel> x", evil);
    let huge = finding(2, &"n".repeat(300), &long);
    let group = Group {
        route: "oncall <!here>".into(),
        key: "k<&>".into(),
        labels: [("tenant".to_string(), "<!everyone> & co".to_string())].into(),
        findings: (0..300)
            .map(|i| {
                let mut f = finding(i, &format!("<!channel> obj-{i} `x`"), evil);
                if i % 7 == 0 {
                    f.status = Status::Resolved;
                }
                f
            })
            .collect(),
    };
    let mut hostile_audit = audit(3);
    hostile_audit.message = format!("applied {evil} {long}");
    hostile_audit.subject.name = "<!here>".into();
    let stats = run_worker(
        sink,
        vec![
            Delivery::Finding(Box::new(single)),
            Delivery::Finding(Box::new(huge)),
            Delivery::Group(Box::new(group)),
            Delivery::Audit(Box::new(hostile_audit)),
        ],
        None,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(stats.sent, 4);
    let seen = rx.accepted();
    assert_eq!(
        seen.len(),
        4,
        "one message per delivery (the group is one message)"
    );
    let payloads: Vec<Value> = seen.iter().map(|s| s.json()).collect();
    for (i, p) in payloads.iter().enumerate() {
        let total = check_payload(p);
        eprintln!(
            "message {i}: {} blocks, {total} chars of block text",
            p["blocks"].as_array().unwrap().len()
        );
    }
    let first = payloads[0].to_string();
    assert!(first.contains("&lt;!channel&gt; x"), "{first}");
    assert!(
        first.contains("&lt;https://evil.example|click&gt; &amp;"),
        "{first}"
    );
    let group_text = payloads[2].to_string();
    let shown = payloads[2]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| {
            b["text"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("obj-"))
        })
        .count();
    assert!(shown >= 5, "group lists findings: {shown}");
    assert!(
        group_text.contains(&format!("and {} more", 300 - shown)),
        "{group_text}"
    );
    assert!(payloads[2]["text"]
        .as_str()
        .unwrap()
        .contains("300 findings"));
}

/// The HTTP section every HTTP sink shares (`sinks::endpoint`) puts its extra headers
/// on Slack's requests too: a secret one by reference, a plain one as written, and the
/// sink's own `Content-Type` is not replaced. (Before, Slack refused `headers`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_headers_of_the_http_section_are_sent() {
    let rx = Receiver::start(None).await;
    let mut cfg = config(
        "FLUXSIGHT_TEST_SLACK_URL_HEADERS",
        &rx.url("/services/headers"),
        Some("10ms"),
    );
    std::env::set_var("FLUXSIGHT_TEST_SLACK_PROXY_AUTH", "Basic cHJveHk=");
    let proxy = SecretRef::Env("FLUXSIGHT_TEST_SLACK_PROXY_AUTH".into());
    let headers = &mut cfg.http.headers;
    headers.insert("Proxy-Authorization".into(), HeaderValue::Secret(proxy));
    headers.insert("X-Team".into(), HeaderValue::Plain("ops".into()));
    headers.insert(
        "Content-Type".into(),
        HeaderValue::Plain("text/plain".into()),
    );
    let sink = slack::build(&cfg).unwrap();
    let ds = vec![Delivery::Finding(Box::new(finding(1, "podinfo", "auth")))];
    let stats = run_worker(sink, ds, None, Duration::from_secs(10)).await;
    assert_eq!(stats.sent, 1);
    let seen = rx.accepted();
    assert_eq!(seen.len(), 1);
    let s = &seen[0];
    assert_eq!(
        s.header("proxy-authorization").as_deref(),
        Some("Basic cHJveHk=")
    );
    assert_eq!(s.header("x-team").as_deref(), Some("ops"));
    assert_eq!(s.headers.get_all("content-type").iter().count(), 1);
    assert_eq!(
        s.header("content-type").as_deref(),
        Some("application/json; charset=utf-8")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_at_one_message_per_second() {
    let rx = Receiver::start(None).await;
    // Default min_interval: 1s.
    let cfg = config(
        "FLUXSIGHT_TEST_SLACK_URL_PACE",
        &rx.url("/services/pace"),
        None,
    );
    let sink = slack::build(&cfg).unwrap();
    let ds: Vec<Delivery> = (0..5)
        .map(|i| Delivery::Finding(Box::new(finding(i, "podinfo", "auth"))))
        .collect();
    let stats = run_worker(sink, ds, None, Duration::from_secs(15)).await;
    assert_eq!(stats.sent, 5);
    let seen = rx.accepted();
    assert_eq!(seen.len(), 5);
    let gaps: Vec<u128> = seen
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at).as_millis())
        .collect();
    eprintln!("gaps between messages (ms, server-side): {gaps:?}");
    // Measured at the receiver: the worker paces from the end of the previous send, so
    // a request arrives at least 1 s after the previous one was answered.
    for g in &gaps {
        assert!(*g >= 980, "messages {g} ms apart: {gaps:?}");
    }
    let mean = gaps.iter().sum::<u128>() / gaps.len() as u128;
    assert!(mean >= 995, "mean gap {mean} ms: {gaps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_honours_retry_after() {
    let rx = Receiver::start(None).await;
    rx.script([Fault::TooMany(2)]);
    let cfg = config(
        "FLUXSIGHT_TEST_SLACK_URL_429",
        &rx.url("/services/429"),
        Some("10ms"),
    );
    let sink = slack::build(&cfg).unwrap();
    let stats = run_worker(
        sink,
        vec![Delivery::Finding(Box::new(finding(1, "podinfo", "auth")))],
        None,
        Duration::from_secs(10),
    )
    .await;
    let seen = rx.seen();
    assert_eq!(seen.len(), 2, "one 429, one retry");
    assert_eq!(seen[0].status, 429);
    assert_eq!(seen[1].status, 200);
    assert_eq!(seen[0].body, seen[1].body, "the same message again");
    let gap = seen[1].at.duration_since(seen[0].at);
    eprintln!(
        "retry after 429 (Retry-After: 2) came {} ms later",
        gap.as_millis()
    );
    assert!(gap >= Duration::from_millis(1950), "{gap:?}");
    assert_eq!(stats.sent, 1);
    assert_eq!(stats.retried, 1);
    assert_eq!(rx.accepted().len(), 1, "delivered exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_channel_is_permanent() {
    let rx = Receiver::start(None).await;
    rx.set_steady(Some(Fault::Status(410, "channel_is_archived")));
    let dir = std::env::temp_dir().join(format!("fluxsight-slack-dl-{}", std::process::id()));
    let dl = dir.join("slack.jsonl");
    let cfg = config(
        "FLUXSIGHT_TEST_SLACK_URL_410",
        &rx.url("/services/T/B/secret-token"),
        Some("10ms"),
    );
    let sink = slack::build(&cfg).unwrap();
    let t = Instant::now();
    let stats = run_worker(
        sink,
        vec![Delivery::Finding(Box::new(finding(1, "podinfo", "auth")))],
        Some(dl.clone()),
        Duration::from_secs(10),
    )
    .await;
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(rx.seen().len(), 1, "not retried");
    assert_eq!(stats.dead_lettered, 1);
    let text = std::fs::read_to_string(&dl).unwrap();
    assert!(text.contains("http 410: channel_is_archived"), "{text}");
    assert!(
        !text.contains("secret-token"),
        "the webhook URL is a secret: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
