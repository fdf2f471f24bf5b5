//! The Kafka-compatible broker of the end-to-end tests: `tansu` with memory storage on
//! loopback (found or installed by `scripts/tansu.sh`), and topic creation. Shared by
//! `kafka_e2e.rs`, `central_e2e.rs` and `central_group.rs` (`#[path = "common/tansu.rs"]
//! mod tansu;`).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

static INSTALL: Mutex<()> = Mutex::new(());

/// The tansu binary: found by `scripts/tansu.sh path`, installed when missing outside CI.
pub fn tansu_bin() -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let script = root().join("scripts/tansu.sh");
    let path = || {
        let out = Command::new(&script).arg("path").output().ok()?;
        out.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    };
    if let Some(p) = path() {
        return p;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "tansu (Kafka-compatible broker) is not installed: CI must install it with \
             `scripts/tansu.sh install` before `cargo test` (scripts/test.sh does)"
        );
    }
    eprintln!("tansu missing: running scripts/tansu.sh install (a source build, several minutes)");
    let ok = Command::new(&script)
        .arg("install")
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "scripts/tansu.sh install failed");
    path().expect("tansu installed but not found")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free loopback port")
}

/// A tansu broker on 127.0.0.1, killed on drop.
pub struct Broker {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Broker {
    pub fn start(port: u16, log: PathBuf) -> Broker {
        let mut b = Broker {
            child: None,
            port,
            log,
        };
        b.restart();
        b
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port; memory storage starts empty.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "broker already running");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("broker log");
        let child = Command::new(tansu_bin())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("tansu exited at start ({st}); log {}", self.log.display());
            }
            assert!(Instant::now() < deadline, "tansu did not listen within 30s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Creates `topics` (name, partitions) with replication 1; one that exists is fine.
pub fn create_topics_with(bootstrap: &str, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("admin client");
    let topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(t, n)| NewTopic::new(t, *n, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(admin.create_topics(&topics, &opts))
        .expect("create topics");
    for r in res {
        if let Err((t, e)) = r {
            assert!(
                e == rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                "create topic {t}: {e}"
            );
        }
    }
}
