//! Markup and header injection from tenant-controlled text (object names, tenants,
//! messages, labels): Slack mrkdwn (blocks and the notification text), the terminal text
//! report, Alertmanager labels and annotations, and HTTP headers (configured values,
//! ids derived from group keys) are all neutralised.

use std::process::Command;
use std::time::Duration;

use fluxsight::render::finding::{text_line, text_report};
use fluxsight::render::slack::message;
use fluxsight::sinks::alertmanager::AlertMapper;
use fluxsight::sinks::webhook::{WebhookSink, GROUP_ID_HEADER};
use fluxsight::sinks::{Delivery, Group};

mod http_support;
use http_support::{audit, finding, run_worker, strings, webhook_config, Receiver};

/// Everything a tenant could try in one string.
const HOSTILE: &str = "<!channel> <!here> <@U123> <#C999> <http://evil.example|click here> \
    & *bold* _it_ ~strike~ `code` @here @everyone http://phish.example/login \x1b[2J\x1b]8;;http://x\x07ok\r\nX-Injected: 1";

fn hostile_finding() -> fluxsight::correlate::Finding {
    let mut f = finding(1, "app", HOSTILE);
    f.title = format!("title {HOSTILE}");
    f.summary = format!("summary {HOSTILE}");
    f.tenant = format!("tenant {HOSTILE}");
    f.cluster = format!("cluster {HOSTILE}");
    f.subject.name = format!("name {HOSTILE}").into();
    f.subject.namespace = format!("ns {HOSTILE}").into();
    f.remediation = format!("fix {HOSTILE}");
    f.impacted[0].name = HOSTILE.into();
    f.labels.insert("host".into(), HOSTILE.into());
    f
}

/// Slack control syntax cannot survive: no raw `<`/`>`, every `&` starts one of the three
/// entities, mass mentions are broken.
fn assert_inert_mrkdwn(s: &str) {
    assert!(!s.contains('<') && !s.contains('>'), "unescaped: {s}");
    for (i, _) in s.match_indices('&') {
        let rest = &s[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;"]
                .iter()
                .any(|e| rest.starts_with(e)),
            "bare &: {s}"
        );
    }
    let lower = s.to_lowercase();
    for m in ["@here", "@channel", "@everyone"] {
        assert!(!lower.contains(m), "{m} in {s}");
    }
    assert!(
        !s.contains('\u{1b}') && !s.contains('\r'),
        "control chars: {s:?}"
    );
}

#[test]
fn slack_messages_neutralise_mentions_links_and_formatting() {
    let f = hostile_finding();
    let group = Delivery::Group(Box::new(Group {
        route: format!("route {HOSTILE}"),
        key: format!("key {HOSTILE}"),
        labels: [("tenant".to_string(), HOSTILE.to_string())].into(),
        findings: vec![f.clone()],
    }));
    let mut a = audit(1);
    a.subject.name = HOSTILE.into();
    a.message = HOSTILE.into();
    a.tenant = HOSTILE.into();
    for d in [
        Delivery::Finding(Box::new(f)),
        group,
        Delivery::Audit(Box::new(a)),
    ] {
        let m = message(&d);
        let mut all = Vec::new();
        strings(&m, &mut all);
        for s in &all {
            assert_inert_mrkdwn(s);
        }
        // The notification text is prose: no formatting or URL from the input survives.
        let text = m["text"].as_str().unwrap();
        for c in ['*', '_', '~', '`'] {
            assert!(!text.contains(c), "{c} in fallback {text}");
        }
        assert!(!text.contains("://"), "a linkable URL in {text}");
        let joined = all.join("\n");
        assert!(joined.contains("&lt;!channel&gt;"), "shown, not executed");
        assert!(joined.contains("&lt;@U123&gt;"));
        assert!(joined.contains("&lt;http:"));
    }
}

#[test]
fn text_report_has_no_terminal_control_sequences() {
    let f = hostile_finding();
    let out = format!(
        "{}\n{}",
        text_report(std::slice::from_ref(&f)),
        text_line(&f)
    );
    assert!(
        !out.chars().any(|c| c.is_control() && c != '\n'),
        "control characters reach the terminal: {out:?}"
    );
    // Each finding is a fixed number of lines: a CR/LF in a value cannot add one.
    // Report: header, blank, 6 lines for the finding; then a blank and text_line.
    assert_eq!(out.lines().count(), 10, "{out}");
}

#[test]
fn alertmanager_labels_and_annotations_are_inert() {
    let alert = AlertMapper::default().alert(&hostile_finding(), 1_767_268_900_000);
    for (k, v) in &alert.labels {
        assert!(!v.chars().any(char::is_control), "label {k}: {v:?}");
        assert!(v.len() <= 256, "label {k} is {} bytes", v.len());
    }
    for (k, v) in &alert.annotations {
        assert!(
            !v.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
            "annotation {k}: {v:?}"
        );
        for forged in ["<!", "<@", "<#", "<http"] {
            assert!(!v.contains(forged), "annotation {k} keeps {forged}: {v}");
        }
    }
}

#[test]
fn header_values_with_line_breaks_fail_validation() {
    let dir = std::env::temp_dir().join(format!("fluxsight-esc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("p.yaml");
    std::fs::write(
        &path,
        "sinks:\n  - name: hook\n    type: webhook\n    url: https://hooks.example.com/x\n    headers:\n      X-Team: \"a\\r\\nX-Injected: 1\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("sinks[0].headers.X-Team") && err.contains(":6"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn derived_header_values_cannot_split_a_request() {
    let rx = Receiver::start(None).await;
    let sink = WebhookSink::new(&webhook_config("hook", rx.url("/hook"))).unwrap();
    let group = Delivery::Group(Box::new(Group {
        route: "ops".into(),
        key: "ops/tenant=a\r\nX-Injected: 1".into(),
        labels: Default::default(),
        findings: vec![finding(1, "app", "x")],
    }));
    let stats = run_worker(Box::new(sink), vec![group], None, Duration::from_secs(10)).await;
    assert_eq!(
        (stats.sent, stats.retried),
        (1, 0),
        "sent, not stuck retrying: {stats:?}"
    );
    let seen = rx.accepted();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].header("x-injected").is_none());
    let g = seen[0].header(GROUP_ID_HEADER).unwrap();
    assert!(g.starts_with("ops/tenant=a%0D%0AX-Injected:%201"), "{g}");
}
