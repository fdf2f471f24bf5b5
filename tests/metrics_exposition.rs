//! `/metrics` of `fluxsight run`, driving the binary: OpenMetrics 1.0 by default (the
//! `Content-Type` Prometheus expects for it, `# EOF` at the end), Prometheus text 0.0.4
//! to a scraper that asks for `text/plain`, and latencies as real histograms whose
//! bucket lines `histogram_quantile()` can use, filled by an actual delivery.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{auth_line, free_port, tempdir, wait_until, BIN};

/// `GET /metrics` with an optional `Accept`; (Content-Type, body).
fn scrape(port: u16, accept: Option<&str>) -> Option<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n{accept}\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let ctype = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-type")
            .then(|| v.trim().to_string())
    })?;
    Some((ctype, body.to_string()))
}

struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn start(dir: &Path, port: u16) -> Run {
    let cfg = dir.join("pipeline.yaml");
    std::fs::write(
        &cfg,
        format!(
            "sinks:\n  - name: out\n    type: file\n    path: {}\ndelivery:\n  state_dir: {}\n",
            dir.join("out.jsonl").display(),
            dir.join("state").display()
        ),
    )
    .unwrap();
    let input = dir.join("in.log");
    std::fs::write(&input, "").unwrap();
    let child = Command::new(BIN)
        .args([
            "run",
            "--no-kube",
            "--output",
            "none",
            "--health-listen",
            "none",
        ])
        .arg("--config")
        .arg(&cfg)
        .arg("--input")
        .arg(&input)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let run = Run(child);
    assert!(
        wait_until(Duration::from_secs(20), || scrape(port, None).is_some()),
        "fluxsight did not start"
    );
    run
}

#[test]
fn metrics_are_openmetrics_with_histograms_and_text_004_on_request() {
    let dir = tempdir("metrics-exposition");
    let port = free_port();
    let _run = start(&dir, port);

    let (ctype, body) = scrape(port, None).unwrap();
    assert_eq!(
        ctype,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    // What Prometheus sends: OpenMetrics first.
    let prom =
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    assert_eq!(
        scrape(port, Some(prom)).unwrap().0,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );

    // One delivery through the file sink fills the latency histograms.
    let input = dir.join("in.log");
    for a in 1..=3 {
        if a > 1 {
            std::thread::sleep(Duration::from_millis(2100));
        }
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap();
        writeln!(f, "{}", auth_line("app", "team-a", a)).unwrap();
    }
    let inf = "fluxsight_sink_delivery_duration_seconds_bucket{le=\"+Inf\",sink=\"out\"} 1";
    assert!(
        wait_until(Duration::from_secs(20), || scrape(port, None)
            .is_some_and(|(_, b)| b.lines().any(|l| l == inf))),
        "no delivery observed: {}",
        scrape(port, None).unwrap().1
    );
    let (_, body) = scrape(port, None).unwrap();
    for family in [
        "fluxsight_sink_delivery_duration_seconds",
        "fluxsight_sink_end_to_end_latency_seconds",
        "fluxsight_pipeline_latency_seconds",
    ] {
        assert!(
            body.lines()
                .any(|l| l == format!("# TYPE {family} histogram")),
            "{family} is not a histogram: {body}"
        );
        let buckets: Vec<&str> = body
            .lines()
            .filter(|l| l.starts_with(&format!("{family}_bucket{{")))
            .collect();
        assert!(buckets.len() >= 10, "{family}: {buckets:?}");
        // Cumulative: the counts never go down towards +Inf, which holds them all.
        let counts: Vec<u64> = buckets
            .iter()
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(
            counts.windows(2).all(|w| w[0] <= w[1]),
            "{family}: {buckets:?}"
        );
        assert_eq!(
            counts.last(),
            Some(&1),
            "{family}: one observation: {buckets:?}"
        );
        assert!(
            body.lines()
                .any(|l| l.starts_with(&format!("{family}_sum")))
                && body
                    .lines()
                    .any(|l| l.starts_with(&format!("{family}_count"))),
            "{family}: _sum and _count"
        );
    }

    // A scraper that asks for the classic text format gets it.
    let (ctype, text) = scrape(port, Some("text/plain;version=0.0.4")).unwrap();
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!text.contains("# EOF"), "{text}");
    assert!(
        text.lines()
            .any(|l| l == "# TYPE fluxsight_records_total counter"),
        "a 0.0.4 counter family carries its _total name: {text}"
    );
    assert!(text.lines().any(|l| l == inf));
}
