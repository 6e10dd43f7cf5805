//! The `control` row's kill switch (pause); the breaker's state beside it is `gates`'.

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
