//! The SSRF guard of configured destinations: refused at validation (exit 2 naming file,
//! line and field), at build for URLs read from secrets, at connect time by the guarded
//! resolver, and redirects are never followed.

use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fluxsight::sinks::config::{HttpEndpoint, MaybeSecret, SecretRef, SlackConfig, WebhookConfig};
use fluxsight::sinks::slack::SlackSink;
use fluxsight::sinks::ssrf::{Allow, GuardedResolver};
use fluxsight::sinks::webhook::WebhookSink;
use fluxsight::sinks::{Delivery, Sink};
use reqwest::dns::{Name, Resolve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod http_support;
use http_support::{finding, webhook_config};

/// Runs `fluxsight validate` on `text`; (exit code, stderr).
fn validate(text: &str) -> (i32, String) {
    let dir = std::env::temp_dir().join(format!("fluxsight-ssrf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("p{}.yaml", text.len()));
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fluxsight"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn webhook_pipeline(url: &str, allow: &str) -> String {
    format!("cluster: c\nsinks:\n  - name: hook\n    type: webhook\n    url: {url}\n{allow}")
}

#[test]
fn validation_refuses_each_class_naming_file_line_and_field() {
    for (url, class) in [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/", "cloud metadata"),
        ("http://100.100.100.200/", "cloud metadata"),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            "metadata host name",
        ),
        ("http://169.254.10.20:8080/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0:9000/", "unspecified"),
        ("http://[::]:9000/", "unspecified"),
        ("http://224.0.0.251/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
    ] {
        let (code, err) = validate(&webhook_pipeline(url, ""));
        assert_eq!(code, 2, "{url}: {err}");
        assert!(err.contains("sinks[0].url"), "{url}: {err}");
        assert!(err.contains(":5"), "{url}: line of the url: {err}");
        assert!(err.contains(class), "{url}: {err}");
    }
}

#[test]
fn allow_hosts_overrides_and_local_targets_pass() {
    let allow = "    allow_hosts: ['169.254.169.254']\n";
    let (code, err) = validate(&webhook_pipeline("http://169.254.169.254/x", allow));
    assert_eq!(code, 0, "{err}");
    for url in [
        "http://127.0.0.1:9093/",
        "http://10.1.2.3/",
        "http://alertmanager.monitoring:9093/",
    ] {
        let (code, err) = validate(&webhook_pipeline(url, ""));
        assert_eq!(code, 0, "{url}: {err}");
    }
}

#[test]
fn alertmanager_and_kafka_destinations_are_guarded() {
    let am = "sinks:\n  - name: am\n    type: alertmanager\n    url: http://metadata.goog/\n";
    let (code, err) = validate(am);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sinks[0].url"), "{err}");
    let kafka =
        "sinks:\n  - name: k\n    type: kafka\n    brokers: 'kafka:9092,169.254.169.254:9092'\n";
    let (code, err) = validate(kafka);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sinks[0].brokers"), "{err}");
}

#[test]
fn urls_from_secrets_are_checked_at_build() {
    std::env::set_var(
        "FLUXSIGHT_SSRF_HOOK",
        "http://169.254.169.254/latest?token=abc",
    );
    let cfg = WebhookConfig {
        url: MaybeSecret::Secret(SecretRef::Env("FLUXSIGHT_SSRF_HOOK".into())),
        ..webhook_config("w", String::new())
    };
    let e = WebhookSink::new(&cfg).err().unwrap();
    assert!(
        e.contains("sink 'w': url: refused") && e.contains("metadata"),
        "{e}"
    );
    assert!(!e.contains("token=abc"), "the URL is never repeated: {e}");
    let mut allowed = cfg;
    allowed.http.allow_hosts = vec!["169.254.169.254".into()];
    assert!(WebhookSink::new(&allowed).is_ok());

    std::env::set_var(
        "FLUXSIGHT_SSRF_SLACK",
        "https://metadata.google.internal/services/x",
    );
    let slack = SlackConfig {
        name: "s".into(),
        url: Some(SecretRef::Env("FLUXSIGHT_SSRF_SLACK".into())),
        http: HttpEndpoint::default(),
        ..Default::default()
    };
    assert!(SlackSink::new(&slack).is_err());
}

#[tokio::test]
async fn the_resolver_drops_refused_answers_at_connect_time() {
    let r = GuardedResolver::new(Allow::default());
    // Names whose answer is a refused address (what a rebinding name returns).
    for refused in [
        "169.254.169.254",
        "fe80::1",
        "0.0.0.0",
        "metadata.google.internal",
    ] {
        let e = r.resolve(Name::from_str(refused).unwrap()).await;
        assert!(e.is_err(), "{refused} resolved");
    }
    let ok = r.resolve(Name::from_str("localhost").unwrap()).await;
    let addrs: Vec<_> = ok.expect("localhost resolves").collect();
    assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    let allowed = GuardedResolver::new(Allow::new(&["169.254.169.254".into()]));
    assert!(allowed
        .resolve(Name::from_str("169.254.169.254").unwrap())
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    // The redirect target: counts connections (there must be none).
    let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target_addr = target.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = target.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
        }
    });
    let redirector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", redirector.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = redirector.accept().await {
            let mut buf = vec![0u8; 65536];
            let _ = s.read(&mut buf).await;
            let resp = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{target_addr}/stolen\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    let mut sink = WebhookSink::new(&webhook_config("w", url)).unwrap();
    let batch = [Delivery::Finding(Box::new(finding(1, "app", "x")))];
    let r = sink.send(&batch).await;
    assert!(r.is_err(), "a 307 is not a delivery");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the redirect was followed");
}
