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
    conn.prepare_cached(
        "UPDATE control SET cap_micros = ?1, cap_set_by = ?2, cap_recorded_at = ?3 WHERE id = 1",
    )?
    .execute(params![cap_micros, set_by, now])?;
    Ok(())
}
