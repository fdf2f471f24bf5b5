//! The state directory's lock: one fluxsight process per `state_dir`.
//!
//! Two processes on one state directory would append to the same spool segments and
//! overwrite each other's cursors and checkpoints. An advisory lock (`flock`) on
//! `<state_dir>/lock` is taken before any spool is opened and held for the life of the
//! process; the file holds the holder's pid so a refused start can name it. The kernel
//! releases the lock when the process dies, whatever kills it, so there is never a
//! stale lock to clean up.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Name of the lock file inside the state directory.
pub const LOCK_FILE: &str = "lock";

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("state_dir {dir} is in use by another fluxsight process (pid {pid}); one process per state directory")]
    Held { dir: String, pid: String },
    #[error("state_dir {dir}: {error}")]
    Io { dir: String, error: std::io::Error },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateDirLock {
    _file: File,
}

impl StateDirLock {
    /// Takes the lock of `dir` (created if missing), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<StateDirLock, LockError> {
        let d = dir.display().to_string();
        let io = |error| LockError::Io {
            dir: d.clone(),
            error,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        match try_lock(&f) {
            Ok(true) => {}
            Ok(false) => {
                let mut pid = String::new();
                // Best effort: the holder may be rewriting it this instant.
                if f.read_to_string(&mut pid).is_err() || pid.trim().is_empty() {
                    pid = "unknown".into();
                }
                return Err(LockError::Held {
                    dir: d,
                    pid: pid.trim().to_string(),
                });
            }
            Err(e) => return Err(io(e)),
        }
        f.set_len(0).map_err(io)?;
        f.seek(SeekFrom::Start(0)).map_err(io)?;
        write!(f, "{}", std::process::id()).map_err(io)?;
        f.flush().map_err(io)?;
        Ok(StateDirLock { _file: f })
    }
}

/// `flock(LOCK_EX | LOCK_NB)`: `Ok(false)` when another process holds it.
#[cfg(unix)]
fn try_lock(f: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this File owns; no memory is passed.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

#[cfg(not(unix))]
fn try_lock(_f: &File) -> std::io::Result<bool> {
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_ones_pid() {
        let dir = std::env::temp_dir().join(format!("fluxsight-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let held = StateDirLock::acquire(&dir).unwrap();
        match StateDirLock::acquire(&dir) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("expected the lock to be held, got {other:?}"),
        }
        drop(held);
        assert!(StateDirLock::acquire(&dir).is_ok(), "released on drop");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
