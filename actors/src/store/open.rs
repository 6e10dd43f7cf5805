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
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_gates.sql"),
    include_str!("migrations/0003_cap.sql"),
    include_str!("migrations/0004_retention.sql"),
    include_str!("migrations/0005_alert_digests.sql"),
    include_str!("migrations/0006_status_check.sql"),
    include_str!("migrations/0007_steps.sql"),
    include_str!("migrations/0008_snoozes.sql"),
    include_str!("migrations/0009_attempt_details.sql"),
    include_str!("migrations/0010_waits_cancel.sql"),
    include_str!("migrations/0011_limits.sql"),
    include_str!("migrations/0012_limit_probe.sql"),
    include_str!("migrations/0013_dead_limit.sql"),
];

/// The first bytes of every SQLite database file.
const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Checks that `db` is an existing nightshift-compatible file before anything opens it, so a
/// wrong path (a directory, an empty file where a volume was not mounted, someone else's file)
/// is refused with the fix and never written to.
pub(crate) fn check_existing(db: &Path) -> Result<(), StoreError> {
    let shown = db.display();
    let meta = match std::fs::metadata(db) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::Missing(format!(
                "no database at {shown}; run `nightshift init` to create it, or point --db / \
                 NIGHTSHIFT_DB at the existing one"
            )));
        }
        Err(e) => return Err(StoreError::Open(format!("cannot read {shown}: {e}"))),
    };
    if meta.is_dir() {
        return Err(StoreError::Open(format!(
            "{shown} is a directory, not a database file; point --db at a file inside it, \
             such as {}",
            db.join("nightshift.db").display()
        )));
    }
    if !meta.is_file() {
        return Err(StoreError::Open(format!(
            "{shown} is not a regular file; point --db at a database file"
        )));
    }
    if meta.len() == 0 {
        return Err(StoreError::Open(format!(
            "{shown} is empty (0 bytes), not a nightshift database; if a volume should be \
             mounted there, mount it; otherwise delete the file and run `nightshift init`"
        )));
    }
    let mut header = [0u8; 16];
    let read =
        std::fs::File::open(db).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
    if read.is_err() || &header != HEADER {
        return Err(StoreError::Open(format!(
            "{shown} is not a SQLite database; nightshift will not touch it. Point --db at \
             a nightshift database, or run `nightshift init` with a new path"
        )));
    }
    Ok(())
}

/// Opens `db` (creating it if missing). With `verify` (a runner starting), the file must also
/// pass `PRAGMA quick_check` before anything is written to it.
pub(crate) fn open(
    db: &Path,
    synchronous: Synchronous,
    verify: bool,
) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(db, flags).map_err(|e| opening(db, e))?;
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err(StoreError::Open(format!(
            "database {} is read-only; make the file and its directory writable by this user \
             (WAL needs to create {0}-wal and {0}-shm beside it)",
            db.display()
        )));
    }
    check_schema(&conn, db)?;
    if verify {
        quick_check(&conn, db)?;
    }
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
    // Every statement the Store runs is cached; rusqlite's default of 16 would evict some of
    // them on each round (claim, settle, enqueue, gates, savepoints) and parse them again.
    conn.set_prepared_statement_cache_capacity(64);
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

/// Refuses a damaged database: writing to it could spread the damage.
fn quick_check(conn: &Connection, db: &Path) -> Result<(), StoreError> {
    let damaged = |detail: String| {
        StoreError::Open(format!(
            "database {} is damaged ({detail}); nightshift will not write to it. Restore it from \
             a backup (or `sqlite3 {0} .recover`) and start again",
            db.display()
        ))
    };
    let mut stmt = conn.prepare("PRAGMA quick_check").map_err(|e| damaged(e.to_string()))?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| damaged(e.to_string()))?;
    match lines.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        other => {
            let detail: Vec<&str> = other.iter().flat_map(|l| l.lines()).take(3).collect();
            Err(damaged(detail.join("; ")))
        }
    }
}

/// Refuses a SQLite file that belongs to something else, or to a newer nightshift.
fn check_schema(conn: &Connection, db: &Path) -> Result<(), StoreError> {
    let version: i64 =
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| opening(db, e))?;
    if version as usize > MIGRATIONS.len() {
        return Err(StoreError::Open(format!(
            "database {} has schema version {version}, newer than this nightshift knows ({}); \
             upgrade nightshift",
            db.display(),
            MIGRATIONS.len()
        )));
    }
    if version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| opening(db, e))?;
        if tables > 0 {
            return Err(StoreError::Open(format!(
                "{} is a SQLite database of another program (it has tables but no nightshift \
                 schema); nightshift will not touch it",
                db.display()
            )));
        }
    }
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
    let full = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::SystemIoFailure))
        && disk_full(db);
    if full {
        return StoreError::DiskFull { db: Some(db.to_owned()), source: std::sync::Arc::new(e) };
    }
    // SQLite says only "unable to open database file"; a missing folder is the usual cause.
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        let (problem, fix) = if dir.exists() {
            ("is not a directory", String::new())
        } else {
            ("does not exist", format!("create it (mkdir -p {}), or ", dir.display()))
        };
        return StoreError::Open(format!(
            "cannot open database {}: {} {problem}; {fix}give --db (NIGHTSHIFT_DB, db in \
             nightshift.toml) a path in an existing directory",
            db.display(),
            dir.display()
        ));
    }
    StoreError::Open(format!("cannot open database {}: {e}", db.display()))
}

/// Whether the file system holding `db` has no space left for an unprivileged write.
fn disk_full(db: &Path) -> bool {
    let dir = db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else { return false };
    // SAFETY: statvfs(3) writes into a zeroed struct we own; the path is NUL-terminated.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(path.as_ptr(), &mut st) == 0 && st.f_bavail == 0
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{MIGRATIONS, open};
    use crate::config::Synchronous;

    const ROWS: &str =
        "SELECT key, queue, payload, status, attempts, max_attempts, priority, run_at,
            timeout_ms, lease_token, lease_owner, lease_expires_at, last_error, result, errors,
            created_at, updated_at, finished_at FROM jobs ORDER BY key";

    fn rows(conn: &Connection) -> Vec<Vec<rusqlite::types::Value>> {
        let mut stmt = conn.prepare(ROWS).unwrap();
        stmt.query_map([], |r| (0..18).map(|i| r.get(i)).collect())
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn jobs_count(conn: &Connection) -> i64 {
        conn.query_row("SELECT jobs FROM row_counts", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn version_6_keeps_every_job_its_count_indexes_and_rule() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let before = {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..5] {
                conn.execute_batch(sql).unwrap();
            }
            conn.execute_batch(
                "PRAGMA user_version = 5;
                 INSERT INTO jobs (key, payload, status, max_attempts, run_at, created_at, updated_at)
                 VALUES ('a', '{\"x\": 1}', 'pending', 3, 5, 1, 1);
                 INSERT INTO jobs (key, queue, payload, status, attempts, max_attempts, priority,
                                   run_at, timeout_ms, lease_token, lease_owner, lease_expires_at,
                                   last_error, errors, created_at, updated_at)
                 VALUES ('b', 'mail', '[]', 'running', 1, 4, 7, 2, 900, 'tok', 'me', 99, 'boom',
                         '[{\"error\": \"boom\"}]', 1, 2);
                 INSERT INTO jobs (key, payload, status, max_attempts, run_at, result, created_at,
                                   updated_at, finished_at)
                 VALUES ('c', '{}', 'done', 1, 1, 'ok', 1, 3, 3);",
            )
            .unwrap();
            assert_eq!(jobs_count(&conn), 3);
            rows(&conn)
        };
        let conn = open(&path, Synchronous::Normal, false).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
        assert_eq!(rows(&conn), before, "every row copied as it was");
        assert_eq!(jobs_count(&conn), 3);
        let names: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE tbl_name = 'jobs' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for name in ["jobs_claim", "jobs_count_delete", "jobs_count_insert", "jobs_finished"] {
            assert!(names.iter().any(|n| n == name), "{name} missing: {names:?}");
        }
        assert!(
            names.iter().any(|n| n == "jobs_leases") && names.iter().any(|n| n == "jobs_next_due")
        );
        let bad = conn.execute("UPDATE jobs SET status = 'lost' WHERE key = 'a'", []);
        assert!(bad.unwrap_err().to_string().contains("CHECK"), "the status rule still holds");
        conn.execute_batch("DELETE FROM jobs WHERE key = 'c'").unwrap();
        assert_eq!(jobs_count(&conn), 2, "the counting triggers follow the new table");
    }

    /// The writes a job's life makes run without a temporary table (SQLite builds one for an
    /// IN list in a CHECK, and for RETURNING): each would cost more than the write itself.
    #[test]
    fn a_jobs_writes_build_no_temporary_table() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db"), Synchronous::Normal, false).unwrap();
        for sql in [
            "INSERT INTO jobs (key, queue, payload, status, max_attempts, priority, run_at,
                               timeout_ms, created_at, updated_at)
             VALUES ('k', 'q', '{}', 'pending', 1, 0, 0, NULL, 0, 0) ON CONFLICT (key) DO NOTHING",
            "UPDATE jobs SET status = 'running', lease_token = 't' WHERE key = 'k'",
            "UPDATE jobs SET status = 'done', lease_token = NULL WHERE key = 'k' AND
                 lease_token = 't' AND status = 'running'",
        ] {
            let mut stmt = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
            let ops: Vec<String> =
                stmt.query_map([], |r| r.get(1)).unwrap().map(Result::unwrap).collect();
            assert!(!ops.iter().any(|o| o == "OpenEphemeral"), "{sql}: {ops:?}");
        }
    }
}
