//! Errors at the engine's boundary. Each message names the thing and the fix; each kind a
//! caller decides by (busy, full disk, Store gone) is a variant or a SQLite code kept as the
//! error's source, never something found by searching the message text.

use std::path::PathBuf;
use std::sync::Arc;

/// An error from the Store: bad input, SQLite, or the Store being unreachable.
///
/// Cloneable, because one failure answers many callers (every operation of a batch whose
/// commit failed): the SQLite error is shared behind an `Arc`, and each caller's error returns
/// it (the `rusqlite::Error` itself, so a caller can downcast it) as its source.
#[derive(Debug, Clone)]
pub enum StoreError {
    /// The key breaks the key rules.
    InvalidKey(String),
    /// The payload is larger than `[store] max_payload`.
    PayloadTooLarge {
        /// The payload's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A value that must be positive or finite was not.
    InvalidValue(String),
    /// SQLite refused the operation.
    Sqlite(Arc<rusqlite::Error>),
    /// The transaction holding this operation could not begin or commit (another process held
    /// the write lock past `busy_timeout`, an I/O error); nothing of it was written. Every
    /// operation of the batch carries the same SQLite error as its source.
    Commit(Arc<rusqlite::Error>),
    /// The file system holding the database is full (SQLite's `SQLITE_FULL`); nothing was
    /// written.
    DiskFull {
        /// The database file, when known.
        db: Option<PathBuf>,
        /// SQLite's error.
        source: Arc<rusqlite::Error>,
    },
    /// PostgreSQL refused the operation, or its connection failed (a transaction that could
    /// not commit included: nothing of it was written, unless the connection broke during
    /// COMMIT, when the outcome is unknown as for [`StoreError::Unavailable`]).
    Postgres(Arc<postgres::Error>),
    /// The database holds something the engine cannot have written (a row gone mid-operation);
    /// nothing of the operation was written.
    Inconsistent(String),
    /// There is no database at the path (and the command does not create one).
    Missing(String),
    /// The database could not be opened or set up as the engine requires.
    Open(String),
    /// The Store actor is not running (restarting or stopped); the outcome of the request is
    /// unknown, and requests fenced by a lease or keyed by an idempotency key may be repeated.
    Unavailable(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::InvalidKey(why) => write!(f, "invalid key: {why}"),
            StoreError::PayloadTooLarge { size, limit } => write!(
                f,
                "payload is {size} bytes, over the {limit}-byte limit; raise [store] max_payload \
                 or send a smaller payload"
            ),
            StoreError::InvalidValue(why) => write!(f, "invalid value: {why}"),
            StoreError::Sqlite(e) => write!(f, "database error: {e}"),
            StoreError::Commit(e) => write!(f, "database error: could not commit: {e}"),
            StoreError::Postgres(e) => write!(f, "database error: {}", pg_message(e)),
            StoreError::DiskFull { db, source } => {
                let what =
                    db.as_ref().map_or("the database".to_owned(), |p| p.display().to_string());
                write!(
                    f,
                    "the disk holding {what} is full ({source}); nothing was written; free space \
                     there (or move the database to a disk with room: --db, NIGHTSHIFT_DB or db in \
                     nightshift.toml) and retry"
                )
            }
            StoreError::Inconsistent(why) => write!(f, "the database is inconsistent: {why}"),
            StoreError::Missing(why) | StoreError::Open(why) => f.write_str(why),
            StoreError::Unavailable(why) => write!(f, "the store is unavailable: {why}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Sqlite(e)
            | StoreError::Commit(e)
            | StoreError::DiskFull { source: e, .. } => Some(e.as_ref()),
            StoreError::Postgres(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(Arc::new(e))
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Postgres(Arc::new(e))
    }
}

/// PostgreSQL's message with its detail and hint, which name the row or the fix; for a failure
/// without one (a refused connection), the client's words and their cause.
pub(crate) fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_owned();
            for extra in [db.detail(), db.hint()].into_iter().flatten() {
                text.push_str("; ");
                text.push_str(extra);
            }
            text
        }
        // The client's own words are its kind alone ("error connecting to server").
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// PostgreSQL's codes for a failure that a later attempt may not meet: a conflict between
/// concurrent transactions, the server restarting or out of connections.
fn pg_transient(e: &postgres::Error) -> bool {
    use postgres::error::SqlState;
    match e.code() {
        Some(code) => [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::LOCK_NOT_AVAILABLE,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::CONNECTION_EXCEPTION,
            SqlState::CONNECTION_FAILURE,
        ]
        .contains(code),
        // No code: the connection itself failed (closed, refused, reset).
        None => true,
    }
}

impl StoreError {
    /// The error for a transaction that could not begin or commit: a full disk by its SQLite
    /// code, anything else as [`StoreError::Commit`] keeping SQLite's error (and so its code:
    /// a busy database stays transient).
    /// PostgreSQL's errors stay as they are (their codes tell the kind).
    pub(crate) fn failed_commit(e: StoreError) -> StoreError {
        match e {
            StoreError::Sqlite(e) => StoreError::Commit(e).named(),
            other => other.named(),
        }
    }

    /// A full disk anywhere (an operation's own statement or its commit) as
    /// [`StoreError::DiskFull`], which names the fix; every other error as it is.
    #[must_use]
    pub fn named(self) -> StoreError {
        match self {
            StoreError::Sqlite(e) | StoreError::Commit(e)
                if e.sqlite_error_code() == Some(DISK_FULL) =>
            {
                StoreError::DiskFull { db: None, source: e }
            }
            other => other,
        }
    }

    /// True when the file system holding the database is full: SQLite's `SQLITE_FULL`,
    /// whether named as [`StoreError::DiskFull`] yet or not.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull { .. } => true,
            StoreError::Sqlite(e) | StoreError::Commit(e) => {
                e.sqlite_error_code() == Some(DISK_FULL)
            }
            StoreError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::DISK_FULL),
            _ => false,
        }
    }

    /// True when repeating the same request later may succeed: the Store restarting, or the
    /// database busy or locked (another process holding the write lock past `busy_timeout`).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Sqlite(e) | StoreError::Commit(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            StoreError::Postgres(e) => pg_transient(e),
            _ => false,
        }
    }
}

const DISK_FULL: rusqlite::ErrorCode = rusqlite::ErrorCode::DiskFull;

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

    fn failure(code: std::ffi::c_int, text: Option<&str>) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), text.map(str::to_owned))
    }

    #[test]
    fn a_full_disk_is_known_by_its_sqlite_code_not_its_text() {
        let full = StoreError::from(failure(rusqlite::ffi::SQLITE_FULL, None));
        assert!(full.is_disk_full());
        let busy = failure(rusqlite::ffi::SQLITE_BUSY, Some("database or disk is full"));
        assert!(!StoreError::from(busy).is_disk_full());
        assert!(!StoreError::Inconsistent("database or disk is full".to_owned()).is_disk_full());
        let named = full.named();
        assert!(matches!(named, StoreError::DiskFull { db: None, .. }), "{named:?}");
        assert!(named.to_string().contains("free space there"), "{named}");
        assert!(!named.to_string().contains("[store]"), "{named}");
    }

    #[test]
    fn a_failed_commit_keeps_its_kind_and_source_for_every_caller() {
        // A busy BEGIN IMMEDIATE (another process holds the write lock) is worth a retry.
        let busy =
            StoreError::failed_commit(StoreError::from(failure(rusqlite::ffi::SQLITE_BUSY, None)));
        for caller in [busy.clone(), busy] {
            assert!(caller.is_transient(), "{caller}");
            let source = std::error::Error::source(&caller).expect("the SQLite error is kept");
            let sqlite = source.downcast_ref::<rusqlite::Error>().expect("a rusqlite error");
            assert_eq!(sqlite.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy));
        }
        let full =
            StoreError::failed_commit(StoreError::from(failure(rusqlite::ffi::SQLITE_FULL, None)));
        assert!(matches!(full, StoreError::DiskFull { .. }) && full.is_disk_full(), "{full:?}");
        let io =
            StoreError::failed_commit(StoreError::from(failure(rusqlite::ffi::SQLITE_IOERR, None)));
        assert!(!io.is_transient() && !io.is_disk_full(), "{io}");
    }
}
