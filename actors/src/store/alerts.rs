//! The alert outbox. A row is written in the same transaction as the event it reports, then
//! the Alert actor delivers it and records the result here; undelivered rows survive restarts.

use rusqlite::{Connection, params};

use crate::clock::Timestamp;
use crate::error::StoreError;

/// An alert owed to the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AlertRow {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) key: Option<String>,
    pub(crate) body: String,
    pub(crate) attempts: u32,
}

/// A delivery attempt that did not succeed.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryFailed {
    pub(crate) id: i64,
    pub(crate) error: String,
    /// When to try again; `None` gives up (a permanent refusal such as 400 or 404).
    pub(crate) retry_at: Option<Timestamp>,
}

/// Reads `id, kind, key, body, attempts`.
fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        key: r.get(2)?,
        body: r.get(3)?,
        attempts: r.get(4)?,
    })
}

/// Owes an alert, deliverable from `due`.
pub(crate) fn owe(
    conn: &Connection,
    kind: &str,
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

/// Pending alerts due by `now`, oldest first, and the next due time among those later.
pub(crate) fn due(
    conn: &Connection,
    now: Timestamp,
    limit: u32,
) -> Result<(Vec<AlertRow>, Option<Timestamp>), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, key, body, attempts FROM alerts
         WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![now, limit], from_row)?.collect::<Result<Vec<_>, _>>()?;
    let next: Option<Timestamp> = conn
        .prepare_cached(
            "SELECT min(next_attempt_at) FROM alerts WHERE state = 'pending' AND next_attempt_at > ?1",
        )?
        .query_row([now], |r| r.get(0))?;
    Ok((rows, next))
}

/// Every pending `kind` alert never tried yet, due or not (a storm's whole backlog).
pub(crate) fn untried(
    conn: &Connection,
    kind: &str,
    limit: u32,
) -> Result<Vec<AlertRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, kind, key, body, attempts FROM alerts
         WHERE state = 'pending' AND attempts = 0 AND kind = ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![kind, limit], from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
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
