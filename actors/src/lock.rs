//! One runner per database: an exclusive advisory lock on `<db>.lock`, held for the engine's
//! lifetime. The kernel drops it when the process dies, however it dies, so a SIGKILLed runner
//! never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::EngineError;

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct RunnerLock {
    /// `None` on PostgreSQL, where many runners share the database (see `store::runners`).
    _file: Option<File>,
}

/// The lock file's path for a database.
pub(crate) fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl RunnerLock {
    /// Takes the lock or reports who holds it.
    pub(crate) fn acquire(db: &Path) -> Result<Self, EngineError> {
        if crate::store::pg::url_of(db).is_some() {
            return Ok(Self { _file: None });
        }
        let path = lock_path(db);
        let io = |source: std::io::Error| match source.raw_os_error() {
            Some(libc::EROFS) => EngineError::Store(crate::StoreError::Open(format!(
                "the database directory is read-only ({}: {source}); nightshift writes the \
                 database and its lock file there: mount it read-write",
                path.display()
            ))),
            _ => EngineError::Io { path: path.clone(), source },
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "a process that has not yet written its pid".to_owned(),
                    h => h.to_owned(),
                };
                return Err(EngineError::Locked { lock: path, holder });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "pid {}", std::process::id()).map_err(io)?;
        Ok(Self { _file: Some(file) })
    }
}

/// Who holds the runner lock of `db` now (`status` shows whether a runner is alive), or `None`
/// when no runner does. Never creates or changes the lock file.
pub fn runner_holder(db: &Path) -> Option<String> {
    if crate::store::pg::url_of(db).is_some() {
        return None;
    }
    let path = lock_path(db);
    let mut file = OpenOptions::new().read(true).open(path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            Some(holder.trim().to_owned())
        }
        Err(TryLockError::Error(_)) => None,
    }
}
