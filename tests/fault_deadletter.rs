//! Permanent rejections while the disk is full (README "Fault matrix", rows "permanent
//! rejection" and "disk spool full"): nothing is acknowledged that is not durably in the
//! dead-letter file.
//!
//! The state directory (spool and dead-letter file) is a real 256 KiB tmpfs; a local
//! receiver answers 400 to everything, so every delivery is dead-lettered. Thousands of
//! deliveries do not fit: an "operator" moves the dead-letter file off the disk, like a
//! log rotation, but only after its writes have failed for a while (the disk full), and
//! frees a reserve file when the spool alone fills the disk. At the end every delivery id
//! is in the (rotated) dead-letter file, each line whole JSON, or still in the spool.
//! Needs root to mount; skipped with a message otherwise.

mod common;
mod http_support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{tempdir, Tmpfs};
use fluxsight::sinks::config::FsyncPolicy;
use fluxsight::sinks::spool::{DiskSpool, Queue};
use fluxsight::sinks::worker::{spawn, SinkHandle, Submitted, WorkerConfig};
use fluxsight::sinks::{webhook, Delivery};
use http_support::{audit, webhook_config, Fault, Receiver};
use tokio::sync::Mutex;

/// Deliveries pushed through the worker.
const N: u64 = 2000;
/// The producer submits this many, then waits until the sink has drained them, so that
/// a spool segment filled to ENOSPC is drained and replaced by an empty one.
const CHUNK: u64 = 40;
/// Failed dead-letter attempts before the operator frees space ("for a while").
const FAILS_BEFORE_FREEING: u64 = 8;
/// Space held back on the tmpfs, freed when the spool alone fills the disk.
const RESERVE_BYTES: usize = 64 << 10;
const TMPFS_SIZE: &str = "256k";
const LIMIT: Duration = Duration::from_secs(120);

/// The tmpfs and what the operator does to it.
struct Disk {
    dead_letter: PathBuf,
    rotated: PathBuf,
    reserve: PathBuf,
    /// Outside the tmpfs: every rotated dead-letter file, concatenated.
    archive: PathBuf,
    rotations: u64,
    reserve_freed: u64,
    /// Filled for good: nothing is freed any more.
    filled: bool,
}

impl Disk {
    /// Moves the dead-letter file to the archive. `handle` is the sink, to wait until a
    /// write that may have opened the file before the rename has finished.
    async fn rotate(&mut self, handle: &SinkHandle) {
        match std::fs::rename(&self.dead_letter, &self.rotated) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => panic!("rotate: {e}"),
        }
        // Each attempt bumps one of the two counters (batches of one); the second attempt
        // after the rename opened the new file, so the first has finished.
        let attempts = |h: &SinkHandle| {
            let s = h.stats().snapshot();
            s.dead_lettered + s.dead_letter_failed
        };
        let a0 = attempts(handle);
        let t = Instant::now();
        while attempts(handle) < a0 + 2 && handle.backlog() > 0 {
            assert!(t.elapsed() < LIMIT, "the worker stopped attempting");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let text = std::fs::read(&self.rotated).unwrap();
        let mut a = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.archive)
            .unwrap();
        a.write_all(&text).unwrap();
        std::fs::remove_file(&self.rotated).unwrap();
        self.rotations += 1;
    }

    /// Fills the reserve file (best effort: a full disk leaves it smaller).
    fn hold_reserve(&self) {
        if self.reserve.exists() {
            return;
        }
        let mut f = std::fs::File::create(&self.reserve).unwrap();
        let page = vec![0u8; 4096];
        for _ in 0..RESERVE_BYTES / page.len() {
            if f.write_all(&page).is_err() {
                break;
            }
        }
    }

    /// Takes every free byte of the tmpfs.
    fn fill(&mut self) {
        let mut f = std::fs::File::create(self.reserve.with_extension("fill")).unwrap();
        let err = f.write_all(&vec![0u8; 1 << 20]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(28), "ENOSPC: {err}");
        self.filled = true;
    }

    fn dead_letter_len(&self) -> u64 {
        std::fs::metadata(&self.dead_letter).map_or(0, |m| m.len())
    }
}

/// Dead-lettered delivery ids, one per line; panics on a line that is not whole JSON.
fn dead_letter_ids(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the dead-letter file ends in a torn line"
    );
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            let v: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: not JSON ({e}): {l}", path.display(), i + 1));
            let d: Delivery = serde_json::from_value(v["delivery"].clone()).unwrap();
            d.delivery_id()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_on_a_full_disk_lose_nothing() {
    let dir = tempdir("fault-deadletter");
    let state = dir.join("state");
    let Some(guard) = Tmpfs::mount(
        &state,
        TMPFS_SIZE,
        "dead_letters_on_a_full_disk_lose_nothing",
    ) else {
        return;
    };

    let rx = Receiver::start(None).await;
    rx.set_steady(Some(Fault::Status(400, "bad request")));
    let spool_dir = state.join("spool").join("hook");
    let dead_letter = state.join("dead-letter").join("hook.jsonl");
    let disk = Arc::new(Mutex::new(Disk {
        rotated: dead_letter.with_extension("jsonl.1"),
        dead_letter: dead_letter.clone(),
        reserve: state.join("reserve"),
        archive: dir.join("archive.jsonl"),
        rotations: 0,
        reserve_freed: 0,
        filled: false,
    }));
    disk.lock().await.hold_reserve();
    let queue = Queue::Disk(DiskSpool::open(&spool_dir, 1 << 30, FsyncPolicy::Always, 64).unwrap());
    let cfg = WorkerConfig {
        retry_initial_ms: 2,
        retry_max_ms: 20,
        dead_letter: Some(dead_letter.clone()),
    };
    let sink = webhook::build(&webhook_config("hook", rx.url("/"))).unwrap();
    let (h, join) = spawn("hook", sink, queue, cfg);

    let ds: Vec<Delivery> = (0..N)
        .map(|i| Delivery::Audit(Box::new(audit(i))))
        .collect();
    let queued = Arc::new(std::sync::Mutex::new(Vec::new()));
    let producer = {
        let (h, disk, queued) = (h.clone(), disk.clone(), queued.clone());
        tokio::spawn(async move {
            for chunk in ds.chunks(CHUNK as usize) {
                for d in chunk {
                    assert_eq!(h.submit(d.clone()).await, Submitted::Queued);
                    queued.lock().unwrap().push(d.delivery_id());
                }
                while h.backlog() > 0 {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                // The worker is idle: the disk can be tidied without racing a write.
                let mut disk = disk.lock().await;
                if disk.filled {
                    continue;
                }
                if disk.dead_letter_len() > 0 {
                    disk.rotate(&h).await;
                }
                disk.hold_reserve();
            }
        })
    };

    // The operator frees space only after dead-letter writes have failed for a while.
    // Near the end it fills the disk for good while a chunk is queued, so that some
    // deliveries are left in the spool.
    let t = Instant::now();
    let mut failed_at = 0;
    loop {
        assert!(t.elapsed() < LIMIT, "stuck: {:?}", h.stats().snapshot());
        let st = h.stats().snapshot();
        let mut disk = disk.lock().await;
        if st.dead_lettered >= N - 2 * CHUNK && h.backlog() >= CHUNK as usize / 4 {
            disk.fill();
            break;
        }
        if st.dead_letter_failed >= failed_at + FAILS_BEFORE_FREEING {
            if disk.dead_letter_len() > 0 {
                disk.rotate(&h).await;
            } else if disk.reserve.exists() {
                // The spool filled the disk: nothing to rotate.
                std::fs::remove_file(&disk.reserve).unwrap();
                disk.reserve_freed += 1;
            }
            failed_at = h.stats().snapshot().dead_letter_failed;
        }
        drop(disk);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let failed_at = h.stats().snapshot().dead_letter_failed;
    // Stuck for a while; a backlog gone to 0 on a full disk would mean writes ignored.
    while h.stats().snapshot().dead_letter_failed < failed_at + FAILS_BEFORE_FREEING
        && h.backlog() > 0
    {
        assert!(t.elapsed() < LIMIT, "stuck: {:?}", h.stats().snapshot());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    h.abort();
    producer.abort();
    tokio::time::timeout(Duration::from_secs(10), join)
        .await
        .expect("worker stops")
        .unwrap();

    let disk = disk.lock().await;
    let mut dead = dead_letter_ids(&disk.archive);
    dead.extend(dead_letter_ids(&disk.dead_letter));
    dead.extend(dead_letter_ids(&disk.rotated));
    let mut spool =
        Queue::Disk(DiskSpool::open(&spool_dir, 1 << 30, FsyncPolicy::Always, 1 << 16).unwrap());
    let pending: Vec<String> = spool
        .peek(1 << 16)
        .unwrap()
        .iter()
        .map(|(_, d)| d.delivery_id())
        .collect();
    let st = h.stats().snapshot();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for id in dead.iter().chain(&pending) {
        *count.entry(id.as_str()).or_default() += 1;
    }
    let queued = queued.lock().unwrap().clone();
    let missing: Vec<&String> = queued
        .iter()
        .filter(|id| !count.contains_key(id.as_str()))
        .collect();
    let twice = count.values().filter(|&&n| n > 1).count();
    eprintln!(
        "queued {} of {N}: dead-lettered {} lines (counter {}), still in the spool {}, missing {}, \
         twice {twice}; failed dead-letter attempts {}, rotations {}, reserve freed {} times, {:?}",
        queued.len(),
        dead.len(),
        st.dead_lettered,
        pending.len(),
        missing.len(),
        st.dead_letter_failed,
        disk.rotations,
        disk.reserve_freed,
        t.elapsed(),
    );
    assert!(
        missing.is_empty(),
        "ids neither dead-lettered nor spooled: {missing:?}"
    );
    assert_eq!(
        st.dead_lettered,
        dead.len() as u64,
        "the counter matches the lines written"
    );
    assert_eq!(twice, 0, "no delivery written twice");
    assert!(
        disk.rotations > 0 && st.dead_letter_failed > 2 * FAILS_BEFORE_FREEING,
        "the disk was full more than once: {st:?}"
    );
    assert!(!pending.is_empty(), "the last deliveries wait in the spool");
    assert!(queued.len() as u64 >= N - 2 * CHUNK);
    // Every open file on the tmpfs closed, so that it can be unmounted.
    drop((spool, h));
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}
