//! The `control` row: the kill switch (pause) now; the breaker's state lives beside it.

use rusqlite::{Connection, params};

use crate::clock::Timestamp;
use crate::error::StoreError;

/// Whether the kill switch is on.
pub(crate) fn paused(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT paused FROM control WHERE id = 1")?
        .query_row([], |r| r.get::<_, bool>(0))?)
}

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
