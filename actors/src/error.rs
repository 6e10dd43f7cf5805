//! Errors at the engine's boundary. Each message names the thing and the fix.

use std::path::PathBuf;

/// An error from the Store: bad input, SQLite, or the Store being unreachable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key breaks the key rules.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The payload is larger than `[store] max_payload`.
    #[error(
        "payload is {size} bytes, over the {limit}-byte limit; raise [store] max_payload or send a smaller payload"
    )]
    PayloadTooLarge {
        /// The payload's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A value that must be positive or finite was not.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// SQLite refused the operation.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The transaction holding this write could not commit (disk full, I/O error); nothing of
    /// it was written.
    #[error("database error: could not commit: {0}")]
    Commit(String),
    /// The file system holding the database is full; nothing was written.
    #[error("{0}")]
    DiskFull(String),
    /// There is no database at the path (and the command does not create one).
    #[error("{0}")]
    Missing(String),
    /// The database could not be opened or set up as the engine requires.
    #[error("{0}")]
    Open(String),
    /// The Store actor is not running (restarting or stopped); the outcome of the request is
    /// unknown, and requests fenced by a lease or keyed by an idempotency key may be repeated.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// The error for a full file system under `db` (the database when `None`), naming the fix.
    pub fn disk_full(db: Option<&std::path::Path>, cause: &dyn std::fmt::Display) -> StoreError {
        let what = db.map_or("the database".to_owned(), |p| p.display().to_string());
        StoreError::DiskFull(format!(
            "the disk holding {what} is full ({cause}); nothing was written; free space there \
             (or move the database to a disk with room: --db, NIGHTSHIFT_DB or db in \
             nightshift.toml) and retry"
        ))
    }

    /// True when the file system holding the database is full: SQLite's SQLITE_FULL, or a
    /// [`StoreError::DiskFull`] already named as such.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull(_) => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            _ => false,
        }
    }

    /// The same failure for each of the callers it failed together (every operation of a batch
    /// whose commit failed, every enqueuer a round carried): the kind a caller decides by is
    /// kept, disk full and transient (busy, locked, Store gone).
    pub(crate) fn for_each_caller(&self) -> StoreError {
        if self.is_disk_full() {
            return StoreError::disk_full(None, self);
        }
        if self.is_transient() {
            return StoreError::Unavailable(self.to_string());
        }
        StoreError::Commit(self.to_string())
    }

    /// True when repeating the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

/// An error starting or driving the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Another runner holds the database's lock file.
    #[error("another runner holds {}: {holder}; stop it first (one runner per database)", .lock.display())]
    Locked {
        /// The lock file.
        lock: PathBuf,
        /// What the lock file says about its holder.
        holder: String,
    },
    /// The Store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An actor could not be started.
    #[error("could not start the engine: {0}")]
    Spawn(String),
    /// The engine has stopped (shut down, or the restart budget ran out).
    #[error("the engine has stopped: {0}")]
    Stopped(String),
    /// An I/O error on a file the engine owns.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_known_by_its_sqlite_code_not_its_text() {
        let full = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL);
        assert!(StoreError::Sqlite(rusqlite::Error::SqliteFailure(full, None)).is_disk_full());
        let busy = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY);
        let text = Some("database or disk is full".to_owned());
        assert!(!StoreError::Sqlite(rusqlite::Error::SqliteFailure(busy, text)).is_disk_full());
        assert!(!StoreError::Commit("database or disk is full".to_owned()).is_disk_full());
        let named = StoreError::disk_full(None, &"database or disk is full");
        assert!(named.is_disk_full());
        assert!(!named.to_string().contains("[store]"), "{named}");
    }

    #[test]
    fn a_failed_commit_keeps_its_kind_for_every_caller() {
        let sqlite = |code| {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        // A busy BEGIN IMMEDIATE (another process holds the write lock) is worth a retry.
        assert!(sqlite(rusqlite::ffi::SQLITE_BUSY).for_each_caller().is_transient());
        assert!(sqlite(rusqlite::ffi::SQLITE_FULL).for_each_caller().is_disk_full());
        let io = sqlite(rusqlite::ffi::SQLITE_IOERR).for_each_caller();
        assert!(!io.is_transient() && !io.is_disk_full(), "{io}");
    }
}
