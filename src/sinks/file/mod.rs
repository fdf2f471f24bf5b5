//! `type: file`: JSON lines appended to a file, rotated by size (`path.1`, `path.2`, …).

pub mod config;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use crate::sinks::body::render_all;
use crate::sinks::config::{BodyFormat, FileConfig};
use crate::sinks::{BoxFut, Delivery, Sink, SinkError};

pub struct FileSink {
    path: PathBuf,
    format: BodyFormat,
    max_bytes: u64,
    max_files: u32,
    file: Option<File>,
    size: u64,
}

impl FileSink {
    pub fn new(cfg: &FileConfig) -> Self {
        FileSink {
            path: PathBuf::from(&cfg.path),
            format: cfg.format,
            max_bytes: cfg.max_bytes.unwrap_or(100 << 20).max(1024),
            max_files: cfg.max_files.unwrap_or(5),
            file: None,
            size: 0,
        }
    }

    fn open(&mut self) -> std::io::Result<&mut File> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir)?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
            self.file = Some(f);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if let Some(f) = self.file.take() {
            f.sync_data()?;
        }
        if self.max_files == 0 {
            fs::remove_file(&self.path).ok();
        } else {
            let _ = fs::remove_file(self.rotated(self.max_files));
            for n in (1..self.max_files).rev() {
                let _ = fs::rename(self.rotated(n), self.rotated(n + 1));
            }
            fs::rename(&self.path, self.rotated(1))?;
        }
        self.size = 0;
        Ok(())
    }

    fn write_batch(&mut self, batch: &[Delivery]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for d in batch {
            for v in render_all(d, self.format) {
                serde_json::to_writer(&mut buf, &v)?;
                buf.push(b'\n');
            }
        }
        if self.size > 0 && self.size + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let f = self.open()?;
        f.write_all(&buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }
}

impl Sink for FileSink {
    fn send<'a>(&'a mut self, batch: &'a [Delivery]) -> BoxFut<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.write_batch(batch).map_err(|e| {
                self.file = None;
                SinkError::retryable(format!("{}: {e}", self.path.display()))
            })
        })
    }

    fn flush(&mut self) -> BoxFut<'_, Result<(), SinkError>> {
        Box::pin(async move {
            if let Some(f) = &self.file {
                f.sync_data()
                    .map_err(|e| SinkError::retryable(e.to_string()))?;
            }
            Ok(())
        })
    }

    fn max_batch(&self) -> usize {
        256
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::AuditRecord;
    use crate::record::{ChangeSet, ObjectRef};

    fn audit(n: i64) -> Delivery {
        Delivery::Audit(Box::new(AuditRecord {
            ts: n,
            cluster: "c".into(),
            controller: Some("kustomize-controller".into()),
            action: "revision_applied".into(),
            subject: ObjectRef::new("Kustomization", "ns", format!("k{n}")),
            tenant: "ns".into(),
            source: None,
            source_url: None,
            revision: Some("main@sha1:0123456789abcdef0123456789abcdef01234567".into()),
            commit: None,
            changes: ChangeSet::default(),
            outcome: "success".into(),
            message: "x".repeat(200),
        }))
    }

    #[test]
    fn rotates_by_size_and_keeps_max_files() {
        let dir = std::env::temp_dir().join(format!("fluxsight-filesink-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("out.jsonl");
        let mut sink = FileSink::new(&FileConfig {
            name: "f".into(),
            path: path.display().to_string(),
            format: BodyFormat::Native,
            max_bytes: Some(2048),
            max_files: Some(2),
        });
        for i in 0..40 {
            sink.write_batch(&[audit(i)]).unwrap();
        }
        let live = fs::read_to_string(&path).unwrap();
        assert!(live.len() as u64 <= 2048, "current file within the limit");
        for line in live.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["type"], "audit");
        }
        assert!(dir.join("out.jsonl.1").exists());
        assert!(dir.join("out.jsonl.2").exists());
        assert!(
            !dir.join("out.jsonl.3").exists(),
            "only max_files rotated files kept"
        );
        // The newest record is in the live file, the oldest ones were rotated away.
        assert!(live.contains("\"k39\""));
        let _ = fs::remove_dir_all(&dir);
    }
}
