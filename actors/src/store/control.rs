//! The `control` row's kill switch (pause) and the cap the runner records at start; the
//! breaker's state beside them is `gates`'.

use rusqlite::{Connection, params};

use crate::clock::Timestamp;
use crate::error::StoreError;

/// Turns the kill switch on (with a reason) or off. Returns whether it changed.
pub(crate) fn set_paused(
    conn: &Connection,
    paused: bool,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE control SET paused = ?1, pause_reason = ?2, paused_at = ?3
             WHERE id = 1 AND paused != ?1",
        )?
        .execute(params![paused, reason.filter(|_| paused), paused.then_some(now)])?;
    Ok(changed == 1)
}

/// Records the daily cap a starting runner holds claims to (`None`: no cap), and where it came
/// from, for every other process to read as the cap in force.
pub(crate) fn record_cap(
    conn: &Connection,
    cap_micros: Option<i64>,
    set_by: Option<&str>,
    now: Timestamp,
) -> Result<(), StoreError> {
    // Written only when it changed: a runner started by cron every few minutes with the same
    // cap then commits nothing here, and an unchanged commit costs no sync to disk.
    conn.prepare_cached(
        "UPDATE control SET cap_micros = ?1, cap_set_by = ?2, cap_recorded_at = ?3
         WHERE id = 1
           AND (cap_recorded_at IS NULL OR cap_micros IS NOT ?1 OR cap_set_by IS NOT ?2)",
    )?
    .execute(params![cap_micros, set_by, now])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::record_cap;
    use crate::clock::Timestamp;
    use crate::config::Synchronous;
    use crate::store::open::open;

    #[test]
    fn a_cap_is_written_only_when_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("t.db"), Synchronous::Normal, false).unwrap();
        let row = |conn: &rusqlite::Connection| {
            conn.query_row("SELECT cap_micros, cap_set_by, cap_recorded_at FROM control", [], |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                ))
            })
            .unwrap()
        };
        record_cap(&conn, None, None, Timestamp::from_millis(1)).unwrap();
        assert_eq!(row(&conn), (None, None, Some(1)), "no cap is recorded too");
        let before = conn.total_changes();
        record_cap(&conn, None, None, Timestamp::from_millis(2)).unwrap();
        assert_eq!(conn.total_changes(), before, "the same cap again writes nothing");
        record_cap(&conn, Some(5), Some("DAILY_CAP_USD"), Timestamp::from_millis(3)).unwrap();
        assert_eq!(row(&conn), (Some(5), Some("DAILY_CAP_USD".to_owned()), Some(3)));
        record_cap(&conn, Some(5), Some("--daily-cap"), Timestamp::from_millis(4)).unwrap();
        assert_eq!(row(&conn), (Some(5), Some("--daily-cap".to_owned()), Some(4)), "new source");
    }
}
