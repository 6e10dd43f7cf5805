//! The database file: it exists and is SQLite, it is writable, its journal is WAL and
//! `PRAGMA quick_check` finds no corruption. The writes are a `BEGIN IMMEDIATE` that is rolled
//! back: doctor never changes the database.

use std::path::Path;
use std::time::Duration;

use nightshift_actors::Admin;
use rusqlite::{Connection, OpenFlags};

use super::{Check, Status};

pub fn checks(db: &Path) -> Vec<Check> {
    let shown = db.display();
    let skip = |check| Check::new(check, Status::Skip, "needs a database that opens");
    if let Err(e) = Admin::check(db) {
        return vec![
            Check::new("database", Status::Fail, e.to_string()),
            skip("writable"),
            skip("journal"),
            skip("integrity"),
        ];
    }
    // No CREATE flag: doctor must not make a database where there was none.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match Connection::open_with_flags(db, flags) {
        Ok(conn) => conn,
        Err(e) => {
            return vec![
                Check::new(
                    "database",
                    Status::Fail,
                    format!(
                        "cannot open {shown}: {e}; check that this user can read it and its directory"
                    ),
                ),
                skip("writable"),
                skip("journal"),
                skip("integrity"),
            ];
        }
    };
    let _ = conn.busy_timeout(Duration::from_secs(5));
    let writable = writable(&conn, db);
    let mut reads = vec![journal(&conn, db), integrity(&conn, db)];
    if writable.status == Status::Fail {
        // A WAL database cannot be read where its -shm file cannot be created: an error here
        // is the read-only storage again, not a second problem.
        for c in
            reads.iter_mut().filter(|c| c.status == Status::Fail && c.message.contains(UNREADABLE))
        {
            *c = Check::new(c.check, Status::Skip, "needs a writable database (see writable)");
        }
    }
    let mut checks =
        vec![Check::new("database", Status::Ok, format!("{shown} is a SQLite database"))];
    checks.push(writable);
    checks.extend(reads);
    checks
}

/// What the read checks say when SQLite could not read the file at all.
const UNREADABLE: &str = "could not read it";

/// Whether `conn` can write: SQLite opens a file it may not write (a read-only mount, an
/// immutable file, another user's file) read-only without an error, so ask it, then take the
/// write lock and let it go.
pub fn writable(conn: &Connection, db: &Path) -> Check {
    let fix = |why: &str| {
        Check::new(
            "writable",
            Status::Fail,
            format!(
                "database {} is not writable ({why}); make the file and its directory writable by \
                 the user nightshift runs as (chown), or remount the volume read-write (WAL also \
                 creates {0}-wal and {0}-shm beside it)",
                db.display()
            ),
        )
    };
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
        return fix("SQLite opened it read-only");
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = dir_writable(dir)
    {
        return fix(&format!("its directory {}: {e}", dir.display()));
    }
    match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
        Ok(()) => Check::new("writable", Status::Ok, "took the write lock and released it"),
        Err(e) => fix(&e.to_string()),
    }
}

/// access(2) with W_OK: fails on a read-only file system even for root.
fn dir_writable(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: access(2) reads a NUL-terminated path that outlives the call.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn journal(conn: &Connection, db: &Path) -> Check {
    // Reading the mode (no `= WAL`) changes nothing.
    match conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0)) {
        Ok(mode) if mode.eq_ignore_ascii_case("wal") => {
            Check::new("journal", Status::Ok, "journal_mode is wal")
        }
        Ok(mode) => Check::new(
            "journal",
            Status::Fail,
            format!(
                "journal_mode of {} is {mode}, not wal; run `nightshift status` once (nightshift \
                 switches it to WAL); if it stays {mode}, the file system has no shared memory \
                 support (a network share?): move the database to a local disk",
                db.display()
            ),
        ),
        Err(e) => Check::new(
            "journal",
            Status::Fail,
            format!("{UNREADABLE}: journal_mode of {}: {e}", db.display()),
        ),
    }
}

fn integrity(conn: &Connection, db: &Path) -> Check {
    let restore = format!(
        "stop the runner and restore {} from your latest backup (with its -wal file); do not \
         delete it or run `init` over it",
        db.display()
    );
    let rows = conn.prepare("PRAGMA quick_check").and_then(|mut stmt| {
        stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()
    });
    match rows {
        Ok(rows) if rows == ["ok"] => Check::new("integrity", Status::Ok, "PRAGMA quick_check: ok"),
        Ok(rows) => Check::new(
            "integrity",
            Status::Fail,
            format!(
                "the database is corrupt (quick_check: {}); {restore}",
                rows.first().map_or("no answer", String::as_str)
            ),
        ),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen) => Check::new(
            "integrity",
            Status::Fail,
            format!("{UNREADABLE}: quick_check of {}: {e}", db.display()),
        ),
        Err(e) => Check::new(
            "integrity",
            Status::Fail,
            format!("the database is corrupt (quick_check: {e}); {restore}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database opened read-only (as SQLite does on a read-only mount) fails the check with
    /// the fix; the same file opened read-write passes.
    #[test]
    fn a_read_only_connection_fails_the_writable_check() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("ro.db");
        Connection::open(&db).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        let uri = format!("file:{}?mode=ro", db.display());
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
        let ro = Connection::open_with_flags(&uri, flags).unwrap();
        let check = writable(&ro, &db);
        assert_eq!(check.status, Status::Fail, "{}", check.message);
        assert!(check.message.contains("not writable") && check.message.contains("remount"));
        let rw = Connection::open(&db).unwrap();
        assert_eq!(writable(&rw, &db).status, Status::Ok);
    }
}

/// PostgreSQL: the server answers, the schema is nightshift's and current, and which runners
/// are alive. The URL is shown without its password.
pub fn postgres(settings: &crate::config::Settings) -> Check {
    let shown = settings.db_shown();
    let admin = match nightshift_actors::Admin::open(&settings.engine_config()) {
        Ok(admin) => admin,
        Err(e) => return Check::new("database", Status::Fail, e.to_string()),
    };
    let since = nightshift_actors::Clock::now(&nightshift_actors::SystemClock) - settings.lease;
    match admin.runners(since) {
        Ok(alive) => Check::new(
            "database",
            Status::Ok,
            format!(
                "PostgreSQL at {shown}: nightshift's schema is current; {} runner(s) alive",
                alive.len()
            ),
        ),
        Err(e) => Check::new("database", Status::Fail, format!("PostgreSQL at {shown}: {e}")),
    }
}
