//! Files and stdin as live sources: read to the end (and, with `follow`, keep reading
//! appended lines like `tail -F`, re-opening the file after rotation).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

use super::{LineTx, SourceLine, SourceTask};
use crate::parse::MAX_LINE_BYTES;
use crate::pipeline::classify::controller_hint_from_path;

/// A file (or `-` for stdin) read once, or followed.
pub fn file_source(path: String, follow: bool) -> SourceTask {
    Box::new(move |tx, cancel, telemetry| {
        Box::pin(async move {
            let name = format!("file:{path}");
            let stats = telemetry.source(&name);
            let stream: Arc<str> = Arc::from(name.as_str());
            let hint = controller_hint_from_path(&path);
            let send = |bytes: Vec<u8>| {
                let tx: LineTx = tx.clone();
                let stream = stream.clone();
                let controller = hint.clone();
                async move {
                    tx.send(SourceLine {
                        stream,
                        bytes,
                        controller,
                    })
                    .await
                    .is_ok()
                }
            };
            if path == "-" {
                let mut r = BufReader::new(tokio::io::stdin());
                let mut buf = Vec::new();
                stats.synced.store(true, Ordering::Relaxed);
                loop {
                    buf.clear();
                    let n = tokio::select! {
                        _ = cancel.cancelled() => break,
                        r = read_capped(&mut r, &mut buf) => r,
                    };
                    match n {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            stats.lines.fetch_add(1, Ordering::Relaxed);
                            if !send(std::mem::take(&mut buf)).await {
                                break;
                            }
                        }
                    }
                }
                return;
            }
            let path = PathBuf::from(&path);
            let mut offset = 0u64;
            let mut inode = None;
            loop {
                match tokio::fs::File::open(&path).await {
                    Ok(mut f) => {
                        let meta = f.metadata().await.ok();
                        let ino = meta.as_ref().map(ino_of);
                        let len = meta.as_ref().map(|m| m.len()).unwrap_or(0);
                        if ino != inode || len < offset {
                            // New file (rotation) or truncated: start from its beginning.
                            offset = 0;
                            inode = ino;
                        }
                        if f.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
                            offset = 0;
                        }
                        let mut r = BufReader::new(f);
                        let mut buf = Vec::new();
                        loop {
                            buf.clear();
                            let n = tokio::select! {
                                _ = cancel.cancelled() => return,
                                r = read_capped(&mut r, &mut buf) => r,
                            };
                            match n {
                                Ok(0) => break,
                                Ok(n) => {
                                    if buf.last() != Some(&b'\n') && follow {
                                        // Partial last line: wait for the rest.
                                        break;
                                    }
                                    offset += n as u64;
                                    stats.lines.fetch_add(1, Ordering::Relaxed);
                                    if !send(std::mem::take(&mut buf)).await {
                                        return;
                                    }
                                }
                                Err(_) => {
                                    stats.errors.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                            }
                        }
                    }
                    Err(_) => {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                stats.synced.store(true, Ordering::Relaxed);
                if !follow {
                    return;
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
        })
    })
}

#[cfg(unix)]
fn ino_of(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.ino()
}

#[cfg(not(unix))]
fn ino_of(_m: &std::fs::Metadata) -> u64 {
    0
}

/// Reads one line (up to and including `\n`), keeping at most `MAX_LINE_BYTES + 1`
/// bytes of it; returns the bytes consumed.
async fn read_capped<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(consumed);
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = (MAX_LINE_BYTES + 1).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume(take);
        consumed += take;
        if done {
            return Ok(consumed);
        }
    }
}
