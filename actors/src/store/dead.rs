//! The dead letter: read, replay (back to `jobs` with attempts reset, due at once) and purge.
//! Each moves or deletes rows in one transaction, so a key is never in both tables nor lost.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::job::{DeadJob, Selector};

const COLUMNS: &str = "key, queue, payload, error, attempts, died, reason, errors";

fn from_row(r: &Row<'_>) -> rusqlite::Result<DeadJob> {
    let died_s: i64 = r.get(5)?;
    let errors: String = r.get(7)?;
    let errors = serde_json::from_str(&errors).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(DeadJob {
        key: r.get(0)?,
        queue: r.get(1)?,
        payload: r.get(2)?,
        error: r.get(3)?,
        attempts: r.get(4)?,
        died: Timestamp::from_secs(died_s),
        reason: r.get(6)?,
        errors,
    })
}

/// One dead-lettered job.
pub(crate) fn get(conn: &Connection, key: &str) -> Result<Option<DeadJob>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM dead_letter WHERE key = ?1");
    Ok(conn.prepare_cached(&sql)?.query_row([key], from_row).optional()?)
}

/// Dead-lettered jobs, newest first.
pub(crate) fn list(conn: &Connection, limit: u32) -> Result<Vec<DeadJob>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM dead_letter ORDER BY died DESC, key LIMIT ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([limit], from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Moves the selected rows back into `jobs`: pending, attempts 0, due now. Returns the keys
/// moved; keys not in the dead letter are skipped (reported by their absence).
pub(crate) fn replay(
    conn: &Connection,
    which: &Selector,
    now: Timestamp,
) -> Result<Vec<String>, StoreError> {
    let keys = selected(conn, which)?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO jobs (key, queue, payload, status, attempts, max_attempts, priority, run_at,
                           timeout_ms, created_at, updated_at)
         SELECT key, queue, payload, 'pending', 0, max_attempts, priority, ?2, timeout_ms, ?2, ?2
         FROM dead_letter WHERE key = ?1",
    )?;
    let mut delete = conn.prepare_cached("DELETE FROM dead_letter WHERE key = ?1")?;
    for key in &keys {
        insert.execute(params![key, now])?;
        delete.execute([key])?;
    }
    if !keys.is_empty() {
        // A replay is an operator saying the cause is fixed: failures counted before the fix
        // must not open (or keep open) the breaker on the replayed jobs' first new failure.
        super::gates::reset_breaker(conn)?;
    }
    Ok(keys)
}

/// Deletes the selected rows for good. Returns the keys deleted.
pub(crate) fn purge(conn: &Connection, which: &Selector) -> Result<Vec<String>, StoreError> {
    let keys = selected(conn, which)?;
    let mut delete = conn.prepare_cached("DELETE FROM dead_letter WHERE key = ?1")?;
    for key in &keys {
        delete.execute([key])?;
    }
    Ok(keys)
}

fn selected(conn: &Connection, which: &Selector) -> Result<Vec<String>, StoreError> {
    match which {
        Selector::All => {
            let mut stmt = conn.prepare_cached("SELECT key FROM dead_letter ORDER BY died, key")?;
            let keys = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
            Ok(keys)
        }
        Selector::Keys(keys) => {
            let mut exists = conn.prepare_cached("SELECT 1 FROM dead_letter WHERE key = ?1")?;
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                if exists.exists([key])? && !found.contains(key) {
                    found.push(key.clone());
                }
            }
            Ok(found)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;
    use crate::job::DeadReason;

    fn bury(conn: &Connection, key: &str, reason: &dyn rusqlite::ToSql) -> rusqlite::Result<usize> {
        conn.execute(
            "INSERT INTO dead_letter (key, queue, payload, error, attempts, max_attempts, died,
                                      errors, reason)
             VALUES (?1, 'default', '{}', 'boom', 1, 1, 0, '[]', ?2)",
            params![key, reason],
        )
    }

    #[test]
    fn every_reason_is_stored_as_its_word_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            super::super::open::open(&dir.path().join("t.db"), Synchronous::Full, false).unwrap();
        for reason in DeadReason::ALL {
            bury(&conn, reason.as_str(), &reason).unwrap();
            let word: String = conn
                .query_row(
                    "SELECT reason FROM dead_letter WHERE key = ?1",
                    [reason.as_str()],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(word, reason.as_str());
            assert_eq!(get(&conn, reason.as_str()).unwrap().unwrap().reason, reason);
        }
    }

    #[test]
    fn an_unknown_reason_is_refused_naming_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let conn =
            super::super::open::open(&dir.path().join("t.db"), Synchronous::Full, false).unwrap();
        // Only a foreign writer gets past the column's CHECK.
        conn.pragma_update(None, "ignore_check_constraints", true).unwrap();
        bury(&conn, "k", &"eaten").unwrap();
        let refused = get(&conn, "k").unwrap_err().to_string();
        assert!(refused.contains("unknown dead-letter reason \"eaten\""), "{refused}");
        assert!(refused.contains("exhausted, permanent, crashed"), "{refused}");
    }
}
