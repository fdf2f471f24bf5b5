//! The webhook sink against a real HTTP receiver on 127.0.0.1: HMAC signature verified
//! receiver-side, CloudEvents structured mode and batches, OCSF bodies, secret headers
//! from env and file.

mod http_support;

use std::time::Duration;

use fluxsight::sinks::config::{BodyFormat, HeaderValue, MaybeSecret, SecretRef, WebhookConfig};
use fluxsight::sinks::SinkError;
use fluxsight::sinks::{webhook, Delivery};
use http_support::{audit, finding, run_worker, tls_fixture, webhook_config, Receiver};

/// A reqwest client with fluxsight's rustls crypto provider installed (reqwest is built
/// with `rustls-no-provider`; a plain `reqwest::Client::new()` would panic).
fn http() -> reqwest::Client {
    fluxsight::tls::http_client_builder()
        .build()
        .expect("http client")
}

const KEY: &[u8] = b"s3cr3t-hmac-key";

fn config(name: &str, url: String, format: BodyFormat) -> WebhookConfig {
    WebhookConfig {
        format,
        ..webhook_config(name, url)
    }
}

fn deliveries() -> Vec<Delivery> {
    vec![
        Delivery::Finding(Box::new(finding(1, "podinfo", "authentication required"))),
        Delivery::Audit(Box::new(audit(2))),
        Delivery::Finding(Box::new(finding(3, "backend", "bad credentials"))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudevents_signed_with_secret_headers() {
    let rx = Receiver::start(Some(KEY)).await;
    let dir = std::env::temp_dir().join(format!("fluxsight-wh-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("hmac-key");
    std::fs::write(&key_file, [KEY, b"\n"].concat()).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, "Bearer file-token-123\n").unwrap();
    std::env::set_var("FLUXSIGHT_TEST_WH_TENANT_KEY", "env-key-456");

    let mut cfg = config("siem", rx.url("/ingest"), BodyFormat::Cloudevents);
    cfg.hmac_secret = Some(SecretRef::File(key_file.display().to_string()));
    cfg.http.headers.insert(
        "Authorization".into(),
        HeaderValue::Secret(SecretRef::File(token_file.display().to_string())),
    );
    cfg.http.headers.insert(
        "X-Tenant-Key".into(),
        HeaderValue::Secret(SecretRef::Env("FLUXSIGHT_TEST_WH_TENANT_KEY".into())),
    );
    cfg.http
        .headers
        .insert("X-Static".into(), HeaderValue::Plain("plain-value".into()));
    let sink = webhook::build(&cfg).expect("build");
    let ds = deliveries();
    let ids: Vec<String> = ds.iter().map(Delivery::delivery_id).collect();
    let stats = run_worker(sink, ds, None, Duration::from_secs(10)).await;
    assert_eq!(stats.sent, 3);

    let seen = rx.accepted();
    assert_eq!(seen.len(), 3, "one request per delivery");
    for (s, id) in seen.iter().zip(&ids) {
        assert_eq!(s.signature_ok, Some(true), "HMAC verified receiver-side");
        assert!(s.header("x-signature").unwrap().starts_with("sha256="));
        // The timestamped signature binds the body to the time of the attempt.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(fluxsight::server::signature::verify_timestamped(
            KEY,
            s.header("x-fluxsight-timestamp").as_deref(),
            s.header("x-fluxsight-signature").as_deref(),
            &s.body,
            now,
            Duration::from_secs(300),
        ));
        assert_eq!(
            s.header("content-type").as_deref(),
            Some("application/cloudevents+json; charset=UTF-8")
        );
        assert_eq!(
            s.header("authorization").as_deref(),
            Some("Bearer file-token-123")
        );
        assert_eq!(s.header("x-tenant-key").as_deref(), Some("env-key-456"));
        assert_eq!(s.header("x-static").as_deref(), Some("plain-value"));
        assert_eq!(s.header("x-fluxsight-delivery-id").as_ref(), Some(id));
        assert_eq!(s.header("idempotency-key").as_ref(), Some(id));
        let ev = s.json();
        for attr in [
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "time",
            "data",
        ] {
            assert!(ev.get(attr).is_some(), "missing {attr}: {ev}");
        }
        assert_eq!(ev["specversion"], "1.0");
        assert_eq!(ev["id"].as_str(), Some(id.as_str()));
        assert!(ev["source"].as_str().unwrap().starts_with("//fluxsight/"));
        assert!(ev["type"].as_str().unwrap().starts_with("io.fluxsight."));
        assert!(ev["data"].is_object());
    }
    assert_eq!(seen[0].json()["type"], "io.fluxsight.finding.created.v1");
    assert_eq!(
        seen[0].json()["subject"],
        "team-a-prod/GitRepository/podinfo"
    );
    assert_eq!(
        seen[1].json()["type"],
        "io.fluxsight.audit.revision-applied.v1"
    );

    // A tampered body fails verification on the same receiver (the check is real).
    let tampered = http()
        .post(rx.url("/ingest"))
        .header("x-signature", seen[0].header("x-signature").unwrap())
        .body(format!("{} ", String::from_utf8_lossy(&seen[0].body)))
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status().as_u16(), 401);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsf_bodies_have_required_fields() {
    let rx = Receiver::start(None).await;
    let sink = webhook::build(&config("ocsf", rx.url("/"), BodyFormat::Ocsf)).unwrap();
    let ds = vec![
        Delivery::Finding(Box::new(finding(1, "podinfo", "authentication required"))),
        Delivery::Finding(Box::new(finding(2, "backend", "x"))),
    ];
    run_worker(sink, ds, None, Duration::from_secs(10)).await;
    let seen = rx.accepted();
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(
            s.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(s.header("x-signature"), None, "no key, no signature");
        let v = s.json();
        assert_eq!(v["class_uid"], 2004, "{v}");
        for path in [
            "/category_uid",
            "/activity_id",
            "/type_uid",
            "/severity_id",
            "/time",
            "/metadata/version",
            "/metadata/product/name",
            "/finding_info/uid",
        ] {
            let f = v.pointer(path);
            assert!(f.is_some_and(|x| !x.is_null()), "missing {path}: {v}");
        }
        assert_eq!(
            v["type_uid"].as_i64().unwrap(),
            200_400 + v["activity_id"].as_i64().unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_cloudevents_batch_arrays() {
    let rx = Receiver::start(Some(KEY)).await;
    std::env::set_var(
        "FLUXSIGHT_TEST_WH_BATCH_KEY",
        std::str::from_utf8(KEY).unwrap(),
    );
    let mut cfg = config("batch", rx.url("/"), BodyFormat::Cloudevents);
    cfg.max_batch = Some(10);
    cfg.hmac_secret = Some(SecretRef::Env("FLUXSIGHT_TEST_WH_BATCH_KEY".into()));
    let sink = webhook::build(&cfg).unwrap();
    let ds = deliveries();
    let ids: Vec<String> = ds.iter().map(Delivery::delivery_id).collect();
    let stats = run_worker(sink, ds, None, Duration::from_secs(10)).await;
    assert_eq!(stats.sent, 3);
    let seen = rx.accepted();
    let events: Vec<serde_json::Value> = seen
        .iter()
        .flat_map(|s| {
            assert_eq!(s.signature_ok, Some(true));
            assert_eq!(
                s.header("content-type").as_deref(),
                Some("application/cloudevents-batch+json; charset=UTF-8")
            );
            s.json().as_array().expect("a JSON array").clone()
        })
        .collect();
    let got: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_errors_do_not_leak_secrets() {
    std::env::set_var(
        "FLUXSIGHT_TEST_WH_SECRET_URL",
        "http://user:hunter2@[not a url",
    );
    let mut cfg = config("leaky", String::new(), BodyFormat::Native);
    cfg.url = MaybeSecret::Secret(SecretRef::Env("FLUXSIGHT_TEST_WH_SECRET_URL".into()));
    let e = webhook::build(&cfg).err().expect("invalid URL");
    assert!(e.contains("sink 'leaky': url"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
    cfg.url = MaybeSecret::Secret(SecretRef::Env("FLUXSIGHT_TEST_WH_UNSET".into()));
    let e = webhook::build(&cfg).err().expect("unset env");
    assert!(e.contains("FLUXSIGHT_TEST_WH_UNSET"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_custom_ca() {
    let rx = Receiver::start_tls(Some(KEY)).await;
    std::env::set_var(
        "FLUXSIGHT_TEST_WH_TLS_KEY",
        std::str::from_utf8(KEY).unwrap(),
    );
    let mut cfg = config("tls", rx.https_url("/secure"), BodyFormat::Native);
    cfg.hmac_secret = Some(SecretRef::Env("FLUXSIGHT_TEST_WH_TLS_KEY".into()));

    // Without the CA the receiver's certificate is unknown: a transport error, no request.
    let mut untrusted = webhook::build(&cfg).unwrap();
    let d = Delivery::Finding(Box::new(finding(1, "podinfo", "auth")));
    match untrusted.send(std::slice::from_ref(&d)).await {
        Err(SinkError::Retryable { message, .. }) => {
            assert!(!message.contains("/secure"), "no URL in errors: {message}");
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    assert!(rx.seen().is_empty());

    cfg.http.ca_file = Some(tls_fixture("ca.pem").display().to_string());
    let sink = webhook::build(&cfg).unwrap();
    let stats = run_worker(sink, vec![d.clone()], None, Duration::from_secs(10)).await;
    assert_eq!(stats.sent, 1);
    let seen = rx.accepted();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].signature_ok, Some(true));
    assert_eq!(
        seen[0].header("x-fluxsight-delivery-id"),
        Some(d.delivery_id())
    );

    // A file that is not PEM is a build error naming the sink and field.
    cfg.http.ca_file = Some(tls_fixture("README.md").display().to_string());
    let e = webhook::build(&cfg).err().unwrap();
    assert!(e.contains("sink 'tls': ca_file"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_items_are_separate_requests_with_distinct_ids() {
    let rx = Receiver::start(None).await;
    let sink = webhook::build(&config("grp", rx.url("/"), BodyFormat::Native)).unwrap();
    let g = Delivery::Group(Box::new(fluxsight::sinks::Group {
        route: "r".into(),
        key: "r/team-a".into(),
        labels: [("tenant".to_string(), "team-a".to_string())].into(),
        findings: (0..3).map(|i| finding(i, "app", "auth")).collect(),
    }));
    let stats = run_worker(sink, vec![g.clone()], None, Duration::from_secs(10)).await;
    assert_eq!(stats.sent, 1);
    let seen = rx.accepted();
    assert_eq!(seen.len(), 3, "one request per finding of the group");
    let ids: std::collections::BTreeSet<String> = seen
        .iter()
        .map(|s| s.header("x-fluxsight-delivery-id").unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        3,
        "distinct ids: a de-duplicating receiver keeps all"
    );
    for s in &seen {
        assert_eq!(s.header("x-fluxsight-group-id"), Some(g.delivery_id()));
        assert_eq!(
            s.header("idempotency-key"),
            s.header("x-fluxsight-delivery-id")
        );
        assert_eq!(s.json()["type"], "finding");
    }
}
