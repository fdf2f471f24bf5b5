//! The findings API of a running `fluxsight run` and the commands that read it
//! (`get findings`, `explain`), end to end against the real binary.
//!
//! The input is two of the repository's captures, one after the other in time: a
//! golden case whose two findings resolve (`symptom_surfaces_after_root`, tenant
//! `analytics`) and the demo incident, whose two findings stay firing (`payments`,
//! `shop`). So the view holds 2 firing and 2 resolved findings in three namespaces,
//! and `replay` of the same file says which.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{free_port, tempdir, wait_until, BIN};

const GOLDEN: &str = "tests/golden/symptom_surfaces_after_root/input.log";
const DEMO: &str = "samples/demo/incident.log";
/// How long the API's answer must stay the same for the capture to count as read.
const SETTLED: Duration = Duration::from_millis(1500);
const PORT_FORWARD: &str = "kubectl -n flux-system port-forward deploy/fluxsight 9797";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The two captures in one file, the older first.
fn capture(tag: &str) -> PathBuf {
    let dir = tempdir(tag);
    let mut text = std::fs::read_to_string(repo(GOLDEN)).unwrap();
    text.push_str(&std::fs::read_to_string(repo(DEMO)).unwrap());
    let p = dir.join("capture.log");
    std::fs::write(&p, text).unwrap();
    p
}

/// A `fluxsight run` following `input`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(input: &Path, config: Option<&Path>) -> Server {
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--no-kube", "--health-listen", "none", "-o", "none"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--input")
            .arg(input)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        Server {
            child: cmd.spawn().unwrap(),
            port,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until the API lists `want` findings and the answer stays the same for a
    /// second (the capture is read).
    fn settled(&self, want: u64) -> Value {
        let mut last = Value::Null;
        let mut since = Instant::now();
        let ok = wait_until(Duration::from_secs(60), || {
            let Some((200, body)) = http(self.port, "GET", "/api/v1/findings") else {
                return false;
            };
            let v: Value = serde_json::from_str(&body).unwrap();
            if v != last {
                last = v;
                since = Instant::now();
            }
            since.elapsed() >= SETTLED && last["total"] == want
        });
        assert!(
            ok,
            "the API settles on {want} findings; last answer: {last}"
        );
        last
    }
}

/// Status and body of one request (HTTP/1.0, so the server closes after it).
fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|x| x.1.to_string())?;
    Some((code, body))
}

fn get_json(port: u16, path: &str) -> (u16, Value) {
    let (code, body) = http(port, "GET", path).expect("the server answers");
    let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (code, v)
}

/// `(status, pattern, subject namespace)` of every item, in order.
fn rows(v: &Value) -> Vec<(String, String, String)> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["status"].as_str().unwrap().to_string(),
                f["pattern"].as_str().unwrap().to_string(),
                f["subject"]["namespace"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// The final status of every finding `replay` reports for `input`, by id.
fn replay_final(input: &Path) -> BTreeMap<String, String> {
    let out = Command::new(BIN).arg("replay").arg(input).output().unwrap();
    assert!(out.status.success());
    let mut set = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        set.insert(
            v["id"].as_str().unwrap().to_string(),
            v["status"].as_str().unwrap().to_string(),
        );
    }
    set
}

fn fluxsight(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("FLUXSIGHT_SERVER")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stdout_ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = fluxsight(args, env);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_api_lists_filters_sorts_and_refuses() {
    let input = capture("findings-api-a");
    let want = replay_final(&input);
    assert_eq!(want.len(), 4, "{want:?}");
    let server = Server::start(&input, None);
    let all = server.settled(4);
    let port = server.port;

    // The same findings and statuses replay ends with.
    let got: BTreeMap<String, String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().into(),
                f["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // Native findings, firing first, then severity, then the newest.
    assert!(all["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["type"] == "finding"));
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    let mut set = rows(&all);
    set.sort();
    assert_eq!(
        set,
        [
            s("firing", "git_auth_failure", "payments"),
            s("firing", "helm_release_failure", "shop"),
            s("resolved", "git_auth_failure", "analytics"),
            s("resolved", "stalled_reconciliation", "analytics"),
        ]
    );
    // Which of the two firing errors was seen last depends on when each was last
    // emitted (material changes, the repeat interval): the order is checked on the
    // fields themselves.
    let key = |f: &Value| {
        let severity = ["info", "warning", "error", "critical"]
            .iter()
            .position(|s| f["severity"] == *s)
            .unwrap();
        (
            f["status"] != "firing",
            std::cmp::Reverse(severity),
            std::cmp::Reverse(f["last_seen"].as_str().unwrap().to_string()),
        )
    };
    let keys: Vec<_> = all["items"].as_array().unwrap().iter().map(key).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
    assert_eq!(
        rows(&all)[2..],
        [
            s("resolved", "git_auth_failure", "analytics"),
            s("resolved", "stalled_reconciliation", "analytics"),
        ],
        "resolved last, the error before the warning"
    );

    let count = |query: &str| {
        let (code, v) = get_json(port, &format!("/api/v1/findings?{query}"));
        assert_eq!(code, 200, "{query}: {v}");
        assert_eq!(
            v["total"].as_u64().unwrap() as usize,
            v["items"].as_array().unwrap().len()
        );
        rows(&v)
    };
    assert!(count("status=firing").iter().all(|r| r.0 == "firing"));
    assert_eq!(count("status=firing").len(), 2);
    assert_eq!(count("status=resolved").len(), 2);
    assert_eq!(count("status=firing,resolved").len(), 4);
    assert_eq!(
        count("pattern=git_auth_failure"),
        [
            s("firing", "git_auth_failure", "payments"),
            s("resolved", "git_auth_failure", "analytics")
        ]
    );
    assert_eq!(
        count("tenant=shop"),
        [s("firing", "helm_release_failure", "shop")]
    );
    assert_eq!(count("namespace=analytics").len(), 2);
    assert_eq!(count("namespace=analytics&status=firing").len(), 0);
    assert_eq!(
        count("severity=warning"),
        [s("resolved", "stalled_reconciliation", "analytics")]
    );
    let (_, one) = get_json(port, "/api/v1/findings?limit=1");
    assert_eq!(
        (
            one["items"].as_array().unwrap().len(),
            one["total"].as_u64()
        ),
        (1, Some(4))
    );

    // One finding by id; an unknown id is a JSON 404.
    let first = &all["items"][0];
    let id = first["id"].as_str().unwrap();
    let (code, f) = get_json(port, &format!("/api/v1/findings/{id}"));
    assert_eq!((code, &f), (200, first));
    let (code, e) = get_json(port, "/api/v1/findings/0000000000000000");
    assert_eq!(code, 404);
    assert!(
        e["error"].as_str().unwrap().contains("0000000000000000"),
        "{e}"
    );

    // Read-only; an unknown parameter or value is a 400 naming it.
    for path in [
        "/api/v1/findings".to_string(),
        format!("/api/v1/findings/{id}"),
    ] {
        for method in ["POST", "PUT", "DELETE"] {
            let (code, body) = http(port, method, &path).unwrap();
            assert_eq!(code, 405, "{method} {path}: {body}");
        }
    }
    let (code, e) = get_json(port, "/api/v1/findings?stauts=firing");
    assert_eq!(code, 400);
    assert!(e["error"].as_str().unwrap().contains("'stauts'"), "{e}");
    let (code, e) = get_json(port, "/api/v1/findings?status=open");
    assert_eq!(code, 400);
    assert!(e["error"].as_str().unwrap().starts_with("status:"), "{e}");
    let (code, e) = get_json(port, "/api/v1/findings?limit=5001");
    assert_eq!(code, 400);
    assert!(e["error"].as_str().unwrap().starts_with("limit:"), "{e}");
    // The receiver is still there next to it.
    let (code, _) = http(port, "POST", "/events").unwrap();
    assert_eq!(code, 400, "an empty body is not a Flux event");
}

#[test]
fn get_findings_and_explain_print_what_the_server_holds() {
    let input = capture("findings-api-b");
    let server = Server::start(&input, None);
    let all = server.settled(4);
    let url = server.url();
    let items = &all["items"];

    // json: the API's items.
    let json: Value = serde_json::from_str(&stdout_ok(
        &["get", "findings", "-A", "-o", "json", "--server", &url],
        &[],
    ))
    .unwrap();
    assert_eq!(&json, items);
    // yaml: the same items.
    let yaml = stdout_ok(
        &["get", "findings", "-A", "-o", "yaml", "--server", &url],
        &[],
    );
    let from_yaml: Value = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(ids(&from_yaml), ids(items));
    assert_eq!(from_yaml[0]["title"], items[0]["title"]);

    // table, through FLUXSIGHT_SERVER: a header and one aligned row per finding.
    let table = stdout_ok(&["get", "findings", "-A"], &[("FLUXSIGHT_SERVER", &url)]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "ID",
            "PATTERN",
            "SUBJECT",
            "STATUS",
            "SEVERITY",
            "SINCE",
            "MESSAGE"
        ]
    );
    let message_at = lines[0].find("MESSAGE").unwrap();
    for (line, f) in lines[1..].iter().zip(items.as_array().unwrap()) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cols[0],
            f["subject"]["namespace"].as_str().unwrap(),
            "{line}"
        );
        assert_eq!(cols[1], f["id"].as_str().unwrap());
        assert_eq!(cols[2], f["pattern"].as_str().unwrap());
        assert_eq!(
            cols[3],
            format!(
                "{}/{}",
                f["subject"]["kind"].as_str().unwrap(),
                f["subject"]["name"].as_str().unwrap()
            )
        );
        assert_eq!(
            (cols[4], cols[5]),
            (
                f["status"].as_str().unwrap(),
                f["severity"].as_str().unwrap()
            )
        );
        assert!(
            cols[6].ends_with('d'),
            "captures of 2025-2026 are days old: {line}"
        );
        assert_eq!(&line[message_at..], f["title"].as_str().unwrap());
    }
    // -n (default flux-system, like flux): the subject's namespace; no NAMESPACE column.
    let out = fluxsight(&["get", "findings", "--server", &url], &[]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no findings found in flux-system namespace")
    );
    let t = stdout_ok(
        &[
            "get",
            "findings",
            "-n",
            "analytics",
            "--status",
            "resolved",
            "--server",
            &url,
        ],
        &[],
    );
    assert!(t.starts_with("ID "), "{t}");
    assert_eq!(t.lines().count(), 3, "{t}");
    let t = stdout_ok(
        &[
            "get",
            "findings",
            "-A",
            "--pattern",
            "helm_release_failure",
            "--tenant",
            "shop",
            "--server",
            &url,
        ],
        &[],
    );
    assert_eq!(t.lines().count(), 2, "{t}");
    assert!(t.contains("HelmRelease/storefront"), "{t}");
    // A pattern that does not exist is a usage error naming the close one.
    let out = fluxsight(
        &[
            "get",
            "findings",
            "--pattern",
            "helm_failure",
            "--server",
            &url,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean helm_release_failure"));

    // explain <finding-id>: the finding, then its pattern.
    let f = &items[0];
    let id = f["id"].as_str().unwrap();
    let text = stdout_ok(&["explain", id, "--server", &url], &[]);
    for part in [
        f["title"].as_str().unwrap(),
        "status    firing (error)",
        &format!("first seen {}", f["first_seen"].as_str().unwrap()),
        "Root cause",
        "Symptoms: impacted objects grouped under it (3)",
        "Kustomization/payments/payments-app",
        "Evidence",
        "git_auth_failed",
        "Next step",
        "Runbook (docs/patterns/git_auth_failure.md)",
        "claim rank: source authentication",
    ] {
        assert!(text.contains(part), "explain {id} lacks {part:?}:\n{text}");
    }
    // A finding id the server does not hold: exit 2.
    let out = fluxsight(&["explain", "0000000000000000", "--server", &url], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no finding '0000000000000000'"));
}

#[test]
fn explain_a_pattern_with_the_overrides_of_a_pipeline_file() {
    let dir = tempdir("findings-api-c");
    let config = dir.join("pipeline.yaml");
    std::fs::write(&config, "patterns:\n  git_auth_failure:\n    window: 20m\n").unwrap();
    let text = stdout_ok(
        &[
            "explain",
            "git_auth_failure",
            "--config",
            &config.display().to_string(),
        ],
        &[],
    );
    let runbook = std::fs::read_to_string(repo("docs/patterns/git_auth_failure.md")).unwrap();
    for part in [
        "git_auth_failure: Authentication to the source repository keeps failing",
        "severity error   category source   confidence high",
        "  min_attempts   3\n",
        "  window         15m → 20m\n",
        "  resolve_after  10m\n",
        "A root cause (claim rank: source authentication)",
        "Check the Secret referenced by spec.secretRef of {subject}",
        runbook.lines().nth(2).unwrap(),
    ] {
        assert!(text.contains(part), "explain lacks {part:?}:\n{text}");
    }
    let text = stdout_ok(&["explain", "slow_reconciliation"], &[]);
    assert!(
        text.contains("A symptom: quiet while a root cause claims its object"),
        "{text}"
    );
    // Neither a pattern nor a finding id: exit 2 with the close pattern ids.
    let out = fluxsight(&["explain", "git_auth_failur"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean git_auth_failure"), "{err}");
}

#[test]
fn an_unreachable_server_exits_1_naming_the_url_and_the_port_forward() {
    let url = format!("http://127.0.0.1:{}", free_port());
    for args in [
        vec!["get", "findings", "-A"],
        vec!["explain", "46f9d4ed5552629d"],
    ] {
        let out = fluxsight(&args, &[("FLUXSIGHT_SERVER", &url)]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(&format!("cannot reach fluxsight at {url}/api/v1/findings")),
            "{err}"
        );
        assert!(err.contains(PORT_FORWARD), "{err}");
    }
    let out = fluxsight(&["get", "findings", "--server", "not a url"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_api_section_caps_the_view_turns_it_off_and_is_checked() {
    let input = capture("findings-api-d");
    let dir = tempdir("findings-api-d-config");
    let capped = dir.join("capped.yaml");
    std::fs::write(&capped, "api:\n  max_findings: 1\n  retention: 2h\n").unwrap();
    let server = Server::start(&input, Some(&capped));
    server.settled(1);
    let dropped = || common::metric(server.port, "fluxsight_findings_view_dropped_total");
    assert!(
        wait_until(Duration::from_secs(30), || dropped() >= 3),
        "4 findings into a view of 1 drop at least 3: {}",
        dropped()
    );
    let (_, v) = get_json(server.port, "/api/v1/findings");
    assert_eq!(v["total"], 1, "{v}");
    drop(server);

    let off = dir.join("off.yaml");
    std::fs::write(&off, "api:\n  enabled: false\n").unwrap();
    let server = Server::start(&input, Some(&off));
    assert!(wait_until(Duration::from_secs(30), || http(
        server.port,
        "GET",
        "/healthz"
    )
    .is_some_and(|(c, _)| c == 200)));
    let (code, _) = http(server.port, "GET", "/api/v1/findings").unwrap();
    assert_eq!(code, 404);
    let out = fluxsight(&["get", "findings", "-A", "--server", &server.url()], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no findings API there"));
    drop(server);

    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "cluster: c\napi:\n  retention: soon\n").unwrap();
    let out = fluxsight(&["validate", &bad.display().to_string()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:3:14: api.retention:", bad.display())),
        "{err}"
    );
}

#[test]
fn the_api_and_the_commands_show_findings_redacted() {
    const TOKEN: &str = "ghp_Zq8vT3mN5kR2xW7yL4pJ9hB6cF1dG0sA2eU7";
    let dir = tempdir("findings-api-e");
    let input = dir.join("secret.log");
    let lines: Vec<String> = (0..5)
        .map(|i| {
            format!(
                r#"{{"level":"error","ts":"2026-01-05T10:0{i}:00.000Z","msg":"Reconciler error","controller":"gitrepository","controllerKind":"GitRepository","GitRepository":{{"name":"app","namespace":"flux-system"}},"namespace":"flux-system","name":"app","reconcileID":"r{i}","error":"failed to checkout and determine revision: unable to clone 'https://bot:{TOKEN}@github.com/acme/app.git': authentication required: Invalid username or password"}}"#
            )
        })
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let server = Server::start(&input, None);
    let all = server.settled(1);
    let body = all.to_string();
    assert_eq!(all["items"][0]["pattern"], "git_auth_failure", "{body}");
    assert!(
        body.contains("[REDACTED]"),
        "the clone URL is in the evidence: {body}"
    );
    assert!(!body.contains(TOKEN) && !body.contains("ghp_"), "{body}");
    let id = all["items"][0]["id"].as_str().unwrap().to_string();
    let url = server.url();
    for args in [
        vec!["get", "findings", "-o", "yaml", "--server", &url],
        vec!["get", "findings", "-o", "json", "--server", &url],
        vec!["explain", &id, "--server", &url],
    ] {
        let out = stdout_ok(&args, &[]);
        assert!(out.contains("[REDACTED]"), "{args:?}: {out}");
        assert!(!out.contains(TOKEN), "{args:?}: {out}");
    }
}

#[test]
fn the_live_page_shows_the_same_findings_needing_attention_first() {
    let input = capture("findings-api-page");
    let server = Server::start(&input, None);
    let all = server.settled(4);
    let (code, html) = http(server.port, "GET", "/").expect("the server answers");
    assert_eq!(code, 200, "{html}");
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));
    assert!(html.contains("Content-Security-Policy"), "CSP meta tag");
    assert!(!html.contains("<script"), "no script on the live page");
    // Every firing finding's title is on the page, before the first resolved one's.
    let items = all["items"].as_array().unwrap();
    let pos = |f: &Value| {
        let title = f["title"].as_str().unwrap();
        // Titles are HTML-escaped on the page.
        let escaped = title
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&#34;")
            .replace('\'', "&#39;");
        html.find(&escaped)
            .unwrap_or_else(|| panic!("{title:?} not on the live page"))
    };
    let firing: Vec<usize> = items
        .iter()
        .filter(|f| f["status"] == "firing")
        .map(pos)
        .collect();
    let attention = html
        .find("Needs attention")
        .expect("a Needs attention section");
    assert!(
        firing.len() == 2 && firing.iter().all(|p| *p > attention),
        "{firing:?}"
    );
    // A POST to / is still the Flux event receiver, not the page.
    let (post, _) = http(server.port, "POST", "/").expect("the server answers");
    assert_ne!(post, 200, "an empty POST is not an accepted event");
}
