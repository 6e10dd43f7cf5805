//! The alert outbox. A row is written in the same transaction as the event it reports, then
//! the Alert actor delivers it and records the result here; undelivered rows survive restarts.
//!
//! A dead-letter alert is written *held*: the Alert actor does not see it until the DeadLetter
//! actor, once the row's group_wait is over, releases it alone or as a member of a digest.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, params};

use crate::alerts::AlertKind;
use crate::clock::Timestamp;
use crate::error::StoreError;

/// An alert owed to the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AlertRow {
    pub(crate) id: i64,
    pub(crate) kind: AlertKind,
    pub(crate) key: Option<String>,
    pub(crate) body: String,
    pub(crate) attempts: u32,
    /// The digest this row goes out in (its first member's id); `None` goes out alone.
    pub(crate) digest: Option<i64>,
}

/// A dead-letter alert held for the DeadLetter actor's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeldAlert {
    pub(crate) id: i64,
    /// When its job was buried.
    pub(crate) at: Timestamp,
}

/// A delivery attempt that did not succeed.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryFailed {
    pub(crate) id: i64,
    pub(crate) error: String,
    /// When to try again; `None` gives up (a permanent refusal such as 400 or 404).
    pub(crate) retry_at: Option<Timestamp>,
}

impl ToSql for AlertKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for AlertKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str()?.parse().map_err(|e: String| FromSqlError::Other(e.into()))
    }
}

/// Reads `id, kind, key, body, attempts, digest`.
fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        key: r.get(2)?,
        body: r.get(3)?,
        attempts: r.get(4)?,
        digest: r.get(5)?,
    })
}

/// Owes an alert, deliverable from `due`.
pub(crate) fn owe(
    conn: &Connection,
    kind: AlertKind,
    key: Option<&str>,
    body: &serde_json::Value,
    now: Timestamp,
    due: Timestamp,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO alerts (kind, key, body, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![kind, key, body.to_string(), now, due])?;
    Ok(conn.last_insert_rowid())
}

/// Owes the alert for a job buried at `now`, held until the DeadLetter actor releases it.
pub(crate) fn owe_dead_letter(
    conn: &Connection,
    key: &str,
    body: &serde_json::Value,
    now: Timestamp,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "INSERT INTO alerts (kind, key, body, created_at, next_attempt_at, held)
         VALUES (?1, ?2, ?3, ?4, ?4, 1)",
    )?
    .execute(params![AlertKind::DeadLetter, key, body.to_string(), now])?;
    Ok(conn.last_insert_rowid())
}

/// Released alerts due by `now`, oldest first, and the next due time among those later.
pub(crate) fn due(
    conn: &Connection,
    now: Timestamp,
    limit: u32,
) -> Result<(Vec<AlertRow>, Option<Timestamp>), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, key, body, attempts, digest FROM alerts
         WHERE state = 'pending' AND held = 0 AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit], from_row)?.collect::<Result<Vec<_>, _>>()?;
    let next: Option<Timestamp> = conn
        .prepare_cached(
            "SELECT min(next_attempt_at) FROM alerts
             WHERE state = 'pending' AND held = 0 AND next_attempt_at > ?1",
        )?
        .query_row([now], |r| r.get(0))?;
    Ok((rows, next))
}

/// Every dead-letter alert still held (what the DeadLetter actor owes after a restart). Held
/// rows are pending, so the pending-only index finds them without reading delivered ones.
pub(crate) fn held(conn: &Connection) -> Result<Vec<HeldAlert>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, created_at FROM alerts INDEXED BY alerts_due
         WHERE state = 'pending' AND held = 1",
    )?;
    let rows = stmt.query_map([], |r| Ok(HeldAlert { id: r.get(0)?, at: r.get(1)? }))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Hands held alerts to the Alert actor, due at `now`: each alone (`digest` `None`) or all
/// as one digest named by `digest`. Rows already released are left as they are.
pub(crate) fn release(
    conn: &Connection,
    ids: &[i64],
    digest: Option<i64>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE alerts SET held = 0, digest = ?2, next_attempt_at = ?3 WHERE id = ?1 AND held = 1",
    )?;
    for id in ids {
        stmt.execute(params![id, digest, now])?;
    }
    Ok(())
}

/// Records a delivery.
pub(crate) fn delivered(conn: &Connection, id: i64, now: Timestamp) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE alerts SET state = 'delivered', delivered_at = ?2, attempts = attempts + 1,
                           last_error = NULL
         WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    Ok(())
}

/// Records a failed delivery: retried at `retry_at`, or given up.
pub(crate) fn failed(conn: &Connection, f: &DeliveryFailed) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE alerts SET attempts = attempts + 1, last_error = ?2,
                           state = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END,
                           next_attempt_at = coalesce(?3, next_attempt_at)
         WHERE id = ?1",
    )?
    .execute(params![f.id, f.error, f.retry_at])?;
    Ok(())
}
