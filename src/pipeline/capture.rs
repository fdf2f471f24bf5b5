//! `fluxsight record`: the live input written to a file that `fluxsight replay` reads
//! back — the way users capture an incident.
//!
//! Owns: the capture format. Each raw line as a source produced it, one per line; log
//! lines of a pod keep their `--timestamps` envelope and get the `kubectl logs
//! --prefix` envelope (`[pod/<pod>/<container>] `) so the controller stays known.
//!
//! Invariant: the file is flushed whenever the input channel runs empty, so a capture
//! killed mid-incident holds everything read up to the last quiet moment.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::sources::{SourceLine, SourceTask, LINE_CHANNEL};
use crate::telemetry::Telemetry;

/// The capture form of one line (without the newline).
pub fn capture_line(line: &SourceLine) -> Vec<u8> {
    let mut body: &[u8] = &line.bytes;
    while let Some((b'\n' | b'\r', rest)) = body.split_last() {
        body = rest;
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    // `pod/<ns>/<pod>/<container>` → `[pod/<pod>/<container>] `
    let parts: Vec<&str> = line.stream.split('/').collect();
    if parts.len() == 4 && parts[0] == "pod" {
        out.extend_from_slice(format!("[pod/{}/{}] ", parts[2], parts[3]).as_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// Runs `sources` until they end or `cancel` fires, writing every line to `path`.
/// Returns the number of lines written.
pub async fn run_capture(
    sources: Vec<SourceTask>,
    path: &Path,
    telemetry: Arc<Telemetry>,
    cancel: CancellationToken,
) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let (tx, mut rx) = mpsc::channel::<SourceLine>(LINE_CHANNEL);
    let mut tasks = Vec::new();
    for s in sources {
        tasks.push(tokio::spawn(s(
            tx.clone(),
            cancel.clone(),
            telemetry.clone(),
        )));
    }
    drop(tx);
    let mut n = 0u64;
    // Lines are acknowledged to their sources once flushed to the capture file.
    let mut acks = crate::sources::ack::BatchAcks::default();
    while let Some(mut line) = rx.recv().await {
        // Re-listed after a restart and seen before: captured by the earlier run.
        let seen = line.ack.as_ref().is_some_and(|a| a.rebuild);
        if !seen {
            out.write_all(&capture_line(&line))?;
            out.write_all(b"\n")?;
            n += 1;
        }
        if let Some(a) = line.ack.take() {
            acks.add(a, None);
        }
        if rx.is_empty() {
            out.flush()?;
            std::mem::take(&mut acks).commit();
        }
    }
    out.flush()?;
    acks.commit();
    for t in tasks {
        let _ = t.await;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_lines_get_the_prefix_envelope() {
        let l = SourceLine {
            stream: Arc::from("pod/flux-system/source-controller-7d9f8c6b5-x2x7k/manager"),
            bytes: b"2026-03-02T10:20:38.829Z {\"level\":\"info\"}\n".to_vec(),
            controller: None,
            ack: None,
        };
        assert_eq!(
            String::from_utf8(capture_line(&l)).unwrap(),
            "[pod/source-controller-7d9f8c6b5-x2x7k/manager] 2026-03-02T10:20:38.829Z {\"level\":\"info\"}"
        );
        let w = SourceLine {
            stream: Arc::from("watch/Event"),
            bytes: b"{\"type\":\"ADDED\"}".to_vec(),
            controller: None,
            ack: None,
        };
        assert_eq!(capture_line(&w), b"{\"type\":\"ADDED\"}");
    }
}
