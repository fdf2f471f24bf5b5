//! Helpers shared by the end-to-end tests that drive the `fluxsight` binary: loopback
//! ports, scratch directories, polling, `/metrics` reads, zap log lines and the disk
//! spool's record format.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fluxsight::sinks::Delivery;

pub const BIN: &str = env!("CARGO_BIN_EXE_fluxsight");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An empty directory `fluxsight-<tag>-<pid>` under the temporary directory.
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fluxsight-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Polls `f` every 50 ms until it holds or `limit` passes; its last answer.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|x| x.1.to_string())?;
    Some((code, body))
}

/// Value of one series on `/metrics` (0 when absent).
pub fn metric(port: u16, series: &str) -> u64 {
    let Some((_, body)) = http_get(port, "/metrics") else {
        return 0;
    };
    body.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

/// Value of `fluxsight_source_lines_total{source="<source>"}` (0 when absent).
pub fn source_lines(port: u16, source: &str) -> u64 {
    metric(
        port,
        &format!("fluxsight_source_lines_total{{source=\"{source}\"}}"),
    )
}

fn now_secs() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    // Good enough for zap's `ts`: epoch seconds are accepted too.
    format!("{:.3}", d.as_secs_f64())
}

/// A source-controller info line carrying `id`.
pub fn info_line(id: &str) -> String {
    format!(
        r#"{{"level":"info","ts":{},"msg":"{id} artifact up to date","controller":"gitrepository","controllerGroup":"source.toolkit.fluxcd.io","controllerKind":"GitRepository","GitRepository":{{"name":"podinfo","namespace":"default"}},"namespace":"default","name":"podinfo"}}"#,
        now_secs()
    )
}

/// A source-controller Git authentication failure of `ns/repo` (attempt `attempt`).
pub fn auth_line(repo: &str, ns: &str, attempt: u32) -> String {
    format!(
        r#"{{"level":"error","ts":{},"msg":"Reconciler error","controller":"gitrepository","controllerGroup":"source.toolkit.fluxcd.io","controllerKind":"GitRepository","GitRepository":{{"name":"{repo}","namespace":"{ns}"}},"namespace":"{ns}","name":"{repo}","reconcileID":"e2e-{repo}-{attempt}","error":"failed to checkout and determine revision: unable to clone 'https://github.com/example/{repo}': authentication required: Invalid username or password"}}"#,
        now_secs()
    )
}

/// Writes `<dir>/pipeline.yaml`: `sinks` (YAML list items, two-space indented) with a
/// disk spool in `<dir>/state`, fast retries and `shutdown` as the shutdown timeout.
pub fn write_pipeline(dir: &Path, cluster: &str, sinks: &str, shutdown: &str) -> PathBuf {
    let p = dir.join("pipeline.yaml");
    std::fs::write(
        &p,
        format!(
            "cluster: {cluster}\nsinks:\n{sinks}\
             delivery:\n  state_dir: {}\n  retry_initial: 50ms\n  retry_max: 500ms\n  shutdown_timeout: {shutdown}\n",
            dir.join("state").display()
        ),
    )
    .unwrap();
    p
}

/// The bundled incident capture.
pub fn incident_log() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/demo/incident.log")
}

/// Delivery ids of every record in a sink's spool segments (acknowledged or not).
pub fn spool_ids(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut segs: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segs.sort();
    for seg in segs {
        let b = std::fs::read(seg).unwrap();
        let mut i = 0;
        while i + 8 <= b.len() {
            let len = u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
            let Some(payload) = b.get(i + 8..i + 8 + len) else {
                break; // torn tail
            };
            if let Ok(d) = serde_json::from_slice::<Delivery>(payload) {
                out.push(d.delivery_id());
            }
            i += 8 + len;
        }
    }
    out
}

/// A tmpfs mounted on a directory for the life of the value (a real full disk).
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `64k`) on `dir`; `None` (after printing why the
    /// test is skipped) when it cannot be mounted: that needs root, which CI has.
    pub fn mount(dir: &Path, size: &str, test: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED {test}: cannot mount a tmpfs (needs root)");
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: detaches even while a failed test still holds files open.
        if let Err(e) = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status()
        {
            eprintln!("umount {}: {e}", self.0.display());
        }
    }
}
