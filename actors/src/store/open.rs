//! Opening the database: pragmas read back, schema migrations by `user_version`.
//!
//! WAL is required (readers such as `status` must not block the writer, and a crash must not
//! leave a half-applied batch); if the file system refuses it, the Store refuses to start
//! rather than run with a journal mode the guarantees were not made for.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::config::Synchronous;
use crate::error::StoreError;

/// The schema, one entry per version; entry `i` migrates from `user_version = i` to `i + 1`.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_initial.sql")];

/// Opens `db` (creating it if missing) as the single writer.
pub(crate) fn open(db: &Path, synchronous: Synchronous) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(db, flags).map_err(|e| opening(db, e))?;
    configure(&conn, db, synchronous)?;
    migrate(&conn).map_err(|e| opening(db, e))?;
    Ok(conn)
}

/// Sets and reads back the pragmas every connection to a nightshift database uses.
pub(crate) fn configure(
    conn: &Connection,
    db: &Path,
    synchronous: Synchronous,
) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5)).map_err(|e| opening(db, e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| opening(db, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open(format!(
            "database {} could not switch to WAL (journal_mode is {mode}); put it on a local disk \
             that supports shared memory, not a network file system",
            db.display()
        )));
    }
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;",
        synchronous.pragma()
    ))
    .map_err(|e| opening(db, e))?;
    Ok(())
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))
        .inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK");
        })?;
    }
    Ok(())
}

fn opening(db: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Open(format!("cannot open database {}: {e}", db.display()))
}
