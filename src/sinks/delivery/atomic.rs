//! Durable replacement of a small state file (router groups, chat threads): the whole
//! value is written to a temporary file beside it, fsynced, renamed over the old one,
//! and the directory is fsynced, so a crash leaves either the old or the new file.

use std::io::Write;
use std::path::Path;

/// Writes `v` as JSON to `path` atomically and durably.
pub fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec(v).map_err(std::io::Error::other)?)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
